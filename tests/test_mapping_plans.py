"""Plans: budget ladder, residency, blocks, the on-disk cache, and address streams."""

import numpy as np
import pytest

from npusim.mapping import DEFAULT_LADDER, UNMANAGED, Mapper, loop_nest, trace_blocks
from npusim.mapping.layout import layout_trace
from npusim.mapping.plan import MemorySystem
from npusim.mapping.streams import (KIND_INPUT, KIND_OUTPUT, KIND_PARTIAL_READ, KIND_PARTIAL_WRITE, KIND_WEIGHT,
                                    StreamBuffers, layer_streams)
from npusim.soc import load_soc
from workloads.builder import TraceBuilder

SOC = load_soc("camdn")
MEM = MemorySystem(dram_peak_bytes_per_cycle=102.4, dma_bytes_per_cycle=64, llc_bytes_per_cycle=512,
                   llc_size_bytes=16 << 20)


def small_net():
    b = TraceBuilder("net")
    x = b.input(64, 28, 28)
    b.block("b1")
    y = b.conv("c1", x, 64, 1)
    y = b.conv("c2", y, 64, 3, padding=1)
    y = b.conv("c3", y, 256, 1)
    b.block("")
    s = b.conv("proj", x, 256, 1)
    z = b.eltwise("add", [y, s])
    p = b.global_pool("gap", z)
    b.gemm("fc", p, 1000)
    return b.build()


@pytest.fixture(scope="module")
def mapper():
    return Mapper(SOC, cache_dir=False, memory=MEM)


def test_ladder_monotone_and_fits(mapper):
    net = small_net()
    for layer in net.layers:
        for cores in (1, 4, 16):
            plans = mapper.layer_plans(layer, cores, DEFAULT_LADDER)
            drams = [p.dram_bytes for p in plans]
            assert drams == sorted(drams, reverse=True), (layer.name, cores, drams)
            for p in plans:
                assert p.region_bytes <= p.budget_bytes
                assert p.cores_used <= cores and p.steps >= 1 and p.compute_cycles > 0
                assert p.predicted_cycles >= max(p.compute_cycles, p.memory_cycles)
            if layer.name == "c2":  # a 3x3 conv: a budget buys residency, which saves DRAM bytes
                assert drams[-1] < drams[0] and plans[0].resident == "none" != plans[-1].resident


def test_budget_zero_streams_everything_from_dram(mapper):
    layer = small_net().layer("c2")
    p = mapper.plan(layer, 1, 0)
    assert p.resident == "none" and p.region_bytes == 0
    assert p.dram_read_bytes == p.llc_bytes - p.dram_write_bytes


def test_large_budget_reaches_compulsory_traffic(mapper):
    layer = small_net().layer("c2")
    p = mapper.plan(layer, 4, 16 << 20)
    # inputs and weights read once, outputs written once
    compulsory = layer.input_bytes + layer.weight_bytes + layer.output_bytes
    assert p.dram_bytes == pytest.approx(compulsory, rel=0.02)
    assert p.resident in ("both", "weights", "inputs")


def test_blocks_keep_intermediate_maps_on_chip(mapper):
    net = small_net()
    blocks = trace_blocks(net)
    assert [[l.name for l in b] for b in blocks] == [["c1", "c2", "c3"]]
    fused = mapper.block_plans(net, 4, 4 << 20)
    assert set(fused) == {"c1", "c2", "c3"}
    alone = {n: mapper.plan(net.layer(n), 4, 4 << 20) for n in fused}
    assert fused["c1"].output_in_region and not fused["c1"].input_in_region
    assert fused["c2"].input_in_region and fused["c2"].output_in_region
    assert fused["c3"].input_in_region and not fused["c3"].output_in_region
    saved = sum(alone[n].dram_bytes - fused[n].dram_bytes for n in fused)
    # c1's and c2's outputs are neither written nor read back
    inter = net.layer("c1").output_bytes + net.layer("c2").output_bytes
    assert saved >= 2 * inter * 0.95
    # a budget too small for the intermediate maps fuses nothing
    assert mapper.block_plans(net, 4, 32 << 10) == {}


