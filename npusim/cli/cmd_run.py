"""``npusim run``: run one scenario on the SoC."""

from __future__ import annotations

import argparse

from .common import not_available


def add_parser(sub, parent: argparse.ArgumentParser) -> None:
    p = sub.add_parser("run", parents=[parent], help="run one scenario on the SoC", description="Run one scenario on the SoC. Not available yet.")
    p.set_defaults(func=not_available("run", "the engine issue"))
