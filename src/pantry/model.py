"""Plain values shared by every layer: cache keys, digests, index entries.

Nothing here does I/O; every other package may import this module.
"""

from __future__ import annotations

import base64
import binascii
import enum
from dataclasses import dataclass, field
from typing import NewType

CacheKey = NewType("CacheKey", str)
"""``<repository>:<format-specific path>``; stable across restarts and config edits."""

BlobId = NewType("BlobId", str)
"""Lowercase hex sha256 of a blob's bytes; names the blob on disk."""


class ArtifactKind(enum.Enum):
    """How the engine treats a cached response."""

    METADATA = "metadata"  # mutable: fresh for a TTL, then revalidated; stale on error
    ARTIFACT = "artifact"  # immutable: cached forever, verified against a published hash


class XCache(enum.Enum):
    """What the cache did for one response; reported in the ``X-Cache`` header."""

    HIT = "HIT"
    MISS = "MISS"
    STALE = "STALE"
    REVALIDATED = "REVALIDATED"
    OFFLINE = "OFFLINE"


_DIGEST_SIZES = {"sha256": 32, "sha512": 64, "sha384": 48, "sha1": 20, "md5": 16}


@dataclass(frozen=True, slots=True)
class Digest:
    """A published hash of an artifact, as lowercase hex."""

    algorithm: str
    hexdigest: str

    def __post_init__(self) -> None:
        size = _DIGEST_SIZES.get(self.algorithm)
        if size is None:
            raise ValueError(f"unsupported hash algorithm {self.algorithm!r}")
        try:
            raw = bytes.fromhex(self.hexdigest)
        except ValueError:
            raise ValueError(f"{self.algorithm} digest is not hex") from None
        if len(raw) != size:
            raise ValueError(f"{self.algorithm} digest has the wrong length")

    @classmethod
    def from_sri(cls, sri: str) -> Digest:
        """Parse a Subresource Integrity string (``sha512-<base64>``), as npm publishes."""
        algorithm, _, b64 = sri.strip().partition("-")
        try:
            raw = base64.b64decode(b64, validate=True)
        except binascii.Error:
            raise ValueError("integrity value is not base64") from None
        return cls(algorithm.lower(), raw.hex())

    def __str__(self) -> str:
        return f"{self.algorithm}={self.hexdigest}"


@dataclass(frozen=True, slots=True)
class Entry:
    """One cached response: which blob holds the body and what to send with it."""

    key: CacheKey
    kind: ArtifactKind
    blob: BlobId
    size: int
    content_type: str
    fetched_at: float  # when upstream last confirmed this body (fetch or 304)
    etag: str | None = None
    last_modified: str | None = None
    url: str = ""  # the upstream URL it came from
    headers: dict[str, str] = field(default_factory=dict)  # extra headers to replay
