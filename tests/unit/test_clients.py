"""``pantry setup <client>`` and upstream discovery (``pantry.clients``).

Every test passes ``tmp_path`` as the home directory and an explicit environment, so the
real user's configuration is never read or written.  URLs are made-up loopback ones
(or names under the reserved ``.invalid`` domain, which never resolve).
"""

from __future__ import annotations

import configparser
import io
import json
import os
import subprocess
import sys
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

from pantry.clients import CLIENTS, pdm, pip, setup, uv
from pantry.clients.discover import (
    REMEMBERED_FILE,
    Discovered,
    discover_npm_upstream,
    discover_pypi_upstream,
    read_pip_builtin_index,
)
from pantry.clients.ini import set_option
from pantry.clients.origin import Origin
from pantry.errors import ConfigError

BASE = "http://127.0.0.1:7878"
INDEX = f"{BASE}/pypi/simple/"
OWN = ("http://127.0.0.1:7878/",)
UPSTREAM_A = "http://127.0.0.1:8001/simple/"
UPSTREAM_B = "http://127.0.0.1:8002/simple/"
UPSTREAM_C = "http://127.0.0.1:8003/simple/"

FILE_CLIENTS = ("pip", "uv", "pdm")


def run_setup(
    client: str,
    action: str,
    home: Path,
    *,
    env: Mapping[str, str] | None = None,
    base_url: str = BASE,
) -> tuple[int, str]:
    out = io.StringIO()
    code = setup(
        client,
        base_url=base_url,
        action=action,  # type: ignore[arg-type]
        home=home,
        env={"HOME": str(home)} if env is None else env,
        out=out,
    )
    return code, out.getvalue()


def config_file(client: str, home: Path) -> Path:
    return {
        "pip": home / ".config" / "pip" / "pip.conf",
        "uv": home / ".config" / "uv" / "uv.toml",
        "pdm": home / ".config" / "pdm" / "config.toml",
    }[client]


def configured_url(client: str, path: Path) -> object:
    """The index URL the client would read from ``path``."""
    text = path.read_text()
    if client == "pip":
        parser = configparser.RawConfigParser()
        parser.read_string(text)
        return parser.get("global", "index-url")
    data = tomllib.loads(text)
    if client == "uv":
        return next(entry["url"] for entry in data["index"] if entry.get("default"))
    return data["pypi"]["url"]


def sidecars(path: Path) -> list[str]:
    return sorted(p.name for p in path.parent.iterdir() if p.name != path.name)


# --- discovery ------------------------------------------------------------------------


def discover_pypi(
    tmp_path: Path,
    env: Mapping[str, str],
    pip_config_value: str | None,
    pip_default: str | None = UPSTREAM_C,
) -> Discovered:
    return discover_pypi_upstream(
        env=env,
        data_dir=tmp_path / "data",
        own_urls=OWN,
        pip_config_value=pip_config_value,
        pip_default=lambda: pip_default,
    )


@pytest.mark.parametrize(
    ("env", "pip_config_value", "expected_url", "expected_source"),
    [
        ({"PIP_INDEX_URL": UPSTREAM_A}, UPSTREAM_B, UPSTREAM_A, "PIP_INDEX_URL"),
        ({}, UPSTREAM_B, UPSTREAM_B, "pip config global.index-url"),
        ({"PIP_INDEX_URL": ""}, UPSTREAM_B, UPSTREAM_B, "pip config global.index-url"),
        ({}, None, UPSTREAM_C, "pip's built-in default index"),
        ({}, "", UPSTREAM_C, "pip's built-in default index"),
        ({"PIP_INDEX_URL": UPSTREAM_A.rstrip("/")}, None, UPSTREAM_A, "PIP_INDEX_URL"),
    ],
)
def test_discover_pypi__candidate_order(
    tmp_path: Path,
    env: dict[str, str],
    pip_config_value: str | None,
    expected_url: str,
    expected_source: str,
) -> None:
    found = discover_pypi(tmp_path, env, pip_config_value)
    assert found == Discovered(expected_url, expected_source, None)


