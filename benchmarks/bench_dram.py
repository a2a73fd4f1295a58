"""DRAM model speed and efficiency: requests/s for streaming and random patterns.

    python benchmarks/bench_dram.py [--requests N]

Prints, per standard: bandwidth efficiency and row-hit rate of a streaming and
a uniformly random (4 GiB) read pattern, and the model's throughput in
requests served per second; plus the Python overhead of a 1-request call.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from npusim.dram import DRAM

CASES = (("DDR3-1600", 2), ("DDR4-3200", 4), ("LPDDR4-4266", 4), ("LPDDR5-6400", 4), ("HBM2", 8))


def measure(name: str, channels: int, addrs: np.ndarray, batch: int) -> tuple[float, float, float]:
    d = DRAM.from_preset(name, channels=channels, clock_hz=10**9)
    d.serve(addrs[:16], arrival_cycle=0)  # compile outside the timing
    d = DRAM.from_preset(name, channels=channels, clock_hz=10**9)
    t0 = time.perf_counter()
    last = 0
    for i in range(0, len(addrs), batch):
        last = max(last, int(d.serve(addrs[i:i + batch], arrival_cycle=0).max()))
    wall = time.perf_counter() - t0
    eff = len(addrs) * 64 / last / d.peak_bytes_per_cycle
    return eff, d.stats["row_hits"] / len(addrs), len(addrs) / wall


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--requests", type=int, default=1 << 20)
    ap.add_argument("--batch", type=int, default=512, help="requests per serve() call")
    args = ap.parse_args()
    n = args.requests
    stream = np.arange(n, dtype=np.int64) * 64
    rand = np.random.default_rng(0).integers(0, 4 << 30, n) // 64 * 64
    print(f"{n} line requests per pattern, batches of {args.batch}")
    print(f"{'standard':12s} {'ch':>3s} {'stream eff':>10s} {'hits':>6s} {'Mreq/s':>7s} {'random eff':>10s} "
          f"{'hits':>6s} {'Mreq/s':>7s}")
    for name, ch in CASES:
        se, sh, sr = measure(name, ch, stream, args.batch)
        re_, rh, rr = measure(name, ch, rand, args.batch)
        print(f"{name:12s} {ch:3d} {se:10.1%} {sh:6.1%} {sr / 1e6:7.1f} {re_:10.1%} {rh:6.1%} {rr / 1e6:7.1f}")
    d = DRAM.from_preset("DDR4-3200", channels=4, clock_hz=10**9)
    one = np.array([0], dtype=np.int64)
    d.serve(one, arrival_cycle=0)
    k = 20000
    t0 = time.perf_counter()
    for i in range(k):
        d.serve(one + 64 * i, arrival_cycle=i * 10)
    print(f"per-call overhead (1-request batch): {(time.perf_counter() - t0) / k * 1e6:.1f} us")


if __name__ == "__main__":
    main()
