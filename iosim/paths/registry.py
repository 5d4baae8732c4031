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
