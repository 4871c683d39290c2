"""Fit the A100 calibration to measured Llama-2-7B inference on one A100-80GB, and print the model
beside every measured point (fitted or not).

    python tests/bench/fit_gpu.py            # ~3 minutes: coordinate descent, then the table

Measured, fitted (all Llama-2-7B, FP16, one A100-80GB SXM):
  * LMDeploy v0.1.0a1 static benchmark (InternLM/lmdeploy docs/en/benchmark/a100_fp16.md): the median
    per-token latency of b concurrent sessions with prompt p and output o, read here as dse's decode
    step at b requests with context p + o / 2 (the median token's); the points whose sessions fit the
    KV cache together (b (p + o) <= ~100 k tokens; the others queue, which a static batch does not
    model); and the first-token latency of one 2,048-token prompt (0.139 s) and one of 128 (0.022 s).
  * Vidur's A100 kernel profiles of the same model (microsoft/vidur, data/profiling/compute/a100/
    meta-llama/Llama-2-7b-hf; times per layer, CUDA events): the four GEMMs of a layer (QKV, output
    projection, gated FFN up, FFN down) summed, at 1 to 4,096 tokens (mlp.csv); decode attention
    (attention.csv) at 1 to 128 requests of 416 to 3,136 tokens of context, TP 1 and 2.

Fitted: memory_efficiency, memory_half_bytes (bytes one launch streams at half bandwidth),
step_overhead_s, compute_efficiency, compute_half_tokens; kernel_launch_s stays 1 us (Vidur's
smallest kernels, norms and adds at one token, take 2-5 us, which the launch-bytes curve already
gives them). Objective: the mean squared log ratio within each of the three groups, summed over
groups (so 18 LMDeploy points do not outweigh 8 GEMM points). Coordinate descent over grids from
the previous calibration, three passes.

Not fitted, printed as checks: LMDeploy's Llama-2-13B decode on one A100 (same benchmark), and its
Llama-2-70B TP 4 decode (31 / 36 / 43 / 55 ms at batch 1 / 16 / 32 / 64, context 2048) on
hardware/a100x4.yaml, with the same calibration.
"""

from __future__ import annotations

import math
import sys
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from dse.spec.common import resolve  # noqa: E402
from dse.spec.hardware import load_hardware  # noqa: E402
from dse.spec.workload import load_workload  # noqa: E402
from dse.system.llm import evaluator as llm  # noqa: E402

MiB = 2.0**20
# LMDeploy v0.1.0a1, llama2-7b, tp 1: (batch, prompt, output) -> median per-token latency, s.
LMDEPLOY_7B = {(1, 1, 128): 0.009, (1, 128, 128): 0.010, (1, 128, 2048): 0.010, (1, 2048, 128): 0.010,
               (1, 2048, 2048): 0.011, (16, 1, 128): 0.010, (16, 128, 128): 0.011, (16, 128, 2048): 0.015,
               (16, 2048, 128): 0.020, (16, 2048, 2048): 0.025, (32, 1, 128): 0.011, (32, 128, 128): 0.012,
               (32, 128, 2048): 0.021, (32, 2048, 128): 0.031, (64, 1, 128): 0.012, (64, 128, 128): 0.014}
LMDEPLOY_7B_FTL = {2048: 0.139, 128: 0.022}     # FTL(min), batch 1, s
# Vidur mlp.csv, TP 1: tokens -> attn_pre_proj + attn_post_proj + mlp_up_proj + mlp_down_proj medians, ms.
VIDUR_GEMMS_MS = {1: 0.266, 64: 0.278, 128: 0.3515, 256: 0.5025, 512: 0.953, 1024: 1.959, 2048: 3.8235,
                  4096: 7.3985}
# Vidur attention.csv, decode: (tp, requests, context) -> attn_decode median, ms.
VIDUR_ATTN_MS = {(1, 1, 3136): 0.045, (1, 4, 3136): 0.154, (1, 8, 3136): 0.318, (1, 64, 3072): 1.775,
                 (1, 128, 3072): 3.22, (2, 10, 416): 0.035, (2, 50, 416): 0.128, (2, 99, 416): 0.223}
LMDEPLOY_70B_TP4 = {1: 0.031, 16: 0.036, 32: 0.043, 64: 0.055}
# LMDeploy v0.1.0a1, llama2-13b, tp 1, the points whose sessions fit the KV cache (b (p + o) <= 50 k).
LMDEPLOY_13B = {(1, 1, 128): 0.017, (1, 128, 128): 0.017, (1, 128, 2048): 0.018, (1, 2048, 128): 0.019,
                (1, 2048, 2048): 0.019, (16, 1, 128): 0.018, (16, 128, 128): 0.019, (16, 128, 2048): 0.026,
                (16, 2048, 128): 0.033, (32, 1, 128): 0.019, (32, 128, 128): 0.021, (64, 1, 128): 0.020,
                (64, 128, 128): 0.024}
