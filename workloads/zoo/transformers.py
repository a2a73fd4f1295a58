"""Transformer and recurrent models of CaMDN's set: ViT-B/16, BERT-base,
wav2vec 2.0 base, GNMT.

Layer norms, GELU and dropout fuse into neighbouring layers; softmax is an
element-wise layer over the attention scores. Attention is two `matmul`
layers (batch x heads independent products); projections are `gemm`s with
M = batch x tokens. Each encoder layer forms two layer blocks: attention
(qkv, scores, softmax, context, projection, residual add) and MLP.
"""

from __future__ import annotations

from ..builder import Tensor, TraceBuilder
from ..trace import Trace
from . import ParameterError, Published, model


def attention_half(b: TraceBuilder, x: Tensor, prefix: str, *, dim: int, heads: int, tokens: int) -> Tensor:
    """Multi-head self-attention with its projection and residual add (layer norm fused):
    qkv (gemm), scores and context (`batch x heads` matmuls), softmax, proj, add.
    Forms layer block ``<prefix>.attn``."""
    if dim % heads:
        raise ValueError(f"{prefix}: heads ({heads}) must divide the width dim ({dim})")
    bh = b.batch * heads
    hd = dim // heads
    b.block(f"{prefix}.attn")
    qkv = b.gemm(f"{prefix}.qkv", x, 3 * dim)
    s = b.matmul(f"{prefix}.scores", qkv, qkv, m=tokens, n=tokens, k=hd, batch=bh)
    p = b.eltwise(f"{prefix}.softmax", [s], shape=(tokens, tokens, heads))  # x batch
    c = b.matmul(f"{prefix}.context", p, qkv, m=tokens, n=hd, k=tokens, batch=bh)
    o = b.gemm(f"{prefix}.proj", Tensor(c.producer, dim, tokens, 1), dim)
    x = b.eltwise(f"{prefix}.add1", [o, x], shape=(dim, tokens, 1))
    b.block("")
    return Tensor(x.producer, dim, tokens, 1)


def mlp_half(b: TraceBuilder, x: Tensor, prefix: str, *, dim: int, mlp: int, tokens: int) -> Tensor:
    """The feed-forward half (fc1, activation fused, fc2, residual add); block ``<prefix>.mlp``."""
    b.block(f"{prefix}.mlp")
    h = b.gemm(f"{prefix}.fc1", x, mlp)
    h = b.gemm(f"{prefix}.fc2", h, dim)
    x = b.eltwise(f"{prefix}.add2", [h, x], shape=(dim, tokens, 1))
    b.block("")
    return Tensor(x.producer, dim, tokens, 1)


def encoder_layer(b: TraceBuilder, x: Tensor, prefix: str, *, dim: int, heads: int, mlp: int, tokens: int) -> Tensor:
    """A transformer encoder layer on `tokens` tokens (norms fused): attention half, MLP half."""
    x = attention_half(b, x, prefix, dim=dim, heads=heads, tokens=tokens)
    return mlp_half(b, x, prefix, dim=dim, mlp=mlp, tokens=tokens)


@model("vit_b16", family="transformer", description="ViT-B/16 at 224x224 (torchvision): 197 tokens, 12 layers",
       published=Published(macs=17.56e9, params=86.567656e6,
                           source="torchvision ViT_B_16_Weights.IMAGENET1K_V1: 17.56 GFLOPS, 86.6 M params"))
def vit_b16(batch: int = 1, image_size: int = 224) -> Trace:
    b = TraceBuilder("vit_b16", batch=batch)
    x = b.input(3, image_size, image_size)
    p = b.conv("conv_proj", x, 768, 16, stride=16)
    tokens = p.h * p.w + 1  # patches + class token
    x = Tensor(p.producer, 768, tokens, 1)
    for i in range(12):
        x = encoder_layer(b, x, f"encoder.{i}", dim=768, heads=12, mlp=3072, tokens=tokens)
    b.gemm("heads", Tensor(x.producer, 768, 1, 1), 1000)  # the class token only
    return b.build()


@model("bert_base", family="transformer", description="BERT-base (uncased) encoder, sequence 256 by default",
       published=Published(params=110e6, source="Devlin et al., BERT (NAACL 2019): BERT-BASE 110 M parameters"))
def bert_base(batch: int = 1, seq_len: int = 256) -> Trace:
    b = TraceBuilder("bert_base", batch=batch)
    ids = b.input(1, seq_len, 1)
    w = b.embedding("embeddings.word", ids, table_rows=30522, dim=768, lookups=batch * seq_len)
    pe = b.embedding("embeddings.position", ids, table_rows=512, dim=768, lookups=batch * seq_len)
    te = b.embedding("embeddings.token_type", ids, table_rows=2, dim=768, lookups=batch * seq_len)
    x = b.eltwise("embeddings.sum", [w, pe, te], shape=(768, seq_len, 1))
    x = Tensor(x.producer, 768, seq_len, 1)
    for i in range(12):
        x = encoder_layer(b, x, f"encoder.{i}", dim=768, heads=12, mlp=3072, tokens=seq_len)
    b.gemm("pooler", Tensor(x.producer, 768, 1, 1), 768)
    return b.build()


