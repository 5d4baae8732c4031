"""Hardware profiles and scenarios: the one place that reads and validates configuration.

A profile is a TOML file of sections (``[cpu]``, ``[disk]`` …) whose keys are listed in
``SCHEMA``. Values carry their units (``"100us"``, ``"10Gbit/s"``, ``"64KiB"``); a bare number
is in base units for sizes (bytes) and times (seconds), and refused for a rate (bits or
bytes?). A profile may start from another with ``extends = "NAME"`` (a bundled name, or a
file relative to the profile's own folder). Every error names the file (or the flag) the
value came from and the key, and says what was expected. Values are checked against what
the model can represent (``LIMITS``), so an accepted profile always runs.
"""

from __future__ import annotations

import dataclasses
import difflib
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from iosim import net, units

MODELS_DIR = Path(__file__).resolve().parent / "models"
DEFAULT_PROFILE = "teaching"  # round numbers, for answers by hand


class ConfigError(ValueError):
    """Bad configuration; ``str()`` is the one line shown to the user."""


def _flag(value: Any) -> bool:
    """``true``/``false``, as TOML writes them or as text (``"true"``, ``"False"``)."""
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    if not isinstance(value, bool):
        raise units.UnitError(f"expected true or false, got {units.describe(value)}")
    return value


def _word(value: Any) -> str:
    if not isinstance(value, str):
        raise units.UnitError(f"expected a name, got {units.describe(value)}")
    return value.strip()


# kind -> (parser, dataclass field suffix, example shown in errors)
_KINDS: dict[str, tuple[Callable[[Any], Any], str, str]] = {
    "time": (units.parse_time, "_s", "a time like 5us"),
    "size": (units.parse_size, "_bytes", "a size like 64KiB"),
    "rate": (units.parse_rate, "_bytes_per_s", "a rate like 10Gbit/s or 2GB/s"),
    "count": (units.parse_count, "", "a whole number"),
    "bool": (_flag, "", "true or false"),
    "choice": (_word, "", "one of the names listed"),
}

# choice keys -> the names they accept (the first is the default of new profiles)
CHOICES: dict[str, tuple[str, ...]] = {
    "kernel.model": ("linux-6", "textbook"),
    "kernel.tcp_congestion": ("cubic", "bbr"),
    "kernel.qdisc": ("pfifo_fast", "fq_codel", "fq"),
}
KERNEL_MODELS = CHOICES["kernel.model"]

