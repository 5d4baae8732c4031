"""The flat record of one server run (``iosim.serve``): every field declared once.

Like ``iosim.result.Result``: scalars and small dicts, DataFrame-ready; the field table
(``iosim fields --serve``, docs/server.md) is generated from the declarations here.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any

from iosim.result import unit_of


def field(doc: str, default: Any = 0, factory: Any = None) -> Any:
    """A ServerResult field and its meaning."""
    if factory is not None:
        return dataclasses.field(default_factory=factory, metadata={"doc": doc})
    return dataclasses.field(default=default, metadata={"doc": doc})


@dataclass(frozen=True)
class ServerResult:
    """What one server run measured. Sizes in bytes, times in seconds, rates as named."""

    path: str = field("The send method every response used (see ``iosim.PATHS``).", "")
    model: str = field("``loop`` (event-loop workers over non-blocking sockets) or "
                       "``threads`` (one blocking thread per connection).", "")
    connections: int = field("Concurrent client connections.")
    workers: int = field("Event-loop worker threads (``loop``), else the connections.")
    cores: int = field("CPU cores of the profile.")
    requests: int = field("Responses completed (every byte at the client).")
    sim_time_s: float = field("Simulated time until the last response's last byte.", 0.0)
    requests_per_s: float = field("Responses completed per simulated second.", 0.0)
    goodput_bps: float = field("Response bytes (headers and bodies) delivered per second, in "
                               "bits per second.", 0.0)
    bytes_delivered: int = field("Response bytes the clients got, each counted once.")
    body_bytes: int = field("File bytes of all responses (without headers).")
    latency_mean_s: float = field("Mean response time: the client's request leaves until it "
                                  "holds the response's last byte.", 0.0)
    latency_p50_s: float = field("Median response time.", 0.0)
    latency_p95_s: float = field("95th percentile response time.", 0.0)
    latency_p99_s: float = field("99th percentile response time.", 0.0)
    latency_max_s: float = field("Longest response time.", 0.0)
    think_time_s: float = field("Client think time between a response and its next request "
                                "(closed loop).", 0.0)
    hit_ratio: float = field("Page-cache hit ratio: requested file pages found cached when "
                             "the request started, over all requested pages.", 0.0)
    membus_bytes_per_byte: float = field("DRAM traffic per response byte delivered.", 0.0)
    membus_utilization: float = field("Memory-bus busy fraction.", 0.0)
    cpu_utilization: float = field("Busy fraction of all cores.", 0.0)
    cpu_time_s: float = field("CPU seconds used, all cores.", 0.0)
    cpu_time_by_category: dict[str, float] = field(
        "CPU seconds per category (copy, syscall, context_switch, fault, pin, pipe, net, irq, "
        "notification, receive, writer), all cores.", factory=dict)
    cpu_per_core_by_category: dict[str, float] = field(
        "Per core: the share of its time each category took (CPU seconds / (cores x "
        "sim_time_s)), plus ``idle``.", factory=dict)
    worker_utilization: float = field("Share of time the workers were held by a request "
                                      "(running it or blocked inside it on the disk).", 0.0)
    disk_utilization: float = field("Disk media busy fraction.", 0.0)
    link_utilization: float = field("Link (NIC serialisation) busy fraction.", 0.0)
    copies: float = field("(CPU + DMA copy bytes) / response bytes delivered.", 0.0)
    cpu_copies: float = field("CPU copy bytes / response bytes delivered.", 0.0)
    dma_copies: float = field("DMA copy bytes / response bytes delivered.", 0.0)
    syscalls: int = field("System calls of all workers (epoll_wait, recv, the responses', "
                          "and each path's set-up once per worker or connection).")
    syscalls_per_request: float = field("System calls per response.", 0.0)
    context_switches: int = field("Times a worker or thread blocked and was switched out.")
    context_switches_per_request: float = field("Context switches per response.", 0.0)
    eagain: int = field("Sends that found the send buffer full on a non-blocking socket "
                        "(EAGAIN): the worker went back to epoll_wait.")
    disk_blocked_s: float = field("Worker seconds spent asleep on disk reads (a cache miss "
                                  "blocks the worker's whole event loop).", 0.0)
    page_faults: int = field("Page faults of all workers.")
    disk_requests: int = field("Read requests sent to the disk.")
    evictions: int = field("Pages reclaimed from the page cache.")
    retransmits: int = field("Retransmitted skbs (from the shared accounting).")
    cwnd_restarts: int = field("linux-6: responses whose connection restarted its congestion "
                               "window after an idle period longer than the RTO "
                               "(tcp_slow_start_after_idle_check).")
    bottleneck: str = field("What limits the server: ``membus`` at 90 % or more, else the "
                            "busiest of cpu, link, disk, workers at 90 % or more, else "
                            "``disk`` if workers mostly slept on reads, else the busiest of "
                            "those and membus at 50 % or more, else ``clients`` (the offered "
                            "load: connections, think time, TCP windows).", "")
    invariant_violations: list[str] = field("Broken invariants: bytes not delivered exactly "
                                            "once, references never released; empty when "
                                            "sound.", factory=list)
    seed: int = field("RNG seed of the run.")
    spec: dict[str, Any] = field("The effective serve spec.", factory=dict)
    profile: dict[str, Any] = field("The effective hardware profile in base units.",
                                    factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A plain dict, JSON-ready."""
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        """Stable JSON: same inputs and seed give byte-identical text."""
        return json.dumps(self.to_dict(), indent=2)


