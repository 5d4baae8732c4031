"""Where sweep runs execute: local processes, or a Dask cluster through its Executor.

Both are ``concurrent.futures`` executors, so the sweep loop is the same for each. Dask is
optional (``pip install 'iosim[dask]'``); asking for it without it installed, or naming a
scheduler nobody answers at, is a one-line ``ConfigError``, like any other bad input. Dask
moves pickles: connect only to a cluster you trust, as it runs what it is sent.

Local workers die with the sweep: each asks the kernel for SIGTERM when its parent dies
(``PR_SET_PDEATHSIG`` on Linux) and watches its parent id elsewhere; SIGTERM ends a worker
at once, or right after the run file it is writing is whole (no temporary left), and
Ctrl-C is the parent's alone.
"""

from __future__ import annotations

import ctypes
import importlib.util
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Executor, ProcessPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from urllib.parse import urlsplit

from iosim.config import ConfigError

LOCAL_CLUSTER = "local"
DASK_CONNECT_TIMEOUT_S = 10
PROBE_TIMEOUT_S = 3  # a first plain TCP connect: a refused address fails in ms, not 10 s
PARENT_POLL_S = 0.5  # how often a worker without PR_SET_PDEATHSIG looks for its parent
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


_writing = False  # this worker is storing a run: a SIGTERM waits until the file is whole
_stop_when_written = False


def _die(signum: int) -> None:
    """End this process by ``signum`` itself: nothing runs in it any more (no handler, no
    atexit, no os._exit wrapper that could wait on a lock the interrupted code holds)."""
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


def _on_sigterm(signum: int, frame: object) -> None:
    global _stop_when_written
    if _writing:
        _stop_when_written = True
    else:
        _die(signum)


def worker_init(parent_pid: int) -> None:
    """Set up a local worker process: die with the parent, leave Ctrl-C to it."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the terminal's Ctrl-C is the parent's
    signal.signal(signal.SIGTERM, _on_sigterm)  # not the handler the CLI's fork left here
    asked = False
    if sys.platform.startswith("linux"):
        with suppress(OSError, AttributeError):
            asked = ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG,
                                                            signal.SIGTERM) == 0
    if os.getppid() != parent_pid:  # the parent died before the kernel was asked
        os._exit(1)
    if not asked:  # no other thread otherwise: a SIGTERM must reach the main thread
        threading.Thread(target=_watch_parent, args=(parent_pid,), daemon=True).start()


def _watch_parent(parent_pid: int) -> None:
    """Poll for the parent; once it is gone, SIGTERM the main thread (which may be blocked
    reading its next batch: only a signal aimed at it interrupts the read)."""
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
    while os.getppid() == parent_pid:
        time.sleep(PARENT_POLL_S)
    signal.pthread_kill(threading.main_thread().ident, signal.SIGTERM)


@contextmanager
def writing() -> Iterator[None]:
    """Around storing a run in a worker: a SIGTERM meanwhile ends the worker once the file
    is whole, so a killed sweep leaves no temporary behind."""
    global _writing
    _writing = True
    try:
        yield
    finally:
        _writing = False
        if _stop_when_written:
            _die(signal.SIGTERM)


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
        executor = ProcessPoolExecutor(max_workers=n, initializer=worker_init,
                                       initargs=(os.getpid(),))
        try:
            yield Pool(executor, n, f"{n} local process{'es' if n > 1 else ''}", True)
        except BaseException:  # Ctrl-C, SIGTERM: stop the workers now, not after a batch
            _stop_workers(executor)
            raise
        executor.shutdown(wait=True)
        return
    from distributed import Client, LocalCluster

    if scheduler == LOCAL_CLUSTER:
        n = workers or available_cores()
        with LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                          dashboard_address=None) as cluster, Client(cluster) as client:
            yield Pool(client.get_executor(pure=False), n,
                       f"a Dask LocalCluster of {n} worker{'s' if n > 1 else ''}", True)
        return
    _probe(scheduler)
    try:
        client = Client(scheduler, timeout=DASK_CONNECT_TIMEOUT_S)
    except OSError as exc:
        raise ConfigError(f"--scheduler {scheduler}: cannot connect: {exc}") from None
    with client:
        slots = sum(client.nthreads().values()) or 1
        yield Pool(client.get_executor(pure=False), slots,
                   f"the Dask cluster at {scheduler} ({slots} threads)", False)


def _stop_workers(executor: ProcessPoolExecutor) -> None:
    """SIGTERM every worker (each drops its current run cleanly), then forget them."""
    for process in list((getattr(executor, "_processes", None) or {}).values()):
        if process.is_alive():
            process.terminate()
    executor.shutdown(wait=True, cancel_futures=True)


def _probe(scheduler: str) -> None:
    """A plain TCP connect to the scheduler, so a wrong address fails at once."""
    parts = urlsplit(scheduler)
    try:
        host, port = parts.hostname, parts.port
    except ValueError:
        host = port = None
    if not host or port is None:
        raise ConfigError(f"--scheduler {scheduler}: expected tcp://HOST:PORT")
    try:
        socket.create_connection((host, port), timeout=PROBE_TIMEOUT_S).close()
    except OSError as exc:
        raise ConfigError(f"--scheduler {scheduler}: cannot connect: "
                          f"{exc.strerror or exc}") from None
