"""pantry against its peers and the physical limits, side by side in one interleaved run.

``.venv/bin/python bench/run.py [--quick] [--install]``

Starts pantry, devpi-server, proxpi, verdaccio, nginx proxy_cache, the
Apache mod_cache recipe and nginx serving the same wheels and tarballs
statically, each on loopback and pinned to one core (clients and wrk on the
other); warms every cache; then runs rounds, each running every target once
in rotating order, of: warm ``pip install``, ``uv pip install`` and ``pip
download`` of a pinned package set, warm ``npm install`` and ``pnpm install``
of a fixed project (against ``npm install --offline`` as the floor); cold
installs (fresh data dir per run) through pantry and the caching peers and
straight from the registry; wrk against a small project page or packument
and a large wheel or tarball.  ``--ecosystem`` picks PyPI, npm or both.
Memory is sampled throughout.  Prints tables of medians,
min-max and ratios, and the issue's targets met or not; writes the same to
``bench/out/results-<timestamp>.txt``.  Everything it started is stopped by
PID on the way out, Ctrl-C included.  See bench/README.md.
"""

from __future__ import annotations

import argparse
import shutil
import signal
import sys
import tempfile
import time
import urllib.error
from pathlib import Path
from types import FrameType
from typing import TypeVar

from harness import OUT, RssSampler, Supervisor
from loadgen import PAGE_HEADERS, WrkResult, file_links, get, is_loopback, run_wrk
from npm_env import discover_registry, pnpm
from npm_set import FULL_NPM, NPM_HEADERS, QUICK_NPM, NpmSide, prepare
from npm_workloads import load_urls
from peers import METADATA_FRESH_S, Context, Target, Unavailable
from peers.apache import ApacheRecipe
from peers.devpi import Devpi
from peers.local import Direct, LocalDisk
from peers.nginx import NginxProxy, NginxStatic
from peers.npm_offline import NpmOffline
from peers.pantry import Pantry
from peers.proxpi import Proxpi
from peers.verdaccio import Verdaccio
from report import Results
from summary import render
from tools import ensure_debian_tools, ensure_peers_venv, ensure_verdaccio
from workloads import COLD, WARM, ClientWorkload, run_once, warm
from workset import (
    FULL_PACKAGES,
    LARGE_PROJECT,
    METADATA_PROJECT,
    QUICK_PACKAGES,
    PypiSide,
    discover_upstream,
    fetch_wheels,
    load_or_resolve,
    pypi_simple_url,
)

TARGETS: tuple[type[Target], ...] = (
    Pantry,
    Devpi,
    Proxpi,
    Verdaccio,
    NginxProxy,
    ApacheRecipe,
    NginxStatic,
    LocalDisk,
    NpmOffline,
    Direct,
)
# wrk URL keys, and the headers each is asked with (the client's own for metadata).
WRK_HEADERS = {
    "wrk-metadata": PAGE_HEADERS,
    "wrk-large": {},
    "npm-wrk-metadata": NPM_HEADERS,
    "npm-wrk-large": {},
}
RSS_LOADS = {"rss-100": "wrk-large", "npm-rss-100": "npm-wrk-large"}  # RSS key -> wrk URL key
T = TypeVar("T")
START_ERRORS = (Unavailable, OSError, RuntimeError, urllib.error.URLError)


def slug(text: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in text)


def rotated(items: list[T], by: int) -> list[T]:
    return items[by % len(items) :] + items[: by % len(items)] if items else []


