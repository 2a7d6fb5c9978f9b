"""Self-test of the PyPI-like fixture upstream: pages, files, validators, faults, real clients."""

from __future__ import annotations

import asyncio
import hashlib
import http.client
import json
import os
import socket
import subprocess
import sys
import time
import urllib.parse
from email.message import Message
from pathlib import Path

import aiohttp
import pytest

from fixtures.pypi_upstream import JSON_V1, FaultMode, FixturePyPI
from fixtures.wheels import make_sdist, make_wheel, wheel_metadata

JSON_ACCEPT = {"Accept": JSON_V1}


def fetch(
    url: str, headers: dict[str, str] | None = None, timeout_s: float = 5.0
) -> tuple[int, Message, bytes]:
    """GET without following redirects; returns status, headers and the whole body."""
    parts = urllib.parse.urlsplit(url)
    assert parts.hostname is not None
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout_s)
    try:
        connection.request("GET", parts.path or "/", headers=headers or {})
        response = connection.getresponse()
        return response.status, response.headers, response.read()
    finally:
        connection.close()


def project_json(upstream: FixturePyPI, name: str) -> dict[str, object]:
    status, headers, body = fetch(f"{upstream.index_url}{name}/", JSON_ACCEPT)
    assert status == 200
    assert headers["Content-Type"] == JSON_V1
    document = json.loads(body)
    assert isinstance(document, dict)
    return document


def file_urls(upstream: FixturePyPI, name: str) -> list[dict[str, object]]:
    files = project_json(upstream, name)["files"]
    assert isinstance(files, list)
    return files


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --- distributions ----------------------------------------------------------------------


def test_make_wheel__is_deterministic_and_carries_metadata() -> None:
    first = make_wheel("Delta_Pkg", "2.0", ["gamma>=1"])
    assert first == make_wheel("Delta_Pkg", "2.0", ["gamma>=1"])
    assert first[0] == "delta_pkg-2.0-py3-none-any.whl"
    metadata = wheel_metadata(first[1]).decode()
    assert "Metadata-Version: 2.1\nName: Delta_Pkg\nVersion: 2.0\n" in metadata
    assert "Requires-Dist: gamma>=1\n" in metadata


def test_make_sdist__is_deterministic() -> None:
    assert make_sdist("Delta_Pkg", "2.0") == make_sdist("Delta_Pkg", "2.0")
    assert make_sdist("Delta_Pkg", "2.0")[0] == "delta_pkg-2.0.tar.gz"


# --- pages ------------------------------------------------------------------------------


def test_project_page__html_by_default(fixture_pypi: FixturePyPI) -> None:
    status, headers, body = fetch(f"{fixture_pypi.index_url}alpha/")
    page = body.decode()
    assert status == 200
    assert headers["Content-Type"].startswith("text/html")
    wheel = fixture_pypi.find_file("alpha-1.1-py3-none-any.whl")
    assert f'href="{fixture_pypi.file_url(wheel.filename)}#sha256={wheel.sha256}"' in page
    assert fixture_pypi.file_url(wheel.filename).startswith(fixture_pypi.files_base)
    assert 'data-requires-python="&gt;=3.8"' in page
    assert f'data-core-metadata="sha256={wheel.metadata_sha256}"' in page
    assert f'data-dist-info-metadata="sha256={wheel.metadata_sha256}"' in page


def test_project_page__json_when_accepted(fixture_pypi: FixturePyPI) -> None:
    document = project_json(fixture_pypi, "alpha")
    assert document["meta"] == {"api-version": "1.1", "_last-serial": 1}
    assert document["name"] == "alpha"
    assert document["versions"] == ["1.0", "1.1"]
    newest = file_urls(fixture_pypi, "alpha")[-1]
    assert newest["requires-python"] == ">=3.8"
    assert newest["core-metadata"] == newest["dist-info-metadata"]
    assert str(newest["url"]).startswith(fixture_pypi.files_base)


