"""Cache-hit load on loopback with wrk: throughput and latency percentiles of one URL.

Also finds, on any target, the URL of a given file by reading that target's
own project page (HTML or PEP 691 JSON), so every server is asked for the
file through the link it publishes.  A link that leaves loopback means the
target does not serve the file itself (the Apache recipe's hole).
"""

from __future__ import annotations

import json
import re
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from harness import CLIENT_CORE, pinned

# What pip sends for an index page, so every target answers what pip would get.
PIP_ACCEPT = (
    "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.1, "
    "text/html; q=0.01"
)
PAGE_HEADERS = {"Accept": PIP_ACCEPT, "Accept-Encoding": "gzip, deflate"}
HREF = re.compile(r"""href=["']([^"']+)["']""", re.IGNORECASE)
UNITS = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}
TIME_MS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4, "h": 3.6e6}


@dataclass(frozen=True, slots=True)
class WrkResult:
    rps: float
    mb_s: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int  # non-2xx/3xx answers plus socket errors


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


_opener = urllib.request.build_opener(_NoRedirect)


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, bytes, str]:
    """Status, body and content type of one GET, redirects not followed."""
    request = urllib.request.Request(url, headers=headers or {})  # noqa: S310 - loopback
    try:
        with _opener.open(request, timeout=120) as resp:
            return resp.status, resp.read(), resp.headers.get("Content-Type", "")
    except urllib.error.HTTPError as exc:
        return exc.code, b"", exc.headers.get("Content-Type", "")


def file_links(page_url: str) -> dict[str, str]:
    """filename -> absolute URL for every file a project page links to."""
    status, body, ctype = get(page_url, {"Accept": PIP_ACCEPT})
    if status != 200:
        return {}
    if "json" in ctype:
        hrefs = [f["url"] for f in json.loads(body).get("files", [])]
    else:
        hrefs = HREF.findall(body.decode("utf-8", "replace"))
    links = {}
    for href in hrefs:
        url = urllib.parse.urljoin(page_url, href).split("#")[0]
        name = urllib.parse.unquote(urllib.parse.urlsplit(url).path.rsplit("/", 1)[-1])
        links[name] = url
    return links


def is_loopback(url: str) -> bool:
    return urllib.parse.urlsplit(url).hostname in {"127.0.0.1", "localhost", "::1"}


def run_wrk(
    url: str, seconds: float, connections: int, headers: dict[str, str], log: Path
) -> WrkResult | None:
    """One wrk run (one thread, pinned to the client core); None if it failed."""
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{seconds:g}s", "--latency", "--timeout", "10s"]
    for name, value in headers.items():
        cmd += ["-H", f"{name}: {value}"]
    cmd.append(url)
    done = subprocess.run(
        pinned(cmd, CLIENT_CORE), capture_output=True, text=True, check=False, timeout=seconds + 60
    )
    with log.open("a") as out:
        out.write("$ " + " ".join(cmd) + "\n" + done.stdout + done.stderr)
    if done.returncode != 0:
        return None
    return parse_wrk(done.stdout)


def parse_wrk(text: str) -> WrkResult | None:
    """Figures from wrk's ``--latency`` report."""
    rps = re.search(r"Requests/sec:\s*([\d.]+)", text)
    transfer = re.search(r"Transfer/sec:\s*([\d.]+)([KMGT]?)B", text)
    total = re.search(r"(\d+) requests in", text)
    if not (rps and transfer and total):
        return None
    percentiles = {
        int(p): float(v) * TIME_MS[unit]
        for p, v, unit in re.findall(r"^\s+(\d+)%\s+([\d.]+)(us|ms|s|m|h)\s*$", text, re.M)
    }
    errors = sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses: (\d+)", text))
    socket = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text
    )
    if socket:
        errors += sum(int(n) for n in socket.groups())
    requests = int(total.group(1))
    if requests == 0:  # bytes flowed, but no response finished: wrk prints zero latencies
        percentiles = {}
    return WrkResult(
        rps=float(rps.group(1)),
        mb_s=float(transfer.group(1)) * UNITS[transfer.group(2)] / 1e6,
        p50_ms=percentiles.get(50, float("nan")),
        p99_ms=percentiles.get(99, float("nan")),
        requests=requests,
        errors=errors,
    )
