"""Regression against reference traces.

A reference directory holds one folder per case:

* an **engine case**: ``scenario.yaml`` and ``layers.csv`` (the per-layer
  table of `npusim run` for that scenario: cycles, DRAM bytes, LLC hits);
* a **SCALE-Sim case**: ``scalesim.yaml`` naming a SCALE-Sim topology, the
  config it ran with and its ``COMPUTE_REPORT.csv``; npusim's ``scalesim``
  timing must reproduce the report's Total Cycles.

`run_regression` re-runs every case and diffs per layer and in total; a
relative difference above the tolerance is a regression. `update=True`
rewrites the engine references from the current code (deliberately).
"""

from __future__ import annotations

import configparser
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .atomicio import write_frame_whole
from .errors import InputError, first_line
from .soc import MAX_ARRAY_DIM
from .specio import MAX_INT, Section, load_yaml, read_csv_with_text
from .units import capped_int

ENGINE_METRICS = ("cycles", "dram_bytes", "llc_hits")
KEY = ["tenant", "task", "layer"]


@dataclass
class CaseResult:
    name: str
    kind: str  # engine | scalesim
    diff: pd.DataFrame  # per layer: reference, current, abs and rel difference per metric
    totals: pd.DataFrame
    worst_rel: float
    passed: bool
    updated: bool = False


def find_cases(reference: Path) -> list[Path]:
    if not reference.exists():
        raise InputError(str(reference), "reference", "no such directory")
    if reference.is_file():
        raise InputError(str(reference), "reference", "expected a directory of reference cases")
    cases = sorted(p for p in reference.iterdir()
                   if p.is_dir() and ((p / "scenario.yaml").is_file() or (p / "scalesim.yaml").is_file()))
    if (reference / "scenario.yaml").is_file() or (reference / "scalesim.yaml").is_file():
        cases = [reference]
    if not cases:
        raise InputError(str(reference), "reference", "no references here (folders with scenario.yaml + "
                                                       "layers.csv, or scalesim.yaml)")
    return cases


def _diff(ref: pd.DataFrame, cur: pd.DataFrame, key: list[str], metrics, tolerance: float):
    # keys compared as text: a reference column read as numbers still matches (or not) row by row
    ref = ref.assign(**{k: ref[k].astype(str) for k in key})
    cur = cur.assign(**{k: cur[k].astype(str) for k in key})
    merged = ref.merge(cur, on=key, how="outer", suffixes=("_ref", "_cur"), indicator=True)
    one_side = (merged["_merge"] != "both").to_numpy()
    # a row only one side has differs without bound, and says which side has it
    merged["only_in"] = merged["_merge"].map({"left_only": "reference", "right_only": "current"}).fillna("")
    rows = []
    worst = 0.0
    for m in metrics:
        r = merged[f"{m}_ref"].astype(float)
        c = merged[f"{m}_cur"].astype(float)
        merged[f"{m}_abs"] = c - r
        rel = np.where(r != 0, (c - r) / np.where(r != 0, r, 1), np.where(c == 0, 0.0, np.inf))
        merged[f"{m}_rel"] = np.where(one_side, np.inf, rel)
        # rows both sides have (one-sided rows make it inf below): nanmax of only NaN would warn
        both = np.abs(rel[~one_side])
        worst = max(worst, float(np.nanmax(both)) if both.size and not np.isnan(both).all() else 0.0)
        tr, tc = float(r.sum()), float(c.sum())
        rows.append({"metric": m, "reference": tr, "current": tc, "abs": tc - tr,
                     "rel": (tc - tr) / tr if tr else (0.0 if tc == 0 else np.inf)})
    if one_side.any():
        worst = np.inf
    merged = merged[key + ["only_in"] + [c for c in merged.columns if c not in key and c not in ("only_in", "_merge")]]
    return merged, pd.DataFrame(rows), worst, (worst <= tolerance)