def test_project_page__prefers_json_like_pip_and_uv(fixture_pypi: FixturePyPI) -> None:
    accept = f"{JSON_V1}, application/vnd.pypi.simple.v1+html; q=0.1, text/html; q=0.01"
    status, headers, _ = fetch(f"{fixture_pypi.index_url}beta/", {"Accept": accept})
    assert (status, headers["Content-Type"]) == (200, JSON_V1)
    _, headers, _ = fetch(f"{fixture_pypi.index_url}beta/", {"Accept": "text/html"})
    assert headers["Content-Type"].startswith("text/html")


def test_root__lists_every_project(fixture_pypi: FixturePyPI) -> None:
    _, headers, body = fetch(fixture_pypi.index_url)
    assert headers["Content-Type"].startswith("text/html")
    assert '<a href="/simple/delta-pkg/">Delta_Pkg</a>' in body.decode()
    _, headers, body = fetch(fixture_pypi.index_url, JSON_ACCEPT)
    document = json.loads(body)
    assert document["meta"]["api-version"] == "1.1"
    assert [p["name"] for p in document["projects"]] == ["alpha", "beta", "Delta_Pkg", "gamma"]


def test_project_page__yanked_file_is_marked(fixture_pypi: FixturePyPI) -> None:
    _, _, body = fetch(f"{fixture_pypi.index_url}gamma/")
    assert 'data-yanked="broken">gamma-0.9-py3-none-any.whl<' in body.decode()
    yanked = {f["filename"]: f["yanked"] for f in file_urls(fixture_pypi, "gamma")}
    assert yanked == {"gamma-0.9-py3-none-any.whl": "broken", "gamma-1.0-py3-none-any.whl": False}


def test_project_page__etag_and_304(fixture_pypi: FixturePyPI) -> None:
    url = f"{fixture_pypi.index_url}alpha/"
    status, headers, body = fetch(url)
    etag = headers["ETag"]
    assert etag == f'"{sha256(body)}"'
    assert headers["Last-Modified"].endswith("GMT")
    status, _, body = fetch(url, {"If-None-Match": etag})
    assert (status, body) == (304, b"")
    status, _, _ = fetch(url, {"If-None-Match": '"something-else"'})
    assert status == 200


def test_project_page__redirects_to_normalised_name(fixture_pypi: FixturePyPI) -> None:
    base = fixture_pypi.index_url
    for path, location in [
        ("Delta_Pkg/", "/simple/delta-pkg/"),
        ("delta.pkg/", "/simple/delta-pkg/"),
        ("delta-pkg", "/simple/delta-pkg/"),
    ]:
        status, headers, _ = fetch(base + path)
        assert (status, headers["Location"]) == (301, location)
    status, headers, _ = fetch(f"{fixture_pypi.json_api_base}Delta_Pkg/json")
    assert (status, headers["Location"]) == (301, "/pypi/delta-pkg/json")


def test_project_page__unknown_project_is_404(fixture_pypi: FixturePyPI) -> None:
    assert fetch(f"{fixture_pypi.index_url}nope/")[0] == 404
    assert fetch(f"{fixture_pypi.json_api_base}nope/json")[0] == 404


def test_json_api__latest_and_one_version(fixture_pypi: FixturePyPI) -> None:
    status, _, body = fetch(f"{fixture_pypi.json_api_base}alpha/json")
    document = json.loads(body)
    assert status == 200
    assert document["info"]["version"] == "1.1"
    assert document["info"]["requires_dist"] == ["beta>=1"]
    assert sorted(document["releases"]) == ["1.0", "1.1"]
    wheel = fixture_pypi.find_file("alpha-1.1-py3-none-any.whl")
    assert document["urls"][0]["digests"]["sha256"] == wheel.sha256
    _, _, body = fetch(f"{fixture_pypi.json_api_base}alpha/1.0/json")
    assert json.loads(body)["info"]["version"] == "1.0"
    assert fetch(f"{fixture_pypi.json_api_base}alpha/9.9/json")[0] == 404


# --- files ------------------------------------------------------------------------------


