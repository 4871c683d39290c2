"""The shared GPU step and pass costs (numba, cache=True): one per-op cost, used by the llm kind's
prefill and decode steps, the serving kind's stage latencies and the training kind's F, B and W
passes. Arguments are named bundles (:class:`~dse.models.views.LinearArrays`, :class:`GpuSystem`,
:class:`Step`) and the device table (rows: devices, columns ``D_*``; row :data:`GPU` is the GPU,
further rows are devices a kind adds, reached over their own link, e.g. the llm kind's PIM pools).

Op quantities are linear in the step's shape (T query tokens, q query tokens per request,
C = sum of the active requests' context lengths):

    flops = flop_t * T + flop_qc * q * C
    bytes = byte_w + byte_t * T + byte_c * C

so one table covers prefill (T = b*s, q = s, C = b*s), every decode step (T = n_active*tlp,
q = tlp, C = n_active*(prompt + generated + tlp)) and a training microbatch (T = mb*s, q = s, C = T).
"""

from __future__ import annotations

from typing import NamedTuple

from dse.jit import nb
import numpy as np

from dse.cost.collectives import all_gather, ring_allreduce, send_recv
from dse.cost.roofline import calibrated_rates, op_energy, roofline
from dse.models.views import ATTN, ELEM, FC

# The GPU's row of the device table; a kind may add rows after it: one per PIM pool role
# (dse.system.gpu.pim).
GPU = 0
FC_POOL, ATTN_POOL, ALL_POOL = 1, 2, 3
N_DEVICES = 4
DEVICE_NAMES = ("gpu", "fc_pim", "attn_pim", "pim")
# Dispatch policies, in dse.system.gpu.pim.POLICIES order.
P_GPU, P_GPU_ATTN_PIM, P_PAPI, P_PIM, P_PIM_SPLIT = range(5)
# Device-table columns: achievable rates, launch overhead, energies, devices sharing an op (a PIM
# pool's devices per replica and stage), and the link each device talks over.
D_FLOPS, D_BW, D_LAUNCH, D_PJ_FLOP, D_PJ_BIT, D_NDEV, D_LINK_BW, D_LINK_LAT, D_LINK_PJ = range(9)
# GPU calibration (0 = the flat caps): rows and stream bytes at half rate, overhead per step.
D_COMP_HALF, D_MEM_HALF, D_STEP = 9, 10, 11
N_DCOLS = 12
# Per-op output columns of step_cost and pass_costs.
O_TIME, O_ENERGY, O_FLOPS, O_BYTES, O_BOUND, O_DEVICE = range(6)
N_OCOLS = 6
# Training passes: rows of PASS_MULT (forward, input gradient B, weight gradient W); columns are
# (FLOP multiplier, byte multiplier) of each op class FC, ATTN, ELEM over the forward's figures.
PASS_F, PASS_B, PASS_W = 0, 1, 2


class GpuSystem(NamedTuple):
    """The devices and the parallel configuration a step runs on."""

    dev: np.ndarray                # [devices, N_DCOLS] device table
    tp: int
    pp: int
    link_bytes_per_s: float        # the link a stage's TP collectives run over
    link_latency_s: float
    link_pj_per_bit: float
    stage_bytes_per_s: float       # the link stage-to-stage sends run over
    stage_latency_s: float
    stage_pj_per_bit: float
    act_bytes_per_token: float     # h b: all-reduced under TP, sent between PP stages
    logit_bytes_per_token: float   # vocab b: the vocab-parallel LM head's all-gather
    kraken: bool                   # Kraken layers: one all-reduce per layer, overlapped


class Step(NamedTuple):
    """The shape of one forward step and where its op classes run."""

    tokens: float          # T: query tokens of the step (all requests)
    head_tokens: float     # tokens the LM head runs on (T in decode, one per request in prefill)
    q: float               # query tokens per request
    context: float         # C: context tokens read, summed over requests
    fc_dev: int
    attn_dev: int
    elem_dev: int


