"""A real pantry process in front of the fixture PyPI upstream: cache semantics and faults."""

from __future__ import annotations

import hashlib
import http.client
import threading
import time

import orjson
import pytest

from fixtures.http import raw, request
from fixtures.pantry_process import PantryProcess
from fixtures.pypi_upstream import FixturePyPI

JSON = "application/vnd.pypi.simple.v1+json"


def _file_href(pantry: PantryProcess, project: str, filename: str) -> str:
    return f"{pantry.url}/pypi/files/{project}/{filename}"


def _wheel(upstream: FixturePyPI, name: str, version: str) -> str:
    project = upstream.catalogue[name]
    return next(f.filename for f in project.files if f.version == version and f.is_wheel)


def test_project_page__miss_then_hit_with_relative_links(pantry: PantryProcess) -> None:
    first = request(pantry.url + "/pypi/simple/alpha/")
    second = request(pantry.url + "/pypi/simple/alpha/")
    assert (first.status, first.xcache, second.xcache) == (200, "MISS", "HIT")
    assert first.headers["content-type"].startswith("text/html")
    assert b'href="../../files/alpha/alpha-1.1-py3-none-any.whl#sha256=' in first.body
    assert b"127.0.0.1" not in first.body  # no upstream host leaks into the page
    assert first.body == second.body


def test_project_page__json_by_accept(pantry: PantryProcess) -> None:
    answer = request(pantry.url + "/pypi/simple/alpha/", headers={"Accept": JSON})
    assert answer.headers["content-type"] == JSON
    page = orjson.loads(answer.body)
    urls = {f["url"] for f in page["files"]}
    assert "../../files/alpha/alpha-1.0-py3-none-any.whl" in urls
    assert all(f["hashes"]["sha256"] for f in page["files"])


def test_project_page__unacceptable_accept_is_406(pantry: PantryProcess) -> None:
    assert (
        request(pantry.url + "/pypi/simple/alpha/", headers={"Accept": "image/png"}).status == 406
    )


def test_project_page__non_normalised_name_redirects(pantry: PantryProcess) -> None:
    answer = request(pantry.url + "/pypi/simple/Delta_Pkg/")
    assert answer.status == 301
    assert answer.headers["location"] == "/pypi/simple/delta-pkg/"
    assert request(pantry.url + "/pypi/simple/delta-pkg").headers["location"].endswith("/")


def test_project_page__unknown_project_is_404(pantry: PantryProcess) -> None:
    assert request(pantry.url + "/pypi/simple/no-such-project/").status == 404


def test_file__verified_cached_and_fetched_once(
    pantry: PantryProcess, fixture_pypi: FixturePyPI
) -> None:
    name = _wheel(fixture_pypi, "alpha", "1.1")
    request(pantry.url + "/pypi/simple/alpha/")
    fixture_pypi.reset_hits()
    first = request(_file_href(pantry, "alpha", name))
    second = request(_file_href(pantry, "alpha", name))
    assert (first.xcache, second.xcache) == ("MISS", "HIT")
    assert hashlib.sha256(first.body).hexdigest() == fixture_pypi.find_file(name).sha256
    assert first.body == second.body
    assert sum(n for path, n in fixture_pypi.hits.items() if path.endswith(name)) == 1


def test_file__without_page_first_looks_up_the_page(
    pantry: PantryProcess, fixture_pypi: FixturePyPI
) -> None:
    name = _wheel(fixture_pypi, "gamma", "1.0")
    answer = request(_file_href(pantry, "gamma", name))
    assert answer.status == 200
    assert hashlib.sha256(answer.body).hexdigest() == fixture_pypi.find_file(name).sha256


def test_file__not_named_by_upstream_is_404(pantry: PantryProcess) -> None:
    answer = request(_file_href(pantry, "alpha", "alpha-9.9-py3-none-any.whl"))
    assert answer.status == 404
    assert b"not listed" in answer.body


def test_file__core_metadata_served_and_verified(
    pantry: PantryProcess, fixture_pypi: FixturePyPI
) -> None:
    name = _wheel(fixture_pypi, "beta", "1.0")
    request(pantry.url + "/pypi/simple/beta/")
    answer = request(_file_href(pantry, "beta", name + ".metadata"))
    assert answer.status == 200
    assert hashlib.sha256(answer.body).hexdigest() == fixture_pypi.find_file(name).metadata_sha256
    assert b"Requires-Dist: gamma" in answer.body


