"""The streaming tee: an artifact download that clients read while it is written.

Bytes from upstream go to a temp file (through the blob writer) and are
hashed; any number of followers read the temp file through one shared file
descriptor (``os.pread``), so they get bytes as they arrive without holding
the body in memory.  The last chunk is held back until the whole body has
been verified: a follower never receives a complete body that failed
verification, it sees the download abort instead.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import AsyncIterator
from pathlib import Path

from pantry.model import Digest, Entry

CHUNK = 256 * 1024


class Download:
    """One artifact download in flight, shared by every client that wants it."""

    def __init__(self, temp_path: os.PathLike[str], digest: Digest | None, url: str = "") -> None:
        self.url = url  # where the bytes come from (for Range requests passed through)
        self._fd = os.open(temp_path, os.O_RDONLY)
        self._digest = digest
        self._hash = hashlib.new(digest.algorithm) if digest else None
        self._written = 0
        self.released = 0  # bytes followers may read: all but the last chunk
        self.size: int | None = None  # expected length, when upstream said
        self.content_type = "application/octet-stream"
        self.entry: Entry | None = None
        self.error: BaseException | None = None
        self._started = asyncio.get_running_loop().create_future()
        self._changed = asyncio.Event()
        self._finished = False
        self._readers = 0
        self._final_path: Path | None = None

    async def wait_started(self) -> None:
        """Until upstream answered with a body (raises if it failed before that)."""
        await asyncio.shield(self._started)

    def start(self, size: int | None, content_type: str) -> None:
        """Upstream sent its headers: followers may start their responses."""
        self.size = size
        self.content_type = content_type
        if not self._started.done():
            self._started.set_result(None)

    def feed(self, chunk: bytes) -> None:
        """A chunk was written to the temp file: release the previous one."""
        if self._hash is not None:
            self._hash.update(chunk)
        self.released = self._written
        self._written += len(chunk)
        self._notify()

    def verify(self) -> bool:
        """Whether the bytes written match the published digest (true when none was)."""
        if self._hash is None or self._digest is None:
            return True
        return self._hash.hexdigest() == self._digest.hexdigest

    @property
    def written(self) -> int:
        """Bytes received so far."""
        return self._written

    def complete(self, entry: Entry, path: Path) -> None:
        """Verified and committed at ``path``: release the held-back tail."""
        self.entry = entry
        self._final_path = path
        self.released = self._written
        self._finish()

    def fail(self, error: BaseException) -> None:
        """The download failed: followers abort without the held-back tail."""
        self.error = error
        if not self._started.done():
            self._started.set_exception(error)
            self._started.exception()  # mark retrieved: nobody may be waiting yet
        self._finish()

    async def follow(self) -> AsyncIterator[bytes]:
        """The body from the first byte, as it becomes releasable."""
        offset = 0
        if self._fd < 0:
            # Finished and closed before this follower began: read the blob.
            if self.error is not None:
                raise self.error
            assert self._final_path is not None
            fd = os.open(self._final_path, os.O_RDONLY)
            try:
                while data := os.pread(fd, CHUNK, offset):
                    offset += len(data)
                    yield data
            finally:
                os.close(fd)
            return
        self._readers += 1
        try:
            while True:
                if offset < self.released:
                    data = os.pread(self._fd, min(CHUNK, self.released - offset), offset)
                    offset += len(data)
                    yield data
                elif self.error is not None:
                    raise self.error
                elif self._finished:
                    return
                else:
                    await self._changed.wait()
        finally:
            self._readers -= 1
            self._close_if_idle()

    def _notify(self) -> None:
        # Wake current waiters; later waiters wait on a fresh event.
        self._changed.set()
        self._changed = asyncio.Event()

    def _finish(self) -> None:
        self._finished = True
        self._notify()
        self._close_if_idle()

    def _close_if_idle(self) -> None:
        if self._finished and self._readers == 0 and self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
