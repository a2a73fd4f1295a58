"""Workloads: layer traces (docs/TRACES.md), the model zoo and importers.

    from workloads import get_trace, model_names
    trace = get_trace("resnet50")                    # a zoo model
    trace = get_trace("bert_base", seq_len=128)      # with builder parameters
    trace = get_trace("my_model.csv")                # a trace, SCALE-Sim topology or ONNX file
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from npusim.errors import InputError

from .trace import Layer, Trace, read_trace, trace_to_csv, write_trace
from .zoo import build, model_entry, model_names, model_parameters
from .zoo.multitask import coe_graph


def get_trace(name_or_path: str, **params: Any) -> Trace:
    """A zoo model by name (with builder parameters), or a trace/topology/ONNX file."""
    ref = str(name_or_path)
    if ref in model_names() and not Path(ref).is_file():
        try:
            return build(ref, **params)
        except (TypeError, ValueError) as exc:
            raise InputError(ref, "params", str(exc)) from None
    path = Path(ref)
    if path.is_file() or path.suffix.lower() in (".csv", ".onnx"):
        if not path.exists():
            raise InputError(ref, "file", "no such file")
        if params:
            raise InputError(ref, "params", "builder parameters apply to zoo models only")
        from .importers import load_file

        return load_file(path)
    raise InputError(ref, "workload", f"unknown workload (models: {', '.join(model_names())}; "
                                      "or give a trace CSV, SCALE-Sim topology or ONNX file)")


__all__ = ["Layer", "Trace", "build", "coe_graph", "get_trace", "model_entry", "model_names", "model_parameters",
           "read_trace", "trace_to_csv", "write_trace"]
