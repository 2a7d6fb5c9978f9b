"""Composition root: every object of a running pantry is built here, from the Config."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import replace

from aiohttp import web

from pantry import memory
from pantry.cache.engine import Engine
from pantry.clients import discover
from pantry.config import Config, RepositoryConfig
from pantry.errors import ConfigError, PantryError
from pantry.metrics import Metrics
from pantry.repositories import Repository
from pantry.repositories.npm import NpmProxy
from pantry.repositories.pypi import PypiProxy
from pantry.storage.blobs_fs import FsBlobStore
from pantry.storage.gc import GcReport, collect
from pantry.storage.index_sqlite import SqliteIndex
from pantry.upstream.breaker import Breaker
from pantry.upstream.client import Timeouts, UpstreamClient, mask, split_credentials
from pantry.web import middleware
from pantry.web.handlers import Handlers
from pantry.web.routes import add_routes
from pantry.workers import metrics_dir

log = logging.getLogger(__name__)

MAX_HEADER_BYTES = 16 * 1024
ACCESS_FLUSH_S = 30.0
ENGINE = web.AppKey("engine", Engine)  # the app's cache engine, for tests and tools
FOLD_EVERY_S = 1.0  # workers: how stale another worker's request counts may be
GB = 1024**3
RECIPES: dict[str, Callable[[RepositoryConfig, str, Engine], Repository]] = {
    "pypi": PypiProxy,
    "npm": NpmProxy,
}


def own_urls(config: Config) -> list[str]:
    """URLs under which this pantry may be reached (for the discovery loop guard)."""
    urls = [f"http://{config.host}:{config.port}/"]
    if config.public_url:
        urls.append(config.public_url + "/")
    return urls


def resolve_upstream(repo: RepositoryConfig, config: Config, env: Mapping[str, str]) -> str:
    """The configured upstream, or the one discovered from the user's clients."""
    if repo.upstream is not None:
        return repo.upstream
    if repo.type == "pypi":
        found = discover.discover_pypi_upstream(
            env=env,
            data_dir=config.data,
            own_urls=own_urls(config),
            pip_config_value=discover.read_pip_config_index_url(),
        )
    elif repo.type == "npm":
        found = discover.discover_npm_upstream(
            env=env,
            data_dir=config.data,
            own_urls=own_urls(config),
            npm_config_value=discover.read_npm_config_registry(),
        )
    else:
        raise ConfigError(f"[repositories.{repo.name}]: needs an upstream URL")
    if found.note:
        log.warning("%s", found.note)
    log.info("repository=%s upstream=%s source=%s", repo.name, mask(found.url), found.source)
    return found.url


def resolve_repositories(config: Config, env: Mapping[str, str] | None = None) -> Config:
    """``config`` with every repository's upstream resolved (configured or discovered).

    Default repositories whose upstream cannot be discovered are dropped with
    a warning (e.g. no npm on this machine: serve the rest rather than
    nothing).  Offline, discovery failing leaves the upstream blank.
    """
    env = os.environ if env is None else env
    resolved: dict[str, RepositoryConfig] = {}
    for repo in config.repositories.values():
        if config.offline:
            url = _remembered_or_blank(repo, config, env)
        else:
            try:
                url = resolve_upstream(repo, config, env)
            except ConfigError as exc:
                if not repo.is_default:
                    raise
                log.warning("repository /%s/ not served: %s", repo.name, exc)
                continue
        resolved[repo.name] = replace(repo, upstream=url)
    return replace(config, repositories=resolved)


def prepare(config: Config, env: Mapping[str, str] | None = None) -> Config:
    """What happens once per start, before any request (and before workers fork):
    temp files of an earlier run removed, upstreams resolved."""
    removed = FsBlobStore(config.data).clean_leftovers()
    if removed:
        log.info("removed %d leftover temp files from an earlier run", removed)
    return resolve_repositories(config, env)


