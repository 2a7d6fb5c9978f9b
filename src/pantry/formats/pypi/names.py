"""PEP 503/691 names and content negotiation: which variant a client gets, which names are valid."""

from __future__ import annotations

import enum
import functools
import re

from packaging.utils import canonicalize_name

from pantry.errors import BadRequest
from pantry.formats.segments import is_safe_segment

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


@functools.lru_cache(maxsize=1024)  # pure, and asked on every request
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


@functools.lru_cache(maxsize=1024)  # pure, and asked on every request
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
    return is_safe_segment(filename)
