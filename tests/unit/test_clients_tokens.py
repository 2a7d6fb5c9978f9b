"""``pantry setup <client> --token``: clients authenticate to a pantry with tokens.

Every test passes a temporary directory as the home and an explicit environment, so
the real user's configuration is never read or written.  URLs are made-up loopback
ones or names under the reserved ``.invalid`` domain.  The real clients, when
installed, send their requests to a throwaway loopback server that records the
``Authorization`` header, so nothing leaves the machine.
"""

from __future__ import annotations

import base64
import configparser
import http.server
import io
import os
import re
import shutil
import subprocess
import sys
import threading
import tomllib
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from urllib.parse import quote

import pytest

from pantry.cli import main
from pantry.clients import CLIENTS, setup
from pantry.clients.base import ClientConfigError, Target
from pantry.clients.discover import discover_pypi_upstream
from pantry.clients.npm import set_auth_token
from pantry.clients.origin import redact

BASE = "http://127.0.0.1:7878"
TOKEN = "S3cr3t/t0k+EN="  # needs percent-encoding in a URL: "/", "+" and "="
QUOTED = quote(TOKEN, safe="")
INDEX_WITH_TOKEN = f"http://pantry:{QUOTED}@127.0.0.1:7878/pypi/simple/"
REGISTRY = f"{BASE}/npm/"
AUTH_LINE = f"//127.0.0.1:7878/npm/:_authToken={TOKEN}"
OTHER_TOKEN = "npm_0ther-T0KEN"  # the user's token for another registry

FILE_CLIENTS = ("pip", "uv", "pdm", "npm", "pnpm", "yarn")


def run_setup(
    client: str,
    action: str,
    home: Path,
    *,
    token: str | None = TOKEN,
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
        token=token,
    )
    return code, out.getvalue()


def config_files(client: str, home: Path) -> list[Path]:
    return {
        "pip": [home / ".config" / "pip" / "pip.conf"],
        "uv": [home / ".config" / "uv" / "uv.toml"],
        "pdm": [home / ".config" / "pdm" / "config.toml"],
        "npm": [home / ".npmrc"],
        "pnpm": [home / ".npmrc"],
        "yarn": [home / ".yarnrc", home / ".yarnrc.yml"],
    }[client]


def mode_of(path: Path) -> int:
    return path.stat().st_mode & 0o777


def assert_never_shows_token(out: str, token: str = TOKEN) -> None:
    assert token not in out
    assert quote(token, safe="") not in out


# --- where the token is read back from, per client ------------------------------------


def pip_index(home: Path) -> str:
    parser = configparser.RawConfigParser()
    parser.read_string(config_files("pip", home)[0].read_text())
    return parser.get("global", "index-url")


def uv_index(home: Path) -> str:
    data = tomllib.loads(config_files("uv", home)[0].read_text())
    return str(next(entry["url"] for entry in data["index"] if entry.get("default")))


def pdm_index(home: Path) -> str:
    return str(tomllib.loads(config_files("pdm", home)[0].read_text())["pypi"]["url"])


def npmrc_auth_lines(home: Path) -> list[str]:
    """The .npmrc lines with credentials for pantry's registry."""
    text = (home / ".npmrc").read_text()
    return [line for line in text.splitlines() if line.startswith("//127.0.0.1:7878/")]


def yarnrc_yml_registry_entry(home: Path) -> str:
    """The ``npmRegistries`` entry of the pantry block, as text."""
    text = (home / ".yarnrc.yml").read_text()
    matched = re.search(r"(?m)^npmRegistries:\n((?:  .*\n)+)", text)
    assert matched is not None, text
    return matched.group(1)


TOKEN_HOLDERS: dict[str, Callable[[Path], object]] = {
    "pip": pip_index,
    "uv": uv_index,
    "pdm": pdm_index,
    "npm": npmrc_auth_lines,
    "pnpm": npmrc_auth_lines,
    "yarn": yarnrc_yml_registry_entry,
}
EXPECTED_HOLDING: dict[str, object] = {
    "pip": INDEX_WITH_TOKEN,
    "uv": INDEX_WITH_TOKEN,
    "pdm": INDEX_WITH_TOKEN,
    "npm": [AUTH_LINE],
    "pnpm": [AUTH_LINE],
    "yarn": (f'  "{REGISTRY}":\n    npmAlwaysAuth: true\n    npmAuthToken: "{TOKEN}"\n'),
}


# --- the target: URLs and keys with a token ---------------------------------------------


