"""Per-pass costs of a transformer layer and of the LM head in training (numba, cache=True), from
the roofline on the LLM view of the shared decomposition (dse.models.views.linear_ops).

One pass of one microbatch on one tensor-parallel rank, per op i of the view (T = microbatch x
sequence tokens, q = sequence (queries per sequence), C = T context tokens; ``div`` the op's TP
share, every quantity below divided by it):

    forward   flops = flop_t T + flop_qc q C                bytes = byte_w + byte_t T + byte_c C
    B (dX)    gemm: the forward's flops and bytes (dX = dY W^T reads W and dY, writes dX);
              attention: 2x the forward's flops (gradients of both operands; 2.5x with
              FlashAttention, which recomputes the scores) and bytes; element-wise: 2x bytes
    W (dW)    gemm only: flops flop_t T (dW = X^T dY), bytes byte_w + byte_t T

each op a kernel: time = launch + max(flops / achievable FLOP/s, bytes / achievable bytes/s)
(dse.cost.roofline). Tensor parallelism (Megatron): two all-reduces of T h b bytes per layer in the
forward (after the attention projection and the FFN down projection) and two in B (the input
gradients of QKV and FFN up), ring all-reduces over tp ranks, not overlapped with compute. With full
recomputation B also re-runs the forward (its all-reduces included). The LM head is one gemm
h -> vocab over all T tokens (vocab-parallel); its cross-entropy and the embedding lookup are not
costed.
"""

from __future__ import annotations

from typing import NamedTuple

import numba as nb

from dse.cost.collectives import ring_allreduce
from dse.cost.roofline import roofline
from dse.models.views import ATTN, FC


class TrainShape(NamedTuple):
    """One microbatch's shape and the rates it runs at (kernel argument bundle)."""

    tokens: float              # T = microbatch x sequence
    queries: float             # q = sequence length
    context: float             # C = T
    flop_per_s: float          # achievable (peak x compute_efficiency)
    bytes_per_s: float         # achievable (bandwidth x memory_efficiency)
    launch_s: float
    tp: int
    tp_bytes_per_s: float      # the link tensor-parallel all-reduces run over
    tp_latency_s: float
    act_bytes_per_token: float # h b: what a TP all-reduce carries per token
    recompute: bool
    attn_backward: float       # attention B as a multiple of its forward: 2, or 2.5 with FlashAttention


@nb.njit(cache=True)
def pass_times(ops, shape, layer):
    """(F, B, W) seconds of one microbatch through one decoder layer (``layer`` True) or through the
    LM head (False), and the forward FLOPs summed over the TP ranks. See the module docstring for
    every term."""
    f = 0.0
    b = 0.0
    w = 0.0
    flops_total = 0.0
    T, q, C = shape.tokens, shape.queries, shape.context
    for i in range(ops.cls.shape[0]):
        if (ops.last_only[i] == 0) != layer:      # the LM head is the view's one last-token-only row
            continue
        div = ops.gpu_div[i]
        flops = (ops.flop_t[i] * T + ops.flop_qc[i] * q * C) / div
        nbytes = (ops.byte_w[i] + ops.byte_t[i] * T + ops.byte_c[i] * C) / div
        flops_total += flops * div
        t_f, _ = roofline(flops, nbytes, shape.flop_per_s, shape.bytes_per_s, shape.launch_s)
        f += t_f
        if ops.cls[i] == FC:
            t_b = t_f                                  # dX = dY W^T: the forward's FLOPs and bytes
            w_flops = ops.flop_t[i] * T / div
            w_bytes = (ops.byte_w[i] + ops.byte_t[i] * T) / div
            t_w, _ = roofline(w_flops, w_bytes, shape.flop_per_s, shape.bytes_per_s, shape.launch_s)
            w += t_w
        elif ops.cls[i] == ATTN:
            t_b, _ = roofline(shape.attn_backward * flops, 2.0 * nbytes, shape.flop_per_s, shape.bytes_per_s,
                              shape.launch_s)
        else:
            t_b, _ = roofline(0.0, 2.0 * nbytes, shape.flop_per_s, shape.bytes_per_s, shape.launch_s)
        b += t_b
    if layer and shape.tp > 1:
        ar, _ = ring_allreduce(T * shape.act_bytes_per_token, shape.tp, shape.tp_bytes_per_s, shape.tp_latency_s)
        f += 2.0 * ar
        b += 2.0 * ar
    if shape.recompute and layer:
        b += f
    return f, b, w, flops_total
