"""Real JS clients (npm, pnpm, yarn classic, yarn modern) -> a real pantry -> the fixture registry.

Every client runs as a subprocess cut off from everything but loopback (`fixtures.js_clients`:
no npm, yarn or pnpm settings from this machine, empty config files and HOME, every proxy
setting pointing at a dead loopback port, yarn modern's network switched off except for
loopback) and with a fresh cache on every call, so a passing install proves pantry served it.
The project depends on app-dep 0.5.0 -> @fixture/util 2.0.0 (scoped) -> left-pad-fixture
1.1.0, with 1.0.0 deprecated and 2.0.0-beta.1 under `next` (see `fixtures.npm_packuments`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from fixtures.js_clients import (
    CLIENT_NAMES,
    JsClient,
    installed_versions,
    required_chain,
    reset_project,
    write_project,
)
from fixtures.npm_upstream import FixtureNpm
from fixtures.pantry_process import Access, PantryProcess, npm_config

pytestmark = pytest.mark.e2e

TREE = {"app-dep": "0.5.0", "@fixture/util": "2.0.0", "left-pad-fixture": "1.1.0"}
TARBALLS = ("app-dep-0.5.0.tgz", "util-2.0.0.tgz", "left-pad-fixture-1.1.0.tgz")
AUDIT_PATH = "/npm/-/npm/v1/security/advisories/bulk"
# The lock files that record tarball URLs; pnpm's and yarn modern's record none for packages
# from the configured registry.
RECORDS_URLS = ("npm", "yarn-classic")
_URL = re.compile(r"https?://[^\s\"'#,]+")


@pytest.fixture(params=CLIENT_NAMES)
def client(request: pytest.FixtureRequest, tmp_path: Path) -> JsClient:
    return JsClient(request.param, tmp_path / "client")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return write_project(tmp_path / "project", {"app-dep": "^0.5.0"})


@pytest.fixture
def npm_pantry(fixture_npm: FixtureNpm, tmp_path: Path) -> Iterator[PantryProcess]:
    """pantry proxying the fixture registry as /npm/, metadata fresh for 300 s."""
    with PantryProcess(tmp_path / "data", npm_config(fixture_npm.url)) as server:
        yield server


@pytest.fixture
def npm_pantry_ttl0(fixture_npm: FixtureNpm, tmp_path: Path) -> Iterator[PantryProcess]:
    """Like `npm_pantry`, but metadata is revalidated on every request."""
    with PantryProcess(tmp_path / "data", npm_config(fixture_npm.url, ttl_s=0)) as server:
        yield server


# --- pantry's side ----------------------------------------------------------------------


def registry(pantry: PantryProcess) -> str:
    return f"{pantry.url}/npm/"


def log_mark(pantry: PantryProcess) -> int:
    return pantry.log_mark()


def access_log(pantry: PantryProcess, since: int, expect: Sequence[str] = ()) -> list[Access]:
    return pantry.access_log(since, expect)


def tarballs_served(entries: Sequence[Access]) -> dict[str, list[tuple[int, str]]]:
    """{tarball file name: [(status, X-Cache), ...]} of the tarball requests in `entries`."""
    served: dict[str, list[tuple[int, str]]] = {}
    for entry in entries:
        if entry.is_tarball:
            assert entry.path.startswith("/npm/"), entry
            served.setdefault(entry.path.rsplit("/", 1)[1], []).append((entry.status, entry.xcache))
    return served


def tarball_hits(upstream: FixtureNpm) -> dict[str, int]:
    return {
        name: upstream.hits[upstream.find_version(name, version).tarball_path]
        for name, version in TREE.items()
    }


# --- scenarios --------------------------------------------------------------------------


def test_install__dependency_tree_through_pantry_fetched_once(
    client: JsClient, project: Path, npm_pantry: PantryProcess, fixture_npm: FixtureNpm
) -> None:
    since = log_mark(npm_pantry)

    installed = client.install(project, registry(npm_pantry))

    installed.ok()
    print(f"{client.name}: install through pantry took {installed.seconds:.2f} s")
    assert installed_versions(project, TREE) == TREE
    assert required_chain(project, *TREE) == TREE
    lock = (project / client.lockfile).read_text()
    fixture_port = fixture_npm.url.rstrip("/").rsplit(":", 1)[1]
    assert f":{fixture_port}" not in lock, lock
    urls = _URL.findall(lock)
    assert all(url.startswith(registry(npm_pantry)) for url in urls), urls
    if client.name in RECORDS_URLS:
        tarball_urls = {url.rsplit("/", 1)[1] for url in urls if url.endswith(".tgz")}
        assert tarball_urls == set(TARBALLS), urls
    assert tarball_hits(fixture_npm) == dict.fromkeys(TREE, 1), fixture_npm.hits
    entries = access_log(npm_pantry, since, expect=TARBALLS)
    served = tarballs_served(entries)
    assert served.keys() == set(TARBALLS), entries
    assert all(answer == (200, "MISS") for answers in served.values() for answer in answers)
    assert all(e.status in (200, 304) for e in entries), entries


def test_install__again_with_upstream_down_served_stale(
    client: JsClient, project: Path, npm_pantry_ttl0: PantryProcess, fixture_npm: FixtureNpm
) -> None:
    client.install(project, registry(npm_pantry_ttl0)).ok()
    lock = (project / client.lockfile).read_text()
    fixture_npm.down()
    reset_project(project)
    since = log_mark(npm_pantry_ttl0)

    locked = client.install(project, registry(npm_pantry_ttl0), frozen=True)
    locked.ok()
    assert installed_versions(project, TREE) == TREE
    assert (project / client.lockfile).read_text() == lock
    locked_entries = access_log(npm_pantry_ttl0, since, expect=TARBALLS)
    reset_project(project, keep_lockfile=False)
    since = log_mark(npm_pantry_ttl0)
    unlocked = client.install(project, registry(npm_pantry_ttl0))
    unlocked.ok()
    unlocked_entries = access_log(npm_pantry_ttl0, since, expect=TARBALLS)

    print(
        f"{client.name}: with the upstream down, reinstall from the lock file took "
        f"{locked.seconds:.2f} s, without it {unlocked.seconds:.2f} s"
    )
    assert installed_versions(project, TREE) == TREE
    for entries in (locked_entries, unlocked_entries):
        assert all(e.status == 200 for e in entries), entries
        served = tarballs_served(entries)
        assert served == {tarball: [(200, "HIT")] for tarball in TARBALLS}, entries
        # metadata_ttl_s = 0: every packument is revalidated, which fails, so it is STALE.
        assert {e.xcache for e in entries if not e.is_tarball} <= {"STALE"}, entries
    packuments = {e.path for e in unlocked_entries if not e.is_tarball}
    assert len(packuments) == len(TREE), unlocked_entries


def test_npm__ci_view_ping_search(
    project: Path, npm_pantry: PantryProcess, fixture_npm: FixtureNpm, tmp_path: Path
) -> None:
    npm = JsClient("npm", tmp_path / "client")
    url = registry(npm_pantry)
    npm.install(project, url).ok()
    lock = (project / npm.lockfile).read_text()
    since = log_mark(npm_pantry)

    ci = npm.run(project, url, "ci", "--no-audit", "--no-fund", "--ignore-scripts").ok()
    assert installed_versions(project, TREE) == TREE
    assert (project / npm.lockfile).read_text() == lock
    view = npm.run(project, url, "view", "app-dep", "version").ok()
    assert view.output.strip() == "0.5.0"
    ping = npm.run(project, url, "ping").ok()
    assert "PONG" in ping.output
    search = npm.run(project, url, "search", "fixture").ok()
    assert {"app-dep", "@fixture/util", "left-pad-fixture"} <= set(search.output.split())
    entries = access_log(npm_pantry, since, expect=[*TARBALLS, "/-/ping", "/app-dep"])

    print(f"npm ci {ci.seconds:.2f} s, view {view.seconds:.2f} s, ping {ping.seconds:.2f} s")
    assert tarballs_served(entries) == {tarball: [(200, "HIT")] for tarball in TARBALLS}
    assert tarball_hits(fixture_npm) == dict.fromkeys(TREE, 1), fixture_npm.hits
    assert all(e.status == 200 for e in entries), entries
    assert fixture_npm.hits["/-/ping"] == 1
    assert fixture_npm.hits["/-/v1/search"] == 1


def test_npm__audit_passed_through_and_install_survives_upstream_down(
    project: Path, npm_pantry: PantryProcess, fixture_npm: FixtureNpm, tmp_path: Path
) -> None:
    npm = JsClient("npm", tmp_path / "client")
    url = registry(npm_pantry)
    since = log_mark(npm_pantry)

    installed = npm.install(project, url, audit=True).ok()
    audit = npm.run(project, url, "audit")
    entries = access_log(npm_pantry, since, expect=[*TARBALLS, AUDIT_PATH])

    # npm sends the bulk advisory request gzip'd (Content-Encoding: gzip).
    audits = [(e.method, e.status) for e in entries if e.path == AUDIT_PATH]
    assert audits == [("POST", 200)] * 2, pantry_tail(npm_pantry)
    assert fixture_npm.hits["/-/npm/v1/security/advisories/bulk"] == 2
    assert "found 0 vulnerabilities" in installed.output
    audit.ok()
    assert "found 0 vulnerabilities" in audit.output

    fixture_npm.down()
    reset_project(project, keep_lockfile=False)
    since = log_mark(npm_pantry)
    upstream_down = npm.install(project, url, audit=True)
    upstream_down.ok()
    assert installed_versions(project, TREE) == TREE
    failed = [e for e in access_log(npm_pantry, since, expect=[AUDIT_PATH]) if e.path == AUDIT_PATH]
    assert failed, pantry_tail(npm_pantry)
    assert all(e.status >= 500 for e in failed), failed


def test_install__offline_pantry_serves_what_was_fetched(
    client: JsClient, project: Path, fixture_npm: FixtureNpm, tmp_path: Path
) -> None:
    data, config = tmp_path / "data", npm_config(fixture_npm.url)
    with PantryProcess(data, config) as online:
        client.install(project, registry(online)).ok()
    fixture_npm.down()
    fixture_npm.reset_hits()
    reset_project(project, keep_lockfile=False)

    with PantryProcess(data, config, offline=True) as offline:
        since = log_mark(offline)
        again = client.install(project, registry(offline))
        entries = access_log(offline, since, expect=TARBALLS)

    again.ok()
    assert installed_versions(project, TREE) == TREE
    assert tarballs_served(entries) == {tarball: [(200, "HIT")] for tarball in TARBALLS}
    assert {(e.status, e.xcache) for e in entries} == {(200, "HIT")}, entries
    assert not fixture_npm.hits


def pantry_tail(pantry: PantryProcess) -> str:
    return pantry.log()[-4000:]
