"""run_in_threads: every task once, on several threads, errors raised; the pool survives a fork."""

from __future__ import annotations

import functools
import multiprocessing
import threading

import pytest

from learnable_weights.metrics._threads import resolve_workers, run_in_threads


@pytest.mark.parametrize("workers", [1, 2, 5, 20])
def test_every_task_runs_once(workers: int) -> None:
    done: list[int] = []
    lock = threading.Lock()

    def task(index: int) -> None:
        with lock:
            done.append(index)

    run_in_threads([functools.partial(task, index) for index in range(13)], workers)
    assert sorted(done) == list(range(13))


def test_tasks_run_on_more_than_one_thread() -> None:
    # Two tasks that each wait for the other can only finish on two threads.
    both = threading.Barrier(2, timeout=10)
    names: set[str] = set()

    def task() -> None:
        names.add(threading.current_thread().name)
        both.wait()

    run_in_threads([task, task], 2)
    assert len(names) == 2


def test_a_task_error_is_raised_after_every_thread_stopped() -> None:
    finished: list[int] = []

    def fail() -> None:
        raise KeyError("broken task")

    def slow(index: int) -> None:
        threading.Event().wait(0.05)
        finished.append(index)

    tasks = [fail, *(lambda index=index: slow(index) for index in range(4))]
    with pytest.raises(KeyError, match="broken task"):
        run_in_threads(tasks, 2)
    assert len(finished) >= 1  # the other thread went on; nothing is left running
    run_in_threads([lambda: None] * 3, 2)  # the pool still works


def _child(queue: multiprocessing.Queue[int]) -> None:
    total: list[int] = []
    run_in_threads([lambda: total.append(1)] * 4, 2)
    queue.put(len(total))


@pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="no fork")
def test_a_forked_child_makes_its_own_pool() -> None:
    run_in_threads([lambda: None] * 2, 2)  # the parent's pool exists before the fork
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_child, args=(queue,))
    child.start()
    child.join(timeout=30)
    assert child.exitcode == 0 and queue.get(timeout=5) == 4


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "2"])
def test_bad_worker_counts_are_rejected(bad: object) -> None:
    with pytest.raises(ValueError, match="n_jobs must be a positive number of threads or None"):
        resolve_workers(bad)  # type: ignore[arg-type]


def test_none_means_one_thread_per_core() -> None:
    assert resolve_workers(None) >= 1 and resolve_workers(3) == 3
