"""Readers for SCALE-Sim's files: COMPUTE_REPORT.csv and topology CSVs.

The one place npusim parses SCALE-Sim's CSV formats (`npusim regress` and the
trace importer both read topologies here). Both readers are tolerant: the
trailing comma SCALE-Sim writes (and needs) is optional, spaces around fields
are ignored, blank rows are skipped, and columns beyond the known ones are
ignored. A bad row is an InputError naming the file, line and SCALE-Sim column.
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

import pandas as pd

from ..errors import InputError, decode_error_line
from ..specio import MAX_INT, csv_lines
from ..units import MAX_DIM, parse_float_text, parse_int_text
from .convert import conv_out_size

CONV_COLUMNS = ("ifmap_h", "ifmap_w", "filter_h", "filter_w", "channels", "num_filter", "stride")
GEMM_COLUMNS = ("M", "N", "K")
SCALESIM_CONV_NAMES = ("IFMAP Height", "IFMAP Width", "Filter Height", "Filter Width", "Channels", "Num Filter",
                       "Strides")  # the header SCALE-Sim writes, for error messages
TOPOLOGY_COLUMNS = ("name", "form", *CONV_COLUMNS, "sparsity", "depthwise", "m", "n", "k", "groups", "out_h",
                    "out_w", "line")


def _rows(path: str | Path) -> list[tuple[int, list[str]]]:
    """(line number, fields) of the non-blank lines, trailing empty fields dropped."""
    out = []
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise InputError(str(path), "file", "no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(str(path), "file", f"cannot read: {exc}", decode_error_line(exc)) from None
    for lineno, line in enumerate(csv_lines(text), start=1):
        if not line.strip():
            continue
        try:
            fields = [f.strip() for f in next(csv.reader(io.StringIO(line)), [])]
        except csv.Error as exc:  # a field over the csv module's size limit
            raise InputError(str(path), "row", f"malformed CSV: {exc}", lineno) from None
        while fields and fields[-1] == "":
            fields.pop()
        if fields:
            out.append((lineno, fields))
    return out


def _number(text: str, path, lineno: int, column: str) -> int | float:
    # plain decimals only: int() and float() would also read 1_0 and full-width digits
    try:
        return parse_int_text(text)
    except ValueError:
        pass
    try:
        value = parse_float_text(text)
    except ValueError:
        raise InputError(str(path), column, f"expected a number, got {text!r}", lineno) from None
    if not math.isfinite(value):
        raise InputError(str(path), column, f"expected a finite number, got {text!r}", lineno)
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
        rec = {}
        for col, text in zip(header, fields):
            value = rec[col] = _number(text, path, lineno, col)
            if "Cycles" in col or col == "LayerID":
                if not (value >= 0 and value == int(value)):
                    raise InputError(str(path), col, f"expected a non-negative integer, got {value!r}", lineno)
                if value > MAX_INT:  # past int64 (1e20 became -2^63) or float exactness
                    raise InputError(str(path), col, f"must be at most {MAX_INT}, got {text}", lineno)
        records.append(rec)
    df = pd.DataFrame.from_records(records, columns=list(header))
    df.attrs["lines"] = [lineno for lineno, _ in rows[1:]]  # each row's line in the file, for errors
    for col in df.columns:
        if ("Cycles" in col or col == "LayerID") and df[col].notna().all():
            df[col] = df[col].astype("int64")
    return df


def _numbers_after_name(fields: list[str]) -> int:
    """How many of a row's seven fields after the layer name are integers (a conv row has 7)."""
    return sum(1 for f in fields[1:8] if f.lstrip("-").isdigit())


