"""The model zoo: registry, published totals, shipped CSVs, MoCA shapes, blocks, builder parameters."""

import csv
from pathlib import Path

import pytest

from npusim.errors import InputError
from workloads import build, get_trace, model_entry, model_names, model_parameters, workload_fault
from workloads.trace import parse_trace_text, trace_to_csv

REF = Path(__file__).parent / "reference" / "gemmini_moca"
TRACES = Path(__file__).parent.parent / "workloads" / "traces"

CAMDN = ("resnet50", "mobilenet_v2", "efficientnet_b0", "vit_b16", "pointpillars", "wav2vec2_base", "bert_base", "gnmt")
MOCA = ("resnet50", "alexnet", "googlenet", "squeezenet", "kws", "yolov2", "yolo_lite")
MULTITASK = ("m3vit", "decision_transformer", "grec", "coe_experts")
REQUIRED = set(CAMDN) | set(MOCA) | set(MULTITASK)


def test_every_required_model_is_registered():
    assert set(model_names()) == REQUIRED
    assert len(model_names()) == 18


@pytest.mark.parametrize("name", sorted(REQUIRED))
def test_totals_against_published_figures(name):
    t = build(name)
    pub = model_entry(name).published
    assert pub.source, "every model cites where its shapes and numbers come from"
    if pub.macs:
        assert t.macs == pytest.approx(pub.macs, rel=0.03), (t.macs, pub.macs)
    if pub.params:
        assert t.params == pytest.approx(pub.params, rel=0.03), (t.params, pub.params)


def test_published_figures_cover_the_models_that_have_them():
    with_macs = {n for n in model_names() if model_entry(n).published.macs}
    with_params = {n for n in model_names() if model_entry(n).published.params}
    assert with_macs == {"resnet50", "mobilenet_v2", "efficientnet_b0", "vit_b16", "alexnet", "googlenet",
                         "squeezenet", "yolov2", "yolo_lite"}
    assert with_params == {"resnet50", "mobilenet_v2", "efficientnet_b0", "vit_b16", "alexnet", "googlenet",
                           "squeezenet", "wav2vec2_base", "bert_base"}


@pytest.mark.parametrize("name", sorted(REQUIRED))
def test_shipped_csv_equals_builder(name):
    text = (TRACES / f"{name}.csv").read_text(encoding="utf-8")
    trace = build(name)
    assert text == trace_to_csv(trace), "run: python -m workloads.zoo --write"
    assert parse_trace_text(text, f"{name}.csv", name) == trace


@pytest.mark.parametrize("name", sorted(REQUIRED))
def test_batch_is_a_builder_parameter(name):
    """Batch 1 by default; batch 2 doubles the work and the activations, not the weights."""
    assert model_parameters(name)["batch"] == 1
    one, two = build(name), build(name, batch=2)
    assert len(one) == len(two) and two.params == one.params
    assert two.macs == 2 * one.macs
    assert two.activation_bytes == 2 * one.activation_bytes
    assert sum(l.input_bytes for l in two) == 2 * sum(l.input_bytes for l in one)


@pytest.mark.parametrize("name", sorted(REQUIRED))
def test_blocks_are_consecutive_runs(name):
    layers = build(name).layers
    closed: set[str] = set()
    for prev, layer in zip((None,) + layers[:-1], layers):
        if prev is not None and prev.block and prev.block != layer.block:
            closed.add(prev.block)
        assert not layer.block or layer.block not in closed, f"block {layer.block} is interrupted"


def test_camdn_block_rules():
    def blocks(name):
        return list(dict.fromkeys(l.block for l in build(name).layers if l.block))

    assert len(blocks("resnet50")) == 16  # one per bottleneck
    assert len(blocks("mobilenet_v2")) == 17  # one per inverted residual
    assert len(blocks("efficientnet_b0")) == 16  # one per MBConv (with its squeeze-excitation)
    for name in ("vit_b16", "bert_base", "wav2vec2_base"):
        b = blocks(name)
        assert len(b) == 24 and b[:2] == ["encoder.0.attn", "encoder.0.mlp"]  # attention half, MLP half
    assert blocks("gnmt") == ["encoder", "decoder"]
    assert blocks("pointpillars") == ["block1", "block2", "block3"]
    r = build("resnet50")
    assert {l.block for l in r.layers if l.name.startswith("layer1.0")} == {"layer1.0"}
    assert not r.layer("conv1").block and not r.layer("fc").block


