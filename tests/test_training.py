"""The training kind: per-pass costs against a plain-Python twin, the iteration's composition
(MFU, memory, all-reduces, sends by placement) against hand arithmetic, and the CLI end to end."""

from __future__ import annotations

import math
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pytest

from dse.models.operators import (ATTENTION, ELEMENTWISE, GEMM, activation_bytes_per_token_per_layer_tp,
                                  transformer_operators)
from dse.models.views import linear_ops
from dse.spec.common import resolve
from dse.spec.hardware import load_hardware
from dse.system.training.spec import ScheduleSpec, TrainingHardware, Parallel
from dse.spec.workload import Model, Pipeline, Training, Transformer, WorkloadSpec, load_workload
from dse.system.base import kind_named
from dse.system.training import evaluator as ev
from dse.system.gpu.devices import blank_device_table
from dse.system.gpu.kernels import (D_BW, D_COMP_HALF, D_FLOPS, D_LAUNCH, D_MEM_HALF, GPU, GpuSystem, pass_costs,
                                    pass_multipliers)
from dse.system.gpu.parallel import layers_per_stage
from dse.system.gpu.spec import Cluster, Gpu, Link

ROOT = Path(__file__).resolve().parent.parent
KIND = kind_named("training")


def gpt(layers=4, h=256, heads=8, vocab=1000, s=128, gb=16, mb=1, **training) -> Transformer:
    return Transformer(num_hidden_layers=layers, hidden_size=h, num_attention_heads=heads, intermediate_size=4 * h,
                       vocab_size=vocab, seq_len=s, precision_bits=16,
                       training=Training(global_batch=gb, microbatch_size=mb, **training))


def hardware(nodes=2, gpn=8, parallel=Parallel(), family="1f1b", memory=80e9, **schedule) -> TrainingHardware:
    gpu = Gpu("g", peak_flop_per_s=100e12, memory_bytes=memory, memory_bytes_per_s=1e12,
              compute_efficiency=0.5, memory_efficiency=0.8, kernel_launch_s=2e-6)
    cluster = Cluster(nodes, gpn, intra_node=Link("intra", 200e9, 2e-6), inter_node=Link("inter", 20e9, 10e-6))
    return TrainingHardware("hw", "hw.yaml", gpu, cluster, parallel, ScheduleSpec(family=family, **schedule))


def point(t: Transformer, hw: TrainingHardware):
    wl = WorkloadSpec("w", "w.yaml", (Model("m", 1, t, ()),))
    KIND.check_workload(wl, hw)
    return KIND.build(wl, hw)


# --- per-pass costs: the kernel against a twin written from the operator records -------------------

class TrainShape(NamedTuple):
    """The twin's inputs: one microbatch's shape and the flat rates it runs at."""

    tokens: float
    queries: float
    context: float
    flop_per_s: float
    bytes_per_s: float
    launch_s: float
    tp: int
    tp_bytes_per_s: float
    tp_latency_s: float
    act_bytes_per_token: float
    recompute: bool
    attn_backward: float
    compute_half: float = 0.0     # calibration (dse.cost.roofline.calibrated_rates); 0 = flat caps
    memory_half: float = 0.0


def pass_times(arrays, shape: TrainShape, layer: bool) -> tuple[float, float, float, float]:
    """The shared kernel (dse.system.gpu.kernels.pass_costs) on a GPU row with ``shape``'s rates."""
    dev = blank_device_table()
    dev[GPU, D_FLOPS], dev[GPU, D_BW], dev[GPU, D_LAUNCH] = shape.flop_per_s, shape.bytes_per_s, shape.launch_s
    dev[GPU, D_COMP_HALF], dev[GPU, D_MEM_HALF] = shape.compute_half, shape.memory_half
    system = GpuSystem(dev, shape.tp, 1, shape.tp_bytes_per_s, shape.tp_latency_s, 0.0, 1.0, 0.0, 0.0,
                       shape.act_bytes_per_token, 0.0, False)
    out = np.empty(3)
    flops = pass_costs(arrays, system, shape.tokens, shape.queries, pass_multipliers(shape.attn_backward), layer,
                       shape.recompute, out)
    return out[0], out[1], out[2], flops


