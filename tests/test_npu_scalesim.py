"""Cross-check: our ``scalesim`` timing against SCALE-Sim v3's stored COMPUTE_REPORT.csv files.

The reference data under tests/reference/scalesim/ was produced by SCALE-Sim
itself (README.md there says how); this test only reads it.
"""

from __future__ import annotations

import configparser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from npusim.npu import conv_gemm_dims, gemm_cycles, read_scalesim_report, read_scalesim_topology

REF = Path(__file__).parent / "reference" / "scalesim"
REPORTS = sorted(REF.glob("reports/*/*/COMPUTE_REPORT.csv"))
TOLERANCE = 0.01  # the bound; every stored layer is in fact exact


def _config(name: str) -> tuple[int, int, str]:
    cp = configparser.ConfigParser()
    cp.read(REF / "configs" / f"{name}.cfg")
    arch = cp["architecture_presets"]
    assert cp["general"]["run_name"].strip() == name
    return int(arch["ArrayHeight"]), int(arch["ArrayWidth"]), arch["Dataflow"].strip()


def _case_id(path: Path) -> str:
    return f"{path.parent.parent.name}:{path.parent.name}"


def test_reference_set_is_complete():
    topologies = {p.stem for p in REF.glob("topologies/*.csv")}
    configs = {p.stem for p in REF.glob("configs/*.cfg")}
    assert {"conv_odd", "gemm_odd"} <= topologies
    assert len(configs) >= 12
    got = {(p.parent.parent.name, p.parent.name) for p in REPORTS}
    for topo in ("conv_odd", "gemm_odd"):
        for cfg in configs:
            assert (topo, cfg) in got, f"no SCALE-Sim report for {topo} on {cfg}"
    assert {_config(c)[2] for c in configs} == {"ws", "os", "is"}
    # whole networks, as `npusim trace export` writes them: ResNet-50 on every dataflow, and
    # MobileNetV2 with its depthwise layers
    assert {("resnet50", f"{df}_32x32") for df in ("ws", "os", "is")} | {("mobilenet_v2", "ws_32x32")} <= got


@pytest.mark.parametrize("report", REPORTS, ids=_case_id)
def test_scalesim_timing_matches_scalesim(report: Path):
    topo_name, cfg_name = report.parent.parent.name, report.parent.name
    rows, cols, dataflow = _config(cfg_name)
    layers = read_scalesim_topology(REF / "topologies" / f"{topo_name}.csv", expand_depthwise=True)
    ref = read_scalesim_report(report)
    assert len(ref) == len(layers), "one report row per (expanded) topology layer"
    assert (ref["LayerID"].to_numpy() == np.arange(len(layers))).all()
    # the configs make SRAM large enough for SCALE-Sim to report no stall
    assert (ref["Stall Cycles"] == 0).all()

    ours = gemm_cycles(layers["m"].to_numpy(), layers["n"].to_numpy(), layers["k"].to_numpy(),
                       rows=rows, cols=cols, dataflow=dataflow, timing="scalesim")
    theirs = ref["Total Cycles"].to_numpy()
    err = np.abs(ours - theirs) / theirs
    bad = pd.DataFrame({"layer": layers["name"], "scalesim": theirs, "ours": ours, "err": err})[err > TOLERANCE]
    assert bad.empty, f"layers off by more than {TOLERANCE:.0%}:\n{bad}"
    assert (ours == theirs).all()  # exact, not just within tolerance


def test_depthwise_groups_sum_to_expanded_layers():
    """A DP row is `groups` SCALE-Sim layers; gemm_cycles(groups=C) is their sum."""
    rows_dp = read_scalesim_topology(REF / "topologies" / "conv_odd.csv")
    expanded = read_scalesim_topology(REF / "topologies" / "conv_odd.csv", expand_depthwise=True)
    for report in REPORTS:
        if report.parent.parent.name != "conv_odd":
            continue
        rows, cols, dataflow = _config(report.parent.name)
        ref = read_scalesim_report(report)
        for _, layer in rows_dp[rows_dp["depthwise"]].iterrows():
            members = expanded["name"].str.startswith(layer["name"] + "Channel_").to_numpy()
            assert members.sum() == layer["channels"]
            m, n, k, g = conv_gemm_dims(layer["ifmap_h"], layer["ifmap_w"], layer["channels"],
                                        layer["channels"] * layer["num_filter"], layer["filter_h"],
                                        layer["filter_w"], layer["stride"], groups=layer["channels"])
            assert (m, n, k, g) == (layer["m"], layer["n"], layer["k"], layer["groups"])
            total = gemm_cycles(m, n, k, rows=rows, cols=cols, dataflow=dataflow, timing="scalesim", groups=g)
            assert total == ref["Total Cycles"].to_numpy()[members].sum()


