"""LLM evaluator: prefill and step-by-step decode of a request batch on GPUs and PIM pools, with
tensor / pipeline / data parallelism, Kraken-style all-reduce overlap and per-step GPU <-> PIM
dispatch (PAPI).

Data flow as everywhere in dse: resolved specs -> IR arrays (:class:`LlmOps`, the device table)
-> numba kernels (:func:`step_cost`, :func:`decode_trace`, built on dse.cost.roofline) -> named
metrics. The per-layer op list is the same for every step; what changes is the token count
T = RLP x TLP and the context the attention reads, which the trace updates as requests finish.

Op quantities are linear in the step's shape (T query tokens, q query tokens per request,
C = sum of the active requests' context lengths):

    flops = flop_t * T + flop_qc * q * C
    bytes = byte_w + byte_t * T + byte_c * C

so one table covers prefill (T = b*s, q = s, C = b*s) and every decode step
(T = n_active*tlp, q = tlp, C = n_active*(prompt + generated + tlp)).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numba as nb
import numpy as np

from dse.cost.roofline import (all_gather, gpu_rates, op_energy, pim_rates, ring_allreduce, roofline,
                               send_recv)
from dse.errors import DseError
from dse.spec.system import POLICIES, POLICY_ROLES, LlmHardwareSpec
from dse.spec.workload import Transformer, WorkloadSpec

FC, ATTN, ELEM = 0, 1, 2
CLASSES = ("fc", "attn", "elem")
GPU, FC_POOL, ATTN_POOL, ALL_POOL = 0, 1, 2, 3
P_GPU, P_GPU_ATTN_PIM, P_PAPI, P_PIM = range(4)          # dispatch policies, in POLICIES order
DEVICE_ROLES = {"fc": FC_POOL, "attn": ATTN_POOL, "all": ALL_POOL}
# Device-table columns.
D_FLOPS, D_BW, D_LAUNCH, D_PJ_FLOP, D_PJ_BIT, D_NDEV, D_LINK_BW, D_LINK_LAT, D_LINK_PJ, D_PRESENT = range(10)
N_DCOLS = 10
# Per-op output columns of step_cost.
O_TIME, O_ENERGY, O_FLOPS, O_BYTES, O_BOUND, O_DEVICE = range(6)
# decode_trace results.
R_TIME, R_ENERGY, R_STEPS, R_TOKENS, R_TPOT_SUM, R_FIRST, R_FC_GPU_STEPS, R_KV_PEAK, R_COMM = range(9)
N_RES = 9


@dataclass(frozen=True)
class LlmOps:
    """Per-layer op list (whole model width, before any sharding) plus the LM head (reps 1)."""

    names: tuple[str, ...]
    cls: np.ndarray          # FC / ATTN / ELEM
    flop_t: np.ndarray       # FLOPs per query token
    flop_qc: np.ndarray      # FLOPs per (query token x context token)
    byte_w: np.ndarray       # weight bytes
    byte_t: np.ndarray       # activation bytes per query token (in + out)
    byte_c: np.ndarray       # KV-cache bytes per context token
    bcast_t: np.ndarray      # part of byte_t every device of a PIM pool receives whole (FC inputs)
    gpu_div: np.ndarray      # per-GPU share divisor under TP (tp for sharded ops, 1 for replicated)
    reps: np.ndarray         # layers (layer ops) or 1 (LM head)
    layers: int
    hidden: int
    heads: int
    kv_heads: int
    ffn: int
    vocab: int
    elem_bytes: float
    weight_bytes: float      # all parameters held in device memory (incl. embeddings)

    @property
    def n(self) -> int:
        return len(self.names)

    @property
    def kv_bytes_per_token(self) -> float:
        """K and V bytes of one context token over all layers."""
        return float(self.byte_c[self.cls == ATTN].sum()) * self.layers


def compile_llm_ops(t: Transformer, tp: int) -> LlmOps:
    """Op table of a decoder layer and the LM head, with TP share divisors for ``tp``.

    Per layer (b = bytes per element, h hidden, f intermediate, kv = kv_heads * d_head):
      norm1   ELEM  byte_t = 2 h b (read + write; residual add fused)            replicated
      qkv     FC    W = h (h + 2 kv);  flop_t = 2 W;  byte_t = (h + h + 2 kv) b    / tp
      attn    ATTN  fused Q.K^T, softmax, P.V: flop_qc = 4 h; byte_c = 2 kv b;
                    byte_t = 2 h b (q in, context out)                             / tp (KV heads
                    replicated when kv_heads < tp)
      proj    FC    W = h h
      norm2   ELEM  as norm1
      ffn_up  FC    W = h f (gpt) or h 2f (llama: gate and up)
      act     ELEM  byte_t = 2 f b (gpt GELU) or 3 f b (llama SiLU(gate) * up)     / tp
      ffn_down FC   W = f h
    and once per step: lm_head FC W = vocab h (vocab-parallel under TP).
    Shares under TP: an op split over n units (heads, kv heads, intermediate features, vocab) on
    tp GPUs gives each GPU ceil(n / tp) of them, so its share divisor is n / ceil(n / tp) (= tp
    when tp divides n; the largest shard sets the time when it does not, e.g. 64 heads on 6 GPUs).
    On a PIM pool FC ops are column-parallel: every device receives the whole input (bcast_t = C b
    per token) and returns its slice of the output.
    Weight bytes in memory add the token embedding (vocab h) for llama (untied); GPT ties it to
    the LM head."""
    h, heads, f, L = t.hidden_size, t.num_attention_heads, t.intermediate_size, t.num_hidden_layers
    b = t.precision_bits / 8.0
    d = h // heads
    kvh = t.kv_heads
    kv = kvh * d
    llama = t.architecture == "llama"
    up = 2 * f if llama else f

    def share(units: int) -> float:
        return units / math.ceil(units / tp)

    v = t.vocab_size
    rows = [
        # name, cls, flop_t, flop_qc, byte_w, byte_t, byte_c, bcast_t, gpu_div, reps
        ("norm1", ELEM, 0.0, 0.0, 0.0, 2 * h * b, 0.0, 0.0, 1.0, L),
        ("qkv", FC, 2.0 * h * (h + 2 * kv), 0.0, h * (h + 2 * kv) * b, (2 * h + 2 * kv) * b, 0.0, h * b, share(heads), L),
        # KV heads are replicated when kv_heads < tp: the attention share follows the KV heads
        # (each GPU reads ceil(kv_heads / tp) heads' cache; FLOPs then over-counted a little).
        ("attn", ATTN, 0.0, 4.0 * h, 0.0, 2 * h * b, 2 * kv * b, 0.0, share(kvh), L),
        ("proj", FC, 2.0 * h * h, 0.0, h * h * b, 2 * h * b, 0.0, h * b, share(heads), L),
        ("norm2", ELEM, 0.0, 0.0, 0.0, 2 * h * b, 0.0, 0.0, 1.0, L),
        ("ffn_up", FC, 2.0 * h * up, 0.0, h * up * b, (h + up) * b, 0.0, h * b, share(f), L),
        ("act", ELEM, 0.0, 0.0, 0.0, (3 * f if llama else 2 * f) * b, 0.0, 0.0, share(f), L),
        ("ffn_down", FC, 2.0 * f * h, 0.0, f * h * b, (f + h) * b, 0.0, f * b, share(f), L),
        ("lm_head", FC, 2.0 * v * h, 0.0, v * h * b, (h + v) * b, 0.0, h * b, share(v), 1),
    ]
    cols = [np.array(c, np.float64) for c in zip(*[r[1:] for r in rows])]
    weights = float((cols[3] * cols[8]).sum()) + (v * h * b if llama else 0.0)
    return LlmOps(
        names=tuple(r[0] for r in rows), cls=cols[0].astype(np.int64), flop_t=cols[1], flop_qc=cols[2],
        byte_w=cols[3], byte_t=cols[4], byte_c=cols[5], bcast_t=cols[6], gpu_div=cols[7],
        reps=cols[8].astype(np.int64), layers=L, hidden=h, heads=heads, kv_heads=kvh, ffn=f, vocab=v,
        elem_bytes=b, weight_bytes=weights)


# --- kernels ---------------------------------------------------------------------------------

@nb.njit(cache=True)
def step_cost(T, T_head, q, ctx_sum, fc_dev, attn_dev, elem_dev, cls, flop_t, flop_qc, byte_w, byte_t, byte_c,
              bcast_t, gpu_div, reps, dev, tp, pp, gpu_link_bw, gpu_link_lat, gpu_link_pj, act_bytes_per_token,
              logit_bytes_per_token, kraken, op_out):
    """Time and energy of one forward pass over all layers (one decode step, or the prefill).

    Per op i on device d (GPU, or a PIM pool whose ``D_NDEV`` devices share the op):
        share  = gpu_div[i] on the GPU (TP shard), D_NDEV on a pool
        flops  = (flop_t T + flop_qc q C) / share;   bytes = (byte_w + byte_t T + byte_c C) / share
        t_i    = roofline(flops, bytes, dev rates, launch) (+ on a pool: send_recv over each device's
                 own link of (bcast_t + (byte_t - bcast_t) / share) T: FC inputs whole, the rest split)
        e_i    = op_energy(flops, bytes) * devices running it (tp on GPUs, D_NDEV on a pool)
    Layers: sum_i reps_i t_i. Tensor parallelism (tp > 1 on GPUs) adds ring all-reduces of the
    layer output (T h b bytes): two per layer (Megatron), or for ``kraken`` one whose exposed time
    is max(0, AR - attention time of the next layer), fully exposed on each stage's last layer:
        standard: 2 L AR;  kraken: (L - pp) max(0, AR - t_attn) + pp AR
    The LM head (ops with reps 1) runs on ``T_head`` tokens: T in decode (every verified token),
    one per request in a prefill. The vocab-parallel LM head adds an all-gather of the logits (T vocab b); pipeline stages add
    (pp - 1) send/recv of the activations. Returns (time_s, energy_j, comm_s)."""
    n = cls.shape[0]
    total = 0.0
    energy = 0.0
    attn_t = 0.0
    layers = 0
    for i in range(n):
        c = cls[i]
        d = fc_dev if c == FC else (attn_dev if c == ATTN else elem_dev)
        share = gpu_div[i] if d == GPU else dev[d, D_NDEV]
        runners = tp if d == GPU else dev[d, D_NDEV]
        Ti = T if reps[i] > 1 else T_head
        fl = (flop_t[i] * Ti + flop_qc[i] * q * ctx_sum) / share
        by = (byte_w[i] + byte_t[i] * Ti + byte_c[i] * ctx_sum) / share
        t, bound = roofline(fl, by, dev[d, D_FLOPS], dev[d, D_BW], dev[d, D_LAUNCH])
        e = op_energy(fl, by, dev[d, D_PJ_FLOP], dev[d, D_PJ_BIT]) * runners
        if d != GPU:
            ts, wire = send_recv((bcast_t[i] + (byte_t[i] - bcast_t[i]) / share) * Ti, dev[d, D_LINK_BW], dev[d, D_LINK_LAT])
            wire *= share
            t += ts
            e += wire * 8.0 * dev[d, D_LINK_PJ] * 1e-12
        op_out[i, O_TIME] = t
        op_out[i, O_ENERGY] = e
        op_out[i, O_FLOPS] = fl
        op_out[i, O_BYTES] = by
        op_out[i, O_BOUND] = bound
        op_out[i, O_DEVICE] = d
        total += reps[i] * t
        energy += reps[i] * e
        if c == ATTN:
            attn_t = t
        if reps[i] > layers:
            layers = reps[i]
    comm = 0.0
    if tp > 1:
        ar, wire = ring_allreduce(act_bytes_per_token * T, tp, gpu_link_bw, gpu_link_lat)
        if kraken:
            exposed = ar - attn_t
            if exposed < 0.0:
                exposed = 0.0
            comm += (layers - pp) * exposed + pp * ar
            energy += layers * wire * 8.0 * gpu_link_pj * 1e-12
        else:
            comm += 2.0 * layers * ar
            energy += 2.0 * layers * wire * 8.0 * gpu_link_pj * 1e-12
        if fc_dev == GPU:
            ag, wire = all_gather(logit_bytes_per_token * T_head, tp, gpu_link_bw, gpu_link_lat)
            comm += ag
            energy += wire * 8.0 * gpu_link_pj * 1e-12
    if pp > 1:
        p2p, wire = send_recv(act_bytes_per_token * T, gpu_link_bw, gpu_link_lat)
        comm += (pp - 1) * p2p
        energy += (pp - 1) * wire * 8.0 * gpu_link_pj * 1e-12
    return total + comm, energy, comm


@nb.njit(cache=True)
def dispatch(policy, alpha, T):
    """Devices (fc, attn, elem) of a decode step with T = RLP x TLP tokens. Policies: 0 gpu (all on
    the GPU), 1 gpu_attn_pim (attention on the attention pool), 2 papi (FC on the GPU if T > alpha,
    else on the FC pool; attention on the attention pool), 3 pim (all on the all-role pool)."""
    if policy == P_PIM:
        return ALL_POOL, ALL_POOL, ALL_POOL
    fc = FC_POOL if policy == P_PAPI and T <= alpha else GPU
    return fc, (GPU if policy == P_GPU else ATTN_POOL), GPU


@nb.njit(cache=True)
def decode_trace(lengths, prompt, tlp, policy, alpha, cls, flop_t, flop_qc, byte_w, byte_t, byte_c,
                 bcast_t, gpu_div, reps, dev, tp, pp, gpu_link_bw, gpu_link_lat, gpu_link_pj,
                 act_bytes_per_token, logit_bytes_per_token, kraken, op_out, res):
    """Step-by-step decode of one replica's requests (static batch: all start together after the
    prefill; ``lengths`` are their output lengths in ascending order). Step k (g = k * tlp tokens
    generated so far, n active requests):

        T = n * tlp  (RLP x TLP);   C = n * (prompt + g + tlp)  (each reads its whole context)
        devices from :func:`dispatch` (PAPI: FC on the GPU if T > alpha, else FC-PIM)
        then g += tlp; requests with length <= g finish at the step's end.

    Results in ``res``: decode time, energy, steps, output tokens, sum over requests of
    (finish time / length) (TPOT), first-step time, steps with FC on the GPU, peak context tokens
    held (KV), communication time."""
    for k in range(res.shape[0]):
        res[k] = 0.0
    R = lengths.shape[0]
    idx = 0
    while idx < R and lengths[idx] <= 0:
        idx += 1
    g = 0
    now = 0.0
    while idx < R:
        n = R - idx
        T = n * tlp
        ctx = n * (prompt + g + tlp)
        fc_dev, attn_dev, elem_dev = dispatch(policy, alpha, T)
        t, e, comm = step_cost(T, T, tlp, ctx, fc_dev, attn_dev, elem_dev, cls, flop_t, flop_qc, byte_w,
                               byte_t, byte_c, bcast_t, gpu_div, reps, dev, tp, pp, gpu_link_bw, gpu_link_lat,
                               gpu_link_pj, act_bytes_per_token, logit_bytes_per_token, kraken, op_out)
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


# --- Python face -----------------------------------------------------------------------------

@dataclass(frozen=True)
class LlmPoint:
    """A resolved workload + hardware pair ready for evaluation (any parallel config)."""

    model_name: str
    t: Transformer
    hw: LlmHardwareSpec
    lengths: np.ndarray      # output tokens per request, in request order (seeded)
    source: str              # the workload file, for errors


def output_lengths(t: Transformer) -> np.ndarray:
    """Output tokens of each of the ``batch`` requests. A fixed count, or a seeded draw from a
    bundled distribution. These *resemble* the Dolly-15k categories PAPI samples from; they are
    log-normal shapes chosen by hand (not fitted to the dataset):
        dolly_creative    median 320 tokens, sigma 0.7, clipped to [16, 1024]
        dolly_general_qa  median 120 tokens, sigma 0.9, clipped to [8, 1024]"""
    dec = t.decode
    if isinstance(dec.output_tokens, int):
        return np.full(t.batch, dec.output_tokens, dtype=np.int64)
    median, sigma, lo, hi = {"dolly_creative": (320, 0.7, 16, 1024),
                             "dolly_general_qa": (120, 0.9, 8, 1024)}[dec.output_tokens]
    rng = np.random.default_rng(dec.seed)
    draw = rng.lognormal(mean=math.log(median), sigma=sigma, size=t.batch)
    return np.clip(np.rint(draw), lo, hi).astype(np.int64)


def build(workload: WorkloadSpec, hardware: LlmHardwareSpec) -> LlmPoint:
    if len(workload.models) != 1 or not isinstance(workload.models[0].generator, Transformer):
        raise DseError(workload.source, "models", "one transformer model for GPU/PIM hardware",
                       [m.name for m in workload.models])
    model = workload.models[0]
    t = model.generator
    if t.decode is None:        # prefill only
        from dataclasses import replace

        from dse.spec.workload import Decode

        t = replace(t, decode=Decode(output_tokens=0, include_prefill=True))
    return LlmPoint(model.name, t, hardware, output_lengths(t), workload.source)


def parallel_configs(point: LlmPoint) -> list[tuple[int, int, int]]:
    """(tp, pp, dp) to evaluate: the spec's, or with ``parallel: auto`` every factorisation of the
    GPU count (PIM-only: tp 1, pp x dp dividing the pool) with tp <= heads, pp <= layers, dp <= batch."""
    hw, t = point.hw, point.t
    par = hw.parallel
    if not par.auto:
        return [(int(par.tp), int(par.pp), int(par.dp))]
    if hw.gpu is not None and hw.dispatch.policy != "pim":
        n = int(hw.gpu.count)
        out = []
        for tp in _divisors(n):
            for pp in _divisors(n // tp):
                if tp <= t.num_attention_heads and pp <= t.num_hidden_layers and n // (tp * pp) <= t.batch:
                    out.append((tp, pp, n // (tp * pp)))
        return out
    pool = hw.pool("all")
    return [(1, pp, dp) for dp in _divisors(int(pool.count)) for pp in _divisors(int(pool.count) // dp)
            if pp <= t.num_hidden_layers and dp <= t.batch]


def _divisors(n: int) -> list[int]:
    return [k for k in range(1, n + 1) if n % k == 0]


def _device_table(hw: LlmHardwareSpec, pp: int, dp: int) -> np.ndarray:
    dev = np.zeros((4, N_DCOLS))
    dev[:, D_NDEV] = 1.0
    dev[:, D_FLOPS] = 1.0
    dev[:, D_BW] = 1.0
    dev[:, D_LINK_BW] = 1.0
    if hw.gpu is not None:
        g = hw.gpu
        dev[GPU, D_FLOPS], dev[GPU, D_BW] = gpu_rates(g.peak_flop_per_s, g.memory_bytes_per_s,
                                                      g.compute_efficiency, g.memory_efficiency)
        dev[GPU, D_LAUNCH], dev[GPU, D_PJ_FLOP], dev[GPU, D_PJ_BIT] = g.kernel_launch_s, g.pj_per_flop, g.memory_pj_per_bit
        dev[GPU, D_PRESENT] = 1.0
    for pool in hw.pims:
        d = DEVICE_ROLES[pool.role]
        banks = pool.dies * pool.banks_per_die_value()
        dev[d, D_FLOPS], dev[d, D_BW] = pim_rates(float(banks), pool.fpus_per_bank, pool.fpu_flop_per_s,
                                                  pool.bank_bytes_per_s, pool.external_bytes_per_s,
                                                  pool.power_multiple)
        dev[d, D_PJ_FLOP], dev[d, D_PJ_BIT] = pool.alu_pj_per_flop, pool.access_pj_per_bit
        dev[d, D_NDEV] = max(1.0, float(pool.count // (pp * dp)))
        link = hw.link(pool.link)
        dev[d, D_LINK_BW], dev[d, D_LINK_LAT], dev[d, D_LINK_PJ] = link.bytes_per_s, link.latency_s, link.pj_per_bit
        dev[d, D_PRESENT] = 1.0
    return dev


def check_gemv(point: LlmPoint, ops: LlmOps) -> None:
    """PIM runs GEMV-like ops only: at most ``max_query_tokens`` query tokens per request per op.
    Any op a policy would send to a pool beyond that is an error naming the op, never a zero."""
    hw, t = point.hw, point.t
    policy = hw.dispatch.policy
    phases = [("decode", t.decode.tlp)]
    if policy == "pim" and t.decode.include_prefill:      # other policies prefill on the GPU
        phases.insert(0, ("prefill", t.seq_len))
    for phase, q in phases:
        for pool in hw.pims:
            if pool.role not in POLICY_ROLES[policy] or q <= pool.max_query_tokens:
                continue
            op = "attn" if pool.role == "attn" else "qkv"
            raise DseError(point.source, "models[0].transformer" + (
                ".decode.tlp" if phase == "decode" else ".seq_len"),
                f"GEMV-like ops on PIM pool '{pool.name}' (at most {pool.max_query_tokens} query tokens "
                f"per request; {phase} op '{op}' has {q})", q)


def evaluate(point: LlmPoint, tp: int, pp: int, dp: int, op_rows: list | None = None) -> dict:
    """Metrics of one parallel config (the JSON / Parquet contract; see README). Infeasible
    configs (memory over capacity, degrees that do not fit the devices) keep their metrics and
    get ``feasible`` False with the reasons in ``violations``."""
    hw, t = point.hw, point.t
    dec = t.decode
    ops = compile_llm_ops(t, tp)
    check_gemv(point, ops)
    policy = POLICIES.index(hw.dispatch.policy)
    uses_gpu = hw.gpu is not None and policy != P_PIM
    violations: list[str] = []
    if uses_gpu:
        if tp * pp * dp > hw.gpu.count:      # fewer is allowed: the rest idle (and draw idle power)
            violations.append(f"tp*pp*dp = {tp * pp * dp} > {hw.gpu.count} GPUs")
    elif tp != 1:
        violations.append("tp must be 1 without GPUs")
    if tp > t.num_attention_heads:
        violations.append(f"tp {tp} > {t.num_attention_heads} heads")
    if pp > t.num_hidden_layers:
        violations.append(f"pp {pp} > {t.num_hidden_layers} layers")
    if dp > t.batch:
        violations.append(f"dp {dp} > batch {t.batch}")
    for pool in hw.pims:
        if pool.count < pp * dp:
            violations.append(f"{pool.name}: {pool.count} devices < pp*dp = {pp * dp}")
        if pool.die_area_mm2() > pool.die_max_mm2 * (1 + 1e-9):
            violations.append(f"{pool.name}: die area {pool.die_area_mm2():.1f} mm2 > {pool.die_max_mm2} mm2")
    dev = _device_table(hw, pp, dp)
    link = hw.link(hw.gpu.link) if hw.gpu is not None else hw.link(hw.pims[0].link)
    b = ops.elem_bytes
    kraken = t.layer_variant == "kraken"
    args = (ops.cls, ops.flop_t, ops.flop_qc, ops.byte_w, ops.byte_t, ops.byte_c, ops.bcast_t, ops.gpu_div, ops.reps,
            dev, tp, pp, link.bytes_per_s, link.latency_s, link.pj_per_bit, ops.hidden * b, ops.vocab * b,
            kraken)
    op_out = np.zeros((ops.n, 6))
    replicas = [np.sort(point.lengths[k::dp]) for k in range(dp)]
    n_req = max(len(r) for r in replicas)
    # Prefill of the largest replica batch (all replicas run theirs concurrently).
    ttft = float("nan")
    energy = 0.0
    comm = 0.0
    if dec.include_prefill:
        dev_p = ALL_POOL if policy == P_PIM else GPU     # prefill GEMMs: on the GPU unless PIM-only
        T = n_req * t.seq_len
        ttft, e_one, comm_p = step_cost(float(T), float(n_req), float(t.seq_len), float(T), dev_p, dev_p, dev_p, *args, op_out)
        kv_move = 0.0
        if "attn" in POLICY_ROLES[hw.dispatch.policy]:     # the prompt's KV goes to the attention pool
            kv_move, _ = send_recv(ops.kv_bytes_per_token * T, dev[ATTN_POOL, D_LINK_BW], dev[ATTN_POOL, D_LINK_LAT])
            e_one += ops.kv_bytes_per_token * T * 8.0 * dev[ATTN_POOL, D_LINK_PJ] * 1e-12
        ttft += kv_move
        comm += comm_p
        energy += sum(e_one * len(r) / n_req for r in replicas)
        if op_rows is not None:
            op_rows += _op_rows("prefill", ops, op_out)
    decode_s = 0.0
    tokens = 0.0
    tpot_sum = 0.0
    total_steps = 0.0
    fc_gpu = 0.0
    first = float("nan")
    kv_peak = 0.0
    res = np.zeros(N_RES)
    for k, lengths in enumerate(replicas):
        decode_trace(lengths, t.seq_len, dec.tlp, policy, float(hw.dispatch.alpha), *args, op_out, res)
        if k == 0:
            first = res[R_FIRST] if res[R_STEPS] else float("nan")
            if op_rows is not None and res[R_STEPS]:
                # per-op rows of the first decode step at the full batch (re-run for its op_out)
                n0 = len(lengths)
                T0 = float(n0 * dec.tlp)
                step_cost(T0, T0, float(dec.tlp), float(n0 * (t.seq_len + dec.tlp)),
                          *dispatch(policy, float(hw.dispatch.alpha), T0), *args, op_out)
                op_rows += _op_rows("decode step 1", ops, op_out)
        decode_s = max(decode_s, res[R_TIME])
        energy += res[R_ENERGY]
        tokens += res[R_TOKENS]
        tpot_sum += res[R_TPOT_SUM]
        total_steps += res[R_STEPS]
        fc_gpu += res[R_FC_GPU_STEPS]
        kv_peak = max(kv_peak, res[R_KV_PEAK])
        comm += res[R_COMM]
    latency = (0.0 if math.isnan(ttft) else ttft) + decode_s
    if uses_gpu:
        energy += hw.gpu.idle_w * hw.gpu.count * latency
    # Memory per device (bytes).
    n_prefill_tokens = n_req * t.seq_len if dec.include_prefill else n_req * dec.tlp
    kv_prefill = n_req * t.seq_len if dec.include_prefill else 0.0
    kv_tokens = max(kv_peak, kv_prefill)
    layers_per_stage = math.ceil(t.num_hidden_layers / pp)
    kv_bytes = kv_tokens * ops.kv_bytes_per_token * layers_per_stage / t.num_hidden_layers
    weights = ops.weight_bytes / pp
    act = 2.0 * n_prefill_tokens * (ops.hidden + ops.ffn * (2 if t.architecture == "llama" else 1) / tp) * b
    gpu_mem = float("nan")
    pim_mem = float("nan")
    roles = POLICY_ROLES[hw.dispatch.policy]
    if uses_gpu:       # weights live on the GPU unless an fc pool holds them; KV unless a pool does
        gpu_mem = (act + (0.0 if "fc" in roles else weights / tp)
                   + (0.0 if roles else kv_bytes / ops.gpu_div[ops.names.index("attn")]))
        if gpu_mem > hw.gpu.memory_bytes:
            violations.append(f"GPU memory {gpu_mem / 1e9:.1f} GB > {hw.gpu.memory_bytes / 1e9:.1f} GB")
    for pool in hw.pims:
        if pool.role not in roles:
            continue
        held = {"fc": weights, "attn": kv_bytes, "all": weights + kv_bytes}[pool.role]
        per_dev = held / dev[DEVICE_ROLES[pool.role], D_NDEV]
        pim_mem = per_dev if math.isnan(pim_mem) else max(pim_mem, per_dev)
        cap = pool.capacity_bytes()
        if per_dev > cap:
            violations.append(f"{pool.name} memory {per_dev / 1e9:.1f} GB > {cap / 1e9:.1f} GB per device")
    return {
        "tokens_per_s": tokens / latency if latency > 0 else 0.0,
        "ttft_s": ttft,
        "tpot_s": tpot_sum / len(point.lengths) if len(point.lengths) else float("nan"),
        "decode_first_step_s": first,
        "decode_s": decode_s,
        "latency_s": latency,
        "output_tokens": tokens,
        "energy_j": energy,
        "energy_per_token_j": energy / tokens if tokens else float("nan"),
        "comm_s": comm,
        "decode_steps": total_steps,
        "fc_on_gpu_fraction": fc_gpu / total_steps if total_steps else float("nan"),
        "peak_gpu_memory_bytes": gpu_mem,
        "peak_pim_memory_bytes": pim_mem,
        "tp": tp, "pp": pp, "dp": dp,
        "policy": hw.dispatch.policy,
        "alpha": float(hw.dispatch.alpha),
        "feasible": not violations,
        "violations": "; ".join(violations),
    }


def _op_rows(phase: str, ops: LlmOps, op_out: np.ndarray) -> list[dict]:
    from dse.cost.roofline import BOUNDS_LLM

    devices = ("gpu", "fc_pim", "attn_pim", "pim")
    return [{"phase": phase, "name": name, "class": CLASSES[int(ops.cls[i])],
             "device": devices[int(op_out[i, O_DEVICE])], "count": int(ops.reps[i]),
             "flops": float(op_out[i, O_FLOPS]), "bytes": float(op_out[i, O_BYTES]),
             "latency_s": float(op_out[i, O_TIME]), "energy_j": float(op_out[i, O_ENERGY]),
             "bound": BOUNDS_LLM[int(op_out[i, O_BOUND])]} for i, name in enumerate(ops.names)]


def mapping_text(tp: int, pp: int, dp: int) -> str:
    return f"tp={tp},pp={pp},dp={dp}"
