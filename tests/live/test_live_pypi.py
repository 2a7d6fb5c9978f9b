"""pip -> a real pantry process -> the real public Python package index.

The index's URL is not written here: pip knows it, and the test asks pip at run time. The
test skips, saying why, when the index cannot be reached from this machine. pip itself is cut
off from everything but loopback (no pip settings or config files from this machine, every
proxy variable pointing at a dead loopback port), so whatever it installs came through pantry.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from fixtures.pantry_process import PantryProcess, pypi_config

pytestmark = pytest.mark.live

REACH_TIMEOUT_S = 5
CLIENT_TIMEOUT_S = 120
LOG_WAIT_S = 5.0
DEAD_PROXY = "http://127.0.0.1:9"  # the discard port: nothing listens, every connect fails
PROXY_VARS = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")
# Small projects: a dependency tree (requests -> charset-normalizer, idna, urllib3, certifi)
# and binary wheels (markupsafe, charset-normalizer).
REQUIREMENTS = ("requests", "six", "markupsafe")
IMPORTS = ("requests", "six", "markupsafe", "charset_normalizer", "idna", "urllib3", "certifi")
_ACCESS_LINE = re.compile(
    r'"GET (?P<path>\S+) HTTP/[\d.]+" (?P<status>\d{3}) \S+ \S+ xcache=(?P<xcache>\S+)'
)


def public_index_url() -> str:
    from pip._internal.models.index import PyPI  # noqa: PLC0415 - only where it is needed

    url: str = PyPI.simple_url
    return url


@pytest.fixture
def reachable_index() -> str:
    """The public index's simple URL, or a skip when it cannot be reached without a proxy."""
    url = public_index_url()
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(urllib.request.Request(url, method="HEAD"), timeout=REACH_TIMEOUT_S):
            pass
    except OSError as exc:
        pytest.skip(f"PyPI cannot be reached from this machine: {exc}")
    return url


def cut_off_env() -> dict[str, str]:
    """This process's environment without pip settings, able to reach loopback only."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_"))}
    env.update(
        PIP_CONFIG_FILE=os.devnull,  # pip then reads no config file at all
        PIP_DISABLE_PIP_VERSION_CHECK="1",
        NO_PROXY="127.0.0.1,localhost",
        no_proxy="127.0.0.1,localhost",
    )
    env.update(dict.fromkeys(PROXY_VARS, DEAD_PROXY))
    env.pop("PYTHONPATH", None)
    return env


def pip_install(pantry: PantryProcess, work: Path) -> Path:
    """Install REQUIREMENTS into a fresh target with a fresh pip cache; check the imports."""
    target = work / "target"
    args = [
        sys.executable, "-m", "pip", "install", "--no-input", "--progress-bar", "off",
        "--index-url", f"{pantry.url}/pypi/simple/",
        "--cache-dir", str(work / "pip-cache"),
        "--only-binary", ":all:",  # nothing to build: the point is fetching, not compiling
        "--target", str(target),
        *REQUIREMENTS,
    ]  # fmt: skip
    env = cut_off_env()
    done = subprocess.run(
        args, env=env, capture_output=True, text=True, timeout=CLIENT_TIMEOUT_S, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr + pantry.log()[-4000:]
    env["PYTHONPATH"] = str(target)
    check = subprocess.run(
        [sys.executable, "-c", f"import {', '.join(IMPORTS)}"],
        env=env,
        capture_output=True,
        text=True,
        timeout=CLIENT_TIMEOUT_S,
        check=False,
    )
    assert check.returncode == 0, check.stderr
    return target


def access_log(pantry: PantryProcess, since: int, wheels: int) -> list[tuple[str, int, str]]:
    """(path, status, X-Cache) of requests logged after `since`, once `wheels` wheels are.

    aiohttp logs a request after its response went out, so pip can exit first.
    """
    pantry.settle_log()
    deadline = time.monotonic() + LOG_WAIT_S
    while True:
        entries = [
            (m["path"], int(m["status"]), m["xcache"])
            for m in _ACCESS_LINE.finditer(pantry.log()[since:])
        ]
        if len(wheel_downloads(entries)) >= wheels or time.monotonic() > deadline:
            return entries
        time.sleep(0.05)


def wheel_downloads(entries: list[tuple[str, int, str]]) -> list[tuple[str, int, str]]:
    return [e for e in entries if e[0].startswith("/pypi/files/") and e[0].endswith(".whl")]


def test_pip__installs_through_pantry_then_all_from_cache(
    reachable_index: str, tmp_path: Path
) -> None:
    with PantryProcess(tmp_path / "data", pypi_config(reachable_index)) as pantry:
        started = time.monotonic()
        first = pip_install(pantry, tmp_path / "first")
        first_s = time.monotonic() - started
        installed = sorted(p.name for p in first.iterdir() if p.name.endswith(".dist-info"))
        access_log(pantry, 0, wheels=len(installed))  # the first run is fully logged
        since = pantry.log_mark()
        started = time.monotonic()
        second = pip_install(pantry, tmp_path / "second")
        second_s = time.monotonic() - started
        entries = access_log(pantry, since, wheels=len(installed))

    print(f"first install {first_s:.1f} s, second (all from pantry's cache) {second_s:.1f} s")
    assert sorted(p.name for p in second.iterdir() if p.name.endswith(".dist-info")) == installed
    assert len(wheel_downloads(entries)) == len(installed), entries
    assert {(status, xcache) for _, status, xcache in entries} == {(200, "HIT")}, entries