def test_sequence_and_size_parameters():
    assert build("bert_base", seq_len=128).macs < build("bert_base").macs
    assert build("bert_base", seq_len=128).params == build("bert_base").params
    assert build("gnmt", seq_len=25).macs < build("gnmt").macs
    assert get_trace("wav2vec2_base", seconds=2.0).macs > get_trace("wav2vec2_base").macs
    assert build("resnet50", image_size=448).macs == pytest.approx(4 * build("resnet50").macs, rel=0.01)
    assert build("m3vit", image_size=512).layer("patch_embed").out_h == 32


@pytest.mark.parametrize("name, params, message", [
    ("resnet50", {"seq_len": 3}, "resnet50 has no parameter 'seq_len'"),
    ("resnet50", {"batch": 0}, "batch: must be a positive integer"),
    ("resnet50", {"batch": 2**40}, "batch: must be at most 2147483647"),
    ("resnet50", {"batch": 2**28}, "operations or elements is more than a layer may have"),
    ("bert_base", {"seq_len": 2.5}, "seq_len: must be a positive integer"),
    ("resnet50", {"variant": "tf"}, "variant must be"),
    ("m3vit", {"top_k": 17}, "top_k must be between 1"),
    ("m3vit", {"image_size": [2.5, 64]}, "image_size must be an integer or (height, width) integers"),
    ("m3vit", {"image_size": [float("inf"), 64]}, "image_size must be an integer or (height, width) integers"),
    ("m3vit", {"image_size": [True, 64]}, "image_size must be an integer or (height, width) integers"),
    ("wav2vec2_base", {"seconds": -1.0}, "seconds must be positive"),
])
def test_bad_builder_parameters_are_input_errors(name, params, message):
    with pytest.raises(InputError) as info:
        get_trace(name, **params)
    assert info.value.source == name and message in str(info.value)


@pytest.mark.parametrize("name, params, field", [
    ("resnet50", {"variant": "tf", "batch": 2}, "variant"),  # the builder's "<parameter> must ..." names it
    ("m3vit", {"batch": 1, "top_k": 17}, "top_k"),
    ("m3vit", {"image_size": [2.5, 64]}, "image_size"),
    ("resnet50", {"batch": 0}, "batch"),
    ("decision_transformer", {"heads": 7}, "params"),  # a layer's complaint: no one parameter to name
    ("resnet50", {"seq_len": 3}, "params"),
])
def test_a_builder_error_names_the_parameter_at_fault(name, params, field):
    with pytest.raises(InputError) as info:
        get_trace(name, **params)
    assert info.value.field == field


@pytest.mark.parametrize("ref, params, fault", [
    ("nope", {}, ("workload",)),  # an unknown name
    ("missing.csv", {}, ("workload",)),  # no file to read
    ("x" * 300 + ".csv", {}, ("workload",)),  # a name the file system refuses
    ("resnet50", {"variant": "tf", "batch": 2}, ("variant",)),  # the one the builder names
    ("decision_transformer", {"heads": 7, "batch": 1}, ("heads", "batch")),  # together: all of them
    ("decision_transformer", {"heads": 7}, ("heads",)),  # the only one given: the defaults build
    ("BAD_TRACE", {}, None),  # a trace file's own error keeps its line
])
def test_workload_fault_says_what_a_callers_field_is(tmp_path, ref, params, fault):
    if ref == "BAD_TRACE":
        ref = str(tmp_path / "t.csv")
        (tmp_path / "t.csv").write_text("name,op,M,N,K\nfc,gemm,2,-3,4\n")
    with pytest.raises(InputError) as info:
        get_trace(ref, **params)
    assert workload_fault(info.value, ref, params) == fault
    assert workload_fault(info.value, "another", params) is None  # another workload's error is not this one's


