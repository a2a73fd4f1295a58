"""Sweep throughput: the README's main job with --jobs 1 and --jobs 2.

    python benchmarks/bench_sweep.py [--experiment experiments/camdn_cache_sweep.yaml]
    python benchmarks/bench_sweep.py --small-points     # per-point overhead, and sweeps of many points

First a cold run (empty plan and isolated caches, --jobs 2: what a new user
waits for), then warm runs with --jobs 1 and --jobs 2 (caches filled, so
only simulation is timed). Prints wall time, points per minute and the peak
resident memory of the largest process (the sweep or one of its workers).

--small-points times what a sweep costs beyond its simulations: `npusim
sweep --mix one_gemm.csv --seed 1,...,N --jobs 1` (one 16x16x16 gemm per
point) for 250 and 1 000 points, and, in-process, grouping the 4 000 points
of a seed axis over kws into jobs and checking an axis of 64 000 values for
repeats.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def sweep(experiment: str, jobs: int, cache: str) -> tuple[float, int, float]:
    """Wall seconds, points run, and the peak RSS in MiB of the sweep's largest process."""
    out = tempfile.mkdtemp(prefix="npusim-sweep-")
    with tempfile.TemporaryFile("w+") as log:
        t0 = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-m", "npusim", "sweep", experiment, "--out", out + "/", "--jobs",
                                 str(jobs), "--quiet"], stdout=log, stderr=subprocess.STDOUT, text=True,
                                env={**os.environ, "NPUSIM_CACHE_DIR": cache})
        _, status, usage = os.wait4(proc.pid, 0)  # its usage covers the workers it waited for
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped by wait4: tell Popen
        log.seek(0)
        text = log.read()
    if proc.returncode:
        raise SystemExit(f"sweep failed ({proc.returncode}):\n{text}")
    points = int(text.split(" points run")[0].split()[-1])
    return wall, points, usage.ru_maxrss / 1024


def small_points(counts: tuple[int, ...] = (250, 1000)) -> None:
    cache = tempfile.mkdtemp(prefix="npusim-cache-")
    with tempfile.TemporaryDirectory() as tmp:
        gemm = Path(tmp) / "one_gemm.csv"
        gemm.write_text("name,op,M,N,K\ng1,gemm,16,16,16\n")
        for n in (2, *counts):  # two points first: plan and isolated caches filled, kernels compiled
            experiment = Path(tmp) / f"seeds_{n}.yaml"
            experiment.write_text(f"mix: [{gemm}]\naxes:\n  seed: [{', '.join(str(i) for i in range(1, n + 1))}]\n")
            wall, points, rss = sweep(str(experiment), 1, cache)
            if n in counts:
                print(f"one-gemm points, --jobs 1: {points} points in {wall:.1f} s "
                      f"({wall / points * 1e3:.1f} ms/point), peak {rss:.0f} MiB")


def grouping(points: int = 4000, axis_values: int = 64000) -> None:
    from npusim.errors import COMMAND_LINE
    from npusim.sweep import SweepSpec, _jobs, parse_axis

    seeds = ",".join(str(i) for i in range(axis_values))
    t0 = time.perf_counter()
    parse_axis("seed", seeds, COMMAND_LINE)
    print(f"checking an axis of {axis_values} values for repeats: {time.perf_counter() - t0:.2f} s")
    spec = SweepSpec(axes={"mix": [["kws"]], "seed": list(range(points))})
    todo = spec.points()
    t0 = time.perf_counter()
    groups = _jobs(todo)
    print(f"grouping {len(todo)} points into {len(groups)} jobs: {time.perf_counter() - t0:.2f} s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--experiment", default=str(ROOT / "experiments" / "camdn_cache_sweep.yaml"))
    ap.add_argument("--small-points", action="store_true", help="only the cost of a sweep beyond its simulations")
    args = ap.parse_args()
    if args.small_points:
        small_points()
        grouping()
        return
    cache = tempfile.mkdtemp(prefix="npusim-cache-")
    wall, n, rss = sweep(args.experiment, 2, cache)
    print(f"cold, --jobs 2: {n} points in {wall:.1f} s ({n / wall * 60:.1f} points/min), peak {rss:.0f} MiB")
    for jobs in (1, 2):
        wall, n, rss = sweep(args.experiment, jobs, cache)
        print(f"warm, --jobs {jobs}: {n} points in {wall:.1f} s ({n / wall * 60:.1f} points/min), peak {rss:.0f} MiB")


if __name__ == "__main__":
    main()
