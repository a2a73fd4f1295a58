"""SCALE-Sim v3 topology files, read as SCALE-Sim reads them.

Conv form: ``Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter
Width, Channels, Num Filter, Strides,``; GEMM form (``-i gemm``): ``Layer, M,
N, K,``. Like SCALE-Sim: no padding, output ``ceil((H - R + stride) / stride)``,
one stride for both directions, a name containing ``DP`` is a depthwise layer
(``Num Filter`` filters per channel). Unlike SCALE-Sim: the trailing comma is
optional, extra columns and blank rows are ignored.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

from npusim.errors import InputError

from ..trace import Trace, make_layer, trace_from_layers
from . import importer


def _read(path: Path, form: str) -> Trace:
    from npusim.npu import read_scalesim_topology

    try:
        topo = read_scalesim_topology(path, form=form)
    except ValueError as exc:
        msg = str(exc)
        m = re.match(rf"{re.escape(str(path))}:(\d+): (.*)", msg)
        line, text = (int(m.group(1)), m.group(2)) if m else (None, msg)
        raise InputError(str(path), "row", text, line) from None
    layers = []
    names: list[str] = []
    for i, r in enumerate(topo.itertuples()):
        name = str(r.name).strip() or f"layer{i}"
        while name in names:
            name += "_"
        if r.form == "gemm":
            fields = dict(name=name, op="gemm", M=int(r.m), N=int(r.n), K=int(r.k))
        else:
            h, w, k, s = int(r.ifmap_h), int(r.ifmap_w), int(r.filter_h), int(r.stride)
            out_h = math.ceil((h - k + s) / s)
            out_w = math.ceil((w - int(r.filter_w) + s) / s)
            fields = dict(name=name, in_c=int(r.channels), in_h=h, in_w=w, kernel_h=k, kernel_w=int(r.filter_w),
                          stride=s, padding=0, out_h=out_h, out_w=out_w)
            if r.depthwise:
                fields.update(op="dwconv", groups=int(r.channels), out_c=int(r.channels) * int(r.num_filter))
            else:
                fields.update(op="conv", out_c=int(r.num_filter))
        layers.append(make_layer(fields, source=str(path), previous=names[-1] if names else None, known=names))
        names.append(name)
    if not layers:
        raise InputError(str(path), "rows", "topology has no layers", 1)
    return trace_from_layers(path.stem, layers, str(path))


@importer("scalesim")
def scalesim_conv(path: Path) -> Trace:
    return _read(path, "conv")


@importer("scalesim-gemm")
def scalesim_gemm(path: Path) -> Trace:
    return _read(path, "gemm")