def test_files__hashes_match_served_bytes(fixture_pypi: FixturePyPI) -> None:
    for name in ("alpha", "beta", "gamma", "delta-pkg"):
        for entry in file_urls(fixture_pypi, name):
            status, headers, body = fetch(str(entry["url"]))
            assert status == 200
            assert entry["hashes"] == {"sha256": sha256(body)}
            assert headers["ETag"] == f'"{sha256(body)}"'
            if entry["core-metadata"] is False:
                assert str(entry["filename"]).endswith(".tar.gz")
                continue
            status, _, metadata = fetch(f"{entry['url']}.metadata")
            assert status == 200
            assert entry["core-metadata"] == {"sha256": sha256(metadata)}
            assert metadata == wheel_metadata(body)


def test_hits__count_requests_per_path(fixture_pypi: FixturePyPI) -> None:
    fetch(f"{fixture_pypi.index_url}alpha/")
    fixture_pypi.reset_hits()
    url = fixture_pypi.file_url("beta-1.0-py3-none-any.whl")
    fetch(url)
    fetch(url)
    fetch(f"{fixture_pypi.index_url}beta/")
    path = urllib.parse.urlsplit(url).path
    assert fixture_pypi.hits == {path: 2, "/simple/beta/": 1}


def test_add_release__changes_metadata_at_run_time(fixture_pypi: FixturePyPI) -> None:
    url = f"{fixture_pypi.index_url}beta/"
    _, before, _ = fetch(url)
    (wheel,) = fixture_pypi.add_release("beta", "1.0", ["gamma>=1"])
    status, after, body = fetch(url)
    assert status == 200
    assert after["ETag"] != before["ETag"]
    assert after["Last-Modified"] != before["Last-Modified"]
    assert body.decode().count("beta-1.0-py3-none-any.whl</a>") == 1
    _, _, metadata = fetch(f"{fixture_pypi.file_url(wheel.filename)}.metadata")
    assert b"Requires-Dist: gamma>=1\n" in metadata
    fixture_pypi.remove_project("beta")
    assert fetch(url)[0] == 404


# --- faults -----------------------------------------------------------------------------


def test_fault__down_refuses_then_up_listens_on_same_port(fixture_pypi: FixturePyPI) -> None:
    index_url, file_url = fixture_pypi.index_url, fixture_pypi.file_url("beta-1.0-py3-none-any.whl")
    fixture_pypi.down("index")
    with pytest.raises(ConnectionRefusedError):
        fetch(index_url)
    assert fetch(file_url)[0] == 200
    fixture_pypi.down()
    with pytest.raises(ConnectionRefusedError):
        fetch(file_url)
    fixture_pypi.up()
    assert fixture_pypi.index_url == index_url
    assert fetch(index_url)[0] == 200
    assert fetch(file_url)[0] == 200


@pytest.mark.parametrize(("mode", "status"), [("error500", 500), ("error503", 503)])
def test_fault__server_errors(fixture_pypi: FixturePyPI, mode: FaultMode, status: int) -> None:
    fixture_pypi.set_fault(mode, "index")
    assert fetch(f"{fixture_pypi.index_url}alpha/")[0] == status
    assert fetch(fixture_pypi.file_url("beta-1.0-py3-none-any.whl"))[0] == 200
    fixture_pypi.set_fault("ok")
    assert fetch(f"{fixture_pypi.index_url}alpha/")[0] == 200


def test_fault__truncate_sends_half_the_body(fixture_pypi: FixturePyPI) -> None:
    wheel = fixture_pypi.find_file("alpha-1.1-py3-none-any.whl")
    fixture_pypi.set_fault("truncate", "files")
    with pytest.raises(http.client.IncompleteRead) as error:
        fetch(fixture_pypi.file_url(wheel.filename))
    assert len(error.value.partial) == len(wheel.content) // 2
    assert error.value.expected == len(wheel.content) - len(wheel.content) // 2


def test_fault__corrupt_keeps_length_changes_hash(fixture_pypi: FixturePyPI) -> None:
    wheel = fixture_pypi.find_file("alpha-1.1-py3-none-any.whl")
    fixture_pypi.set_fault("corrupt", "files")
    status, _, body = fetch(fixture_pypi.file_url(wheel.filename))
    assert status == 200
    assert len(body) == len(wheel.content)
    assert sha256(body) != wheel.sha256


