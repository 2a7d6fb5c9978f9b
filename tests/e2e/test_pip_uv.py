"""Real clients (pip, uv, zc.buildout) -> a real pantry process -> the fixture PyPI upstream.

Every client runs as a subprocess cut off from everything but loopback: no `PIP_*` or `UV_*`
settings and no config files from this machine, and every proxy variable pointing at a dead
loopback port with only 127.0.0.1 exempt. A download that went anywhere but pantry would
fail, so a passing install proves pantry served it. Each install gets a fresh target (or
virtualenv) and a fresh client cache, so the client never answers from its own cache.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from itertools import count
from pathlib import Path
from typing import Protocol

import pytest
from uv import find_uv_bin

from fixtures.pantry_process import Access, PantryProcess, pypi_config
from fixtures.pypi_upstream import FixturePyPI

pytestmark = pytest.mark.e2e

CLIENT_TIMEOUT_S = 120
DEAD_PROXY = "http://127.0.0.1:9"  # the discard port: nothing listens, every connect fails
PROXY_VARS = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")
TREE = {"alpha": "1.1", "beta": "1.0", "gamma": "1.0"}  # alpha 1.1 -> beta -> gamma 1.0
TREE_WHEELS = tuple(f"{name}-{version}-py3-none-any.whl" for name, version in TREE.items())
YANKED_WHEEL = "gamma-0.9-py3-none-any.whl"
DELTA_WHEEL = "delta_pkg-2.0-py3-none-any.whl"
DELTA_SDIST = "delta_pkg-2.0.tar.gz"
JSON_V1 = "application/vnd.pypi.simple.v1+json"

# Prints {module: [__version__, __file__]} for the modules named on the command line.
_IMPORT_SCRIPT = (
    "import importlib, json, sys\n"
    "mods = {n: importlib.import_module(n) for n in sys.argv[1:]}\n"
    "print(json.dumps({n: [m.__version__, m.__file__] for n, m in mods.items()}))\n"
)


# --- isolation --------------------------------------------------------------------------


def cut_off_env(**extra: str) -> dict[str, str]:
    """This process's environment without any pip or uv settings, able to reach loopback only."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_"))}
    env.update(
        PIP_CONFIG_FILE=os.devnull,  # pip then reads no config file at all
        PIP_DISABLE_PIP_VERSION_CHECK="1",
        UV_NO_CONFIG="1",
        UV_PYTHON_DOWNLOADS="never",
        NO_PROXY="127.0.0.1,localhost",
        no_proxy="127.0.0.1,localhost",
    )
    env.update(dict.fromkeys(PROXY_VARS, DEAD_PROXY))
    env.update(extra)
    return env