class Bench:
    def __init__(self, args: argparse.Namespace, ctx: Context, results: Results) -> None:
        self.args, self.ctx, self.results = args, ctx, results
        self.warm_workloads = [w for w in WARM if w.ecosystem in ctx.ecosystems]
        self.cold_workloads = [w for w in COLD if w.ecosystem in ctx.ecosystems]
        if "npm" in ctx.ecosystems and pnpm() is None:
            self.results.skipped["pnpm workloads"] = "pnpm not in .tools/ (./scripts/test puts it)"
            self.warm_workloads = [w for w in self.warm_workloads if "pnpm" not in w.key]
            self.cold_workloads = [w for w in self.cold_workloads if "pnpm" not in w.key]
        self.warm_targets: list[Target] = []
        self.cold_classes: list[type[Target]] = []
        self.not_warm: set[tuple[str, str]] = set()  # (target, ecosystem) whose warm-up failed
        self.urls: dict[tuple[str, str], str] = {}  # (target, "wrk-metadata"|"wrk-large") -> URL

    def skip(self, name: str, why: str) -> None:
        print(f"  left out {name}: {why}")
        self.results.skipped[name] = why
        self.results.roles.pop(name, None)
        self.cold_classes = [c for c in self.cold_classes if c.name != name]

    def start_all(self) -> None:
        only = {n.strip() for n in self.args.only.split(",")} if self.args.only else None
        for cls in TARGETS:
            if only is not None and cls.name not in only:
                continue
            if not (cls.warm_in | cls.cold_in) & self.ctx.ecosystems:
                continue
            try:
                cls.check(self.ctx)
            except Unavailable as exc:
                self.skip(cls.name, str(exc))
                continue
            self.results.roles[cls.name] = cls.role
            if cls.python_peer:
                self.results.python_peers.add(cls.name)
            if cls.cold_in & self.ctx.ecosystems and self.args.cold:
                self.cold_classes.append(cls)
            if cls.warm_in & self.ctx.ecosystems:
                self.start_warm(cls)

    def start_warm(self, cls: type[Target]) -> None:
        target = cls(self.ctx, self.ctx.work / slug(cls.name))
        print(f"  starting and warming {cls.name}")
        try:
            target.start()
            problems = warm(target, self.ctx)
        except START_ERRORS as exc:
            target.stop()
            self.skip(cls.name, f"did not start: {exc}")
            return
        failed = {eco: found for eco, found in problems.items() if found}
        if failed and len(failed) == len(problems):
            target.stop()
            self.skip(cls.name, "not warm: " + "; ".join(p for f in failed.values() for p in f[:3]))
            return
        for eco, found in failed.items():  # measured in its other ecosystem only
            print(f"  left out {cls.name} for {eco}: not warm")
            self.results.skipped[f"{cls.name} ({eco})"] = "not warm: " + "; ".join(found[:3])
            self.not_warm.add((cls.name, eco))
        self.warm_targets.append(target)
        if target.base_url:
            self.find_load_urls(target)

    def is_warm(self, target: Target, ecosystem: str) -> bool:
        """Whether ``target`` is measured warm in ``ecosystem`` in this run."""
        in_run = ecosystem in target.warm_in & self.ctx.ecosystems
        return in_run and (target.name, ecosystem) not in self.not_warm

    def find_load_urls(self, target: Target) -> None:
        if self.is_warm(target, "npm"):
            self.urls |= {(target.name, k): url for k, url in load_urls(target, self.ctx).items()}
        if not self.is_warm(target, "pypi"):
            return
        page = target.page_url(METADATA_PROJECT)
        if page and get(page, PAGE_HEADERS)[0] == 200:
            self.urls[(target.name, "wrk-metadata")] = page
        wheel = self.ctx.wset.wheel_of(LARGE_PROJECT)
        large_page = target.page_url(LARGE_PROJECT)
        url = file_links(large_page).get(wheel.filename) if large_page else None
        if url and is_loopback(url):
            self.urls[(target.name, "wrk-large")] = url
        elif url:
            note = f"{target.name}: its pages link package files off-host; it serves none itself"
            self.results.notes.setdefault("wrk-large", []).append(note)

    def round(self, number: int) -> None:
        order = rotated(self.warm_targets, number)
        for workload in self.warm_workloads:
            for target in order:
                if workload.applies_to(target) and self.is_warm(target, workload.ecosystem):
                    self.measure(workload, target, number)
        for workload in self.cold_workloads:
            for cls in rotated(self.cold_classes, number):
                if workload.applies_to(cls):
                    self.measure_cold(workload, cls, number)
        if self.args.wrk_seconds > 0:
            for target in order:
                for key in WRK_HEADERS:
                    self.measure_wrk(key, target, number)

    def record(self, key: str, target: str, seconds: float, ok: bool, log: Path) -> None:
        series = self.results.add(key, target)
        if ok:
            series.values.append(seconds)
        else:
            series.failures.append(f"log {log}")
        print(f"    {key:<20} {target:<20} {seconds:8.2f} s" + ("" if ok else "  FAILED"))

    def measure(self, workload: ClientWorkload, target: Target, number: int) -> None:
        tag = f"{workload.key}-{slug(target.name)}-r{number}"
        run, log = run_once(workload, target, self.ctx, tag)
        self.record(workload.key, target.name, run.seconds, run.ok, log)

    def measure_cold(self, workload: ClientWorkload, cls: type[Target], number: int) -> None:
        tag = f"{workload.key}-{slug(cls.name)}-r{number}"
        target = cls(self.ctx, self.ctx.work / tag)
        try:
            target.start()
            run, log = run_once(workload, target, self.ctx, tag)
            self.record(workload.key, cls.name, run.seconds, run.ok, log)
        except START_ERRORS as exc:
            self.results.add(workload.key, cls.name).failures.append(f"did not start: {exc}")
        finally:
            target.stop()
            shutil.rmtree(target.data, ignore_errors=True)

    def wrk(self, key: str, target: Target, log_tag: str, connections: int) -> WrkResult | None:
        """One wrk run against the target's URL for ``key``; None if it has none or wrk failed."""
        url = self.urls.get((target.name, key))
        if url is None:
            return None
        headers = WRK_HEADERS[key]
        log = self.ctx.logs / f"{log_tag}-{slug(target.name)}.log"
        result = run_wrk(url, self.args.wrk_seconds, connections, headers, log)
        if result is None:
            self.results.add(key, target.name).failures.append(f"log {log}")
        else:
            print(f"    {log_tag:<20} {target.name:<20} {result.rps:9.0f} req/s "
                  f"{result.mb_s:8.1f} MB/s")  # fmt: skip
        return result

    def measure_wrk(self, key: str, target: Target, number: int) -> None:
        result = self.wrk(key, target, f"{key}-r{number}", connections=50)
        if result is not None:
            series = self.results.add(key, target.name)
            series.wrk.append(result)
            series.values.append(result.rps if key.endswith("wrk-metadata") else result.mb_s)

    def memory(self) -> None:
        """Peak RSS over the run, and while 100 connections stream the large file."""
        for target in self.warm_targets if self.args.wrk_seconds > 0 else []:
            for rss_key, wrk_key in RSS_LOADS.items():
                started = time.monotonic()
                result = self.wrk(wrk_key, target, rss_key, connections=100)
                self.ctx.rss.sample_now()
                peak = self.ctx.rss.peak(target.rss_name, started, time.monotonic())
                if result is not None and peak is not None:
                    series = self.results.add(rss_key, target.name)
                    series.wrk.append(result)
                    series.values.append(peak)
        for target in self.warm_targets:
            peak = self.ctx.rss.peak(target.rss_name)
            if peak is not None:
                self.results.add("rss-peak", target.name).values.append(peak)


