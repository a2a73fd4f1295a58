"""Tilers (npusim/mapping/tilers.py): the MoCA artifact's Gemmini library tiling."""

from __future__ import annotations

import dataclasses

import pytest

from npusim.mapping import Mapper
from npusim.mapping.nest import loop_nest
from npusim.mapping.plan import UNMANAGED
from npusim.mapping.tilers import (MocaLibraryTiler, SearchTiler, _Rows, conv_rows, conv_tiles, matmul_tiles,
                                   pool_tiles, resadd_tiles)
from npusim.soc import load_soc
from workloads.trace import Layer

GEMMINI = load_soc("gemmini-moca")


def _rows() -> _Rows:
    return _Rows.of(GEMMINI.npu)


def test_the_library_geometry_is_gemminis():
    """gemmini_params.h of the artifact: DIM 16, 4 x 2048 scratchpad rows, 1024 accumulator rows,
    MAX_BLOCK_LEN = 64 B / 16, MAX_BLOCK_LEN_ACC = 64 B / (16 x 4 B)."""
    g = _rows()
    assert (g.dim, g.spad_rows, g.acc_rows, g.max_block_len, g.max_block_len_acc) == (16, 8192, 1024, 4, 1)


def test_matmul_tiles_of_a_fully_connected_layer_by_hand():
    """tile_I = 1 (one row), tile_J starts at sqrt(512 / 16) = 5 and tile_K at 8192 / 4 / 16 / 5 = 25
    blocks; J and K then grow in turn while K x (I + J) x 16 <= 4096 rows: (1, 8, 28)."""
    assert matmul_tiles(_rows(), 1, 4096, 9216) == (1, 8, 28)
    # a small layer is one tile
    assert matmul_tiles(_rows(), 10, 20, 30) == (1, 2, 2)


CONVS = [  # (porows, pocols, ochs, kdim, ichs, stride, padding)
    (111, 111, 64, 3, 3, 2, 0),  # squeezenet conv_1
    (55, 55, 64, 11, 3, 4, 2),  # alexnet conv_1
    (56, 56, 64, 3, 64, 1, 1),
    (14, 14, 256, 3, 256, 1, 1),
    (7, 7, 512, 3, 512, 1, 1),
    (96, 96, 45, 3, 3, 1, 1),
]


