"""``npusim map``: compute cache-aware mapping plans."""

from __future__ import annotations

import argparse

from .common import not_available


def add_parser(sub, parent: argparse.ArgumentParser) -> None:
    p = sub.add_parser("map", parents=[parent], help="compute cache-aware mapping plans", description="Compute cache-aware mapping plans. Not available yet.")
    p.set_defaults(func=not_available("map", "the mapping issue"))
