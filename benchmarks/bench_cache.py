"""Cache kernel throughput against pycachesim on the same streams, in the same run.

    python benchmarks/bench_cache.py [--peer-python /tmp/pycachesim-venv/bin/python]

A 16 MiB, 16-way, 64 B-line LRU cache; three streams of the same length
(64 MiB of lines, 4 passes = 4 Mi line accesses):

* streaming: 64 MiB read front to back, four times;
* random: uniformly random lines of a 256 MiB range;
* tiled: 4 MiB tiles, each read four times before the next (64 MiB in all).

pycachesim (RRZE-HPC, AGPL) is never imported here: it runs in its own venv
as a subprocess (`python3 -m venv /tmp/pycachesim-venv &&
/tmp/pycachesim-venv/bin/pip install pycachesim`), fed the same streams through
its range call `load(addr, length)` (streaming, tiled) and its iterable form
(random), and the hit/miss counts of both are compared.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from cache_models import SetAssociativeCache

SIZE, WAYS, LINE = 16 << 20, 16, 64
SPAN = 64 << 20
PASSES = 4
TILE = 4 << 20

PEER = r"""
import json, sys, time, array
from cachesim import Cache, CacheSimulator, MainMemory
kind, path, repeat = sys.argv[1], sys.argv[2], int(sys.argv[3])
sets = %d // (%d * %d)
def fresh():
    mem = MainMemory()
    llc = Cache("LLC", sets, %d, %d, "LRU")
    mem.load_to(llc); mem.store_from(llc)
    return CacheSimulator(llc, mem), llc
addrs = array.array("q"); addrs.frombytes(open(path, "rb").read())
addrs = list(addrs)
walls = []
for _ in range(repeat):
    cs, llc = fresh()
    t0 = time.perf_counter()
    if kind == "streaming":
        for _ in range(%d):
            cs.load(0, %d)
    elif kind == "tiled":
        for base in range(0, %d, %d):
            for _ in range(%d):
                cs.load(base, %d)
    else:
        cs.load(addrs, length=%d)
    walls.append(time.perf_counter() - t0)
s = llc.stats()
print(json.dumps({"walls": walls, "hits": s["HIT_count"], "misses": s["MISS_count"]}))
""" % (SIZE, WAYS, LINE, WAYS, LINE, PASSES, SPAN, SPAN, TILE, PASSES, TILE, LINE)


def ours(kind: str, rand: np.ndarray) -> dict:
    """One timed pass of a stream through a fresh cache (kernels already compiled)."""
    c = SetAssociativeCache(SIZE, WAYS, LINE)
    t0 = time.perf_counter()
    hits = misses = 0
    if kind == "streaming":
        for _ in range(PASSES):
            r = c.access_runs(np.array([0]), np.array([SPAN]))
            hits, misses = hits + r.hits, misses + r.misses
    elif kind == "tiled":
        bases = np.arange(0, SPAN, TILE, dtype=np.int64)
        starts = np.repeat(bases, PASSES)
        r = c.access_runs(starts, np.full(starts.shape, TILE))
        hits, misses = r.hits, r.misses
    else:
        r = c.access(rand)
        hits, misses = r.hits, r.misses
    return {"wall": time.perf_counter() - t0, "hits": hits, "misses": misses}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--peer-python", help="python of a venv with pycachesim installed")
    ap.add_argument("--repeat", type=int, default=5,
                    help="timed repetitions per stream and simulator; the best and the median are reported")
    args = ap.parse_args()
    accesses = SPAN // LINE * PASSES
    rand = (np.random.default_rng(0).integers(0, 256 << 20, accesses) // LINE * LINE).astype(np.int64)
    tmp = Path(tempfile.mkdtemp())
    (tmp / "random.bin").write_bytes(rand.tobytes())
    print(f"{SIZE >> 20} MiB {WAYS}-way {LINE} B LRU; {accesses} line accesses per stream; "
          f"best (median) of {args.repeat} runs")
    print(f"{'stream':10s} {'ours M/s':>16s} {'peer M/s':>16s} {'ratio':>11s} {'hits':>9s} {'misses':>9s} "
          f"{'equal':>6s}")
    warm = SetAssociativeCache(SIZE, WAYS, LINE)  # compile the kernels outside the timing
    warm.access_runs(np.array([0, 0]), np.array([4096 * LINE, 4096 * LINE]))
    warm.access(rand[:10])
    per_call = []
    for kind in ("streaming", "random", "tiled"):
        runs = [ours(kind, rand) for _ in range(args.repeat)]
        mine = runs[-1]
        rates = np.array([accesses / r["wall"] / 1e6 for r in runs])
        cell = f"{rates.max():7.1f} ({np.median(rates):5.1f})"
        if args.peer_python:
            out = subprocess.run([args.peer_python, "-c", PEER, kind, str(tmp / "random.bin"), str(args.repeat)],
                                 capture_output=True, text=True, check=True)
            peer = json.loads(out.stdout)
            prates = np.array([accesses / w / 1e6 for w in peer["walls"]])
            equal = (peer["hits"], peer["misses"]) == (mine["hits"], mine["misses"])
            ratio = f"{rates.max() / prates.max():4.1f} ({np.median(rates) / np.median(prates):4.1f})"
            print(f"{kind:10s} {cell:>16s} {prates.max():7.1f} ({np.median(prates):5.1f}) {ratio:>11s} "
                  f"{mine['hits']:9d} {mine['misses']:9d} {'yes' if equal else 'NO':>6s}")
        else:
            print(f"{kind:10s} {cell:>16s} {'skipped':>16s} {'':>11s} {mine['hits']:9d} {mine['misses']:9d}")
    c = SetAssociativeCache(SIZE, WAYS, LINE)
    one = np.array([0], dtype=np.int64)
    n = 20000
    t0 = time.perf_counter()
    for i in range(n):
        c.access_runs(one + 64 * i, one + 64)
    per_call.append((time.perf_counter() - t0) / n * 1e6)
    print(f"per-call overhead of access_runs with one line: {per_call[0]:.1f} us")
    if not args.peer_python:
        print("pycachesim peer skipped (give --peer-python)", file=sys.stderr)


if __name__ == "__main__":
    main()
