"""Command line: ``pantry serve``, ``pantry setup <client>``, ``pantry check-config``.

Every failure a user can cause (bad config, taken port, unwritable data dir)
ends in one line on stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import socket
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from aiohttp import web

from pantry import __version__, clients
from pantry.config import DEFAULT_LISTEN, Config, load
from pantry.errors import PantryError
from pantry.memory import tune_malloc
from pantry.upstream.client import mask
from pantry.web.access_log import FLUSH_EVERY_S, AccessLog

log = logging.getLogger("pantry")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``pantry`` console script."""
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except PantryError as exc:
        print(f"pantry: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # `pantry setup pip | head`: the reader left; not an error worth a traceback.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pantry", description="Caching proxy for package registries."
    )
    parser.add_argument("--version", action="version", version=f"pantry {__version__}")
    sub = parser.add_subparsers(required=True, metavar="COMMAND")

    serve = sub.add_parser("serve", help="run the proxy")
    _add_config_args(serve)
    serve.add_argument("--offline", action="store_true", help="never contact upstream")
    serve.add_argument(
        "--workers", type=int, help="processes sharing the port and the store (default 1)"
    )
    serve.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    serve.set_defaults(func=_serve)

    check = sub.add_parser("check-config", help="validate the configuration and print it")
    _add_config_args(check)
    check.set_defaults(func=_check_config)

    check_store = sub.add_parser("verify", help="re-hash the cache and report what is damaged")
    _add_config_args(check_store)
    check_store.add_argument(
        "--repair", action="store_true", help="forget damaged entries and delete corrupt blobs"
    )
    check_store.set_defaults(func=_verify)

    collect = sub.add_parser("gc", help="evict past [storage] max_size_gb, drop unused blobs")
    _add_config_args(collect)
    collect.add_argument("--max-size-gb", type=float, help="override [storage] max_size_gb")
    collect.set_defaults(func=_gc)

    token = sub.add_parser("token", help="make a client token and the config line admitting it")
    token.set_defaults(func=_token)

    setup = sub.add_parser("setup", help="print or apply client configuration for pantry")
    setup.add_argument("client", help=f"one of: {', '.join(clients.CLIENTS)}")
    setup.add_argument("--url", help="pantry's base URL (default: from --listen / PANTRY_LISTEN)")
    setup.add_argument("--listen", help=f"HOST:PORT pantry listens on (default {DEFAULT_LISTEN})")
    setup.add_argument("--repo", default=None, help="repository name (default: the client's)")
    setup.add_argument(
        "--token",
        help="client token for a pantry with [server] tokens (default: env PANTRY_TOKEN, "
        "which keeps it out of shell history); written to the files, never printed",
    )
    mode = setup.add_mutually_exclusive_group()
    mode.add_argument("--write", action="store_true", help="apply it (with a backup)")
    mode.add_argument("--undo", action="store_true", help="restore the backup")
    setup.set_defaults(func=_setup)
    return parser


def _add_config_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--listen", help=f"HOST:PORT (default {DEFAULT_LISTEN}, env PANTRY_LISTEN)")
    parser.add_argument("--data", help="data directory (env PANTRY_DATA)")
    parser.add_argument("--config", help="TOML config file (env PANTRY_CONFIG)")


def _load(args: argparse.Namespace) -> Config:
    return load(
        env=os.environ,
        config_file=args.config,
        listen=args.listen,
        data=args.data,
        offline=getattr(args, "offline", False),
        workers=getattr(args, "workers", None),
    )


def _check_config(args: argparse.Namespace) -> int:
    config = _load(args)
    print(f"listen   {config.host}:{config.port}")
    print(f"data     {config.data}")
    print(f"allow    {', '.join(str(n) for n in config.allow)}")
    for repo in config.repositories.values():
        upstream = mask(repo.upstream) if repo.upstream else "(discovered at start)"
        print(f"/{repo.name}/  type={repo.type} upstream={upstream} ttl={repo.metadata_ttl_s:g}s")
    return 0


def _verify(args: argparse.Namespace) -> int:
    from pantry.storage.blobs_fs import FsBlobStore  # noqa: PLC0415 - only this command needs it
    from pantry.storage.index_sqlite import SqliteIndex  # noqa: PLC0415
    from pantry.storage.verify import verify  # noqa: PLC0415

    config = _load(args)
    index = SqliteIndex(config.data / "index.sqlite")
    try:
        report = verify(index, FsBlobStore(config.data), repair=args.repair)
    finally:
        index.close()
    for key in report.missing:
        print(f"missing  {key}")
    for key in report.corrupt:
        print(f"corrupt  {key}")
    action = "removed" if args.repair else "found"
    print(
        f"checked {report.checked} entries in {config.data}: {len(report.missing)} missing and "
        f"{len(report.corrupt)} corrupt {action}; {len(report.unused)} unused blobs "
        "(pantry gc removes them)"
    )
    return 0 if report.is_clean or args.repair else 1