def test_file__corrupt_upstream_is_never_delivered_complete_nor_cached(
    pantry: PantryProcess, fixture_pypi: FixturePyPI
) -> None:
    name = _wheel(fixture_pypi, "alpha", "1.0")
    request(pantry.url + "/pypi/simple/alpha/")
    fixture_pypi.set_fault("corrupt", "files")
    with pytest.raises((http.client.IncompleteRead, ConnectionError)):
        request(_file_href(pantry, "alpha", name))
    fixture_pypi.set_fault("ok", "files")
    good = request(_file_href(pantry, "alpha", name))
    assert good.xcache == "MISS"  # the corrupt copy was not kept
    assert hashlib.sha256(good.body).hexdigest() == fixture_pypi.find_file(name).sha256


def test_file__truncated_upstream_is_not_cached(
    pantry: PantryProcess, fixture_pypi: FixturePyPI
) -> None:
    name = _wheel(fixture_pypi, "alpha", "1.0")
    request(pantry.url + "/pypi/simple/alpha/")
    fixture_pypi.set_fault("truncate", "files")
    with pytest.raises((http.client.IncompleteRead, ConnectionError)):
        request(_file_href(pantry, "alpha", name))
    fixture_pypi.set_fault("ok", "files")
    assert request(_file_href(pantry, "alpha", name)).xcache == "MISS"


