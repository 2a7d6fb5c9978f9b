"""Upstream TLS is verified; a configured CA bundle is trusted instead of the system's."""

from __future__ import annotations

import shutil
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from aiohttp import web

from fixtures.http import request
from fixtures.pantry_process import PantryProcess, pypi_config
from fixtures.tiny_server import serve_app

PAGE = {"meta": {"api-version": "1.0"}, "name": "tlsdemo", "files": []}


def _self_signed(tmp_path: Path) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return cert, key


@pytest.fixture
def tls_upstream(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """An HTTPS simple index on loopback with a self-signed certificate."""
    cert, key = _self_signed(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)

    async def page(_request: web.Request) -> web.Response:
        return web.Response(
            body=orjson.dumps(PAGE), content_type="application/vnd.pypi.simple.v1+json"
        )

    app = web.Application()
    app.router.add_get("/simple/tlsdemo/", page)
    with serve_app(app, context) as port:
        yield f"https://127.0.0.1:{port}/simple/", cert


def test_tls__unknown_certificate_is_refused(
    tls_upstream: tuple[str, Path], tmp_path: Path
) -> None:
    url, _cert = tls_upstream
    with PantryProcess(tmp_path / "data", pypi_config(url)) as server:
        answer = request(server.url + "/pypi/simple/tlsdemo/")
    assert answer.status in (502, 503)
    assert "certificate" in server.log().lower()


def test_tls__configured_ca_bundle_is_trusted(
    tls_upstream: tuple[str, Path], tmp_path: Path
) -> None:
    url, cert = tls_upstream
    config = pypi_config(url).replace("[upstream]\n", f'[upstream]\nca_file = "{cert}"\n')
    with PantryProcess(tmp_path / "data", config) as server:
        answer = request(server.url + "/pypi/simple/tlsdemo/")
    assert (answer.status, answer.xcache) == (200, "MISS")


def test_upstream_credentials__never_in_health_or_log(tmp_path: Path) -> None:
    from fixtures.pypi_upstream import FixturePyPI  # noqa: PLC0415

    with FixturePyPI() as upstream:
        secret_url = upstream.index_url.replace("http://", "http://mirror-user:s3cr3t-pw@")
        with PantryProcess(tmp_path / "data", pypi_config(secret_url)) as server:
            health = request(server.url + "/-/health").body
            page = request(server.url + "/pypi/simple/alpha/")
            metrics = request(server.url + "/-/metrics").body
    assert page.status == 200
    for text in (health, page.body, metrics, server.log().encode()):
        assert b"s3cr3t-pw" not in text
