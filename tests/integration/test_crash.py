"""SIGKILL in the middle of a download: the store comes back consistent."""

from __future__ import annotations

import http.client
import subprocess
import sys
import threading
import time
from pathlib import Path

from fixtures.http import request
from fixtures.pantry_process import PantryProcess, pypi_config
from fixtures.pypi_upstream import FixturePyPI


def test_sigkill_mid_download__no_partial_blob_and_clean_restart(
    tmp_path: Path, fixture_pypi: FixturePyPI
) -> None:
    data = tmp_path / "data"
    config = pypi_config(fixture_pypi.index_url)
    wheel = next(f for f in fixture_pypi.catalogue["alpha"].files if f.version == "1.1")
    server = PantryProcess(data, config)
    server.start()
    url = f"{server.url}/pypi/files/alpha/{wheel.filename}"
    try:
        assert request(server.url + "/pypi/simple/alpha/").status == 200
        fixture_pypi.set_fault("slow", "files")
        outcome: list[object] = []

        def download() -> None:
            try:
                outcome.append(request(url, timeout=10))
            except (http.client.HTTPException, OSError) as exc:
                outcome.append(exc)

        client = threading.Thread(target=download)
        client.start()
        deadline = time.monotonic() + 10
        while not any((data / "tmp").iterdir()) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert any((data / "tmp").iterdir()), "the download never started"
        time.sleep(0.3)  # some bytes are in the temp file, not all
        server.kill()
        client.join(timeout=15)
    finally:
        server.kill()
    assert len(outcome) == 1
    got = outcome[0]
    # The client saw the connection die, never a complete body.
    assert isinstance(got, http.client.HTTPException | OSError), got
    assert list((data / "tmp").iterdir())  # the crash left its temp file ...

    fixture_pypi.set_fault("ok", "files")
    with PantryProcess(data, config) as again:
        assert not list((data / "tmp").iterdir())  # ... which start-up removed
        answer = request(f"{again.url}/pypi/files/alpha/{wheel.filename}")
    assert (answer.xcache, answer.body) == ("MISS", wheel.content)
    check = subprocess.run(
        [sys.executable, "-m", "pantry", "verify", "--data", str(data)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert check.returncode == 0, check.stdout  # index and blobs agree
