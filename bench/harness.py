"""Process plumbing for ``bench/run.py``: start, pin, watch and stop what the benchmark runs.

Every server goes through one ``Supervisor``, which remembers each process it
started and stops them all by PID (then their own process group) on the way
out, error or Ctrl-C included.  Clients run through ``run_client`` with a
bounded timeout.  ``RssSampler`` records each server's resident memory, its
children included, from /proc.  Servers are pinned to one core and clients
(pip, uv, wrk) to the other, so they do not steal each other's CPU.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
OUT = BENCH / "out"

SERVER_CORE = "0"
CLIENT_CORE = "1"


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def pinned(cmd: Sequence[str], core: str) -> list[str]:
    """``cmd`` run on one core (taskset), when the machine has more than one."""
    if (os.cpu_count() or 1) > 1 and shutil.which("taskset"):
        return ["taskset", "-c", core, *cmd]
    return list(cmd)


def client_env(**extra: str) -> dict[str, str]:
    """The environment of every client: no PIP_*/UV_* settings, no config files, loopback direct."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_"))}
    env |= {"PIP_CONFIG_FILE": os.devnull, "UV_NO_CONFIG": "1"}
    env |= {"NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"}
    return env | extra


def wait_http(url: str, proc: subprocess.Popen[bytes] | None, timeout_s: float = 60.0) -> None:
    """Wait until ``url`` answers at all (any HTTP status), or fail if ``proc`` exits first."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"exited with status {proc.returncode} while starting")
        try:
            with urllib.request.urlopen(url, timeout=2):  # noqa: S310 - loopback URL we built
                return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"no answer from {url} within {timeout_s:.0f} s")


def tail(path: Path, lines: int = 15) -> str:
    """The last lines of a log file, for error messages."""
    if not path.exists():
        return ""
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


@dataclass
class Supervisor:
    """Owns every server process the benchmark starts and stops them by PID."""

    procs: dict[int, tuple[str, subprocess.Popen[bytes]]] = field(default_factory=dict)

    def start(
        self, name: str, cmd: Sequence[str], log: Path, env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        """Start ``cmd`` pinned to the server core, in its own session, output to ``log``."""
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("ab") as out:
            proc = subprocess.Popen(
                pinned(cmd, SERVER_CORE),
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                start_new_session=True,
            )
        self.procs[proc.pid] = (name, proc)
        return proc

    def stop(self, proc: subprocess.Popen[bytes] | None, grace_s: float = 10.0) -> None:
        """SIGTERM, then SIGKILL to the process and the group it leads; bounded waits."""
        if proc is None:
            return
        self.procs.pop(proc.pid, None)
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=grace_s)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                proc.wait(timeout=grace_s)
        # Workers a master left behind (its group is the session we created for it).
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)

    def stop_all(self) -> None:
        for _, proc in list(self.procs.values()):
            self.stop(proc, grace_s=5.0)


@dataclass(frozen=True, slots=True)
class ClientRun:
    seconds: float
    ok: bool


def run_client(
    cmd: Sequence[str], log: Path, env: dict[str, str], timeout_s: float, cwd: Path | None = None
) -> ClientRun:
    """Run a client pinned to the client core; its wall-clock time and whether it succeeded."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        out.write(("$ " + " ".join(cmd) + "\n").encode())
        out.flush()
        started = time.perf_counter()
        proc = subprocess.Popen(
            pinned(cmd, CLIENT_CORE),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            cwd=cwd,
            start_new_session=True,
        )
        try:
            code = proc.wait(timeout=timeout_s)
        except BaseException:  # timeout, Ctrl-C: end the client and anything it spawned
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
            raise
        seconds = time.perf_counter() - started
        out.write(f"# exit {code} after {seconds:.2f} s\n".encode())
    return ClientRun(seconds, code == 0)


def _process_tree(root: int) -> list[int]:
    """``root`` and all its descendants, from /proc/*/stat."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(children.get(pid, []))
    return tree


def tree_rss_mb(root: int) -> float:
    """Resident memory of a process and its descendants (VmRSS summed), in MB."""
    total = 0
    for pid in _process_tree(root):
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
                    break
        except OSError:
            continue
    return total / 1024


class RssSampler:
    """Samples the RSS of named process trees twice a second in a background thread."""

    def __init__(self, interval_s: float = 0.5) -> None:
        self.interval_s = interval_s
        self.watched: dict[str, list[int]] = {}
        self.samples: dict[str, list[tuple[float, float]]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="rss", daemon=True)

    def watch(self, name: str, pids: list[int]) -> None:
        with self._lock:
            self.watched[name] = pids

    def unwatch(self, name: str) -> None:
        with self._lock:
            self.watched.pop(name, None)

    def peak(self, name: str, since: float = 0.0, until: float = float("inf")) -> float | None:
        """Highest sample for ``name`` between two ``time.monotonic()`` instants."""
        with self._lock:
            values = [mb for t, mb in self.samples.get(name, []) if since <= t <= until]
        return max(values) if values else None

    def sample_now(self) -> None:
        with self._lock:
            watched = dict(self.watched)
        now = time.monotonic()
        for name, pids in watched.items():
            mb = sum(tree_rss_mb(pid) for pid in pids)
            if mb > 0:
                with self._lock:
                    self.samples.setdefault(name, []).append((now, mb))

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.sample_now()

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
