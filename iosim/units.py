"""Parse and format sizes, rates and times written the way people write them.

Units are case-exact, after the ns-3 ``DataRate`` conventions: ``b`` is a bit and ``B`` a
byte; ``k M G T P`` are decimal (``kB`` = 1000 bytes) and ``Ki Mi Gi Ti Pi`` binary
(``KiB`` = 1024 bytes, ``Gib/s`` = 2^30 bits per second). ``K`` alone is refused, being
1000 to some readers and 1024 to others. A size is in bytes (``4096``, ``64KiB``, ``1.5GB``);
a rate must carry its unit, in bits (``10Gbit/s``, ``10Gb/s``, ``10Gbps``) or bytes
(``2GB/s``, ``2GBps``, ``1GiB/s``), and is returned in bytes per second, so a bit rate is
divided by 8 on the way in (a rate without a unit is refused, unless it is 0); a time is in
seconds unless it says ``ns``, ``us``, ``ms`` or ``min``. Every number must be finite; its
sign is for the caller to judge. A value that is none of these raises ``UnitError`` with
one line that lists the units there are.
"""

from __future__ import annotations

import datetime
import math
import re
from typing import Any

_NUMBER = r"(?P<num>[-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?)"
_VALUE = re.compile(_NUMBER + r"\s*(?P<unit>\S*)")

_DECIMAL = {"k": 1000, "M": 1000**2, "G": 1000**3, "T": 1000**4, "P": 1000**5}
_BINARY = {"Ki": 1024, "Mi": 1024**2, "Gi": 1024**3, "Ti": 1024**4, "Pi": 1024**5}
_PREFIXES = {"": 1, **_DECIMAL, **_BINARY}

SIZE_UNITS_BYTES: dict[str, int] = {
    "": 1, "B": 1, "byte": 1, "bytes": 1,
    **{prefix + "B": factor for prefix, factor in {**_DECIMAL, **_BINARY}.items()},
}
"""Size unit -> bytes. A bare number is bytes."""

# bit-rate suffixes and byte-rate suffixes, each with every prefix
_BIT_SUFFIXES = ("bit/s", "b/s", "bps")
_BYTE_SUFFIXES = ("B/s", "Bps")
RATE_UNITS: dict[str, tuple[int, bool]] = {
    prefix + suffix: (factor, suffix in _BIT_SUFFIXES)
    for suffix in (*_BIT_SUFFIXES, *_BYTE_SUFFIXES) for prefix, factor in _PREFIXES.items()
}
"""Rate unit -> (prefix factor, whether it counts bits). No bare numbers."""

TIME_UNITS_S: dict[str, float] = {
    "": 1.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ns": 1e-9,
    "min": 60.0,
}
"""Time unit -> seconds (``µ`` the micro sign, ``μ`` the Greek letter). A bare number is
seconds."""

_BIT_SIZE_UNITS = {prefix + b for prefix in _PREFIXES for b in ("b", "bit")}
_SIZE_HELP = "units B, kB MB GB TB PB, KiB MiB GiB TiB PiB"
_RATE_HELP = ("units: bits bit/s b/s bps, bytes B/s Bps, after a prefix k M G T P "
              "or Ki Mi Gi Ti Pi")
_TIME_HELP = "units ns us µs ms s min; a bare number is seconds"


class UnitError(ValueError):
    """A value that does not parse as the quantity expected."""


