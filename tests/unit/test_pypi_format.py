"""Unit tests for pantry.formats.pypi: negotiation, names, project pages, index, JSON API."""

from __future__ import annotations

import contextlib
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import quote

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pantry.errors import BadRequest
from pantry.formats.pypi import (
    HTML_CT,
    JSON_CT,
    UPSTREAM_ACCEPT,
    FormatError,
    Link,
    Variant,
    check_filename,
    check_project_name,
    negotiate,
    normalize_name,
    pick_digest,
    render_index,
    render_project,
    rewrite_json_api,
)
from pantry.formats.pypi.common import quote_segment
from pantry.model import Digest

DATA = Path(__file__).resolve().parent.parent / "data" / "pypi"
PAGE_URL = "http://127.0.0.1:9/simple/tinyproj/"
FILES = "http://files.example.test/packages"
SHA_A = "ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb"
SHA_B = "3e23e8160039594a33894f6564e1b1348bbd7a0088d42c4acb73eeaed59c009d"
SHA_C = "2e7d2c03a9507ae265ecf5b5356885a53393a2029d241394997265a1a25aefc6"
SHA_D = "18ac3e7343f016890c510e93f935261169d9e3f565436429830faf0934f4f8e4"
SHA_E = "3f79bb7b435b05321651daefd374cdc681dc06faa65e374e38337b88ca046dea"
MD5 = "9dd4e461268c8034f5c8564e155c67a6"
SHA512 = "ab" * 64
PIP_ACCEPT = f"{JSON_CT}, {HTML_CT}; q=0.1, text/html; q=0.01"
HTML = Variant.HTML
JSON = Variant.JSON


class _Page(HTMLParser):
    """What a client sees in a rendered HTML page."""

    def __init__(self, body: bytes) -> None:
        super().__init__()
        self.anchors: list[dict[str, str | None]] = []
        self.texts: list[str] = []
        self.meta: list[tuple[str | None, str | None]] = []
        self.title = ""
        self._tag = ""
        self.feed(body.decode())
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._tag = tag
        if tag == "a":
            self.anchors.append(dict(attrs))
        elif tag == "meta":
            self.meta.append((dict(attrs)["name"], dict(attrs)["content"]))

    def handle_data(self, data: str) -> None:
        if self._tag == "a" and data.strip():
            self.texts.append(data)
        elif self._tag == "title":
            self.title += data
        self._tag = ""


def _html_page(anchors: str, head: str = "") -> bytes:
    return f"<!DOCTYPE html><html><head>{head}</head><body>{anchors}</body></html>".encode()


def _json_page(*files: object, **top: object) -> bytes:
    return orjson.dumps({"meta": {"api-version": "1.1"}, "name": "tinyproj", **top, "files": files})


def _render_json(body: bytes, content_type: str = "text/html") -> dict[str, object]:
    rendered = render_project(body, content_type, PAGE_URL, JSON, "tinyproj")
    result: dict[str, object] = orjson.loads(rendered.body)
    return result


# --- negotiate -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (None, (HTML, "text/html")),
        ("", (HTML, "text/html")),
        ("*/*", (HTML, "text/html")),
        (";;;,,,", (HTML, "text/html")),
        (f"{JSON_CT};q=nan", (HTML, "text/html")),
        (JSON_CT, (JSON, JSON_CT)),
        ("application/vnd.pypi.simple.latest+json", (JSON, JSON_CT)),
        ("APPLICATION/VND.PYPI.SIMPLE.V1+JSON", (JSON, JSON_CT)),
        (f"{JSON_CT}; charset=utf-8", (JSON, JSON_CT)),
        (HTML_CT, (HTML, HTML_CT)),
        ("application/vnd.pypi.simple.latest+html", (HTML, HTML_CT)),
        ("text/html", (HTML, "text/html")),
        (PIP_ACCEPT, (JSON, JSON_CT)),
        (UPSTREAM_ACCEPT, (JSON, JSON_CT)),
        (f"text/html, {JSON_CT};q=0.5", (HTML, "text/html")),
        (f"text/html, {HTML_CT}", (HTML, HTML_CT)),
        (f"text/html;q=0.5, {JSON_CT};q=0.5", (JSON, JSON_CT)),
        (f"text/*;q=0.3, {JSON_CT};q=0.2", (HTML, "text/html")),
        (f"{JSON_CT};q=abc, text/html;q=0.1", (HTML, "text/html")),
        (f"{JSON_CT};q=2, text/html;q=0.1", (HTML, "text/html")),
        (f"text/html;q=0.1, text/html;q=0.9, {JSON_CT};q=0.5", (HTML, "text/html")),
        (f"{JSON_CT}, garbage/", (JSON, JSON_CT)),
        ("application/json", None),
        ("image/png, application/*", None),
        ("text/html;q=0", None),
        ("*/*, text/html;q=0", None),
        ("text/*;q=0, */*", None),
    ],
)
def test_negotiate__picks_variant(accept: str | None, expected: tuple[Variant, str] | None) -> None:
    assert negotiate(accept) == expected


# --- names ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("tinyproj", "tinyproj"),
        ("Flask_SQLAlchemy", "flask-sqlalchemy"),
        ("zope.interface", "zope-interface"),
        ("A--B__c..d-_.e", "a-b-c-d-e"),
    ],
)
def test_normalize_name__pep503(name: str, expected: str) -> None:
    assert normalize_name(name) == expected


@pytest.mark.parametrize("name", ["0", "tinyproj", "Zope.Interface", "a_b-c.d", "a" * 200])
def test_check_project_name__accepts_valid(name: str) -> None:
    assert check_project_name(name) is name


