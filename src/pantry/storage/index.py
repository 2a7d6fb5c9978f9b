"""The Index protocol: cache keys to entries, and the links metadata published.

A *link* records that upstream metadata named an artifact: the URL to fetch
it from and the digest it must match.  Artifacts are only ever fetched from a
link, which is how pantry refuses to fetch from hosts the metadata did not name.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import NamedTuple, Protocol

from pantry.model import ArtifactKind, BlobId, CacheKey, Digest, Entry


class Link(NamedTuple):
    """An artifact named by upstream metadata.

    A named tuple rather than a frozen dataclass: a big project page makes
    tens of thousands of them, and a tuple is built several times faster.
    """

    key: CacheKey
    url: str
    digest: Digest | None


@dataclass(frozen=True, slots=True)
class Usage:
    """What garbage collection needs to know of an entry."""

    key: CacheKey
    kind: ArtifactKind
    blob: BlobId
    size: int
    used_at: float  # last served, or fetched if never served since


class Index(Protocol):
    """Persistent map of cache entries and links."""

    def get(self, key: CacheKey) -> Entry | None:
        """The entry for a key, if cached."""

    def put(self, entry: Entry, links: tuple[Link, ...] = ()) -> None:
        """Insert or replace an entry, and record the links it names, atomically."""

    def put_links(self, links: tuple[Link, ...]) -> None:
        """Record links without an entry (metadata served but not stored: disk full)."""

    def touch(self, key: CacheKey, fetched_at: float) -> None:
        """Record that upstream confirmed the entry unchanged (a 304)."""

    def delete(self, key: CacheKey) -> None:
        """Forget an entry (its blob stays until garbage collection)."""

    def get_link(self, key: CacheKey) -> Link | None:
        """The link naming an artifact key, if any metadata named it."""

    def record_access(self, accessed: Mapping[CacheKey, float]) -> None:
        """Store when entries were last served (batched: never on the request path)."""

    def usage(self) -> list[Usage]:
        """Every entry's blob, size and last use, for garbage collection."""

    def entries(self) -> Iterator[Entry]:
        """Every entry (for verify and garbage collection; not for request paths)."""

    def close(self) -> None:
        """Release the database."""
