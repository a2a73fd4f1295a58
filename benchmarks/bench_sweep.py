"""Sweep throughput: the README's main job with --jobs 1 and --jobs 2.

    python benchmarks/bench_sweep.py [--experiment experiments/camdn_cache_sweep.yaml]

First a cold run (empty plan and isolated caches, --jobs 2: what a new user
waits for), then warm runs with --jobs 1 and --jobs 2 (caches filled, so
only simulation is timed). Prints wall time, points per minute and the peak
resident memory of the largest process (the sweep or one of its workers).
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--experiment", default=str(ROOT / "experiments" / "camdn_cache_sweep.yaml"))
    args = ap.parse_args()
    cache = tempfile.mkdtemp(prefix="npusim-cache-")
    wall, n, rss = sweep(args.experiment, 2, cache)
    print(f"cold, --jobs 2: {n} points in {wall:.1f} s ({n / wall * 60:.1f} points/min), peak {rss:.0f} MiB")
    for jobs in (1, 2):
        wall, n, rss = sweep(args.experiment, jobs, cache)
        print(f"warm, --jobs {jobs}: {n} points in {wall:.1f} s ({n / wall * 60:.1f} points/min), peak {rss:.0f} MiB")


if __name__ == "__main__":
    main()