def test_plan_cache_on_disk(tmp_path):
    net = small_net()
    m1 = Mapper(SOC, cache_dir=tmp_path, memory=MEM)
    t1 = m1.table(net, [1, 4], [0, 1 << 20])
    assert m1.searches > 0
    m2 = Mapper(SOC, cache_dir=tmp_path, memory=MEM)
    t2 = m2.table(net, [1, 4], [0, 1 << 20])
    assert m2.searches == 0
    assert t1.equals(t2)
    # a damaged entry is recomputed, not trusted
    entry = next(tmp_path.rglob("*.npy"))
    entry.write_bytes(b"garbage")
    m3 = Mapper(SOC, cache_dir=tmp_path, memory=MEM)
    assert m3.table(net, [1, 4], [0, 1 << 20]).equals(t1) and m3.searches == 1
    entry.write_bytes(b"")  # what a crash between write and rename can leave: np.load raises EOFError
    m4 = Mapper(SOC, cache_dir=tmp_path, memory=MEM)
    assert m4.table(net, [1, 4], [0, 1 << 20]).equals(t1) and m4.searches == 1


def test_table_columns(mapper):
    t = mapper.table(small_net(), [2], [0, 1 << 20])
    for col in ("layer", "cores", "budget_bytes", "tile_k", "tile_c", "tile_p", "tile_q", "loop_order",
                "resident", "region_bytes", "dram_bytes", "dram_read_bytes", "dram_write_bytes", "llc_bytes",
                "compute_cycles", "predicted_cycles", "fused"):
        assert col in t.columns
    assert set(t.budget_bytes) == {0, 1 << 20, UNMANAGED}


def _streams(mapper, net, name, cores, budget):
    layer = net.layer(name)
    plan = mapper.plan(layer, cores, budget)
    nest = loop_nest(layer, SOC.npu, cores, 64)
    return plan, layer_streams(layer, net, nest, plan, layout_trace(net), mapper.hw, mapper.vec)