@pytest.mark.parametrize(
    ("base_url", "token", "masked", "expected"),
    [
        (BASE, None, False, f"{BASE}/pypi/simple/"),
        (BASE, "abc", False, "http://pantry:abc@127.0.0.1:7878/pypi/simple/"),
        (BASE, TOKEN, False, INDEX_WITH_TOKEN),
        (BASE, TOKEN, True, "http://pantry:<TOKEN>@127.0.0.1:7878/pypi/simple/"),
        (
            "https://pantry.invalid/base",
            "t",
            False,
            "https://pantry:t@pantry.invalid/base/pypi/simple/",
        ),
        ("http://[::1]:7878", "t", False, "http://pantry:t@[::1]:7878/pypi/simple/"),
    ],
)
def test_target__index_url_with_token(
    base_url: str, token: str | None, masked: bool, expected: str
) -> None:
    target = Target.parse(base_url, "pypi", token)
    assert (target.shown() if masked else target).index_url_with_token == expected
    assert target.index_url == f"{base_url}/pypi/simple/"  # the plain URL stays plain


@pytest.mark.parametrize(
    ("base_url", "expected"),
    [
        (BASE, "//127.0.0.1:7878/npm/"),
        ("http://PANTRY.invalid:80", "//pantry.invalid/npm/"),
        ("https://pantry.invalid:443/base", "//pantry.invalid/base/npm/"),
        ("https://pantry.invalid:8443", "//pantry.invalid:8443/npm/"),
        ("http://[::1]:7878", "//[::1]:7878/npm/"),
    ],
)
def test_target__registry_key_is_npms_nerf_dart(base_url: str, expected: str) -> None:
    assert Target.parse(base_url, "npm").registry_key == expected


def test_target__token_left_out_of_repr() -> None:
    target = Target.parse(BASE, "pypi", TOKEN)
    assert TOKEN not in repr(target)
    assert TOKEN not in repr(target.shown())
    assert target.shown().token_text == "<TOKEN>"
    assert target.token_text == TOKEN


@pytest.mark.parametrize(
    "token",
    ["", "two words", "semi;colon", "hash#tag", "${HOME}", 'qu"ote', "t\u00f6ken", "new\nline"],
)
def test_target__refuses_tokens_config_files_would_misread(token: str) -> None:
    with pytest.raises(ClientConfigError) as raised:
        Target.parse(BASE, "pypi", token)
    message = str(raised.value)
    assert "\n" not in message
    if len(token) > 1:
        assert token not in message


# --- print ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("client", "expected"),
    [
        ("pip", ["index-url = http://pantry:<TOKEN>@127.0.0.1:7878/pypi/simple/"]),
        (
            "uv",
            [
                'url = "http://pantry:<TOKEN>@127.0.0.1:7878/pypi/simple/"',
                "UV_INDEX_PANTRY_USERNAME=pantry UV_INDEX_PANTRY_PASSWORD=<TOKEN>",
            ],
        ),
        ("pdm", ['url = "http://pantry:<TOKEN>@127.0.0.1:7878/pypi/simple/"']),
        (
            "poetry",
            [
                f'url = "{BASE}/pypi/simple/"',  # pyproject.toml is shared: no secret in it
                "poetry config http-basic.pantry pantry <TOKEN>",
            ],
        ),
        (
            "npm",
            [
                f"registry={REGISTRY}",
                "//127.0.0.1:7878/npm/:_authToken=<TOKEN>",
                f"npm install --registry {REGISTRY} --//127.0.0.1:7878/npm/:_authToken=<TOKEN>",
            ],
        ),
        ("pnpm", ["//127.0.0.1:7878/npm/:_authToken=<TOKEN>"]),
        (
            "yarn",
            [
                f'    npmRegistryServer: "{REGISTRY}"\n'
                "    npmRegistries:\n"
                f'      "{REGISTRY}":\n'
                "        npmAlwaysAuth: true\n"
                '        npmAuthToken: "<TOKEN>"\n',
                "YARN_NPM_AUTH_TOKEN=<TOKEN> YARN_NPM_ALWAYS_AUTH=true",
                "yarn 1 reads the token only from .npmrc",
                "`//127.0.0.1:7878/npm/:_authToken=` line",
            ],
        ),
    ],
)
def test_setup_print__masks_token(tmp_path: Path, client: str, expected: list[str]) -> None:
    code, out = run_setup(client, "print", tmp_path)
    assert code == 0
    assert_never_shows_token(out)
    for fragment in expected:
        assert fragment in out
    assert "<TOKEN> stands for the token (***), which pantry never prints" in out
    secret_note = "--write gives it mode 0600"
    assert (secret_note in out) is (client != "poetry")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("client", "token", "percent_note"),
    [
        ("pip", TOKEN, True),
        ("pip", "plain-token_1", False),
        ("npm", TOKEN, False),  # not in a URL there
        ("poetry", TOKEN, False),
    ],
)
def test_setup_print__percent_encoding_note_only_for_urls(
    tmp_path: Path, client: str, token: str, percent_note: bool
) -> None:
    _, out = run_setup(client, "print", tmp_path, token=token)
    assert ("percent-encoded" in out) is percent_note


