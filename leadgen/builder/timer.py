"""Timing the build's steps, and telling an adapter when each starts and ends."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

StepHook = Callable[[str, float | None], None]


class Timer:
    """Times each build step. `on_step(name, None)` at a step's start and `on_step(name, seconds)`
    at its end replace the text lines, so an adapter (the build job) can log them structured.
    `say` is where free-text progress goes (print for the CLI, JSON lines for the job)."""

    def __init__(self, say: Callable[[str], None], on_step: StepHook | None = None) -> None:
        self.steps: dict[str, float] = {}
        self.say = say
        self._on_step = on_step

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        self._announce(name, None)
        t0 = time.perf_counter()
        yield
        self.steps[name] = round(time.perf_counter() - t0, 3)
        self._announce(name, self.steps[name])

    def _announce(self, name: str, seconds: float | None) -> None:
        if self._on_step is not None:
            self._on_step(name, seconds)
        elif seconds is None:
            self.say(f"[{name}] ...")
        else:
            self.say(f"[{name}] done in {seconds:.1f}s")
