"""Importers: SCALE-Sim v3 topologies and ONNX graphs, and round trips through the trace CSV."""

import math
import warnings
from pathlib import Path

import numpy as np
import pytest

from npusim.errors import InputError
from npusim.npu.scalesim_io import read_scalesim_topology
from workloads.importers import detect, importer_names, load_file
from workloads.importers.onnx_graph import UnsupportedOperatorWarning
from workloads.trace import parse_trace_text, trace_to_csv

SCALESIM = Path(__file__).parent / "reference" / "scalesim"
CONV_HEADER = "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,\n"


def _round_trip(trace):
    again = parse_trace_text(trace_to_csv(trace), "round.csv", trace.name)
    assert again == trace
    assert [(l.macs, l.weight_bytes, l.input_bytes, l.output_bytes) for l in again] == \
        [(l.macs, l.weight_bytes, l.input_bytes, l.output_bytes) for l in trace]
    return again


def test_importers_are_registered():
    assert set(importer_names()) == {"trace", "scalesim", "scalesim-gemm", "onnx"}


# -- SCALE-Sim -------------------------------------------------------------------------------------

def test_scalesim_conv_topology(tmp_path):
    p = tmp_path / "topo.csv"
    p.write_text(CONV_HEADER +
                 "conv1, 224, 224, 7, 7, 3, 64, 2,\n"
                 "\n"
                 "conv2, 20, 20, 3, 3, 64, 45, 3, 2:4\n"  # no trailing comma, an extra (sparsity) column
                 "DPconv, 12, 12, 3, 3, 8, 1, 1,\n"
                 "  ,  ,\n"  # a blank row of commas
                 "fc, 1, 1, 1, 1, 512, 10, 1,\n")
    assert detect(p) == "scalesim"
    t = load_file(p)
    c1, c2, dw, fc = t.layers
    assert (c1.op, c1.out_h, c1.in_c, c1.out_c, c1.padding) == ("conv", 110, 3, 64, 0)  # ceil((224-7+2)/2)
    assert c1.macs == 110 * 110 * 64 * 49 * 3
    assert (c2.out_h, c2.out_w) == (7, 7)  # SCALE-Sim: ceil((20 - 3 + 3) / 3), not floor's 6
    assert (dw.op, dw.groups, dw.out_c, dw.out_h) == ("dwconv", 8, 8, 10)
    assert dw.gemm_dims() == (100, 1, 9, 8)
    assert fc.gemm_dims() == (1, 10, 512, 1)
    assert [l.inputs for l in t.layers] == [(), ("conv1",), ("conv2",), ("DPconv",)]
    _round_trip(t)


def test_scalesim_gemm_topology(tmp_path):
    p = tmp_path / "gemm.csv"
    p.write_text("Layer, M, N, K,\nfc1, 128, 256, 512,\n\nfc2, 7, 9, 11\n")
    assert detect(p) == "scalesim-gemm"
    t = load_file(p)
    assert [(l.op, l.M, l.N, l.K) for l in t.layers] == [("gemm", 128, 256, 512), ("gemm", 7, 9, 11)]
    _round_trip(t)


@pytest.mark.parametrize("layout, form", [("conv_known.csv", "conv"), ("conv_odd.csv", "conv"), ("resnet50.csv", "conv"),
                                          ("mobilenet_v2.csv", "conv"),
                                          ("gemm_odd.csv", "gemm")])
def test_scalesim_reference_topologies_read_as_scalesim_does(layout, form):
    """The GEMM view equals the one the NPU model derives for SCALE-Sim's reference runs
    (tests/reference/scalesim: the topologies its COMPUTE_REPORTs were made from)."""
    from npusim.npu import read_scalesim_topology

    path = SCALESIM / "topologies" / layout
    assert detect(path) == ("scalesim" if form == "conv" else "scalesim-gemm")
    t = load_file(path)
    topo = read_scalesim_topology(path, form=form)
    assert len(t) == len(topo) and len(t) > 0
    for layer, row in zip(t.layers, topo.itertuples()):
        m, n, k, g = layer.gemm_dims()
        assert (m, n, k, g) == (row.m, row.n, row.k, row.groups), layer.name
    _round_trip(t)


@pytest.mark.parametrize("row, column, message", [
    ("conv1, 4, 4, 7, 7, 3, 64, 1,", "Filter Height", "filter height 7 is larger than the input height 4"),
    ("conv1, 8, 4, 3, 5, 3, 64, 1,", "Filter Width", "larger than the input width 4"),
    ("conv1, 8, 8, 3, 3, 3, -64, 1,", "Num Filter", "must be a positive integer, got -64"),
    ("conv1, 8, 8, 3, 3, 3.5, 64, 1,", "Channels", "expected an integer, got '3.5'"),
    ("conv1, 8, 8, 3, 3, 3, 64, 0,", "Strides", "must be a positive integer, got 0"),
    ("conv1, 8, 8, 3,", "Filter Width", "missing"),
])
def test_scalesim_bad_rows(tmp_path, row, column, message):
    p = tmp_path / "bad.csv"
    p.write_text(CONV_HEADER + "ok, 8, 8, 3, 3, 3, 4, 1,\n" + row + "\n")
    with pytest.raises(InputError) as info:
        load_file(p, "scalesim")
    e = info.value
    assert (e.source, e.line, e.field) == (str(p), 3, column) and message in e.message


def test_scalesim_v2_column_stride_is_read_not_dropped(tmp_path):
    # SCALE-Sim v2 writes "Stride height, Stride width": a column stride equal to the row stride
    # imports; a different one was dropped without a word (out_w from the row stride)
    p = tmp_path / "v2.csv"
    header = CONV_HEADER.rstrip().rstrip(",").replace("Strides", "Stride height") + ", Stride width,\n"
    p.write_text(header + "conv1, 224, 224, 7, 7, 3, 64, 2, 2,\n")
    assert load_file(p, "scalesim").layers[0].out_w == 110
    p.write_text(header + "conv1, 224, 224, 7, 7, 3, 64, 2, 2,\nconv2, 20, 20, 3, 3, 64, 45, 2, 1,\n")
    with pytest.raises(InputError) as info:
        load_file(p, "scalesim")
    e = info.value
    assert (e.line, e.field, e.message) == (
        3, "Stride width", "1 differs from the stride 2: npusim reads one stride for both directions")
    # the N:M column after the column stride is read, not dropped as 1:1
    p.write_text(header.rstrip().rstrip(",") + ", Sparsity,\nconv1, 224, 224, 7, 7, 3, 64, 2, 2, 2:4,\n"
                 "conv2, 224, 224, 7, 7, 3, 64, 2, , 1:4,\n")
    assert list(read_scalesim_topology(p).sparsity) == ["2:4", "1:4"]
    # a 9th column named otherwise (v3's batch size) is still ignored
    p.write_text(CONV_HEADER.rstrip().rstrip(",") + ", Batch Size,\nconv1, 224, 224, 7, 7, 3, 64, 2, 4,\n")
    assert load_file(p, "scalesim").layers[0].out_w == 110


def test_scalesim_layout_file_is_not_a_topology():
    with pytest.raises(InputError, match="layout file"):
        load_file(SCALESIM / "layouts" / "conv_odd.csv", "scalesim")


