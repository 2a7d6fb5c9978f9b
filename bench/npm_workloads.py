"""The npm client workloads: ``npm install`` and ``pnpm install`` of the fixed project, and checks.

Every run starts from nothing on the client side: a fresh project directory
holding only ``package.json`` (no lock file, no node_modules), a fresh npm
cache or pnpm store and metadata cache, a fresh HOME (see ``npm_env``).  No
lock file, because resolving the tree (a packument per package) is most of
what a registry proxy does for a JS install; with a lock file a client only
fetches tarballs, which ``wrk`` on the large tarball already measures.
Both clients get ``--ignore-scripts`` (install scripts would run the same
code whatever the target, and some would fetch binaries from the internet);
npm also ``--no-audit --no-fund``, which would call the registry directly.
Against a loopback target the client can reach nothing else (``npm_env``),
and afterwards its lock file is checked: npm's ``resolved`` URLs must all
lead to the target, and neither lock file may name the registry's host.

The floor, ``npm install --offline``, uses the warm cache its target holds.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from harness import ClientRun, run_client
from loadgen import get, is_loopback
from npm_env import isolated_env, npm, pnpm
from npm_set import (
    NPM_ACCEPT,
    NPM_LARGE_PACKAGE,
    NPM_METADATA_PACKAGE,
    NpmPackage,
    escaped,
    matches_integrity,
)
from peers import Context, Target

CLIENT_TIMEOUT_S = 900.0
NPM_FLAGS = ["--no-audit", "--no-fund", "--ignore-scripts", "--no-update-notifier"]
PNPM_FLAGS = ["--ignore-scripts", "--reporter=append-only", "--loglevel=warn"]


def _is_checked(target: Target) -> bool:
    """A loopback server's run: the client may reach only it, and its lock file is checked."""
    return target.npm_offline_cache is None and is_loopback(target.npm_registry())


def _project(ctx: Context, scratch: Path) -> Path:
    project = scratch / "project"
    project.mkdir()
    (project / "package.json").write_text(ctx.npm_side.package_json())
    return project


def run_npm(
    ctx: Context,
    scratch: Path,
    log: Path,
    registry: str,
    cache: Path,
    *,
    offline: bool,
    loopback_only: bool,
) -> tuple[ClientRun, Path]:
    """One ``npm install`` of the project in ``scratch``; the run and the project directory."""
    project = _project(ctx, scratch)
    env = isolated_env(scratch / "home", registry, loopback_only=loopback_only)
    cmd = [npm(), "install", "--registry", registry, "--cache", str(cache), *NPM_FLAGS]
    cmd += ["--offline"] if offline else []
    return run_client(cmd, log, env, CLIENT_TIMEOUT_S, cwd=project), project


def npm_install(target: Target, ctx: Context, scratch: Path, log: Path) -> ClientRun:
    registry, offline = target.npm_registry(), target.npm_offline_cache
    checked = _is_checked(target)
    run, project = run_npm(
        ctx, scratch, log, registry, offline or scratch / "npm-cache",
        offline=offline is not None, loopback_only=checked or offline is not None,
    )  # fmt: skip
    if run.ok and checked:
        return _checked(run, log, _npm_lock_problems(project, registry, ctx))
    return run


def pnpm_install(target: Target, ctx: Context, scratch: Path, log: Path) -> ClientRun:
    pnpm_bin, registry = pnpm(), target.npm_registry()
    if pnpm_bin is None:
        raise RuntimeError("pnpm not in .tools/ (./scripts/test installs it)")
    project = _project(ctx, scratch)
    env = isolated_env(scratch / "home", registry, loopback_only=_is_checked(target))
    cmd = [
        str(pnpm_bin), "install", "--registry", registry, "--store-dir", str(scratch / "store"),
        "--cache-dir", str(scratch / "pnpm-cache"), *PNPM_FLAGS,
    ]  # fmt: skip
    run = run_client(cmd, log, env, CLIENT_TIMEOUT_S, cwd=project)
    if run.ok and _is_checked(target):
        text = (project / "pnpm-lock.yaml").read_text()
        upstream = ctx.npm_side.tarball_origin
        problems = [f"pnpm-lock.yaml names {upstream}"] if upstream in text else []
        return _checked(run, log, problems)
    return run


def _npm_lock_problems(project: Path, registry: str, ctx: Context) -> list[str]:
    lock = json.loads((project / "package-lock.json").read_text())
    resolved = [e["resolved"] for e in lock["packages"].values() if "resolved" in e]
    problems = [f"{url} is not on the target" for url in resolved if not url.startswith(registry)]
    if len(resolved) < len(ctx.npm_side.tree):
        problems.append(f"{len(resolved)} packages resolved, {len(ctx.npm_side.tree)} expected")
    return problems


def _checked(run: ClientRun, log: Path, problems: list[str]) -> ClientRun:
    """The run, failed if its lock file shows it did not install from the target."""
    if not problems:
        return run
    with log.open("a") as out:
        out.write("".join(f"# lock file check: {p}\n" for p in problems[:20]))
    return ClientRun(run.seconds, ok=False)


def served_problems(target: Target, ctx: Context) -> list[str]:
    """Whether a warmed target links and serves every tarball of the tree itself, intact."""
    if not _is_checked(target):
        return []
    side = ctx.npm_side
    links = _tarball_links(target, {p.name for p in side.tree})
    problems = []
    for package in side.tree:
        url = links.get((package.name, package.version))
        if url is None or not is_loopback(url):
            problems.append(f"{package.name}@{package.version}: tarball link {url}")
    if problems:
        return problems
    with ThreadPoolExecutor(4) as pool:
        bad = pool.map(lambda p: _serves(links[(p.name, p.version)], p), side.installed)
        return [problem for problem in bad if problem]


def _tarball_links(target: Target, names: set[str]) -> dict[tuple[str, str], str]:
    """(name, version) -> tarball URL, from the target's own packuments."""
    links: dict[tuple[str, str], str] = {}
    for name in sorted(names):
        status, body, _ = get(packument_url(target, name), {"Accept": NPM_ACCEPT})
        if status != 200:
            continue
        for version, doc in json.loads(body).get("versions", {}).items():
            links[(name, version)] = doc["dist"]["tarball"]
    return links


def _serves(url: str, package: NpmPackage) -> str:
    status, body, _ = get(url)
    if status == 200 and matches_integrity(body, package.integrity):
        return ""
    return f"{package.filename}: {url} answered {status} with {len(body)} bytes"


def packument_url(target: Target, name: str) -> str:
    return target.npm_registry() + escaped(name)


def load_urls(target: Target, ctx: Context) -> dict[str, str]:
    """The URLs wrk loads on a warm npm target: a small packument and the large tarball.

    The large tarball is not part of the installed tree: it is fetched once
    here, through the link the target's own packument gives, so it is cached.
    """
    if not _is_checked(target):
        return {}
    urls = {}
    small = packument_url(target, NPM_METADATA_PACKAGE)
    if get(small, {"Accept": NPM_ACCEPT})[0] == 200:
        urls["npm-wrk-metadata"] = small
    large = ctx.npm_side.large
    url = _tarball_links(target, {NPM_LARGE_PACKAGE}).get((large.name, large.version))
    if url and is_loopback(url) and not _serves(url, large):
        urls["npm-wrk-large"] = url
    return urls