@pytest.mark.parametrize(
    "name", ["", "-a", "a-", ".a", "a b", "a/b", "..", "café", "a\n", "a" * 201, "a&b"]
)
def test_check_project_name__rejects_invalid(name: str) -> None:
    with pytest.raises(BadRequest, match="invalid project name"):
        check_project_name(name)


@pytest.mark.parametrize(
    "filename",
    ["tinyproj-1.0.tar.gz", "tinyproj-1.2+local-py3-none-any.whl", "naïve-1.0.zip", "x" * 255],
)
def test_check_filename__accepts_valid(filename: str) -> None:
    assert check_filename(filename) is filename


@pytest.mark.parametrize(
    "filename", ["", ".hidden", ".", "..", "a/b", "a\\b", "a\x00b", "a\tb", "x" * 256]
)
def test_check_filename__rejects_invalid(filename: str) -> None:
    with pytest.raises(BadRequest, match="invalid file name"):
        check_filename(filename)


# --- pick_digest ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("hashes", "expected"),
    [
        ({}, None),
        ({"sha256": SHA_A}, Digest("sha256", SHA_A)),
        ({"md5": MD5, "sha256": SHA_A}, Digest("sha256", SHA_A)),
        ({"sha256": SHA_A.upper()}, Digest("sha256", SHA_A)),
        ({"sha256": "zz", "md5": MD5}, Digest("md5", MD5)),
        ({"sha256": SHA_A[:10], "sha512": SHA512}, Digest("sha512", SHA512)),
        ({"blake2b": "00ff", "sha1": "short"}, None),
    ],
)
def test_pick_digest__strongest_valid(hashes: dict[str, str], expected: Digest | None) -> None:
    assert pick_digest(hashes) == expected


# --- render_project: the sample pages ------------------------------------------------------

HTML_SAMPLE_LINKS = (
    Link("tinyproj-0.9.tar.gz", "http://127.0.0.1:9/packages/ab/cd/tinyproj-0.9.tar.gz",
         {"md5": MD5}, None),
    Link("tinyproj-1.0-py3-none-any.whl", f"{FILES}/12/34/tinyproj-1.0-py3-none-any.whl",
         {"sha256": SHA_A}, {"sha256": SHA_B}),
    Link("tinyproj-1.0.tar.gz", f"{FILES}/56/78/tinyproj-1.0.tar.gz", {"sha256": SHA_C}, None),
    Link("tinyproj-1.1-py3-none-any.whl", f"{FILES}/9a/bc/tinyproj-1.1-py3-none-any.whl",
         {"sha256": SHA_D}, {}),
    Link("tinyproj-1.2+local-py3-none-any.whl",
         f"{FILES}/de/f0/tinyproj-1.2%2Blocal-py3-none-any.whl", {"sha256": SHA_E}, None),
)  # fmt: skip
JSON_SAMPLE_LINKS = (
    Link("tinyproj-1.0-py3-none-any.whl", f"{FILES}/12/34/tinyproj-1.0-py3-none-any.whl",
         {"sha256": SHA_A}, {"sha256": SHA_B}),
    Link("tinyproj-1.0.tar.gz", "http://127.0.0.1:9/packages/56/78/tinyproj-1.0.tar.gz",
         {"sha256": SHA_C, "blake2b": "00ff"}, None),
    Link("tinyproj-1.1-py3-none-any.whl", f"{FILES}/9a/bc/tinyproj-1.1-py3-none-any.whl",
         {"md5": MD5}, {}),
)  # fmt: skip


@pytest.mark.parametrize(
    ("sample", "content_type", "expected"),
    [
        ("project.html", "text/html", HTML_SAMPLE_LINKS),
        ("project.html", f"{HTML_CT}; charset=utf-8", HTML_SAMPLE_LINKS),
        ("project.json", JSON_CT, JSON_SAMPLE_LINKS),
        ("project.json", "application/json", JSON_SAMPLE_LINKS),
    ],
)
@pytest.mark.parametrize("variant", list(Variant))
def test_render_project__sample_links(
    sample: str, content_type: str, expected: tuple[Link, ...], variant: Variant
) -> None:
    rendered = render_project(
        (DATA / sample).read_bytes(), content_type, PAGE_URL, variant, "tinyproj"
    )
    assert rendered.links == expected


def test_render_project__html_sample_as_html() -> None:
    body = (DATA / "project.html").read_bytes()
    rendered = render_project(body, "text/html", PAGE_URL, HTML, "tinyproj")
    page = _Page(rendered.body)
    assert rendered.body.startswith(b"<!DOCTYPE html>")
    assert b"&gt;=3.7,&lt;4" in rendered.body
    assert page.title == "Links for tinyproj"
    assert page.meta == [
        ("pypi:repository-version", "1.1"),
        ("pypi:tracks", PAGE_URL),
        ("pypi:project-status", "deprecated"),
        ("pypi:project-status-reason", 'use "tinyproj2" instead'),
    ]
    assert page.texts == [link.filename for link in HTML_SAMPLE_LINKS]
    assert page.anchors == [
        {"href": f"../../files/tinyproj/tinyproj-0.9.tar.gz#md5={MD5}"},
        {
            "href": f"../../files/tinyproj/tinyproj-1.0-py3-none-any.whl#sha256={SHA_A}",
            "data-requires-python": ">=3.7,<4",
            "data-core-metadata": f"sha256={SHA_B}",
            "data-dist-info-metadata": f"sha256={SHA_B}",
        },
        {
            "href": f"../../files/tinyproj/tinyproj-1.0.tar.gz#sha256={SHA_C}",
            "data-requires-python": ">=3.7,<4",
            "data-gpg-sig": "true",
        },
        {
            "href": f"../../files/tinyproj/tinyproj-1.1-py3-none-any.whl#sha256={SHA_D}",
            "data-requires-python": ">=3.8",
            "data-yanked": "broken import on Windows",
            "data-core-metadata": "true",
            "data-dist-info-metadata": "true",
        },
        {
            "href": f"../../files/tinyproj/tinyproj-1.2%2Blocal-py3-none-any.whl#sha256={SHA_E}",
            "data-yanked": "",
        },
    ]


