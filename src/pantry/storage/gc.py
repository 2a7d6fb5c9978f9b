"""Garbage collection: keep the cache under ``max_size_gb``, drop blobs nothing uses.

Eviction is least-recently-used over every entry (artifacts and metadata
alike; a blob shared by several entries is freed with the last of them).
Evicting is always safe: an evicted entry is fetched again on its next
request.  Blobs no entry refers to are deleted once they are older than
``min_age_s``, so a blob committed a moment before its index row is written
(by a server running beside ``pantry gc``) is never taken.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from pantry.model import BlobId, CacheKey
from pantry.storage.blobs import BlobStore
from pantry.storage.index import Index, Usage

UNUSED_MIN_AGE_S = 3600.0


@dataclass(slots=True)
class GcReport:
    """What one collection did."""

    evicted: list[CacheKey] = field(default_factory=list)
    removed_blobs: int = 0
    freed_bytes: int = 0
    cached_bytes: int = 0  # what the remaining entries occupy


def cached_bytes(usage: Sequence[Usage]) -> int:
    """Bytes the blobs of these entries occupy, each blob counted once."""
    return sum({u.blob: u.size for u in usage}.values())


def plan_eviction(usage: Sequence[Usage], max_bytes: int) -> list[Usage]:
    """The least recently used entries to drop so that the rest fit in ``max_bytes``."""
    refs = Counter(u.blob for u in usage)
    total = cached_bytes(usage)
    evict: list[Usage] = []
    for entry in sorted(usage, key=lambda u: u.used_at):
        if total <= max_bytes:
            break
        evict.append(entry)
        refs[entry.blob] -= 1
        if refs[entry.blob] == 0:
            total -= entry.size
    return evict


def collect(
    index: Index,
    store: BlobStore,
    *,
    max_bytes: int | None,
    now: float | None = None,
    min_age_s: float = UNUSED_MIN_AGE_S,
) -> GcReport:
    """Evict past ``max_bytes`` (None: no limit), then delete unused blobs."""
    now = time.time() if now is None else now
    usage = index.usage()
    report = GcReport()
    evicted = plan_eviction(usage, max_bytes) if max_bytes is not None else []
    for entry in evicted:
        index.delete(entry.key)
        report.evicted.append(entry.key)
    gone = {e.key for e in evicted}
    kept = [u for u in usage if u.key not in gone]
    used = {u.blob for u in kept}
    freshly_unused = {e.blob for e in evicted} - used
    for blob in store.blobs():
        if blob in used:
            continue
        if blob not in freshly_unused and now - store.modified_at(blob) < min_age_s:
            continue
        report.freed_bytes += _remove(store, blob)
        report.removed_blobs += 1
    report.cached_bytes = cached_bytes(kept)
    return report


def _remove(store: BlobStore, blob: BlobId) -> int:
    path = store.path_of(blob)
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return 0
    store.remove(blob)
    return size
