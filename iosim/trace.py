"""Structured events of a run: slices on component tracks, counters, instants.

Components report to a ``Tracer`` only when one is attached (``acct.trace``), so a run
without tracing pays one ``is None`` test per event site. The events export to the Chrome
trace-event format (open it in Perfetto or chrome://tracing) and to readable lines.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from iosim.atomic import replacing
from iosim.units import format_time

# Track order in viewers: the program's view first, then down the hardware.
TRACKS = ("sender", "cpu", "disk", "dma", "nic", "wire", "receiver", "pages", "socket")


@dataclass(slots=True)
class Event:
    """One trace event; ``kind`` is slice, counter or instant."""

    kind: str
    track: str
    name: str
    start_s: float
    end_s: float = 0.0
    value: float = 0.0
    args: dict[str, Any] = field(default_factory=dict)


class Tracer:
    """Collects events, up to ``limit`` of them (later ones are counted, not kept)."""

    def __init__(self, limit: int = 1_000_000) -> None:
        self.limit = limit
        self.events: list[Event] = []
        self.dropped = 0

    def _add(self, event: Event) -> None:
        if len(self.events) < self.limit:
            self.events.append(event)
        else:
            self.dropped += 1

    def slice(self, track: str, name: str, start_s: float, end_s: float, **args: Any) -> None:
        """Something that took time on ``track``."""
        self._add(Event("slice", track, name, start_s, end_s, args=args))

    def counter(self, track: str, name: str, t_s: float, value: float) -> None:
        """A value that changed at ``t_s`` (a refcount, bytes in flight)."""
        self._add(Event("counter", track, name, t_s, value=value))

    def instant(self, track: str, name: str, t_s: float, **args: Any) -> None:
        """A moment: an interrupt, a fault, a wake-up."""
        self._add(Event("instant", track, name, t_s, args=args))

    def sorted_events(self) -> list[Event]:
        """Events in time order (stable for equal times)."""
        return sorted(self.events, key=lambda e: e.start_s)

    def to_chrome(self) -> dict[str, Any]:
        """The Chrome trace-event JSON object: one thread (track) per component."""
        tids = {t: i + 1 for i, t in enumerate(TRACKS)}
        for e in self.events:
            tids.setdefault(e.track, len(tids) + 1)
        out: list[dict[str, Any]] = [
            {"ph": "M", "pid": 1, "name": "process_name", "args": {"name": "iosim"}}]
        for track, tid in tids.items():
            out.append({"ph": "M", "pid": 1, "tid": tid, "name": "thread_name",
                        "args": {"name": track}})
            out.append({"ph": "M", "pid": 1, "tid": tid, "name": "thread_sort_index",
                        "args": {"sort_index": tid}})
        for e in self.sorted_events():
            ts_us = e.start_s * 1e6  # trace-event timestamps are in microseconds
            if e.kind == "slice":
                out.append({"ph": "X", "pid": 1, "tid": tids[e.track], "name": e.name,
                            "ts": ts_us, "dur": (e.end_s - e.start_s) * 1e6, "args": e.args})
            elif e.kind == "counter":
                out.append({"ph": "C", "pid": 1, "tid": tids[e.track], "name": e.name,
                            "ts": ts_us, "args": {"value": e.value}})
            else:
                out.append({"ph": "i", "s": "t", "pid": 1, "tid": tids[e.track],
                            "name": e.name, "ts": ts_us, "args": e.args})
        return {"traceEvents": out, "displayTimeUnit": "ns",
                "otherData": {"dropped_events": self.dropped}}

    def write_chrome(self, path: str | Path) -> None:
        """Write the Chrome trace atomically (temporary file, then rename)."""
        with replacing(path) as fh:
            json.dump(self.to_chrome(), fh)

    def lines(self) -> Iterator[str]:
        """One readable line per event, in time order."""
        for e in self.sorted_events():
            when = f"{format_time(e.start_s):>9}"
            if e.kind == "slice":
                extra = "".join(f" {k}={v}" for k, v in e.args.items())
                yield (f"{when}  {e.track:8} {e.name}  ({format_time(e.end_s - e.start_s)})"
                       f"{extra}")
            elif e.kind == "counter":
                yield f"{when}  {e.track:8} {e.name} = {e.value:g}"
            else:
                extra = "".join(f" {k}={v}" for k, v in e.args.items())
                yield f"{when}  {e.track:8} {e.name}{extra}"
        if self.dropped:
            yield f"... {self.dropped} more events not kept (limit {self.limit})"