def test_render_project__html_sample_as_json() -> None:
    page = _render_json((DATA / "project.html").read_bytes())
    assert page["meta"] == {"api-version": "1.0"}
    assert page["name"] == "tinyproj"
    assert page["tracks"] == [PAGE_URL]
    assert page["project-status"] == {"status": "deprecated", "reason": 'use "tinyproj2" instead'}
    assert page["files"] == [
        {
            "filename": "tinyproj-0.9.tar.gz",
            "url": "../../files/tinyproj/tinyproj-0.9.tar.gz",
            "hashes": {"md5": MD5},
        },
        {
            "filename": "tinyproj-1.0-py3-none-any.whl",
            "url": "../../files/tinyproj/tinyproj-1.0-py3-none-any.whl",
            "hashes": {"sha256": SHA_A},
            "requires-python": ">=3.7,<4",
            "core-metadata": {"sha256": SHA_B},
            "dist-info-metadata": {"sha256": SHA_B},
        },
        {
            "filename": "tinyproj-1.0.tar.gz",
            "url": "../../files/tinyproj/tinyproj-1.0.tar.gz",
            "hashes": {"sha256": SHA_C},
            "requires-python": ">=3.7,<4",
            "gpg-sig": True,
        },
        {
            "filename": "tinyproj-1.1-py3-none-any.whl",
            "url": "../../files/tinyproj/tinyproj-1.1-py3-none-any.whl",
            "hashes": {"sha256": SHA_D},
            "requires-python": ">=3.8",
            "yanked": "broken import on Windows",
            "core-metadata": True,
            "dist-info-metadata": True,
        },
        {
            "filename": "tinyproj-1.2+local-py3-none-any.whl",
            "url": "../../files/tinyproj/tinyproj-1.2%2Blocal-py3-none-any.whl",
            "hashes": {"sha256": SHA_E},
            "yanked": True,
        },
    ]


def test_render_project__json_sample_as_json_keeps_everything_but_url() -> None:
    upstream = orjson.loads((DATA / "project.json").read_bytes())
    page = _render_json((DATA / "project.json").read_bytes(), JSON_CT)
    expected_files = [
        {**file, "url": f"../../files/tinyproj/{file['filename']}"}
        for file in upstream["files"][:3]
    ]
    assert page == {**upstream, "files": expected_files}


def test_render_project__json_sample_as_html() -> None:
    body = (DATA / "project.json").read_bytes()
    rendered = render_project(body, JSON_CT, PAGE_URL, HTML, "tinyproj")
    page = _Page(rendered.body)
    assert page.meta == [
        ("pypi:repository-version", "1.1"),
        ("pypi:alternate-locations", "http://127.0.0.1:9/other/simple/tinyproj/"),
        ("pypi:project-status", "archived"),
        ("pypi:project-status-reason", "finished <for now>"),
    ]
    assert b"finished &lt;for now&gt;" in rendered.body
    assert page.anchors == [
        {
            "href": f"../../files/tinyproj/tinyproj-1.0-py3-none-any.whl#sha256={SHA_A}",
            "data-requires-python": ">=3.7,<4",
            "data-core-metadata": f"sha256={SHA_B}",
            "data-dist-info-metadata": f"sha256={SHA_B}",
            "data-gpg-sig": "false",
        },
        {
            "href": f"../../files/tinyproj/tinyproj-1.0.tar.gz#sha256={SHA_C}",
            "data-requires-python": ">=3.7,<4",
            "data-gpg-sig": "true",
        },
        {
            "href": f"../../files/tinyproj/tinyproj-1.1-py3-none-any.whl#md5={MD5}",
            "data-yanked": "broken import on Windows",
            "data-core-metadata": "true",
            "data-dist-info-metadata": "true",
        },
    ]


# --- render_project: HTML anchors, one aspect at a time ------------------------------------

WHL = "tinyproj-1.0-py3-none-any.whl"
WHL_URL = f"{FILES}/12/34/{WHL}"
WHL_HREF = f"../../files/tinyproj/{WHL}"


