"""Workloads: layer traces (docs/TRACES.md), the model zoo and importers.

    from workloads import get_trace, model_names
    trace = get_trace("resnet50")                    # a zoo model
    trace = get_trace("bert_base", seq_len=128)      # with builder parameters
    trace = get_trace("resnet50", variant="moca")    # MoCA's ResNet-50
    trace = get_trace("my_model.csv")                # a trace, SCALE-Sim topology or ONNX file
    graph = coe_graph()                              # coe_experts' expert dependency graph
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from npusim.errors import InputError
from npusim.specio import entry_there

from .trace import Layer, Trace, parse_trace_text, read_trace, trace_to_csv, write_trace
from .zoo import build, model_entry, model_names, model_parameters
from .zoo.multitask import CoEGraph, coe_graph, m3vit_routing, task_experts


def get_trace(name_or_path: str | Path, **params: Any) -> Trace:
    """A zoo model by name (with builder parameters), or a trace CSV / SCALE-Sim
    topology / ONNX file by path (format detected). Zoo names win over files of
    the same name (write ``./name`` for the file). Every problem is an InputError."""
    ref = str(name_or_path)
    if "\0" in ref:  # the file system would refuse it with a ValueError
        raise InputError(ref, "workload", f"{ref!r}: a workload name or path cannot hold a NUL character")
    try:
        return _get_trace(ref, params)
    except OSError as exc:  # a name the file system refuses (too long, ...)
        raise InputError(ref, "workload", f"cannot read {ref!r}: {exc.strerror or exc}") from None


def _get_trace(ref: str, params: dict[str, Any]) -> Trace:
    if ref in model_names():
        try:
            return build(ref, **params)
        except (TypeError, ValueError) as exc:
            if isinstance(exc, InputError):
                if exc.field == "layer":  # the defaults build: the parameters made this layer impossible
                    raise InputError(ref, "params", f"layer {exc.message}") from None
                raise
            named = getattr(exc, "parameter", None)  # a ParameterError names the parameter at fault
            raise InputError(ref, named if named in params else "params", str(exc)) from None
    path = Path(ref)
    # a file, or a path that is there but no folder (a FIFO, a device: load_file says it is no regular file)
    if path.suffix.lower() in (".csv", ".onnx") or (entry_there(path) and not path.is_dir()):
        if params:
            raise InputError(ref, "params", f"builder parameters ({', '.join(sorted(params))}) apply to zoo "
                                            "models only")
        from .importers import load_file

        return load_file(path)
    if path.is_dir():
        raise InputError(ref, "workload", f"{ref!r} is a folder, not a trace file")
    raise InputError(ref, "workload", f"unknown workload {ref!r} (models: {', '.join(model_names())}; or the "
                                      "path of a trace CSV, SCALE-Sim topology or ONNX file)")


def workload_fault(exc: InputError, ref: str, params: dict[str, Any] | None = None) -> tuple[str, ...] | None:
    """What a `get_trace(ref, **params)` error blames, for a caller to name its own field: ``("workload",)``
    for the name itself (unknown, no file to read); builder parameter names for the parameters (the one at
    fault alone, or all of them when the error names none); None for a trace file's own error, which keeps
    its file and line."""
    if exc.source != ref:
        return None
    if exc.field in ("workload", "file"):
        return ("workload",)
    if params and exc.field in params:
        return (exc.field,)
    if exc.field == "params":
        return tuple(params or ())
    return None


def task_graph(name: str) -> CoEGraph | None:
    """The expert dependency graph of a zoo workload whose tasks are experts (None if it has none)."""
    return coe_graph() if str(name) == "coe_experts" else None


__all__ = ["CoEGraph", "Layer", "Trace", "build", "coe_graph", "get_trace", "m3vit_routing", "model_entry",
           "model_names", "model_parameters", "parse_trace_text", "read_trace", "task_experts", "task_graph", "trace_to_csv",
           "workload_fault", "write_trace"]