@pytest.mark.parametrize(
    "pantry_url",
    [
        "http://127.0.0.1:7878/pypi/simple/",
        "http://localhost:7878/pypi/simple/",
        "http://LOCALHOST:7878/pypi/simple",
        "http://[::1]:7878/pypi/simple/",
        "http://127.0.0.1:7878/other/simple/",
    ],
)
def test_discover_pypi__loop_guard_skips_pantry_itself(tmp_path: Path, pantry_url: str) -> None:
    found = discover_pypi(tmp_path, {"PIP_INDEX_URL": pantry_url}, UPSTREAM_B)
    assert found.url == UPSTREAM_B
    assert found.source == "pip config global.index-url"
    assert found.note is not None
    assert "pip is configured to use pantry itself" in found.note
    assert pantry_url in found.note
    assert found.note.endswith(f"using {UPSTREAM_B} instead")


@pytest.mark.parametrize(
    "other_server",
    [
        "http://127.0.0.1:7879/pypi/simple/",  # another port
        "https://127.0.0.1:7878/pypi/simple/",  # another scheme
    ],
)
def test_discover_pypi__loop_guard_keeps_other_servers(tmp_path: Path, other_server: str) -> None:
    found = discover_pypi(tmp_path, {"PIP_INDEX_URL": other_server}, UPSTREAM_B)
    assert found == Discovered(other_server, "PIP_INDEX_URL", None)


def test_discover_pypi__every_candidate_is_pantry_uses_builtin(tmp_path: Path) -> None:
    env = {"PIP_INDEX_URL": "http://localhost:7878/pypi/simple/"}
    found = discover_pypi(tmp_path, env, "http://[::1]:7878/pypi/simple/")
    assert found.url == UPSTREAM_C
    assert found.source == "pip's built-in default index"
    assert found.note is not None
    assert "PIP_INDEX_URL" in found.note
    assert "pip config global.index-url" in found.note


def test_discover_pypi__invalid_candidate_is_skipped_with_note(tmp_path: Path) -> None:
    found = discover_pypi(tmp_path, {"PIP_INDEX_URL": "file:///srv/simple"}, UPSTREAM_B)
    assert found.url == UPSTREAM_B
    assert found.note is not None
    assert "not an http(s) URL" in found.note


def test_discover_pypi__remembers_atomically_and_keeps_other_keys(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / REMEMBERED_FILE).write_text(json.dumps({"npm": "http://127.0.0.1:8100/"}))
    discover_pypi(tmp_path, {}, UPSTREAM_B)
    assert json.loads((data / REMEMBERED_FILE).read_text()) == {
        "npm": "http://127.0.0.1:8100/",
        "pypi": UPSTREAM_B,
    }
    assert sorted(p.name for p in data.iterdir()) == [REMEMBERED_FILE]


def test_discover_pypi__creates_data_dir(tmp_path: Path) -> None:
    discover_pypi(tmp_path, {}, UPSTREAM_B)
    remembered = json.loads((tmp_path / "data" / REMEMBERED_FILE).read_text())
    assert remembered == {"pypi": UPSTREAM_B}


def test_discover_pypi__falls_back_to_remembered(tmp_path: Path) -> None:
    discover_pypi(tmp_path, {}, UPSTREAM_A)  # an earlier start remembers UPSTREAM_A
    env = {"PIP_INDEX_URL": "http://localhost:7878/pypi/simple/"}
    found = discover_pypi(tmp_path, env, None, pip_default=None)
    assert found.url == UPSTREAM_A
    assert found.source == f"remembered in {tmp_path / 'data' / REMEMBERED_FILE}"
    assert found.note is not None
    assert "pantry itself" in found.note


