"""``npusim soc``: list presets and show resolved SoC specs."""

from __future__ import annotations

import argparse
import json
import sys

import yaml

from ..soc import preset_names
from .common import add_soc_flags, soc_from_args


def add_parser(sub, parent: argparse.ArgumentParser) -> None:
    p = sub.add_parser("soc", parents=[parent], help="show SoC presets and specs",
                       description="Show the SoC presets and resolved SoC specifications.")
    verbs = p.add_subparsers(dest="soc_verb", metavar="ACTION", parser_class=type(p))
    verbs.required = True
    show = verbs.add_parser("show", parents=[parent], help="print a resolved spec (preset or file, with overrides)")
    add_soc_flags(show, positional=True)
    show.add_argument("--json", action="store_true", help="print JSON instead of YAML")
    show.set_defaults(func=_show)
    lst = verbs.add_parser("list", parents=[parent], help="list the presets shipped with npusim")
    lst.set_defaults(func=_list)


def _show(args: argparse.Namespace) -> int:
    spec = soc_from_args(args)
    data = spec.to_dict()
    if args.json:
        json.dump(data, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(yaml.safe_dump(data, sort_keys=False))
    return 0


def _list(args: argparse.Namespace) -> int:
    for name in preset_names():
        print(name)
    return 0
