"""Refreshes off the request path (serve/refresh.py) and artifact pins (stores/artifacts.py)."""

from __future__ import annotations

import threading

import pytest

from leadgen.errors import ConfigError
from leadgen.serve.refresh import BackgroundRefresh
from leadgen.stores.artifacts import Pointer, parse_pin, pin_of


def test_work_runs_in_the_background_and_releases_the_callers_lock() -> None:
    lock, started, go = threading.Lock(), threading.Event(), threading.Event()
    refresh = BackgroundRefresh()
    assert lock.acquire(blocking=False)

    def work() -> None:
        started.set()
        go.wait(10)

    refresh.start(work, release=lock)  # returns at once ...
    assert started.wait(10) and not refresh.wait(0)  # still running
    assert not lock.acquire(blocking=False)  # ... holding the lock until the work is over
    go.set()
    assert refresh.wait(10)
    assert lock.acquire(blocking=False)


def test_a_failing_refresh_still_releases_the_lock() -> None:
    lock = threading.Lock()
    lock.acquire()
    refresh = BackgroundRefresh()

    def boom() -> None:
        raise RuntimeError("network gone")

    refresh.start(boom, release=lock)
    assert refresh.wait(10)
    assert lock.acquire(blocking=False)


def test_a_pin_names_a_version_and_its_manifest() -> None:
    pointer = Pointer("20260101T000000Z-abcdef", "a" * 64)
    assert parse_pin(pin_of(pointer)) == pointer
    bad_pins = ("", "no-at-sign", "v@short", "@" + "a" * 64, "../../etc@" + "a" * 64,
                "20260101T000000Z-abcdef@" + "z" * 64)  # fmt: skip
    for bad in bad_pins:  # the version becomes a store key and a cache folder
        with pytest.raises(ConfigError, match="LEADGEN_ARTIFACT_PIN"):
            parse_pin(bad)
