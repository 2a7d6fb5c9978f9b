"""The text of a run: what ran where, a table per metric, what was left out, and the goals.

Only the ecosystems the run measured (``--ecosystem``) get their header
lines and tables.
"""

from __future__ import annotations

from collections.abc import Iterable

from npm_set import NPM_METADATA_PACKAGE
from peers import Context
from report import Metric, Results, goal_lines, table
from tools import machine_lines, npm_machine_line
from workloads import COLD, WARM
from workset import LARGE_PROJECT, METADATA_PROJECT


def _client_metrics(ecosystem: str, what: str) -> list[Metric]:
    """One per client workload of ``ecosystem``, warm then cold; ``what`` says what it installs."""
    return [
        Metric(w.key, f"{w.title}: {what}", "s") for w in (*WARM, *COLD) if w.ecosystem == ecosystem
    ]


def _pypi_metrics(ctx: Context, secs: str) -> list[Metric]:
    wset, large = ctx.wset, ctx.wset.wheel_of(LARGE_PROJECT)
    what = f"{len(wset.packages)} packages, {len(wset.wheels)} wheels, {wset.total_mb:.0f} MB"
    return [
        *_client_metrics("pypi", what),
        Metric("wrk-metadata", f"cached small metadata: {METADATA_PROJECT} page, {secs}",
               "req/s", True),
        Metric("wrk-large", f"cached large file: {large.filename} "
               f"({large.size / 1e6:.0f} MB), {secs}", "MB/s", True),
    ]  # fmt: skip


def _npm_metrics(ctx: Context, secs: str) -> list[Metric]:
    side = ctx.npm_side
    large_mb = (side.tarball_dir / side.large.filename).stat().st_size / 1e6
    what = (
        f"{len(side.packages)} packages, {len(side.tree)} in the tree, "
        f"{side.total_mb:.1f} MB of tarballs for this machine"
    )
    return [
        *_client_metrics("npm", what),
        Metric("npm-wrk-metadata", f"cached small packument: {NPM_METADATA_PACKAGE}, "
               f"npm's Accept, {secs}", "req/s", True),
        Metric("npm-wrk-large", f"cached large tarball: {side.large.filename} "
               f"({large_mb:.0f} MB), {secs}", "MB/s", True),
    ]  # fmt: skip


def metrics(ctx: Context, wrk_seconds: float) -> dict[str, Metric]:
    """Every metric the run may have figures for, in the order of the tables."""
    secs = f"wrk -t1 -c50 -d{wrk_seconds:g}s"
    found = _pypi_metrics(ctx, secs) if ctx.pypi is not None else []
    found += _npm_metrics(ctx, secs) if ctx.npm is not None else []
    found.append(Metric("rss-peak", "peak RSS of the server over the whole run", "MB"))
    if ctx.pypi is not None:
        found.append(
            Metric("rss-100", "peak RSS while 100 connections stream the large file", "MB")
        )
    if ctx.npm is not None:
        found.append(Metric("npm-rss-100", "peak RSS while 100 connections stream the large "
                            "tarball", "MB"))  # fmt: skip
    return {m.key: m for m in found}


def _header(ctx: Context) -> list[str]:
    lines = machine_lines(ctx.peers_bin)
    if ctx.npm is not None:
        lines.append(npm_machine_line())
    if ctx.pypi is not None:
        lines += [
            "upstream: PyPI's simple index as pip defaults to it; files host from its own links",
            f"workload set ({ctx.wset.pins.name}): {' '.join(ctx.wset.packages)}",
        ]
    if ctx.npm is not None:
        side = ctx.npm_side
        lines += [
            "npm upstream: npm's default registry (npm config get registry, no npmrc); "
            "tarballs from its packuments",
            f"npm project ({side.label}): "
            + " ".join(f"{name}@{version}" for name, version in side.pins.items()),
        ]
    return lines


def render(
    ctx: Context, results: Results, first_line: str, wrk_seconds: float, notes: Iterable[str]
) -> str:
    lines = [
        first_line,
        *_header(ctx),
        "vs static, vs peer: this median over nginx static's, over the best peer's",
        "",
    ]
    all_metrics = metrics(ctx, wrk_seconds)
    for metric in all_metrics.values():
        lines += table(results, metric)
    for name, why in results.skipped.items():
        lines.append(f"left out: {name}: {why}")
    lines += [f"note: {note}" for note in notes]
    return "\n".join([*lines, "", *goal_lines(results, all_metrics)])
