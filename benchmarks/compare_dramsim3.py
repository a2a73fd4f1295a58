"""The DRAM model side by side with DRAMsim3 on the same devices and patterns.

    python benchmarks/compare_dramsim3.py --dramsim3 /tmp/dramsim3 [--requests N]

`--dramsim3` is a built checkout of DRAMsim3 (github.com/umd-memsys/DRAMsim3:
`cmake -B build -DCMAKE_BUILD_TYPE=Release && make -C build`); it is run as a
subprocess on trace files, never imported. For each device its own config file
is used (DDR3_4Gb_x8_1600.ini, DDR4_8Gb_x16_3200.ini, HBM2_8Gb_x128.ini set to
one channel), and our model is built with the same channels, ranks (the config's
channel size over its chips' capacity), DRAMsim3's address mapping, its
transaction-queue size as our scheduler window, and no address hashing, so the
two differ only in how they schedule and time.

Per device and pattern (streaming reads from address 0; uniformly random
lines over 4 GiB), all requests offered at cycle 0:

* saturated efficiency: lines completed within a fixed window of
  `window` device cycles (chosen so neither model runs out of requests),
  x 64 B over the window, as a share of the channel's peak;
* read row-hit rate;
* idle latency: one random read every 400 device cycles, mean latency in ns;
* speed: requests per second of wall time for each simulator on the
  saturated run (DRAMsim3 parses its text trace; ours is given arrays).
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

from npusim.dram import DRAM, get_standard

# our standard, DRAMsim3 config, ranks in that config (channel_size / rank capacity)
DEVICES = (("DDR3-1600", "DDR3_4Gb_x8_1600.ini", 2),
           ("DDR4-3200", "DDR4_8Gb_x16_3200.ini", 2),
           ("HBM2", "HBM2_8Gb_x128.ini", 1))
IDLE_GAP_TCK = 400
IDLE_N = 5000


def ours_mapping(dramsim3_mapping: str) -> str:
    """DRAMsim3's 'rochrababgco' (most significant first) as our order string."""
    fields = re.findall("..", dramsim3_mapping)
    return ":".join(fields)


def config_for(src: Path, dst: Path) -> dict:
    """Copy a DRAMsim3 config with one channel; return its [system] and timing fields."""
    text = src.read_text()
    text = re.sub(r"(?m)^channels\s*=.*$", "channels = 1", text)
    text = re.sub(r"(?m)^output_level\s*=.*$", "output_level = 1", text)
    dst.write_text(text)
    fields = dict(re.findall(r"(?m)^\s*(\w+)\s*=\s*([^;\s]+)", text))
    return fields


def run_dramsim3(binary: Path, config: Path, trace: Path, cycles: int, out: Path) -> tuple[dict, float]:
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    subprocess.run([str(binary), str(config), "-t", str(trace), "-c", str(cycles), "-o", str(out)],
                   check=True, capture_output=True)
    wall = time.perf_counter() - t0
    stats = json.loads((out / "dramsim3.json").read_text())
    return stats["0"] if "0" in stats else stats, wall


def write_trace(path: Path, addrs: np.ndarray, arrivals: np.ndarray) -> None:
    with path.open("w") as f:
        for a, t in zip(addrs.tolist(), arrivals.tolist()):
            f.write(f"{a:#x} READ {t}\n")


def ours_run(name: str, ranks: int, mapping: str, addrs: np.ndarray, arrivals_tck: np.ndarray,
             batch: int = 1 << 20, queue: int = 32) -> tuple[np.ndarray, DRAM, float]:
    """Completion times in device cycles; requests with equal arrival are served in batches."""
    std = get_standard(name)
    clock = round(1e12 / std.tck_ps)
    d = DRAM(std, channels=1, clock_hz=clock, ranks=ranks, mapping=mapping, xor_hash=False, queue_depth=queue)
    done = np.empty(len(addrs), dtype=np.int64)
    t0 = time.perf_counter()
    i = 0
    while i < len(addrs):
        j = min(i + batch, len(addrs))
        j = i + int(np.searchsorted(arrivals_tck[i:j], arrivals_tck[i], side="right"))
        done[i:j] = d.serve(addrs[i:j], arrival_cycle=int(arrivals_tck[i]))
        i = j
    return done, d, time.perf_counter() - t0