@pytest.mark.parametrize("client", CLIENTS)
def test_setup_print__without_token_mentions_none(tmp_path: Path, client: str) -> None:
    code, out = run_setup(client, "print", tmp_path, token=None)
    assert code == 0
    assert "TOKEN" not in out
    assert "_authToken" not in out
    assert "pantry:" not in out.replace(f"{client}: use pantry at", "")


# --- write ----------------------------------------------------------------------------


@pytest.mark.parametrize("client", FILE_CLIENTS)
def test_setup_write__puts_token_in_place_with_mode_0600(tmp_path: Path, client: str) -> None:
    code, out = run_setup(client, "write", tmp_path)
    assert code == 0, out
    assert_never_shows_token(out)
    assert TOKEN_HOLDERS[client](tmp_path) == EXPECTED_HOLDING[client]
    holder = config_files(client, tmp_path)[-1]
    assert mode_of(holder) == 0o600
    assert f"the token (***) is in {holder}, " in out
    assert "the file holds a secret now, so pantry gave it mode 0600" in out
    if client == "yarn":  # yarn 1's file gets no token, so keeps the usual mode
        yarnrc = tmp_path / ".yarnrc"
        assert TOKEN not in yarnrc.read_text()
        assert mode_of(yarnrc) == 0o644


@pytest.mark.parametrize("client", FILE_CLIENTS)
def test_setup_write__token_from_env(tmp_path: Path, client: str) -> None:
    env = {"HOME": str(tmp_path), "PANTRY_TOKEN": TOKEN}
    code, out = run_setup(client, "write", tmp_path, token=None, env=env)
    assert code == 0, out
    assert_never_shows_token(out)
    assert TOKEN_HOLDERS[client](tmp_path) == EXPECTED_HOLDING[client]
    assert mode_of(config_files(client, tmp_path)[-1]) == 0o600


@pytest.mark.parametrize(
    ("flag", "env_value", "expected"),
    [
        ("from-flag", "from-env", "from-flag"),  # the flag wins
        (None, "from-env", "from-env"),
        (None, "", None),  # empty: no token
        (None, None, None),
    ],
)
def test_setup_write__flag_wins_over_env(
    tmp_path: Path, flag: str | None, env_value: str | None, expected: str | None
) -> None:
    env = {"HOME": str(tmp_path)}
    if env_value is not None:
        env["PANTRY_TOKEN"] = env_value
    code, out = run_setup("pip", "write", tmp_path, token=flag, env=env)
    assert code == 0, out
    plain = f"{BASE}/pypi/simple/"
    assert pip_index(tmp_path) == (
        plain if expected is None else f"http://pantry:{expected}@127.0.0.1:7878/pypi/simple/"
    )
    assert ("the token (***)" in out) is (expected is not None)


NPMRC = (
    "; my npm settings\n"
    f"//127.0.0.1:8001/:_authToken={OTHER_TOKEN}\n"
    "registry=http://127.0.0.1:8001/\n"
    "//127.0.0.1:7878/npm/:_authToken=old-pantry-token\n"
    "save-exact = true\n"
)
ORIGINALS = {
    "pip": "# mine\n[global]\ntimeout = 60\n",
    "uv": "# mine\nnative-tls = true\n",
    "pdm": "# mine\n[python]\nuse_venv = true\n",
    "npm": NPMRC,
    "pnpm": NPMRC,
    "yarn": 'registry "http://127.0.0.1:8001/"\n',
    "yarn.yml": f'enableTelemetry: false\nnpmAuthToken: "{OTHER_TOKEN}"\n',
}


def seed(client: str, home: Path) -> dict[Path, tuple[bytes, int]]:
    """Write the client's files, mode 0644; return their bytes and modes by path."""
    seeded = {}
    for path in config_files(client, home):
        key = "yarn.yml" if path.name.endswith(".yml") else client
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(ORIGINALS[key])
        path.chmod(0o644)
        seeded[path] = (path.read_bytes(), mode_of(path))
    return seeded


