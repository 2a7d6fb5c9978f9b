"""The outside tools the benchmark needs: checked, installed only when asked, and described.

Debian packages (wrk, nginx, apache2) are installed with apt-get only under
``--install``; otherwise the missing ones are named with the command to run.
The Python peers (devpi-server, proxpi under gunicorn) live in their own venv
under bench/out, made with pip isolated from every machine-wide setting;
verdaccio lives in bench/out/verdaccio, installed by an isolated npm.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from harness import OUT
from npm_env import isolated_env, npm, pnpm

APT_PACKAGES = {"wrk": "wrk", "nginx": "nginx", "apache2": "apache2"}
PEER_PACKAGES = ("devpi-server==6.20.3", "proxpi==1.3.1", "gunicorn==27.0.1")
PEERS_VENV = OUT / "peers-venv"


def isolated_pip_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    return env | {"PIP_CONFIG_FILE": os.devnull}


def missing_commands() -> list[str]:
    return [cmd for cmd in APT_PACKAGES if not shutil.which(cmd)]


def ensure_debian_tools(install: bool) -> list[str]:
    """Install missing Debian tools under --install; return what is still missing."""
    missing = missing_commands()
    if missing and install:
        if os.geteuid() != 0:
            print("  --install needs root for apt-get; run the command below yourself")
        else:
            names = [APT_PACKAGES[c] for c in missing]
            env = os.environ | {"DEBIAN_FRONTEND": "noninteractive"}
            subprocess.run(["apt-get", "install", "-y", *names], env=env, check=False, timeout=900)
        missing = missing_commands()
    if missing:
        packages = " ".join(APT_PACKAGES[c] for c in missing)
        print(f"  missing: {', '.join(missing)}; install with: apt-get install -y {packages}")
        print("  (or run bench/run.py --install); targets that need them are left out")
    return missing


def ensure_peers_venv(install: bool) -> Path:
    """bin/ of the peers venv, created and filled under --install."""
    bin_dir = PEERS_VENV / "bin"
    wanted = PEERS_VENV / "installed.txt"
    if install and (not wanted.exists() or wanted.read_text().split() != list(PEER_PACKAGES)):
        print(f"  installing {' '.join(PEER_PACKAGES)} into {PEERS_VENV}")
        if not (bin_dir / "python").exists():
            subprocess.run([sys.executable, "-m", "venv", str(PEERS_VENV)], check=True)
        pip = [str(bin_dir / "python"), "-m", "pip", "--disable-pip-version-check"]
        subprocess.run(
            [*pip, "install", "--quiet", *PEER_PACKAGES], env=isolated_pip_env(), check=True,
            timeout=900,
        )  # fmt: skip
        wanted.write_text("\n".join(PEER_PACKAGES) + "\n")
    return bin_dir


def _first_line(cmd: list[str]) -> str:
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return "not found"
    text = (done.stdout or done.stderr).strip()
    return text.splitlines()[0] if text else "?"


def machine_lines(peers_bin: Path) -> list[str]:
    """What ran the benchmark: CPU, memory, kernel, and every tool's version."""
    cpu = "?"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem_kb = next(
        int(line.split()[1])
        for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemTotal:")
    )
    uv = Path(sys.executable).parent / "uv"
    peers = peers_bin / "python"
    show = "import importlib.metadata as m; print(' '.join(f'{p} {m.version(p)}' for p in "
    show += "('devpi-server', 'proxpi', 'gunicorn')))"
    return [
        f"machine: {cpu}, {os.cpu_count()} cores, {mem_kb / 2**20:.1f} GiB RAM, "
        f"Linux {platform.release()}",
        f"python {platform.python_version()}; "
        + _first_line([sys.executable, "-m", "pip", "--version"]).split(" from ")[0]
        + f"; {_first_line([str(uv), '--version'])}",
        f"{_first_line(['nginx', '-v'])}; {_first_line(['apache2', '-v'])}; "
        f"{_first_line(['wrk', '--version']).split(' Copyright')[0]}",
        "peers: " + (_first_line([str(peers), "-c", show]) if peers.exists() else "not installed"),
    ]


def npm_machine_line() -> str:
    """Versions of Node, the JS clients and verdaccio."""
    pnpm_bin = pnpm()
    found = VERDACCIO / "node_modules" / "verdaccio" / "package.json"
    verdaccio = json.loads(found.read_text())["version"] if found.exists() else "not installed"
    return (
        f"node {_first_line(['node', '--version'])}; npm {_first_line([npm(), '--version'])}; "
        f"pnpm {_first_line([str(pnpm_bin), '--version']) if pnpm_bin else 'not installed'}; "
        f"verdaccio {verdaccio}"
    )


VERDACCIO = OUT / "verdaccio"
# Pinned for Node 20 as the npm issue says: verdaccio 6.8.0, its node-fetch held at 2.7.0.
VERDACCIO_PACKAGE = {
    "name": "pantry-bench-verdaccio",
    "private": True,
    "dependencies": {"verdaccio": "6.8.0"},
    "overrides": {"node-fetch": "2.7.0"},
}


def ensure_verdaccio(install: bool, registry: str) -> None:
    """verdaccio installed with npm into bench/out/verdaccio under --install (from ``registry``)."""
    wanted = json.dumps(VERDACCIO_PACKAGE, indent=1) + "\n"
    manifest = VERDACCIO / "package.json"
    current = manifest.exists() and manifest.read_text() == wanted
    if install and not (current and verdaccio_installed()):
        print(f"  installing verdaccio {VERDACCIO_PACKAGE['dependencies']} into {VERDACCIO}")
        VERDACCIO.mkdir(parents=True, exist_ok=True)
        manifest.write_text(wanted)
        with tempfile.TemporaryDirectory(prefix="pantry-bench-npm-") as tmp:
            env = isolated_env(Path(tmp) / "home", registry, loopback_only=False)
            cmd = [npm(), "install", "--registry", registry, "--cache", str(Path(tmp) / "cache")]
            subprocess.run(cmd, cwd=VERDACCIO, env=env, check=True, timeout=900)
    if not verdaccio_installed():
        print("  missing: verdaccio; install with: bench/run.py --install (npm, into bench/out)")


def verdaccio_installed() -> bool:
    return (VERDACCIO / "node_modules" / "verdaccio" / "package.json").exists()
