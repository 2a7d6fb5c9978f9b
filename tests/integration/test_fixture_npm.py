"""Self-test of the fixture npm registry: packuments, tarballs, validators, faults, real npm."""

from __future__ import annotations

import gzip
import http.client
import json
import os
import shutil
import subprocess
import urllib.error
import urllib.request
from email.message import Message
from pathlib import Path

import pytest

from fixtures.faults import FaultMode
from fixtures.npm_tarballs import integrity, make_tarball, read_tarball, shasum
from fixtures.npm_upstream import ABBREVIATED, FixtureNpm

# What npm, pnpm and yarn send when they resolve dependencies.
INSTALL_ACCEPT = {"Accept": f"{ABBREVIATED}; q=1.0, application/json; q=0.8, */*"}
ABBREVIATED_KEYS = {"name", "modified", "dist-tags", "versions"}
ABBREVIATED_VERSION_KEYS = {
    "name",
    "version",
    "dependencies",
    "optionalDependencies",
    "peerDependencies",
    "bin",
    "engines",
    "dist",
    "deprecated",
}
TREE = {"app-dep": "0.5.0", "@fixture/util": "2.0.0", "left-pad-fixture": "1.1.0"}

_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def fetch(
    url: str,
    headers: dict[str, str] | None = None,
    *,
    data: bytes | None = None,
    timeout_s: float = 5.0,
) -> tuple[int, Message, bytes]:
    """One request through urllib; error statuses are returned, not raised."""
    request = urllib.request.Request(url, data=data, headers=headers or {})
    try:
        with _OPENER.open(request, timeout=timeout_s) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.headers, error.read()


def fetch_json(url: str, headers: dict[str, str] | None = None) -> dict[str, object]:
    status, _, body = fetch(url, headers)
    assert status == 200, body
    document = json.loads(body)
    assert isinstance(document, dict)
    return document


def versions_of(document: dict[str, object]) -> dict[str, dict[str, object]]:
    versions = document["versions"]
    assert isinstance(versions, dict)
    return versions


# --- tarballs ---------------------------------------------------------------------------


def test_make_tarball__is_deterministic_with_npm_layout() -> None:
    data = make_tarball("app-dep", "0.5.0", {"@fixture/util": "^2.0.0"}, bin="app-dep")
    assert data == make_tarball("app-dep", "0.5.0", {"@fixture/util": "^2.0.0"}, bin="app-dep")
    files = read_tarball(data)
    assert set(files) == {"package/package.json", "package/index.js", "package/bin/app-dep.js"}
    manifest = json.loads(files["package/package.json"])
    assert manifest["name"] == "app-dep"
    assert manifest["version"] == "0.5.0"
    assert manifest["main"] == "index.js"
    assert manifest["dependencies"] == {"@fixture/util": "^2.0.0"}
    assert manifest["bin"] == {"app-dep": "bin/app-dep.js"}
    assert b'version: "0.5.0"' in files["package/index.js"]
    assert integrity(data).startswith("sha512-")
    assert len(shasum(data)) == 40
    assert make_tarball("left-pad-fixture", "1.0.0", files={"README.md": b"hi\n"}) != data


# --- packuments -------------------------------------------------------------------------


def test_packument__abbreviated_when_accept_asks(fixture_npm: FixtureNpm) -> None:
    status, headers, body = fetch(fixture_npm.packument_url("left-pad-fixture"), INSTALL_ACCEPT)
    assert status == 200
    assert headers["Content-Type"] == ABBREVIATED
    document = json.loads(body)
    assert set(document) == ABBREVIATED_KEYS
    assert document["dist-tags"] == {"latest": "1.1.0", "next": "2.0.0-beta.1"}
    versions = versions_of(document)
    assert list(versions) == ["1.0.0", "1.1.0", "2.0.0-beta.1"]
    for entry in versions.values():
        assert set(entry) <= ABBREVIATED_VERSION_KEYS
        dist = entry["dist"]
        assert isinstance(dist, dict)
        assert set(dist) == {"tarball", "integrity", "shasum"}
    assert "deprecated" in versions["1.0.0"]
    assert "deprecated" not in versions["1.1.0"]


