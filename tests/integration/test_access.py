"""Tokens for a pantry that serves a network: 401 without one, clients with one get through."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from fixtures.http import request
from fixtures.pantry_process import PantryProcess, pypi_config
from fixtures.pypi_upstream import FixturePyPI
from pantry.tokens import new_token

TOKEN, HASHED = new_token()


@pytest.fixture
def guarded(fixture_pypi: FixturePyPI, tmp_path: Path) -> Iterator[PantryProcess]:
    config = f'[server]\ntokens = ["{HASHED}"]\n' + pypi_config(fixture_pypi.index_url)
    with PantryProcess(tmp_path / "data", config) as server:
        yield server


def test_tokens__requests_without_a_token_get_401(guarded: PantryProcess) -> None:
    answer = request(guarded.url + "/pypi/simple/alpha/")
    assert answer.status == 401
    assert answer.headers["www-authenticate"].startswith("Basic")
    wrong = request(guarded.url + "/pypi/simple/alpha/", headers={"Authorization": "Bearer no"})
    assert wrong.status == 401
    assert request(guarded.url + "/-/metrics").status == 401


def test_tokens__health_stays_open(guarded: PantryProcess) -> None:
    assert request(guarded.url + "/-/health").status == 200


def test_tokens__bearer_and_basic_get_through(guarded: PantryProcess) -> None:
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    basic = {"Authorization": "Basic " + base64.b64encode(f"ci:{TOKEN}".encode()).decode()}
    assert request(guarded.url + "/pypi/simple/alpha/", headers=bearer).status == 200
    assert request(guarded.url + "/pypi/simple/alpha/", headers=basic).status == 200


def test_tokens__pip_with_credentials_in_the_index_url(
    guarded: PantryProcess, tmp_path: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env.update(PIP_CONFIG_FILE=os.devnull, PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_CACHE_DIR="1")
    index = f"http://ci:{TOKEN}@127.0.0.1:{guarded.port}/pypi/simple/"
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "-d", str(tmp_path / "d")]
    ok = subprocess.run(
        [*command, "--index-url", index, "alpha==1.0"],
        capture_output=True, text=True, timeout=120, env=env, check=False,
    )  # fmt: skip
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert TOKEN not in guarded.log()  # credentials never reach the log
    refused = subprocess.run(
        [*command, "--index-url", f"{guarded.url}/pypi/simple/", "alpha==1.1"],
        capture_output=True, text=True, timeout=120, env=env, check=False,
    )  # fmt: skip
    assert refused.returncode != 0


def test_tokens__a_plain_token_in_the_config_is_refused_without_echoing_it(
    fixture_pypi: FixturePyPI, tmp_path: Path
) -> None:
    config = tmp_path / "c.toml"
    config.write_text(f'[server]\ntokens = ["{TOKEN}"]\n' + pypi_config(fixture_pypi.index_url))
    env = {k: v for k, v in os.environ.items() if not k.startswith("PANTRY_")}
    result = subprocess.run(
        [sys.executable, "-m", "pantry", "check-config", "--config", str(config)],
        capture_output=True, text=True, timeout=60, env=env, check=False,
    )  # fmt: skip
    assert result.returncode == 2
    assert "[server].tokens" in result.stderr
    assert TOKEN not in result.stderr + result.stdout


def test_allow_list__a_foreign_address_is_refused(
    fixture_pypi: FixturePyPI, tmp_path: Path
) -> None:
    import http.client  # noqa: PLC0415

    config = '[server]\nallow = ["127.0.0.1/32"]\n' + pypi_config(fixture_pypi.index_url)
    with PantryProcess(tmp_path / "data", config) as server:
        mine = request(server.url + "/pypi/simple/alpha/")
        foreign = http.client.HTTPConnection(
            "127.0.0.1", server.port, timeout=10, source_address=("127.0.0.2", 0)
        )
        try:
            foreign.request("GET", "/pypi/simple/alpha/")
            answer = foreign.getresponse()
            status, body = answer.status, answer.read()
        finally:
            foreign.close()
    assert mine.status == 200
    assert status == 403
    assert b"127.0.0.2 is not allowed" in body
