"""Views of the operator decomposition (dse.models.operators) that the system kinds consume.

- :func:`einsum_ops` — the chiplet kind's op chain of einsum ops;
- :func:`linear_ops` — the LLM kind's per-layer rows, linear in a step's tokens and context.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple

import numpy as np

from dse.models.operators import (ATTENTION, CONV, ELEMENTWISE, GEMM, model_operators, parameter_count,
                                  transformer_operators)
from dse.spec.workload import Model, Op, Transformer


def token_grid(tokens: int) -> tuple[int, int]:
    """Lay ``tokens`` out as Y x X with Y*X == tokens, as square as possible (Y >= X).

    Matches how the SCAR/MAESTRO studies express GPT-2 layers as 1x1 convs (1024 tokens = 32x32),
    so that output-stationary arrays see a 2-D output plane, not a 1 x M strip."""
    x = int(math.isqrt(tokens))
    while tokens % x:
        x -= 1
    return tokens // x, x


def einsum_ops(model: Model) -> tuple[Op, ...]:
    """The op chain of a resolved model as einsum ops ``O[n,k,y,x] += I[n,c,..] W[k,c,r,s]``.

    Transformer prefill (per layer ``l<i>.``): a gemm C -> K over ``batch`` requests is
    ``N = batch, K, C`` on the token plane Y x X (:func:`token_grid` of ``seq_len``); the score
    matmul is ``N = batch x heads, K = seq_len, C = head_dim`` and the context matmul
    ``N = batch x heads, K = head_dim, C = seq_len``, both with activation weights; the LM head
    runs on the last token (Y = X = 1). Element-wise operators are fused into their producers and
    not costed; causal masking is not exploited (full Q.K^T, as HF computes it)."""
    ops = model_operators(model)
    t = model.generator
    if not isinstance(t, Transformer):
        return tuple(op.einsum for op in ops if op.kind == CONV)
    y, x = token_grid(t.seq_len)
    p, b, s = t.precision_bits, t.batch, t.seq_len
    out: list[Op] = []

    def one(op, prefix: str) -> Op | None:
        if op.kind == GEMM and op.last_token_only:
            return Op(prefix + op.name, N=b, K=op.out_features, C=op.in_features, precision_bits=p)
        if op.kind == GEMM:
            return Op(prefix + op.name, N=b, K=op.out_features, C=op.in_features, Y=y, X=x, precision_bits=p)
        if op.kind == ATTENTION:
            k, c = (s, op.head_dim) if op.part == "scores" else (op.head_dim, s)
            return Op(prefix + op.name, N=b * op.heads, K=k, C=c, Y=y, X=x, precision_bits=p,
                      weights_static=False)
        return None                                   # element-wise: fused, not costed

    layer_ops = [op for op in ops if op.per_layer]
    for layer in range(t.num_hidden_layers):
        out += [e for e in (one(op, f"l{layer}.") for op in layer_ops) if e is not None]
    out += [e for e in (one(op, "") for op in ops if not op.per_layer) if e is not None]
    return tuple(out)


# --- the LLM view ------------------------------------------------------------------------------

FC, ATTN, ELEM = 0, 1, 2          # op classes of the linear view (what a dispatch policy moves)
CLASSES = ("fc", "attn", "elem")


class LinearArrays(NamedTuple):
    """Per-op coefficient columns (one row per op of :class:`LinearOps`), a kernel argument bundle."""

    cls: np.ndarray          # FC / ATTN / ELEM (int64)
    flop_t: np.ndarray       # FLOPs per query token
    flop_qc: np.ndarray      # FLOPs per (query token x context token)
    byte_w: np.ndarray       # weight bytes
    byte_t: np.ndarray       # activation bytes per query token (in + out)
    byte_c: np.ndarray       # KV-cache bytes per context token
    bcast_t: np.ndarray      # part of byte_t every device of a PIM pool receives whole (FC inputs)
    gpu_div: np.ndarray      # per-GPU share divisor under TP (n / ceil(n / tp); 1 when replicated)
    reps: np.ndarray         # layers (layer ops) or 1 (LM head) (int64)
    last_only: np.ndarray    # 1: runs on the last token of each request in a prefill (LM head) (int64)


@dataclass(frozen=True)
class LinearOps:
    """The LLM kind's view: per-layer ops plus the LM head, whole model width, with TP shares."""

    names: tuple[str, ...]
    arrays: LinearArrays
    layers: int
    hidden: int
    heads: int
    kv_heads: int
    ffn: int
    vocab: int
    elem_bytes: float
    weight_bytes: float      # all parameters held in device memory (incl. an untied embedding)

    @property
    def n(self) -> int:
        return len(self.names)

    @property
    def kv_bytes_per_token(self) -> float:
        """K and V bytes of one context token over all layers."""
        a = self.arrays
        return float(a.byte_c[a.cls == ATTN].sum()) * self.layers

    def index(self, name: str) -> int:
        return self.names.index(name)


