"""Importers: other formats to traces, one module each, registered by name.

`load_file(path, fmt=None)` detects the format from the extension and the
header (or takes `fmt`): ``trace`` (npusim's CSV), ``scalesim`` and
``scalesim-gemm`` (SCALE-Sim v3 topologies), ``onnx``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from npusim.errors import InputError

from ..trace import Trace, read_trace

_IMPORTERS: dict[str, Callable[[Path], Trace]] = {}


def importer(name: str):
    def register(fn: Callable[[Path], Trace]) -> Callable[[Path], Trace]:
        _IMPORTERS[name] = fn
        return fn
    return register


def importer_names() -> tuple[str, ...]:
    _load()
    return tuple(_IMPORTERS)


@importer("trace")
def _native(path: Path) -> Trace:
    return read_trace(path)


def detect(path: Path) -> str:
    if path.suffix.lower() == ".onnx":
        return "onnx"
    try:
        with open(path, encoding="utf-8") as fh:
            header = next((l for l in fh if l.strip() and not l.lstrip().startswith("#")), "")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(str(path), "file", f"cannot read: {exc}") from None
    cols = [c.strip().lower() for c in header.split(",") if c.strip()]
    if "name" in cols or "op" in cols:
        return "trace"  # npusim's own format (its reader names any missing column)
    if any("ifmap" in c for c in cols) or len(cols) >= 8:
        return "scalesim"
    if cols[1:4] == ["m", "n", "k"] or len(cols) in (4, 5):
        return "scalesim-gemm"
    raise InputError(str(path), "header", "cannot tell the format (an npusim trace has name and op columns; "
                                          "give --format scalesim|scalesim-gemm|onnx)", 1)


def load_file(path: str | Path, fmt: str | None = None) -> Trace:
    _load()
    path = Path(path)
    if not path.is_file():
        raise InputError(str(path), "file", "no such file")
    fmt = fmt or detect(path)
    if fmt not in _IMPORTERS:
        raise InputError(str(path), "format", f"unknown format {fmt!r} (formats: {', '.join(_IMPORTERS)})")
    return _IMPORTERS[fmt](path)


def _load() -> None:
    from . import onnx_graph, scalesim  # noqa: F401  (each registers its importers)