@pytest.mark.parametrize(
    "remembered",
    [
        None,  # no file at all
        {"npm": "http://127.0.0.1:8100/"},  # only another ecosystem
        {"pypi": "http://localhost:7878/pypi/simple/"},  # pantry itself
        "not json",
    ],
)
def test_discover_pypi__nothing_usable_raises_config_error(
    tmp_path: Path, remembered: object
) -> None:
    data = tmp_path / "data"
    if remembered is not None:
        data.mkdir()
        body = remembered if isinstance(remembered, str) else json.dumps(remembered)
        (data / REMEMBERED_FILE).write_text(body)
    env = {"PIP_INDEX_URL": "http://127.0.0.1:7878/pypi/simple/"}
    with pytest.raises(ConfigError, match="set `upstream` under") as raised:
        discover_pypi(tmp_path, env, None, pip_default=None)
    assert "\n" not in str(raised.value)
    assert "[repositories.pypi]" in str(raised.value)


def test_discover_pypi__builtin_default_read_from_installed_pip(tmp_path: Path) -> None:
    assert read_pip_builtin_index() is not None, "pip is installed in the test environment"
    found = discover_pypi_upstream(
        env={}, data_dir=tmp_path / "data", own_urls=OWN, pip_config_value=None
    )
    assert found.url.startswith("https://")
    assert found.url.endswith("/")
    assert found.source == "pip's built-in default index"
    assert found.note is None


def discover_npm(
    tmp_path: Path, env: Mapping[str, str], npm_config_value: str | None
) -> Discovered:
    return discover_npm_upstream(
        env=env, data_dir=tmp_path / "data", own_urls=OWN, npm_config_value=npm_config_value
    )


@pytest.mark.parametrize(
    ("env", "npm_config_value", "expected_url", "expected_source"),
    [
        (
            {"npm_config_registry": UPSTREAM_A, "NPM_CONFIG_REGISTRY": UPSTREAM_B},
            UPSTREAM_C,
            UPSTREAM_A,
            "npm_config_registry",
        ),
        ({"NPM_CONFIG_REGISTRY": UPSTREAM_B}, UPSTREAM_C, UPSTREAM_B, "NPM_CONFIG_REGISTRY"),
        ({}, UPSTREAM_C.rstrip("/"), UPSTREAM_C, "npm config registry"),
    ],
)
def test_discover_npm__candidate_order(
    tmp_path: Path,
    env: dict[str, str],
    npm_config_value: str | None,
    expected_url: str,
    expected_source: str,
) -> None:
    assert discover_npm(tmp_path, env, npm_config_value) == Discovered(
        expected_url, expected_source, None
    )
    remembered = json.loads((tmp_path / "data" / REMEMBERED_FILE).read_text())
    assert remembered == {"npm": expected_url}


def test_discover_npm__loop_guard_then_remembered_then_error(tmp_path: Path) -> None:
    pantry_npm = "http://localhost:7878/npm/"
    with pytest.raises(ConfigError, match=r"\[repositories\.npm\]"):
        discover_npm(tmp_path, {}, pantry_npm)
    discover_npm(tmp_path, {}, UPSTREAM_A)
    found = discover_npm(tmp_path, {"npm_config_registry": pantry_npm}, None)
    assert found.url == UPSTREAM_A
    assert found.source.startswith("remembered in ")
    assert found.note is not None
    assert found.note.startswith("npm is configured to use pantry itself")


@pytest.mark.parametrize(
    ("left", "right", "same"),
    [
        ("http://127.0.0.1:7878/", "http://localhost:7878/x/", True),
        ("http://0.0.0.0:7878/", "http://[::1]:7878/", True),
        ("http://127.0.0.1/", "http://127.0.0.1:80/", True),
        ("https://pantry.invalid/", "https://PANTRY.invalid:443/", True),
        ("http://127.0.0.1:7878/", "http://127.0.0.1:7879/", False),
        ("http://127.0.0.1:7878/", "https://127.0.0.1:7878/", False),
        ("http://pantry.invalid:7878/", "http://127.0.0.1:7878/", False),
    ],
)
def test_origin__is_same_server(left: str, right: str, same: bool) -> None:
    a, b = Origin.parse(left), Origin.parse(right)
    assert a is not None
    assert b is not None
    assert a.is_same_server(b) is same