def test_fault__hang_outlasts_client_timeout(fixture_pypi: FixturePyPI) -> None:
    fixture_pypi.set_fault("hang", "index")
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        fetch(fixture_pypi.index_url, timeout_s=1.0)
    assert time.monotonic() - started < 5.0
    fixture_pypi.set_fault("ok")
    assert fetch(fixture_pypi.index_url)[0] == 200


def test_fault__slow_is_slow_but_complete(fixture_pypi: FixturePyPI) -> None:
    wheel = fixture_pypi.find_file("gamma-1.0-py3-none-any.whl")
    fixture_pypi.set_fault("slow", "files")
    started = time.monotonic()
    status, _, body = fetch(fixture_pypi.file_url(wheel.filename))
    elapsed = time.monotonic() - started
    assert (status, sha256(body)) == (200, wheel.sha256)
    assert 1.0 <= elapsed < 10.0


async def test_fixture__usable_from_async_tests(fixture_pypi: FixturePyPI) -> None:
    timeout = aiohttp.ClientTimeout(total=5)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        async with session.get(f"{fixture_pypi.index_url}gamma/", headers=JSON_ACCEPT) as page:
            assert page.headers["Content-Type"] == JSON_V1
            document = await page.json(content_type=JSON_V1)
        entry = document["files"][-1]
        async with session.get(entry["url"]) as response:
            assert sha256(await response.read()) == entry["hashes"]["sha256"]


# --- the loopback guard -----------------------------------------------------------------


def test_guard__blocks_non_loopback_connect(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        with pytest.raises(OSError, match="non-loopback connect blocked in tests"):
            sock.connect(("192.0.2.1", 9))
        with pytest.raises(OSError, match="non-loopback connect blocked in tests"):
            sock.connect_ex(("192.0.2.1", 9))
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
        server.bind(str(tmp_path / "s"))
        server.listen()
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
            client.connect(str(tmp_path / "s"))


async def test_guard__blocks_non_loopback_asyncio_connect() -> None:
    with pytest.raises(OSError, match="non-loopback connect blocked in tests"):
        await asyncio.wait_for(asyncio.open_connection("192.0.2.1", 9), timeout=5)


# --- real clients -----------------------------------------------------------------------


def run_client(argv: list[str], env: dict[str, str], cwd: Path) -> None:
    result = subprocess.run(
        argv, check=False, env=env, cwd=cwd, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_pip_download__from_fixture(fixture_pypi: FixturePyPI, tmp_path: Path) -> None:
    env = {key: value for key, value in os.environ.items() if not key.startswith("PIP_")}
    env |= {"PIP_CONFIG_FILE": os.devnull, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    env["PIP_NO_CACHE_DIR"] = "1"
    argv = [sys.executable, "-m", "pip", "download", "--no-deps"]
    argv += ["--index-url", fixture_pypi.index_url, "alpha==1.1", "-d", str(tmp_path / "d")]
    run_client(argv, env, tmp_path)
    wheel = fixture_pypi.find_file("alpha-1.1-py3-none-any.whl")
    assert (tmp_path / "d" / wheel.filename).read_bytes() == wheel.content


def test_uv_pip_install__from_fixture(fixture_pypi: FixturePyPI, tmp_path: Path) -> None:
    env = {key: value for key, value in os.environ.items() if not key.startswith("UV_")}
    env["UV_NO_CONFIG"] = "1"
    uv = str(Path(sys.executable).parent / "uv")
    argv = [uv, "pip", "install", "--no-cache", "--index-url", fixture_pypi.index_url]
    argv += ["--python", sys.executable, "--target", str(tmp_path / "t"), "alpha"]
    run_client(argv, env, tmp_path)
    installed = {
        name: (tmp_path / "t" / name / "__init__.py").read_text()
        for name in ("alpha", "beta", "gamma")
    }
    assert installed == {
        "alpha": '__version__ = "1.1"\n',
        "beta": '__version__ = "1.0"\n',
        "gamma": '__version__ = "1.0"\n',
    }