def run(args: Sequence[str | Path], env: dict[str, str], cwd: Path | None = None) -> Finished:
    started = time.monotonic()
    done = subprocess.run(
        [str(a) for a in args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=CLIENT_TIMEOUT_S,
        check=False,
    )
    return Finished(done.returncode, done.stdout + done.stderr, time.monotonic() - started)


@dataclass(frozen=True)
class Finished:
    returncode: int
    output: str
    seconds: float

    def ok(self) -> Finished:
        assert self.returncode == 0, self.output
        return self


# --- clients ----------------------------------------------------------------------------


@dataclass
class Installed:
    """What one install left behind: where, and how to run Python against it."""

    finished: Finished
    root: Path
    python: Path
    pythonpath: Path | None = None

    def versions(self, *modules: str) -> dict[str, str]:
        """Import `modules` from this install in a fresh interpreter; their `__version__`s."""
        env = cut_off_env()
        env.pop("PYTHONPATH", None)
        if self.pythonpath is not None:
            env["PYTHONPATH"] = str(self.pythonpath)
        found = run([self.python, "-c", _IMPORT_SCRIPT, *modules], env).ok()
        imported: dict[str, list[str]] = json.loads(found.output)
        for name, (_, path) in imported.items():
            assert Path(path).is_relative_to(self.root), f"{name} imported from {path}"
        return {name: version for name, (version, _) in imported.items()}


class Client(Protocol):
    name: str

    def install(self, index_url: str, *requirements: str) -> Installed:
        """Install into a fresh place with a fresh client cache; the run may fail."""
        ...


@dataclass
class Pip:
    """The project venv's pip, installing with `--target` into a fresh directory."""

    work: Path
    name: str = "pip"
    _n: Iterator[int] = field(default_factory=count)

    def install(self, index_url: str, *requirements: str) -> Installed:
        n = next(self._n)
        target = self.work / f"pip-target-{n}"
        finished = run(
            [
                sys.executable, "-m", "pip", "install", "--no-input", "--progress-bar", "off",
                "--index-url", index_url,
                "--cache-dir", self.work / f"pip-cache-{n}",
                "--target", target,
                *requirements,
            ],
            cut_off_env(),
        )  # fmt: skip
        assert "Looking in links" not in finished.output, "this machine's find-links leaked in"
        return Installed(finished, target, Path(sys.executable), pythonpath=target)

    def download_sdist(self, index_url: str, requirement: str) -> tuple[Finished, Path]:
        """`pip download` the sdist only; preparing its metadata uses this venv's setuptools."""
        dest = self.work / f"pip-download-{next(self._n)}"
        finished = run(
            [
                sys.executable, "-m", "pip", "download", "--no-input", "--progress-bar", "off",
                "--index-url", index_url,
                "--no-cache-dir", "--no-deps", "--no-binary", ":all:", "--no-build-isolation",
                "--dest", dest,
                requirement,
            ],
            cut_off_env(),
        )  # fmt: skip
        return finished, dest


@dataclass
class Uv:
    """uv, installing into a fresh virtualenv (made by `uv venv`) with a fresh cache."""

    work: Path
    name: str = "uv"
    _n: Iterator[int] = field(default_factory=count)

    def install(self, index_url: str, *requirements: str) -> Installed:
        n = next(self._n)
        venv = self.work / f"uv-venv-{n}"
        env = cut_off_env(UV_CACHE_DIR=str(self.work / f"uv-cache-{n}"))
        uv = find_uv_bin()
        run([uv, "venv", "--quiet", "--python", sys.executable, venv], env).ok()
        python = venv / "bin" / "python"
        finished = run(
            [uv, "pip", "install", "--python", python, "--index-url", index_url, *requirements],
            env,
        )
        return Installed(finished, venv, python)


@pytest.fixture(params=["pip", "uv"])
def client(request: pytest.FixtureRequest, tmp_path: Path) -> Client:
    work = tmp_path / "client"
    work.mkdir()
    return Pip(work) if request.param == "pip" else Uv(work)


# --- pantry's side ----------------------------------------------------------------------


def index_url(pantry: PantryProcess) -> str:
    return f"{pantry.url}/pypi/simple/"


def log_mark(pantry: PantryProcess) -> int:
    return pantry.log_mark()


def access_log(pantry: PantryProcess, since: int, expect: Sequence[str] = ()) -> list[Access]:
    return pantry.access_log(since, expect)


def served(entries: Sequence[Access], filename: str) -> list[Access]:
    return [e for e in entries if e.path.startswith("/pypi/files/") and e.filename == filename]


def upstream_downloads(upstream: FixturePyPI, filename: str) -> int:
    return upstream.hits[upstream.find_file(filename).path]


# --- scenarios --------------------------------------------------------------------------


def test_install__dependency_tree_through_pantry_fetched_once(
    client: Client, pantry: PantryProcess, fixture_pypi: FixturePyPI
) -> None:
    since = log_mark(pantry)
    installed = client.install(index_url(pantry), "alpha")

    installed.finished.ok()
    assert installed.versions(*TREE) == TREE  # gamma 1.0, not the yanked 0.9
    entries = access_log(pantry, since, expect=TREE_WHEELS)
    for wheel in TREE_WHEELS:
        answers = served(entries, wheel)
        assert answers, f"{wheel} not served by pantry:\n{pantry.log()[since:]}"
        assert all(a.status == 200 and a.xcache in ("MISS", "HIT") for a in answers), answers
        assert upstream_downloads(fixture_pypi, wheel) == 1, fixture_pypi.hits
        metadata = fixture_pypi.find_file(wheel).path + ".metadata"
        assert fixture_pypi.hits[metadata] <= 1, fixture_pypi.hits
    assert not served(entries, YANKED_WHEEL)
    assert upstream_downloads(fixture_pypi, YANKED_WHEEL) == 0


def test_install__again_with_upstream_down_served_stale(
    client: Client, pantry_ttl0: PantryProcess, fixture_pypi: FixturePyPI
) -> None:
    client.install(index_url(pantry_ttl0), "alpha").finished.ok()
    fixture_pypi.down()
    since = log_mark(pantry_ttl0)

    again = client.install(index_url(pantry_ttl0), "alpha")

    again.finished.ok()
    print(f"{client.name}: reinstall with the upstream down took {again.finished.seconds:.2f} s")
    assert again.versions(*TREE) == TREE
    entries = access_log(pantry_ttl0, since, expect=TREE_WHEELS)
    pages = [e for e in entries if e.path.startswith("/pypi/simple/")]
    assert {e.path for e in pages} >= {f"/pypi/simple/{name}/" for name in TREE}
    assert {e.xcache for e in pages} == {"STALE"}  # metadata_ttl_s = 0: revalidation failed
    assert all(e.status == 200 for e in entries), entries
    for wheel in TREE_WHEELS:
        assert [a.xcache for a in served(entries, wheel)] == ["HIT"]


def test_install__hanging_upstream_costs_one_timeout_per_build(
    client: Client, pantry_ttl0: PantryProcess, fixture_pypi: FixturePyPI
) -> None:
    client.install(index_url(pantry_ttl0), "alpha").finished.ok()
    fixture_pypi.set_fault("hang")  # accepts connections, never answers
    since = log_mark(pantry_ttl0)

    again = client.install(index_url(pantry_ttl0), "alpha")

    again.finished.ok()
    print(f"{client.name}: reinstall with the upstream hanging took {again.finished.seconds:.2f} s")
    assert again.versions(*TREE) == TREE
    entries = access_log(pantry_ttl0, since, expect=TREE_WHEELS)
    assert {e.xcache for e in entries if e.path.startswith("/pypi/simple/")} == {"STALE"}
    log = pantry_ttl0.log()[since:]
    # The first revalidation waits for the timeout; the breaker answers the rest at once.
    assert log.count("upstream timed out") == 1, log
    assert "marked down after recent failures" in log
    fixture_pypi.set_fault("ok")


def test_install__offline_pantry_serves_what_was_fetched(
    client: Client, fixture_pypi: FixturePyPI, tmp_path: Path
) -> None:
    data, config = tmp_path / "data", pypi_config(fixture_pypi.index_url)
    with PantryProcess(data, config) as online:
        client.install(index_url(online), "alpha").finished.ok()
    fixture_pypi.down()
    fixture_pypi.reset_hits()

    with PantryProcess(data, config, offline=True) as offline:
        since = log_mark(offline)
        again = client.install(index_url(offline), "alpha")
        never_fetched = client.install(index_url(offline), "Delta_Pkg")
        entries = access_log(offline, since, expect=[*TREE_WHEELS, "/delta-pkg"])

    again.finished.ok()
    assert again.versions(*TREE) == TREE
    for wheel in TREE_WHEELS:
        assert [a.status for a in served(entries, wheel)] == [200]
    assert never_fetched.finished.returncode != 0
    assert "Traceback" not in never_fetched.finished.output
    assert re.search(r"delta[-_]pkg", never_fetched.finished.output, re.IGNORECASE)
    delta_pages = [e for e in entries if e.path == "/pypi/simple/delta-pkg/"]
    assert delta_pages, entries
    assert {(e.status, e.xcache) for e in delta_pages} == {(404, "OFFLINE")}
    assert {e.xcache for e in entries if e not in delta_pages} == {"HIT"}
    assert not fixture_pypi.hits


def test_pip__non_normalised_name_and_sdist_download(
    pantry: PantryProcess, fixture_pypi: FixturePyPI, tmp_path: Path
) -> None:
    pip = Pip(tmp_path)
    installed = pip.install(index_url(pantry), "Delta_Pkg")
    downloaded, dest = pip.download_sdist(index_url(pantry), "Delta_Pkg")

    installed.finished.ok()
    assert installed.versions("delta_pkg") == {"delta_pkg": "2.0"}
    downloaded.ok()
    assert [p.name for p in dest.iterdir()] == [DELTA_SDIST]
    digest = hashlib.sha256((dest / DELTA_SDIST).read_bytes()).hexdigest()
    assert digest == fixture_pypi.find_file(DELTA_SDIST).sha256
    entries = access_log(pantry, 0, expect=[DELTA_WHEEL, DELTA_SDIST])
    assert [a.status for a in served(entries, DELTA_SDIST)] == [200]
    assert upstream_downloads(fixture_pypi, DELTA_SDIST) == 1


def test_uv__non_normalised_name_and_sdist_listed(
    pantry: PantryProcess, fixture_pypi: FixturePyPI, tmp_path: Path
) -> None:
    installed = Uv(tmp_path).install(index_url(pantry), "Delta_Pkg")

    installed.finished.ok()
    assert installed.versions("delta_pkg") == {"delta_pkg": "2.0"}
    page_url = index_url(pantry) + "delta-pkg/"
    with urllib.request.urlopen(
        urllib.request.Request(page_url, headers={"Accept": JSON_V1}), timeout=30
    ) as answer:
        page = json.load(answer)
    sdist = next(f for f in page["files"] if f["filename"] == DELTA_SDIST)
    with urllib.request.urlopen(urllib.parse.urljoin(page_url, sdist["url"]), timeout=30) as got:
        body = got.read()
    expected = fixture_pypi.find_file(DELTA_SDIST).sha256
    assert sdist["hashes"]["sha256"] == hashlib.sha256(body).hexdigest() == expected


def test_buildout__extension_eggs_through_pantry(
    pantry: PantryProcess, fixture_pypi: FixturePyPI, tmp_path: Path
) -> None:
    # The fixture has no recipe egg (zc.recipe.egg), so no part can be installed. Extensions
    # are installed by the same code as recipe eggs (zc.buildout.easy_install.install, with
    # the configured index and allow-hosts): `extensions = alpha` makes buildout fetch alpha
    # and its dependencies through its own PEP 503 page scraper. alpha has no extension entry
    # point, so nothing is loaded afterwards.
    work, downloads = tmp_path / "buildout", tmp_path / "buildout-downloads"
    work.mkdir()
    downloads.mkdir()
    (work / "buildout.cfg").write_text(
        "[buildout]\n"
        "parts =\n"
        "extensions = alpha\n"
        f"index = {index_url(pantry)}\n"
        "allow-hosts = 127.0.0.1:*\n"  # buildout matches host:port against these patterns
        "newest = false\n"  # no check for a newer zc.buildout
        f"download-cache = {downloads}\n"
    )
    env = cut_off_env(HOME=str(work), PIP_NO_CACHE_DIR="1")  # no ~/.buildout/default.cfg
    buildout = Path(sys.executable).with_name("buildout")

    finished = run([buildout, "-c", work / "buildout.cfg"], env, cwd=work)

    finished.ok()
    eggs = {egg.name.split("-")[0]: egg for egg in (work / "eggs").rglob("*.egg")}
    assert {name: egg.name.split("-")[1] for name, egg in eggs.items()} == TREE
    for name, version in TREE.items():
        installed = Installed(finished, eggs[name], Path(sys.executable), pythonpath=eggs[name])
        assert installed.versions(name) == {name: version}
    for wheel in TREE_WHEELS:
        saved = hashlib.sha256((downloads / "dist" / wheel).read_bytes()).hexdigest()
        assert saved == fixture_pypi.find_file(wheel).sha256
    entries = access_log(pantry, 0, expect=TREE_WHEELS)
    for wheel in TREE_WHEELS:
        assert [a.status for a in served(entries, wheel)] == [200]
        assert upstream_downloads(fixture_pypi, wheel) == 1
