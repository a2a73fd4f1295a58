"""Flags shared by several verbs."""

from __future__ import annotations

import argparse

from ..soc import OVERRIDE_FLAGS, SoCSpec, load_soc
from ..units import parse_int_text


def int_arg(text: str) -> int:
    """argparse type of an integer flag: digits with an optional sign, as in files (no 1_000)."""
    try:
        return parse_int_text(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None


def add_soc_flags(parser: argparse.ArgumentParser, *, soc_default: str | None = "camdn",
                  positional: bool = False, exclude: tuple[str, ...] = ()) -> None:
    """``--soc PRESET|FILE`` (or a positional) plus the spec override flags."""
    if positional:
        parser.add_argument("soc", metavar="PRESET|FILE", help="a preset name (see `npusim soc list`) or a SoC YAML file")
    else:
        parser.add_argument("--soc", default=soc_default, metavar="PRESET|FILE",
                            help=f"SoC preset or YAML file (default: {soc_default or 'the scenario, or camdn'})")
    group = parser.add_argument_group("SoC overrides")
    flags = (
        ("--llc-size", "SIZE", "LLC capacity, e.g. 8MiB"),
        ("--llc-ways", "N", "LLC associativity"),
        ("--cores", "N", "number of NPU cores"),
        ("--array", "RxC", "systolic array rows x columns, e.g. 16x16"),
        ("--dataflow", "ws|os|is", "systolic dataflow"),
        ("--tiler", "search|moca", "who tiles the layers: npusim's search or a library's tiler"),
        ("--dram", "STANDARD", "DRAM standard, e.g. DDR4-3200"),
        ("--dram-channels", "N", "number of DRAM channels"),
    )
    for flag, metavar, text in flags:
        if flag not in exclude:
            group.add_argument(flag, metavar=metavar, help=text)


def soc_overrides(args: argparse.Namespace, exclude: tuple[str, ...] = ()) -> dict[str, str]:
    out = {}
    for flag in OVERRIDE_FLAGS:
        if flag in exclude or flag == "--timing":
            continue
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
