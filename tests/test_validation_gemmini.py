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
    # on the tile against our 0.97 M: the library tiles it two columns wide, and what
    # Gemmini's two-row computes cost beyond 4 cycles each (and 16 with the next
    # weights) is not modelled, so it stays outside 15 % (-21.1 %; -34.1 % with
    # searched tiles, when this bound was 40 %).
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


def test_layer_errors_are_medians_and_means_of_the_absolute_log_ratio_per_set():
    import math

    import pandas as pd

    pl = pd.DataFrame({"network": ["resnet50", "resnet50", "alexnet", "kws"],
                       "kind": ["conv", "resadd", "conv", "resadd"], "layer": ["a", "b", "c", "d"],
                       "measured": [100.0, 40.0, 300.0, 80.0], "simulated": [200, 20, 300, 40]})
    t = gemmini.layer_error_table(pl).set_index(["set", "kind"])
    ln2 = math.log(2)
    assert t.loc[("calibration", "all")].tolist() == pytest.approx([3, ln2, 2 * ln2 / 3])
    assert t.loc[("calibration", "conv")].tolist() == pytest.approx([2, ln2 / 2, ln2 / 2])
    assert t.loc[("held-out", "all")].tolist() == pytest.approx([1, ln2, ln2])
    assert math.isnan(t.loc[("held-out", "conv"), "median_abs_log_error"])


def test_a_conv_measured_with_its_fused_pool_is_compared_with_both_layers():
    """resnet50's conv_1 ran with its 3x3/2 max pool fused into the call; the zoo runs that
    pool as conv_1_pool. SqueezeNet's fire modules fuse a pool into both expand convs."""
    import pandas as pd

    sim = pd.DataFrame({"layer": ["conv_1", "conv_1_pool", "conv_2"], "cycles": [100, 20, 7]})
    rows = gemmini.layer_rows("resnet50", sim).set_index("layer").simulated
    assert rows.to_dict() == {"conv_1": 120, "conv_2": 7}
    sim = pd.DataFrame({"layer": ["conv_5", "conv_6", "conv_6_pool", "conv_7", "conv_7_pool"],
                        "cycles": [1, 10, 2, 30, 4]})
    rows = gemmini.layer_rows("squeezenet", sim).set_index("layer").simulated
    assert rows.to_dict() == {"conv_5": 1, "conv_6": 12, "conv_7": 34}
    # yolov2's pools are calls of their own, measured and compared as such
    sim = pd.DataFrame({"layer": ["conv_1", "conv_1_pool"], "cycles": [50, 9]})
    rows = gemmini.layer_rows("yolov2", sim).set_index("layer").simulated
    assert rows.to_dict() == {"conv_1": 50, "conv_1_pool": 9}


@pytest.fixture(scope="module")
def layer_table():
    import pandas as pd

    rows = [gemmini.layer_rows(net, gemmini.run(net)[1]) for net in (*gemmini.CALIBRATION, *gemmini.HELD_OUT)]
    return pd.concat(rows)


@pytest.fixture(scope="module")
def kinds(layer_table):
    return gemmini.kind_table(layer_table).set_index(["set", "network", "kind"]).ratio


@pytest.fixture(scope="module")
def searched_layer_table():
    """The same layers with npusim's searched tiles instead of the library's."""
    import dataclasses

    import pandas as pd

    from npusim.soc import load_soc

    soc = load_soc("gemmini-moca")
    soc = soc.replace(npu=dataclasses.replace(soc.npu, tiler="search"))
    return pd.concat([gemmini.layer_rows(net, gemmini.run(net, soc)[1])
                      for net in ("kws", "yololite", "yolov2", "squeezenet")])


@pytest.mark.parametrize("net, layer, within", [
    # docs/VALIDATION.md "The library's tiles": with the tiles the artifact's library picks
    # (tiler: moca) these run at 0.95, 1.02, 0.94 and 0.56 of their measured cycles; with
    # npusim's searched tiles at 0.56, 1.46, 0.45 and 0.28
    ("kws", "conv_1", 0.1), ("yololite", "conv_1", 0.1), ("yolov2", "conv_5_pool", 0.1),
    ("squeezenet", "conv_1", 0.5),
])
def test_layers_tiled_as_the_library_tiles_them_come_closer_to_their_measured_cycles(
        layer_table, searched_layer_table, net, layer, within):
    def ratio(table):
        row = table.set_index(["network", "layer"]).loc[(net, layer)]
        return row.simulated / row.measured

    library, searched = ratio(layer_table), ratio(searched_layer_table)
    assert abs(library - 1) <= within
    assert abs(library - 1) + 0.25 <= abs(searched - 1)


@pytest.mark.parametrize("net, layer", [
    # docs/VALIDATION.md "The array's commands": 1x1 convolutions Gemmini runs through its
    # matmul loop, whose computes start as their own blocks are loaded (matmul_waits_for:
    # block); when they waited for whole tiles they ran at 1.17, 1.22 and 1.20
    ("resnet50", "conv_46"), ("resnet50", "conv_19"), ("googlenet", "conv_62"),
])
def test_matmul_loop_layers_overlap_their_own_loads(layer_table, net, layer):
    row = layer_table.set_index(["network", "layer"]).loc[(net, layer)]
    assert row.simulated / row.measured == pytest.approx(1.0, abs=0.07)


@pytest.mark.parametrize("set_, kind, ratio", [
    # docs/VALIDATION.md "By layer kind": a model change that moves a kind's share of the
    # measured cycles by more than 0.05 must rerun that table
    ("calibration", "conv", 0.90), ("calibration", "fc", 1.51), ("calibration", "pool", 0.98),
    ("calibration", "resadd", 1.22), ("held-out", "conv", 0.99), ("held-out", "pool", 0.62),
    ("held-out", "resadd", 0.75),
])
def test_layer_kinds_stay_where_the_docs_put_them(kinds, set_, kind, ratio):
    assert kinds[(set_, "all", kind)] == pytest.approx(ratio, abs=0.05)
