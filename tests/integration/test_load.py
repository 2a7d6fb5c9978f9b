"""Hundreds of concurrent clients on one uncached file: one upstream download, all served."""

from __future__ import annotations

import asyncio
import hashlib

import aiohttp

from fixtures.pantry_process import PantryProcess
from fixtures.pypi_upstream import FixturePyPI

CLIENTS = 300


async def test_load__concurrent_misses_cause_one_upstream_download(
    pantry: PantryProcess, fixture_pypi: FixturePyPI
) -> None:
    wheel = next(f for f in fixture_pypi.catalogue["gamma"].files if f.version == "1.0")
    url = f"{pantry.url}/pypi/files/gamma/{wheel.filename}"
    connector = aiohttp.TCPConnector(limit=CLIENTS)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        async with session.get(f"{pantry.url}/pypi/simple/gamma/") as page:
            assert page.status == 200
        fixture_pypi.set_fault("slow", "files")
        fixture_pypi.reset_hits()

        async def fetch() -> tuple[int, str, str]:
            async with session.get(url) as resp:
                body = await resp.read()
                return resp.status, resp.headers["X-Cache"], hashlib.sha256(body).hexdigest()

        answers = await asyncio.gather(*(fetch() for _ in range(CLIENTS)))
    assert {(status, sha) for status, _, sha in answers} == {(200, wheel.sha256)}
    assert {xcache for _, xcache, _ in answers} <= {"MISS", "HIT"}
    assert sum(n for path, n in fixture_pypi.hits.items() if path.endswith(wheel.filename)) == 1