@pytest.mark.parametrize(
    ("anchor", "expected"),
    [
        (f'<a href="{WHL_URL}">{WHL}</a>', {}),
        (f'<a href="{WHL_URL}#sha256={SHA_A}">x</a>', {"hashes": {"sha256": SHA_A}}),
        (f'<a href="{WHL_URL}#SHA256={SHA_A}">x</a>', {"hashes": {"sha256": SHA_A}}),
        (f'<a href="{WHL_URL}#egg=tinyproj">x</a>', {}),
        (f'<a href="{WHL_URL}#sha256=">x</a>', {}),
        (f'<a href="{WHL_URL}" data-requires-python="&lt;4">x</a>', {"requires-python": "<4"}),
        (f'<a href="{WHL_URL}" data-yanked>x</a>', {"yanked": True}),
        (f'<a href="{WHL_URL}" data-yanked="">x</a>', {"yanked": True}),
        (f'<a href="{WHL_URL}" data-yanked="bad &amp; sad">x</a>', {"yanked": "bad & sad"}),
        (
            f'<a href="{WHL_URL}" data-core-metadata="TRUE">x</a>',
            {"core-metadata": True, "dist-info-metadata": True},
        ),
        (
            f'<a href="{WHL_URL}" data-dist-info-metadata="sha256={SHA_B}">x</a>',
            {"core-metadata": {"sha256": SHA_B}, "dist-info-metadata": {"sha256": SHA_B}},
        ),
        (
            f'<a href="{WHL_URL}" data-core-metadata="sha256={SHA_B}"'
            ' data-dist-info-metadata="true">x</a>',
            {"core-metadata": {"sha256": SHA_B}, "dist-info-metadata": {"sha256": SHA_B}},
        ),
        (f'<a href="{WHL_URL}" data-core-metadata="bogus">x</a>', {}),
        (f'<a href="{WHL_URL}" data-core-metadata="sha256=">x</a>', {}),
        (f'<a href="{WHL_URL}" data-core-metadata>x</a>', {}),
        (f'<a href="{WHL_URL}" data-gpg-sig="false">x</a>', {"gpg-sig": False}),
        (f'<a href="{WHL_URL}" data-gpg-sig="True">x</a>', {"gpg-sig": True}),
        (f'<A HREF="{WHL_URL}"/>', {}),
    ],
)
def test_render_project__html_anchor_as_json(anchor: str, expected: dict[str, object]) -> None:
    page = _render_json(_html_page(anchor))
    assert page["files"] == [{"filename": WHL, "url": WHL_HREF, "hashes": {}, **expected}]


@pytest.mark.parametrize(
    ("page_url", "anchors", "head", "expected_url"),
    [
        (PAGE_URL, f'<a href="{WHL_URL}">x</a>', "", WHL_URL),
        (PAGE_URL, f'<a href="../../packages/{WHL}">x</a>', "", f"http://127.0.0.1:9/packages/{WHL}"),
        (PAGE_URL, f'<a href="/p/{WHL}">x</a>', "", f"http://127.0.0.1:9/p/{WHL}"),
        ("https://127.0.0.1:9/simple/x/", f'<a href="//files.example.test/{WHL}">x</a>', "",
         f"https://files.example.test/{WHL}"),
        (PAGE_URL, f'<a href="p/{WHL}">x</a>', '<base href="http://mirror.example.test/r/">',
         f"http://mirror.example.test/r/p/{WHL}"),
        (PAGE_URL, f'<a href="p/{WHL}">x</a>', '<base href="/r/"><base href="/other/">',
         f"http://127.0.0.1:9/r/p/{WHL}"),
        (PAGE_URL, f'<a href="p/{WHL}">x</a>', "<base target=_self>",
         f"http://127.0.0.1:9/simple/tinyproj/p/{WHL}"),
        (PAGE_URL, f'<a href="  {WHL_URL}  ">x</a>', "", WHL_URL),
    ],
)  # fmt: skip
def test_render_project__html_href_resolution(
    page_url: str, anchors: str, head: str, expected_url: str
) -> None:
    rendered = render_project(_html_page(anchors, head), "text/html", page_url, HTML, "tinyproj")
    assert [link.url for link in rendered.links] == [expected_url]


@pytest.mark.parametrize(
    "anchor",
    [
        "<a>no href</a>",
        '<a href="">empty</a>',
        '<a href="   ">blank</a>',
        f'<a href="javascript:alert(1)">{WHL}</a>',
        f'<a href="ftp://files.example.test/{WHL}">{WHL}</a>',
        f'<a href="mailto:{WHL}">{WHL}</a>',
        '<a href="http://files.example.test/packages/">directory</a>',
        '<a href="http://files.example.test/packages/.hidden.whl">.hidden.whl</a>',
        '<a href="http://files.example.test/packages/%2e%2e">..</a>',
        '<a href="http://files.example.test/a%2Fb.whl">a/b.whl</a>',
        f'<a href="http://[::1/{WHL}">bad host</a>',
        '<a href="#top">top</a>',
    ],
)
def test_render_project__html_anchor_dropped(anchor: str) -> None:
    for variant in Variant:
        rendered = render_project(_html_page(anchor), "text/html", PAGE_URL, variant, "tinyproj")
        assert rendered.links == ()
        assert b"<a " not in rendered.body
        assert b'"files":[]' in rendered.body or variant is HTML


def test_render_project__duplicate_filename_keeps_first() -> None:
    anchors = f'<a href="{WHL_URL}#sha256={SHA_A}">x</a><a href="{FILES}/mirror/{WHL}">x</a>'
    rendered = render_project(_html_page(anchors), "text/html", PAGE_URL, HTML, "tinyproj")
    assert rendered.links == (Link(WHL, WHL_URL, {"sha256": SHA_A}, None),)
    assert rendered.body.count(b"<a ") == 1


def test_render_project__escapes_and_quotes_filenames() -> None:
    url = f"{FILES}/a%26b%3Cc%3E%22q%22.tar.gz"
    rendered = render_project(
        _html_page(f'<a href="{url}">x</a>'), "text/html", PAGE_URL, HTML, "p"
    )
    assert rendered.links[0].filename == 'a&b<c>"q".tar.gz'
    page = _Page(rendered.body)
    assert page.anchors == [{"href": "../../files/p/a%26b%3Cc%3E%22q%22.tar.gz"}]
    assert page.texts == ['a&b<c>"q".tar.gz']
    assert b"a&amp;b&lt;c&gt;&quot;q&quot;.tar.gz</a>" in rendered.body


