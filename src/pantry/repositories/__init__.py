"""Repositories: a name, a format and a recipe (``proxy`` now; hosted and group later).

A repository turns a request path into a ``Reply`` using the cache engine.
Replies are plain values; the web layer turns them into HTTP responses, so
nothing here imports aiohttp.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from pantry.cache.tee import Download
from pantry.model import Entry, XCache

BASE_PLACEHOLDER = "__PANTRY_BASE__"
"""Stored in metadata that needs absolute URLs; replaced per request by the
public base URL of the repository (``public_url`` or the request's Host)."""


@dataclass(frozen=True, slots=True)
class Reply:
    """What to answer: exactly one of ``path`` (a cached file), ``download``
    (a file arriving from upstream), ``body`` (generated) or ``location``."""

    outcome: XCache | None
    status: int = 200
    content_type: str = "application/octet-stream"
    path: Path | None = None
    entry: Entry | None = None
    download: Download | None = None
    body: bytes | None = None
    location: str | None = None
    substitute_base: bool = False  # replace BASE_PLACEHOLDER in the file before sending
    is_immutable: bool = False
    headers: dict[str, str] = field(default_factory=dict)


class Repository(Protocol):
    """One ``/NAME/`` tree."""

    name: str
    type: str
    upstream: str

    async def handle(self, tail: str, accept: str | None) -> Reply:
        """Answer a GET/HEAD for ``/NAME/<tail>``."""
