"""BlobStore on a local filesystem: ``DATA/blobs/ab/cd/<sha256>``, temp files in ``DATA/tmp``.

Temp files live on the same filesystem as the blobs so that commit is an
atomic ``os.replace`` after ``fsync``; a crash leaves only temp files, which
``clean_leftovers`` removes at start.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from pantry.errors import StorageError
from pantry.model import BlobId


class FsBlobWriter:
    """Writes one blob to a temp file while hashing it."""

    def __init__(self, store: FsBlobStore) -> None:
        self._store = store
        fd, name = tempfile.mkstemp(dir=store.tmp_dir, prefix="blob-")
        self._path = Path(name)
        self._file: BinaryIO = os.fdopen(fd, "wb")
        self._hash = hashlib.sha256()
        self._size = 0
        self._done = False

    @property
    def temp_path(self) -> Path:
        return self._path

    @property
    def size(self) -> int:
        return self._size

    def write(self, data: bytes) -> None:
        try:
            self._file.write(data)
            # Followers read the temp file by path: push bytes to the OS now.
            self._file.flush()
        except OSError as exc:
            raise StorageError(f"cannot write to the cache: {exc.strerror}") from exc
        self._hash.update(data)
        self._size += len(data)

    def commit(self) -> BlobId:
        blob = BlobId(self._hash.hexdigest())
        target = self._store.path_of(blob)
        try:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(self._path, target)
        except OSError as exc:
            self.abort()
            raise StorageError(f"cannot store a blob: {exc.strerror}") from exc
        self._done = True
        return blob

    def abort(self) -> None:
        if self._done:
            return
        self._done = True
        self._file.close()
        self._path.unlink(missing_ok=True)


class FsBlobStore:
    """Content-addressed files under one data directory."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.blob_dir = root / "blobs"
        self._blob_root = str(self.blob_dir)
        self.tmp_dir = root / "tmp"
        try:
            self.blob_dir.mkdir(parents=True, exist_ok=True)
            self.tmp_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(f"cannot create data directory {root}: {exc.strerror}") from exc
        if not os.access(self.tmp_dir, os.W_OK) or not os.access(self.blob_dir, os.W_OK):
            raise StorageError(f"data directory {root} is not writable")

    def open_writer(self) -> FsBlobWriter:
        try:
            return FsBlobWriter(self)
        except OSError as exc:
            raise StorageError(f"cannot create a temp file: {exc.strerror}") from exc

    def path_of(self, blob: BlobId) -> Path:
        return Path(self._path_text(blob))

    def exists(self, blob: BlobId) -> bool:
        # On every cache hit: plain strings, not pathlib, keep it cheap.
        return os.path.isfile(self._path_text(blob))

    def _path_text(self, blob: BlobId) -> str:
        return f"{self._blob_root}/{blob[:2]}/{blob[2:4]}/{blob}"

    def remove(self, blob: BlobId) -> None:
        self.path_of(blob).unlink(missing_ok=True)

    def blobs(self) -> Iterator[BlobId]:
        for path in self.blob_dir.glob("??/??/*"):
            if path.is_file() and _is_blob_name(path.name):
                yield BlobId(path.name)

    def modified_at(self, blob: BlobId) -> float:
        try:
            return self.path_of(blob).stat().st_mtime
        except FileNotFoundError:
            return 0.0

    def free_bytes(self) -> int:
        return shutil.disk_usage(self.blob_dir).free

    def clean_leftovers(self) -> int:
        count = 0
        for leftover in self.tmp_dir.iterdir():
            leftover.unlink(missing_ok=True)
            count += 1
        return count


def _is_blob_name(name: str) -> bool:
    return len(name) == 64 and all(c in "0123456789abcdef" for c in name)
