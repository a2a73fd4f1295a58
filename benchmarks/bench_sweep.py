"""Sweep throughput: the README's main job with --jobs 1 and --jobs 2.

    python benchmarks/bench_sweep.py [--experiment experiments/camdn_cache_sweep.yaml]

First a cold run (empty plan and isolated caches, --jobs 2: what a new user
waits for), then warm runs with --jobs 1 and --jobs 2 (caches filled, so
only simulation is timed). Prints wall time and points per minute.
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


def sweep(experiment: str, jobs: int, cache: str) -> tuple[float, int]:
    out = tempfile.mkdtemp(prefix="npusim-sweep-")
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "npusim", "sweep", experiment, "--out", out + "/", "--jobs", str(jobs),
                        "--quiet"], check=True, capture_output=True, text=True,
                       env={**os.environ, "NPUSIM_CACHE_DIR": cache})
    wall = time.perf_counter() - t0
    points = int(r.stdout.split(" points run")[0].split()[-1])
    return wall, points


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--experiment", default=str(ROOT / "experiments" / "camdn_cache_sweep.yaml"))
    args = ap.parse_args()
    cache = tempfile.mkdtemp(prefix="npusim-cache-")
    wall, n = sweep(args.experiment, 2, cache)
    print(f"cold, --jobs 2: {n} points in {wall:.1f} s ({n / wall * 60:.1f} points/min)")
    for jobs in (1, 2):
        wall, n = sweep(args.experiment, jobs, cache)
        print(f"warm, --jobs {jobs}: {n} points in {wall:.1f} s ({n / wall * 60:.1f} points/min)")


if __name__ == "__main__":
    main()