# section -> key -> (kind, what it means). Every key is required (directly or via `extends`).
SCHEMA: dict[str, dict[str, tuple[str, str]]] = {
    "cpu": {
        "cores": ("count", "cores available to the sender and the kernel's IRQ work"),
        "copy_bandwidth": ("rate", "memcpy speed of one core on cold data"),
        "copy_bandwidth_cached": ("rate", "memcpy speed of one core when the source is in its "
                                          "last-level cache"),
        "aes_gcm_bandwidth": ("rate", "AES-GCM encryption speed of one core (software kTLS: "
                                      "each record read and written once)"),
        "cache_size": ("size", "last-level cache: a copy source whose working set fits in it "
                               "is read from the cache, not DRAM"),
        "mode_switch": ("time", "one user<->kernel transition (a syscall makes two)"),
        "syscall": ("time", "fixed in-kernel work of a data syscall (fd lookup, locking)"),
        "context_switch": ("time", "switching away from a task that blocked and back"),
        "page_fault": ("time", "handling one minor page fault"),
        "page_pin": ("time", "pinning one user page (get_user_pages)"),
        "pipe_op": ("time", "moving one pipe_buffer (page reference) in or out of a pipe"),
        "irq": ("time", "one interrupt: entry, handler, exit"),
        "notification": ("time", "queueing one MSG_ZEROCOPY completion on the error queue"),
        "orphan_page": ("time", "loopback or a packet tap, MSG_ZEROCOPY: per 4 KiB page the "
                        "kernel allocates and frees to copy the pinned pages into before "
                        "local delivery (skb_copy_ubufs), besides the copy itself"),
        "per_skb": ("time", "TCP/IP processing of one sk_buff (headers, queueing)"),
        "rx_skb": ("time", "loopback only: the local receiver's work per sk_buff besides its "
                           "copy (TCP input in softirq, its recv() call, its ACK)"),
        "rx_frag": ("time", "loopback only: the local receiver's extra work per page-cache "
                            "frag of an sk_buff (sendfile, splice)"),
        "rx_input": ("time", "loopback on one core (linux-6): the part of rx_skb that is TCP "
                             "input (tcp_v4_rcv to the receive queue, the ACK), which the "
                             "sender's softirq does when the receiver is asleep, not owning "
                             "its socket (at most rx_skb)"),
        "tail_skb": ("time", "loopback on one core (linux-6): what an extra sk_buff of a few "
                             "bytes (a 64 KiB write()'s tail past the MSS) costs sender, "
                             "softirq and receiver together: every skb pays tail_skb / "
                             "(per_skb + rx_skb) of those two, and of the rest its bytes' "
                             "share of 64 KiB (default, and at most: per_skb + rx_skb, every "
                             "skb alike)"),
        "split_tx_skb": ("time", "loopback with nic.loopback_split: the sender's TCP work "
                                 "per sk_buff of copied data (write, send), the receive "
                                 "softirq on its CPU included; replaces per_skb"),
        "split_rx_skb": ("time", "loopback with nic.loopback_split: the receiver's work on "
                                 "its own CPU per sk_buff of copied data besides its copy; "
                                 "replaces rx_skb"),
        "split_tx_paged_skb": ("time", "loopback with nic.loopback_split: the sender's TCP "
                                       "work per sk_buff of page frags (sendfile, splice, "
                                       "MSG_ZEROCOPY), the receive softirq included"),
        "split_rx_paged_skb": ("time", "loopback with nic.loopback_split: the receiver's "
                                       "work per sk_buff of page frags besides its copy; "
                                       "replaces rx_skb and rx_frag"),
        "split_tail_skb": ("time", "loopback with nic.loopback_split (linux-6): what an extra "
                                   "sk_buff of a few bytes costs sender and receiver together "
                                   "on their two CPUs: every skb pays split_tail_skb / "
                                   "(split_tx_skb + split_rx_skb) of its kind's two costs "
                                   "(copied data or page frags), and of the rest its bytes' "
                                   "share of 64 KiB (default, and at most: split_tx_skb + "
                                   "split_rx_skb, every skb alike)"),
        "wakeup_remote": ("time", "loopback with nic.loopback_split: from the softirq's "
                                  "wake-up of a receiver asleep on the other, idle core to "
                                  "its running (the IPI, the idle exit; in a VM the halted "
                                  "vCPU's)"),
    },
    "membus": {
        "bandwidth": ("rate", "DRAM bandwidth shared by CPU copies and DMA"),
    },
    "disk": {
        "latency": ("time", "per-request access latency"),
        "bandwidth": ("rate", "sequential transfer rate"),
        "queue_depth": ("count", "requests the device serves at once"),
    },
    "dma": {
        "descriptor": ("time", "device cost to fetch and process one DMA descriptor"),
        "max_sg_entries": ("count", "scatter-gather entries one NIC transfer may use"),
        "alignment": ("size", "address alignment the NIC DMA needs (1 = any byte)"),
    },
    "nic": {
        "rate": ("rate", "link rate"),
        "mtu": ("size", "maximum transmission unit (IP packet)"),
        "tso_max": ("size", "largest TSO super-segment the NIC accepts"),
        "tx_ring": ("count", "TX descriptors (skbs) the NIC holds at once"),
        "sg": ("bool", "scatter-gather DMA (NETIF_F_SG)"),
        "csum_offload": ("bool", "checksum offload; textbook: the kernel drops SG without it; "
                                 "linux-6: checksums in software, linearizing shared frags"),
        "tls_offload": ("bool", "kTLS TX offload (TLS_DEVICE): the NIC encrypts the records, "
                                "so ktls_sendfile needs no CPU pass"),
        "loopback": ("bool", "the loopback device: no DMA and no wire; the receiver's copy "
                             "out of the skb is what moves the bytes"),
        "loopback_split": ("bool", "loopback: the receiver runs on another core than the "
                                   "sender (pinned to cores 1 and 0); the receive softirq "
                                   "stays on the sender's (net/core/dev.c:netif_rx queues to "
                                   "the transmitting CPU's backlog); costs cpu.split_*"),
    },
    "wire": {
        "rtt": ("time", "round-trip time to the receiver and back"),
    },
    "kernel": {
        "model": ("choice", "which kernel the mechanisms follow: linux-6 (Linux 6.x, the "
                            "default) or textbook (the classic picture the textbooks draw, "
                            "pre-4.17 for scatter-gather); docs/model.md lists the differences"),
        "page_size": ("size", "page size"),
        "page_cache": ("size", "memory available to the page cache"),
        "readahead": ("size", "read-ahead window"),
        "pipe_size": ("size", "pipe capacity (16 pages by default; F_SETPIPE_SZ)"),
        "sndbuf": ("size", "socket send buffer: textbook, fixed; linux-6, the autotuning "
                           "ceiling tcp_wmem[2] (it starts at 16 KiB and grows with cwnd)"),
        "rmem_default": ("size", "linux-6, loopback: the receive buffer a connection starts "
                                 "with (tcp_rmem[1]); half of it is the first window, "
                                 "rounded down to the MSS (tcp_select_initial_window)"),
        "rmem_max": ("size", "linux-6, loopback: how far receive-buffer autotuning grows "
                             "it (tcp_rmem[2], tcp_rcv_space_adjust)"),
        "gso": ("bool", "linux-6: the route allows GSO, so a TCP socket always has "
                        "scatter-gather and the NIC's features act at transmit "
                        "(sk_setup_caps); false models TCP-MD5/AO or IPsec without offload"),
        "tcp_congestion": ("choice", "linux-6: congestion control, cubic or bbr "
                                     "(net.ipv4.tcp_congestion_control)"),
        "qdisc": ("choice", "linux-6: the NIC's queueing discipline, pfifo_fast, fq_codel or fq "
                            "(net.core.default_qdisc); only fq paces CUBIC; loopback has none"),
        "slow_start_after_idle": ("bool", "linux-6: restart the congestion window after an "
                                          "idle period longer than the RTO "
                                          "(net.ipv4.tcp_slow_start_after_idle; BBR skips it)"),
        "irq_time_accounting": ("bool", "CONFIG_IRQ_TIME_ACCOUNTING: softirq time is not "
                                        "charged to the task it interrupts, so it does not "
                                        "count toward that task's share of a shared core"),
        "packet_tap": ("bool", "linux-6: a packet tap (tcpdump) on the NIC: MSG_ZEROCOPY data "
                               "is copied for it and the sends complete as COPIED"),
        "optmem_max": ("size", "linux-6: per-socket option memory (net.core.optmem_max); each "
                               "MSG_ZEROCOPY notification record holds 960 B of it"),
        "memlock": ("size", "linux-6: RLIMIT_MEMLOCK, against which MSG_ZEROCOPY charges "
                            "(size / 4 KiB) + 2 pages per send until it completes"),
        "max_skb_frags": ("count", "page frags one sk_buff can hold (MAX_SKB_FRAGS)"),
        "fault_around": ("size", "bytes of cached pages one read fault maps "
                                 "(fault_around_bytes)"),
    },
}