@pytest.mark.parametrize("name", ["c1", "c2", "c3", "proj", "add", "gap", "fc"])
@pytest.mark.parametrize("cores", [1, 4])
def test_streams_agree_with_plan(mapper, name, cores):
    net = small_net()
    layer = net.layer(name)
    plan, st = _streams(mapper, net, name, cores, 0)
    assert st.steps == plan.steps
    assert int(st.step_cycles.sum()) == plan.compute_cycles
    by = st.bytes_by_kind()
    # every output element written exactly once (no partial spills at these sizes)
    assert by["output"] == layer.output_bytes
    # weights are read at least once; multicast runs carry their readers
    if layer.weight_bytes:
        assert by["weight"] >= layer.weight_bytes
    # runs stay inside the tenant's tensors
    lay = layout_trace(net)
    assert st.starts.min() >= 0 and (st.starts + st.lengths).max() <= lay.end_bytes
    # line-granular traffic of a bypass plan is what the plan predicts (alignment aside)
    lines = ((st.starts + st.lengths - 1) // 64 - st.starts // 64 + 1) * 64
    assert lines.sum() == pytest.approx(plan.dram_bytes, rel=0.06)


def test_streams_read_inputs_in_tile_order(mapper):
    net = small_net()
    plan, st = _streams(mapper, net, "c2", 1, 0)
    inputs = st.starts[st.kinds == KIND_INPUT]
    lay = layout_trace(net)
    base = lay.output_base["c1"]
    assert inputs.min() >= base and inputs.max() < base + net.layer("c1").output_bytes
    assert (st.kinds[st.step_ptr[:-1]] != KIND_OUTPUT).all()  # a step starts with its reads
    assert (st.kinds == KIND_WEIGHT).any()


@pytest.mark.parametrize("name, cores, budget", [("c2", 1, 0), ("c1", 1, 0), ("c3", 1, 1 << 20)])
def test_every_input_tile_is_read_from_its_own_place(mapper, name, cores, budget):
    # the steps' first input addresses are as many as the core's input tiles (C x P x Q tiles):
    # each step reads its own tile's window, not another step's
    import math

    net = small_net()
    plan, st = _streams(mapper, net, name, cores, budget)
    nest = loop_nest(net.layer(name), SOC.npu, cores, 64)
    tiles = math.ceil(nest.C / plan.tile_c) * math.ceil(nest.Pc / plan.tile_p) * math.ceil(nest.Qc / plan.tile_q)
    firsts = set()
    for a, b in zip(st.step_ptr[:-1], st.step_ptr[1:]):
        reads = st.starts[a:b][st.kinds[a:b] == KIND_INPUT]
        if reads.shape[0]:
            firsts.add(int(reads[0]))
    assert tiles > 1 and len(firsts) == tiles


@pytest.mark.parametrize("name", ["c1", "c3", "add", "fc"])
def test_streams_from_scratch_too_small_equal_a_fresh_generation(mapper, name):
    # reused scratch arrays that are too small are grown and the pass rerun: same runs, same steps
    net = small_net()
    layer = net.layer(name)
    plan, fresh = _streams(mapper, net, name, 4, 0)
    assert len(fresh.starts) > 1 and fresh.steps > 1
    tiny = StreamBuffers(runs=1, steps=1)
    nest = loop_nest(layer, SOC.npu, 4, 64)
    for _ in range(2):  # grown by the first call, reused by the second
        again = layer_streams(layer, net, nest, plan, layout_trace(net), mapper.hw, mapper.vec, tiny)
        for field in ("starts", "lengths", "kinds", "readers", "step_ptr", "step_cycles", "step_tail_cycles",
                      "step_requests"):
            assert np.array_equal(getattr(again, field), getattr(fresh, field)), field
    assert len(tiny.starts) >= len(fresh.starts) and len(tiny.step_cycles) >= fresh.steps


@pytest.mark.parametrize("budget", [0, UNMANAGED, 1 << 20])
def test_predicted_cycles_follow_the_cost_model(mapper, budget):
    # memory = max(DRAM bytes / sustained DRAM bandwidth, LLC bytes / min(cores x DMA, LLC port));
    # predicted = max(compute, memory) + overlap_alpha x min(compute, memory) + overhead (docs/MAPPING.md)
    import math

    cost = mapper.cost
    for layer in small_net().layers:
        for cores in (1, 4):
            p = mapper.plan(layer, cores, budget)
            link = min(p.cores_used * MEM.dma_bytes_per_cycle, MEM.llc_bytes_per_cycle)
            memory = math.ceil(max(p.dram_bytes / (MEM.dram_peak_bytes_per_cycle * cost.dram_efficiency),
                                   p.llc_bytes / link))
            assert p.memory_cycles == memory, (layer.name, cores)
            small, large = sorted((p.compute_cycles, p.memory_cycles))
            assert p.predicted_cycles == math.ceil(large + cost.overlap_alpha * small) + cost.layer_overhead_cycles


def test_footprint_of_both_is_weights_plus_inputs(mapper):
    layer = small_net().layer("c2")  # 3x3, padding 1: every input row and column is read
    cand = mapper.candidates(layer, 4)
    assert cand.footprint("weights") == layer.weight_bytes
    assert cand.footprint("inputs") == layer.input_bytes
    assert cand.footprint("both") == layer.weight_bytes + layer.input_bytes
    assert cand.footprint("none") == 0
    assert cand.plan("both", 16 << 20).region_bytes == layer.weight_bytes + layer.input_bytes


def test_spilled_partial_sums_are_written_and_read_back(mapper):
    # the search's tilings here keep every sum in the accumulator; give them
    # spills and check the plan's accounting: each spilled byte goes out once
    # and comes back once, through the LLC both ways
    from npusim.mapping.plan import LayerCandidates
    from npusim.mapping.search import FI

    layer = small_net().layer("c3")
    cand = mapper.candidates(layer, 4)
    spilling = cand.best.copy()
    spilled = 8192
    spilling[:, FI["partial_bytes"]] += 2 * spilled
    spill = LayerCandidates(cand.nest, spilling, 4, MEM, mapper.cost)
    for budget, resident in ((UNMANAGED, "none"), (0, "none"), (1 << 20, "weights"), (1 << 20, "both")):
        p, q = cand.plan(resident, budget), spill.plan(resident, budget)
        extra = cand.f_out * spilled
        assert q.dram_read_bytes - p.dram_read_bytes == pytest.approx(extra, abs=1)
        assert q.dram_write_bytes - p.dram_write_bytes == pytest.approx(extra, abs=1)
        assert q.llc_bytes - p.llc_bytes == pytest.approx(2 * extra, abs=1)


def test_unmanaged_plans_count_on_half_the_llc():
    # an input of 196 KiB: read once when it fits half the LLC, tile by tile when it does not
    from npusim.mapping.search import FI, OBJECTIVES

    b = TraceBuilder("n")
    b.conv("c", b.input(1024, 14, 14), 1024, 3, padding=1)
    layer = b.build().layer("c")
    cands, plans = [], []
    for llc in (512 << 10, 256 << 10):
        m = Mapper(SOC, cache_dir=False, memory=MemorySystem(102.4, 64, 512, llc))
        cands.append(m.candidates(layer, 1))
        plans.append(m.plan(layer, 1, UNMANAGED))
    big, small = cands
    assert np.array_equal(big.best, small.best) and big.in_unique == layer.input_bytes == 200704
    refetched = small.f_in * small.best[OBJECTIVES.index("unmanaged"), FI["in_traffic_bytes"]]
    assert refetched > 10 * layer.input_bytes
    assert plans[1].dram_read_bytes - plans[0].dram_read_bytes == pytest.approx(refetched - layer.input_bytes, abs=1)


@pytest.mark.parametrize("name", ["add", "gap"])
def test_pools_and_eltwise_layers_read_only_their_inputs(mapper, name):
    # their loop nest's K x C x R x S is a window, not a weight tensor: no plan may read it,
    # hold it in a region, or let it push the input out of the LRU share
    layer = small_net().layer(name)
    assert layer.weight_bytes == 0
    cand = mapper.candidates(layer, 4)
    assert cand.nest.weight_bytes > 0  # the window the plan must not count
    assert cand.w_unique == 0 and cand.footprint("weights") == 0
    assert cand.footprint("both") == cand.footprint("inputs") == layer.input_bytes
    p = mapper.plan(layer, 4, UNMANAGED)
    assert p.dram_read_bytes == layer.input_bytes  # writes are whole lines per core: not checked here


def test_fused_layers_hold_their_input_and_output_maps(mapper):
    net = small_net()
    fused = mapper.block_plans(net, 4, 4 << 20)
    c1, c2 = net.layer("c1"), net.layer("c2")
    # while c2 runs, the region keeps c1's output (its input) and its own output (c3's input)
    assert fused["c2"].region_bytes >= c1.output_bytes + c2.output_bytes
    assert fused["c1"].region_bytes >= c1.output_bytes
    # each tensor once: c2's input is c1's output already in the region, whether or not c2 keeps
    # its inputs resident; c3's output leaves the block and takes no region
    c3 = net.layer("c3")
    assert (fused["c2"].resident, fused["c3"].resident) == ("both", "inputs")
    assert fused["c2"].region_bytes == c2.weight_bytes + c1.output_bytes + c2.output_bytes
    assert fused["c3"].region_bytes == c2.output_bytes == c3.input_bytes


def test_a_block_output_read_outside_the_block_goes_to_dram(mapper):
    b = TraceBuilder("net")
    x = b.input(64, 28, 28)
    b.block("b1")
    y = b.conv("a", x, 64, 1)
    z = b.conv("b", y, 64, 3, padding=1)
    b.conv("c", z, 64, 1)
    b.block("")
    b.conv("d", z, 64, 1)  # reads b's output after the block
    net = b.build()
    fused = mapper.block_plans(net, 4, 4 << 20)
    assert fused["a"].output_in_region and fused["b"].input_in_region
    assert not fused["b"].output_in_region and fused["b"].dram_write_bytes >= net.layer("b").output_bytes


def test_plans_use_the_dma_rate_latency_allows():
    # a core keeps dma_max_inflight lines in flight over an LLC hit + LLC miss + DRAM latency
    from npusim.dram import DRAM
    from npusim.mapping.mapper import memory_system

    soc = load_soc("gemmini-moca")
    dram = DRAM.from_spec(soc.dram, clock_hz=soc.npu.clock_hz, request_bytes=soc.llc.line_bytes)
    latency = soc.llc.hit_latency_cycles + soc.llc.miss_latency_cycles + dram.min_read_cycles()
    assert soc.llc.miss_latency_cycles > 0
    want = int(min(soc.npu.dma_bytes_per_cycle, soc.npu.dma_max_inflight * soc.llc.line_bytes / latency))
    assert memory_system(soc).dma_bytes_per_cycle == want < soc.npu.dma_bytes_per_cycle


def test_plan_cache_entries_belong_to_their_buffers(tmp_path):
    # smaller buffers change which tilings fit: their plans are searched, not read back
    import dataclasses

    net = small_net()
    first = Mapper(SOC, cache_dir=tmp_path, memory=MEM)
    big = first.table(net, [4], [0])
    small_soc = dataclasses.replace(SOC, npu=dataclasses.replace(SOC.npu, input_buffer_bytes=4096,
                                                                  weight_buffer_bytes=4096))
    second = Mapper(small_soc, cache_dir=tmp_path, memory=MEM)
    small = second.table(net, [4], [0])
    assert second.searches == first.searches > 0
    assert not big.equals(small)


def _covered(starts, lengths):
    """Bytes of the union of runs."""
    spans = sorted(zip(starts.tolist(), (starts + lengths).tolist()))
    total, hi = 0, -1
    for a, b in spans:
        if b > hi:
            total += b - max(a, hi)
            hi = b
    return total


def _forced_streams(mapper, net, name, cores, **tiling):
    """Streams of a layer under a tiling the search would not pick (plan fields replaced)."""
    import dataclasses

    layer = net.layer(name)
    plan = dataclasses.replace(mapper.plan(layer, cores, 0), **tiling)
    nest = loop_nest(layer, SOC.npu, cores, 64)
    return layer, layer_streams(layer, net, nest, plan, layout_trace(net), mapper.hw, mapper.vec)


def test_split_reductions_read_every_weight_once_and_every_spill_back(mapper):
    # c2 (3x3, 64 -> 64) with the reduction cut in two and outermost: each output tile is
    # spilled once after the first half and read back once before the second
    net = small_net()
    layer, st = _forced_streams(mapper, net, "c2", 1, tile_c=32, loop_order="g>c>k>s")
    by = st.bytes_by_kind()
    assert by["partial_write"] == by["partial_read"] > 0
    assert by["output"] == layer.output_bytes
    w = st.kinds == KIND_WEIGHT
    base = layout_trace(net).weight_base["c2"]
    assert st.starts[w].min() == base and (st.starts[w] + st.lengths[w]).max() == base + layer.weight_bytes
    assert _covered(st.starts[w], st.lengths[w]) == by["weight"] == layer.weight_bytes


@pytest.mark.parametrize("name", ["c1", "c2", "proj", "add", "gap", "fc"])
def test_every_run_costs_at_least_one_dma_request(mapper, name):
    # requests carry at most vec[3] bytes each, and every run needs one at least; the reads
    # among them (step_read_requests) and the rest, the writes, each on their own
    net = small_net()
    _, st = _streams(mapper, net, name, 4, 0)
    req_bytes = int(mapper.vec[3])
    writes = (st.kinds == KIND_OUTPUT) | (st.kinds == KIND_PARTIAL_WRITE)
    for s in range(st.steps):
        lo, hi = st.step_ptr[s], st.step_ptr[s + 1]
        assert st.step_requests[s] >= max(hi - lo, -(-int(st.lengths[lo:hi].sum()) // req_bytes)), s
        for mine, count in ((~writes[lo:hi], st.step_read_requests[s]),
                            (writes[lo:hi], st.step_requests[s] - st.step_read_requests[s])):
            n_bytes = int(st.lengths[lo:hi][mine].sum())
            assert count >= max(int(mine.sum()), -(-n_bytes // req_bytes)), s
            assert (count > 0) == (n_bytes > 0), s


def test_a_token_chunk_reads_its_rows_of_the_input(mapper):
    b = TraceBuilder("chunks")
    tokens = b.gemm("proj", b.input(32, 8, 1), 96)  # 8 tokens of 96 features, one row each
    b.gemm("whole", tokens, 64)
    b.gemm("tail", tokens, 64, rows=4, row_offset=4)  # tokens 4..7: 4 rows of K = 96 further in
    net = b.build()
    lay = layout_trace(net)
    base = lay.output_base["proj"]
    for name, first_row in (("whole", 0), ("tail", 4)):
        layer = net.layer(name)
        plan = mapper.plan(layer, 1, 0)
        st = layer_streams(layer, net, loop_nest(layer, SOC.npu, 1, 64), plan, lay, mapper.hw, mapper.vec)
        reads = st.kinds == KIND_INPUT
        assert st.starts[reads].min() == base + first_row * 96
        assert (st.starts[reads] + st.lengths[reads]).max() == base + (first_row + layer.M) * 96


@pytest.mark.parametrize("cores", [1, 4])
def test_every_lookup_of_an_embedding_reads_its_table_row(mapper, cores):
    # 256 lookups of 512-byte rows need several row tiles and, on 4 cores, a row split:
    # every lookup reads its own row, in every tile and on every core (no multicast)
    b = TraceBuilder("emb")
    b.embedding("emb", b.input(1, 256, 1), table_rows=1000, dim=512, lookups=256)
    net = b.build()
    layer = net.layer("emb")
    plan, st = _streams(mapper, net, "emb", cores, 0)
    assert plan.steps > 1 and plan.split_p == cores
    weights = st.kinds == KIND_WEIGHT
    assert int(st.lengths[weights].sum()) == 256 * 512
    assert (st.readers[weights] == 1).all()
    # the plan predicts the same table bytes (whole 64-byte lines: no waste) and the output
    assert plan.dram_read_bytes == 256 * 512
    assert plan.dram_write_bytes == layer.output_bytes


def test_an_eltwise_reads_each_operand_tile_as_one_run(mapper):
    # two 24-channel maps (24-byte pixels): read operand by operand, a tile of each is one
    # contiguous run, so the whole-line bytes are what the plan predicts
    b = TraceBuilder("add")
    x = b.input(24, 56, 56)
    y = b.conv("a", x, 24, 1)
    z = b.conv("b", x, 24, 1)
    b.eltwise("add", [y, z])
    net = b.build()
    plan, st = _streams(mapper, net, "add", 1, 0)
    reads = st.kinds == KIND_INPUT
    assert int(reads.sum()) == 2 * plan.steps
    lines = ((st.starts + st.lengths - 1) // 64 - st.starts // 64 + 1) * 64
    assert int(lines[reads].sum()) + net.layer("add").output_bytes == plan.dram_bytes


@pytest.mark.parametrize("cores", [1, 4])
def test_a_depthwise_convs_weight_tile_is_one_run(mapper, cores):
    # weights are stored in tile order: a tile of 96 whole 3x3 filters is 864 contiguous bytes
    # (14 lines), not 96 runs of 9 bytes of a line each; the plan charges what the streams move
    from npusim.mapping.search import FI

    b = TraceBuilder("dw")
    b.dwconv("dw", b.input(96, 28, 28), 3, padding=1)
    net = b.build()
    plan, st = _streams(mapper, net, "dw", cores, 0)
    cands = mapper.candidates(net.layer("dw"), cores)
    w = st.kinds == KIND_WEIGHT
    lines = ((st.starts + st.lengths - 1) // 64 - st.starts // 64 + 1) * 64
    assert plan.tile_g == 96 and int(lines[w].sum()) == 14 * 64
    assert cands.f_w * cands.best[0, FI["w_traffic_bytes"]] == pytest.approx(14 * 64)


def test_output_runs_cut_at_a_cores_share_are_charged_their_lines(mapper):
    # 960 output channels on 4 cores: 240 a core, so the cores' runs start 48, 32 and 16 bytes
    # into a line; the plan charges the lines the streams write, not those of line-aligned cuts
    b = TraceBuilder("expand")
    b.conv("expand", b.input(160, 7, 7), 960, 1)
    net = b.build()
    plan, st = _streams(mapper, net, "expand", 4, 0)
    assert plan.split_k == 4
    out = st.kinds == KIND_OUTPUT
    lines = ((st.starts + st.lengths - 1) // 64 - st.starts // 64 + 1) * 64
    assert plan.dram_write_bytes == pytest.approx(int(lines[out].sum()), rel=0.01)


def test_a_residual_block_reads_its_shortcut_from_dram_and_its_branch_from_the_region(mapper):
    # the add of an identity block reads the branch from the region (never written to DRAM)
    # and the shortcut, produced before the block, from DRAM once: not both from DRAM
    b = TraceBuilder("res")
    x = b.conv("stem", b.input(64, 28, 28), 64, 1)
    b.block("b1")
    y = b.conv("a", x, 64, 1)
    z = b.conv("b", y, 64, 3, padding=1)
    b.eltwise("add", [z, x])
    b.block("")
    b.global_pool("gap", x)  # the trace goes on after the block
    net = b.build()
    fused = mapper.block_plans(net, 4, 4 << 20)
    shortcut = net.layer("stem").output_bytes
    assert fused["b"].output_in_region and fused["b"].dram_write_bytes == 0
    assert fused["add"].input_in_region and fused["add"].resident in ("inputs", "both")
    assert fused["add"].dram_read_bytes == shortcut
    # the region holds the branch (pinned) and the shortcut (filled once) while the add runs
    assert fused["add"].region_bytes == net.layer("b").output_bytes + shortcut


def test_a_matmuls_second_operand_made_in_the_block_is_written_to_dram(mapper):
    # a matmul reads B on the weight route, from DRAM: B's producer cannot keep it in the region
    b = TraceBuilder("attn")
    x = b.input(64, 32, 1)
    b.block("att")
    q = b.gemm("q", x, 64)
    k = b.gemm("k", x, 64)
    b.matmul("scores", q, k, m=32, n=32, k=64)
    b.block("")
    net = b.build()
    fused = mapper.block_plans(net, 1, 4 << 20)
    assert fused["q"].output_in_region and fused["scores"].input_in_region
    assert not fused["k"].output_in_region and fused["k"].dram_write_bytes >= net.layer("k").output_bytes


def test_spilled_partial_sums_stay_in_the_scratch_buffer_at_any_accumulator_width():
    # 8-byte accumulators: a layer's spills take output_elems x 8 bytes, all inside the scratch
    # buffer that the layout sizes at the accumulator's width (the last buffer of the tenant)
    import dataclasses

    soc8 = dataclasses.replace(SOC, npu=dataclasses.replace(SOC.npu, accumulator_elem_bytes=8))
    m = Mapper(soc8, cache_dir=False, memory=MEM)
    net = small_net()
    layer = net.layer("c3")
    nest = loop_nest(layer, soc8.npu, 1, 64)
    # c outermost in 4 tiles: every output tile is spilled 3 times and read back 3 times
    plan = dataclasses.replace(m.plan(layer, 1, 0), tile_c=16, loop_order="g>c>k>s")
    lay = layout_trace(net, acc_elem_bytes=8)
    st = layer_streams(layer, net, nest, plan, lay, m.hw, m.vec)
    spills = (st.kinds == KIND_PARTIAL_WRITE) | (st.kinds == KIND_PARTIAL_READ)
    ends = st.starts[spills] + st.lengths[spills]
    assert int(st.lengths[st.kinds == KIND_PARTIAL_WRITE].sum()) == 3 * layer.output_elems * 8
    assert st.starts[spills].min() == lay.scratch_base
    assert ends.max() == lay.scratch_base + layer.output_elems * 8 <= lay.end_bytes


@pytest.mark.parametrize("cores", [4, 16])
def test_row_split_input_halos_are_predicted_over_all_cores(cores):
    # split over output rows, the first core's share is clipped by the top padding, the others
    # read full halos: the plan counts every core's (resnet50's 3x3 convs of 56 rows moved
    # 17 % more input lines than a plan from the first core alone predicted on 16 cores)
    from npusim.mapping.search import FI
    from workloads import get_trace

    net = get_trace("resnet50")
    m = Mapper(SOC, cache_dir=False, memory=MEM)
    lay = layout_trace(net)
    split = 0
    for name in ("layer1.0.conv2", "layer2.1.conv2", "layer3.1.conv2"):
        layer = next(x for x in net.layers if x.name == name)
        cands = m.candidates(layer, cores)
        if cands.nest.split_p == 1:  # split over output channels: no halos between cores
            continue
        split += 1
        st = layer_streams(layer, net, cands.nest, cands.plan("none", 0), lay, m.hw, m.vec)
        lines = ((st.starts + st.lengths - 1) // 64 - st.starts // 64 + 1) * 64
        moved = int(lines[st.kinds == KIND_INPUT].sum())
        assert moved == pytest.approx(cands.f_in * cands.best[0][FI["in_traffic_bytes"]], rel=0.03), name
    assert split >= 2


@pytest.mark.parametrize("model, layers", [("kws", None), ("mobilenet_v2", None), ("bert_base", 8)])
def test_streams_move_the_bytes_the_plan_predicts_per_kind(model, layers):
    # conservation over whole zoo models on one core: each kind of run moves, in whole lines, what
    # the plan charges for it (weights and outputs to 1 %, inputs to 10 %: halos at the borders)
    from npusim.mapping.search import FI
    from npusim.mapping.streams import KIND_NAMES
    from workloads import get_trace

    net = get_trace(model)
    m = Mapper(SOC, cache_dir=False, memory=MEM)
    lay = layout_trace(net)
    buf = StreamBuffers()
    for layer in net.layers[:layers]:
        cands = m.candidates(layer, 1)
        plan = cands.plan("none", 0)
        st = layer_streams(layer, net, cands.nest, plan, lay, m.hw, m.vec, buf)
        lines = ((st.starts + st.lengths - 1) // 64 - st.starts // 64 + 1) * 64
        moved = {KIND_NAMES[k]: int(lines[st.kinds == k].sum()) for k in range(5)}
        row = cands.best[0]
        assert st.bytes_by_kind()["output"] == layer.output_bytes, layer.name
        for kind, predicted, rel in (("input", cands.f_in * row[FI["in_traffic_bytes"]], 0.10),
                                     ("weight", cands.f_w * row[FI["w_traffic_bytes"]], 0.01),
                                     ("output", cands.f_out * row[FI["out_bytes"]], 0.01)):
            assert abs(moved[kind] - predicted) <= max(rel * predicted, 4 * 64), (layer.name, kind)


def test_vector_plans_without_overlap_fill_the_buffer_and_add_compute_to_memory():
    # gemmini-moca's vector layers fetch a tile only after computing the last (vector_overlap:
    # false): a tile may take the whole scratchpad, and the prediction adds the two times
    import dataclasses
    import math

    import workloads
    from npusim.mapping import Mapper
    from npusim.mapping.plan import UNMANAGED
    from npusim.soc import load_soc

    soc = load_soc("gemmini-moca")
    assert not soc.npu.vector_overlap
    # the search's tiles (the preset's library tiler picks its own, 64 pixels at a time)
    soc = soc.replace(npu=dataclasses.replace(soc.npu, tiler="search"))
    layer = next(layer for layer in workloads.get_trace("kws").layers if layer.op == "eltwise")
    serial = Mapper(soc, cache_dir=False).plan(layer, 1, UNMANAGED)
    both = Mapper(soc.replace(npu=dataclasses.replace(soc.npu, vector_overlap=True)), cache_dir=False).plan(
        layer, 1, UNMANAGED)
    setup = soc.npu.layer_setup_cycles
    assert serial.predicted_cycles == serial.compute_cycles + serial.memory_cycles + setup
    c, m = both.compute_cycles, both.memory_cycles
    assert both.predicted_cycles == math.ceil(max(c, m) + 0.25 * min(c, m)) + setup
    spad = soc.npu.scratchpad_bytes

    def tile_bytes(p):  # both operands of a tile (1-byte elements, 1x1 window)
        return 2 * p.tile_g * p.tile_p * p.tile_q

    assert spad // 2 < tile_bytes(serial) <= spad
    assert tile_bytes(both) <= spad // 2
    assert serial.steps < both.steps


def test_a_vector_layer_too_wide_for_the_whole_buffer_is_refused_with_the_share_it_may_use():
    # without vector_overlap a vector-path tile may fill the buffer, not half of it
    import dataclasses

    from npusim.errors import InputError
    from npusim.mapping import Mapper
    from npusim.mapping.plan import UNMANAGED
    from npusim.soc import load_soc

    from workloads.trace import parse_trace_text

    soc = load_soc("gemmini-moca")  # a 128 KiB scratchpad
    wide = parse_trace_text("name,op,M,N,K\nemb,embedding,4,200000,10\n", "w.csv").layers[0]  # 200 kB rows
    fits = parse_trace_text("name,op,M,N,K\nemb,embedding,4,100000,10\n", "f.csv").layers[0]
    assert Mapper(soc, cache_dir=False).plan(fits, 1, UNMANAGED).tile_p >= 1  # more than half, under the whole
    with pytest.raises(InputError) as e:
        Mapper(soc, cache_dir=False).plan(wide, 1, UNMANAGED)
    assert e.value.message.endswith("; a vector-path tile may fill its buffer)"), e.value.message
    both = soc.replace(npu=dataclasses.replace(soc.npu, vector_overlap=True))
    with pytest.raises(InputError) as e:
        Mapper(both, cache_dir=False).plan(fits, 1, UNMANAGED)
    assert e.value.message.endswith("; a tile may use half of each buffer)"), e.value.message