def twin_pass_times(t: Transformer, tp: int, shape: TrainShape, layer: bool) -> tuple[float, float, float]:
    """From dse.models.operators directly (not the LLM view): per op and TP share 1 / div,
        forward  flops = 2 C K T (gemm) or 2 heads d s T per attention matmul; bytes = weights + in/out
        B        gemm as forward; attention (both matmuls, one kernel) 2x flops and bytes; elementwise 2x bytes
        W        gemm: flops 2 C K T, bytes weights + in/out
    each a roofline kernel with launch; + 2 ring all-reduces of T h b in F and B per layer when tp > 1.
    Calibrated GPU: a kernel of ``rows`` GEMM rows (T; s for attention: one sequence's queries)
    reaches rows / (rows + compute_half) of the FLOP rate, and one streaming ``nbytes`` (the whole
    launch: attention's K/V of every sequence and head included) nbytes / (nbytes + memory_half)
    of the bandwidth."""
    b = t.precision_bits / 8
    T, s = shape.tokens, t.seq_len

    def rl(flops, nbytes, rows=T):
        fr = shape.flop_per_s * (rows / (rows + shape.compute_half) if shape.compute_half else 1.0)
        br = shape.bytes_per_s * (nbytes / (nbytes + shape.memory_half) if shape.memory_half else 1.0)
        return shape.launch_s + max(flops / fr, nbytes / br)

    f = bwd = w = 0.0
    attn = None
    for op in transformer_operators(t):
        if op.per_layer != layer:
            continue
        div = op.shard_units / math.ceil(op.shard_units / tp) if op.sharded else 1.0
        if op.kind == GEMM:
            flops = 2 * op.in_features * op.out_features * T / div
            nbytes = (op.in_features * op.out_features + (op.in_features + op.out_features) * T) * b / div
            f += rl(flops, nbytes)
            bwd += rl(flops, nbytes)
            w += rl(flops, nbytes)
        elif op.kind == ATTENTION:
            flops = 2 * op.heads * op.head_dim * s * T / div
            nbytes = (op.heads * op.head_dim * T + op.kv_heads * op.head_dim * T) * b / div
            if attn is None:
                attn = [flops, nbytes]
            else:                                      # the second matmul: one fused kernel
                attn = [attn[0] + flops, attn[1] + nbytes]
                f += rl(*attn, rows=s)
                bwd += rl(shape.attn_backward * attn[0], 2 * attn[1], rows=s)
        elif op.kind == ELEMENTWISE:
            nbytes = op.elems_per_token * T * b / div
            f += rl(0.0, nbytes)
            bwd += rl(0.0, 2 * nbytes)
    if layer and tp > 1:
        ar = 2 * (tp - 1) * (shape.tp_latency_s + T * t.hidden_size * b / (tp * shape.tp_bytes_per_s))
        f += 2 * ar
        bwd += 2 * ar
    if layer and shape.recompute:
        bwd += f
    return f, bwd, w


@pytest.mark.parametrize("tp,recompute,flash,mb,s", [(1, False, False, 1, 256), (2, False, True, 2, 256),
                                                      (4, True, False, 1, 256), (8, True, True, 4, 256),
                                                      (1, False, False, 1, 8)])     # memory-bound GEMMs
def test_pass_times_match_the_twin(tp, recompute, flash, mb, s):
    t = gpt(s=s)
    shape = TrainShape(float(mb * s), float(s), float(mb * s), 50e12, 0.8e12, 3e-6, tp, 150e9, 4e-6, 256 * 2.0,
                       recompute, 2.5 if flash else 2.0)
    arrays = linear_ops(t, tp).arrays
    for layer in (True, False):
        f, b, w, _ = pass_times(arrays, shape, layer)
        assert (f, b, w) == pytest.approx(twin_pass_times(t, tp, shape, layer), rel=1e-12)
        # the calibration curves of inference reach the training passes too (hardware/a100x8.yaml's
        # halves: 64 GEMM rows, 8 MiB a launch): every pass slower than at the flat caps, as the twin says
        cal = shape._replace(compute_half=64.0, memory_half=8 * 2**20)
        slow = pass_times(arrays, cal, layer)[:3]
        assert slow == pytest.approx(twin_pass_times(t, tp, cal, layer), rel=1e-12)
        assert all(x > y for x, y in zip(slow, (f, b, w)))


