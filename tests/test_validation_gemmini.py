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
    # on the tile against our 0.96 M: the library tiles it two columns wide, and what
    # Gemmini's two-row computes cost beyond 4 cycles each is not modelled, so it
    # stays outside 15 % (-20.7 %; -34.1 % with searched tiles, when this bound was 40 %).
    ("squeezenet", 0.25),
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
def layer_table():
    import pandas as pd

    rows = [gemmini.layer_rows(net, gemmini.run(net)[1]) for net in (*gemmini.CALIBRATION, *gemmini.HELD_OUT)]
    return pd.concat(rows)


@pytest.fixture(scope="module")
def kinds(layer_table):
    return gemmini.kind_table(layer_table).set_index(["set", "network", "kind"]).ratio


@pytest.mark.parametrize("net, layer", [
    # docs/VALIDATION.md "The library's tiles": with the tiles the artifact's library picks
    # (tiler: moca) these run within 5 % of the measured cycles; with npusim's searched
    # tiles they ran at 0.60, 1.23 and 0.75 of them
    ("kws", "conv_1"), ("yololite", "conv_1"), ("resnet50", "conv_46"), ("resnet50", "conv_53"),
])
def test_layers_tiled_as_the_library_tiles_them_match_their_measured_cycles(layer_table, net, layer):
    row = layer_table.set_index(["network", "layer"]).loc[(net, layer)]
    assert row.simulated / row.measured == pytest.approx(1.0, abs=0.05)


@pytest.mark.parametrize("set_, kind, ratio", [
    # docs/VALIDATION.md "By layer kind": a model change that moves a kind's share of the
    # measured cycles by more than 0.05 must rerun that table
    ("calibration", "conv", 0.89), ("calibration", "fc", 1.42), ("calibration", "pool", 0.94),
    ("calibration", "resadd", 1.11), ("held-out", "conv", 0.98), ("held-out", "pool", 0.56),
    ("held-out", "resadd", 0.62),
])
def test_layer_kinds_stay_where_the_docs_put_them(kinds, set_, kind, ratio):
    assert kinds[(set_, "all", kind)] == pytest.approx(ratio, abs=0.05)
