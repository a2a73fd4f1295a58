"""DRAM timing model: JEDEC standards registered by name (docs/DRAM.md)."""

from __future__ import annotations

STANDARDS = ("DDR3-1600", "DDR4-3200", "LPDDR4-4266", "LPDDR5-6400", "HBM2")


def standard_names() -> tuple[str, ...]:
    return STANDARDS


def validate_spec(spec) -> None:
    """Reject DRAM spec fields the model cannot honour (filled in by the DRAM model)."""
    return None