# keys added after profiles were written: a profile without them gets these values
LATER_KEYS: dict[str, Any] = {"cpu.aes_gcm_bandwidth": "1GB/s", "nic.tls_offload": False}
# keys added later whose default follows from keys before them in their section (parsed)
DERIVED_KEYS: dict[str, Callable[[dict[str, Any]], float]] = {
    "cpu.tail_skb": lambda cpu: cpu["per_skb_s"] + cpu["rx_skb_s"],  # every skb alike
    "cpu.split_tail_skb": lambda cpu: cpu["split_tx_skb_s"] + cpu["split_rx_skb_s"],
}

MAX_FILE_BYTES = 2**63 - 1
"""The largest file Linux holds (MAX_LFS_FILESIZE on 64-bit): sizes and offsets stay below."""

# key -> (largest value, why): what the model can hold, or the kernel's own ceiling.
LIMITS: dict[str, tuple[int, str]] = {
    "cpu.cores": (8192, "the most CPUs Linux builds for: NR_CPUS on x86_64"),
    "disk.queue_depth": (65536, "the deepest NVMe queue: 64 Ki entries"),
}
PAGE_SIZES_BYTES = tuple(2**shift for shift in range(12, 19))
"""Page sizes Linux architectures build with: 4 KiB (x86) to 256 KiB (hexagon, ppc44x)."""


def _field_name(key: str, kind: str) -> str:
    return key + _KINDS[kind][1]


def _make_section(name: str, spec: Mapping[str, tuple[str, str]]) -> type:
    types = {"bool": bool, "count": int, "size": int, "choice": str}
    fields = [(_field_name(k, kind), types.get(kind, float)) for k, (kind, _) in spec.items()]
    return dataclasses.make_dataclass(name.capitalize(), fields, frozen=True)


Cpu = _make_section("cpu", SCHEMA["cpu"])
Membus = _make_section("membus", SCHEMA["membus"])
Disk = _make_section("disk", SCHEMA["disk"])
Dma = _make_section("dma", SCHEMA["dma"])
Nic = _make_section("nic", SCHEMA["nic"])
Wire = _make_section("wire", SCHEMA["wire"])
Kernel = _make_section("kernel", SCHEMA["kernel"])
_SECTION_TYPES = {"cpu": Cpu, "membus": Membus, "disk": Disk, "dma": Dma, "nic": Nic,
                  "wire": Wire, "kernel": Kernel}


@dataclass(frozen=True)
class Profile:
    """A validated hardware profile; ``raw`` keeps the values as written, for the record."""

    name: str
    source: str
    description: str
    cpu: Any
    membus: Any
    disk: Any
    dma: Any
    nic: Any
    wire: Any
    kernel: Any
    raw: dict[str, dict[str, Any]] = field(repr=False, compare=False)
    where: dict[str, str] = field(default_factory=dict, repr=False, compare=False)
    """``section.key`` -> the file or flag its value came from, for error messages."""

    def to_dict(self) -> dict[str, Any]:
        """Effective values in base units, keyed like the dataclass fields."""
        out: dict[str, Any] = {"name": self.name, "description": self.description}
        for section in SCHEMA:
            out[section] = dataclasses.asdict(getattr(self, section))
        return out

    def with_overrides(self, overrides: Mapping[str, Any], origin: str = "--set") -> Profile:
        """A copy with ``{"nic.rate": "25Gbit/s", ...}`` applied and validated."""
        raw: dict[str, Any] = {s: dict(v) for s, v in self.raw.items() if s in SCHEMA}
        raw["description"] = self.description
        where = dict(self.where)
        if not isinstance(overrides, Mapping):
            raise ConfigError(f"{origin}: expected profile keys and values like "
                              f"{{'nic.rate': '25Gbit/s'}}, got {units.describe(overrides)}")
        for dotted, value in overrides.items():
            section, _, key = str(dotted).partition(".")
            if section not in SCHEMA or key not in SCHEMA[section]:
                close = difflib.get_close_matches(dotted, known_keys(), n=3)
                hint = f"did you mean {' or '.join(close)}?" if close else (
                    "`iosim keys` lists them")
                raise ConfigError(f"{origin}: unknown profile key {dotted!r}; {hint}")
            raw[section][key] = value
            where[dotted] = origin
        return _build(self.name, f"{self.source} + {origin}", raw, origin, where)


def known_keys() -> list[str]:
    """Every profile key as ``section.key``."""
    return [f"{s}.{k}" for s, spec in SCHEMA.items() for k in spec]


def bundled_profiles() -> dict[str, Path]:
    """Profiles shipped in ``iosim/models``, by name."""
    return {p.stem: p for p in sorted(MODELS_DIR.glob("*.toml"))}


MAX_EXTENDS_DEPTH = 32  # profiles a chain of `extends` may pass through


