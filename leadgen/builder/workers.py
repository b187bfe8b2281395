"""Independent fits side by side: the folds of a cross-validation, each on one thread.

Every model the build fits is small (at most the head's sample of customers), and each runs
single-threaded (LightGBM with one thread, BLAS limited to one): the parallelism is across
folds, one worker per core. A library's own thread team waits at every step for its slowest
thread, which on a shared machine is the one whose core another process took, and ran several
times slower than one thread (bench/BUILD_SPEED.md); a fold left waiting for a core holds up
nobody else. Results come back in the order of the items, and no fit depends on another, so
they are the same whatever the number of workers.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def cores() -> int:
    return os.cpu_count() or 1


def side_by_side(fn: Callable[[T], R], items: Sequence[T]) -> list[R]:
    """`fn` of every item, on up to one worker per core, each single-threaded (BLAS for the
    whole pool, OpenMP per worker: FAISS and LightGBM read the worker's own setting); in the
    items' order."""
    from threadpoolctl import threadpool_limits

    workers = min(len(items), cores())
    if workers <= 1:
        return [fn(item) for item in items]

    def one(item: T) -> R:
        with threadpool_limits(limits=1, user_api="openmp"):
            return fn(item)

    with (
        threadpool_limits(limits=1, user_api="blas"),
        ThreadPoolExecutor(workers, thread_name_prefix="leadgen-fit") as pool,
    ):
        return list(pool.map(one, items))