@pytest.mark.parametrize("client", FILE_CLIENTS)
def test_setup_undo__restores_originals_byte_for_byte_after_token_write(
    tmp_path: Path, client: str
) -> None:
    seeded = seed(client, tmp_path)
    code, out = run_setup(client, "write", tmp_path)
    assert code == 0, out
    assert TOKEN_HOLDERS[client](tmp_path) == EXPECTED_HOLDING[client]
    assert mode_of(config_files(client, tmp_path)[-1]) == 0o600
    for path in seeded:
        backup = path.with_name(path.name + ".pantry-backup")
        assert backup.read_bytes() == seeded[path][0]
        assert TOKEN not in backup.read_text()

    code, out = run_setup(client, "undo", tmp_path, token=None)
    assert code == 0
    assert_never_shows_token(out)
    for path, (original, mode) in seeded.items():
        assert path.read_bytes() == original
        assert mode_of(path) == mode
    assert not [p for p in tmp_path.rglob("*") if ".pantry-" in p.name]


@pytest.mark.parametrize("client", FILE_CLIENTS)
def test_setup_undo__removes_files_pantry_created_with_token(tmp_path: Path, client: str) -> None:
    assert run_setup(client, "write", tmp_path)[0] == 0
    code, out = run_setup(client, "undo", tmp_path, env={"PANTRY_TOKEN": "not valid;"})
    assert code == 0, out  # undo ignores the token, even an unusable one
    assert not [p for p in tmp_path.rglob("*") if p.is_file()]


def test_setup_write__npmrc_replaces_pantrys_line_keeps_others(tmp_path: Path) -> None:
    seed("npm", tmp_path)
    assert run_setup("npm", "write", tmp_path)[0] == 0
    expected = NPMRC.replace("registry=http://127.0.0.1:8001/", f"registry={REGISTRY}").replace(
        "//127.0.0.1:7878/npm/:_authToken=old-pantry-token", AUTH_LINE
    )
    assert (tmp_path / ".npmrc").read_text() == expected


@pytest.mark.parametrize("client", ["pip", "uv", "pdm", "npm", "yarn"])
def test_setup_write__new_token_replaces_old_one(tmp_path: Path, client: str) -> None:
    assert run_setup(client, "write", tmp_path, token="first-token")[0] == 0
    code, out = run_setup(client, "write", tmp_path, token="second-token")
    assert code == 0
    assert_never_shows_token(out, "second-token")
    text = "".join(p.read_text() for p in config_files(client, tmp_path))
    assert "second-token" in text
    assert "first-token" not in text


def test_setup_write__unchanged_file_with_loose_mode_is_pointed_out(tmp_path: Path) -> None:
    assert run_setup("npm", "write", tmp_path)[0] == 0
    path = tmp_path / ".npmrc"
    path.chmod(0o644)
    code, out = run_setup("npm", "write", tmp_path)
    assert code == 0
    assert "nothing changed" in out
    assert f"the token (***) is already in {path}" in out
    assert f"others may read the file (mode 0644): chmod 600 {path}" in out
    assert mode_of(path) == 0o644  # pantry did not change the file, so not its mode either
    assert_never_shows_token(out)


@pytest.mark.parametrize(
    ("existing", "token", "refused"),
    [
        ("npmRegistries:\n  http://127.0.0.1:8002/:\n    npmAlwaysAuth: true\n", TOKEN, True),
        ("npmRegistries:\n  http://127.0.0.1:8002/:\n    npmAlwaysAuth: true\n", None, False),
        (f'npmAuthToken: "{OTHER_TOKEN}"\nnpmAlwaysAuth: false\n', TOKEN, False),
    ],
)
def test_setup_write__yarnrc_yml_npm_registries_outside_block(
    tmp_path: Path, existing: str, token: str | None, refused: bool
) -> None:
    path = tmp_path / ".yarnrc.yml"
    path.write_text(existing)
    code, out = run_setup("yarn", "write", tmp_path, token=token)
    assert code == (2 if refused else 0), out
    assert_never_shows_token(out)
    assert OTHER_TOKEN not in out
    if refused:
        assert out.startswith(f"error: yarn: {path}: the file already has npmRegistries")
        assert path.read_text() == existing
    else:
        assert path.read_text().startswith(existing)


