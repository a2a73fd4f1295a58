"""Physical address -> (channel, rank, bank group, bank, row, column) mapping.

An order string lists the six fields from the most to the least significant
bits above the line offset, e.g. ``ro:ra:ba:co:bg:ch`` (the default): channel
bits lowest (consecutive lines interleave channels), then bank group (so a
stream alternates bank groups and avoids tCCD_L), then columns within a row
(row-buffer hits), then bank, rank and row. Address bits above the most
significant field are dropped (addresses wrap around the device capacity).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

FIELDS = ("ch", "ra", "bg", "ba", "ro", "co")  # index order used by the kernel


def _log2(n: int, what: str) -> int:
    if n < 1 or n & (n - 1):
        err = ValueError(f"{what} must be a power of two, got {n}")
        err.field = what  # type: ignore[attr-defined]
        raise err
    return n.bit_length() - 1


def parse_mapping(order: str) -> list[str]:
    tokens = [t.strip().lower() for t in order.split(":")]
    problems = []
    missing = [f for f in FIELDS if f not in tokens]
    unknown = [t for t in tokens if t not in FIELDS]
    dupes = sorted({t for t in tokens if tokens.count(t) > 1})
    if missing:
        problems.append(f"missing {', '.join(missing)}")
    if unknown:
        problems.append(f"unknown {', '.join(repr(u) for u in unknown)}")
    if dupes:
        problems.append(f"repeated {', '.join(dupes)}")
    if problems:
        err = ValueError(f"mapping {order!r} must list each of ro, ra, bg, ba, co, ch once ({'; '.join(problems)})")
        err.field = "mapping"  # type: ignore[attr-defined]
        raise err
    return tokens


@dataclass(frozen=True)
class AddressMapping:
    order: tuple[str, ...]
    shifts: np.ndarray  # int64 [6] in FIELDS order
    masks: np.ndarray  # int64 [6]
    capacity_bytes: int  # addresses at or above it wrap

    @classmethod
    def build(cls, order: str, *, channels: int, ranks: int, bank_groups: int, banks_per_group: int, rows: int,
              row_bytes: int, line_bytes: int) -> "AddressMapping":
        tokens = parse_mapping(order)
        lines_per_row = max(1, row_bytes // line_bytes)
        bits = {"ch": _log2(channels, "channels"), "ra": _log2(ranks, "ranks"),
                "bg": _log2(bank_groups, "bank_groups"), "ba": _log2(banks_per_group, "banks"),
                "ro": _log2(rows, "rows"), "co": _log2(lines_per_row, "columns")}
        shifts = np.zeros(6, dtype=np.int64)
        masks = np.zeros(6, dtype=np.int64)
        at = _log2(line_bytes, "line_bytes")
        for tok in reversed(tokens):  # least significant first
            i = FIELDS.index(tok)
            shifts[i] = at
            masks[i] = (1 << bits[tok]) - 1
            at += bits[tok]
        return cls(tuple(tokens), shifts, masks, 1 << at)

    def decode(self, addrs) -> dict[str, np.ndarray]:
        a = np.asarray(addrs, dtype=np.int64)
        return {f: (a >> self.shifts[i]) & self.masks[i] for i, f in enumerate(FIELDS)}