@pytest.mark.parametrize(
    ("head", "expected_html_version"),
    [
        ("", "1.1"),
        ('<meta name="pypi:repository-version" content="1.0">', "1.0"),
        ('<meta name="PYPI:REPOSITORY-VERSION" content=" 1.3 ">', "1.3"),
        ('<meta name="pypi:repository-version" content="soon">', "1.1"),
        ('<meta name="pypi:repository-version">', "1.1"),
        ('<meta content="1.0"><meta charset="utf-8">', "1.1"),
    ],
)
def test_render_project__html_repository_version(head: str, expected_html_version: str) -> None:
    body = _html_page(f'<a href="{WHL_URL}">x</a>', head)
    rendered = render_project(body, "text/html", PAGE_URL, HTML, "tinyproj")
    assert ("pypi:repository-version", expected_html_version) in _Page(rendered.body).meta
    assert _render_json(body)["meta"] == {"api-version": "1.0"}


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        ("", {}),
        (
            '<meta name="pypi:tracks" content="http://127.0.0.1:9/a/">'
            '<meta name="pypi:tracks" content="http://127.0.0.1:9/b/">',
            {"tracks": ["http://127.0.0.1:9/a/", "http://127.0.0.1:9/b/"]},
        ),
        (
            '<meta name="pypi:alternate-locations" content="http://127.0.0.1:9/a/">',
            {"alternate-locations": ["http://127.0.0.1:9/a/"]},
        ),
        ('<meta name="pypi:project-status" content="archived">',
         {"project-status": {"status": "archived"}}),
        ('<meta name="pypi:project-status-reason" content="orphan">', {}),
    ],
)  # fmt: skip
def test_render_project__html_meta_as_json(head: str, expected: dict[str, object]) -> None:
    page = _render_json(_html_page("", head))
    assert page == {"meta": {"api-version": "1.0"}, "name": "tinyproj", "files": [], **expected}


# --- render_project: JSON files, one aspect at a time --------------------------------------

BASE_FILE = {"filename": WHL, "url": WHL_URL, "hashes": {"sha256": SHA_A}}


@pytest.mark.parametrize(
    ("file", "expected"),
    [
        (BASE_FILE, Link(WHL, WHL_URL, {"sha256": SHA_A}, None)),
        ({**BASE_FILE, "url": f"../../p/{WHL}"},
         Link(WHL, f"http://127.0.0.1:9/p/{WHL}", {"sha256": SHA_A}, None)),
        ({**BASE_FILE, "url": f"{WHL_URL}#md5={MD5}", "hashes": None},
         Link(WHL, WHL_URL, {"md5": MD5}, None)),
        ({**BASE_FILE, "hashes": {"SHA256": SHA_A, "md5": 5}},
         Link(WHL, WHL_URL, {"sha256": SHA_A}, None)),
        ({**BASE_FILE, "core-metadata": True}, Link(WHL, WHL_URL, {"sha256": SHA_A}, {})),
        ({**BASE_FILE, "core-metadata": False, "dist-info-metadata": True},
         Link(WHL, WHL_URL, {"sha256": SHA_A}, None)),
        ({**BASE_FILE, "dist-info-metadata": {"sha256": SHA_B}},
         Link(WHL, WHL_URL, {"sha256": SHA_A}, {"sha256": SHA_B})),
        ({**BASE_FILE, "data-dist-info-metadata": True}, Link(WHL, WHL_URL, {"sha256": SHA_A}, {})),
        ({**BASE_FILE, "core-metadata": "yes"}, Link(WHL, WHL_URL, {"sha256": SHA_A}, None)),
    ],
)  # fmt: skip
def test_render_project__json_file_link(file: dict[str, object], expected: Link) -> None:
    rendered = render_project(_json_page(file), JSON_CT, PAGE_URL, JSON, "tinyproj")
    assert rendered.links == (expected,)


@pytest.mark.parametrize(
    "file",
    [
        "not a dict",
        {**BASE_FILE, "filename": None},
        {**BASE_FILE, "url": 42},
        {**BASE_FILE, "url": f"file:///etc/{WHL}"},
        {**BASE_FILE, "filename": "../../etc/passwd"},
        {"url": WHL_URL},
    ],
)
def test_render_project__json_file_dropped(file: object) -> None:
    for variant in Variant:
        rendered = render_project(_json_page(file), JSON_CT, PAGE_URL, variant, "tinyproj")
        assert rendered.links == ()


@pytest.mark.parametrize(
    ("file", "expected"),
    [
        (BASE_FILE, {"href": f"{WHL_HREF}#sha256={SHA_A}"}),
        ({**BASE_FILE, "hashes": {}}, {"href": WHL_HREF}),
        ({**BASE_FILE, "hashes": {"sha512": SHA512, "md5": MD5}},
         {"href": f"{WHL_HREF}#sha512={SHA512}"}),
        ({**BASE_FILE, "hashes": {"odd name": "a/b"}}, {"href": f"{WHL_HREF}#odd%20name=a%2Fb"}),
        ({**BASE_FILE, "requires-python": ""}, {"href": f"{WHL_HREF}#sha256={SHA_A}"}),
        ({**BASE_FILE, "requires-python": None}, {"href": f"{WHL_HREF}#sha256={SHA_A}"}),
        ({**BASE_FILE, "requires-python": ">=3.8,<4"},
         {"href": f"{WHL_HREF}#sha256={SHA_A}", "data-requires-python": ">=3.8,<4"}),
        ({**BASE_FILE, "yanked": False}, {"href": f"{WHL_HREF}#sha256={SHA_A}"}),
        ({**BASE_FILE, "yanked": ""}, {"href": f"{WHL_HREF}#sha256={SHA_A}"}),
        ({**BASE_FILE, "yanked": True}, {"href": f"{WHL_HREF}#sha256={SHA_A}", "data-yanked": ""}),
        ({**BASE_FILE, "yanked": "oops"},
         {"href": f"{WHL_HREF}#sha256={SHA_A}", "data-yanked": "oops"}),
        ({**BASE_FILE, "core-metadata": {"md5": MD5}},
         {"href": f"{WHL_HREF}#sha256={SHA_A}", "data-core-metadata": f"md5={MD5}",
          "data-dist-info-metadata": f"md5={MD5}"}),
        ({**BASE_FILE, "core-metadata": {}},
         {"href": f"{WHL_HREF}#sha256={SHA_A}", "data-core-metadata": "true",
          "data-dist-info-metadata": "true"}),
        ({**BASE_FILE, "gpg-sig": "yes"}, {"href": f"{WHL_HREF}#sha256={SHA_A}"}),
    ],
)  # fmt: skip
def test_render_project__json_file_as_html(
    file: dict[str, object], expected: dict[str, str]
) -> None:
    rendered = render_project(_json_page(file), JSON_CT, PAGE_URL, HTML, "tinyproj")
    assert _Page(rendered.body).anchors == [expected]