def test_activation_memory_formula():
    # Korthikanti et al. (2022) Sec. 4.2, no sequence parallelism, f = 4h, 16-bit, dropout:
    # s b h (10 + 24/t + 5 a s / (h t)) bytes per layer; full recomputation 2 s b h; FlashAttention drops 5as.
    t = gpt(h=1024, heads=16, s=512)
    h, a, s = 1024, 16, 512
    for tp in (1, 2, 8):
        assert activation_bytes_per_token_per_layer_tp(t, tp) == h * (10 + 24 / tp + 5 * a * s / (h * tp))
        assert activation_bytes_per_token_per_layer_tp(t, tp, flash=True) == h * (10 + 24 / tp)
        assert activation_bytes_per_token_per_layer_tp(t, tp, recompute=True) == 2 * h
    assert activation_bytes_per_token_per_layer_tp(t, 1, dropout=False) == h * 34 + 5 * a * s - (2 * h + a * s)


# --- the iteration ------------------------------------------------------------------------------------

def test_mfu_tokens_and_iteration_compose():
    # GPT forward FLOPs per token: per layer 2 (3h^2 + h^2 + 8h^2) = 24 h^2 for the GEMMs plus 4 h s for
    # the two attention matmuls; the LM head 2 h V. MFU = 3 x that x tokens / (iteration x GPUs x peak).
    t = gpt(layers=4, h=256, heads=8, vocab=1000, s=128, gb=16)
    p = point(t, hardware(nodes=1, gpn=4, parallel=Parallel(2, 2, 1)))
    r = ev.evaluate_config(p, 2, 2, 1)
    h, s, V, L = 256, 128, 1000, 4
    flops = 3 * 16 * s * (L * (24 * h * h + 4 * h * s) + 2 * h * V)
    assert r["mfu"] * r["iteration_s"] * 4 * 100e12 == pytest.approx(flops, rel=1e-12)
    assert r["iteration_s"] == pytest.approx(r["pipeline_s"] + r["dp_allreduce_s"] + r["optimizer_s"], rel=1e-12)
    assert r["tokens_per_s"] == pytest.approx(16 * s / r["iteration_s"], rel=1e-12)
    assert r["microbatches"] == 16 and r["gpus"] == 4


def test_state_memory_and_dp_allreduce_by_hand():
    # pp = 2, tp = 1, dp = 8 on 2 nodes x 8: each stage holds 2 of 4 layers (12 h^2 parameters each) and
    # one V x h matrix (the embedding on stage 0, the LM head's copy on stage 1): state = params x
    # (2 weight + 2 gradient + 12 optimizer) bytes. The 8 DP ranks of a stage are 8 consecutive GPUs
    # (TP fastest, then DP): one node, so the gradient all-reduce runs over NVLink:
    # 2 (n - 1) (latency + bytes / (n bw)), bytes = params x 2.
    t = gpt(layers=4, h=256, heads=8, vocab=1000, s=128, gb=16)
    p = point(t, hardware(parallel=Parallel(1, 2, 8)))
    r = ev.evaluate_config(p, 1, 2, 8)
    params = 2 * 12 * 256 ** 2 + 1000 * 256
    assert r["state_bytes"] == params * 16
    assert r["dp_allreduce_s"] == pytest.approx(2 * 7 * (2e-6 + params * 2 / (8 * 200e9)), rel=1e-12)
    # the optimizer step reads weights, gradients and state and writes weights and state: 2+2+12 + 2+12 bytes
    assert r["optimizer_s"] == pytest.approx(params * 30 / (1e12 * 0.8), rel=1e-12)
    assert r["peak_memory_bytes"] == pytest.approx(r["state_bytes"] + r["peak_activation_bytes"], rel=1e-12)
    # tp = 1, pp = 1, dp = 16: the DP group spans both nodes -> the inter-node link
    r = ev.evaluate_config(point(t, hardware(parallel=Parallel(1, 1, 16))), 1, 1, 16)
    params = 4 * 12 * 256 ** 2 + 1000 * 256                     # tied: embedding and head on one device
    assert r["dp_allreduce_s"] == pytest.approx(2 * 15 * (10e-6 + params * 2 / (16 * 20e9)), rel=1e-12)


