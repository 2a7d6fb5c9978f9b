"""The collector pause around big transforms: nests across threads, restores what it found."""

from __future__ import annotations

import gc
import threading

from pantry.cache.gcpause import gc_paused


def test_paused_inside_and_enabled_after() -> None:
    assert gc.isenabled()
    with gc_paused():
        assert not gc.isenabled()
    assert gc.isenabled()


def test_overlapping_pauses_resume_only_when_the_last_ends() -> None:
    inner_started, outer_may_end = threading.Event(), threading.Event()
    seen: list[bool] = []

    def other() -> None:
        with gc_paused():
            inner_started.set()
            outer_may_end.wait(5)
        seen.append(gc.isenabled())

    with gc_paused():
        thread = threading.Thread(target=other)
        thread.start()
        inner_started.wait(5)
    still_paused = not gc.isenabled()  # the other thread's transform still runs
    outer_may_end.set()
    thread.join(5)
    assert still_paused
    assert seen == [True]
    assert gc.isenabled()


def test_leaves_a_collector_someone_else_turned_off_alone() -> None:
    gc.disable()
    try:
        with gc_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_resumes_when_the_body_raises() -> None:
    try:
        with gc_paused():
            raise ValueError("boom")
    except ValueError:
        pass
    assert gc.isenabled()
