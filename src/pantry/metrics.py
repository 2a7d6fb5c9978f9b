"""Every Prometheus collector pantry exports, named in one place.

Collectors live on a registry owned by the app (no global state), exposed
at ``/-/metrics``.  With several workers (``pantry.workers``) each writes its
values to files in a shared directory and a scrape sums them all.
"""

from __future__ import annotations

from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from pantry.model import XCache

ANSWERED_BATCH = 1024


class Metrics:
    """The collectors of one pantry process."""

    def __init__(self, shared_dir: Path | None = None) -> None:
        self.shared_dir = shared_dir
        self.registry = CollectorRegistry()
        self._answered: dict[tuple[str, XCache | None, int], tuple[Counter, Histogram]] = {}
        self._pending: list[tuple[str, XCache | None, int, float]] = []
        self.requests = Counter(
            "pantry_requests",
            "Requests answered, by repository, cache outcome and status class.",
            ["repository", "cache", "status"],
            registry=self.registry,
        )
        self.upstream_fetches = Counter(
            "pantry_upstream_fetches",
            "Requests sent upstream, by repository, kind and result.",
            ["repository", "kind", "result"],
            registry=self.registry,
        )
        self.upstream_bytes = Counter(
            "pantry_upstream_bytes",
            "Bytes received from upstreams.",
            ["repository"],
            registry=self.registry,
        )
        self.stale_served = Counter(
            "pantry_stale_served",
            "Stale metadata served because upstream failed.",
            ["repository"],
            registry=self.registry,
        )
        self.verification_failures = Counter(
            "pantry_verification_failures",
            "Artifacts that did not match their published hash (never cached).",
            ["repository"],
            registry=self.registry,
        )
        self.upstreams_down = Gauge(
            "pantry_upstreams_down",
            "Upstream origins the circuit breaker currently holds as down.",
            multiprocess_mode="livemax",  # several workers: the largest value
            registry=self.registry,
        )
        self.cached_bytes = Gauge(
            "pantry_cached_bytes",
            "Bytes the cache occupies on disk (measured by garbage collection).",
            multiprocess_mode="livemax",  # several workers: the largest value
            registry=self.registry,
        )
        self.caching_paused = Gauge(
            "pantry_caching_paused",
            "1 while new files pass through unstored because the disk is (nearly) full.",
            multiprocess_mode="livemax",  # several workers: the largest value
            registry=self.registry,
        )
        self.request_seconds = Histogram(
            "pantry_request_seconds",
            "Time to answer a request (until the body starts for streamed files).",
            ["cache"],
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1, 5, 30),
            registry=self.registry,
        )

    def answered(self, repository: str, cache: XCache | None, status: int, seconds: float) -> None:
        """Count one answered request.

        Noted in a list and folded into the collectors in batches (and before
        every scrape): a counter and a histogram take three locks per request,
        a measurable share of a cache hit.
        """
        self._pending.append((repository, cache, status, seconds))
        if len(self._pending) >= ANSWERED_BATCH:
            self.fold()

    def fold(self) -> None:
        """Move the noted requests into the collectors."""
        pending, self._pending = self._pending, []
        for repository, cache, status, seconds in pending:
            key = (repository, cache, status // 100)
            children = self._answered.get(key)
            if children is None:  # label children are looked up once, then reused
                label = cache.value if cache else "NONE"
                children = (
                    self.requests.labels(repository, label, f"{status // 100}xx"),
                    self.request_seconds.labels(label),
                )
                self._answered[key] = children
            children[0].inc()
            children[1].observe(seconds)

    def render(self) -> bytes:
        """The text exposition format."""
        self.fold()
        if self.shared_dir is None:
            return generate_latest(self.registry)
        every_worker = CollectorRegistry()
        MultiProcessCollector(every_worker, str(self.shared_dir))  # type: ignore[no-untyped-call]
        return generate_latest(every_worker)
