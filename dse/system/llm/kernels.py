"""LLM kernels: the cost of one forward step over all layers, the per-step dispatch policy and
the step-by-step decode trace. Numba, cache=True; arguments are named bundles
(:class:`~dse.models.views.LinearArrays`, :class:`LlmSystem`, :class:`Step`, :class:`Trace`).

Op quantities are linear in the step's shape (T query tokens, q query tokens per request,
C = sum of the active requests' context lengths):

    flops = flop_t * T + flop_qc * q * C
    bytes = byte_w + byte_t * T + byte_c * C

so one table covers prefill (T = b*s, q = s, C = b*s) and every decode step
(T = n_active*tlp, q = tlp, C = n_active*(prompt + generated + tlp)).
"""

from __future__ import annotations

from typing import NamedTuple

import numba as nb
import numpy as np

from dse.cost.collectives import all_gather, ring_allreduce, send_recv
from dse.cost.roofline import calibrated_rates, op_energy, roofline
from dse.models.views import ATTN, FC

# Devices (rows of the device table).
GPU, FC_POOL, ATTN_POOL, ALL_POOL = 0, 1, 2, 3
N_DEVICES = 4
DEVICE_NAMES = ("gpu", "fc_pim", "attn_pim", "pim")
# Dispatch policies, in dse.spec.gpu_pim.POLICIES order.
P_GPU, P_GPU_ATTN_PIM, P_PAPI, P_PIM, P_PIM_SPLIT = range(5)
# Device-table columns: achievable rates, launch overhead, energies, devices sharing an op (a PIM
# pool's devices per replica and stage), and the link each device talks over.
D_FLOPS, D_BW, D_LAUNCH, D_PJ_FLOP, D_PJ_BIT, D_NDEV, D_LINK_BW, D_LINK_LAT, D_LINK_PJ = range(9)
# GPU calibration (0 = the flat caps): rows and stream bytes at half rate, overhead per step.
D_COMP_HALF, D_MEM_HALF, D_STEP = 9, 10, 11
N_DCOLS = 12
# Per-op output columns of step_cost.
O_TIME, O_ENERGY, O_FLOPS, O_BYTES, O_BOUND, O_DEVICE = range(6)
N_OCOLS = 6
# decode_trace results.
R_TIME, R_ENERGY, R_STEPS, R_TOKENS, R_TPOT_SUM, R_FIRST, R_FC_GPU_STEPS, R_KV_PEAK, R_COMM = range(9)
N_RES = 9


class LlmSystem(NamedTuple):
    """The devices and the parallel configuration a step runs on."""

    dev: np.ndarray                # [N_DEVICES, N_DCOLS] device table
    tp: int
    pp: int
    link_bytes_per_s: float        # the GPUs' link (collectives, stage-to-stage sends)
    link_latency_s: float
    link_pj_per_bit: float
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


class Trace(NamedTuple):
    """One replica's requests for :func:`decode_trace`."""

    lengths: np.ndarray    # output tokens per request, ascending (int64)
    prompt: int            # prompt tokens per request
    tlp: int               # tokens verified per step (speculation length)
    policy: int            # P_*
    alpha: float           # PAPI threshold on RLP x TLP