@pytest.mark.parametrize("accept", [None, "application/json", "*/*"])
def test_packument__full_otherwise(fixture_npm: FixtureNpm, accept: str | None) -> None:
    headers = {} if accept is None else {"Accept": accept}
    status, answer, body = fetch(fixture_npm.packument_url("app-dep"), headers)
    assert (status, answer["Content-Type"]) == (200, "application/json")
    document = json.loads(body)
    assert {"time", "description", "readme", "_id", "_rev"} <= set(document)
    assert set(document["time"]) == {"created", "modified", "0.5.0"}
    version = versions_of(document)["0.5.0"]
    assert version["_id"] == "app-dep@0.5.0"
    assert version["bin"] == {"app-dep": "bin/app-dep.js"}
    assert version["dependencies"] == {"@fixture/util": "^2.0.0"}


def test_packument__scoped_name_in_both_spellings(fixture_npm: FixtureNpm) -> None:
    encoded = fetch_json(f"{fixture_npm.url}@fixture%2futil", INSTALL_ACCEPT)
    upper = fetch_json(f"{fixture_npm.url}@fixture%2Futil", INSTALL_ACCEPT)
    plain = fetch_json(f"{fixture_npm.url}@fixture/util", INSTALL_ACCEPT)
    assert encoded == upper == plain
    assert encoded["name"] == "@fixture/util"
    dist = versions_of(encoded)["2.0.0"]["dist"]
    assert isinstance(dist, dict)
    assert dist["tarball"] == f"{fixture_npm.url}@fixture/util/-/util-2.0.0.tgz"
    assert fixture_npm.hits == {"/@fixture/util": 3}


def test_tarballs__match_the_packument_integrity(fixture_npm: FixtureNpm) -> None:
    checked = 0
    for name in fixture_npm.catalogue:
        for version, entry in versions_of(fetch_json(fixture_npm.packument_url(name))).items():
            dist = entry["dist"]
            assert isinstance(dist, dict)
            assert dist["tarball"].startswith(fixture_npm.url)
            status, headers, data = fetch(dist["tarball"])
            assert (status, headers["Content-Type"]) == (200, "application/octet-stream")
            assert integrity(data) == dist["integrity"]
            assert shasum(data) == dist["shasum"]
            manifest = json.loads(read_tarball(data)["package/package.json"])
            assert (manifest["name"], manifest["version"]) == (name, version)
            checked += 1
    assert checked == 5


def test_validators__etag_and_last_modified_give_304(fixture_npm: FixtureNpm) -> None:
    url = fixture_npm.packument_url("@fixture/util")
    _, full, _ = fetch(url)
    _, abbreviated, _ = fetch(url, INSTALL_ACCEPT)
    assert full["ETag"] != abbreviated["ETag"]
    assert full["Last-Modified"] == "Mon, 01 Jan 2024 00:03:00 GMT"
    assert "Accept" in full["Vary"]
    status, headers, body = fetch(url, {**INSTALL_ACCEPT, "If-None-Match": abbreviated["ETag"]})
    assert (status, body, headers["ETag"]) == (304, b"", abbreviated["ETag"])
    assert fetch(url, {"If-None-Match": abbreviated["ETag"]})[0] == 200  # the other document
    assert fetch(url, {"If-Modified-Since": full["Last-Modified"]})[0] == 304
    tarball = fixture_npm.tarball_url("@fixture/util", "2.0.0")
    _, headers, _ = fetch(tarball)
    assert fetch(tarball, {"If-None-Match": headers["ETag"]})[0] == 304


# --- other endpoints --------------------------------------------------------------------


