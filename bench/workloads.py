"""The client workloads (pip and uv, npm and pnpm against a target) and warming a target up.

Every run starts from nothing on the client side: a fresh venv, pip with
``--no-cache-dir``, uv with a fresh ``--cache-dir``, and the isolated
environment of ``harness.client_env``.  Creating the venv is not timed;
the client command is, wall clock, pinned to the client core.  The npm and
pnpm commands and their isolation are in ``npm_workloads``.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import npm_workloads
from harness import ClientRun, client_env, run_client
from loadgen import file_links, get, is_loopback
from npm_workloads import npm_install, pnpm_install
from peers import Context, Target

CLIENT_TIMEOUT_S = 900.0
PIP = [sys.executable, "-m", "pip"]
PIP_QUIET = ["--no-cache-dir", "--disable-pip-version-check", "--progress-bar", "off"]


def _uv() -> str:
    beside = Path(sys.executable).parent / "uv"
    found = str(beside) if beside.exists() else shutil.which("uv")
    if not found:
        raise RuntimeError("uv not found (it is in the project venv: ./scripts/test installs it)")
    return found


def _new_venv(path: Path, log: Path) -> Path:
    """A fresh venv without pip (pip installs into it with ``--python``); not timed."""
    with log.open("ab") as out:
        subprocess.run(
            [sys.executable, "-m", "venv", "--without-pip", str(path)],
            stdout=out, stderr=subprocess.STDOUT, check=True, timeout=120,
        )  # fmt: skip
    return path / "bin" / "python"


def pip_install(target: Target, ctx: Context, scratch: Path, log: Path) -> ClientRun:
    python = _new_venv(scratch / "venv", log)
    cmd = [*PIP, "--python", str(python), "install", *PIP_QUIET, *target.index_args()]
    return run_client([*cmd, "-r", str(ctx.wset.pins)], log, client_env(), CLIENT_TIMEOUT_S)


def uv_install(target: Target, ctx: Context, scratch: Path, log: Path) -> ClientRun:
    uv, env = _uv(), client_env(UV_CACHE_DIR=str(scratch / "uv-cache"))
    with log.open("ab") as out:
        subprocess.run(
            [uv, "venv", "--python", sys.executable, str(scratch / "venv")],
            stdout=out, stderr=subprocess.STDOUT, env=env, check=True, timeout=120,
        )  # fmt: skip
    cmd = [uv, "pip", "install", "--python", str(scratch / "venv" / "bin" / "python")]
    cmd += [*target.index_args(), "-r", str(ctx.wset.pins)]
    return run_client(cmd, log, env, CLIENT_TIMEOUT_S)


def pip_download(target: Target, ctx: Context, scratch: Path, log: Path) -> ClientRun:
    cmd = [*PIP, "download", *PIP_QUIET, "-d", str(scratch / "files"), *target.index_args()]
    return run_client([*cmd, "-r", str(ctx.wset.pins)], log, client_env(), CLIENT_TIMEOUT_S)


@dataclass(frozen=True, slots=True)
class ClientWorkload:
    key: str
    title: str
    command: Callable[[Target, Context, Path, Path], ClientRun]
    cold: bool = False
    ecosystem: str = "pypi"

    def applies_to(self, target: Target | type[Target]) -> bool:
        if self.key in target.skips:
            return False
        return self.ecosystem in (target.cold_in if self.cold else target.warm_in)


WARM = (
    ClientWorkload("warm-pip-install", "warm pip install", pip_install),
    ClientWorkload("warm-uv-install", "warm uv pip install", uv_install),
    ClientWorkload("warm-pip-download", "warm pip download (transfer only)", pip_download),
    ClientWorkload("warm-npm-install", "warm npm install", npm_install, ecosystem="npm"),
    ClientWorkload("warm-pnpm-install", "warm pnpm install", pnpm_install, ecosystem="npm"),
)
COLD = (
    ClientWorkload("cold-pip-install", "cold pip install", pip_install, cold=True),
    ClientWorkload("cold-uv-install", "cold uv pip install", uv_install, cold=True),
    ClientWorkload("cold-npm-install", "cold npm install", npm_install, True, "npm"),
    ClientWorkload("cold-pnpm-install", "cold pnpm install", pnpm_install, True, "npm"),
)


def run_once(
    workload: ClientWorkload, target: Target, ctx: Context, tag: str
) -> tuple[ClientRun, Path]:
    """One measured run in its own scratch directory, removed afterwards."""
    scratch = ctx.work / f"run-{tag}"
    log = ctx.logs / f"{tag}.log"
    scratch.mkdir(parents=True)
    try:
        return workload.command(target, ctx, scratch, log), log
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def warm(target: Target, ctx: Context) -> dict[str, list[str]]:
    """Fill the target's cache for every ecosystem of the run it serves; the problems of each."""
    problems = {}
    if "pypi" in target.warm_in & ctx.ecosystems:
        problems["pypi"] = _warm_pypi(target, ctx)
    if "npm" in target.warm_in & ctx.ecosystems:
        problems["npm"] = _warm_npm(target, ctx)
    return problems


def _warm_up(target: Target, ctx: Context, workloads: tuple[ClientWorkload, ...]) -> list[str]:
    """One untimed run of each workload that applies; a line per failed one."""
    problems = []
    slug = target.rss_name.replace(" ", "_")
    for workload in (w for w in workloads if w.applies_to(target)):
        run, log = run_once(workload, target, ctx, f"warmup-{workload.key}-{slug}")
        if not run.ok:
            problems.append(f"{workload.title} failed during warm-up (log {log})")
    return problems


def _warm_npm(target: Target, ctx: Context) -> list[str]:
    """npm then pnpm fill the cache (they may ask differently); then every tarball is checked."""
    npm_warm = tuple(w for w in WARM if w.ecosystem == "npm")
    return _warm_up(target, ctx, npm_warm) or npm_workloads.served_problems(target, ctx)


def _warm_pypi(target: Target, ctx: Context) -> list[str]:
    """Fill the cache as pip and uv would, then check every file is served from it.

    Files a page links to off loopback are not the target's to serve (the
    Apache recipe) and are skipped.
    """
    problems = _warm_up(target, ctx, (WARM[2], WARM[1]))  # pip download, uv (other Accept)
    if problems:
        return problems
    pages: dict[str, dict[str, str]] = {}
    for wheel in ctx.wset.wheels:
        page = target.page_url(wheel.project)
        if page is None:
            break
        if wheel.project not in pages:
            pages[wheel.project] = file_links(page)
        url = pages[wheel.project].get(wheel.filename)
        if url is None:
            problems.append(f"{wheel.filename} is not on its page {page}")
        elif is_loopback(url) and not wait_cached(url, wheel.size):
            problems.append(f"{wheel.filename} is not served from the cache ({url})")
    return problems


def wait_cached(url: str, size: int, timeout_s: float = 180.0) -> bool:
    """Wait (bounded) until ``url`` answers 200 with the whole file, not a redirect."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        status, body, _ = get(url)
        if status == 200 and len(body) == size:
            return True
        time.sleep(1.0)
    return False