@pytest.mark.parametrize("client", CLIENTS)
def test_setup__token_never_printed_by_any_action(tmp_path: Path, client: str) -> None:
    outputs = [
        run_setup(client, action, tmp_path)[1]
        for action in ("print", "write", "write", "print", "undo", "undo")
    ]
    for out in outputs:
        assert_never_shows_token(out)


@pytest.mark.parametrize("token", ["", "two words", "semi;colon"])
def test_setup__unusable_token_fails_with_one_line(tmp_path: Path, token: str) -> None:
    code, out = run_setup("npm", "write", tmp_path, token=token)
    assert code == 2
    assert out.startswith("error: the token must be")
    assert out.count("\n") == 1
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        (None, "//h/p/:_authToken=T\n"),
        ("registry=U\n", "registry=U\n//h/p/:_authToken=T\n"),
        ("//h/p/:_authToken=old\nx=1\n", "//h/p/:_authToken=T\nx=1\n"),
        ("//h/p/:_authToken=a\n//h/p/:_authToken=b\n", "//h/p/:_authToken=T\n"),
        (
            "//h/:_authToken=O\n//h/p/:_auth=Q\n",
            "//h/:_authToken=O\n//h/p/:_auth=Q\n//h/p/:_authToken=T\n",
        ),
        ("x=1\n[s]\n//h/p/:_authToken=S\n", "x=1\n//h/p/:_authToken=T\n[s]\n//h/p/:_authToken=S\n"),
        ("x=1\r\n", "x=1\r\n//h/p/:_authToken=T\r\n"),
        ("//h/p/:_authToken = T ; mine\n", "//h/p/:_authToken = T ; mine\n"),  # already set
    ],
)
def test_npmrc_set_auth_token__edits_one_line(lines: str | None, expected: str) -> None:
    assert set_auth_token(lines, "//h/p/", "T") == expected


# --- the CLI ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "env_token"),
    [
        (["--token", TOKEN], None),
        ([], TOKEN),
        (["--token", TOKEN], "other-env-token"),
    ],
)
def test_cli_setup__token_from_flag_or_env_is_masked(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    env_token: str | None,
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    if env_token is None:
        monkeypatch.delenv("PANTRY_TOKEN", raising=False)
    else:
        monkeypatch.setenv("PANTRY_TOKEN", env_token)
    assert main(["setup", "pip", "--url", BASE, *argv]) == 0  # print: writes nothing
    out = capsys.readouterr().out
    assert_never_shows_token(out)
    assert "index-url = http://pantry:<TOKEN>@127.0.0.1:7878/pypi/simple/" in out
    assert "other-env-token" not in out
    assert list(tmp_path.iterdir()) == []


# --- discovery never repeats a token ------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (INDEX_WITH_TOKEN, "http://pantry:***@127.0.0.1:7878/pypi/simple/"),
        ("http://user@h.invalid/", "http://user@h.invalid/"),
        ("http://h.invalid/simple/", "http://h.invalid/simple/"),
        ("http://:pw@h.invalid/", "http://:***@h.invalid/"),
        ("http://u:pw@[::1:/x", "http://u:***@[::1:/x"),  # not parseable: masked all the same
    ],
)
def test_redact__masks_passwords(url: str, expected: str) -> None:
    assert redact(url) == expected


def test_discover_pypi__loop_guard_note_masks_token(tmp_path: Path) -> None:
    found = discover_pypi_upstream(
        env={},
        data_dir=tmp_path / "data",
        own_urls=(f"{BASE}/",),
        pip_config_value=INDEX_WITH_TOKEN,
        pip_default=lambda: "http://127.0.0.1:8001/simple/",
    )
    assert found.note is not None
    assert "http://pantry:***@127.0.0.1:7878/pypi/simple/" in found.note
    assert_never_shows_token(found.note)


# --- the real clients read the token and send it -----------------------------------------


