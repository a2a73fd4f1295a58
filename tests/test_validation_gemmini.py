"""Whole-network latency of one Gemmini tile against the measured FireSim cycles
(tests/reference/gemmini_moca, MoCA artifact). Bounds and the known gap: docs/VALIDATION.md."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "experiments" / "validation"))
import gemmini  # noqa: E402


@pytest.fixture(scope="module")
def measured():
    return gemmini.measured_totals()


@pytest.mark.parametrize("net, bound", [
    ("resnet50", 0.15), ("alexnet", 0.15), ("googlenet", 0.15),
    # SqueezeNet's first layer (stride-2 conv over 3 channels) takes 1.72 M cycles
    # on the tile against our 0.52 M: Gemmini's strided small-channel input path
    # is not modelled, so this calibration network stays outside 15 %.
    ("squeezenet", 0.40),
])
def test_calibration_networks(measured, net, bound):
    latency, _ = gemmini.run(net)
    assert abs(latency / measured[net] - 1) <= bound


@pytest.mark.parametrize("net, bound", [
    ("yolov2", 0.25), ("yololite", 0.25), ("kws", 0.25),
])
def test_held_out_networks(measured, net, bound):
    latency, _ = gemmini.run(net)
    assert abs(latency / measured[net] - 1) <= bound


def test_kind_table_sums_layers_by_kind_per_network_and_per_set():
    import pandas as pd

    pl = pd.DataFrame({"network": ["resnet50", "resnet50", "alexnet", "kws"],
                       "kind": ["conv", "resadd", "conv", "resadd"], "layer": ["a", "b", "c", "d"],
                       "measured": [100.0, 40.0, 300.0, 80.0], "simulated": [90, 20, 330, 20]})
    t = gemmini.kind_table(pl).set_index(["set", "network", "kind"])
    assert t.loc[("calibration", "resnet50", "resadd"), "ratio"] == 0.5
    assert t.loc[("calibration", "all", "conv")].tolist() == [2, 400.0, 420, 1.05]
    assert t.loc[("held-out", "all", "resadd")].tolist() == [1, 80.0, 20, 0.25]
    assert len(t) == 4 + 3


@pytest.fixture(scope="module")
def kinds():
    import pandas as pd

    rows = [gemmini.layer_rows(net, gemmini.run(net)[1]) for net in (*gemmini.CALIBRATION, *gemmini.HELD_OUT)]
    return gemmini.kind_table(pd.concat(rows)).set_index(["set", "network", "kind"]).ratio


@pytest.mark.parametrize("set_, kind, ratio", [
    # docs/VALIDATION.md "By layer kind": a model change that moves a kind's share of the
    # measured cycles by more than 0.05 must rerun that table
    ("calibration", "conv", 0.85), ("calibration", "fc", 1.42), ("calibration", "pool", 0.77),
    ("calibration", "resadd", 1.13), ("held-out", "conv", 0.97), ("held-out", "pool", 0.48),
    ("held-out", "resadd", 0.62),
])
def test_layer_kinds_stay_where_the_docs_put_them(kinds, set_, kind, ratio):
    assert kinds[(set_, "all", kind)] == pytest.approx(ratio, abs=0.05)
