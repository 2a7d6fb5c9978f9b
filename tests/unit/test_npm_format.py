"""Unit tests for pantry.formats.npm: negotiation, routes, names, packument rewriting, digests."""

from __future__ import annotations

import base64
import contextlib
import hashlib
from pathlib import Path

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pantry.errors import BadRequest, NotFound
from pantry.formats.npm import (
    ABBREVIATED_CT,
    DistTagsPath,
    FormatError,
    Link,
    PackumentPath,
    Route,
    TarballPath,
    Variant,
    check_filename,
    check_package_name,
    content_type,
    dist_tags,
    negotiate,
    parse_path,
    pick_digest,
    rewrite_packument,
    upstream_accept,
    upstream_packument_url,
)
from pantry.model import Digest

DATA = Path(__file__).resolve().parent.parent / "data" / "npm"
UPSTREAM = "https://registry.example.test/"
BASE = "__PANTRY_BASE__"
NPM_ACCEPT = f"{ABBREVIATED_CT}; q=1.0, application/json; q=0.8, */*"
FULL = Variant.FULL
ABBREVIATED = Variant.ABBREVIATED


def _sha(algorithm: str, data: bytes = b"x") -> str:
    return hashlib.new(algorithm, data).hexdigest()


def _sri(algorithm: str, data: bytes = b"x") -> str:
    return f"{algorithm}-{base64.b64encode(hashlib.new(algorithm, data).digest()).decode()}"


def _load(name: str) -> bytes:
    return (DATA / name).read_bytes()


def _packument(versions: object, **top: object) -> bytes:
    return orjson.dumps({"name": "tinypkg", **top, "versions": versions})


def _version(tarball: object = f"{UPSTREAM}tinypkg/-/tinypkg-1.0.0.tgz", **dist: object) -> object:
    return {"name": "tinypkg", "version": "1.0.0", "dist": {"tarball": tarball, **dist}}


def _rewrite(body: bytes, name: str = "tinypkg") -> tuple[dict[str, object], tuple[Link, ...]]:
    rendered = rewrite_packument(body, name, BASE)
    doc: dict[str, object] = orjson.loads(rendered.body)
    return doc, rendered.links


def _version_names(doc: dict[str, object]) -> list[str]:
    versions = doc["versions"]
    assert isinstance(versions, dict)
    return list(versions)


# --- negotiate, upstream_accept, content_type ----------------------------------------------


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (None, FULL),
        ("", FULL),
        ("*/*", FULL),
        ("application/json", FULL),
        (";;;,,,", FULL),
        (NPM_ACCEPT, ABBREVIATED),
        (ABBREVIATED_CT, ABBREVIATED),
        (ABBREVIATED_CT.upper(), ABBREVIATED),
        (f"application/json, {ABBREVIATED_CT}", ABBREVIATED),  # a tie goes to abbreviated
        (f"{ABBREVIATED_CT};q=0.5, */*", ABBREVIATED),  # wildcards do not count
        (f"{ABBREVIATED_CT};q=0.5, application/json", FULL),
        (f"{ABBREVIATED_CT};q=0.5, application/json;q=0.9, application/json;q=0.1", FULL),
        (f"{ABBREVIATED_CT};q=0", FULL),
        (f"{ABBREVIATED_CT};q=0, {ABBREVIATED_CT};q=0.3", ABBREVIATED),
        (f"{ABBREVIATED_CT};q=abc", FULL),
        (f"{ABBREVIATED_CT};q=nan", FULL),
        (f"{ABBREVIATED_CT};q=2", FULL),
        (f"{ABBREVIATED_CT};q=0.9, application/json;q=oops", ABBREVIATED),
        (f"{ABBREVIATED_CT}; charset=utf-8", ABBREVIATED),
        (f" {ABBREVIATED_CT} ;Q=0.7, application/json;q=0.7", ABBREVIATED),
    ],
)
def test_negotiate__picks_variant(accept: str | None, expected: Variant) -> None:
    assert negotiate(accept) is expected


