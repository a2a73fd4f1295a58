"""Flags shared by several verbs."""

from __future__ import annotations

import argparse

from ..soc import OVERRIDE_FLAGS, SoCSpec, load_soc


def add_soc_flags(parser: argparse.ArgumentParser, *, soc_default: str | None = "camdn",
                  positional: bool = False) -> None:
    """``--soc PRESET|FILE`` (or a positional) plus the spec override flags."""
    if positional:
        parser.add_argument("soc", metavar="PRESET|FILE", help="a preset name (see `npusim soc list`) or a SoC YAML file")
    else:
        parser.add_argument("--soc", default=soc_default, metavar="PRESET|FILE",
                            help=f"SoC preset or YAML file (default: {soc_default})")
    group = parser.add_argument_group("SoC overrides")
    group.add_argument("--llc-size", metavar="SIZE", help="LLC capacity, e.g. 8MiB")
    group.add_argument("--llc-ways", metavar="N", help="LLC associativity")
    group.add_argument("--cores", metavar="N", help="number of NPU cores")
    group.add_argument("--array", metavar="RxC", help="systolic array rows x columns, e.g. 16x16")
    group.add_argument("--dataflow", metavar="ws|os|is", help="systolic dataflow")
    group.add_argument("--dram", metavar="STANDARD", help="DRAM standard, e.g. DDR4-3200")
    group.add_argument("--dram-channels", metavar="N", help="number of DRAM channels")


def soc_overrides(args: argparse.Namespace) -> dict[str, str]:
    out = {}
    for flag in OVERRIDE_FLAGS:
        value = getattr(args, flag[2:].replace("-", "_"), None)
        if value is not None:
            out[flag] = value
    return out


def soc_from_args(args: argparse.Namespace) -> SoCSpec:
    return load_soc(args.soc, soc_overrides(args))


def not_available(verb: str, issue: str):
    """Handler for verbs whose implementation has not landed yet."""

    def handler(args: argparse.Namespace) -> int:
        import sys

        print(f"error: npusim {verb} is not available in this version yet ({issue})", file=sys.stderr)
        return 1

    return handler
