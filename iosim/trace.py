"""The trace sink of a run, and its exports: Chrome/Perfetto JSON and readable lines.

Components add ``iosim.events.Event`` records to a ``Tracer`` only when one is attached
(``acct.trace``), so a run without tracing pays one ``is None`` test per event site.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from iosim.atomic import replacing
from iosim.events import TRACKS, Event, shown_args, title
from iosim.units import format_time

__all__ = ["TRACKS", "Tracer"]

class Tracer:
    """Collects events, up to ``limit`` of them (later ones are counted, not kept)."""

    def __init__(self, limit: int = 1_000_000) -> None:
        self.limit = limit
        self.events: list[Event] = []
        self.dropped = 0

    def add(self, event: Event) -> None:
        """Record one event."""
        if len(self.events) < self.limit:
            self.events.append(event)
        else:
            self.dropped += 1

    def sorted_events(self) -> list[Event]:
        """Events in time order, an enclosing slice before what it encloses."""
        return sorted(self.events, key=lambda e: (e.start_s, -e.duration_s))

    def to_chrome(self) -> dict[str, Any]:
        """The Chrome trace-event JSON object: one thread per track, and one more per lane
        of a track whose slices overlap without nesting (two copies on two cores, a disk
        DMA beside a NIC DMA), so that every thread's slices nest as viewers require.

        Times are whole nanoseconds written as microseconds (ns / 1000), which a viewer
        rounds back to the same nanoseconds, so nesting is decided, and holds, exactly.
        """
        ordered = self.sorted_events()
        spans = _nested_lanes(ordered)
        threads: dict[tuple[str, int], int] = {(track, 0): i + 1 for i, track in
                                               enumerate(TRACKS)}
        for e in ordered:
            key = (e.track, spans[id(e)][2] if id(e) in spans else 0)
            threads.setdefault(key, len(threads) + 1)
        out: list[dict[str, Any]] = [
            {"ph": "M", "pid": 1, "name": "process_name", "args": {"name": "iosim"}}]
        for (track, lane), tid in threads.items():
            out.append({"ph": "M", "pid": 1, "tid": tid, "name": "thread_name",
                        "args": {"name": track if lane == 0 else f"{track} {lane + 1}"}})
            out.append({"ph": "M", "pid": 1, "tid": tid, "name": "thread_sort_index",
                        "args": {"sort_index": _sort_index(track, lane)}})
        for e in ordered:
            span = spans.get(id(e))
            tid = threads[(e.track, span[2] if span else 0)]
            ts_ns = span[0] if span else _ns(e.start_s)
            common = {"pid": 1, "tid": tid, "name": title(e), "ts": ts_ns / 1000}
            if span is not None:  # trace-event times are microseconds: ns / 1000
                out.append({"ph": "X", **common, "dur": (span[1] - span[0]) / 1000,
                            "args": shown_args(e)})
            elif e.is_counter:
                out.append({"ph": "C", **common, "args": {"value": e.value}})
            else:
                out.append({"ph": "i", "s": "t", **common, "args": shown_args(e)})
        # no "displayTimeUnit": Perfetto reads "ns" there as the unit of ts (Chrome's viewer
        # as a display hint only), so leaving it out keeps both reading microseconds
        return {"traceEvents": out, "otherData": {"dropped_events": self.dropped}}

    def write_chrome(self, path: str | Path) -> None:
        """Write the Chrome trace atomically (temporary file, then rename)."""
        with replacing(path) as fh:
            json.dump(self.to_chrome(), fh)

    def lines(self) -> Iterator[str]:
        """One readable line per event, in time order."""
        for e in self.sorted_events():
            when = f"{format_time(e.start_s):>9}"
            extra = "".join(f" {k}={v}" for k, v in shown_args(e).items())
            if e.is_slice:
                yield f"{when}  {e.track:8} {title(e)}  ({format_time(e.duration_s)}){extra}"
            elif e.is_counter:
                yield f"{when}  {e.track:8} {title(e)} = {e.value:g}"
            else:
                yield f"{when}  {e.track:8} {title(e)}{extra}"
        if self.dropped:
            yield f"... {self.dropped} more events not kept (limit {self.limit})"


def _ns(t_s: float) -> int:
    return round(t_s * 1e9)  # seconds -> whole nanoseconds


def _sort_index(track: str, lane: int) -> int:
    """Viewers order threads by this: a track's lanes together, tracks in TRACKS order."""
    rank = TRACKS.index(track) if track in TRACKS else len(TRACKS)
    return rank * 100 + lane


def _nested_lanes(ordered: list[Event]) -> dict[int, tuple[int, int, int]]:
    """(start ns, end ns, lane) of every slice, lanes chosen so that the slices on one lane
    of a track nest: a slice goes on the first lane whose innermost open slice encloses it,
    or that has none open (it follows); slices arrive by start, longest first."""
    out: dict[int, tuple[int, int, int]] = {}
    stacks: dict[str, list[list[int]]] = {}  # track -> lanes -> end ns of the open slices
    for e in ordered:
        if not e.is_slice:
            continue
        start, end = _ns(e.start_s), _ns(e.end_s)
        lanes = stacks.setdefault(e.track, [])
        lane = None
        for i, open_ends in enumerate(lanes):
            while open_ends and open_ends[-1] <= start:
                open_ends.pop()
            if not open_ends or end <= open_ends[-1]:
                lane = i
                break
        if lane is None:
            lane = len(lanes)
            lanes.append([])
        lanes[lane].append(end)
        out[id(e)] = (start, end, lane)
    return out