def test_a_layer_the_parameters_make_impossible_is_blamed_on_the_parameters():
    # the layer's own complaint is kept, with the layer and column it is about
    with pytest.raises(InputError) as info:
        get_trace("m3vit", image_size=[0, 5])
    e = info.value
    assert (e.source, e.field, e.line) == ("m3vit", "params", None)
    assert e.message == "layer patch_embed (in_h): must be at least 1, got 0"
    with pytest.raises(InputError) as info:
        get_trace("kws", batch=2**31 - 1)
    assert (info.value.field, info.value.message) == (
        "params", "layer conv_1: 2.4e+16 operations or elements is more than a layer may have (2^53)")


def test_unknown_workload():
    with pytest.raises(InputError) as info:
        get_trace("resnet51")
    e = info.value
    assert (e.source, e.field) == ("resnet51", "workload")
    assert "unknown workload" in e.message and "resnet50" in e.message
    with pytest.raises(InputError) as info:
        get_trace("missing.csv")
    assert info.value.field == "file"


def test_get_trace_reads_files(tmp_path):
    p = tmp_path / "kws.csv"
    p.write_text(trace_to_csv(build("kws")))
    assert get_trace(p) == build("kws")
    with pytest.raises(InputError, match="zoo models only"):
        get_trace(str(p), batch=2)


# -- ResNet-50 in both papers ---------------------------------------------------------------------

def test_resnet50_variants():
    tv, moca = build("resnet50"), build("resnet50", variant="moca")
    assert tv.layer("fc").gemm_dims()[:3] == (1, 1000, 2048) and tv.layer("avgpool").op == "pool"
    assert moca.layer("fc_54").gemm_dims()[:3] == (1, 1024, 2048)
    assert not any(l.op == "pool" and l.kernel_h == 7 for l in moca.layers)  # no timed global pool
    assert [l.name for l in moca.layers if l.op == "eltwise"] == [f"resadd_{i}" for i in range(1, 17)]
    convs = [l for l in moca.layers if l.op == "conv"]
    assert [l.name for l in convs] == [f"conv_{i}" for i in range(1, 54)]
    # the same network otherwise: conv MACs agree
    assert sum(l.macs for l in convs) == sum(l.macs for l in tv.layers if l.op == "conv")


# -- MoCA's networks against the artifact's measured rows ------------------------------------------

MOCA_MODELS = {"resnet50": ("resnet50", {"variant": "moca"}), "alexnet": ("alexnet", {}),
               "googlenet": ("googlenet", {}), "squeezenet": ("squeezenet", {}), "kws": ("kws", {}),
               "yolov2": ("yolov2", {}), "yololite": ("yolo_lite", {})}


def _int(v):
    return int(v) if v not in ("", None) else None


@pytest.mark.parametrize("net", sorted(MOCA_MODELS))
def test_moca_shapes_match_the_reference_row_by_row(net):
    model, params = MOCA_MODELS[net]
    trace = build(model, **params)
    by_name = {l.name: l for l in trace.layers}
    rows = list(csv.DictReader(open(REF / f"{net}.csv", encoding="utf-8")))
    # same rows in the same execution order; the only extra layers are fused pools `<conv>_pool`
    ref_names = [r["layer_name"] for r in rows]
    assert [l.name for l in trace.layers if l.name in set(ref_names)] == ref_names
    fused = {f"{r['layer_name']}_pool" for r in rows if r["op"] == "conv" and r["pool_size"]}
    assert {l.name for l in trace.layers} - set(ref_names) == fused
    for r in rows:
        layer, op = by_name[r["layer_name"]], r["op"]
        where = f"{net} {r['layer_name']}"
        if op == "conv":
            for col in ("in_h", "in_w", "in_c", "out_c", "kernel_h", "kernel_w", "stride", "padding", "out_h",
                        "out_w", "groups"):
                assert getattr(layer, col) == _int(r[col]), (where, col)
            if r["M"]:  # 1x1 convs the artifact runs as a GEMM
                assert layer.gemm_dims()[:3] == (_int(r["M"]), _int(r["N"]), _int(r["K"])), where
            if r["pool_size"]:
                pool = by_name[f"{r['layer_name']}_pool"]
                assert (pool.in_h, pool.kernel_h, pool.stride, pool.padding, pool.out_h, pool.out_w) == (
                    _int(r["out_h"]), _int(r["pool_size"]), _int(r["pool_stride"]), _int(r["pool_padding"]),
                    _int(r["pool_out_h"]), _int(r["pool_out_w"])), where
                assert pool.inputs == (layer.name,)
        elif op == "pool":
            assert layer.op == "pool" and (layer.in_h, layer.in_w, layer.in_c) == (
                _int(r["in_h"]), _int(r["in_w"]), _int(r["in_c"])), where
            if r["pool_type"] == "avg_global":
                assert (layer.kernel_h, layer.out_h) == (layer.in_h, 1), where
            else:
                assert (layer.kernel_h, layer.stride, layer.padding, layer.out_h, layer.out_w) == (
                    _int(r["pool_size"]), _int(r["pool_stride"]), _int(r["pool_padding"]), _int(r["out_h"]),
                    _int(r["out_w"])), where
        elif op == "fc":
            assert layer.op == "gemm" and (layer.K, layer.N) == (_int(r["in_c"]), _int(r["out_c"])), where
        elif op == "resadd":
            assert layer.op == "eltwise" and layer.in_c == _int(r["N"]), where
            assert layer.in_h * layer.in_w == _int(r["M"]), where
        else:  # pragma: no cover - the reference has no other ops
            pytest.fail(f"unexpected op {op}")


