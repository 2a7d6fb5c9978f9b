"""The BlobStore protocol: immutable files named by the sha256 of their bytes.

A writer fills a temp file that readers may follow while it grows (the
streaming tee needs that); ``commit`` makes it durable and visible under its
digest, ``abort`` throws it away. No reader ever sees a partial blob under a
blob name.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

from pantry.model import BlobId


class BlobWriter(Protocol):
    """One blob being written."""

    @property
    def temp_path(self) -> Path:
        """Where the bytes land while they arrive; readable by followers."""

    @property
    def size(self) -> int:
        """Bytes written so far."""

    def write(self, data: bytes) -> None:
        """Append bytes (to the page cache; durability comes with commit)."""

    def commit(self) -> BlobId:
        """fsync and rename into place; return the blob id.  Blocking: run off the loop."""

    def abort(self) -> None:
        """Remove the temp file; safe to call more than once, or after commit."""


class BlobStore(Protocol):
    """Where blobs live."""

    def open_writer(self) -> BlobWriter:
        """Start a new blob."""

    def path_of(self, blob: BlobId) -> Path:
        """The file holding a committed blob (it may have been removed behind our back)."""

    def exists(self, blob: BlobId) -> bool:
        """Whether a committed blob is present."""

    def remove(self, blob: BlobId) -> None:
        """Delete a blob if present."""

    def clean_leftovers(self) -> int:
        """Remove temp files left by a crash; return how many."""

    def blobs(self) -> Iterator[BlobId]:
        """Every committed blob (for verify and garbage collection)."""

    def modified_at(self, blob: BlobId) -> float:
        """When a blob was committed (0.0 if it is gone)."""

    def free_bytes(self) -> int:
        """Free space where blobs are written."""