def read_toml(path: Path, what: str = "") -> dict[str, Any]:
    """A TOML file as a dict; an unreadable, non-UTF-8 or invalid file is one line."""
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a directory; expected a {what or 'TOML'} file"
                          ) from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read{' ' + what if what else ''}: "
                          f"{exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.object[exc.start]:#04x} at "
                          f"offset {exc.start}); TOML files are UTF-8") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None


def _profile_path(text: str, base_dir: Path | None, named_by: str | None) -> Path:
    """A bundled profile's file, or a file path (relative to ``base_dir`` if given)."""
    bundled = bundled_profiles()
    if text in bundled:
        return bundled[text]
    path = Path(text)
    if base_dir is not None and not path.is_absolute():
        path = base_dir / path
    where = f"{named_by}: key 'extends': " if named_by else ""
    if named_by and path.suffix == ".toml" and not path.exists():
        raise ConfigError(f"{where}no profile file {str(path)!r} (a path in 'extends' is "
                          f"relative to the profile that names it)")
    if path.suffix == ".toml" or path.exists():
        return path
    raise ConfigError(f"{where}unknown profile {text!r}: expected one of "
                      f"{', '.join(bundled)} or a path to a .toml file")


def _resolve(name_or_path: str | Path) -> tuple[str, Path, dict, dict[str, str]]:
    """Find a profile by bundled name or file path and merge its ``extends`` chain.

    Returns the name, the file, the merged raw values and, for each ``section.key``, the
    file its value came from. The chain is followed iteratively: a cycle or a chain deeper
    than ``MAX_EXTENDS_DEPTH`` is one line, not a RecursionError.
    """
    chain: list[tuple[Path, dict[str, Any]]] = []
    path = _profile_path(str(name_or_path), None, None)
    seen: set[Path] = set()
    while True:
        key = path.resolve()
        if key in seen:
            raise ConfigError(f"{chain[-1][0]}: key 'extends': {str(path)!r} forms a cycle")
        if len(chain) >= MAX_EXTENDS_DEPTH:
            raise ConfigError(f"{chain[0][0]}: 'extends' chain deeper than "
                              f"{MAX_EXTENDS_DEPTH} profiles")
        seen.add(key)
        data = read_toml(path, "profile")
        chain.append((path, data))
        parent = data.get("extends")
        if parent is None:
            break
        if not isinstance(parent, str):
            raise ConfigError(f"{path}: key 'extends': expected a profile name, got "
                              f"{units.describe(parent)}")
        path = _profile_path(parent, path.parent, str(path))
    base: dict[str, Any] = {s: {} for s in SCHEMA}
    where: dict[str, str] = {}
    description = ""
    for path, data in reversed(chain):  # the root first, so each child overrides
        for key in ("description", "name"):
            if key in data and not isinstance(data[key], str):
                raise ConfigError(f"{path}: key {key!r}: expected a string, got "
                                  f"{units.describe(data[key])}")
        description = data.get("description", description)
        for section, values in data.items():
            if section in ("extends", "description", "name"):
                continue
            if section not in SCHEMA:
                close = difflib.get_close_matches(section, list(SCHEMA), n=1)
                hint = f"did you mean [{close[0]}]? " if close else ""
                raise ConfigError(f"{path}: unknown section [{section}]; {hint}expected one "
                                  f"of {', '.join(SCHEMA)}")
            if not isinstance(values, dict):
                raise ConfigError(f"{path}: key {section!r}: expected a [{section}] table, "
                                  f"got {units.describe(values)}")
            for key, value in values.items():
                if key not in SCHEMA[section]:
                    close = difflib.get_close_matches(key, list(SCHEMA[section]), n=1)
                    hint = f"did you mean '{section}.{close[0]}'? " if close else ""
                    raise ConfigError(f"{path}: unknown key '{section}.{key}'; {hint}expected "
                                      f"one of {', '.join(SCHEMA[section])}")
                base[section][key] = value
                where[f"{section}.{key}"] = str(path)
    first = chain[0]
    base["description"] = description
    return str(first[1].get("name", first[0].stem)), first[0], base, where


def _build(name: str, source: str, raw: dict[str, dict[str, Any]], origin: str,
           where: dict[str, str] | None = None) -> Profile:
    where = where or {}
    sections: dict[str, Any] = {}
    for section, spec in SCHEMA.items():
        values = {}
        for key, (kind, meaning) in spec.items():
            parser, _, example = _KINDS[kind]
            dotted = f"{section}.{key}"
            if key not in raw.get(section, {}) and dotted in LATER_KEYS:
                raw.setdefault(section, {})[key] = LATER_KEYS[dotted]
            if key not in raw.get(section, {}) and dotted in DERIVED_KEYS:
                values[_field_name(key, kind)] = DERIVED_KEYS[dotted](values)
                continue
            if key not in raw.get(section, {}):
                raise ConfigError(f"{origin}: missing key '{dotted}' ({meaning}): "
                                  f"expected {example}")
            at = where.get(dotted, origin)
            value = raw[section][key]
            try:
                parsed = parser(value)
            except units.UnitError as exc:
                raise ConfigError(f"{at}: key '{dotted}': {exc}") from None
            allowed = CHOICES.get(dotted)
            if allowed is not None and parsed not in allowed:
                raise ConfigError(f"{at}: key '{dotted}': expected one of "
                                  f"{', '.join(allowed)}, got {units.describe(value)}")
            if kind not in ("bool", "choice") and not parsed > 0:
                raise ConfigError(f"{at}: key '{dotted}': expected a positive "
                                  f"value, got {units.describe(value)}")
            if dotted in LIMITS and parsed > LIMITS[dotted][0]:
                most, why = LIMITS[dotted]
                raise ConfigError(f"{at}: key '{dotted}': expected at most {most} ({why}), "
                                  f"got {units.describe(value)}")
            values[_field_name(key, kind)] = parsed
        sections[section] = _SECTION_TYPES[section](**values)
    profile = Profile(name=name, source=source, description=raw.get("description", ""),
                      raw=raw, where=where, **sections)
    _check_consistency(profile, origin, where)
    return profile