def describe(value: Any) -> str:
    """How a value that is not what was expected reads in an error: TOML words for TOML."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return f"a list {list(value)!r}"
    if isinstance(value, dict):
        return "a table {" + ", ".join(f"{k} = {describe(v)}" for k, v in value.items()) + "}"
    if isinstance(value, datetime.date | datetime.time):
        return f"a date or time {value.isoformat()}"
    return repr(value)


def _split(text: Any, quantity: str, example: str, helps: str) -> tuple[str, str]:
    """(number, unit) of a string; a non-string, non-number is refused here."""
    if isinstance(text, bool) or not isinstance(text, str | int | float):
        raise UnitError(f"expected {quantity} like {example}, got {describe(text)}")
    if not isinstance(text, str):
        return repr(text) if isinstance(text, float) else str(text), ""
    m = _VALUE.fullmatch(text.strip())
    if m is None:
        raise UnitError(f"expected {quantity} like {example} ({helps}), got {text!r}")
    return m.group("num"), m.group("unit")


def _unknown_unit(unit: str, known: dict[str, Any], text: str, quantity: str, example: str,
                  helps: str, hint: str = "") -> UnitError:
    same_letters = [u for u in known if u and u.lower() == unit.lower()]
    if not hint and unit[:1] == "K" and unit[1:2] != "i" and same_letters:
        hint = f"; K is ambiguous: write k{unit[1:]} (1000) or Ki{unit[1:]} (1024)"
    if not hint and same_letters:
        hint = f"; units are case-sensitive: did you mean {' or '.join(same_letters)}?"
    return UnitError(f"expected {quantity} like {example} ({helps}), got {text!r}{hint}")


def _finite(num: str, text: Any) -> float:
    """The number, refused unless finite (its sign is for the caller to judge)."""
    value = float(num)
    if not math.isfinite(value):
        raise UnitError(f"expected a finite number, got {describe(text)}")
    return value


def parse_size(text: str | int | float) -> int:
    """Return a byte count from ``4096``, ``"64KiB"``, ``"1.5GB"``."""
    example = "4096, 64KiB or 1.5GB"
    num, unit = _split(text, "a size", example, _SIZE_HELP)
    if unit not in SIZE_UNITS_BYTES:
        hint = ""
        if unit in _BIT_SIZE_UNITS:
            hint = f"; {unit} counts bits, a size is in bytes: {unit.replace('bit', 'b')[:-1]}B"
        raise _unknown_unit(unit, SIZE_UNITS_BYTES, str(text), "a size", example, _SIZE_HELP,
                            hint)
    value = _finite(num, text)
    if value < 0:
        raise UnitError(f"expected a size of zero or more bytes, got {describe(text)}")
    factor = SIZE_UNITS_BYTES[unit]
    if re.fullmatch(r"[-+]?[0-9]+", num):
        return int(num) * factor  # exact, however large
    size = value * factor
    if size != int(size):
        raise UnitError(f"expected a whole number of bytes, got {describe(text)}")
    return int(size)


def parse_time(text: str | int | float) -> float:
    """Return seconds from ``0.001``, ``"5us"``, ``"100 ms"``."""
    example = "5us, 2ms or 0.1s"
    num, unit = _split(text, "a time", example, _TIME_HELP)
    if unit not in TIME_UNITS_S:
        raise _unknown_unit(unit, TIME_UNITS_S, str(text), "a time", example, _TIME_HELP)
    return _finite(num, text) * TIME_UNITS_S[unit]


def parse_rate(text: str | int | float) -> float:
    """Return bytes per second from ``"10Gbit/s"``, ``"25Gbps"``, ``"2GB/s"``, ``"1GiB/s"``.

    A number without a unit is refused: bits or bytes per second, it cannot say which.
    """
    example = "10Gbit/s or 2GB/s"
    num, unit = _split(text, "a rate", example, _RATE_HELP)
    if unit == "":
        value = _finite(num, text)
        if value > 0:
            raise UnitError(f"expected a rate with its unit, like {example} ({_RATE_HELP}), "
                            f"got {describe(text)}")
        return value  # zero (or a negative, for the caller to refuse) in any unit
    if unit not in RATE_UNITS:
        raise _unknown_unit(unit, RATE_UNITS, str(text), "a rate", example, _RATE_HELP)
    value = _finite(num, text)
    factor, bits = RATE_UNITS[unit]
    if bits:
        return value * factor / 8  # bits per second -> bytes per second: 8 bits per byte
    return value * factor


def parse_count(value: Any) -> int:
    """A whole number from ``4``, ``4.0`` or ``"4"`` (the command line passes text)."""
    number = value
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            raise UnitError(f"expected a whole number, got {value!r}") from None
    if isinstance(number, bool) or not isinstance(number, int | float):
        raise UnitError(f"expected a whole number, got {describe(value)}")
    if isinstance(number, float) and not math.isfinite(number):
        raise UnitError(f"expected a finite whole number, got {describe(value)}")
    if number != int(number):
        raise UnitError(f"expected a whole number, got {describe(value)}")
    return int(number)


def parse_number(value: Any) -> float:
    """A finite number from a number or its text (the command line passes text)."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise UnitError(f"expected a number, got {describe(value)}")
    try:
        number = float(value)
    except ValueError:
        raise UnitError(f"expected a number, got {value!r}") from None
    except OverflowError:
        number = math.inf
    if not math.isfinite(number):
        raise UnitError(f"expected a finite number, got {describe(value)}")
    return number


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