def test_file__concurrent_misses_share_one_upstream_download(
    pantry: PantryProcess, fixture_pypi: FixturePyPI
) -> None:
    name = _wheel(fixture_pypi, "gamma", "1.0")
    request(pantry.url + "/pypi/simple/gamma/")
    fixture_pypi.set_fault("slow", "files")
    fixture_pypi.reset_hits()
    bodies: list[bytes] = []

    def fetch() -> None:
        bodies.append(request(_file_href(pantry, "gamma", name)).body)

    threads = [threading.Thread(target=fetch) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(bodies) == 20
    assert {hashlib.sha256(b).hexdigest() for b in bodies} == {fixture_pypi.find_file(name).sha256}
    assert sum(n for path, n in fixture_pypi.hits.items() if path.endswith(name)) == 1


def test_file__range_head_and_conditional(pantry: PantryProcess, fixture_pypi: FixturePyPI) -> None:
    name = _wheel(fixture_pypi, "alpha", "1.0")
    url = _file_href(pantry, "alpha", name)
    full = request(url).body
    assert request(url).xcache == "HIT"
    part = request(url, headers={"Range": "bytes=10-19"})
    assert (part.status, part.body) == (206, full[10:20])
    head = request(url, method="HEAD")
    assert (head.status, head.body, int(head.headers["content-length"])) == (200, b"", len(full))
    etag = request(url).headers["etag"]
    assert request(url, headers={"If-None-Match": etag}).status == 304


def test_file__range_while_uncached_is_answered_by_upstream_and_file_still_cached(
    pantry: PantryProcess, fixture_pypi: FixturePyPI
) -> None:
    name = _wheel(fixture_pypi, "beta", "1.0")
    content = fixture_pypi.find_file(name).content
    request(pantry.url + "/pypi/simple/beta/")
    url = _file_href(pantry, "beta", name)
    head = request(url, method="HEAD")
    assert (head.headers["accept-ranges"], head.xcache) == ("bytes", "MISS")
    tail = request(url, headers={"Range": "bytes=-100"})
    assert (tail.status, tail.body) == (206, content[-100:])
    assert (
        tail.headers["content-range"]
        == f"bytes {len(content) - 100}-{len(content) - 1}/{len(content)}"
    )
    deadline = time.monotonic() + 10
    while (whole := request(url)).xcache != "HIT" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert (whole.xcache, whole.body) == ("HIT", content)


def test_metadata__stale_when_upstream_down(
    pantry_ttl0: PantryProcess, fixture_pypi: FixturePyPI
) -> None:
    url = pantry_ttl0.url + "/pypi/simple/alpha/"
    fresh = request(url)
    fixture_pypi.down()
    stale = request(url)
    assert (stale.status, stale.xcache, stale.body) == (200, "STALE", fresh.body)


@pytest.mark.parametrize("fault", ["error500", "error503"])
def test_metadata__stale_on_server_errors(
    pantry_ttl0: PantryProcess, fixture_pypi: FixturePyPI, fault: str
) -> None:
    url = pantry_ttl0.url + "/pypi/simple/alpha/"
    request(url)
    fixture_pypi.set_fault(fault, "index")  # type: ignore[arg-type]
    assert request(url).xcache == "STALE"


def test_metadata__revalidated_then_changed(
    pantry_ttl0: PantryProcess, fixture_pypi: FixturePyPI
) -> None:
    url = pantry_ttl0.url + "/pypi/simple/alpha/"
    request(url)
    assert request(url).xcache == "REVALIDATED"
    fixture_pypi.add_release("alpha", "2.0")
    changed = request(url)
    assert changed.xcache == "MISS"
    assert b"alpha-2.0-py3-none-any.whl" in changed.body


def test_metadata__same_body_without_validators_is_revalidated(
    pantry_ttl0: PantryProcess, fixture_pypi: FixturePyPI
) -> None:
    fixture_pypi.validators = False  # every revalidation brings the whole page again
    url = pantry_ttl0.url + "/pypi/simple/alpha/"
    first = request(url)
    again = request(url)
    assert (first.xcache, again.xcache, again.body) == ("MISS", "REVALIDATED", first.body)
    assert fixture_pypi.hits["/simple/alpha/"] == 2  # it did ask upstream
    fixture_pypi.add_release("alpha", "2.0")
    changed = request(url)
    assert changed.xcache == "MISS"
    assert b"alpha-2.0-py3-none-any.whl" in changed.body


def test_breaker__hanging_upstream_costs_one_timeout(
    pantry_ttl0: PantryProcess, fixture_pypi: FixturePyPI
) -> None:
    for project in ("alpha", "beta", "gamma"):
        request(f"{pantry_ttl0.url}/pypi/simple/{project}/")
    fixture_pypi.set_fault("hang", "index")
    started = time.monotonic()
    first = request(pantry_ttl0.url + "/pypi/simple/alpha/")
    first_s = time.monotonic() - started
    started = time.monotonic()
    rest = [request(f"{pantry_ttl0.url}/pypi/simple/{p}/") for p in ("beta", "gamma")]
    rest_s = time.monotonic() - started
    assert [a.xcache for a in (first, *rest)] == ["STALE"] * 3
    assert first_s >= 2.5  # waited for the metadata timeout once ...
    assert rest_s < first_s / 2  # ... and not again: the breaker is open
    health = orjson.loads(request(pantry_ttl0.url + "/-/health").body)
    assert health["upstreams_down"]
    fixture_pypi.set_fault("ok", "index")


def test_uncached_when_upstream_down_is_a_clear_5xx(
    pantry: PantryProcess, fixture_pypi: FixturePyPI
) -> None:
    fixture_pypi.down()
    answer = request(pantry.url + "/pypi/simple/alpha/")
    assert answer.status in (502, 503, 504)
    assert answer.body.startswith(b"pantry: ")


def test_json_api__urls_point_at_the_host_the_client_used(
    pantry: PantryProcess, fixture_pypi: FixturePyPI
) -> None:
    answer = request(pantry.url + "/pypi/pypi/alpha/json", headers={"Host": "pantry.example:80"})
    document = orjson.loads(answer.body)
    urls = [u["url"] for u in document["urls"]]
    assert urls
    assert all(u.startswith("http://pantry.example:80/pypi/files/alpha/") for u in urls)
    name = urls[0].rsplit("/", 1)[1]
    file_answer = request(f"{pantry.url}/pypi/files/alpha/{name}")
    assert file_answer.status == 200


def test_root_index__lists_projects_relative(pantry: PantryProcess) -> None:
    answer = request(pantry.url + "/pypi/simple/")
    assert b'href="alpha/"' in answer.body
    as_json = orjson.loads(request(pantry.url + "/pypi/simple/", headers={"Accept": JSON}).body)
    assert {p["name"] for p in as_json["projects"]} >= {"alpha", "beta"}


def test_offline__serves_cache_and_404s_the_rest(
    fixture_pypi: FixturePyPI, tmp_path: pytest.TempPathFactory
) -> None:
    from fixtures.pantry_process import pypi_config  # noqa: PLC0415

    data = tmp_path / "data"  # type: ignore[operator]
    config = pypi_config(fixture_pypi.index_url)
    name = _wheel(fixture_pypi, "alpha", "1.0")
    with PantryProcess(data, config) as online:
        request(online.url + "/pypi/simple/alpha/")
        request(_file_href(online, "alpha", name))
    fixture_pypi.reset_hits()
    with PantryProcess(data, config, offline=True) as offline:
        page = request(offline.url + "/pypi/simple/alpha/")
        wheel = request(_file_href(offline, "alpha", name))
        missing = request(offline.url + "/pypi/simple/beta/")
    assert (page.status, wheel.status, missing.status) == (200, 200, 404)
    assert missing.xcache == "OFFLINE"
    assert not fixture_pypi.hits


@pytest.mark.parametrize(
    "path",
    [
        "/pypi/files/alpha/..%2F..%2Findex.sqlite",
        "/pypi/files/%2e%2e/%2e%2e/index.sqlite",
        "/pypi/files/alpha/%252e%252e",
        "/pypi/files/alpha/a%5c..%5cb",
        "/pypi/files/alpha/a%00b.whl",
        "/pypi/simple/../../etc/passwd",
        "/pypi/simple/bad%20name/",
    ],
)
def test_bad_paths__rejected_with_400(pantry: PantryProcess, path: str) -> None:
    answer = raw("127.0.0.1", pantry.port, f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    assert answer.startswith(b"HTTP/1.1 400"), answer[:200]


def test_absolute_form_and_connect__refused(pantry: PantryProcess) -> None:
    absolute = raw(
        "127.0.0.1", pantry.port, b"GET http://127.0.0.1:9/ HTTP/1.1\r\nHost: 127.0.0.1:9\r\n\r\n"
    )
    connect = raw("127.0.0.1", pantry.port, b"CONNECT 127.0.0.1:9 HTTP/1.1\r\nHost: x\r\n\r\n")
    assert absolute.split(b" ")[1] in (b"400", b"405")
    assert connect.split(b" ")[1] in (b"400", b"405")


def test_unknown_repository__404(pantry: PantryProcess) -> None:
    assert request(pantry.url + "/nothing/simple/").status == 404


def test_allow_list__refuses_other_addresses(
    fixture_pypi: FixturePyPI, tmp_path: pytest.TempPathFactory
) -> None:
    from fixtures.pantry_process import pypi_config  # noqa: PLC0415

    config = '[server]\nallow = ["10.0.0.0/8"]\n' + pypi_config(fixture_pypi.index_url)
    with PantryProcess(tmp_path / "data", config) as server:  # type: ignore[operator]
        answer = request(server.url + "/pypi/simple/alpha/")
    assert answer.status == 403
    assert not fixture_pypi.hits


def test_metrics__count_cache_outcomes(pantry: PantryProcess) -> None:
    request(pantry.url + "/pypi/simple/alpha/")
    request(pantry.url + "/pypi/simple/alpha/")
    text = request(pantry.url + "/-/metrics").body.decode()
    assert 'pantry_requests_total{cache="HIT",repository="pypi",status="2xx"} 1.0' in text
    assert 'pantry_requests_total{cache="MISS",repository="pypi",status="2xx"} 1.0' in text


def test_slow_loris__idle_and_unfinished_requests_are_closed(
    fixture_pypi: FixturePyPI, tmp_path: pytest.TempPathFactory
) -> None:
    import socket  # noqa: PLC0415

    from fixtures.pantry_process import pypi_config  # noqa: PLC0415

    config = "[server]\nidle_timeout_s = 1\n" + pypi_config(fixture_pypi.index_url)
    with (
        PantryProcess(tmp_path / "data", config) as server,  # type: ignore[operator]
        socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock,
    ):
        sock.sendall(b"GET /pypi/simple/ HTTP/1.1\r\nHost: x\r\n")  # never finished
        started = time.monotonic()
        assert sock.recv(1024) == b""  # closed by pantry
        assert time.monotonic() - started < 8


def test_oversized_headers_and_urls__refused(pantry: PantryProcess) -> None:
    huge_header = raw(
        "127.0.0.1",
        pantry.port,
        b"GET /pypi/simple/ HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 70000 + b"\r\n\r\n",
    )
    huge_url = raw(
        "127.0.0.1",
        pantry.port,
        b"GET /pypi/simple/" + b"a" * 20000 + b"/ HTTP/1.1\r\nHost: x\r\n\r\n",
    )
    assert huge_header.split(b" ")[1] in (b"400", b"413", b"431")
    assert huge_url.split(b" ")[1] in (b"400", b"414")


def test_metadata__gzip_when_accepted_and_304_on_etag(pantry: PantryProcess) -> None:
    import gzip  # noqa: PLC0415

    url = pantry.url + "/pypi/simple/alpha/"
    plain = request(url)
    packed = request(url, headers={"Accept-Encoding": "gzip, deflate"})
    assert "content-encoding" not in plain.headers
    assert packed.headers["content-encoding"] == "gzip"
    assert gzip.decompress(packed.body) == plain.body
    assert plain.headers["etag"] != packed.headers["etag"]
    assert "Accept-Encoding" in packed.headers["vary"]
    again = request(url, headers={"If-None-Match": plain.headers["etag"]})
    assert (again.status, again.body) == (304, b"")
    refused = request(url, headers={"Accept-Encoding": "gzip;q=0"})
    assert "content-encoding" not in refused.headers
