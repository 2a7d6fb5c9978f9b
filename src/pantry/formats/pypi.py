"""PyPI "simple" repository pages: negotiate, parse and render them with file links rewritten.

Owns the simple API as pure functions from upstream bytes to the bytes pantry serves:
PEP 503 (HTML pages, name normalisation), PEP 691 (JSON pages, content negotiation),
PEP 658/714 (core metadata files), PEP 700 (versions, size, upload-time), PEP 708 (tracks,
alternate-locations) and PEP 792 (project status), plus the legacy JSON API. Every file URL
is rewritten relative to pantry's layout so downloads go through pantry; the upstream URLs
come back as `Link` values for the proxy layer to remember.
"""

from __future__ import annotations

import enum
import hashlib
import html
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from html.parser import HTMLParser
from urllib.parse import quote, unquote, urldefrag, urljoin, urlsplit

import orjson
from packaging.utils import canonicalize_name

from pantry.errors import BadRequest
from pantry.model import Digest

JSON_CT = "application/vnd.pypi.simple.v1+json"
HTML_CT = "application/vnd.pypi.simple.v1+html"
UPSTREAM_ACCEPT = f"{JSON_CT}, {HTML_CT};q=0.2, text/html;q=0.01"

_JSONDict = dict[str, object]


class FormatError(ValueError):
    """The upstream body cannot be parsed as a simple-repository page."""


class Variant(enum.Enum):
    """The representation of a page that a client gets."""

    HTML = "html"
    JSON = "json"


_TCHARS = r"[!#$%&'*+.^_`|~0-9a-z-]+"
_MEDIA_RANGE = re.compile(rf"{_TCHARS}/{_TCHARS}")
# Offers in tie-break order, each with the media ranges that name it exactly.
_OFFERS: tuple[tuple[Variant, str, frozenset[str]], ...] = (
    (Variant.JSON, JSON_CT, frozenset({JSON_CT, "application/vnd.pypi.simple.latest+json"})),
    (Variant.HTML, HTML_CT, frozenset({HTML_CT, "application/vnd.pypi.simple.latest+html"})),
    (Variant.HTML, "text/html", frozenset({"text/html"})),
)
# Wildcards are only ever answered with text/html, as PyPI does; the more specific one wins.
_WILDCARDS = ("text/*", "*/*")


def negotiate(accept: str | None) -> tuple[Variant, str] | None:
    """Pick the variant and content type for a client's Accept header; None means 406.

    The highest q wins, ties go to JSON, then v1+html, then text/html. A missing header, or one
    with no parsable part, gets text/html: legacy clients send nothing.
    """
    ranges = _parse_accept(accept or "")
    if not ranges:
        return Variant.HTML, "text/html"
    best: tuple[Variant, str] | None = None
    best_q = 0.0
    for variant, content_type, names in _OFFERS:
        exact = [ranges[name] for name in names if name in ranges]
        if exact:
            q = max(exact)
        elif content_type == "text/html":
            q = next((ranges[w] for w in _WILDCARDS if w in ranges), 0.0)
        else:
            q = 0.0
        if q > best_q:
            best, best_q = (variant, content_type), q
    return best


def _parse_accept(accept: str) -> dict[str, float]:
    """Media range -> q; parts with a malformed range or q-value are left out."""
    ranges: dict[str, float] = {}
    for part in accept.split(","):
        media, *params = part.split(";")
        qs = [v for k, _, v in (p.partition("=") for p in params) if k.strip().lower() == "q"]
        try:
            q = float(qs[-1]) if qs else 1.0
        except ValueError:
            continue
        media = media.strip().lower()
        if 0.0 <= q <= 1.0 and _MEDIA_RANGE.fullmatch(media):  # a nan q fails the range test
            ranges[media] = max(q, ranges.get(media, 0.0))
    return ranges


_NAME = r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,198}[A-Za-z0-9])?"
_PROJECT_NAME = re.compile(_NAME)


def normalize_name(name: str) -> str:
    """PEP 503 normalised form: lowercase, runs of ``-_.`` become one ``-``."""
    return str(canonicalize_name(name))


def check_project_name(name: str) -> str:
    """Return ``name`` if it is a syntactically valid project name, else raise BadRequest."""
    if _PROJECT_NAME.fullmatch(name) is None:
        raise BadRequest(
            f"invalid project name {name[:80]!r}: use 1 to 200 letters, digits, '.', '_' or '-',"
            " starting and ending with a letter or digit"
        )
    return name


