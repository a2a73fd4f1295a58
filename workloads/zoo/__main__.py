"""`python -m workloads.zoo --write`: regenerate the shipped default traces."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..trace import trace_to_csv
from . import build, model_names

TRACES = Path(__file__).resolve().parent.parent / "traces"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--write", action="store_true", help="write workloads/traces/<name>.csv")
    args = ap.parse_args()
    for name in model_names():
        text = trace_to_csv(build(name))
        path = TRACES / f"{name}.csv"
        if args.write:
            TRACES.mkdir(exist_ok=True)
            path.write_text(text)
        print(f"{name}: {text.count(chr(10)) - 1} layers" + (f" -> {path}" if args.write else ""))


if __name__ == "__main__":
    main()