@nb.njit(cache=True)
def dispatch(policy, alpha, T):
    """Devices (fc, attn, elem) of a decode step with T = RLP x TLP query tokens (PAPI's rule).
    Policies: P_GPU (all on the GPU), P_GPU_ATTN_PIM (attention on the attention pool), P_PAPI
    (FC on the GPU if T > alpha, else on the FC pool; attention on the attention pool), P_PIM (all
    on the all-role pool), P_PIM_SPLIT (no GPU: FC and element-wise on the FC pool, attention on
    the attention pool)."""
    if policy == P_PIM:
        return ALL_POOL, ALL_POOL, ALL_POOL
    if policy == P_PIM_SPLIT:
        return FC_POOL, ATTN_POOL, FC_POOL
    fc = FC_POOL if policy == P_PAPI and T <= alpha else GPU
    return fc, (GPU if policy == P_GPU else ATTN_POOL), GPU


@nb.njit(cache=True)
def op_shape(flop_t, flop_qc, byte_w, byte_t, byte_c, attn, tokens, q, context, share):
    """(flops, bytes, GEMM rows) of one op (its row of the linear op table: the
    ``flop_*`` and ``byte_*`` figures; ``attn`` for attention) on one of ``share`` devices it is
    split over, for ``tokens`` query tokens T (q per request) reading ``context`` tokens C:

        flops = (flop_t T + flop_qc q C) / share;   bytes = (byte_w + byte_t T + byte_c C) / share
        rows  = q for attention (one request's queries), T otherwise
    The bytes are also what sets the bandwidth the launch reaches (the calibration's stream,
    :func:`op_cost`): the launch's whole traffic on the device. For attention that is every
                 request's K/V of every KV head the device holds, read by one kernel launch that
                 keeps all (request, head) pairs in flight (a paged / flash-decoding kernel): the
                 bandwidth a launch reaches grows with its total bytes, not with one pair's.
                 (Measured: Vidur's A100 profiles of Llama-2-7B decode attention reach ~55 % of
                 peak at 50 MB per launch and ~90 % at 6 GB, at 3,072 tokens of context either way.)

    Scalars only, on purpose: a bundle argument to a kernel that numba does not inline costs a
    reference count per array per call, which made the decode trace 5x slower
    (tests/bench/bench_llm.py: 1.3 ms instead of 0.25 ms per trace)."""
    fl = (flop_t * tokens + flop_qc * q * context) / share
    by = (byte_w + byte_t * tokens + byte_c * context) / share
    return fl, by, q if attn else tokens


@nb.njit(cache=True, inline="always")
def step_cost(step, ops, system, op_out):
    """Time and energy of one forward pass over all layers (one decode step, or the prefill).

    Per op i on device d (GPU, or a device row whose ``D_NDEV`` devices share the op, e.g. a PIM
    pool):
        share  = gpu_div[i] on the GPU (TP shard), D_NDEV otherwise
        t_i    = roofline(flops, bytes at calibrated_rates(rows, bytes) of device d) + d's launch
                 cost, with (flops, bytes, rows) = op_shape(i, share), the bytes the stream
                 (+ off the GPU: send_recv over each device's own
                 link of (bcast_t + (byte_t - bcast_t) / share) T: FC inputs whole, the rest split)
        e_i    = op_energy(flops, bytes) * devices running it (tp on GPUs, D_NDEV otherwise)
                 (+ off the GPU: the link bits of all its devices x pJ/bit)
    Layers: sum_i reps_i t_i. Tensor parallelism (tp > 1 on GPUs) adds ring all-reduces of the
    layer output (T h b bytes): two per layer (Megatron), or for ``kraken`` one whose exposed time
    is max(0, AR - attention time of the next layer), fully exposed on each stage's last layer:
        standard: 2 L AR;  kraken: (L - pp) max(0, AR - t_attn) + pp AR
    The LM head (``last_only`` ops) runs on ``head_tokens``; with FC on the GPUs the vocab-parallel
    LM head adds an all-gather of the logits (T_head vocab b); pipeline stages add (pp - 1)
    send/recv of the activations (T h b) over the stage link (``stage_*``; collectives over
    ``link_*``). Collective energy: wire bytes x 8 x pJ/bit. The step
    adds the GPU's fixed overhead D_STEP once (framework: scheduling, sampling, host sync).
    Per-op results go to ``op_out`` (O_* columns). Returns (time_s, energy_j, comm_s)."""
    dev = system.dev
    n = ops.cls.shape[0]
    total = 0.0
    energy = 0.0
    attn_t = 0.0
    layers = 0
    for i in range(n):
        c = ops.cls[i]
        d = step.fc_dev if c == FC else (step.attn_dev if c == ATTN else step.elem_dev)
        share = ops.gpu_div[i] if d == GPU else dev[d, D_NDEV]
        runners = system.tp if d == GPU else dev[d, D_NDEV]
        Ti = step.head_tokens if ops.last_only[i] == 1 else step.tokens
        fl, by, m = op_shape(ops.flop_t[i], ops.flop_qc[i], ops.byte_w[i], ops.byte_t[i],
                             ops.byte_c[i], c == ATTN, Ti, step.q, step.context, share)
        t, e, bound = op_cost(ops, dev, i, d, share, runners, fl, by, m, Ti)
        op_out[i, O_TIME] = t
        op_out[i, O_ENERGY] = e
        op_out[i, O_FLOPS] = fl
        op_out[i, O_BYTES] = by
        op_out[i, O_BOUND] = bound
        op_out[i, O_DEVICE] = d
        total += ops.reps[i] * t
        energy += ops.reps[i] * e
        if c == ATTN:
            attn_t = t
        if ops.reps[i] > layers:
            layers = ops.reps[i]
    comm, energy = step_comm(system, step.tokens, step.head_tokens, step.fc_dev == GPU, attn_t, layers, energy)
    return total + comm + dev[GPU, D_STEP], energy, comm


