"""The model zoo: published totals, shipped CSVs, MoCA shapes, multi-task structure, properties."""

import csv
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from workloads import build, coe_graph, get_trace, model_entry, model_names
from workloads.trace import make_layer, parse_trace_text, trace_to_csv
from workloads.zoo.multitask import M3VIT_EXPERTS, M3VIT_TASKS

REF = Path(__file__).parent / "reference" / "gemmini_moca"
TRACES = Path(__file__).parent.parent / "workloads" / "traces"

REQUIRED = {"resnet50", "mobilenet_v2", "efficientnet_b0", "vit_b16", "pointpillars", "wav2vec2_base", "bert_base",
            "gnmt", "alexnet", "googlenet", "squeezenet", "kws", "yolov2", "yolo_lite", "m3vit",
            "decision_transformer", "grec", "coe_experts"}


def test_every_required_model_is_registered():
    assert REQUIRED <= set(model_names())


@pytest.mark.parametrize("name", sorted(REQUIRED))
def test_totals_against_published_figures(name):
    t = build(name)
    pub = model_entry(name).published
    assert pub.source, "every model cites where its numbers come from"
    if pub.macs:
        assert t.macs == pytest.approx(pub.macs, rel=0.03), (t.macs, pub.macs)
    if pub.params:
        assert t.params == pytest.approx(pub.params, rel=0.03), (t.params, pub.params)


@pytest.mark.parametrize("name", sorted(REQUIRED))
def test_shipped_csv_equals_builder(name):
    text = (TRACES / f"{name}.csv").read_text()
    assert text == trace_to_csv(build(name))
    assert parse_trace_text(text, f"{name}.csv", name) == build(name)


def test_parameters_are_builder_arguments():
    assert build("bert_base", seq_len=128).macs < build("bert_base").macs
    assert build("resnet50", batch=2).macs == 2 * build("resnet50").macs
    with pytest.raises(TypeError, match="no parameter"):
        build("resnet50", seq_len=3)
    assert get_trace("wav2vec2_base", seconds=2.0).macs > get_trace("wav2vec2_base").macs


def _ref_rows(net):
    return list(csv.DictReader(open(REF / f"{net}.csv")))


MOCA = {"resnet50": ("resnet50", {"variant": "moca"}), "alexnet": ("alexnet", {}),
        "googlenet": ("googlenet", {}), "squeezenet": ("squeezenet", {}), "kws": ("kws", {}),
        "yolov2": ("yolov2", {}), "yololite": ("yolo_lite", {})}


@pytest.mark.parametrize("net", sorted(MOCA))
def test_moca_shapes_match_the_reference(net):
    model, params = MOCA[net]
    trace = build(model, **params)
    by_name = {l.name: l for l in trace.layers}
    for r in _ref_rows(net):
        name, op = r["layer_name"], r["op"]
        assert name in by_name, f"{net}: no layer {name}"
        layer = by_name[name]
        if op == "conv":
            assert (layer.in_c, layer.out_c, layer.kernel_h, layer.stride, layer.padding) == (
                int(r["in_c"]), int(r["out_c"]), int(r["kernel_h"]), int(r["stride"]), int(r["padding"])), name
            assert (layer.in_h, layer.in_w, layer.out_h) == (int(r["in_h"]), int(r["in_w"]), int(r["out_h"])), name
        elif op == "fc":
            m, n, k = layer.gemm_dims()[:3]
            ref = sorted((int(r["in_c"]), int(r["out_c"])))
            assert sorted((k, n)) == ref, name
        elif op == "pool":
            assert layer.op == "pool" and layer.in_c == int(r["in_c"]), name
            if r["pool_size"]:
                assert (layer.kernel_h, layer.stride) == (int(r["pool_size"]), int(r["pool_stride"])), name
            assert (layer.out_h) == int(r["out_h"]), name
        elif op == "resadd":
            assert layer.op == "eltwise", name
            assert layer.in_c * layer.in_h * layer.in_w == int(r["M"]) * int(r["N"]), name
    # fused pools: the conv's pooled output has a separate pool layer of the right size
    for r in _ref_rows(net):
        if r["op"] == "conv" and r["pool_size"]:
            pooled = [l for l in trace.layers if l.op == "pool" and name_of_pool(l, r["layer_name"])]
            assert pooled and pooled[0].out_h == int(r["pool_out_h"]), r["layer_name"]