def setup_pypi(args: argparse.Namespace, logs: Path) -> PypiSide:
    simple = pypi_simple_url()
    label, packages = ("quick", QUICK_PACKAGES) if args.quick else ("full", FULL_PACKAGES)
    wset = fetch_wheels(load_or_resolve(label, packages, simple, logs / "resolve.log"))
    print(f"  workload set: {len(wset.wheels)} wheels, {wset.total_mb:.0f} MB ({wset.pins})")
    return PypiSide(discover_upstream(simple, wset), wset)


def setup_npm(args: argparse.Namespace, work: Path, logs: Path) -> NpmSide | None:
    if shutil.which("npm") is None:
        print("  missing: npm (it comes with Node); the npm side is left out")
        return None
    registry = discover_registry()
    ensure_verdaccio(args.install, registry)
    label, packages = ("quick", QUICK_NPM) if args.quick else ("full", FULL_NPM)
    side = prepare(label, packages, registry, work, logs / "npm-resolve.log")
    print(
        f"  npm project: {len(side.pins)} packages, {len(side.tree)} in the tree, "
        f"{len(side.installed)} installed here, {side.total_mb:.1f} MB of tarballs"
    )
    return side


def bench(args: argparse.Namespace, sup: Supervisor, rss: RssSampler, work: Path) -> int:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    logs = OUT / f"logs-{stamp}"
    logs.mkdir(parents=True)
    print(f"== setup (logs in {logs})")
    missing = ensure_debian_tools(args.install)
    if "wrk" in missing:
        args.wrk_seconds = 0
    peers_bin = ensure_peers_venv(args.install)
    pypi = setup_pypi(args, logs) if args.ecosystem in {"pypi", "all"} else None
    npm = setup_npm(args, work, logs) if args.ecosystem in {"npm", "all"} else None
    fresh_s = None if args.default_ttl else METADATA_FRESH_S
    ctx = Context(sup, rss, work, logs, peers_bin, pypi, npm, fresh_s)
    results = Results(roles={}, python_peers=set())
    runner = Bench(args, ctx, results)
    runner.start_all()
    for number in range(args.rounds):
        print(f"== round {number + 1}/{args.rounds}")
        runner.round(number)
    print("== memory")
    runner.memory()
    rounds = f"{args.rounds} rounds" + (", cold included" if args.cold else "")
    first = (
        f"pantry benchmark {stamp} ({'quick' if args.quick else 'full'}: {rounds}, "
        f"ecosystem {args.ecosystem}); servers on core 0, clients and wrk on core 1; "
        + (
            "each proxy's default metadata freshness"
            if fresh_s is None
            else f"metadata fresh for {fresh_s} s at every proxy"
        )
    )
    notes = [cls.note for cls in TARGETS if cls.note and cls.name in results.roles]
    text = render(ctx, results, first, args.wrk_seconds, notes)
    out = OUT / f"results-{stamp}.txt"
    out.write_text(text + "\n")
    print("\n" + text + f"\nwritten to {out}")
    return 0