class _Recorder(http.server.BaseHTTPRequestHandler):
    seen: list[tuple[str, str | None]]

    def do_GET(self) -> None:
        self.seen.append((self.path, self.headers.get("Authorization")))
        self.send_response(404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def recorder() -> Iterator[tuple[str, list[tuple[str, str | None]]]]:
    """A loopback server answering 404 to everything; yields its URL and what it saw."""
    seen: list[tuple[str, str | None]] = []
    handler = type("Handler", (_Recorder,), {"seen": seen})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def client_env(home: Path, **extra: str) -> dict[str, str]:
    dirs = [str(Path(sys.executable).parent)]
    node = shutil.which("node")
    if node is not None:
        dirs.append(str(Path(node).parent))
    return {
        "HOME": str(home),
        "PATH": os.pathsep.join([*dirs, os.defpath]),
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "PIP_NO_INPUT": "1",
        "PIP_KEYRING_PROVIDER": "disabled",
        "UV_NO_CACHE": "1",
        "npm_config_userconfig": str(home / ".npmrc"),
        "npm_config_globalconfig": str(home / "empty-globalconfig"),
        "npm_config_cache": str(home / "npm-cache"),
        "npm_config_update_notifier": "false",
        "npm_config_fetch_retries": "0",
        **extra,
    }


def run_client(
    argv: list[str], env: Mapping[str, str], cwd: Path
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv,
        env=dict(env),
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def basic(token: str) -> str:
    return "Basic " + base64.b64encode(f"pantry:{token}".encode()).decode()


def test_setup_write__real_pip_config_list_shows_the_token(tmp_path: Path) -> None:
    env = client_env(tmp_path)
    assert run_setup("pip", "write", tmp_path, env=env)[0] == 0
    listed = run_client([sys.executable, "-m", "pip", "config", "list"], env, tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert f"global.index-url='{INDEX_WITH_TOKEN}'" in listed.stdout.splitlines()


def test_setup_write__real_npm_config_sees_the_token_line(tmp_path: Path) -> None:
    npm = shutil.which("npm")
    if npm is None:
        pytest.skip("npm is not installed")
    env = client_env(tmp_path)
    (tmp_path / "empty-globalconfig").write_text("")
    assert run_setup("npm", "write", tmp_path, env=env)[0] == 0
    key = "//127.0.0.1:7878/npm/:_authToken"
    got = run_client([npm, "config", "get", key], env, tmp_path)
    if got.returncode == 0:  # older npm shows it
        assert got.stdout.strip() == TOKEN
    else:  # npm 9+ guards credentials: the listing names the key without the value
        assert "protected" in got.stderr
        listed = run_client([npm, "config", "list"], env, tmp_path)
        assert f"{key} = (protected)" in listed.stdout


@pytest.mark.parametrize("client", ["pip", "uv", "npm"])
def test_setup_write__real_client_sends_the_token(
    tmp_path: Path, recorder: tuple[str, list[tuple[str, str | None]]], client: str
) -> None:
    base_url, seen = recorder
    env = client_env(tmp_path)
    (tmp_path / "empty-globalconfig").write_text("")
    match client:
        case "pip":
            argv = [sys.executable, "-m", "pip", "download", "--no-deps", "-d", "dl", "zzpkg"]
            expected = ("/pypi/simple/zzpkg/", basic(TOKEN))
        case "uv":
            uv = Path(sys.executable).parent / "uv"
            if not uv.exists():
                pytest.skip("uv is not installed next to the test interpreter")
            env["XDG_CONFIG_HOME"] = str(tmp_path / ".config")
            argv = [str(uv), "pip", "compile", "--no-header", str(tmp_path / "req.in")]
            (tmp_path / "req.in").write_text("zzpkg\n")
            expected = ("/pypi/simple/zzpkg/", basic(TOKEN))
        case _:
            npm = shutil.which("npm")
            if npm is None:
                pytest.skip("npm is not installed")
            argv = [npm, "view", "zzpkg"]
            expected = ("/npm/zzpkg", f"Bearer {TOKEN}")
    code, out = run_setup(client, "write", tmp_path, env=env, base_url=base_url)
    assert code == 0, out
    done = run_client(argv, env, tmp_path)
    assert expected in seen, (seen, done.stderr)
    assert all(auth is not None for _, auth in seen)  # every request carried it


def test_setup_write__real_yarn_reads_its_registry_entry(tmp_path: Path) -> None:
    tools = Path(__file__).resolve().parents[2] / ".tools" / "node_modules" / ".bin"
    yarn = shutil.which("yarn") or shutil.which("yarn", path=str(tools))
    if yarn is None:
        pytest.skip("yarn is not installed")
    env = client_env(tmp_path, COREPACK_ENABLE_NETWORK="0", COREPACK_ENABLE_DOWNLOAD_PROMPT="0")
    version = run_client([yarn, "--version"], env, tmp_path)
    if version.returncode != 0 or version.stdout.startswith("1."):
        pytest.skip("needs yarn 2+ that starts without a project or network")
    assert run_setup("yarn", "write", tmp_path, env=env)[0] == 0
    shown = run_client([yarn, "config", "get", "npmRegistries", "--json"], env, tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert "127.0.0.1:7878/npm" in shown.stdout
