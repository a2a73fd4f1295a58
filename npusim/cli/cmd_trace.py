"""``npusim trace``: list, show and import workload traces."""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path

from ..errors import COMMAND_LINE, InputError


def add_parser(sub, parent: argparse.ArgumentParser) -> None:
    p = sub.add_parser("trace", parents=[parent], help="list, show and import workload traces",
                       description="The model zoo and layer traces (docs/TRACES.md).")
    verbs = p.add_subparsers(dest="trace_verb", metavar="ACTION", parser_class=type(p))
    verbs.required = True
    lst = verbs.add_parser("list", parents=[parent], help="list the zoo models with their totals")
    lst.set_defaults(func=_list)
    show = verbs.add_parser("show", parents=[parent], help="layer table and totals of a model or file")
    show.add_argument("workload", metavar="NAME|FILE")
    show.add_argument("--json", action="store_true", help="print the totals and layers as JSON")
    show.add_argument("--batch", type=int, metavar="N", help="batch size (zoo models)")
    show.add_argument("--seq-len", type=int, metavar="N", help="sequence length (sequence models)")
    show.set_defaults(func=_show)
    imp = verbs.add_parser("import", parents=[parent], help="convert a SCALE-Sim topology or ONNX graph to a trace")
    imp.add_argument("file", metavar="FILE")
    imp.add_argument("--out", required=True, metavar="OUT.csv")
    imp.add_argument("--format", choices=("trace", "scalesim", "scalesim-gemm", "onnx"),
                     help="input format (default: detected)")
    imp.set_defaults(func=_import)


def _human(n: float, unit: str = "") -> str:
    for scale, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(n) >= scale:
            return f"{n / scale:.2f} {suffix}{unit}"
    return f"{n:g} {unit}".strip()


def _list(args: argparse.Namespace) -> int:
    from workloads import build, model_entry, model_names

    print(f"{'model':22s} {'layers':>6s} {'MACs':>10s} {'params':>10s}  description")
    for name in model_names():
        t = build(name)
        e = model_entry(name)
        print(f"{name:22s} {len(t):6d} {_human(t.macs):>10s} {_human(t.params):>10s}  {e.description}")
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


def _show(args: argparse.Namespace) -> int:
    from workloads import get_trace

    trace = get_trace(args.workload, **_params(args))
    totals = trace.totals()
    if args.json:
        df = trace.to_frame()
        data = dict(totals, tasks=list(trace.tasks), layer_table=json.loads(df.to_json(orient="records")))
        print(json.dumps(data, indent=2))
        return 0
    df = trace.to_frame()
    cols = ["name", "op", "in_c", "in_h", "in_w", "out_c", "kernel_h", "stride", "groups", "M", "N", "K", "macs",
            "weight_bytes", "output_bytes", "block", "task"]
    with_tasks = bool(trace.tasks)
    shown = df[[c for c in cols if c != "task" or with_tasks]]
    print(shown.to_string(index=False))
    print(f"\n{trace.name}: {totals['layers']} layers, {_human(totals['macs'])}MACs, {_human(totals['params'])} "
          f"params, weights {_human(totals['weight_bytes'], 'B')}, activations {_human(totals['activation_bytes'], 'B')}")
    return 0


def _import(args: argparse.Namespace) -> int:
    from workloads.importers import load_file
    from workloads.trace import write_trace

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        trace = load_file(Path(args.file), args.format)
    skipped = [str(w.message) for w in caught if "unsupported" in str(w.message)]
    for msg in skipped:
        print(f"warning: {msg}", file=sys.stderr)
    out = Path(args.out)
    try:
        write_trace(trace, out)
    except OSError as exc:
        raise InputError(COMMAND_LINE, "--out", f"cannot write {args.out!r}: {exc.strerror or exc}") from None
    print(f"{trace.name}: {len(trace)} layers -> {out}"
          + (f" ({len(skipped)} unsupported operators skipped)" if skipped else ""))
    return 0
