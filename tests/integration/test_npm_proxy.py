"""A real pantry process in front of the fixture npm registry: packuments, tarballs, faults."""

from __future__ import annotations

import hashlib
import http.client
import threading
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from fixtures.http import request
from fixtures.npm_upstream import FixtureNpm
from fixtures.pantry_process import PantryProcess

ABBREVIATED = "application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8, */*"


def _config(upstream: str, ttl_s: float = 300) -> str:
    return (
        "[upstream]\nconnect_timeout_s = 2\nread_timeout_s = 5\nmetadata_timeout_s = 3\n"
        f'[repositories.npm]\ntype = "npm"\nupstream = "{upstream}"\nmetadata_ttl_s = {ttl_s}\n'
    )


@pytest.fixture
def npm_pantry(fixture_npm: FixtureNpm, tmp_path: Path) -> Iterator[PantryProcess]:
    with PantryProcess(tmp_path / "data", _config(fixture_npm.url)) as server:
        yield server


@pytest.fixture
def npm_pantry_ttl0(fixture_npm: FixtureNpm, tmp_path: Path) -> Iterator[PantryProcess]:
    with PantryProcess(tmp_path / "data", _config(fixture_npm.url, ttl_s=0)) as server:
        yield server


def _packument(pantry: PantryProcess, name: str, accept: str = ABBREVIATED) -> dict[str, object]:
    answer = request(f"{pantry.url}/npm/{name}", headers={"Accept": accept})
    assert answer.status == 200, answer.body
    document: dict[str, object] = orjson.loads(answer.body)
    return document


def _tarballs(document: dict[str, object]) -> list[str]:
    versions = document["versions"]
    assert isinstance(versions, dict)
    return [v["dist"]["tarball"] for v in versions.values()]


def test_packument__tarballs_point_at_the_host_the_client_used(
    npm_pantry: PantryProcess,
) -> None:
    answer = request(
        npm_pantry.url + "/npm/left-pad-fixture",
        headers={"Accept": ABBREVIATED, "Host": "pantry.example:8080"},
    )
    assert answer.headers["content-type"].startswith("application/vnd.npm.install-v1+json")
    urls = _tarballs(orjson.loads(answer.body))
    assert urls
    assert all(u.startswith("http://pantry.example:8080/npm/left-pad-fixture/-/") for u in urls)
    local = _tarballs(_packument(npm_pantry, "left-pad-fixture"))
    assert all(u.startswith(npm_pantry.url + "/npm/") for u in local)


def test_packument__full_and_abbreviated_are_separate_variants(
    npm_pantry: PantryProcess, fixture_npm: FixtureNpm
) -> None:
    abbreviated = _packument(npm_pantry, "left-pad-fixture")
    full = _packument(npm_pantry, "left-pad-fixture", accept="application/json")
    assert "time" in full
    assert "time" not in abbreviated
    again = request(npm_pantry.url + "/npm/left-pad-fixture", headers={"Accept": ABBREVIATED})
    assert again.xcache == "HIT"
    assert fixture_npm.hits["/left-pad-fixture"] == 2  # one upstream fetch per variant


@pytest.mark.parametrize("spelling", ["@fixture/util", "@fixture%2futil", "@fixture%2Futil"])
def test_packument__scoped_names_in_both_spellings(
    npm_pantry: PantryProcess, spelling: str
) -> None:
    document = _packument(npm_pantry, spelling)
    assert document["name"] == "@fixture/util"
    assert all(u.startswith(npm_pantry.url + "/npm/@fixture/util/-/") for u in _tarballs(document))


def test_packument__unknown_package_is_404(npm_pantry: PantryProcess) -> None:
    assert request(npm_pantry.url + "/npm/no-such-package-fixture").status == 404


def test_tarball__verified_cached_and_fetched_once(
    npm_pantry: PantryProcess, fixture_npm: FixtureNpm
) -> None:
    version = fixture_npm.find_version("@fixture/util", "2.0.0")
    url = _tarballs(_packument(npm_pantry, "@fixture/util"))[0]
    first, second = request(url), request(url)
    assert (first.xcache, second.xcache) == ("MISS", "HIT")
    assert first.body == second.body == version.tarball
    assert sum(n for path, n in fixture_npm.hits.items() if path.endswith(".tgz")) == 1


def test_tarball__without_packument_first_looks_it_up(
    npm_pantry: PantryProcess, fixture_npm: FixtureNpm
) -> None:
    version = fixture_npm.find_version("left-pad-fixture", "1.1.0")
    answer = request(npm_pantry.url + "/npm/left-pad-fixture/-/left-pad-fixture-1.1.0.tgz")
    assert (answer.status, answer.body) == (200, version.tarball)


def test_tarball__not_in_packument_is_404(npm_pantry: PantryProcess) -> None:
    answer = request(npm_pantry.url + "/npm/left-pad-fixture/-/left-pad-fixture-9.9.9.tgz")
    assert answer.status == 404


def test_tarball__corrupt_upstream_never_delivered_complete_nor_cached(
    npm_pantry: PantryProcess, fixture_npm: FixtureNpm
) -> None:
    version = fixture_npm.find_version("left-pad-fixture", "1.1.0")
    url = npm_pantry.url + "/npm/left-pad-fixture/-/left-pad-fixture-1.1.0.tgz"
    _packument(npm_pantry, "left-pad-fixture")
    fixture_npm.set_fault("corrupt")
    with pytest.raises((http.client.IncompleteRead, ConnectionError)):
        request(url)
    fixture_npm.set_fault("ok")
    good = request(url)
    assert (good.xcache, good.body) == ("MISS", version.tarball)


