"""Mapping speed: every layer of a model for cores {1, 2, 4, 8, 16} x the
default budget ladder (+ unmanaged), cold (empty plan cache) and warm.

    python benchmarks/bench_mapping.py [--workload resnet50] [--soc camdn]

Target (resnet50 on camdn): <= 10 s cold, near-instant warm. Cold runs in a
fresh process so numba's compilation cache is the only thing reused.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

CODE = """
import sys, time
import workloads
from npusim.mapping import Mapper
from npusim.soc import load_soc
trace = workloads.get_trace(sys.argv[1])
mapper = Mapper(load_soc(sys.argv[2]))
t0 = time.perf_counter()
table = mapper.table(trace, [1, 2, 4, 8, 16])
print(time.perf_counter() - t0, len(table))
"""


def run(workload: str, soc: str, cache_dir: str) -> tuple[float, int]:
    out = subprocess.run([sys.executable, "-c", CODE, workload, soc], check=True, capture_output=True, text=True,
                         env={**os.environ, "NPUSIM_CACHE_DIR": cache_dir}).stdout.split()
    return float(out[0]), int(out[1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--workload", default="resnet50")
    ap.add_argument("--soc", default="camdn")
    args = ap.parse_args()
    cache = tempfile.mkdtemp(prefix="npusim-plans-")
    run("squeezenet", args.soc, tempfile.mkdtemp())  # numba compilation, outside the timing
    cold, rows = run(args.workload, args.soc, cache)
    warm, _ = run(args.workload, args.soc, cache)
    print(f"{args.workload} on {args.soc}: {rows} plan rows (layers x cores x budgets, + fused block rows)")
    print(f"cold (empty plan cache): {cold:.2f} s    warm: {warm:.3f} s")


if __name__ == "__main__":
    main()
