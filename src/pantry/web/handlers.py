"""Handlers: request -> repository call -> response, nothing more.

Cached files go out with ``FileResponse`` (sendfile, Range, conditional GET,
HEAD); files still arriving from upstream are streamed from the shared
download; every proxied response carries ``X-Cache`` and ``Server-Timing``.
"""

from __future__ import annotations

import logging
import re
import time
import zlib
from collections.abc import AsyncIterator, Mapping
from dataclasses import replace

import orjson
from aiohttp import web

from pantry import __version__
from pantry.cache.engine import Engine
from pantry.cache.freshness import Freshness, judge
from pantry.cache.tee import Download
from pantry.cache.values import Fetch
from pantry.errors import BadRequest, NotFound, PantryError
from pantry.metrics import Metrics
from pantry.model import XCache
from pantry.repositories import BASE_PLACEHOLDER, Reply, RepoRequest, Repository
from pantry.upstream.breaker import Breaker
from pantry.upstream.client import mask
from pantry.web.bodies import Bodies, accepts_gzip

log = logging.getLogger(__name__)

_HOST = re.compile(r"[A-Za-z0-9.-]+(:[0-9]{1,5})?|\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?")

MEMO_SIZE = 50_000
MAX_BODY = 16 * 1024 * 1024  # npm audit requests are the only bodies; they are small
BODY_HEADERS = ("Content-Type",)  # the body arrives decoded (aiohttp undoes gzip)
METADATA_CACHE = "max-age=0, must-revalidate"
IMMUTABLE_CACHE = "public, max-age=31536000, immutable"


