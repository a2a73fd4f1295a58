"""SCALE-Sim v3 topology files, read as SCALE-Sim reads them.

Conv form: ``Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter
Width, Channels, Num Filter, Strides,``; GEMM form (``-i gemm``): ``Layer, M,
N, K,`` (an ``M x K`` input times a ``K x N`` filter matrix). Like SCALE-Sim:
the first non-blank line is a header and is skipped, there is no padding, the
output is ``ceil((H - R + stride) / stride)`` (stored as exact `out_h` /
`out_w`, since it is not the floor formula), one stride serves both
directions, and a conv layer whose name contains ``DP`` is depthwise (``Num
Filter`` filters per channel: ``out_c = Channels x Num Filter``). Unlike
SCALE-Sim: the trailing comma is optional, extra columns (e.g. v3's sparsity
``N:M``) and blank rows are ignored (a 9th column headed as a stride, v2's
``Stride width``, must equal ``Strides``), and a bad row is reported as
``<file>:<line>: <column>: <what is wrong>``. The rows are parsed by
`npusim.npu.read_scalesim_topology`, the reader `npusim regress` uses too.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from npusim.errors import InputError

from ..trace import Trace, make_layer, trace_from_layers
from . import importer, one_line, safe_name


def _read(path: Path, form: str) -> Trace:
    """Layers from the rows `npusim.npu.read_scalesim_topology` reads (one parser of the format)."""
    from npusim.npu import read_scalesim_topology

    source = str(path)
    topo = read_scalesim_topology(path, form=form)
    layers = []
    names: dict[str, None] = {}  # ordered, O(1) lookups
    for row in topo.itertuples(index=False):
        name = safe_name(row.name) or f"layer{len(names)}"
        while name in names:
            name += "_"
        if row.form == "gemm":
            fields = dict(name=name, op="gemm", M=row.m, N=row.n, K=row.k)
        else:
            fields = dict(name=name, in_c=row.channels, in_h=row.ifmap_h, in_w=row.ifmap_w, kernel_h=row.filter_h,
                          kernel_w=row.filter_w, stride=row.stride, padding=0, out_h=row.out_h, out_w=row.out_w)
            if row.depthwise:
                fields.update(op="dwconv", groups=row.channels, out_c=row.channels * row.num_filter)
            else:
                fields.update(op="conv", out_c=row.num_filter)
        fields = {k: (int(v) if isinstance(v, (int, np.integer)) else v) for k, v in fields.items()}
        layers.append(make_layer(fields, source=source, line=int(row.line), previous=layers[-1].name if layers else None,
                                 known=names))
        names[name] = None
    if not layers:
        raise InputError(source, "rows", "topology has no layers (a header line, then one row per layer)", 1)
    return trace_from_layers(path.stem, layers, source)


@importer("scalesim", "SCALE-Sim v3 conv topology (Layer name, IFMAP Height, ..., Strides)")
def scalesim_conv(path: Path) -> Trace:
    return _read(path, "conv")


@importer("scalesim-gemm", "SCALE-Sim v3 GEMM topology (Layer, M, N, K)")
def scalesim_gemm(path: Path) -> Trace:
    return _read(path, "gemm")


# -- the other way: a trace's array layers as a SCALE-Sim topology ---------------------------

LAYOUT_FIELDS = 20  # SCALE-Sim 3.0.0 wants a layout row of 20 integers per topology layer


def topology_rows(trace: Trace) -> tuple[list[list[str | int]], list[str]]:
    """SCALE-Sim conv-form rows that time exactly the systolic-array work of
    `trace`, and the names of the layers left out (vector ops: SCALE-Sim
    models only the array).

    * A batch-1 conv or depthwise conv keeps its spatial form. Its input is
      given as ``(out - 1) x stride + kernel``: the rows and columns its
      windows cover, padding included, so that SCALE-Sim's output size
      (``ceil((H - R + stride) / stride)``, no padding) equals the trace's.
      A depthwise layer's name gets ``DP`` (SCALE-Sim's marker) unless it has
      one (so an exported topology read back exports the same); other names
      lose any ``DP`` they had. A ``,`` or ``"`` in a name becomes ``_``.
    * Everything else that runs on the array (gemm, matmul, lstm, grouped or
      batched convs) is written as its GEMMs, one row each (``name.i`` when a
      layer has several): an ``M x 1`` input of ``K`` channels and ``N`` 1x1
      filters, which SCALE-Sim times as the ``M x K`` by ``K x N`` product.
    """
    rows: list[list[str | int]] = []
    skipped: list[str] = []
    for layer in trace.layers:
        if not layer.is_compute:
            skipped.append(layer.name)
            continue
        # SCALE-Sim splits at commas and keeps quotes, npusim's reader (csv) strips them: neither may stay
        dp_name = one_line(layer.name).replace(",", "_").replace('"', "_")  # a depthwise one keeps a DP it has
        name = dp_name.replace("DP", "D_P")
        spatial = layer.op in ("conv", "dwconv") and layer.batch == 1
        if spatial and layer.groups == 1:
            rows.append([name, *_conv_window(layer), layer.in_c, layer.out_c, layer.stride])
        elif spatial and layer.groups == layer.in_c and layer.out_c % layer.in_c == 0:
            dw_name = dp_name if "DP" in dp_name else f"{dp_name}_DP"
            rows.append([dw_name, *_conv_window(layer), layer.in_c, layer.out_c // layer.in_c, layer.stride])
        else:
            m, n, k, groups = layer.gemm_dims()
            for g in range(groups):
                rows.append([name if groups == 1 else f"{name}.{g}", m, 1, 1, 1, k, n, 1])
    return rows, skipped


def _conv_window(layer) -> tuple[int, int, int, int]:
    """(IFMAP Height, IFMAP Width, Filter Height, Filter Width) of a conv row."""
    return ((layer.out_h - 1) * layer.stride + layer.kernel_h, (layer.out_w - 1) * layer.stride + layer.kernel_w,
            layer.kernel_h, layer.kernel_w)


def write_topology(trace: Trace, path: str | Path, layout: str | Path | None = None) -> list[str]:
    """Write `trace` as a SCALE-Sim v3 conv-form topology (`topology_rows`)
    and, if asked, the layout file SCALE-Sim's CLI requires (all ones; a
    ``DP`` row's field 5 is its channel count, so that SCALE-Sim expands the
    layout like the topology). Returns the names of the layers left out."""
    rows, skipped = topology_rows(trace)
    Path(path).write_text(topology_text(rows), encoding="utf-8")
    if layout is not None:
        Path(layout).write_text(layout_text(rows), encoding="utf-8")
    return skipped


def topology_text(rows: list[list[str | int]]) -> str:
    """The topology file of `topology_rows`' rows (header, trailing commas)."""
    header = "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,"
    return "\n".join([header] + [", ".join(map(str, r)) + "," for r in rows]) + "\n"


def layout_text(rows: list[list[str | int]]) -> str:
    """The layout file SCALE-Sim's CLI requires for those rows."""
    lines = ["Layer name, " + ", ".join(f"Layout field {i}" for i in range(1, LAYOUT_FIELDS + 1)) + ","]
    for r in rows:
        ones = [1] * LAYOUT_FIELDS
        if str(r[0]).endswith("_DP"):
            ones[4] = r[5]
        lines.append(", ".join(map(str, [r[0], *ones])) + ",")
    return "\n".join(lines) + "\n"
