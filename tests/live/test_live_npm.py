"""npm -> a real pantry process -> the real npm registry this machine's npm is configured for.

The registry's URL is not written here: the test asks npm at run time (`npm config get
registry`, with no npm settings from the environment and an empty user config, so the
machine-wide or built-in default answers). The test skips, saying why, when that registry
cannot be reached from this machine. npm itself is cut off from everything but loopback
(`fixtures.js_clients`), so whatever it installs came through pantry.
"""

from __future__ import annotations

import ipaddress
import os
import re
import shutil
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from fixtures.js_clients import JsClient, installed_versions, reset_project, write_project
from fixtures.pantry_process import PantryProcess

pytestmark = pytest.mark.live

REACH_TIMEOUT_S = 5
CONFIG_TIMEOUT_S = 30
LOG_WAIT_S = 5.0
# Small packages with dependencies, one scoped: chalk 4 -> ansi-styles -> color-convert ->
# color-name and supports-color -> has-flag; @types/node -> undici-types (and a packument
# of several megabytes).
DEPENDENCIES = {"is-number": "^7.0.0", "chalk": "^4.1.2", "@types/node": "^20.0.0"}
TRANSITIVE = ("ansi-styles", "color-convert", "color-name", "supports-color", "has-flag")
_ACCESS_LINE = re.compile(
    r'"GET (?P<path>/npm/\S+) HTTP/[\d.]+" (?P<status>\d{3}) \S+ \S+ xcache=(?P<xcache>\S+)'
)


def discover_registry(work: Path) -> str:
    """npm's configured registry, as npm reports it with no npm settings from this process."""
    npm = shutil.which("npm")
    if npm is None:
        pytest.skip("npm is not on PATH")
    empty = work / "empty.npmrc"
    empty.write_text("")
    env = {k: v for k, v in os.environ.items() if not k.lower().startswith("npm_config_")}
    env["npm_config_userconfig"] = str(empty)
    done = subprocess.run(
        [npm, "config", "get", "registry"],
        env=env,
        capture_output=True,
        text=True,
        timeout=CONFIG_TIMEOUT_S,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    url = done.stdout.strip()
    assert done.returncode == 0, done.stderr
    assert url.startswith(("http://", "https://")), url
    return url if url.endswith("/") else url + "/"


def is_loopback(url: str) -> bool:
    host = urllib.parse.urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@pytest.fixture
def reachable_registry(tmp_path: Path) -> str:
    """The discovered registry URL, or a skip when it cannot be reached without a proxy."""
    url = discover_registry(tmp_path)
    if is_loopback(url):
        pytest.skip(f"npm's registry is on this machine ({url}), maybe a pantry: no loop")
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url + "-/ping", timeout=REACH_TIMEOUT_S):
            pass
    except urllib.error.HTTPError:
        pass  # it answered
    except OSError as exc:
        pytest.skip(f"the npm registry cannot be reached from this machine: {exc}")
    return url


@pytest.fixture
def live_pantry(reachable_registry: str, tmp_path: Path) -> Iterator[PantryProcess]:
    config = f'[repositories.npm]\ntype = "npm"\nupstream = "{reachable_registry}"\n'
    with PantryProcess(tmp_path / "data", config) as server:
        yield server


def access_log(pantry: PantryProcess, since: int, tarballs: int) -> list[tuple[str, int, str]]:
    """(path, status, X-Cache) of GETs logged after `since`, once `tarballs` tarballs are.

    aiohttp logs a request after its response went out, so npm can exit first.
    """
    pantry.settle_log()
    deadline = time.monotonic() + LOG_WAIT_S
    while True:
        entries = [
            (m["path"], int(m["status"]), m["xcache"])
            for m in _ACCESS_LINE.finditer(pantry.log()[since:])
        ]
        done = sum(path.endswith(".tgz") for path, _, _ in entries) >= tarballs
        if done or time.monotonic() > deadline:
            return entries
        time.sleep(0.05)


def test_npm__installs_through_pantry_then_all_from_cache(
    live_pantry: PantryProcess, tmp_path: Path
) -> None:
    npm = JsClient("npm", tmp_path / "client")
    project = write_project(tmp_path / "project", DEPENDENCIES)
    registry = f"{live_pantry.url}/npm/"

    first = npm.install(project, registry).ok()
    names = [*DEPENDENCIES, *TRANSITIVE, "undici-types"]  # one tarball each
    versions = installed_versions(project, names)
    assert versions.keys() == set(names), versions
    first_entries = access_log(live_pantry, 0, len(names))
    reset_project(project, keep_lockfile=False)
    since = live_pantry.log_mark()
    second = npm.install(project, registry).ok()
    entries = access_log(live_pantry, since, len(names))

    print(f"first install {first.seconds:.1f} s, second (all from pantry) {second.seconds:.1f} s")
    assert installed_versions(project, names) == versions
    assert {xcache for path, _, xcache in first_entries if path.endswith(".tgz")} == {"MISS"}
    downloads = [e for e in entries if e[0].endswith(".tgz")]
    assert len(downloads) == len(names), entries
    assert {(status, xcache) for _, status, xcache in entries} == {(200, "HIT")}, entries
