"""``npusim report``: plot and tabulate sweep results."""

from __future__ import annotations

import argparse

from .common import not_available


def add_parser(sub, parent: argparse.ArgumentParser) -> None:
    p = sub.add_parser("report", parents=[parent], help="plot and tabulate sweep results", description="Plot and tabulate sweep results. Not available yet.")
    p.set_defaults(func=not_available("report", "the sweep issue"))
