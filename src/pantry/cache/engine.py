"""The cache engine: lookup, freshness, single flight, fetch, tee, verify, commit, stale.

Formats describe *what* to fetch (a ``Fetch``); the engine owns *how*:
- artifacts are fetched once, streamed to the client while written and hashed
  (``tee.Download``), verified against the published digest, committed, and
  served from disk forever after;
- metadata is fresh for its TTL, then revalidated with ETag/Last-Modified (or,
  from an upstream that sends neither, by comparing the body it sends again);
  when upstream fails in any way the stale copy is served, however old;
- concurrent misses of one key share one upstream request;
- fetched metadata is answered as soon as it is rewritten: storing it (blob,
  fsync, index rows for every file it names) finishes in the background, and
  until then its body and links are served from memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import logging
import time
from collections.abc import Callable, Coroutine
from dataclasses import replace
from typing import TypeVar

from pantry.cache.flight import SingleFlight
from pantry.cache.freshness import Freshness, judge
from pantry.cache.gcpause import gc_paused
from pantry.cache.relay import Relay
from pantry.cache.space import SpaceGuard
from pantry.cache.tee import Download
from pantry.cache.values import Fetch, Served, Transform, Transformed
from pantry.errors import NotFound, OfflineMiss, StorageError, UpstreamError, VerificationError
from pantry.metrics import Metrics
from pantry.model import ArtifactKind, BlobId, CacheKey, Entry, XCache
from pantry.storage.blobs import BlobStore, BlobWriter
from pantry.storage.index import Index, Link
from pantry.upstream.client import UpstreamClient, mask

log = logging.getLogger(__name__)
_T = TypeVar("_T")

ENTRY_CACHE_SIZE = 100_000
METADATA_LIMIT = 512 * 1024 * 1024  # refuse absurd metadata bodies
OFF_LOOP_BYTES = 1024 * 1024  # transform bodies larger than this in a worker thread
# At most this many of those at once: each needs about three times its body in
# memory (14 big packuments at once took pantry to 400 MB), and they share one
# GIL, so running more at once would not finish any of them sooner.
BIG_TRANSFORMS = 2
DRAIN_S = 5.0  # at shutdown, how long downloads in flight may take to finish


class Engine:
    """One per process, shared by every repository."""

    def __init__(
        self,
        blobs: BlobStore,
        index: Index,
        upstream: UpstreamClient,
        metrics: Metrics,
        *,
        offline: bool = False,
        metadata_read_s: float = 10.0,
        min_free_bytes: int = 0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.blobs = blobs
        self.index = index
        self.upstream = upstream
        self.metrics = metrics
        self.offline = offline
        self.metadata_read_s = metadata_read_s
        self.clock = clock
        self.space = SpaceGuard(blobs, min_free_bytes, clock)
        self.relay = Relay(upstream, metrics, offline=offline, metadata_read_s=metadata_read_s)
        self._metadata_flight: SingleFlight[Served] = SingleFlight()
        self._big_transforms = asyncio.Semaphore(BIG_TRANSFORMS)
        self._downloads: dict[CacheKey, Download] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._accessed: dict[CacheKey, float] = {}
        # Entries read or written by this process: hits skip the database.  Other
        # processes only delete (gc, verify), which the blob-exists check covers.
        self._entries: dict[CacheKey, Entry] = {}
        # Digest of the upstream body (and URL) each metadata entry stored by this
        # process was made from: a refetch that brings the same body again is a
        # revalidation, with no rewrite and no write.  Upstreams without ETag and
        # Last-Modified answer every revalidation with the whole body.
        self._sources: dict[CacheKey, bytes] = {}
        self.rewrites = 0  # metadata bodies transformed: the big transient allocations
        # Metadata answered but not yet stored: its body by blob id and its links.
        self._unstored: dict[BlobId, bytes] = {}
        self._unstored_links: dict[CacheKey, Link] = {}

    def lookup(self, key: CacheKey) -> Entry | None:
        """The entry for ``key`` whose blob is on disk (or in memory, being stored)."""
        entry = self._entries.get(key)
        if entry is None:
            entry = self.index.get(key)
            if entry is not None:
                self._remember(entry)
        if (
            entry is not None
            and entry.blob not in self._unstored
            and not self.blobs.exists(entry.blob)
        ):
            log.warning("blob missing for cached entry, refetching key=%s", key)
            self._forget(key)
            return None
        if entry is not None:
            self._accessed[key] = self.clock()  # flushed in batches, never written here
        return entry

    def read_metadata(self, blob: BlobId) -> bytes:
        """A metadata body: from memory while it is being stored, else from its blob.
        Blocking when it reads a file."""
        body = self._unstored.get(blob)
        return body if body is not None else self.blobs.path_of(blob).read_bytes()

    def get_link(self, key: CacheKey) -> Link | None:
        """The link that fetched metadata published for artifact ``key``, if any."""
        link = self._unstored_links.get(key)
        return link if link is not None else self.index.get_link(key)

    def _remember(self, entry: Entry) -> None:
        if len(self._entries) >= ENTRY_CACHE_SIZE:
            self._entries.clear()  # crude, rare, and the index still has everything
        self._entries[entry.key] = entry

    def _forget(self, key: CacheKey) -> None:
        self._entries.pop(key, None)
        self.index.delete(key)

    async def drain(self, timeout_s: float = DRAIN_S) -> None:
        """On shutdown: give downloads in flight a moment to finish and be stored (their
        clients are still reading), then cancel what is left."""
        if self._tasks:
            _, pending = await asyncio.wait(set(self._tasks), timeout=timeout_s)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending)

    async def flush_access(self) -> None:
        """Write the batched last-access times (for LRU eviction) to the index,
        in a worker thread."""
        accessed, self._accessed = self._accessed, {}
        if accessed:
            await asyncio.to_thread(self.index.record_access, accessed)

    async def get(self, fetch: Fetch, *, revalidate: bool = False) -> Served:
        """Serve ``fetch`` from cache or upstream, by the rules in the module doc.

        ``revalidate`` forces a metadata refresh even when fresh (used when a
        file is asked for that cached metadata does not name).
        """
        entry = self.lookup(fetch.key)
        state = judge(entry, fetch.ttl_s, self.clock())
        if revalidate and state is Freshness.FRESH and fetch.kind is ArtifactKind.METADATA:
            state = Freshness.STALE
        if self.offline:
            if entry is None:
                raise OfflineMiss(f"{fetch.key} is not cached and pantry runs offline")
            return Served(XCache.HIT if state is Freshness.FRESH else XCache.OFFLINE, entry)
        match state:
            case Freshness.FRESH:
                assert entry is not None
                return Served(XCache.HIT, entry)
            case Freshness.STALE:
                assert entry is not None
                return await self._revalidate(fetch, entry)
            case Freshness.MISSING if fetch.kind is ArtifactKind.ARTIFACT:
                return await self._download(fetch)
            case Freshness.MISSING:
                return await self._metadata(fetch, None)

    async def _revalidate(self, fetch: Fetch, entry: Entry) -> Served:
        try:
            return await self._metadata(fetch, entry)
        except (UpstreamError, StorageError) as exc:
            log.warning("serving stale metadata key=%s reason=%s", fetch.key, exc)
            self.metrics.stale_served.labels(fetch.repository).inc()
            return Served(XCache.STALE, entry)

    async def _metadata(self, fetch: Fetch, entry: Entry | None) -> Served:
        task = self._metadata_flight.run(fetch.key, lambda: self._fetch_metadata(fetch, entry))
        return await asyncio.shield(task)

    async def _fetch_metadata(self, fetch: Fetch, entry: Entry | None) -> Served:
        headers = dict(fetch.headers)
        if entry is not None and entry.etag:
            headers["If-None-Match"] = entry.etag
        if entry is not None and entry.last_modified:
            headers["If-Modified-Since"] = entry.last_modified
        try:
            async with self.upstream.open(fetch.url, headers, read_s=self.metadata_read_s) as resp:
                if resp.status == 304 and entry is not None:
                    self._count(fetch, "not-modified")
                    return await self._confirmed(entry)
                if resp.status in (404, 410):
                    self._count(fetch, "not-found")
                    raise NotFound(f"upstream has no {fetch.key.partition(':')[2]}")
                if resp.status != 200:
                    raise UpstreamError(f"upstream answered {resp.status}: {mask(fetch.url)}")
                body = await resp.read(METADATA_LIMIT)
                content_type = resp.headers.get("Content-Type", "application/octet-stream")
                etag, last_modified, url = (
                    resp.headers.get("ETag"),
                    resp.headers.get("Last-Modified"),
                    resp.url,
                )
        except UpstreamError:
            self._count(fetch, "error")
            raise
        self.metrics.upstream_bytes.labels(fetch.repository).inc(len(body))
        self._count(fetch, "ok")
        return await self._fetched(
            fetch, entry, body, content_type, url=url, validators=(etag, last_modified)
        )

    async def _fetched(
        self,
        fetch: Fetch,
        entry: Entry | None,
        body: bytes,
        content_type: str,
        *,
        url: str,
        validators: tuple[str | None, str | None],
    ) -> Served:
        """A 200 from upstream: unchanged (``entry`` again), or rewritten and answered
        at once while it is stored."""
        source = await _hash(len(body), functools.partial(_source_digest, body, url))
        if entry is not None and self._sources.get(fetch.key) == source:
            return await self._confirmed(entry)
        stored = await self._transform(fetch, body, content_type, url)
        if not self.space.can_cache():
            return await self._uncached_metadata(stored)
        blob = await _hash(len(stored.body), functools.partial(_blob_id, stored.body))
        new = Entry(
            key=fetch.key,
            kind=ArtifactKind.METADATA,
            blob=blob,
            size=len(stored.body),
            content_type=stored.content_type,
            fetched_at=self.clock(),
            etag=validators[0],
            last_modified=validators[1],
            url=fetch.url,
        )
        # Answer now; store in the background.  Clients waited 0.1-0.5 s per page for
        # the fsync and the index rows (a cold uv install asks for 36 pages at once).
        self._unstored[blob] = stored.body
        self._unstored_links.update((link.key, link) for link in stored.links)
        self._remember(new)
        if len(self._sources) >= ENTRY_CACHE_SIZE:
            self._sources.clear()  # as for entries: at worst one more rewrite each
        self._sources[fetch.key] = source
        self._background(self._store_metadata(new, stored))
        return Served(XCache.MISS, new)

    async def _store_metadata(self, entry: Entry, stored: Transformed) -> None:
        """The blob, then the index row and links (the row is written after the rename)."""
        try:
            # Writing (and hashing) several MB must not hold up the loop either.
            blob = await asyncio.to_thread(_write_blob, self.blobs, stored.body)
            if blob != entry.blob:  # the BlobStore names blobs by sha256, as computed here
                raise StorageError(f"blob store named {entry.key} {blob}, not {entry.blob}")
            # Index writes go to a worker thread: a big page names thousands of files,
            # and even a one-row write must not wait on the loop for another's lock.
            await asyncio.to_thread(self.index.put, entry, stored.links)
        except StorageError as exc:
            # Answered already; not kept.  The next request fetches it again (the blob
            # is missing), and the files it names can still be fetched.
            self.space.pause(str(exc))
            log.warning("metadata not stored key=%s error=%s", entry.key, exc)
            with contextlib.suppress(StorageError):
                await asyncio.to_thread(self.index.put_links, stored.links)
        finally:
            self._unstored.pop(entry.blob, None)
            for link in stored.links:
                if self._unstored_links.get(link.key) is link:
                    del self._unstored_links[link.key]

    def _background(self, work: Coroutine[object, object, None]) -> asyncio.Task[None]:
        """Run ``work`` as a task that shutdown waits for (``drain``)."""
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _confirmed(self, entry: Entry) -> Served:
        """Upstream still has what ``entry`` was made from: fresh again from now."""
        now = self.clock()
        await asyncio.to_thread(self.index.touch, entry.key, now)
        confirmed = replace(entry, fetched_at=now)
        self._remember(confirmed)
        return Served(XCache.REVALIDATED, confirmed)

    async def _uncached_metadata(self, stored: Transformed) -> Served:
        """Serve metadata without storing it; its links still go in the (small) index,
        so the files it names can be passed through."""
        with contextlib.suppress(StorageError):
            await asyncio.to_thread(self.index.put_links, stored.links)
        return Served(XCache.MISS, body=stored.body, content_type=stored.content_type)

    async def _transform(
        self, fetch: Fetch, body: bytes, content_type: str, url: str
    ) -> Transformed:
        if fetch.transform is None:
            return Transformed(body, content_type)
        self.rewrites += 1
        try:
            if len(body) <= OFF_LOOP_BYTES:
                return _run_paused(fetch.transform, body, content_type, url)
            async with self._big_transforms:
                return await asyncio.to_thread(
                    _run_paused, fetch.transform, body, content_type, url
                )
        except ValueError as exc:  # FormatError and the formats' own parse errors
            raise UpstreamError(f"upstream sent unusable metadata ({exc}): {mask(url)}") from exc

    async def _download(self, fetch: Fetch) -> Served:
        download = self._downloads.get(fetch.key)
        if download is None and not self.space.can_cache():
            return Served(XCache.MISS, uncached=fetch)
        if download is None:
            writer = self.blobs.open_writer()
            download = Download(writer.temp_path, fetch.digest, fetch.url)
            self._downloads[fetch.key] = download
            task = self._background(self._run_download(fetch, writer, download))
            task.add_done_callback(lambda _t: self._downloads.pop(fetch.key, None))
        return Served(XCache.MISS, download=download)

    async def _run_download(self, fetch: Fetch, writer: BlobWriter, download: Download) -> None:
        try:
            async with self.upstream.open(fetch.url, fetch.headers) as resp:
                if resp.status in (404, 410):
                    self._count(fetch, "not-found")
                    raise NotFound(f"upstream has no {fetch.url.rsplit('/', 1)[-1]}")
                if resp.status != 200:
                    raise UpstreamError(f"upstream answered {resp.status}: {mask(fetch.url)}")
                download.start(resp.content_length, resp.headers.get("Content-Type", ""))
                async for chunk in resp.iter_chunks():
                    writer.write(chunk)
                    download.feed(chunk)
                expected = resp.content_length
            if expected is not None and download.written != expected:
                raise UpstreamError(f"upstream body truncated: {mask(fetch.url)}")
            if not download.verify():
                self.metrics.verification_failures.labels(fetch.repository).inc()
                raise VerificationError(
                    f"{fetch.url.rsplit('/', 1)[-1]} does not match its published {fetch.digest}"
                )
            blob = await asyncio.to_thread(writer.commit)
            entry = Entry(
                key=fetch.key,
                kind=ArtifactKind.ARTIFACT,
                blob=blob,
                size=download.written,
                content_type=download.content_type or "application/octet-stream",
                fetched_at=self.clock(),
                url=fetch.url,
            )
            await asyncio.to_thread(self.index.put, entry)
            self._remember(entry)
        except BaseException as exc:
            writer.abort()
            if isinstance(exc, StorageError):
                self.space.pause(str(exc))
            if not isinstance(exc, NotFound):
                self._count(fetch, "error")
            log.warning("download failed key=%s url=%s error=%s", fetch.key, mask(fetch.url), exc)
            download.fail(exc if isinstance(exc, Exception) else UpstreamError("cancelled"))
            if not isinstance(exc, Exception):
                raise
            return
        self._count(fetch, "ok")
        self.metrics.upstream_bytes.labels(fetch.repository).inc(download.written)
        download.complete(entry, self.blobs.path_of(blob))

    def _count(self, fetch: Fetch, result: str) -> None:
        self.metrics.upstream_fetches.labels(fetch.repository, fetch.kind.value, result).inc()


def _run_paused(transform: Transform, body: bytes, content_type: str, url: str) -> Transformed:
    with gc_paused():
        return transform(body, content_type, url)


async def _hash(size: int, work: Callable[[], _T]) -> _T:
    """``work()`` hashing ``size`` bytes: in a worker thread when that would hold up
    the loop."""
    return work() if size <= OFF_LOOP_BYTES else await asyncio.to_thread(work)


def _write_blob(blobs: BlobStore, body: bytes) -> BlobId:
    """Store ``body`` as a blob (blocking: run off the loop)."""
    writer = blobs.open_writer()
    try:
        writer.write(body)
    except BaseException:
        writer.abort()
        raise
    return writer.commit()


def _blob_id(body: bytes) -> BlobId:
    return BlobId(hashlib.sha256(body).hexdigest())


def _source_digest(body: bytes, url: str) -> bytes:
    """What a metadata entry was made from: the transforms depend on nothing else."""
    digest = hashlib.sha256(url.encode())
    digest.update(b"\0")
    digest.update(body)
    return digest.digest()