def _gc(args: argparse.Namespace) -> int:
    from pantry.app import run_gc  # noqa: PLC0415 - only this command needs it

    config = _load(args)
    if args.max_size_gb is not None:
        config = replace(config, storage=replace(config.storage, max_size_gb=args.max_size_gb))
    report = run_gc(config)
    print(
        f"evicted {len(report.evicted)} entries, removed {report.removed_blobs} blobs "
        f"({report.freed_bytes / 1e6:.1f} MB); the cache holds {report.cached_bytes / 1e6:.1f} MB"
    )
    return 0


def _token(_args: argparse.Namespace) -> int:
    from pantry.tokens import new_token  # noqa: PLC0415

    token, hashed = new_token()
    print(f"token (give it to clients; it is not stored anywhere): {token}")
    print("config (add it to [server] tokens):")
    print(f'  tokens = ["{hashed}"]')
    return 0


def _setup(args: argparse.Namespace) -> int:
    if args.url:
        base = args.url.rstrip("/")
    else:
        listen = args.listen or os.environ.get("PANTRY_LISTEN") or DEFAULT_LISTEN
        base = f"http://{listen}"
    action: clients.Action = "write" if args.write else "undo" if args.undo else "print"
    kwargs = {"repo": args.repo} if args.repo else {}
    return clients.setup(
        args.client,
        base_url=base,
        action=action,
        home=Path.home(),
        env=os.environ,
        out=sys.stdout,
        token=args.token,
        **kwargs,
    )


def _serve(args: argparse.Namespace) -> int:
    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
        stream=sys.stderr,
    )
    config = _load(args)
    tune_malloc()  # before any thread starts
    if config.workers > 1:
        return _serve_workers(config)
    from pantry.app import build_app  # noqa: PLC0415 - keeps `pantry setup` light

    app = build_app(config)
    # The standard event loop, not uvloop: uvloop has no sendfile, so cached
    # files would be copied through Python (3x the memory, two thirds the
    # throughput with 50 clients on a large wheel, measured with wrk).
    return asyncio.run(_run(app, config))


def _serve_workers(config: Config) -> int:
    """``workers`` processes on one socket; see pantry.workers."""
    from pantry import workers  # noqa: PLC0415

    try:
        sock = workers.bind(config.host, config.port)
    except OSError as exc:
        print(
            f"pantry: cannot listen on {config.host}:{config.port}: {exc.strerror}", file=sys.stderr
        )
        return 2
    try:
        shared = workers.prepare_metrics(config.data)  # before any metric is made
    except OSError as exc:
        print(f"pantry: cannot use the data dir {config.data}: {exc.strerror}", file=sys.stderr)
        return 2
    from pantry.app import build_app, prepare  # noqa: PLC0415

    config = prepare(config)
    log.info("starting %d workers", config.workers)

    def run_worker(number: int) -> int:
        app = build_app(config, worker=number)
        return asyncio.run(_run(app, config, sock=sock, worker=number))

    return workers.Supervisor(config.workers, run_worker, shared).run()


async def _run(
    app: web.Application,
    config: Config,
    *,
    sock: socket.socket | None = None,
    worker: int | None = None,
) -> int:
    runner = web.AppRunner(
        app,
        access_log_class=AccessLog,
        handle_signals=False,
        # Also bounds a connection that never completes a request (slow-loris).
        keepalive_timeout=config.idle_timeout_s,
    )
    await runner.setup()
    site: web.BaseSite = (
        web.TCPSite(runner, config.host, config.port, backlog=1024)
        if sock is None
        else web.SockSite(runner, sock)
    )
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        print(
            f"pantry: cannot listen on {config.host}:{config.port}: {exc.strerror}", file=sys.stderr
        )
        return 2
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    log.info(
        "pantry %s listening on http://%s:%d/ data=%s%s%s",
        __version__,
        config.host,
        config.port,
        config.data,
        " offline" if config.offline else "",
        f" worker={worker} pid={os.getpid()}" if worker is not None else "",
    )
    flusher = loop.create_task(_flush_access_log())
    await stop.wait()
    log.info("shutting down")
    flusher.cancel()
    await runner.cleanup()
    AccessLog.flush()
    return 0


async def _flush_access_log() -> None:
    while True:
        await asyncio.sleep(FLUSH_EVERY_S)
        AccessLog.flush()