def read_scalesim_topology(path: str | Path, *, form: str = "auto", expand_depthwise: bool = False) -> pd.DataFrame:
    """A SCALE-Sim topology CSV as a DataFrame, with the GEMM view of every layer.

    `form` is ``conv`` (``Layer name, IFMAP Height, IFMAP Width, Filter
    Height, Filter Width, Channels, Num Filter, Strides[, N:M]``; a 9th column
    headed as a stride, SCALE-Sim v2's ``Stride width``, must equal ``Strides``,
    and the N:M column follows it), ``gemm``
    (``Layer, M, N, K[, N:M]``, as ``python -m scalesim.scale -i gemm``
    reads it) or ``auto`` (by the number of numeric fields of the first
    layer row). Columns: `TOPOLOGY_COLUMNS`; ``m, n, k, groups`` follow
    SCALE-Sim (output ``out_h x out_w`` with ``out_h = ceil((H - R + stride) /
    stride)``, no padding; a GEMM row is SCALE-Sim's ``M x K`` input with a
    ``1 x K`` filter; a conv layer whose name contains ``DP`` is depthwise:
    ``groups = channels``, ``k = R*S``); ``line`` is the row's line in the file.
    The first non-blank line is the header; a first line of numbers (a
    file without a header, whose first layer SCALE-Sim would skip) and a
    layout file's header (``-l``, not ``-t``) are refused.

    With ``expand_depthwise=True`` every ``DP`` row becomes one row per
    channel, named ``<name>Channel_<i>``, exactly as SCALE-Sim expands it, so
    that row i lines up with ``LayerID`` i of its COMPUTE_REPORT.csv.
    """
    if form not in ("auto", "conv", "gemm"):
        raise ValueError(f"form must be auto, conv or gemm, got {form!r}")
    rows = _rows(path)
    if rows and any(w in ",".join(rows[0][1]).lower() for w in ("intraline", "interline", "layout field")):
        raise InputError(str(path), "header", "this is a SCALE-Sim layout file (-l), not a topology (-t)", rows[0][0])
    if rows and _numbers_after_name(rows[0][1]) >= len(GEMM_COLUMNS):
        # SCALE-Sim skips the first line unread: a layer there would be lost without a word
        raise InputError(str(path), "header", "the first line is a layer, not the header SCALE-Sim skips: "
                                              "add a header line (Layer name, IFMAP Height, ...)", rows[0][0])
    header = [f.strip() for f in rows[0][1]] if rows else []
    # SCALE-Sim v2 writes and reads a 9th conv column, the stride along W ("Stride width")
    stride_w_field = header[8] if len(header) > 8 and "stride" in header[8].lower() else None
    rows = rows[1:]  # the first non-blank line is the header
    if form == "auto":
        if not rows:
            form = "conv"
        else:
            form = "conv" if _numbers_after_name(rows[0][1]) >= 7 else "gemm"
    records = []
    for lineno, fields in rows:
        name = fields[0]
        if form == "gemm" and _numbers_after_name(fields) >= 7:
            # SCALE-Sim would read M, N, K from a conv row's first three numbers: refuse the mix-up
            raise InputError(str(path), "form", f"this row has a conv layer's 7 numbers after the layer name, "
                                                "not a GEMM's 3: read it as a conv topology", lineno)
        ncols = 7 if form == "conv" else 3
        values = fields[1: 1 + ncols]
        names = SCALESIM_CONV_NAMES if form == "conv" else GEMM_COLUMNS
        if len(values) < ncols:
            raise InputError(str(path), names[len(values)], f"missing: a {form} row has {ncols} numbers after the "
                                                            f"layer name ({', '.join(names)}), this one {len(values)}",
                             lineno)
        ints = []
        for col, v in zip(names, values):
            try:
                value = parse_int_text(v)
            except ValueError:
                raise InputError(str(path), col, f"expected an integer, got {v!r}", lineno) from None
            if value < 1:
                raise InputError(str(path), col, f"must be a positive integer, got {value}", lineno)
            if value > MAX_DIM:
                raise InputError(str(path), col, f"must be at most {MAX_DIM}, got {value}", lineno)
            ints.append(value)
        extra = fields[1 + ncols:]
        # the N:M column follows the column stride when the header has one (v2's "Stride width")
        nm = extra[1:] if stride_w_field and form == "conv" else extra
        sparsity = nm[0] if nm and ":" in nm[0] else "1:1"
        if form == "conv":
            h, w, r, s, c, f, stride = ints
            if stride_w_field and extra and extra[0].strip():
                try:
                    column_stride = parse_int_text(extra[0])
                except ValueError:
                    raise InputError(str(path), stride_w_field, f"expected an integer, got {extra[0]!r}",
                                     lineno) from None
                if column_stride != stride:  # read as the row stride, out_w would be wrong without a word
                    raise InputError(str(path), stride_w_field,
                                     f"{column_stride} differs from the stride {stride}: npusim reads one stride "
                                     "for both directions", lineno)
            if r > h:
                raise InputError(str(path), "Filter Height", f"filter height {r} is larger than the input height {h}",
                                 lineno)
            if s > w:
                raise InputError(str(path), "Filter Width", f"filter width {s} is larger than the input width {w}",
                                 lineno)
            # SCALE-Sim: ceil((H - R + stride) / stride), see convert.conv_gemm_dims
            p = conv_out_size(h, r, stride, ceil_mode=True)
            q = conv_out_size(w, s, stride, ceil_mode=True)
            depthwise = "DP" in name
            rec = {"name": name, "form": "conv", "ifmap_h": h, "ifmap_w": w, "filter_h": r, "filter_w": s, "channels": c,
                       "num_filter": f, "stride": stride, "sparsity": sparsity, "depthwise": depthwise,
                       "m": p * q, "n": f, "k": r * s * (1 if depthwise else c), "groups": c if depthwise else 1,
                       "out_h": p, "out_w": q, "line": lineno}
        else:
            gm, gn, gk = ints
            rec = {"name": name, "form": "gemm", "ifmap_h": gm, "ifmap_w": gk, "filter_h": 1, "filter_w": gk, "channels": 1,
                       "num_filter": gn, "stride": 1, "sparsity": sparsity, "depthwise": False,
                       "m": gm, "n": gn, "k": gk, "groups": 1, "out_h": gm, "out_w": 1, "line": lineno}
        if expand_depthwise and rec["depthwise"]:
            for ch in range(rec["channels"]):
                records.append({**rec, "name": f"{name}Channel_{ch}", "channels": 1, "groups": 1})
        else:
            records.append(rec)
    df = pd.DataFrame.from_records(records, columns=list(TOPOLOGY_COLUMNS))
    for col in (*CONV_COLUMNS, "m", "n", "k", "groups", "out_h", "out_w", "line"):
        df[col] = df[col].astype("int64")
    df["depthwise"] = df["depthwise"].astype(bool)
    return df