@pytest.mark.parametrize(
    ("top", "expected_json_top", "expected_meta"),
    [
        ({}, {"meta": {"api-version": "1.1"}, "name": "tinyproj"},
         [("pypi:repository-version", "1.1")]),
        ({"meta": None, "name": None}, {"meta": {"api-version": "1.0"}, "name": "tinyproj"},
         [("pypi:repository-version", "1.1")]),
        ({"meta": {"api-version": 1.0}}, {"meta": {"api-version": "1.0"}, "name": "tinyproj"},
         [("pypi:repository-version", "1.1")]),
        ({"meta": {"api-version": "1.4", "_last-serial": 7}, "name": "TinyProj"},
         {"meta": {"api-version": "1.4", "_last-serial": 7}, "name": "TinyProj"},
         [("pypi:repository-version", "1.4")]),
        ({"tracks": "http://127.0.0.1:9/a/", "alternate-locations": ["http://127.0.0.1:9/b/", 3]},
         {"meta": {"api-version": "1.1"}, "name": "tinyproj", "tracks": "http://127.0.0.1:9/a/",
          "alternate-locations": ["http://127.0.0.1:9/b/", 3]},
         [("pypi:repository-version", "1.1"), ("pypi:alternate-locations", "http://127.0.0.1:9/b/")]),
        ({"project-status": "archived"},
         {"meta": {"api-version": "1.1"}, "name": "tinyproj", "project-status": "archived"},
         [("pypi:repository-version", "1.1")]),
        ({"project-status": {"status": "quarantined"}},
         {"meta": {"api-version": "1.1"}, "name": "tinyproj",
          "project-status": {"status": "quarantined"}},
         [("pypi:repository-version", "1.1"), ("pypi:project-status", "quarantined")]),
    ],
)  # fmt: skip
def test_render_project__json_top_level(
    top: dict[str, object],
    expected_json_top: dict[str, object],
    expected_meta: list[tuple[str, str]],
) -> None:
    body = orjson.dumps({"meta": {"api-version": "1.1"}, "name": "tinyproj", **top, "files": []})
    assert _render_json(body, JSON_CT) == {**expected_json_top, "files": []}
    rendered = render_project(body, JSON_CT, PAGE_URL, HTML, "tinyproj")
    assert _Page(rendered.body).meta == expected_meta
    assert _Page(rendered.body).title == f"Links for {expected_json_top['name']}"


# --- render_project: bodies that are no page -----------------------------------------------

# Deeper than orjson writes (it reads deeper than it writes).
DEEP_FILE = _json_page(BASE_FILE).replace(
    b'"hashes"', b'"deep":' + b"[" * 300 + b"]" * 300 + b',"hashes"'
)


@pytest.mark.parametrize(
    ("body", "content_type", "variant", "message"),
    [
        (b"{not json", JSON_CT, JSON, "invalid JSON"),
        (b"[]", JSON_CT, JSON, "no 'files' list"),
        (b'{"files": {}}', JSON_CT, HTML, "no 'files' list"),
        (b'{"meta": {"api-version": "2.0"}, "files": []}', JSON_CT, JSON, "version 2.0"),
        (DEEP_FILE, JSON_CT, JSON, "re-encode"),
        (b"\x89PNG\r\n\x1a\n\xff\xfe", "text/html", HTML, "not UTF-8"),
        (b"<html>\x00\x00</html>", "text/html", HTML, "NUL"),
        (b"<html><![bogus[ x ]]></html>", "text/html", JSON, "unparsable HTML"),
        (_html_page("", '<meta name="pypi:repository-version" content="2.1">'), "text/html",
         HTML, "version 2.1"),
    ],
)  # fmt: skip
def test_render_project__rejects_garbage(
    body: bytes, content_type: str, variant: Variant, message: str
) -> None:
    with pytest.raises(FormatError, match=message):
        render_project(body, content_type, PAGE_URL, variant, "tinyproj")


def test_render_project__utf8_bom_is_accepted() -> None:
    body = b"\xef\xbb\xbf" + _html_page(f'<a href="{WHL_URL}">x</a>')
    assert len(render_project(body, "text/html", PAGE_URL, HTML, "tinyproj").links) == 1


# --- render_index --------------------------------------------------------------------------

SAMPLE_INDEX_NAMES = ["0", "tinyproj", "zope.interface", "Flask_SQLAlchemy", "Upper", "spaced"]


