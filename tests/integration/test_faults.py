"""More upstream faults: DNS failure, a flapping upstream, metadata that shrinks, slow metadata."""

from __future__ import annotations

import time
from pathlib import Path

from aiohttp import web

from fixtures.http import request
from fixtures.pantry_process import PantryProcess, pypi_config
from fixtures.pypi_upstream import FixturePyPI
from fixtures.tiny_server import serve_app


def test_dns_failure__uncached_is_a_clear_502(tmp_path: Path) -> None:
    config = pypi_config("http://pantry-test-upstream.invalid:9/simple/")
    with PantryProcess(tmp_path / "data", config) as server:
        answer = request(server.url + "/pypi/simple/alpha/")
    assert answer.status in (502, 503, 504)
    assert answer.body.startswith(b"pantry: ")


def test_flapping_upstream__stale_while_down_fresh_once_back(
    tmp_path: Path, fixture_pypi: FixturePyPI
) -> None:
    config = pypi_config(fixture_pypi.index_url, ttl_s=0).replace(
        "[upstream]\n", "[upstream]\nbreaker_open_s = 1\n"
    )
    url = "/pypi/simple/alpha/"
    with PantryProcess(tmp_path / "data", config) as server:
        outcomes = [request(server.url + url).xcache]
        for _ in range(3):
            fixture_pypi.down("index")
            outcomes.append(request(server.url + url).xcache)
            fixture_pypi.up("index")
            fixture_pypi.add_release("alpha", f"3.{len(outcomes)}")
            time.sleep(1.2)  # the breaker lets a trial through again
            outcomes.append(request(server.url + url).xcache)
        final = request(server.url + url)
    assert outcomes == ["MISS", "STALE", "MISS", "STALE", "MISS", "STALE", "MISS"]
    assert b"alpha-3.6-py3-none-any.whl" in final.body


def test_metadata_shrinks__cached_files_still_served(
    pantry_ttl0: PantryProcess, fixture_pypi: FixturePyPI
) -> None:
    wheel = next(f for f in fixture_pypi.catalogue["gamma"].files if f.version == "1.0")
    file_url = f"{pantry_ttl0.url}/pypi/files/gamma/{wheel.filename}"
    assert request(file_url).status == 200
    fixture_pypi.remove_project("gamma")
    assert request(pantry_ttl0.url + "/pypi/simple/gamma/").status == 404  # upstream's truth
    again = request(file_url)
    assert (again.status, again.xcache, again.body) == (200, "HIT", wheel.content)


def test_slow_metadata__arrives_complete(
    pantry_ttl0: PantryProcess, fixture_pypi: FixturePyPI
) -> None:
    fixture_pypi.set_fault("slow", "index")
    answer = request(pantry_ttl0.url + "/pypi/simple/beta/")
    assert (answer.status, answer.xcache) == (200, "MISS")
    assert b"beta-1.0-py3-none-any.whl" in answer.body


def test_garbage_metadata__stale_when_cached_clear_502_when_not(tmp_path: Path) -> None:
    mode = {"garbage": False}
    good = b'{"meta": {"api-version": "1.0"}, "name": "demo", "files": []}'

    async def page(_request: web.Request) -> web.Response:
        body = b"\x00\xff<html><<<not a page" if mode["garbage"] else good
        return web.Response(body=body, content_type="application/vnd.pypi.simple.v1+json")

    app = web.Application()
    app.router.add_get("/simple/{name}/", page)
    with serve_app(app) as port:
        upstream = f"http://127.0.0.1:{port}/simple/"
        with PantryProcess(tmp_path / "data", pypi_config(upstream, ttl_s=0)) as server:
            assert request(server.url + "/pypi/simple/demo/").xcache == "MISS"
            mode["garbage"] = True
            stale = request(server.url + "/pypi/simple/demo/")
            fresh_garbage = request(server.url + "/pypi/simple/other/")
    assert (stale.status, stale.xcache) == (200, "STALE")
    assert fresh_garbage.status == 502
    assert b"unusable metadata" in fresh_garbage.body