def check_filename(filename: str) -> str:
    """Return ``filename`` if it is safe to use as one path segment, else raise BadRequest."""
    if not _is_safe_filename(filename):
        raise BadRequest(
            f"invalid file name {filename[:80]!r}: it must be 1 to 255 printable characters,"
            " without '/' or '\\', and must not start with '.'"
        )
    return filename


def _is_safe_filename(filename: str) -> bool:
    return (
        0 < len(filename) <= 255
        and filename[0] != "."  # also rules out "." and ".."
        and "/" not in filename
        and "\\" not in filename
        and filename.isprintable()  # rules out NUL and other control characters
    )


@dataclass(frozen=True, slots=True)
class Link:
    """One distribution file as the upstream published it."""

    filename: str
    url: str  # absolute upstream URL, fragment removed
    hashes: Mapping[str, str]  # hash name -> hex digest
    core_metadata: Mapping[str, str] | None  # None: no .metadata file; else its hashes (maybe {})


@dataclass(frozen=True, slots=True)
class Rendered:
    """A page as pantry serves it, and the upstream files it links to."""

    body: bytes
    links: tuple[Link, ...]


@dataclass(frozen=True, slots=True)
class _Page:
    version: str | None  # the upstream's API version, if it named a valid one
    top: _JSONDict  # top-level keys of the JSON rendering ("files" is replaced)
    files: list[tuple[Link, _JSONDict]]  # each with its PEP 691 file dict (absolute "url")


def _str_items(value: object) -> dict[str, str]:
    if not isinstance(value, dict):
        return {}
    return {k.lower(): v for k, v in value.items() if isinstance(k, str) and isinstance(v, str)}


def _metadata_from(file: _JSONDict, keys: Iterable[str]) -> dict[str, str] | None:
    """PEP 658/714: the first present key decides; true means "exists, hash unknown"."""
    for key in keys:
        if key in file:
            value = file[key]
            return {} if value is True else _str_items(value) if isinstance(value, dict) else None
    return None


def _metadata_from_attr(value: str) -> dict[str, str] | None:
    if value.strip().lower() == "true":
        return {}
    name, sep, digest = value.strip().partition("=")
    return {name.lower(): digest} if sep and name and digest else None


def _resolve(page_url: str, href: str, base: str = "") -> tuple[str, dict[str, str]] | None:
    """Absolute http(s) URL without fragment and the PEP 503 ``#name=hex`` hash, or None."""
    href = href.strip()
    if not href:
        return None
    if href.startswith(("https://", "http://")) and "[" not in href:
        # Absolute already (PyPI's case): skip urljoin, the cost of big pages.
        # IPv6 literals take the slow path, which rejects malformed ones.
        url, _, fragment = href.partition("#")
    else:
        try:
            url, fragment = urldefrag(urljoin(page_url, urljoin(base, href)))
            scheme = urlsplit(url).scheme
        except ValueError:  # e.g. a malformed IPv6 host
            return None
        if scheme not in ("http", "https"):
            return None
    name, _, value = fragment.partition("=")
    is_hash = name.lower() in hashlib.algorithms_guaranteed and value  # not e.g. "#egg=..."
    return url, ({name.lower(): value} if is_hash else {})


def _file_path(project: str, filename: str) -> str:
    return f"files/{quote(project, safe='')}/{quote(filename, safe='')}"


_VERSION = re.compile(r"(\d+)\.\d+", re.ASCII)


def _check_version(value: object) -> str | None:
    """The API version if well formed; a major version other than 1 cannot be understood."""
    if not isinstance(value, str) or (match := _VERSION.fullmatch(value.strip())) is None:
        return None
    if int(match[1]) != 1:
        raise FormatError(f"unsupported repository API version {value.strip()}")
    return value.strip()


def _json_meta(meta: object, version: str | None) -> _JSONDict:
    return {**(meta if isinstance(meta, dict) else {}), "api-version": version or "1.0"}


def _is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media in (JSON_CT, "application/vnd.pypi.simple.latest+json", "application/json")


def _load_json(body: bytes) -> object:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise FormatError(f"invalid JSON: {exc}") from exc


def _dump_json(value: object) -> bytes:
    try:
        return orjson.dumps(value)
    except orjson.JSONEncodeError as exc:  # e.g. nesting deeper than orjson writes
        raise FormatError(f"cannot re-encode upstream JSON: {exc}") from exc


