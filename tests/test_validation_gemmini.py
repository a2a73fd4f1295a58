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
    ("resnet50", 0.15), ("googlenet", 0.15),
    # AlexNet's conv_1 runs at 0.39 of its measured cycles: the library cuts the 11x11
    # kernel into windows and reloads the input for each, which npusim does not model
    # (-20.4 %; +3.2 % when the constants were fitted on the totals, its fully connected
    # layers running 1.5x slow to hide it)
    ("alexnet", 0.25),
    # SqueezeNet's first layer (stride-2 conv over 3 channels) takes 1.72 M cycles
    # on the tile against our 0.96 M: the library tiles it two columns wide, and what
    # Gemmini's two-row computes cost beyond 4 cycles each (and 16 with the next
    # weights) is not modelled (-19.6 %, since its first pool reads 16 channels a request;
    # -25.9 % before, when this bound was 30 %, and -34.1 % with searched tiles, when it
    # was 40 %)
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


def test_the_fit_adds_one_setup_per_layer_call_and_scores_layers_and_totals():
    import math

    import pandas as pd

    pl = pd.DataFrame({"measured": [200.0, 400.0, 100.0], "simulated": [100, 300, 100], "calls": [1, 2, 1]})
    e = gemmini.fit_errors(pl, {"a": 900.0, "b": 50.0}, {"a": 3, "b": 1}, {"a": 1000.0, "b": 100.0}, 50)
    # layers at 150/200, 400/400, 150/100; totals 1050/1000 and 100/100
    logs = [math.log(4 / 3), 0.0, math.log(1.5)]
    assert e["mean_abs_log_error"] == pytest.approx(sum(logs) / 3)
    assert e["median_abs_log_error"] == pytest.approx(math.log(4 / 3))
    assert e["a"] == pytest.approx(0.05) and e["b"] == pytest.approx(0.0)
    assert e["totals_mean_abs_error"] == pytest.approx(0.025)


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
    # a conv with its fused pool is two layer calls, each with its own setup
    assert gemmini._layer_table("resnet50", pd.DataFrame({"layer": ["conv_1", "conv_1_pool", "conv_2"],
                                                          "cycles": [100, 20, 7]})
                                ).set_index("layer").calls.to_dict() == {"conv_1": 2, "conv_2": 1}
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
    # (tiler: moca) these run at 0.92, 0.79 and 0.56 of their measured cycles; with
    # npusim's searched tiles at 0.54, 0.33 and 0.27. (YOLO-Lite's conv_1, 0.85 with the
    # library's tiles and 1.05 with searched ones, is no longer among them: it moved with
    # the layer-fitted miss latency, docs/VALIDATION.md. YOLOv2's conv_5_pool ran at 0.91
    # with the library's tiles until its loads came to be 16-byte requests.)
    ("kws", "conv_1", 0.1), ("yolov2", "conv_5_pool", 0.25),
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
    # block), at 0.92, 1.02 and 0.92; when they waited for whole tiles they ran at 1.17,
    # 1.22 and 1.20
    ("resnet50", "conv_46"), ("resnet50", "conv_19"), ("googlenet", "conv_62"),
])
def test_matmul_loop_layers_overlap_their_own_loads(layer_table, net, layer):
    row = layer_table.set_index(["network", "layer"]).loc[(net, layer)]
    assert row.simulated / row.measured == pytest.approx(1.0, abs=0.09)


@pytest.mark.parametrize("net, layer", [
    ("alexnet", "fc_6"), ("alexnet", "fc_7"), ("alexnet", "fc_8"), ("resnet50", "fc_54"), ("googlenet", "fc_69"),
])
def test_fully_connected_layers_stream_at_the_measured_round_trip(layer_table, net, layer):
    """docs/VALIDATION.md "Why the layers and not the totals": an FC layer's weights stream from
    DRAM through 16 requests of 64 B in flight, so its time is the memory round trip's; with the
    layer-fitted constants (99 cycles for a miss) they run at 0.93-1.09 of their measured cycles,
    where the totals' fit (149 cycles) put them at 1.42-1.64."""
    row = layer_table.set_index(["network", "layer"]).loc[(net, layer)]
    assert row.simulated / row.measured == pytest.approx(1.0, abs=0.1)


@pytest.mark.parametrize("set_, kind, ratio", [
    # docs/VALIDATION.md "By layer kind": a model change that moves a kind's share of the
    # measured cycles by more than 0.05 must rerun that table
    ("calibration", "conv", 0.88), ("calibration", "fc", 1.00), ("calibration", "pool", 1.04),
    ("calibration", "resadd", 1.01), ("held-out", "conv", 0.97), ("held-out", "pool", 0.76),
    ("held-out", "resadd", 0.66),
])
def test_layer_kinds_stay_where_the_docs_put_them(kinds, set_, kind, ratio):
    assert kinds[(set_, "all", kind)] == pytest.approx(ratio, abs=0.05)
