"""Keep the server's memory near what it uses, not what it once used (glibc only).

Rewriting a big packument takes a few times its size for a moment, in a
worker thread.  With glibc's defaults that memory stays with the process
after it is freed: each thread gets its own malloc arena, and freed large
blocks are kept in the heap for reuse.  Fetching the 14 largest npm
packuments at once left pantry at 300 MB; with at most two arenas and large
blocks mapped (and unmapped) on their own it stayed at 121 MB.  These are the
settings many Python services apply through ``MALLOC_ARENA_MAX``; a user who
sets any ``MALLOC_*`` variable keeps full control.

What is freed in the middle of the heap still stays with the process until
``malloc_trim`` hands its pages back; ``trim`` is called after busy spells
(a full npm and uv install through a fresh pantry: 136 MB, trimmed 119 MB).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import sys
from collections.abc import Callable

log = logging.getLogger(__name__)

_trim: Callable[[int], int] | None = None  # glibc's malloc_trim once tune_malloc applied

# mallopt parameters, from glibc's malloc.h
_M_MMAP_THRESHOLD = -3
_M_ARENA_MAX = -8

ARENA_MAX = 2
MMAP_THRESHOLD = 128 * 1024


def tune_malloc() -> bool:
    """Apply the settings above; False where they do not apply (not glibc, or user-set)."""
    if not sys.platform.startswith("linux") or any(k.startswith("MALLOC_") for k in os.environ):
        return False
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl and others have no mallopt
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    done = bool(
        mallopt(_M_ARENA_MAX, ARENA_MAX) == 1 and mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1
    )
    if not done:
        log.debug("mallopt refused the settings; keeping the C library's defaults")
        return False
    global _trim  # noqa: PLW0603 - set once, at start, before any thread
    malloc_trim = getattr(libc, "malloc_trim", None)
    if malloc_trim is not None:
        malloc_trim.argtypes = [ctypes.c_size_t]
        malloc_trim.restype = ctypes.c_int
        _trim = malloc_trim
    return True


def trim() -> bool:
    """Give freed heap pages back to the system; False where that does not apply."""
    return _trim is not None and _trim(0) == 1
