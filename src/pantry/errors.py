"""The PantryError tree.  Each class knows the HTTP status a client should see.

Lower layers translate library exceptions into these (chained with ``from``);
only ``web/middleware.py`` turns them into responses.
"""

from __future__ import annotations


class PantryError(Exception):
    """Base of every error pantry raises on purpose."""

    status = 500


class ConfigError(PantryError):
    """The configuration cannot be used; the message lists every problem."""


class NotFound(PantryError):
    """Nothing exists at this path (here or upstream)."""

    status = 404


class BadRequest(PantryError):
    """The request is malformed or unsafe (traversal, bad name, absolute form)."""

    status = 400


class MethodNotAllowed(PantryError):
    """This path does not answer this HTTP method."""

    status = 405


class Unauthorized(PantryError):
    """Tokens are configured and the request carries none that matches."""

    status = 401


class Forbidden(PantryError):
    """The client address is not allowed to use this server."""

    status = 403


class UpstreamError(PantryError):
    """The upstream failed (connection, 5xx, bad body) and nothing cached could stand in."""

    status = 502


class UpstreamTimeout(UpstreamError):
    """The upstream did not answer in time."""

    status = 504


class UpstreamDown(UpstreamError):
    """The circuit breaker holds this upstream as down; no request was sent."""

    status = 503


class VerificationError(UpstreamError):
    """An artifact's bytes do not match the hash its metadata published."""


class OfflineMiss(NotFound):
    """pantry runs ``--offline`` and has no copy of this resource."""


class StorageError(PantryError):
    """The blob store or the index failed (disk full, permissions, corruption)."""

    status = 507
