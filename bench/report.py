"""Figures into plain-text tables: medians, min-max, ratios to the baselines, and the targets.

A ratio is this target's median over the baseline's median: for times, above
1 is slower; for throughput, below 1 is slower.  "best peer" is the best
median among the peers of that table (devpi-server, proxpi, nginx
proxy_cache and Apache for PyPI; verdaccio and nginx proxy_cache for npm).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field

from loadgen import WrkResult
from peers import Role

STATIC = "nginx static"
PANTRY = "pantry"
NPM_OFFLINE = "npm --offline"


@dataclass
class Series:
    values: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)  # one line (log path) per failed run
    wrk: list[WrkResult] = field(default_factory=list)

    @property
    def median(self) -> float | None:
        return statistics.median(self.values) if self.values else None


@dataclass(frozen=True, slots=True)
class Metric:
    key: str
    title: str
    unit: str
    higher_is_better: bool = False


@dataclass
class Results:
    roles: dict[str, Role]  # every target measured, in display order
    python_peers: set[str]
    series: dict[str, dict[str, Series]] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)  # target -> why it was left out
    notes: dict[str, list[str]] = field(default_factory=dict)  # metric key -> notes

    def add(self, key: str, target: str) -> Series:
        return self.series.setdefault(key, {}).setdefault(target, Series())

    def median(self, key: str, target: str) -> float | None:
        found = self.series.get(key, {}).get(target)
        return found.median if found else None

    def best_of(self, key: str, metric: Metric, keep: Callable[[str], bool]) -> float | None:
        medians = [s.median for t, s in self.series.get(key, {}).items() if keep(t) and s.median]
        if not medians:
            return None
        return max(medians) if metric.higher_is_better else min(medians)

    def best_peer(self, key: str, metric: Metric) -> float | None:
        return self.best_of(key, metric, lambda t: self.roles.get(t) is Role.PEER)


def _num(value: float | None, width: int = 8, digits: int = 2) -> str:
    if value is None or math.isnan(value):
        return " " * (width - 3) + "n/a"
    return f"{value:{width}.{digits}f}"


def _ratio(value: float | None, base: float | None) -> str:
    return f"{value / base:7.2f}x" if value and base else "     n/a"


def table(results: Results, metric: Metric) -> list[str]:
    rows = results.series.get(metric.key, {})
    if not rows:
        return []
    static, peer = results.median(metric.key, STATIC), results.best_peer(metric.key, metric)
    better = "higher" if metric.higher_is_better else "lower"
    lines = [f"== {metric.title} ({metric.unit}, {better} is better)"]
    has_wrk = any(s.wrk for s in rows.values())
    head = f"{'target':<20}{'median':>10}{'min-max':>22}{'vs static':>10}{'vs peer':>10}"
    lines.append(head + ("   p50 ms   p99 ms  errors" if has_wrk else ""))
    for name in (t for t in results.roles if t in rows):
        s = rows[name]
        span = f"{min(s.values):.2f}-{max(s.values):.2f}" if s.values else "n/a"
        line = f"{name:<20}{_num(s.median, 10)}{span:>22}{_ratio(s.median, static):>10}"
        line += f"{_ratio(s.median, peer):>10}"
        if has_wrk and s.wrk:
            p50 = statistics.median(w.p50_ms for w in s.wrk)
            p99 = statistics.median(w.p99_ms for w in s.wrk)
            line += f"{_num(p50, 9)}{_num(p99, 9)}{sum(w.errors for w in s.wrk):8d}"
        if s.failures:
            line += f"   {len(s.failures)} failed run(s): {s.failures[0]}"
        lines.append(line)
    lines += [f"   note: {n}" for n in results.notes.get(metric.key, [])]
    return [*lines, ""]


@dataclass(frozen=True, slots=True)
class Goal:
    text: str
    key: str
    baseline: str  # a target name, "best peer" or "best python peer"
    # pantry / baseline must be <= limit (times) or >= limit (throughput); None: shown, no goal
    limit: float | None
    higher_is_better: bool = False
    baseline_key: str = ""  # the baseline's figure from another table (default: ``key``)


GOALS = (
    Goal("warm pip install within 5% of nginx static", "warm-pip-install", STATIC, 1.05),
    Goal("warm pip install faster than every peer", "warm-pip-install", "best peer", 1.0),
    Goal("warm uv install within 5% of nginx static", "warm-uv-install", STATIC, 1.05),
    Goal("warm uv install faster than every peer", "warm-uv-install", "best peer", 1.0),
    Goal("warm pip download within 1.5x nginx static", "warm-pip-download", STATIC, 1.5),
    Goal("small metadata >= 5x best Python peer", "wrk-metadata", "best python peer", 5.0, True),
    Goal("small metadata >= half of Apache", "wrk-metadata", "apache mod_cache", 0.5, True),
    Goal("large file >= 80% of nginx static", "wrk-large", STATIC, 0.8, True),
    Goal("cold pip install within 10% of direct", "cold-pip-install", "direct", 1.10),
    Goal("cold uv install within 10% of direct", "cold-uv-install", "direct", 1.10),
    Goal("warm npm install within 15% of npm --offline", "warm-npm-install", NPM_OFFLINE, 1.15),
    Goal("warm npm install faster than every peer", "warm-npm-install", "best peer", 1.0),
    Goal("warm pnpm install faster than every peer", "warm-pnpm-install", "best peer", 1.0),
    Goal("cold npm install faster than every peer", "cold-npm-install", "best peer", 1.0),
    Goal("cold pnpm install faster than every peer", "cold-pnpm-install", "best peer", 1.0),
    Goal("npm small metadata >= 5x best Python peer (its PyPI page)", "npm-wrk-metadata",
         "best python peer", 5.0, True, "wrk-metadata"),
    Goal("npm small metadata against verdaccio (Node: no goal)", "npm-wrk-metadata",
         "verdaccio", None, True),
    Goal("npm large file >= 80% of nginx static", "npm-wrk-large", STATIC, 0.8, True),
)  # fmt: skip


def _baseline(results: Results, goal: Goal, metric: Metric) -> float | None:
    key = goal.baseline_key or goal.key
    if goal.baseline == "best peer":
        return results.best_peer(key, metric)
    if goal.baseline == "best python peer":
        return results.best_of(key, metric, lambda t: t in results.python_peers)
    return results.median(key, goal.baseline)


def _verdict(goal: Goal, ratio: float) -> str:
    if goal.limit is None:
        return "info   "
    if goal.baseline == "best peer" and not goal.higher_is_better:
        met = ratio < goal.limit
    else:
        met = ratio >= goal.limit if goal.higher_is_better else ratio <= goal.limit
    return "MET    " if met else "NOT MET"


def goal_lines(results: Results, metrics: dict[str, Metric]) -> list[str]:
    lines = ["== targets of issue 5 (pantry's median against the baseline's median)"]
    for goal in (g for g in GOALS if g.key in metrics):  # the run's ecosystems only
        metric = metrics[goal.key]
        mine = results.median(goal.key, PANTRY)
        base = _baseline(results, goal, metric)
        if mine is None or base is None:
            lines.append(f"  n/a      {goal.text}: not measured in this run")
            continue
        ratio = mine / base
        lines.append(
            f"  {_verdict(goal, ratio)}  {goal.text}: "
            f"{mine:.2f} vs {base:.2f} {metric.unit} = {ratio:.2f}x"
        )
    if "rss-100" in metrics:  # with the PyPI large file
        lines.append(_memory_line(results.median("rss-100", PANTRY)))
    return [*lines, ""]


def _memory_line(rss: float | None) -> str:
    if rss is None:
        return "  n/a      memory under 150 MB while 100 clients stream: not measured"
    word = "MET    " if rss < 150 else "NOT MET"
    return f"  {word}  memory under 150 MB while 100 clients stream: {rss:.0f} MB peak"
