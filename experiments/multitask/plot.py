"""Figures and tables of the multi-task experiments, from their sweep results.

    npusim sweep experiments/multitask/m3vit_modes.yaml --out results/m3vit_modes/
    npusim sweep experiments/multitask/coserve.yaml --out results/coserve/
    python experiments/multitask/plot.py results/ --out docs/figures/

Writes m3vit_modes.{png,csv} (per MoE mode and LLC size: MACs, DRAM bytes and
latency per request, the cost of a task switch) and coserve.{png,csv}
(throughput and expert switches per scheduler, LLC size and DRAM).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd

from npusim.report import OKABE_ITO as PALETTE

MODES = ("dense", "sparse", "reordered")


def m3vit_table(df: pd.DataFrame) -> pd.DataFrame:
    t = df.rename(columns={"param.moe": "moe"})[
        ["moe", "llc_bytes", "macs_per_request", "dram_bytes", "tasks", "mean_latency_cycles",
         "switch_cost_cycles", "switch_cost_dram_bytes"]].copy()
    t["gflop_per_request"] = 2 * t.macs_per_request / 1e9
    t["dram_mib_per_request"] = t.dram_bytes / t.tasks / 2**20
    t["llc_mib"] = t.llc_bytes / 2**20
    return t.sort_values(["moe", "llc_bytes"])[
        ["moe", "llc_mib", "gflop_per_request", "dram_mib_per_request", "mean_latency_cycles",
         "switch_cost_cycles", "switch_cost_dram_bytes"]]


def plot_m3vit(t: pd.DataFrame, out: Path) -> None:
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.6))
    for i, mode in enumerate(MODES):
        m = t[t.moe == mode]
        kw = dict(marker="o", color=PALETTE[i % len(PALETTE)], label=mode)
        axes[0].plot(m.llc_mib, m.dram_mib_per_request, **kw)
        axes[1].plot(m.llc_mib, m.mean_latency_cycles / 1e6, **kw)
        axes[2].plot(m.llc_mib, m.switch_cost_cycles / 1e3, **kw)
    for ax, label in zip(axes, ("DRAM traffic per request (MiB)", "mean latency (M cycles)",
                                "task-switch cost (k cycles)")):
        _llc_axis(ax, t.llc_mib)
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    axes[0].legend(title="MoE mode")
    fig.suptitle("M³ViT backbone on the camdn SoC: dense vs task-sparse vs expert-reordered MoE")
    fig.tight_layout()
    fig.savefig(out / "m3vit_modes.png", dpi=130)
    plt.close(fig)


def _llc_axis(ax, llc_mib: pd.Series) -> None:
    """A log2 LLC-size axis ticked at the simulated sizes only, in plain numbers."""
    sizes = sorted(llc_mib.unique())
    ax.set_xscale("log", base=2)
    ax.set_xticks(sizes, [f"{v:g}" for v in sizes])
    ax.minorticks_off()
    ax.set_xlabel("LLC size (MiB)")


def coserve_table(df: pd.DataFrame) -> pd.DataFrame:
    t = df[["scheduler", "llc_bytes", "dram", "throughput_per_mcycle", "task_switches", "mean_latency_cycles",
            "dram_bytes", "makespan_cycles"]].copy()
    t["llc_mib"] = t.llc_bytes / 2**20
    return t.sort_values(["dram", "llc_bytes", "scheduler"])[
        ["dram", "llc_mib", "scheduler", "throughput_per_mcycle", "task_switches", "mean_latency_cycles",
         "dram_bytes", "makespan_cycles"]]


def plot_coserve(t: pd.DataFrame, out: Path) -> None:
    drams = sorted(t.dram.unique())
    fig, axes = plt.subplots(1, len(drams), figsize=(5 * len(drams), 3.6), squeeze=False, sharey=True)
    for ax, dram in zip(axes[0], drams):
        d = t[t.dram == dram]
        for i, sched in enumerate(("fcfs", "expert")):
            s = d[d.scheduler == sched]
            ax.plot(s.llc_mib, s.throughput_per_mcycle, marker="o", color=PALETTE[i],
                    label=f"{sched} ({int(s.task_switches.mean())} expert switches)")
        _llc_axis(ax, t.llc_mib)
        ax.set_title(f"{dram}, 1 channel")
        ax.grid(alpha=0.3)
        ax.legend()
    axes[0][0].set_ylabel("throughput (requests / M cycles)")
    fig.suptitle("Collaboration-of-experts serving: FCFS vs dependency-aware scheduling")
    fig.tight_layout()
    fig.savefig(out / "coserve.png", dpi=130)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("results", help="directory holding m3vit_modes/ and coserve/ sweep results")
    ap.add_argument("--out", default="docs/figures")
    args = ap.parse_args()
    root, out = Path(args.results), Path(args.out)
    sources = {name: root / name / "results.csv" for name in ("m3vit_modes", "coserve")}
    found = {name: src for name, src in sources.items() if src.is_file()}
    if not found:
        print(f"error: {root}: results: neither {sources['m3vit_modes']} nor {sources['coserve']} exists "
              "(run the sweeps of experiments/multitask/README.md with --out DIR/m3vit_modes/ and DIR/coserve/)",
              file=sys.stderr)
        sys.exit(2)
    out.mkdir(parents=True, exist_ok=True)
    for name, table, plot in (("m3vit_modes", m3vit_table, plot_m3vit), ("coserve", coserve_table, plot_coserve)):
        if name not in found:
            print(f"warning: {sources[name]} not found: {name} skipped", file=sys.stderr)
            continue
        t = table(pd.read_csv(found[name]))
        t.to_csv(out / f"{name}.csv", index=False)
        plot(t, out)
        print(t.to_string(index=False))

if __name__ == "__main__":
    main()
