import pytest

from iosim import units


@pytest.mark.parametrize(("text", "expected"), [
    ("4096", 4096), (4096, 4096), ("64KiB", 65536), ("1GiB", 1 << 30), ("1.5 KiB", 1536),
    ("10kB", 10_000), ("2MB", 2_000_000), ("3", 3),
])
def test_parse_size(text, expected):
    assert units.parse_size(text) == expected


@pytest.mark.parametrize("text", ["", "12XB", "-4KiB", "1.3", "KiB", True])
def test_parse_size_rejects(text):
    with pytest.raises(units.UnitError):
        units.parse_size(text)


@pytest.mark.parametrize(("text", "bytes_per_s"), [
    ("10Gbit/s", 1.25e9), ("25Gbps", 3.125e9), ("1Mbit/s", 125_000.0), ("2GB/s", 2e9),
    ("1GiB/s", float(1 << 30)), (1e9, 1e9),
])
def test_parse_rate_in_bytes_per_second(text, bytes_per_s):
    assert units.parse_rate(text) == pytest.approx(bytes_per_s)


@pytest.mark.parametrize("text", ["fast", "10Gbit", "10 furlongs/s", "GB/s"])
def test_parse_rate_rejects(text):
    with pytest.raises(units.UnitError):
        units.parse_rate(text)


@pytest.mark.parametrize(("text", "seconds"), [
    ("5us", 5e-6), ("2ms", 2e-3), ("0.1s", 0.1), ("100 ns", 1e-7), (0.5, 0.5),
])
def test_parse_time(text, seconds):
    assert units.parse_time(text) == pytest.approx(seconds)


def test_format_round_trip():
    assert units.format_size(65536) == "64 KiB"
    assert units.format_rate(1.25e9) == "10.00 Gbit/s"
    assert units.format_time(2e-3) == "2 ms"