def _decode_html(body: bytes) -> str:
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise FormatError("HTML page is not UTF-8") from exc
    if "\x00" in text:
        raise FormatError("HTML page contains NUL characters")
    return text


class _PageParser(HTMLParser):
    """Collects anchors, ``<meta name=... content=...>`` and ``<base href>`` of a page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.anchors: list[dict[str, str]] = []
        self.meta: dict[str, list[str]] = {}
        self.base = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}  # a bare attribute reads as ""
        if tag == "a":
            self.anchors.append(values)
        elif tag == "meta" and "name" in values:
            self.meta.setdefault(values["name"].lower(), []).append(values.get("content", ""))
        elif tag == "base" and not self.base:
            self.base = values.get("href", "")


def _parse_html(body: bytes, page_url: str, project: str) -> _Page:
    parser = _PageParser()
    try:
        parser.feed(_decode_html(body))
        parser.close()
    except AssertionError as exc:  # html.parser reports some malformed declarations this way
        raise FormatError(f"unparsable HTML: {exc}") from exc
    files: list[tuple[Link, _JSONDict]] = []
    for attrs in parser.anchors:
        resolved = _resolve(page_url, attrs.get("href", ""), parser.base)
        if resolved is not None:
            files.append(_file_from_anchor(attrs, *resolved))
    meta = parser.meta
    version = _check_version(meta.get("pypi:repository-version", [""])[0])
    # The JSON rendering of an HTML page says 1.0: 1.1 would require sizes HTML never carries.
    top: _JSONDict = {"meta": {"api-version": "1.0"}, "name": project, "files": []}
    for key in ("tracks", "alternate-locations"):  # PEP 708
        if meta.get(f"pypi:{key}"):
            top[key] = meta[f"pypi:{key}"]
    if meta.get("pypi:project-status"):  # PEP 792
        status: _JSONDict = {"status": meta["pypi:project-status"][0]}
        if meta.get("pypi:project-status-reason"):
            status["reason"] = meta["pypi:project-status-reason"][0]
        top["project-status"] = status
    return _Page(version, top, files)


def _file_from_anchor(
    attrs: dict[str, str], url: str, hashes: dict[str, str]
) -> tuple[Link, _JSONDict]:
    """The Link and PEP 691 file dict of an anchor; the file name is the URL's last segment."""
    filename = unquote(urlsplit(url).path.rpartition("/")[2])
    data: _JSONDict = {"filename": filename, "url": url, "hashes": hashes}
    if "data-requires-python" in attrs:
        data["requires-python"] = attrs["data-requires-python"]
    if "data-yanked" in attrs:  # PEP 592: the value is the reason, maybe empty
        data["yanked"] = attrs["data-yanked"] or True
    metadata = _metadata_from_attr(
        attrs.get("data-core-metadata", attrs.get("data-dist-info-metadata", ""))
    )
    if metadata is not None:  # PEP 714: both keys, always the same value
        data["core-metadata"] = data["dist-info-metadata"] = metadata or True
    if "data-gpg-sig" in attrs:
        data["gpg-sig"] = attrs["data-gpg-sig"].lower() == "true"
    return Link(filename, url, hashes, metadata), data


_JSON_METADATA_KEYS = ("core-metadata", "dist-info-metadata", "data-dist-info-metadata")


def _parse_json(body: bytes, page_url: str, project: str) -> _Page:
    data = _load_json(body)
    files = data.get("files") if isinstance(data, dict) else None
    if not isinstance(data, dict) or not isinstance(files, list):
        raise FormatError("JSON project page has no 'files' list")
    meta = data.get("meta")
    version = _check_version(meta.get("api-version") if isinstance(meta, dict) else None)
    name = data.get("name")
    top: _JSONDict = {
        **data,
        "meta": _json_meta(meta, version),
        "name": name if isinstance(name, str) else project,
    }
    entries: list[tuple[Link, _JSONDict]] = []
    for file in files:
        if not isinstance(file, dict):
            continue
        filename, url = file.get("filename"), file.get("url")
        resolved = _resolve(page_url, url) if isinstance(url, str) else None
        if isinstance(filename, str) and resolved is not None:
            hashes = {**resolved[1], **_str_items(file.get("hashes"))}
            metadata = _metadata_from(file, _JSON_METADATA_KEYS)
            entries.append((Link(filename, resolved[0], hashes, metadata), file))
    return _Page(version, top, entries)


