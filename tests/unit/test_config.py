"""Config loading: precedence, defaults, and every problem reported at once."""

from __future__ import annotations

from pathlib import Path

import pytest

from pantry.config import DEFAULT_TTL_S, load, parse_listen
from pantry.errors import ConfigError


def _write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "pantry.toml"
    path.write_text(text)
    return str(path)


def test_load__defaults_without_file(tmp_path: Path) -> None:
    config = load(env={"PANTRY_DATA": str(tmp_path)})
    assert (config.host, config.port) == ("127.0.0.1", 7878)
    assert config.data == tmp_path
    assert set(config.repositories) == {"pypi", "npm"}
    assert config.repositories["pypi"].upstream is None  # discovered at start
    assert config.repositories["pypi"].metadata_ttl_s == DEFAULT_TTL_S
    assert [str(n) for n in config.allow] == ["127.0.0.0/8", "::1/128"]


def test_load__precedence_cli_env_file(tmp_path: Path) -> None:
    path = _write(tmp_path, '[server]\nlisten = "127.0.0.1:1000"\ndata = "/from/file"\n')
    from_file = load(env={}, config_file=path)
    from_env = load(env={"PANTRY_CONFIG": path, "PANTRY_LISTEN": "127.0.0.1:2000"})
    from_cli = load(env={"PANTRY_LISTEN": "127.0.0.1:2000"}, config_file=path, listen="[::1]:3000")
    assert (from_file.port, str(from_file.data)) == (1000, "/from/file")
    assert from_env.port == 2000
    assert (from_cli.host, from_cli.port) == ("::1", 3000)


def test_load__workers_from_file_and_cli(tmp_path: Path) -> None:
    path = _write(tmp_path, "[server]\nworkers = 3\n")
    assert load(env={}).workers == 1
    assert load(env={}, config_file=path).workers == 3
    assert load(env={}, config_file=path, workers=2).workers == 2


def test_load__repositories_replace_and_add(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        '[repositories.pypi]\nupstream = "http://127.0.0.1:9/simple"\nmetadata_ttl_s = 0\n'
        '[repositories.internal]\ntype = "pypi"\nupstream = "http://127.0.0.1:9/x/"\n',
    )
    config = load(env={}, config_file=path)
    assert config.repositories["pypi"].upstream == "http://127.0.0.1:9/simple/"
    assert config.repositories["pypi"].metadata_ttl_s == 0
    assert config.repositories["internal"].type == "pypi"


def test_load__every_problem_at_once(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        '[server]\nlisten = "nope"\nallow = ["10.0.0.0/33"]\ncolour = 1\n'
        "[upstream]\nconnect_timeout_s = -1\n"
        '[repositories.Bad]\ntype = "pypi"\n'
        '[repositories.other]\ntype = "cobol"\n'
        '[repositories.third]\ntype = "pypi"\n'
        "[surprise]\n",
    )
    with pytest.raises(ConfigError) as caught:
        load(env={}, config_file=path)
    message = str(caught.value)
    for fragment in (
        "unknown key 'colour'",
        "'nope' is not HOST:PORT",
        "'10.0.0.0/33' is not an address",
        "connect_timeout_s: must be a number",
        "[repositories.Bad]: name must be",
        "[repositories.other].type",
        "[repositories.third]: needs an upstream",
        "unknown key 'surprise'",
    ):
        assert fragment in message


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("not toml = = =", "not valid TOML"),
        ("server = 1", "[server] must be a table"),
        ('[server]\nallow = "127.0.0.1"', "must be a list"),
        ('[server]\npublic_url = "ftp://x"', "public_url"),
        ("[repositories.pypi]\nupstream = 5", "must be a URL string"),
        ("[repositories]\npypi = 1", "must be a table"),
        ("[server]\nworkers = 0", "[server].workers: must be a whole number from 1 to 64, got 0"),
        ("[server]\nworkers = 2.5", "[server].workers: must be a whole number"),
    ],
)
def test_load__invalid_files(tmp_path: Path, text: str, fragment: str) -> None:
    with pytest.raises(ConfigError, match=None) as caught:
        load(env={}, config_file=_write(tmp_path, text))
    assert fragment in str(caught.value)


def test_load__missing_file_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load(env={}, config_file=str(tmp_path / "absent.toml"))


@pytest.mark.parametrize("value", ["127.0.0.1", ":80", "h:99999", "h:x"])
def test_parse_listen__rejects(value: str) -> None:
    with pytest.raises(ConfigError):
        parse_listen(value)
