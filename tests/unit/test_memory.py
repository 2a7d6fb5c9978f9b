"""The malloc settings: applied where glibc is, left alone when the user set their own."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

CHECK = "from pantry.memory import tune_malloc; print(tune_malloc())"


def _run(env: dict[str, str]) -> str:
    out = subprocess.run(
        [sys.executable, "-c", CHECK], capture_output=True, text=True, env=env, check=True
    )
    return out.stdout.strip()


@pytest.mark.skipif(
    not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc",
    reason="mallopt settings apply to glibc only",
)
def test_applied_on_glibc() -> None:
    assert _run({"PATH": "/usr/bin:/bin"}) == "True"


def test_left_alone_when_the_user_set_malloc_variables() -> None:
    assert _run({"PATH": "/usr/bin:/bin", "MALLOC_ARENA_MAX": "4"}) == "False"


TRIM = """
from pantry.memory import tune_malloc, trim
def rss_mb():
    return int(open("/proc/self/statm").read().split()[1]) * 4096 // 2**20
size = 1000  # above pymalloc's 512 bytes: these come from malloc
kept, freed = [], []
for i in range(100_000):
    freed.append(b"x" * size)
    if i % 50 == 0:
        kept.append(b"y" * size)  # pins the heap's top: freeing alone returns nothing
tune_malloc()
del freed
before = rss_mb()
print(trim(), before - rss_mb())
"""


@pytest.mark.skipif(
    not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc",
    reason="malloc_trim is glibc's",
)
def test_trim_hands_freed_heap_pages_back() -> None:
    out = subprocess.run(
        [sys.executable, "-c", TRIM],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin"},
        check=True,
    )
    trimmed, released_mb = out.stdout.split()
    assert trimmed == "True"
    assert int(released_mb) >= 50  # of the ~100 MB freed


def test_trim_is_a_no_op_when_malloc_was_left_alone() -> None:
    code = "from pantry.memory import tune_malloc, trim; tune_malloc(); print(trim())"
    env = {"PATH": "/usr/bin:/bin", "MALLOC_ARENA_MAX": "4"}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    assert out.stdout.strip() == "False"