@model("wav2vec2_base", family="transformer",
       description="wav2vec 2.0 BASE: 7-layer conv feature encoder on 1 s of 16 kHz audio, 12-layer transformer",
       published=Published(params=95e6, source="Baevski et al., wav2vec 2.0 (NeurIPS 2020): BASE 95 M parameters"))
def wav2vec2_base(batch: int = 1, seconds: float = 1.0) -> Trace:
    b = TraceBuilder("wav2vec2_base", batch=batch)
    if not seconds > 0:
        raise ParameterError("seconds", f"must be positive, got {seconds!r}")
    samples = int(round(16000 * seconds))
    x = b.input(1, 1, samples)
    for i, (k, s) in enumerate(((10, 5), (3, 2), (3, 2), (3, 2), (3, 2), (2, 2), (2, 2))):
        x = b.conv(f"feature_extractor.conv{i}", x, 512, (1, k), stride=s)
    frames = x.w
    x = b.gemm("feature_projection", Tensor(x.producer, 512, frames, 1), 768)
    # convolutional relative position embedding: 128-tap grouped conv over time
    pos = b.conv("pos_conv", Tensor(x.producer, 768, 1, frames), 768, (1, 128), padding=64, groups=16,
                 out_hw=(1, frames))
    x = b.eltwise("pos_add", [pos, x], shape=(768, frames, 1))
    x = Tensor(x.producer, 768, frames, 1)
    for i in range(12):
        x = encoder_layer(b, x, f"encoder.{i}", dim=768, heads=12, mlp=3072, tokens=frames)
    return b.build()


@model("gnmt", family="recurrent",
       description="GNMT v2 (MLPerf / NVIDIA reference): 4-layer LSTM encoder (first bidirectional), 4-layer LSTM "
                   "decoder, normalized Bahdanau attention from the first decoder layer, hidden 1024, 32k vocabulary",
       published=Published(source="Wu et al., GNMT (arXiv:1609.08144, 2016); GNMT v2 as in MLPerf rnn_translator "
                                  "and NVIDIA DeepLearningExamples PyTorch/Translation/GNMT (architecture only)",
                           note="no total published for this configuration; source and target length 50 by default"))
def gnmt(batch: int = 1, seq_len: int = 50, hidden: int = 1024, vocab: int = 32320) -> Trace:
    """GNMT v2: the attention reads the first decoder layer's output and its context
    feeds every later decoder layer; residual adds from the third layer on (encoder
    and decoder). Decoding is modelled with teacher forcing over `seq_len` target
    steps: one LSTM GEMM per step (weights shared); the first decoder layer does not
    depend on the attention, so the attention of all steps is one product per
    sentence, as the reference computes it with teacher forcing."""
    b = TraceBuilder("gnmt", batch=batch)
    rows = batch * seq_len
    src = b.input(1, seq_len, 1)
    e = b.embedding("encoder.embedding", src, table_rows=vocab, dim=hidden, lookups=rows)
    b.block("encoder")
    fwd = b.lstm("encoder.l0.fwd", e, hidden, steps=seq_len)
    bwd = b.lstm("encoder.l0.bwd", e, hidden, steps=seq_len)
    x = b.lstm("encoder.l1", [fwd, bwd], hidden, steps=seq_len)
    for i in (2, 3):
        y = b.lstm(f"encoder.l{i}", x, hidden, steps=seq_len)
        x = b.eltwise(f"encoder.l{i}.add", [y, x], shape=(hidden, seq_len, 1))
        x = Tensor(x.producer, hidden, seq_len, 1)
    b.block("")
    memory = x
    keys = b.gemm("attention.keys", memory, hidden)  # linear_k over the encoder output, once per sentence
    tgt = b.input(1, seq_len, 1)
    d = b.embedding("decoder.embedding", tgt, table_rows=vocab, dim=hidden, lookups=rows)
    b.block("decoder")
    x = b.lstm("decoder.l0", d, hidden, steps=seq_len)
    q = b.gemm("attention.query", x, hidden)
    # the attention of every target step at once (the first decoder layer does not depend on
    # it): scores over the source (the v-dot of the additive score has the MACs of this
    # product), softmax, then the context vectors
    s = b.matmul("attention.scores", q, keys, m=seq_len, n=seq_len, k=hidden, batch=batch)
    p = b.eltwise("attention.softmax", [s], shape=(seq_len, seq_len, 1))  # x batch
    ctx = b.matmul("attention.context", p, memory, m=seq_len, n=hidden, k=seq_len, batch=batch)
    ctx = Tensor(ctx.producer, hidden, seq_len, 1)
    for i in (1, 2, 3):
        y = b.lstm(f"decoder.l{i}", [x, ctx], hidden, steps=seq_len)
        if i >= 2:
            y = b.eltwise(f"decoder.l{i}.add", [y, x], shape=(hidden, seq_len, 1))
            y = Tensor(y.producer, hidden, seq_len, 1)
        x = y
    b.block("")
    b.gemm("classifier", x, vocab)
    return b.build()
