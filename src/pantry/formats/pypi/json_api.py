"""The legacy JSON API (``/pypi/<project>/json``) with file URLs rewritten."""

from __future__ import annotations

from pantry.formats.pypi.common import (
    Link,
    Rendered,
    _dump_json,
    _file_path,
    _load_json,
    _metadata_from,
    _resolve,
    _str_items,
)
from pantry.formats.pypi.names import FormatError, _is_safe_filename, _JSONDict

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
