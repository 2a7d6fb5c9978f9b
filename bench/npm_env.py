"""How the benchmark runs npm and pnpm: cut off from this machine's settings, and where they are.

Every npm or pnpm process gets a fresh HOME (so no ``~/.npmrc``, no pnpm rc,
no XDG state from earlier runs), a generated user npmrc and an empty global
one, and no ``npm_config_*``/``pnpm_*``/``yarn_*``/``corepack_*`` variable
from the environment: only what the benchmark writes counts, the same for
every target.  When a run must talk to loopback only (every target but
"direct"), all proxy variables point at a dead loopback port with only
loopback exempt, so a client that tried to reach the registry itself would
fail instead of quietly bypassing the target.

The registry is discovered, never named: ``npm config get registry`` with
that isolation is npm's built-in default, as the PyPI side takes pip's.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from harness import REPO

PNPM = REPO / ".tools" / "node_modules" / ".bin" / "pnpm"  # pinned by scripts/test
DEAD_PROXY = "http://127.0.0.1:9"  # the discard port: nothing listens there
LOOPBACK = "127.0.0.1,localhost"
_DROPPED_PREFIXES = ("npm_config_", "pnpm_", "yarn_", "corepack_")
# CI=true changes pnpm's defaults; NODE_OPTIONS and NODE_PATH would change how Node runs.
_DROPPED = {"CI", "NODE_OPTIONS", "NODE_PATH"}
_PROXY_VARS = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")
# Settings both npm and pnpm read from the user npmrc: nothing that calls home.
NPMRC = "update-notifier=false\naudit=false\nfund=false\nloglevel=warn\n"


def npm() -> str:
    found = shutil.which("npm")
    if found is None:
        raise RuntimeError("npm not found on PATH (it comes with Node)")
    return found


def pnpm() -> Path | None:
    return PNPM if PNPM.exists() else None


def isolated_env(home: Path, registry: str, *, loopback_only: bool) -> dict[str, str]:
    """The environment of one npm/pnpm process whose fresh home is ``home``."""
    home.mkdir(parents=True, exist_ok=True)
    (home / ".npmrc").write_text(f"registry={registry}\n{NPMRC}")
    (home / "global-npmrc").write_text("")
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.lower().startswith(_DROPPED_PREFIXES) and k not in _DROPPED
    }
    env |= {
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "XDG_DATA_HOME": str(home / ".local" / "share"),
        "XDG_STATE_HOME": str(home / ".local" / "state"),
        "npm_config_userconfig": str(home / ".npmrc"),
        "npm_config_globalconfig": str(home / "global-npmrc"),
        "NO_PROXY": LOOPBACK,
        "no_proxy": LOOPBACK,
    }
    if loopback_only:
        env |= dict.fromkeys(_PROXY_VARS, DEAD_PROXY)
    return env


def discover_registry() -> str:
    """npm's built-in default registry URL (with the trailing slash npm gives it)."""
    with tempfile.TemporaryDirectory(prefix="pantry-bench-npm-") as tmp:
        home = Path(tmp)
        env = isolated_env(home, "", loopback_only=False)
        (home / ".npmrc").write_text("")  # no registry line: npm's own default
        done = subprocess.run(
            [npm(), "config", "get", "registry"],
            env=env, capture_output=True, text=True, check=True, timeout=60,
        )  # fmt: skip
    url = done.stdout.strip()
    if not url.startswith(("http://", "https://")):
        raise RuntimeError(f"npm config get registry gave {url!r}, not a URL")
    return url if url.endswith("/") else url + "/"