@nb.njit(cache=True, inline="always")
def step_cost(step, ops, system, op_out):
    """Time and energy of one forward pass over all layers (one decode step, or the prefill).

    Per op i on device d (GPU, or a PIM pool whose ``D_NDEV`` devices share the op):
        share  = gpu_div[i] on the GPU (TP shard), D_NDEV on a pool
        flops  = (flop_t T + flop_qc q C) / share;   bytes = (byte_w + byte_t T + byte_c C) / share
        t_i    = roofline(flops, bytes, dev rates, launch) (+ on a pool: send_recv over each device's
                 own link of (bcast_t + (byte_t - bcast_t) / share) T: FC inputs whole, the rest split)
        e_i    = op_energy(flops, bytes) * devices running it (tp on GPUs, D_NDEV on a pool)
                 (+ on a pool: the link bits of all its devices x pJ/bit)
    Layers: sum_i reps_i t_i. Tensor parallelism (tp > 1 on GPUs) adds ring all-reduces of the
    layer output (T h b bytes): two per layer (Megatron), or for ``kraken`` one whose exposed time
    is max(0, AR - attention time of the next layer), fully exposed on each stage's last layer:
        standard: 2 L AR;  kraken: (L - pp) max(0, AR - t_attn) + pp AR
    The LM head (``last_only`` ops) runs on ``head_tokens``; with FC on the GPUs the vocab-parallel
    LM head adds an all-gather of the logits (T_head vocab b); pipeline stages add (pp - 1)
    send/recv of the activations (T h b). Collective energy: wire bytes x 8 x pJ/bit. The step
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
        fl = (ops.flop_t[i] * Ti + ops.flop_qc[i] * step.q * step.context) / share
        by = (ops.byte_w[i] + ops.byte_t[i] * Ti + ops.byte_c[i] * step.context) / share
        m = step.q if c == ATTN else Ti
        stream = by
        if ops.streams[i] > 0.0:
            stream = by / (Ti / step.q * ops.streams[i] / share)
        fr, br = calibrated_rates(dev[d, D_FLOPS], dev[d, D_BW], m, stream, dev[d, D_COMP_HALF], dev[d, D_MEM_HALF])
        t, bound = roofline(fl, by, fr, br, dev[d, D_LAUNCH])
        e = op_energy(fl, by, dev[d, D_PJ_FLOP], dev[d, D_PJ_BIT]) * runners
        if d != GPU:
            ts, wire = send_recv((ops.bcast_t[i] + (ops.byte_t[i] - ops.bcast_t[i]) / share) * Ti,
                                 dev[d, D_LINK_BW], dev[d, D_LINK_LAT])
            wire *= share
            t += ts
            e += wire * 8.0 * dev[d, D_LINK_PJ] * 1e-12
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
    comm = 0.0
    tp = system.tp
    pp = system.pp
    bw = system.link_bytes_per_s
    lat = system.link_latency_s
    pj = system.link_pj_per_bit
    if tp > 1:
        ar, wire = ring_allreduce(system.act_bytes_per_token * step.tokens, tp, bw, lat)
        if system.kraken:
            exposed = ar - attn_t
            if exposed < 0.0:
                exposed = 0.0
            comm += (layers - pp) * exposed + pp * ar
            energy += layers * wire * 8.0 * pj * 1e-12
        else:
            comm += 2.0 * layers * ar
            energy += 2.0 * layers * wire * 8.0 * pj * 1e-12
        if step.fc_dev == GPU:
            ag, wire = all_gather(system.logit_bytes_per_token * step.head_tokens, tp, bw, lat)
            comm += ag
            energy += wire * 8.0 * pj * 1e-12
    if pp > 1:
        p2p, wire = send_recv(system.act_bytes_per_token * step.tokens, bw, lat)
        comm += (pp - 1) * p2p
        energy += (pp - 1) * wire * 8.0 * pj * 1e-12
    return total + comm + dev[GPU, D_STEP], energy, comm


@nb.njit(cache=True)
def dispatch(policy, alpha, T):
    """Devices (fc, attn, elem) of a decode step with T = RLP x TLP tokens. Policies: P_GPU (all on
    the GPU), P_GPU_ATTN_PIM (attention on the attention pool), P_PAPI (FC on the GPU if
    T > alpha, else on the FC pool; attention on the attention pool), P_PIM (all on the all-role
    pool), P_PIM_SPLIT (no GPU: FC and element-wise on the FC pool, attention on the attention
    pool)."""
    if policy == P_PIM:
        return ALL_POOL, ALL_POOL, ALL_POOL
    if policy == P_PIM_SPLIT:
        return FC_POOL, ATTN_POOL, FC_POOL
    fc = FC_POOL if policy == P_PAPI and T <= alpha else GPU
    return fc, (GPU if policy == P_GPU else ATTN_POOL), GPU


@nb.njit(cache=True)
def decode_trace(trace, ops, system, op_out, res):
    """Step-by-step decode of one replica's requests (static batch: all start together after the
    prefill; ``trace.lengths`` are their output lengths in ascending order). Step k (g = k * tlp
    tokens generated so far, n active requests):

        T = n * tlp  (RLP x TLP);   C = n * (prompt + g + tlp)  (each reads its whole context)
        devices from :func:`dispatch` (PAPI: FC on the GPU if T > alpha, else FC-PIM)
        then g += tlp; requests with length <= g finish at the step's end.

    Results in ``res`` (R_*): decode time, energy, steps, output tokens, sum over requests of
    (finish time / length) (TPOT), first-step time, steps with FC on the GPU, peak context tokens
    held (KV), communication time."""
    for k in range(res.shape[0]):
        res[k] = 0.0
    lengths = trace.lengths
    tlp = trace.tlp
    R = lengths.shape[0]
    idx = 0
    while idx < R and lengths[idx] <= 0:
        idx += 1
    g = 0
    now = 0.0
    while idx < R:
        n = R - idx
        T = n * tlp
        ctx = n * (trace.prompt + g + tlp)
        fc_dev, attn_dev, elem_dev = dispatch(trace.policy, trace.alpha, T)
        step = Step(float(T), float(T), float(tlp), float(ctx), fc_dev, attn_dev, elem_dev)
        t, e, comm = step_cost(step, ops, system, op_out)
        if res[R_STEPS] == 0.0:
            res[R_FIRST] = t
        now += t
        res[R_ENERGY] += e
        res[R_STEPS] += 1.0
        res[R_COMM] += comm
        if fc_dev == GPU:
            res[R_FC_GPU_STEPS] += 1.0
        if ctx > res[R_KV_PEAK]:
            res[R_KV_PEAK] = ctx
        g += tlp
        while idx < R and lengths[idx] <= g:
            res[R_TOKENS] += lengths[idx]
            res[R_TPOT_SUM] += now / lengths[idx]
            idx += 1
    res[R_TIME] = now