def name_of_pool(layer, conv_name):
    return layer.name == f"{conv_name}_pool"


def test_m3vit_task_pathways():
    t = build("m3vit")
    assert set(t.tasks) == set(M3VIT_TASKS)
    for task in M3VIT_TASKS:
        sub = t.for_task(task)
        experts = {l.expert for l in sub.layers if l.expert is not None}
        assert experts == set(M3VIT_EXPERTS[task])  # never a non-task expert
        names = {l.name for l in sub.layers}
        for l in sub.layers:
            assert all(p in names for p in l.inputs)
        # single-task inference is far cheaper than the dense multi-task model
        assert sub.macs < 0.7 * t.macs
    with pytest.raises(KeyError):
        t.for_task("saliency")


def test_coe_graph_is_consistent():
    g = coe_graph()
    t = build("coe_experts")
    assert set(g) == set(t.tasks)
    for src, nexts in g.items():
        assert sum(p for _, p in nexts) <= 1.0 + 1e-9
        assert all(dst in g for dst, _ in nexts)


def test_grec_and_dt_structure():
    g = build("grec")
    assert set(g.tasks) == {"ctr", "cvr", "like", "share"}
    assert sum(l.op == "embedding" for l in g.layers) == 26
    dt = build("decision_transformer")
    assert dt.layer("predict_action").N == 4 and dt.layer("embed_state").K == 39


def test_blocks_mark_fusable_runs():
    t = build("resnet50")
    blocks = {l.block for l in t.layers if l.block}
    assert len(blocks) == 16
    assert all(l.block for l in t.layers if ".conv" in l.name)


conv_shapes = st.fixed_dictionaries({
    "in_c": st.integers(1, 64), "h": st.integers(1, 40), "out_c": st.integers(1, 64), "k": st.integers(1, 5),
    "stride": st.integers(1, 3), "pad": st.integers(0, 2), "g": st.sampled_from([1, 2, 4]),
})


@settings(max_examples=80, deadline=None)
@given(conv_shapes)
def test_macs_and_bytes_consistent_with_shape(s):
    in_c, out_c = s["in_c"] * s["g"], s["out_c"] * s["g"]
    if s["k"] > s["h"] + 2 * s["pad"]:
        return
    layer = make_layer(dict(name="l", op="conv", in_c=in_c, in_h=s["h"], in_w=s["h"] + 1, out_c=out_c,
                            kernel_h=s["k"], kernel_w=s["k"], stride=s["stride"], padding=s["pad"], groups=s["g"]))
    assert layer.out_h == (s["h"] + 2 * s["pad"] - s["k"]) // s["stride"] + 1
    assert layer.macs == layer.out_h * layer.out_w * out_c * s["k"] ** 2 * in_c // s["g"] >= 0
    assert layer.weight_bytes == out_c * in_c // s["g"] * s["k"] ** 2
    assert layer.input_bytes == in_c * s["h"] * (s["h"] + 1)
    assert layer.output_bytes == out_c * layer.out_h * layer.out_w
    m, n, k, g = layer.gemm_dims()
    assert m * n * k * g == layer.macs


@settings(max_examples=40, deadline=None)
@given(m=st.integers(1, 300), n=st.integers(1, 300), k=st.integers(1, 300), b=st.integers(1, 8))
def test_matrix_ops_consistent(m, n, k, b):
    g = make_layer(dict(name="g", op="gemm", M=m, N=n, K=k))
    assert (g.macs, g.weight_bytes, g.input_bytes, g.output_bytes) == (m * n * k, k * n, m * k, m * n)
    mm = make_layer(dict(name="m", op="matmul", batch=b, M=m, N=n, K=k))
    assert mm.macs == b * m * n * k and mm.weight_bytes == 0 and mm.output_bytes == b * m * n