@pytest.mark.parametrize(
    ("variant", "accept", "served"),
    [
        (FULL, "application/json", "application/json"),
        (ABBREVIATED, NPM_ACCEPT, ABBREVIATED_CT),
    ],
)
def test_upstream_accept__and_content_type(variant: Variant, accept: str, served: str) -> None:
    assert upstream_accept(variant) == accept
    assert negotiate(upstream_accept(variant)) is variant
    assert content_type(variant) == served


# --- parse_path ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tail", "expected"),
    [
        ("tinypkg", PackumentPath("tinypkg")),
        ("tinypkg/", PackumentPath("tinypkg")),
        ("JSONStream", PackumentPath("JSONStream")),
        ("@example/widget", PackumentPath("@example/widget")),
        ("@example/widget/", PackumentPath("@example/widget")),
        ("@example%2fwidget", PackumentPath("@example/widget")),
        ("@example%2Fwidget", PackumentPath("@example/widget")),
        ("tinypkg/-/tinypkg-1.0.0.tgz", TarballPath("tinypkg", "tinypkg-1.0.0.tgz")),
        (
            "@example/widget/-/widget-2.0.0.tgz",
            TarballPath("@example/widget", "widget-2.0.0.tgz"),
        ),
        (
            "@example%2fwidget/-/widget-2.0.0.tgz",
            TarballPath("@example/widget", "widget-2.0.0.tgz"),
        ),
        ("-/package/tinypkg/dist-tags", DistTagsPath("tinypkg")),
        ("-/package/@example/widget/dist-tags", DistTagsPath("@example/widget")),
        ("-/package/@example%2Fwidget/dist-tags", DistTagsPath("@example/widget")),
    ],
)
def test_parse_path__routes(tail: str, expected: Route) -> None:
    assert parse_path(tail) == expected


@pytest.mark.parametrize(
    "tail",
    [
        "",
        "/",
        "/tinypkg",
        "-",
        "-/",
        "-/ping",
        "-/v1/search",
        "-/npm/v1/security/advisories/bulk",
        "-/package/tinypkg/dist-tags/latest",
        "-/package/tinypkg",
        "tinypkg//",
        "tinypkg/1.0.0",
        "tinypkg/-",
        "tinypkg/-/",
        "tinypkg/-/tinypkg-1.0.0.tar.gz",
        "tinypkg/-/tinypkg-1.0.0.tgz/",
        "tinypkg/-/x/tinypkg-1.0.0.tgz",
        "@example/widget/extra",
        "@example/widget//",
    ],
)
def test_parse_path__unknown_route(tail: str) -> None:
    with pytest.raises(NotFound, match="no npm route"):
        parse_path(tail)


@pytest.mark.parametrize(
    ("tail", "message"),
    [
        ("@example", "invalid package name"),
        ("@example/", "invalid package name"),
        ("@/widget", "invalid package name"),
        (".hidden", "invalid package name"),
        ("_private", "invalid package name"),
        ("has space", "invalid package name"),
        ("tiny%2fpkg", "invalid package name"),
        ("@a%2fb%2fc", "invalid package name"),
        ("..", "invalid package name"),
        ("../-/x.tgz", "invalid package name"),
        ("-/package/dist-tags", "invalid package name"),
        ("-/package/a/b/dist-tags", "invalid package name"),
        ("tinypkg/-/.tgz", "invalid tarball name"),
        ("tinypkg/-/..tgz", "invalid tarball name"),
        ("tinypkg/-/a\\b.tgz", "invalid tarball name"),
        ("tinypkg/-/a\x00.tgz", "invalid tarball name"),
    ],
)
def test_parse_path__bad_request(tail: str, message: str) -> None:
    with pytest.raises(BadRequest, match=message):
        parse_path(tail)


# --- names ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "a",
        "tinypkg",
        "JSONStream",  # legacy uppercase
        "left-pad",
        "lodash.merge",
        "under_score",
        "-",
        "x" * 214,
        "@example/widget",
        "@Example/Widget",
        "@a/b",
        "@types/node",
        "@example/-",
        "legacy~name!*'()",
        "@x/" + "y" * 211,
    ],
)
def test_check_package_name__accepts_valid(name: str) -> None:
    assert check_package_name(name) is name


