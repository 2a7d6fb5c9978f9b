"""What the benchmark measures: pantry, its peers, the floors, each behind one small interface.

A ``Target`` says where clients get packages from (``index_args``, pip/uv
arguments), may run a server (``start``/``stop``, its PIDs for memory
sampling, ``base_url``), and says how to find a project page on it
(``page_url``).  Targets are built from a ``Context`` and their own data
directory, so a cold measurement simply builds a fresh one.

Extension point for npm: give a target an ``npm_registry_url`` (pantry's
``/npm/``, verdaccio, the npm registry itself, ``npm --offline`` as the floor)
and add npm/pnpm workloads in ``workloads.py`` that use it; ``ECOSYSTEMS``
says which workloads a target takes part in.
"""

from __future__ import annotations

import enum
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from harness import RssSampler, Supervisor, wait_http
from workset import Upstream, WorkSet


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
    upstream: Upstream
    wset: WorkSet
    peers_bin: Path  # bin/ of the venv holding devpi-server and proxpi


class Unavailable(Exception):
    """A target cannot run on this machine; the message says why and what to do."""


class Target:
    """Base of every target; a server target overrides ``start`` and sets ``proc``/``port``."""

    name: ClassVar[str]
    role: ClassVar[Role]
    python_peer: ClassVar[bool] = False  # for "5x the best Python peer"
    can_warm: ClassVar[bool] = True  # measured warm (everything cached beforehand)
    can_cold: ClassVar[bool] = False  # measured cold (fresh data dir per run)
    ecosystems: ClassVar[frozenset[str]] = frozenset({"pypi"})
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