def test_stage_sends_follow_the_placement():
    # 2 nodes x 8 GPUs. tp = 8, pp = 2: stage 0 on GPUs 0-7, stage 1 on 8-15, another node: the send of
    # s b h bytes goes over the inter-node link. tp = 2, pp = 4, dp = 2: stages on GPUs 0-3, 4-7, 8-11,
    # 12-15: the slowest send (boundary 1 -> 2) is inter-node too, the others NVLink.
    t = gpt(layers=4, h=256, heads=8, vocab=1000, s=128, gb=16)
    send_inter = 10e-6 + 128 * 256 * 2 / 20e9
    send_intra = 2e-6 + 128 * 256 * 2 / 200e9
    r = ev.evaluate_config(point(t, hardware(parallel=Parallel(8, 2, 1))), 8, 2, 1)
    assert r["pp_comm_s"] == pytest.approx(send_inter, rel=1e-12)
    p = point(t, hardware(parallel=Parallel(2, 4, 2)))
    s = ev._schedule(p, 4, ev.microbatches(p, 2))
    comm = ev.stage_costs(p, s, 2, 2).costs.comm_s
    assert list(comm[:3]) == pytest.approx([send_intra, send_inter, send_intra], rel=1e-12)
    # one node: every send over NVLink
    r = ev.evaluate_config(point(t, hardware(nodes=1, gpn=16, parallel=Parallel(8, 2, 1))), 8, 2, 1)
    assert r["pp_comm_s"] == pytest.approx(send_intra, rel=1e-12)


def test_activations_per_stage():
    # pp = 2, tp = 2, 16-bit, microbatch 1 x 128 tokens: each stage holds 2 layers of Korthikanti's
    # s b h (10 + 24/t + 5 a s/(h t)) bytes; the last also keeps the logits, T x V x 2 / tp bytes.
    t = gpt(layers=4, h=256, heads=8, vocab=1000, s=128, gb=16)
    p = point(t, hardware(nodes=1, gpn=4, parallel=Parallel(2, 2, 1)))
    s = ev._schedule(p, 2, 16)
    alloc = ev.stage_costs(p, s, 2, 1).costs.alloc
    layer = 128 * 256 * (10 + 24 / 2 + 5 * 8 * 128 / (256 * 2))
    assert list(alloc) == pytest.approx([2 * layer, 2 * layer + 128 * 1000 * 2 / 2], rel=1e-12)


def test_memory_constraint_makes_rows_infeasible():
    t = gpt(layers=4, h=256, heads=8, vocab=1000, s=128, gb=16)
    r = ev.evaluate_config(point(t, hardware(parallel=Parallel(1, 2, 8), memory=1e6)), 1, 2, 8)
    assert not r["feasible"] and r["violations"].startswith("GPU memory ")
    assert r["tokens_per_s"] > 0                        # metrics kept


