"""ONNX graphs to traces (the `onnx` package, with shape inference).

Layers: Conv (grouped and depthwise too), Gemm, MatMul, MaxPool / AveragePool /
GlobalAveragePool / GlobalMaxPool, Add / Mul / Sub / Sum of two activations,
Softmax (element-wise layers), LSTM (one layer per direction). Concat makes no
layer: its consumers list every concatenated producer in `inputs`. Operators
that only reshape data or fuse into a neighbour (ReLU and other activations,
BatchNormalization, Reshape, Flatten, Transpose, bias Add ...) pass their
input through. Any other operator is reported by name with a warning and
skipped, never silently. Activations are assumed NCHW (rank 4) or
[batch x features] / [... x rows x features] (rank 2-3).
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path

from npusim.errors import InputError

from ..trace import Layer, Trace, make_layer, trace_from_layers
from . import importer

PASS_THROUGH = {
    "Relu", "LeakyRelu", "Sigmoid", "Tanh", "Clip", "HardSigmoid", "HardSwish", "Elu", "Selu", "Gelu", "Erf",
    "BatchNormalization", "InstanceNormalization", "LayerNormalization", "Dropout", "Identity", "Flatten",
    "Reshape", "Transpose", "Squeeze", "Unsqueeze", "Cast", "Pad", "Shape", "Gather", "Constant", "Div", "Pow",
    "Sqrt", "ReduceMean",
}
ELTWISE = {"Add", "Mul", "Sub", "Sum", "Max", "Min"}


class UnsupportedOperatorWarning(UserWarning):
    """An ONNX operator npusim does not model was skipped."""


def _attrs(node) -> dict:
    import onnx

    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


@importer("onnx")
def load_onnx(path: Path) -> Trace:
    try:
        import onnx
        from onnx import numpy_helper, shape_inference
    except ImportError:  # pragma: no cover - onnx is a dependency
        raise InputError(str(path), "file", "reading ONNX needs the onnx package") from None
    try:
        model = onnx.load(str(path))
        model = shape_inference.infer_shapes(model)
    except Exception as exc:  # noqa: BLE001 - any malformed model is bad input
        raise InputError(str(path), "file", f"not a readable ONNX model: {exc}") from None
    g = model.graph
    init = {t.name: numpy_helper.to_array(t) for t in g.initializer}
    for n in g.node:
        if n.op_type == "Constant":
            for out in n.output:
                init[out] = numpy_helper.to_array(_attrs(n)["value"])
    shapes: dict[str, tuple[int, ...]] = {}
    for vi in list(g.input) + list(g.value_info) + list(g.output):
        dims = vi.type.tensor_type.shape.dim
        if dims:
            shapes[vi.name] = tuple((d.dim_value if d.dim_value > 0 else 1) for d in dims)
    for name, arr in init.items():
        shapes[name] = tuple(arr.shape)

    producers: dict[str, tuple[str, ...]] = {}  # tensor -> the layers that wrote it (several for a concat)
    layers: list[Layer] = []
    names: list[str] = []

    def add(fields: dict, inputs: tuple[str, ...]) -> str:
        name = fields["name"]
        while name in names:
            name += "_"
        fields["name"] = name
        fields["inputs"] = inputs if inputs else "-"
        layers.append(make_layer(fields, source=str(path), known=names))
        names.append(name)
        return name

    def src(tensor: str) -> tuple[str, ...]:
        return producers.get(tensor, ())

    def shape(tensor: str) -> tuple[int, ...]:
        if tensor not in shapes:
            raise InputError(str(path), tensor, "shape unknown after shape inference")
        return shapes[tensor]

    for i, node in enumerate(g.node):
        op = node.op_type
        label = node.name or f"{op.lower()}_{i}"
        a = _attrs(node)
        ins = [t for t in node.input if t]
        out = node.output[0] if node.output else ""
        act_ins = [t for t in ins if t not in init]
        if op == "Conv":
            n_, c, h, w = shape(ins[0])
            wt = shape(ins[1])
            oc, kh, kw = wt[0], wt[2], wt[3]
            group = int(a.get("group", 1))
            strides = a.get("strides", [1, 1])
            if strides[0] != strides[1]:
                warnings.warn(f"{path}: node {label}: strides {strides} differ; using {strides[0]}",
                              UnsupportedOperatorWarning, stacklevel=2)
            pads = a.get("pads", [0, 0, 0, 0])
            o = shape(out)
            fields = dict(name=label, batch=n_, in_c=c, in_h=h, in_w=w, out_c=oc, kernel_h=kh, kernel_w=kw,
                          stride=int(strides[0]), padding=int(pads[0]), groups=group, out_h=o[2], out_w=o[3])
            fields["op"] = "dwconv" if group == c and group > 1 else "conv"
            producers[out] = (add(fields, src(ins[0])),)
        elif op in ("Gemm", "MatMul"):
            sa, sb = shape(ins[0]), shape(ins[1])
            if op == "Gemm":
                ta, tb = int(a.get("transA", 0)), int(a.get("transB", 0))
                m, k = (sa[1], sa[0]) if ta else (sa[0], sa[1])
                n = sb[0] if tb else sb[1]
                batch = 1
            else:
                m, k, n = sa[-2] if len(sa) > 1 else 1, sa[-1], sb[-1]
                batch = math.prod(sa[:-2]) if len(sa) > 2 else 1
            if ins[1] in init:  # weights: a gemm over every row
                fields = dict(name=label, op="gemm", M=m * batch, N=n, K=k)
                producers[out] = (add(fields, src(ins[0])),)
            else:
                fields = dict(name=label, op="matmul", batch=batch, M=m, N=n, K=k)
                producers[out] = (add(fields, src(ins[0]) + src(ins[1])),)
        elif op in ("MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool"):
            n_, c, h, w = shape(ins[0])
            o = shape(out)
            if op.startswith("Global"):
                kh, kw, s, p = h, w, 1, 0
            else:
                kh, kw = a["kernel_shape"]
                s = int(a.get("strides", [kh])[0])
                p = int(a.get("pads", [0, 0, 0, 0])[0])
            fields = dict(name=label, op="pool", batch=n_, in_c=c, in_h=h, in_w=w, kernel_h=kh, kernel_w=kw,
                          stride=s, padding=p, out_h=o[2], out_w=o[3])
            producers[out] = (add(fields, src(ins[0])),)
        elif op in ELTWISE or op == "Softmax":
            if op in ELTWISE and len(act_ins) < 2:
                producers[out] = src(act_ins[0]) if act_ins else ()  # a bias or scale: fused
                continue
            o = shape(out)
            c, h, w = _chw(o)
            fields = dict(name=label, op="eltwise", batch=o[0] if len(o) == 4 else 1, in_c=c, in_h=h, in_w=w)
            producers[out] = (add(fields, tuple(p for t in act_ins for p in src(t))),)
        elif op == "Concat":
            producers[out] = tuple(p for t in act_ins for p in src(t))
        elif op == "LSTM":
            seq, batch, in_size = shape(ins[0])
            hidden = int(a["hidden_size"])
            dirs = 2 if a.get("direction", b"forward") in (b"bidirectional", "bidirectional") else 1
            made = []
            for d in range(dirs):
                fields = dict(name=f"{label}.{'bwd' if d else 'fwd'}" if dirs > 1 else label, op="lstm",
                              batch=batch, M=seq, N=4 * hidden, K=in_size + hidden)
                made.append(add(fields, src(ins[0])))
            for o in node.output:
                if o:
                    producers[o] = tuple(made)
        elif op in PASS_THROUGH:
            if out:
                producers[out] = src(act_ins[0]) if act_ins else ()
            for extra in node.output[1:]:
                producers[extra] = producers.get(out, ())
        else:
            warnings.warn(f"{path}: unsupported ONNX operator {op} in node {label}: skipped",
                          UnsupportedOperatorWarning, stacklevel=2)
            for o in node.output:
                if o:
                    producers[o] = src(act_ins[0]) if act_ins else ()
    if not layers:
        raise InputError(str(path), "graph", "no layer npusim models (Conv, Gemm, MatMul, pooling, "
                                             "element-wise, LSTM)")
    return trace_from_layers(path.stem, layers, str(path))


def _chw(shape: tuple[int, ...]) -> tuple[int, int, int]:
    if len(shape) == 4:
        return shape[1], shape[2], shape[3]
    if len(shape) == 3:
        return shape[2], shape[1], shape[0]
    if len(shape) == 2:
        return shape[1], shape[0], 1
    return (shape[0] if shape else 1), 1, 1
