"""Multi-task and mixture-of-experts workloads (docs/TRACES.md, "Multi-task models").

In these traces, which weights a request touches depends on the task:

* ``m3vit``: M³ViT (Liang et al., NeurIPS 2022) in the NYUD-v2 four-task
  configuration of its released code: a ViT-S/16 backbone whose MLP in every
  other block is a 16-expert mixture-of-experts layer with one router per task;
  each task runs its own top-4 experts and its own decoder head.
* ``decision_transformer``: the multi-task Prompt Decision Transformer used on
  Meta-World MT50 by HarmoDT (ICML 2024) and SoCo-DT: GPT-style trunk over
  (return, state, action) tokens of a prompt and a context window.
* ``grec``: a generalist recommender after GRec (Wang et al., CIKM 2023):
  embedding tables, an NLP head, parallel transformer towers, a wide-and-deep
  part, a task-routed mixture-of-experts layer and one head per task.
* ``coe_experts``: a collaboration-of-experts set after CoServe (ASPLOS 2025):
  small expert models for circuit-board inspection and the dependency graph
  of which expert's output triggers which (`coe_graph()`).

Layers carry `task` (the tasks that run them; empty = shared) and, in
mixture-of-experts layers, `expert`. The full trace is every task's work;
``Trace.for_task(t)`` is task t's pathway. Expert routing is deterministic
(`task_experts`), so traces are reproducible.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from ..builder import Tensor, TraceBuilder
from ..trace import Trace
from . import ParameterError, Published, model
from .transformers import attention_half, encoder_layer, mlp_half


MAX_EXPERTS = 4096  # per MoE layer (checked in task_experts, which every MoE layer's routing calls)
MAX_DT_LAYERS = 20_000  # decision_transformer: 9 trace layers per GPT layer


def task_experts(task_index: int, n_tasks: int, experts: int, top_k: int, layer: int = 0) -> tuple[int, ...]:
    """The `top_k` experts task `task_index` (of `n_tasks`) routes to in MoE layer `layer`.

    Task i uses experts ``(s * (i + n_tasks * layer) + j) mod experts`` for
    ``j < top_k``, with stride ``s = max(1, min(top_k - 1, experts // n_tasks))``:
    neighbouring tasks share one expert when there is room for it, and the
    assignment rotates from one MoE layer to the next, so every expert is used
    somewhere in a deep model.
    """
    if experts > MAX_EXPERTS:
        raise ParameterError("experts", f"must be at most {MAX_EXPERTS}, got {experts}")
    if not 1 <= top_k <= experts:
        raise ParameterError("top_k", f"must be between 1 and the number of experts ({experts}), got {top_k}")
    if not 0 <= task_index < n_tasks:
        raise ValueError(f"task index {task_index} out of range for {n_tasks} tasks")
    stride = max(1, min(top_k - 1, experts // n_tasks))
    start = stride * (task_index + n_tasks * layer)
    return tuple(sorted({(start + j) % experts for j in range(top_k)}))


def _image_hw(image_size: int | tuple[int, int] | list[int]) -> tuple[int, int]:
    def integer(v: object) -> bool:
        return isinstance(v, int) and not isinstance(v, bool)

    if integer(image_size):
        return image_size, image_size  # type: ignore[return-value]
    hw = tuple(image_size) if isinstance(image_size, (tuple, list)) else ()
    if len(hw) != 2 or not all(integer(v) for v in hw):
        raise ParameterError("image_size", f"must be an integer or (height, width) integers, got {image_size!r}")
    return hw  # type: ignore[return-value]


MOE_MODES = ("reordered", "sparse", "dense")


def moe_layer(b: TraceBuilder, x: Tensor, prefix: str, *, tasks: tuple[str, ...], experts: int, top_k: int,
              hidden: int, layer: int, tokens: int, mode: str = "reordered", token_chunk: int = 64) -> Tensor:
    """A task-routed mixture-of-experts MLP: one gate per task, each task's top-k experts
    (two-layer MLPs ``dim -> hidden -> dim``) over all `tokens` rows, and the weighted
    combine with the residual. Block ``<prefix>.moe``.

    `mode` (M³ViT's three ways to run it):

    * ``reordered``: expert by expert, each over all tokens (tokens grouped per
      expert, so each expert's weights are fetched once per layer). Experts no
      task routes to are never executed and have no rows.
    * ``sparse``: the task's experts in token order: for each chunk of
      `token_chunk` tokens, every routed expert runs on that chunk, so the k
      experts' weights are read again for every chunk (the chunks write into one
      output per expert: ``weights``/``output_into``/``row_offset`` columns).
    * ``dense``: every one of the `experts` runs over all tokens for every task
      (the dense multi-task baseline).
    """
    if mode not in MOE_MODES:
        raise ParameterError("moe", f"must be one of {', '.join(MOE_MODES)}, got {mode!r}")
    if token_chunk < 1:
        raise ParameterError("token_chunk", f"must be at least 1, got {token_chunk}")
    dim = x.c
    routing = {t: task_experts(i, len(tasks), experts, top_k, layer) for i, t in enumerate(tasks)}
    b.block(f"{prefix}.moe")
    for t in tasks:
        b.tasks(t)
        b.gemm(f"{prefix}.moe.gate.{t}", x, experts)
    users = {e: (tuple(t for t in tasks if e in routing[t]) if mode != "dense" else ()) for e in range(experts)}
    active = [e for e in range(experts) if mode == "dense" or users[e]]
    rows = tokens * b.batch
    outs = {}
    if mode == "sparse":
        chunk = token_chunk * b.batch
        for c, off in enumerate(range(0, rows, chunk)):
            n = min(chunk, rows - off)
            for e in active:
                b.tasks(*users[e], expert=e)
                fc1, fc2 = f"{prefix}.moe.expert{e}.fc1", f"{prefix}.moe.expert{e}.fc2"
                if c == 0:
                    h = b.gemm(fc1, x, hidden, rows=n)
                    outs[e] = b.gemm(fc2, h, dim, rows=n)
                else:
                    h = b.gemm(f"{fc1}.rows{off}", x, hidden, rows=n, row_offset=off, weights=fc1, output_into=fc1)
                    b.gemm(f"{fc2}.rows{off}", h, dim, rows=n, row_offset=off, weights=fc2, output_into=fc2)
    else:
        for e in active:
            b.tasks(*users[e], expert=e)
            h = b.gemm(f"{prefix}.moe.expert{e}.fc1", x, hidden)
            outs[e] = b.gemm(f"{prefix}.moe.expert{e}.fc2", h, dim)
    b.tasks()
    # weighted sum of the active experts plus the residual (a task's inactive experts drop out)
    y = b.eltwise(f"{prefix}.moe.combine", [Tensor(outs[e].producer, dim, tokens, 1) for e in active] + [x],
                  shape=(dim, tokens, 1))
    b.block("")
    return Tensor(y.producer, dim, tokens, 1)


# -- M³ViT ----------------------------------------------------------------------------------

M3VIT_TASKS = ("seg", "depth", "normal", "edge")
M3VIT_OUT_CHANNELS = {"seg": 40, "depth": 1, "normal": 3, "edge": 1}  # NYUD-v2: 40 classes


def m3vit_routing(experts: int = 16, top_k: int = 4, depth: int = 12) -> dict[int, dict[str, tuple[int, ...]]]:
    """{block index: {task: experts}} for the MoE blocks (the odd ones) of `m3vit`."""
    moe_blocks = [i for i in range(depth) if i % 2 == 1]
    return {i: {t: task_experts(ti, len(M3VIT_TASKS), experts, top_k, m) for ti, t in enumerate(M3VIT_TASKS)}
            for m, i in enumerate(moe_blocks)}


@model("m3vit", family="multitask",
       description="M³ViT (NYUD-v2, 4 tasks): ViT-S/16 at 480x640, 16-expert MoE MLP in every other block, "
                   "per-task router and top-4 experts, per-task PUP decoder",
       published=Published(source="Liang et al., M³ViT (NeurIPS 2022) and its code (VITA-Group/M3ViT: "
                                  "configs/nyud/vit*/pup_*vit_small*.yml, README: --moe_experts 16 --moe_top_k 4 "
                                  "--moe_mlp_ratio 1 --multi_gate True)",
                           note="no MAC/parameter total of this configuration is published"))
def m3vit(batch: int = 1, image_size: int | tuple[int, int] = (480, 640), experts: int = 16, top_k: int = 4,
          head: str = "pup", moe: str = "reordered", token_chunk: int = 64) -> Trace:
    """ViT-S/16 (dim 384, 12 blocks, 12 heads as in M³ViT's configs) with a class token;
    blocks 1, 3, ... 11 replace the MLP by the MoE layer (expert hidden width = dim).
    `head="pup"`: the progressive-upsampling decoder of the code (3x3 convs 384->256
    then 256->256 at 1/16, 1/8, 1/4, 1/2 of the image, 1x1 to the task's channels;
    the x2 bilinear upsampling between convs is data movement, not a layer);
    `head="none"`: the backbone only. `moe` is how the MoE layers run
    (`reordered`, `sparse` in token order with `token_chunk`-token chunks, or
    `dense` with every expert active; see `moe_layer`)."""
    if head not in ("pup", "none"):
        raise ParameterError("head", f"must be 'pup' or 'none', got {head!r}")
    dim, heads, depth = 384, 12, 12
    h, w = _image_hw(image_size)
    b = TraceBuilder("m3vit", batch=batch)
    x = b.input(3, h, w)
    p = b.conv("patch_embed", x, dim, 16, stride=16)
    gh, gw = p.h, p.w
    tokens = gh * gw + 1  # patches + class token
    x = Tensor(p.producer, dim, tokens, 1)
    for i in range(depth):
        prefix = f"blocks.{i}"
        x = attention_half(b, x, prefix, dim=dim, heads=heads, tokens=tokens)
        if i % 2 == 0:
            x = mlp_half(b, x, prefix, dim=dim, mlp=4 * dim, tokens=tokens)
        else:
            x = moe_layer(b, x, prefix, tasks=M3VIT_TASKS, experts=experts, top_k=top_k, hidden=dim,
                          layer=i // 2, tokens=tokens, mode=moe, token_chunk=token_chunk)
    if head == "pup":
        fmap = Tensor(x.producer, dim, gh, gw)  # patch tokens as a map (class token dropped)
        for t in M3VIT_TASKS:
            b.tasks(t)
            b.block(f"head.{t}")
            y = b.conv(f"head.{t}.conv_0", fmap, 256, 3, padding=1)
            for k in (1, 2, 3):
                y = b.conv(f"head.{t}.conv_{k}", Tensor(y.producer, 256, 2 * y.h, 2 * y.w), 256, 3, padding=1)
            b.conv(f"head.{t}.conv_4", y, M3VIT_OUT_CHANNELS[t], 1)
            b.block("")
        b.tasks()
    return b.build()


# -- multi-task Decision Transformer -------------------------------------------------------------

@model("decision_transformer", family="multitask",
       description="Multi-task Prompt Decision Transformer for Meta-World MT50 (HarmoDT/SoCo-DT setting): "
                   "GPT trunk of 6 layers, dim 256, 8 heads; 5-step prompt + 20-step context",
       published=Published(source="Chen et al., Decision Transformer (NeurIPS 2021); Xu et al., Prompt-DT "
                                  "(ICML 2022); Hu et al., HarmoDT (ICML 2024), code charleshsc/HarmoDT main.py "
                                  "defaults (K=20, embed_dim 256, n_layer 6, n_head 8, prompt length 5); "
                                  "Meta-World MT50 (Yu et al., CoRL 2019): 39-D states, 4-D actions",
                           note="no MAC/parameter total published"))
def decision_transformer(batch: int = 1, context: int = 20, prompt: int = 5, dim: int = 256, layers: int = 6,
                         heads: int = 8, state_dim: int = 39, action_dim: int = 4, max_ep_len: int = 1000) -> Trace:
    """Tokens are (return-to-go, state, action) per step for the task's prompt segment
    (`prompt` steps, its own embeddings) followed by the `context` window; timestep
    embeddings are tables of `max_ep_len` rows. The trunk is GPT-2 (causal; the masked
    half of the attention is still computed); only the action head runs at inference.
    Tasks differ by their prompt (data), not by weights: the trace has no task column."""
    if layers > MAX_DT_LAYERS:
        raise ParameterError("layers", f"must be at most {MAX_DT_LAYERS}, got {layers}")
    b = TraceBuilder("decision_transformer", batch=batch)
    tokens = 3 * (prompt + context)
    parts = []
    for seg, steps in (("prompt_", prompt), ("", context)):
        if steps == 0:
            continue
        states = b.input(state_dim, steps, 1)
        actions = b.input(action_dim, steps, 1)
        returns = b.input(1, steps, 1)
        times = b.input(1, steps, 1)
        t = b.embedding(f"{seg}embed_timestep", times, table_rows=max_ep_len, dim=dim, lookups=batch * steps)
        for kind, src in (("return", returns), ("state", states), ("action", actions)):
            e = b.gemm(f"{seg}embed_{kind}", src, dim)
            parts.append(b.eltwise(f"{seg}embed_{kind}.add_time", [e, t], shape=(dim, steps, 1)))
    # interleave (R, s, a) per step, prompt first, and the embedding layer norm: one pass over the tokens
    x = b.eltwise("embed_stack", parts, shape=(dim, tokens, 1))
    x = Tensor(x.producer, dim, tokens, 1)
    for i in range(layers):
        x = encoder_layer(b, x, f"gpt.{i}", dim=dim, heads=heads, mlp=4 * dim, tokens=tokens)
    b.gemm("predict_action", Tensor(x.producer, dim, context, 1), action_dim)  # on the context's state tokens
    return b.build()


# -- generalist recommender ------------------------------------------------------------------------------

GREC_TASKS = ("ctr", "cvr", "atc", "share")


@model("grec", family="multitask",
       description="Generalist recommender after GRec: 26 embedding tables, NLP head, two parallel transformer "
                   "towers, wide & deep, task-routed 8-expert MoE (top-3), heads ctr/cvr/atc/share; 128 candidates",
       published=Published(source="Wang et al., GRec: Efficient Multi-Task Learning via Generalist Recommender "
                                  "(CIKM 2023, arXiv:2504.05318): architecture; sizes chosen here after DLRM "
                                  "(Naumov et al., 2019: Criteo's 13 dense / 26 sparse features)",
                           note="no MAC/parameter total published"))
def grec(batch: int = 1, candidates: int = 128, table_rows: int = 100_000, dim: int = 64, text_tokens: int = 32,
         experts: int = 8, top_k: int = 3) -> Trace:
    """Scores `candidates` items per request (rows = batch x candidates). Sparse features
    are 26 embedding lookups; 13 dense features go through a bottom MLP; the item text
    (`text_tokens` word pieces) through an NLP head (embedding + 2-layer transformer,
    dim 128, mean-pooled); two parallel 2-layer transformer towers (user, item) attend
    over the 28 feature tokens; wide (linear) and deep (MLP) parts combine them; a
    mixture-of-experts layer routes each task's sentence to its top-k experts; each
    task has a head. Tasks: ctr, cvr, atc (add to cart), share."""
    if candidates < 1:
        raise ParameterError("candidates", f"must be at least 1, got {candidates}")
    rows = batch * candidates
    b = TraceBuilder("grec", batch=rows)  # per-candidate shapes below; `batch` columns carry the rows
    sparse = b.input(26, 1, 1)
    dense = b.input(13, 1, 1)
    text = b.input(1, text_tokens, 1)
    embs = [b.embedding(f"emb.{i}", sparse, table_rows=table_rows, dim=dim, lookups=rows) for i in range(26)]
    d = b.gemm("bottom.0", dense, 512)
    d = b.gemm("bottom.1", d, 256)
    d = b.gemm("bottom.2", d, dim)
    # NLP head over the item text: word-piece embedding, 2 transformer layers, mean pool, projection
    tdim = 128
    t = b.embedding("nlp.embedding", text, table_rows=30522, dim=tdim, lookups=rows * text_tokens)
    t = Tensor(t.producer, tdim, text_tokens, 1)
    for i in range(2):
        t = encoder_layer(b, t, f"nlp.{i}", dim=tdim, heads=2, mlp=4 * tdim, tokens=text_tokens)
    pooled = b.pool("nlp.pool", Tensor(t.producer, tdim, text_tokens, 1), (text_tokens, 1), stride=1)
    tv = b.gemm("nlp.proj", pooled, dim)
    feats = 28  # 26 sparse + dense + text, as tokens
    # stacking the 28 feature vectors into a token matrix: reads each once
    tok = b.eltwise("tokens", embs + [d, tv], shape=(dim, 1, 1))
    x = Tensor(tok.producer, dim, feats, 1)
    towers = []
    for tower in ("user", "item"):
        y = x
        for i in range(2):
            y = encoder_layer(b, y, f"tower.{tower}.{i}", dim=dim, heads=2, mlp=2 * dim, tokens=feats)
        towers.append(Tensor(y.producer, feats * dim, 1, 1))
    wide = b.gemm("wide", Tensor(tok.producer, feats * dim, 1, 1), 256)
    h = b.gemm("deep.0", towers, 1024)  # the two towers' outputs, concatenated
    h = b.gemm("deep.1", h, 512)
    h = b.gemm("deep.2", h, 256)
    shared = b.eltwise("wide_deep", [h, wide], shape=(256, 1, 1))
    s = Tensor(shared.producer, 256, 1, 1)
    # task-sentence MoE: each task's sentence routes to its top-k experts
    y = moe_layer(b, s, "task_sentence", tasks=GREC_TASKS, experts=experts, top_k=top_k, hidden=256, layer=0, tokens=1)
    for task in GREC_TASKS:
        b.tasks(task)
        g = b.gemm(f"head.{task}.0", y, 128)
        b.gemm(f"head.{task}.1", g, 1)
    b.tasks()
    return b.build()


# -- collaboration of experts ---------------------------------------------------------------------

Edge = tuple[str, float]


@dataclass(frozen=True)
class CoEGraph(Mapping[str, tuple[Edge, ...]]):
    """Which expert's output triggers which expert (CoServe's expert dependency).

    A mapping ``expert -> ((successor, probability), ...)``. A request starts at
    `entry`; when an expert finishes, each of its edges fires independently with
    its probability and queues that successor (an expert runs at most once per
    request). `sample(rng)` draws one request's experts in execution order,
    `expected_runs()` gives how often each expert runs per request on average.
    """

    entry: str
    edges: Mapping[str, tuple[Edge, ...]] = field(default_factory=dict)

    def __getitem__(self, expert: str) -> tuple[Edge, ...]:
        return self.edges[expert]

    def __iter__(self) -> Iterator[str]:
        return iter(self.edges)

    def __len__(self) -> int:
        return len(self.edges)

    def successors(self, expert: str) -> tuple[str, ...]:
        return tuple(dst for dst, _ in self.edges[expert])

    def sample(self, rng: random.Random) -> list[str]:
        order, queue, seen = [], [self.entry], {self.entry}
        while queue:
            expert = queue.pop(0)
            order.append(expert)
            for dst, prob in self.edges[expert]:
                if dst not in seen and rng.random() < prob:
                    seen.add(dst)
                    queue.append(dst)
        return order

    def expected_runs(self) -> dict[str, float]:
        """P(expert runs in a request): ``1 - prod(1 - P(src runs) * p)`` over its incoming
        edges, in topological order. Exact when an expert's predecessors run independently
        of each other (true of `coe_experts`' graph, a fan-out from the entry); an
        approximation for graphs where they share uncertain ancestors."""
        reach = {e: 0.0 for e in self.edges}
        reach[self.entry] = 1.0
        for expert in self._topological():
            if expert == self.entry:
                continue
            miss = 1.0
            for src, out in self.edges.items():
                for dst, prob in out:
                    if dst == expert:
                        miss *= 1.0 - reach[src] * prob
            reach[expert] = 1.0 - miss
        return reach

    def _topological(self) -> list[str]:
        indeg = {e: 0 for e in self.edges}
        for out in self.edges.values():
            for dst, _ in out:
                indeg[dst] += 1
        ready = [e for e, d in indeg.items() if d == 0]
        order = []
        while ready:
            e = ready.pop(0)
            order.append(e)
            for dst, _ in self.edges[e]:
                indeg[dst] -= 1
                if indeg[dst] == 0:
                    ready.append(dst)
        if len(order) != len(self.edges):
            raise ValueError("the expert graph has a cycle")
        return order


# CoServe-style circuit-board inspection: the detector finds components; each component
# type triggers its defect classifier; IC markings go to OCR, suspicious solder to the
# segmenter. Probabilities are the share of boards on which the edge fires (chosen here).
COE_GRAPH = CoEGraph(entry="detector", edges={
    "detector": (("resistor", 0.9), ("capacitor", 0.8), ("ic", 0.6), ("connector", 0.4)),
    "resistor": (("solder", 0.1),),
    "capacitor": (("solder", 0.1),),
    "ic": (("ocr", 0.7), ("solder", 0.3)),
    "connector": (("solder", 0.5),),
    "ocr": (),
    "solder": (),
})


def coe_graph() -> CoEGraph:
    """The expert dependency graph of `coe_experts` (expert names = the trace's tasks)."""
    return COE_GRAPH


def _classifier(b: TraceBuilder, name: str, x: Tensor, widths: tuple[int, ...], classes: int) -> None:
    """A small ResNet-style classifier: per stage a strided 3x3 conv and a 3x3 conv."""
    for i, w in enumerate(widths):
        x = b.conv(f"{name}.conv{i}a", x, w, 3, stride=2 if i else 1, padding=1)
        x = b.conv(f"{name}.conv{i}b", x, w, 3, padding=1)
    p = b.global_pool(f"{name}.pool", x)
    b.gemm(f"{name}.fc", p, classes)


@model("coe_experts", family="multitask",
       description="Collaboration of experts for circuit-board inspection (after CoServe): a detector, four "
                   "component defect classifiers, an OCR transformer and a solder segmenter; task = expert name, "
                   "dependency graph in workloads.coe_graph()",
       published=Published(source="Suo et al., CoServe: Efficient Collaboration-of-Experts (CoE) Model Inference "
                                  "with Limited Memory (ASPLOS 2025, arXiv:2503.02354): expert dependency; expert "
                                  "architectures and sizes chosen here",
                           note="no MAC/parameter total published"))
def coe_experts(batch: int = 1, image_size: int = 320, crop: int = 64) -> Trace:
    """Experts (each layer's `task` is its expert): ``detector`` (YOLO-style CNN on the
    board image, `image_size`), ``resistor``/``capacitor``/``ic``/``connector``
    (defect classifiers on `crop` x `crop` component crops), ``ocr`` (4-layer
    transformer reading an IC's marking, 64 patch tokens) and ``solder`` (an
    encoder-decoder CNN segmenting solder joints on a 2x crop). Expert inputs are
    crops of the image (`-`); which expert runs after which is `coe_graph()`."""
    b = TraceBuilder("coe_experts", batch=batch)
    img = b.input(3, image_size, image_size)
    b.tasks("detector")
    x = img
    for i, w in enumerate((16, 32, 64, 128, 256)):
        x = b.conv(f"detector.conv{i}", x, w, 3, padding=1)
        x = b.pool(f"detector.pool{i}", x, 2, stride=2)
    x = b.conv("detector.conv5", x, 512, 3, padding=1)
    x = b.conv("detector.conv6", x, 256, 1)
    b.conv("detector.head", x, 3 * (5 + 4), 1)  # 3 anchors x (box, objectness, 4 component classes)
    patch = b.input(3, crop, crop)
    for name, widths in (("resistor", (32, 64, 128)), ("capacitor", (32, 64, 128)), ("ic", (64, 128, 256)),
                         ("connector", (32, 64, 128, 256))):
        b.tasks(name)
        _classifier(b, name, patch, widths, 6)
    b.tasks("ocr")
    marking = b.input(3, 32, 128)
    t = b.conv("ocr.patch_embed", marking, 256, 8, stride=8)
    tokens = t.h * t.w
    t = Tensor(t.producer, 256, tokens, 1)
    for i in range(4):
        t = encoder_layer(b, t, f"ocr.{i}", dim=256, heads=4, mlp=1024, tokens=tokens)
    b.gemm("ocr.chars", t, 96)
    b.tasks("solder")
    s = b.input(3, 2 * crop, 2 * crop)
    e1 = b.conv("solder.enc1", s, 32, 3, padding=1)
    e2 = b.conv("solder.enc2", e1, 64, 3, stride=2, padding=1)
    e3 = b.conv("solder.enc3", e2, 128, 3, stride=2, padding=1)
    d2 = b.conv("solder.dec2", Tensor(e3.producer, 128, e2.h, e2.w), 64, 3, padding=1)  # x2 upsampled
    d1 = b.conv("solder.dec1", [Tensor(d2.producer, 64, e1.h, e1.w), e1], 32, 3, padding=1)  # skip concat
    b.conv("solder.out", d1, 2, 1)
    b.tasks()
    return b.build()
