"""``npusim regress``: re-run reference cases and diff against stored traces."""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from ..errors import COMMAND_LINE, InputError
from ..units import parse_float_text


def add_parser(sub, parent: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "regress", parents=[parent], help="re-run reference scenarios and diff against references",
        description="Re-run every reference case (per-layer cycles, DRAM bytes, LLC hits of a scenario; or "
                    "SCALE-Sim compute cycles) and print the differences. Exit 0 within tolerance, 1 on a "
                    "regression, 2 on bad input.")
    p.add_argument("--reference", metavar="DIR|COMPUTE_REPORT.csv",
                   help="reference cases (default: tests/reference/regress of this npusim checkout), or a SCALE-Sim "
                        "COMPUTE_REPORT.csv with --topology and --config")
    p.add_argument("--tolerance", default="0.01", metavar="REL", help="largest relative difference allowed (default 0.01)")
    p.add_argument("--topology", metavar="FILE", help="SCALE-Sim topology of a COMPUTE_REPORT.csv reference")
    p.add_argument("--config", metavar="FILE", help="SCALE-Sim config of a COMPUTE_REPORT.csv reference")
    p.add_argument("--update", action="store_true", help="rewrite the engine references from the current code")
    p.add_argument("--verbose", action="store_true", help="print every layer, not only the ones that differ")
    p.set_defaults(func=run)


def number_text(v: float) -> str:
    """Counts whole with thousands separators (-9,528, 24,780), relative differences to
    4 digits; n/a for a value one side lacks; never -0."""
    if math.isnan(v):
        return "n/a"
    if math.isfinite(v) and (float(v).is_integer() or abs(v) >= 1000):
        text = f"{v:,.0f}"
    else:
        text = f"{v:,.4g}"
    return text.lstrip("-") if text.lstrip("-") == "0" else text


def readable(df):
    """`df` with every number as number_text gives it (integer columns too)."""
    import pandas as pd

    return df.assign(**{c: df[c].map(lambda v: number_text(float(v))) for c in df.columns
                        if pd.api.types.is_numeric_dtype(df[c]) and not pd.api.types.is_bool_dtype(df[c])})


def shipped_references() -> Path:
    """The reference cases of the checkout npusim runs from, wherever the command is run."""
    import npusim

    shipped = Path(npusim.__file__).resolve().parent.parent / "tests" / "reference" / "regress"
    if not shipped.is_dir():
        raise InputError(COMMAND_LINE, "--reference", "this installation has no reference cases (they live in "
                                                      "tests/reference/regress of a checkout): give --reference DIR")
    return shipped


def _not_a_file(path: Path) -> str | None:
    """What keeps `path` from being read as a file (none there, a folder, a FIFO ...), or None."""
    if path.is_file():
        return None
    if path.is_dir():
        return "is a directory, not a file"
    return "not a regular file" if path.exists() else "no such file"


def run(args: argparse.Namespace) -> int:
    from ..regress import compare_scalesim, run_regression

    try:
        tol = parse_float_text(args.tolerance)
    except ValueError:
        raise InputError(COMMAND_LINE, "--tolerance", f"expected a number, got {args.tolerance!r}") from None
    if not tol >= 0 or math.isinf(tol):
        raise InputError(COMMAND_LINE, "--tolerance", f"must be a non-negative number, got {args.tolerance!r}")
    ref = Path(args.reference) if args.reference is not None else shipped_references()
    if ref.is_file():
        if not (args.topology and args.config):
            missing = "--config" if args.topology else "--topology"
            raise InputError(COMMAND_LINE, missing, "a COMPUTE_REPORT.csv reference needs --topology and --config")
        for flag, path in (("--topology", args.topology), ("--config", args.config)):
            problem = _not_a_file(Path(path))
            if problem:
                raise InputError(COMMAND_LINE, flag, f"{path!r}: {problem}")
        results = [compare_scalesim(ref, Path(args.topology), Path(args.config), tol, name=ref.parent.name)]
    else:
        if (args.topology or args.config) and not ref.is_dir():
            # the files of a COMPUTE_REPORT.csv comparison are given: the report itself is what is missing
            raise InputError(str(ref), "reference", _not_a_file(ref) or "not a regular file")
        for flag, path in (("--topology", args.topology), ("--config", args.config)):
            if path is not None:  # a folder's cases name their own files
                raise InputError(COMMAND_LINE, flag, "only with a COMPUTE_REPORT.csv --reference, not a folder of cases")
        results = run_regression(ref, tol, args.update)
    failed = 0
    for r in results:
        status = "updated" if r.updated else ("ok" if r.passed else "REGRESSION")
        worst = ("unbounded: a layer only one side has, or a value that was 0" if math.isinf(r.worst_rel)
                 else f"{r.worst_rel:.2%}")
        print(f"{r.name} [{r.kind}]: {status} (worst relative difference {worst})")
        print(readable(r.totals).to_string(index=False))
        rel_cols = [c for c in r.diff.columns if c.endswith("_rel")]
        shown = r.diff if args.verbose else r.diff[(r.diff[rel_cols].abs() > tol).any(axis=1)]
        if len(shown):
            print(readable(shown).to_string(index=False))
        print()
        failed += 0 if r.passed else 1
    print(f"{len(results) - failed} of {len(results)} cases within tolerance {tol:g}", file=sys.stderr)
    return 1 if failed else 0
