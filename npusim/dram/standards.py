"""DRAM standards: organisation and timing, one registered frozen dataclass each.

Timings are in the standard's clock cycles (tCK). Sources (facts, see
docs/DRAM.md): DRAMsim3's configuration files for DDR3-1600 (4Gb x8),
DDR4-3200 (8Gb x16) and HBM2 (8Gb x128); Ramulator 2's LPDDR5-6400 preset;
JEDEC JESD209-4 speed-bin values for LPDDR4-4266 (nanosecond limits rounded
up to tCK, the tREFI maximum down). tRTRS, which JEDEC leaves to the board and
controller, is DRAMsim3's where its config names one (DDR3, DDR4), else its
default, 2. Adding a standard means adding one `register(...)` call here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace

TIMING_NAMES = (
    "tCL", "tCWL", "tRCD", "tRP", "tRPab", "tRAS", "tCCD_S", "tCCD_L", "tRRD_S", "tRRD_L", "tFAW", "tWR", "tWTR_S",
    "tWTR_L", "tRTP", "tREFI", "tRFC", "tRTRS",
)


@dataclass(frozen=True)
class Standard:
    name: str
    tck_ps: int  # one clock of the DRAM command/data clock
    burst_length: int  # beats per burst (two beats per tCK: double data rate)
    bus_bits: int  # data bus width of one channel
    ranks: int
    bank_groups: int
    banks_per_group: int
    rows: int
    row_bytes: int  # bytes of one row across the rank (page size seen by the controller)
    tCL: int
    tCWL: int
    tRCD: int
    tRP: int  # precharge of one bank (LPDDR's tRPpb)
    tRPab: int  # precharge of all banks at once, as before a refresh (DDR3/DDR4/HBM2: tRP)
    tRAS: int
    tCCD_S: int
    tCCD_L: int
    tRRD_S: int
    tRRD_L: int
    tFAW: int
    tWR: int
    tWTR_S: int
    tWTR_L: int
    tRTP: int
    tREFI: int
    tRFC: int
    tRTRS: int  # data-bus gap when another rank of the channel takes over
    mapping: str = "ro:ra:ba:co:bg:ch"  # most significant field first; line offset below
    transfers_per_cycle: int = 2  # data beats per tCK (DDR: 2; LPDDR5's 4:1 WCK: 8)
    source: str = ""

    @property
    def transfer_rate(self) -> float:
        """Transfers per second per data pin."""
        return self.transfers_per_cycle * 1e12 / self.tck_ps

    @property
    def burst_bytes(self) -> int:
        return self.bus_bits // 8 * self.burst_length

    @property
    def burst_cycles(self) -> int:
        return max(1, self.burst_length // self.transfers_per_cycle)

    @property
    def banks(self) -> int:
        return self.bank_groups * self.banks_per_group

    @property
    def channel_bytes_per_s(self) -> float:
        return self.transfer_rate * self.bus_bits / 8

    def timings(self) -> dict[str, int]:
        return {n: getattr(self, n) for n in TIMING_NAMES}

    def with_timings(self, overrides: dict[str, int]) -> "Standard":
        return replace(self, **overrides)


_REGISTRY: dict[str, Standard] = {}


def register(std: Standard) -> Standard:
    _REGISTRY[std.name] = std
    return std


def standard_names() -> tuple[str, ...]:
    return tuple(_REGISTRY)


def get_standard(name: str) -> Standard:
    try:
        return _REGISTRY[name]
    except KeyError:
        err = ValueError(f"unknown DRAM standard {name!r} (standards: {', '.join(_REGISTRY)})")
        err.field = "standard"  # type: ignore[attr-defined]
        raise err from None


def _ns(ns: float, tck_ps: float, minimum: int = 1) -> int:
    """A nanosecond minimum in clock cycles, rounded up (JEDEC rounding)."""
    return max(minimum, math.ceil(ns * 1000 / tck_ps - 1e-9))


def _ns_max(ns: float, tck_ps: float) -> int:
    """A nanosecond maximum (tREFI) in clock cycles, rounded down so it is never exceeded."""
    return math.floor(ns * 1000 / tck_ps + 1e-9)


register(Standard(
    name="DDR3-1600", tck_ps=1250, burst_length=8, bus_bits=64, ranks=1, bank_groups=1, banks_per_group=8,
    rows=65536, row_bytes=8192,  # 1024 columns x 8 B across the rank
    tCL=11, tCWL=8, tRCD=11, tRP=11, tRPab=11, tRAS=28, tCCD_S=4, tCCD_L=4, tRRD_S=5, tRRD_L=5, tFAW=24, tWR=12,
    tWTR_S=6, tWTR_L=6, tRTP=6, tREFI=6240, tRFC=208, tRTRS=1,
    source="DRAMsim3 configs/DDR3_4Gb_x8_1600.ini (JEDEC DDR3-1600K 11-11-11)",
))

register(Standard(
    name="DDR4-3200", tck_ps=625, burst_length=8, bus_bits=64, ranks=1, bank_groups=2, banks_per_group=4,
    rows=65536, row_bytes=8192,  # x16 devices: 1024 columns x 8 B per rank
    tCL=22, tCWL=16, tRCD=22, tRP=22, tRPab=22, tRAS=52, tCCD_S=4, tCCD_L=8, tRRD_S=9, tRRD_L=11, tFAW=48, tWR=24,
    tWTR_S=4, tWTR_L=12, tRTP=12, tREFI=12480, tRFC=560, tRTRS=1,
    source="DRAMsim3 configs/DDR4_8Gb_x16_3200.ini (JEDEC DDR4-3200AA 22-22-22)",
))

_T4 = 469  # LPDDR4-4266: 2133 MHz clock
register(Standard(
    name="LPDDR4-4266", tck_ps=_T4, burst_length=16, bus_bits=16, ranks=1, bank_groups=1, banks_per_group=8,
    # 1024 columns x 2 B per x16 channel; 8 banks x 65536 rows = 8 Gb a channel (a 16 Gb
    # two-channel die), the density whose tRFCab is the 280 ns below (4 Gb channels take 180 ns)
    rows=65536, row_bytes=2048,
    tCL=36, tCWL=18, tRCD=_ns(18, _T4, 4), tRP=_ns(18, _T4, 3), tRPab=_ns(21, _T4, 3), tRAS=_ns(42, _T4, 3),
    tCCD_S=8, tCCD_L=8,
    tRRD_S=_ns(10, _T4, 4), tRRD_L=_ns(10, _T4, 4), tFAW=_ns(40, _T4), tWR=_ns(18, _T4, 6),
    tWTR_S=_ns(10, _T4, 8), tWTR_L=_ns(10, _T4, 8), tRTP=_ns(7.5, _T4, 8), tREFI=_ns_max(3904, _T4),
    tRFC=_ns(280, _T4), tRTRS=2,  # JEDEC leaves tRTRS to the controller: DRAMsim3's default
    source="JEDEC JESD209-4B LPDDR4-4266 (RL 36 / WL 18, set A; tRCD/tRPpb 18 ns, tRPab 21 ns, tRAS 42 ns, tFAW 40 ns, "
           "tRRD 10 ns, tWR 18 ns, tWTR 10 ns, tRTP 7.5 ns, tREFI 3.904 us, tRFCab 280 ns)",
))

register(Standard(
    name="LPDDR5-6400", tck_ps=1250, burst_length=16, bus_bits=16, ranks=1, bank_groups=4, banks_per_group=4,
    rows=32768, row_bytes=2048,
    # CK = 800 MHz with a 4:1 WCK: 8 data beats per CK, a BL16 burst takes 2 CK
    # tCCD_S is the 2-CK burst (another bank group's BL16 follows seamlessly); tCCD_L is 4 CK
    # (Ramulator 2's nCCD, gem5's LPDDR5_6400_1x16_BG_BL16): a line's two bursts go 4 CK apart
    # and another bank group's line fills the gap (the kernel's T_HOLE), as BL32 does in BG mode
    tCL=20, tCWL=11, tRCD=15, tRP=15, tRPab=17, tRAS=34, tCCD_S=2, tCCD_L=4, tRRD_S=4, tRRD_L=4, tFAW=16, tWR=28,
    tWTR_S=5, tWTR_L=10, tRTP=4, tREFI=_ns_max(3906, 1250), tRFC=168, tRTRS=2,
    transfers_per_cycle=8,  # tRTRS: DRAMsim3's default
    source="Ramulator 2 src/dram/impl/LPDDR5.cpp preset LPDDR5_6400 in 1.25 ns CK (nRPpb 15, nRPab 17; "
           "8Gb x16: tRFCab 210 ns, tREFI 3906 ns, rounded down); tCCD_S the 2-CK BL16 burst at 6400 MT/s, "
           "tCCD_L 4 CK",
))

register(Standard(
    name="HBM2", tck_ps=1000, burst_length=4, bus_bits=128, ranks=1, bank_groups=4, banks_per_group=4,
    # DRAMsim3 counts an HBM column as two device widths (its prefetch: `columns *= 2` in
    # Config::InitDRAMParams), so its 64 columns x 2 x 16 B make a 2 KiB row, the JEDEC
    # legacy-mode (128-bit channel) page; 16 banks x 32768 rows x 2 KiB = its 1024 MB channel
    rows=32768, row_bytes=2048,
    tCL=14, tCWL=4, tRCD=14, tRP=14, tRPab=14, tRAS=34, tCCD_S=2, tCCD_L=4, tRRD_S=4, tRRD_L=6, tFAW=30, tWR=16,
    tWTR_S=6, tWTR_L=8, tRTP=4, tREFI=3900, tRFC=260, tRTRS=2,  # its config has no tRTRS: its default
    source="DRAMsim3 configs/HBM2_8Gb_x128.ini (tCCD raised to the 2-tCK burst of BL4)",
))

def peak_bytes_per_s(std: Standard, channels: int) -> float:
    return std.transfer_rate * std.bus_bits / 8 * channels


def timing_field_names() -> tuple[str, ...]:
    return TIMING_NAMES


def standard_fields() -> tuple[str, ...]:
    return tuple(f.name for f in fields(Standard))