def test_scalesim_empty_topology(tmp_path):
    p = tmp_path / "empty.csv"
    p.write_text(CONV_HEADER)
    with pytest.raises(InputError, match="no layers"):
        load_file(p, "scalesim")


def test_detection_needs_a_known_header(tmp_path):
    p = tmp_path / "odd.csv"
    p.write_text("a,b\n1,2\n")
    with pytest.raises(InputError) as info:
        load_file(p)
    assert info.value.field == "header" and "--format" in info.value.message
    with pytest.raises(InputError, match="unknown format"):
        load_file(p, "caffe")


def test_detection_reads_a_quoted_header(tmp_path):
    """A trace written with every field quoted (R's write.csv, pandas' QUOTE_ALL) is a trace: its
    header was split on commas with the quotes kept, and its 11 columns taken for a SCALE-Sim topology."""
    p = tmp_path / "quoted.csv"
    header = ["name", "op", "batch", "in_c", "in_h", "in_w", "out_c", "kernel_h", "kernel_w", "stride", "padding"]
    row = ["c1", "conv", "1", "3", "32", "32", "16", "3", "3", "1", "1"]
    p.write_text("\r\n".join(",".join(f'"{f}"' for f in fields) for fields in (header, row)) + "\r\n")
    assert detect(p) == "trace"
    layer = load_file(p).layers[0]
    assert (layer.name, layer.op, layer.in_c, layer.out_c, layer.padding, layer.macs) == ("c1", "conv", 3, 16, 1,
                                                                                          32 * 32 * 16 * 27)


# -- ONNX ------------------------------------------------------------------------------------------

def _save(tmp_path, nodes, inputs, inits, outputs, name="net", output_shape=None):
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    init = [numpy_helper.from_array(rng.standard_normal(shape).astype(np.float32), n) for n, shape in inits.items()]
    graph = helper.make_graph(
        nodes, name, [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in inputs.items()],
        [helper.make_tensor_value_info(o, TensorProto.FLOAT, output_shape) for o in outputs], init)
    path = tmp_path / f"{name}.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return path


def _cnn(tmp_path, with_unknown=False):
    from onnx import helper

    nodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], name="conv1", pads=[1, 1, 1, 1], strides=[1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
        helper.make_node("Conv", ["r1", "w2"], ["c2"], name="dw", pads=[1, 1, 1, 1], group=8),
        helper.make_node("Conv", ["r1", "w3"], ["c3"], name="grouped", group=2),
        helper.make_node("Concat", ["c2", "c3"], ["cat"], name="cat", axis=1),
        helper.make_node("MaxPool", ["cat"], ["p"], name="pool", kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Mul", ["p", "scale"], ["ps"], name="scale"),  # by a constant: fused
        helper.make_node("Add", ["ps", "p"], ["a"], name="add"),
        helper.make_node("AveragePool", ["a"], ["ap"], name="avg", kernel_shape=[3, 3], strides=[2, 2],
                         pads=[0, 0, 1, 1]),
        helper.make_node("GlobalAveragePool", ["ap"], ["g"], name="gap"),
        helper.make_node("Flatten", ["g"], ["f"], name="flat"),
        helper.make_node("Gemm", ["f", "wfc", "bfc"], ["y"], name="fc", transB=1),
        helper.make_node("Softmax", ["y"], ["sm"], name="softmax"),
        helper.make_node("MatMul", ["sm", "y2"], ["mm"], name="mm"),
    ]
    inits = {"w1": (8, 3, 3, 3), "b1": (8,), "w2": (8, 1, 3, 3), "w3": (8, 4, 1, 1), "wfc": (10, 16),
             "bfc": (10,), "scale": (1,)}
    outputs = ["mm"]
    if with_unknown:
        nodes.append(helper.make_node("TopK", ["mm", "kk"], ["z", "zi"], name="topk"))
        nodes.append(helper.make_node("Relu", ["z"], ["zr"], name="relu_after"))
        inits["kk"] = (1,)
        outputs = ["zr"]
    return _save(tmp_path, nodes, {"x": [1, 3, 16, 16], "y2": [10, 5]}, inits, outputs)


def test_onnx_import(tmp_path):
    path = _cnn(tmp_path)
    assert detect(path) == "onnx"
    t = load_file(path)
    by = {l.name: l for l in t.layers}
    assert list(by) == ["conv1", "dw", "grouped", "pool", "add", "avg", "gap", "fc", "softmax", "mm"]
    assert by["conv1"].op == "conv" and by["conv1"].macs == 16 * 16 * 8 * 27 and by["conv1"].inputs == ()
    assert by["dw"].op == "dwconv" and by["dw"].groups == 8 and by["dw"].gemm_dims() == (256, 1, 9, 8)
    assert by["grouped"].op == "conv" and by["grouped"].groups == 2 and by["grouped"].params == 8 * 4
    assert by["pool"].inputs == ("dw", "grouped") and by["pool"].in_c == 16  # concat: both producers
    assert by["add"].inputs == ("pool", "pool")  # the scale by a constant fused into its producer
    assert (by["avg"].padding, by["avg"].out_h) == (0, 4)  # asymmetric pads: begin pad, exact output
    assert (by["gap"].kernel_h, by["gap"].out_h) == (4, 1)
    assert (by["fc"].op, by["fc"].M, by["fc"].K, by["fc"].N, by["fc"].inputs) == ("gemm", 1, 16, 10, ("gap",))
    assert by["softmax"].op == "eltwise"
    assert (by["mm"].op, by["mm"].M, by["mm"].K, by["mm"].N, by["mm"].inputs) == ("matmul", 1, 10, 5, ("softmax",))
    _round_trip(t)


def test_onnx_broadcast_operand_is_not_streamed(tmp_path):
    # a squeeze-excitation block: y [1, 8, 4, 4] times its per-channel scale s [1, 8, 1, 1]
    from onnx import helper

    nodes = [helper.make_node("Conv", ["x", "w1"], ["y"], name="conv", pads=[1, 1, 1, 1]),
             helper.make_node("GlobalAveragePool", ["y"], ["g"], name="squeeze"),
             helper.make_node("Conv", ["g", "w2"], ["e"], name="excite"),
             helper.make_node("Sigmoid", ["e"], ["s"], name="gate"),
             helper.make_node("Mul", ["y", "s"], ["z"], name="se_scale"),
             helper.make_node("Add", ["z", "y"], ["r"], name="residual")]
    t = load_file(_save(tmp_path, nodes, {"x": [1, 3, 4, 4]}, {"w1": (8, 3, 3, 3), "w2": (8, 8, 1, 1)}, ["r"]))
    by = {l.name: l for l in t.layers}
    scale = by["se_scale"]
    assert (scale.op, scale.inputs) == ("eltwise", ("conv",))  # the 8 scale factors are not a streamed input
    assert scale.input_elems() == (128,) and scale.output_elems == 128 and scale.vector_ops == 128
    assert by["residual"].inputs == ("se_scale", "conv") and by["residual"].input_elems() == (128, 128)
    _round_trip(t)


def test_onnx_unknown_operator_is_warned_and_skipped(tmp_path):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        t = load_file(_cnn(tmp_path, with_unknown=True))
    messages = [str(w.message) for w in caught if issubclass(w.category, UnsupportedOperatorWarning)]
    assert len(messages) == 1 and "TopK" in messages[0] and "topk" in messages[0]
    assert len(t) == 10 and t.layers[-1].name == "mm"


def test_onnx_lstm(tmp_path):
    from onnx import helper

    H, I, T = 8, 6, 5
    nodes = [helper.make_node("LSTM", ["x", "W", "R"], ["y"], name="lstm", hidden_size=H, direction="bidirectional"),
             helper.make_node("LSTM", ["x", "W1", "R1"], ["y1"], name="lstm_bf", hidden_size=H, layout=1)]
    inits = {"W": (2, 4 * H, I), "R": (2, 4 * H, H), "W1": (1, 4 * H, I), "R1": (1, 4 * H, H)}
    t = load_file(_save(tmp_path, nodes, {"x": [T, 1, I]}, inits, ["y", "y1"]))
    assert [(l.name, l.M, l.K, l.N, l.batch) for l in t.layers] == [
        ("lstm.fwd", T, I + H, 4 * H, 1), ("lstm.bwd", T, I + H, 4 * H, 1), ("lstm_bf", 1, I + H, 4 * H, T)]
    assert t.layers[0].macs == T * (I + H) * 4 * H
    _round_trip(t)


def test_onnx_matmul_forms(tmp_path):
    from onnx import helper

    nodes = [
        helper.make_node("MatMul", ["x", "w"], ["h"], name="proj"),  # [2, 7, 16] x [16, 32]: a gemm, M = 14
        helper.make_node("Transpose", ["h"], ["ht"], name="t", perm=[0, 2, 1]),
        helper.make_node("MatMul", ["h", "ht"], ["s"], name="scores"),  # batched activations x activations
        helper.make_node("MatMul", ["wl", "xt"], ["o"], name="left"),  # weights on the left: transposed
    ]
    inits = {"w": (16, 32), "wl": (24, 16)}
    t = load_file(_save(tmp_path, nodes, {"x": [2, 7, 16], "xt": [16, 3]}, inits, ["s", "o"]))
    by = {l.name: l for l in t.layers}
    assert (by["proj"].op, by["proj"].M, by["proj"].K, by["proj"].N) == ("gemm", 14, 16, 32)
    assert (by["scores"].op, by["scores"].batch, by["scores"].M, by["scores"].K, by["scores"].N) == (
        "matmul", 2, 7, 32, 7)
    assert by["scores"].inputs == ("proj", "proj")
    assert (by["left"].op, by["left"].M, by["left"].K, by["left"].N) == ("gemm", 3, 16, 24)
    assert by["left"].macs == 24 * 16 * 3


def test_onnx_same_padding_and_1d_conv(tmp_path):
    from onnx import helper

    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], name="same", auto_pad="SAME_UPPER", strides=[2, 2]),
             helper.make_node("Conv", ["a", "w1"], ["c1"], name="conv1d", pads=[2, 2], strides=[1])]
    t = load_file(_save(tmp_path, nodes, {"x": [1, 3, 15, 15], "a": [1, 4, 50]}, {"w": (8, 3, 3, 3),
                                                                                  "w1": (6, 4, 5)}, ["c", "c1"]))
    same, c1 = t.layers
    assert (same.out_h, same.padding) == (8, 1) and same.macs == 8 * 8 * 8 * 27
    assert (c1.in_h, c1.in_w, c1.kernel_h, c1.kernel_w, c1.padding, c1.out_w) == (1, 50, 1, 5, 2, 50)


