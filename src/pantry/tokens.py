"""Client tokens: who may use a pantry that serves a network.

Tokens are random strings handed to clients; the config keeps only their
sha256 (``"sha256:<hex>"``, made by ``pantry token``), so a leaked config
file grants nothing.  A client presents a token as the password of HTTP
Basic (pip, uv, poetry: ``http://user:TOKEN@host/...``; any user name) or
as a Bearer token (npm ``_authToken``, yarn ``npmAuthToken``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from collections.abc import Sequence

PREFIX = "sha256:"


def new_token() -> tuple[str, str]:
    """A fresh token and the config value that admits it."""
    token = secrets.token_urlsafe(32)
    return token, hash_token(token)


def hash_token(token: str) -> str:
    """The config form of a token."""
    return PREFIX + hashlib.sha256(token.encode()).hexdigest()


def is_valid_hash(value: str) -> bool:
    """Whether a config value has the ``sha256:<64 hex>`` form."""
    digest = value.removeprefix(PREFIX)
    return (
        value.startswith(PREFIX)
        and len(digest) == 64
        and all(c in "0123456789abcdef" for c in digest)
    )


def presented_token(authorization: str | None) -> str | None:
    """The token in an Authorization header (Bearer, or Basic's password), if any."""
    if not authorization:
        return None
    scheme, _, value = authorization.strip().partition(" ")
    if scheme.lower() == "bearer":
        return value.strip() or None
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return None
        _user, sep, password = decoded.partition(":")
        return password if sep and password else None
    return None


def is_authorized(authorization: str | None, hashes: Sequence[str]) -> bool:
    """Whether the header carries a token whose hash is configured."""
    token = presented_token(authorization)
    if token is None:
        return False
    presented = hash_token(token)
    # Compare against every hash, in constant time each, without stopping early.
    matches = [hmac.compare_digest(presented, known) for known in hashes]
    return any(matches)
