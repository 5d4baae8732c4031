"""Parse and format sizes, rates and times written the way people write them.

Sizes use IEC binary prefixes (KiB = 1024 bytes) and SI decimal prefixes (kB = 1000 bytes).
Rates accept bytes (``2GB/s``, ``1GiB/s``) or bits (``10Gbit/s``, ``10Gbps``); every rate is
returned in bytes per second, so a bit rate is divided by 8 on the way in.
"""

from __future__ import annotations

import re

_NUMBER = r"(?P<num>[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)"

_SIZE_FACTOR_BYTES = {
    "": 1, "b": 1, "byte": 1, "bytes": 1,
    "k": 1000, "kb": 1000, "m": 1000**2, "mb": 1000**2, "g": 1000**3, "gb": 1000**3,
    "t": 1000**4, "tb": 1000**4,
    "kib": 1024, "mib": 1024**2, "gib": 1024**3, "tib": 1024**4,
}

_TIME_FACTOR_S = {
    "": 1.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9,
    "min": 60.0,
}

# Bit-rate prefixes are decimal by convention (10 Gbit/s = 10e9 bits/s).
_BIT_PREFIX = {"": 1, "k": 1e3, "m": 1e6, "g": 1e9, "t": 1e12}


class UnitError(ValueError):
    """A value that does not parse as the quantity expected."""


def parse_size(text: str | int | float) -> int:
    """Return a byte count from ``4096``, ``"64KiB"``, ``"1.5GB"``."""
    if isinstance(text, bool):
        raise UnitError(f"expected a size like 64KiB, got {text!r}")
    if isinstance(text, int | float):
        value = float(text)
    else:
        m = re.fullmatch(_NUMBER + r"\s*(?P<unit>[A-Za-z]*)", text.strip())
        unit = m.group("unit").lower() if m else None
        if m is None or unit not in _SIZE_FACTOR_BYTES:
            raise UnitError(f"expected a size like 4096, 64KiB or 1GB, got {text!r}")
        value = float(m.group("num")) * _SIZE_FACTOR_BYTES[unit]
    if value != int(value):
        raise UnitError(f"expected a whole number of bytes, got {text!r}")
    return int(value)


def parse_time(text: str | int | float) -> float:
    """Return seconds from ``0.001``, ``"5us"``, ``"100 ms"``."""
    if isinstance(text, bool):
        raise UnitError(f"expected a time like 5us, got {text!r}")
    if isinstance(text, int | float):
        return float(text)
    m = re.fullmatch(_NUMBER + r"\s*(?P<unit>[a-zµ]*)", text.strip())
    if m is None or m.group("unit") not in _TIME_FACTOR_S:
        raise UnitError(f"expected a time like 5us, 2ms or 0.1s, got {text!r}")
    return float(m.group("num")) * _TIME_FACTOR_S[m.group("unit")]


def parse_rate(text: str | int | float) -> float:
    """Return bytes per second from ``"10Gbit/s"``, ``"25Gbps"``, ``"2GB/s"``, ``"1GiB/s"``.

    A bare number is taken as bytes per second.
    """
    if isinstance(text, bool):
        raise UnitError(f"expected a rate like 10Gbit/s, got {text!r}")
    if isinstance(text, int | float):
        return float(text)
    s = text.strip()
    bits = re.fullmatch(_NUMBER + r"\s*(?P<prefix>[kKmMgGtT]?)(?:bit/s|bps|b/s)", s)
    if bits:
        # bits per second -> bytes per second: 8 bits per byte.
        return float(bits.group("num")) * _BIT_PREFIX[bits.group("prefix").lower()] / 8
    m = re.fullmatch(_NUMBER + r"\s*(?P<unit>[A-Za-z]*)/s", s)
    if m and m.group("unit").lower() in _SIZE_FACTOR_BYTES:
        return float(m.group("num")) * _SIZE_FACTOR_BYTES[m.group("unit").lower()]
    raise UnitError(f"expected a rate like 10Gbit/s, 25Gbps or 2GB/s, got {text!r}")


def format_size(size_bytes: float) -> str:
    """``65536`` -> ``"64 KiB"``: the largest binary unit that keeps the number >= 1."""
    for unit, factor in (("TiB", 1024**4), ("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if abs(size_bytes) >= factor:
            value = size_bytes / factor
            return f"{value:.0f} {unit}" if value == int(value) else f"{value:.2f} {unit}"
    return f"{size_bytes:.0f} B"


def format_rate(rate_bytes_per_s: float) -> str:
    """Bytes per second -> ``"9.41 Gbit/s"``: network people read bits."""
    bits_per_s = rate_bytes_per_s * 8  # 8 bits per byte
    for unit, factor in (("Tbit/s", 1e12), ("Gbit/s", 1e9), ("Mbit/s", 1e6), ("kbit/s", 1e3)):
        if bits_per_s >= factor:
            return f"{bits_per_s / factor:.2f} {unit}"
    return f"{bits_per_s:.0f} bit/s"


def format_time(seconds: float) -> str:
    """Seconds -> ``"12.3 ms"``."""
    for unit, factor in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if abs(seconds) >= factor:
            return f"{seconds / factor:.3g} {unit}"
    return f"{seconds / 1e-9:.3g} ns"
