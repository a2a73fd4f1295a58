"""Property tests: MACs and bytes are non-negative and consistent with the shapes, for every op;
traces survive the CSV round trip."""


import pytest
from hypothesis import assume, given, settings, strategies as st

from npusim.errors import InputError
from workloads import build, model_names
from workloads.trace import Trace, make_layer, parse_trace_text, trace_to_csv

dims = st.integers(1, 48)
eb = st.sampled_from([1, 2, 4])


@st.composite
def spatial(draw, op):
    g = draw(st.sampled_from([1, 2, 4])) if op == "conv" else 1
    in_c = draw(dims) * g
    h, w = draw(dims), draw(dims)
    kh, kw = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    pad = draw(st.integers(0, 2))
    assume(kh <= h + 2 * pad and kw <= w + 2 * pad)
    f = dict(name="l", op=op, batch=draw(st.integers(1, 3)), in_c=in_c, in_h=h, in_w=w, kernel_h=kh, kernel_w=kw,
             stride=draw(st.integers(1, 3)), padding=pad, in_elem_bytes=draw(eb), weight_elem_bytes=draw(eb),
             out_elem_bytes=draw(eb))
    if op == "conv":
        f.update(out_c=draw(dims) * g, groups=g)
    elif op == "dwconv":
        f.update(out_c=in_c * draw(st.integers(1, 2)), groups=in_c)
    return f


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(["conv", "dwconv", "pool"]).flatmap(spatial))
def test_spatial_ops(f):
    layer = make_layer(f)
    b, c, k, g = f["batch"], f["in_c"], f["kernel_h"] * f["kernel_w"], layer.groups
    oh = (f["in_h"] + 2 * f["padding"] - f["kernel_h"]) // f["stride"] + 1
    ow = (f["in_w"] + 2 * f["padding"] - f["kernel_w"]) // f["stride"] + 1
    assert (layer.out_h, layer.out_w) == (oh, ow) and oh >= 1 and ow >= 1
    out_c = layer.out_c
    assert layer.input_bytes == b * c * f["in_h"] * f["in_w"] * f["in_elem_bytes"]
    assert layer.output_bytes == b * out_c * oh * ow * f["out_elem_bytes"]
    m, n, kk, gg = layer.gemm_dims()
    assert layer.macs == m * n * kk * gg >= 0
    if f["op"] == "pool":
        assert layer.macs == 0 and layer.params == 0 and out_c == c
        assert layer.vector_ops == layer.output_elems * k
    else:
        assert layer.macs == b * oh * ow * out_c * k * (c // g)
        assert layer.params == out_c * (c // g) * k
        assert layer.weight_bytes == layer.params * f["weight_elem_bytes"]
        assert layer.vector_ops == 0


@settings(max_examples=150, deadline=None)
@given(op=st.sampled_from(["gemm", "matmul", "lstm", "embedding"]), m=st.integers(1, 300), n=st.integers(1, 300),
       k=st.integers(1, 300), b=st.integers(1, 8))
def test_matrix_ops(op, m, n, k, b):
    if op == "lstm":
        n, k = 4 * n, k + n + 1  # N = 4 x hidden, K = input + hidden
    fields = dict(name="l", op=op, M=m, N=n, K=k)
    if op in ("matmul", "lstm"):
        fields["batch"] = b
    layer = make_layer(fields)
    assert min(layer.macs, layer.params, layer.weight_bytes, layer.input_bytes, layer.output_bytes) >= 0
    if op == "gemm":
        assert (layer.macs, layer.params, layer.input_bytes, layer.output_bytes) == (m * n * k, k * n, m * k, m * n)
    elif op == "matmul":
        assert (layer.macs, layer.params, layer.output_bytes) == (b * m * n * k, 0, b * m * n)
        assert layer.input_elems() == (b * m * k, b * k * n)
    elif op == "lstm":
        hidden = n // 4
        assert layer.macs == b * m * n * k and layer.params == k * n
        assert layer.input_bytes == b * m * (k - hidden) and layer.output_bytes == b * m * hidden
    else:
        assert layer.macs == 0 and layer.params == k * n and layer.output_bytes == m * n
        assert layer.vector_ops == m * n


@settings(max_examples=80, deadline=None)
@given(c=dims, h=dims, w=dims, n_in=st.integers(1, 4), b=st.integers(1, 3))
def test_eltwise(c, h, w, n_in, b):
    producers = [make_layer(dict(name=f"p{i}", op="eltwise", in_c=c, in_h=h, in_w=w)) for i in range(n_in)]
    layer = make_layer(dict(name="e", op="eltwise", batch=b, in_c=c, in_h=h, in_w=w,
                            inputs=tuple(p.name for p in producers)), known=[p.name for p in producers])
    assert layer.macs == 0 and layer.params == 0
    assert layer.input_bytes == n_in * b * c * h * w and layer.output_bytes == b * c * h * w
    assert layer.vector_ops == b * c * h * w * max(1, n_in - 1)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(["conv", "dwconv", "pool"]).flatmap(spatial), min_size=1, max_size=6),
       st.data())
def test_csv_round_trip(fields_list, data):
    layers, names = [], []
    for i, f in enumerate(fields_list):
        f = dict(f, name=f"l{i}")
        if names:
            f["inputs"] = tuple(data.draw(st.lists(st.sampled_from(names), min_size=1, max_size=2)))
        f["block"] = data.draw(st.sampled_from(["", "b0", f"b{i}"]))
        f["task"] = data.draw(st.sampled_from([(), ("t1",), ("t1", "t2")]))
        f["expert"] = data.draw(st.sampled_from([None, 0, 7]))
        layers.append(make_layer(f, known=names))
        names.append(f"l{i}")
    trace = Trace("t", tuple(layers))
    again = parse_trace_text(trace_to_csv(trace), "t.csv", "t")
    assert again == trace
    for a, b in zip(again, trace):
        assert (a.macs, a.params, a.input_bytes, a.output_bytes) == (b.macs, b.params, b.input_bytes, b.output_bytes)


