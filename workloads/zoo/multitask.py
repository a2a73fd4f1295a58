"""Multi-task and mixture-of-experts workloads.

* ``m3vit`` — M³ViT (Liang et al., NeurIPS 2022): a ViT-S/16 backbone whose
  MLP in every other block is a mixture-of-experts layer of 16 experts; each
  task (NYUD-v2: semantic segmentation, depth, surface normals, edges) routes
  through its own top-4 experts. Layers carry `task` (which tasks activate them;
  empty = shared) and `expert`. The full trace is the dense multi-task model
  (every expert and head active); ``Trace.for_task(t)`` is task t's sparse
  pathway. Each expert is a two-layer MLP of hidden width dim so that four
  active experts cost what ViT-S's dense MLP (hidden 4 x dim) costs.
* ``decision_transformer`` — a multi-task Decision Transformer for Meta-World
  MT50 (Yu et al., CoRL 2019: 39-D observations, 4-D actions, 50 tasks):
  GPT-style trunk over interleaved return/state/action tokens of a 20-step
  context, with a task-id embedding.
* ``grec`` — a generalist recommender: embedding tables of sparse features,
  a bottom MLP for dense ones, two parallel transformer towers over the
  feature tokens, wide and deep parts, and task-routed heads (ctr, cvr, like,
  share) marked by `task`.
* ``coe_experts`` — a collaboration-of-experts set (as served by CoServe):
  small expert models, each marked by `task` = its name, and a dependency graph
  (`coe_graph()`): which expert's output triggers which next expert, with what
  probability.
"""

from __future__ import annotations

from ..builder import Tensor, TraceBuilder
from ..trace import Trace
from . import Published, model
from .transformers import encoder_layer

M3VIT_TASKS = ("seg", "depth", "normal", "edge")
# each task's top-4 experts out of 16; neighbouring tasks share one expert
M3VIT_EXPERTS = {"seg": (0, 1, 2, 3), "depth": (3, 4, 5, 6), "normal": (6, 7, 8, 9), "edge": (9, 10, 11, 12)}
M3VIT_HEAD_CHANNELS = {"seg": 40, "depth": 1, "normal": 3, "edge": 1}


@model("m3vit", family="multitask",
       description="M³ViT: ViT-S/16 with 16-expert MoE MLPs in every other block, task-routed top-4 experts",
       published=Published(source="Liang et al., M³ViT (NeurIPS 2022): ViT-S backbone, 16 experts, top-k "
                                  "routing per task; 88 % fewer FLOPs for single-task inference"))
