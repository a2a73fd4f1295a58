"""DRAM model: exact single-request latencies, bandwidth, interference, throttle, bad input."""

import json
import math

import numpy as np
import pytest

from npusim.dram import DRAM, get_standard, standard_names, validate_spec
from npusim.dram import kernel as K
from npusim.soc import DRAMSpec

GHZ = 10**9


def ns_cycles(ns: float) -> int:
    return math.ceil(ns - 1e-9)  # SoC cycles at 1 GHz


def test_registry_has_the_five_standards():
    assert set(standard_names()) >= {"DDR3-1600", "DDR4-3200", "LPDDR4-4266", "LPDDR5-6400", "HBM2"}
    for name in standard_names():
        std = get_standard(name)
        assert std.tRAS >= std.tRCD and std.tREFI > std.tRFC and std.source


@pytest.mark.parametrize("name", ["DDR3-1600", "DDR4-3200", "LPDDR4-4266", "LPDDR5-6400", "HBM2"])
def test_idle_hit_and_conflict_latencies(name):
    std = get_standard(name)
    tck_ns = std.tck_ps / 1000
    bursts = max(1, 64 // std.burst_bytes)
    burst_ns = (std.burst_cycles + (bursts - 1) * max(std.burst_cycles, std.tCCD_L)) * tck_ns
    d = DRAM.from_preset(name, clock_hz=GHZ, xor_hash=False)
    # an idle bank: activate, read
    assert d.serve(np.array([0]), arrival_cycle=0)[0] == ns_cycles((std.tRCD + std.tCL) * tck_ns + burst_ns)
    # the same row later (before the first refresh): a row hit
    t = 1_000
    next_column = 1 << int(d.mapping.shifts[5])
    assert d.serve(np.array([next_column]), arrival_cycle=t)[0] - t == ns_cycles(std.tCL * tck_ns + burst_ns)
    # what the engine and the mapper take as a read's least DRAM latency is that row hit
    assert d.min_read_cycles() == ns_cycles(std.tCL * tck_ns + burst_ns)
    # another row of the same bank: precharge first
    rows_bit = int(d.mapping.shifts[4])
    t = 2_000
    got = d.serve(np.array([1 << rows_bit]), arrival_cycle=t)[0] - t
    assert got == ns_cycles((std.tRP + std.tRCD + std.tCL) * tck_ns + burst_ns)
    s = d.stats
    assert (s["row_misses"], s["row_hits"], s["row_conflicts"], s["reads"]) == (1, 1, 1, 3)


@pytest.mark.parametrize("name, row_bytes, rank_bytes", [
    # DRAMsim3 configs: columns x device_width (x 2 on HBM, whose "column" is two
    # device widths) x devices per rank; rank = banks x rows x row
    ("DDR3-1600", 1024 * 8 * 8 // 8, 4 << 30),  # DDR3_4Gb_x8_1600: 8 chips of 4 Gb
    ("DDR4-3200", 1024 * 16 * 4 // 8, 4 << 30),  # DDR4_8Gb_x16_3200: 4 chips of 8 Gb
    ("HBM2", 64 * 2 * 128 // 8, 1 << 30),  # HBM2_8Gb_x128: channel_size 1024 MB, one rank
    ("LPDDR5-6400", 1024 * 16 // 8, 1 << 30),  # Ramulator 2 LPDDR5_8Gb_x16
    # JESD209-4: tRFCab 280 ns is the 8 Gb-a-channel figure (a 4 Gb channel takes 180 ns):
    # the rows must make 8 Gb (they made 4 Gb beside the 280 ns)
    ("LPDDR4-4266", 1024 * 16 // 8, 1 << 30),
])
def test_rows_and_rank_capacity_are_the_sources(name, row_bytes, rank_bytes):
    std = get_standard(name)
    assert std.row_bytes == row_bytes
    assert std.banks * std.rows * std.row_bytes == rank_bytes


def test_an_hbm2_row_holds_32_lines():
    # DRAMsim3's mapping (column bits lowest): 32 lines of one 2 KiB row, one
    # activate then 31 row hits (its stream measured 96.7 % hits, ~31/32)
    d = DRAM.from_preset("HBM2", clock_hz=GHZ, xor_hash=False, mapping="ro:ra:bg:ba:ch:co")
    d.serve(np.arange(32, dtype=np.int64) * 64, arrival_cycle=0)
    assert (d.stats["row_misses"], d.stats["row_hits"], d.stats["row_conflicts"]) == (1, 31, 0)


def test_closed_page_never_hits():
    d = DRAM.from_preset("DDR4-3200", clock_hz=GHZ, page_policy="closed", xor_hash=False)
    d.serve(np.array([0]), arrival_cycle=0)
    got = d.serve(np.array([1 << int(d.mapping.shifts[5])]), arrival_cycle=1_000)[0] - 1_000
    assert got == ns_cycles((22 + 22 + 4) * 0.625)
    assert d.stats["row_hits"] == 0


def _ddr4_line(d: DRAM, group: int = 0, bank: int = 0, row: int = 0, column: int = 0) -> int:
    shifts = d.mapping.shifts
    return int(group << int(shifts[2]) | bank << int(shifts[3]) | row << int(shifts[4]) | column << int(shifts[5]))


def _ddr4(**kw) -> DRAM:
    return DRAM.from_preset("DDR4-3200", clock_hz=GHZ, xor_hash=False, **kw)


def test_each_bank_and_bus_constraint_times_its_request():
    """One JEDEC constraint at a time, each the last to clear (DDR4-3200, plain mapping, 1 GHz)."""
    std = get_standard("DDR4-3200")
    tck, burst = std.tck_ps / 1000, std.burst_cycles
    read = std.tRCD + std.tCL + burst  # activate, then the read's CAS and its data

    # a conflict right behind an activate precharges only tRAS after it
    d = _ddr4()
    done = d.serve(np.array([_ddr4_line(d, row=0), _ddr4_line(d, row=1)]), arrival_cycle=0)
    assert done[1] == ns_cycles((std.tRAS + std.tRP + read) * tck)
    # a conflict behind a read hit precharges tRTP after the hit's CAS
    d = _ddr4()
    d.serve(np.array([_ddr4_line(d)]), arrival_cycle=0)
    done = d.serve(np.array([_ddr4_line(d, column=1), _ddr4_line(d, row=1)]), arrival_cycle=1000) - 1000
    assert done[1] == ns_cycles((std.tRTP + std.tRP + read) * tck)
    # a read conflict behind a write hit precharges tWR after the written data
    d = _ddr4()
    d.serve(np.array([_ddr4_line(d)]), arrival_cycle=0)
    d.serve(np.array([_ddr4_line(d, column=1)]), is_write=True, arrival_cycle=1000)
    done = d.serve(np.array([_ddr4_line(d, row=1)]), arrival_cycle=1000) - 1000
    assert done[0] == ns_cycles((std.tCWL + burst + std.tWR + std.tRP + read) * tck)
    # two activates in one bank group are tRRD_L apart
    d = _ddr4()
    done = d.serve(np.array([_ddr4_line(d, 0, 0), _ddr4_line(d, 0, 1)]), arrival_cycle=0)
    assert done[1] == ns_cycles((std.tRRD_L + read) * tck)
    # closed page: the bank's next activate waits for tRAS, then the precharge's tRP
    d = _ddr4(page_policy="closed")
    done = d.serve(np.array([_ddr4_line(d), _ddr4_line(d, column=1)]), arrival_cycle=0)
    assert done[1] == ns_cycles((std.tRAS + std.tRP + read) * tck)
    # read to write on the bus: the write's CAS comes CL + burst + 2 tCK - CWL after the read's
    d = _ddr4()
    for group in (0, 1):
        d.serve(np.array([_ddr4_line(d, group)]), arrival_cycle=0)
    d.serve(np.array([_ddr4_line(d, 0, column=1)]), arrival_cycle=1000)
    done = d.serve(np.array([_ddr4_line(d, 1, column=1)]), is_write=True, arrival_cycle=1000) - 1000
    assert done[0] == ns_cycles((std.tCL + burst + 2 - std.tCWL + std.tCWL + burst) * tck)


def test_a_fifth_activate_waits_for_the_four_activate_window():
    # DDR4-3200 (2 bank groups): activates to g0b0, g1b0, g0b1, g1b1, g0b2 go out at 0, tRRD_S (9),
    # 18 (tRRD_S after the last; tRRD_L = 11 after its group's), 27, and then not at 36 but at
    # tFAW = 48 after the first: four activates per window
    std = get_standard("DDR4-3200")
    assert (std.bank_groups, std.tRRD_S, std.tRRD_L, std.tFAW) == (2, 9, 11, 48)
    tck, read = std.tck_ps / 1000, std.tRCD + std.tCL + std.burst_cycles
    d = _ddr4()
    lines = [_ddr4_line(d, g, b) for g, b in ((0, 0), (1, 0), (0, 1), (1, 1), (0, 2))]
    done = d.serve(np.array(lines), arrival_cycle=0)
    assert done.tolist() == [ns_cycles((act + read) * tck) for act in (0, 9, 18, 27, 48)]
    assert d.stats["row_misses"] == 5


def test_a_refresh_closes_the_ranks_rows_and_blocks_it_for_trfc():
    # the first refresh of the only rank is due at tREFI (7.8 us): a row hit arriving just before it is
    # served as a hit; one arriving just after finds its row closed and waits out tRFC (350 ns), then
    # activates; without refresh it is a hit again
    std = get_standard("DDR4-3200")
    tck = std.tck_ps / 1000
    refresh_ns, rfc_ns = std.tREFI * tck, std.tRFC * tck
    assert (refresh_ns, rfc_ns) == (7800, 350)
    hit = ns_cycles((std.tCL + std.burst_cycles) * tck)
    for refresh, t, want, kind in ((True, 7_700, hit, "row_hits"),
                                   (True, 7_801, ns_cycles(refresh_ns + rfc_ns + (std.tRCD + std.tCL + std.burst_cycles)
                                                           * tck) - 7_801, "row_misses"),
                                   (False, 7_801, hit, "row_hits")):
        d = _ddr4(refresh=refresh)
        d.serve(np.array([_ddr4_line(d)]), arrival_cycle=0)  # opens row 0
        assert d.serve(np.array([_ddr4_line(d, column=1)]), arrival_cycle=t)[0] - t == want, (refresh, t)
        assert d.stats[kind] == (2 if kind == "row_misses" else 1), (refresh, t)


@pytest.mark.parametrize("page_policy", ["open", "closed"])
def test_a_refresh_waits_until_every_bank_of_the_rank_can_precharge(page_policy):
    # a write whose data ends just as the rank's first refresh falls due keeps its bank busy for
    # tWR: the refresh (which needs every bank precharged) starts tWR + tRP after the data, and a
    # read of another bank arriving when the refresh is due activates tRFC after that (ps: 1 THz)
    std = get_standard("DDR4-3200")
    tck = std.tck_ps
    d = DRAM.from_preset("DDR4-3200", clock_hz=10**12, xor_hash=False, page_policy=page_policy)
    due = std.tREFI * tck
    write_at = due - (std.tRCD + std.tCWL + std.burst_cycles) * tck  # ACT at once, data ends at `due`
    assert d.serve(np.array([_ddr4_line(d, bank=0)]), is_write=True, arrival_cycle=write_at)[0] == due
    assert std.tWR * tck > std.tRAS * tck - (due - write_at)  # tWR, not tRAS, is the bank's last limit
    start = due + (std.tWR + std.tRP) * tck
    got = d.serve(np.array([_ddr4_line(d, bank=1)]), arrival_cycle=due)[0]
    assert got == start + (std.tRFC + std.tRCD + std.tCL + std.burst_cycles) * tck
    # the refresh after it is due tREFI after the first was due, not after it started
    assert d.rank_state[0, K.R_NEXT_REF] == 2 * due


@pytest.mark.parametrize("name", ["DDR3-1600", "DDR4-3200", "LPDDR4-4266", "LPDDR5-6400", "HBM2"])
def test_a_refresh_starts_tRPab_after_the_last_bank_can_precharge(name):
    # a read opens bank 0 tRAS before the first refresh is due, so the bank may precharge just when it
    # is due; the refresh then waits one all-bank precharge, tRPab (LPDDR4: 21 ns against tRPpb's 18),
    # and a read of bank 1 arriving when it is due activates tRFC after that (ps: 1 THz)
    std = get_standard(name)
    tck = std.tck_ps
    d = DRAM.from_preset(name, clock_hz=10**12, xor_hash=False)
    due = std.tREFI * tck
    d.serve(np.array([_line(d, bank=0)]), arrival_cycle=due - std.tRAS * tck)
    assert d.bank_state[0, K.B_PRE_READY] == due  # tRAS, not tRTP, is the bank's last limit
    bursts = max(1, 64 // std.burst_bytes)
    data = std.burst_cycles + (bursts - 1) * max(std.burst_cycles, std.tCCD_L)
    got = d.serve(np.array([_line(d, bank=1)]), arrival_cycle=due)[0]
    assert got == due + (std.tRPab + std.tRFC + std.tRCD + std.tCL + data) * tck
    assert (std.tRPab > std.tRP) == name.startswith("LPDDR")


def test_trefi_never_exceeds_its_nanosecond_maximum():
    # tREFI is a maximum average interval: rounded down to tCK, never up (LPDDR4: 8324 tCK, 3903.96 ns)
    limit_ns = {"DDR3-1600": 7800, "DDR4-3200": 7800, "LPDDR4-4266": 3904, "LPDDR5-6400": 3906, "HBM2": 3900}
    for name, ns in limit_ns.items():
        std = get_standard(name)
        assert ns * 1000 - std.tck_ps < std.tREFI * std.tck_ps <= ns * 1000, name


@pytest.mark.parametrize("name, channels", [("DDR3-1600", 2), ("DDR4-3200", 4), ("LPDDR4-4266", 4),
                                            ("LPDDR5-6400", 4), ("HBM2", 8)])
def test_streaming_and_random_bandwidth(name, channels):
    n = 1 << 16
    d = DRAM.from_preset(name, channels=channels, clock_hz=GHZ)
    done = d.serve(np.arange(n, dtype=np.int64) * 64, arrival_cycle=0)
    eff = n * 64 / done.max() / d.peak_bytes_per_cycle
    hits = d.stats["row_hits"] / n
    assert 0.80 <= eff <= 0.98, eff
    assert hits >= 0.90
    stream_eff = eff
    addrs = np.random.default_rng(1).integers(0, 4 << 30, n) // 64 * 64
    r = DRAM.from_preset(name, channels=channels, clock_hz=GHZ)
    done = r.serve(addrs, arrival_cycle=0)
    eff = n * 64 / done.max() / r.peak_bytes_per_cycle
    assert r.stats["row_hits"] / n <= 0.20
    # random lines cannot beat streaming nor the activation limits: four rows
    # per tFAW and one per tRRD_S in a rank, one per tRAS + tRP in a bank
    std = get_standard(name)
    ns = std.tck_ps / 1000
    ranks = r.ranks * channels
    acts_per_ns = min(4 * ranks / (std.tFAW * ns), ranks / (std.tRRD_S * ns),
                      ranks * std.bank_groups * std.banks_per_group / ((std.tRAS + std.tRP) * ns))
    act_bound = acts_per_ns * 64 / r.peak_bytes_per_cycle  # 1 GHz: a cycle is 1 ns
    assert eff <= stream_eff and eff <= act_bound, (eff, act_bound)
    # FR-FCFS serves whichever bank is ready first: random lines gain over strict order
    f = DRAM.from_preset(name, channels=channels, clock_hz=GHZ, scheduler="fcfs")
    fcfs_eff = n * 64 / f.serve(addrs, arrival_cycle=0).max() / f.peak_bytes_per_cycle
    assert eff > 1.3 * fcfs_eff, (eff, fcfs_eff)


def test_conservation_and_minimum_latency():
    d = DRAM.from_preset("DDR4-3200", channels=2, clock_hz=GHZ)
    rng = np.random.default_rng(3)
    total = 0
    t = 0
    for _ in range(50):
        n = int(rng.integers(1, 200))
        addrs = rng.integers(0, 1 << 30, n) // 64 * 64
        writes = rng.random(n) < 0.3
        done = d.serve(addrs, is_write=writes, arrival_cycle=t, source=int(rng.integers(0, 3)))
        assert done.shape == (n,) and (done >= t + d.min_read_cycles() - 10).all()
        assert (done[~writes] >= t + d.min_read_cycles()).all()
        total += n
        t += int(rng.integers(0, 2000))
    s = d.stats
    assert s["writes"] > 0 and s["reads"] + s["writes"] == total
    assert sum(s["bytes_per_source"].values()) == total * 64


def test_a_streaming_co_runner_slows_random_reads():
    rng = np.random.default_rng(7)
    batches = [rng.integers(0, 1 << 30, 64) // 64 * 64 for _ in range(100)]

    def run(with_stream: bool) -> int:
        d = DRAM.from_preset("DDR4-3200", channels=1, clock_hz=GHZ)
        finish = 0
        for i, b in enumerate(batches):
            t = i * 400
            if with_stream:
                d.serve((np.arange(128) + i * 128 + (1 << 24)) * 64, arrival_cycle=t, source=1)
            finish = max(finish, int(d.serve(b, arrival_cycle=t, source=0).max()))
        return finish

    assert run(True) > 1.2 * run(False)


def test_moca_throttle_caps_read_bandwidth():
    window, target = 1000, 4096
    d = DRAM.from_preset("DDR4-3200", channels=4, clock_hz=GHZ)
    d.set_throttle(0, window, target)
    n = 20_000
    done = d.serve(np.arange(n, dtype=np.int64) * 64, arrival_cycle=0, source=0)
    achieved = n * 64 / done.max()
    assert achieved == pytest.approx(target / window, rel=0.15)
    # writes are not throttled, and clearing restores full speed
    w = d.serve(np.arange(n, dtype=np.int64) * 64 + (1 << 28), is_write=True, arrival_cycle=int(done.max()))
    assert n * 64 / (w.max() - done.max()) > 5 * target / window
    d.clear_throttle(0)
    t0 = int(w.max())
    r = d.serve(np.arange(n, dtype=np.int64) * 64 + (1 << 29), arrival_cycle=t0)
    assert n * 64 / (r.max() - t0) > 5 * target / window



def test_a_throttle_cleared_and_set_again_at_once_changes_nothing():
    # MoCA clears and sets throttles at every co-runner's layer boundary: that must not forgive
    # the overshoot a source has run up, nor restart its windows
    def run(clear_between: bool) -> np.ndarray:
        d = DRAM.from_preset("DDR4-3200", channels=4, clock_hz=GHZ)
        d.set_throttle(0, 1000, 4096)
        first = d.serve(np.arange(3000, dtype=np.int64) * 64, arrival_cycle=0, source=0)
        if clear_between:
            d.clear_throttle(0)
            d.set_throttle(0, 1000, 4096)
        return np.concatenate([first, d.serve(np.arange(3000, dtype=np.int64) * 64 + (1 << 28),
                                              arrival_cycle=int(first.max()), source=0)])

    assert np.array_equal(run(True), run(False))

def test_throttle_only_its_source():
    d = DRAM.from_preset("DDR4-3200", channels=4, clock_hz=GHZ)
    d.set_throttle(3, 1000, 1024)
    done = d.serve(np.arange(4096, dtype=np.int64) * 64, arrival_cycle=0, source=1)
    assert 4096 * 64 / done.max() > 50


def spec(**kw):
    base = dict(standard="DDR4-3200", channels=4)
    base.update(kw)
    return DRAMSpec(**base)


@pytest.mark.parametrize("kw, field", [
    (dict(standard="DDR9"), "standard"),
    (dict(timing=(("tRAS", 10),)), "timing.tRAS"),
    (dict(timing=(("tXYZ", 3),)), "timing.tXYZ"),
    (dict(timing=(("tREFI", 100),)), "timing.tREFI"),
    (dict(timing=(("tRPab", 21),)), "timing.tRPab"),
    (dict(timing=(("tRP", 23),)), "timing.tRP"),
    (dict(timing=(("tRTRS", -1),)), "timing.tRTRS"),
    (dict(mapping="ro:ra:ba:co:ch"), "mapping"),
    (dict(mapping="ro:ra:bg:ba:co:ch:ch"), "mapping"),
    (dict(channels=3), "channels"),
])
def test_bad_specs_name_the_field(kw, field):
    with pytest.raises(ValueError) as info:
        validate_spec(spec(**kw))
    assert info.value.field == field


def test_bad_arguments():
    with pytest.raises(ValueError, match="channel count"):
        DRAM.from_preset("DDR4-3200", channels=6)
    with pytest.raises(ValueError, match="unknown DRAM standard"):
        DRAM.from_preset("SDRAM-66")
    d = DRAM.from_preset("DDR4-3200")
    with pytest.raises(ValueError, match="window_cycles"):
        d.set_throttle(0, 0, 100)


def test_cli_rejects_bad_timing_override(cli, tmp_path):
    path = tmp_path / "soc.yaml"
    path.write_text("base: camdn\ndram:\n  timing:\n    tRAS: 5\n")
    r = cli("soc", "show", str(path))
    assert r.returncode == 2
    assert r.stderr.strip().startswith(f"error: {path}:4: dram.timing.tRAS: tRAS (row active time) must be at least tRCD")
    path.write_text("base: camdn\ndram:\n  timing:\n    tRCD: 1000000\n")  # blamed on what the user set
    r = cli("soc", "show", str(path))
    assert r.returncode == 2 and r.stderr.strip() == (
        f"error: {path}:4: dram.timing.tRCD: tRAS (row active time) must be at least tRCD (tRAS = 52, tRCD = 1000000)")
    path.write_text("base: camdn\ndram:\n  mapping: ro:ba:co\n")
    r = cli("soc", "show", str(path))
    assert r.returncode == 2 and f"{path}:3: dram.mapping: mapping 'ro:ba:co' must list" in r.stderr
    path.write_text("base: camdn\ndram:\n  timing:\n    tRCD: 24\n")
    r = cli("soc", "show", str(path), "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["dram"]["timing"] == {"tRCD": 24}


@pytest.mark.parametrize("name", ["DDR4-3200", "LPDDR5-6400", "HBM2"])
@pytest.mark.parametrize("hashed", [False, True])
def test_every_line_of_the_capacity_has_its_own_bank_row_and_column(name, hashed):
    # a device shrunk to 4 rows of 4 lines, 2 channels x 2 ranks: each line served
    # alone on a fresh model opens one row of one bank; every bank must take the
    # same number of lines and no two lines may share bank, row and column
    from dataclasses import replace

    std = replace(get_standard(name), rows=4, row_bytes=256)
    n = 2 * 2 * std.banks * std.rows * 4
    seen = set()
    per_bank = np.zeros(2 * 2 * std.banks, dtype=np.int64)
    first_channels, first_groups = [], []
    for line in range(n):
        d = DRAM(std, channels=2, ranks=2, clock_hz=GHZ, xor_hash=hashed)
        d.serve(np.array([line * 64]), arrival_cycle=0)
        (bank,) = np.nonzero(d.bank_state[:, K.B_OPEN_ROW] >= 0)[0]
        column = int(d.mapping.decode([line * 64])["co"][0])  # never hashed
        seen.add((int(bank), int(d.bank_state[bank, K.B_OPEN_ROW]), column))
        per_bank[bank] += 1
        if line < 2 * std.bank_groups:
            first_channels.append(bank // (2 * std.banks))
            first_groups.append(bank // std.banks_per_group % std.bank_groups)
    assert len(seen) == n  # no aliasing inside the capacity
    assert (per_bank == n // len(per_bank)).all()  # every bank of every rank and channel reached, evenly
    # consecutive lines alternate the channels first, then the bank groups (docs/DRAM.md)
    assert first_channels[:2] in ([0, 1], [1, 0]) and len(set(first_groups)) == std.bank_groups


def test_xor_hashing_spreads_strided_streams():
    # lines 512 B apart: without hashing they all land on one channel and bank group
    addrs = np.arange(4096, dtype=np.int64) * 512
    plain = DRAM.from_preset("DDR4-3200", channels=4, clock_hz=GHZ, xor_hash=False)
    hashed = DRAM.from_preset("DDR4-3200", channels=4, clock_hz=GHZ)
    t_plain = plain.serve(addrs, arrival_cycle=0).max()
    t_hashed = hashed.serve(addrs, arrival_cycle=0).max()
    assert t_hashed * 3 < t_plain
    assert sum(1 for b in hashed.stats["busy_cycles_per_channel"] if b) == 4
    assert sum(1 for b in plain.stats["busy_cycles_per_channel"] if b) == 1


def test_peak_bandwidth_in_soc_cycles():
    assert DRAM.from_preset("DDR4-3200", channels=4, clock_hz=GHZ).peak_bytes_per_cycle == pytest.approx(102.4)
    assert DRAM.from_preset("DDR3-1600", channels=2, clock_hz=GHZ).peak_bytes_per_cycle == pytest.approx(25.6)
    assert DRAM.from_preset("DDR4-3200", channels=1, clock_hz=2 * GHZ).peak_bytes_per_cycle == pytest.approx(12.8)
    assert K.N_T == len(DRAM.from_preset("HBM2").T)


def test_the_docs_standards_table_is_the_registry():
    """docs/DRAM.md's table (peak a channel, organisation, every timing) states the registered values."""
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "docs" / "DRAM.md").read_text()
    rows = {c[0]: c for c in ([x.strip() for x in line.strip("|").split("|")] for line in text.splitlines()
                              if line.startswith("| ") and line.count("|") == 20)}
    for name in standard_names():
        (_, _, bl, bus, peak, banks, row, cl_rcd_rp_ras, rpab, cwl, ccd, rrd, faw, wr, wtr, rtp, refi_rfc,
         rtrs, _) = rows[name]
        s = get_standard(name)
        assert peak == f"{s.channel_bytes_per_s / 1e9:.3g} GB/s", name
        assert (bl, bus, row) == (str(s.burst_length), f"{s.bus_bits} b", f"{s.row_bytes // 1024} KiB"), name
        assert banks == (f"{s.bank_groups}x{s.banks_per_group}" if s.bank_groups > 1 else str(s.banks)), name
        got = (cl_rcd_rp_ras, rpab, cwl, ccd, rrd, faw, wr, wtr, rtp, refi_rfc, rtrs)
        assert got == (f"{s.tCL}-{s.tRCD}-{s.tRP}-{s.tRAS}", str(s.tRPab), str(s.tCWL), f"{s.tCCD_S}/{s.tCCD_L}",
                       f"{s.tRRD_S}/{s.tRRD_L}", str(s.tFAW), str(s.tWR), f"{s.tWTR_S}/{s.tWTR_L}", str(s.tRTP),
                       f"{s.tREFI} / {s.tRFC}", str(s.tRTRS)), name


def _line(d, bank_group=0, bank=0, row=0, column=0):
    """Address of one line of a plain (unhashed) single-rank mapping."""
    sh = d.mapping.shifts
    return int(bank_group << int(sh[2]) | bank << int(sh[3]) | row << int(sh[4]) | column << int(sh[5]))


def test_write_to_read_turnaround():
    # a read behind a write on the same channel waits tWTR_S after the write's
    # data (tWTR_L in the same bank group): CWL + burst + tWTR + CL + burst
    std = get_standard("DDR4-3200")
    tck_ns = std.tck_ps / 1000
    d = DRAM.from_preset("DDR4-3200", clock_hz=GHZ, xor_hash=False)
    for bg, ba in ((0, 0), (1, 0), (0, 1)):  # open three rows: every later access is a row hit
        d.serve(np.array([_line(d, bg, ba)]), arrival_cycle=0)
    for t, (bg, ba), wtr in ((1_000, (1, 0), std.tWTR_S), (2_000, (0, 1), std.tWTR_L)):
        column = t // 1_000
        write = d.serve(np.array([_line(d, 0, 0, column=column)]), is_write=True, arrival_cycle=t)[0] - t
        assert write == ns_cycles((std.tCWL + std.burst_cycles) * tck_ns)
        read = d.serve(np.array([_line(d, bg, ba, column=column)]), arrival_cycle=t)[0] - t
        assert read == ns_cycles((std.tCWL + std.burst_cycles + wtr + std.tCL + std.burst_cycles) * tck_ns)
    assert d.stats["row_hits"] == 4


def test_frfcfs_serves_a_closed_bank_before_an_older_row_conflict():
    # the conflict needs precharge + activate (tRP + tRCD), the closed bank only
    # an activate (tRCD): the younger request goes first and waits for nobody
    std = get_standard("DDR4-3200")
    tck_ns = std.tck_ps / 1000
    d = DRAM.from_preset("DDR4-3200", clock_hz=GHZ, xor_hash=False)
    d.serve(np.array([_line(d, 0, 0, row=0)]), arrival_cycle=0)
    t = 1_000
    conflict, closed = d.serve(np.array([_line(d, 0, 0, row=1), _line(d, 1, 1, row=0)]), arrival_cycle=t) - t
    assert closed == ns_cycles((std.tRCD + std.tCL + std.burst_cycles) * tck_ns)
    assert conflict == ns_cycles((std.tRP + std.tRCD + std.tCL + std.burst_cycles) * tck_ns)
    fcfs = DRAM.from_preset("DDR4-3200", clock_hz=GHZ, xor_hash=False, scheduler="fcfs")
    fcfs.serve(np.array([_line(fcfs, 0, 0, row=0)]), arrival_cycle=0)
    _, closed_in_order = fcfs.serve(np.array([_line(fcfs, 0, 0, row=1), _line(fcfs, 1, 1, row=0)]),
                                    arrival_cycle=t) - t
    assert closed_in_order > closed


def test_a_soc_specs_queue_depth_reaches_the_controller():
    # gemmini-moca's DRAM has FASED's 8-request scheduler window (not the default 32): with rows left
    # open by earlier traffic, a batch is served as by a controller built with queue_depth=8 (row
    # hits further back than 8 requests wait their turn), not as with 32
    from npusim.soc import load_soc

    spec = load_soc("gemmini-moca").dram
    same = {k: getattr(spec, k) for k in ("channels", "ranks", "page_policy", "scheduler")}
    rng = np.random.default_rng(0)
    prime, batch = (rng.integers(0, 1 << 22, n) // 64 * 64 for n in (256, 64))

    def served(d):
        d.serve(prime, arrival_cycle=0)
        return d.serve(batch, arrival_cycle=10_000)

    d = DRAM.from_spec(spec, clock_hz=GHZ)
    assert spec.queue_depth == 8 and d.queue_depth == 8 and d.org[K.O_QUEUE] == 8
    done = served(d)
    assert np.array_equal(done, served(DRAM.from_preset(spec.standard, clock_hz=GHZ, queue_depth=8, **same)))
    assert not np.array_equal(done, served(DRAM.from_preset(spec.standard, clock_hz=GHZ, queue_depth=32, **same)))


@pytest.mark.parametrize("max_batch,kept", [(K.MAX_BATCH, 1 << 20), (37, 100)])
def test_serve_last_is_the_last_completion_of_serve_and_changes_the_same_state(monkeypatch, max_batch, kept):
    # the engine's entry: same timing and state as serve, only the last completion returned
    # (also when batches are served in chunks, and beyond the scratch it keeps)
    from npusim.dram import model

    monkeypatch.setattr(K, "MAX_BATCH", max_batch)
    monkeypatch.setattr(model, "KEPT_SCRATCH_REQUESTS", kept)
    rng = np.random.default_rng(3)
    a, b = DRAM.from_preset("DDR4-3200", channels=2), DRAM.from_preset("DDR4-3200", channels=2)
    for d in (a, b):
        d.set_throttle(1, 500, 2048)  # throttled reads of one source take the same path
    for k in range(40):
        n = int(rng.integers(0, 300))
        addrs = rng.integers(0, 1 << 26, size=n, dtype=np.int64) * 64
        write, now, src = bool(rng.integers(0, 2)), int(k * rng.integers(50, 400)), int(rng.integers(0, 3)) or 69
        done = a.serve(addrs, is_write=write, arrival_cycle=now, source=src)
        assert b.serve_last(addrs, write, now, src) == (int(done.max()) if n else now)
    for state in ("bank_state", "rank_state", "bg_state", "chan_state", "throttle", "stats_array", "src_bytes"):
        assert np.array_equal(getattr(a, state), getattr(b, state)), state
    assert b._done.shape[0] <= kept
    with pytest.raises(ValueError, match="source must be a non-negative integer"):
        b.serve_last(np.arange(4, dtype=np.int64) * 64, False, 0, -1)


def _lpddr5_with_open_rows(bank_groups):
    """LPDDR5, one channel, unhashed, with row 0 of bank 0 open in each of `bank_groups`; the
    warm-up is long done at t = 1000 (800 CK, before the first refresh at 3125 CK)."""
    d = DRAM.from_preset("LPDDR5-6400", clock_hz=GHZ, xor_hash=False)
    d.serve(np.array([_line(d, bg) for bg in bank_groups]), arrival_cycle=0)
    return d, get_standard("LPDDR5-6400"), 1_000


def test_lpddr5_a_lines_bursts_are_tccd_l_apart_within_a_bank_group():
    # JEDEC / Ramulator 2 / gem5: 4 CK between column commands of one bank group. A line is two
    # BL16 bursts, so lines of one bank group (here one row of one bank) start 8 CK apart and
    # each one's data spans burst + tCCD_L (2 + 4 CK): half the channel's peak
    d, std, t = _lpddr5_with_open_rows([0])
    assert (std.tCCD_S, std.tCCD_L, std.burst_cycles) == (2, 4, 2)
    done = d.serve(np.array([_line(d, 0, column=1 + j) for j in range(16)]), arrival_cycle=t) - t
    tck_ns = std.tck_ps / 1000
    want = [ns_cycles((std.tCL + 2 * std.tCCD_L * j + std.burst_cycles + std.tCCD_L) * tck_ns) for j in range(16)]
    assert done.tolist() == want


def test_lpddr5_another_bank_groups_line_fills_the_gap_between_a_lines_bursts():
    # gem5's LPDDR5 BG mode (BL32 = two 16-beat halves with a 16-beat gap): a line of another
    # bank group goes one burst (2 CK) later, its bursts in the first line's gaps, so two lines
    # take 8 CK of bus: line A's data 20..22 and 24..26 CK, line B's 22..24 and 26..28 CK
    d, std, t = _lpddr5_with_open_rows([0, 1])
    tck_ns = std.tck_ps / 1000
    a, b = d.serve(np.array([_line(d, 0, column=1), _line(d, 1, column=1)]), arrival_cycle=t) - t
    assert a == ns_cycles((std.tCL + std.burst_cycles + std.tCCD_L) * tck_ns)  # 26 CK
    assert b == ns_cycles((std.tCL + 2 * std.burst_cycles + std.tCCD_L) * tck_ns)  # 28 CK
    # FR-FCFS puts the younger line of another bank group into the gap before an older one of
    # A's bank group, which waits for tCCD_L after A's second burst (CAS at 8 CK, data 28..34)
    d, std, t = _lpddr5_with_open_rows([0, 1])
    a, c, b = d.serve(np.array([_line(d, 0, column=1), _line(d, 0, column=2), _line(d, 1, column=1)]),
                      arrival_cycle=t) - t
    assert (a, b, c) == (ns_cycles(26 * tck_ns), ns_cycles(28 * tck_ns), ns_cycles(34 * tck_ns))


def test_lpddr5_a_stream_over_bank_groups_reaches_the_peak():
    # lines alternating over four bank groups go in pairs: the second of a pair in the first's
    # gap, the next pair after both (one line per gap). Line j's data starts
    # tCL + 8 CK x (j // 2) + 2 CK x (j % 2) and lasts 6 CK: 64 lines in 256 CK, the peak
    d, std, t = _lpddr5_with_open_rows([0, 1, 2, 3])
    tck_ns = std.tck_ps / 1000
    done = d.serve(np.array([_line(d, j % 4, column=1 + j // 4) for j in range(64)]), arrival_cycle=t) - t
    want = [ns_cycles((std.tCL + 8 * (j // 2) + 2 * (j % 2) + 6) * tck_ns) for j in range(64)]
    assert done.tolist() == want
    assert want[-1] == ns_cycles((std.tCL + 64 * 64 // 16) * tck_ns)  # 16 B a CK: the channel's peak
    # the bus transfers 4 CK a line (warm-up included), not the 6 CK from its first beat to its last
    assert d.stats["busy_cycles_per_channel"] == [ns_cycles((4 + 64) * 2 * std.burst_cycles * tck_ns)]


@pytest.mark.parametrize("name", ["DDR3-1600", "DDR4-3200", "LPDDR4-4266", "LPDDR5-6400", "HBM2"])
def test_a_precharge_waits_trtp_after_a_lines_last_read_command(name):
    # a row conflict right behind a row hit of the same bank: PRE tRTP after the hit's last
    # column command (a 64 B line is two bursts, two CAS commands, on LPDDR4/LPDDR5), ACT tRP
    # later, CAS tRCD after it. From the first CAS, the PRE fell on LPDDR5's second one.
    std = get_standard(name)
    tck_ns = std.tck_ps / 1000
    bursts = max(1, 64 // std.burst_bytes)
    step = max(std.burst_cycles, std.tCCD_L)
    span, burst = (bursts - 1) * step, std.burst_cycles + (bursts - 1) * step
    d = DRAM.from_preset(name, clock_hz=GHZ, xor_hash=False)
    d.serve(np.array([_line(d)]), arrival_cycle=0)  # opens row 0; its tRAS is long over at t
    t = 1_000
    hit = d.serve(np.array([_line(d, column=1)]), arrival_cycle=t)[0] - t
    assert hit == ns_cycles((std.tCL + burst) * tck_ns)
    conflict = d.serve(np.array([_line(d, row=1)]), arrival_cycle=t)[0] - t
    assert conflict == ns_cycles((span + std.tRTP + std.tRP + std.tRCD + std.tCL + burst) * tck_ns)


@pytest.mark.parametrize("name", ["LPDDR4-4266", "LPDDR5-6400"])
def test_a_line_whose_column_commands_straddle_a_due_refresh_goes_after_it(name):
    # a two-burst line takes two CAS commands; a row hit whose first one is 1 CK before the rank's
    # first refresh (tREFI) would have its second inside the refresh: the refresh goes first, and
    # the line activates its row again once tRFC is over (times in ps: a 1 THz SoC clock)
    std = get_standard(name)
    tck = std.tck_ps
    bursts = 64 // std.burst_bytes
    assert bursts == 2
    span = max(std.burst_cycles, std.tCCD_L) * tck
    d = DRAM.from_preset(name, clock_hz=10**12, xor_hash=False)
    d.serve(np.array([_line(d)]), arrival_cycle=0)  # opens row 0
    refresh = std.tREFI * tck
    t = refresh - tck  # the bank's row is open and ready: the hit's first CAS is at t
    got = d.serve(np.array([_line(d, column=1)]), arrival_cycle=t)[0]
    assert got == refresh + (std.tRFC + std.tRCD + std.tCL + std.burst_cycles) * tck + span
    assert d.stats["row_misses"] == 2 and d.stats["row_hits"] == 0
    # a line whose last CAS is 1 CK before the refresh is served before it, as a row hit
    d = DRAM.from_preset(name, clock_hz=10**12, xor_hash=False)
    d.serve(np.array([_line(d)]), arrival_cycle=0)
    t = refresh - span - tck
    assert d.serve(np.array([_line(d, column=1)]), arrival_cycle=t)[0] == t + std.tCL * tck + std.burst_cycles * tck + span
    assert d.stats["row_hits"] == 1


@pytest.mark.parametrize("name", ["DDR4-3200", "LPDDR4-4266", "LPDDR5-6400", "HBM2"])
@pytest.mark.parametrize("page_policy", ["open", "closed"])
def test_no_two_bursts_share_a_channels_data_bus(name, page_policy):
    # random mixed traffic (streams and scattered lines, reads and writes, batches overlapping in
    # time, refreshes): each line's bursts, rebuilt from its completion (in ps: a 1 THz clock) as
    # the standard shapes them (bursts tCCD_L apart, no closer than a burst), never overlap on the
    # one channel, LPDDR5's lines in another line's gaps included; the busy time is their sum
    std = get_standard(name)
    burst = std.burst_cycles * std.tck_ps
    step = max(std.burst_cycles, std.tCCD_L) * std.tck_ps
    bursts = max(1, 64 // std.burst_bytes)
    d = DRAM.from_preset(name, clock_hz=10**12, page_policy=page_policy)
    rng = np.random.default_rng(7)
    starts, t, lines = [], 0, 0
    for _ in range(60):
        k = int(rng.integers(1, 64))
        stream = int(rng.integers(0, 1 << 24)) + 64 * np.arange(k)
        addrs = np.where(rng.random(k) < 0.5, rng.integers(0, 1 << 28, k), stream) // 64 * 64
        done = d.serve(addrs, is_write=rng.random(k) < rng.choice([0.0, 0.5, 1.0]), arrival_cycle=t)
        first = done - burst - (bursts - 1) * step
        starts.extend((first[:, None] + step * np.arange(bursts)).ravel().tolist())
        lines += k
        t += int(rng.integers(0, 600_000))  # up to 0.6 us: batches often overlap
    starts = np.sort(np.array(starts))
    assert t > std.tREFI * std.tck_ps  # refreshes happened on the way
    assert np.diff(starts).min() >= burst
    if name == "LPDDR5-6400":  # some lines went into another's gaps: bursts of two lines one burst apart
        assert (np.diff(starts) == burst).sum() > len(starts) // 4
    assert d.stats["busy_cycles_per_channel"] == [lines * bursts * burst]


def _ranked_line(d, rank=0, bank=0, row=0, column=0):
    """Address of one line of a plain (unhashed) multi-rank mapping."""
    sh = d.mapping.shifts
    return int(rank << int(sh[1]) | bank << int(sh[3]) | row << int(sh[4]) | column << int(sh[5]))


def _two_rank_ddr3(**kw):
    d = DRAM.from_preset("DDR3-1600", ranks=2, clock_hz=10**12, xor_hash=False, **kw)  # ps
    for rank, bank in ((0, 0), (0, 1), (1, 0)):  # open three rows: every later access is a row hit
        d.serve(np.array([_ranked_line(d, rank, bank)]), arrival_cycle=0)
    return d


@pytest.mark.parametrize("scheduler", ["frfcfs", "fcfs"])
def test_another_rank_takes_the_data_bus_trtrs_after_the_last(scheduler):
    # two row hits arriving together: of one rank their bursts go back to back (tCCD = the burst);
    # of two ranks the second's data waits tRTRS more after the first's, as the strobes hand over
    std = get_standard("DDR3-1600")
    tck, t = std.tck_ps, 1_000_000
    burst = std.burst_cycles
    for other_rank, gap in ((0, 0), (1, std.tRTRS)):
        d = _two_rank_ddr3(scheduler=scheduler)
        pair = [_ranked_line(d, 0, 0, column=1), _ranked_line(d, other_rank, 1 - other_rank, column=1)]
        done = d.serve(np.array(pair), arrival_cycle=t) - t
        assert done.tolist() == [(std.tCL + burst) * tck, (std.tCL + 2 * burst + gap) * tck], other_rank
    assert std.tRTRS == 1  # DRAMsim3's DDR3_4Gb_x8_1600.ini


def test_twtr_is_a_ranks_own_and_another_ranks_read_only_waits_for_the_bus():
    # a read behind a write of its own rank waits tWTR_S after the write's data; a read of another
    # rank needs only the bus, tRTRS after that data
    std = get_standard("DDR3-1600")
    tck, t = std.tck_ps, 1_000_000
    burst = std.burst_cycles
    for rank, bank, want in ((0, 1, std.tCWL + burst + std.tWTR_S + std.tCL + burst),
                             (1, 0, max(std.tCCD_S, std.tCWL + burst + std.tRTRS - std.tCL) + std.tCL + burst)):
        d = _two_rank_ddr3()
        assert d.serve(np.array([_ranked_line(d, 0, 0, column=1)]), is_write=True,
                       arrival_cycle=t)[0] - t == (std.tCWL + burst) * tck
        got = d.serve(np.array([_ranked_line(d, rank, bank, column=1)]), arrival_cycle=t)[0] - t
        assert got == want * tck, rank


def test_first_ready_keeps_the_bus_on_its_rank():
    # three row hits arriving together, ranks 0, 1, 0: in arrival order (fcfs) the bus switches
    # twice; first-ready serves rank 0's two first and switches once, one tRTRS earlier
    std = get_standard("DDR3-1600")
    tck, t = std.tck_ps, 1_000_000
    last = {}
    for scheduler in ("fcfs", "frfcfs"):
        d = _two_rank_ddr3(scheduler=scheduler)
        lines = [_ranked_line(d, 0, 0, column=1), _ranked_line(d, 1, 0, column=1), _ranked_line(d, 0, 1, column=1)]
        last[scheduler] = int(d.serve(np.array(lines), arrival_cycle=t).max()) - t
    assert last == {"fcfs": (std.tCL + 3 * std.burst_cycles + 2 * std.tRTRS) * tck,
                    "frfcfs": (std.tCL + 3 * std.burst_cycles + std.tRTRS) * tck}


def test_lpddr5_only_the_gaps_own_rank_fills_it_and_first_ready_knows():
    # LPDDR5, two ranks: line A (rank 0, bank group 0) leaves a gap between its bursts. An older
    # row hit of rank 1 cannot go into it (another rank starts tRTRS after the bus's data); a
    # younger one of rank 0 and another bank group can, so FR-FCFS serves that one first: C's data
    # 22..24 and 26..28 CK in A's gaps, then B's at 28 + tRTRS = 30..36 CK (in arrival order C
    # would wait behind B's rank switch: 42 CK)
    std = get_standard("LPDDR5-6400")
    ck, t = std.tck_ps, 1_000_000

    def line(d, rank, bank_group, column=0):
        sh = d.mapping.shifts
        return int(rank << int(sh[1]) | bank_group << int(sh[2]) | column << int(sh[5]))

    for scheduler, want in (("frfcfs", [26, 36, 28]), ("fcfs", [26, 34, 42])):
        d = DRAM.from_preset("LPDDR5-6400", ranks=2, clock_hz=10**12, xor_hash=False, scheduler=scheduler)
        d.serve(np.array([line(d, 0, 0), line(d, 0, 1), line(d, 1, 1)]), arrival_cycle=0)  # open the rows
        a, b, c = line(d, 0, 0, 1), line(d, 1, 1, 1), line(d, 0, 1, 1)
        done = d.serve(np.array([a, b, c]), arrival_cycle=t) - t
        assert done.tolist() == [x * ck for x in want], scheduler
    assert (std.tCL, std.burst_cycles, std.tCCD_L, std.tRTRS) == (20, 2, 4, 2)


def test_first_ready_serves_other_ranks_while_one_refreshes():
    # two row hits arriving together just as rank 0's first refresh falls due, rank 0's the older:
    # rank 0 refreshes (tRFC) and then activates; first-ready serves rank 1's hit meanwhile, where
    # arrival order (fcfs) makes it wait behind the refresh (ranks are refreshed half a tREFI apart)
    std = get_standard("DDR3-1600")
    tck, burst = std.tck_ps, std.burst_cycles
    due = std.tREFI * tck
    rank0 = (std.tRFC + std.tRCD + std.tCL + burst) * tck
    got = {}
    for scheduler in ("frfcfs", "fcfs"):
        d = _two_rank_ddr3(scheduler=scheduler)
        assert d.rank_state[:, K.R_NEXT_REF].tolist() == [due, due + due // 2]
        pair = [_ranked_line(d, 0, 0, column=1), _ranked_line(d, 1, 0, column=1)]
        got[scheduler] = (d.serve(np.array(pair), arrival_cycle=due) - due).tolist()
    assert got["frfcfs"] == [rank0, (std.tCL + burst) * tck]
    assert got["fcfs"][0] == rank0 and got["fcfs"][1] > std.tRFC * tck


def test_a_write_follows_another_ranks_write_without_the_rank_switch_gap():
    # as in DRAMsim3 (write_to_write_o) and FASED (a write command tCCD after any write): two row-hit
    # writes of two ranks go back to back (two reads: tRTRS apart, the test above)
    std = get_standard("DDR3-1600")
    tck, t = std.tck_ps, 1_000_000
    burst = std.burst_cycles
    d = _two_rank_ddr3()
    pair = [_ranked_line(d, 0, 0, column=1), _ranked_line(d, 1, 0, column=1)]
    done = d.serve(np.array(pair), is_write=True, arrival_cycle=t) - t
    assert done.tolist() == [(std.tCWL + burst) * tck, (std.tCWL + 2 * burst) * tck]
