"""Why a run missed its deadlines: waiting for cores, or running slower than alone.

    npusim run --scenario experiments/moca/set_c.yaml --policy shared --out runs/c_shared
    python experiments/moca/headroom.py runs/c_shared [runs/c_moca ...]

For each run folder (written by `npusim run --out`: tasks.csv, tenants.csv)
it prints how much slower tasks ran once started than their isolated latency
(co-location interference: what memory throttling can act on) and, for the
tasks that missed their target, how many would have met it had they not
waited for cores (start = arrival, same run time) and how many had they run
at their isolated latency after the same wait. The second count bounds what
removing interference alone could win, with every wait held as it was.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd


def headroom(run_dir: Path) -> dict:
    tasks = pd.read_csv(run_dir / "tasks.csv")
    tenants = pd.read_csv(run_dir / "tenants.csv")
    isolated = dict(zip(tenants["tenant"], tenants["isolated_latency_cycles"]))
    run_cycles = tasks["finish_cycle"] - tasks["start_cycle"]
    slowdown = run_cycles / tasks["tenant"].map(isolated).astype(float)
    missed = tasks[~tasks["deadline_met"].astype(bool)]
    missed_run = run_cycles[missed.index]
    missed_isolated = missed["tenant"].map(isolated).astype(float)  # float even when nothing was missed
    return {
        "run": run_dir.name,
        "tasks": len(tasks),
        "sla_rate": round(1 - len(missed) / len(tasks), 3),
        "run_slowdown_mean": round(float(slowdown.mean()), 2),
        "run_slowdown_max": round(float(slowdown.max()), 2),
        "missed": len(missed),
        "met_without_wait": int((missed_run <= missed["target_cycles"]).sum()),
        "met_without_interference": int((missed["waiting_cycles"] + missed_isolated <= missed["target_cycles"]).sum()),
        "wait_share_of_missed_latency": round(float(missed["waiting_cycles"].sum() / missed["latency_cycles"].sum()), 2)
        if len(missed) else 0.0,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", nargs="+", type=Path, metavar="RUN_DIR", help="folders written by `npusim run --out`")
    args = ap.parse_args(argv)
    rows = []
    for run_dir in args.runs:
        if not (run_dir / "tasks.csv").is_file() or not (run_dir / "tenants.csv").is_file():
            print(f"error: {run_dir}: tasks.csv: not a run folder (write one with `npusim run --out`)",
                  file=sys.stderr)
            return 2
        rows.append(headroom(run_dir))
    print(pd.DataFrame(rows).to_string(index=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