def test_onnx_bad_files(tmp_path):
    bad = tmp_path / "junk.onnx"
    bad.write_bytes(b"\x08\x07not a model at all\xff\xfe")
    with pytest.raises(InputError) as info:
        load_file(bad)
    assert info.value.source == str(bad) and info.value.field == "file"
    from onnx import helper

    no_layers = _save(tmp_path, [helper.make_node("Relu", ["x"], ["y"], name="r")], {"x": [1, 4]}, {}, ["y"],
                      name="relu_only")
    with pytest.raises(InputError, match="no layer"):
        load_file(no_layers)
    # attributes of the wrong kind, or fields they set that make no layer: the node is named
    x, w = {"x": [1, 3, 8, 8]}, {"w": (4, 3, 3, 3)}
    for attrs, expect in [({"strides": 2}, "c: cannot read Conv node"),
                          ({"group": [1, 2]}, "c: cannot read Conv node"),
                          ({"strides": [0, 0]}, "c.stride: must be at least 1"),
                          # a float where ONNX has an integer is malformed, not truncated (1.5 was read as 1)
                          ({"group": 1.5}, "c: cannot read Conv node: expected an integer attribute, got 1.5"),
                          ({"group": float("inf")}, "c: cannot read Conv node: expected an integer attribute, got inf"),
                          ({"auto_pad": "WEIRD"}, "c: cannot read Conv node: auto_pad must be NOTSET, SAME_UPPER")]:
        path = _save(tmp_path, [helper.make_node("Conv", ["x", "w"], ["y"], name="c", **attrs)], x, w, ["y"],
                     name="badattr", output_shape=[1, 4, 6, 6])
        with pytest.raises(InputError) as info:
            load_file(path)
        assert str(info.value).startswith(f"{path}: {expect}"), str(info.value)


def test_an_empty_onnx_file_says_so(tmp_path):
    path = tmp_path / "empty.onnx"
    path.write_bytes(b"")
    with pytest.raises(InputError) as info:
        load_file(path)
    assert str(info.value) == f"{path}: file: not a readable ONNX model: it holds no graph"


def test_onnx_lstm_direction_must_be_known(tmp_path):
    from onnx import helper

    nodes = [helper.make_node("LSTM", ["x", "W", "R"], ["y"], name="lstm", hidden_size=8, direction="sideways")]
    path = _save(tmp_path, nodes, {"x": [5, 1, 6]}, {"W": (1, 32, 6), "R": (1, 32, 8)}, ["y"])
    with pytest.raises(InputError) as info:
        load_file(path)
    assert str(info.value) == (f"{path}: lstm: cannot read LSTM node: direction must be forward, reverse or "
                               "bidirectional, got 'sideways'")