def run_engine_case(case: Path, tolerance: float, update: bool) -> CaseResult:
    from .api import run_scenario
    from .scenario import load_scenario

    scenario = load_scenario(case / "scenario.yaml")
    ref_path = case / "layers.csv"
    if ref_path.is_dir():
        raise InputError(str(ref_path), "file", "is a folder, not a reference table")
    if not update and not ref_path.is_file():
        raise InputError(str(ref_path), "file", "no reference table (run with --update to create it)")
    ref = None if update else _read_reference(ref_path)  # checked before the (long) run
    result = run_scenario(scenario)
    cur = result.layers[KEY + list(ENGINE_METRICS)].copy()
    if ref is None:
        try:
            write_frame_whole(ref_path, cur)
        except OSError as exc:
            raise InputError(str(ref_path), "file", f"cannot write: {exc.strerror or exc}") from None
        diff, totals, worst, ok = _diff(cur, cur, KEY, ENGINE_METRICS, tolerance)
        return CaseResult(case.name, "engine", diff, totals, worst, ok, updated=True)
    diff, totals, worst, ok = _diff(ref, cur, KEY, ENGINE_METRICS, tolerance)
    return CaseResult(case.name, "engine", diff, totals, worst, ok)


def _read_reference(ref_path: Path) -> pd.DataFrame:
    from .report import first_bad_row, refuse_out_of_range, require_integers, require_numbers

    if ref_path.stat().st_size == 0:
        raise InputError(str(ref_path), "file", "empty file (run with --update to remake it)")
    try:
        ref = read_csv_with_text(ref_path, ("tenant", "layer"))  # names, even 'NA' or '007'; task is a number
    except Exception as exc:  # noqa: BLE001 - any unreadable table is bad input
        raise InputError(str(ref_path), "file", f"cannot read: {first_line(exc)}") from None
    for col in KEY + list(ENGINE_METRICS):
        if col not in ref.columns:
            raise InputError(str(ref_path), col, "column missing from the reference table")
    if ref.empty:
        raise InputError(str(ref_path), "file", "no layers in the reference table (run with --update to remake it)")
    for col in ("task", *ENGINE_METRICS):
        require_numbers(ref, col, str(ref_path), csv=True)
        # beyond 2**53 a count is no exact number: a damaged table, not a regression to report
        refuse_out_of_range(ref, col, str(ref_path), csv=True, top=MAX_INT)
        if col == "task":  # checked whole before the metrics' rows
            require_integers(ref, col, str(ref_path), csv=True, what="a task number")
        else:  # the engine writes whole cycles, bytes and hits
            require_integers(ref, col, str(ref_path), csv=True, what=f"a whole number of {col.replace('_', ' ')}")
    twice = ref.duplicated(KEY, keep="first")
    if twice.any():  # the merge would pair each copy with the run's one row: a made-up difference
        i, line = first_bad_row(twice, True)
        row = ref.iloc[i]
        raise InputError(str(ref_path), "layer", f"{row.tenant} task {row.task} {row.layer} is given twice", line)
    return ref