FIELDS = dataclasses.fields(ServerResult)


def field_table() -> str:
    """Every ServerResult field as a Markdown table (what ``docs/server.md`` holds)."""
    rows = ["| field | unit | meaning |", "|---|---|---|"]
    for f in FIELDS:
        doc = " ".join(f.metadata["doc"].split()).replace("|", "\\|")
        rows.append(f"| `{f.name}` | {unit_of(f.name)} | {doc} |")
    return "\n".join(rows) + "\n"


_SET_UPS = (  # scope, made, kept until, the path and its set-up (docs/server.md)
    ("worker", "by the worker's first response", "the worker exits",
     "`io_uring_send_zc`: `io_uring_setup` (`io_uring/io_uring.c:io_uring_setup`) and "
     "`io_uring_register(IORING_REGISTER_BUFFERS)` (`io_uring/rsrc.c:"
     "io_sqe_buffers_register`), its buffers faulted in and pinned; one ring per worker "
     "thread; each further response it has in progress at once (parked on EAGAIN) "
     "registers one more buffer group (`IORING_REGISTER_BUFFERS_UPDATE`)"),
    ("connection", "by the connection's first response", "the connection closes",
     "`ktls_sendfile`: `setsockopt(TCP_ULP, \"tls\")` (`net/tls/tls_main.c:tls_init`) and "
     "`setsockopt(SOL_TLS, TLS_TX)` (`do_tls_setsockopt_conf`), plus `TLS_TX_ZEROCOPY_RO` "
     "with `nic.tls_offload`"),
)

DOC_HEADER = """# Server result fields

`iosim.serve()` returns one flat `ServerResult`; `iosim serve --json` prints it. Generated
from `iosim/server/result.py` by `iosim fields --serve --markdown > docs/server.md`; a test
keeps it current.

A path's one-time set-up counts where a real server pays it, not per response
(`PathSpec.setup`, each `SetUp` with its scope; docs/model.md, "A server"):

| scope | made | kept until | path: set-up |
|---|---|---|---|
""" + "".join(f"| `{scope}` | {made} | {until} | {what} |\n"
              for scope, made, until, what in _SET_UPS) + """
W workers serving C keep-alive connections of R responses each make W rings and
registrations (`model = "threads"`: one per thread, so C) and 2C kTLS setsockopts, not
C x R of either; `simulate()` is one response on one connection, so it makes each once.

"""
