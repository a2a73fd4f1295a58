"""Readers for SCALE-Sim's files: COMPUTE_REPORT.csv and topology CSVs.

Both are tolerant: the trailing comma SCALE-Sim writes (and needs) is
optional, spaces around fields are ignored, blank rows are skipped, and
columns beyond the known ones are ignored.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..errors import InputError
from .convert import conv_out_size

CONV_COLUMNS = ("ifmap_h", "ifmap_w", "filter_h", "filter_w", "channels", "num_filter", "stride")
GEMM_COLUMNS = ("M", "N", "K")
SCALESIM_CONV_NAMES = ("IFMAP Height", "IFMAP Width", "Filter Height", "Filter Width", "Channels", "Num Filter",
                       "Strides")  # the header SCALE-Sim writes, for error messages
TOPOLOGY_COLUMNS = ("name", "form", *CONV_COLUMNS, "sparsity", "depthwise", "m", "n", "k", "groups")


def _rows(path: str | Path) -> list[tuple[int, list[str]]]:
    """(line number, fields) of the non-blank lines, trailing empty fields dropped."""
    out = []
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise InputError(str(path), "file", "no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(str(path), "file", f"cannot read: {exc}") from None
    for lineno, line in enumerate(text.splitlines(), start=1):
        fields = [f.strip() for f in line.split(",")]
        while fields and fields[-1] == "":
            fields.pop()
        if fields:
            out.append((lineno, fields))
    return out


def _number(text: str, path, lineno: int, column: str) -> int | float:
    try:
        return int(text)
    except ValueError:
        pass
    try:
        value = float(text)
    except ValueError:
        raise InputError(str(path), column, f"expected a number, got {text!r}", lineno) from None
    return value


def read_scalesim_report(path: str | Path) -> pd.DataFrame:
    """A SCALE-Sim ``COMPUTE_REPORT.csv`` as a DataFrame, one row per layer.

    Columns keep SCALE-Sim's header names, stripped (v3: ``LayerID``,
    ``Total Cycles (incl. prefetch)``, ``Total Cycles``, ``Stall Cycles``,
    ``Overall Util %``, ``Mapping Efficiency %``, ``Compute Util %``; v2
    reports lack the prefetch column). Cycle counts are integers.
    Missing trailing values become NaN; fields beyond the header are dropped.
    """
    rows = _rows(path)
    if not rows:
        raise InputError(str(path), "report", "empty: no header line")
    header = rows[0][1]
    if "Total Cycles" not in header:
        raise InputError(str(path), "Total Cycles", "column missing: not a SCALE-Sim compute report", rows[0][0])
    records = []
    for lineno, fields in rows[1:]:
        fields = fields[: len(header)]
        rec = {col: _number(val, path, lineno, col) for col, val in zip(header, fields)}
        records.append(rec)
    df = pd.DataFrame.from_records(records, columns=list(header))
    for col in df.columns:
        if ("Cycles" in col or col == "LayerID") and df[col].notna().all():
            df[col] = df[col].astype("int64")
    return df


def read_scalesim_topology(path: str | Path, *, form: str = "auto", expand_depthwise: bool = False) -> pd.DataFrame:
    """A SCALE-Sim topology CSV as a DataFrame, with the GEMM view of every layer.

    `form` is ``conv`` (``Layer name, IFMAP Height, IFMAP Width, Filter
    Height, Filter Width, Channels, Num Filter, Strides[, N:M]``), ``gemm``
    (``Layer, M, N, K[, N:M]``, as ``python -m scalesim.scale -i gemm``
    reads it) or ``auto`` (by the number of numeric fields of the first
    layer row). Columns: `TOPOLOGY_COLUMNS`; ``m, n, k, groups`` follow
    SCALE-Sim (output ``ceil((H - R + stride) / stride)``, no padding; a GEMM row is
    SCALE-Sim's ``M x K`` input with a ``1 x K`` filter; a conv layer whose
    name contains ``DP`` is depthwise: ``groups = channels``, ``k = R*S``).

    With ``expand_depthwise=True`` every ``DP`` row becomes one row per
    channel, named ``<name>Channel_<i>``, exactly as SCALE-Sim expands it, so
    that row i lines up with ``LayerID`` i of its COMPUTE_REPORT.csv.
    """
    if form not in ("auto", "conv", "gemm"):
        raise ValueError(f"form must be auto, conv or gemm, got {form!r}")
    rows = _rows(path)[1:]  # the first non-blank line is the header
    if form == "auto":
        if not rows:
            form = "conv"
        else:
            numeric = sum(1 for f in rows[0][1][1:8] if f.lstrip("-").isdigit())
            form = "conv" if numeric >= 7 else "gemm"
    records = []
    for lineno, fields in rows:
        name = fields[0]
        ncols = 7 if form == "conv" else 3
        values = fields[1: 1 + ncols]
        names = SCALESIM_CONV_NAMES if form == "conv" else GEMM_COLUMNS
        if len(values) < ncols:
            raise InputError(str(path), names[len(values)], f"missing: expected {ncols} numbers after the layer "
                                                            f"name, got {len(values)}", lineno)
        ints = []
        for col, v in zip(names, values):
            if not (v.isascii() and v.isdigit()):
                raise InputError(str(path), col, f"expected a positive integer, got {v!r}", lineno)
            if int(v) < 1:
                raise InputError(str(path), col, f"must be a positive integer, got {v}", lineno)
            ints.append(int(v))
        extra = fields[1 + ncols:]
        sparsity = extra[0] if extra and ":" in extra[0] else "1:1"
        if form == "conv":
            h, w, r, s, c, f, stride = ints
            if r > h or s > w:
                raise InputError(str(path), "Filter Height" if r > h else "Filter Width",
                                 f"filter {r}x{s} is larger than the input {h}x{w}", lineno)
            # SCALE-Sim: ceil((H - R + stride) / stride), see convert.conv_gemm_dims
            p = conv_out_size(h, r, stride, ceil_mode=True)
            q = conv_out_size(w, s, stride, ceil_mode=True)
            depthwise = "DP" in name
            rec = {"name": name, "form": "conv", "ifmap_h": h, "ifmap_w": w, "filter_h": r, "filter_w": s, "channels": c,
                       "num_filter": f, "stride": stride, "sparsity": sparsity, "depthwise": depthwise,
                       "m": p * q, "n": f, "k": r * s * (1 if depthwise else c), "groups": c if depthwise else 1}
        else:
            gm, gn, gk = ints
            rec = {"name": name, "form": "gemm", "ifmap_h": gm, "ifmap_w": gk, "filter_h": 1, "filter_w": gk, "channels": 1,
                       "num_filter": gn, "stride": 1, "sparsity": sparsity, "depthwise": False,
                       "m": gm, "n": gn, "k": gk, "groups": 1}
        if expand_depthwise and rec["depthwise"]:
            for ch in range(rec["channels"]):
                records.append({**rec, "name": f"{name}Channel_{ch}", "channels": 1, "groups": 1})
        else:
            records.append(rec)
    df = pd.DataFrame.from_records(records, columns=list(TOPOLOGY_COLUMNS))
    for col in (*CONV_COLUMNS, "m", "n", "k", "groups"):
        df[col] = df[col].astype("int64")
    df["depthwise"] = df["depthwise"].astype(bool)
    return df
