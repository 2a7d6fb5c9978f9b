"""npm registry protocol: routes, package names, packument variants and tarball rewriting.

Owns what pantry needs to know about the npm registry API as pure functions: the request paths
of packuments, tarballs and dist-tags; the package-name rules of validate-npm-package-name,
permissive like the registry for legacy names; the full and abbreviated ("install-v1")
packuments and their negotiation; and the rewriting of every ``versions[*].dist.tarball`` so
that downloads go through pantry. The upstream tarball URLs and their published hashes
(``dist.integrity`` as Subresource Integrity, else ``dist.shasum``) come back as `Link` values
for the proxy layer to fetch and verify against.
"""

from __future__ import annotations

import contextlib
import enum
import functools
import re
from dataclasses import dataclass
from urllib.parse import quote, unquote, urlsplit

import msgspec
import orjson

from pantry.errors import BadRequest, NotFound
from pantry.formats.segments import is_safe_segment
from pantry.model import Digest

ABBREVIATED_CT = "application/vnd.npm.install-v1+json"
JSON_CT = "application/json"
# What the npm CLI, pnpm and yarn send when they want an abbreviated packument.
_ABBREVIATED_ACCEPT = f"{ABBREVIATED_CT}; q=1.0, {JSON_CT}; q=0.8, */*"

_JSONDict = dict[str, object]


class FormatError(ValueError):
    """The upstream body cannot be used as a packument."""


class Variant(enum.Enum):
    """The representation of a packument that a client gets."""

    FULL = "full"
    ABBREVIATED = "abbreviated"


@functools.lru_cache(maxsize=1024)  # pure, and asked on every request
def negotiate(accept: str | None) -> Variant:
    """ABBREVIATED when the Accept header asks for install-v1 at least as much as for JSON.

    The install-v1 type must have q > 0 and a q no lower than any ``application/json`` entry;
    wildcards do not count, so ``install-v1; q=1.0, application/json; q=0.8, */*`` (what npm,
    pnpm and yarn send) is ABBREVIATED. Parts with a malformed q-value are ignored.
    """
    ranges = _parse_accept(accept or "")
    abbreviated = ranges.get(ABBREVIATED_CT, 0.0)
    if abbreviated > 0.0 and abbreviated >= ranges.get(JSON_CT, 0.0):
        return Variant.ABBREVIATED
    return Variant.FULL


def _parse_accept(accept: str) -> dict[str, float]:
    """Media range (lowercase) -> highest q it was given."""
    ranges: dict[str, float] = {}
    for part in accept.split(","):
        media, *params = part.split(";")
        qs = [v for k, _, v in (p.partition("=") for p in params) if k.strip().lower() == "q"]
        try:
            q = float(qs[-1]) if qs else 1.0
        except ValueError:
            continue
        if 0.0 <= q <= 1.0:  # also rules out nan and inf
            media = media.strip().lower()
            ranges[media] = max(q, ranges.get(media, 0.0))
    return ranges


def upstream_accept(variant: Variant) -> str:
    """The Accept header to send upstream when a client wants ``variant``."""
    return _ABBREVIATED_ACCEPT if variant is Variant.ABBREVIATED else JSON_CT


def content_type(variant: Variant) -> str:
    """The Content-Type pantry serves a packument of ``variant`` with."""
    return ABBREVIATED_CT if variant is Variant.ABBREVIATED else JSON_CT


@dataclass(frozen=True, slots=True)
class PackumentPath:
    """``/NAME/<package>``: the packument of a package."""

    name: str


@dataclass(frozen=True, slots=True)
class TarballPath:
    """``/NAME/<package>/-/<file>.tgz``: one published tarball."""

    name: str
    filename: str


@dataclass(frozen=True, slots=True)
class DistTagsPath:
    """``/NAME/-/package/<package>/dist-tags``: the dist-tags of a package."""

    name: str


Route = PackumentPath | TarballPath | DistTagsPath

_DIST_TAGS_PREFIX = "-/package/"
_DIST_TAGS_SUFFIX = "/dist-tags"
# The npm CLI sends "@scope%2fname"; after one decoding it is "@scope/name", but a client or a
# proxy in between may have encoded it twice, so a literal "%2f" still separates the scope.
_ESCAPED_SCOPE = re.compile(r"^(@[^/]*?)%2f", re.IGNORECASE)


def _unescape_scope(path: str) -> str:
    return _ESCAPED_SCOPE.sub(r"\1/", path, count=1)