def patterns(n: int) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """The saturated patterns (stream, random over 4 GiB) and the idle-latency trace with its arrivals."""
    rng = np.random.default_rng(0)
    sat = {"stream": np.arange(n, dtype=np.int64) * 64,
           "random": rng.integers(0, (4 << 30) // 64, n).astype(np.int64) * 64}
    idle = np.random.default_rng(1).integers(0, (4 << 30) // 64, IDLE_N).astype(np.int64) * 64
    return sat, idle, np.arange(IDLE_N, dtype=np.int64) * IDLE_GAP_TCK


def peak_lines_per_tck(name: str) -> float:
    return get_standard(name).bus_bits * 2 / 8 / 64  # double data rate


def window_tck(name: str, n: int) -> int:
    """60 % of the time n lines take at peak, so both simulators stay saturated throughout."""
    return int(0.6 * n / peak_lines_per_tck(name))


def ours_saturated(name: str, ranks: int, mapping: str, addrs: np.ndarray, batch: int = 1 << 20,
                   queue: int = 32) -> tuple[float, float, float]:
    """(efficiency within the window, row-hit rate, wall seconds) of our model."""
    n = len(addrs)
    window = window_tck(name, n)
    done, d, wall = ours_run(name, ranks, mapping, addrs, np.zeros(n, dtype=np.int64), batch, queue)
    eff = int((done <= window).sum()) / (window * peak_lines_per_tck(name))
    return eff, d.stats["row_hits"] / n, wall


def ours_idle_ns(name: str, ranks: int, mapping: str, idle: np.ndarray, idle_t: np.ndarray, queue: int = 32
                 ) -> float:
    done, _, _ = ours_run(name, ranks, mapping, idle, idle_t, 1, queue)
    return float((done - idle_t).mean()) * get_standard(name).tck_ps / 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--dramsim3", required=True, type=Path, help="DRAMsim3 checkout with build/dramsim3main")
    ap.add_argument("--requests", type=int, default=200_000)
    ap.add_argument("--batch", type=int, default=1 << 20,
                    help="requests per serve() call (the controller's window is queue_depth = 32 either way)")
    ap.add_argument("--write-reference", type=Path,
                    help="also write DRAMsim3's figures as a CSV (tests/reference/dramsim3/dramsim3.csv)")
    args = ap.parse_args()
    binary = args.dramsim3 / "build" / "dramsim3main"
    tmp = Path(tempfile.mkdtemp())
    n = args.requests
    sat, idle, idle_t = patterns(n)
    # a quick compile of our kernels outside the timing
    DRAM.from_preset("DDR4-3200").serve(sat["random"][:64])
    commit = subprocess.run(["git", "-C", str(args.dramsim3), "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip() or "unknown"
    print(f"{n} line reads per saturated run, offered at cycle 0; idle latency: one random read every "
          f"{IDLE_GAP_TCK} tCK; ours with DRAMsim3's mapping, ranks, one channel, no hashing")
    head = (f"{'device':10s} {'pattern':7s} {'eff D3':>7s} {'eff ours':>8s} {'hits D3':>8s} {'hits ours':>9s} "
            f"{'Mreq/s D3':>9s} {'Mreq/s ours':>11s}")
    rows, ref = [], []
    for name, ini, ranks in DEVICES:
        cfg = tmp / ini
        fields = config_for(args.dramsim3 / "configs" / ini, cfg)
        mapping = ours_mapping(fields["address_mapping"])
        queue = int(fields.get("trans_queue_size", 32))  # DRAMsim3's default when the config omits it
        window = window_tck(name, n)
        for pat, addrs in sat.items():
            trace = tmp / f"{name}_{pat}.trc"
            write_trace(trace, addrs, np.zeros(n, dtype=np.int64))
            s, wall3 = run_dramsim3(binary, cfg, trace, window, tmp / f"out_{name}_{pat}")
            done3 = int(s["num_reads_done"])
            eff3 = done3 / (window * peak_lines_per_tck(name))
            hits3 = int(s["num_read_row_hits"]) / max(1, done3)
            eff, hits, wall = ours_saturated(name, ranks, mapping, addrs, args.batch, queue)
            rows.append((name, pat, eff3, eff, hits3, hits, done3 / wall3 / 1e6, n / wall / 1e6))
            ref.append({"device": name, "config": ini, "ranks": ranks, "mapping": mapping, "queue": queue,
                        "pattern": pat,
                        "requests": n, "efficiency": round(eff3, 4), "row_hit_rate": round(hits3, 4),
                        "idle_latency_ns": "", "dramsim3_commit": commit})
        trace = tmp / f"{name}_idle.trc"
        write_trace(trace, idle, idle_t)
        s, _ = run_dramsim3(binary, cfg, trace, int(idle_t[-1]) + 2000, tmp / f"out_{name}_idle")
        lat3_ns = float(s["average_read_latency"]) * get_standard(name).tck_ps / 1000
        rows.append((name, "idle", lat3_ns, ours_idle_ns(name, ranks, mapping, idle, idle_t, queue)))
        ref.append({"device": name, "config": ini, "ranks": ranks, "mapping": mapping, "queue": queue,
                    "pattern": "idle",
                    "requests": IDLE_N, "efficiency": "", "row_hit_rate": "",
                    "idle_latency_ns": round(lat3_ns, 2), "dramsim3_commit": commit})
    print(head)
    for r in rows:
        if r[1] == "idle":
            print(f"{r[0]:10s} {'idle':7s} latency DRAMsim3 {r[2]:.1f} ns, ours {r[3]:.1f} ns")
        else:
            print(f"{r[0]:10s} {r[1]:7s} {r[2]:7.1%} {r[3]:8.1%} {r[4]:8.1%} {r[5]:9.1%} {r[6]:9.2f} {r[7]:11.2f}")
    if args.write_reference:
        import csv

        args.write_reference.parent.mkdir(parents=True, exist_ok=True)
        with args.write_reference.open("w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(ref[0]))
            w.writeheader()
            w.writerows(ref)
        print(f"wrote {args.write_reference}")


if __name__ == "__main__":
    main()
