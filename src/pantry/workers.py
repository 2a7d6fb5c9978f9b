"""Several worker processes on one port and one store (``[server] workers = N``).

One Python process answers cache hits on one core.  With ``workers`` above 1
the parent binds the listening socket, resolves the upstreams and cleans the
temp directory once, then forks that many workers, each running the whole
app on the shared socket (the kernel hands each new connection to one of
them).  What the workers share and how:

- the store: blobs are content-addressed and committed by atomic rename, the
  index is SQLite in WAL mode, so concurrent writers are safe;
- metrics: Prometheus' multiprocess mode (one mmap file per worker in
  ``DATA/tmp/metrics``), summed at each scrape, whichever worker answers it;
- upkeep: only worker 0 collects garbage; every worker flushes its own
  access times and access log.

Single flight is per worker: two workers asked for the same uncached file at
the same moment each download it once (the second commit is a no-op rename
onto the same blob).  The parent restarts a worker that dies, and stops them
all on SIGINT/SIGTERM.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import socket
import sys
import time
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger("pantry")

STOP_GRACE_S = 10.0  # how long stopping workers may take before they are killed
RESTART_PAUSE_S = 1.0  # between a worker's death and its replacement
CRASH_LOOP = 5  # deaths within CRASH_WINDOW_S that mean "something is wrong": stop
CRASH_WINDOW_S = 30.0


def metrics_dir(data: Path) -> Path:
    """Where the workers' metric files live; emptied when pantry starts."""
    return data / "run" / "metrics"


def bind(host: str, port: int) -> socket.socket:
    """The listening socket every worker accepts on (raises OSError)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(1024)
        sock.set_inheritable(True)
    except OSError:
        sock.close()
        raise
    return sock


def prepare_metrics(data: Path) -> Path:
    """Switch prometheus-client to multiprocess mode, before any metric exists."""
    from prometheus_client import values  # noqa: PLC0415 - only workers mode needs it

    directory = metrics_dir(data)
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(directory)
    values.ValueClass = values.MultiProcessValue()  # type: ignore[no-untyped-call]
    return directory


class Supervisor:
    """The parent: forks workers, replaces the ones that die, stops them all."""

    def __init__(self, count: int, run_worker: Callable[[int], int], metrics: Path) -> None:
        self.count = count
        self.run_worker = run_worker
        self.metrics = metrics
        self.children: dict[int, int] = {}  # pid -> worker number
        self.deaths: list[float] = []
        self.stopping = False

    def run(self) -> int:
        signal.signal(signal.SIGINT, self._stop)
        signal.signal(signal.SIGTERM, self._stop)
        for number in range(self.count):
            self._spawn(number)
        status = 0
        while self.children:
            try:
                pid, wait_status = os.wait()
            except ChildProcessError:
                break
            except InterruptedError:
                continue
            number = self.children.pop(pid, -1)
            if number < 0:  # not a worker (nothing else is forked; be safe)
                continue
            self._forget_metrics(pid)
            if self.stopping:
                continue
            code = os.waitstatus_to_exitcode(wait_status)
            log.warning(
                "worker %d (pid %d) ended with status %d; starting another", number, pid, code
            )
            now = time.monotonic()
            self.deaths = [t for t in self.deaths if now - t < CRASH_WINDOW_S] + [now]
            if len(self.deaths) >= CRASH_LOOP:
                log.error("workers keep dying (%d in %.0f s); stopping", CRASH_LOOP, CRASH_WINDOW_S)
                status = 1
                self._stop_all()
                continue
            time.sleep(RESTART_PAUSE_S)
            if not self.stopping:
                self._spawn(number)
        return status

    def _spawn(self, number: int) -> None:
        sys.stdout.flush()
        sys.stderr.flush()  # or the worker would write the parent's buffered lines again
        pid = os.fork()
        if pid == 0:  # the worker
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            code = 1
            try:
                code = self.run_worker(number)
            except BaseException:  # report it, and never return into the parent's code
                log.exception("worker %d failed", number)
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        self.children[pid] = number

    def _stop(self, _signum: int, _frame: object) -> None:
        self._stop_all()

    def _stop_all(self) -> None:
        if self.stopping:
            return
        self.stopping = True
        for pid in list(self.children):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        signal.signal(signal.SIGALRM, self._kill_rest)
        signal.setitimer(signal.ITIMER_REAL, STOP_GRACE_S)

    def _kill_rest(self, _signum: int, _frame: object) -> None:
        for pid in list(self.children):
            log.warning("worker pid %d did not stop in %.0f s; killing it", pid, STOP_GRACE_S)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def _forget_metrics(self, pid: int) -> None:
        from prometheus_client import multiprocess  # noqa: PLC0415

        with contextlib.suppress(OSError):
            multiprocess.mark_process_dead(pid, str(self.metrics))  # type: ignore[no-untyped-call]
