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
