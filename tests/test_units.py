"""Units are case-exact (b bit, B byte; k decimal, Ki binary); a rate carries its unit."""

import contextlib
import math
import re
from pathlib import Path

import pytest

from iosim import ConfigError, load_profile, units

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(("text", "expected"), [
    ("4096", 4096), (4096, 4096), ("64KiB", 65536), ("1GiB", 1 << 30), ("1.5 KiB", 1536),
    ("10kB", 10_000), ("2MB", 2_000_000), ("3", 3), ("3B", 3), ("1 byte", 1), ("8 bytes", 8),
    ("1GB", 10**9), ("1TB", 10**12), ("1PB", 10**15), ("1MiB", 1 << 20), ("1TiB", 1 << 40),
    ("1PiB", 1 << 50), ("9223372036854775807", 2**63 - 1), ("1e3", 1000), (4096.0, 4096),
])
def test_parse_size(text, expected):
    assert units.parse_size(text) == expected


@pytest.mark.parametrize(("text", "message"), [
    ("", "expected a size"), ("12XB", "expected a size"), ("-4KiB", "zero or more"),
    ("1.3", "whole number of bytes"), ("KiB", "expected a size"), (True, "got true"),
    ("16Mb", "Mb counts bits, a size is in bytes: MB"),
    ("1Gibit", "Gibit counts bits, a size is in bytes: GiB"),
    ("16mb", "case-sensitive: did you mean MB?"), ("4kib", "did you mean KiB?"),
    ("10KB", "K is ambiguous: write kB (1000) or KiB (1024)"),
    ("1e999", "finite"), (math.inf, "finite"), (math.nan, "finite"),
    ([1], "got a list [1]"), ({"a": 1}, "got a table {a = 1}"), (None, "got None"),
])
def test_parse_size_rejects(text, message):
    with pytest.raises(units.UnitError, match=re.escape(message)):
        units.parse_size(text)


# every rate spelling: bits (bit/s b/s bps) and bytes (B/s Bps), decimal and binary prefixes
RATES = [
    ("10Gbit/s", 1.25e9), ("10Gb/s", 1.25e9), ("25Gbps", 3.125e9), ("1Mbit/s", 125_000.0),
    ("1Mbps", 125_000.0), ("8kbit/s", 1000.0), ("8kbps", 1000.0), ("8bit/s", 1.0),
    ("8b/s", 1.0), ("8bps", 1.0), ("1Tbit/s", 1.25e11), ("1Pbit/s", 1.25e14),
    ("10Gib/s", 10 * 2**30 / 8), ("10Gibit/s", 10 * 2**30 / 8), ("1Kibps", 128.0),
    ("1Mib/s", 2**20 / 8), ("1Tib/s", 2**40 / 8),
    ("2GB/s", 2e9), ("2GBps", 2e9), ("1MB/s", 1e6), ("1kB/s", 1e3), ("1TB/s", 1e12),
    ("1PB/s", 1e15), ("1B/s", 1.0), ("1Bps", 1.0),
    ("1GiB/s", float(1 << 30)), ("1KiB/s", 1024.0), ("1MiB/s", float(1 << 20)),
    ("1TiB/s", float(1 << 40)), ("2.5Gbit/s", 2.5e9 / 8), ("10 Gbit/s", 1.25e9),
    ("0", 0.0), (0, 0.0),
]


@pytest.mark.parametrize(("text", "bytes_per_s"), RATES)
def test_parse_rate_in_bytes_per_second(text, bytes_per_s):
    assert units.parse_rate(text) == pytest.approx(bytes_per_s, rel=1e-15)


def test_gibibits_are_not_gibibytes():
    """The newcomer's 8x trap: 10Gib/s was read as 10 GiB/s."""
    p = load_profile("teaching", {"nic.rate": "10Gib/s"})
    assert p.nic.rate_bytes_per_s * 8 == 10 * 2**30  # bytes -> bits: 8 bits per byte
    assert load_profile("teaching", {"nic.rate": "10GiB/s"}).nic.rate_bytes_per_s == 10 * 2**30