@pytest.mark.parametrize("url", ["", "ftp://127.0.0.1/", "/simple/", "http://", "http://h:99999/"])
def test_origin__parse_rejects(url: str) -> None:
    assert Origin.parse(url) is None


# --- where each client's file lives --------------------------------------------------


def _pip(home: Path, env: Mapping[str, str], platform: str) -> Path:
    return pip.config_path(home, env, platform=platform)


def _uv(home: Path, env: Mapping[str, str], platform: str) -> Path:
    return uv.config_path(home, env)


def _pdm(home: Path, env: Mapping[str, str], platform: str) -> Path:
    return pdm.config_path(home, env, platform=platform)


PathRule = Callable[[Path, Mapping[str, str], str], Path]


@pytest.mark.parametrize(
    ("rule", "env", "platform", "expected"),
    [
        (_pip, {}, "linux", ".config/pip/pip.conf"),
        (_pip, {"XDG_CONFIG_HOME": "{home}/xdg"}, "linux", "xdg/pip/pip.conf"),
        (_pip, {"XDG_CONFIG_HOME": "relative"}, "linux", ".config/pip/pip.conf"),
        (_pip, {"PIP_CONFIG_FILE": "{home}/p.ini"}, "linux", "p.ini"),
        (_pip, {"PIP_CONFIG_FILE": os.devnull}, "linux", ".config/pip/pip.conf"),
        (_pip, {"XDG_CONFIG_HOME": "{home}/xdg"}, "darwin", ".config/pip/pip.conf"),
        (_uv, {}, "linux", ".config/uv/uv.toml"),
        (_uv, {"XDG_CONFIG_HOME": "{home}/xdg"}, "linux", "xdg/uv/uv.toml"),
        (_uv, {"UV_CONFIG_FILE": "{home}/u.toml"}, "linux", "u.toml"),
        (_pdm, {}, "linux", ".config/pdm/config.toml"),
        (_pdm, {"XDG_CONFIG_HOME": "{home}/xdg"}, "linux", "xdg/pdm/config.toml"),
        (_pdm, {"PDM_CONFIG_FILE": "{home}/d.toml"}, "linux", "d.toml"),
        (_pdm, {}, "darwin", "Library/Application Support/pdm/config.toml"),
    ],
)
def test_config_path__rules(
    tmp_path: Path, rule: PathRule, env: dict[str, str], platform: str, expected: str
) -> None:
    filled = {key: value.format(home=tmp_path) for key, value in env.items()}
    assert rule(tmp_path, filled, platform) == tmp_path / expected


def test_config_path__pip_macos_prefers_existing_application_support(tmp_path: Path) -> None:
    app_support = tmp_path / "Library" / "Application Support" / "pip"
    app_support.mkdir(parents=True)
    assert pip.config_path(tmp_path, {}, platform="darwin") == app_support / "pip.conf"


# --- print ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("client", "expected"),
    [
        (
            "pip",
            [f"index-url = {INDEX}", f"pip install --index-url {INDEX}", f"PIP_INDEX_URL={INDEX}"],
        ),
        ("uv", [f'url = "{INDEX}"', "default = true", f"UV_DEFAULT_INDEX={INDEX}"]),
        ("pdm", ["[pypi]", f'url = "{INDEX}"', f"PDM_PYPI_URL={INDEX}"]),
        (
            "poetry",
            [
                "[[tool.poetry.source]]",
                'priority = "primary"',
                f"poetry source add --priority=primary pantry {INDEX}",
            ],
        ),
    ],
)
def test_setup_print__shows_url_path_and_one_off(
    tmp_path: Path, client: str, expected: list[str]
) -> None:
    code, out = run_setup(client, "print", tmp_path)
    assert code == 0
    for fragment in expected:
        assert fragment in out
    if client in FILE_CLIENTS:
        assert str(config_file(client, tmp_path)) in out
    assert list(tmp_path.iterdir()) == []