def render_project(
    body: bytes, content_type: str, page_url: str, variant: Variant, project: str
) -> Rendered:
    """Render an upstream project page in ``variant`` with file links pointing at pantry.

    The page is served at ``<base>/simple/<project>/``, so a file href is
    ``../../files/<project>/<quoted filename>``. Files with an unsafe name, a non-http(s) URL
    or a name already seen are dropped. Raises FormatError when the body is no plausible page.
    """
    parse = _parse_json if _is_json(content_type) else _parse_html
    page = parse(body, page_url, project)
    seen: set[str] = set()
    files: list[tuple[Link, _JSONDict, str]] = []
    for link, data in page.files:
        if link.filename not in seen and _is_safe_filename(link.filename):
            seen.add(link.filename)
            files.append((link, data, "../../" + _file_path(project, link.filename)))
    links = tuple(link for link, _, _ in files)
    if variant is Variant.JSON:
        rendered = [{**data, "url": href} for _, data, href in files]
        return Rendered(_dump_json({**page.top, "files": rendered}), links)
    title, head = f"Links for {page.top['name']}", _project_meta(page.top)
    anchors = [_anchor(link, data, href) for link, data, href in files]
    return Rendered(_html_document(page.version or "1.1", head, title, anchors), links)


def _project_meta(top: _JSONDict) -> list[str]:
    """PEP 708 and PEP 792 ``<meta>`` tags for the keys of a JSON page."""
    pairs: list[tuple[str, object]] = []
    for key in ("tracks", "alternate-locations"):
        values = top.get(key)
        pairs += [(f"pypi:{key}", v) for v in (values if isinstance(values, list) else [])]
    status = top.get("project-status")
    if isinstance(status, dict):
        pairs += [("pypi:project-status", status.get("status"))]
        pairs += [("pypi:project-status-reason", status.get("reason"))]
    return [
        f'<meta name="{name}" content="{html.escape(value)}">'
        for name, value in pairs
        if isinstance(value, str)
    ]


def _preferred_hash(hashes: Mapping[str, str]) -> str | None:
    """``name=hex`` with sha256 if published, else the first hash."""
    name = "sha256" if "sha256" in hashes else next(iter(hashes), None)
    return None if name is None else f"{name}={hashes[name]}"


def _anchor(link: Link, data: _JSONDict, href: str) -> str:
    fragment = _preferred_hash(link.hashes)
    attrs = {"href": href + (f"#{quote(fragment, safe='=')}" if fragment else "")}
    requires_python = data.get("requires-python")
    if isinstance(requires_python, str) and requires_python:
        attrs["data-requires-python"] = requires_python
    yanked = data.get("yanked")
    if yanked:  # like pip: false, "" and null all mean "not yanked"
        attrs["data-yanked"] = yanked if isinstance(yanked, str) else ""
    if link.core_metadata is not None:
        value = _preferred_hash(link.core_metadata) or "true"
        attrs["data-core-metadata"] = attrs["data-dist-info-metadata"] = value
    gpg_sig = data.get("gpg-sig")
    if isinstance(gpg_sig, bool):
        attrs["data-gpg-sig"] = "true" if gpg_sig else "false"
    text = " ".join(f'{name}="{html.escape(value)}"' for name, value in attrs.items())
    return f"<a {text}>{html.escape(link.filename)}</a><br />"


_DOCUMENT = """<!DOCTYPE html>
<html>
<head>
<meta name="pypi:repository-version" content="{version}">
{head}<title>{title}</title>
</head>
<body>
<h1>{title}</h1>
{body}</body>
</html>
"""


def _html_document(version: str, head: list[str], title: str, body: list[str]) -> bytes:
    return _DOCUMENT.format(
        version=html.escape(version),
        head="\n".join([*head, ""]),
        title=html.escape(title),
        body="\n".join([*body, ""]),
    ).encode()


# The index lists ~600,000 projects: a regex over anchors is much faster than html.parser, and
# names are checked and normalised in one pass over all of them rather than one call per name.
# An anchor text with markup, entities or spaces inside is no valid project name anyway.
_INDEX_ANCHOR = re.compile(r"<a\b[^>]*>\s*([^<\s]*)\s*</a\s*>", re.IGNORECASE)
_INDEX_VERSION = re.compile(
    r"""<meta\s+name=["']pypi:repository-version["']\s+content=["']([^"']*)["']""", re.IGNORECASE
)
_NAME_LINES = re.compile(rf"^{_NAME}$", re.MULTILINE)