@pytest.mark.parametrize(("text", "message"), [
    ("fast", "expected a rate"), ("10Gbit", "expected a rate"), ("10 furlongs/s", "a rate"),
    ("GB/s", "expected a rate"), ("10gbps", "case-sensitive: did you mean Gbps or GBps?"),
    ("10Kbps", "K is ambiguous"), ("inf", "expected a rate"), ("1e999Gbit/s", "finite"),
    (math.inf, "finite"), (math.nan, "finite"), ([1], "a list [1]"),
])
def test_parse_rate_rejects(text, message):
    with pytest.raises(units.UnitError, match=re.escape(message)):
        units.parse_rate(text)


@pytest.mark.parametrize("bare", ["5", 5, 1e9, "1.25e9"])
def test_a_rate_without_a_unit_is_one_line_listing_the_units(bare):
    with pytest.raises(units.UnitError) as exc:
        units.parse_rate(bare)
    message = str(exc.value)
    assert "\n" not in message and message.startswith("expected a rate with its unit")
    for unit in ("bit/s", "b/s", "bps", "B/s", "Bps", "k M G T P", "Ki Mi Gi Ti Pi"):
        assert unit in message


def test_a_bare_profile_rate_is_refused_naming_file_and_key(tmp_path):
    path = tmp_path / "p.toml"
    path.write_text('extends = "teaching"\n[nic]\nrate = 5\n')
    with pytest.raises(ConfigError, match=rf"^{re.escape(str(path))}: key 'nic\.rate': "
                                          r"expected a rate with its unit"):
        load_profile(path)


@pytest.mark.parametrize(("text", "seconds"), [
    ("5us", 5e-6), ("5µs", 5e-6), ("5μs", 5e-6), ("2ms", 2e-3), ("0.1s", 0.1),
    ("100 ns", 1e-7), (0.5, 0.5), ("1min", 60.0), ("0.001", 0.001), ("1e-3s", 1e-3),
])
def test_parse_time(text, seconds):
    assert units.parse_time(text) == pytest.approx(seconds)


@pytest.mark.parametrize(("text", "message"), [
    ("1MS", "did you mean ms?"), ("5 sec", "expected a time"), ("nan", "expected a time"),
    (math.nan, "finite"), ("1e999s", "finite"), ({"x": 1}, "a table"),
])
def test_parse_time_rejects(text, message):
    with pytest.raises(units.UnitError, match=re.escape(message)):
        units.parse_time(text)


def test_format_round_trip():
    assert units.format_size(65536) == "64 KiB"
    assert units.format_rate(1.25e9) == "10.00 Gbit/s"
    assert units.format_time(2e-3) == "2 ms"
    for rate in (1.0, 1.25e3, 1.25e6, 1.25e9, 1.25e12):
        assert units.parse_rate(units.format_rate(rate).replace(" ", "")) == pytest.approx(rate)


NOT_QUANTITIES = {"GbE", "MSS", "NVMe", "cores", "local", "rpm", "server", "x",
                  "d", "f", "g", "e", "n"}  # and format specs in Python strings (02d, .1f)


def _documented_values() -> set[str]:
    """Every number-with-unit in the README, docs and TOML files (code spans, strings)."""
    files = [ROOT / "README.md", *(ROOT / "docs").glob("*.md"),
             *(ROOT / "iosim" / "models").rglob("*.toml"), *(ROOT / "notebooks").glob("*.py"),
             *(ROOT / "iosim" / "experiments").glob("*.py")]
    found = set()
    for f in files:
        text = f.read_text()
        spans = (re.findall(r"```.*?```", text, re.S) + re.findall(r"`[^`\n]+`", text)
                 if f.suffix == ".md" else re.findall(r'"[^"\n]*"', text))  # TOML, Python
        for span in spans:
            for m in re.finditer(r"(?<![\w.])(\d+(?:\.\d+)?(?:e-?\d+)?\s?([A-Za-zµμ]+(?:/s)?))"
                                 r"(?![\w/])", span):
                if m.group(2) not in NOT_QUANTITIES:
                    found.add(m.group(1))
    return found


def test_every_unit_spelling_in_the_docs_parses():
    values = _documented_values()
    assert {"10Gbit/s", "64KiB", "100us", "2GB/s"} <= values  # the scan finds them
    for value in sorted(values):
        parsed = []
        for parse in (units.parse_size, units.parse_rate, units.parse_time):
            with contextlib.suppress(units.UnitError):
                parsed.append(parse(value))
        assert parsed, f"{value!r} in the docs is no size, rate or time"