@lru_cache(maxsize=512)
def linear_ops(t: Transformer, tp: int) -> LinearOps:
    """Rows of the decomposition for the roofline, b bytes per element:

        gemm         FC    flop_t = 2 C K;  byte_w = C K b;  byte_t = (C + K) b;  bcast_t = C b
        attention    ATTN  the scores and context matmuls fused into one kernel (FlashAttention
                     style, one launch): flop_qc = sum 2 heads d = 4 h;  byte_c = sum kv d b = 2 kv b
                     (K and V);  byte_t = sum heads d b = 2 h b (Q in, context out)
        elementwise  ELEM  byte_t = elems_per_token b

    A step of T query tokens, q per request, reading C context tokens in total, costs
    ``flops = flop_t T + flop_qc q C`` and ``bytes = byte_w + byte_t T + byte_c C`` per op.
    Shares under TP: an op split over n units (heads, KV heads, features, vocab) on tp GPUs gives
    each GPU ceil(n / tp) of them, so its divisor is n / ceil(n / tp) (= tp when tp divides n; the
    largest shard sets the time when it does not, e.g. 64 heads on 6 GPUs); unsharded ops (norms)
    have divisor 1. Cached per (model, tp): the arrays are shared, read-only by convention."""
    b = t.precision_bits / 8.0
    names: list[str] = []
    rows: list[dict] = []
    for op in transformer_operators(t):
        if op.kind == ATTENTION and rows and rows[-1]["cls"] == ATTN:
            prev = rows[-1]                            # fuse with the layer's other attention matmul
            prev["flop_qc"] += op.flops_per_query_context
            prev["byte_t"] += op.act_elems_per_token * b
            prev["byte_c"] += op.kv_elems_per_context * b
            continue
        names.append("attn" if op.kind == ATTENTION else op.name)
        rows.append({"cls": {GEMM: FC, ATTENTION: ATTN, ELEMENTWISE: ELEM}[op.kind],
                     "flop_t": op.flops_per_token, "flop_qc": op.flops_per_query_context,
                     "byte_w": op.weight_elems * b, "byte_t": op.act_elems_per_token * b,
                     "byte_c": op.kv_elems_per_context * b, "bcast_t": op.input_elems_per_token * b,
                     "gpu_div": op.shard_units / math.ceil(op.shard_units / tp) if op.sharded else 1.0,
                     "reps": op.repeat, "last_only": int(op.last_token_only)})
    ints = ("cls", "reps", "last_only")
    arrays = LinearArrays(**{f: np.array([r[f] for r in rows], np.int64 if f in ints else np.float64)
                             for f in LinearArrays._fields})
    return LinearOps(names=tuple(names), arrays=arrays, layers=t.num_hidden_layers,
                     hidden=t.hidden_size, heads=t.num_attention_heads, kv_heads=t.kv_heads,
                     ffn=t.intermediate_size, vocab=t.vocab_size, elem_bytes=b,
                     weight_bytes=parameter_count(t) * b)

