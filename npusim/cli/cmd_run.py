"""``npusim run``: simulate one scenario and report its metrics."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..errors import COMMAND_LINE, InputError
from ..units import bytes_text, parse_int_text
from .common import add_soc_flags, soc_overrides


def add_run_flags(p: argparse.ArgumentParser) -> None:
    """Flags shared by `run` and `sweep` (sweep accepts comma lists for them)."""
    p.add_argument("--scenario", metavar="FILE", help="scenario YAML (docs/SCENARIOS.md)")
    add_soc_flags(p, soc_default=None)
    p.add_argument("--mix", metavar="A,B,C", help="workloads, one tenant each with an equal share of cores")
    p.add_argument("--policy", metavar="NAME", help="policy (default shared; see docs/POLICIES.md)")
    p.add_argument("--requests", metavar="N", help="requests per tenant (default 1); with --scenario, of its closed and Poisson tenants")
    p.add_argument("--qos", metavar="L|M|H|SCALE", help="latency targets 1.2 / 1.0 / 0.8 x the target, or any scale")
    p.add_argument("--seed", metavar="S", help="random seed (default 0)")
    p.add_argument("--scheduler", metavar="fcfs|priority|expert", help="task scheduler (default fcfs; expert: dependency-aware, for expert paths)")
    p.add_argument("--cpu-traffic", metavar="GB/S", help="CPU background traffic through the LLC: the scenario's "
                                                         "generators at this rate, or a STREAM-like one (0: none)")


def add_parser(sub, parent: argparse.ArgumentParser) -> None:
    p = sub.add_parser("run", parents=[parent], help="run one scenario on the SoC",
                       description="Simulate tenants on a shared-LLC NPU SoC and report latency, DRAM "
                                   "traffic, LLC hit rate, STP, ANTT, fairness and SLA rate.")
    add_run_flags(p)
    p.add_argument("--out", metavar="DIR", help="write summary.json and the tasks/tenants/layers/timeline tables")
    p.add_argument("--format", choices=("csv", "parquet"), default=None, help="table format with --out (default csv)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON on stdout")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--no-cache", action="store_true", help="ignore the plan and isolated-latency caches")
    p.set_defaults(func=run)


def _int_flag(value: str | None, flag: str, minimum: int, maximum: int) -> int | None:
    if value is None:
        return None
    try:
        n = parse_int_text(str(value).strip())  # no 1_000 or full-width digits, as in files
    except ValueError:
        raise InputError(COMMAND_LINE, flag, f"expected an integer, got {value!r}") from None
    if n < minimum:
        raise InputError(COMMAND_LINE, flag, f"must be at least {minimum}, got {n}")
    if n > maximum:
        raise InputError(COMMAND_LINE, flag, f"must be at most {maximum}, got {n}")
    return n


def scenario_from_args(args: argparse.Namespace):
    """The scenario of a `run` (or one sweep point): a file and/or flags."""
    from ..scenario import (MAX_REQUESTS, SCHEDULERS, apply_run_overrides, cpu_traffic_problem, load_scenario,
                            policy_names, qos_problem, scenario_from_flags)
    from ..specio import MAX_INT, comma_names

    overrides = soc_overrides(args)
    requests = _int_flag(args.requests, "--requests", 1, MAX_REQUESTS)
    seed = _int_flag(args.seed, "--seed", 0, MAX_INT)
    if args.soc is not None and not str(args.soc).strip():  # an empty --out: cli.main refuses it
        raise InputError(COMMAND_LINE, "--soc", "empty")
    if args.qos is not None and qos_problem(args.qos):
        raise InputError(COMMAND_LINE, "--qos", qos_problem(args.qos))
    if args.scheduler is not None and args.scheduler not in SCHEDULERS:
        raise InputError(COMMAND_LINE, "--scheduler", f"unknown scheduler {args.scheduler!r} "
                                                      f"(choose {', '.join(SCHEDULERS)})")
    if args.cpu_traffic is not None and cpu_traffic_problem(args.cpu_traffic):
        raise InputError(COMMAND_LINE, "--cpu-traffic", cpu_traffic_problem(args.cpu_traffic))
    if args.policy is not None and args.policy not in policy_names():
        raise InputError(COMMAND_LINE, "--policy", f"unknown policy {args.policy!r} "
                                                   f"(policies: {', '.join(policy_names())})")
    if args.scenario:
        if args.mix:
            raise InputError(COMMAND_LINE, "--mix", "give either --scenario or --mix, not both")
        scenario = load_scenario(args.scenario, overrides, soc_ref=args.soc)
        return apply_run_overrides(scenario, policy=args.policy, seed=seed, qos=args.qos, scheduler=args.scheduler,
                                   requests=requests, cpu_traffic=args.cpu_traffic)
    if not args.mix:
        raise InputError(COMMAND_LINE, "--mix", "give --scenario FILE or --mix a,b,c")
    try:
        mix = comma_names(args.mix)
    except ValueError as exc:
        raise InputError(COMMAND_LINE, "--mix", str(exc)) from None
    return scenario_from_flags(soc=args.soc if args.soc is not None else "camdn", mix=mix,
                               policy=args.policy or "shared", requests=requests or 1, qos=args.qos or "M",
                               seed=seed or 0, scheduler=args.scheduler or "fcfs", soc_override=overrides,
                               cpu_traffic=args.cpu_traffic)


class Progress:
    """A progress bar on stderr, shown only on a terminal and after two seconds."""

    def __init__(self, enabled: bool, desc: str):
        self.bar = None
        if enabled and sys.stderr.isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=1, desc=desc, unit="layer", delay=2.0, file=sys.stderr, leave=False)

    def __call__(self, done: int, total: int) -> None:
        if self.bar is not None:
            self.bar.total = total
            self.bar.n = done
            self.bar.refresh() if done == total else self.bar.update(0)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def run(args: argparse.Namespace) -> int:
    from ..api import run_scenario

    if args.format is not None and not args.out:
        raise InputError(COMMAND_LINE, "--format", "only with --out (the format of the tables it writes)")
    scenario = scenario_from_args(args)
    if args.out:
        out = Path(args.out)
        if out.exists() and not out.is_dir():
            raise InputError(COMMAND_LINE, "--out", f"{args.out!r} exists and is not a directory")
    progress = Progress(not args.quiet, f"npusim run ({scenario.policy.name})")
    try:
        result = run_scenario(scenario, cache=not args.no_cache, progress=progress)
    finally:
        progress.close()
    if args.out:
        try:
            result.write(args.out, args.format or "csv")
        except InputError as exc:
            raise InputError(COMMAND_LINE, "--out", f"{args.out!r}: {exc.message}") from None
    if args.json:
        print(result.to_json())
    else:
        print_summary(result.summary, sys.stdout)
    return 0


def print_summary(s: dict, out) -> None:
    print(f"{s['scenario']}: policy {s['policy']} on {s['soc']} (LLC {bytes_text(s['llc_bytes'], None)}), "
          f"makespan {s['makespan_cycles']:,} cycles, DRAM {s['dram_bytes'] / 2**20:.1f} MiB", file=out)

    def f(x, fmt):
        return "n/a" if x is None else format(x, fmt)

    print(f"STP {f(s['stp'], '.3f')}  ANTT {f(s['antt'], '.3f')}  fairness {f(s['fairness'], '.3f')}  "
          f"SLA {f(s['sla_rate'], '.0%')}", file=out)
    print(f"{'tenant':24s} {'tasks':>5s} {'mean latency':>14s} {'p95 latency':>14s} {'isolated':>12s} "
          f"{'DRAM MiB':>9s} {'LLC hit':>8s} {'SLA':>5s}", file=out)
    for t in s["tenants"]:
        print(f"{t['name']:24s} {t['tasks']:5d} {f(t['mean_latency_cycles'], ',.0f'):>14s} "
              f"{f(t['p95_latency_cycles'], ',.0f'):>14s} {f(t['isolated_latency_cycles'], ',.0f'):>12s} "
              f"{t['dram_bytes'] / 2**20:9.1f} {f(t['llc_hit_rate'], '.1%'):>8s} {f(t['sla_rate'], '.0%'):>5s}",
              file=out)
    for b in s.get("background", []):
        print(f"background {b['name']}: {b['pattern']} over {b['footprint_bytes'] / 2**20:g} MiB, "
              f"{b['achieved_gb_per_s']:.2f} of {b['offered_gb_per_s']:g} GB/s, DRAM {b['dram_bytes'] / 2**20:.1f} "
              f"MiB, LLC hit {f(b['llc_hit_rate'], '.1%')}", file=out)
