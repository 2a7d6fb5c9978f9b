"""Disk limits: LRU eviction with `pantry gc`, and a full disk that stops caching, not serving."""

from __future__ import annotations

import hashlib
import http.client
import os
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from fixtures.http import request
from fixtures.pantry_process import PantryProcess, pypi_config
from fixtures.pypi_upstream import FixturePyPI

GB = 1024**3


def _wheel(upstream: FixturePyPI, name: str, version: str) -> tuple[str, bytes]:
    found = next(f for f in upstream.catalogue[name].files if f.version == version)
    return found.filename, found.content


def _pantry_cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PANTRY_")}
    return subprocess.run(
        [sys.executable, "-m", "pantry", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )


def test_gc__evicts_least_recently_used_past_max_size(
    tmp_path: Path, fixture_pypi: FixturePyPI
) -> None:
    data = tmp_path / "data"
    config = pypi_config(fixture_pypi.index_url)
    kept, kept_body = _wheel(fixture_pypi, "alpha", "1.0")
    dropped = [_wheel(fixture_pypi, "alpha", "1.1")[0], _wheel(fixture_pypi, "beta", "1.0")[0]]
    urls = {
        name: f"/pypi/files/{name.split('-')[0]}/{name}" for name in (kept, *dropped)
    }  # fmt: skip
    with PantryProcess(data, config) as server:
        for name in (kept, *dropped):
            assert request(server.url + urls[name]).xcache == "MISS"
        assert request(server.url + urls[kept]).xcache == "HIT"  # used last
    limit_gb = (len(kept_body) + 100) / GB
    result = _pantry_cli("gc", "--data", str(data), "--max-size-gb", f"{limit_gb:.12f}")
    assert result.returncode == 0, result.stderr
    assert "evicted" in result.stdout
    with PantryProcess(data, config) as server:
        assert request(server.url + urls[kept]).xcache == "HIT"
        for name in dropped:
            assert request(server.url + urls[name]).xcache == "MISS"


def test_disk_full__keeps_serving_cached_and_passes_new_files_through(
    tmp_path: Path, fixture_pypi: FixturePyPI
) -> None:
    data = tmp_path / "data"
    config = pypi_config(fixture_pypi.index_url)
    cached, cached_body = _wheel(fixture_pypi, "alpha", "1.0")
    fresh, fresh_body = _wheel(fixture_pypi, "beta", "1.0")
    with PantryProcess(data, config) as server:
        assert request(f"{server.url}/pypi/files/alpha/{cached}").status == 200
    full = "[storage]\nmin_free_gb = 1000000\n" + config  # more than any disk has free
    blobs_before = sorted(p.name for p in (data / "blobs").rglob("*") if p.is_file())
    with PantryProcess(data, full) as server:
        health = orjson.loads(request(server.url + "/-/health").body)
        hit = request(f"{server.url}/pypi/files/alpha/{cached}")
        page = request(f"{server.url}/pypi/simple/beta/")
        first = request(f"{server.url}/pypi/files/beta/{fresh}")
        second = request(f"{server.url}/pypi/files/beta/{fresh}")
        metrics = request(server.url + "/-/metrics").body.decode()
    assert health["storage"]["caching"] is False
    assert "min_free_gb" in health["storage"]["reason"]
    assert (hit.xcache, hit.body) == ("HIT", cached_body)
    assert (page.status, page.xcache) == (200, "MISS")
    assert (first.xcache, second.xcache) == ("MISS", "MISS")  # passed through, not stored
    assert hashlib.sha256(second.body).digest() == hashlib.sha256(fresh_body).digest()
    assert "pantry_caching_paused 1.0" in metrics
    assert sorted(p.name for p in (data / "blobs").rglob("*") if p.is_file()) == blobs_before
    assert "caching paused" in server.log()


def test_disk_full__pass_through_is_still_verified(
    tmp_path: Path, fixture_pypi: FixturePyPI
) -> None:
    full = "[storage]\nmin_free_gb = 1000000\n" + pypi_config(fixture_pypi.index_url)
    name, _ = _wheel(fixture_pypi, "beta", "1.0")
    with PantryProcess(tmp_path / "data", full) as server:
        request(f"{server.url}/pypi/simple/beta/")
        fixture_pypi.set_fault("corrupt", "files")
        with pytest.raises((http.client.IncompleteRead, ConnectionError)):
            request(f"{server.url}/pypi/files/beta/{name}")
