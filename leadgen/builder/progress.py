"""Progress of the build's long fitting steps: which model, which fold, one line each on stderr,
as the embed step shows its bar there. Off with `--quiet`, and in the build job, whose log has a
line per step (leadgen.builder.timer)."""

from __future__ import annotations

import sys
from collections.abc import Callable

Note = Callable[[str], None]


def silent(_message: str) -> None:
    """No progress (tests, the build job, `--quiet`)."""


def to_stderr(enabled: bool) -> Note:
    """A note per fitted model and fold, on stderr, when `enabled`."""
    if not enabled:
        return silent

    def note(message: str) -> None:
        # one write per line: the folds' workers note side by side
        sys.stderr.write(f"  {message}\n")
        sys.stderr.flush()

    return note


def prefixed(note: Note, step: str) -> Note:
    """`note` with the step's name in front ("holdout: gradient boosting ..., fold 2 of 5")."""
    if note is silent:
        return silent
    return lambda message: note(f"{step}: {message}")
