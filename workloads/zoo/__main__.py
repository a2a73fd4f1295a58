"""`python -m workloads.zoo [--write | --check]`: the shipped default traces.

Without flags, lists the models; ``--write`` regenerates
``workloads/traces/<name>.csv`` from the builders (default parameters);
``--check`` exits 1 if a shipped CSV differs from its builder.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..trace import trace_to_csv
from . import build, model_names

TRACES = Path(__file__).resolve().parent.parent / "traces"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m workloads.zoo", description=__doc__.splitlines()[0])
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument("--write", action="store_true", help="write workloads/traces/<name>.csv")
    mode.add_argument("--check", action="store_true", help="fail if a shipped CSV differs from its builder")
    args = ap.parse_args(argv)
    stale = []
    for name in model_names():
        text = trace_to_csv(build(name))
        path = TRACES / f"{name}.csv"
        status = ""
        if args.write:
            TRACES.mkdir(exist_ok=True)
            path.write_text(text, encoding="utf-8")
            status = f" -> {path}"
        elif args.check:
            ok = path.is_file() and path.read_text(encoding="utf-8") == text
            status = " ok" if ok else " STALE (run python -m workloads.zoo --write)"
            if not ok:
                stale.append(name)
        print(f"{name}: {text.count(chr(10)) - 1} layers{status}")
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
