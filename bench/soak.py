"""Bounded soak on loopback: many clients, hits and misses, large files; memory must stay flat.

Starts the test suite's fixture PyPI upstream and a real ``pantry serve``,
then:
1. *stampede*: ``--clients`` concurrent downloads of each large uncached file
   (expect exactly one upstream download per file);
2. *soak*: for ``--seconds``, the same clients loop over pages and files,
   mostly hits, with new releases published upstream now and then (misses).
It samples pantry's RSS throughout and prints requests, errors, latency
percentiles and RSS (start, max, end).  Everything stops by itself.

``.venv/bin/python bench/soak.py [--quick] [--clients 100] [--seconds 60]``
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from fixtures.pantry_process import PantryProcess, pypi_config
from fixtures.pypi_pages import Project, wheel_file
from fixtures.pypi_upstream import FixturePyPI, default_catalogue
from fixtures.wheels import make_wheel

LARGE_MB = 8


def rss_mb(pid: int) -> float:
    """Resident memory of a process, from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def large_project(name: str, count: int) -> Project:
    """A project whose wheels carry LARGE_MB of incompressible bytes each."""
    files = []
    for index in range(count):
        filename, content = make_wheel(
            name, f"1.{index}", files={f"{name}/blob.bin": os.urandom(LARGE_MB * 2**20)}
        )
        base = wheel_file(name, f"1.{index}")
        files.append(replace(base, filename=filename, content=content))
    return Project(name, tuple(files))


async def run(args: argparse.Namespace) -> None:
    catalogue = default_catalogue()
    catalogue["big"] = large_project("big", args.large_files)
    with FixturePyPI(catalogue) as upstream, tempfile.TemporaryDirectory() as tmp:
        server = PantryProcess(Path(tmp) / "data", pypi_config(upstream.index_url))
        with server:
            assert server.proc is not None
            pid = server.proc.pid
            samples = [rss_mb(pid)]
            stop = asyncio.Event()

            async def sample() -> None:
                while not stop.is_set():
                    samples.append(rss_mb(pid))
                    await asyncio.sleep(0.5)

            sampler = asyncio.create_task(sample())
            timeout = aiohttp.ClientTimeout(total=120)
            connector = aiohttp.TCPConnector(limit=args.clients)
            async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
                await stampede(session, server.url, upstream, args)
                latencies, errors = await soak(session, server.url, upstream, args)
            stop.set()
            await sampler
    print(f"soak: {len(latencies)} requests in {args.seconds:.0f} s "
          f"({len(latencies) / args.seconds:.0f}/s), {errors} errors")  # fmt: skip
    if latencies:
        cuts = statistics.quantiles(latencies, n=100)
        print(f"latency p50 {cuts[49] * 1000:.1f} ms, p99 {cuts[98] * 1000:.1f} ms")
    print(f"pantry RSS: start {samples[0]:.0f} MB, max {max(samples):.0f} MB, "
          f"end {samples[-1]:.0f} MB")  # fmt: skip


async def stampede(
    session: aiohttp.ClientSession, base: str, upstream: FixturePyPI, args: argparse.Namespace
) -> None:
    files = upstream.catalogue["big"].files
    async with session.get(f"{base}/pypi/simple/big/") as page:
        await page.read()
    upstream.reset_hits()
    started = time.monotonic()

    async def fetch(filename: str) -> int:
        async with session.get(f"{base}/pypi/files/big/{filename}") as resp:
            total = 0
            async for chunk in resp.content.iter_chunked(1 << 20):
                total += len(chunk)
            return total

    jobs = [fetch(f.filename) for f in files for _ in range(args.clients)]
    sizes = await asyncio.gather(*jobs)
    seconds = time.monotonic() - started
    downloads = sum(n for path, n in upstream.hits.items() if "/big-" in path)
    print(f"stampede: {len(jobs)} downloads of {len(files)} x {LARGE_MB} MB files in "
          f"{seconds:.1f} s ({sum(sizes) / seconds / 1e6:.0f} MB/s), "
          f"{downloads} upstream downloads (expect {len(files)})")  # fmt: skip


async def soak(
    session: aiohttp.ClientSession, base: str, upstream: FixturePyPI, args: argparse.Namespace
) -> tuple[list[float], int]:
    deadline = time.monotonic() + args.seconds
    latencies: list[float] = []
    errors = 0
    paths = [f"/pypi/simple/{p}/" for p in ("alpha", "beta", "gamma", "big")]
    paths += [f"/pypi/files/big/{f.filename}" for f in upstream.catalogue["big"].files]
    paths += [f"/pypi/files/gamma/{f.filename}" for f in upstream.catalogue["gamma"].files]

    async def client(number: int) -> None:
        nonlocal errors
        rng = random.Random(number)  # noqa: S311 - a load pattern, not a secret
        while time.monotonic() < deadline:
            path = rng.choice(paths)
            started = time.monotonic()
            try:
                async with session.get(base + path) as resp:
                    async for _ in resp.content.iter_chunked(1 << 20):
                        pass
                    if resp.status != 200:
                        errors += 1
            except aiohttp.ClientError:
                errors += 1
            latencies.append(time.monotonic() - started)

    async def publisher() -> None:
        version = 0
        while time.monotonic() < deadline:
            await asyncio.sleep(1.0)
            version += 1
            upstream.add_release("alpha", f"9.{version}")  # the next page fetch is a miss

    await asyncio.gather(publisher(), *(client(n) for n in range(args.clients)))
    return latencies, errors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--large-files", type=int, default=4)
    parser.add_argument("--quick", action="store_true", help="20 s, 2 large files")
    args = parser.parse_args()
    if args.quick:
        args.seconds, args.large_files = 20.0, 2
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