SKB_COST_BYTES = 64 * 1024  # cpu.per_skb and cpu.rx_skb are what this much data costs


def skb_fixed_share(cpu: Any, split: bool = False) -> float:
    """The share of a full skb's per-skb costs (``per_skb`` + ``rx_skb``; with ``split``,
    the receiver on another core, ``split_tx_skb`` + ``split_rx_skb``) that an skb pays
    whatever its size on a loopback host: ``tail_skb`` (``split_tail_skb``) over them (1:
    every skb alike); the rest it pays by its bytes, ``SKB_COST_BYTES`` paying all of it."""
    if split:
        return cpu.split_tail_skb_s / (cpu.split_tx_skb_s + cpu.split_rx_skb_s)
    return cpu.tail_skb_s / (cpu.per_skb_s + cpu.rx_skb_s)


def size_share(fixed: float, nbytes: int) -> float:
    """The share of a full skb's per-skb costs that an skb of ``nbytes`` pays: ``fixed``
    (``skb_fixed_share``) whatever its size, and of the rest its bytes' share of
    ``SKB_COST_BYTES``, at most all of it (1 when every skb costs alike)."""
    if fixed >= 1.0:
        return 1.0
    return fixed + (1.0 - fixed) * min(nbytes, SKB_COST_BYTES) / SKB_COST_BYTES


def receive_window(p: Profile) -> bool:
    """Whether the run models the receiver's TCP window: a linux-6 loopback host, whose
    receiver is local (a remote receiver's buffer depends on its driver and GRO)."""
    return p.kernel.model == "linux-6" and p.nic.loopback


def _check_consistency(p: Profile, origin: str, where: dict[str, str]) -> None:
    page = p.kernel.page_size_bytes
    header = net.TCPIP_HEADER_BYTES
    checks = [
        ("kernel.page_size", page in PAGE_SIZES_BYTES,
         "a power of two from 4KiB to 256KiB (the page sizes Linux builds with)"),
        ("kernel.pipe_size", p.kernel.pipe_size_bytes % page == 0 and p.kernel.pipe_size_bytes
         >= page, f"a whole number of pages ({page} bytes each)"),
        ("kernel.page_cache", p.kernel.page_cache_bytes >= 64 * page, "at least 64 pages"),
        ("kernel.readahead", p.kernel.readahead_bytes % page == 0,
         f"a whole number of pages ({page} bytes each)"),
        ("nic.mtu", p.nic.mtu_bytes > header,
         f"more than the {header} bytes of TCP/IPv4 headers with timestamps (an MSS of at "
         f"least 1 byte)"),
        ("nic.tso_max", p.nic.tso_max_bytes >= p.nic.mtu_bytes, "at least nic.mtu"),
        ("kernel.sndbuf", p.kernel.sndbuf_bytes >= page, "at least one page"),
        ("kernel.rmem_default", p.kernel.rmem_default_bytes >= page, "at least one page"),
        ("kernel.rmem_max", p.kernel.rmem_max_bytes >= p.kernel.rmem_default_bytes,
         "at least kernel.rmem_default"),
        ("kernel.fault_around", p.kernel.fault_around_bytes % page == 0,
         f"a whole number of pages ({page} bytes each)"),
        ("cpu.tail_skb", p.cpu.tail_skb_s <= p.cpu.per_skb_s + p.cpu.rx_skb_s,
         "at most cpu.per_skb + cpu.rx_skb (what a full skb costs)"),
        ("cpu.split_tail_skb",
         p.cpu.split_tail_skb_s <= p.cpu.split_tx_skb_s + p.cpu.split_rx_skb_s,
         "at most cpu.split_tx_skb + cpu.split_rx_skb (what a full skb costs)"),
        ("nic.loopback_split", not p.nic.loopback_split or (p.nic.loopback and
                                                            p.cpu.cores >= 2),
         "false unless nic.loopback is true and cpu.cores is at least 2 (a receiver on "
         "another core of the loopback host)"),
    ]
    for key, ok, expected in checks:
        if not ok:
            section, name = key.split(".")
            got = p.raw.get(section, {}).get(name)
            raise ConfigError(f"{where.get(key, origin)}: key '{key}': expected {expected}, "
                              f"got {units.describe(got)}")


# base units of each kind, to write a value back as text that parses to the same value
_BASE_UNIT = {"time": "s", "size": "B", "rate": "B/s"}


def profile_from_dict(values: Mapping[str, Any], origin: str = "result") -> Profile:
    """The profile whose effective values ``Profile.to_dict()`` gave (``Result.profile``)."""
    raw: dict[str, Any] = {}
    for section, spec in SCHEMA.items():
        got = values.get(section, {})
        raw[section] = {}
        for key, (kind, _) in spec.items():
            name = _field_name(key, kind)
            if name in got:
                v = got[name]
                raw[section][key] = f"{v!r}{_BASE_UNIT[kind]}" if kind in _BASE_UNIT else v
    raw["description"] = values.get("description", "")
    return _build(str(values.get("name", "profile")), origin, raw, origin)


