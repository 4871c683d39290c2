"""Fit the GPU calibration knobs to measured serving, and print the model before and after.

    python tests/bench/fit_gpu.py

Measured (REFERENCES.md): Llama-2-70B, TP 4 on A100-80GB SXM, FP16, prompt 2048, LMDeploy v0.1.0a1:
per-token decode 31 / 36 / 43 / 55 ms at batch 1 / 16 / 32 / 64, first token 402 ms at batch 1.

Fit: memory_efficiency, memory_half_bytes and step_overhead_s by a grid search minimising the sum
of squared log ratios over the four decode points (dse's first decode step at context 2048), then
compute_efficiency to the prefill. kernel_launch_s stays 1 us (per-step launch time and the per-step
overhead are not separable from per-step latency) and compute_half_tokens 32 (no measured point is
compute-bound at few rows). The values printed under "fit" are those of hardware/a100x4.yaml.
"""

from __future__ import annotations

import itertools
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

DECODE_MS = {1: 31.0, 16: 36.0, 32: 43.0, 64: 55.0}     # LMDeploy, REFERENCES.md
PREFILL_MS = 402.0


def workload(batch):
    return resolve(load_workload(str(ROOT / "workloads/llama2_70b_lmdeploy.yaml")), {"models[0].transformer.batch": batch})


def decode_ms(hw, batch):
    return llm.evaluate_config(llm.build(workload(batch), hw), 4, 1, 1)["decode_first_step_s"] * 1e3


def prefill_ms(hw):
    return llm.evaluate_config(llm.build(workload(1), hw), 4, 1, 1)["ttft_s"] * 1e3


def with_gpu(hw, **changes):
    return replace(hw, gpu=replace(hw.gpu, **changes))


def error(hw):
    return sum(math.log(decode_ms(hw, b) / m) ** 2 for b, m in DECODE_MS.items())


def main() -> None:
    base = resolve(load_hardware(str(ROOT / "hardware/a100x4.yaml")), {})
    flat = with_gpu(base, memory_efficiency=0.85, memory_half_bytes=0.0, step_overhead_s=0.0,
                    compute_efficiency=0.8, compute_half_tokens=0.0)
    best = None
    for eff, half, over in itertools.product([0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95],
                                             [0.0, 2**16, 2**17, 2**18, 2**19, 2**20, 2**21, 2**22],
                                             [0.0, 5e-4, 1e-3, 1.5e-3, 2e-3, 3e-3, 4e-3, 5e-3]):
        hw = with_gpu(base, memory_efficiency=eff, memory_half_bytes=half, step_overhead_s=over)
        err = error(hw)
        if best is None or err < best[0]:
            best = (err, eff, half, over)
    err, eff, half, over = best
    fitted = with_gpu(base, memory_efficiency=eff, memory_half_bytes=half, step_overhead_s=over)
    cbest = min((abs(math.log(prefill_ms(with_gpu(fitted, compute_efficiency=c)) / PREFILL_MS)), c)
                for c in [0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9])
    fitted = with_gpu(fitted, compute_efficiency=cbest[1])
    print(f"fit: memory_efficiency {eff}, memory_half_bytes {half:.0f} ({half / 2**10:.0f} KiB), "
          f"step_overhead_s {over * 1e3:g} ms, compute_efficiency {cbest[1]} "
          f"(RMS log error over decode {math.sqrt(err / 4):.3f})")
    print(f"{'point':26} {'measured':>9} {'flat caps':>10} {'ratio':>6} {'calibrated':>11} {'ratio':>6}  (ms)")
    for b, m in DECODE_MS.items():
        a, c = decode_ms(flat, b), decode_ms(fitted, b)
        print(f"{'decode, batch ' + str(b):26} {m:9.1f} {a:10.2f} {a / m:6.2f} {c:11.2f} {c / m:6.2f}")
    a, c = prefill_ms(flat), prefill_ms(fitted)
    print(f"{'prefill 2048, batch 1':26} {PREFILL_MS:9.1f} {a:10.1f} {a / PREFILL_MS:6.2f} {c:11.1f} "
          f"{c / PREFILL_MS:6.2f}")


if __name__ == "__main__":
    main()