@settings(max_examples=60, deadline=None)
@given(col=st.sampled_from(["in_c", "in_h", "in_w", "out_c", "kernel_h", "stride"]),
       value=st.one_of(st.integers(-1000, -1), st.floats(allow_nan=False, allow_infinity=False).filter(
           lambda x: not float(x).is_integer()), st.text(alphabet="abcxyz", min_size=1, max_size=4)))
def test_bad_dimensions_are_rejected_with_their_column(col, value):
    row = dict(name="l1", op="conv", in_c="3", in_h="8", in_w="8", out_c="4", kernel_h="3", kernel_w="3", stride="1")
    row[col] = str(value)
    header = ",".join(row)
    text = header + "\n" + ",".join(row.values()) + "\n"
    with pytest.raises(InputError) as info:
        parse_trace_text(text, "bad.csv")
    assert (info.value.line, info.value.field) == (2, col)


@pytest.mark.parametrize("name", model_names())
def test_zoo_layers_have_real_sizes(name):
    # a builder that lost a dimension makes empty tensors, or a weighted layer without weights
    t = build(name)
    assert t.macs > 0
    assert all(l.input_bytes > 0 and l.output_bytes > 0 for l in t.layers)
    assert all(l.params > 0 for l in t.layers if l.op in ("conv", "dwconv", "gemm", "lstm") and not l.weights)


@pytest.mark.parametrize("name", ["googlenet", "decision_transformer", "coe_experts"])
def test_layer_lookups_and_readers_follow_the_graph(name):
    t = build(name)
    for i, layer in enumerate(t.layers):
        assert t.layer(layer.name) is layer
        readers = [l.name for l in t.layers[i + 1:] for p in l.inputs if p == layer.name]
        assert t.consumers[layer.name] == tuple(readers)
    assert sum(map(len, t.consumers.values())) == sum(len(l.inputs) for l in t.layers) > len(t) - 1
    with pytest.raises(KeyError):
        t.layer("no such layer")


def test_a_trace_made_directly_with_a_name_twice_finds_the_first():
    first, second = make_layer(dict(name="x", op="eltwise", in_c=1, in_h=1, in_w=1)), \
        make_layer(dict(name="x", op="eltwise", in_c=2, in_h=1, in_w=1))
    assert Trace("t", (first, second)).layer("x") is first


def test_exact_output_size_of_an_asymmetric_pad_is_accepted():
    # an ONNX SAME_UPPER conv of a 4-pixel input by a 2-tap kernel, stride 1: total pad 1, all at the
    # end, so the trace's (begin) padding is 0 and the exact output is 4 = (4 + 0 + 1 - 2) / 1 + 1,
    # one more than the symmetric formula's 3; a size no end pad can reach (5) is refused
    f = dict(name="c", op="conv", in_c=1, in_h=4, in_w=4, out_c=1, kernel_h=2, kernel_w=2, stride=1, padding=0)
    layer = make_layer(dict(f, out_h=4, out_w=4))
    assert (layer.out_h, layer.out_w) == (4, 4) and layer.macs == 4 * 4 * 4
    with pytest.raises(InputError, match="5 is impossible for input 4, kernel 2, stride 1, padding 0"):
        make_layer(dict(f, out_h=5))
    # the bound scales with the stride: 32 with a 3x3 kernel at stride 1000 gives one row (two with end padding)
    g = dict(f, in_h=32, in_w=32, kernel_h=3, kernel_w=3, stride=1000)
    assert make_layer(dict(g, out_h=2)).out_h == 2
    with pytest.raises(InputError, match="3 is impossible for input 32, kernel 3, stride 1000, padding 0"):
        make_layer(dict(g, out_h=3))


def test_weight_bytes_count_shared_weights_once():
    # b reuses a's 16 x 8 weights (2 bytes each): the trace stores 16 * 8 * 2 = 256 bytes, not 512
    a = make_layer(dict(name="a", op="gemm", M=4, N=8, K=16, weight_elem_bytes=2))
    b = make_layer(dict(name="b", op="gemm", M=4, N=8, K=16, weight_elem_bytes=2, inputs="a", weights="a"),
                   known=["a"], known_layers={"a": a})
    trace = Trace("t", (a, b))
    assert b.weights == "a" and b.weight_bytes == 256
    assert trace.weight_bytes == 256 and trace.params == 128
    assert trace.totals()["weight_bytes"] == 256


def test_builder_defaults_and_model_parameters():
    from workloads import get_trace
    from workloads.builder import TraceBuilder

    b = TraceBuilder("n")
    x = b.input(8, 16, 16)
    p = b.pool("p", x, 2)  # no stride given: windows do not overlap
    d = b.dwconv("d", x, 3, padding=1, multiplier=2)
    t = b.build()
    assert (t.layer("p").stride, p.h, p.w) == (2, 8, 8)
    assert (t.layer("d").out_c, t.layer("d").groups, d.c) == (16, 8, 16)
    small = get_trace("efficientnet_b0", image_size=112)
    assert (small.layers[0].in_h, small.layers[0].in_w) == (112, 112)
    # 1 s of 16 kHz audio: 16000 samples however the float rounds
    w = get_trace("wav2vec2_base", seconds=0.9999999)
    assert w.layers[0].in_w == 16000 == get_trace("wav2vec2_base").layers[0].in_w
    with pytest.raises(Exception, match="seconds"):
        get_trace("wav2vec2_base", seconds=0)
