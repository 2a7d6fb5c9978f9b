"""Project pages (``/simple/<project>/``): parse PEP 503 HTML or PEP 691 JSON, render either,
with every file link rewritten to pantry's ``files/`` tree."""

from __future__ import annotations

import html
from collections.abc import Mapping
from html.parser import HTMLParser
from urllib.parse import quote, unquote, urlsplit

from pantry.formats.pypi.common import (
    Link,
    Rendered,
    _check_version,
    _decode_html,
    _dump_json,
    _file_path,
    _is_json,
    _json_meta,
    _load_json,
    _metadata_from,
    _metadata_from_attr,
    _Page,
    _resolve,
    _str_items,
    quote_segment,
)
from pantry.formats.pypi.names import FormatError, Variant, _is_safe_filename, _JSONDict


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
            hashes = _str_items(file.get("hashes"))
            if resolved[1]:  # a "#sha256=..." fragment; the "hashes" key wins
                hashes = {**resolved[1], **hashes}
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
    prefix = "../../" + _file_path(project, "")
    for link, data in page.files:
        if link.filename not in seen and _is_safe_filename(link.filename):
            seen.add(link.filename)
            files.append((link, data, prefix + quote_segment(link.filename)))
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