@pytest.mark.parametrize(
    "name",
    [
        "",
        "x" * 215,
        "@x/" + "y" * 212,
        ".",
        "..",
        ".hidden",
        "_private",
        "@example/.hidden",
        "@example/_private",
        "@.scope/widget",
        "@_scope/widget",
        "@example",
        "@example/",
        "@/widget",
        "@example/widget/extra",
        "a/b",
        "a\\b",
        "a b",
        " a",
        "a\n",
        "a\x00",
        "a%20b",
        "a:b",
        "a?b",
        "a#b",
        "a@b",
        "@@example/widget",
        "@example/@widget",
        "café",
        "a\u200bb",
    ],
)
def test_check_package_name__rejects_invalid(name: str) -> None:
    with pytest.raises(BadRequest, match="invalid package name"):
        check_package_name(name)


@pytest.mark.parametrize(
    "filename",
    [
        "tinypkg-1.0.0.tgz",
        "widget-2.0.0-rc.1.tgz",
        "a+b.tgz",
        "naïve-1.0.0.tgz",
        "x" * 251 + ".tgz",
    ],
)
def test_check_filename__accepts_valid(filename: str) -> None:
    assert check_filename(filename) is filename


@pytest.mark.parametrize(
    "filename",
    [
        "",
        ".tgz",
        ".hidden.tgz",
        "tinypkg-1.0.0.tar.gz",
        "tinypkg-1.0.0.TGZ",
        "a/b.tgz",
        "a\\b.tgz",
        "a\x00b.tgz",
        "a\tb.tgz",
        "x" * 252 + ".tgz",
    ],
)
def test_check_filename__rejects_invalid(filename: str) -> None:
    with pytest.raises(BadRequest, match="invalid tarball name"):
        check_filename(filename)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("tinypkg", f"{UPSTREAM}tinypkg"),
        ("JSONStream", f"{UPSTREAM}JSONStream"),
        ("@example/widget", f"{UPSTREAM}@example%2fwidget"),
    ],
)
def test_upstream_packument_url__escapes_scope(name: str, expected: str) -> None:
    assert upstream_packument_url(UPSTREAM, name) == expected


def test_upstream_packument_url__rejects_invalid_name() -> None:
    with pytest.raises(BadRequest, match="invalid package name"):
        upstream_packument_url(UPSTREAM, "../admin")


# --- pick_digest ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("dist", "expected"),
    [
        ({}, None),
        ({"integrity": _sri("sha512")}, Digest("sha512", _sha("sha512"))),
        ({"integrity": f"  {_sri('sha512')}\n"}, Digest("sha512", _sha("sha512"))),
        ({"integrity": f"{_sri('sha512')}?opt=1"}, Digest("sha512", _sha("sha512"))),
        (
            {"integrity": f"{_sri('sha1')} {_sri('sha256')} {_sri('sha512')} {_sri('sha384')}"},
            Digest("sha512", _sha("sha512")),
        ),
        ({"integrity": f"{_sri('sha1')} {_sri('sha384')}"}, Digest("sha384", _sha("sha384"))),
        ({"integrity": _sri("sha256")}, Digest("sha256", _sha("sha256"))),
        (
            {"integrity": _sri("sha512", b"a") + " " + _sri("sha512", b"b")},
            Digest("sha512", _sha("sha512", b"a")),
        ),
        ({"integrity": "SHA512-" + _sri("sha512")[7:]}, Digest("sha512", _sha("sha512"))),
        (
            {"integrity": _sri("sha512"), "shasum": _sha("sha1", b"other")},
            Digest("sha512", _sha("sha512")),
        ),
        ({"shasum": _sha("sha1")}, Digest("sha1", _sha("sha1"))),
        ({"shasum": _sha("sha1").upper()}, Digest("sha1", _sha("sha1"))),
        ({"integrity": _sri("sha1"), "shasum": _sha("sha1", b"y")}, Digest("sha1", _sha("sha1"))),
        ({"integrity": "sha512-notbase64!", "shasum": _sha("sha1")}, Digest("sha1", _sha("sha1"))),
        ({"integrity": "sha512-" + _sri("sha256")[7:], "shasum": "short"}, None),
        ({"integrity": _sri("md5"), "shasum": _sha("sha1")}, Digest("sha1", _sha("sha1"))),
        ({"integrity": _sri("md5")}, None),
        ({"integrity": "blake3-AAAA", "shasum": "zz" * 20}, None),
        ({"integrity": ["sha512-x"], "shasum": 42}, None),
        ({"integrity": ""}, None),
    ],
)
def test_pick_digest__strongest_valid(dist: dict[str, object], expected: Digest | None) -> None:
    assert pick_digest(dist) == expected