def test_endpoints__dist_tags_ping_search_manifest(fixture_npm: FixtureNpm) -> None:
    url = fixture_npm.url
    tags = fetch_json(f"{url}-/package/left-pad-fixture/dist-tags")
    assert tags == {"latest": "1.1.0", "next": "2.0.0-beta.1"}
    assert fetch_json(f"{url}-/package/@fixture%2futil/dist-tags") == {"latest": "2.0.0"}
    assert fetch_json(f"{url}-/ping") == {}
    found = fetch_json(f"{url}-/v1/search?text=pad&size=5")
    assert found["total"] == 1
    objects = found["objects"]
    assert isinstance(objects, list)
    assert objects[0]["package"]["name"] == "left-pad-fixture"
    assert objects[0]["package"]["version"] == "1.1.0"
    assert fetch_json(f"{url}left-pad-fixture/latest")["version"] == "1.1.0"
    assert fetch_json(f"{url}left-pad-fixture/1.0.0")["deprecated"]


@pytest.mark.parametrize(
    "path",
    ["no-such-fixture", "@fixture%2fnope", "@fixture", "app-dep/-/app-dep-9.9.9.tgz", "-/what"],
)
def test_endpoints__unknown_is_404_not_found(fixture_npm: FixtureNpm, path: str) -> None:
    status, headers, body = fetch(f"{fixture_npm.url}{path}")
    assert (status, headers["Content-Type"]) == (404, "application/json")
    assert json.loads(body) == {"error": "Not found"}


@pytest.mark.parametrize(
    "path", ["-/npm/v1/security/advisories/bulk", "-/npm/v1/security/audits/quick"]
)
def test_endpoints__audit_accepts_plain_and_gzip_bodies(fixture_npm: FixtureNpm, path: str) -> None:
    url, payload = f"{fixture_npm.url}{path}", json.dumps({"app-dep": ["0.5.0"]}).encode()
    json_type = {"Content-Type": "application/json"}
    status, _, body = fetch(url, json_type, data=payload)
    assert (status, json.loads(body)) == (200, {})
    gzipped = {**json_type, "Content-Encoding": "gzip"}
    status, _, body = fetch(url, gzipped, data=gzip.compress(payload))
    assert (status, json.loads(body)) == (200, {})
    assert fetch(url, json_type, data=b"not json")[0] == 400


# --- content changes --------------------------------------------------------------------


def test_add_version__changes_metadata_at_run_time(fixture_npm: FixtureNpm) -> None:
    url = fixture_npm.packument_url("@fixture/util")
    _, before, _ = fetch(url, INSTALL_ACCEPT)
    added = fixture_npm.add_version("@fixture/util", "2.1.0", {"left-pad-fixture": "^1.1.0"})
    status, after, body = fetch(url, INSTALL_ACCEPT)
    assert status == 200
    assert after["ETag"] != before["ETag"]
    assert after["Last-Modified"] != before["Last-Modified"]
    document = json.loads(body)
    assert document["dist-tags"] == {"latest": "2.1.0"}
    assert versions_of(document)["2.1.0"]["dist"]["integrity"] == added.integrity  # type: ignore[index]
    _, _, data = fetch(fixture_npm.tarball_url("@fixture/util", "2.1.0"))
    assert integrity(data) == added.integrity
    fixture_npm.add_version("@fixture/util", "3.0.0-rc.1", tag="next")
    assert fetch_json(url)["dist-tags"] == {"latest": "2.1.0", "next": "3.0.0-rc.1"}
    fixture_npm.remove_package("@fixture/util")
    assert fetch(url)[0] == 404


# --- faults -----------------------------------------------------------------------------


def test_fault__down_refuses_then_up_listens_on_same_port(fixture_npm: FixtureNpm) -> None:
    url = fixture_npm.packument_url("app-dep")
    fixture_npm.down()
    with pytest.raises(urllib.error.URLError) as refused:
        fetch(url)
    assert isinstance(refused.value.reason, ConnectionRefusedError)
    assert fixture_npm.fault == "down"
    fixture_npm.up()
    assert fixture_npm.packument_url("app-dep") == url
    assert fetch(url)[0] == 200


@pytest.mark.parametrize(("mode", "status"), [("error500", 500), ("error503", 503)])
def test_fault__server_errors(fixture_npm: FixtureNpm, mode: FaultMode, status: int) -> None:
    fixture_npm.set_fault(mode)
    assert fetch(fixture_npm.packument_url("app-dep"))[0] == status
    fixture_npm.set_fault("ok")
    assert fetch(fixture_npm.packument_url("app-dep"))[0] == 200