def test_onnx_nodes_out_of_order_are_sorted_and_a_cycle_is_refused(tmp_path):
    from onnx import helper

    conv1 = helper.make_node("Conv", ["x", "w1"], ["c1"], name="conv1", pads=[1, 1, 1, 1])
    relu = helper.make_node("Relu", ["c1"], ["r1"], name="relu")
    conv2 = helper.make_node("Conv", ["r1", "w2"], ["c2"], name="conv2", pads=[1, 1, 1, 1])
    head = helper.make_node("Conv", ["x", "w1"], ["h"], name="head", pads=[1, 1, 1, 1])  # independent of the rest
    x, w = {"x": [1, 3, 8, 8]}, {"w1": (8, 3, 3, 3), "w2": (8, 8, 3, 3)}
    # written backwards: read in dependency order, the given order kept where it is valid (head stays first)
    t = load_file(_save(tmp_path, [head, conv2, relu, conv1], x, w, ["c2", "h"], name="backwards"))
    assert [(l.name, l.inputs) for l in t.layers] == [("head", ()), ("conv1", ()), ("conv2", ("conv1",))]
    assert t.layers == load_file(_save(tmp_path, [head, conv1, relu, conv2], x, w, ["c2", "h"], name="fwd")).layers

    add = helper.make_node("Add", ["c1", "c2"], ["s"], name="add")
    conv_s = helper.make_node("Conv", ["s", "w2"], ["c2"], name="conv2", pads=[1, 1, 1, 1])
    after = helper.make_node("Relu", ["c2"], ["out"], name="after")  # waits on the cycle without being in it
    late = helper.make_node("Conv", ["r1", "w2"], ["late"], name="late")
    looped = _save(tmp_path, [after, conv1, add, conv_s], x, w, ["out"], name="cycle")
    with pytest.raises(InputError) as info:
        load_file(looped)
    assert str(info.value) == f"{looped}: add: the graph has a cycle: add -> conv2 -> add"
    own = helper.make_node("Add", ["c1", "self"], ["self"], name="own")
    selfish = _save(tmp_path, [conv1, own, late, relu], x, w, ["self", "late"], name="self_loop")
    with pytest.raises(InputError) as info:
        load_file(selfish)
    assert str(info.value) == f"{selfish}: own: the graph has a cycle: own -> own"


def test_onnx_names_are_written_once_and_subgraph_reads_count_as_reads(tmp_path):
    from onnx import TensorProto, helper

    from workloads.importers.onnx_graph import _sort_nodes

    x, w = {"x": [1, 3, 8, 8]}, {"w1": (8, 3, 3, 3)}
    conv = helper.make_node("Conv", ["x", "w1"], ["c1"], name="conv1", pads=[1, 1, 1, 1])
    for nodes, expect in [
        ([conv, helper.make_node("Relu", ["c1"], ["x"], name="shadow")], "shadow: writes 'x', already a graph input"),
        ([conv, helper.make_node("Relu", ["x"], ["c1"], name="again")], "again: writes 'c1', already the output of conv1"),
    ]:
        path = _save(tmp_path, nodes, x, w, ["c1"], name="twice")
        with pytest.raises(InputError) as info:
            load_file(path)
        assert str(info.value).startswith(f"{path}: {expect}"), str(info.value)
    # an If whose branches read c1 comes after the conv that writes it, though the file lists it first
    branch = helper.make_graph([helper.make_node("Relu", ["c1"], ["b"])], "branch", [],
                               [helper.make_tensor_value_info("b", TensorProto.FLOAT, None)])
    cond = helper.make_node("If", ["flag"], ["picked"], name="choose", then_branch=branch, else_branch=branch)
    graph = helper.make_graph([cond, conv], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8]),
                                                  helper.make_tensor_value_info("flag", TensorProto.BOOL, [])],
                              [helper.make_tensor_value_info("picked", TensorProto.FLOAT, None)])
    model = helper.make_model(graph)
    assert _sort_nodes(model, "m.onnx") == [1, 0] and [n.name for n in model.graph.node] == ["conv1", "choose"]
    # unnamed nodes keep the name of their place in the file after sorting
    mm = [helper.make_node("MatMul", ["h", "w2"], ["y"]), helper.make_node("MatMul", ["x2", "w2"], ["h"])]
    t = load_file(_save(tmp_path, mm, {"x2": [1, 8]}, {"w2": (8, 8)}, ["y"], name="unnamed"))
    assert [(l.name, l.inputs) for l in t.layers] == [("matmul_1", ()), ("matmul_0", ("matmul_1",))]


def test_imported_names_are_safe(tmp_path):
    from onnx import helper

    nodes = [helper.make_node("Gemm", ["x", "w"], ["y"], name="a;b"),
             helper.make_node("Gemm", ["y", "w2"], ["z"], name="-"),
             helper.make_node("Gemm", ["z", "w3"], ["u"], name="#c\nd\u2028e\tf")]
    t = load_file(_save(tmp_path, nodes, {"x": [1, 4]}, {"w": (4, 4), "w2": (4, 2), "w3": (2, 2)}, ["u"]))
    assert [l.name for l in t.layers] == ["a_b", "layer", "#c_d_e_f"] and t.layers[1].inputs == ("a_b",)
    _round_trip(t)  # '#c_d_e_f' is quoted: unquoted, the reader would skip its row as a comment
    assert '\n"#c_d_e_f",gemm,' in trace_to_csv(t)
    assert math.isclose(t.macs, 4 * 4 + 4 * 2 + 2 * 2)


# -- export to SCALE-Sim ---------------------------------------------------------------------

@pytest.mark.parametrize("name, params", [("resnet50", {}), ("mobilenet_v2", {}), ("efficientnet_b0", {}),
                                          ("bert_base", {}), ("gnmt", {}), ("yolov2", {}), ("wav2vec2_base", {}),
                                          ("mobilenet_v2", {"batch": 2})])
def test_scalesim_export_times_exactly_the_array_work(tmp_path, name, params):
    from npusim.npu import read_scalesim_topology
    from workloads import get_trace
    from workloads.importers.scalesim import write_topology

    trace = get_trace(name, **params)
    skipped = write_topology(trace, tmp_path / "t.csv")
    rows = read_scalesim_topology(tmp_path / "t.csv")  # SCALE-Sim's reading: its output size, its DP rule
    array = [l for l in trace.layers if l.is_compute]
    assert sorted(skipped) == sorted(l.name for l in trace.layers if not l.is_compute)
    # the MACs SCALE-Sim will time are the trace's array MACs, row for row where a layer is one row
    assert int((rows.m * rows.n * rows.k * rows.groups).sum()) == sum(l.macs for l in array)
    one_row = {l.name: l for l in array if l.gemm_dims()[3] == 1 or l.op == "dwconv"}
    for r in rows.itertuples():
        layer = one_row.get(r.name.removesuffix("_DP"))
        if layer is not None:
            assert (r.m, r.n, r.k, r.groups) == layer.gemm_dims(), r.name


def test_scalesim_export_names_and_layout(tmp_path):
    from workloads.builder import TraceBuilder
    from workloads.importers.scalesim import write_topology

    b = TraceBuilder("net")
    x = b.input(8, 10, 10)
    x = b.conv("a,DP b", x, 16, 3, padding=1)         # not depthwise: loses its DP; no comma
    x = b.dwconv("dw", x, 3, stride=2, padding=1)      # depthwise: gains one
    x = b.dwconv("dwDP", x, 3, padding=1)              # depthwise with one: keeps it
    x = b.conv("grouped", x, 16, 1, groups=4)          # grouped: one GEMM row per group
    b.pool("pool", x, 2)
    skipped = write_topology(b.build(), tmp_path / "t.csv", tmp_path / "l.csv")
    topo = [line.split(", ") for line in (tmp_path / "t.csv").read_text().splitlines()[1:]]
    layout = [line.split(", ") for line in (tmp_path / "l.csv").read_text().splitlines()[1:]]
    assert skipped == ["pool"]
    assert [r[0] for r in topo] == ["a_D_P b", "dw_DP", "dwDP", "grouped.0", "grouped.1", "grouped.2", "grouped.3"]
    assert topo[0][1:] == ["12", "12", "3", "3", "8", "16", "1,"]      # 10x10 out: padding folded in
    assert topo[1][1:] == ["11", "11", "3", "3", "16", "1", "2,"]      # 5x5 out = (11 - 3) / 2 + 1
    assert topo[3][1:] == ["25", "1", "1", "1", "4", "4", "1,"]        # M = 25 pixels, K = N = 16 / 4
    assert [r[0] for r in layout] == [r[0] for r in topo]
    assert all(len(r) == 21 and r[-1].endswith(",") for r in layout)
    assert layout[1][5] == "16" and layout[0][5] == "1"                 # a DP row's field 5: its channels