# --- rewrite_packument: the samples --------------------------------------------------------

TINYPKG_LINKS = (
    Link(
        "tinypkg",
        "tinypkg-0.9.0.tgz",
        f"{UPSTREAM}tinypkg/-/tinypkg-0.9.0.tgz",
        Digest("sha1", _sha("sha1", b"tinypkg-0.9.0")),
    ),
    Link(
        "tinypkg",
        "tinypkg-1.0.0.tgz",
        f"{UPSTREAM}tinypkg/-/tinypkg-1.0.0.tgz",
        Digest("sha512", _sha("sha512", b"tinypkg-1.0.0")),
    ),
    Link(
        "tinypkg",
        "tinypkg-1.1.0-beta.1.tgz",
        f"{UPSTREAM}tinypkg/-/tinypkg-1.1.0-beta.1.tgz",
        Digest("sha512", _sha("sha512", b"tinypkg-1.1.0-beta.1")),
    ),
)
WIDGET_LINKS = tuple(
    Link(
        "@example/widget",
        f"widget-{v}.tgz",
        f"{UPSTREAM}@example/widget/-/widget-{v}.tgz",
        Digest("sha512", _sha("sha512", f"widget-{v}".encode())),
    )
    for v in ("2.0.0", "2.1.0")
)


@pytest.mark.parametrize(
    ("sample", "name", "expected_links"),
    [
        ("tinypkg.json", "tinypkg", TINYPKG_LINKS),
        ("tinypkg.abbreviated.json", "tinypkg", TINYPKG_LINKS),
        ("scoped.json", "@example/widget", WIDGET_LINKS),
    ],
)
def test_rewrite_packument__sample(sample: str, name: str, expected_links: tuple[Link]) -> None:
    original = orjson.loads(_load(sample))
    doc, links = _rewrite(_load(sample), name)
    assert links == expected_links
    for link in links:
        version = link.filename.removesuffix(".tgz").split("-", 1)[1]
        dist = original["versions"][version]["dist"]
        assert dist["tarball"] == link.url
        dist["tarball"] = f"{BASE}/{name}/-/{link.filename}"
    assert doc == original  # only the tarball URLs changed
    assert list(doc) == list(original)  # in the upstream's key order


def test_rewrite_packument__sample_keeps_text_and_deprecation() -> None:
    doc, _ = _rewrite(_load("tinypkg.json"))
    assert doc["readme"] == "# tinypkg\n\nA tiny package for tests. Pads strings — with ünïcode.\n"
    versions = doc["versions"]
    assert isinstance(versions, dict)
    assert versions["0.9.0"]["deprecated"].startswith("0.9 is no longer supported")
    dist = versions["1.0.0"]["dist"]
    assert dist["integrity"] == _sri("sha512", b"tinypkg-1.0.0")
    assert dist["shasum"] == _sha("sha1", b"tinypkg-1.0.0")
    assert dist["tarball"] == f"{BASE}/tinypkg/-/tinypkg-1.0.0.tgz"
    assert dist["signatures"][0]["keyid"] == "SHA256:example-key-id"


def test_rewrite_packument__rewritten_paths_route_back() -> None:
    for sample, name in (("tinypkg.json", "tinypkg"), ("scoped.json", "@example/widget")):
        doc, links = _rewrite(_load(sample), name)
        versions = doc["versions"]
        assert isinstance(versions, dict)
        for meta, link in zip(versions.values(), links, strict=True):
            tail = meta["dist"]["tarball"].removeprefix(f"{BASE}/")
            assert parse_path(tail) == TarballPath(name, link.filename)