def _exit_on_signal(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 packages, 2 rounds, no cold")
    parser.add_argument("--install", action="store_true", help="install missing tools and peers")
    parser.add_argument("--rounds", type=int, help="rounds (default 3, quick 2)")
    parser.add_argument("--wrk-seconds", type=float, help="per wrk run (default 10, quick 5)")
    parser.add_argument("--only", help="comma-separated target names, for debugging")
    parser.add_argument(
        "--ecosystem", choices=("pypi", "npm", "all"), default="all", help="what to measure"
    )
    parser.add_argument("--cold", action="store_true", help="cold runs even with --quick")
    parser.add_argument(
        "--default-ttl",
        action="store_true",
        help="each proxy's own metadata freshness instead of a day for all",
    )
    args = parser.parse_args()
    args.rounds = args.rounds or (2 if args.quick else 3)
    args.cold = args.cold or not args.quick
    if args.wrk_seconds is None:
        args.wrk_seconds = 5.0 if args.quick else 10.0
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even when started in background
    signal.signal(signal.SIGTERM, _exit_on_signal)
    signal.signal(signal.SIGHUP, _exit_on_signal)
    OUT.mkdir(exist_ok=True)
    sup = Supervisor()
    work = Path(tempfile.mkdtemp(prefix="pantry-bench-"))
    work.chmod(0o755)  # nginx and Apache workers (www-data when run as root) read in here
    try:
        with RssSampler() as rss:
            return bench(args, sup, rss, work)
    except KeyboardInterrupt:
        print("\ninterrupted: stopping everything the benchmark started", file=sys.stderr)
        return 130
    finally:
        sup.stop_all()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