def m3vit(batch: int = 1, image_size: int = 384, experts: int = 16) -> Trace:
    dim, heads, depth = 384, 6, 12
    b = TraceBuilder("m3vit", batch=batch)
    x = b.input(3, image_size, image_size)
    p = b.conv("patch_embed", x, dim, 16, stride=16)
    grid = p.h
    tokens = p.h * p.w
    x = Tensor(p.producer, dim, tokens, 1)
    for i in range(depth):
        if i % 2 == 0:
            x = encoder_layer(b, x, f"blocks.{i}", dim=dim, heads=heads, mlp=4 * dim, tokens=tokens)
            continue
        # attention half of the block, then the MoE MLP
        bh = batch * heads
        b.block(f"blocks.{i}.attn")
        qkv = b.gemm(f"blocks.{i}.qkv", x, 3 * dim)
        s = b.matmul(f"blocks.{i}.scores", qkv, qkv, m=tokens, n=tokens, k=dim // heads, batch=bh)
        sm = b.eltwise(f"blocks.{i}.softmax", [s], shape=(tokens, tokens, bh))
        c = b.matmul(f"blocks.{i}.context", sm, qkv, m=tokens, n=dim // heads, k=tokens, batch=bh)
        o = b.gemm(f"blocks.{i}.proj", Tensor(c.producer, dim, tokens, 1), dim)
        x = b.eltwise(f"blocks.{i}.add1", [o, x], shape=(dim, tokens, 1))
        x = Tensor(x.producer, dim, tokens, 1)
        b.block("")
        outs = []
        for e in range(experts):
            users = tuple(t for t in M3VIT_TASKS if e in M3VIT_EXPERTS[t])
            if not users:
                continue  # experts no modelled task routes to are never executed
            b.tasks(*users, expert=e)
            h = b.gemm(f"blocks.{i}.moe.expert{e}.fc1", x, dim)
            outs.append(b.gemm(f"blocks.{i}.moe.expert{e}.fc2", h, dim))
        for t in M3VIT_TASKS:
            b.tasks(t)
            b.gemm(f"blocks.{i}.moe.gate.{t}", x, experts)
        b.tasks()
        # weighted sum of the active experts plus the residual (inactive experts drop out per task)
        x = b.eltwise(f"blocks.{i}.moe.combine", outs + [x], shape=(dim, tokens, 1))
        x = Tensor(x.producer, dim, tokens, 1)
    fmap = Tensor(x.producer, dim, grid, grid)
    for t in M3VIT_TASKS:
        b.tasks(t)
        h = b.conv(f"head.{t}.conv1", fmap, 256, 3, padding=1)
        b.conv(f"head.{t}.conv2", h, M3VIT_HEAD_CHANNELS[t], 1)
    b.tasks()
    return b.build()


@model("decision_transformer", family="multitask",
       description="Multi-task Decision Transformer for Meta-World MT50: 6-layer GPT trunk (dim 512), 20-step context",
       published=Published(source="Chen et al., Decision Transformer (NeurIPS 2021); Meta-World MT50 (Yu et al., "
                                  "CoRL 2019): 39-D states, 4-D actions, 50 tasks; sizes chosen here, not published"))
def decision_transformer(batch: int = 1, context: int = 20, dim: int = 512, layers: int = 6, heads: int = 8,
                         tasks: int = 50) -> Trace:
    b = TraceBuilder("decision_transformer", batch=batch)
    steps = batch * context
    states = b.input(39, context, 1)
    actions = b.input(4, context, 1)
    returns = b.input(1, context, 1)
    ts = b.input(1, context, 1)
    es = b.gemm("embed_state", states, dim, rows=steps)
    ea = b.gemm("embed_action", actions, dim, rows=steps)
    er = b.gemm("embed_return", returns, dim, rows=steps)
    et = b.embedding("embed_timestep", ts, table_rows=1000, dim=dim, lookups=steps)
    ek = b.embedding("embed_task", ts, table_rows=tasks, dim=dim, lookups=batch)
    tokens = 3 * context + 1  # (return, state, action) per step, plus the task token
    x = b.eltwise("embed_sum", [es, ea, er, et, ek], shape=(dim, tokens, 1))
    x = Tensor(x.producer, dim, tokens, 1)
    for i in range(layers):
        x = encoder_layer(b, x, f"gpt.{i}", dim=dim, heads=heads, mlp=4 * dim, tokens=tokens)
    b.gemm("predict_action", Tensor(x.producer, dim, context, 1), 4)
    return b.build()


GREC_TASKS = ("ctr", "cvr", "like", "share")


@model("grec", family="multitask",
       description="Generalist recommender: 26 embedding tables, bottom MLP, two transformer towers, "
                   "wide & deep, task-routed heads (ctr, cvr, like, share); batch 128",
       published=Published(source="sizes chosen here after DLRM (Naumov et al., 2019: Criteo's 13 dense / 26 "
                                  "sparse features) and multi-task recommenders (MMoE, PLE); not published"))
def grec(batch: int = 128, table_rows: int = 100_000, dim: int = 64) -> Trace:
    b = TraceBuilder("grec", batch=batch)
    sparse = b.input(26, 1, 1)
    dense = b.input(13, 1, 1)
    embs = [b.embedding(f"emb.{i}", sparse, table_rows=table_rows, dim=dim, lookups=batch) for i in range(26)]
    d = b.gemm("bottom.0", dense, 512, rows=batch)
    d = b.gemm("bottom.1", d, 256, rows=batch)
    d = b.gemm("bottom.2", d, dim, rows=batch)
    feats = 27  # 26 sparse + the dense vector, as tokens
    tok = b.eltwise("tokens", embs + [d], shape=(dim, feats, batch))
    x = Tensor(tok.producer, dim, feats * batch, 1)
    towers = []
    for t in ("user", "item"):
        y = x
        for i in range(2):
            b.batch = batch  # attention per example: batch x heads products
            y = _tower_layer(b, y, f"tower.{t}.{i}", dim=dim, heads=2, tokens=feats, batch=batch)
        towers.append(y)
    flat = Tensor(towers[0].producer, 2 * feats * dim, 1, 1)
    wide = b.gemm("wide", Tensor(tok.producer, feats * dim, 1, 1), 1, rows=batch)
    h = b.gemm("deep.0", flat, 1024, rows=batch)
    h = b.gemm("deep.1", h, 512, rows=batch)
    h = b.gemm("deep.2", h, 256, rows=batch)
    shared = b.eltwise("wide_deep", [h, wide], shape=(256, batch, 1))
    for t in GREC_TASKS:
        b.tasks(t)
        g = b.gemm(f"head.{t}.0", Tensor(shared.producer, 256, 1, 1), 128, rows=batch)
        b.gemm(f"head.{t}.1", g, 1, rows=batch)
    b.tasks()
    return b.build()


def _tower_layer(b: TraceBuilder, x: Tensor, prefix: str, *, dim: int, heads: int, tokens: int, batch: int) -> Tensor:
    bh = batch * heads
    rows = tokens * batch
    qkv = b.gemm(f"{prefix}.qkv", x, 3 * dim, rows=rows)
    s = b.matmul(f"{prefix}.scores", qkv, qkv, m=tokens, n=tokens, k=dim // heads, batch=bh)
    c = b.matmul(f"{prefix}.context", s, qkv, m=tokens, n=dim // heads, k=tokens, batch=bh)
    o = b.gemm(f"{prefix}.proj", Tensor(c.producer, dim, rows, 1), dim, rows=rows)
    h = b.gemm(f"{prefix}.fc1", o, 2 * dim, rows=rows)
    h = b.gemm(f"{prefix}.fc2", h, dim, rows=rows)
    return Tensor(h.producer, dim, rows, 1)


# expert -> ((next expert, probability), ...); requests enter at "router" and
# stop when no successor is drawn (probabilities of a row sum to at most 1)
COE_GRAPH: dict[str, tuple[tuple[str, float], ...]] = {
    "router": (("classifier", 0.5), ("detector", 0.3), ("ocr", 0.2)),
    "classifier": (("captioner", 0.3),),
    "detector": (("segmenter", 0.6), ("captioner", 0.2)),
    "ocr": (("captioner", 0.5),),
    "segmenter": (),
    "captioner": (),
}
COE_ENTRY = "router"


def coe_graph() -> dict[str, tuple[tuple[str, float], ...]]:
    """Which expert's output triggers which next expert, with probabilities."""
    return dict(COE_GRAPH)


def _small_cnn(b: TraceBuilder, name: str, x: Tensor, widths: tuple[int, ...], classes: int) -> Tensor:
    for i, w in enumerate(widths):
        x = b.conv(f"{name}.conv{i}", x, w, 3, stride=2 if i else 1, padding=1)
        x = b.conv(f"{name}.conv{i}b", x, w, 3, padding=1)
    p = b.global_pool(f"{name}.pool", x)
    return b.gemm(f"{name}.fc", p, classes)


@model("coe_experts", family="multitask",
       description="Collaboration of experts: a router and five expert models (CNNs and a small transformer); "
                   "layers carry task = expert name; the dependency graph is workloads.coe_graph()",
       published=Published(source="expert set after CoServe (ASPLOS 2025) / collaboration-of-experts serving; "
                                  "sizes chosen here, not published"))
def coe_experts(batch: int = 1, image_size: int = 128) -> Trace:
    b = TraceBuilder("coe_experts", batch=batch)
    img = b.input(3, image_size, image_size)
    b.tasks("router")
    _small_cnn(b, "router", img, (16, 32, 64), 3)
    b.tasks("classifier")
    _small_cnn(b, "classifier", img, (64, 128, 256, 512), 1000)
    b.tasks("detector")
    det = _small_cnn(b, "detector", img, (64, 128, 256, 256), 256)
    b.tasks("ocr")
    _small_cnn(b, "ocr", img, (32, 64, 128, 256), 96)
    b.tasks("segmenter")
    s = b.conv("segmenter.conv0", img, 64, 3, stride=2, padding=1)
    for i in range(1, 5):
        s = b.conv(f"segmenter.conv{i}", s, 128, 3, padding=1)
    b.conv("segmenter.out", s, 21, 1)
    b.tasks("captioner")
    t = Tensor(det.producer, 256, 16, 1)
    for i in range(4):
        t = encoder_layer(b, t, f"captioner.{i}", dim=256, heads=4, mlp=1024, tokens=16)
    b.gemm("captioner.vocab", t, 8000)
    b.tasks()
    return b.build()
