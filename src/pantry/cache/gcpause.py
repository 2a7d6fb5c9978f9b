"""Pause the cyclic garbage collector while a big metadata document is rewritten.

Parsing a project page or packument of several MB creates hundreds of
thousands of dicts and strings in one go.  Each 700 new containers trigger
a collection that walks the young ones again, which made up about a fifth
of the time of rewriting a 7 MB page.  Those objects hold no reference
cycles and are freed by reference counting when the transform returns, so
the collector has nothing to find there: it is paused while any transform
runs (in any thread) and resumed when the last one ends.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager


class _Pause:
    """Counts the transforms running; the collector is off while there is one."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running = 0
        self._paused_by_us = False

    def enter(self) -> None:
        with self._lock:
            self._running += 1
            if self._running == 1 and gc.isenabled():
                gc.disable()
                self._paused_by_us = True

    def leave(self) -> None:
        with self._lock:
            self._running -= 1
            if self._running == 0 and self._paused_by_us:
                self._paused_by_us = False
                gc.enable()


_PAUSE = _Pause()


@contextmanager
def gc_paused() -> Iterator[None]:
    """Run the body with the cyclic collector off, unless someone else turned it off."""
    _PAUSE.enter()
    try:
        yield
    finally:
        _PAUSE.leave()