@nb.njit(cache=True, inline="always")
def op_cost(ops, dev, i, d, share, runners, fl, by, m, tokens):
    """Time, energy and bound of op i on device row d, given its shape (flops, bytes, rows on one
    of ``share`` devices; ``runners`` devices run it; ``tokens`` it runs on): the calibrated
    roofline (the launch's bytes set its bandwidth) plus d's launch cost, dynamic energy x runners, and off the GPU the
    send_recv of its inputs over d's own link (see :func:`step_cost`)."""
    fr, br = calibrated_rates(dev[d, D_FLOPS], dev[d, D_BW], m, by, dev[d, D_COMP_HALF],
                              dev[d, D_MEM_HALF])
    t, bound = roofline(fl, by, fr, br, dev[d, D_LAUNCH])
    e = op_energy(fl, by, dev[d, D_PJ_FLOP], dev[d, D_PJ_BIT]) * runners
    if d != GPU:
        ts, wire = send_recv((ops.bcast_t[i] + (ops.byte_t[i] - ops.bcast_t[i]) / share) * tokens,
                             dev[d, D_LINK_BW], dev[d, D_LINK_LAT])
        wire *= share
        t += ts
        e += wire * 8.0 * dev[d, D_LINK_PJ] * 1e-12
    return t, e, bound


@nb.njit(cache=True, inline="always")
def step_comm(system, tokens, head_tokens, fc_on_gpu, attn_t, layers, energy):
    """(comm seconds, ``energy`` plus the collectives' energy) of one forward step of ``tokens``
    tokens, ``head_tokens`` of them through the LM head: the TP all-reduces (standard or Kraken,
    with ``attn_t`` the attention time the Kraken all-reduce hides behind), the LM head's logit
    all-gather when FC runs on the GPUs, and the pipeline stages' sends (formulas in
    :func:`step_cost`)."""
    comm = 0.0
    tp = system.tp
    pp = system.pp
    bw = system.link_bytes_per_s
    lat = system.link_latency_s
    pj = system.link_pj_per_bit
    if tp > 1:
        ar, wire = ring_allreduce(system.act_bytes_per_token * tokens, tp, bw, lat)
        if system.kraken:
            exposed = ar - attn_t
            if exposed < 0.0:
                exposed = 0.0
            comm += (layers - pp) * exposed + pp * ar
            energy += layers * wire * 8.0 * pj * 1e-12
        else:
            comm += 2.0 * layers * ar
            energy += 2.0 * layers * wire * 8.0 * pj * 1e-12
        if fc_on_gpu:
            ag, wire = all_gather(system.logit_bytes_per_token * head_tokens, tp, bw, lat)
            comm += ag
            energy += wire * 8.0 * pj * 1e-12
    if pp > 1:
        p2p, wire = send_recv(system.act_bytes_per_token * tokens, system.stage_bytes_per_s,
                              system.stage_latency_s)
        comm += (pp - 1) * p2p
        energy += (pp - 1) * wire * 8.0 * system.stage_pj_per_bit * 1e-12
    return comm, energy