def test_zero_bubble_memory_model_frees_at_b():
    # Zero Bubble's model: B frees M_B - M_W with M_W / M_B = 32 h / (34 h + 5 a s) per layer. With
    # ZB-H1 the W passes lag, so the peak is lower than with W freeing everything.
    t = gpt(layers=8, h=256, heads=8, vocab=1000, s=128, gb=32)
    base = ev.evaluate_config(point(t, hardware(nodes=1, gpn=8, parallel=Parallel(1, 8, 1), family="zb-h1")),
                              1, 8, 1)
    zb = ev.evaluate_config(point(t, hardware(nodes=1, gpn=8, parallel=Parallel(1, 8, 1), family="zb-h1",
                                              memory_model="zero_bubble")), 1, 8, 1)
    assert zb["peak_activation_bytes"] < base["peak_activation_bytes"]
    assert zb["pipeline_s"] == base["pipeline_s"]
    p = point(t, hardware(nodes=1, gpn=8, parallel=Parallel(1, 8, 1), family="zb-h1", memory_model="zero_bubble"))
    costs = ev.stage_costs(p, ev._schedule(p, 8, 32), 1, 1).costs
    h, a, s = 256, 8, 128
    assert costs.keep[0] == pytest.approx(costs.alloc[0] * 32 * h / (34 * h + 5 * a * s), rel=1e-12)


def test_auto_splits_by_hand():
    # cm_9.6b on 16 GPUs, 1F1B: tp | 40 heads and | 16 -> 1, 2, 4, 8; (30 + 2) layer slots divide by any
    # pp | 16/tp; dp | 160 always: 5 + 4 + 3 + 2 = 14 splits.
    wl = resolve(load_workload(str(ROOT / "workloads/cm_9.6b_seq1024.yaml")), {})
    hw = resolve(load_hardware(str(ROOT / "hardware/a100_cluster_16.yaml")), {"system.schedule.family": "1f1b"})
    p = KIND.build(wl, hw)
    configs = ev.parallel_configs(p)
    assert len(configs) == 14 and (1, 16, 1) in configs and (16, 1, 1) not in configs
    # 32 slots on 16 stages: the embedding's stage and the loss's stage hold one layer, the others two
    assert list(layers_per_stage(p.t.num_hidden_layers, 16, True)) == [1] + [2] * 14 + [1]
    rows, n = KIND.design_rows(p)
    assert n == 14 and len(rows) == 14


def test_synthetic_pipeline_through_the_kind():
    # p = 8, n = 32, F = B = W = 1 s: 1F1B makespan 117 s, bubble 7/39, peak 8 units = 8 GB at 1 GB each.
    pipe = Pipeline(stages=8, microbatches=32, forward_s=1.0, backward_s=1.0, weight_s=1.0, activation_bytes=1e9)
    wl = WorkloadSpec("w", "w.yaml", (Model("m", 1, pipe, ()),))
    hw = TrainingHardware("hw", "hw.yaml", None, None, Parallel(), ScheduleSpec("1f1b"))
    rows, n = KIND.design_rows(KIND.build(wl, hw))
    r = rows[0]
    assert n == 1 and r["pipeline_s"] == 117 and r["bubble_rate"] == pytest.approx(7 / 39)
    assert r["peak_activation_units"] == 8 and r["peak_activation_bytes"] == 8e9
    assert r["microbatches_per_s"] == pytest.approx(32 / 117)
    assert KIND.objectives(wl, hw) == (("microbatches_per_s", True), ("peak_activation_units", False))