def test_conv_topology_dims_match_conv_gemm_dims():
    layers = read_scalesim_topology(REF / "topologies" / "conv_odd.csv")
    for _, row in layers[~layers["depthwise"]].iterrows():
        dims = conv_gemm_dims(row["ifmap_h"], row["ifmap_w"], row["channels"], row["num_filter"],
                              row["filter_h"], row["filter_w"], row["stride"])
        assert dims == (row["m"], row["n"], row["k"], 1)


def test_known_data_point():
    """56x56x64 input, 3x3, 64 filters, stride 1 on a 32x32 ws array: 108359 (SCALE-Sim v3)."""
    m, n, k, g = conv_gemm_dims(56, 56, 64, 64, 3, 3, 1)
    assert (m, n, k, g) == (54 * 54, 64, 576, 1)
    assert gemm_cycles(m, n, k, rows=32, cols=32, dataflow="ws", timing="scalesim") == 108359
    known = REF / "reports" / "conv_known" / "ws_32x32" / "COMPUTE_REPORT.csv"
    assert read_scalesim_report(known)["Total Cycles"].tolist() == [108359]  # SCALE-Sim's own run of it


# -- the readers' tolerance ------------------------------------------------------

def test_report_reader_is_tolerant(tmp_path):
    path = tmp_path / "COMPUTE_REPORT.csv"
    path.write_text(
        "LayerID, Total Cycles (incl. prefetch), Total Cycles, Stall Cycles, Overall Util %, "
        "Mapping Efficiency %, Compute Util %,\n"
        "0, 5081, 631, 0, 40.5, 100.0, 33.8,\n"
        "\n"
        "1, 6712, 1939, 0, 24.0, 46.6, 20.7\n"          # no trailing comma
        "2, 7072, 2849, 0, 0.79, 75.1, 0.59, 17, extra,\n"  # extra columns
        "   \n"
    )
    df = read_scalesim_report(path)
    assert df["Total Cycles"].tolist() == [631, 1939, 2849]
    assert df["LayerID"].dtype == np.int64
    assert list(df.columns)[:3] == ["LayerID", "Total Cycles (incl. prefetch)", "Total Cycles"]


def test_report_reader_v2_layout_and_errors(tmp_path):
    v2 = tmp_path / "v2.csv"
    v2.write_text("LayerID, Total Cycles, Stall Cycles, Overall Util %, Mapping Efficiency %, Compute Util %,\n"
                  "0, 100, 0, 1.0, 2.0, 3.0,\n")
    assert read_scalesim_report(v2)["Total Cycles"].tolist() == [100]
    bad = tmp_path / "bad.csv"
    bad.write_text("a, b,\n1, 2,\n")
    with pytest.raises(ValueError, match="Total Cycles"):
        read_scalesim_report(bad)


def test_topology_reader_forms(tmp_path):
    conv = tmp_path / "conv.csv"
    conv.write_text("Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,\n"
                    "a, 20, 20, 3, 3, 11, 9, 3\n"            # no trailing comma
                    "\n"
                    "bDP, 8, 8, 3, 3, 4, 2, 1, 1:1, junk,\n")
    df = read_scalesim_topology(conv)
    assert df["form"].tolist() == ["conv", "conv"]
    # SCALE-Sim: ceil((20 - 3 + 3) / 3) = 7 output rows (not (20 - 3) // 3 + 1 = 6)
    assert df.loc[0, ["m", "n", "k", "groups"]].tolist() == [49, 9, 99, 1]
    assert df.loc[1, ["m", "n", "k", "groups"]].tolist() == [36, 2, 9, 4]
    assert bool(df.loc[1, "depthwise"])
    exp = read_scalesim_topology(conv, expand_depthwise=True)
    assert exp["name"].tolist() == ["a", "bDPChannel_0", "bDPChannel_1", "bDPChannel_2", "bDPChannel_3"]
    assert (exp["groups"] == 1).all()

    gemm = tmp_path / "gemm.csv"
    gemm.write_text("Layer, M, N, K,\ng1, 100, 37, 129,\ng2, 1, 300, 77\n")
    df = read_scalesim_topology(gemm)
    assert df["form"].tolist() == ["gemm", "gemm"]
    assert df[["m", "n", "k"]].to_numpy().tolist() == [[100, 37, 129], [1, 300, 77]]
    with pytest.raises(ValueError, match="Filter Width: missing: a conv row has 7 numbers"):
        read_scalesim_topology(gemm, form="conv")
    with pytest.raises(ValueError, match="form must be auto, conv or gemm, got 'bogus'"):
        read_scalesim_topology(gemm, form="bogus")
