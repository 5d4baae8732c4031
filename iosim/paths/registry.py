"""The registry of paths: every fact about a path, on its ``PathSpec``, in one place.

A path module builds its spec and calls ``register`` once; the CLI, charts, quiz,
explain, the flow diagram and validate read what they need from ``PATHS``, so a new path is
its program plus one spec (and whatever kernel mechanism it needs), not edits to every
front-end.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any

PAGE_CACHE, USER_BUFFER = "page cache", "user buffer"  # what skb frags can reference
WORKER, CONNECTION = "worker", "connection"  # who keeps a set-up in a server (SetUp.scope)
SCOPES = (WORKER, CONNECTION)


@dataclass(frozen=True)
class SetUp:
    """A one-time set-up a path's program makes before it sends, and who keeps it.

    The program asks its machine for it (``handle = yield from m.set_up(STEP, sc)``) and
    hands it back when done (``m.release(STEP, handle)``): one ``simulate()`` opens and
    closes it in place; a server opens it once per ``scope``, at the first response that
    asks, and reuses it, as a real server does. ``WORKER``: a thread's resource, e.g. its
    io_uring ring and registered buffers (one ring per worker thread); it closes when the
    thread exits, and may serve several of the worker's responses at once (one waiting for
    EPOLLOUT while the next runs). ``CONNECTION``: state of the socket, e.g. kTLS (the TLS
    ULP and its key live on the socket, so a keep-alive connection's later responses reuse
    them); it closes with the connection.
    """

    name: str
    scope: str
    """``WORKER`` or ``CONNECTION``."""
    open: Callable[..., Generator[Any, Any, Any]]
    """``open(machine, scenario)``: a SimPy generator making the set-up; returns its handle.
    A worker's set-up may read only the scenario's options, not its file or socket."""
    close: Callable[[Any], None] | None = None
    """``close(handle)``: undo it (unpin, free), or None when closing the socket does."""

    def __post_init__(self) -> None:
        if self.scope not in SCOPES:
            raise ValueError(f"set-up {self.name!r}: scope {self.scope!r}, expected one of "
                             f"{', '.join(SCOPES)}")


@dataclass(frozen=True)
class PathSpec:
    """A way a file reaches a socket, and what we know about it."""

    name: str
    program: Callable[..., Generator[Any, Any, Any]]
    """The user program: a SimPy generator ``program(machine, scenario)`` of syscalls."""
    summary: str
    """One line: what the program does."""
    textbook_copies: tuple[int, int]
    """(CPU, DMA) copies per byte delivered that the textbooks count, cold cache."""
    color: str
    """The path's colour in every chart and page (hex RGB)."""
    references: str = ""
    """What the skb frags reference when the socket gathers: ``PAGE_CACHE`` (sendfile,
    splice), ``USER_BUFFER`` (MSG_ZEROCOPY) or nothing (the data is copied)."""
    real_method: str | None = None
    """The real loopback transfer ``iosim validate`` measures as this path, if any."""
    real_note: str = ""
    """Why there is no real method to compare with (when ``real_method`` is None)."""
    notes: tuple[str, ...] = ()
    """Lines ``iosim explain`` shows under the path's header (textbook vs kernel)."""
    overrides: dict[str, object] = field(default_factory=dict)
    """Profile values the path implies (``sendfile``: a NIC without scatter-gather)."""
    sends_header: bool = False
    """The program writes a response header itself (``Scenario.header_bytes``, part of
    ``size_bytes``), so a server hands it the header instead of writing its own."""
    setup: tuple[SetUp, ...] = ()
    """The one-time set-ups the program asks its machine for (``SetUp``), in order."""

    @property
    def exposed_to(self) -> tuple[str, ...]:
        """Writer kinds (``Scenario.writer``) whose stores reach the wire when the skb
        references the data instead of a copy of it."""
        return {PAGE_CACHE: ("write", "shared"), USER_BUFFER: ("userbuf",)}.get(
            self.references, ())


PATHS: dict[str, PathSpec] = {}


def register(spec: PathSpec) -> PathSpec:
    """Add ``spec`` to ``PATHS`` (replacing a path of the same name); returns it."""
    PATHS[spec.name] = spec
    return spec


def unregister(name: str) -> None:
    """Remove a registered path (a notebook's or a test's own path, when done with it)."""
    PATHS.pop(name, None)