def test_block_offsets_as_knobs_collide_into_infeasible_rows():
    # Searched offsets may collide at some values: such a design is a row with NaN metrics and the
    # reason, and the search's per-point summary still works; fixed colliding offsets are an error
    # (tests/test_bad_input.py).
    from dse.search.runner import best_values
    from dse.system.training.spec import Block

    pipe = Pipeline(stages=4, microbatches=8, forward_s=1.0, backward_s=1.0, weight_s=1.0)
    wl = WorkloadSpec("w", "w.yaml", (Model("m", 1, pipe, ()),))
    block = Block("sequential", (("f", 3), ("turn", 1), ("b", 1)))      # B of stage 1 lands on F's slot
    hw = TrainingHardware("hw", "hw.yaml", None, None, Parallel(), ScheduleSpec("block", block=block))
    rows, _ = KIND.design_rows(KIND.build(wl, hw))
    assert len(rows) == 1 and not rows[0]["feasible"] and math.isnan(rows[0]["microbatches_per_s"])
    assert rows[0]["violations"].startswith("block offsets at pp 4: offsets whose passes do not collide")
    assert best_values(rows, KIND.objectives(wl, hw)) == ([0.0, 1e300], False)
    ok = TrainingHardware("hw", "hw.yaml", None, None, Parallel(),
                          ScheduleSpec("block", block=Block("sequential", (("f", 1), ("turn", 1), ("b", 2)))))
    row = KIND.design_rows(KIND.build(wl, ok))[0][0]
    # f = 1, turn = 1, b = 2 is 1F1B as a block (T = 3): stage s's F at slot s, stage 3's B at 4, then
    # every 2 slots down to stage 0's B at 10, its W at 11 (the first free slot): lifespan 12 = 4 T,
    # so stage 0 holds ceil(12 / 3) = 4 microbatches, 1F1B's p.
    assert row["feasible"] and row["peak_activation_units"] == 4


def test_a_point_no_split_fits_is_one_infeasible_row():
    # 3 layers, global batch 5 on 16 GPUs: dp | 5 -> dp = 1, so tp x pp = 16 with tp | 8 heads -> pp is
    # 2, 4, 8 or 16, none dividing 3 layers: no split, one row saying so, NaN metrics.
    from dse.search.runner import best_values

    t = gpt(layers=3, heads=8, gb=5)
    p = point(t, hardware())
    rows, n = KIND.design_rows(p)
    assert n == 0 and len(rows) == 1 and not rows[0]["feasible"]
    assert rows[0]["violations"].startswith("no tp x pp x dp split of 16 GPUs fits")
    assert best_values(rows, (("tokens_per_s", True), ("peak_memory_bytes", False))) == ([0.0, 1e300], False)


@pytest.mark.parametrize("tp,pp,dp", [(2, 2, 1), (1, 2, 2), (1, 1, 4)])
def test_rates_and_mfu_count_every_dp_replica(tp, pp, dp):
    """A DP replica runs gb / dp sequences (n = gb / (mb dp) microbatches) an iteration; the system
    runs all gb. By hand: microbatches_per_s = n dp / iteration = 16 / iteration, tokens_per_s =
    gb s / iteration, and the MFU divides the FLOPs of all gb sequences (as in
    test_mfu_tokens_and_iteration_compose) by all tp pp dp = 4 GPUs."""
    t = gpt(layers=4, h=256, heads=8, vocab=1000, s=128, gb=16)
    r = ev.evaluate_config(point(t, hardware(nodes=1, gpn=4, parallel=Parallel(tp, pp, dp))), tp, pp, dp)
    h, s, V, L = 256, 128, 1000, 4
    flops = 3 * 16 * s * (L * (24 * h * h + 4 * h * s) + 2 * h * V)
    assert r["microbatches"] == 16 // dp and r["gpus"] == 4
    assert r["microbatches_per_s"] == pytest.approx(16 / r["iteration_s"], rel=1e-12)
    assert r["tokens_per_s"] == pytest.approx(16 * s / r["iteration_s"], rel=1e-12)
    assert r["mfu"] * r["iteration_s"] * 4 * 100e12 == pytest.approx(flops, rel=1e-12)


