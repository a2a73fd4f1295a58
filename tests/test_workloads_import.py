"""Importers (SCALE-Sim topologies, ONNX graphs) and the trace CLI with its bad-input errors."""

import json
import warnings

import numpy as np
import pytest

from workloads import get_trace
from workloads.importers import load_file
from workloads.importers.onnx_graph import UnsupportedOperatorWarning
from workloads.trace import parse_trace_text, trace_to_csv


def test_scalesim_conv_topology(tmp_path):
    p = tmp_path / "topo.csv"
    p.write_text("Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,\n"
                 "conv1, 224, 224, 7, 7, 3, 64, 2,\n"
                 "\n"
                 "conv2, 20, 20, 3, 3, 64, 45, 3, 99\n"  # no trailing comma, an extra column
                 "DPconv, 12, 12, 3, 3, 8, 1, 1,\n")
    t = load_file(p)
    c1, c2, dw = t.layers
    assert (c1.op, c1.out_h, c1.in_c, c1.out_c, c1.padding) == ("conv", 110, 3, 64, 0)  # ceil((224-7+2)/2)
    assert (c2.out_h, c2.out_w) == (7, 7)  # SCALE-Sim: ceil((20 - 3 + 3) / 3)
    assert dw.op == "dwconv" and dw.groups == 8 and dw.out_c == 8 and dw.out_h == 10
    assert c1.macs == 110 * 110 * 64 * 49 * 3


def test_scalesim_gemm_topology(tmp_path):
    p = tmp_path / "gemm.csv"
    p.write_text("Layer, M, N, K,\nfc1, 128, 256, 512,\nfc2, 7, 9, 11\n")
    t = load_file(p, "scalesim-gemm")
    assert [(l.op, l.M, l.N, l.K) for l in t.layers] == [("gemm", 128, 256, 512), ("gemm", 7, 9, 11)]
    round_trip = parse_trace_text(trace_to_csv(t), "x.csv", t.name)
    assert round_trip == t


def test_scalesim_bad_rows(tmp_path):
    from npusim.errors import InputError

    p = tmp_path / "bad.csv"
    p.write_text("Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,\n"
                 "conv1, 4, 4, 7, 7, 3, 64, 1,\n")
    with pytest.raises(InputError) as info:
        load_file(p)
    assert info.value.line == 2 and "larger than the input" in info.value.message


def _onnx_model(tmp_path, with_unknown=False):
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)

    def w(name, *shape):
        return numpy_helper.from_array(rng.standard_normal(shape).astype(np.float32), name)

    nodes = [
        helper.make_node("Conv", ["x", "w1"], ["c1"], name="conv1", pads=[1, 1, 1, 1], strides=[1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
        helper.make_node("Conv", ["r1", "w2"], ["c2"], name="dw", pads=[1, 1, 1, 1], group=8),
        helper.make_node("Conv", ["r1", "w3"], ["c3"], name="grouped", group=2),
        helper.make_node("Concat", ["c2", "c3"], ["cat"], name="cat", axis=1),
        helper.make_node("MaxPool", ["cat"], ["p"], name="pool", kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Add", ["p", "p"], ["a"], name="add"),
        helper.make_node("GlobalAveragePool", ["a"], ["g"], name="gap"),
        helper.make_node("Flatten", ["g"], ["f"], name="flat"),
        helper.make_node("Gemm", ["f", "wfc"], ["y"], name="fc", transB=1),
        helper.make_node("MatMul", ["y", "y2"], ["mm"], name="mm"),
    ]
    inits = [w("w1", 8, 3, 3, 3), w("w2", 8, 1, 3, 3), w("w3", 8, 4, 1, 1), w("wfc", 10, 16)]
    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 16, 16]),
              helper.make_tensor_value_info("y2", TensorProto.FLOAT, [10, 5])]
    outputs = [helper.make_tensor_value_info("mm", TensorProto.FLOAT, None)]
    if with_unknown:
        nodes.append(helper.make_node("NonMaxSuppression", ["mm"], ["z"], name="nms"))
        outputs = [helper.make_tensor_value_info("z", TensorProto.INT64, None)]
    graph = helper.make_graph(nodes, "net", inputs, outputs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    path = tmp_path / "net.onnx"
    onnx.save(model, str(path))
    return path


def test_onnx_import(tmp_path):
    t = load_file(_onnx_model(tmp_path))
    by = {l.name: l for l in t.layers}
    assert set(by) == {"conv1", "dw", "grouped", "pool", "add", "gap", "fc", "mm"}
    assert by["conv1"].op == "conv" and by["conv1"].macs == 16 * 16 * 8 * 27
    assert by["dw"].op == "dwconv" and by["dw"].groups == 8
    assert by["grouped"].groups == 2 and by["grouped"].out_h == 16
    assert by["pool"].inputs == ("dw", "grouped") and by["pool"].in_c == 16  # concat: both producers
    assert by["add"].inputs == ("pool", "pool")
    assert (by["fc"].op, by["fc"].M, by["fc"].K, by["fc"].N) == ("gemm", 1, 16, 10)
    assert by["mm"].op == "matmul" and by["mm"].inputs == ("fc",)
    assert by["conv1"].inputs == ()


def test_onnx_lstm(tmp_path):
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    H, I, T = 8, 6, 5
    W = numpy_helper.from_array(np.zeros((2, 4 * H, I), np.float32), "W")
    R = numpy_helper.from_array(np.zeros((2, 4 * H, H), np.float32), "R")
    node = helper.make_node("LSTM", ["x", "W", "R"], ["y"], name="lstm", hidden_size=H, direction="bidirectional")
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [T, 1, I])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], [W, R])
    path = tmp_path / "lstm.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), str(path))
    t = load_file(path)
    assert [(l.op, l.M, l.K, l.N) for l in t.layers] == [("lstm", T, I + H, 4 * H)] * 2
    assert t.macs == 2 * T * (I + H) * 4 * H