# --- rewrite_packument: single versions ----------------------------------------------------


@pytest.mark.parametrize(
    ("tarball", "filename", "href", "url"),
    [
        (f"{UPSTREAM}tinypkg/-/tinypkg-1.0.0.tgz", "tinypkg-1.0.0.tgz", "tinypkg-1.0.0.tgz", None),
        ("http://127.0.0.1:9/t/tinypkg-1.0.0.tgz", "tinypkg-1.0.0.tgz", "tinypkg-1.0.0.tgz", None),
        (
            "HTTPS://registry.example.test/x/tinypkg-1.0.0.tgz#frag",
            "tinypkg-1.0.0.tgz",
            "tinypkg-1.0.0.tgz",
            "https://registry.example.test/x/tinypkg-1.0.0.tgz",
        ),
        (
            f"{UPSTREAM}x/tinypkg-1.0.0.tgz?token=abc",
            "tinypkg-1.0.0.tgz",
            "tinypkg-1.0.0.tgz",
            None,
        ),
        (f"{UPSTREAM}x/a%20b%23c.tgz", "a b#c.tgz", "a%20b%23c.tgz", None),
        (f"{UPSTREAM}x/a%2Bb+c.tgz", "a+b+c.tgz", "a+b+c.tgz", None),
        (f"{UPSTREAM}x/na%C3%AFve.tgz", "naïve.tgz", "na%C3%AFve.tgz", None),
        ("https://user:pw@mirror.example.test/tinypkg.tgz", "tinypkg.tgz", "tinypkg.tgz", None),
    ],
)
def test_rewrite_packument__tarball_rewritten(
    tarball: str, filename: str, href: str, url: str | None
) -> None:
    doc, links = _rewrite(_packument({"1.0.0": _version(tarball, shasum=_sha("sha1"))}))
    assert links == (Link("tinypkg", filename, url or tarball, Digest("sha1", _sha("sha1"))),)
    assert doc["versions"] == {
        "1.0.0": {
            "name": "tinypkg",
            "version": "1.0.0",
            "dist": {"tarball": f"{BASE}/tinypkg/-/{href}", "shasum": _sha("sha1")},
        }
    }


def test_rewrite_packument__base_is_opaque() -> None:
    body = _packument({"1.0.0": _version()})
    for base in ("", "http://127.0.0.1:9/npm", "../.."):
        rendered = rewrite_packument(body, "tinypkg", base)
        tarball = orjson.loads(rendered.body)["versions"]["1.0.0"]["dist"]["tarball"]
        assert tarball == f"{base}/tinypkg/-/tinypkg-1.0.0.tgz"


@pytest.mark.parametrize(
    "meta",
    [
        None,
        "1.0.0",
        ["dist"],
        {"name": "tinypkg", "version": "1.0.0"},
        {"dist": None},
        {"dist": "https://registry.example.test/tinypkg/-/tinypkg-1.0.0.tgz"},
        _version(None),
        _version(42),
        _version(""),
        _version("tinypkg-1.0.0.tgz"),
        _version("/tinypkg/-/tinypkg-1.0.0.tgz"),
        _version("//registry.example.test/tinypkg/-/tinypkg-1.0.0.tgz"),
        _version("file:///srv/tinypkg-1.0.0.tgz"),
        _version("ftp://registry.example.test/tinypkg-1.0.0.tgz"),
        _version("git+https://git.example.test/a/tinypkg-1.0.0.tgz"),
        _version("https:///tinypkg-1.0.0.tgz"),
        _version("http://[::1/tinypkg-1.0.0.tgz"),
        _version(f"{UPSTREAM}tinypkg/-/tinypkg-1.0.0.tar.gz"),
        _version(f"{UPSTREAM}tinypkg/-/"),
        _version(f"{UPSTREAM}tinypkg/-/.tgz"),
        _version(f"{UPSTREAM}tinypkg/-/..%2F..%2Fetc.tgz"),
        _version(f"{UPSTREAM}tinypkg/-/a%5Cb.tgz"),
        _version(f"{UPSTREAM}tinypkg/-/a%00b.tgz"),
        _version(f"{UPSTREAM}tinypkg/-/" + "x" * 252 + ".tgz"),
    ],
)
def test_rewrite_packument__unusable_version_removed(meta: object) -> None:
    body = _packument(
        {"0.1.0": meta, "1.0.1": _version(f"{UPSTREAM}t/t-1.0.1.tgz")},
        **{"dist-tags": {"latest": "1.0.1", "old": "0.1.0", "gone": "9.9.9", "odd": [1]}},
    )
    doc, links = _rewrite(body)
    assert _version_names(doc) == ["1.0.1"]
    assert [link.filename for link in links] == ["t-1.0.1.tgz"]
    # The tag of the removed version goes; tags pantry did not break are left alone.
    assert doc["dist-tags"] == {"latest": "1.0.1", "gone": "9.9.9", "odd": [1]}


