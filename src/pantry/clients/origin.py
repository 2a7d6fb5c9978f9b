"""The origin of a URL (scheme, host, port) and whether two origins are the same server.

Used to spot a client that already points at pantry (the discovery loop guard) and to
decide whether pip needs ``trusted-host`` for a plain-http index.  Every loopback
spelling (``localhost``, ``127.0.0.1``, ``::1``, ...) counts as one host, and so do the
unspecified addresses pantry may listen on (``0.0.0.0``, ``::``), which also accept
loopback connections.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit, urlunsplit

_DEFAULT_PORTS = {"http": 80, "https": 443}
_USERINFO_PASSWORD = re.compile(r"(//[^/?#@:]*):[^/?#@]*@")
_LOOPBACK = "<loopback>"


@dataclass(frozen=True, slots=True)
class Origin:
    """Scheme, host and port of an http(s) URL, with the port always explicit."""

    scheme: str
    host: str
    port: int

    @classmethod
    def parse(cls, url: str) -> Origin | None:
        """The origin of ``url``; None unless it is an absolute http(s) URL with a host."""
        parts = _split(url)
        if parts is None or parts.hostname is None:
            return None
        try:
            port = parts.port
        except ValueError:
            return None
        scheme = parts.scheme.lower()
        return cls(scheme, parts.hostname.lower(), port or _DEFAULT_PORTS[scheme])

    @property
    def is_loopback(self) -> bool:
        """True when the host can only be reached from this machine."""
        return _host_class(self.host) == _LOOPBACK

    @property
    def netloc(self) -> str:
        """``host`` or ``host:port`` as a URL would spell it (port left out when default)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        if self.port == _DEFAULT_PORTS[self.scheme]:
            return host
        return f"{host}:{self.port}"

    def is_same_server(self, other: Origin) -> bool:
        """Same scheme and port, and the same host once loopback spellings are merged."""
        return (
            self.scheme == other.scheme
            and self.port == other.port
            and _host_class(self.host) == _host_class(other.host)
        )


def redact(url: str) -> str:
    """``url`` fit to print: a password in it (a pantry token, say) reads ``***``."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:  # not a URL urllib can take apart: mask what looks like userinfo
        return _USERINFO_PASSWORD.sub(r"\1:***@", url)
    if password is None:
        return url
    user, _, host = parts.netloc.rpartition("@")
    name = user.partition(":")[0]
    return urlunsplit(parts._replace(netloc=f"{name}:***@{host}"))


def _split(url: str) -> SplitResult | None:
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return None
    if parts.scheme.lower() not in _DEFAULT_PORTS:
        return None
    return parts


def _host_class(host: str) -> str:
    if host == "localhost" or host.endswith(".localhost"):
        return _LOOPBACK
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    if address.is_loopback or address.is_unspecified:
        return _LOOPBACK
    return address.compressed
