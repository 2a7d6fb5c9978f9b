"""What every PyPI page module shares: the file Link, parse helpers, JSON and hash handling."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import NamedTuple
from urllib.parse import quote, urldefrag, urljoin, urlsplit

import orjson

from pantry.formats.pypi.names import JSON_CT, FormatError, _JSONDict
from pantry.model import Digest


class Link(NamedTuple):
    """One distribution file as the upstream published it (a named tuple: pages have
    thousands, and a tuple is built several times faster than a frozen dataclass)."""

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
    if len(value) == 1:  # the usual {"sha256": ...}: no comprehension on big pages
        ((k, v),) = value.items()
        return {k.lower(): v} if isinstance(k, str) and isinstance(v, str) else {}
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
    return f"files/{quote_segment(project)}/{quote_segment(filename)}"


# What quote(..., safe="") leaves alone; nearly every file name is made of these only.
_UNRESERVED = re.compile(r"[A-Za-z0-9_.~-]+", re.ASCII)


def quote_segment(segment: str) -> str:
    """``quote(segment, safe="")``, without its cost for the names that need no quoting.

    A big project page has thousands of file names, each quoted once per render.
    """
    return segment if _UNRESERVED.fullmatch(segment) else quote(segment, safe="")


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