class Batch(NamedTuple):
    """The composition of one iteration of a continuously batched engine (all float64): decode
    requests and prefill chunks side by side.

        dec_n      decode requests, ``dec_q`` query tokens each (1, or with speculative decoding
                   the k draft tokens verified + 1: PAPI's TLP)
        dec_ctx    context tokens the decodes read, summed (each its KV + dec_q)
        pre_n      prefill chunks;   pre_tokens  their query tokens, summed
        pre_qc     sum over chunks of chunk x context (the chunk's queries x the tokens they attend)
        pre_ctx    the chunks' contexts (tokens already cached + the chunk), summed
        head_tokens  tokens through the LM head: every decode query token and the chunks that end
                   a prompt"""

    dec_n: float
    dec_ctx: float
    pre_n: float
    pre_tokens: float
    pre_qc: float
    pre_ctx: float
    head_tokens: float
    dec_q: float = 1.0


@nb.njit(cache=True, inline="always")
def group_shape(flop_t, flop_qc, byte_w, byte_t, byte_c, tokens, qc, context, requests, share):
    """(flops, bytes, rows) of one attention launch over a group of ``requests``
    requests with ``tokens`` query tokens in all, ``qc`` = sum of queries x context and
    ``context`` = sum of contexts:

        flops = (flop_t T + flop_qc qc) / share;  bytes = (byte_w + byte_t T + byte_c C) / share
        rows = T / requests

    For a uniform group (T = b q, qc = b q c, C = b c) this is :func:`op_shape` exactly."""
    fl = (flop_t * tokens + flop_qc * qc) / share
    by = (byte_w + byte_t * tokens + byte_c * context) / share
    return fl, by, tokens / requests


@nb.njit(cache=True, inline="always")
def attention_launch(ops, dev, i, d, share, runners, tokens, qc, context, requests):
    """(time, energy) of attention op i launched once over a group of requests
    (:func:`group_shape`, then :func:`op_cost`); (0, 0) for an empty group (no launch)."""
    if requests <= 0.0:
        return 0.0, 0.0
    fl, by, m = group_shape(ops.flop_t[i], ops.flop_qc[i], ops.byte_w[i], ops.byte_t[i], ops.byte_c[i],
                            tokens, qc, context, requests, share)
    t, e, _ = op_cost(ops, dev, i, d, share, runners, fl, by, m, tokens)
    return t, e


@nb.njit(cache=True)
def iteration_cost(batch, ops, system, fc_dev, attn_dev, elem_dev):
    """(time_s, energy_j, comm_s) of one iteration of a continuously batched engine (vLLM,
    Sarathi-Serve): the same per-op cost as :func:`step_cost` (:func:`op_cost`, the GPU's step
    overhead once, :func:`step_comm`), on a mixed batch (:class:`Batch`):

        FC and element-wise ops:  T = dec_n dec_q + pre_tokens query tokens in one launch (rows T),
                                  on ``fc_dev`` and ``elem_dev``
        LM head:                  head_tokens
        attention:                one launch for the decodes (q = dec_q each, C = dec_ctx) on
                                  ``attn_dev``, and one for the prefill chunks (T = pre_tokens,
                                  qc = pre_qc, C = pre_ctx, rows = pre_tokens / pre_n) on the GPU,
                                  by :func:`group_shape`; when the decodes' attention runs on a
                                  PIM pool (which holds the KV cache), the chunks' new K/V move
                                  to it: send_recv(pre_tokens x K+V bytes per token of every
                                  layer) over the pool's link, as the llm kind moves a prefill's
        Kraken's hidden all-reduce: behind the iteration's attention time (both launches)

    A pure decode batch of b requests with contexts summing to C is ``step_cost`` of
    Step(b q, b q, q, C); a pure prefill of b prompts of s tokens is Step(b s, b, s, b s)."""
    tokens = batch.dec_n * batch.dec_q + batch.pre_tokens
    body_t, body_e = token_ops_cost(ops, system, fc_dev, elem_dev, tokens, 0)
    head_t, head_e = token_ops_cost(ops, system, fc_dev, elem_dev, batch.head_tokens, 1)
    return iteration_total(batch, ops, system, fc_dev, attn_dev, body_t + head_t, body_e + head_e)


