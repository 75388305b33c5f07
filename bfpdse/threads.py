"""How many threads each pool gets, and that idle pools sleep: how numba and BLAS share the cores.

Threads x processes <= cores: ``plan_threads`` gives each of N worker processes cores // N
threads and ``limit_threads`` caps a process's pools at that (``bfpdse.run.local``,
``bfpdse.run.dask``, ``bfpdse.search.runner``).

A forward takes turns between two thread pools many times per batch: numba's (im2col, the
crossbar kernels; OpenMP's libgomp under numba's default threading layer) and the BLAS
library's (the float and exact matmuls). Both keep an idle thread spinning after a call, in case
more work comes: OpenBLAS for 2^28 cycles (about 0.1 s) by default, libgomp for its spin count.
With as many threads per pool as cores, the pool whose turn it is then shares every core with
the other pool's spinning threads. On 2 cores this made resnet20 on Fashion-MNIST 1.3-2.9x
slower on every backend (``python benchmarks/bench_resnet20.py``, README "Speed").

``quiet_idle_threads`` sets the variables that make idle threads sleep at once, unless the user
set them: ``bfpdse/__init__.py`` calls it, so it holds for the CLI and its worker processes. A
library reads its variable when it loads (OpenBLAS with numpy, libgomp at numba's first parallel
call): a script that imported numpy before bfpdse keeps OpenBLAS's spinning, and can set
``OPENBLAS_THREAD_TIMEOUT=4`` in its environment instead. So can the workers of a Dask
cluster started outside bfpdse (``dask worker`` loads numpy before any task runs); a
``LocalCluster`` started by a bfpdse process inherits the variables.
"""

from __future__ import annotations

import os
import sys

#: variable -> value that makes a library's idle threads sleep at once
IDLE_SLEEP = {
    "OPENBLAS_THREAD_TIMEOUT": "4",  # 2^4 cycles of spinning, OpenBLAS's minimum
    "OMP_WAIT_POLICY": "PASSIVE",  # libgomp (numba's threads) and any other OpenMP runtime
    "KMP_BLOCKTIME": "0",  # Intel's OpenMP (MKL builds of numpy)
}


def quiet_idle_threads() -> dict[str, str]:
    """Set every IDLE_SLEEP variable the environment does not set; returns those it set."""
    added = {k: v for k, v in IDLE_SLEEP.items() if k not in os.environ}
    os.environ.update(added)
    return added


#: thread-pool environment variables of numba and the BLAS libraries numpy may use
THREAD_VARS = ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def cpu_cores() -> int:
    """Cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def plan_threads(jobs: int, cores: int | None = None) -> int:
    """numba threads per process so that threads x processes <= cores (at least 1)."""
    return max(1, (cores or cpu_cores()) // max(1, jobs))


#: test images per point from which a sweep given no --jobs runs one worker process per core
AUTO_PROCESS_SAMPLES = 200


def default_jobs(points: int, samples: int, cores: int | None = None) -> int:
    """Worker processes of a sweep given no ``--jobs``: one per core, one thread each, when
    there are several points of real size; else 1 (the points run in the calling process).

    Processes beat threads here because part of a forward is serial numpy work between the
    kernels, which a second thread does not speed up and a second process overlaps: the
    default sweep (25 points x 1,000 resnet20 images, 2 cores) took 345.9 s as 2 processes x
    1 thread and 500.6 s as 1 process x 2 threads (README "Speed"). A worker costs seconds to
    start (importing numba, loading the cached kernels), which small sweeps would not repay.
    """
    if points < 2 or samples < AUTO_PROCESS_SAMPLES:
        return 1
    return max(1, min(points, cores or cpu_cores()))


def limit_threads(threads: int) -> None:
    """Cap numba's threads in this process (and BLAS's, if not imported yet)."""
    for var in THREAD_VARS:
        os.environ[var] = str(threads)
    numba = sys.modules.get("numba")
    if numba is not None:  # already imported: the env var came too late, set it directly
        numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