def test_scalesim_export_names_read_back_as_written(tmp_path):
    """SCALE-Sim splits a row at commas and keeps quotes; npusim's reader strips quotes: an exported
    name holds neither, so the topology imported and exported again is the same file."""
    from workloads.builder import TraceBuilder
    from workloads.importers.scalesim import write_topology

    b = TraceBuilder("net")
    x = b.input(8, 10, 10)
    x = b.conv('"q",x', x, 16, 3, padding=1)
    x = b.dwconv('d"w', x, 3, padding=1)
    x = b.dwconv('"DP"', x, 3, padding=1)
    b.conv('g"1,"', x, 16, 1, groups=2)
    write_topology(b.build(), tmp_path / "a.csv")
    write_topology(load_file(tmp_path / "a.csv"), tmp_path / "b.csv")
    assert (tmp_path / "b.csv").read_text() == (tmp_path / "a.csv").read_text()
    names = [line.split(", ")[0] for line in (tmp_path / "a.csv").read_text().splitlines()[1:]]
    assert names == ["_q__x", "d_w_DP", "_DP_", "g_1__.0", "g_1__.1"]
    assert [l.name for l in load_file(tmp_path / "a.csv").layers] == names


@pytest.mark.parametrize("topology", ["conv_odd.csv", "gemm_odd.csv", "resnet50.csv", "mobilenet_v2.csv"])
def test_scalesim_import_then_export_keeps_scalesims_work(tmp_path, topology):
    """A SCALE-Sim topology read in and written back out gives SCALE-Sim the same
    GEMMs, row for row (partial windows, depthwise rows and GEMM-form rows included)."""
    from npusim.npu import read_scalesim_topology
    from workloads.importers.scalesim import write_topology

    src = SCALESIM / "topologies" / topology
    write_topology(load_file(src), tmp_path / "again.csv")
    before = read_scalesim_topology(src, expand_depthwise=True)
    after = read_scalesim_topology(tmp_path / "again.csv", expand_depthwise=True)
    cols = ["m", "n", "k", "groups", "depthwise"]
    assert after[cols].to_dict("records") == before[cols].to_dict("records")
    if topology in ("resnet50.csv", "mobilenet_v2.csv"):  # npusim's own exports: the same file again
        assert (tmp_path / "again.csv").read_text() == src.read_text()  # (not dw_D_P_DP)


def test_onnx_symbolic_sizes(tmp_path):
    from onnx import helper

    conv = [helper.make_node("Conv", ["x", "w"], ["y"], name="c", pads=[1, 1, 1, 1])]
    dyn_batch = _save(tmp_path, conv, {"x": ["N", 3, 8, 8]}, {"w": (4, 3, 3, 3)}, ["y"], name="dyn_batch")
    with pytest.warns(UserWarning, match="input 'x': batch dimension 'N' taken as 1"):
        layer = load_file(dyn_batch).layer("c")
    assert (layer.batch, layer.in_h, layer.in_w, layer.out_h) == (1, 8, 8, 8)
    dyn_size = _save(tmp_path, conv, {"x": [1, 3, "H", "W"]}, {"w": (4, 3, 3, 3)}, ["y"], name="dyn_size")
    with pytest.raises(InputError) as info:
        load_file(dyn_size)
    assert str(info.value) == (f"{dyn_size}: input x: dimension 2 is 'H', not a size: export the model with fixed "
                               "input sizes")
    negative = _save(tmp_path, conv, {"x": [1, -3, 8, 8]}, {"w": (4, 3, 3, 3)}, ["y"], name="negative")
    with pytest.raises(InputError) as info:
        load_file(negative)
    assert str(info.value) == (f"{negative}: input x: dimension 1 is -3, not a size: export the model with fixed "
                               "input sizes")  # the file's value, not 0
    for batch in (0, -3):  # only a symbolic batch is taken as 1: a fixed one must be a size
        fixed = _save(tmp_path, conv, {"x": [batch, 3, 8, 8]}, {"w": (4, 3, 3, 3)}, ["y"], name=f"batch{batch}")
        with pytest.raises(InputError) as info:
            load_file(fixed)
        assert str(info.value) == (f"{fixed}: input x: dimension 0 is {batch}, not a size: export the model with "
                                   "fixed input sizes")


def test_onnx_operands_that_do_not_fit_are_refused(tmp_path):
    from onnx import helper

    cases = [
        ([helper.make_node("Conv", ["x", "w"], ["y"], name="c")], {"x": [1, 3, 8, 8]}, {"w": (4, 5, 3, 3)},
         "c: weight 'w' of shape [4, 5, 3, 3] takes 5 input channels, the input has 3"),
        ([helper.make_node("MatMul", ["x", "w"], ["y"], name="m")], {"x": [4, 8]}, {"w": (5, 6)},
         "m: MatMul of [4, 8] and [5, 6]: the inner sizes 8 and 5 differ"),
        ([helper.make_node("Gemm", ["x", "w"], ["y"], name="g", transB=1)], {"x": [2, 8]}, {"w": (7, 9)},
         "g: Gemm of [2, 8] and [7, 9]: the inner sizes 8 and 9 differ"),
        ([helper.make_node("LSTM", ["x", "w", "r"], ["y"], name="l", hidden_size=4)], {"x": [5, 1, 8]},
         {"w": (1, 12, 8), "r": (1, 16, 4)},
         "l: W 'w' of shape [1, 12, 8] does not fit hidden_size 4, input size 8 and 1 direction(s): "
         "expected [1, 16, 8]"),
        ([helper.make_node("LSTM", ["x", "w", "r"], ["y"], name="l", hidden_size=4, direction="bidirectional")],
         {"x": [5, 1, 8]}, {"w": (2, 16, 8), "r": (2, 16, 5)},
         "l: R 'r' of shape [2, 16, 5] does not fit hidden_size 4, input size 8 and 2 direction(s): "
         "expected [2, 16, 4]"),
        ([helper.make_node("LSTM", ["x", "w", "r", "b"], ["y"], name="l", hidden_size=4)], {"x": [5, 1, 8]},
         {"w": (1, 16, 8), "r": (1, 16, 4), "b": (1, 16)},
         "l: B 'b' of shape [1, 16] does not fit hidden_size 4, input size 8 and 1 direction(s): expected [1, 32]"),
        ([helper.make_node("LSTM", ["x", "w", "r"], ["y"], name="l", hidden_size=4, layout=1)], {"x": [1, 5, 8]},
         {"w": (1, 16, 5), "r": (1, 16, 4)},  # batch-first: the input size is the last dimension still
         "l: W 'w' of shape [1, 16, 5] does not fit hidden_size 4, input size 8 and 1 direction(s): "
         "expected [1, 16, 8]"),
        # an input or a hidden size no LSTM has (the message used to be Python's own "too many values to unpack")
        ([helper.make_node("LSTM", ["x", "w", "r"], ["y"], name="l", hidden_size=4)], {"x": [5, 8]},
         {"w": (1, 16, 8), "r": (1, 16, 4)},
         "l: cannot read LSTM node: input X needs 3 dimensions (sequence, batch, input), got shape [5, 8]"),
        ([helper.make_node("LSTM", ["x"], ["y"], name="l", hidden_size=-4)], {"x": [5, 1, 8]}, {},
         "l: cannot read LSTM node: hidden_size must be at least 1, got -4"),
    ]
    for i, (nodes, inputs, inits, expect) in enumerate(cases):
        path = _save(tmp_path, nodes, inputs, inits, ["y"], name=f"bad{i}")
        with pytest.raises(InputError) as info:
            load_file(path)
        assert str(info.value) == f"{path}: {expect}"