def parse_path(tail: str) -> Route:
    """Classify a request path below ``/NAME/``, already percent-decoded once.

    Packuments are ``<name>`` or ``@scope/<name>`` (a trailing ``/`` is tolerated), tarballs
    ``<name>/-/<file>.tgz``, dist-tags ``-/package/<name>/dist-tags``. Raises NotFound for any
    other path and BadRequest for an invalid package or file name.
    """
    if tail.startswith(_DIST_TAGS_PREFIX) and tail.endswith(_DIST_TAGS_SUFFIX):
        name = tail[len(_DIST_TAGS_PREFIX) : -len(_DIST_TAGS_SUFFIX)]
        return DistTagsPath(check_package_name(_unescape_scope(name)))
    parts = _unescape_scope(tail).split("/")
    if parts[0] in ("", "-"):  # the registry's own "-/..." endpoints are not served here
        raise NotFound(f"no npm route for {tail[:200]!r}")
    size = 2 if parts[0].startswith("@") else 1
    name, rest = "/".join(parts[:size]), parts[size:]
    if rest in ([], [""]):
        return PackumentPath(check_package_name(name))
    if len(rest) == 2 and rest[0] == "-" and rest[1].endswith(".tgz"):
        return TarballPath(check_package_name(name), check_filename(rest[1]))
    raise NotFound(f"no npm route for {tail[:200]!r}: expected a package or a .tgz under it")


# Each part is what encodeURIComponent leaves alone, not starting with '.' or '_'.
_PART = r"[A-Za-z0-9!~*'()-][A-Za-z0-9!~*'()._-]*"
_PACKAGE_NAME = re.compile(rf"(?:@{_PART}/)?{_PART}")


def check_package_name(name: str) -> str:
    """Return ``name`` if it is a valid npm package name, else raise BadRequest.

    The rules of validate-npm-package-name that keep a name a safe URL path, without the
    newer ones (lowercase only, no ``~'!()*``) so that legacy packages stay reachable.
    """
    if len(name) > 214 or _PACKAGE_NAME.fullmatch(name) is None:
        raise BadRequest(
            f"invalid package name {name[:80]!r}: use 'name' or '@scope/name', at most 214"
            " characters, each part of letters, digits and -._~!*'() not starting with '.' or '_'"
        )
    return name


def check_filename(filename: str) -> str:
    """Return ``filename`` if it is a safe tarball name (one path segment), else BadRequest."""
    if not _is_tarball_name(filename):
        raise BadRequest(
            f"invalid tarball name {filename[:80]!r}: it must end with '.tgz', be at most 255"
            " printable characters, without '/' or '\\', and must not start with '.'"
        )
    return filename


def _is_tarball_name(filename: str) -> bool:
    return filename.endswith(".tgz") and is_safe_segment(filename)


def upstream_packument_url(upstream: str, name: str) -> str:
    """The upstream URL of a packument; ``upstream`` ends with '/'.

    A scoped name is sent as ``@scope%2fname``, as the npm CLI does; some registries answer
    only that form.
    """
    return upstream + check_package_name(name).replace("/", "%2f")


@dataclass(frozen=True, slots=True)
class Link:
    """One tarball as the upstream published it."""

    name: str
    filename: str
    url: str  # absolute upstream URL, fragment removed
    digest: Digest | None  # the strongest usable published hash


@dataclass(frozen=True, slots=True)
class Rendered:
    """A packument as pantry serves it, and the upstream tarballs it links to."""

    body: bytes
    links: tuple[Link, ...]


def rewrite_packument(body: bytes, name: str, base: str) -> Rendered:
    """Point every ``versions[*].dist.tarball`` of a packument at ``{base}/{name}/-/<file>``.

    Works on full and abbreviated packuments alike. ``<file>`` is the last path segment of the
    upstream URL, percent-decoded (and quoted again in the new URL). A version whose tarball is
    missing, not an absolute http(s) URL or not a safe ``.tgz`` name is removed, and so is a
    version whose file name another version already uses for a different tarball: leaving its
    URL would let clients bypass pantry. Dist-tags that named a removed version are dropped.
    Everything else is kept as the upstream sent it. ``name`` must pass check_package_name;
    raises FormatError when the body is no packument of ``name``.
    """
    check_package_name(name)
    fast = _rewrite_in_place(body, name, base)
    if fast is not None:
        return fast
    doc = _load_object(body)
    versions = doc.get("versions")
    if not isinstance(versions, dict):
        if "error" in doc:
            raise FormatError(f"upstream sent an error document: {_describe(doc['error'])}")
        raise FormatError("packument has no 'versions' object")
    if "name" in doc and doc["name"] != name:
        raise FormatError(f"packument is for {_describe(doc['name'])}, not {name!r}")
    prefix = f"{base}/{name}/-/"
    links: dict[str, Link] = {}
    kept: _JSONDict = {}
    for version, meta in versions.items():
        rewritten = _rewrite_version(name, meta, prefix)
        if rewritten is None:
            continue
        link, new_meta = rewritten
        if links.setdefault(link.filename, link) == link:
            kept[version] = new_meta
    doc["versions"] = kept
    tags = doc.get("dist-tags")
    if isinstance(tags, dict) and len(kept) < len(versions):
        doc["dist-tags"] = {
            tag: v
            for tag, v in tags.items()
            if not isinstance(v, str) or v in kept or v not in versions
        }
    return Rendered(_dump_json(doc), tuple(links.values()))


class _Dist(msgspec.Struct):
    tarball: str | None = None
    integrity: str | None = None
    shasum: str | None = None


class _Version(msgspec.Struct):
    dist: _Dist | None = None


