"""The layer-trace format: one CSV per model, one row per layer (docs/TRACES.md).

A `Trace` is the **workload** specification: what is computed, layer by
layer, in execution order, with the graph edges (`inputs`) that give real
reuse distances. It knows nothing of hardware. `read_trace` validates a CSV
and reports every problem as ``<file>:<line>: <column>: <what is wrong>``.

GEMM view used by the compute model: C[M x N] = A[M x K] * B[K x N] with A the
input activations (im2col rows for a conv) and B the weights (or, for
`matmul`, a second activation), repeated for `groups` independent GEMMs.
"""

from __future__ import annotations

import csv
import dataclasses
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from npusim.errors import InputError, decode_error_line, has_control_character
from npusim.specio import csv_lines
from npusim.units import MAX_DIM, parse_int_text

# no tensor dimension beyond MAX_DIM (int32 shapes), no element wider than 16
# bytes, and no layer above 2^53 MACs (exact in a float)
MAX_ELEM_BYTES = 16
MAX_LAYER_MACS = 2**53

OPS = ("conv", "dwconv", "gemm", "matmul", "pool", "eltwise", "lstm", "embedding")
COMPUTE_OPS = ("conv", "dwconv", "gemm", "matmul", "lstm")  # run on the systolic array
WINDOW_OPS = ("conv", "dwconv", "pool")  # slide a kernel window (stride, padding) over the input
VECTOR_OPS = ("pool", "eltwise", "embedding")  # run on the vector path

# column order of a written trace
COLUMNS = (
    "name", "op", "batch", "in_c", "in_h", "in_w", "out_c", "kernel_h", "kernel_w",
    "stride", "padding", "groups", "out_h", "out_w", "M", "N", "K",
    "in_elem_bytes", "weight_elem_bytes", "out_elem_bytes", "inputs", "block", "task", "expert",
    "weights", "row_offset", "output_into",
)
# optional columns written only when some layer uses them (older traces stay byte-identical)
SPARSE_COLUMNS = ("weights", "row_offset", "output_into")
INT_COLUMNS = (
    "batch", "in_c", "in_h", "in_w", "out_c", "kernel_h", "kernel_w", "stride", "padding",
    "groups", "out_h", "out_w", "M", "N", "K", "in_elem_bytes", "weight_elem_bytes", "out_elem_bytes",
    "row_offset",
)
REQUIRED_COLUMNS = ("name", "op")
_SPATIAL_COLUMNS = ("in_c", "in_h", "in_w", "out_c", "kernel_h", "kernel_w", "stride", "padding",
                    "groups", "out_h", "out_w")
_MATRIX_COLUMNS = ("M", "N", "K")
NETWORK_INPUT = "-"  # `inputs` cell naming the network input instead of a layer
_COMMON_COLUMNS = ("batch", "in_elem_bytes", "weight_elem_bytes", "out_elem_bytes", "row_offset")
# the integer columns each op reads; a cell in another column must hold what the op implies (an
# eltwise's kernel is 1) or stay empty, rather than be dropped without a word
_USED_COLUMNS = {
    **{op: _SPATIAL_COLUMNS + _COMMON_COLUMNS for op in WINDOW_OPS},
    "eltwise": ("in_c", "in_h", "in_w", "out_c", "out_h", "out_w") + _COMMON_COLUMNS,
    **{op: _MATRIX_COLUMNS + _COMMON_COLUMNS for op in ("gemm", "matmul", "lstm", "embedding")},
}

# columns each op needs (the others it reads default; _USED_COLUMNS has them)
OP_COLUMNS = {
    "conv": ("in_c", "in_h", "in_w", "out_c", "kernel_h", "kernel_w"),
    "dwconv": ("in_c", "in_h", "in_w", "kernel_h", "kernel_w"),
    "pool": ("in_c", "in_h", "in_w", "kernel_h", "kernel_w"),
    "eltwise": ("in_c", "in_h", "in_w"),
    "gemm": ("M", "N", "K"),
    "matmul": ("M", "N", "K"),
    "lstm": ("M", "N", "K"),
    "embedding": ("M", "N", "K"),
}


