"""``[server] workers``: several processes on one port and one store, supervised."""

from __future__ import annotations

import os
import re
import signal
import time
from pathlib import Path
from urllib.parse import urlsplit

from fixtures.http import request
from fixtures.pantry_process import PantryProcess, pypi_config
from fixtures.pypi_upstream import FixturePyPI

_WORKER_LINE = re.compile(r"listening on .* worker=(\d+) pid=(\d+)")


def _workers(server: PantryProcess, count: int, timeout_s: float = 10.0) -> dict[int, int]:
    """Worker number -> pid, from the newest start-up line of each, once all are up."""
    deadline = time.monotonic() + timeout_s
    while True:
        found = {int(n): int(pid) for n, pid in _WORKER_LINE.findall(server.log())}
        if len(found) == count or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _requests_counted(server: PantryProcess) -> float:
    text = request(server.url + "/-/metrics").body.decode()
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("pantry_requests_total{") and 'repository="pypi"' in line
    )


def test_workers__share_store_metrics_and_restart(
    tmp_path: Path, fixture_pypi: FixturePyPI
) -> None:
    config = "[server]\nworkers = 2\n" + pypi_config(fixture_pypi.index_url)
    wheel = next(f for f in fixture_pypi.catalogue["alpha"].files if f.version == "1.1")
    file_path = urlsplit(fixture_pypi.file_url(wheel.filename)).path
    with PantryProcess(tmp_path / "data", config) as server:
        pids = _workers(server, 2)
        assert sorted(pids) == [0, 1]
        assert all(_alive(pid) for pid in pids.values())

        # Each request on a new connection: the kernel spreads them over both workers,
        # and whichever answers finds what the other stored.
        page = [request(server.url + "/pypi/simple/alpha/") for _ in range(10)]
        files = [request(f"{server.url}/pypi/files/alpha/{wheel.filename}") for _ in range(10)]
        assert {r.status for r in page + files} == {200}
        assert all(r.body == wheel.content for r in files)
        assert fixture_pypi.hits[file_path] == 1

        time.sleep(1.5)  # each worker folds its counts into the shared files every second
        assert _requests_counted(server) == 20

        # A worker that dies is replaced; the port keeps answering meanwhile.
        os.kill(pids[1], signal.SIGKILL)
        assert request(server.url + "/pypi/simple/alpha/").status == 200
        deadline = time.monotonic() + 10
        while _workers(server, 2)[1] == pids[1] and time.monotonic() < deadline:
            time.sleep(0.05)
        replaced = _workers(server, 2)
        assert replaced[1] != pids[1]
        assert _alive(replaced[1])
        assert "worker 1 (pid" in server.log()

    # Stopping the parent stops every worker.
    assert not any(_alive(pid) for pid in replaced.values())