_FORMAT = {"time": units.format_time, "size": units.format_size, "rate": units.format_rate}
_PARSE = {"time": units.parse_time, "size": units.parse_size, "rate": units.parse_rate}


def profile_changes(values: Mapping[str, Any], base: Profile) -> dict[str, str]:
    """The ``--set`` keys that make ``base`` the profile whose effective values
    ``Profile.to_dict()`` gave (``Result.profile``), each as a person writes it (``64KiB``,
    ``1us``: the unit's own text where it gives the same value, else base units)."""
    have = base.to_dict()
    out: dict[str, str] = {}
    for section, spec in SCHEMA.items():
        got, was = values.get(section, {}), have[section]
        for key, (kind, _) in spec.items():
            name = _field_name(key, kind)
            if name not in got or got[name] == was.get(name):
                continue
            derive = DERIVED_KEYS.get(f"{section}.{key}")
            if derive is not None and got[name] == derive(got):  # follows from set keys
                continue
            v = got[name]
            if kind in _FORMAT:
                text = _FORMAT[kind](v).replace(" ", "")
                if _PARSE[kind](text) != v:
                    text = f"{v!r}{_BASE_UNIT[kind]}"
            else:
                text = str(v).lower() if isinstance(v, bool) else str(v)
            out[f"{section}.{key}"] = text
    return out


def load_profile(name_or_path: str | Path = DEFAULT_PROFILE,
                 overrides: Mapping[str, Any] | None = None) -> Profile:
    """Load a bundled profile by name (``"teaching"``) or a TOML file, with optional overrides.

    Values may be given as the command line gives them (``"true"``, ``"4"``, ``"25Gbit/s"``).
    """
    if isinstance(name_or_path, Profile):
        profile = name_or_path
    else:
        if not isinstance(name_or_path, str | Path):
            raise ConfigError(f"profile: expected a profile name or a .toml file, got "
                              f"{units.describe(name_or_path)}")
        name, path, raw, where = _resolve(name_or_path)
        profile = _build(name, str(path), raw, str(path), where)
    return profile.with_overrides(overrides) if overrides else profile


def profile_value_text(profile: Profile, dotted: str) -> str:
    """A profile key's value as its file wrote it (``10Gbit/s``), for listings."""
    section, key = dotted.split(".")
    value = profile.raw.get(section, {}).get(key)
    if value is None and dotted in DERIVED_KEYS:  # not written: it follows from others
        kind = SCHEMA[section][key][0]
        seconds = getattr(getattr(profile, section), _field_name(key, kind))
        return f"{units.format_time(seconds)} (derived)"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


WRITER_KINDS = ("write", "shared", "private", "userbuf")
BODY_KINDS = ("file", "user")  # writev_sendfile's body: sendfile() or a user buffer
REUSE_KINDS = ("acked", "consumed")  # vmsplice_splice: when a buffer may be refilled


@dataclass(frozen=True)
class Scenario:
    """What to send and how: the inputs of one run besides the hardware.

    Failure modes: ``writer`` (another task storing into the data while it is in flight:
    ``write`` and ``shared`` in place, ``private`` copy-on-write, ``userbuf`` into the
    sender's user buffer) at ``writer_rate`` pages/s or at the stream offsets ``writer_at``;
    ``pressure`` pages reclaimed once when data first is in flight, or every
    ``pressure_interval_s``; a competing reader of another file at ``pressure_reader``
    bytes/s; ``truncate_at_s`` (truncate and rewrite the file); segment ``loss`` probability
    and explicit ``drop`` segment numbers (1 = the first segment sent); ``offset_bytes`` and
    ``buffer_offset_bytes`` for unaligned transfers.
    """

    path: str
    size_bytes: int
    cache: str = "cold"
    seed: int = 0
    buffer_bytes: int = 64 * 1024
    zc_buffers: int = 8
    offset_bytes: int = 0
    buffer_offset_bytes: int = 0
    watch_page: int | None = None
    writer: str | None = None
    writer_rate: float = 0.0
    writer_at: tuple[int, ...] = ()
    pressure: int = 0
    pressure_interval_s: float | None = None
    pressure_reader: float = 0.0
    truncate_at_s: float | None = None
    loss: float = 0.0
    drop: tuple[int, ...] = ()
    header_bytes: int = 256
    """writev_sendfile: the response header sent before the file (part of ``size_bytes``)."""
    cork: bool = True
    """writev_sendfile: the header goes with MSG_MORE (corked) or alone; splice: every
    splice to the socket but the last carries SPLICE_F_MORE, or none does."""
    body: str = "file"
    """writev_sendfile: the body by sendfile() (``file``) or read() + writev() (``user``)."""
    sq_batch: int = 1
    """io_uring_send_zc: operations per io_uring_enter()."""
    sqpoll: bool = False
    """io_uring_send_zc: IORING_SETUP_SQPOLL, a kernel thread polls the rings (no syscalls)."""
    zc: bool = True
    """io_uring_send_zc: IORING_OP_SEND_ZC (true) or a plain IORING_OP_SEND (false)."""
    reuse: str = "acked"
    """vmsplice_splice: refill a buffer once SIOCOUTQ shows its bytes ACKed (``acked``) or
    once the receiver has also read them (``consumed``: a local receiver's count)."""

    def to_dict(self) -> dict[str, Any]:
        """The effective scenario, for the record."""
        out = dataclasses.asdict(self)
        out["writer_at"] = list(self.writer_at)
        out["drop"] = list(self.drop)
        return out

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> Scenario:
        """The scenario ``to_dict()`` recorded (``Result.scenario``)."""
        return cls(**{k: tuple(v) if k in ("writer_at", "drop") else v
                      for k, v in values.items()})


