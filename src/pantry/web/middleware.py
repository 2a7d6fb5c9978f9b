"""Request guards and error mapping, applied to every request.

Order matters: the address allow-list first (a stranger learns nothing),
then the request-line checks (never an open proxy, no traversal), then
PantryError -> HTTP status.  This is the only place errors become statuses.
"""

from __future__ import annotations

import functools
import ipaddress
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from urllib.parse import unquote

from aiohttp import web
from aiohttp.typedefs import Middleware

from pantry.config import IPNetwork
from pantry.errors import BadRequest, Forbidden, OfflineMiss, PantryError, Unauthorized
from pantry.metrics import Metrics
from pantry.model import XCache
from pantry.tokens import is_authorized

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
MAX_PATH = 2048


def check_request_line(method: str, raw_path: str) -> None:
    """Refuse proxy-style requests and paths that try to escape their tree.

    Absolute-form (``GET http://host/ HTTP/1.1``) and CONNECT are what an
    open proxy serves; pantry serves neither.  Traversal is checked on the raw
    path in every encoding, because the router sees an already-normalised one.
    """
    if method == "CONNECT" or not raw_path.startswith("/"):
        raise BadRequest("pantry is not a forward proxy: request a path on this server")
    if len(raw_path) > MAX_PATH:
        raise BadRequest("request path too long")
    path = raw_path.split("?", 1)[0]
    if "%" not in path and "\\" not in path and "/." not in path and "\x00" not in path:
        return  # the common case: nothing encoded, no dot segment
    if "%25" in path:
        raise BadRequest("double-encoded characters are not allowed in paths")
    decoded = unquote(path, errors="strict")
    if "\x00" in decoded or "\\" in decoded:
        raise BadRequest("NUL and backslash are not allowed in paths")
    if any(segment in (".", "..") for segment in decoded.split("/")):
        raise BadRequest("'.' and '..' path segments are not allowed")


def is_allowed(remote: str | None, allow: Sequence[IPNetwork]) -> bool:
    """Whether a client address is in the allow-list."""
    if remote is None:
        return False
    try:
        address = ipaddress.ip_address(remote)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return any(address in network for network in allow)


OPEN_PATHS = ("/-/health",)  # load balancers probe it without credentials


def build(
    allow: Sequence[IPNetwork], metrics: Metrics, tokens: Sequence[str] = ()
) -> list[Middleware]:
    """The middleware chain for the app."""

    @functools.lru_cache(maxsize=4096)  # a client's address is parsed once, not per request
    def allowed(remote: str | None) -> bool:
        return is_allowed(remote, allow)

    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        started = time.perf_counter()
        try:
            if not allowed(request.remote):
                raise Forbidden(f"address {request.remote} is not allowed to use this pantry")
            check_request_line(request.method, request.raw_path)
            authorization = request.headers.get("Authorization")
            if (
                tokens
                and request.path not in OPEN_PATHS
                and not is_authorized(authorization, tokens)
            ):
                raise Unauthorized("this pantry needs a token (HTTP Basic password or Bearer)")
            response = await handler(request)
        except PantryError as exc:
            response = error_response(exc)
        except UnicodeDecodeError:
            response = error_response(BadRequest("path is not valid UTF-8"))
        except web.HTTPException as exc:
            metrics.answered("-", None, exc.status, time.perf_counter() - started)
            raise
        repository = request.match_info.get("repo", "-")
        cache = response.headers.get("X-Cache")
        metrics.answered(
            repository,
            XCache(cache) if cache else None,
            response.status,
            time.perf_counter() - started,
        )
        return response

    return [guard]


def error_response(exc: PantryError) -> web.Response:
    """A short text answer that says what went wrong (never a traceback)."""
    if exc.status >= 500:
        log.warning("request failed status=%s error=%s", exc.status, exc)
    headers = {"X-Cache": XCache.OFFLINE.value} if isinstance(exc, OfflineMiss) else {}
    if isinstance(exc, Unauthorized):
        headers["WWW-Authenticate"] = 'Basic realm="pantry"'

    return web.Response(
        status=exc.status, text=f"pantry: {exc}\n", content_type="text/plain", headers=headers
    )
