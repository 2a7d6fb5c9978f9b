"""Circuit breaker: after failures an upstream is held as down for a while.

While an upstream is down, requests for it fail at once and the engine serves
what it has cached, so an outage costs one timeout per build, not one per
request.  After ``open_s`` one trial request is let through (half-open); its
success closes the breaker, its failure re-opens it.  Pure state, clock passed in.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class _State:
    failures: int = 0
    open_until: float = 0.0
    trial_running: bool = False


class Breaker:
    """Per-upstream-origin failure accounting."""

    def __init__(self, *, soft_failures: int = 3, open_s: float = 30.0) -> None:
        # Connection errors and timeouts are "hard": one is enough to stop
        # waiting on that host.  A 5xx answer is "soft": the host is alive, so
        # it takes ``soft_failures`` in a row.
        self.soft_failures = soft_failures
        self.open_s = open_s
        self._states: dict[str, _State] = {}

    def allow(self, origin: str, now: float) -> bool:
        """Whether a request to ``origin`` may be sent now."""
        state = self._states.get(origin)
        if state is None or state.open_until == 0.0:
            return True
        if now < state.open_until or state.trial_running:
            return False
        state.trial_running = True  # half-open: exactly one trial request
        return True

    def is_open(self, origin: str, now: float) -> bool:
        """Whether the origin is currently held as down (for health and metrics)."""
        state = self._states.get(origin)
        return state is not None and now < state.open_until

    def succeeded(self, origin: str) -> None:
        """A request to ``origin`` got an answer that was not a server error."""
        self._states.pop(origin, None)

    def failed(self, origin: str, now: float, *, hard: bool) -> None:
        """A request to ``origin`` failed; open the breaker past the threshold."""
        state = self._states.setdefault(origin, _State())
        state.trial_running = False
        state.failures += 1
        if hard or state.failures >= self.soft_failures or state.open_until != 0.0:
            state.open_until = now + self.open_s

    def down_origins(self, now: float) -> list[str]:
        """Origins held as down at ``now``."""
        return [origin for origin, state in self._states.items() if now < state.open_until]
