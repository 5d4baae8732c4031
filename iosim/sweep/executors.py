"""Where sweep runs execute: local processes, or a Dask cluster through its Executor.

Both are ``concurrent.futures`` executors, so the sweep loop is the same for each. Dask is
optional (``pip install 'iosim[dask]'``); asking for it without it installed is a one-line
``ConfigError``, like any other bad input.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator
from concurrent.futures import Executor, ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass

from iosim.config import ConfigError

LOCAL_CLUSTER = "local"
DASK_CONNECT_TIMEOUT_S = 10


@dataclass(frozen=True)
class Pool:
    """An executor, how many runs it executes at once, and a description for the user."""

    executor: Executor
    slots: int
    description: str
    same_disk: bool
    """Workers see this process's files: they can store their runs themselves."""


def available_cores() -> int:
    """Cores this process may run on (its affinity mask, not the machine's total)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def check_pool_options(workers: int | None, scheduler: str | None) -> None:
    """Reject bad ``workers``/``scheduler`` values, or Dask missing, before any work."""
    if workers is not None and workers < 1:
        raise ConfigError(f"--workers: expected 1 or more, got {workers}")
    if scheduler is None:
        return
    if workers is not None and scheduler != LOCAL_CLUSTER:
        raise ConfigError("--workers applies to local processes and --scheduler local; "
                          "a remote Dask cluster has the workers it was started with")
    if scheduler != LOCAL_CLUSTER and not scheduler.startswith(("tcp://", "tls://")):
        raise ConfigError(f"--scheduler: expected tcp://HOST:PORT or 'local', got "
                          f"{scheduler!r}")
    if importlib.util.find_spec("distributed") is None:
        raise ConfigError(f"--scheduler {scheduler} needs Dask: pip install 'iosim[dask]'")


@contextmanager
def open_pool(workers: int | None = None, scheduler: str | None = None) -> Iterator[Pool]:
    """Local processes (``workers``, default all cores) or a Dask cluster (``scheduler``:
    ``tcp://HOST:PORT`` or ``local`` for a LocalCluster of ``workers`` processes)."""
    check_pool_options(workers, scheduler)
    if scheduler is None:
        n = workers or available_cores()
        with ProcessPoolExecutor(max_workers=n) as executor:
            yield Pool(executor, n, f"{n} local process{'es' if n > 1 else ''}", True)
        return
    from distributed import Client, LocalCluster

    if scheduler == LOCAL_CLUSTER:
        n = workers or available_cores()
        with LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                          dashboard_address=None) as cluster, Client(cluster) as client:
            yield Pool(client.get_executor(pure=False), n,
                       f"a Dask LocalCluster of {n} worker{'s' if n > 1 else ''}", True)
        return
    try:
        client = Client(scheduler, timeout=DASK_CONNECT_TIMEOUT_S)
    except OSError as exc:
        raise ConfigError(f"--scheduler {scheduler}: cannot connect: {exc}") from None
    with client:
        slots = sum(client.nthreads().values()) or 1
        yield Pool(client.get_executor(pure=False), slots,
                   f"the Dask cluster at {scheduler} ({slots} threads)", False)
