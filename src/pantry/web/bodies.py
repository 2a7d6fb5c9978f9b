"""Metadata bodies ready to send: read once, kept in memory, gzip'd once.

A cached index page or packument is served many times and changes only
when its blob does, and a blob never changes (its name is its sha256).  So
bodies are kept by (blob, base URL, encoding): a hit costs a dict lookup
instead of a file read, a placeholder substitution and a compression.
Bounded by total bytes, least recently used first out.  Making a big body
(reading, compressing a page of several MB) happens in a worker thread, so
the first request for it does not stall every other request on the loop.
"""

from __future__ import annotations

import asyncio
import functools
import gzip
from collections import OrderedDict
from collections.abc import Callable

from pantry.model import BlobId

GZIP_MIN_BYTES = 1024  # smaller bodies gain nothing from compression
GZIP_LEVEL = 6
OFF_LOOP_BYTES = 128 * 1024  # make bodies larger than this in a worker thread


class Bodies:
    """An LRU of ready-to-send metadata bodies."""

    def __init__(self, max_bytes: int = 64 * 1024 * 1024) -> None:
        self.max_bytes = max_bytes
        self._items: OrderedDict[tuple[BlobId, str, bool], bytes] = OrderedDict()
        self._bytes = 0

    async def get(
        self,
        blob: BlobId,
        size: int,
        read: Callable[[], bytes],
        *,
        base: str | None,
        placeholder: bytes,
        gzipped: bool,
    ) -> bytes:
        """``blob``'s bytes (``size`` of them on disk), ``placeholder`` replaced by ``base``
        if given, gzip'd if asked."""
        key = (blob, base or "", gzipped)
        body = self._items.get(key)
        if body is not None:
            self._items.move_to_end(key)
            return body
        make: Callable[[], bytes] = functools.partial(_read_plain, read, base, placeholder)
        if gzipped:
            # The plain body is only kept if a client asked for it: nearly every client
            # takes gzip, and a big packument's plain body is twenty times its gzip.
            plain = self._items.get((blob, base or "", False))
            make = functools.partial(_gzip, make if plain is None else lambda: plain)
        body = await asyncio.to_thread(make) if size > OFF_LOOP_BYTES else make()
        self._put(key, body)
        return body

    def _put(self, key: tuple[BlobId, str, bool], body: bytes) -> None:
        if len(body) > self.max_bytes // 4:
            return  # one huge packument must not flush everything else
        self._items[key] = body
        self._bytes += len(body)
        while self._bytes > self.max_bytes:
            _, dropped = self._items.popitem(last=False)
            self._bytes -= len(dropped)


def _gzip(make_plain: Callable[[], bytes]) -> bytes:
    return gzip.compress(make_plain(), GZIP_LEVEL, mtime=0)


def _read_plain(read: Callable[[], bytes], base: str | None, placeholder: bytes) -> bytes:
    body = read()
    return body if base is None else body.replace(placeholder, base.encode())


@functools.lru_cache(maxsize=1024)  # pure, and asked on every request
def accepts_gzip(accept_encoding: str | None) -> bool:
    """Whether the client takes gzip (and did not refuse it with q=0)."""
    for part in (accept_encoding or "").lower().split(","):
        coding, _, params = part.strip().partition(";")
        if coding.strip() in ("gzip", "x-gzip"):
            return params.replace(" ", "") not in ("q=0", "q=0.0", "q=0.00", "q=0.000")
    return False