FITTED = ("memory_efficiency", "memory_half_bytes", "step_overhead_s", "compute_efficiency", "compute_half_tokens")
GRIDS = {"memory_efficiency": [0.7, 0.75, 0.8, 0.85, 0.9, 0.95],
         "memory_half_bytes": [0.0, 0.5 * MiB, 1 * MiB, 2 * MiB, 4 * MiB, 8 * MiB, 16 * MiB, 32 * MiB],
         "step_overhead_s": [0.0, 2.5e-4, 5e-4, 1e-3, 1.5e-3, 2e-3],
         "compute_efficiency": [0.6, 0.65, 0.7, 0.75, 0.8, 0.85],
         "compute_half_tokens": [0.0, 16.0, 32.0, 64.0, 128.0]}


def _wl(name, **knobs):
    return resolve(load_workload(str(ROOT / f"workloads/{name}.yaml")),
                   {f"models[0].transformer.{k}": v for k, v in knobs.items()})


def _run(hw, wl, tp, rows=None):
    return llm.evaluate_config(llm.build(wl, hw), tp, 1, 1, op_rows=rows)


def step_s(hw, batch, context, model="llama2_7b_lmdeploy"):
    return _run(hw, _wl(model, batch=batch, seq_len=context), 1)["decode_first_step_s"]


def prefill_s(hw, prompt):
    return _run(hw, _wl("llama2_7b_lmdeploy", batch=1, seq_len=prompt), 1)["ttft_s"]


def gemms_ms(hw, tokens):
    """The four GEMMs of one layer in a prefill of ``tokens`` tokens (batch 1), ms."""
    rows: list = []
    _run(hw, _wl("llama2_7b_lmdeploy", batch=1, seq_len=tokens), 1, rows)
    return 1e3 * sum(r["latency_s"] for r in rows if r["phase"] == "prefill" and r["class"] == "fc"
                     and r["name"] != "lm_head")


def attn_ms(hw, tp, requests, context):
    """One layer's decode attention launch, ``requests`` requests at ``context`` tokens, ms."""
    rows: list = []
    _run(hw, _wl("llama2_7b_lmdeploy", batch=requests, seq_len=context), tp, rows)
    return 1e3 * next(r["latency_s"] for r in rows if r["phase"] == "decode step 1" and r["name"] == "attn")


def groups(hw):
    """{group: [(label, measured, model)]} of every fitted point."""
    return {
        "LMDeploy 7B steps": [(f"b{b} p{p} o{o}", m, step_s(hw, b, p + o // 2)) for (b, p, o), m in LMDEPLOY_7B.items()]
        + [(f"first token p{p}", m, prefill_s(hw, p)) for p, m in LMDEPLOY_7B_FTL.items()],
        "Vidur GEMMs": [(f"{t} tokens", m, gemms_ms(hw, t)) for t, m in VIDUR_GEMMS_MS.items()],
        "Vidur attention": [(f"tp{tp} {b} x {c}", m, attn_ms(hw, tp, b, c)) for (tp, b, c), m in VIDUR_ATTN_MS.items()],
    }


def error(hw) -> float:
    return sum(sum(math.log(mod / m) ** 2 for _, m, mod in pts) / len(pts) for pts in groups(hw).values())


def with_gpu(hw, **changes):
    return replace(hw, gpu=replace(hw.gpu, **changes))


def fit(base):
    best = {k: getattr(base.gpu, k) for k in FITTED}
    err = error(with_gpu(base, **best))
    for _ in range(3):
        for k in FITTED:
            for v in GRIDS[k]:
                e = error(with_gpu(base, **{**best, k: v}))
                if e < err - 1e-12:
                    err, best = e, {**best, k: v}
    return best, err


def main() -> None:
    base = resolve(load_hardware(str(ROOT / "hardware/a100x4.yaml")), {})
    best, err = fit(base)
    hw = with_gpu(base, **best)
    print("fit: " + ", ".join(f"{k} {v / MiB:g} MiB" if k == "memory_half_bytes" else f"{k} {v:g}"
                              for k, v in best.items()) + f"  (summed group mean sq. log error {err:.4f})")
    for name, pts in groups(hw).items():
        rms = math.sqrt(sum(math.log(mod / m) ** 2 for _, m, mod in pts) / len(pts))
        print(f"{name} (RMS log error {rms:.3f})")
        for label, m, mod in pts:
            print(f"  {label:22} measured {m:9.4g}  dse {mod:9.4g}  ratio {mod / m:5.2f}")
    print("not fitted: LMDeploy Llama-2-13B decode, one A100")
    for (b, p, o), m in LMDEPLOY_13B.items():
        mod = step_s(hw, b, p + o // 2, "llama2_13b_lmdeploy")
        print(f"  {f'b{b} p{p} o{o}':22} measured {m:9.4g}  dse {mod:9.4g}  ratio {mod / m:5.2f}")
    print("not fitted: LMDeploy Llama-2-70B TP 4 decode on a100x4.yaml, context 2048")
    for b, m in LMDEPLOY_70B_TP4.items():
        mod = _run(hw, _wl("llama2_70b_lmdeploy", batch=b, seq_len=2048), 4)["decode_first_step_s"]
        print(f"  batch {b:<16} measured {m:9.4g}  dse {mod:9.4g}  ratio {mod / m:5.2f}")


if __name__ == "__main__":
    main()