def test_setup_print__other_repo_and_trailing_slash(tmp_path: Path) -> None:
    out = io.StringIO()
    code = setup(
        "pip", base_url=BASE + "/", repo="corp", action="print", home=tmp_path, env={}, out=out
    )
    assert code == 0
    assert f"{BASE}/corp/simple/" in out.getvalue()


@pytest.mark.parametrize(
    ("client", "env", "expected"),
    [
        ("pip", {"PIP_INDEX_URL": UPSTREAM_A}, "PIP_INDEX_URL is set"),
        ("pip", {"PIP_CONFIG_FILE": os.devnull}, "pip reads no config file"),
        ("uv", {"UV_DEFAULT_INDEX": UPSTREAM_A}, "UV_DEFAULT_INDEX is set"),
        ("uv", {"UV_NO_CONFIG": "1"}, "uv reads no config file"),
        ("pdm", {"PDM_PYPI_URL": UPSTREAM_A}, "PDM_PYPI_URL is set"),
    ],
)
def test_setup_print__notes_environment_that_wins(
    tmp_path: Path, client: str, env: dict[str, str], expected: str
) -> None:
    code, out = run_setup(client, "print", tmp_path, env=env)
    assert code == 0
    assert expected in out


@pytest.mark.parametrize(
    ("client", "base_url"),
    [
        ("npm-but-not-yet", BASE),
        ("pip", "ftp://127.0.0.1:7878"),
        ("pip", "127.0.0.1:7878"),
        ("pip", "http://127.0.0.1:7878/a b"),
        ("pip", "http://user:secret@127.0.0.1:7878"),
    ],
)
def test_setup__bad_arguments_fail_with_one_line(
    tmp_path: Path, client: str, base_url: str
) -> None:
    code, out = run_setup(client, "write", tmp_path, base_url=base_url)
    assert code == 2
    assert out.startswith("error: ")
    assert out.count("\n") == 1
    assert list(tmp_path.iterdir()) == []


def test_setup__clients_registry() -> None:
    assert CLIENTS == ("pip", "uv", "pdm", "poetry", "npm", "pnpm", "yarn")


# --- write and undo -------------------------------------------------------------------


@pytest.mark.parametrize("client", FILE_CLIENTS)
def test_setup_write__creates_file_and_undo_removes_it(tmp_path: Path, client: str) -> None:
    path = config_file(client, tmp_path)
    code, out = run_setup(client, "write", tmp_path)
    assert (code, "created") == (0, out.split()[1])
    assert configured_url(client, path) == INDEX
    assert sidecars(path) == [path.name + ".pantry-created"]

    code, out = run_setup(client, "write", tmp_path)
    assert code == 0
    assert "nothing changed" in out

    code, out = run_setup(client, "undo", tmp_path)
    assert code == 0
    assert "removed" in out
    assert not path.exists()
    assert sidecars(path) == []


EXISTING = {
    "pip": (
        "# my pip settings\n"
        "[global]\n"
        "timeout = 60\n"
        "find-links =\n"
        "    /srv/wheels\n"
        "    /srv/more-wheels\n"
        "\n"
        "[install]\n"
        "; keep this comment\n"
        "no-cache-dir = true\n"
    ),
    "uv": (
        "# my uv settings\n"
        "native-tls = true\n"
        "\n"
        "[[index]]\n"
        'name = "corp-extra"\n'
        'url = "http://127.0.0.1:8009/extra/simple/"\n'
        "\n"
        "[pip]\n"
        "compile-bytecode = true\n"
    ),
    "pdm": ("# my pdm settings\n[python]\nuse_venv = true\n\n[install]\ncache = true\n"),
}


