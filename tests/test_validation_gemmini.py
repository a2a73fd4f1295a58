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


@pytest.mark.parametrize("net", ["kws", "yolov2", "yololite"])
def test_held_out_networks_within_25_percent(measured, net):
    latency, _ = gemmini.run(net)
    assert abs(latency / measured[net] - 1) <= 0.25
