"""Bytes relayed from upstream without being cached.

Three cases: requests that must not be cached (npm audit, ping); Range
requests for a file still downloading (uv peeks into wheels that way); and
files streamed through unstored when the disk is full, still verified, with
the last chunk held back until the hash matches, as in the tee.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from pantry.cache.tee import Download
from pantry.cache.values import PASS_LIMIT, Fetch, Passed
from pantry.errors import NotFound, OfflineMiss, UpstreamError, VerificationError
from pantry.metrics import Metrics
from pantry.upstream.client import UpstreamClient, UpstreamResponse, mask


class Relay:
    """Uncached traffic to upstreams, counted like the engine's."""

    def __init__(
        self,
        upstream: UpstreamClient,
        metrics: Metrics,
        *,
        offline: bool,
        metadata_read_s: float,
    ) -> None:
        self.upstream = upstream
        self.metrics = metrics
        self.offline = offline
        self.metadata_read_s = metadata_read_s

    async def pass_through(
        self,
        fetch: Fetch,
        *,
        method: str = "GET",
        body: bytes | None = None,
    ) -> Passed:
        """Relay one request upstream without caching it (the breaker still applies)."""
        if self.offline:
            raise OfflineMiss(f"{fetch.key} needs the upstream and pantry runs offline")
        try:
            async with self.upstream.open(
                fetch.url, fetch.headers, method=method, body=body, read_s=self.metadata_read_s
            ) as resp:
                data = await resp.read(PASS_LIMIT)
                content_type = resp.headers.get("Content-Type", "application/octet-stream")
        except UpstreamError:
            self._count(fetch, "error")
            raise
        self._count(fetch, "ok")
        return Passed(resp.status, content_type, data)

    @asynccontextmanager
    async def open_uncached(
        self, fetch: Fetch
    ) -> AsyncIterator[tuple[UpstreamResponse, AsyncIterator[bytes]]]:
        """Stream an artifact straight from upstream, verified, without storing it.

        For when the disk is too full to cache: the hash is still checked and
        the last chunk held back until it matches, as in the tee.
        """
        async with self.upstream.open(fetch.url, fetch.headers) as resp:
            if resp.status in (404, 410):
                raise NotFound(f"upstream has no {fetch.url.rsplit('/', 1)[-1]}")
            if resp.status != 200:
                raise UpstreamError(f"upstream answered {resp.status}: {mask(fetch.url)}")
            yield resp, self._verified(fetch, resp)

    async def _verified(self, fetch: Fetch, resp: UpstreamResponse) -> AsyncIterator[bytes]:
        hasher = hashlib.new(fetch.digest.algorithm) if fetch.digest else None
        held: bytes | None = None
        async for chunk in resp.iter_chunks():
            if hasher is not None:
                hasher.update(chunk)
            if held is not None:
                yield held
            held = chunk
        if (
            fetch.digest is not None
            and hasher is not None
            and (hasher.hexdigest() != fetch.digest.hexdigest)
        ):
            self.metrics.verification_failures.labels(fetch.repository).inc()
            raise VerificationError(f"{mask(fetch.url)} does not match {fetch.digest}")
        if held is not None:
            yield held

    @asynccontextmanager
    async def open_range(
        self, download: Download, byte_range: str
    ) -> AsyncIterator[UpstreamResponse]:
        """Pass a Range request for a file still downloading straight to upstream.

        Clients such as uv read a wheel's central directory by Range before
        deciding to download it; waiting for the whole file to arrive would
        serialise their resolution.  Partial bytes cannot be checked against
        the file's hash; the client verifies the whole file when it fetches it.
        """
        if self.offline:
            raise OfflineMiss("pantry runs offline")
        async with self.upstream.open(download.url, {"Range": byte_range}) as resp:
            yield resp

    def _count(self, fetch: Fetch, result: str) -> None:
        self.metrics.upstream_fetches.labels(fetch.repository, fetch.kind.value, result).inc()