def test_rewrite_packument__same_file_same_tarball_keeps_both() -> None:
    version = _version(integrity=_sri("sha512"))
    doc, links = _rewrite(_packument({"1.0.0": version, "1.0.0-alias": version}))
    assert _version_names(doc) == ["1.0.0", "1.0.0-alias"]
    assert len(links) == 1


@pytest.mark.parametrize(
    "other",
    [
        _version("https://elsewhere.example.test/tinypkg-1.0.0.tgz"),
        _version(integrity=_sri("sha512", b"different")),
        _version(),  # the same URL without a digest is another link too
    ],
)
def test_rewrite_packument__same_file_other_tarball_keeps_first(other: object) -> None:
    body = _packument(
        {"1.0.0": _version(integrity=_sri("sha512")), "1.0.0-other": other},
        **{"dist-tags": {"latest": "1.0.0", "other": "1.0.0-other"}},
    )
    doc, links = _rewrite(body)
    assert _version_names(doc) == ["1.0.0"]
    assert links == (
        Link(
            "tinypkg",
            "tinypkg-1.0.0.tgz",
            f"{UPSTREAM}tinypkg/-/tinypkg-1.0.0.tgz",
            Digest("sha512", _sha("sha512")),
        ),
    )
    assert doc["dist-tags"] == {"latest": "1.0.0"}


@pytest.mark.parametrize(
    ("top", "expected_tags"),
    [
        ({}, None),
        ({"dist-tags": "latest"}, "latest"),
        ({"dist-tags": {}}, {}),
        ({"dist-tags": {"latest": "0.0.1"}}, {}),
    ],
)
def test_rewrite_packument__odd_dist_tags(top: dict[str, object], expected_tags: object) -> None:
    doc, _ = _rewrite(_packument({"0.0.1": {}, "1.0.0": _version()}, **top))
    assert doc.get("dist-tags") == expected_tags


@pytest.mark.parametrize(
    "body",
    [
        orjson.dumps({"versions": {}}),  # no name: nothing contradicts the request
        _packument({}),  # a package whose every version was unpublished
        orjson.dumps({"name": "tinypkg", "versions": {}, "error": "ignored with versions"}),
    ],
)
def test_rewrite_packument__minimal(body: bytes) -> None:
    doc, links = _rewrite(body)
    assert doc == orjson.loads(body)
    assert links == ()


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "invalid JSON"),
        (b"{", "invalid JSON"),
        (b"\xff", "invalid JSON"),
        (b'{"name": "\\ud800"}', "invalid JSON"),
        (b"[]", "not a JSON object"),
        (b'"tinypkg"', "not a JSON object"),
        (b"null", "not a JSON object"),
        (orjson.dumps({"name": "tinypkg"}), "no 'versions' object"),
        (_packument([]), "no 'versions' object"),
        (_packument(None), "no 'versions' object"),
        (orjson.dumps({"error": "Not found"}), "error document: 'Not found'"),
        (orjson.dumps({"error": {"code": 404}}), "error document: a JSON dict"),
        (_packument({}, name="other"), "packument is for 'other', not 'tinypkg'"),
        (_packument({}, name="TinyPkg"), "packument is for 'TinyPkg'"),
        (_packument({}, name=None), "packument is for a JSON NoneType"),
        (
            _packument({"1.0.0": _version(None)}, x=[[[[1]]]]).replace(
                b"[[[[1]]]]", b"[" * 300 + b"]" * 300
            ),
            "re-encode",
        ),
    ],
)
def test_rewrite_packument__rejects_garbage(body: bytes, message: str) -> None:
    with pytest.raises(FormatError, match=message):
        rewrite_packument(body, "tinypkg", BASE)