@pytest.mark.parametrize("shape", CONVS)
def test_conv_tiles_fit_half_of_each_buffer_and_grow_no_further(shape):
    g = _rows()
    porows, pocols, ochs, kdim, ichs, stride, padding = shape
    a = conv_tiles(g, porows, pocols, ochs, kdim, ichs, stride, padding)
    assert a[0] == 1 and 1 <= a[1] <= porows and 1 <= a[2] <= pocols and 1 <= a[3] <= ochs
    assert 1 <= a[4] <= kdim and 1 <= a[5] <= kdim and 1 <= a[6] <= ichs
    assert conv_rows(g, False, stride, *a[1:]) <= g.spad_rows // 2
    assert conv_rows(g, True, stride, *a[1:]) <= g.acc_rows // 2
    # the last growth step (one more row, a doubled channel count) no longer fits
    for i, step in ((1, 1), (3, a[3])):
        b = list(a)
        b[i] += step
        if b[i] <= (porows, pocols, ochs)[i - 1]:
            assert (conv_rows(g, False, stride, *b[1:]) > g.spad_rows // 2
                    or conv_rows(g, True, stride, *b[1:]) > g.acc_rows // 2), (i, b)


def test_a_three_channel_3x3_first_layer_keeps_every_output_channel_and_narrows_its_columns():
    """The library's first-layer rule (in_channels 3, padding 0, 3x3): all 64 output channels in
    one tile and two output columns, so its array runs computes of two rows (SqueezeNet conv_1)."""
    assert conv_tiles(_rows(), 111, 111, 64, 3, 3, 2, 0) == [1, 64, 2, 64, 3, 3, 3]


def _conv(name="c", in_c=64, out_c=64, hw=56, k=3, stride=1, pad=1) -> Layer:
    out = (hw + 2 * pad - k) // stride + 1
    return Layer(name=name, op="conv", in_h=hw, in_w=hw, in_c=in_c, out_h=out, out_w=out, out_c=out_c,
                 kernel_h=k, kernel_w=k, stride=stride, padding=pad)


def test_the_mapper_plans_the_librarys_tiles_in_its_loop_order():
    soc = GEMMINI
    assert soc.npu.tiler == "moca"
    layer = _conv()
    plan = Mapper(soc, cache_dir=False).plan(layer, 1, UNMANAGED)
    nest = loop_nest(layer, soc.npu, 1)
    a = conv_tiles(_rows(), nest.Pc, nest.Qc, nest.Kc, nest.R, nest.C, nest.stride, nest.padding)
    assert (plan.tile_k, plan.tile_c, plan.tile_p, plan.tile_q) == (a[3], a[6], a[1], a[2])
    assert plan.loop_order == "g>s>k>c"  # spatial tiles outermost, input channels innermost
    assert plan.tiled_by == "moca"
    searched = dataclasses.replace(soc, npu=dataclasses.replace(soc.npu, tiler="search"))
    other = Mapper(searched, cache_dir=False).plan(layer, 1, UNMANAGED)
    assert (other.tile_k, other.tile_c, other.tile_p, other.tile_q, other.loop_order) != \
        (plan.tile_k, plan.tile_c, plan.tile_p, plan.tile_q, plan.loop_order)


def test_a_strided_1x1_conv_is_tiled_by_the_conv_loop_and_a_1x1_by_the_matmul_loop():
    """ResNet-50's stride-2 projections went through tiled_conv_A_stride_auto_cid in the
    artifact (tests/reference/gemmini_moca/resnet50.csv), its other 1x1 convs through
    tiled_matmul_nn_auto_cid."""
    soc = GEMMINI
    mapper = Mapper(soc, cache_dir=False)
    strided = _conv(in_c=256, out_c=512, hw=56, k=1, stride=2, pad=0)
    plan = mapper.plan(strided, 1, UNMANAGED)
    nest = loop_nest(strided, soc.npu, 1)
    a = conv_tiles(_rows(), nest.Pc, nest.Qc, nest.Kc, nest.R, nest.C, nest.stride, nest.padding)
    assert (plan.tile_k, plan.tile_c, plan.tile_p, plan.tile_q) == (a[3], a[6], a[1], a[2])
    assert plan.tiled_by == "moca"
    one = _conv(in_c=256, out_c=512, hw=28, k=1, stride=1, pad=0)
    plan = mapper.plan(one, 1, UNMANAGED)
    nest = loop_nest(one, soc.npu, 1)
    ti, tj, tk = matmul_tiles(_rows(), nest.Pc * nest.Qc, nest.Kc, nest.C)
    assert (plan.tile_k, plan.tile_c) == (min(512, tj * 16), min(256, tk * 16)) and plan.tiled_by == "moca"


def test_the_mapper_asks_the_tiler_once_per_new_layer(monkeypatch):
    """The tiler's choice both plans a layer and names who tiled it (`tiled_by`)."""
    import npusim.mapping.mapper as mapper_module

    calls = []
    real = mapper_module.get_tiler

    class Counting:
        def __init__(self, tiler):
            self.tiler = tiler

        def fixed(self, nest, npu):
            calls.append(nest.op)
            return self.tiler.fixed(nest, npu)

    monkeypatch.setattr(mapper_module, "get_tiler", lambda name: Counting(real(name)))
    mapper = Mapper(GEMMINI, cache_dir=False)
    plan = mapper.plan(_conv(), 1, UNMANAGED)
    assert plan.tiled_by == "moca" and calls == ["conv"]
    assert mapper.plan(_conv(), 1, UNMANAGED) == plan and calls == ["conv"]


def test_layers_the_library_does_not_tile_are_left_to_the_search():
    """A depthwise conv (tiled_conv_dw, not in the artifact's networks) gets the searched plan."""
    soc = GEMMINI
    dw = Layer(name="dw", op="dwconv", in_h=28, in_w=28, in_c=64, out_h=28, out_w=28, out_c=64,
               kernel_h=3, kernel_w=3, stride=1, padding=1, groups=64)
    searched = dataclasses.replace(soc, npu=dataclasses.replace(soc.npu, tiler="search"))
    a = Mapper(soc, cache_dir=False).plan(dw, 1, UNMANAGED)
    b = Mapper(searched, cache_dir=False).plan(dw, 1, UNMANAGED)
    assert a == b and a.tiled_by == "search"


def test_the_default_tiler_is_the_search():
    assert load_soc("camdn").npu.tiler == "search"
    assert load_soc("camdn").to_dict()["npu"]["tiler"] == "search"


def test_a_compute_streams_at_least_the_preset_rows_one_output_row_at_a_time():
    """per_window lowering with compute_min_rows 4 (Gemmini's ExecuteController: two
    accumulator writes to one address 4 cycles apart): a 3x3 tile two columns wide streams
    4 rows per output row and kernel position, as a tile four columns wide does."""
    import numpy as np

    from npusim.mapping.search import command_rows, conv_tile_cycles
    from npusim.npu.scalar import hw_vector

    hw = hw_vector(rows=16, cols=16, dataflow="ws", timing="pipelined")
    assert command_rows(2, 4, 16) == 4 and command_rows(35, 4, 16) == 36 and command_rows(32, 4, 16) == 32
    narrow = conv_tile_cycles(64, 2, 64, 3, 9, 1, hw, np.int64(4))
    assert narrow == conv_tile_cycles(64, 4, 64, 3, 9, 1, hw, np.int64(1))
    assert narrow > conv_tile_cycles(64, 2, 64, 3, 9, 1, hw, np.int64(1))
    # whole blocks of 16 columns are untouched; a 1x1 conv pads its flattened pixels once
    assert conv_tile_cycles(8, 32, 64, 64, 9, 1, hw, np.int64(4)) == conv_tile_cycles(8, 32, 64, 64, 9, 1, hw,
                                                                                     np.int64(1))
    # 33 pixels: two computes of 16 and one of a single row padded to 4: as 36 pixels
    assert conv_tile_cycles(3, 11, 64, 64, 1, 1, hw, np.int64(4)) == conv_tile_cycles(6, 6, 64, 64, 1, 1, hw,
                                                                                      np.int64(1))


def test_a_folds_next_preload_rides_on_its_last_compute():
    """Gemmini's execute controller pairs each compute with the next preload; a preload of
    new weights makes that pair take the array's 16 rows, a garbage one max(rows, 4).
    Derived by hand from ExecuteController.scala / LoopConv.scala (ucb-bar/MoCA): one
    preload (16), the folds back to back, the drain (16 + 16 - 2) once per tile."""
    import numpy as np

    from npusim.mapping.search import conv_tile_cycles, last_command_rows
    from npusim.npu.scalar import hw_vector, tile_cycles

    hw = hw_vector(rows=16, cols=16, dataflow="ws", timing="pipelined")
    assert last_command_rows(49, 4, 16) == 4 and last_command_rows(48, 4, 16) == 16
    assert last_command_rows(2, 4, 16) == 4 and last_command_rows(7, 4, 16) == 7
    # 1x1, 49 pixels (computes of 16, 16, 16 and 1 -> 4 rows), 64 -> 64 channels: 16 folds;
    # each but the last ends with its 1-row compute paired with new weights: 16 x 4 = 64
    assert conv_tile_cycles(7, 7, 64, 64, 1, 1, hw, np.int64(4)) == 16 + 15 * 64 + (16 * 3 + 4) + 30
    # 3x3, two rows of two columns, 3 -> 64 channels: 9 positions x 4 output blocks = 36 folds
    # of two computes: 4 rows, then 16 with the next weights
    assert conv_tile_cycles(2, 2, 64, 3, 9, 1, hw, np.int64(4)) == 16 + 35 * (4 + 16) + (4 + 4) + 30
    # whole 16-row computes hide the preload: the positions' folds simply run back to back,
    # one preload and one drain where a position at a time paid them nine times
    whole = conv_tile_cycles(4, 32, 64, 64, 9, 1, hw, np.int64(4))
    assert whole == 16 + 9 * 16 * 128 + 30
    assert whole == 9 * tile_cycles(128, 64, 64, 1, hw) - 8 * (16 + 30)
    # a dataflow that does not stream the pixels keeps one pipeline per kernel position
    os_hw = hw_vector(rows=16, cols=16, dataflow="os", timing="pipelined")
    assert conv_tile_cycles(2, 2, 64, 3, 9, 1, os_hw, np.int64(4)) == 9 * tile_cycles(8, 64, 3, 1, os_hw)


def test_a_steps_tail_is_the_compute_of_its_last_block_of_input_channels():
    """A 1x1 conv of 2056 input channels over 7x7 pixels into 16 channels, tiled along its input
    channels only: each step's tail (what it still computes once its last loads are in,
    matmul_waits_for: block) is the computes of its last block of 16 channels (8 in the last)."""
    import numpy as np

    from npusim.mapping.layout import layout_trace
    from npusim.mapping.search import conv_tile_cycles
    from npusim.mapping.streams import layer_streams
    from workloads.builder import TraceBuilder

    b = TraceBuilder("net")
    x = b.input(2056, 7, 7)
    x = b.conv("one", x, 16, 1)
    b.pool("pool", x, 7, stride=7)
    net = b.build()
    mapper = Mapper(GEMMINI, cache_dir=False)
    pw = np.int64(GEMMINI.npu.compute_min_rows)
    for layer in net.layers:
        plan = mapper.plan(layer, 1, UNMANAGED)
        nest = loop_nest(layer, GEMMINI.npu, 1)
        st = layer_streams(layer, net, nest, plan, layout_trace(net), mapper.hw, mapper.vec)
        if layer.op == "pool":
            assert np.array_equal(st.step_tail_cycles, st.step_cycles)
            continue
        assert (plan.tile_k, plan.tile_p * plan.tile_q) == (16, 49) and plan.tile_c % 16 == 0
        chans = [min(plan.tile_c, 2056 - c0) for c0 in range(0, 2056, plan.tile_c)]
        assert st.steps == len(chans) > 1 and chans[-1] % 16 == 8
        for s, c in enumerate(chans):
            assert st.step_cycles[s] == conv_tile_cycles(7, 7, 16, c, 1, 1, mapper.hw, pw)
            last = 8 if s == len(chans) - 1 else 16
            assert st.step_tail_cycles[s] == conv_tile_cycles(7, 7, 16, last, 1, 1, mapper.hw, pw)
            assert st.step_tail_cycles[s] < st.step_cycles[s]


def test_resadd_tiles_by_hand():
    """tile_I = min(pixels, MAX_BLOCK_LEN x DIM) = 64 pixels; channels shrink one at a time until
    ceil(I / 16) x 16 x ceil(J / 16) accumulator rows fit all 1024."""
    g = _rows()
    assert resadd_tiles(g, 96 * 96, 45) == (64, 45)  # 64 x 3 = 192 rows
    assert resadd_tiles(g, 3136, 256) == (64, 256)  # 64 x 16 = 1024 rows
    assert resadd_tiles(g, 3136, 512) == (64, 256)
    assert resadd_tiles(g, 10, 2048) == (10, 1024)  # 16 x 64 = 1024 rows


@pytest.mark.parametrize("shape", [(112, 112, 32, 2, 2), (56, 56, 64, 3, 2), (13, 13, 256, 3, 2), (7, 7, 512, 2, 2)])
def test_pool_tiles_fit_half_the_accumulator_with_their_windows(shape):
    porows, pocols, channels, size, stride = shape
    b, tp, tq, tg = pool_tiles(_rows(), porows, pocols, channels, size, stride)
    assert b == 1 and 1 <= tp <= porows and 1 <= tq <= pocols and 1 <= tg <= channels
    assert -(-tg // 16) * (tp * stride + size - 1) * (tq * stride + size - 1) <= 512


def test_pool_tiles_by_hand():
    """YOLOv2's first pool (2x2, stride 2, 32 channels, 112x112 out): rows and columns shrink in
    turn until 2 blocks x 15 x 17 input rows = 510 fit 512; over four blocks of channels the
    library keeps (channels - 1) / 64 blocks (256 -> 48 channels)."""
    g = _rows()
    assert pool_tiles(g, 112, 112, 32, 2, 2) == [1, 7, 8, 32]
    assert pool_tiles(g, 13, 13, 256, 3, 2)[3] == 48
    # 832 channels, 3x3 stride 1, 14x14: 52 blocks x 16 x 16 rows; the first step cuts the
    # channels to 192 and a row (the largest argument before them), the second to 32 and a
    # column (now the larger): 2 x 15 x 15 = 450 rows fit
    assert pool_tiles(g, 14, 14, 832, 3, 1) == [1, 13, 13, 32]


def test_the_mapper_plans_pools_and_residual_adds_with_the_librarys_tiles():
    soc = GEMMINI
    pool = Layer(name="p", op="pool", in_h=224, in_w=224, in_c=32, out_h=112, out_w=112, out_c=32,
                 kernel_h=2, kernel_w=2, stride=2, padding=0)
    plan = Mapper(soc, cache_dir=False).plan(pool, 1, UNMANAGED)
    assert (plan.tile_g, plan.tile_p, plan.tile_q, plan.tiled_by) == (32, 7, 8, "moca")
    add = Layer(name="a", op="eltwise", in_h=96, in_w=96, in_c=45, out_h=96, out_w=96, out_c=45,
                inputs=("x", "y"))
    plan = Mapper(soc, cache_dir=False).plan(add, 1, UNMANAGED)
    # 64 pixels of a 96-wide map: part of one row
    assert (plan.tile_g, plan.tile_p, plan.tile_q, plan.tiled_by) == (45, 1, 64, "moca")


def test_a_pool_loads_each_pixel_in_requests_of_one_accumulator_block():
    """sp_tiled_pool moves a pool's input into the accumulator, MAX_BLOCK_LEN_ACC = 64 B / (16 x 4 B)
    = 1 block of 16 channels per mvin row: YOLOv2's first pool (224 x 224 pixels of 32 channels,
    tiles of 14 x 16 pixels with no halo) reads 2 requests of 16 B a pixel, where a row of a
    transfer (the searched tiling's requests) takes its 32 channels in one; its stores and
    every other layer's loads keep the DMA's request size."""
    import numpy as np

    from npusim.mapping.layout import layout_trace
    from npusim.mapping.streams import layer_streams
    from workloads.builder import TraceBuilder

    b = TraceBuilder("net")
    x = b.input(32, 224, 224)
    b.pool("pool", x, 2, stride=2)
    net = b.build()
    layer = net.layers[0]
    nest = loop_nest(layer, GEMMINI.npu, 1)
    tiler = MocaLibraryTiler()
    assert tiler.input_request_bytes(nest, GEMMINI.npu) == 16
    conv = Layer(name="c", op="conv", in_h=56, in_w=56, in_c=64, out_h=56, out_w=56, out_c=64,
                 kernel_h=3, kernel_w=3, stride=1, padding=1)
    assert tiler.input_request_bytes(loop_nest(conv, GEMMINI.npu, 1), GEMMINI.npu) is None
    assert SearchTiler().input_request_bytes(nest, GEMMINI.npu) is None
    # 128-byte requests: two blocks of 16 accumulator elements per mvin row
    wide = dataclasses.replace(GEMMINI.npu, dma_request_bytes=128)
    assert tiler.input_request_bytes(nest, wide) == 32
    read = {}
    for name in ("moca", "search"):
        soc = GEMMINI.replace(npu=dataclasses.replace(GEMMINI.npu, tiler=name))
        mapper = Mapper(soc, cache_dir=False)
        plan = mapper.plan(layer, 1, UNMANAGED)
        assert plan.tile_g == 32
        st = layer_streams(layer, net, nest, plan, layout_trace(net), mapper.hw, mapper.stream_vec(nest))
        read[name] = int(st.step_read_requests.sum())
        # 112 x 112 outputs of 32 channels, stored in 16-byte requests
        assert int(st.step_write_requests.sum()) == 112 * 112 * 2
        # every request is a read or a write (the writes here at the DMA's 64-byte size: one a pixel)
        assert int((st.step_requests - st.step_read_requests).sum()) == 112 * 112
    assert read == {"moca": 224 * 224 * 2, "search": 224 * 224}
    assert np.array_equal(Mapper(GEMMINI, cache_dir=False).stream_vec(loop_nest(conv, GEMMINI.npu, 1)),
                          Mapper(GEMMINI, cache_dir=False).vec)


def test_the_tiler_is_a_soc_override_and_a_sweep_axis(cli, tmp_path):
    import pandas as pd

    r = cli("sweep", "--soc", "gemmini-moca", "--mix", "kws", "--cores", "1", "--tiler", "search,moca",
            "--policy", "isolated", "--jobs", "1", "--quiet", "--out", str(tmp_path / "r.csv"))
    assert r.returncode == 0, r.stderr
    rows = pd.read_csv(tmp_path / "r.csv").set_index("tiler")
    assert sorted(rows.index) == ["moca", "search"]
    # the library's tiles are not the search's: the same layers take other times
    assert rows.loc["moca", "mean_latency_cycles"] != rows.loc["search", "mean_latency_cycles"]
    bad = cli("run", "--soc", "camdn", "--tiler", "moca", "--mix", "kws")
    assert bad.returncode == 2 and bad.stderr.startswith(
        "error: <command line>: --tiler: moca needs a scratchpad shared by inputs and weights"), bad.stderr
    bad = cli("map", "--workload", "kws", "--soc", "gemmini-moca", "--tiler", "timeloop")
    assert bad.returncode == 2 and "--tiler: unknown value 'timeloop' (choose from search, moca)" in bad.stderr
