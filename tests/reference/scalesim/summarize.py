"""Print the cross-check tables of docs/NPU.md from the stored reports (run with the npusim venv).

    python tests/reference/scalesim/summarize.py [--layers CONFIG ...]
"""

import argparse
import configparser
from pathlib import Path

import numpy as np

from npusim.npu import gemm_cycles, read_scalesim_report, read_scalesim_topology

HERE = Path(__file__).parent


def config(name):
    cp = configparser.ConfigParser()
    cp.read(HERE / "configs" / f"{name}.cfg")
    a = cp["architecture_presets"]
    return int(a["ArrayHeight"]), int(a["ArrayWidth"]), a["Dataflow"].strip()


def compare(report):
    topo, cfg = report.parent.parent.name, report.parent.name
    rows, cols, df = config(cfg)
    layers = read_scalesim_topology(HERE / "topologies" / f"{topo}.csv", expand_depthwise=True)
    ref = read_scalesim_report(report)["Total Cycles"].to_numpy()
    ours = gemm_cycles(layers.m.to_numpy(), layers.n.to_numpy(), layers.k.to_numpy(),
                       rows=rows, cols=cols, dataflow=df, timing="scalesim")
    return topo, cfg, layers, ref, ours


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--layers", nargs="*", default=[], help="TOPOLOGY:CONFIG pairs to list layer by layer")
    args = ap.parse_args()
    reports = sorted(HERE.glob("reports/*/*/COMPUTE_REPORT.csv"))
    print("| topology | config (dataflow_rowsxcols) | layers | SCALE-Sim cycles (sum) | ours (sum) | max error |")
    print("|---|---|---:|---:|---:|---:|")
    worst = 0.0
    n_layers = 0
    for report in reports:
        topo, cfg, layers, ref, ours = compare(report)
        err = float(np.max(np.abs(ours - ref) / ref))
        worst = max(worst, err)
        n_layers += len(ref)
        print(f"| {topo} | {cfg} | {len(ref)} | {ref.sum()} | {ours.sum()} | {err:.2%} |")
    print(f"\n{len(reports)} reports, {n_layers} layer runs, max error {worst:.2%}\n")
    for pair in args.layers:
        topo, cfg = pair.split(":")
        _, _, layers, ref, ours = compare(HERE / "reports" / topo / cfg / "COMPUTE_REPORT.csv")
        print(f"\n{topo} on {cfg}:\n")
        print("| layer | M | N | K | SCALE-Sim | ours | error |")
        print("|---|---:|---:|---:|---:|---:|---:|")
        for (_, l), r, o in zip(layers.iterrows(), ref, ours):
            print(f"| {l['name']} | {l.m} | {l.n} | {l.k} | {r} | {o} | {abs(o - r) / r:.2%} |")


if __name__ == "__main__":
    main()