@nb.njit(cache=True, inline="always")
def iteration_total(batch, ops, system, fc_dev, attn_dev, token_t, token_e):
    """:func:`iteration_cost` given the FC and element-wise ops' seconds and joules (``token_t``,
    ``token_e``: :func:`token_ops_cost` of the body at T tokens plus the LM head's): adds the
    attention launches, the prefill chunks' K/V move to an attention pool, the collectives
    (:func:`step_comm`) and the step overhead."""
    dev = system.dev
    tokens = batch.dec_n * batch.dec_q + batch.pre_tokens
    total = token_t
    energy = token_e
    attn_t = 0.0
    layers = 0
    kv_token = 0.0
    for i in range(ops.cls.shape[0]):
        if ops.reps[i] > layers:
            layers = ops.reps[i]
        if ops.cls[i] != ATTN:
            continue
        kv_token += ops.reps[i] * ops.byte_c[i]
        d = attn_dev
        share = ops.gpu_div[i] if d == GPU else dev[d, D_NDEV]
        runners = system.tp if d == GPU else dev[d, D_NDEV]
        # decodes: dec_q queries each over its whole context
        t, e = attention_launch(ops, dev, i, d, share, runners, batch.dec_n * batch.dec_q,
                                batch.dec_q * batch.dec_ctx, batch.dec_ctx, batch.dec_n)
        tp_, ep_ = attention_launch(ops, dev, i, GPU, ops.gpu_div[i], system.tp, batch.pre_tokens, batch.pre_qc,
                                    batch.pre_ctx, batch.pre_n)
        t += tp_
        e += ep_
        attn_t = t
        total += ops.reps[i] * t
        energy += ops.reps[i] * e
    if attn_dev != GPU and batch.pre_tokens > 0.0:
        mt, me = to_pool(dev, attn_dev, kv_token * batch.pre_tokens)
        total += mt
        energy += me
    comm, energy = step_comm(system, tokens, batch.head_tokens, fc_dev == GPU, attn_t, layers, energy)
    return total + comm + dev[GPU, D_STEP], energy, comm


@nb.njit(cache=True, inline="always")
def to_pool(dev, d, nbytes):
    """(seconds, joules) of sending ``nbytes`` to the PIM pool of device row ``d`` (K/V of a
    prefill moving to the attention pool that holds the cache): one send_recv over the pool's
    link, nbytes x 8 x its pJ/bit."""
    t, _ = send_recv(nbytes, dev[d, D_LINK_BW], dev[d, D_LINK_LAT])
    return t, nbytes * 8.0 * dev[d, D_LINK_PJ] * 1e-12


@nb.njit(cache=True)
def token_ops_cost(ops, system, fc_dev, elem_dev, tokens, head):
    """(seconds, joules) of the FC and element-wise ops of the decoder layers (``head`` 0) or of
    the LM head (``head`` 1) on ``tokens`` query tokens in one launch each, repeat counts
    included: sum_i reps_i op_cost(i) with rows = T (they depend on T alone, so an engine can
    tabulate them: :func:`token_ops_table`)."""
    dev = system.dev
    total = 0.0
    energy = 0.0
    if tokens <= 0.0:
        return total, energy
    for i in range(ops.cls.shape[0]):
        c = ops.cls[i]
        if c == ATTN or ops.last_only[i] != head:
            continue
        d = fc_dev if c == FC else elem_dev
        share = ops.gpu_div[i] if d == GPU else dev[d, D_NDEV]
        runners = system.tp if d == GPU else dev[d, D_NDEV]
        fl, by, m = op_shape(ops.flop_t[i], ops.flop_qc[i], ops.byte_w[i], ops.byte_t[i], ops.byte_c[i],
                             False, tokens, 1.0, 0.0, share)
        t, e, _ = op_cost(ops, dev, i, d, share, runners, fl, by, m, tokens)
        total += ops.reps[i] * t
        energy += ops.reps[i] * e
    return total, energy


