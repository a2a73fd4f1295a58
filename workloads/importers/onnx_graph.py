"""ONNX graphs to traces (the `onnx` package, with shape inference).

Layers, in node order (sorted into dependency order when the file is not; a cycle is an error):

* ``Conv`` -> `conv` (grouped too) or `dwconv` (group = channels > 1); NCHW, 2-D
  or 1-D (as H = 1). Asymmetric or ``auto_pad`` padding: `padding` is the
  top/left pad and `out_h`/`out_w` the inferred output size. Strides or pads
  that differ between H and W become one stride and padding that fit both
  exact outputs (`_one_window`, warned); dilation is warned (taps and MACs
  are right, the window is not).
* ``ConvTranspose`` -> a grouped 1x1 `conv` with C_out x kh x kw outputs per
  input pixel (the scatter form: MACs and weights exact; the overlap-add of
  patches and the crop to the output size are not modelled, warned unless
  kernel = stride).
* ``Gemm`` and ``MatMul`` with one constant operand -> `gemm` (M rows of
  activations, K x N weights; a constant left operand is transposed into this
  form; a tensor computed from constants only, e.g. ``DequantizeLinear`` of
  int8 weights, is a constant); a constant with leading dimensions of its
  own (stacked weights) -> a grouped 1x1 `conv`, one group per product, or,
  when every product reads one activation matrix, a `gemm` with the weight
  matrices side by side (K x E*N);
  ``MatMul`` of two activations -> `matmul` with the broadcast leading
  dimensions as its batch.
* ``MaxPool``, ``AveragePool``, ``LpPool``, ``GlobalAveragePool``,
  ``GlobalMaxPool`` -> `pool`.
* ``Gather`` of rows of a constant 2-D table by computed indices (token ids)
  -> `embedding` (M lookups of N-wide rows of a K-row table); any other
  ``Gather`` passes its data through.
* ``Add``, ``Sub``, ``Mul``, ``Div``, ``Sum``, ``Max``, ``Min``, ``Mean`` of two or
  more activations, ``Softmax`` -> `eltwise`; with one activation (a bias, a
  scale) they fuse into the producer.
* ``LSTM`` -> one `lstm` layer per direction.
* ``Concat`` -> no layer: its consumers list every concatenated producer.

Reshapes, casts, activations, normalisations and other operators listed in
`PASS_THROUGH` are free: their output is their input's producers. Any other
operator is reported with a warning naming it and its node
(`UnsupportedOperatorWarning`) and skipped: its output counts as its first
activation input.
"""

from __future__ import annotations

import heapq
import math
import warnings
from pathlib import Path

import numpy as np

from npusim.errors import InputError, first_line

from ..trace import Layer, Trace, make_layer, trace_from_layers
from . import importer, safe_name

PASS_THROUGH = frozenset({
    # activations and normalisations fused into the producer
    "Relu", "LeakyRelu", "PRelu", "Sigmoid", "HardSigmoid", "HardSwish", "Tanh", "Clip", "Elu", "Selu", "Celu",
    "Gelu", "Erf", "Softplus", "Softsign", "Mish", "Swish", "BatchNormalization", "InstanceNormalization",
    "LayerNormalization", "GroupNormalization", "LpNormalization", "Dropout", "Identity", "Cast", "CastLike",
    "Sqrt", "Pow", "Exp", "Log", "Neg", "Abs", "Reciprocal", "Floor", "Ceil", "Round", "Sign", "Not",
    # data movement and shape computation
    "Flatten", "Reshape", "Transpose", "Squeeze", "Unsqueeze", "Pad", "Shape", "Size", "Gather", "Slice",
    "Split", "Expand", "Tile", "Resize", "Upsample", "DepthToSpace", "SpaceToDepth", "ConstantOfShape",
    "Range", "Constant", "ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ArgMax", "ArgMin",
    "QuantizeLinear", "DequantizeLinear", "Equal", "Less", "Greater", "Where",
})
ELTWISE = frozenset({"Add", "Sub", "Mul", "Div", "Sum", "Max", "Min", "Mean"})
POOLS = frozenset({"MaxPool", "AveragePool", "LpPool", "GlobalAveragePool", "GlobalMaxPool", "GlobalLpPool"})


