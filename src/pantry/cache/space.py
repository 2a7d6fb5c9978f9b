"""Disk space policy: stop caching before the disk is full, and say why.

When free space falls under ``min_free_bytes`` pantry keeps serving what it
has and passes new files through without storing them; the reason shows in
the log (once per change) and in ``/-/health``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from pantry.storage.blobs import BlobStore

log = logging.getLogger(__name__)

CHECK_EVERY_S = 5.0
HOLD_AFTER_FAILURE_S = 60.0  # a write already failed: free space says too little about room
GB = 1024**3


class SpaceGuard:
    """Decides, cheaply and often, whether new bytes may be written."""

    def __init__(self, blobs: BlobStore, min_free_bytes: int, clock: Callable[[], float]) -> None:
        self.blobs = blobs
        self.min_free_bytes = min_free_bytes
        self.clock = clock
        self.reason: str | None = None  # why caching is paused, if it is
        self._checked_at = float("-inf")

    def can_cache(self) -> bool:
        """Whether there is room; re-measured at most every few seconds."""
        now = self.clock()
        if now - self._checked_at >= CHECK_EVERY_S:
            self._checked_at = now
            self._measure()
        return self.reason is None

    def pause(self, reason: str) -> None:
        """A write failed (disk full): stop caching for a while, then measure again."""
        self._checked_at = self.clock() + HOLD_AFTER_FAILURE_S - CHECK_EVERY_S
        self._set(reason)

    def _measure(self) -> None:
        try:
            free = self.blobs.free_bytes()
        except OSError as exc:
            self._set(f"cannot measure free disk space: {exc.strerror}")
            return
        if free < self.min_free_bytes:
            self._set(
                f"only {free / GB:.2f} GB free on the data disk, under min_free_gb "
                f"{self.min_free_bytes / GB:.2f}: serving cached files, passing new ones through"
            )
        else:
            self._set(None)

    def _set(self, reason: str | None) -> None:
        if reason != self.reason:
            if reason is None:
                log.info("caching resumed: disk space is available again")
            else:
                log.warning("caching paused: %s", reason)
        self.reason = reason