@nb.njit(cache=True)
def token_ops_table(ops, system, fc_dev, elem_dev, head, out_t, out_e):
    """out_t[T], out_e[T] = :func:`token_ops_cost` at T = 0 .. len(out_t) - 1 tokens."""
    for T in range(out_t.shape[0]):
        out_t[T], out_e[T] = token_ops_cost(ops, system, fc_dev, elem_dev, float(T), head)


def pass_multipliers(attn_backward: float) -> np.ndarray:
    """PASS_MULT [3 passes, 3 classes, (FLOPs, bytes)] of a training step over the forward's op
    figures (one microbatch on one TP rank):

        F    every op as in the forward
        B    FC: dX = dY W^T, the forward's FLOPs and bytes (1, 1); attention: gradients of both
             operands, ``attn_backward`` x the FLOPs (2, or 2.5 with FlashAttention, which
             recomputes the scores) and 2 x the bytes; element-wise: 2 x the bytes, no FLOPs
        W    FC only: dW = X^T dY, flop_t T FLOPs and byte_w + byte_t T bytes, the forward's (an
             FC op has no context terms); attention and element-wise have no weights (0, 0)"""
    mult = np.zeros((3, 3, 2))
    mult[PASS_F, :, :] = 1.0
    mult[PASS_B, FC] = (1.0, 1.0)
    mult[PASS_B, ATTN] = (attn_backward, 2.0)
    mult[PASS_B, ELEM] = (0.0, 2.0)
    mult[PASS_W, FC] = (1.0, 1.0)
    return mult


@nb.njit(cache=True)
def pass_costs(ops, system, tokens, q, mult, layer, recompute, out):
    """(F, B, W) seconds of one microbatch (``tokens`` T, ``q`` per sequence, context C = T)
    through one decoder layer (``layer`` True) or through the LM head (False) on one TP rank of
    the GPU row, and the forward FLOPs summed over the TP ranks. Per op i and pass p:

        fl, by, rows = op_shape(i, share = gpu_div[i])
        t_p = roofline(mult[p, cls, 0] fl, mult[p, cls, 1] by) at the GPU's
              calibrated_rates(rows, mult[p, cls, 1] by), plus its launch cost
              (a pass with both multipliers 0 costs nothing, not even a launch)

    the same per-op cost and GPU calibration as the forward steps of inference (:func:`step_cost`).
    Tensor parallelism (Megatron): two ring all-reduces of T h b bytes per layer in F (after the
    attention projection and the FFN down projection) and two in B (the input gradients of QKV
    and FFN up), not overlapped with compute. With full recomputation B also re-runs F (its
    all-reduces included). ``out`` [3] receives (F, B, W); returns the forward FLOPs."""
    dev = system.dev
    for p in range(3):
        out[p] = 0.0
    flops_total = 0.0
    for i in range(ops.cls.shape[0]):
        if (ops.last_only[i] == 0) != layer:      # the LM head is the view's one last-token-only row
            continue
        c = ops.cls[i]
        div = ops.gpu_div[i]
        fl, by, m = op_shape(ops.flop_t[i], ops.flop_qc[i], ops.byte_w[i], ops.byte_t[i],
                             ops.byte_c[i], c == ATTN, tokens, q, tokens, div)
        flops_total += fl * div
        for p in range(3):
            fm = mult[p, c, 0]
            bm = mult[p, c, 1]
            if fm == 0.0 and bm == 0.0:
                continue
            fr, br = calibrated_rates(dev[GPU, D_FLOPS], dev[GPU, D_BW], m, bm * by,
                                      dev[GPU, D_COMP_HALF], dev[GPU, D_MEM_HALF])
            t, _ = roofline(fm * fl, bm * by, fr, br, dev[GPU, D_LAUNCH])
            out[p] += t
    if layer and system.tp > 1:
        ar, _ = ring_allreduce(tokens * system.act_bytes_per_token, system.tp, system.link_bytes_per_s,
                               system.link_latency_s)
        out[PASS_F] += 2.0 * ar
        out[PASS_B] += 2.0 * ar
    if recompute and layer:
        out[PASS_B] += out[PASS_F]
    return flops_total
