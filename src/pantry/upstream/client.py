"""The upstream HTTP client: one pooled aiohttp session per process.

Owns every ``aiohttp.ClientError``: they are translated here into
``UpstreamError`` and its subclasses, and every failure is reported to the
circuit breaker.  Timeouts per phase (connect about 5 s), proxies from the
environment (``HTTPS_PROXY``, ``HTTP_PROXY``, ``NO_PROXY``), TLS verified,
one retry on connection errors, no ``X-Forwarded-*`` headers.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import aiohttp
from yarl import URL

from pantry import __version__
from pantry.errors import ConfigError, UpstreamDown, UpstreamError, UpstreamTimeout
from pantry.upstream.breaker import Breaker

log = logging.getLogger(__name__)

CHUNK = 256 * 1024

# A cold `uv pip install` asks for dozens of pages and files at once (uv allows
# 50 concurrent downloads); queueing them behind a smaller pool made a cold
# install through pantry wait in waves where the direct install did not.
PER_HOST_CONNECTIONS = 64


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Upstream deadlines in seconds."""

    connect_s: float = 5.0
    read_s: float = 30.0  # longest silence tolerated while a body streams


def origin_of(url: str) -> str:
    """``scheme://host:port`` of a URL: the unit the circuit breaker tracks."""
    parsed = URL(url)
    return f"{parsed.scheme}://{parsed.host}:{parsed.port}"


def split_credentials(url: str) -> tuple[str, str | None, str | None]:
    """A URL without its user info, and the user name and password it carried."""
    parsed = URL(url)
    if parsed.user is None and parsed.password is None:
        return url, None, None
    return str(parsed.with_user(None)), parsed.user, parsed.password


def mask(url: str) -> str:
    """A URL fit for logs: credentials replaced."""
    parsed = URL(url)
    if parsed.user or parsed.password:
        return str(parsed.with_user("***").with_password(None))
    return url


class UpstreamResponse:
    """An upstream answer whose body has not been read yet."""

    def __init__(self, client: UpstreamClient, raw: aiohttp.ClientResponse, origin: str) -> None:
        self._client = client
        self._raw = raw
        self._origin = origin
        self.status = raw.status
        self.headers: Mapping[str, str] = raw.headers
        self.url = str(raw.url)

    @property
    def content_length(self) -> int | None:
        """Body length as sent, when the body is not transfer-decoded by us."""
        if "Content-Encoding" in self.headers:
            return None
        return self._raw.content_length

    async def read(self, limit: int) -> bytes:
        """The whole body (metadata only); refuses bodies over ``limit`` bytes."""
        parts: list[bytes] = []
        total = 0
        async for chunk in self.iter_chunks():
            total += len(chunk)
            if total > limit:
                raise UpstreamError(f"upstream body larger than {limit} bytes: {mask(self.url)}")
            parts.append(chunk)
        return b"".join(parts)

    async def iter_chunks(self) -> AsyncIterator[bytes]:
        """The body as it arrives; a broken or stalled body raises ``UpstreamError``."""
        try:
            async for chunk in self._raw.content.iter_chunked(CHUNK):
                yield chunk
        except TimeoutError as exc:
            self._client.breaker.failed(self._origin, self._client.clock(), hard=True)
            raise UpstreamTimeout(f"upstream stalled: {mask(self.url)}") from exc
        except aiohttp.ClientError as exc:
            raise UpstreamError(f"upstream body broken ({exc}): {mask(self.url)}") from exc