class Handlers:
    """The request handlers of one app."""

    def __init__(
        self,
        repositories: Mapping[str, Repository],
        metrics: Metrics,
        breaker: Breaker,
        *,
        public_url: str | None,
        offline: bool,
        engine: Engine | None = None,
    ) -> None:
        self.engine = engine
        self.bodies = Bodies()
        self._memo: dict[tuple[str, str | None], Reply] = {}
        self.repositories = repositories
        self.metrics = metrics
        self.breaker = breaker
        self.public_url = public_url
        self.offline = offline

    async def repository(self, request: web.Request) -> web.StreamResponse:
        """``/NAME/<tail>``: delegate to the repository, then render its reply."""
        started = time.perf_counter()
        memo_key = (request.raw_path, request.headers.get("Accept"))
        reply = self._remembered(memo_key) if request.method != "POST" else None
        if reply is None:
            reply = await self._ask_repository(request)
            if reply.fresh_for is not None:
                self._remember(memo_key, reply)
        headers = {"Server-Timing": f"pantry;dur={(time.perf_counter() - started) * 1000:.2f}"}
        if reply.outcome is not None:
            headers["X-Cache"] = reply.outcome.value
            headers["Server-Timing"] += f', cache;desc="{reply.outcome.value}"'
        headers["Cache-Control"] = IMMUTABLE_CACHE if reply.is_immutable else METADATA_CACHE
        headers.update(reply.headers)
        return await self._render(request, reply, headers)

    def _remembered(self, memo_key: tuple[str, str | None]) -> Reply | None:
        """A reply for a request seen before whose entry is still fresh: no repository work."""
        memo = self._memo.get(memo_key)
        if memo is None or self.engine is None:
            return None
        assert memo.fresh_for is not None
        key, ttl_s = memo.fresh_for
        entry = self.engine.lookup(key)
        if entry is None or judge(entry, ttl_s, time.time()) is not Freshness.FRESH:
            return None
        if entry is not memo.entry:  # revalidated or refetched since: remember the new one
            memo = replace(memo, entry=entry)
            self._memo[memo_key] = memo
        return memo

    def _remember(self, memo_key: tuple[str, str | None], reply: Reply) -> None:
        if len(self._memo) >= MEMO_SIZE:
            self._memo.clear()  # crude and rare; it refills from the repositories
        self._memo[memo_key] = replace(reply, outcome=XCache.HIT)  # what a repeat will be

    async def _ask_repository(self, request: web.Request) -> Reply:
        name = request.match_info["repo"]
        repo = self.repositories.get(name)
        if repo is None:
            raise NotFound(f"no repository named {name!r} (have: {', '.join(self.repositories)})")
        body = b""
        if request.method == "POST":
            if (request.content_length or 0) > MAX_BODY:
                raise BadRequest(f"request body larger than {MAX_BODY} bytes")
            body = await request.content.read(MAX_BODY + 1)
            if len(body) > MAX_BODY:
                raise BadRequest(f"request body larger than {MAX_BODY} bytes")
        return await repo.handle(
            RepoRequest(
                tail=request.match_info["tail"],
                method=request.method,
                accept=request.headers.get("Accept"),
                query=request.query_string,
                body=body,
                headers=(
                    {k: v for k, v in request.headers.items() if k in BODY_HEADERS} if body else {}
                ),
            )
        )

    async def _render(
        self, request: web.Request, reply: Reply, headers: dict[str, str]
    ) -> web.StreamResponse:
        if reply.location is not None:
            raise web.HTTPMovedPermanently(reply.location, headers=headers)
        if reply.body is not None:
            body = reply.body
            if reply.substitute_base:
                body = body.replace(BASE_PLACEHOLDER.encode(), self._base(request).encode())
            headers["Content-Type"] = reply.content_type
            return web.Response(status=reply.status, body=body, headers=headers)
        if reply.entry is not None and not reply.is_immutable:
            return await self._metadata_response(request, reply, headers)
        if reply.path is not None:
            headers["Content-Type"] = reply.content_type
            return web.FileResponse(reply.path, headers=headers)
        if reply.uncached is not None:
            return await self._stream_uncached(request, reply.uncached, headers)
        assert reply.download is not None
        return await self._stream(request, reply, headers)

    async def _metadata_response(
        self, request: web.Request, reply: Reply, headers: dict[str, str]
    ) -> web.Response:
        """A cached metadata body from memory, with ETag/304 and gzip when accepted."""
        entry = reply.entry
        assert entry is not None
        assert self.engine is not None
        engine = self.engine
        gzipped = accepts_gzip(request.headers.get("Accept-Encoding"))
        base = self._base(request) if reply.substitute_base else None
        etag = f'"{entry.blob[:20]}{_variant_tag(base, gzipped)}"'
        headers["ETag"] = etag
        headers["Vary"] = "Accept, Accept-Encoding"
        headers["Content-Type"] = reply.content_type
        if etag in request.headers.get("If-None-Match", ""):
            return web.Response(status=304, headers=headers)
        body = await self.bodies.get(
            entry.blob,
            entry.size,
            lambda: engine.read_metadata(entry.blob),
            base=base,
            placeholder=BASE_PLACEHOLDER.encode(),
            gzipped=gzipped,
        )
        if gzipped:
            headers["Content-Encoding"] = "gzip"
        return web.Response(body=body, headers=headers)

    async def _stream_uncached(
        self, request: web.Request, fetch: Fetch, headers: dict[str, str]
    ) -> web.StreamResponse:
        """The disk is full: relay the file from upstream, verified, storing nothing."""
        assert self.engine is not None
        async with self.engine.relay.open_uncached(fetch) as (upstream, chunks):
            headers["Content-Type"] = upstream.headers.get(
                "Content-Type", "application/octet-stream"
            )
            response = web.StreamResponse(headers=headers)
            if upstream.content_length is not None:
                response.content_length = upstream.content_length
            await response.prepare(request)
            if request.method == "HEAD":
                return response
            return await _pump(request, response, chunks)

    async def _stream(
        self, request: web.Request, reply: Reply, headers: dict[str, str]
    ) -> web.StreamResponse:
        download = reply.download
        assert download is not None
        byte_range = request.headers.get("Range")
        if byte_range and request.method == "GET" and self.engine is not None:
            partial = await self._stream_range(request, download, byte_range, headers)
            if partial is not None:
                return partial
        await download.wait_started()
        headers["Content-Type"] = download.content_type or reply.content_type
        headers["Accept-Ranges"] = "bytes"
        response = web.StreamResponse(headers=headers)
        if download.size is not None:
            response.content_length = download.size
        await response.prepare(request)
        if request.method == "HEAD":
            return response
        return await _pump(request, response, download.follow())

    async def _stream_range(
        self, request: web.Request, download: Download, byte_range: str, headers: dict[str, str]
    ) -> web.StreamResponse | None:
        """A Range request while the file is still arriving: answered by upstream.

        Returns None (serve the whole file instead) when upstream does not
        answer 206.  The full download carries on in the background.
        """
        assert self.engine is not None
        async with self.engine.relay.open_range(download, byte_range) as upstream:
            if upstream.status != 206 or "Content-Range" not in upstream.headers:
                return None
            headers["Content-Range"] = upstream.headers["Content-Range"]
            headers["Content-Type"] = upstream.headers.get(
                "Content-Type", "application/octet-stream"
            )
            response = web.StreamResponse(status=206, headers=headers)
            if upstream.content_length is not None:
                response.content_length = upstream.content_length
            await response.prepare(request)
            return await _pump(request, response, upstream.iter_chunks())

    def _base(self, request: web.Request) -> str:
        """Absolute URL of the repository as the client reached it."""
        name = request.match_info["repo"]
        if self.public_url:
            return f"{self.public_url}/{name}"
        host = request.host
        if not _HOST.fullmatch(host):
            # The Host header ends up inside JSON documents: never let it break them.
            raise BadRequest("the Host header is not a valid host[:port]")
        return f"{request.scheme}://{host}/{name}"

    async def health(self, request: web.Request) -> web.Response:
        """``/-/health``: 200 once ready, with what is up and down."""
        down = self.breaker.down_origins(time.time())
        body = {
            "status": "ok",
            "version": __version__,
            "offline": self.offline,
            "repositories": {
                name: {"type": repo.type, "upstream": mask(repo.upstream)}
                for name, repo in self.repositories.items()
            },
            "upstreams_down": down,
            "storage": {"caching": self._can_cache(), "reason": self._pause_reason()},
        }
        return web.Response(body=orjson.dumps(body), content_type="application/json")

    def _can_cache(self) -> bool:
        return self.engine is None or self.engine.space.can_cache()

    def _pause_reason(self) -> str | None:
        return None if self.engine is None else self.engine.space.reason

    async def metrics_page(self, request: web.Request) -> web.Response:
        """``/-/metrics``: Prometheus text format."""
        self.metrics.upstreams_down.set(len(self.breaker.down_origins(time.time())))
        self.metrics.caching_paused.set(0 if self._can_cache() else 1)
        return web.Response(
            body=self.metrics.render(), headers={"Content-Type": "text/plain; version=0.0.4"}
        )

    async def dashboard(self, request: web.Request) -> web.Response:
        """``/-/``: a plain page pointing at the repositories and admin endpoints."""
        rows = "".join(
            f"<li><a href='/{name}/'>/{name}/</a> ({repo.type})</li>"
            for name, repo in self.repositories.items()
        )
        page = (
            f"<!DOCTYPE html><title>pantry</title><h1>pantry {__version__}</h1>"
            f"<ul>{rows}</ul><p><a href='/-/health'>health</a> "
            "<a href='/-/metrics'>metrics</a></p>"
        )
        return web.Response(text=page, content_type="text/html")


def _variant_tag(base: str | None, gzipped: bool) -> str:
    """Distinguishes the ETags of one blob sent differently (base URL, encoding)."""
    tag = f"-{zlib.crc32(base.encode()):08x}" if base else ""
    return tag + ("-gz" if gzipped else "")


async def _pump(
    request: web.Request, response: web.StreamResponse, chunks: AsyncIterator[bytes]
) -> web.StreamResponse:
    """Copy chunks to a prepared response; on a failure, cut the connection.

    Failed verification or a broken upstream after the headers went out:
    closing the connection is the only way left to tell the client, which
    then sees an incomplete body instead of a wrong one.
    """
    try:
        async for chunk in chunks:
            await response.write(chunk)
    except PantryError as exc:
        log.warning("aborted a streamed response path=%s error=%s", request.path, exc)
        response.force_close()
        if request.transport is not None:
            request.transport.close()
        return response
    await response.write_eof()
    return response
