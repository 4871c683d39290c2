"""LLM evaluator: prefill and step-by-step decode of a request batch on GPUs and PIM pools, with
tensor / pipeline / data parallelism, Kraken-style all-reduce overlap and per-step GPU <-> PIM
dispatch (PAPI).

resolved specs -> :func:`build` (:class:`LlmPoint`) -> per parallel config (tp, pp, dp):
:func:`linear_ops` (the model's LLM view with TP shares) + :func:`device_table` ->
:func:`prefill` and :func:`decode` (kernels) -> :func:`memory_use` (dse.system.gpu.memory) -> the metrics
of :func:`evaluate_config` (the JSON / Parquet contract; see README).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from dse.cost.roofline import BOUNDS_LLM
from dse.errors import DseError
from dse.models.views import CLASSES, LinearOps, linear_ops
from dse.system.llm.spec import PIM_ONLY, POLICIES, POLICY_ROLES, GpuPimHardware
from dse.spec.workload import Decode, Transformer, WorkloadSpec
from dse.system.gpu import memory
from dse.system.gpu.devices import blank_device_table, fill_gpu_row, gpu_system
from dse.system.gpu.kernels import (ATTN_POOL, D_NDEV, DEVICE_NAMES, GPU, N_DEVICES, N_OCOLS, O_BOUND, O_BYTES,
                                    O_DEVICE, O_ENERGY, O_FLOPS, O_TIME, GpuSystem, Step, dispatch, step_cost,
                                    to_pool)
from dse.system.gpu.parallel import divisors, group_link, parallel_configs as gpu_configs
from dse.system.gpu.pim import DEVICE_ROLES, fill_pim_row, pool_violations
from dse.system.llm.kernels import (N_RES, R_COMM, R_ENERGY, R_FC_GPU_STEPS, R_FIRST, R_KV_PEAK, R_STEPS, R_TIME,
                                    R_TOKENS, R_TPOT_SUM, Trace, decode_trace)


@dataclass(frozen=True)
class LlmPoint:
    """A resolved workload + hardware pair ready for evaluation (any parallel config)."""

    model_name: str
    t: Transformer           # decode section always present (prefill-only: 0 output tokens)
    hw: GpuPimHardware
    lengths: np.ndarray      # output tokens per request, in request order (seeded)
    prefill_only: bool       # the workload had no decode section
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


def check_workload(workload: WorkloadSpec) -> None:
    """GPU/PIM hardware runs one transformer model."""
    if len(workload.models) != 1 or not isinstance(workload.models[0].generator, Transformer):
        raise DseError(workload.source, "models", "one transformer model for GPU/PIM hardware",
                       [m.name for m in workload.models])


def build(workload: WorkloadSpec, hardware: GpuPimHardware) -> LlmPoint:
    """A point from resolved specs that passed :func:`check_workload` (the kind checks once, before
    any search work); PIM-incompatible ops are errors here (:func:`check_gemv`), since the knobs
    they depend on (TLP, prompt length) are resolved per point."""
    model = workload.models[0]
    t = model.generator
    prefill_only = t.decode is None
    if prefill_only:
        t = replace(t, decode=Decode(output_tokens=0, include_prefill=True))
    point = LlmPoint(model.name, t, hardware, output_lengths(t), prefill_only, workload.source)
    check_gemv(point)
    return point


def parallel_configs(point: LlmPoint) -> list[tuple[int, int, int]]:
    """(tp, pp, dp) to evaluate: the spec's, or with ``parallel: auto`` every factorisation of the
    GPU count (PIM-only: tp 1, pp x dp dividing the pool) with tp <= heads, pp <= layers, dp <= batch."""
    hw, t = point.hw, point.t
    par = hw.parallel
    if not par.auto:
        return [(int(par.tp), int(par.pp), int(par.dp))]
    if uses_gpu(hw):
        return gpu_configs(hw.gpu_count, lambda tp, pp, dp: tp <= t.num_attention_heads
                           and pp <= t.num_hidden_layers and dp <= t.batch)
    pool = min((p for p in hw.pims if p.role in POLICY_ROLES[hw.dispatch.policy]), key=lambda p: p.count)
    return [(1, pp, dp) for dp in divisors(int(pool.count)) for pp in divisors(int(pool.count) // dp)
            if pp <= t.num_hidden_layers and dp <= t.batch]


def device_table(hw: GpuPimHardware, pp: int, dp: int) -> np.ndarray:
    """The shared device table (dse.system.gpu.devices) with the GPU row and one row per PIM pool
    role (FC_POOL, ATTN_POOL, ALL_POOL). A pool's devices are split evenly over the pp x dp stage
    replicas: D_NDEV = max(1, count // (pp dp))."""
    dev = blank_device_table(N_DEVICES)
    if hw.gpu is not None:
        fill_gpu_row(dev, hw.gpu)
    for pool in hw.pims:
        fill_pim_row(dev, pool, pool.count // (pp * dp), hw.link(pool.link))
    return dev


def check_gemv(point: LlmPoint) -> None:
    """PIM runs GEMV-like ops only: at most ``max_query_tokens`` query tokens per request per op.
    Any op a policy would send to a pool beyond that is an error naming the op, never a zero."""
    hw, t = point.hw, point.t
    policy = hw.dispatch.policy
    phases = [("decode", t.decode.tlp)]
    if policy in PIM_ONLY and t.decode.include_prefill:      # other policies prefill on the GPU
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


def config_violations(point: LlmPoint, tp: int, pp: int, dp: int) -> list[str]:
    """Degrees that do not fit the devices or the model, and PIM dies over their area budget."""
    hw, t = point.hw, point.t
    violations: list[str] = []
    if uses_gpu(hw):
        if tp * pp * dp > hw.gpu_count:      # fewer is allowed: the rest idle (and draw idle power)
            violations.append(f"tp*pp*dp = {tp * pp * dp} > {hw.gpu_count} GPUs")
    elif tp != 1:
        violations.append("tp must be 1 without GPUs")
    if tp > t.num_attention_heads:
        violations.append(f"tp {tp} > {t.num_attention_heads} heads")
    if pp > t.num_hidden_layers:
        violations.append(f"pp {pp} > {t.num_hidden_layers} layers")
    if dp > t.batch:
        violations.append(f"dp {dp} > batch {t.batch}")
    for pool in hw.pims:
        v = pool_violations(pool)
        violations += v[:1]
        if pool.count < pp * dp:
            violations.append(f"{pool.name}: {pool.count} devices < pp*dp = {pp * dp}")
        violations += v[1:]
    return violations


def uses_gpu(hw: GpuPimHardware) -> bool:
    return hw.gpu is not None and hw.dispatch.policy not in PIM_ONLY


def system_bundle(point: LlmPoint, ops: LinearOps, tp: int, pp: int, dp: int) -> GpuSystem:
    """The shared kernels' bundle for (tp, pp, dp). Links: ``gpu.link`` for every collective and
    stage send; with a cluster section (replicas of tp x pp consecutive GPUs, TP ranks fastest, as
    Megatron places them), a TP group talks over the intra-node link when every group lies inside
    a node (tp divides gpus_per_node), else over the inter-node link; stage sends go over the
    intra-node link when every replica lies inside a node (tp x pp divides gpus_per_node), else all
    of them over the inter-node link (the serving kind's rule; sends between stages that happen to
    share a node are priced as inter-node)."""
    hw = point.hw
    if hw.cluster is not None:
        link, stage = group_link(hw.cluster, tp), group_link(hw.cluster, tp * pp)
    else:
        link = stage = hw.link(hw.gpu.link) if hw.gpu is not None else hw.link(hw.pims[0].link)
    return gpu_system(device_table(hw, pp, dp), tp, pp, link, ops.hidden, ops.vocab, ops.elem_bytes,
                      kraken=point.t.layer_variant == "kraken", stage_link=stage)


def prefill(point: LlmPoint, ops: LinearOps, system: GpuSystem, n_req: int,
            op_out: np.ndarray) -> tuple[float, float, float]:
    """Prefill of one replica's ``n_req`` prompts (all replicas run theirs concurrently), on the
    GPUs unless PIM-only; then, when an attention pool holds the KV cache, the prompt's KV moves
    to it over the pool's link. Returns (ttft_s, energy_j of the replica, comm_s)."""
    hw, t = point.hw, point.t
    T = n_req * t.seq_len
    if uses_gpu(hw):
        fc_p = attn_p = elem_p = GPU
    else:                          # PIM-only: the policy's own devices
        fc_p, attn_p, elem_p = dispatch(POLICIES.index(hw.dispatch.policy), float(hw.dispatch.alpha), float(T))
    step = Step(float(T), float(n_req), float(t.seq_len), float(T), fc_p, attn_p, elem_p)
    ttft, energy, comm = step_cost(step, ops.arrays, system, op_out)
    kv_move = 0.0
    if "attn" in POLICY_ROLES[hw.dispatch.policy]:
        dev = system.dev
        kv_move, move_j = to_pool(dev, ATTN_POOL, ops.kv_bytes_per_token * T)
        energy += move_j
    return ttft + kv_move, energy, comm


def decode(point: LlmPoint, ops: LinearOps, system: GpuSystem, lengths: np.ndarray,
           op_out: np.ndarray) -> np.ndarray:
    """The decode trace of one replica's requests (``lengths`` ascending): the R_* result vector."""
    t, hw = point.t, point.hw
    res = np.zeros(N_RES)
    trace = Trace(lengths, int(t.seq_len), int(t.decode.tlp), POLICIES.index(hw.dispatch.policy),
                  float(hw.dispatch.alpha))
    decode_trace(trace, ops.arrays, system, op_out, res)
    return res


def first_step(point: LlmPoint, ops: LinearOps, system: GpuSystem, n0: int, op_out: np.ndarray) -> None:
    """Re-run the first decode step at the full batch of ``n0`` requests to fill ``op_out``."""
    t, hw = point.t, point.hw
    T0 = float(n0 * t.decode.tlp)
    fc, attn, elem = dispatch(POLICIES.index(hw.dispatch.policy), float(hw.dispatch.alpha), T0)
    step = Step(T0, T0, float(t.decode.tlp), float(n0 * (t.seq_len + t.decode.tlp)), fc, attn, elem)
    step_cost(step, ops.arrays, system, op_out)


def memory_use(point: LlmPoint, ops: LinearOps, system: GpuSystem, n_req: int,
               kv_peak: float) -> tuple[float, float, list[str]]:
    """Peak bytes per GPU and per PIM device, and capacity violations (dse.system.gpu.memory):

        KV tokens   = max(peak context tokens of the decode, n_req x prompt after a prefill)
        KV / stage  = memory.kv_cache_per_stage(KV tokens, K+V bytes per token, layers, pp)
        GPU         = activations of a forward over n_req x (prompt, or TLP without prefill)
                      tokens  + weights / (pp tp) unless an fc pool holds them
                      + KV / stage / (attention share) unless a PIM pool holds it
        PIM device  = what its role holds (fc: weights / pp, attn: KV / stage, all: both)
                      / the pool's devices per stage replica
    Returns (GPU bytes or NaN, PIM bytes or NaN (the largest pool), violations)."""
    hw, t = point.hw, point.t
    dec = t.decode
    b = ops.elem_bytes
    tp, pp = system.tp, system.pp
    n_tokens = n_req * t.seq_len if dec.include_prefill else n_req * dec.tlp
    kv_prefill = n_req * t.seq_len if dec.include_prefill else 0.0
    kv_bytes = memory.kv_cache_per_stage(max(kv_peak, kv_prefill), ops.kv_bytes_per_token, t.num_hidden_layers, pp)
    stage_weights = memory.weights_per_device(ops.weight_bytes, 1, pp)
    roles = POLICY_ROLES[hw.dispatch.policy]
    violations: list[str] = []
    gpu_mem = float("nan")
    pim_mem = float("nan")
    if uses_gpu(hw):       # weights live on the GPU unless an fc pool holds them; KV unless a pool does
        act = memory.prefill_activations(n_tokens, ops.hidden, ops.ffn * (2 if t.architecture == "llama" else 1),
                                         tp, b)
        attn_share = ops.arrays.gpu_div[ops.index("attn")]
        gpu_mem = (act + (0.0 if "fc" in roles else memory.weights_per_device(ops.weight_bytes, tp, pp))
                   + (0.0 if roles else kv_bytes / attn_share))
        v = memory.over_capacity("GPU memory", gpu_mem, hw.gpu.memory_bytes)
        if v:
            violations.append(v)
    for pool in hw.pims:
        if pool.role not in roles:
            continue
        held = {"fc": stage_weights, "attn": kv_bytes, "all": stage_weights + kv_bytes}[pool.role]
        per_dev = held / system.dev[DEVICE_ROLES[pool.role], D_NDEV]
        pim_mem = per_dev if math.isnan(pim_mem) else max(pim_mem, per_dev)
        v = memory.over_capacity(f"{pool.name} memory", per_dev, pool.capacity_bytes(), " per device")
        if v:
            violations.append(v)
    return gpu_mem, pim_mem, violations


def evaluate_config(point: LlmPoint, tp: int, pp: int, dp: int, op_rows: list | None = None) -> dict:
    """Metrics of one parallel config (the JSON / Parquet contract; see README). DP splits the
    requests round-robin; the batch time is the slowest replica's. Infeasible configs (memory over
    capacity, degrees that do not fit the devices) keep their metrics and get ``feasible`` False
    with the reasons in ``violations``. ``op_rows`` (if a list) receives per-op rows of the
    prefill and of the first decode step."""
    hw, t = point.hw, point.t
    dec = t.decode
    ops = linear_ops(t, tp)
    violations = config_violations(point, tp, pp, dp)
    system = system_bundle(point, ops, tp, pp, dp)
    op_out = np.zeros((ops.n, N_OCOLS))
    replicas = [np.sort(point.lengths[k::dp]) for k in range(dp)]
    n_req = max(len(r) for r in replicas)
    ttft = float("nan")
    energy = 0.0
    comm = 0.0
    if dec.include_prefill:
        ttft, e_one, comm_p = prefill(point, ops, system, n_req, op_out)
        comm += comm_p
        energy += sum(e_one * len(r) / n_req for r in replicas)
        if op_rows is not None:
            op_rows += per_op_rows("prefill", ops, op_out)
    decode_s = tokens = tpot_sum = total_steps = fc_gpu = kv_peak = 0.0
    first = float("nan")
    for k, lengths in enumerate(replicas):
        res = decode(point, ops, system, lengths, op_out)
        if k == 0 and res[R_STEPS]:
            first = res[R_FIRST]
            if op_rows is not None:
                first_step(point, ops, system, len(lengths), op_out)
                op_rows += per_op_rows("decode step 1", ops, op_out)
        decode_s = max(decode_s, res[R_TIME])
        energy += res[R_ENERGY]
        tokens += res[R_TOKENS]
        tpot_sum += res[R_TPOT_SUM]
        total_steps += res[R_STEPS]
        fc_gpu += res[R_FC_GPU_STEPS]
        kv_peak = max(kv_peak, res[R_KV_PEAK])
        comm += res[R_COMM]
    latency = (0.0 if math.isnan(ttft) else ttft) + decode_s
    if uses_gpu(hw):
        energy += hw.gpu.idle_w * hw.gpu_count * latency
    for pool in hw.pims:                 # static power of the PIM devices a policy powers
        if pool.role in POLICY_ROLES[hw.dispatch.policy]:
            energy += pool.idle_w * pool.count * latency
    gpu_mem, pim_mem, mem_violations = memory_use(point, ops, system, n_req, kv_peak)
    violations += mem_violations
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


def per_op_rows(phase: str, ops: LinearOps, op_out: np.ndarray) -> list[dict]:
    return [{"phase": phase, "name": name, "class": CLASSES[int(ops.arrays.cls[i])],
             "device": DEVICE_NAMES[int(op_out[i, O_DEVICE])], "count": int(ops.arrays.reps[i]),
             "flops": float(op_out[i, O_FLOPS]), "bytes": float(op_out[i, O_BYTES]),
             "latency_s": float(op_out[i, O_TIME]), "energy_j": float(op_out[i, O_ENERGY]),
             "bound": BOUNDS_LLM[int(op_out[i, O_BOUND])]} for i, name in enumerate(ops.names)]


def mapping_text(tp: int, pp: int, dp: int) -> str:
    return f"tp={tp},pp={pp},dp={dp}"