class UnsupportedOperatorWarning(UserWarning):
    """An ONNX operator npusim does not model was skipped."""


def _attrs(node) -> dict:
    import onnx

    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _int(value) -> int:
    """An integer attribute; a float (group=1.5, inf) is a malformed node, not truncated."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"expected an integer attribute, got {value!r}")
    return value


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _spatial(shape: tuple[int, ...]) -> tuple[int, int, int, int]:
    """(N, C, H, W) of an NCHW or NCL activation."""
    if len(shape) == 4:
        return shape  # type: ignore[return-value]
    if len(shape) == 3:
        return shape[0], shape[1], 1, shape[2]
    raise ValueError(f"expected a rank-3 or rank-4 activation, got shape {list(shape)}")


def _kernel_hw(weight_shape: tuple[int, ...]) -> tuple[int, int]:
    """(kh, kw) of a Conv/ConvTranspose weight: 2-D (.., .., kh, kw) or 1-D (.., .., kw) as H = 1."""
    return (weight_shape[2], weight_shape[3]) if len(weight_shape) == 4 else (1, weight_shape[2])


def _window(values, default: int) -> tuple[int, int]:
    """(h, w) from a 2-D or 1-D attribute list."""
    vals = [_int(v) for v in values] if values is not None else []
    if len(vals) >= 2:
        return vals[0], vals[1]
    if len(vals) == 1:
        return 1, vals[0]
    return default, default


def _begin_pads(attrs: dict, in_hw: tuple[int, int], out_hw: tuple[int, int], k_hw: tuple[int, int],
                s_hw: tuple[int, int]) -> tuple[int, int]:
    """The top and left padding (explicit pads, or what auto_pad adds)."""
    pads = [_int(p) for p in attrs.get("pads", [])]
    if pads and len(pads) not in (2, 4):
        raise ValueError(f"pads: expected 2 (1-D) or 4 (2-D) values, got {pads}")
    auto = _text(attrs.get("auto_pad", "NOTSET"))
    if auto not in ("NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID"):
        raise ValueError(f"auto_pad must be NOTSET, SAME_UPPER, SAME_LOWER or VALID, got {auto!r}")
    if auto in ("SAME_UPPER", "SAME_LOWER"):
        begin = []
        for size, out, k, s in zip(in_hw, out_hw, k_hw, s_hw):
            total = max((out - 1) * s + k - size, 0)
            begin.append(total // 2 if auto == "SAME_UPPER" else total - total // 2)
        return begin[0], begin[1]
    if len(pads) == 4:
        return pads[0], pads[1]
    if len(pads) == 2:  # 1-D: (begin, end) along W
        return 0, pads[0]
    return 0, 0


def _streamed_operands(tensors: list[str], shapes: dict[str, tuple[int, ...]]) -> list[str]:
    """The operands an element-wise layer streams: those of the most elements.

    An operand numpy-broadcast to the others (an SE block's per-channel scale)
    holds at most half their elements and is read like a scale, not counted:
    the trace reads every input at the layer's full size, and counting it
    there would overstate it more than leaving it out understates it.
    An operand of unknown shape is kept."""
    sizes = [math.prod(shapes[t]) if t in shapes else None for t in tensors]
    known = [n for n in sizes if n is not None]
    most = max(known, default=0)
    return [t for t, n in zip(tensors, sizes) if n is None or n == most]


def _label(node, index: int) -> str:
    """A node's name in messages and layer names: its own, else op and position in the file."""
    return node.name or f"{node.op_type.lower()}_{index}"


def _reads(node) -> set[str]:
    """The names a node reads: its inputs and what the bodies of its If/Loop/Scan subgraphs read."""
    names = {t for t in node.input if t}
    for attr in node.attribute:
        for body in list(attr.g.node if attr.HasField("g") else []) + [n for g in attr.graphs for n in g.node]:
            names |= _reads(body)
    return names


def _sort_nodes(model, source: str) -> list[int]:
    """Put the nodes in an order where each reads only names written before it, as ONNX requires and
    some exporters forget; the given order is kept where it is valid. Returns each node's position in
    the file, in the new order. A name written twice (ONNX assigns each once) or a cycle is an error."""
    nodes = list(model.graph.node)
    defined = {t.name for t in model.graph.input} | {t.name for t in model.graph.initializer}
    writer: dict[str, int] = {}
    for i, node in enumerate(nodes):
        for t in node.output:
            if not t:
                continue
            if t in defined or t in writer:
                other = "a graph input or initializer" if t in defined else \
                    f"the output of {_label(nodes[writer[t]], writer[t])}"
                raise InputError(source, _label(node, i), f"writes {t!r}, already {other}: ONNX assigns each "
                                                          "name once")
            writer[t] = i
    needs = [sorted({writer[t] for t in _reads(node) if t in writer}) for node in nodes]
    if all(j < i for i, before in enumerate(needs) for j in before):
        return list(range(len(nodes)))
    readers: list[list[int]] = [[] for _ in nodes]
    waiting = [len(before) for before in needs]
    for i, before in enumerate(needs):
        for j in before:
            readers[j].append(i)
    ready = [i for i, w in enumerate(waiting) if w == 0]
    heapq.heapify(ready)
    order: list[int] = []
    while ready:
        i = heapq.heappop(ready)  # the earliest ready node: the given order where it is valid
        order.append(i)
        for k in readers[i]:
            waiting[k] -= 1
            if waiting[k] == 0:
                heapq.heappush(ready, k)
    if len(order) < len(nodes):
        # walk back through nodes still waiting until one repeats: that walk's tail is a cycle
        path = [min(i for i, w in enumerate(waiting) if w)]
        on_path = {path[0]}
        while True:
            step = min(j for j in needs[path[-1]] if waiting[j])
            path.append(step)
            if step in on_path:
                break
            on_path.add(step)
        cycle = path[path.index(path[-1]):][::-1][:-1]  # in data-flow order
        first = cycle.index(min(cycle))  # told from the node written first
        cycle = cycle[first:] + cycle[:first + 1]
        labels = [_label(nodes[i], i) for i in cycle]
        raise InputError(source, labels[0], f"the graph has a cycle: {' -> '.join(labels)}")
    del model.graph.node[:]
    model.graph.node.extend(nodes[i] for i in order)
    return order


def _fix_input_shapes(model, source: str) -> None:
    """Graph inputs need fixed sizes: a symbolic batch (first) dimension is taken as 1,
    with a warning; any other symbolic or missing dimension is an error."""
    weights = {t.name for t in model.graph.initializer}
    for inp in model.graph.input:
        if inp.name in weights or not inp.type.tensor_type.HasField("shape"):
            continue
        for k, d in enumerate(inp.type.tensor_type.shape.dim):
            if d.dim_value > 0:
                continue
            what = repr(d.dim_param) if d.dim_param else (str(d.dim_value) if d.HasField("dim_value") else "unknown")
            if k == 0 and not d.HasField("dim_value"):  # symbolic or unknown; an explicit 0 or -3 is wrong
                warnings.warn(f"{source}: input {inp.name!r}: batch dimension {what} taken as 1", stacklevel=3)
                d.dim_value = 1
            else:
                raise InputError(source, f"input {inp.name}", f"dimension {k} is {what}, not a size: export the "
                                                              "model with fixed input sizes")


@importer("onnx", "ONNX graph (onnx package, shape inference)")
def load_onnx(path: Path) -> Trace:
    try:
        import onnx
        from onnx import numpy_helper, shape_inference
    except ImportError:  # pragma: no cover - onnx is a dependency
        raise InputError(str(path), "file", "reading ONNX needs the onnx package") from None
    source = str(path)
    try:
        model = onnx.load(source)
    except Exception as exc:  # noqa: BLE001 - any unreadable model is bad input
        raise InputError(source, "file", f"not a readable ONNX model: {first_line(exc)}") from None
    if not model.HasField("graph"):  # protobuf reads an empty file (or one of stray bytes) as a model without one
        raise InputError(source, "file", "not a readable ONNX model: it holds no graph")
    positions = _sort_nodes(model, source)  # each node's position in the file: names of unnamed nodes
    _fix_input_shapes(model, source)
    try:
        model = shape_inference.infer_shapes(model)
    except Exception as exc:  # noqa: BLE001 - any unreadable model is bad input
        raise InputError(source, "file", f"not a readable ONNX model: {first_line(exc)}") from None
    g = model.graph
    const = {t.name for t in g.initializer}
    shapes: dict[str, tuple[int, ...]] = {t.name: tuple(int(d) for d in t.dims) for t in g.initializer}
    for n in g.node:
        if n.op_type == "Constant":
            for out in n.output:
                const.add(out)
                value = _attrs(n).get("value")
                if value is not None:
                    shapes[out] = tuple(numpy_helper.to_array(value).shape)
    for vi in list(g.input) + list(g.value_info) + list(g.output):
        tt = vi.type.tensor_type
        if tt.HasField("shape") and vi.name not in shapes and all(d.dim_value > 0 for d in tt.shape.dim):
            shapes[vi.name] = tuple(d.dim_value for d in tt.shape.dim)  # a shape left symbolic stays unknown

    producers: dict[str, tuple[str, ...]] = {}  # tensor -> layers that wrote it (several for a concat)
    layers: list[Layer] = []
    names: dict[str, None] = {}  # ordered, O(1) lookups

    def add(fields: dict, inputs: tuple[str, ...]) -> str:
        name = safe_name(fields["name"])
        while name in names:
            name += "_"
        fields["name"] = name
        fields["inputs"] = tuple(inputs) if inputs else "-"
        layers.append(make_layer(fields, source=source, known=names))
        names[name] = None
        return name

    def src(tensor: str) -> tuple[str, ...]:
        return producers.get(tensor, ())

    for i, node in zip(positions, g.node):
        op = node.op_type
        label = _label(node, i)

        def shape(tensor: str) -> tuple[int, ...]:
            if tensor not in shapes:
                raise InputError(source, label, f"shape of {op} input/output {tensor!r} unknown after shape "
                                                "inference (are the node's sizes and attributes consistent?)")
            return shapes[tensor]

        a = _attrs(node)
        ins = [t for t in node.input if t]
        outs = [t for t in node.output if t]
        out = outs[0] if outs else ""
        act_ins = [t for t in ins if t not in const]
        try:
            if op == "Conv":
                n_, c, h, w = _spatial(shape(ins[0]))
                wt = shape(ins[1])
                oc = wt[0]
                kh, kw = _kernel_hw(wt)
                _, _, oh, ow = _spatial(shape(out))
                group = _int(a.get("group", 1))
                if len(wt) > 1 and group > 0 and wt[1] * group != c:
                    raise InputError(source, label, f"weight {ins[1]!r} of shape {list(wt)} takes {wt[1] * group} "
                                                    f"input channels, the input has {c}")
                sh, sw = _window(a.get("strides"), 1)
                dh, dw = _window(a.get("dilations"), 1)
                if (dh, dw) != (1, 1):
                    warnings.warn(f"{source}: node {label}: dilation ({dh}, {dw}) modelled as a dense "
                                  f"{kh}x{kw} window", UnsupportedOperatorWarning, stacklevel=2)
                ph, pw = _begin_pads(a, (h, w), (oh, ow), ((kh - 1) * dh + 1, (kw - 1) * dw + 1), (sh, sw))
                stride, padding = _one_window(source, label, (h, kh, sh, ph, oh), (w, kw, sw, pw, ow))
                fields = dict(name=label, op="dwconv" if group == c and group > 1 else "conv", batch=n_, in_c=c,
                              in_h=h, in_w=w, out_c=oc, kernel_h=kh, kernel_w=kw, stride=stride,
                              padding=padding, groups=group, out_h=oh, out_w=ow)
                producers[out] = (add(fields, src(ins[0])),)
            elif op == "ConvTranspose":
                # scatter form: every input pixel times a C_in x (C_out * kh * kw) weight matrix, then
                # an overlap-add (not modelled) into the output: a grouped 1x1 conv whose MACs and
                # weights are exact, writing one kh x kw patch per input pixel
                n_, c, h, w = _spatial(shape(ins[0]))
                wt = shape(ins[1])
                group = _int(a.get("group", 1))
                if len(wt) not in (3, 4) or group < 1 or wt[0] != c or c % group:
                    raise InputError(source, label, f"weight {ins[1]!r} of shape {list(wt)} does not fit an input "
                                                    f"of {c} channels in {group} groups")
                kh, kw = _kernel_hw(wt)
                oc = wt[1] * group
                sh, sw = _window(a.get("strides"), 1)
                _, _, oh, ow = _spatial(shape(out))
                if (kh, kw) != (sh, sw) or (oh, ow) != (h * sh, w * sw):
                    warnings.warn(f"{source}: node {label}: transposed conv with kernel {kh}x{kw}, stride "
                                  f"({sh}, {sw}) and output {oh}x{ow} modelled as one {kh * kw * oc}-channel "
                                  "patch per input pixel (MACs and weights exact; overlap-add and crop not "
                                  "modelled)", UnsupportedOperatorWarning, stacklevel=2)
                fields = dict(name=label, op="conv", batch=n_, in_c=c, in_h=h, in_w=w, out_c=oc * kh * kw,
                              kernel_h=1, kernel_w=1, groups=group)
                producers[out] = (add(fields, src(ins[0])),)
            elif op in ("Gemm", "MatMul"):
                sa, sb = shape(ins[0]), shape(ins[1])
                if op == "Gemm":
                    ta, tb = _int(a.get("transA", 0)), _int(a.get("transB", 0))
                    m, k = (sa[1], sa[0]) if ta else (sa[0], sa[1])
                    n, kb = (sb[0], sb[1]) if tb else (sb[1], sb[0])
                    batch = 1
                else:
                    sa2 = sa if len(sa) > 1 else (1,) + sa
                    sb2 = sb if len(sb) > 1 else sb + (1,)
                    m, k, n, kb = sa2[-2], sa2[-1], sb2[-1], sb2[-2]
                    # numpy broadcasting of the leading dimensions: [2, 1] and [1, 3] make 6 products
                    batch = math.prod(np.broadcast_shapes(sa2[:-2], sb2[:-2]))
                if k != kb:
                    raise InputError(source, label, f"{op} of {list(sa)} and {list(sb)}: the inner sizes {k} and "
                                                    f"{kb} differ")
                a_const, b_const = ins[0] in const, ins[1] in const
                # a MatMul's constant operand may stack several weight matrices ([experts, K, N])
                weight_matrices = math.prod((sa2 if a_const else sb2)[:-2]) \
                    if op == "MatMul" and a_const != b_const else 1
                if weight_matrices > 1:
                    rows, cols = (n, m) if a_const else (m, n)  # weights on the left: transposed, as below
                    if math.prod((sb2 if a_const else sa2)[:-2]) == 1:
                        # one activation matrix times each stacked weight: one gemm with the weights
                        # side by side (K x E*N) reads the activation once, as the products do
                        fields = dict(name=label, op="gemm", M=rows, N=weight_matrices * cols, K=k)
                    else:
                        # a weight of its own per product ([experts, K, N] stacked): a grouped 1x1 conv, one
                        # group per product, so that every weight matrix counts (a gemm would share one)
                        if weight_matrices != batch:
                            warnings.warn(f"{source}: node {label}: weights {list(sa if a_const else sb)} are "
                                          f"shared by some of the {batch} products; the trace counts one per "
                                          "product", UnsupportedOperatorWarning, stacklevel=2)
                        fields = dict(name=label, op="conv", in_c=batch * k, in_h=rows, in_w=1,
                                      out_c=batch * cols, kernel_h=1, kernel_w=1, groups=batch)
                    producers[out] = (add(fields, src(ins[1] if a_const else ins[0])),)
                elif b_const and not a_const:  # activations x weights
                    fields = dict(name=label, op="gemm", M=m * batch, N=n, K=k)
                    producers[out] = (add(fields, src(ins[0])),)
                elif a_const and not b_const:  # weights x activations = (activations^T x weights^T)^T
                    fields = dict(name=label, op="gemm", M=n * batch, N=m, K=k)
                    producers[out] = (add(fields, src(ins[1])),)
                elif a_const and b_const:
                    fields = dict(name=label, op="gemm", M=m * batch, N=n, K=k)
                    producers[out] = (add(fields, ()),)
                else:
                    fields = dict(name=label, op="matmul", batch=batch, M=m, N=n, K=k)
                    producers[out] = (add(fields, src(ins[0]) + src(ins[1])),)
            elif op in POOLS:
                n_, c, h, w = _spatial(shape(ins[0]))
                _, _, oh, ow = _spatial(shape(out))
                if op.startswith("Global"):
                    kh, kw, stride, padding = h, w, 1, 0
                else:
                    kh, kw = _window(a.get("kernel_shape"), 1)
                    sh, sw = _window(a.get("strides"), 1)
                    ph, pw = _begin_pads(a, (h, w), (oh, ow), (kh, kw), (sh, sw))
                    stride, padding = _one_window(source, label, (h, kh, sh, ph, oh), (w, kw, sw, pw, ow))
                fields = dict(name=label, op="pool", batch=n_, in_c=c, in_h=h, in_w=w, kernel_h=kh, kernel_w=kw,
                              stride=stride, padding=padding, out_h=oh, out_w=ow)
                producers[out] = (add(fields, src(ins[0])),)
            elif op in ELTWISE or op == "Softmax":
                if op in ELTWISE and len(act_ins) < 2:
                    if ins and not act_ins:  # of constants only (a weight's scale): a constant
                        const.update(outs)
                    producers[out] = src(act_ins[0]) if act_ins else ()  # a bias or scale: fused
                    continue
                o = shape(out)
                c, h, w = _chw(o)
                fields = dict(name=label, op="eltwise", batch=o[0] if len(o) == 4 else 1, in_c=c, in_h=h, in_w=w)
                producers[out] = (add(fields, tuple(p for t in _streamed_operands(act_ins, shapes) for p in src(t))),)
            elif op == "Concat":
                if ins and not act_ins:  # of constants only: a constant
                    const.update(outs)
                producers[out] = tuple(p for t in act_ins for p in src(t))
            elif op == "LSTM":
                sx = shape(ins[0])
                if len(sx) != 3:
                    raise ValueError(f"input X needs 3 dimensions (sequence, batch, input), got shape {list(sx)}")
                seq, batch, in_size = (sx[1], sx[0], sx[2]) if _int(a.get("layout", 0)) else sx
                hidden = _int(a["hidden_size"])
                if hidden < 1:
                    raise ValueError(f"hidden_size must be at least 1, got {hidden}")
                direction = _text(a.get("direction", "forward"))
                if direction not in ("forward", "reverse", "bidirectional"):
                    raise ValueError(f"direction must be forward, reverse or bidirectional, got {direction!r}")
                dirs = ("fwd", "bwd") if direction == "bidirectional" else (
                    ("bwd",) if direction == "reverse" else ("fwd",))
                # ONNX's W [dirs, 4 x hidden, input], R [dirs, 4 x hidden, hidden], B [dirs, 8 x hidden];
                # an operand of another shape is not this LSTM's (a shape not fully known is not checked)
                operands = zip(("W", "R", "B"), list(node.input[1:4]),
                               ((4 * hidden, in_size), (4 * hidden, hidden), (8 * hidden,)))
                for role, tensor, dims in operands:
                    want = (len(dirs), *dims)
                    known = tensor and tensor in shapes and all(shapes[tensor])  # 0: a symbolic dimension
                    if known and shapes[tensor] != want:
                        raise InputError(source, label, f"{role} {tensor!r} of shape {list(shapes[tensor])} does "
                                                        f"not fit hidden_size {hidden}, input size {in_size} and "
                                                        f"{len(dirs)} direction(s): expected {list(want)}")
                made = []
                for d in dirs:
                    fields = dict(name=f"{label}.{d}" if len(dirs) > 1 else label, op="lstm", batch=batch, M=seq,
                                  N=4 * hidden, K=in_size + hidden)
                    made.append(add(fields, src(ins[0])))
                for o in outs:
                    producers[o] = tuple(made)
            elif op == "Gather" and len(ins) == 2 and ins[0] in const and ins[1] not in const \
                    and len(shape(ins[0])) == 2 and _int(a.get("axis", 0)) in (0, -2):
                # rows of a constant table picked by computed indices (token ids): a lookup that
                # reads M rows of the K x N table, as the zoo's BERT models its embeddings
                rows, width = shape(ins[0])
                fields = dict(name=label, op="embedding", M=math.prod(shape(ins[1])), N=width, K=rows)
                producers[out] = (add(fields, src(ins[1])),)
            elif op in PASS_THROUGH:
                if ins and not act_ins:
                    # computed from constants only (a DequantizeLinear of int8 weights, a Transpose or
                    # Cast of a weight): still weights, so a Gemm/MatMul reading it is a gemm with weights
                    const.update(outs)
                passed = src(act_ins[0]) if act_ins else ()
                # Where(condition, X, Y) passes X or Y on: the mask is not where the data comes from
                data = [t for t in ins[1:3] if t not in const] if op == "Where" else []
                if data:
                    passed = tuple(dict.fromkeys(p for t in data for p in src(t)))
                for o in outs:
                    producers[o] = passed
            else:
                warnings.warn(f"{source}: unsupported ONNX operator {op} in node {label}: skipped",
                              UnsupportedOperatorWarning, stacklevel=2)
                for o in outs:
                    producers[o] = src(act_ins[0]) if act_ins else ()
        except (ValueError, KeyError, IndexError, TypeError) as exc:  # TypeError: an attribute of the wrong kind
            if isinstance(exc, InputError):
                if exc.source == source and exc.field != label and exc.line is None:
                    # a layer field the node's attributes set: name the node too
                    raise InputError(source, f"{label}.{exc.field}", exc.message) from None
                raise
            raise InputError(source, label, f"cannot read {op} node: {exc}") from None
    if not layers:
        raise InputError(source, "graph", "no layer npusim models (Conv, Gemm, MatMul, pooling, element-wise, "
                                          "LSTM)")
    return trace_from_layers(path.stem, layers, source)


def _one_window(source: str, label: str, h_axis: tuple[int, int, int, int, int],
                w_axis: tuple[int, int, int, int, int]) -> tuple[int, int]:
    """The trace's one (stride, padding) for a window whose axes, each ``(in, kernel, stride, begin
    pad, out)``, may differ. The H axis's stride and begin pad (W's for 1-D, H = 1) when the exact
    output sizes fit them on both axes; else the stride of the two and the smallest padding from
    that begin pad that make both outputs possible (a 1x7 conv padded along W only, a (2, 1)-strided
    pool), so that the layer imports. Any difference between the axes is warned: MACs and output
    sizes stay exact, the input rows or columns a window reads are approximate."""
    (h_in, _, sh, top, oh), (_, _, sw, left, ow) = h_axis, w_axis
    one_d = h_in == 1 and oh == 1
    stride, pad = (sw, left) if one_d else (sh, top)

    def least_pad(s: int, p: int) -> int:
        # out <= (in + 2p - k + s) // s + 1 and k <= in + 2p on both axes
        for n, k, _, _, out in (h_axis, w_axis):
            p = max(p, -(-(max((out - 2) * s, 0) + k - n) // 2))
        return p

    if least_pad(stride, pad) != pad:
        stride, pad = min(((s, least_pad(s, pad)) for s in dict.fromkeys((stride, sh, sw))), key=lambda c: c[1])
        warnings.warn(f"{source}: node {label}: strides ({sh}, {sw}), begin pads ({top}, {left}) and output "
                      f"{oh}x{ow} do not fit one stride and padding; the trace uses stride {stride}, padding "
                      f"{pad} (out_h/out_w are exact)", UnsupportedOperatorWarning, stacklevel=3)
    elif not one_d and sh != sw:
        warnings.warn(f"{source}: node {label}: strides ({sh}, {sw}) differ; the trace uses {sh} "
                      "(out_h/out_w are exact)", UnsupportedOperatorWarning, stacklevel=3)
    elif not one_d and top != left:
        warnings.warn(f"{source}: node {label}: top pad {top} and left pad {left} differ; the trace uses {top} "
                      "(out_h/out_w are exact)", UnsupportedOperatorWarning, stacklevel=3)
    return stride, pad


def _chw(shape: tuple[int, ...]) -> tuple[int, int, int]:
    """(c, h, w) of an element-wise layer's output, batch excluded for rank 4."""
    if len(shape) == 4:
        return shape[1], shape[2], shape[3]
    if len(shape) >= 3:
        return shape[-1], math.prod(shape[:-1]), 1
    if len(shape) == 2:
        return shape[1], shape[0], 1
    return (shape[0] if shape else 1), 1, 1
