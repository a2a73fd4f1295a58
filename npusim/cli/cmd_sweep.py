"""``npusim sweep``: many runs over the cartesian product of parameters, in parallel."""

from __future__ import annotations

import argparse
import sys

from ..errors import COMMAND_LINE, InputError
from .common import int_arg


def add_parser(sub, parent: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "sweep", parents=[parent], help="run a parameter sweep in parallel",
        description="Run every combination of the given values (comma lists; --mix repeated or separated by "
                    "';') or of an experiment YAML's axes. One row per (point, tenant) is appended to the "
                    "results as points finish; --resume skips finished points.")
    p.add_argument("experiment", nargs="?", metavar="EXPERIMENT.yaml", help="experiment spec with axes")
    p.add_argument("--scenario", metavar="FILE", help="base scenario YAML")
    p.add_argument("--soc", metavar="PRESET|FILE", help="SoC preset or file")
    p.add_argument("--mix", action="append", metavar="A,B,C", help="a mix of workloads (repeat for several)")
    for flag, text in (("--policy", "policies"), ("--llc-size", "LLC sizes, e.g. 2MiB,4MiB"),
                       ("--llc-ways", "LLC associativities"), ("--cores", "core counts"),
                       ("--array", "arrays RxC"), ("--dataflow", "dataflows"), ("--tiler", "tilers (search, moca)"),
                       ("--dram", "DRAM standards"),
                       ("--dram-channels", "DRAM channel counts"), ("--seed", "seeds"), ("--qos", "QoS levels"),
                       ("--requests", "requests per tenant"), ("--scheduler", "schedulers"),
                       ("--cpu-traffic", "CPU background traffic rates in GB/s (0: none)")):
        p.add_argument(flag, metavar="V[,V...]", help=text)
    p.add_argument("--out", required=True, metavar="DIR|FILE.csv|FILE.parquet",
                   help="results file, or a directory for results.csv")
    p.add_argument("--jobs", type=int_arg, default=None, metavar="N", help="local worker processes (default: all cores)")
    p.add_argument("--dask", metavar="ADDRESS", help="submit points to this Dask scheduler instead")
    p.add_argument("--resume", action="store_true", help="keep finished points of an earlier run and skip them")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def spec_from_args(args: argparse.Namespace):
    from ..sweep import AXES, SweepSpec, load_experiment, parse_axis

    flag_axes = {}
    for axis in AXES:
        raw = getattr(args, axis, None)
        if raw is None:
            continue
        if axis == "mix":
            raw = ";".join(raw)
        flag_axes[axis] = parse_axis(axis, raw, COMMAND_LINE)
    if args.soc is not None and not args.soc.strip():
        raise InputError(COMMAND_LINE, "--soc", "empty: give a preset name or a SoC file")
    if args.experiment:
        if args.scenario:
            raise InputError(COMMAND_LINE, "--scenario", "give either an experiment file or --scenario")
        spec = load_experiment(args.experiment)
        for axis, values in flag_axes.items():  # flags override the file's axes
            spec.axes[axis] = values
            spec.fixed.pop(axis, None)
            spec.flag_axes.add(axis)
        if args.soc:
            spec.soc = args.soc
            spec.soc_from_flag = True
        return spec
    if not flag_axes.get("mix") and not args.scenario:
        raise InputError(COMMAND_LINE, "--mix", "give an experiment file, --scenario or --mix")
    return SweepSpec(axes=flag_axes, base_scenario=args.scenario, soc=args.soc)


def run(args: argparse.Namespace) -> int:
    from ..sweep import MAX_JOBS, default_jobs, journal_path, progress_printer, results_path, run_sweep
    from ..units import count_text
    from . import interrupted_status
    from .cmd_report import short_table

    close = lambda: None  # noqa: E731 - no progress bar yet
    try:
        spec = spec_from_args(args)  # (a signal while the inputs load is reported as one while it runs)
        jobs = args.jobs if args.jobs is not None else default_jobs()
        if jobs < 1:
            raise InputError(COMMAND_LINE, "--jobs", f"must be at least 1, got {jobs}")
        if jobs > MAX_JOBS:
            raise InputError(COMMAND_LINE, "--jobs", f"must be at most {MAX_JOBS}, got {jobs}")
        update, close = progress_printer(not args.quiet, f"npusim sweep {spec.name}")
        outcome = run_sweep(spec, args.out, jobs=jobs, dask_address=args.dask, resume=args.resume,
                            progress=update, report_error=lambda m: print(m, file=sys.stderr))
    except KeyboardInterrupt as exc:
        _ignore_further_ctrl_c()
        close()
        journal = journal_path(results_path(args.out))
        if getattr(exc, "finished_points_kept", False):
            print(f"error: interrupted: the finished points are kept in {journal}; run the same command with "
                  "--resume to go on", file=sys.stderr)
        else:
            print("error: interrupted before any point finished" +
                  (f"; {journal} is as it was" if journal.is_file() and journal.stat().st_size > 0 else ""),
                  file=sys.stderr)
        return interrupted_status(exc)
    finally:
        close()
    print(f"{count_text(outcome.ran, 'point')} run, {outcome.skipped} resumed, {len(outcome.failed)} failed "
          f"in {outcome.wall_seconds:.1f} s -> {outcome.path}")
    if len(outcome.results):
        print(short_table(outcome.results))
    return (2 if outcome.bad_input else 1) if outcome.failed else 0


def _ignore_further_ctrl_c() -> None:
    """The sweep has stopped its workers and only reports and exits now: a second Ctrl-C (a double tap
    reaches the exit, which still joins the worker pool's threads) would end it with Python's traceback."""
    import signal
    import threading

    if threading.current_thread() is threading.main_thread():  # only the main thread may set a handler
        signal.signal(signal.SIGINT, signal.SIG_IGN)
