"""Parsing of quantities with units: sizes and frequencies.

Rules (documented in docs/SOC.md):

* Sizes are bytes. An integer is a byte count. Strings take binary prefixes
  only: ``B``, ``KiB``, ``MiB``, ``GiB``, ``TiB`` (case-sensitive, optional
  space: ``16MiB``, ``32 KiB``, ``64B``). Decimal-looking ``KB``/``MB``/``GB``
  (and ``kB``, ``Kb``...) are rejected as ambiguous: in cache and memory
  specs they are used for both 10^3 and 2^10. Fractions are allowed only when
  they give a whole number of bytes (``1.5KiB`` = 1536).
* Frequencies: ``Hz``, ``kHz``, ``MHz``, ``GHz`` (decimal by definition), or an
  integer in Hz. Must be a whole number of hertz.
"""

from __future__ import annotations

import math
import re
from fractions import Fraction

_NUMBER = r"(?P<num>[0-9]+(?:\.[0-9]+)?)"
_SIZE_RE = re.compile(_NUMBER + r"\s*(?P<unit>[A-Za-z]*)\Z")
_FREQ_RE = re.compile(_NUMBER + r"\s*(?P<unit>[A-Za-z]*)\Z")

SIZE_UNITS = {"": 1, "B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40}
_AMBIGUOUS_SIZE = {"kb", "mb", "gb", "tb", "k", "m", "g", "t"}
FREQ_UNITS = {"": 1, "Hz": 1, "kHz": 10**3, "MHz": 10**6, "GHz": 10**9}


class UnitError(ValueError):
    """A quantity string that cannot be parsed; the message says why."""


def _whole(num: str, scale: int, what: str, text: str) -> int:
    try:
        value = Fraction(num) * scale
    except ValueError:  # beyond Python's digit limit for int(str)
        raise UnitError(f"{text!r} is too large") from None
    if value.denominator != 1:
        raise UnitError(f"{text!r} is not a whole number of {what}")
    return int(value)


# the largest tensor dimension any input may give (int32 shapes, as ONNX runtimes and SCALE-Sim use)
MAX_DIM = 2**31 - 1


_DECIMAL_RE = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|[+-]?(?:inf|nan)", re.IGNORECASE)


def parse_float_text(text: str) -> float:
    """A decimal number as written in a file or flag: 0.6, 1e-3, inf (Python's
    "1_0" and full-width digits are not numbers here). Raises ValueError."""
    body = text.strip()
    if not (body.isascii() and _DECIMAL_RE.fullmatch(body)):
        raise ValueError(text)
    return float(body)


def to_float(value: str | int | float) -> float:
    """A number, or its text as `parse_float_text` reads it. Raises ValueError
    (or OverflowError for an int past float range)."""
    return parse_float_text(value) if isinstance(value, str) else float(value)


def is_finite_number(value: object) -> bool:
    """An int or float (not a bool) that is finite; an int past float range is not."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def parse_int_text(text: str) -> int:
    """A decimal integer as written in a CSV: digits with an optional sign
    (Python's "1_0" and " 1 0" are not numbers here). Raises ValueError."""
    body = text[1:] if text[:1] in "+-" else text
    if not (body.isascii() and body.isdigit()):
        raise ValueError(text)
    return int(text)


def parse_size(value: object) -> int:
    """Bytes from an int or a string such as ``16MiB``; see module doc."""
    if isinstance(value, bool):
        raise UnitError(f"{value!r} is not a size")
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        raise UnitError(f"{value!r} is not a size (write bytes as an integer or use KiB/MiB/GiB)")
    if not isinstance(value, str):
        raise UnitError(f"{value!r} is not a size")
    text = value.strip()
    m = _SIZE_RE.match(text)
    if not m:
        if text.startswith("-"):
            raise UnitError(f"{value!r} is negative")
        raise UnitError(f"{value!r} is not a size (expected e.g. 64B, 32KiB, 16MiB)")
    unit = m.group("unit")
    if unit not in SIZE_UNITS:
        if unit.lower() in _AMBIGUOUS_SIZE:
            raise UnitError(
                f"{value!r} is ambiguous: write binary units (KiB, MiB, GiB) or a byte count"
            )
        raise UnitError(f"{value!r} has an unknown unit {unit!r} (use B, KiB, MiB, GiB, TiB)")
    return _whole(m.group("num"), SIZE_UNITS[unit], "bytes", value)


def parse_frequency(value: object) -> int:
    """Hertz from an int or a string such as ``1GHz`` or ``800 MHz``."""
    if isinstance(value, bool):
        raise UnitError(f"{value!r} is not a frequency")
    if isinstance(value, int):
        return value
    if isinstance(value, float):  # 1.0e9 is a float in YAML 1.2
        raise UnitError(f"{value!r} is not a frequency (write hertz as an integer or use MHz/GHz, e.g. 1GHz)")
    if not isinstance(value, str):
        raise UnitError(f"{value!r} is not a frequency (expected e.g. 1GHz)")
    text = value.strip()
    m = _FREQ_RE.match(text)
    if not m or m.group("unit") not in FREQ_UNITS:
        raise UnitError(f"{value!r} is not a frequency (expected e.g. 1GHz, 800MHz)")
    return _whole(m.group("num"), FREQ_UNITS[m.group("unit")], "hertz", value)


def capped_int(text: str, cap: int) -> int:
    """An integer's checked text (ASCII digits, maybe a '-') as an int, or cap + 1 when it has more
    than 12 digits: too large for any field capped below 10^12, and not converted (int() of
    thousands of digits is slow, and refused past 4300)."""
    return int(text) if len(text.lstrip("-0")) <= 12 else cap + 1


def count_text(n: int, noun: str, plural: str | None = None) -> str:
    """A count and its noun, plural unless one: (1, 'way') -> '1 way', (2, 'way') -> '2 ways',
    (-1, 'byte') -> '-1 byte'; `plural` for nouns that do not take an s ('Hz')."""
    return f"{n} {noun if abs(n) == 1 else plural or noun + 's'}"


def format_size(n_bytes: int) -> str:
    """Shortest exact binary-unit spelling: 16777216 -> '16MiB', 1536 -> '1536B'."""
    for unit in ("TiB", "GiB", "MiB", "KiB"):
        scale = SIZE_UNITS[unit]
        if n_bytes and n_bytes % scale == 0:
            return f"{n_bytes // scale}{unit}"
    return f"{n_bytes}B"


def bytes_text(n_bytes: float, decimals: int | None = 2) -> str:
    """A byte count for reading, in the largest binary unit it fills, to `decimals`
    ('4.92 KiB') or, with None, as short as it is exact enough ('16 MiB', '1.5 MiB'); '64 B'."""
    for unit in ("TiB", "GiB", "MiB", "KiB"):
        if abs(n_bytes) >= SIZE_UNITS[unit]:
            value = n_bytes / SIZE_UNITS[unit]
            return f"{value:g} {unit}" if decimals is None else f"{value:.{decimals}f} {unit}"
    return f"{n_bytes:g} B"


def format_frequency(hz: int) -> str:
    for unit in ("GHz", "MHz", "kHz"):
        scale = FREQ_UNITS[unit]
        if hz and hz % scale == 0:
            return f"{hz // scale}{unit}"
    return f"{hz}Hz"