@pytest.mark.parametrize("client", FILE_CLIENTS)
def test_setup_write__preserves_content_backs_up_once_undo_restores(
    tmp_path: Path, client: str
) -> None:
    path = config_file(client, tmp_path)
    path.parent.mkdir(parents=True)
    original = EXISTING[client].encode()
    path.write_bytes(original)
    path.chmod(0o600)
    backup = path.with_name(path.name + ".pantry-backup")

    code, out = run_setup(client, "write", tmp_path)
    assert code == 0
    assert str(backup) in out
    written = path.read_text()
    assert configured_url(client, path) == INDEX
    for line in EXISTING[client].splitlines():
        assert line in written.splitlines()
    assert backup.read_bytes() == original
    assert path.stat().st_mode & 0o777 == 0o600
    assert sidecars(path) == [backup.name]

    code, _ = run_setup(client, "write", tmp_path)
    assert code == 0
    assert path.read_text() == written  # idempotent

    code, _ = run_setup(client, "write", tmp_path, base_url="http://127.0.0.1:7979")
    assert code == 0
    assert configured_url(client, path) == "http://127.0.0.1:7979/pypi/simple/"
    assert backup.read_bytes() == original  # the first backup is never overwritten

    code, out = run_setup(client, "undo", tmp_path)
    assert code == 0
    assert "restored" in out
    assert path.read_bytes() == original
    assert sidecars(path) == []

    code, out = run_setup(client, "undo", tmp_path)
    assert code == 0
    assert "nothing to undo" in out
    assert path.read_bytes() == original


def test_setup_write__pip_edits_only_its_lines(tmp_path: Path) -> None:
    path = config_file("pip", tmp_path)
    path.parent.mkdir(parents=True)
    path.write_text(EXISTING["pip"])
    run_setup("pip", "write", tmp_path)
    expected = EXISTING["pip"].replace(
        "    /srv/more-wheels\n", f"    /srv/more-wheels\nindex-url = {INDEX}\n"
    )
    assert path.read_text() == expected


@pytest.mark.parametrize(
    ("client", "content"),
    [
        ("pip", "index-url = http://127.0.0.1:8001/simple/\n"),  # no section header
        ("pip", "[global]\ntimeout = 1\ntimeout = 2\n"),  # duplicate option
        ("pip", "[global]\n[global]\n"),  # duplicate section
        ("pip", "[global]\nthis line has no delimiter\n"),
        ("pip", "[install]\nindex-url = http://127.0.0.1:8001/simple/\n"),
        ("pip", "[download]\nINDEX_URL = http://127.0.0.1:8001/simple/\n"),
        ("pip", "[DEFAULT]\nindex-url = http://127.0.0.1:8001/simple/\n[install]\n"),
        ("uv", 'index-url = "http://127.0.0.1:8001/simple/"\n'),
        ("uv", '[pip]\nindex-url = "http://127.0.0.1:8001/simple/"\n'),
        ("uv", '[[index]]\nurl = "http://127.0.0.1:8001/simple/"\ndefault = true\n'),
        ("uv", 'index = [{ url = "http://127.0.0.1:8001/simple/", default = true }]\n'),
        ("uv", "native-tls = = true\n"),  # not TOML
        ("uv", "# >>> pantry\n[[index]]\n"),  # damaged markers
        ("uv", "# <<< pantry\n# >>> pantry\n"),
        ("pdm", "[pypi]\nverify_ssl = false\n"),
        ("pdm", 'pypi.url = "http://127.0.0.1:8001/simple/"\n'),
        ("pdm", "[python\n"),  # not TOML
    ],
)
def test_setup_write__refuses_and_leaves_file_untouched(
    tmp_path: Path, client: str, content: str
) -> None:
    path = config_file(client, tmp_path)
    path.parent.mkdir(parents=True)
    path.write_text(content)
    code, out = run_setup(client, "write", tmp_path)
    assert code == 2
    assert out.startswith(f"error: {client}: {path}: ")
    assert out.count("\n") == 1
    assert path.read_text() == content
    assert sidecars(path) == []