def test_trace_comments_never_swallow_rows_and_lines_stay_true():
    # a quote in a comment must not open a CSV field that eats the rows after it
    text = "# a trace\nname,op,M,N,K\na,gemm,4,4,4\n#note,\"x\nb,gemm,8,8,8\n\n"
    trace = parse_trace_text(text, "c.csv", "c")
    assert [l.name for l in trace.layers] == ["a", "b"]
    with pytest.raises(InputError) as e:
        parse_trace_text(text + "c,gemm,0,8,8\n", "c.csv", "c")
    assert str(e.value) == "c.csv:7: M: must be at least 1, got 0"
    # a quoted cell over two lines: the row's line is its first, and the rows after it keep theirs
    text = 'name,op,M,N,K,task\nx,gemm,4,4,4,"a\nb"\ny,gemm,0,4,4,a\n'
    with pytest.raises(InputError) as e:
        parse_trace_text(text, "n.csv", "n")
    assert str(e.value) == "n.csv:2: task: name holds a control character or line break: 'a\\nb'"
    with pytest.raises(InputError) as e:
        parse_trace_text(text.replace('"a\nb"', '"a;\nb"'), "n.csv", "n")
    assert str(e.value) == "n.csv:4: M: must be at least 1, got 0"
    with pytest.raises(InputError) as e:  # a quote never closed: not a row of empty cells
        parse_trace_text('name,op,M,N,K\ng1,gemm,4,4,4\n"g2,gemm,4,4,4\n', "q.csv", "q")
    assert str(e.value) == "q.csv:3: row: malformed CSV: unexpected end of data"
    # whatever a message quotes, the error stays one line (control characters escaped)
    assert str(InputError("n.csv", "layer", "x\ny\x07: too big", 3)) == "n.csv:3: layer: x\\ny\\x07: too big"
    # and of a readable length: a long value is shown by its two ends
    long = str(InputError("n.csv", "M", "expected an integer, got '" + "1" * 5000 + "'", 2))
    assert long.startswith("n.csv:2: M: expected an integer, got '111") and long.endswith("111'")
    assert "...(4627 characters left out)..." in long and len(long) < 500


def test_a_zero_fraction_reads_as_an_integer_but_no_other_float_spelling():
    # TRACES.md: `64.0` reads as 64 (spreadsheet exports); exponents and non-ASCII digits do not
    trace = parse_trace_text("name,op,M,N,K\na,gemm,4,64.0,4.\n", "f.csv", "f")
    assert (trace.layer("a").N, trace.layer("a").K) == (64, 4)
    for cell in ("6.4e1", "64.5", "\uff16\uff14", "64.\uff10", "nan", "inf", "."):
        with pytest.raises(InputError) as e:
            parse_trace_text(f"name,op,M,N,K\na,gemm,4,{cell},4\n", "f.csv", "f")
        assert str(e.value) == f"f.csv:2: N: expected an integer, got {cell!r}"


def test_a_csv_field_over_the_csv_modules_limit_is_an_input_error(tmp_path):
    from npusim.npu.scalesim_io import read_scalesim_topology

    with pytest.raises(InputError) as e:
        parse_trace_text("name,op,M,N,K\na,gemm,4,4,4\nb,gemm," + "1" * 200_000 + ",4,4\n", "big.csv", "big")
    assert (e.value.line, e.value.field) == (3, "row") and "field larger than field limit" in e.value.message
    p = tmp_path / "big_topology.csv"
    p.write_text(CONV_HEADER + "conv1, " + "1" * 200_000 + ", 8, 3, 3, 3, 4, 1,\n")
    with pytest.raises(InputError) as e:
        read_scalesim_topology(p)
    assert (e.value.line, e.value.field) == (2, "row") and "field larger than field limit" in e.value.message


def test_a_conv_topology_read_as_gemm_is_refused(tmp_path):
    from npusim.npu.scalesim_io import read_scalesim_topology

    topo = tmp_path / "k.csv"
    topo.write_text("Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, "
                    "Strides,\nConv1, 224, 224, 7, 7, 3, 64, 2,\n")
    with pytest.raises(InputError) as e:
        read_scalesim_topology(topo, form="gemm")
    assert str(e.value).startswith(f"{topo}:2: form: this row has a conv layer's 7 numbers")
    assert read_scalesim_topology(topo, form="auto").iloc[0]["form"] == "conv"
    gemm = tmp_path / "g.csv"
    gemm.write_text("Layer, M, N, K,\nfc, 98, 98, 3, 2:4,\n")  # a GEMM row with its sparsity column still reads
    assert read_scalesim_topology(gemm, form="gemm").iloc[0][["m", "n", "k"]].tolist() == [98, 98, 3]


def _same_conv(tmp_path, auto_pad):
    from onnx import helper

    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], name="c", auto_pad=auto_pad, strides=[2, 2])]
    return load_file(_save(tmp_path, nodes, {"x": [1, 3, 8, 8]}, {"w": (4, 3, 3, 3)}, ["c"],
                           name=auto_pad.lower())).layer("c")


def test_onnx_same_upper_pads_the_odd_pixel_at_the_end_same_lower_at_the_begin(tmp_path):
    # ONNX auto_pad: out = ceil(8 / 2) = 4, total pad = (4 - 1) * 2 + 3 - 8 = 1 (odd);
    # SAME_UPPER puts the extra pixel at the end (begin pad 1 // 2 = 0), SAME_LOWER at the begin (1)
    upper, lower = _same_conv(tmp_path, "SAME_UPPER"), _same_conv(tmp_path, "SAME_LOWER")
    assert (upper.out_h, upper.out_w, upper.padding) == (4, 4, 0)
    assert (lower.out_h, lower.out_w, lower.padding) == (4, 4, 1)


def test_onnx_matmul_batch_comes_from_either_operand(tmp_path):
    from onnx import helper

    # numpy broadcasting: [3, 8] @ [4, 8, 5] is [4, 3, 5]: 4 products of 3x8 by 8x5
    nodes = [helper.make_node("MatMul", ["a", "b"], ["y"], name="mm")]
    mm = load_file(_save(tmp_path, nodes, {"a": [3, 8], "b": [4, 8, 5]}, {}, ["y"])).layer("mm")
    assert (mm.op, mm.batch, mm.M, mm.K, mm.N) == ("matmul", 4, 3, 8, 5)
    assert mm.macs == 4 * 3 * 8 * 5


