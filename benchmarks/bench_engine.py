"""Engine speed: wall time of whole simulations, and how it grows.

    python benchmarks/bench_engine.py [--quick | --cpu-traffic] [--plot benchmarks/figures/engine_scaling.png]
    python benchmarks/bench_engine.py --trace-length | --backlog | --many-tenants | --large-batch   # one alone
    python benchmarks/bench_engine.py --scalesim-python /tmp/scalesim-venv/bin/python   # + the peer

The headline case is `npusim run --soc camdn --mix resnet50,mobilenet_v2,
vit_b16,bert_base --policy shared --requests 1` (target <= 15 s wall on the
2-core machine), timed as a fresh process would run it with warm plan and
isolated caches (the first, cold run is reported separately). Reported per
case: wall seconds, simulated cycles per wall second, LLC line accesses and
DRAM requests per second. Scaling: tenants (1, 2, 4, 8, 16 on 16 cores),
LLC size (2-32 MiB) and requests per tenant (1, 2, 4).

With --scalesim-python, SCALE-Sim v3 simulates ResNet-50 alone on a 32x32
ws array in the same run (its own venv; the 32x32 ws config of
tests/reference/scalesim; it writes per-cycle traces, as its CLI does), and
the ratio to npusim's ResNet-50 is printed.
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

HEADLINE = ["resnet50", "mobilenet_v2", "vit_b16", "bert_base"]
POOL = ["resnet50", "mobilenet_v2", "vit_b16", "bert_base", "efficientnet_b0", "wav2vec2_base", "squeezenet",
        "googlenet", "alexnet", "kws", "yolo_lite", "yolov2", "pointpillars", "resnet50", "mobilenet_v2",
        "efficientnet_b0"]


def timed(mix: list[str], llc: str = "16MiB", requests: int = 1, policy: str = "shared",
          cpu_gb_per_s: float = 0, cpu_burst_bytes: int = 4096) -> dict:
    import dataclasses

    from npusim.scenario import scenario_from_flags

    sc = scenario_from_flags(soc="camdn", mix=mix, policy=policy, requests=requests,
                             soc_override={"--llc-size": llc}, cpu_traffic=cpu_gb_per_s)
    sc = dataclasses.replace(sc, background=tuple(dataclasses.replace(b, burst_bytes=cpu_burst_bytes)
                                                  for b in sc.background))
    return {"tenants": len(mix), "llc": llc, "requests": requests, **measure(sc)}


def measure(sc) -> dict:
    """Wall time and rates of one in-process simulation of scenario `sc`."""
    from npusim.api import run_scenario
    from npusim.engine import sim as sim_mod

    captured = {}
    real_run = sim_mod.Simulation.run

    def run_and_keep(self):
        captured["sim"] = self
        return real_run(self)

    sim_mod.Simulation.run = run_and_keep
    try:
        t0 = time.perf_counter()
        result = run_scenario(sc)
        wall = time.perf_counter() - t0
    finally:
        sim_mod.Simulation.run = real_run
    sim = captured["sim"]
    lines = sum(c.cache_hits + c.cache_misses + c.region_hits + c.region_fills + c.bypass_lines
                for c in sim.memory.counters)
    st = sim.memory.dram.stats
    dram = st["reads"] + st["writes"]
    cycles = result.summary["makespan_cycles"]
    bursts = sum(b.counters.bursts for b in sim.background)
    return {"wall_s": wall, "cycles": cycles, "cycles_per_s": cycles / wall, "llc_lines_per_s": lines / wall,
            "dram_req_per_s": dram / wall, "cpu_bursts": bursts}


def backlog_scaling() -> None:
    """Wall time against the number of tasks queued at once: requests that all arrive at cycle 0, so each
    dispatch faces the whole backlog. One tenant of a one-layer model (fcfs, priority); two tenants of it
    on 4-core groups (priority); and under PREMA, which asks at every layer boundary whether a queued task
    holds more tokens than the running one, one tenant of a four-layer model."""
    from npusim.scenario import scenario_from_dict

    print("scaling with queued tasks (16x16x16 gemms, all arriving at cycle 0, 16 cores):")
    with tempfile.TemporaryDirectory() as tmp:
        one = Path(tmp) / "one_gemm.csv"
        one.write_text("name,op,M,N,K\ng1,gemm,16,16,16\n")
        four = Path(tmp) / "four_gemms.csv"
        four.write_text("name,op,M,N,K\n" + "".join(f"g{i},gemm,16,16,16\n" for i in range(4)))
        cases = [(n, scheduler, "shared", 1, None, one) for scheduler in ("fcfs", "priority") for n in (2000, 8000)]
        cases += [(n, "priority", "shared", 2, 4, one) for n in (2000, 8000)]
        cases += [(n, "priority", "prema", 1, None, four) for n in (2000, 8000)]
        for n, scheduler, policy, tenants, pool, trace in cases:
            sc = scenario_from_dict({"soc": "camdn", "policy": policy, "scheduler": scheduler,
                                     **({"core_pool": pool} if pool else {}), "tenants": [
                {"workload": str(trace), "arrival": "times", "arrival_cycles": [0] * (n // tenants)}
                for _ in range(tenants)]}, "<bench>")
            measure(sc)
            r = measure(sc)
            layers = len(trace.read_text().splitlines()) - 1
            print(f"  {n:5d} tasks  {scheduler:8s}  {policy:6s}  {tenants} tenant(s) x {layers} layer(s)  "
                  f"{r['wall_s']:6.2f} s  {r['wall_s'] / n * 1e6:6.0f} us/task")


def trace_length_scaling() -> None:
    """Wall time against the number of layers: decision_transformer alone, deeper and deeper. Per-layer work
    must stay per layer (a lookup over the whole trace at each layer made 21,616 layers take 62 s)."""
    from npusim.scenario import scenario_from_dict

    print("scaling with trace length (decision_transformer alone, 16 cores, 16 MiB, 1 request):")
    for depth in (150, 600, 2400):
        sc = scenario_from_dict({"soc": "camdn", "policy": "shared", "tenants": [
            {"workload": "decision_transformer", "params": {"layers": depth}}]}, "<bench>")
        measure(sc)  # plans of the new depth cached, as timed() runs warm
        r = measure(sc)
        layers = 9 * depth + 16
        print(f"  {layers:6d} layers  {r['wall_s']:7.2f} s  {r['wall_s'] / layers * 1e3:5.2f} ms/layer  "
              f"{r['cycles'] / 1e6:8.1f} Mcycles  {r['cycles_per_s'] / 1e6:6.2f} Mcycles/s")


def many_tenants_scaling(counts: tuple[int, ...] = (256, 1024)) -> None:
    """`npusim run --scenario ... --out DIR` as a fresh process with hundreds of yolo_lite tenants on a core
    pool of one core each (camdn, shared): wall time, peak resident memory, and the timeline it writes (one
    row per tenant at every layer end). A run of two tenants first fills the plan and isolated caches."""
    print("scaling with tenants (yolo_lite on a core pool of 1, camdn, shared, --out DIR, fresh process):")
    with tempfile.TemporaryDirectory() as tmp:
        for n in (2, *counts):
            scenario = Path(tmp) / f"tenants_{n}.yaml"
            scenario.write_text("soc: camdn\npolicy: shared\ncore_pool: 1\ntenants:\n"
                                + "  - workload: yolo_lite\n" * n)
            out = Path(tmp) / f"run_{n}"
            wall, peak_mib = cli_wall_and_peak(["run", "--scenario", str(scenario), "--out", str(out), "--quiet"])
            if n in counts:
                timeline_mb = (out / "timeline.csv").stat().st_size / 1e6
                print(f"  {n:5d} tenants  {wall:6.1f} s  peak {peak_mib:6.0f} MiB  timeline.csv {timeline_mb:6.0f} MB")


def large_batch_scaling(batches: tuple[int, ...] = (16, 64, 128)) -> None:
    """`npusim run --scenario ... --no-cache` of ResNet-50 at large batch sizes, two requests, as a fresh
    process: wall time and peak resident memory, which the layers' address streams dominate (each
    layer's grow with the batch; the isolated run and the scenario's run each generate them)."""
    print("scaling with the batch (resnet50, 2 requests, camdn, shared, --no-cache, fresh process):")
    with tempfile.TemporaryDirectory() as tmp:
        for b in batches:
            scenario = Path(tmp) / f"batch_{b}.yaml"
            scenario.write_text(f"soc: camdn\npolicy: shared\ntenants:\n  - workload: resnet50\n"
                                f"    params: {{batch: {b}}}\n    requests: 2\n")
            wall, peak_mib = cli_wall_and_peak(["run", "--scenario", str(scenario), "--no-cache", "--quiet"])
            print(f"  batch {b:4d}  {wall:6.1f} s  peak {peak_mib:6.0f} MiB")


def cpu_traffic_cost() -> None:
    """What CPU-side background traffic adds to a run: wall time per burst."""
    print("CPU-side traffic (4 tenants, 16 MiB, a STREAM-like generator at 8 GB/s):")
    base = min((timed(HEADLINE) for _ in range(2)), key=lambda r: r["wall_s"])
    print(f"  none: {base['wall_s']:.2f} s")
    for burst in (4096, 256):
        r = min((timed(HEADLINE, cpu_gb_per_s=8, cpu_burst_bytes=burst) for _ in range(2)),
                key=lambda r: r["wall_s"])
        extra_us = (r["wall_s"] - base["wall_s"]) / r["cpu_bursts"] * 1e6
        print(f"  {burst} B bursts: {r['wall_s']:.2f} s, {r['cpu_bursts']} bursts, "
              f"{extra_us:.0f} us per burst over none")


def fmt(r: dict) -> str:
    return (f"{r['tenants']:3d} tenants  {r['llc']:>6s}  {r['requests']} req  {r['wall_s']:7.2f} s  "
            f"{r['cycles'] / 1e6:8.1f} Mcycles  {r['cycles_per_s'] / 1e6:6.2f} Mcycles/s  "
            f"{r['llc_lines_per_s'] / 1e6:6.2f} M lines/s  {r['dram_req_per_s'] / 1e6:5.2f} M DRAM req/s")


def cli_wall(args: list[str], env: dict | None = None) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "npusim", *args], check=True, capture_output=True, env=env)
    return time.perf_counter() - t0


def cli_wall_and_peak(args: list[str]) -> tuple[float, float]:
    """Wall seconds and peak resident MiB of `npusim ARGS` as a fresh process."""
    with tempfile.TemporaryFile("w+") as log:  # a file, not a pipe: nothing blocks while wait4 waits
        t0 = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-m", "npusim", *args], stdout=subprocess.DEVNULL, stderr=log)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped by wait4: tell Popen
        if proc.returncode:
            log.seek(0)
            raise SystemExit(f"npusim {' '.join(args)} failed ({proc.returncode}):\n{log.read()}")
    return wall, usage.ru_maxrss / 1024


def scalesim_resnet50(python: str) -> tuple[float, int, int]:
    """SCALE-Sim v3 on ResNet-50 (32x32 ws), its CLI as documented: wall
    seconds, its total compute cycles, and npusim's `scalesim` timing of the
    same layers (which must be equal)."""
    import numpy as np

    from npusim.npu import gemm_cycles, read_scalesim_report, read_scalesim_topology
    from workloads import get_trace
    from workloads.importers.scalesim import write_topology

    # the config our timing model is checked against (tests/reference/scalesim): no SRAM stalls
    cfg = ROOT / "tests" / "reference" / "scalesim" / "configs" / "ws_32x32.cfg"
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        write_topology(get_trace("resnet50"), t / "topo.csv", t / "layout.csv")  # = `npusim trace export`
        t0 = time.perf_counter()
        subprocess.run([python, "-m", "scalesim.scale", "-c", str(cfg), "-t", str(t / "topo.csv"),
                        "-l", str(t / "layout.csv"), "-p", str(t / "out")], check=True, capture_output=True)
        wall = time.perf_counter() - t0
        theirs = read_scalesim_report(t / "out" / "ws_32x32" / "COMPUTE_REPORT.csv")["Total Cycles"]
        layers = read_scalesim_topology(t / "topo.csv", expand_depthwise=True)
        ours = gemm_cycles(layers["m"].to_numpy(), layers["n"].to_numpy(), layers["k"].to_numpy(),
                           rows=32, cols=32, dataflow="ws", timing="scalesim")
        return wall, int(theirs.sum()), int(np.sum(ours))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="headline case only")
    ap.add_argument("--cpu-traffic", action="store_true", help="only the cost of CPU-side background traffic")
    ap.add_argument("--trace-length", action="store_true", help="only the scaling with the number of layers")
    ap.add_argument("--backlog", action="store_true", help="only the scaling with the number of queued tasks")
    ap.add_argument("--many-tenants", action="store_true",
                    help="only runs of 256 and 1024 tenants as fresh processes (wall time and peak memory)")
    ap.add_argument("--large-batch", action="store_true",
                    help="only ResNet-50 at batch 16, 64 and 128 as fresh processes (wall time and peak memory)")
    ap.add_argument("--plot", metavar="PNG", help="write the scaling plot here")
    ap.add_argument("--scalesim-python", metavar="PYTHON", help="run SCALE-Sim v3 on ResNet-50 with this Python")
    args = ap.parse_args()
    if args.cpu_traffic:
        timed(HEADLINE)  # plans and isolated latencies cached, kernels compiled
        cpu_traffic_cost()
        return
    if args.trace_length:
        trace_length_scaling()
        return
    if args.backlog:
        backlog_scaling()
        return
    if args.many_tenants:
        many_tenants_scaling()
        return
    if args.large_batch:
        large_batch_scaling()
        return

    cold_dir = tempfile.mkdtemp(prefix="npusim-cold-")
    cmd = ["run", "--soc", "camdn", "--mix", ",".join(HEADLINE), "--policy", "shared", "--requests", "1",
           "--json", "--quiet"]
    env_cold = {**os.environ, "NPUSIM_CACHE_DIR": cold_dir}
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "npusim", *cmd], check=True, capture_output=True, env=env_cold)
    cold = time.perf_counter() - t0
    warm = min(cli_wall(cmd) for _ in range(2))
    print(f"headline `npusim {' '.join(cmd[:-2])}`: {warm:.1f} s wall (warm caches), {cold:.1f} s cold "
          f"(plans and isolated references computed)")
    head = timed(HEADLINE)
    print("in-process:", fmt(head))
    results = [head]
    if not args.quick:
        print("scaling with tenants (16 cores, 16 MiB, 1 request):")
        for n in (1, 2, 4, 8, 16):
            r = timed(POOL[:n])
            results.append(r)
            print("  " + fmt(r))
        print("scaling with LLC size (4 tenants):")
        for llc in ("2MiB", "4MiB", "8MiB", "16MiB", "32MiB"):
            r = timed(HEADLINE, llc=llc)
            results.append(r)
            print("  " + fmt(r))
        print("scaling with requests (4 tenants, 16 MiB):")
        for req in (1, 2, 4):
            r = timed(HEADLINE, requests=req)
            results.append(r)
            print("  " + fmt(r))
        cpu_traffic_cost()
        trace_length_scaling()
        backlog_scaling()
    # the second run of two: with --quick the first may compute ResNet-50's 16-core plans
    rn = min((timed(["resnet50"]) for _ in range(2)), key=lambda r: r["wall_s"])
    print("resnet50 alone (16 cores, warm plans):", fmt(rn))
    if args.scalesim_python:
        # both as fresh processes; npusim's cold run computes its plans and isolated latency first
        one = ["run", "--soc", "camdn", "--mix", "resnet50", "--policy", "shared", "--requests", "1", "--quiet"]
        cold_one = cli_wall(one, env={**os.environ, "NPUSIM_CACHE_DIR": tempfile.mkdtemp(prefix="npusim-cold-")})
        warm_one = min(cli_wall(one) for _ in range(2))
        s, theirs, ours = scalesim_resnet50(args.scalesim_python)
        print(f"SCALE-Sim v3, resnet50 array layers (`npusim trace export`), 32x32 ws: {s:.0f} s wall, "
              f"{theirs} compute cycles (npusim's scalesim timing: {ours})")
        print(f"npusim resnet50 alone (16 cores, LLC, DRAM), fresh process: {warm_one:.2f} s warm "
              f"({s / warm_one:.0f}x faster), {cold_one:.2f} s cold ({s / cold_one:.0f}x); "
              f"in-process {rn['wall_s']:.2f} s ({s / rn['wall_s']:.0f}x)")
    if args.plot and not args.quick:
        plot(results[1:], Path(args.plot))


def plot(results: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path.parent.mkdir(parents=True, exist_ok=True)
    t, l, q = results[:5], results[5:10], results[10:13]
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.2))
    axes[0].plot([r["tenants"] for r in t], [r["wall_s"] for r in t], marker="o")
    axes[0].set_xticks([r["tenants"] for r in t])  # counts: ticks at the measured ones, not at 2.5
    axes[0].set_xlabel("tenants")
    axes[1].plot([r["llc"] for r in l], [r["wall_s"] for r in l], marker="o", color="#E69F00")
    axes[1].set_xlabel("LLC size (4 tenants)")
    axes[2].plot([r["requests"] for r in q], [r["wall_s"] for r in q], marker="o", color="#009E73")
    axes[2].set_xticks([r["requests"] for r in q])
    axes[2].set_xlabel("requests per tenant (4 tenants)")
    for ax in axes:
        ax.set_ylabel("wall time (s)")
        ax.grid(alpha=0.3)
    fig.suptitle("npusim engine wall time (2-core machine, warm plan cache)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    main()