@pytest.mark.parametrize("client", FILE_CLIENTS)
def test_setup_write__refuses_unreadable_or_binary_file(tmp_path: Path, client: str) -> None:
    path = config_file(client, tmp_path)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"\xff\xfe[global]\n")
    code, out = run_setup(client, "write", tmp_path)
    assert code == 2
    assert "UTF-8" in out
    assert path.read_bytes() == b"\xff\xfe[global]\n"
    path.unlink()
    path.mkdir()  # a directory where the file should be
    code, out = run_setup(client, "write", tmp_path)
    assert code == 2
    assert "cannot read" in out
    assert sidecars(path) == []


@pytest.mark.parametrize("action", ["write", "undo"])
def test_setup_poetry__write_and_undo_explain_per_project(tmp_path: Path, action: str) -> None:
    code, out = run_setup("poetry", action, tmp_path)
    assert code == 2
    assert out.startswith("error: poetry: ")
    assert "per project" in out
    if action == "write":
        assert f"poetry source add --priority=primary pantry {INDEX}" in out
    assert out.count("\n") == 1
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("client", FILE_CLIENTS)
def test_setup_undo__nothing_to_undo(tmp_path: Path, client: str) -> None:
    code, out = run_setup(client, "undo", tmp_path)
    assert code == 0
    assert "nothing to undo" in out
    assert list(tmp_path.iterdir()) == []


def test_setup_write__follows_env_config_file(tmp_path: Path) -> None:
    chosen = tmp_path / "elsewhere" / "pip.ini"
    code, _ = run_setup("pip", "write", tmp_path, env={"PIP_CONFIG_FILE": str(chosen)})
    assert code == 0
    assert configured_url("pip", chosen) == INDEX
    assert not (tmp_path / ".config").exists()


def test_setup_write__keeps_symlinked_config(tmp_path: Path) -> None:
    dotfiles = tmp_path / "dotfiles" / "uv.toml"
    dotfiles.parent.mkdir()
    dotfiles.write_text("native-tls = true\n")
    path = config_file("uv", tmp_path)
    path.parent.mkdir(parents=True)
    path.symlink_to(dotfiles)
    run_setup("uv", "write", tmp_path)
    assert path.is_symlink()
    assert configured_url("uv", dotfiles) == INDEX
    run_setup("uv", "undo", tmp_path)
    assert path.is_symlink()
    assert dotfiles.read_text() == "native-tls = true\n"


@pytest.mark.parametrize(
    ("base_url", "existing", "expected_trusted"),
    [
        ("http://pantry.invalid:7878", "", "pantry.invalid:7878"),
        (
            "http://pantry.invalid",
            "[global]\ntrusted_host = a.invalid\n",
            "a.invalid pantry.invalid",
        ),
        ("http://pantry.invalid", "[global]\ntrusted-host = pantry.invalid\n", "pantry.invalid"),
        ("https://pantry.invalid", "", None),
        ("http://localhost:7878", "", None),
        ("http://[::1]:7878", "", None),
    ],
)
def test_setup_write__pip_trusted_host_for_remote_http(
    tmp_path: Path, base_url: str, existing: str, expected_trusted: str | None
) -> None:
    path = config_file("pip", tmp_path)
    path.parent.mkdir(parents=True)
    path.write_text(existing)
    code, _ = run_setup("pip", "write", tmp_path, base_url=base_url)
    assert code == 0
    parser = configparser.RawConfigParser()
    parser.read_string(path.read_text())
    assert parser.get("global", "index-url") == f"{base_url}/pypi/simple/"
    trusted = dict(parser.items("global"))
    trusted_values = [v for k, v in trusted.items() if k.replace("_", "-") == "trusted-host"]
    assert trusted_values == ([expected_trusted] if expected_trusted else [])


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "[global]\nindex-url = X\n"),
        ("[install]\na = 1", "[install]\na = 1\n\n[global]\nindex-url = X\n"),
        ("[global]", "[global]\nindex-url = X\n"),
        ("[global]\r\na = 1\r\n", "[global]\r\na = 1\r\nindex-url = X\r\n"),
        ("[global]\n  index_url = old\n    cont\nb = 2\n", "[global]\n  index-url = X\nb = 2\n"),
        ("[global]\nindex-url = a\n# c\nindex_url = b\n", "[global]\nindex-url = X\n# c\n"),
        (
            "[global]\na = 1\n\n# trailing\n[x]\n",
            "[global]\na = 1\nindex-url = X\n\n# trailing\n[x]\n",
        ),
    ],
)
def test_ini_set_option__edits_lines_in_place(text: str, expected: str) -> None:
    same = {"index-url", "index_url"}.__contains__
    assert set_option(text, "global", "index-url", "X", same=same) == expected