@pytest.mark.parametrize(
    ("body", "content_type", "expected_names", "expected_version"),
    [
        ((DATA / "index.html").read_bytes(), "text/html", SAMPLE_INDEX_NAMES, "1.1"),
        (b"<html><body></body></html>", "text/html", [], None),
        (b"<a href='/simple/a/'>a</a>\n<a href=/simple/b/>\n  b\n</a>", "text/html",
         ["a", "b"], None),
        (b"<a>bad name</a><a>a&amp;b</a><a><b>x</b></a><abbr>no</abbr>", "text/html", [], None),
        (orjson.dumps({"meta": {"api-version": "1.0"}, "projects": [{"name": "Foo.Bar"}]}),
         JSON_CT, ["Foo.Bar"], "1.0"),
        (orjson.dumps({"projects": [{"name": "a"}, {"name": "bad name"}, {"name": 3}, "b",
                                    {"name": "c\nd"}, {"other": "e"}, {"name": "-f"}]}),
         "application/json", ["a"], None),
    ],
)  # fmt: skip
def test_render_index__names(
    body: bytes, content_type: str, expected_names: list[str], expected_version: str | None
) -> None:
    as_json = orjson.loads(render_index(body, content_type, JSON))
    assert as_json["projects"] == [{"name": name} for name in expected_names]
    assert as_json["meta"]["api-version"] == (expected_version or "1.0")
    html_page = _Page(render_index(body, content_type, HTML))
    assert html_page.title == "Simple index"
    assert html_page.meta == [("pypi:repository-version", expected_version or "1.1")]
    assert html_page.texts == expected_names
    assert html_page.anchors == [{"href": f"{normalize_name(n)}/"} for n in expected_names]


def test_render_index__json_keeps_upstream_meta() -> None:
    body = orjson.dumps({"meta": {"_last-serial": 9, "api-version": "1.1"}, "projects": []})
    assert orjson.loads(render_index(body, JSON_CT, JSON)) == {
        "meta": {"_last-serial": 9, "api-version": "1.1"},
        "projects": [],
    }


def test_render_index__large_index() -> None:
    names = [f"Project_{i}.X" for i in range(50_000)]
    body = "".join(f'<a href="/simple/{normalize_name(n)}/">{n}</a>\n' for n in names).encode()
    page = _Page(render_index(body, "text/html", HTML))
    assert page.texts == names
    assert page.anchors[-1] == {"href": "project-49999-x/"}


@pytest.mark.parametrize(
    ("body", "content_type", "message"),
    [
        (b"<<<", JSON_CT, "invalid JSON"),
        (b'{"projects": {}}', JSON_CT, "no 'projects' list"),
        (b"[]", "application/json", "no 'projects' list"),
        (b'{"meta": {"api-version": "3.0"}, "projects": []}', JSON_CT, "version 3.0"),
        (b"\xff\xfe<html>", "text/html", "not UTF-8"),
        (b'<meta name="pypi:repository-version" content="2.0">', "text/html", "version 2.0"),
    ],
)
def test_render_index__rejects_garbage(body: bytes, content_type: str, message: str) -> None:
    for variant in Variant:
        with pytest.raises(FormatError, match=message):
            render_index(body, content_type, variant)


# --- rewrite_json_api ----------------------------------------------------------------------

API_URL = "http://127.0.0.1:9/pypi/tinyproj/json"
BASE = "__PANTRY_BASE__"
WHL_11 = "tinyproj-1.1-py3-none-any.whl"
SDIST_10 = "tinyproj-1.0.tar.gz"


def test_rewrite_json_api__sample() -> None:
    upstream = orjson.loads((DATA / "json_api.json").read_bytes())
    rendered = rewrite_json_api((DATA / "json_api.json").read_bytes(), API_URL, BASE, "tinyproj")
    assert rendered.links == (
        Link(WHL_11, f"{FILES}/9a/bc/{WHL_11}", {"sha256": SHA_D, "md5": MD5},
             {"sha256": "252f10c83610ebca1a059c0bae8255eba2f95be4d1d7bcfa89d7248a82d9f111"}),
        Link(SDIST_10, f"{FILES}/56/78/{SDIST_10}", {"sha256": SHA_C, "md5": MD5}, None),
    )  # fmt: skip
    whl = {**upstream["urls"][0], "url": f"{BASE}/files/tinyproj/{WHL_11}"}
    sdist = {**upstream["releases"]["1.0"][0], "url": f"{BASE}/files/tinyproj/{SDIST_10}"}
    assert orjson.loads(rendered.body) == {
        **upstream,
        "urls": [whl],
        "releases": {"1.0": [sdist], "1.1": [whl]},
    }


API_FILE = {"filename": WHL_11, "url": f"{FILES}/{WHL_11}", "digests": {"sha256": SHA_D}}


@pytest.mark.parametrize(
    ("file", "expected"),
    [
        (API_FILE, Link(WHL_11, f"{FILES}/{WHL_11}", {"sha256": SHA_D}, None)),
        ({**API_FILE, "url": f"/packages/{WHL_11}", "digests": None},
         Link(WHL_11, f"http://127.0.0.1:9/packages/{WHL_11}", {}, None)),
        ({**API_FILE, "digests": {"blake2b_256": "ab", "md5": MD5}},
         Link(WHL_11, f"{FILES}/{WHL_11}", {"md5": MD5}, None)),
        ({**API_FILE, "core_metadata": True},
         Link(WHL_11, f"{FILES}/{WHL_11}", {"sha256": SHA_D}, {})),
        ({**API_FILE, "core_metadata": False},
         Link(WHL_11, f"{FILES}/{WHL_11}", {"sha256": SHA_D}, None)),
        ({**API_FILE, "data_dist_info_metadata": {"sha256": SHA_B}},
         Link(WHL_11, f"{FILES}/{WHL_11}", {"sha256": SHA_D}, {"sha256": SHA_B})),
    ],
)  # fmt: skip
def test_rewrite_json_api__version_endpoint(file: dict[str, object], expected: Link) -> None:
    body = orjson.dumps({"info": {"version": "1.1"}, "urls": [file], "vulnerabilities": []})
    rendered = rewrite_json_api(body, API_URL, BASE, "tinyproj")
    assert rendered.links == (expected,)
    assert orjson.loads(rendered.body) == {
        "info": {"version": "1.1"},
        "urls": [{**file, "url": f"{BASE}/files/tinyproj/{WHL_11}"}],
        "vulnerabilities": [],
    }


