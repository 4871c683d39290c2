"""Training evaluator: one iteration of pipeline-parallel training (tensor x pipeline x data
parallel) under a schedule, or a synthetic pipeline with given pass times.

resolved specs -> :func:`build` (:class:`TrainingPoint`) -> per parallel config (tp, pp, dp):
:func:`stage_costs` (per virtual stage F/B/W, sends and activation bytes: dse.system.training.costs
on the shared decomposition) + the schedule (dse.system.training.schedules) -> the simulator
(kernels.simulate) -> :func:`evaluate_config` (the JSON / Parquet contract, see README).

Iteration time (no overlap of the data-parallel gradient all-reduce with the pipeline, as in
Megatron without ``--overlap-grad-reduce``; the optimizer step after it):

    iteration_s = pipeline makespan + DP ring all-reduce of the device's gradients
                  + optimizer step (memory-bound: read weights, gradients and state, write weights
                    and state)
    tokens_per_s = global_batch x seq_len / iteration_s
    mfu = 3 x forward FLOPs of the batch / (iteration_s x GPUs x peak FLOP/s)   (no recompute counted)

Memory per GPU = its parameters x (weight + gradient + optimizer bytes per parameter) + the
simulator's peak activations. Parameters of a device: its layers' gemm weights / tp, plus the token
embedding on the device of the first stage and the LM head on the device of the last stage (a
separate copy under PP even when tied; once when both are on one device and tied).

GPU placement (Megatron order, TP fastest): GPU = tp_rank + tp (dp_rank + dp pp_rank), nodes of
``gpus_per_node`` consecutive GPUs. A group (TP, DP, or two stages' GPUs) talks over the intra-node
link when all its members share a node, else over the inter-node link.

**Per-stage costs of a transformer** (dse.system.gpu.kernels.pass_costs, this module): F, B and W of a
layer from the roofline on the shared decomposition (per op: F = the forward's FLOPs and bytes; B = the
same for GEMMs, 2× for attention (2.5× FLOPs with FlashAttention); W = the GEMMs' weight gradients), two
ring all-reduces of the layer's output per pass for tensor parallelism, the LM head on the last stage.
Activations per layer and microbatch: s b h (10 + 24/tp + 5 a s/(h tp)) bytes at 16-bit (Korthikanti
et al.; 2 s b h with recomputation; without the 5 a s term with FlashAttention) plus the logits on the last
stage. Stage sends carry s b h bytes over NVLink or the inter-node link depending on where the two stages'
GPUs sit (Megatron's rank order, TP fastest). The data-parallel gradient all-reduce runs after the
pipeline, not overlapped, then the optimizer step (memory-bound). Memory per GPU = parameters ×
(weight + gradient + optimizer bytes) + the simulator's peak activations; above `gpu.memory_bytes` the
row is infeasible.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dse.cost.collectives import ring_allreduce, send_recv
from dse.errors import DseError
from dse.models.operators import activation_bytes_per_token_per_layer_tp, tied_embeddings
from dse.models.views import linear_ops
from dse.spec.common import Knob, choices_of
from dse.system.training.spec import TrainingHardware
from dse.spec.workload import Pipeline, Transformer, WorkloadSpec
from dse.system.gpu import memory
from dse.system.gpu.devices import blank_device_table, fill_gpu_row, gpu_system
from dse.system.gpu.kernels import D_BW, GPU, PASS_B, PASS_F, PASS_W, pass_costs, pass_multipliers
from dse.system.gpu.parallel import group_link, layers_per_stage
from dse.system.gpu.parallel import parallel_configs as gpu_configs
from dse.system.gpu.spec import Link
from dse.system.training import schedules as sched
from dse.system.training.kernels import D_BUSY, D_FIRST, D_LAST, D_PEAK, N_DEV_COLS, PassCosts, simulate

WL = "models[0]"


@dataclass(frozen=True)
class TrainingPoint:
    model_name: str
    t: Transformer | None            # a transformer with a training section, or
    pipe: Pipeline | None            # a synthetic pipeline
    hw: TrainingHardware
    source: str                      # the workload file


def check_workload(workload: WorkloadSpec, hw: TrainingHardware) -> None:
    """One model: a transformer with a ``training`` section (needs gpu and cluster sections) or a
    synthetic ``pipeline``."""
    if len(workload.models) != 1:
        raise DseError(workload.source, "models", "one model for training hardware", [m.name for m in workload.models])
    gen = workload.models[0].generator
    if isinstance(gen, Pipeline):
        return
    if not isinstance(gen, Transformer) or gen.training is None:
        raise DseError(workload.source, f"{WL}.transformer.training" if isinstance(gen, Transformer) else WL,
                       "a transformer with a training section (global_batch, microbatch_size, ...) or a "
                       "synthetic pipeline section for training hardware")
    if hw.gpu is None:
        raise DseError(hw.source, "gpu", "gpu and cluster sections to train a transformer (a hardware file "
                       "without them runs synthetic pipelines only)")


def check_fixed_block(workload: WorkloadSpec, hw: TrainingHardware) -> None:
    """A block whose offsets, placement, chunks and stage count are all fixed must not collide: an
    error before any search work. Offsets left as search ranges may collide at some of their values;
    those designs become infeasible rows instead (:func:`evaluate_config`)."""
    s = hw.schedule
    if not set(choices_of(s.family)) & set(sched.GIVEN_BLOCK) or s.block is None:
        return
    gen = workload.models[0].generator
    stages = gen.stages if isinstance(gen, Pipeline) else None if hw.parallel.auto else hw.parallel.pp
    values = [stages, s.chunks, *(v for _, v in s.block.offsets)]
    if any(isinstance(v, Knob) or v is None for v in values):
        return
    try:
        offsets = sched.block_offsets(s.block.placement, int(stages), {k: int(v) for k, v in s.block.offsets})
        sched.block_times(s.block.placement, int(stages), offsets, int(s.chunks))
    except sched.ScheduleError as exc:
        raise DseError(hw.source, "system.schedule.block.offsets", str(exc),
                       {k: int(v) for k, v in s.block.offsets}) from None


def build(workload: WorkloadSpec, hw: TrainingHardware) -> TrainingPoint:
    """A point from resolved specs; a fixed parallel split the model cannot take is an error here,
    before any search work (the search probe builds every knob's extremes)."""
    model = workload.models[0]
    gen = model.generator
    point = TrainingPoint(model.name, gen if isinstance(gen, Transformer) else None,
                          gen if isinstance(gen, Pipeline) else None, hw, workload.source)
    if point.pipe is not None:
        par = hw.parallel
        if not par.auto and (par.tp != 1 or par.dp != 1 or par.pp != point.pipe.stages):
            raise DseError(hw.source, "system.parallel", f"tp 1, pp {point.pipe.stages} (the pipeline's stages), dp 1 "
                           "for a synthetic pipeline (or parallel: auto)", f"{par.tp} x {par.pp} x {par.dp}")
        if hw.schedule.family not in sched.GIVEN_BLOCK:   # a block's collisions: check_fixed_block / evaluate_config
            _schedule(point, int(point.pipe.stages), int(point.pipe.microbatches))
        return point
    if not hw.parallel.auto:
        problem = split_problem(point, int(hw.parallel.tp), int(hw.parallel.pp), int(hw.parallel.dp))
        if problem:
            field, expected, got = problem
            raise DseError(point.source if field.startswith("models") else hw.source, field, expected, got)
        if hw.schedule.family not in sched.GIVEN_BLOCK:
            _schedule(point, int(hw.parallel.pp), microbatches(point, int(hw.parallel.dp)))
    return point


def chunks_of(hw: TrainingHardware) -> int:
    """Virtual stages per device of the point's family (dse.system.training.schedules.family_chunks)."""
    s = hw.schedule
    return sched.family_chunks(s.family, int(s.chunks), s.block.placement if s.block else None)


def microbatches(point: TrainingPoint, dp: int) -> int:
    tr = point.t.training
    return int(tr.global_batch) // (dp * int(tr.microbatch_size))


def split_problem(point: TrainingPoint, tp: int, pp: int, dp: int) -> tuple[str, str, object] | None:
    """Why a transformer cannot run as tp x pp x dp, as (field, expectation, got); None if it can."""
    t, hw = point.t, point.hw
    tr = t.training
    v = chunks_of(hw)
    if tp * pp * dp != hw.cluster.gpus:
        return ("system.parallel", f"tp x pp x dp = the cluster's {hw.cluster.gpus} GPUs", f"{tp} x {pp} x {dp}")
    if t.num_attention_heads % tp:
        return ("system.parallel.tp", f"a divisor of the model's {t.num_attention_heads} attention heads", tp)
    slots = tr.stage_slots(t.num_hidden_layers)
    if slots % (pp * v):
        what = f"pp x {v} chunks" if v > 1 else "pp"
        layers = f"{t.num_hidden_layers} layers" + (" + embedding + loss" if tr.split_embedding_loss else "")
        return ("system.parallel.pp", f"{what} dividing the model's {layers} (whole layers per stage)", pp)
    if int(tr.global_batch) % (dp * int(tr.microbatch_size)):
        return (f"{WL}.transformer.training.microbatch_size", f"dp ({dp}) x microbatch_size dividing global_batch "
                f"({tr.global_batch}) into whole microbatches", tr.microbatch_size)
    n = int(tr.global_batch) // (dp * int(tr.microbatch_size))
    problem = sched.family_problem(hw.schedule.family, pp, n)
    if problem:
        return ("system.schedule.family", problem, hw.schedule.family)
    return None


def _schedule(point: TrainingPoint, pp: int, n: int, costs: PassCosts | None = None) -> sched.Schedule:
    """The point's schedule at pp stages and n microbatches; block families reorder with ``costs``."""
    s = point.hw.schedule
    block = s.block
    try:
        return sched.build(s.family, pp, n, chunks=int(s.chunks),
                           offsets=tuple((k, int(v)) for k, v in block.offsets) if block else (),
                           placement=block.placement if block else "v_shape", costs=costs)
    except sched.ScheduleError as exc:
        if s.family in sched.GIVEN_BLOCK:
            raise DseError(point.hw.source, "system.schedule.block.offsets", str(exc),
                           {k: int(v) for k, v in block.offsets}) from None
        raise DseError(point.hw.source, "system.schedule.family", str(exc), s.family) from None


def parallel_configs(point: TrainingPoint) -> list[tuple[int, int, int]]:
    """(tp, pp, dp) to evaluate: the spec's, or with ``parallel: auto`` every split of the cluster
    the model takes (tp dividing the heads, whole layers per stage, whole microbatches)."""
    hw = point.hw
    if point.pipe is not None:
        return [(1, int(point.pipe.stages), 1)]
    par = hw.parallel
    if not par.auto:
        return [(int(par.tp), int(par.pp), int(par.dp))]
    return gpu_configs(hw.cluster.gpus, lambda tp, pp, dp: split_problem(point, tp, pp, dp) is None)


@dataclass(frozen=True)
class StageCosts:
    costs: PassCosts
    params: np.ndarray           # [p] parameters per device (per TP rank)
    layer_flops: float           # forward FLOPs of one microbatch through the whole model, all ranks
    dp_link: Link | None         # the link the data-parallel all-reduce runs over (None: synthetic)


def stage_costs(point: TrainingPoint, s: sched.Schedule, tp: int, dp: int) -> StageCosts:
    """Per virtual stage costs of a transformer (see the module docstrings of this file and of
    dse.system.training.costs), or of a synthetic pipeline (its times split evenly over chunks)."""
    S, p, v = s.stages, s.p, s.v
    mm = 1 if point.hw.schedule.memory_model == "zero_bubble" else 0
    if point.pipe is not None:
        pipe = point.pipe
        act = 1.0 if pipe.activation_bytes is None else float(pipe.activation_bytes)
        full = np.ones(S)
        costs = PassCosts(full * pipe.forward_s / v, full * pipe.backward_s / v, full * pipe.weight_s / v,
                          full * pipe.comm_s, full * act / v, full * act * pipe.w_memory_fraction / v, mm)
        return StageCosts(costs, np.zeros(p), float("nan"), None)
    t, hw = point.t, point.hw
    tr, cl = t.training, hw.cluster
    mb = int(tr.microbatch_size)
    T = float(mb * t.seq_len)
    b = t.precision_bits / 8.0
    gpn = int(cl.gpus_per_node)
    tp_link = group_link(cl, tp)
    system = gpu_system(fill_gpu_row(blank_device_table(), hw.gpu), tp, 1, tp_link, t.hidden_size, t.vocab_size, b)
    mult = pass_multipliers(2.5 if tr.flash_attention else 2.0)
    ops = linear_ops(t, tp)
    layer_pass, head_pass = np.empty(3), np.empty(3)
    layer_flops = pass_costs(ops.arrays, system, T, float(t.seq_len), mult, True, bool(tr.recompute), layer_pass)
    head_flops = pass_costs(ops.arrays, system, T, float(t.seq_len), mult, False, bool(tr.recompute), head_pass)
    lf, lb, lw = layer_pass[PASS_F], layer_pass[PASS_B], layer_pass[PASS_W]
    hf, hb, hw_ = head_pass[PASS_F], head_pass[PASS_B], head_pass[PASS_W]
    layers = layers_per_stage(t.num_hidden_layers, S, bool(tr.split_embedding_loss))
    f_s = layers * lf
    b_s = layers * lb
    w_s = layers * lw
    f_s[S - 1] += hf
    b_s[S - 1] += hb
    w_s[S - 1] += hw_
    act_layer = activation_bytes_per_token_per_layer_tp(t, tp, bool(tr.dropout), bool(tr.recompute),
                                                        bool(tr.flash_attention)) * T
    logits = T * t.vocab_size * b / tp                        # kept on the last stage for the loss's backward
    h, a, s_len = t.hidden_size, t.num_attention_heads, t.seq_len
    scores = 0.0 if tr.flash_attention else 5.0 * a * s_len
    keep_share = 1.0 if tr.recompute else 32.0 * h / (34.0 * h + scores)   # Zero Bubble: M_W / M_B
    alloc = layers * act_layer
    keep = alloc * keep_share
    alloc[S - 1] += logits                                     # W still needs the logits' gradient
    keep[S - 1] += logits
    comm = np.zeros(S)
    block_gpus = tp * dp
    for st in range(S - 1):
        d1, d2 = int(s.stage_device[st]), int(s.stage_device[st + 1])
        if d1 == d2:
            continue
        inter = any((block_gpus * d1 + x) // gpn != (block_gpus * d2 + x) // gpn for x in range(block_gpus))
        link = cl.inter_node if inter else cl.intra_node
        comm[st], _ = send_recv(T * h * b, float(link.bytes_per_s), float(link.latency_s))
    costs = PassCosts(f_s, b_s, w_s, comm, alloc, keep, mm)
    layer_params = sum(ops.arrays.byte_w[i] / ops.arrays.gpu_div[i]
                       for i in range(ops.n) if ops.arrays.last_only[i] == 0) / b
    params = memory.device_parameters(layers, s.stage_device, p, layer_params, t.vocab_size * t.hidden_size / tp,
                                      tied_embeddings(t))
    dp_link = group_link(cl, block_gpus)
    return StageCosts(costs, params, t.num_hidden_layers * layer_flops + head_flops, dp_link)


def evaluate_config(point: TrainingPoint, tp: int, pp: int, dp: int, timeline: dict | None = None) -> dict:
    """Metrics of one parallel config (the JSON / Parquet contract; see README). Infeasible configs
    (memory over capacity) keep their metrics with ``feasible`` False and the reasons in
    ``violations``. ``timeline`` (a dict) receives the schedule's passes with their times, the
    per-stage costs, the simulator's per-device columns (``dev``, kernels.D_*) and the activation
    unit in bytes."""
    hw = point.hw
    n = int(point.pipe.microbatches) if point.pipe is not None else microbatches(point, dp)
    try:
        s = _schedule(point, pp, n)
    except DseError as exc:
        if hw.schedule.family not in sched.GIVEN_BLOCK:
            raise
        return infeasible_row(point, tp, pp, dp, f"block offsets at pp {pp}: {exc.expected}")
    sc = stage_costs(point, s, tp, dp)
    if s.family in sched.BLOCK_FAMILIES:     # reorder warm-up / cool-down with the real pass times
        s = _schedule(point, pp, n, sc.costs)
    passes = sched.prepared(s)
    count = passes.kind.shape[0]
    start, end = np.empty(count), np.empty(count)
    dev = np.empty((pp, N_DEV_COLS))
    life = np.empty(s.stages)
    makespan = float(simulate(passes, sc.costs, start, end, dev, life))
    busy = float(dev[:, D_BUSY].max())
    span = float((dev[:, D_LAST] - dev[:, D_FIRST]).max())
    per_device = np.zeros(pp)
    np.add.at(per_device, s.stage_device, sc.costs.alloc)
    unit = float(per_device.mean())                    # one microbatch's activations on one device
    peak_act = dev[:, D_PEAK]
    violations: list[str] = []
    f_dev, b_dev, w_dev = (np.zeros(pp) for _ in range(3))
    np.add.at(f_dev, s.stage_device, sc.costs.f_s)
    np.add.at(b_dev, s.stage_device, sc.costs.b_s)
    np.add.at(w_dev, s.stage_device, sc.costs.w_s)
    slow = int(np.argmax(f_dev + b_dev + w_dev))
    out = {
        "schedule": s.family, "chunks": s.v, "tp": tp, "pp": pp, "dp": dp, "gpus": tp * pp * dp,
        "microbatches": n, "pipeline_s": makespan,
        "bubble_rate": 1.0 - busy / span if span > 0 else 0.0,
        "bubble_rate_makespan": 1.0 - busy / makespan if makespan > 0 else 0.0,
        "peak_activation_units": float(peak_act.max()) / unit if unit > 0 else float("nan"),
        "forward_s": float(f_dev[slow]), "backward_s": float(b_dev[slow]), "weight_grad_s": float(w_dev[slow]),
        "pp_comm_s": float(sc.costs.comm_s.max()) if s.stages > 1 else 0.0,
        "lifespan_s": float(life.max()),
    }
    if point.pipe is not None:
        given = point.pipe.activation_bytes is not None
        out.update({
            "iteration_s": makespan, "dp_allreduce_s": 0.0, "optimizer_s": 0.0,
            "microbatch_size": float("nan"), "microbatches_per_s": n / makespan,
            "tokens_per_s": float("nan"), "mfu": float("nan"),
            "peak_activation_bytes": float(peak_act.max()) if given else float("nan"),
            "state_bytes": float("nan"),
            "peak_memory_bytes": float(peak_act.max()) if given else float("nan"),
        })
    else:
        t, g = point.t, hw.gpu
        tr = t.training
        b = t.precision_bits / 8.0
        per_param = b + float(tr.gradient_bytes_per_param) + float(tr.optimizer_bytes_per_param)
        state = memory.training_state(sc.params, per_param)
        dp_ar = max(ring_allreduce(float(q * tr.gradient_bytes_per_param), dp, float(sc.dp_link.bytes_per_s),
                                   float(sc.dp_link.latency_s))[0] for q in sc.params)
        byte_rate = fill_gpu_row(blank_device_table(), g)[GPU, D_BW]
        opt_s = float(sc.params.max()) * (per_param + b + float(tr.optimizer_bytes_per_param)) / byte_rate
        iteration = makespan + dp_ar + opt_s
        total = state + peak_act
        tokens = int(tr.global_batch) * t.seq_len
        model_flops = 3.0 * sc.layer_flops * int(tr.global_batch) / int(tr.microbatch_size)
        worst = int(np.argmax(total))
        over = memory.over_capacity("GPU memory", total[worst], g.memory_bytes,
                                    f" (stage device {worst}: state {state[worst] / 1e9:.1f} + activations "
                                    f"{peak_act[worst] / 1e9:.1f})")
        if over:
            violations.append(over)
        out.update({
            "iteration_s": iteration, "dp_allreduce_s": dp_ar, "optimizer_s": opt_s,
            "microbatch_size": int(tr.microbatch_size), "microbatches_per_s": n * dp / iteration,
            "tokens_per_s": tokens / iteration,
            "mfu": model_flops / (iteration * tp * pp * dp * g.peak_flop_per_s),
            "peak_activation_bytes": float(peak_act.max()), "state_bytes": float(state.max()),
            "peak_memory_bytes": float(total.max()),
        })
    out["feasible"] = not violations
    out["violations"] = "; ".join(violations)
    if timeline is not None:
        timeline.update(kind=s.kind, mb=s.mb, stage=s.stage, device=passes.device, start=start, end=end,
                        p=pp, v=s.v, makespan=makespan, life=life, f_s=sc.costs.f_s, b_s=sc.costs.b_s,
                        w_s=sc.costs.w_s, comm_s=sc.costs.comm_s, alloc=sc.costs.alloc, stage_device=s.stage_device,
                        dev=dev, unit=unit)
    return out


def mapping_text(tp: int, pp: int, dp: int) -> str:
    return f"tp={tp},pp={pp},dp={dp}"


METRICS = ("tokens_per_s", "mfu", "microbatches_per_s", "iteration_s", "pipeline_s", "dp_allreduce_s", "optimizer_s",
           "bubble_rate", "bubble_rate_makespan", "peak_memory_bytes", "peak_activation_bytes",
           "peak_activation_units", "state_bytes", "forward_s", "backward_s", "weight_grad_s", "pp_comm_s",
           "lifespan_s")


def infeasible_row(point: TrainingPoint, tp: int, pp: int, dp: int, reason: str) -> dict:
    """A design that cannot run (no split fits, a block that collides): every metric NaN, the reason
    as its violation."""
    return {"schedule": point.hw.schedule.family, "tp": tp, "pp": pp, "dp": dp, "gpus": tp * pp * dp,
            **{k: float("nan") for k in METRICS}, "feasible": False, "violations": reason}


def no_split_row(point: TrainingPoint) -> dict:
    """The one row of a point no parallel split fits."""
    tr = point.t.training
    return infeasible_row(point, 0, 0, 0, f"no tp x pp x dp split of {point.hw.cluster.gpus} GPUs fits (heads, "
                          f"layers per stage, global_batch {tr.global_batch} / microbatch_size {tr.microbatch_size})")