def test_bubble_rate_sends_and_per_device_figures_by_hand():
    """`dse evaluate`'s training detail, checked against its own passes and hand arithmetic (pp 4,
    4 layers: stage 0 also embeds, stage 3 also runs the LM head, so the devices' loads differ):
    a device's busy_s is the sum of its passes' durations and span_s its last end minus its first
    start; bubble_rate = 1 - (busiest device's busy) / (longest span); the top-level peak
    activation (bytes and units) is the largest device's; a stage's send is one microbatch's
    activations, mb s h x 2 bytes = 65,536 B, over the 200 GB/s link plus its 2 us latency, the
    last stage sends nothing, and pp_comm_s is one stage's send (the sends overlap in the schedule)."""
    t = gpt(layers=4, h=256, heads=8, vocab=1000, s=128, gb=16)
    d = KIND.detail(point(t, hardware(nodes=1, gpn=4, parallel=Parallel(1, 4, 1))), None)
    assert d["mapping"] == "tp=1,pp=4,dp=1"
    busy, span = {}, {}
    for p in d["passes"]:
        busy[p["device"]] = busy.get(p["device"], 0.0) + p["end_s"] - p["start_s"]
        first, last = span.get(p["device"], (math.inf, -math.inf))
        span[p["device"]] = (min(first, p["start_s"]), max(last, p["end_s"]))
    devices = d["per_device"]
    assert len(devices) == 4 and len({round(x["busy_s"], 12) for x in devices}) > 1      # unequal loads
    for x in devices:
        assert x["busy_s"] == pytest.approx(busy[x["device"]], rel=1e-9)
        assert x["span_s"] == pytest.approx(span[x["device"]][1] - span[x["device"]][0], rel=1e-9)
    assert d["bubble_rate"] == pytest.approx(1 - max(busy.values()) / max(b - a for a, b in span.values()), rel=1e-9)
    assert d["peak_activation_units"] == pytest.approx(max(x["peak_activation_units"] for x in devices), rel=1e-12)
    assert d["peak_activation_bytes"] == pytest.approx(max(x["peak_activation_bytes"] for x in devices), rel=1e-12)
    assert all(x["peak_activation_bytes"] / x["peak_activation_units"] == pytest.approx(
        devices[0]["peak_activation_bytes"] / devices[0]["peak_activation_units"], rel=1e-9) for x in devices)
    send = 1 * 128 * 256 * 2 / 200e9 + 2e-6
    assert [s["send_s"] for s in d["per_stage"]] == pytest.approx([send, send, send, 0.0], rel=1e-12)
    assert d["pp_comm_s"] == pytest.approx(send, rel=1e-12)


def test_per_stage_lifespans_and_units_of_a_small_1f1b_by_hand():
    """`dse evaluate`'s training detail on a synthetic 1F1B, p = 2, n = 2, F = 1 s, B = 1.5 s,
    W = 0.5 s (fused BW = 2 s), no sends, 1 GB of activations per microbatch. By hand (device 0
    warms up with one F, device 1 with none):
        device 0: F0 [0, 1]  F1 [1, 2]  BW0 [4, 6]  BW1 [7, 9]
        device 1: F0 [1, 2]  BW0 [2, 4] F1 [4, 5]   BW1 [5, 7]
    makespan 9; busy 6 on each; spans 9 and 6: bubble 1 - 6/9 both ways. Lifespan (end of BW - start
    of F): stage 0 mb0 6 - 0, mb1 9 - 1 = 8; stage 1 4 - 1 = 3, 7 - 4 = 3 -> per stage 8 and 3, the
    top-level the longest, 8. Peak activations: device 0 holds F0 and F1 before BW0 (2 units, 2 GB),
    device 1 frees mb0 before F1 (1 unit)."""
    pipe = Pipeline(stages=2, microbatches=2, forward_s=1.0, backward_s=1.5, weight_s=0.5, activation_bytes=1e9)
    wl = WorkloadSpec("w", "w.yaml", (Model("m", 1, pipe, ()),))
    hw = TrainingHardware("hw", "hw.yaml", None, None, Parallel(), ScheduleSpec("1f1b"))
    d = KIND.detail(KIND.build(wl, hw), None)
    timeline = [(p["device"], p["pass"], p["microbatch"], p["start_s"], p["end_s"]) for p in d["passes"]]
    assert sorted(timeline) == [(0, "BW", 0, 4, 6), (0, "BW", 1, 7, 9), (0, "F", 0, 0, 1), (0, "F", 1, 1, 2),
                                (1, "BW", 0, 2, 4), (1, "BW", 1, 5, 7), (1, "F", 0, 1, 2), (1, "F", 1, 4, 5)]
    assert d["pipeline_s"] == 9 and d["bubble_rate"] == pytest.approx(1 / 3) and d["bubble_rate_makespan"] == pytest.approx(1 / 3)
    assert [(s["stage"], s["device"], s["forward_s"], s["backward_s"], s["weight_grad_s"], s["send_s"],
             s["activation_bytes"], s["lifespan_s"]) for s in d["per_stage"]] == [
        (0, 0, 1.0, 1.5, 0.5, 0.0, 1e9, 8.0), (1, 1, 1.0, 1.5, 0.5, 0.0, 1e9, 3.0)]
    assert d["lifespan_s"] == 8.0
    assert (d["forward_s"], d["backward_s"], d["weight_grad_s"]) == (1.0, 1.5, 0.5)
    assert [(x["device"], x["busy_s"], x["span_s"], x["peak_activation_bytes"], x["peak_activation_units"])
            for x in d["per_device"]] == [(0, 6.0, 9.0, 2e9, 2.0), (1, 6.0, 6.0, 1e9, 1.0)]
    assert d["peak_activation_units"] == 2.0 and d["peak_activation_bytes"] == 2e9
    assert d["microbatches_per_s"] == pytest.approx(2 / 9)


