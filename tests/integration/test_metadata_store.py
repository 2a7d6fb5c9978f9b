"""Fetched metadata is answered before it is stored, and served from memory until it is.

In-process: a real aiohttp app from ``build_app`` over a loopback fixture
upstream, real HTTP, and a blob store whose commits of anything but a wheel
(a zip) wait until the test lets them go, so "answered while storing" is
observable while the wheels a page names still download as usual.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from fixtures.pantry_process import pypi_config
from fixtures.pypi_upstream import FixturePyPI
from pantry.app import ENGINE, build_app
from pantry.config import load
from pantry.errors import StorageError
from pantry.model import BlobId, CacheKey
from pantry.storage.blobs import BlobStore, BlobWriter

Client = TestClient[web.Request, web.Application]
RELEASE_S = 10.0  # a commit held back longer than this fails the test
ZIP_MAGIC = b"PK\x03\x04"  # how every wheel starts


class HeldWriter:
    """A writer whose commit, unless it stores a wheel, waits for ``release`` (commits
    run in worker threads)."""

    def __init__(self, inner: BlobWriter, release: threading.Event, *, fail: bool) -> None:
        self._inner = inner
        self._release = release
        self._fail = fail
        self._first = b""

    @property
    def temp_path(self) -> Path:
        return self._inner.temp_path

    @property
    def size(self) -> int:
        return self._inner.size

    def write(self, data: bytes) -> None:
        if not self._first:
            self._first = data
        self._inner.write(data)

    def commit(self) -> BlobId:
        if self._first.startswith(ZIP_MAGIC):
            return self._inner.commit()
        assert self._release.wait(RELEASE_S), "the test never released the commit"
        if self._fail:
            self._inner.abort()
            raise StorageError("cannot store a blob: No space left on device")
        return self._inner.commit()

    def abort(self) -> None:
        self._inner.abort()


class HoldMetadataCommits:
    """Wraps a BlobStore: blobs other than wheels commit only once ``release`` is set."""

    def __init__(self, inner: BlobStore) -> None:
        self._inner = inner
        self.release = threading.Event()
        self.fail = False  # the held commits fail, as on a full disk

    def open_writer(self) -> BlobWriter:
        return HeldWriter(self._inner.open_writer(), self.release, fail=self.fail)

    def __getattr__(self, name: str) -> object:
        return getattr(self._inner, name)


@pytest.fixture
async def held(
    fixture_pypi: FixturePyPI, tmp_path: Path
) -> AsyncIterator[tuple[Client, HoldMetadataCommits]]:
    config_file = tmp_path / "pantry.toml"
    config_file.write_text(pypi_config(fixture_pypi.index_url))
    config = load(env={}, config_file=str(config_file), data=str(tmp_path / "data"))
    app = build_app(config, env={})
    engine = app[ENGINE]
    store = HoldMetadataCommits(engine.blobs)
    engine.blobs = store  # type: ignore[assignment]
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        yield client, store
        store.release.set()


async def test_page_answered_while_it_is_stored(
    held: tuple[Client, HoldMetadataCommits], fixture_pypi: FixturePyPI
) -> None:
    client, store = held
    engine = client.app[ENGINE]
    key = CacheKey("pypi:simple/alpha/:html")
    first = await asyncio.wait_for(client.get("/pypi/simple/alpha/"), RELEASE_S / 2)
    body = await first.read()
    assert (first.status, first.headers["X-Cache"]) == (200, "MISS")
    assert engine.index.get(key) is None  # not stored yet: the commit is held
    again = await client.get("/pypi/simple/alpha/")
    assert (again.headers["X-Cache"], await again.read()) == ("HIT", body)
    # A file the page names is fetched from the link kept in memory, not by
    # asking upstream for the page again.
    name = fixture_pypi.catalogue["alpha"].files[0].filename
    wheel = await client.get(f"/pypi/files/alpha/{name}")
    assert (wheel.status, await wheel.read()) == (200, fixture_pypi.find_file(name).content)
    assert fixture_pypi.hits["/simple/alpha/"] == 1
    store.release.set()
    await engine.drain()
    stored = engine.index.get(key)
    assert stored is not None
    assert engine.blobs.path_of(stored.blob).read_bytes() == engine.read_metadata(stored.blob)


async def test_page_not_stored_is_fetched_again(
    held: tuple[Client, HoldMetadataCommits], fixture_pypi: FixturePyPI
) -> None:
    client, store = held
    engine = client.app[ENGINE]
    store.fail = True
    first = await client.get("/pypi/simple/alpha/")
    body = await first.read()
    assert (first.status, first.headers["X-Cache"]) == (200, "MISS")
    store.release.set()
    await engine.drain()
    assert engine.index.get(CacheKey("pypi:simple/alpha/:html")) is None
    again = await client.get("/pypi/simple/alpha/")
    assert (again.status, again.headers["X-Cache"], await again.read()) == (200, "MISS", body)
    assert fixture_pypi.hits["/simple/alpha/"] == 2
