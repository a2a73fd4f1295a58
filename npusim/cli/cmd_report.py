"""``npusim report``: plots and a Markdown report from sweep results or a run directory."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import InputError


def add_parser(sub, parent: argparse.ArgumentParser) -> None:
    p = sub.add_parser("report", parents=[parent], help="plot and tabulate sweep results",
                       description="Write PNG/SVG plots (speedup and DRAM traffic vs LLC size, per-tenant "
                                   "latency, SLA/STP/fairness, the cache allocation timeline of a run) and a "
                                   "report.md embedding them with the table.")
    p.add_argument("results", metavar="RESULTS", help="sweep results (file or directory) or a `npusim run --out` directory")
    p.add_argument("--out", required=True, metavar="DIR", help="where to write the plots and report.md")
    p.set_defaults(func=run)


def short_table(df) -> str:
    from ..report import short_table as table

    return table(df)


def run(args: argparse.Namespace) -> int:
    from ..report import write_report

    src = Path(args.results)
    if not src.exists():
        raise InputError(args.results, "results", "no such file or directory")
    path = write_report(src, Path(args.out))  # creates --out only once the input has been checked
    print(f"wrote {path}")
    return 0
