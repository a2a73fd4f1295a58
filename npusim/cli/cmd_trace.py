"""``npusim trace``: list, show and import workload traces."""

from __future__ import annotations

import argparse

from .common import not_available


def add_parser(sub, parent: argparse.ArgumentParser) -> None:
    p = sub.add_parser("trace", parents=[parent], help="list, show and import workload traces", description="List, show and import workload traces. Not available yet.")
    p.set_defaults(func=not_available("trace", "the workloads issue"))
