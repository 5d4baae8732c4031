"""The file->socket paths: each is a user program made of syscalls, as a SimPy process.

``PATHS`` maps a name to its ``PathSpec`` (``iosim.paths.registry``); each module below
registers its path(s) when imported, in this order, which is the order of every table,
chart and the quiz's draws. A path of your own: build a ``PathSpec`` and ``register`` it. A path
with one-time set-up (a ring, a TLS socket) declares it as ``SetUp`` steps, each with the
scope a server keeps it for (``WORKER``, ``CONNECTION``).
"""
# ruff: noqa: I001  (the imports' order is the order of PATHS)

from iosim.paths import read_write, mmap_write, sendfile, splice, msg_zerocopy  # noqa: F401
from iosim.paths import writev_sendfile, vmsplice_splice, io_uring_send_zc  # noqa: F401
from iosim.paths import ktls_sendfile  # noqa: F401
from iosim.paths.registry import (CONNECTION, PAGE_CACHE, PATHS, USER_BUFFER, WORKER, PathSpec,
                                  SetUp, register, unregister)

__all__ = ["CONNECTION", "PAGE_CACHE", "PATHS", "USER_BUFFER", "WORKER", "PathSpec", "SetUp",
           "register", "unregister"]
