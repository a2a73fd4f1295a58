"""``npusim sweep``: run a parameter sweep in parallel."""

from __future__ import annotations

import argparse

from .common import not_available


def add_parser(sub, parent: argparse.ArgumentParser) -> None:
    p = sub.add_parser("sweep", parents=[parent], help="run a parameter sweep in parallel", description="Run a parameter sweep in parallel. Not available yet.")
    p.set_defaults(func=not_available("sweep", "the sweep issue"))