def test_tarball__concurrent_misses_share_one_download(
    npm_pantry: PantryProcess, fixture_npm: FixtureNpm
) -> None:
    version = fixture_npm.find_version("app-dep", "0.5.0")
    url = _tarballs(_packument(npm_pantry, "app-dep"))[0]
    fixture_npm.set_fault("slow")
    fixture_npm.reset_hits()
    digests: list[str] = []

    def fetch() -> None:
        digests.append(hashlib.sha512(request(url).body).hexdigest())

    threads = [threading.Thread(target=fetch) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert digests == [hashlib.sha512(version.tarball).hexdigest()] * 10
    assert sum(n for path, n in fixture_npm.hits.items() if path.endswith(".tgz")) == 1


def test_packument__stale_when_upstream_down(
    npm_pantry_ttl0: PantryProcess, fixture_npm: FixtureNpm
) -> None:
    fresh = request(npm_pantry_ttl0.url + "/npm/app-dep", headers={"Accept": ABBREVIATED})
    fixture_npm.down()
    stale = request(npm_pantry_ttl0.url + "/npm/app-dep", headers={"Accept": ABBREVIATED})
    assert (stale.status, stale.xcache, stale.body) == (200, "STALE", fresh.body)


def test_packument__changed_upstream_is_seen_after_ttl(
    npm_pantry_ttl0: PantryProcess, fixture_npm: FixtureNpm
) -> None:
    _packument(npm_pantry_ttl0, "left-pad-fixture")
    fixture_npm.add_version("left-pad-fixture", "1.2.0")
    document = _packument(npm_pantry_ttl0, "left-pad-fixture")
    assert document["dist-tags"] == {"latest": "1.2.0", "next": "2.0.0-beta.1"}
    assert any(u.endswith("left-pad-fixture-1.2.0.tgz") for u in _tarballs(document))


def test_packument__same_body_without_validators_is_revalidated(
    npm_pantry_ttl0: PantryProcess, fixture_npm: FixtureNpm
) -> None:
    fixture_npm.validators = False
    url = npm_pantry_ttl0.url + "/npm/left-pad-fixture"
    first = request(url, headers={"Accept": ABBREVIATED})
    again = request(url, headers={"Accept": ABBREVIATED})
    assert (first.xcache, again.xcache, again.body) == ("MISS", "REVALIDATED", first.body)
    fixture_npm.add_version("left-pad-fixture", "1.2.0")
    changed = request(url, headers={"Accept": ABBREVIATED})
    assert changed.xcache == "MISS"
    assert b"left-pad-fixture-1.2.0.tgz" in changed.body


def test_dist_tags(npm_pantry: PantryProcess) -> None:
    answer = request(npm_pantry.url + "/npm/-/package/left-pad-fixture/dist-tags")
    assert orjson.loads(answer.body) == {"latest": "1.1.0", "next": "2.0.0-beta.1"}


def test_ping_and_audit__passed_through(npm_pantry: PantryProcess, fixture_npm: FixtureNpm) -> None:
    assert request(npm_pantry.url + "/npm/-/ping").status == 200
    answer = request(
        npm_pantry.url + "/npm/-/npm/v1/security/advisories/bulk",
        method="POST",
        body=b'{"left-pad-fixture": ["1.1.0"]}',
        headers={"Content-Type": "application/json"},
    )
    assert (answer.status, orjson.loads(answer.body)) == (200, {})
    assert fixture_npm.hits["/-/npm/v1/security/advisories/bulk"] == 1


def test_audit__upstream_down_is_a_clear_error(
    npm_pantry: PantryProcess, fixture_npm: FixtureNpm
) -> None:
    fixture_npm.down()
    url = npm_pantry.url + "/npm/-/npm/v1/security/audits/quick"
    answer = request(url, method="POST", body=b"{}")
    assert answer.status in (502, 503, 504)
    assert answer.body.startswith(b"pantry: ")


def test_post_elsewhere__405(npm_pantry: PantryProcess) -> None:
    answer = request(npm_pantry.url + "/npm/left-pad-fixture", method="POST", body=b"{}")
    assert answer.status == 405


def test_offline__serves_cached_packuments_and_tarballs(
    fixture_npm: FixtureNpm, tmp_path: Path
) -> None:
    config = _config(fixture_npm.url)
    with PantryProcess(tmp_path / "data", config) as online:
        url = _tarballs(_packument(online, "left-pad-fixture"))[0]
        tarball = request(url).body
    fixture_npm.down()
    with PantryProcess(tmp_path / "data", config, offline=True) as offline:
        document = _packument(offline, "left-pad-fixture")
        path = url.split("/npm/", 1)[1]
        again = request(f"{offline.url}/npm/{path}")
        missing = request(offline.url + "/npm/app-dep", headers={"Accept": ABBREVIATED})
    assert _tarballs(document)[0].startswith(offline.url)
    assert (again.status, again.body) == (200, tarball)
    assert (missing.status, missing.xcache) == (404, "OFFLINE")


@pytest.mark.parametrize("host", ['evil"}', "a b", "x/y"])
def test_packument__malformed_host_header_is_400(npm_pantry: PantryProcess, host: str) -> None:
    answer = request(npm_pantry.url + "/npm/left-pad-fixture", headers={"Host": host})
    assert answer.status == 400


def test_audit__gzipped_request_body_as_npm_sends_it(
    npm_pantry: PantryProcess, fixture_npm: FixtureNpm
) -> None:
    import gzip  # noqa: PLC0415

    answer = request(
        npm_pantry.url + "/npm/-/npm/v1/security/advisories/bulk",
        method="POST",
        body=gzip.compress(b'{"left-pad-fixture": ["1.1.0"]}'),
        headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
    )
    assert (answer.status, orjson.loads(answer.body)) == (200, {})