SCENARIO_DEFAULTS = {f.name: f.default for f in dataclasses.fields(Scenario)
                     if f.default is not dataclasses.MISSING}

MIN_INTERVAL_S = 1e-9
"""The shortest timer a failure mode may set (one writer store, one reclaim pass): shorter
ones stop simulated time (float seconds) from advancing in a long run."""
MAX_WRITER_RATE = 1e9  # stores per second: one per MIN_INTERVAL_S


def _int_list(parse: Callable[[Any], int]) -> Callable[[Any], tuple[int, ...]]:
    def parser(value: Any) -> tuple[int, ...]:
        if isinstance(value, str):
            value = [v for v in value.split(",") if v.strip()]
        if not isinstance(value, list | tuple):
            value = [value]
        return tuple(parse(v.strip() if isinstance(v, str) else v) for v in value)
    return parser


def _optional(parse: Callable[[Any], Any]) -> Callable[[Any], Any]:
    return lambda v: None if v is None else parse(v)


def _text(value: Any) -> Any:
    if value is not None and not isinstance(value, str):
        raise units.UnitError(f"expected a name, got {units.describe(value)}")
    return value


_SCENARIO_PARSERS: dict[str, Callable[[Any], Any]] = {
    "size_bytes": units.parse_size,
    "cache": _text,
    "buffer_bytes": units.parse_size,
    "offset_bytes": units.parse_size,
    "buffer_offset_bytes": units.parse_size,
    "zc_buffers": units.parse_count,
    "seed": units.parse_count,
    "watch_page": _optional(units.parse_count),
    "writer": _text,
    "writer_rate": units.parse_number,
    "writer_at": _int_list(units.parse_size),
    "pressure": units.parse_count,
    "pressure_interval_s": _optional(units.parse_time),
    "pressure_reader": units.parse_rate,
    "truncate_at_s": _optional(units.parse_time),
    "loss": units.parse_number,
    "drop": _int_list(units.parse_count),
    "header_bytes": units.parse_size,
    "cork": _flag,
    "body": _text,
    "sq_batch": units.parse_count,
    "sqpoll": _flag,
    "zc": _flag,
    "reuse": _text,
}


def parse_scenario_value(key: str, value: Any, origin: str) -> Any:
    """One scenario value in base units; a bad one is a ``ConfigError`` naming ``origin``."""
    parser = _SCENARIO_PARSERS.get(key)
    if parser is None:
        return value
    try:
        return parser(value)
    except (units.UnitError, ValueError) as exc:
        raise ConfigError(f"{origin}: key {key!r}: {exc}") from None


def make_scenario(path: str, size_bytes: Any, paths: Mapping[str, Any],
                  origin: str = "scenario", origins: Mapping[str, str] | None = None,
                  **options: Any) -> Scenario:
    """Validate scenario inputs (sizes may be strings like ``"64KiB"``).

    ``origins`` names where each key came from (a file, a flag) when that is not ``origin``,
    so an error points at the file or flag to change.
    """
    origins = dict(origins or {})
    if not isinstance(path, str) or path not in paths:
        raise ConfigError(f"{origins.get('path', origin)}: unknown path "
                          f"{units.describe(path)}: expected one of {', '.join(paths)}")
    values: dict[str, Any] = {"path": path, "size_bytes": size_bytes}
    for key, value in options.items():
        if key not in SCENARIO_DEFAULTS:
            close = difflib.get_close_matches(key, list(SCENARIO_DEFAULTS), n=1)
            hint = f"did you mean {close[0]!r}?" if close else (
                f"expected one of {', '.join(SCENARIO_DEFAULTS)}")
            raise ConfigError(f"{origins.get(key, origin)}: unknown scenario key {key!r}; "
                              f"{hint}")
        values[key] = value
    written = dict(values)
    for key in list(values):
        values[key] = parse_scenario_value(key, values[key], origins.get(key, origin))
    sc = Scenario(**values)
    _check_scenario(sc, origin, origins, written)
    return sc


