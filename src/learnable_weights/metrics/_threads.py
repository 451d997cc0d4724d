"""Independent tasks of one metric call spread over a few threads, the calling one included.

numpy releases the GIL inside its array loops, sorts and gathers, so array work on separate
data runs in parallel. Worker threads come from one pool kept for the process: a pool made per
call would cost more than a millisecond-long metric, and its threads would lose their scratch
buffers (:mod:`learnable_weights.metrics._scratch`). After a fork the child makes its own pool,
since the parent's threads do not exist there.
"""

from __future__ import annotations

import itertools
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

__all__ = ["resolve_workers", "run_in_threads"]

_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None
_pool_size = 0
_pool_pid = 0


def resolve_workers(n_jobs: int | None) -> int:
    """Threads to use for ``n_jobs`` (``None``: one per CPU core); rejects a bad value."""
    if n_jobs is None:
        return os.cpu_count() or 1
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, int) or n_jobs < 1:
        raise ValueError(f"n_jobs must be a positive number of threads or None, got {n_jobs!r}")
    return n_jobs


def _workers_pool(size: int) -> ThreadPoolExecutor:
    global _pool, _pool_size, _pool_pid
    with _lock:
        if _pool is None or _pool_pid != os.getpid() or _pool_size < size:
            if _pool is not None and _pool_pid == os.getpid():
                _pool.shutdown(wait=False)
            _pool = ThreadPoolExecutor(max_workers=size, thread_name_prefix="learnable-weights")
            _pool_size, _pool_pid = size, os.getpid()
        return _pool


def run_in_threads(tasks: Sequence[Callable[[], None]], workers: int) -> None:
    """Runs every task once on up to ``workers`` threads, the calling one included.

    Each thread takes the next task not yet started, so put the longest first. The first error
    raised by a task is raised here once every thread has stopped.
    """
    workers = min(workers, len(tasks))
    if workers <= 1:
        for task in tasks:
            task()
        return
    next_task = itertools.count().__next__  # atomic under the GIL

    def drain() -> None:
        while (index := next_task()) < len(tasks):
            tasks[index]()

    pool = _workers_pool(workers - 1)
    helpers = [pool.submit(drain) for _ in range(workers - 1)]
    try:
        drain()
    finally:
        for helper in helpers:
            helper.result()
