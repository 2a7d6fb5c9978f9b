"""A really full disk (a 1 MB tmpfs as the data dir): pantry keeps serving, says why."""

from __future__ import annotations

import hashlib
import http.client
import os
import subprocess
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import orjson
import pytest

from fixtures.http import request
from fixtures.pantry_process import PantryProcess, pypi_config
from fixtures.pypi_pages import Project, wheel_file
from fixtures.pypi_upstream import FixturePyPI, default_catalogue
from fixtures.wheels import make_wheel


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "tiny"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)],
        capture_output=True,
        check=False,
        timeout=30,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False, timeout=30)


@pytest.fixture
def upstream_with_big_file() -> Iterator[FixturePyPI]:
    catalogue = default_catalogue()
    filename, content = make_wheel("big", "1.0", files={"big/blob.bin": os.urandom(3 * 2**20)})
    catalogue["big"] = Project("big", (replace(wheel_file("big", "1.0"), filename=filename,
                                               content=content),))  # fmt: skip
    with FixturePyPI(catalogue) as upstream:
        yield upstream


def test_enospc__download_fails_cleanly_then_passes_through(
    tiny_disk: Path, upstream_with_big_file: FixturePyPI
) -> None:
    upstream = upstream_with_big_file
    big = upstream.catalogue["big"].files[0]
    small = next(f for f in upstream.catalogue["alpha"].files if f.version == "1.0")
    config = "[storage]\nmin_free_gb = 0\n" + pypi_config(upstream.index_url)
    with PantryProcess(tiny_disk / "data", config) as server:
        assert request(f"{server.url}/pypi/files/alpha/{small.filename}").status == 200
        big_url = f"{server.url}/pypi/files/big/{big.filename}"
        try:
            first = request(big_url)
            assert first.body != big.content  # never a complete body from a failed write
        except (http.client.IncompleteRead, ConnectionError):
            pass
        health = orjson.loads(request(server.url + "/-/health").body)
        second = request(big_url)
        cached = request(f"{server.url}/pypi/files/alpha/{small.filename}")
    assert health["storage"]["caching"] is False
    assert "No space left" in health["storage"]["reason"]
    assert second.status == 200
    assert hashlib.sha256(second.body).hexdigest() == big.sha256  # passed through, verified
    assert (cached.xcache, cached.body) == ("HIT", small.content)
    assert not list((tiny_disk / "data" / "tmp").iterdir())  # the failed temp file is gone
