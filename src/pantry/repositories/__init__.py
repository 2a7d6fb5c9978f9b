"""Repositories: a name, a format and a recipe (``proxy`` now; hosted and group later).

A repository turns a request path into a ``Reply`` using the cache engine.
Replies are plain values; the web layer turns them into HTTP responses, so
nothing here imports aiohttp.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from pantry.cache.engine import Engine
from pantry.cache.tee import Download
from pantry.cache.values import Fetch, Served
from pantry.errors import NotFound, OfflineMiss, UpstreamError
from pantry.model import ArtifactKind, CacheKey, Entry, XCache

BASE_PLACEHOLDER = "__PANTRY_BASE__"
"""Stored in metadata that needs absolute URLs; replaced per request by the
public base URL of the repository (``public_url`` or the request's Host)."""


@dataclass(frozen=True, slots=True)
class RepoRequest:
    """What a repository sees of a request: the path below ``/NAME/`` and little else."""

    tail: str
    method: str = "GET"
    accept: str | None = None
    query: str = ""  # the raw query string, for pass-through endpoints
    body: bytes = b""  # POST bodies (npm audit), already read with a size limit
    headers: Mapping[str, str] = field(default_factory=dict)  # Content-Type/-Encoding of body


@dataclass(frozen=True, slots=True)
class Reply:
    """What to answer: exactly one of ``path`` (a cached file), ``download``
    (a file arriving from upstream), ``body`` (generated) or ``location``."""

    outcome: XCache | None
    status: int = 200
    content_type: str = "application/octet-stream"
    path: Path | None = None
    entry: Entry | None = None
    download: Download | None = None
    body: bytes | None = None
    location: str | None = None
    uncached: Fetch | None = None  # an artifact streamed through unstored (disk full)
    substitute_base: bool = False  # replace BASE_PLACEHOLDER in the file before sending
    is_immutable: bool = False
    headers: dict[str, str] = field(default_factory=dict)
    # The same request may be answered from ``entry`` while it is fresh for this
    # TTL, without asking the repository again (web/handlers.py keeps that memo).
    fresh_for: tuple[CacheKey, float] | None = None


class Repository(Protocol):
    """One ``/NAME/`` tree."""

    name: str
    type: str
    upstream: str

    async def handle(self, request: RepoRequest) -> Reply:
        """Answer a request for ``/NAME/<tail>``."""


def reply_for(served: Served, content_type: str, engine: Engine, *, ttl_s: float = 0.0) -> Reply:
    """The reply for what the engine served.

    Metadata goes out as the negotiated ``content_type``; artifacts as
    upstream labelled them, and are immutable for clients' caches.  ``ttl_s``
    is the metadata TTL the entry was judged by, for the handler's memo.
    """
    entry = served.entry
    if served.body is not None:
        return Reply(served.outcome, content_type=content_type, body=served.body)
    if entry is None:
        return Reply(
            served.outcome,
            content_type=content_type,
            download=served.download,
            uncached=served.uncached,
            is_immutable=True,
        )
    is_artifact = entry.kind is ArtifactKind.ARTIFACT
    return Reply(
        served.outcome,
        content_type=entry.content_type if is_artifact else content_type,
        entry=entry,
        # Metadata is sent from memory (web/bodies.py); only files need their path.
        path=engine.blobs.path_of(entry.blob) if is_artifact else None,
        is_immutable=is_artifact,
        fresh_for=(entry.key, ttl_s) if served.outcome in _FRESH_OUTCOMES else None,
    )


_FRESH_OUTCOMES = (XCache.HIT, XCache.MISS, XCache.REVALIDATED)


async def linked_artifact(
    engine: Engine,
    repository: str,
    key: CacheKey,
    refresh: Callable[[], Awaitable[Served]],
    *,
    not_listed: str,
) -> Reply:
    """An artifact, fetched only from the URL that upstream metadata named for ``key``.

    Cached: served at once.  Not named by any metadata we hold: ``refresh``
    asks upstream for current metadata first.  This is what keeps pantry from
    fetching anything its upstream did not name.
    """
    entry = engine.lookup(key)
    if entry is not None:
        return reply_for(Served(XCache.HIT, entry), entry.content_type, engine)
    name = key.rpartition("/")[2]
    if engine.offline:
        raise OfflineMiss(f"{name} is not cached and pantry runs offline")
    link = engine.get_link(key)
    if link is None:
        page = await refresh()
        link = engine.get_link(key)
        if link is None and page.outcome is XCache.STALE:
            raise UpstreamError(f"cannot check {name} upstream: the upstream is failing")
    if link is None:
        raise NotFound(not_listed)
    fetch = Fetch(repository, key, link.url, ArtifactKind.ARTIFACT, digest=link.digest)
    return reply_for(await engine.get(fetch), "application/octet-stream", engine)
