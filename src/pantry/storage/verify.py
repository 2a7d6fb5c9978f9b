"""``pantry verify``: re-hash the store and make index and blobs agree.

Checks every index entry against its blob (present, right size, sha256 equal
to its name) and lists blobs no entry uses.  With ``repair``, entries whose
blob is missing or corrupt are forgotten (the next request fetches them
again) and corrupt blobs are deleted; unused blobs are left to ``pantry gc``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from pantry.model import BlobId, CacheKey
from pantry.storage.blobs import BlobStore
from pantry.storage.index import Index

CHUNK = 1024 * 1024


@dataclass(slots=True)
class Report:
    """What verify found (and, with repair, fixed)."""

    checked: int = 0
    missing: list[CacheKey] = field(default_factory=list)
    corrupt: list[CacheKey] = field(default_factory=list)
    unused: list[BlobId] = field(default_factory=list)
    repaired: bool = False

    @property
    def is_clean(self) -> bool:
        """No entry points at a missing or corrupt blob."""
        return not self.missing and not self.corrupt


def hash_file(store: BlobStore, blob: BlobId) -> tuple[str, int]:
    """sha256 hex and size of a stored blob."""
    digest = hashlib.sha256()
    size = 0
    with store.path_of(blob).open("rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def verify(index: Index, store: BlobStore, *, repair: bool = False) -> Report:
    """Check every entry and blob; see the module doc."""
    report = Report(repaired=repair)
    used: set[BlobId] = set()
    verdicts: dict[BlobId, bool] = {}  # blobs are shared: hash each once
    for entry in index.entries():
        report.checked += 1
        used.add(entry.blob)
        if not store.exists(entry.blob):
            report.missing.append(entry.key)
        else:
            if entry.blob not in verdicts:
                sha, size = hash_file(store, entry.blob)
                verdicts[entry.blob] = sha == entry.blob and size == entry.size
            if verdicts[entry.blob]:
                continue
            report.corrupt.append(entry.key)
        if repair:
            index.delete(entry.key)
    for blob, is_good in verdicts.items():
        if repair and not is_good:
            store.remove(blob)
    report.unused = [blob for blob in store.blobs() if blob not in used]
    return report
