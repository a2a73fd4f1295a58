"""``npusim map``: cache-aware mapping plans per layer, core count and region budget."""

from __future__ import annotations

import argparse
import sys

from ..errors import COMMAND_LINE, InputError
from ..units import UnitError, format_size, parse_int_text, parse_size
from ..errors import refuse_input_as_output
from .common import add_soc_flags, soc_overrides
from .output import write_table


def add_parser(sub, parent: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "map", parents=[parent], help="compute cache-aware mapping plans",
        description="Plan every layer of a workload for each core count and region budget: tile "
                    "factors, loop order, resident tensors, DRAM/LLC bytes and predicted cycles "
                    "(docs/MAPPING.md). Plans are cached on disk.")
    p.add_argument("--workload", required=True, metavar="NAME|FILE",
                   help="a zoo model, a trace CSV, a SCALE-Sim topology or an ONNX file")
    add_soc_flags(p, exclude=("--cores",))
    p.add_argument("--timing", choices=("scalesim", "pipelined"), help="compute timing model")
    p.add_argument("--cores", default=None, metavar="N[,N...]",
                   help="core counts to plan for (default: 1, 2, 4, ... up to the SoC's cores)")
    p.add_argument("--budgets", default=None, metavar="SIZE[,SIZE...]",
                   help="region budgets, e.g. 0,256KiB,1MiB (default: 0, 256KiB ... 16MiB); "
                        "the unmanaged plan is always included")
    p.add_argument("--no-blocks", action="store_true", help="do not add fused layer-block plans")
    p.add_argument("--out", metavar="PLAN.csv|PLAN.parquet", help="write the plan table here")
    p.set_defaults(func=run)


def _int_list(text: str, flag: str) -> list[int]:
    out = []
    for part in text.split(","):
        part = part.strip()
        try:
            value = parse_int_text(part)
        except ValueError:
            raise InputError(COMMAND_LINE, flag, f"expected integers separated by commas, got {part!r}") from None
        if value < 1:
            raise InputError(COMMAND_LINE, flag, f"must be at least 1, got {value}")
        if value in out:  # a row set twice over, as a sweep refuses a value twice
            raise InputError(COMMAND_LINE, flag, f"{value} given twice")
        out.append(value)
    return out


def parse_budgets(text: str, flag: str = "--budgets") -> list[int]:
    from ..soc import MAX_LLC_BYTES

    out = []
    parts = [p.strip() for p in text.split(",")]
    if not any(parts):
        raise InputError(COMMAND_LINE, flag, "no budget given (e.g. 0,256KiB,1MiB)")
    for part in parts:
        if part == "unmanaged":
            continue
        try:
            size = parse_size(part)
        except UnitError as exc:
            raise InputError(COMMAND_LINE, flag, str(exc)) from None
        if size > MAX_LLC_BYTES:
            raise InputError(COMMAND_LINE, flag, f"{part} is more than the largest LLC npusim models (1GiB)")
        if size in out:
            raise InputError(COMMAND_LINE, flag, f"{part} given twice (as {format_size(size)})")
        out.append(size)
    return out


def run(args: argparse.Namespace) -> int:
    from workloads import get_trace, workload_fault

    from ..mapping import DEFAULT_LADDER, Mapper
    from ..soc import load_soc

    overrides = soc_overrides(args, exclude=("--cores",))
    if args.timing:
        overrides["--timing"] = args.timing
    soc = load_soc(args.soc, overrides)
    if not args.workload.strip():
        raise InputError(COMMAND_LINE, "--workload", "empty: give a zoo model or a trace file")
    try:
        trace = get_trace(args.workload)
    except InputError as exc:
        if workload_fault(exc, args.workload) == ("workload",):  # the name itself, as run --mix
            raise InputError(COMMAND_LINE, "--workload", exc.message) from None
        raise  # a trace file's own error, at its line
    if args.out:
        refuse_input_as_output("--out", args.out, [args.workload, args.soc])
    if args.cores is not None:
        cores = _int_list(args.cores, "--cores")
        for c in cores:
            if c > soc.npu.cores:
                raise InputError(COMMAND_LINE, "--cores", f"{c} cores but the SoC has {soc.npu.cores}")
    else:
        cores = [c for c in (1, 2, 4, 8, 16, 32, 64, 128) if c <= soc.npu.cores]
        if soc.npu.cores not in cores:
            cores.append(soc.npu.cores)
    budgets = parse_budgets(args.budgets) if args.budgets is not None else list(DEFAULT_LADDER)
    mapper = Mapper(soc)
    table = mapper.table(trace, cores, budgets, blocks=not args.no_blocks, source=trace.source or trace.name)
    if args.out:
        write_table(table, args.out, "--out")
    _print_summary(table, trace.name, soc.name, sys.stdout)
    return 0


def _print_summary(table, workload: str, soc: str, out) -> None:
    """Whole-network totals per (cores, budget): what the plans buy."""
    plain = table[~table.fused]
    agg = plain.groupby(["cores", "budget_bytes"], sort=True).agg(
        dram_bytes=("dram_bytes", "sum"), predicted_cycles=("predicted_cycles", "sum"),
        region_bytes=("region_bytes", "max")).reset_index()
    agg["budget"] = [("unmanaged" if b < 0 else format_size(int(b))) for b in agg.budget_bytes]
    agg["dram_MiB"] = (agg.dram_bytes / 2**20).round(2)
    agg["predicted_Mcycles"] = (agg.predicted_cycles / 1e6).round(3)
    agg["peak_region"] = [format_size(int(b)) if b else "0" for b in agg.region_bytes]
    print(f"{workload} on {soc}: {table.layer.nunique()} layers", file=out)
    print(agg[["cores", "budget", "dram_MiB", "predicted_Mcycles", "peak_region"]].to_string(index=False), file=out)
