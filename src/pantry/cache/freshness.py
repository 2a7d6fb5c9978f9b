"""Pure freshness rules: is a cached entry good to serve as it is?

Artifacts are immutable, so a cached artifact is always fresh.  Metadata is
fresh for ``ttl_s`` after upstream last confirmed it; after that it must be
revalidated, but stays servable (stale) for as long as upstream fails.
"""

from __future__ import annotations

import enum

from pantry.model import ArtifactKind, Entry


class Freshness(enum.Enum):
    """What a lookup found."""

    FRESH = "fresh"  # serve as is
    STALE = "stale"  # revalidate; serve as is if upstream fails
    MISSING = "missing"  # fetch; nothing to fall back on


def judge(entry: Entry | None, ttl_s: float, now: float) -> Freshness:
    """Classify a cached entry at time ``now``."""
    if entry is None:
        return Freshness.MISSING
    if entry.kind is ArtifactKind.ARTIFACT:
        return Freshness.FRESH
    age = now - entry.fetched_at
    # A negative age means the clock went back: revalidate rather than trust it.
    if 0 <= age < ttl_s:
        return Freshness.FRESH
    return Freshness.STALE
