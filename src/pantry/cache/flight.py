"""Single flight: concurrent callers for the same key share one piece of work.

The work runs in its own task, so a caller that goes away (a client hanging
up) does not cancel it for the others, and it keeps its own deadline.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class SingleFlight(Generic[T]):
    """Per-key deduplication of in-flight coroutines."""

    def __init__(self) -> None:
        self._tasks: dict[str, asyncio.Task[T]] = {}

    def __len__(self) -> int:
        return len(self._tasks)

    def run(self, key: str, work: Callable[[], Coroutine[Any, Any, T]]) -> asyncio.Task[T]:
        """The task doing ``work`` for ``key``, started now unless one is running.

        Callers should ``await asyncio.shield(task)`` so their cancellation
        does not reach the shared task.
        """
        task = self._tasks.get(key)
        if task is None:
            task = asyncio.get_running_loop().create_task(work())
            self._tasks[key] = task
            task.add_done_callback(lambda _t: self._tasks.pop(key, None))
        return task

    def running(self, key: str) -> asyncio.Task[T] | None:
        """The task in flight for ``key``, if any."""
        return self._tasks.get(key)
