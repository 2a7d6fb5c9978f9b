"""`pantry verify`: a damaged store is found, repaired, and refilled from upstream."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

from fixtures.http import request
from fixtures.pantry_process import PantryProcess, pypi_config
from fixtures.pypi_upstream import FixturePyPI


def _verify(data: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PANTRY_")}
    return subprocess.run(
        [sys.executable, "-m", "pantry", "verify", "--data", str(data), *extra],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )


def _blob_of(data: Path, content: bytes) -> Path:
    sha = hashlib.sha256(content).hexdigest()
    return data / "blobs" / sha[:2] / sha[2:4] / sha


def test_verify__finds_and_repairs_damage(tmp_path: Path, fixture_pypi: FixturePyPI) -> None:
    data = tmp_path / "data"
    config = pypi_config(fixture_pypi.index_url)
    wheels = list(fixture_pypi.catalogue["alpha"].files)
    with PantryProcess(data, config) as server:
        for wheel in wheels:
            url = f"{server.url}/pypi/files/alpha/{wheel.filename}"
            assert request(url).status == 200
    clean = _verify(data)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "0 missing and 0 corrupt" in clean.stdout

    corrupt, missing = (_blob_of(data, w.content) for w in wheels)
    damaged = bytearray(corrupt.read_bytes())
    damaged[100] ^= 0xFF
    corrupt.write_bytes(bytes(damaged))
    missing.unlink()

    found = _verify(data)
    assert found.returncode == 1
    assert f"corrupt  pypi:files/alpha/{wheels[0].filename}" in found.stdout
    assert f"missing  pypi:files/alpha/{wheels[1].filename}" in found.stdout

    repaired = _verify(data, "--repair")
    assert repaired.returncode == 0
    assert not corrupt.exists()
    assert _verify(data).returncode == 0

    with PantryProcess(data, config) as server:
        for wheel in wheels:
            again = request(f"{server.url}/pypi/files/alpha/{wheel.filename}")
            assert (again.xcache, again.body) == ("MISS", wheel.content)