def scalesim_array(config: Path) -> tuple[int, int, str]:
    """(rows, cols, dataflow) of a SCALE-Sim config file."""
    cp = configparser.ConfigParser(interpolation=None)  # SCALE-Sim's configs use no %(name)s
    try:
        with open(config, encoding="utf-8-sig") as fh:  # a BOM (Windows editors) is not part of the first line
            cp.read_file(fh)
    except FileNotFoundError:
        raise InputError(str(config), "file", "no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(str(config), "file", f"cannot read: {exc}") from None
    except configparser.Error as exc:
        line = getattr(exc, "lineno", None)
        raise InputError(str(config), "file", f"not a SCALE-Sim config: {str(exc).splitlines()[0]}", line) from None
    if "architecture_presets" not in cp:
        raise InputError(str(config), "architecture_presets", "section missing: not a SCALE-Sim config")
    arch = cp["architecture_presets"]
    size = []
    for key in ("ArrayHeight", "ArrayWidth"):
        text = arch.get(key, "").strip()
        if not (text.isascii() and text.isdigit()):
            value = 0
        else:
            value = capped_int(text, MAX_ARRAY_DIM)
        if value < 1:
            raise InputError(str(config), f"architecture_presets.{key}", f"expected a positive integer, got {text!r}")
        if value > MAX_ARRAY_DIM:
            raise InputError(str(config), f"architecture_presets.{key}", f"must be at most {MAX_ARRAY_DIM}, got {text}")
        size.append(value)
    dataflow = arch.get("Dataflow", "").strip().lower()
    if dataflow not in ("ws", "os", "is"):
        raise InputError(str(config), "architecture_presets.Dataflow", f"expected ws, os or is, got {dataflow!r}")
    return size[0], size[1], dataflow


def scalesim_cycles(topology: Path, config: Path, form: str = "auto") -> pd.DataFrame:
    """npusim's `scalesim` Total Cycles for every (expanded) layer of a topology."""
    from .npu import gemm_cycles, read_scalesim_topology

    rows, cols, dataflow = scalesim_array(config)
    topo = read_scalesim_topology(topology, form=form, expand_depthwise=True)  # errors are InputError
    m, n, k, g = (topo[c].to_numpy(dtype=np.int64) for c in ("m", "n", "k", "groups"))
    cycles = gemm_cycles(m, n, k, groups=g, rows=rows, cols=cols, dataflow=dataflow, timing="scalesim")
    return pd.DataFrame({"layer": np.arange(len(topo)), "name": topo["name"], "cycles": cycles})


def compare_scalesim(report: Path, topology: Path, config: Path, tolerance: float, form: str = "auto",
                     name: str = "scalesim") -> CaseResult:
    from .npu import read_scalesim_report

    ref = read_scalesim_report(report)  # errors are InputError
    lines = ref.attrs.get("lines")
    for col in ("LayerID", "Total Cycles"):
        if col not in ref.columns or ref[col].isna().any():
            raise InputError(str(report), col, "missing in some rows of the compute report")
    ref = pd.DataFrame({"layer": ref["LayerID"].astype(int), "cycles": ref["Total Cycles"].astype(float)})
    if ref.empty:
        raise InputError(str(report), "LayerID", "the compute report has no layers")
    repeated = ref.layer[ref.layer.duplicated()]
    if len(repeated):
        line = lines[ref.index.get_loc(repeated.index[0])] if lines else None
        raise InputError(str(report), "LayerID", f"layer {int(repeated.iloc[0])} is reported twice", line)
    cur = scalesim_cycles(topology, config, form)[["layer", "cycles"]]
    if len(ref) != len(cur):
        raise InputError(str(report), "LayerID", f"{len(ref)} layers, but the topology {topology} has {len(cur)}: "
                                                 "not the report of this topology")
    diff, totals, worst, ok = _diff(ref, cur, ["layer"], ("cycles",), tolerance)
    return CaseResult(name, "scalesim", diff, totals, worst, ok)


def run_scalesim_case(case: Path, tolerance: float) -> CaseResult:
    sec = Section(load_yaml(case / "scalesim.yaml"), str(case / "scalesim.yaml"))
    paths = {}
    for key in ("topology", "config", "report"):
        p = Path(sec.string(key))
        p = p if p.is_absolute() else case / p
        if not p.is_file():
            raise sec.error(key, f"no such file {str(p)!r}")
        paths[key] = p
    form = sec.choice("form", ("auto", "conv", "gemm"), "auto")
    sec.finish()
    return compare_scalesim(paths["report"], paths["topology"], paths["config"], tolerance, form, case.name)


def run_regression(reference: Path, tolerance: float = 0.01, update: bool = False) -> list[CaseResult]:
    out = []
    for case in find_cases(reference):
        if (case / "scalesim.yaml").is_file():
            out.append(run_scalesim_case(case, tolerance))
        else:
            out.append(run_engine_case(case, tolerance, update))
    return out
