"""The shared memory model (dse.system.memory) and the LLM kind's use of it: per-GPU and per-PIM
bytes against hand arithmetic, replicas, pools split over pp x dp, idle and collective energy."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from dse.spec.common import resolve
from dse.spec.hardware import load_hardware
from dse.spec.workload import load_workload
from dse.models.operators import parameter_count
from dse.system.gpu import memory
from dse.system.llm import evaluator
from dse.system.gpu.kernels import D_NDEV
from dse.system.gpu.kernels import ATTN_POOL, FC_POOL

# LLaMA-65B, FP16: K and V of one token over 80 layers = 80 x 2 x 8192 x 2 B.
KV_PER_TOKEN = 80 * 2 * 8192 * 2                     # 2,621,440 B
WEIGHTS = 2 * 65_284_341_760                          # 130,568,683,520 B (tests/test_models.py)


def test_formulas_by_hand():
    assert memory.weights_per_device(130e9, 8, 2) == pytest.approx(130e9 / 16)
    # ceil(80 / 3) = 27 layers on the first stage: 1000 tokens x 2.6 MB x 27 / 80 = 877.5 MB.
    assert memory.kv_cache_per_stage(1000, 2.6e6, 80, 3) == pytest.approx(877.5e6)
    assert memory.kv_cache_per_stage(1000, 2.6e6, 80, 1) == pytest.approx(2.6e9)
    # 2 x 2048 tokens x (8192 + 44032 / 8) x 2 B = 112,197,632 B.
    assert memory.prefill_activations(2048, 8192, 44032, 8, 2.0) == 112_197_632
    # 65.3B params x 12 B (Adam states + master weights) / (pp 4 x tp 8 x ZeRO over dp 2).
    # 4 stages of 3, 2, 2, 3 layers on 2 devices (V shape: stages 0, 3 on device 0; 1, 2 on device 1),
    # 10 per layer, 7 per embedding: device 0 holds 3 x 10 + 3 x 10 + 7 (embedding) + 7 (LM head) = 74,
    # device 1 holds 2 x 10 + 2 x 10 = 40; tied embeddings on one device are one copy: 67.
    layers, stage_device = np.array([3.0, 2.0, 2.0, 3.0]), np.array([0, 1, 1, 0])
    assert list(memory.device_parameters(layers, stage_device, 2, 10.0, 7.0, False)) == [74.0, 40.0]
    assert list(memory.device_parameters(layers, stage_device, 2, 10.0, 7.0, True)) == [67.0, 40.0]
    # sequential stages: the embedding on device 0 and the LM head on device 3, tied or not.
    assert list(memory.device_parameters(layers, np.arange(4), 4, 10.0, 7.0, True)) == [37.0, 20.0, 20.0, 37.0]
    assert list(memory.training_state(np.array([1e9, 2e9]), 16.0)) == [16e9, 32e9]
    # 3 microbatches x 2048 tokens x 201,216 B x ceil(22 / 8) = 3 layers / tp 2.
    assert memory.over_capacity("GPU memory", 81e9, 80e9) == "GPU memory 81.0 GB > 80.0 GB"
    assert memory.over_capacity("GPU memory", 80e9, 80e9) is None


def _llama(batch: int):
    wl = load_workload("workloads/llama65b_serving.yaml")      # prompt 2048, 128 output tokens, FP16
    return resolve(wl, {"models[0].transformer.batch": batch})


def _a100(**gpu):
    hw = resolve(load_hardware("hardware/a100x8_roofline.yaml"), {})
    return replace(hw, gpu=replace(hw.gpu, **gpu)) if gpu else hw


def test_gpu_memory_llama65b_batch128_tp8_by_hand():
    # KV: the last decode step holds 128 x (2048 + 127 + 1) = 278,528 context tokens
    #     x 2,621,440 B = 730,144,440,320 B over all 80 layers, / 8 KV-head shards = 91,268,055,040.
    # Weights: 130,568,683,520 / 8 = 16,321,085,440.
    # Activations: 2 x (128 x 2048) tokens x (8192 + 2 x 22016 / 8) x 2 B = 14,361,296,896.
    # Total 121,950,437,376 B (122 GB > 80 GB: infeasible).
    m = evaluator.evaluate_config(evaluator.build(_llama(128), _a100()), 8, 1, 1)
    kv = 128 * 2176 * KV_PER_TOKEN / 8
    act = 2 * 128 * 2048 * (8192 + 2 * 22016 / 8) * 2
    assert kv == 91_268_055_040 and act == 14_361_296_896
    assert m["peak_gpu_memory_bytes"] == pytest.approx(kv + WEIGHTS / 8 + act, rel=1e-12)
    assert m["peak_gpu_memory_bytes"] == pytest.approx(121_950_437_376, rel=1e-12)
    assert not m["feasible"] and m["violations"] == "GPU memory 122.0 GB > 80.0 GB"


def test_gpu_memory_with_pipeline_stages_by_hand():
    # pp 2 x tp 4: a stage holds 40 of 80 layers' KV, split over 4 GPUs (64 KV heads / 16 each):
    # 730,144,440,320 x 40 / 80 / 4 = 91,268,055,040; weights / 2 / 4 = 16,321,085,440;
    # activations 2 x 262,144 x (8192 + 44032 / 4) x 2 = 20,132,659,200.
    m = evaluator.evaluate_config(evaluator.build(_llama(128), _a100()), 4, 2, 1)
    want = 128 * 2176 * KV_PER_TOKEN * 40 / 80 / 4 + WEIGHTS / 2 / 4 + 2 * 262_144 * (8192 + 44032 / 4) * 2
    assert m["peak_gpu_memory_bytes"] == pytest.approx(want, rel=1e-12)


def test_data_parallel_replicas_run_concurrently():
    # dp 2 x tp 4 on 128 requests = two replicas of 64 running at once: the decode time is one
    # replica's (the max, not the sum), the tokens double; memory is one replica's.
    hw = _a100()
    two = evaluator.evaluate_config(evaluator.build(_llama(128), hw), 4, 1, 2)
    one = evaluator.evaluate_config(evaluator.build(_llama(64), hw), 4, 1, 1)
    assert two["decode_s"] == one["decode_s"] and two["ttft_s"] == one["ttft_s"]
    assert two["output_tokens"] == 2 * one["output_tokens"] == 2 * 64 * 128
    assert two["tokens_per_s"] == pytest.approx(2 * one["tokens_per_s"], rel=1e-12)
    assert two["decode_steps"] == 2 * 128
    assert two["peak_gpu_memory_bytes"] == one["peak_gpu_memory_bytes"]
    # Energy: both replicas' work, plus idle power of all 8 GPUs once over the same wall time:
    # E(dp 2) = 2 (E(one) - idle) + idle.
    idle = 60.0 * 8 * one["latency_s"]
    assert hw.gpu.idle_w == 60.0 and hw.gpu.count == 8
    assert two["energy_j"] == pytest.approx(2 * (one["energy_j"] - idle) + idle, rel=1e-12)


def test_idle_energy_is_power_times_gpus_times_wall_time():
    point0 = evaluator.build(_llama(8), _a100(idle_w=0.0))
    point1 = evaluator.build(_llama(8), _a100(idle_w=75.0))
    e0 = evaluator.evaluate_config(point0, 8, 1, 1)
    e1 = evaluator.evaluate_config(point1, 8, 1, 1)
    assert e1["latency_s"] == e0["latency_s"]
    assert e1["energy_j"] - e0["energy_j"] == pytest.approx(75.0 * 8 * e0["latency_s"], rel=1e-9)
    assert e1["energy_per_token_j"] == pytest.approx(e1["energy_j"] / (8 * 128), rel=1e-12)


def test_collective_energy_is_counted():
    # Link energy only enters through the collectives (and the all-gather): pJ/bit 0 -> less energy
    # by exactly what a second evaluation with doubled pJ/bit adds.
    hw = _a100()
    energies = []
    for pj in (0.0, 1.3, 2.6):
        h = replace(hw, links=(replace(hw.links[0], pj_per_bit=pj),))
        energies.append(evaluator.evaluate_config(evaluator.build(_llama(8), h), 8, 1, 1)["energy_j"])
    assert energies[1] > energies[0]
    assert energies[2] - energies[1] == pytest.approx(energies[1] - energies[0], rel=1e-9)


def test_pim_pools_split_over_stage_replicas():
    # PAPI: 30 FC-PIM and 60 Attn-PIM devices; with pp 2 x dp 3 every (stage, replica) gets
    # 30 // 6 = 5 and 60 // 6 = 10 devices.
    hw = resolve(load_hardware("hardware/papi.yaml"), {})
    dev = evaluator.device_table(hw, 2, 3)
    assert dev[FC_POOL, D_NDEV] == 5 and dev[ATTN_POOL, D_NDEV] == 10
    dev = evaluator.device_table(hw, 1, 1)
    assert dev[FC_POOL, D_NDEV] == 30 and dev[ATTN_POOL, D_NDEV] == 60
    # The FC pool holds a stage's weights over its devices: GPT-3 66B FP16 with pp 2 x dp 3:
    # weights / 2 / 5 per FC-PIM device.
    wl = resolve(load_workload("workloads/gpt3_66b_decode.yaml"), {"models[0].transformer.batch": 16})
    point = evaluator.build(wl, hw)
    m = evaluator.evaluate_config(point, 1, 2, 3)
    fc_per_dev = parameter_count(point.t) * 2 / 2 / 5
    assert m["peak_pim_memory_bytes"] >= fc_per_dev          # the larger of the two pools
    ops = evaluator.linear_ops(point.t, 1)
    # Attention pool: the largest KV any replica holds at a step, n_active x (prompt + g + TLP),
    # over a stage (32 of 64 layers) / 10 devices. Requests are dealt round-robin to 3 replicas.
    peak_ctx = 0
    for k in range(3):
        lengths = point.lengths[k::3]
        for g in range(0, int(lengths.max())):
            peak_ctx = max(peak_ctx, int((lengths > g).sum()) * (512 + g + 1))
    attn_per_dev = peak_ctx * ops.kv_bytes_per_token * 32 / 64 / 10
    assert m["peak_pim_memory_bytes"] == pytest.approx(max(fc_per_dev, attn_per_dev), rel=1e-12)
