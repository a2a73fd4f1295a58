"""A small builder that tracks tensor shapes, so zoo models read like their papers.

    b = TraceBuilder("tiny")
    x = b.input(3, 32, 32)
    x = b.conv("conv1", x, 16, 3, padding=1)
    y = b.conv("conv2", x, 16, 3, padding=1)
    x = b.eltwise("add", [x, y])
    trace = b.build()
"""

from __future__ import annotations

from dataclasses import dataclass

from npusim.errors import InputError

from .trace import Layer, Trace, make_layer, trace_from_layers

MAX_BUILT_LAYERS = 200_000  # a model built from parameters stops here rather than fill memory


@dataclass(frozen=True)
class Tensor:
    """An activation: `producer` is the layer that wrote it ('' = network input).

    Feature maps are (c, h, w); token matrices are (rows=h, features=c) with w = 1.
    Shapes are per example: the builder's `batch` multiplies them.
    """

    producer: str
    c: int
    h: int = 1
    w: int = 1


class TraceBuilder:
    def __init__(self, name: str, *, batch: int = 1, elem_bytes: int = 1):
        self.name = name
        self.batch = batch
        self.elem_bytes = elem_bytes
        self.layers: list[Layer] = []
        self._by_name: dict[str, Layer] = {}  # the layers by name: O(1) reference checks
        self._block = ""
        self._tasks: tuple[str, ...] = ()
        self._expert: int | None = None

    # -- context for the layers that follow -------------------------------
    def block(self, block_id: str) -> TraceBuilder:
        """Layers added next belong to layer block `block_id` ('' ends it)."""
        self._block = block_id
        return self

    def tasks(self, *tasks: str, expert: int | None = None) -> TraceBuilder:
        """Layers added next are activated only by `tasks` (none = all)."""
        self._tasks = tuple(tasks)
        self._expert = expert
        return self

    # -- layers ------------------------------------------------------------
    def input(self, c: int, h: int = 1, w: int = 1) -> Tensor:
        return Tensor("", c, h, w)

    def _add(self, inputs: list[Tensor], **fields) -> Layer:
        fields.setdefault("in_elem_bytes", self.elem_bytes)
        fields.setdefault("weight_elem_bytes", self.elem_bytes)
        fields.setdefault("out_elem_bytes", self.elem_bytes)
        fields.setdefault("block", self._block)
        fields.setdefault("task", self._tasks)
        fields.setdefault("expert", self._expert)
        if len(self.layers) >= MAX_BUILT_LAYERS:
            raise ValueError(f"these parameters make more than {MAX_BUILT_LAYERS} layers")
        producers = [t.producer for t in inputs if t.producer]
        fields["inputs"] = tuple(producers)
        try:
            layer = make_layer(fields, source=self.name, known=self._by_name, known_layers=self._by_name)
        except InputError as exc:
            if exc.field == "layer":  # its message already starts with the layer's name
                raise
            # a built layer has no line or column of its own: the message names both
            raise InputError(self.name, "layer", f"{fields['name']} ({exc.field}): {exc.message}") from None
        self.layers.append(layer)
        self._by_name[layer.name] = layer
        return layer

    def conv(self, name: str, x: Tensor | list[Tensor], out_c: int, kernel: int | tuple[int, int], *,
             stride: int = 1, padding: int = 0, groups: int = 1, in_hw: tuple[int, int] | None = None,
             out_hw: tuple[int, int] | None = None) -> Tensor:
        """A convolution; a list of inputs is their channel concatenation.

        `in_hw` reads a window of that size of the input (traces transcribed
        from code that does so); `out_hw` fixes the output size (asymmetric or
        one-sided padding, e.g. 1-D convolutions with padding along W only).
        """
        xs, c, h, w, kh, kw, extra = _window_input(x, kernel, in_hw, out_hw)
        layer = self._add(xs, name=name, op="conv", batch=self.batch, in_c=c, in_h=h, in_w=w,
                          out_c=out_c, kernel_h=kh, kernel_w=kw, stride=stride, padding=padding,
                          groups=groups, **extra)
        return Tensor(name, out_c, layer.out_h, layer.out_w)

    def dwconv(self, name: str, x: Tensor, kernel: int | tuple[int, int], *, stride: int = 1,
               padding: int = 0, multiplier: int = 1) -> Tensor:
        kh, kw = _kernel_hw(kernel)
        layer = self._add([x], name=name, op="dwconv", batch=self.batch, in_c=x.c, in_h=x.h, in_w=x.w,
                          out_c=x.c * multiplier, kernel_h=kh, kernel_w=kw, stride=stride,
                          padding=padding, groups=x.c)
        return Tensor(name, layer.out_c, layer.out_h, layer.out_w)

    def pool(self, name: str, x: Tensor | list[Tensor], kernel: int | tuple[int, int], *,
             stride: int | None = None, padding: int = 0, in_hw: tuple[int, int] | None = None,
             out_hw: tuple[int, int] | None = None) -> Tensor:
        xs, c, h, w, kh, kw, extra = _window_input(x, kernel, in_hw, out_hw)
        layer = self._add(xs, name=name, op="pool", batch=self.batch, in_c=c, in_h=h, in_w=w,
                          kernel_h=kh, kernel_w=kw, stride=stride or kh, padding=padding, **extra)
        return Tensor(name, c, layer.out_h, layer.out_w)

    def global_pool(self, name: str, x: Tensor) -> Tensor:
        return self.pool(name, x, (x.h, x.w), stride=1)

    def eltwise(self, name: str, xs: list[Tensor], *, shape: tuple[int, int, int] | None = None) -> Tensor:
        """Element-wise combination of same-shaped tensors; `shape` (c, h, w)
        overrides the shape executed (traces transcribed as executed)."""
        c, h, w = shape if shape else (xs[0].c, xs[0].h, xs[0].w)
        self._add(list(xs), name=name, op="eltwise", batch=self.batch, in_c=c, in_h=h, in_w=w)
        return Tensor(name, c, h, w)

    def gemm(self, name: str, x: Tensor | list[Tensor], out_features: int, *, rows: int | None = None,
             row_offset: int = 0, weights: str = "", output_into: str = "") -> Tensor:
        """x (rows x features) times a weight matrix; rows default to x.h * x.w * batch.

        A list of inputs is their concatenation along features (K = the sum of
        their widths; rows from the first), as for `conv` and `lstm`.
        `row_offset` reads rows from that row of x on (a chunk of tokens);
        `weights` names an earlier gemm whose weight matrix is reused;
        `output_into` writes the rows into that earlier gemm's output (from row
        `row_offset`), so chunks of one product fill one tensor.
        """
        xs = x if isinstance(x, list) else [x]
        per_example = xs[0].h * xs[0].w if rows is None else max(1, rows // self.batch)
        m = rows if rows is not None else per_example * self.batch
        k = sum(t.c for t in xs)
        self._add(xs, name=name, op="gemm", M=m, N=out_features, K=k, row_offset=row_offset, weights=weights,
                  output_into=output_into)
        return Tensor(name, out_features, per_example, 1)  # tensors are per example; M carries the batch

    def matmul(self, name: str, a: Tensor, b: Tensor, *, m: int, n: int, k: int, batch: int = 1) -> Tensor:
        """`batch` independent products A[m x k] B[k x n] of two activations."""
        self._add([a, b], name=name, op="matmul", batch=batch, M=m, N=n, K=k)
        return Tensor(name, n * batch, m, 1)

    def lstm(self, name: str, x: Tensor | list[Tensor], hidden: int, *, steps: int,
             input_size: int | None = None) -> Tensor:
        """One LSTM layer over `steps` timesteps; a list of inputs is concatenated."""
        xs = x if isinstance(x, list) else [x]
        in_size = input_size if input_size is not None else sum(t.c for t in xs)
        self._add(xs, name=name, op="lstm", batch=self.batch, M=steps, N=4 * hidden, K=in_size + hidden)
        return Tensor(name, hidden, steps, 1)

    def embedding(self, name: str, x: Tensor, *, table_rows: int, dim: int, lookups: int) -> Tensor:
        self._add([x], name=name, op="embedding", M=lookups, N=dim, K=table_rows)
        return Tensor(name, dim, lookups, 1)

    def build(self) -> Trace:
        return trace_from_layers(self.name, self.layers)


def _kernel_hw(kernel: int | tuple[int, int]) -> tuple[int, int]:
    return (kernel, kernel) if isinstance(kernel, int) else kernel


def _window_input(x: Tensor | list[Tensor], kernel: int | tuple[int, int], in_hw: tuple[int, int] | None,
                  out_hw: tuple[int, int] | None):
    """The inputs of a windowed layer (conv, pool): tensors, concatenated channels,
    the (possibly windowed) input size, kernel size and any fixed output size."""
    xs = x if isinstance(x, list) else [x]
    h, w = in_hw if in_hw else (xs[0].h, xs[0].w)
    extra = {"out_h": out_hw[0], "out_w": out_hw[1]} if out_hw else {}
    return (xs, sum(t.c for t in xs), h, w, *_kernel_hw(kernel), extra)