def test_onnx_unknown_operator_is_warned(tmp_path):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        t = load_file(_onnx_model(tmp_path, with_unknown=True))
    assert any(issubclass(w.category, UnsupportedOperatorWarning) and "NonMaxSuppression" in str(w.message)
               for w in caught)
    assert len(t) == 8


def test_cli_trace_import_and_show(cli, tmp_path):
    src = _onnx_model(tmp_path, with_unknown=True)
    out = tmp_path / "net.csv"
    r = cli("trace", "import", str(src), "--out", str(out))
    assert r.returncode == 0, r.stderr
    assert "NonMaxSuppression" in r.stderr and "8 layers" in r.stdout
    assert get_trace(str(out)).layer("fc").N == 10
    r = cli("trace", "show", "resnet50", "--json")
    data = json.loads(r.stdout)
    for key in ("name", "layers", "macs", "params", "weight_bytes", "activation_bytes"):
        assert key in data
    assert data["layers"] == 72 and abs(data["macs"] - 4.089e9) < 0.01e9
    r = cli("trace", "list")
    assert r.returncode == 0 and "coe_experts" in r.stdout


@pytest.mark.parametrize("text, expect", [
    ("name,in_c\nl1,3\n", "bad.csv:1: op: required column is missing"),
    ("name,op,in_c,in_h,in_w,out_c,kernel_h,kernel_w\nl1,conv,3,8,8,-4,3,3\n", "bad.csv:2: out_c: must not be negative"),
    ("name,op,in_c,in_h,in_w,out_c,kernel_h,kernel_w\nl1,conv,3,8,8,4.5,3,3\n", "bad.csv:2: out_c: expected an integer"),
    ("name,op,in_c,in_h,in_w,out_c,kernel_h,kernel_w\nl1,conv,3,2,2,4,5,5\n", "bad.csv:2: kernel_h: kernel 5 is larger"),
    ("name,op,in_c,in_h,in_w,out_c,kernel_h,kernel_w\n\nl1,warp,3,8,8,4,3,3\n", "bad.csv:3: op: unknown op 'warp'"),
    ("name,op,M,N,K,inputs\nfc,gemm,1,2,3,\nfc2,gemm,1,2,3,nope\n", "bad.csv:3: inputs: no earlier layer named 'nope'"),
])
def test_cli_bad_traces(cli, tmp_path, text, expect):
    p = tmp_path / "bad.csv"
    p.write_text(text)
    r = cli("trace", "show", str(p))
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and expect in r.stderr, r.stderr


def test_cli_unknown_workload(cli):
    r = cli("trace", "show", "resnet51")
    assert r.returncode == 2 and r.stderr.startswith("error: resnet51: workload: unknown workload")
