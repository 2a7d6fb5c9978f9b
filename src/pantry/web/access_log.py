"""The access log: one line per request, written in batches.

aiohttp's default access logger goes through the logging module for every
request, which costs as much as serving a cached page.  This one formats a
line with plain string operations into a buffer that ``flush`` writes out a
few times a second (``app.py`` schedules it), in the same layout:
``<time> <client> "<request line>" <status> <bytes> <seconds> xcache=<outcome>``.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

FLUSH_EVERY_S = 0.25


class AccessLog(AbstractAccessLogger):
    """Batched access lines on stderr (or another stream)."""

    stream: TextIO = sys.stderr
    _pending: list[str] = []  # one buffer per process, like the logging module's handlers
    _second = -1
    _stamp = ""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time_s: float) -> None:
        now = int(time.time())
        cls = type(self)
        if now != cls._second:
            cls._second = now
            cls._stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(now))
        version = f"{request.version.major}.{request.version.minor}"
        cls._pending.append(
            f'{cls._stamp} access {request.remote} "{request.method} {request.raw_path} '
            f'HTTP/{version}" {response.status} {response.body_length} {time_s:.6f} '
            f"xcache={response.headers.get('X-Cache', '-')}\n"
        )

    @classmethod
    def flush(cls) -> None:
        """Write out what accumulated."""
        if cls._pending:
            lines, cls._pending = cls._pending, []
            cls.stream.write("".join(lines))
            cls.stream.flush()