def conv_out(size: int, kernel: int, stride: int, padding: int) -> int:
    """Output size of a convolution/pool window (floor mode)."""
    return (size + 2 * padding - kernel) // stride + 1


@dataclass(frozen=True)
class Layer:
    """One layer. Spatial ops use the conv fields, matrix ops use M/N/K.

    * conv/dwconv/pool: input ``batch x in_c x in_h x in_w``, ``out_c``
      filters of ``kernel_h x kernel_w`` in ``groups`` groups (dwconv:
      groups = in_c; pool: out_c = in_c).
    * gemm: activations A[M x K] times weights B[K x N] (M carries batch
      and sequence length).
    * matmul: activations times activations, ``batch`` independent
      products (e.g. batch x heads), B from the second input.
    * lstm: M timesteps of gates = [x_t, h_t-1] (K = input + hidden) times
      W[K x N] (N = 4 x hidden), for ``batch`` sequences.
    * embedding: M lookups of N-wide rows in a table of K rows.
    * eltwise: element-wise combination of its inputs (in_c x in_h x in_w).
    """

    name: str
    op: str
    batch: int = 1
    in_c: int = 0
    in_h: int = 1
    in_w: int = 1
    out_c: int = 0
    kernel_h: int = 1
    kernel_w: int = 1
    stride: int = 1
    padding: int = 0
    groups: int = 1
    out_h: int = 1
    out_w: int = 1
    M: int = 0
    N: int = 0
    K: int = 0
    in_elem_bytes: int = 1
    weight_elem_bytes: int = 1
    out_elem_bytes: int = 1
    inputs: tuple[str, ...] = ()  # producers; () = the network input
    block: str = ""  # layer-block id ('' = none)
    tasks: tuple[str, ...] = ()  # tasks that activate the layer; () = all
    expert: int | None = None  # expert id for mixture-of-experts layers
    weights: str = ""  # an earlier layer whose weight tensor this one reuses ('' = its own)
    row_offset: int = 0  # gemm: first row of the input it reads (a token chunk of a larger input)
    output_into: str = ""  # gemm: writes its rows (from row_offset) into this earlier gemm's output
    line: int | None = field(default=None, compare=False, repr=False)

    # -- GEMM view -------------------------------------------------------
    @property
    def is_compute(self) -> bool:
        return self.op in COMPUTE_OPS

    def gemm_dims(self) -> tuple[int, int, int, int]:
        """(M, N, K, groups) of the systolic-array work; zeros for vector ops."""
        if self.op in ("conv", "dwconv"):
            g = self.groups
            return (self.batch * self.out_h * self.out_w, self.out_c // g,
                    self.kernel_h * self.kernel_w * (self.in_c // g), g)
        if self.op == "gemm":
            return (self.M, self.N, self.K, 1)
        if self.op == "matmul":
            return (self.M, self.N, self.K, self.batch)
        if self.op == "lstm":
            # one GEMM per timestep (the recurrence serialises them), weights shared
            return (self.batch, self.N, self.K, self.M)
        return (0, 0, 0, 0)

    @property
    def macs(self) -> int:
        m, n, k, g = self.gemm_dims()
        return m * n * k * g

    @property
    def params(self) -> int:
        """Weight elements (parameters, biases excluded)."""
        if self.op in ("conv", "dwconv"):
            return self.out_c * (self.in_c // self.groups) * self.kernel_h * self.kernel_w
        if self.op in ("gemm", "lstm", "embedding"):
            return self.K * self.N
        return 0

    @property
    def weight_bytes(self) -> int:
        return self.params * self.weight_elem_bytes

    @property
    def lstm_hidden(self) -> int:
        return self.N // 4

    def input_elems(self) -> tuple[int, ...]:
        """Elements read from each input operand (A first, then B for matmul)."""
        if self.op in WINDOW_OPS:
            return (self.batch * self.in_c * self.in_h * self.in_w,)
        if self.op == "gemm":
            return (self.M * self.K,)
        if self.op == "matmul":
            return (self.batch * self.M * self.K, self.batch * self.K * self.N)
        if self.op == "lstm":
            return (self.batch * self.M * (self.K - self.lstm_hidden),)
        if self.op == "embedding":
            return (self.M,)  # indices, one element each
        if self.op == "eltwise":
            n_in = max(1, len(self.inputs))
            return (self.batch * self.in_c * self.in_h * self.in_w,) * n_in
        return ()

    @property
    def input_bytes(self) -> int:
        return sum(self.input_elems()) * self.in_elem_bytes

    @property
    def output_elems(self) -> int:
        if self.op in WINDOW_OPS:
            return self.batch * self.out_c * self.out_h * self.out_w
        if self.op in ("gemm", "embedding"):
            return self.M * self.N
        if self.op == "matmul":
            return self.batch * self.M * self.N
        if self.op == "lstm":
            return self.batch * self.M * self.lstm_hidden
        if self.op == "eltwise":
            return self.batch * self.in_c * self.in_h * self.in_w
        return 0

    @property
    def output_bytes(self) -> int:
        return self.output_elems * self.out_elem_bytes

    @property
    def vector_ops(self) -> int:
        """Element operations on the vector path (pool/eltwise/embedding)."""
        if self.op == "pool":
            return self.output_elems * self.kernel_h * self.kernel_w
        if self.op == "eltwise":
            return self.output_elems * max(1, len(self.inputs) - 1)
        if self.op == "embedding":
            return self.output_elems
        return 0

    def to_row(self) -> dict[str, object]:
        spatial = self.op in ("conv", "dwconv", "pool", "eltwise")
        row: dict[str, object] = {}
        for col in COLUMNS:
            if (col in _SPATIAL_COLUMNS and not spatial) or (col in _MATRIX_COLUMNS and spatial):
                row[col] = ""  # not part of this op's shape
            elif col == "inputs":
                row[col] = ";".join(self.inputs) or NETWORK_INPUT
            elif col == "task":
                row[col] = ";".join(self.tasks)
            elif col == "expert":
                row[col] = "" if self.expert is None else self.expert
            elif col == "row_offset":
                row[col] = self.row_offset or ""
            else:
                row[col] = getattr(self, col)
        return row


@dataclass(frozen=True)
class Trace:
    name: str
    layers: tuple[Layer, ...]
    source: str = field(default="", compare=False)

    def __len__(self) -> int:
        return len(self.layers)

    def __iter__(self):
        return iter(self.layers)

    def layer(self, name: str) -> Layer:
        return self.by_name[name]

    @cached_property
    def by_name(self) -> dict[str, Layer]:
        """The layers by name (built once: the engine looks producers up at every layer)."""
        out: dict[str, Layer] = {}
        for layer in self.layers:
            out.setdefault(layer.name, layer)  # the first of a name, as a scan finds it
        return out

    @cached_property
    def consumers(self) -> dict[str, tuple[str, ...]]:
        """Each layer's readers, in trace order."""
        out: dict[str, list[str]] = {layer.name: [] for layer in self.layers}
        for layer in self.layers:
            for producer in layer.inputs:
                out[producer].append(layer.name)
        return {name: tuple(readers) for name, readers in out.items()}

    @property
    def macs(self) -> int:
        return sum(layer.macs for layer in self.layers)

    @property
    def params(self) -> int:
        """Parameters stored (layers that reuse another layer's weights add none)."""
        return sum(layer.params for layer in self.layers if not layer.weights)

    @property
    def weight_bytes(self) -> int:
        return sum(layer.weight_bytes for layer in self.layers if not layer.weights)

    @property
    def activation_bytes(self) -> int:
        """Bytes of all layer outputs (each activation tensor counted once)."""
        return sum(layer.output_bytes for layer in self.layers)

    @property
    def tasks(self) -> tuple[str, ...]:
        seen: dict[str, None] = {}
        for layer in self.layers:
            for t in layer.tasks:
                seen.setdefault(t, None)
        return tuple(seen)

    def for_task(self, task: str) -> Trace:
        """The layers a task activates (shared layers plus its own)."""
        if task not in self.tasks:
            raise KeyError(f"{self.name} has no task {task!r} (tasks: {', '.join(self.tasks) or 'none'})")
        kept = [l for l in self.layers if not l.tasks or task in l.tasks]
        names = {l.name for l in kept}
        # inputs from layers the task does not run drop out (e.g. inactive experts of a combine)
        kept = [l if all(p in names for p in l.inputs) else
                dataclasses.replace(l, inputs=tuple(p for p in l.inputs if p in names)) for l in kept]
        return dataclasses.replace(self, name=f"{self.name}[{task}]", layers=tuple(kept))

    def totals(self) -> dict[str, object]:
        return {
            "name": self.name,
            "layers": len(self.layers),
            "macs": self.macs,
            "params": self.params,
            "weight_bytes": self.weight_bytes,
            "activation_bytes": self.activation_bytes,
        }

    def to_frame(self):
        """Layer table with derived columns (pandas DataFrame)."""
        import pandas as pd

        rows = []
        for layer in self.layers:
            row = layer.to_row()
            row.update(macs=layer.macs, params=layer.params, weight_bytes=layer.weight_bytes,
                       input_bytes=layer.input_bytes, output_bytes=layer.output_bytes)
            rows.append(row)
        return pd.DataFrame(rows)


# -- reading -------------------------------------------------------------------

def _int_field(value: str, col: str, source: str, line: int) -> int | None:
    text = value.strip()
    if text == "":
        return None
    # a zero fraction is allowed (spreadsheets write 64.0); float() is not used: it
    # would also read 3e0, 1_0 and non-ASCII digits
    whole, dot, fraction = text.partition(".")
    try:
        if dot and fraction.strip("0"):
            raise ValueError(text)
        number = parse_int_text(whole)
    except ValueError:
        raise InputError(source, col, f"expected an integer, got {text!r}", line) from None
    if number < 0:
        raise InputError(source, col, f"must not be negative, got {number}", line)
    return number


def _names(value: str, col: str, err) -> tuple[str, ...]:
    """The `;`-separated names of a cell; an empty one (`a;;b`, a lone `;`) is an error,
    not a name left out (a lone `;` would silently mean the network input)."""
    if not value.strip():
        return ()
    names = tuple(p.strip() for p in value.split(";"))
    if not all(names):
        raise err(col, f"empty name in {value!r} (names are separated by ';')")
    bad = next((n for n in names if has_control_character(n)), None)
    if bad is not None:
        raise err(col, f"name holds a control character or line break: {bad!r}")
    return names


def make_layer(fields: dict[str, object], *, source: str = "<builder>", line: int | None = None,
               previous: str | None = None, known: Sequence[str] = (),
               known_layers: dict[str, Layer] | None = None) -> Layer:
    """Validate one layer's fields (already typed) and derive the rest.

    `previous` is the name of the layer before (the default input);
    `known` are the names of earlier layers that `inputs` and `weights` may
    refer to; `known_layers` (name -> layer), when given, lets a `weights`
    reference be checked for the same weight shape.
    """
    def err(col: str, msg: str) -> InputError:
        return InputError(source, col, msg, line)

    name = str(fields.get("name") or "").strip()
    if not name:
        raise err("name", "layer name is empty")
    if has_control_character(name):
        raise err("name", f"layer name holds a control character or line break: {name!r}")
    # an `inputs` cell could not name such a layer: '-' there is the network input, ';' splits names
    if name == NETWORK_INPUT:
        raise err("name", f"layer name {name!r} is how inputs names the network input: rename the layer")
    if ";" in name:
        raise err("name", f"layer name {name!r} holds ';', which separates the names in inputs")
    op = str(fields.get("op") or "").strip().lower()
    if op not in OPS:
        raise err("op", f"unknown op {op!r} (ops: {', '.join(OPS)})")
    f = {k: v for k, v in fields.items() if v is not None and v != ""}
    for col in OP_COLUMNS[op]:
        if f.get(col) is None and not (op == "dwconv" and col == "out_c"):
            raise err(col, f"required for op {op}")
    for col in INT_COLUMNS:
        if col in f and (isinstance(f[col], bool) or not isinstance(f[col], int) or f[col] < 0):
            raise err(col, f"expected a non-negative integer, got {f[col]!r}")
        limit = MAX_ELEM_BYTES if col.endswith("_elem_bytes") else MAX_DIM
        if col in f and f[col] > limit:
            raise err(col, f"must be at most {limit}, got {f[col]}")

    kw: dict[str, object] = {"name": name, "op": op}
    for col in ("batch", "stride", "groups", "in_elem_bytes", "weight_elem_bytes", "out_elem_bytes"):
        value = f.get(col, 1)
        if value < 1:
            raise err(col, f"must be at least 1, got {value}")
        kw[col] = value
    kw["padding"] = f.get("padding", 0)
    if op not in WINDOW_OPS:  # no window: these cells, if given, are checked below
        kw.update(stride=1, padding=0)

    if op in ("conv", "dwconv", "pool", "eltwise"):
        for col in ("in_c", "in_h", "in_w"):
            if f[col] < 1:
                raise err(col, f"must be at least 1, got {f[col]}")
            kw[col] = f[col]
    if op in WINDOW_OPS:
        kh, kw_ = f["kernel_h"], f["kernel_w"]
        for col, v in (("kernel_h", kh), ("kernel_w", kw_)):
            if v < 1:
                raise err(col, f"must be at least 1, got {v}")
        pad = kw["padding"]
        if kh > f["in_h"] + 2 * pad:
            raise err("kernel_h", f"kernel {kh} is larger than the padded input height {f['in_h'] + 2 * pad}")
        if kw_ > f["in_w"] + 2 * pad:
            raise err("kernel_w", f"kernel {kw_} is larger than the padded input width {f['in_w'] + 2 * pad}")
        kw.update(kernel_h=kh, kernel_w=kw_)
        stride = kw["stride"]
        for col, size, k in (("out_h", f["in_h"], kh), ("out_w", f["in_w"], kw_)):
            derived = conv_out(size, k, stride, pad)
            given = f.get(col)
            if given is not None:
                # importers with asymmetric padding store the exact output size: the end pad
                # may exceed the begin pad by up to a stride (SAME padding, ceil mode)
                if not 1 <= given <= (size + 2 * pad - k + stride) // stride + 1:
                    raise err(col, f"{given} is impossible for input {size}, kernel {k}, stride {stride}, padding {pad}")
                derived = given
            kw[col] = derived
    if op == "conv":
        g = kw["groups"]
        if f["out_c"] < 1:
            raise err("out_c", f"must be at least 1, got {f['out_c']}")
        if f["in_c"] % g:
            raise err("groups", f"in_c {f['in_c']} is not divisible by groups {g}")
        if f["out_c"] % g:
            raise err("groups", f"out_c {f['out_c']} is not divisible by groups {g}")
        kw["out_c"] = f["out_c"]
    elif op == "dwconv":
        g = f.get("groups", f["in_c"])
        if g != f["in_c"]:
            raise err("groups", f"a depthwise conv has groups = in_c ({f['in_c']}), got {g}")
        out_c = f.get("out_c", f["in_c"])
        if out_c < 1 or out_c % f["in_c"]:
            raise err("out_c", f"must be a positive multiple of in_c {f['in_c']}, got {out_c}")
        kw.update(groups=g, out_c=out_c)
    elif op == "pool":
        out_c = f.get("out_c", f["in_c"])
        if out_c != f["in_c"]:
            raise err("out_c", f"a pool keeps its channels: out_c must equal in_c {f['in_c']}, got {out_c}")
        kw.update(out_c=out_c, groups=1)
    elif op == "eltwise":
        kw.update(out_c=f["in_c"], out_h=f["in_h"], out_w=f["in_w"], groups=1)
    else:  # gemm, matmul, lstm, embedding
        for col in ("M", "N", "K"):
            if f[col] < 1:
                raise err(col, f"must be at least 1, got {f[col]}")
            kw[col] = f[col]
        if op in ("gemm", "lstm", "embedding") and kw["batch"] != 1 and op != "lstm":
            raise err("batch", f"{op} carries batch in M; batch must be 1, got {kw['batch']}")
        if op == "lstm":
            if f["N"] % 4:
                raise err("N", f"an LSTM's N is 4 x hidden size, got {f['N']}")
            if f["K"] <= f["N"] // 4:
                raise err("K", f"an LSTM's K is input size + hidden size (> {f['N'] // 4}), got {f['K']}")

    raw_inputs = fields.get("inputs")
    if raw_inputs == NETWORK_INPUT:
        inputs: tuple[str, ...] = ()
    elif isinstance(raw_inputs, str):
        inputs = _names(raw_inputs, "inputs", err)
    else:
        inputs = tuple(raw_inputs or ())
    if not inputs and previous is not None and raw_inputs is None:
        inputs = (previous,)
    known_set = known if isinstance(known, (set, frozenset, dict)) else set(known)  # readers pass a dict: O(1)
    for producer in inputs:
        if producer == name:
            raise err("inputs", f"layer {name!r} cannot feed itself")
        if producer not in known_set:
            raise err("inputs", f"no earlier layer named {producer!r}")
    if op == "matmul" and len(inputs) > 2:
        raise err("inputs", f"a matmul has at most two inputs, got {len(inputs)}")
    kw["inputs"] = inputs

    block = fields.get("block")
    kw["block"] = "" if block is None else str(block).strip()
    raw_tasks = fields.get("task", fields.get("tasks"))
    kw["tasks"] = _names(raw_tasks, "task", err) if isinstance(raw_tasks, str) else tuple(raw_tasks or ())
    twice = next((x for i, x in enumerate(kw["tasks"]) if x in kw["tasks"][:i]), None)
    if twice is not None:
        raise err("task", f"task {twice!r} given twice")
    expert = fields.get("expert")
    if expert not in (None, ""):
        if isinstance(expert, bool) or not isinstance(expert, int) or expert < 0:
            raise err("expert", f"expected a non-negative integer, got {expert!r}")
        if expert > MAX_DIM:
            raise err("expert", f"must be at most {MAX_DIM}, got {expert}")
        kw["expert"] = expert
    shared = str(fields.get("weights") or "").strip()
    if shared:
        if op not in ("conv", "dwconv", "gemm", "lstm", "embedding"):
            raise err("weights", f"op {op} has no weights to share")
        if shared == name or shared not in known_set:
            raise err("weights", f"no earlier layer named {shared!r}")
        kw["weights"] = shared
    offset = f.get("row_offset", 0)
    if offset:
        if op != "gemm":
            raise err("row_offset", f"only a gemm reads a row range of its input, not a {op}")
        if not inputs:
            raise err("row_offset", "the network input has no rows to skip")
        kw["row_offset"] = offset
    into = str(fields.get("output_into") or "").strip()
    if into:
        if op != "gemm":
            raise err("output_into", f"only a gemm writes into another layer's output, not a {op}")
        if into == name or into not in known_set:
            raise err("output_into", f"no earlier layer named {into!r}")
        kw["output_into"] = into
    kw["line"] = line
    layer = Layer(**kw)
    for col in INT_COLUMNS:
        if col in f and f[col] != getattr(layer, col):
            if col in _USED_COLUMNS[op]:
                raise err(col, f"{f[col]} contradicts the op's other columns ({op} {name!r} has {col} "
                               f"{getattr(layer, col)})")
            raise err(col, f"not used by op {op}: leave it empty (got {f[col]})")
    work = max(layer.macs, layer.vector_ops, layer.output_elems, *layer.input_elems())
    if work > MAX_LAYER_MACS:
        raise err("layer", f"{name}: {work:.3g} operations or elements is more than a layer may have (2^53)")
    if into and known_layers is not None:
        dst = known_layers[into]
        if dst.op != "gemm" or dst.N != layer.N or dst.out_elem_bytes != layer.out_elem_bytes:
            raise err("output_into", f"{into!r} is not a gemm with N = {layer.N}")
        if dst.output_into:  # the layout places chunks at offsets of an output that owns its buffer
            raise err("output_into", f"{into!r} is itself a chunk of {dst.output_into!r}: "
                                     f"write into {dst.output_into!r}")
    if offset and known_layers is not None and not known_layers[inputs[0]].output_into:
        # the rows it reads lie inside its input (a chunk producer holds only the chunk's own rows)
        held = sum(known_layers[p].output_elems for p in inputs)
        if (offset + layer.M) * layer.K > held:
            raise err("row_offset", f"reads rows {offset}..{offset + layer.M - 1} of its input, which holds "
                                    f"{held // layer.K} rows of K = {layer.K} elements")
    if shared and known_layers is not None:
        src = known_layers[shared]
        if (src.op, src.params, src.weight_elem_bytes) != (layer.op, layer.params, layer.weight_elem_bytes):
            raise err("weights", f"{shared!r} has {src.params} {src.op} weights, this layer needs "
                                 f"{layer.params} {layer.op} weights")
    return layer


def _csv_rows(reader, source: str, offset: int):
    """The reader's rows; a row the csv module refuses (a field over its size limit,
    a NUL) is an InputError at its line."""
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise InputError(source, "row", f"malformed CSV: {exc}", offset + reader.line_num) from None
        yield row


def parse_trace_text(text: str, source: str, name: str | None = None) -> Trace:
    """Parse trace CSV text. Blank lines and lines starting with '#' are ignored."""
    lines = csv_lines(text)
    # the header is the first line that is neither blank nor a comment
    header_index = next((i for i, l in enumerate(lines) if l.strip() and not l.lstrip().startswith("#")), None)
    if header_index is None:
        raise InputError(source, "header", "empty trace: no header line", 1)
    # comment lines are blanked before the CSV reader sees them: a quote in a
    # comment must not open a field that swallows the rows after it
    body = ["" if l.lstrip().startswith("#") else l for l in lines[header_index:]]
    reader = csv.reader(io.StringIO("\n".join(body)), strict=True)  # an unclosed quote is an error, not a row
    rows = _csv_rows(reader, source, header_index)
    header = [h.strip() for h in next(rows)]
    header_line = header_index + 1
    while header and header[-1] == "":
        header.pop()  # tolerate a trailing comma
    for col in REQUIRED_COLUMNS:
        if col not in header:
            raise InputError(source, col, "required column is missing from the header", header_line)
    if "" in header:  # the message needs a field to name: an unnamed column would leave it empty
        raise InputError(source, "header", f"column {header.index('') + 1} has no name (an index column, as "
                                           "pandas' to_csv writes one without index=False?)", header_line)
    unknown = [h for h in header if h not in COLUMNS]
    if unknown:
        raise InputError(source, unknown[0], f"unknown column (columns: {', '.join(COLUMNS)})", header_line)
    repeated = next((h for i, h in enumerate(header) if h in header[:i]), None)
    if repeated is not None:
        raise InputError(source, repeated, "column given twice in the header", header_line)

    layers: list[Layer] = []
    names: list[str] = []
    by_name: dict[str, Layer] = {}
    row_end = reader.line_num
    for row in rows:
        line = header_index + row_end + 1  # the row's first line (a quoted field may span lines)
        row_end = reader.line_num
        if not any(cell.strip() for cell in row):
            continue
        extra = row[len(header):]
        if any(cell.strip() for cell in extra):
            raise InputError(source, "row", f"{len(row)} fields but the header has {len(header)}", line)
        if len(row) < len(header):  # a cut-off row would take defaults (stride 1, ...) for what it lost
            raise InputError(source, "row", f"{len(row)} fields but the header has {len(header)} (a cell "
                                            "left empty takes its default; a missing one is an error)", line)
        values = dict(zip(header, row))
        fields: dict[str, object] = {}
        for col, value in values.items():
            if col in INT_COLUMNS or col == "expert":
                fields[col] = _int_field(value, col, source, line)
            else:
                fields[col] = value.strip()
        if "inputs" in values and not values["inputs"].strip():
            fields["inputs"] = None  # empty cell: the previous layer
        if fields.get("name") in by_name:
            raise InputError(source, "name", f"duplicate layer name {fields['name']!r}", line)
        layer = make_layer(fields, source=source, line=line,
                           previous=names[-1] if names else None, known=by_name, known_layers=by_name)
        layers.append(layer)
        names.append(layer.name)
        by_name[layer.name] = layer
    if not layers:
        raise InputError(source, "rows", "trace has no layers", header_line)
    _check_chunks(layers, source)
    return Trace(name=name or Path(source).stem, layers=tuple(layers), source=source)


def _check_chunks(layers: Sequence[Layer], source: str) -> None:
    """Chunks writing into one output fill it: none ends past the rows that the
    output and all its chunks write together (a stray row_offset would place
    rows far beyond the tensor)."""
    rows: dict[str, int] = {}
    by_name = {layer.name: layer for layer in layers}
    for layer in layers:
        if layer.output_into:
            rows[layer.output_into] = rows.get(layer.output_into, by_name[layer.output_into].M) + layer.M
    for layer in layers:
        if layer.output_into and layer.row_offset + layer.M > rows[layer.output_into]:
            raise InputError(source, "row_offset", f"writes rows {layer.row_offset}..{layer.row_offset + layer.M - 1} "
                                                   f"of {layer.output_into!r}, which with all its chunks has "
                                                   f"{rows[layer.output_into]} rows", layer.line)


def read_trace(path: str | Path, name: str | None = None) -> Trace:
    """Read and validate a trace CSV file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")  # tolerate a byte-order mark (spreadsheet exports)
    except FileNotFoundError:
        raise InputError(str(path), "file", "no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(str(path), "file", f"cannot read: {exc}", decode_error_line(exc)) from None
    return parse_trace_text(text, str(path), name)


def trace_to_csv(trace: Trace) -> str:
    out = io.StringIO()
    rows = [layer.to_row() for layer in trace.layers]
    columns = [c for c in COLUMNS if c not in SPARSE_COLUMNS or any(r[c] not in ("", 0) for r in rows)]
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        if row["name"].startswith("#"):  # unquoted, the reader would take the row for a comment
            out.write('"' + row["name"].replace('"', '""') + '"')
            row = {**row, "name": ""}  # an empty first field: the rest of the row follows the quoted name
        writer.writerow(row)
    return out.getvalue()


def write_trace(trace: Trace, path: str | Path) -> None:
    Path(path).write_text(trace_to_csv(trace), encoding="utf-8")


def trace_from_layers(name: str, layers: Iterable[Layer], source: str = "") -> Trace:
    """A trace from already-validated layers (checks names and edges)."""
    layers = tuple(layers)
    seen: set[str] = set()
    for layer in layers:
        if layer.name in seen:
            raise InputError(source or name, "name", f"duplicate layer name {layer.name!r}", layer.line)
        for producer in layer.inputs:
            if producer not in seen:
                raise InputError(source or name, "inputs", f"no earlier layer named {producer!r}", layer.line)
        seen.add(layer.name)
    _check_chunks(layers, source or name)
    return Trace(name=name, layers=layers, source=source)
