"""One GPU calibration for every kind (on demand; prints tables, asserts nothing).

The calibrated A100 (hardware/a100x8.yaml: caps 0.7 / 0.75, GEMM rows at half rate 64, 8 MiB a launch
at half bandwidth, no per-step overhead; fitted by tests/bench/fit_gpu.py to measured Llama-2-7B
inference on one A100), which the bundled A100 training and serving files now carry, beside the flat
caps 0.75 / 0.8 those files had before, and beside the calibrated caps without the curves (what the
training and serving kinds saw of a calibrated GPU before the shared GPU layer), on:

1. Zero Bubble PP (arXiv 2401.10241) 1.5B model, p = 8, microbatch 6 x 1024 tokens: per-stage F, B,
   W of a middle stage (3 layers) beside the profiled T_F 18.522, T_B 18.086, T_W 9.337 ms (its Table 9).
2. AlpaServe's BERT-2.6B alone on one GPU beside the 0.148 s its simulator takes as input (V100;
   no public V100 calibration exists, so the A100 curves are applied to the V100 as an illustration
   only), and Llama-2-7B on one A100.

    python tests/bench/case_calibration.py
"""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from dse.spec.common import Parallel, resolve  # noqa: E402
from dse.spec.hardware import load_hardware  # noqa: E402
from dse.spec.workload import load_workload  # noqa: E402
from dse.system.base import kind_named  # noqa: E402

CALIBRATION = ("compute_efficiency", "memory_efficiency", "compute_half_tokens", "memory_half_bytes",
               "step_overhead_s")


def a100_calibration() -> dict:
    gpu = load_hardware(str(ROOT / "hardware/a100x8.yaml")).gpu
    return {k: getattr(gpu, k) for k in CALIBRATION}


def calibrated(hw, curves: dict):
    return replace(hw, gpu=replace(hw.gpu, **curves))


FLAT = {"compute_efficiency": 0.75, "memory_efficiency": 0.8, "compute_half_tokens": 0.0, "memory_half_bytes": 0.0,
        "step_overhead_s": 0.0}


def variants(hw) -> tuple:
    """(label, hardware): flat caps as before, calibrated caps only, the full calibration."""
    cal = a100_calibration()
    caps = {**cal, "compute_half_tokens": 0.0, "memory_half_bytes": 0.0, "step_overhead_s": 0.0}
    return (("flat caps 0.75 / 0.8 (the bundled file before)", calibrated(hw, FLAT)),
            ("caps 0.7 / 0.75 without the curves", calibrated(hw, caps)),
            ("the A100 calibration (bundled now)", calibrated(hw, cal)))


def zero_bubble() -> None:
    kind = kind_named("training")
    wl = resolve(load_workload(str(ROOT / "workloads/zb_1.5b.yaml")), {})
    hw0 = resolve(load_hardware(str(ROOT / "hardware/a100_cluster_8.yaml")), {"system.schedule.family": "1f1b"})
    hw0 = replace(hw0, parallel=Parallel(tp=1, pp=8, dp=1))
    print("Zero Bubble 1.5B, p = 8, microbatch 6: one middle stage (3 layers), ms")
    print("| GPU model | F | B | W | W/F |\n|---|---|---|---|---|")
    print("| profiled (ZB Table 9) | 18.522 | 18.086 | 9.337 | 0.504 |")
    for label, hw in variants(hw0):
        timeline: dict = {}
        from dse.system.training.evaluator import evaluate_config

        evaluate_config(kind.build(wl, hw), 1, 8, 1, timeline)
        f, b, w = (float(timeline[k][3]) * 1e3 for k in ("f_s", "b_s", "w_s"))
        print(f"| {label} | {f:.3f} | {b:.3f} | {w:.3f} | {w / f:.3f} |")


def serving() -> None:
    from dse.system.serving.evaluator import single_gpu_latency

    print("\nOne request alone on one GPU (prefill + decode), s")
    print("| model | GPU model | latency | reference |\n|---|---|---|---|")
    ref = "0.148 (AlpaServe's simulator input)"
    wl = resolve(load_workload(str(ROOT / "workloads/bert_2x2.6b.yaml")), {})
    hw0 = resolve(load_hardware(str(ROOT / "hardware/v100x2_6gb.yaml")), {})
    for label, hw in (("V100, v100x2_6gb.yaml (flat caps 0.7 / 0.8, unchanged)", hw0),
                      ("V100 with the A100 curves and step overhead (illustration)",
                       calibrated(hw0, {k: v for k, v in a100_calibration().items() if "efficiency" not in k}))):
        print(f"| {wl.models[0].name} | {label} | {single_gpu_latency(wl.models[0], hw):.4f} | {ref} |")
    wl = resolve(load_workload(str(ROOT / "workloads/llm_4x_llama2.yaml")), {})
    hw0 = resolve(load_hardware(str(ROOT / "hardware/a100x8_serving.yaml")), {})
    for label, hw in variants(hw0):
        print(f"| {wl.models[0].name} | A100, {label} | {single_gpu_latency(wl.models[0], hw):.4f} | |")


if __name__ == "__main__":
    zero_bubble()
    serving()
