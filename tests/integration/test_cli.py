"""The command line: clear one-line errors, never a traceback."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

from fixtures.pantry_process import PantryProcess, free_port, pypi_config
from fixtures.pypi_upstream import FixturePyPI


def _pantry(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("PANTRY_")}
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "pantry", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=full_env,
        check=False,
    )


def test_serve__bad_config_is_one_clear_error(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text('[server]\nlisten = "x"\n')
    result = _pantry("serve", "--config", str(config), "--data", str(tmp_path / "d"))
    assert result.returncode == 2
    assert "listen address 'x' is not HOST:PORT" in result.stderr
    assert "Traceback" not in result.stderr


def test_serve__taken_port_is_one_clear_error(tmp_path: Path, fixture_pypi: FixturePyPI) -> None:
    config = tmp_path / "c.toml"
    config.write_text(pypi_config(fixture_pypi.index_url))
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = _pantry(
            "serve", "--config", str(config), "--data", str(tmp_path / "d"),
            "--listen", f"127.0.0.1:{port}",
        )  # fmt: skip
    assert result.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr


def test_serve__data_dir_that_is_a_file_is_one_clear_error(
    tmp_path: Path, fixture_pypi: FixturePyPI
) -> None:
    config = tmp_path / "c.toml"
    config.write_text(pypi_config(fixture_pypi.index_url))
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = _pantry("serve", "--config", str(config), "--data", str(blocker / "data"))
    assert result.returncode == 2
    assert "cannot create data directory" in result.stderr
    assert "Traceback" not in result.stderr


def test_serve__env_overrides(tmp_path: Path, fixture_pypi: FixturePyPI) -> None:
    config = tmp_path / "c.toml"
    config.write_text(pypi_config(fixture_pypi.index_url))
    port = free_port()
    env = {
        "PANTRY_LISTEN": f"127.0.0.1:{port}",
        "PANTRY_DATA": str(tmp_path / "envdata"),
        "PANTRY_CONFIG": str(config),
    }
    result = _pantry("check-config", env=env)
    assert result.returncode == 0, result.stderr
    assert f"127.0.0.1:{port}" in result.stdout
    assert "envdata" in result.stdout
    assert fixture_pypi.index_url in result.stdout


def test_serve__restart_keeps_the_cache(tmp_path: Path, fixture_pypi: FixturePyPI) -> None:
    from fixtures.http import request  # noqa: PLC0415

    config = pypi_config(fixture_pypi.index_url)
    with PantryProcess(tmp_path / "data", config) as first:
        assert request(first.url + "/pypi/simple/alpha/").xcache == "MISS"
    with PantryProcess(tmp_path / "data", config) as second:
        assert request(second.url + "/pypi/simple/alpha/").xcache == "HIT"


def test_setup__unknown_client_is_a_clear_error() -> None:
    result = _pantry("setup", "cobol")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr + result.stdout


def test_serve__default_npm_skipped_when_npm_cannot_be_discovered(
    tmp_path: Path, fixture_pypi: FixturePyPI
) -> None:
    from fixtures.http import request  # noqa: PLC0415

    config = pypi_config(fixture_pypi.index_url)
    env = {k: v for k, v in os.environ.items() if not k.lower().startswith("npm_config")}
    env["PATH"] = str(Path(sys.executable).parent)  # python, but no npm
    with PantryProcess(tmp_path / "data", config, env=env) as server:
        health = request(server.url + "/-/health").body.decode()
        assert '"pypi"' in health
        assert '"npm"' not in health
    assert "repository /npm/ not served" in server.log()


def test_serve__further_pypi_repository_with_its_own_upstream(
    tmp_path: Path, fixture_pypi: FixturePyPI
) -> None:
    from fixtures.http import request  # noqa: PLC0415

    config = pypi_config(fixture_pypi.index_url) + (
        f'[repositories.internal]\ntype = "pypi"\nupstream = "{fixture_pypi.index_url}"\n'
    )
    with PantryProcess(tmp_path / "data", config) as server:
        answer = request(server.url + "/internal/simple/alpha/")
    assert (answer.status, answer.xcache) == (200, "MISS")
    assert b"../../files/alpha/" in answer.body