def render_index(body: bytes, content_type: str, variant: Variant) -> bytes:
    """Render the upstream root index in ``variant``; each project links to ``<normalized>/``.

    Projects whose name is not a valid project name are dropped.
    """
    if _is_json(content_type):
        data = _load_json(body)
        projects = data.get("projects") if isinstance(data, dict) else None
        if not isinstance(data, dict) or not isinstance(projects, list):
            raise FormatError("JSON index has no 'projects' list")
        meta = data.get("meta")
        version = _check_version(meta.get("api-version") if isinstance(meta, dict) else None)
        names = [p.get("name") for p in projects if isinstance(p, dict)]
    else:
        text = _decode_html(body)
        found = _INDEX_VERSION.search(text)
        meta, version = None, _check_version(found[1]) if found else None
        names = _INDEX_ANCHOR.findall(text)
    lines = "\n".join(n for n in names if isinstance(n, str) and "\n" not in n)
    valid: list[str] = _NAME_LINES.findall(lines)
    if variant is Variant.JSON:  # PEP 700 changed nothing here: the upstream version holds
        projects = [{"name": name} for name in valid]
        return _dump_json({"meta": _json_meta(meta, version), "projects": projects})
    # Valid names need no HTML escaping (letters, digits, ``._-``) and contain no newline.
    normalized = normalize_name("\n".join(valid)).split("\n") if valid else []
    pairs = zip(normalized, valid, strict=True)
    anchors = [f'<a href="{href}/">{name}</a><br />' for href, name in pairs]
    return _html_document(version or "1.1", [], "Simple index", anchors)


_API_METADATA_KEYS = ("core_metadata", "data_dist_info_metadata")


def rewrite_json_api(body: bytes, page_url: str, base: str, project: str) -> Rendered:
    """Point every file of a ``/pypi/<project>[/<version>]/json`` body at pantry.

    Each "url" in "urls" and in the lists of "releases" becomes
    ``{base}/files/<project>/<quoted filename>``; files whose name or URL is unusable are
    dropped; everything else is kept as the upstream sent it.
    """
    data = _load_json(body)
    if not isinstance(data, dict) or not isinstance(data.get("info"), dict):
        raise FormatError("JSON API body has no 'info' object")
    urls, releases = data.get("urls", []), data.get("releases", {})
    if not isinstance(urls, list) or not isinstance(releases, dict):
        raise FormatError("JSON API body has malformed 'urls' or 'releases'")
    if not all(isinstance(files, list) for files in releases.values()):
        raise FormatError("JSON API body has a release that is not a list")
    links: dict[str, Link] = {}
    out = dict(data)
    if "urls" in data:
        out["urls"] = _rewrite_api_files(urls, page_url, base, project, links)
    if "releases" in data:
        out["releases"] = {
            version: _rewrite_api_files(files, page_url, base, project, links)
            for version, files in releases.items()
        }
    return Rendered(_dump_json(out), tuple(links.values()))


def _rewrite_api_files(
    files: list[object], page_url: str, base: str, project: str, links: dict[str, Link]
) -> list[_JSONDict]:
    rewritten: list[_JSONDict] = []
    for file in files:
        if isinstance(file, dict) and (link := _api_link(file, page_url)) is not None:
            links.setdefault(link.filename, link)
            rewritten.append({**file, "url": f"{base}/{_file_path(project, link.filename)}"})
    return rewritten


def _api_link(file: _JSONDict, page_url: str) -> Link | None:
    filename, url = file.get("filename"), file.get("url")
    if not (isinstance(filename, str) and isinstance(url, str) and _is_safe_filename(filename)):
        return None
    resolved = _resolve(page_url, url)
    if resolved is None:
        return None
    digests = _str_items(file.get("digests"))
    hashes: dict[str, str] = {n: digests[n] for n in ("sha256", "md5") if n in digests}
    return Link(filename, resolved[0], hashes, _metadata_from(file, _API_METADATA_KEYS))


def pick_digest(hashes: Mapping[str, str]) -> Digest | None:
    """The strongest usable published hash: sha256 > sha512 > sha384 > sha1 > md5."""
    for algorithm in ("sha256", "sha512", "sha384", "sha1", "md5"):
        value = hashes.get(algorithm)
        if value is None:
            continue
        try:
            return Digest(algorithm, value.lower())
        except ValueError:  # malformed hex or wrong length: try a weaker one
            continue
    return None