def test_moca_quirks_are_kept():
    g = build("googlenet")
    assert (g.layer("conv_4").in_h, g.layer("conv_3").out_h) == (28, 56)  # the pool after conv_3 did not run
    k = build("kws")
    assert k.layer("conv_2").in_h == 48 and k.layer("resadd_1").in_h * k.layer("resadd_1").in_w == 9216
    assert build("alexnet").layer("fc_8").N == 1024


def test_builder_parameters_that_cannot_build_the_model_are_refused():
    for name, params, message in [
        ("decision_transformer", {"heads": 7}, "decision_transformer: params: gpt.0: heads (7) must divide the width dim (256)"),
        ("grec", {"dim": 3}, "heads (2) must divide the width dim (3)"),
        ("wav2vec2_base", {"seconds": "1"}, "wav2vec2_base: seconds: must be a finite number, got '1'"),
        ("wav2vec2_base", {"seconds": True}, "wav2vec2_base: seconds: must be a finite number, got True"),
        ("wav2vec2_base", {"seconds": 10**400}, "wav2vec2_base: seconds: must be a finite number, got 1000"),
    ]:
        with pytest.raises(InputError) as e:
            get_trace(name, **params)
        assert message in str(e.value)
    assert get_trace("decision_transformer", heads=4).layers  # a divisor builds


@pytest.mark.parametrize("name, params, field, message", [
    ("decision_transformer", {"layers": 10**8}, "layers", "layers must be at most 20000, got 100000000"),
    ("m3vit", {"experts": 10**8}, "experts", "experts must be at most 4096, got 100000000"),
    ("grec", {"experts": 10**8, "top_k": 10**8}, "experts", "experts must be at most 4096, got 100000000"),
    # no one parameter makes the count: the builder stops at its cap instead of filling memory
    ("m3vit", {"moe": "sparse", "token_chunk": 1, "image_size": [960, 1280]}, "params",
     "these parameters make more than 200000 layers"),
])
def test_parameters_that_count_layers_or_experts_are_bounded(name, params, field, message):
    """Counts up to 2^31-1 used to be accepted: 10^8 GPT layers or experts built (or looped) for minutes
    and ended in MemoryError."""
    with pytest.raises(InputError) as info:
        get_trace(name, **params)
    assert (info.value.field, info.value.message) == (field, message)


def test_counts_within_the_bounds_build():
    assert len(get_trace("decision_transformer", layers=20).layers) == 9 * 20 + 16
    assert len(get_trace("m3vit", experts=4096, top_k=4).layers) > 0


@pytest.mark.parametrize("expert, message", [
    ("-1", "must not be negative, got -1"),
    ("100000000000000000000000000000000", "must be at most 2147483647, got 100000000000000000000000000000000"),
])
def test_a_trace_expert_id_is_a_bounded_integer(expert, message):
    with pytest.raises(InputError) as info:
        parse_trace_text(f"name,op,M,N,K,expert\nfc,gemm,2,3,4,{expert}\n", "t.csv", "t")
    assert (info.value.line, info.value.field, info.value.message) == (2, "expert", message)