def build_app(
    config: Config, env: Mapping[str, str] | None = None, *, worker: int | None = None
) -> web.Application:
    """The aiohttp application for ``config``; raises ConfigError/StorageError early.

    ``worker`` is the worker number when several share the port (see
    ``pantry.workers``): the parent ran ``prepare`` already, and only worker 0
    collects garbage.
    """
    if worker is None:
        config = prepare(config, env)
    blobs = FsBlobStore(config.data)
    index = SqliteIndex(config.data / "index.sqlite")
    metrics = Metrics(shared_dir=metrics_dir(config.data) if worker is not None else None)
    breaker = Breaker(open_s=config.upstream.breaker_open_s)
    upstream = UpstreamClient(
        breaker,
        Timeouts(
            connect_s=config.upstream.connect_timeout_s, read_s=config.upstream.read_timeout_s
        ),
        ca_file=config.ca_file,
    )
    engine = Engine(
        blobs,
        index,
        upstream,
        metrics,
        offline=config.offline,
        metadata_read_s=config.upstream.metadata_timeout_s,
        min_free_bytes=int(config.storage.min_free_gb * GB),
    )
    repositories: dict[str, Repository] = {}
    for repo in config.repositories.values():
        url, user, password = split_credentials(repo.upstream or "")
        if repo.username is not None and repo.password is not None:
            user, password = repo.username, repo.password
        if user is not None:
            upstream.add_credentials(url, user, password or "")
        repositories[repo.name] = RECIPES[repo.type](repo, url, engine)
    handlers = Handlers(
        repositories,
        metrics,
        breaker,
        public_url=config.public_url,
        offline=config.offline,
        engine=engine,
    )
    app = web.Application(
        middlewares=middleware.build(config.allow, metrics, config.tokens),
        handler_args={"max_line_size": 8190, "max_field_size": MAX_HEADER_BYTES},
    )
    add_routes(app, handlers)
    app[ENGINE] = engine

    async def lifecycle(_app: web.Application) -> AsyncIterator[None]:
        await upstream.start()
        loop = asyncio.get_running_loop()
        tasks = [
            loop.create_task(maintain(engine, config, metrics, collect_garbage=worker in (None, 0)))
        ]
        if worker is not None:  # a scrape answered by another worker must see this one's counts
            tasks.append(loop.create_task(_fold_often(metrics)))
        yield
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await engine.drain()
        await engine.flush_access()
        await upstream.close()
        index.close()

    app.cleanup_ctx.append(lifecycle)
    return app


async def maintain(
    engine: Engine, config: Config, metrics: Metrics, *, collect_garbage: bool = True
) -> None:
    """Background upkeep: batch last-access times into the index, collect garbage, and
    hand memory freed by metadata rewrites back to the system."""
    since_gc = 0.0
    rewrites = engine.rewrites
    while True:
        await asyncio.sleep(ACCESS_FLUSH_S)
        if engine.rewrites != rewrites:
            rewrites = engine.rewrites
            await asyncio.to_thread(memory.trim)  # ~20 ms for 100 MB of fragmented heap
        try:
            await engine.flush_access()
            since_gc += ACCESS_FLUSH_S
            if collect_garbage and since_gc >= config.storage.gc_interval_s:
                since_gc = 0.0
                report = await asyncio.to_thread(run_gc, config)
                metrics.cached_bytes.set(report.cached_bytes)
        except PantryError as exc:
            log.warning("upkeep failed: %s", exc)


async def _fold_often(metrics: Metrics) -> None:
    while True:
        await asyncio.sleep(FOLD_EVERY_S)
        metrics.fold()


def run_gc(config: Config) -> GcReport:
    """One garbage collection over the data dir, with its own index connection."""
    index = SqliteIndex(config.data / "index.sqlite")
    try:
        max_bytes = int(config.storage.max_size_gb * GB) or None
        report = collect(index, FsBlobStore(config.data), max_bytes=max_bytes)
    finally:
        index.close()
    if report.evicted or report.removed_blobs:
        log.info(
            "gc evicted=%d removed_blobs=%d freed_bytes=%d cached_bytes=%d",
            len(report.evicted),
            report.removed_blobs,
            report.freed_bytes,
            report.cached_bytes,
        )
    return report


def _remembered_or_blank(repo: RepositoryConfig, config: Config, env: Mapping[str, str]) -> str:
    """Offline, discovery is only for display: never fail start-up over it."""
    try:
        return resolve_upstream(repo, config, env)
    except ConfigError:
        return ""
