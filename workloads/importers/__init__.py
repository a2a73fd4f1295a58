"""Importers: other formats to traces, one module each, registered by name.

    from workloads.importers import load_file
    trace = load_file("net.onnx")                    # format detected
    trace = load_file("topo.csv", "scalesim-gemm")   # or named

Formats: ``trace`` (npusim's own CSV), ``scalesim`` and ``scalesim-gemm``
(SCALE-Sim v3 topologies), ``onnx``. Adding a format is one module that
defines a function ``(path) -> Trace`` decorated with ``@importer(name,
description)`` and is listed in `_MODULES`; `detect` picks a format from the
extension and the header line.
"""

from __future__ import annotations

import csv
import importlib
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from npusim.errors import CONTROL_CATEGORIES, InputError, decode_error_line
from npusim.specio import csv_lines

from ..trace import NETWORK_INPUT, Trace, read_trace

_MODULES = ("scalesim", "onnx_graph")  # modules that register importers when imported


@dataclass(frozen=True)
class Importer:
    name: str
    load: Callable[[Path], Trace]
    description: str


_IMPORTERS: dict[str, Importer] = {}


def importer(name: str, description: str = ""):
    """Register ``fn(path) -> Trace`` as the importer of format `name`."""
    def register(fn: Callable[[Path], Trace]) -> Callable[[Path], Trace]:
        _IMPORTERS[name] = Importer(name, fn, description or (fn.__doc__ or "").strip().splitlines()[0])
        return fn
    return register


def _load() -> None:
    for module in _MODULES:
        importlib.import_module(f"{__name__}.{module}")


def importer_names() -> tuple[str, ...]:
    _load()
    return tuple(_IMPORTERS)


def importers() -> dict[str, Importer]:
    _load()
    return dict(_IMPORTERS)


@importer("trace", "npusim trace CSV (docs/TRACES.md)")
def _native(path: Path) -> Trace:
    return read_trace(path)


def read_text(path: Path) -> str:
    """A text file's content, or one InputError naming the file."""
    try:
        return path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise InputError(str(path), "file", "no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(str(path), "file", f"cannot read as text: {exc}", decode_error_line(exc)) from None


def one_line(name: str) -> str:
    """`name` with control characters and line breaks as `_`: a layer a line in any file."""
    return "".join("_" if unicodedata.category(c) in CONTROL_CATEGORIES else c for c in name)


def safe_name(name: str) -> str:
    """A layer name usable in a trace: no `;` (it separates `inputs`), not `-`, trimmed, on one line."""
    name = one_line(str(name).strip()).replace(";", "_")
    return "layer" if name == NETWORK_INPUT else name


def detect(path: Path) -> str:
    """The format of `path`: by extension (``.onnx``), then by the header line."""
    if path.suffix.lower() == ".onnx":
        return "onnx"
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(str(path), "file", f"cannot read: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        if path.suffix.lower() == ".csv":  # a CSV that is not text, not an ONNX model under another name
            raise InputError(str(path), "file", f"not UTF-8 text: {exc}", decode_error_line(exc)) from None
        return "onnx"  # binary: an ONNX protobuf is the only binary format (its reader says if it is not)
    header = next((l for l in csv_lines(text) if l.strip() and not l.lstrip().startswith("#")), "")
    if not header:  # nothing to tell a format by
        raise InputError(str(path), "header", "empty file: no header line", 1)
    try:  # as the readers split it: a quoted header ("name","op",... as R's write.csv writes it) is the same header
        cols = [c.strip().lower() for c in next(csv.reader([header]), [])]
    except csv.Error:  # a field beyond the csv module's size limit: the reader will say so
        cols = [c.strip().lower() for c in header.split(",")]
    while cols and cols[-1] == "":
        cols.pop()
    if "name" in cols or "op" in cols:
        return "trace"  # npusim's own format (its reader names any missing column)
    if any("ifmap" in c or "filter" in c for c in cols) or len(cols) >= 8:
        return "scalesim"
    if cols[1:4] == ["m", "n", "k"] or len(cols) == 4:
        return "scalesim-gemm"
    raise InputError(str(path), "header", "cannot tell the format: an npusim trace has name and op columns, a "
                                          "SCALE-Sim topology 8 (conv) or 4 (GEMM) columns; give --format "
                                          f"{'|'.join(n for n in importer_names() if n != 'trace')}", 1)


def load_file(path: str | Path, fmt: str | None = None) -> Trace:
    """Read `path` as format `fmt` (detected when None)."""
    _load()
    path = Path(path)
    if fmt is not None and fmt not in _IMPORTERS:
        raise InputError(str(path), "format", f"unknown format {fmt!r} (formats: {', '.join(_IMPORTERS)})")
    if not path.exists():
        if path.is_symlink():  # there, but no file at its end (a loop, or a link to nothing)
            raise InputError(str(path), "file", "a symbolic link that leads to no file")
        raise InputError(str(path), "file", "no such file")
    if not path.is_file():
        raise InputError(str(path), "file", "not a regular file")
    return _IMPORTERS[fmt or detect(path)].load(path)


__all__ = ["Importer", "detect", "importer", "importer_names", "importers", "load_file", "one_line", "read_text",
           "safe_name"]
