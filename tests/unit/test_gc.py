"""Pure eviction planning: least recently used first, shared blobs counted once."""

from __future__ import annotations

from pantry.model import ArtifactKind, BlobId, CacheKey
from pantry.storage.gc import cached_bytes, plan_eviction
from pantry.storage.index import Usage


def _usage(key: str, blob: str, size: int, used_at: float) -> Usage:
    return Usage(CacheKey(key), ArtifactKind.ARTIFACT, BlobId(blob), size, used_at)


def test_plan_eviction__nothing_when_it_fits() -> None:
    usage = [_usage("a", "1", 10, 1), _usage("b", "2", 10, 2)]
    assert plan_eviction(usage, 20) == []


def test_plan_eviction__oldest_first_until_it_fits() -> None:
    usage = [_usage("new", "1", 10, 30), _usage("old", "2", 10, 10), _usage("mid", "3", 10, 20)]
    assert [u.key for u in plan_eviction(usage, 15)] == ["old", "mid"]


def test_plan_eviction__shared_blob_freed_with_its_last_user() -> None:
    usage = [_usage("a", "shared", 10, 1), _usage("b", "shared", 10, 2), _usage("c", "x", 10, 3)]
    assert cached_bytes(usage) == 20
    assert [u.key for u in plan_eviction(usage, 10)] == ["a", "b"]


def test_plan_eviction__zero_budget_evicts_everything() -> None:
    usage = [_usage("a", "1", 10, 1), _usage("b", "2", 0, 2)]
    assert [u.key for u in plan_eviction(usage, 0)] == ["a"]