@pytest.mark.parametrize(
    "file",
    [
        "not a dict",
        {**API_FILE, "filename": 7},
        {**API_FILE, "filename": "../x.whl"},
        {**API_FILE, "url": None},
        {**API_FILE, "url": f"ftp://files.example.test/{WHL_11}"},
    ],
)
def test_rewrite_json_api__file_dropped(file: object) -> None:
    body = orjson.dumps({"info": {}, "releases": {"1.1": [file]}})
    rendered = rewrite_json_api(body, API_URL, BASE, "tinyproj")
    assert rendered.links == ()
    assert orjson.loads(rendered.body) == {"info": {}, "releases": {"1.1": []}}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"nope", "invalid JSON"),
        (b"[]", "no 'info' object"),
        (b'{"info": "x"}', "no 'info' object"),
        (b'{"info": {}, "urls": {}}', "malformed"),
        (b'{"info": {}, "releases": []}', "malformed"),
        (b'{"info": {}, "releases": {"1.0": {}}}', "not a list"),
    ],
)
def test_rewrite_json_api__rejects_garbage(body: bytes, message: str) -> None:
    with pytest.raises(FormatError, match=message):
        rewrite_json_api(body, API_URL, BASE, "tinyproj")


# --- properties ----------------------------------------------------------------------------

JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
KEYS = st.sampled_from(
    ["filename", "url", "hashes", "sha256", "core-metadata", "dist-info-metadata", "yanked",
     "requires-python", "gpg-sig", "meta", "api-version", "name", "files", "projects", "info",
     "urls", "releases", "digests", "core_metadata", "tracks", "project-status", "status"]
) | st.text(max_size=10)  # fmt: skip
JSON_VALUES = st.recursive(
    JSON_SCALARS | st.sampled_from([WHL, WHL_URL, "../x", "1.0", "2.0", "sha256=ab"]),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=5),
    max_leaves=30,
)
HTML_BITS = st.sampled_from(
    ["<a ", "<a href=", '"', "'", ">", "</a>", "<meta name=pypi:repository-version content=",
     "pypi:tracks", "data-yanked", "data-core-metadata=", "=true", "#sha256=ab", WHL_URL,
     "<base href=", "&lt;", "&#0;", "<!", "<![CDATA[", "<!--", "1.1", "2.0", " "]
) | st.text(max_size=10)  # fmt: skip
CONTENT_TYPES = st.sampled_from(["text/html", JSON_CT, "application/json; charset=utf-8", ""])
SETTINGS = settings(database=None, deadline=None, max_examples=300)


@SETTINGS
@given(
    body=st.binary(max_size=200)
    | JSON_VALUES.map(orjson.dumps)
    | st.dictionaries(KEYS, JSON_VALUES, max_size=5).map(lambda d: orjson.dumps({"files": [d]}))
    | st.lists(HTML_BITS, max_size=30).map(lambda bits: "".join(bits).encode(errors="replace")),
    content_type=CONTENT_TYPES,
    page_url=st.sampled_from([PAGE_URL, "http://[::1/simple/x/", ""]) | st.text(max_size=10),
    variant=st.sampled_from(Variant),
)
def test_render_project__never_raises_but_format_error(
    body: bytes, content_type: str, page_url: str, variant: Variant
) -> None:
    try:
        rendered = render_project(body, content_type, page_url, variant, "tinyproj")
    except FormatError:
        return
    for link in rendered.links:
        assert check_filename(link.filename) == link.filename
        assert link.url.startswith(("http://", "https://"))


@SETTINGS
@given(
    body=st.binary(max_size=200)
    | JSON_VALUES.map(orjson.dumps)
    | st.lists(HTML_BITS, max_size=30).map(lambda bits: "".join(bits).encode(errors="replace")),
    content_type=CONTENT_TYPES,
    variant=st.sampled_from(Variant),
)
def test_render_index__never_raises_but_format_error(
    body: bytes, content_type: str, variant: Variant
) -> None:
    with contextlib.suppress(FormatError):
        render_index(body, content_type, variant)


@SETTINGS
@given(
    body=JSON_VALUES.map(orjson.dumps)
    | st.dictionaries(KEYS, JSON_VALUES, max_size=5).map(
        lambda d: orjson.dumps({"info": {}, "urls": [d], "releases": {"1": [d]}})
    ),
)
def test_rewrite_json_api__never_raises_but_format_error(body: bytes) -> None:
    with contextlib.suppress(FormatError):
        rewrite_json_api(body, API_URL, BASE, "tinyproj")


@SETTINGS
@given(
    accept=st.none()
    | st.text()
    | st.lists(HTML_BITS | st.sampled_from([",", ";", "q=", "*/*", JSON_CT])).map("".join)
)
def test_negotiate__never_raises(accept: str | None) -> None:
    result = negotiate(accept)
    assert result is None or result[0] in Variant


@SETTINGS
@given(text=st.text())
def test_check_names__never_raise_but_bad_request(text: str) -> None:
    for check in (check_project_name, check_filename):
        with contextlib.suppress(BadRequest):
            assert check(text) is text


@given(st.text(max_size=40))
def test_quote_segment_is_quote_with_nothing_safe(segment: str) -> None:
    """The fast path for plain names must give exactly what quote(safe="") gives."""
    assert quote_segment(segment) == quote(segment, safe="")