def test_onnx_1d_conv_padding_is_its_begin_pad(tmp_path):
    from onnx import helper

    # 1-D pads are (begin, end) along W: [2, 1] pads 2 in front; out = 50 + 2 + 1 - 5 + 1 = 49
    nodes = [helper.make_node("Conv", ["a", "w"], ["c"], name="c", pads=[2, 1])]
    c = load_file(_save(tmp_path, nodes, {"a": [1, 4, 50]}, {"w": (6, 4, 5)}, ["c"])).layer("c")
    assert (c.in_h, c.in_w, c.kernel_w, c.padding, c.out_w) == (1, 50, 5, 2, 49)


@pytest.mark.parametrize("fmt, first_row", [
    ("scalesim", "conv1, 224, 224, 7, 7, 3, 64, 2,"),
    ("scalesim-gemm", "fc1, 64, 128, 256,"),
])
def test_scalesim_topology_without_header_is_refused(tmp_path, fmt, first_row):
    # SCALE-Sim skips the first line unread, so a file without a header would lose its first layer
    p = tmp_path / "noheader.csv"
    p.write_text("\n" + first_row + "\n" + first_row.replace("1,", "2,", 1) + "\n")
    with pytest.raises(InputError) as info:
        load_file(p, fmt)
    e = info.value
    assert (e.source, e.line, e.field) == (str(p), 2, "header") and "is a layer" in e.message


def test_onnx_weights_computed_from_constants_stay_weights(tmp_path):
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    # a QDQ model's int8 weights reach the MatMul through DequantizeLinear; other exporters
    # transpose or scale a weight in the graph: all three are weights, so each product is a gemm
    # with K x N parameters, not a matmul of two activations with none
    nodes = [helper.make_node("DequantizeLinear", ["wq", "ws"], ["w"], name="dq"),
             helper.make_node("MatMul", ["x", "w"], ["h1"], name="fc1"),  # [4, 16] x [16, 8]
             helper.make_node("Transpose", ["w2"], ["w2t"], name="t", perm=[1, 0]),
             helper.make_node("MatMul", ["h1", "w2t"], ["h2"], name="fc2"),  # [4, 8] x [8, 6]
             helper.make_node("Mul", ["w3", "g"], ["w3s"], name="weight_norm"),
             helper.make_node("Gemm", ["h2", "w3s"], ["y"], name="fc3", transB=1)]  # [4, 6] x [6, 5]
    inits = [numpy_helper.from_array(np.ones((16, 8), np.int8), "wq"),
             numpy_helper.from_array(np.array(0.5, np.float32), "ws"),
             numpy_helper.from_array(np.ones((6, 8), np.float32), "w2"),
             numpy_helper.from_array(np.ones((5, 6), np.float32), "w3"),
             numpy_helper.from_array(np.ones((5, 1), np.float32), "g")]
    graph = helper.make_graph(nodes, "q", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4, 16])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits)
    path = tmp_path / "q.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    t = load_file(path)
    assert [(l.name, l.op, l.M, l.K, l.N, l.params, l.inputs) for l in t.layers] == [
        ("fc1", "gemm", 4, 16, 8, 128, ()), ("fc2", "gemm", 4, 8, 6, 48, ("fc1",)),
        ("fc3", "gemm", 4, 6, 5, 30, ("fc2",))]
    _round_trip(t)


def test_onnx_matmul_batch_broadcasts_dimension_by_dimension(tmp_path):
    from onnx import helper

    # [2, 1, 5, 6] @ [1, 3, 6, 7] is [2, 3, 5, 7]: 6 products, not the larger operand's 3
    nodes = [helper.make_node("MatMul", ["a", "b"], ["y"], name="mm"),
             helper.make_node("MatMul", ["y", "w"], ["z"], name="proj")]  # [2, 3, 5, 7] x [7, 4]
    t = load_file(_save(tmp_path, nodes, {"a": [2, 1, 5, 6], "b": [1, 3, 6, 7]}, {"w": (7, 4)}, ["z"]))
    mm, proj = t.layers
    assert (mm.op, mm.batch, mm.M, mm.K, mm.N, mm.macs) == ("matmul", 6, 5, 6, 7, 6 * 5 * 6 * 7)
    assert mm.output_elems == 2 * 3 * 5 * 7
    assert (proj.op, proj.M, proj.K, proj.N) == ("gemm", 30, 7, 4)
    _round_trip(t)


def test_onnx_windows_whose_axes_differ_import_with_exact_outputs(tmp_path):
    from onnx import helper

    # Inception-v3's 1x7 conv pads W only; CRNN's max pools stride (2, 1); pads only at the end.
    # The trace has one stride and one padding: these used to be refused as impossible outputs
    nodes = [helper.make_node("Conv", ["x", "w17"], ["a"], name="c1x7", pads=[0, 3, 0, 3]),
             helper.make_node("MaxPool", ["a"], ["b"], name="pool21", kernel_shape=[2, 2], strides=[2, 1],
                              pads=[0, 0, 0, 1]),
             helper.make_node("Conv", ["b", "w3"], ["c"], name="endpad", pads=[0, 0, 2, 2])]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        t = load_file(_save(tmp_path, nodes, {"x": [1, 8, 16, 16]}, {"w17": (4, 8, 1, 7), "w3": (4, 4, 3, 3)},
                            ["c"]))
    c17, pool, end = t.layers
    # exact outputs and MACs; the one padding is the least that makes both outputs possible
    assert (c17.out_h, c17.out_w, c17.stride, c17.padding, c17.macs) == (16, 16, 1, 3, 16 * 16 * 4 * 8 * 7)
    assert (pool.out_h, pool.out_w, pool.stride, pool.padding) == (8, 16, 1, 0)  # stride 2 would need pad 7
    assert (end.in_h, end.out_h, end.out_w, end.padding, end.macs) == (8, 8, 16, 1, 8 * 16 * 4 * 36)
    messages = [str(w.message) for w in caught if issubclass(w.category, UnsupportedOperatorWarning)]
    assert len(messages) == 3 and "strides (2, 1)" in messages[1] and "uses stride 1, padding 0" in messages[1]
    _round_trip(t)


