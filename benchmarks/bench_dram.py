"""DRAM model speed and efficiency: requests/s for streaming and random patterns.

    python benchmarks/bench_dram.py [--requests N]
    python benchmarks/bench_dram.py --baseline ../other-checkout [--rounds 4]

Prints, per standard: bandwidth efficiency and row-hit rate of a streaming and
a uniformly random (4 GiB) read pattern, and the model's throughput in
requests served per second; plus the Python overhead of a 1-request call.

With --baseline, the DRAM kernel of another checkout (its
npusim/dram/kernel.py) runs in the same process, alternating with this one
round by round (best of the rounds each), and the completions of the two are
compared: a speed change to the kernel is measured against the code before it
on the same machine at the same time.
"""

from __future__ import annotations

import argparse
import importlib.util
import time
from pathlib import Path

import numpy as np

import npusim.dram.model as dram_model
from npusim.dram import DRAM

CASES = (("DDR3-1600", 2), ("DDR4-3200", 4), ("LPDDR4-4266", 4), ("LPDDR5-6400", 4), ("HBM2", 8))


def measure(name: str, channels: int, addrs: np.ndarray, batch: int) -> tuple[float, float, float]:
    _serve_all(name, channels, addrs[:16], batch)  # compile outside the timing
    wall, done, d = _serve_all(name, channels, addrs, batch)
    eff = len(addrs) * 64 / int(done.max()) / d.peak_bytes_per_cycle
    return eff, d.stats["row_hits"] / len(addrs), len(addrs) / wall


def _kernel_of(checkout: Path):
    """The DRAM kernel module of another checkout, loaded beside this one's."""
    path = checkout / "npusim" / "dram" / "kernel.py"
    spec = importlib.util.spec_from_file_location("baseline_dram_kernel", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _serve_all(name: str, channels: int, addrs: np.ndarray, batch: int) -> tuple[float, np.ndarray, DRAM]:
    """Serve `addrs` in batches on a new DRAM: (wall seconds, completions, the DRAM)."""
    d = DRAM.from_preset(name, channels=channels, clock_hz=10**9)
    t0 = time.perf_counter()
    done = [d.serve(addrs[i:i + batch], arrival_cycle=0) for i in range(0, len(addrs), batch)]
    return time.perf_counter() - t0, np.concatenate(done), d


def compare(baseline: Path, addrs_by_pattern: dict, batch: int, rounds: int) -> None:
    kernels = {"baseline": _kernel_of(baseline), "this": dram_model.K}
    print(f"baseline kernel: {baseline}; best of {rounds} alternating rounds, M requests/s")
    print(f"{'standard':12s} {'pattern':8s} {'baseline':>9s} {'this':>7s} {'ratio':>6s} identical")
    for name, ch in CASES:
        for pattern, addrs in addrs_by_pattern.items():
            best, done = {}, {}
            for k in kernels.values():  # compile outside the timing
                dram_model.K = k
                _serve_all(name, ch, addrs[:64], batch)
            for _ in range(rounds):
                for label, k in kernels.items():
                    dram_model.K = k
                    wall, done[label], _ = _serve_all(name, ch, addrs, batch)
                    best[label] = min(best.get(label, wall), wall)
            same = np.array_equal(done["baseline"], done["this"])
            rate = {label: len(addrs) / best[label] / 1e6 for label in kernels}
            print(f"{name:12s} {pattern:8s} {rate['baseline']:9.1f} {rate['this']:7.1f} "
                  f"{rate['this'] / rate['baseline']:6.2f} {'yes' if same else 'NO'}")
    dram_model.K = kernels["this"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--requests", type=int, default=1 << 20)
    ap.add_argument("--batch", type=int, default=512, help="requests per serve() call")
    ap.add_argument("--baseline", type=Path, help="another checkout whose DRAM kernel to time against this one")
    ap.add_argument("--rounds", type=int, default=4, help="alternating rounds with --baseline")
    args = ap.parse_args()
    n = args.requests
    stream = np.arange(n, dtype=np.int64) * 64
    rand = np.random.default_rng(0).integers(0, 4 << 30, n) // 64 * 64
    if args.baseline:
        compare(args.baseline, {"stream": stream, "random": rand}, args.batch, args.rounds)
        return
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
