"""The accounting sink every component of one run reports to.

One attribute per counter field of ``iosim.result.Result`` (declared there, once), plus
the sink's own working state: CPU time by category, time slept by reason, invariant
violations and the tracer, if any. Plain attributes, updated in bulk.
"""

from __future__ import annotations

from typing import Any

from iosim.result import COUNTER_FIELDS, FIELDS

CPU_CATEGORIES = ("copy", "syscall", "context_switch", "fault", "pin", "pipe", "net", "irq",
                  "notification", "receive", "writer")
_COUNTER_DEFAULTS = {f.name: f.default for f in FIELDS if f.name in COUNTER_FIELDS}


class Accounting:
    """Counters shared by all components of one run."""

    def __init__(self) -> None:
        self.__dict__.update(_COUNTER_DEFAULTS)
        self.cpu_time_s = dict.fromkeys(CPU_CATEGORIES, 0.0)
        self.blocked_s: dict[str, float] = {}  # seconds the sender slept, by reason
        self.violations: list[str] = []
        self.trace: Any = None  # an iosim.trace.Tracer when the run is traced

    def violation(self, text: str) -> None:
        """Record a broken invariant; runs report them rather than crash mid-way."""
        if len(self.violations) < 100:
            self.violations.append(text)

    def counters(self) -> dict[str, Any]:
        """The counter fields as they stand."""
        return {name: getattr(self, name) for name in COUNTER_FIELDS}