def test_fault__truncate_sends_half_the_body(fixture_npm: FixtureNpm) -> None:
    tarball = fixture_npm.find_version("app-dep", "0.5.0").tarball
    fixture_npm.set_fault("truncate")
    with pytest.raises(http.client.IncompleteRead) as error:
        fetch(fixture_npm.tarball_url("app-dep", "0.5.0"))
    assert len(error.value.partial) == len(tarball) // 2


def test_fault__corrupt_keeps_length_changes_integrity(fixture_npm: FixtureNpm) -> None:
    version = fixture_npm.find_version("left-pad-fixture", "1.1.0")
    fixture_npm.set_fault("corrupt")
    status, _, data = fetch(fixture_npm.tarball_url("left-pad-fixture", "1.1.0"))
    assert (status, len(data)) == (200, len(version.tarball))
    assert integrity(data) != version.integrity


def test_hits__count_requests_by_path_until_reset(fixture_npm: FixtureNpm) -> None:
    fetch(fixture_npm.packument_url("app-dep"))
    fetch(fixture_npm.packument_url("app-dep"), INSTALL_ACCEPT)
    fetch(fixture_npm.tarball_url("app-dep", "0.5.0"))
    assert fixture_npm.hits == {"/app-dep": 2, "/app-dep/-/app-dep-0.5.0.tgz": 1}
    fixture_npm.reset_hits()
    fixture_npm.down()
    with pytest.raises(urllib.error.URLError):
        fetch(fixture_npm.packument_url("app-dep"))
    assert not fixture_npm.hits


# --- a real client ----------------------------------------------------------------------


def npm_env(tmp_path: Path) -> dict[str, str]:
    """The environment minus any npm settings, proxies pointing nowhere except for loopback."""
    env = {k: v for k, v in os.environ.items() if not k.lower().startswith("npm_config_")}
    nowhere = "http://127.0.0.1:9"
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        env[name] = nowhere
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    for name in ("userconfig", "globalconfig"):
        empty = tmp_path / f"{name}.npmrc"
        empty.write_text("")
        env[f"npm_config_{name}"] = str(empty)
    return env


def test_npm_install__straight_from_fixture(fixture_npm: FixtureNpm, tmp_path: Path) -> None:
    npm = shutil.which("npm")
    assert npm is not None, "npm must be on PATH"
    project = tmp_path / "project"
    project.mkdir()
    manifest: dict[str, object] = {"name": "fixture-consumer", "version": "1.0.0"}
    manifest |= {"private": True, "dependencies": {"app-dep": "^0.5.0"}}
    (project / "package.json").write_text(json.dumps(manifest))
    argv = [npm, "install", "--registry", fixture_npm.url, "--cache", str(tmp_path / "cache")]
    argv += ["--no-audit", "--no-fund", "--ignore-scripts", "--no-update-notifier"]
    env = npm_env(tmp_path)
    result = subprocess.run(
        argv, check=False, cwd=project, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr

    modules = project / "node_modules"
    installed = {
        name: json.loads((modules / name / "package.json").read_text())["version"] for name in TREE
    }
    assert installed == TREE
    script = "console.log(require('app-dep').version)"
    required = subprocess.run(
        ["node", "-e", script], check=True, cwd=project, capture_output=True, text=True, timeout=30
    )
    assert required.stdout.strip() == "0.5.0"
    assert (modules / ".bin" / "app-dep").exists()
    lock = json.loads((project / "package-lock.json").read_text())
    for name, version in TREE.items():
        entry = lock["packages"][f"node_modules/{name}"]
        assert entry["version"] == version
        assert entry["resolved"] == fixture_npm.tarball_url(name, version)
        assert entry["integrity"] == fixture_npm.find_version(name, version).integrity
    assert fixture_npm.hits[fixture_npm.find_version("app-dep", "0.5.0").tarball_path] == 1
