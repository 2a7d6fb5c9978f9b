"""Values the cache engine exchanges with formats and the web layer."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from pantry.cache.tee import Download
from pantry.model import ArtifactKind, CacheKey, Digest, Entry, XCache
from pantry.storage.index import Link


@dataclass(frozen=True, slots=True)
class Transformed:
    """Metadata made ready to serve, and the artifacts it names."""

    body: bytes
    content_type: str
    links: tuple[Link, ...] = ()


Transform = Callable[[bytes, str, str], Transformed]
"""(upstream body, upstream content type, final upstream URL) -> what to store."""


@dataclass(frozen=True, slots=True)
class Fetch:
    """What a format wants for one request."""

    repository: str
    key: CacheKey
    url: str
    kind: ArtifactKind
    headers: Mapping[str, str] = field(default_factory=dict)
    ttl_s: float = 0.0
    digest: Digest | None = None  # artifacts: the published hash
    transform: Transform | None = None  # metadata: rewrite before storing


@dataclass(frozen=True, slots=True)
class Served:
    """The engine's answer: a committed entry, or a download to stream from."""

    outcome: XCache
    entry: Entry | None = None
    download: Download | None = None
    body: bytes | None = None  # metadata not stored (disk full)
    content_type: str = ""
    uncached: Fetch | None = None  # an artifact to stream through unstored (disk full)


@dataclass(frozen=True, slots=True)
class Passed:
    """An upstream answer relayed as is (not cached): npm audit, ping."""

    status: int
    content_type: str
    body: bytes


PASS_LIMIT = 64 * 1024 * 1024