class _Shape(msgspec.Struct):
    """The few fields of a packument that rewriting needs; msgspec skips the rest unbuilt."""

    name: str | msgspec.UnsetType = msgspec.UNSET  # null is not a name: careful path
    versions: dict[str, _Version] | None = None


_SHAPE = msgspec.json.Decoder(_Shape)
_TARBALL = re.compile(rb'"tarball"\s*:\s*"((?:[^"\\]|\\.)*)"')


def _rewrite_in_place(body: bytes, name: str, base: str) -> Rendered | None:
    """The common case, without building the document: every version has a usable tarball.

    Decodes only ``versions[*].dist``, then substitutes the tarball strings in the raw
    bytes; memory stays near the body's size, where a full parse costs over ten times it.
    Returns None whenever the careful path is needed (odd shapes, unusable or clashing
    tarballs, a tarball string not found verbatim), which then decides.
    """
    try:
        shape = _SHAPE.decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
    if shape.versions is None or shape.name not in (msgspec.UNSET, name):
        return None
    prefix = f"{base}/{name}/-/"
    hrefs: dict[str, bytes] = {}
    links: dict[str, Link] = {}
    for version in shape.versions.values():
        dist = version.dist
        if dist is None or dist.tarball is None:
            return None
        raw = {"integrity": dist.integrity, "shasum": dist.shasum}
        link = _link(name, dist.tarball, {k: v for k, v in raw.items() if v is not None})
        if link is None or links.setdefault(link.filename, link) != link:
            return None
        hrefs[dist.tarball] = orjson.dumps(prefix + quote(link.filename, safe="+"))
    seen: set[str] = set()

    def substitute(match: re.Match[bytes]) -> bytes:
        text = match[1].decode("utf-8", "replace")
        url = orjson.loads(b'"' + match[1] + b'"') if "\\" in text else text
        href = hrefs.get(url)
        if href is None:
            return match[0]
        seen.add(url)
        return b'"tarball":' + href

    rewritten = _TARBALL.sub(substitute, body)
    if len(seen) != len(hrefs):
        return None
    return Rendered(rewritten, tuple(links.values()))


def _rewrite_version(name: str, meta: object, prefix: str) -> tuple[Link, _JSONDict] | None:
    """The Link of a version's tarball and the version with its tarball rewritten, or None."""
    if not isinstance(meta, dict) or not isinstance(dist := meta.get("dist"), dict):
        return None
    tarball = dist.get("tarball")
    link = _link(name, tarball, dist) if isinstance(tarball, str) else None
    if link is None:
        return None
    href = prefix + quote(link.filename, safe="+")
    return link, {**meta, "dist": {**dist, "tarball": href}}


def _link(name: str, tarball: str, dist: _JSONDict) -> Link | None:
    try:
        parts = urlsplit(tarball)
    except ValueError:  # e.g. a malformed IPv6 host
        return None
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    filename = unquote(parts.path.rpartition("/")[2])
    if not _is_tarball_name(filename):
        return None
    return Link(name, filename, parts._replace(fragment="").geturl(), pick_digest(dist))


_SRI_STRENGTH = ("sha512", "sha384", "sha256", "sha1")


def pick_digest(dist: _JSONDict) -> Digest | None:
    """The strongest usable hash of a ``dist`` object: integrity (SRI), else shasum (sha1 hex).

    An integrity value may list several hashes, each maybe with ``?options``; malformed ones
    and algorithms other than sha512 > sha384 > sha256 > sha1 are skipped.
    """
    found: dict[str, Digest] = {}
    integrity = dist.get("integrity")
    for token in integrity.split() if isinstance(integrity, str) else ():
        with contextlib.suppress(ValueError):
            digest = Digest.from_sri(token.partition("?")[0])
            found.setdefault(digest.algorithm, digest)
    best = next((found[algorithm] for algorithm in _SRI_STRENGTH if algorithm in found), None)
    shasum = dist.get("shasum")
    if best is None and isinstance(shasum, str):
        with contextlib.suppress(ValueError):
            return Digest("sha1", shasum.strip().lower())
    return best


def dist_tags(body: bytes) -> bytes:
    """The "dist-tags" object of a packument as JSON, for ``-/package/<name>/dist-tags``.

    Pass the rewritten packument, so that no tag names a version pantry does not serve.
    """
    tags = _load_object(body).get("dist-tags")
    if not isinstance(tags, dict):
        raise FormatError("packument has no 'dist-tags' object")
    return _dump_json(tags)


def _describe(value: object) -> str:
    """A short, safe rendering of an upstream value for an error message."""
    return repr(value[:200]) if isinstance(value, str) else f"a JSON {type(value).__name__}"


def _load_object(body: bytes) -> _JSONDict:
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise FormatError(f"invalid JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise FormatError("packument is not a JSON object")
    return doc


def _dump_json(value: object) -> bytes:
    try:
        return orjson.dumps(value)
    except orjson.JSONEncodeError as exc:  # e.g. nesting deeper than orjson writes
        raise FormatError(f"cannot re-encode upstream JSON: {exc}") from exc