def test_setup_write__uv_keeps_crlf_line_endings(tmp_path: Path) -> None:
    path = config_file("uv", tmp_path)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"native-tls = true\r\n")
    run_setup("uv", "write", tmp_path)
    raw = path.read_bytes()
    assert raw.count(b"\n") == raw.count(b"\r\n")
    assert configured_url("uv", path) == INDEX


# --- the real clients read what pantry wrote ---------------------------------------------


def clean_env(home: Path, **extra: str) -> dict[str, str]:
    return {
        "HOME": str(home),
        "PATH": os.defpath,
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "PIP_NO_INPUT": "1",
        **extra,
    }


@pytest.mark.parametrize("via", ["PIP_CONFIG_FILE", "XDG_CONFIG_HOME"])
def test_setup_write__real_pip_reads_the_file(tmp_path: Path, via: str) -> None:
    home = tmp_path / "home"
    home.mkdir()
    target = str(tmp_path / "pip.conf") if via == "PIP_CONFIG_FILE" else str(tmp_path / "xdg")
    env = clean_env(home, **{via: target})
    code, _ = run_setup("pip", "write", home, env=env)
    assert code == 0
    listed = subprocess.run(
        [sys.executable, "-m", "pip", "config", "list"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert f"global.index-url='{INDEX}'" in listed.stdout.splitlines()


def test_setup_write__real_uv_reads_the_file(tmp_path: Path) -> None:
    uv_binary = Path(sys.executable).parent / "uv"
    if not uv_binary.exists():
        pytest.skip("uv is not installed next to the test interpreter")
    home = tmp_path / "home"
    home.mkdir()
    env = clean_env(home, XDG_CONFIG_HOME=str(tmp_path / "xdg"), UV_NO_CACHE="1")
    code, _ = run_setup("uv", "write", home, env=env)
    assert code == 0
    shown = subprocess.run(
        [str(uv_binary), "pip", "compile", "--show-settings", "-"],
        env=env,
        cwd=home,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert f'"{INDEX}"' in shown.stdout, shown.stderr


def test_setup_write__pip_already_set_by_hand_is_left_alone(tmp_path: Path) -> None:
    path = config_file("pip", tmp_path)
    path.parent.mkdir(parents=True)
    path.write_text(f"[global]\nINDEX_URL:{INDEX}\n")
    code, out = run_setup("pip", "write", tmp_path)
    assert code == 0
    assert "nothing changed" in out
    assert path.read_text() == f"[global]\nINDEX_URL:{INDEX}\n"
    assert sidecars(path) == []


def test_setup_write__rewriting_a_created_file_keeps_it_removable(tmp_path: Path) -> None:
    path = config_file("pdm", tmp_path)
    run_setup("pdm", "write", tmp_path)
    code, out = run_setup("pdm", "write", tmp_path, base_url="http://127.0.0.1:7979")
    assert code == 0
    assert "updated" in out
    assert "original kept" not in out
    assert sidecars(path) == [path.name + ".pantry-created"]
    run_setup("pdm", "undo", tmp_path)
    assert not path.exists()
