"""The worker pool of a build: forked processes render chunks, the parent writes them.

Forked workers share the decoded inputs with the parent (copy-on-write), which is what
makes processes pay off: pickling the sources into every job made `datasets`' own
`num_proc` path slower than one process. The output does not depend on the number of
workers, so the default is every usable core, capped by the work.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from threadpoolctl import threadpool_limits

CHUNK_SIZE = 1000  # rows rendered per batch; output does not depend on it

# What forked workers run (set just before the fork, read in the children).
_WORK: Callable[[Any], Any] | None = None


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity where the OS has one)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def workers_for(num_proc: int | None, tasks: int) -> int:
    """`num_proc` (None: every usable core), never more than there are tasks."""
    wanted = usable_cores() if num_proc is None else num_proc
    return max(1, min(wanted, tasks))


def chunk_ranges(n: int, size: int = CHUNK_SIZE) -> list[tuple[int, int]]:
    return [(s, min(s + size, n)) for s in range(0, n, size)] or [(0, 0)]


def one_blas_thread():
    """Single-threaded BLAS for the resize matmuls.

    They are many small products; OpenBLAS threads cost ~30x their work here
    (measured: 7.9 vs 0.23 ms per photo on a busy 2-core machine), and builds
    parallelise by processes (`num_proc`) instead.
    """
    return threadpool_limits(limits=1, user_api="blas")


class ForkPool:
    """`work` over tasks in order, in forked workers; in-process where fork is missing.

    Without fork, workers would have to re-create the inputs: not worth it, so the
    pool then runs the tasks in the parent.
    """

    def __init__(self, work: Callable[[Any], Any], workers: int) -> None:
        global _WORK
        self._work = work
        self._pool = None
        if workers >= 2 and "fork" in multiprocessing.get_all_start_methods():
            _WORK = work
            self._pool = multiprocessing.get_context("fork").Pool(workers, _init_worker)

    def imap(self, tasks: Iterable[Any]) -> Iterator[Any]:
        if self._pool is None:
            return map(self._work, tasks)
        return self._pool.imap(_run, tasks)

    def close(self) -> None:
        global _WORK
        if self._pool is not None:
            self._pool.terminate()
            self._pool.join()
            self._pool = None
        _WORK = None


def _init_worker() -> None:
    # Ctrl-C and SIGTERM are the parent's to handle: it terminates the pool.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    threadpool_limits(limits=1, user_api="blas")


def _run(task: Any) -> Any:
    return _WORK(task)
