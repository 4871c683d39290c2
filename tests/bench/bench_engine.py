"""Speed of the continuously batched engine (dse.system.serving.engine; on demand, prints figures,
asserts nothing about speed): simulated iterations and requests per CPU second on one core, for one
Llama-2-7B replica on an A100 (hardware/a100x8.yaml's calibrated GPU row), Poisson arrivals,
prompts uniform in [64, 1024) and outputs in [16, 400) tokens, chunked (budget 2,048) and
prefill-first (budget 4,096), an hour of arrivals at each rate.

Part 2, the issue's goal (one simulated hour of a 16-GPU deployment at 50 requests/s in <= 2 s on
one core): workloads/llama31_8b_fixed.yaml (1,024 in / 128 out) at 50 req/s for 3,600 s on
hardware/a100x8_vllm.yaml grown to 2 nodes, 16 one-GPU replicas; CPU seconds of the engines
(run_replicas) and of the whole evaluation (build, placement, engines, metrics).

    python tests/bench/bench_engine.py [--rates 2,5,10]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from dse.models.views import linear_ops
from dse.spec.workload import Transformer
from dse.system.gpu.devices import blank_device_table, fill_gpu_row, gpu_system
from dse.system.gpu.spec import Gpu, Link
from dse.system.serving.engine import (S_ITER, S_PREEMPT, EngineConfig, Plan, check_requests, engine_out,
                                       run_engine)

LLAMA2_7B = Transformer(num_hidden_layers=32, hidden_size=4096, num_attention_heads=32, intermediate_size=11008,
                        vocab_size=32000, seq_len=512, batch=1, precision_bits=16, architecture="llama",
                        num_key_value_heads=32)
A100 = Gpu("A100-80GB-SXM", peak_flop_per_s=312e12, memory_bytes=80e9, memory_bytes_per_s=2039e9,
           compute_efficiency=0.7, memory_efficiency=0.75, kernel_launch_s=1e-6, compute_half_tokens=64.0,
           memory_half_bytes=8 * 2**20, step_overhead_s=0.0, pj_per_flop=0.6, memory_pj_per_bit=3.59)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rates", default="2,5,10")
    args = parser.parse_args()
    ops = linear_ops(LLAMA2_7B, 1)
    system = gpu_system(fill_gpu_row(blank_device_table(), A100), 1, 1, Link("nvlink", 230e9, 3.03e-6),
                        LLAMA2_7B.hidden_size, LLAMA2_7B.vocab_size, 2.0)
    kv_per_block = 16 * 2 * 32 * 4096 * 2.0                    # 16 tokens x K and V x layers x h x 2 B
    blocks = int((80e9 * 0.9 - ops.weight_bytes) / kv_per_block)
    print(f"Llama-2-7B on one A100, {blocks:,} KV blocks of 16 tokens; CPU seconds on one core")
    for rate in (float(r) for r in args.rates.split(",")):
        rng = np.random.default_rng(0)
        n = int(rate * 3600)
        arrival = np.cumsum(rng.exponential(1 / rate, n))
        prompt, output = rng.integers(64, 1024, n), rng.integers(16, 400, n)
        for chunked in (True, False):
            cfg = EngineConfig(256, 2048 if chunked else 4096, 16, blocks, chunked)
            assert check_requests(prompt, output, cfg) == ""
            warm = engine_out(10)
            run_engine(arrival[:10], prompt[:10], output[:10], cfg, ops.arrays, system, Plan(), ops.arrays, system,
                       warm)
            out = engine_out(n)
            cpu = time.process_time()
            run_engine(arrival, prompt, output, cfg, ops.arrays, system, Plan(), ops.arrays, system, out)
            cpu = time.process_time() - cpu
            ttft = out.first_token_s - arrival
            print(f"  {rate:5.1f} req/s {'chunked' if chunked else 'prefill-first':13} {n:7,} requests "
                  f"{out.stats[S_ITER]:9,.0f} iterations in {cpu:5.2f} s: {out.stats[S_ITER] / cpu:9,.0f} it/s, "
                  f"{n / cpu:9,.0f} requests/s; TTFT p50 {np.median(ttft):8.3f} s, "
                  f"{out.stats[S_PREEMPT]:,.0f} preemptions")


def deployment() -> None:
    from dataclasses import replace

    from dse.spec.bundled import spec
    from dse.system.serving.batched import run_replicas
    from dse.system.serving.engine import S_ITER as ITER
    from dse.system.serving.evaluator import build, evaluate, place

    wl = spec("workloads", "llama31_8b_fixed")
    wl = replace(wl, serving=replace(wl.serving, duration_s=3600.0),
                 models=(replace(wl.models[0], serving=replace(wl.models[0].serving, rate_per_s=50.0)),))
    hw = spec("hardware", "a100x8_vllm", {"system.tp": 1})
    hw = replace(hw, cluster=replace(hw.cluster, nodes=2), groups="+".join(["1"] * 16))
    cpu = time.process_time()
    point = build(wl, hw)
    placed, _ = place(point)
    build_s = time.process_time() - cpu
    cpu = time.process_time()
    res = run_replicas(point.replicas, placed, point.test.arrival_s, point.test.model, *point.test_lengths)
    engines_s = time.process_time() - cpu
    cpu = time.process_time()
    m = evaluate(point, placed)
    whole_s = time.process_time() - cpu + build_s
    iters = sum(st[ITER] for st in res["stats"].values())
    n = point.test.arrival_s.shape[0]
    print(f"16 one-GPU Llama-3.1-8B replicas, 50 req/s for one simulated hour: {n:,} requests, {iters:,.0f} "
          f"iterations; engines {engines_s:.2f} s CPU ({iters / engines_s:,.0f} it/s, {n / engines_s:,.0f} "
          f"requests/s); the whole evaluation {whole_s:.2f} s (goal <= 2 s); goodput {m['goodput_per_s']:.4g} "
          f"req/s, TPOT p50 {m['tpot_p50_s'] * 1e3:.3g} ms")


if __name__ == "__main__":
    main()
    deployment()