@pytest.mark.parametrize("family,pp,devices", [("zb-v", 2, [0, 1, 1, 0]), ("1f1b", 4, [0, 1, 2, 3]),
                                                ("zb-h2", 2, [0, 1])])
def test_slowest_device_and_both_bubble_rates_follow_the_placement(family, pp, devices):
    """Per stage, the `device` it sits on: ZB-V puts two stages on each device in a V (p = 2:
    stages 0 and 3 on device 0, 1 and 2 on device 1), 1F1B and ZB-H2 one each. 4 layers; stage 0
    also embeds and the last stage runs the LM head, so loads differ (ZB-V: device 0 carries both
    ends; 1F1B at pp 4: device 3, not 0, is the slowest). The top-level forward_s / backward_s /
    weight_grad_s are the slowest device's (largest F + B + W), each the sum of its own stages'
    columns; every pass lasts its stage's F, B or W. The two bubble rates from the devices'
    figures: 1 - busiest busy / longest span, and 1 - busiest busy / pipeline_s; ZB-H2's devices
    end at different times, so there the two differ."""
    t = gpt(layers=4, h=256, heads=8, vocab=1000, s=128, gb=16)
    d = KIND.detail(point(t, hardware(nodes=1, gpn=pp, parallel=Parallel(1, pp, 1), family=family)), None)
    stages = d["per_stage"]
    assert [s["device"] for s in stages] == devices
    per_dev = {dev: [sum(s[k] for s in stages if s["device"] == dev) for k in ("forward_s", "backward_s", "weight_grad_s")]
               for dev in range(pp)}
    slow = max(per_dev, key=lambda dev: sum(per_dev[dev]))
    assert per_dev[0] != pytest.approx(per_dev[slow]) or slow == 0      # unequal loads: the test can tell
    assert [d["forward_s"], d["backward_s"], d["weight_grad_s"]] == pytest.approx(per_dev[slow], rel=1e-12)
    columns = {"F": ("forward_s",), "B": ("backward_s",), "W": ("weight_grad_s",), "BW": ("backward_s", "weight_grad_s")}
    for p in d["passes"]:
        lasts = sum(stages[p["stage"]][c] for c in columns[p["pass"]])
        assert p["end_s"] - p["start_s"] == pytest.approx(lasts, rel=1e-9, abs=1e-15)
    busy = max(x["busy_s"] for x in d["per_device"])
    assert d["bubble_rate"] == pytest.approx(1 - busy / max(x["span_s"] for x in d["per_device"]), rel=1e-12)
    assert d["bubble_rate_makespan"] == pytest.approx(1 - busy / d["pipeline_s"], rel=1e-12)
    if family == "zb-h2":
        assert d["bubble_rate_makespan"] > d["bubble_rate"] * 1.05
    if family == "1f1b":
        assert slow == 3
