"""``npusim trace``: list the model zoo, show a trace, import other formats.

    npusim trace list
    npusim trace show NAME|FILE [--json] [--batch N] [--seq-len N] [--task T] [--format F]
    npusim trace import FILE --out OUT.csv [--format scalesim|scalesim-gemm|onnx|trace]
    npusim trace export NAME|FILE --out TOPOLOGY.csv [--layout LAYOUT.csv] [--batch N] [--seq-len N] [--task T]

Bad input is one line ``error: <file>[:<line>]: <column>: <what>`` and exit 2
(docs/TRACES.md). Operators an importer skips are warned on stderr, one line
each plus a summary line.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import warnings
from pathlib import Path

from ..atomicio import destination, is_stream
from ..errors import COMMAND_LINE, InputError, refuse_input_as_output
from ..units import bytes_text, count_text
from .common import int_arg

FORMATS = ("trace", "scalesim", "scalesim-gemm", "onnx")


def add_parser(sub, parent: argparse.ArgumentParser) -> None:
    p = sub.add_parser("trace", parents=[parent], help="list, show, import and export workload traces",
                       description="The model zoo and layer traces (docs/TRACES.md).")
    verbs = p.add_subparsers(dest="trace_verb", metavar="ACTION", parser_class=type(p))
    verbs.required = True
    lst = verbs.add_parser("list", parents=[parent], help="list the zoo models with their totals",
                           description="List the zoo models (default parameters) with layers, MACs and parameters.")
    lst.add_argument("--json", action="store_true", help="print the list as JSON")
    lst.set_defaults(func=_list)
    show = verbs.add_parser("show", parents=[parent], help="layer table and totals of a model or file",
                            description="Print the layer table and totals of a zoo model or a trace / SCALE-Sim / "
                                        "ONNX file.")
    _workload_arguments(show)
    show.add_argument("--json", action="store_true", help="print totals and the layer table as JSON")
    show.set_defaults(func=_show)
    imp = verbs.add_parser("import", parents=[parent], help="convert a SCALE-Sim topology or ONNX graph to a trace",
                           description="Convert a file to an npusim trace CSV.")
    imp.add_argument("file", metavar="FILE")
    imp.add_argument("--out", required=True, metavar="OUT.csv", help="trace CSV to write")
    imp.add_argument("--format", choices=FORMATS, help="input format (default: detected from extension and header)")
    imp.set_defaults(func=_import)
    exp = verbs.add_parser("export", parents=[parent], help="write a model's array layers as a SCALE-Sim topology",
                           description="Write the layers of a zoo model or trace file that run on the systolic array "
                                       "as a SCALE-Sim v3 conv-form topology (and the layout file its CLI needs), "
                                       "sized so that SCALE-Sim times exactly the work npusim simulates "
                                       "(docs/TRACES.md).")
    _workload_arguments(exp)
    exp.add_argument("--out", required=True, metavar="TOPOLOGY.csv", help="topology CSV to write")
    exp.add_argument("--layout", metavar="LAYOUT.csv", help="also write SCALE-Sim's layout file here")
    exp.set_defaults(func=_export)


def _workload_arguments(p: argparse.ArgumentParser) -> None:
    """The model or file to read, and what to build or select of it."""
    p.add_argument("workload", metavar="NAME|FILE")
    p.add_argument("--batch", type=int_arg, metavar="N", help="batch size (zoo models)")
    p.add_argument("--seq-len", type=int_arg, metavar="N", help="sequence length (zoo models that have one)")
    p.add_argument("--task", metavar="T", help="only the layers task T runs (multi-task models)")
    p.add_argument("--format", choices=FORMATS, help="file format (default: detected)")


def _human(n: float, unit: str = "") -> str:
    for scale, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(n) >= scale:
            return f"{n / scale:.2f} {suffix}{unit}"
    return f"{n:g} {unit}".strip()


def _list(args: argparse.Namespace) -> int:
    from workloads import build, model_entry, model_names

    rows = []
    for name in model_names():
        t = build(name)
        e = model_entry(name)
        rows.append({"name": name, "family": e.family, "layers": len(t), "macs": t.macs, "params": t.params,
                     "tasks": list(t.tasks), "description": e.description})
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"{'model':22s} {'layers':>6s} {'MACs':>10s} {'params':>10s}  description")
    for r in rows:
        print(f"{r['name']:22s} {r['layers']:6d} {_human(r['macs']):>10s} {_human(r['params']):>10s}  "
              f"{r['description']}")
    return 0


def _params(args: argparse.Namespace) -> dict:
    out = {}
    for key, flag in (("batch", "--batch"), ("seq_len", "--seq-len")):
        v = getattr(args, key, None)
        if v is not None:
            if v < 1:
                raise InputError(COMMAND_LINE, flag, f"must be at least 1, got {v}")
            out[key] = v
    return out


def _report_warnings(caught: list[warnings.WarningMessage]) -> int:
    """Print warnings one line each, then a summary of skipped operators; returns how many were skipped."""
    skipped = []
    for w in caught:
        text = " ".join(str(w.message).split())
        if "unsupported" in text and "skipped" in text:
            skipped.append(text)
        else:
            print(f"warning: {text}", file=sys.stderr)
    if skipped:
        for text in skipped:
            print(f"warning: {text}", file=sys.stderr)
        ops = sorted({t.split("operator ", 1)[1].split(" ", 1)[0] for t in skipped if "operator " in t})
        print(f"warning: {count_text(len(skipped), 'unsupported operator')} skipped "
              f"({', '.join(ops)}); the trace omits them", file=sys.stderr)
    return len(skipped)


def _load(args: argparse.Namespace):
    from workloads import get_trace, model_names, workload_fault
    from workloads.importers import load_file

    params = _params(args)
    flags = {"batch": "--batch", "seq_len": "--seq-len"}
    zoo = args.workload in model_names()
    if zoo and args.format:
        raise InputError(COMMAND_LINE, "--format", f"{args.workload} is a zoo model; --format applies to files "
                                                   f"(write ./{args.workload} for a file of that name)")
    if params and not zoo:
        raise InputError(COMMAND_LINE, flags[next(iter(params))], "applies to zoo models only, not to files")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if args.format:
            trace = load_file(Path(args.workload), args.format)
        else:
            try:
                trace = get_trace(args.workload, **params)
            except InputError as exc:
                fault = workload_fault(exc, args.workload, params)
                if fault and fault != ("workload",):  # the flags' values, not the model
                    raise InputError(COMMAND_LINE, "/".join(flags[k] for k in fault), exc.message) from None
                raise
    _report_warnings(caught)
    return trace


def _load_for_task(args: argparse.Namespace):
    trace = _load(args)
    if args.task is not None:
        if args.task not in trace.tasks:
            raise InputError(COMMAND_LINE, "--task", f"{trace.name} has no task {args.task!r} "
                                                     f"(tasks: {', '.join(trace.tasks) or 'none'})")
        trace = trace.for_task(args.task)
    return trace


def _show(args: argparse.Namespace) -> int:
    trace = _load_for_task(args)
    totals = trace.totals()
    df = trace.to_frame()
    if args.json:
        records = [{k: _json_value(v) for k, v in row.items()} for row in df.to_dict(orient="records")]
        print(json.dumps(dict(totals, tasks=list(trace.tasks), layer_table=records), indent=2))
        return 0
    cols = ["name", "op", "batch", "in_c", "in_h", "in_w", "out_c", "out_h", "out_w", "kernel_h", "kernel_w", "stride",
            "padding", "groups", "M", "N", "K", "macs", "weight_bytes", "output_bytes", "inputs", "block", "task",
            "expert"]
    if not trace.tasks:
        cols = [c for c in cols if c not in ("task", "expert")]
    with _pandas_wide():
        print(df[cols].to_string(index=False))
    print(f"\n{trace.name}: {totals['layers']} layers, {_human(totals['macs'], 'MACs')}, {_human(totals['params'])} "
          f"params, weights {bytes_text(totals['weight_bytes'])}, activations "
          f"{bytes_text(totals['activation_bytes'])}"
          + (f", task {args.task}" if args.task else f", tasks {', '.join(trace.tasks)}" if trace.tasks else ""))
    return 0


def _json_value(v):
    """JSON-friendly cell: empty strings (columns an op does not use) become null."""
    if v == "" or (isinstance(v, float) and math.isnan(v)):
        return None
    if hasattr(v, "item"):
        return v.item()
    return v


class _pandas_wide:
    def __enter__(self):
        import pandas as pd

        self._ctx = pd.option_context("display.width", 250, "display.max_columns", None, "display.max_rows", None)
        self._ctx.__enter__()

    def __exit__(self, *exc):
        return self._ctx.__exit__(*exc)


def _import(args: argparse.Namespace) -> int:
    from workloads.importers import load_file
    from workloads.trace import trace_to_csv

    out = Path(args.out)
    if out.suffix.lower() != ".csv":
        raise InputError(COMMAND_LINE, "--out", f"a trace is written as CSV: name the file .csv, got {args.out!r}")
    refuse_input_as_output("--out", out, [args.file])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        trace = load_file(Path(args.file), args.format)
    skipped = _report_warnings(caught)
    _write_all([("--out", out, trace_to_csv(trace))])  # whole or not at all
    print(f"{trace.name}: {len(trace)} layers, {_human(trace.macs, 'MACs')} -> {out}"
          + (f" ({count_text(skipped, 'unsupported operator')} skipped)" if skipped else ""))
    return 0


class _writing:
    """Creates the parent folder of `path`; an OS error while writing becomes
    one-line input error about `flag`."""

    def __init__(self, flag: str, path: Path):
        self.flag, self.path = flag, path

    def __enter__(self):
        if not self.path.parent.exists():
            try:
                self.path.parent.mkdir(parents=True)
            except OSError as exc:
                self._fail(exc)

    def __exit__(self, kind, exc, tb):
        if isinstance(exc, OSError):
            self._fail(exc)
        return False

    def _fail(self, exc: OSError):
        raise InputError(COMMAND_LINE, self.flag, f"cannot write {str(self.path)!r}: {exc.strerror or exc}") from None


def _write_all(files: list[tuple[str, Path, str]]) -> None:
    """Write (flag, path, text) files all or none: each is staged next to its
    destination and moved into place only once every one is written, so a
    failure neither leaves half the output nor removes a file that was there.
    A device or pipe (/dev/null, /dev/stdout) is written to, not replaced; a symbolic
    link is written through."""
    staged: list[tuple[str, Path, Path]] = []
    direct: list[tuple[str, Path, str]] = []
    try:
        for flag, path, text in files:
            path = destination(path)
            if is_stream(path):
                direct.append((flag, path, text))
                continue
            with _writing(flag, path):
                tmp = path.with_name(f".{path.name}.{os.getpid()}.{flag[2:]}.tmp")  # plain open: the usual file mode
                staged.append((flag, path, tmp))
                tmp.write_text(text, encoding="utf-8")
        for flag, path, tmp in staged:
            with _writing(flag, path):
                if path.is_dir():
                    raise IsADirectoryError(21, "Is a directory")
        for flag, path, tmp in staged:
            with _writing(flag, path):
                os.replace(tmp, path)
        for flag, path, text in direct:
            with _writing(flag, path), open(path, "w", encoding="utf-8") as fh:
                fh.write(text)
    finally:
        for _, _, tmp in staged:
            try:
                tmp.unlink(missing_ok=True)
            except OSError:
                pass  # never created (its folder is not writable)


def _export(args: argparse.Namespace) -> int:
    from workloads.importers.scalesim import layout_text, topology_rows, topology_text

    for flag, path in (("--out", args.out), ("--layout", args.layout)):
        device = path is not None and is_stream(Path(path))
        if path is not None and not device and Path(path).suffix.lower() != ".csv":  # 'dir/' would be a file
            raise InputError(COMMAND_LINE, flag, f"SCALE-Sim reads CSV: name the file .csv, got {path!r}")
    refuse_input_as_output("--out", args.out, [args.workload])
    if args.layout:
        refuse_input_as_output("--layout", args.layout, [args.workload])
    trace = _load_for_task(args)
    rows, skipped = topology_rows(trace)
    if not rows:
        raise InputError(args.workload, "layers", "no layer runs on the systolic array; nothing to export")
    out = Path(args.out)
    files = [("--out", out, topology_text(rows))]
    if args.layout and Path(args.layout).resolve() == out.resolve():
        raise InputError(COMMAND_LINE, "--layout", f"is the same file as --out ({args.out!r})")
    if args.layout:
        files.append(("--layout", Path(args.layout), layout_text(rows)))
    _write_all(files)
    print(f"{trace.name}: {len(rows)} SCALE-Sim rows from {len(trace) - len(skipped)} array layers -> {out}"
          + (f" (+ layout {args.layout})" if args.layout else "")
          + (f"; {len(skipped)} vector layers left out (SCALE-Sim models only the array)" if skipped else ""))
    return 0
