"""The npm floor: ``npm install --offline`` from a warm npm cache, no HTTP at all.

``start`` fills the target's own npm cache once with a normal install from
the registry (not timed); every measured run then installs the same project
with ``--offline`` from that cache, so what remains is npm's own work:
resolving from cached packuments, checking and unpacking cached tarballs.
A proxy cannot beat it; "within 15%" of it is the goal.  pnpm has no such
floor here: its warm store holds unpacked files, which skips the unpacking a
proxy's client must do, so it would not be the same work.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from npm_workloads import run_npm

from peers import Role, Target, Unavailable


class NpmOffline(Target):
    name = "npm --offline"
    role = Role.FLOOR
    warm_in = frozenset({"npm"})
    skips = frozenset({"warm-pnpm-install"})
    note = "npm --offline: the same project from a warm npm cache (filled once from the registry)"

    def start(self) -> None:
        super().start()
        scratch = self.data / "fill"
        scratch.mkdir()
        try:
            run, _ = run_npm(
                self.ctx, scratch, self.log, self.npm_registry(), self.data / "npm-cache",
                offline=False, loopback_only=False,
            )  # fmt: skip
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        if not run.ok:
            raise Unavailable(f"{self.name}: filling the npm cache failed; log {self.log}")

    def npm_registry(self) -> str:
        return self.ctx.npm_side.registry

    @property
    def npm_offline_cache(self) -> Path | None:
        return self.data / "npm-cache"