def test_onnx_matmul_with_stacked_weights_counts_every_weight_matrix(tmp_path):
    from onnx import helper

    # [4, 5, 6] x weights [4, 6, 7] (four experts' matrices stacked): 4 products with 4 weight
    # matrices, not one 20 x 6 x 7 gemm with one. One activation matrix times stacked weights
    # ([6, 5] under [3, 2, 6], [5, 6] over [2, 6, 4]) is read once, not once per weight matrix
    nodes = [helper.make_node("MatMul", ["x", "we"], ["y"], name="experts"),
             helper.make_node("MatMul", ["wl", "z"], ["o"], name="left"),
             helper.make_node("MatMul", ["r", "wr"], ["q"], name="right")]
    t = load_file(_save(tmp_path, nodes, {"x": [4, 5, 6], "z": [6, 5], "r": [1, 5, 6]},
                        {"we": (4, 6, 7), "wl": (3, 2, 6), "wr": (2, 6, 4)}, ["y", "o", "q"]))
    ex, left, right = t.layers
    assert (ex.op, ex.groups, ex.gemm_dims(), ex.params, ex.input_elems(), ex.output_elems) == (
        "conv", 4, (5, 7, 6, 4), 4 * 6 * 7, (4 * 5 * 6,), 4 * 5 * 7)
    for layer, weights, act, out in ((left, 3 * 2 * 6, 6 * 5, 3 * 2 * 5), (right, 2 * 6 * 4, 5 * 6, 2 * 5 * 4)):
        assert (layer.op, layer.params, layer.input_elems(), layer.output_elems, layer.macs) == (
            "gemm", weights, (act,), out, out * 6)
    _round_trip(t)


def test_onnx_where_passes_on_its_data_not_its_mask(tmp_path):
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    # attention masking as BERT and GPT-2 export it: Where(mask, -inf, scores) -> Softmax; the
    # softmax reads the scores (the mask comes from the input ids), so its producer is the matmul
    nodes = [helper.make_node("MatMul", ["q", "k"], ["s"], name="scores"),
             helper.make_node("Equal", ["ids", "zero"], ["m"], name="eq"),
             helper.make_node("Where", ["m", "neg", "s"], ["sm"], name="mask"),
             helper.make_node("Softmax", ["sm"], ["p"], name="softmax", axis=-1)]
    inputs = [helper.make_tensor_value_info("q", TensorProto.FLOAT, [1, 4, 8, 16]),
              helper.make_tensor_value_info("k", TensorProto.FLOAT, [1, 4, 16, 8]),
              helper.make_tensor_value_info("ids", TensorProto.INT64, [1, 1, 1, 8])]
    inits = [numpy_helper.from_array(np.array(0, np.int64), "zero"),
             numpy_helper.from_array(np.array(-1e9, np.float32), "neg")]
    graph = helper.make_graph(nodes, "w", inputs, [helper.make_tensor_value_info("p", TensorProto.FLOAT, None)],
                              inits)
    path = tmp_path / "w.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    t = load_file(path)
    assert [(l.name, l.inputs) for l in t.layers] == [("scores", ()), ("softmax", ("scores",))]


def test_onnx_conv_transpose_counts_its_macs_and_weights(tmp_path):
    from onnx import helper

    # U-Net's 2x2 stride-2 up-convolution (exact: one 2x2 patch per input pixel) and DCGAN's 4x4
    # stride-2 pad-1 one (overlapping patches: warned), grouped in two; 1-D likewise
    nodes = [helper.make_node("ConvTranspose", ["x", "wu"], ["u"], name="up", strides=[2, 2]),
             helper.make_node("ConvTranspose", ["u", "wd"], ["d"], name="dcgan", strides=[2, 2], pads=[1, 1, 1, 1],
                              group=2),
             helper.make_node("ConvTranspose", ["a", "w1"], ["b"], name="up1d", strides=[2])]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        t = load_file(_save(tmp_path, nodes, {"x": [1, 8, 4, 4], "a": [1, 6, 10]},
                            {"wu": (8, 4, 2, 2), "wd": (4, 2, 4, 4), "w1": (6, 5, 2)}, ["d", "b"]))
    up, dcgan, up1d = t.layers
    # MACs of a transposed conv: input pixels x C_in / groups x C_out x kh x kw
    assert (up.op, up.in_c, up.in_h, up.in_w, up.out_c, up.groups) == ("conv", 8, 4, 4, 16, 1)
    assert (up.macs, up.params, up.output_elems) == (16 * 8 * 4 * 4, 8 * 4 * 4, 4 * 8 * 8)
    assert dcgan.inputs == ("up",)
    assert (dcgan.in_c, dcgan.in_h, dcgan.out_c, dcgan.groups) == (4, 8, 2 * 2 * 16, 2)
    assert (dcgan.macs, dcgan.params) == (64 * 2 * 4 * 16, 4 * 2 * 16)
    assert (up1d.in_h, up1d.in_w, up1d.out_c, up1d.macs) == (1, 10, 10, 10 * 6 * 10)
    messages = [str(w.message) for w in caught if issubclass(w.category, UnsupportedOperatorWarning)]
    assert len(messages) == 1 and "dcgan" in messages[0] and "overlap-add" in messages[0]
    _round_trip(t)


def test_onnx_gather_of_a_table_by_token_ids_is_an_embedding(tmp_path):
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    # BERT as exported: word embeddings Gather(table, input_ids), plus position embeddings gathered
    # by constant ids (a constant: fused into the Add), then a projection; a Gather of activations
    # (the [CLS] token) passes through
    nodes = [helper.make_node("Gather", ["words", "ids"], ["we"], name="word_emb"),
             helper.make_node("Gather", ["positions", "pos_ids"], ["pe"], name="pos_emb"),
             helper.make_node("Add", ["we", "pe"], ["e"], name="add"),
             helper.make_node("MatMul", ["e", "w"], ["h"], name="proj"),
             helper.make_node("Gather", ["h", "zero"], ["cls"], name="cls", axis=1)]
    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array(rng.standard_normal((100, 16)).astype(np.float32), "words"),
             numpy_helper.from_array(rng.standard_normal((8, 16)).astype(np.float32), "positions"),
             numpy_helper.from_array(np.arange(8, dtype=np.int64).reshape(1, 8), "pos_ids"),
             numpy_helper.from_array(rng.standard_normal((16, 4)).astype(np.float32), "w"),
             numpy_helper.from_array(np.array(0, np.int64), "zero")]
    graph = helper.make_graph(nodes, "bert", [helper.make_tensor_value_info("ids", TensorProto.INT64, [2, 8])],
                              [helper.make_tensor_value_info("cls", TensorProto.FLOAT, None)], inits)
    path = tmp_path / "bert.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    t = load_file(path)
    emb, proj = t.layers
    assert (emb.name, emb.op, emb.M, emb.N, emb.K, emb.inputs, emb.params) == (
        "word_emb", "embedding", 16, 16, 100, (), 100 * 16)
    assert (proj.op, proj.M, proj.K, proj.N, proj.inputs) == ("gemm", 16, 16, 4, ("word_emb",))
    _round_trip(t)


@pytest.mark.parametrize("end", ["\n", "\r\n", "\r"])
def test_a_byte_that_is_not_utf8_is_named_at_its_line_whatever_the_line_ends(tmp_path, end):
    # a CSV line ends at \r\n, \r or \n (npusim.specio.csv_lines): so does the line of a bad byte
    from workloads.trace import read_trace

    path = tmp_path / "t.csv"
    path.write_bytes(end.join(["name,op,M,N,K", "fc,gemm,1,2,3", "caf\xe9,gemm,1,2,3", ""]).encode("latin-1"))
    with pytest.raises(InputError) as e:
        read_trace(path)
    assert e.value.line == 3
    path.write_bytes(end.join(["name,op,M,N,K", "fc,gemm,1,2,0", ""]).encode())  # a parse error agrees
    with pytest.raises(InputError) as e:
        read_trace(path)
    assert e.value.line == 2
