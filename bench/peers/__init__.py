"""What the benchmark measures: pantry, its peers, the floors, each behind one small interface.

A ``Target`` says where clients get packages from (``index_args``, pip/uv
arguments; ``npm_registry`` for npm and pnpm), may run a server
(``start``/``stop``, its PIDs for memory sampling, ``base_url``), and says
how to find a project page on it (``page_url``).  Targets are built from a
``Context`` and their own data directory, so a cold measurement simply
builds a fresh one.  ``warm_in``/``cold_in`` name the ecosystems ("pypi",
"npm") a target is measured warm and cold in: one pantry (or nginx) serves
both, as it would in use, so its memory figure covers both.
"""

from __future__ import annotations

import enum
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from harness import RssSampler, Supervisor, wait_http
from npm_set import NpmSide
from workset import PypiSide, Upstream, WorkSet

# How long every caching target counts cached metadata fresh: a day, as the
# common nginx and Apache recipes force it.  A warm run then compares how each
# serves its cache, not how often each asks the registry again (the registry
# here sends no validators, so every refresh is a full refetch); a round lasts
# about 20 minutes, and the 300 s default of pantry would refetch every page at
# the start of each.  ``--default-ttl`` keeps each proxy's own default instead
# (nginx and Apache stay at a day: that is their recipe).
METADATA_FRESH_S = 86400


class Role(enum.Enum):
    PANTRY = "pantry"
    PEER = "peer"
    FLOOR = "floor"  # the physical limits: local disk, nginx static
    DIRECT = "direct"  # straight from the registry (cold baseline)


@dataclass
class Context:
    """What every target may use: process supervision, scratch space, the workload set."""

    sup: Supervisor
    rss: RssSampler
    work: Path  # this run's scratch directory (removed at the end)
    logs: Path  # this run's logs (kept under bench/out)
    peers_bin: Path  # bin/ of the venv holding devpi-server and proxpi
    pypi: PypiSide | None  # None: this run leaves PyPI out (--ecosystem npm)
    npm: NpmSide | None  # None: this run leaves npm out (--ecosystem pypi)
    # Metadata freshness for pantry, devpi, proxpi and verdaccio; None: their defaults.
    fresh_s: int | None = METADATA_FRESH_S

    @property
    def ecosystems(self) -> frozenset[str]:
        """The ecosystems this run measures."""
        return frozenset(
            name for name, side in (("pypi", self.pypi), ("npm", self.npm)) if side is not None
        )

    @property
    def upstream(self) -> Upstream:
        if self.pypi is None:
            raise RuntimeError("the PyPI side is not part of this run")
        return self.pypi.upstream

    @property
    def wset(self) -> WorkSet:
        if self.pypi is None:
            raise RuntimeError("the PyPI side is not part of this run")
        return self.pypi.wset

    @property
    def npm_side(self) -> NpmSide:
        if self.npm is None:
            raise RuntimeError("the npm side is not part of this run")
        return self.npm


class Unavailable(Exception):
    """A target cannot run on this machine; the message says why and what to do."""


class Target:
    """Base of every target; a server target overrides ``start`` and sets ``proc``/``port``."""

    name: ClassVar[str]
    role: ClassVar[Role]
    python_peer: ClassVar[bool] = False  # for "5x the best Python peer"
    # Ecosystems measured warm (everything cached beforehand) and cold (fresh data dir per run).
    warm_in: ClassVar[frozenset[str]] = frozenset({"pypi"})
    cold_in: ClassVar[frozenset[str]] = frozenset()
    skips: ClassVar[frozenset[str]] = frozenset()  # workload keys it cannot take part in
    note: ClassVar[str] = ""  # printed under the tables

    def __init__(self, ctx: Context, data: Path) -> None:
        self.ctx = ctx
        self.data = data
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self.rss_name = f"{self.name}@{data.name}"

    @classmethod
    def check(cls, ctx: Context) -> None:
        """Raise ``Unavailable`` when a tool it needs is missing."""

    @property
    def base_url(self) -> str | None:
        """Root URL of its server, None for targets that are not servers."""
        return f"http://127.0.0.1:{self.port}" if self.port else None

    @property
    def log(self) -> Path:
        return self.ctx.logs / f"server-{self.rss_name.replace(' ', '_')}.log"

    def index_args(self) -> list[str]:
        """pip / uv arguments naming where packages come from."""
        raise NotImplementedError

    def page_url(self, project: str) -> str | None:
        """URL of a project's simple page on this target (None: not a server)."""
        return None

    def npm_registry(self) -> str:
        """The registry URL npm and pnpm are given (ends in a slash)."""
        raise NotImplementedError

    @property
    def npm_offline_cache(self) -> Path | None:
        """A warm npm cache to install from with ``--offline`` (the floor); None: none."""
        return None

    def start(self) -> None:
        self.data.mkdir(parents=True, exist_ok=True)

    def started(self, probe_path: str = "/", timeout_s: float = 60.0) -> None:
        """Wait for the server to answer, then sample its memory."""
        assert self.base_url is not None
        try:
            wait_http(self.base_url + probe_path, self.proc, timeout_s)
        except RuntimeError as exc:
            self.stop()
            raise Unavailable(f"{self.name}: {exc}; log {self.log}") from exc
        if self.proc is not None:
            self.ctx.rss.watch(self.rss_name, [self.proc.pid])

    def stop(self) -> None:
        self.ctx.rss.unwatch(self.rss_name)
        self.ctx.sup.stop(self.proc)
        self.proc = None
