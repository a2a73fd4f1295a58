"""``npusim regress``: re-run reference scenarios and diff against references."""

from __future__ import annotations

import argparse

from .common import not_available


def add_parser(sub, parent: argparse.ArgumentParser) -> None:
    p = sub.add_parser("regress", parents=[parent], help="re-run reference scenarios and diff against references", description="Re-run reference scenarios and diff against references. Not available yet.")
    p.set_defaults(func=not_available("regress", "the regression issue"))
