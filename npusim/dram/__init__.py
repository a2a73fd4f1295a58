"""DRAM timing model: JEDEC standards registered by name, address mapping,
FR-FCFS banks/rows/bus timing, refresh and MoCA's read throttle (docs/DRAM.md)."""

from .mapping import AddressMapping, parse_mapping
from .model import DRAM, standard_for, validate_spec
from .standards import Standard, get_standard, register, standard_names

__all__ = ["AddressMapping", "DRAM", "Standard", "get_standard", "parse_mapping", "register", "standard_for",
           "standard_names", "validate_spec"]