def test_rewrite_packument__fast_path_decodes_escaped_tarball_strings() -> None:
    body = _packument({"1.0.0": _version()}).replace(b"https://", b"https:\\/\\/")
    assert b"\\/" in body
    doc, links = _rewrite(body)
    assert _tarballs(doc) == [f"{BASE}/tinypkg/-/tinypkg-1.0.0.tgz"]
    assert links[0].url == f"{UPSTREAM}tinypkg/-/tinypkg-1.0.0.tgz"


def test_rewrite_packument__fast_path_leaves_other_tarball_fields_alone() -> None:
    version = {**_version(), "config": {"tarball": "https://elsewhere.example.test/x.tgz"}}  # type: ignore[dict-item]
    doc, _ = _rewrite(_packument({"1.0.0": version}))
    assert _tarballs(doc) == [f"{BASE}/tinypkg/-/tinypkg-1.0.0.tgz"]
    versions = doc["versions"]
    assert isinstance(versions, dict)
    assert versions["1.0.0"]["config"] == {"tarball": "https://elsewhere.example.test/x.tgz"}


def test_rewrite_packument__tarball_key_not_verbatim_takes_the_careful_path() -> None:
    body = _packument({"1.0.0": _version()}).replace(b'"tarball"', b'"tar\\u0062all"')
    doc, links = _rewrite(body)
    assert _tarballs(doc) == [f"{BASE}/tinypkg/-/tinypkg-1.0.0.tgz"]
    assert len(links) == 1


def test_rewrite_packument__fast_path_keeps_deep_nesting_verbatim() -> None:
    deep = b"[" * 300 + b"]" * 300
    body = _packument({"1.0.0": _version()}, x=[[[[1]]]]).replace(b"[[[[1]]]]", deep)
    assert deep in rewrite_packument(body, "tinypkg", BASE).body


def test_rewrite_packument__rejects_invalid_name() -> None:
    with pytest.raises(BadRequest, match="invalid package name"):
        rewrite_packument(_packument({}, name="../x"), "../x", BASE)


# --- dist_tags -----------------------------------------------------------------------------


def test_dist_tags__sample() -> None:
    tags = orjson.loads(dist_tags(_load("tinypkg.json")))
    assert tags == {"latest": "1.0.0", "next": "1.1.0-beta.1", "legacy": "0.9.0"}


def test_dist_tags__after_rewrite_names_only_served_versions() -> None:
    body = _packument({"1.0.0": {}}, **{"dist-tags": {"latest": "1.0.0"}})
    assert dist_tags(rewrite_packument(body, "tinypkg", BASE).body) == b"{}"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"nope", "invalid JSON"),
        (b"[]", "not a JSON object"),
        (_packument({}), "no 'dist-tags' object"),
        (_packument({}, **{"dist-tags": ["latest"]}), "no 'dist-tags' object"),
        (
            orjson.dumps({"dist-tags": {"x": [[1]]}}).replace(b"[[1]]", b"[" * 300 + b"]" * 300),
            "re-encode",
        ),
    ],
)
def test_dist_tags__rejects_garbage(body: bytes, message: str) -> None:
    with pytest.raises(FormatError, match=message):
        dist_tags(body)


# --- properties ----------------------------------------------------------------------------

JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False)
    | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3)
    ),
    max_leaves=20,
)
TARBALLS = st.sampled_from(
    [
        f"{UPSTREAM}tinypkg/-/tinypkg-1.0.0.tgz",
        f"{UPSTREAM}tinypkg/-/tinypkg-2.0.0.tgz",
        "https://elsewhere.example.test/tinypkg-1.0.0.tgz",
        "http://[::1/x.tgz",
        f"{UPSTREAM}x/..%2F.tgz",
        f"{UPSTREAM}x/%00.tgz",
        "file:///x.tgz",
        "",
    ]
) | st.text(max_size=20).map(lambda s: f"{UPSTREAM}{s}.tgz")
DISTS = st.fixed_dictionaries(
    {},
    optional={
        "tarball": TARBALLS | JSON_VALUES,
        "integrity": st.sampled_from([_sri("sha512"), _sri("sha1"), "sha512-!!", "x y"])
        | JSON_VALUES,
        "shasum": st.sampled_from([_sha("sha1"), "abc"]) | JSON_VALUES,
    },
)
VERSION_NAMES = st.sampled_from(["1.0.0", "2.0.0", "0.1.0"]) | st.text(max_size=5)
PACKUMENTS = st.fixed_dictionaries(
    {
        "versions": st.dictionaries(
            VERSION_NAMES, st.fixed_dictionaries({"dist": DISTS}) | JSON_VALUES, max_size=4
        )
    },
    optional={
        "name": st.sampled_from(["tinypkg", "other"]) | JSON_VALUES,
        "dist-tags": st.dictionaries(st.text(max_size=5), VERSION_NAMES | JSON_VALUES),
        "error": JSON_VALUES,
    },
)
SETTINGS = settings(database=None, deadline=None, max_examples=300)


@SETTINGS
@given(body=st.binary(max_size=200) | JSON_VALUES.map(orjson.dumps) | PACKUMENTS.map(orjson.dumps))
def test_rewrite_packument__never_raises_but_format_error(body: bytes) -> None:
    try:
        doc, links = _rewrite(body)
    except FormatError:
        return
    versions = doc["versions"]
    assert isinstance(versions, dict)
    assert len(links) <= len(versions)
    for meta in versions.values():
        tail = meta["dist"]["tarball"].removeprefix(f"{BASE}/")
        assert isinstance(parse_path(tail), TarballPath)
    for link in links:
        assert check_filename(link.filename) == link.filename
        assert link.url.startswith(("http://", "https://"))
    tags = doc.get("dist-tags")
    if isinstance(tags, dict):
        source = orjson.loads(body)["versions"]
        assert all(v in versions or v not in source for v in tags.values() if isinstance(v, str))


@SETTINGS
@given(body=st.binary(max_size=200) | JSON_VALUES.map(orjson.dumps) | PACKUMENTS.map(orjson.dumps))
def test_dist_tags__never_raises_but_format_error(body: bytes) -> None:
    with contextlib.suppress(FormatError):
        assert isinstance(orjson.loads(dist_tags(body)), dict)


PATH_BITS = st.sampled_from(
    ["/", "-", "-/", "@", "@scope", "%2f", "%2F", "package", "dist-tags", ".tgz", ".", "..",
     "tinypkg", "\\", "\x00", " ", "_"]
) | st.text(max_size=6)  # fmt: skip


@SETTINGS
@given(tail=st.text() | st.lists(PATH_BITS, max_size=12).map("".join))
def test_parse_path__never_raises_but_not_found_or_bad_request(tail: str) -> None:
    with contextlib.suppress(NotFound, BadRequest):
        route = parse_path(tail)
        assert check_package_name(route.name) is route.name
        if isinstance(route, TarballPath):
            assert check_filename(route.filename) is route.filename


@SETTINGS
@given(text=st.text() | st.lists(PATH_BITS, max_size=6).map("".join))
def test_check_names__never_raise_but_bad_request(text: str) -> None:
    for check in (check_package_name, check_filename):
        with contextlib.suppress(BadRequest):
            assert check(text) is text
    with contextlib.suppress(BadRequest):
        assert upstream_packument_url(UPSTREAM, text).startswith(UPSTREAM)


@SETTINGS
@given(
    accept=st.none()
    | st.text()
    | st.lists(
        PATH_BITS | st.sampled_from([",", ";", "q=", "*/*", ABBREVIATED_CT, "application/json"])
    ).map("".join)
)
def test_negotiate__never_raises(accept: str | None) -> None:
    assert negotiate(accept) in Variant


def _tarballs(doc: dict[str, object]) -> list[str]:
    versions = doc["versions"]
    assert isinstance(versions, dict)
    return [v["dist"]["tarball"] for v in versions.values()]