class UpstreamClient:
    """Pooled HTTP access to every upstream of the process."""

    def __init__(
        self,
        breaker: Breaker,
        timeouts: Timeouts = Timeouts(),
        *,
        ca_file: Path | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.ca_file = ca_file
        self.breaker = breaker
        self._credentials: dict[str, aiohttp.BasicAuth] = {}
        self.timeouts = timeouts
        self.clock = clock
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        """Create the session (inside the running loop)."""
        self._session = aiohttp.ClientSession(
            trust_env=True,  # HTTP(S)_PROXY and NO_PROXY, like the clients themselves
            timeout=aiohttp.ClientTimeout(
                total=None, sock_connect=self.timeouts.connect_s, sock_read=self.timeouts.read_s
            ),
            connector=aiohttp.TCPConnector(
                limit=PER_HOST_CONNECTIONS * 4,
                limit_per_host=PER_HOST_CONNECTIONS,
                ttl_dns_cache=300,
                ssl=self._tls(),
            ),
            headers={"User-Agent": f"pantry/{__version__}"},
            auto_decompress=True,
        )

    def add_credentials(self, url: str, username: str, password: str) -> None:
        """Send HTTP Basic to ``url``'s origin (a private registry), and to no other host."""
        self._credentials[origin_of(url)] = aiohttp.BasicAuth(username, password)

    def _tls(self) -> ssl.SSLContext | bool:
        """Verified TLS: the system's CAs, or the configured bundle instead."""
        if self.ca_file is None:
            return True
        try:
            return ssl.create_default_context(cafile=str(self.ca_file))
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(f"cannot use CA bundle {self.ca_file}: {exc}") from exc

    async def close(self) -> None:
        """Close pooled connections."""
        if self._session is not None:
            await self._session.close()

    @asynccontextmanager
    async def open(
        self,
        url: str,
        headers: Mapping[str, str],
        *,
        read_s: float | None = None,
        method: str = "GET",
        body: bytes | None = None,
    ) -> AsyncIterator[UpstreamResponse]:
        """GET ``url``; yield the response with any status below 500.

        5xx, connection errors and timeouts raise ``UpstreamError`` subclasses
        and count against the origin in the circuit breaker.
        """
        assert self._session is not None, "UpstreamClient.start() was not awaited"
        origin = origin_of(url)
        if not self.breaker.allow(origin, self.clock()):
            raise UpstreamDown(f"upstream {origin} is marked down after recent failures")
        raw = await self._send(
            url,
            headers=headers,
            origin=origin,
            read_s=read_s or self.timeouts.read_s,
            method=method,
            body=body,
        )
        try:
            if raw.status >= 500:
                self.breaker.failed(origin, self.clock(), hard=False)
                raise UpstreamError(f"upstream answered {raw.status}: {mask(url)}")
            self.breaker.succeeded(origin)
            yield UpstreamResponse(self, raw, origin)
        finally:
            raw.release()

    async def _send(
        self,
        url: str,
        *,
        headers: Mapping[str, str],
        origin: str,
        read_s: float,
        method: str = "GET",
        body: bytes | None = None,
    ) -> aiohttp.ClientResponse:
        assert self._session is not None
        timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=self.timeouts.connect_s, sock_read=read_s
        )
        for attempt in (1, 2):
            try:
                return await self._session.request(
                    method,
                    url,
                    auth=self._credentials.get(origin),
                    headers=dict(headers),
                    data=body,
                    allow_redirects=method == "GET",
                    timeout=timeout,
                )
            except (aiohttp.ClientConnectionError, TimeoutError) as exc:
                is_timeout = isinstance(exc, TimeoutError)
                # One retry on a connection error; a timeout already cost enough.
                if attempt == 1 and not is_timeout:
                    log.info("upstream connection failed, retrying url=%s error=%s", mask(url), exc)
                    await asyncio.sleep(0.1)
                    continue
                self.breaker.failed(origin, self.clock(), hard=True)
                if is_timeout:
                    raise UpstreamTimeout(f"upstream timed out: {mask(url)}") from exc
                raise UpstreamError(f"cannot reach upstream ({exc}): {mask(url)}") from exc
            except aiohttp.ClientError as exc:
                self.breaker.failed(origin, self.clock(), hard=True)
                raise UpstreamError(f"upstream request failed ({exc}): {mask(url)}") from exc
        raise AssertionError("unreachable")
