"""The model zoo: builder functions registered by name (docs/TRACES.md).

A model is a function returning a `Trace`, registered with `@model(...)`
together with the published figures its totals are checked against. Builder
parameters (batch, sequence length, image size, variant) are keyword
arguments, never copies of files; `python -m workloads.zoo --write` regenerates
the shipped CSVs of the default parameters.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any, Callable

from npusim.errors import InputError
from npusim.units import is_finite_number

from ..trace import MAX_DIM, Trace


@dataclass(frozen=True)
class Published:
    """A published total to check the trace against (facts, cited)."""

    macs: float | None = None  # multiply-accumulates
    params: float | None = None
    source: str = ""
    note: str = ""


@dataclass(frozen=True)
class ModelEntry:
    name: str
    build: Callable[..., Trace]
    description: str
    published: Published
    family: str


_MODELS: dict[str, ModelEntry] = {}


def model(name: str, *, description: str, published: Published = Published(), family: str = ""):
    def register(fn: Callable[..., Trace]) -> Callable[..., Trace]:
        _MODELS[name] = ModelEntry(name, fn, description, published, family)
        return fn
    return register


# listing order: CaMDN's eight, then MoCA's other six, then the multi-task models
ORDER = ("resnet50", "mobilenet_v2", "efficientnet_b0", "vit_b16", "pointpillars", "wav2vec2_base", "bert_base",
         "gnmt", "alexnet", "googlenet", "squeezenet", "kws", "yolov2", "yolo_lite", "m3vit",
         "decision_transformer", "grec", "coe_experts")


class ParameterError(ValueError):
    """A value of builder parameter `parameter` the model cannot take (the message starts with its name)."""

    def __init__(self, parameter: str, message: str):
        super().__init__(f"{parameter} {message}")
        self.parameter = parameter


def model_names() -> tuple[str, ...]:
    _load()
    rank = {n: i for i, n in enumerate(ORDER)}
    return tuple(sorted(_MODELS, key=lambda n: (rank.get(n, len(ORDER)), n)))


def model_entry(name: str) -> ModelEntry:
    _load()
    return _MODELS[name]


def build(name: str, **params: Any) -> Trace:
    """Build a zoo model. An unknown parameter raises TypeError naming it; an
    integer parameter (batch, seq_len, ...) that is not a positive integer raises
    ValueError; the builders raise ValueError for other bad values (a ParameterError,
    naming the parameter, for a value of one parameter)."""
    entry = model_entry(name)
    sig = inspect.signature(entry.build)
    for key, value in params.items():
        if key not in sig.parameters:
            known = ", ".join(sig.parameters) or "none"
            raise TypeError(f"{name} has no parameter {key!r} (parameters: {known})")
        default = sig.parameters[key].default
        if isinstance(default, int) and not isinstance(default, bool):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InputError(name, key, f"must be a positive integer, got {value!r}")
            if value > MAX_DIM:
                raise InputError(name, key, f"must be at most {MAX_DIM}, got {value}")
        elif isinstance(default, float):
            if not is_finite_number(value):
                raise InputError(name, key, f"must be a finite number, got {value!r}")
    return entry.build(**params)


def model_parameters(name: str) -> dict[str, Any]:
    sig = inspect.signature(model_entry(name).build)
    return {k: p.default for k, p in sig.parameters.items()}


def _load() -> None:
    from . import cnn, multitask, transformers  # noqa: F401  (each registers its models on import)