def _check_scenario(sc: Scenario, origin: str, origins: Mapping[str, str],
                    written: Mapping[str, Any]) -> None:
    def bad(key: str, expected: str, got: Any, item: bool = False) -> ConfigError:
        as_written = written.get(key)  # what the user typed, when it is one value
        shown = got if item or not isinstance(as_written, str | int | float) else as_written
        return ConfigError(f"{origins.get(key, origin)}: key {key!r}: expected {expected}, "
                           f"got {shown!r}")

    for key in ("size_bytes", "buffer_bytes", "zc_buffers", "sq_batch"):
        if getattr(sc, key) <= 0:
            raise bad(key, "a positive value", getattr(sc, key))
    for key in ("seed", "offset_bytes", "buffer_offset_bytes", "watch_page", "writer_rate",
                "header_bytes",
                "pressure", "pressure_reader", "truncate_at_s"):
        if (getattr(sc, key) or 0) < 0:
            raise bad(key, "zero or more", getattr(sc, key))
    if sc.offset_bytes + sc.size_bytes > MAX_FILE_BYTES:
        key = "size_bytes" if sc.size_bytes > sc.offset_bytes else "offset_bytes"
        raise bad(key, f"offset + size at most {MAX_FILE_BYTES} bytes (8 EiB, the largest "
                       f"file Linux holds)", getattr(sc, key))
    if sc.pressure_interval_s is not None and sc.pressure_interval_s < MIN_INTERVAL_S:
        raise bad("pressure_interval_s", "at least 1ns (shorter timers stop simulated time "
                                         "from advancing)", sc.pressure_interval_s)
    if sc.writer_rate > MAX_WRITER_RATE:
        raise bad("writer_rate", "at most 1e9 stores per second (one per ns: shorter "
                                 "intervals stop simulated time from advancing)", sc.writer_rate)
    if sc.cache not in ("cold", "warm"):
        raise bad("cache", "'cold' or 'warm'", sc.cache)
    if sc.body not in BODY_KINDS:
        raise bad("body", f"one of {', '.join(BODY_KINDS)}", sc.body)
    if sc.reuse not in REUSE_KINDS:
        raise bad("reuse", f"one of {', '.join(REUSE_KINDS)}", sc.reuse)
    if sc.writer is not None and sc.writer not in WRITER_KINDS:
        raise bad("writer", f"one of {', '.join(WRITER_KINDS)}", sc.writer)
    if sc.writer is None and (sc.writer_rate or sc.writer_at):
        key = "writer_rate" if sc.writer_rate else "writer_at"
        raise ConfigError(f"{origins.get(key, origin)}: key {key!r} needs 'writer' "
                          f"(one of {', '.join(WRITER_KINDS)})")
    if sc.writer is not None and not (sc.writer_rate or sc.writer_at):
        raise ConfigError(f"{origins.get('writer', origin)}: key 'writer' needs "
                          f"'writer_rate' (stores per second) or 'writer_at' (stream "
                          f"offsets): without them the writer never stores")
    for offset in sc.writer_at:
        if not 0 <= offset < sc.size_bytes:
            size_from = origins.get("size_bytes")
            raise bad("writer_at", f"offsets within the {sc.size_bytes}-byte transfer"
                                   + (f" (size from {size_from})" if size_from else ""),
                      offset, item=True)
    if not 0 <= sc.loss < 1:
        raise bad("loss", "a probability from 0 up to (not including) 1", sc.loss)
    for seg in sc.drop:
        if seg < 1:
            raise bad("drop", "segment numbers from 1 (the first segment sent)", seg, item=True)


def bundled_scenarios() -> dict[str, Path]:
    """Scenario files shipped in ``iosim/models/scenarios``, by name."""
    return {p.stem: p for p in sorted((MODELS_DIR / "scenarios").glob("*.toml"))}


SCENARIO_FILE_KEYS = {"size": "size_bytes", "pressure_interval": "pressure_interval_s",
                      "truncate_at": "truncate_at_s", "offset": "offset_bytes",
                      "buffer_offset": "buffer_offset_bytes", "buffer": "buffer_bytes"}
"""Shorter names a scenario file may use for scenario keys."""


def scenario_file(name_or_path: str | Path) -> Path:
    """A bundled scenario's file by name, or the given path; an unknown name is one line."""
    text = str(name_or_path)
    bundled = bundled_scenarios()
    if text in bundled:
        return bundled[text]
    path = Path(text)
    if path.suffix != ".toml" and not path.exists():
        raise ConfigError(f"unknown scenario {text!r}: expected one of {', '.join(bundled)} "
                          f"(`iosim scenarios` lists them) or a .toml file")
    return path


def load_scenario_file(path: str | Path, paths: Mapping[str, Any] | None = None
                       ) -> dict[str, Any]:
    """Read a scenario TOML by bundled name or path: top-level scenario keys (or a
    ``[scenario]`` table), ``path`` and ``size`` allowed, each value parsed and checked here
    so that an error names this file. With ``paths``, ``path`` must be one of them."""
    p = scenario_file(path)
    data = read_toml(p, "scenario")
    if "scenario" in data:
        if not isinstance(data["scenario"], dict):
            raise ConfigError(f"{p}: key 'scenario': expected a [scenario] table, got "
                              f"{units.describe(data['scenario'])}")
        if len(data) > 1:
            others = ", ".join(k for k in data if k != "scenario")
            raise ConfigError(f"{p}: keys {others} outside the [scenario] table; put every "
                              f"key in it or none")
        data = data["scenario"]
    out: dict[str, Any] = {}
    for key, value in data.items():
        name = SCENARIO_FILE_KEYS.get(key, key)
        if name not in SCENARIO_DEFAULTS and name not in ("path", "size_bytes"):
            close = difflib.get_close_matches(key, ["path", "size", *SCENARIO_DEFAULTS], n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise ConfigError(f"{p}: unknown scenario key {key!r}; {hint}expected one of "
                              f"path, size, {', '.join(SCENARIO_DEFAULTS)}")
        if name == "path":
            if paths is not None and (not isinstance(value, str) or value not in paths):
                raise ConfigError(f"{p}: key 'path': unknown path {units.describe(value)}: "
                                  f"expected one of {', '.join(paths)}")
            out[name] = value
            continue
        parse_scenario_value(name, value, str(p))  # a bad value names this file
        out[name] = value
    return out
