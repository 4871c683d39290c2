"""LLaMA-65B on 8 x A100-80GB, TP 8, FP16, context 2048: dse beside GenZ 0.0.16 and llm-analysis
0.2.2 (REFERENCES.md): the calibrated model, then the pure roofline preset with each named term
switched off in turn to show where differences come from.

    python tests/bench/compare_references.py
"""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from dse.spec.common import resolve  # noqa: E402
from dse.spec.hardware import load_hardware  # noqa: E402
from dse.spec.workload import load_workload  # noqa: E402
from dse.system.llm import evaluator as llm  # noqa: E402

# REFERENCES.md, ms.
GENZ = {1: 10.81, 8: 13.17, 32: 21.23, "prefill": 174.0}
LLM_ANALYSIS = {1: 10.10, 8: 14.72, 32: 30.55, "prefill": 143.0}


def run(hw, batch: int) -> dict:
    wl = resolve(load_workload(str(ROOT / "workloads/llama65b_serving.yaml")), {"models[0].transformer.batch": batch})
    return llm.evaluate_config(llm.build(wl, hw), 8, 1, 1)


def main() -> None:
    base = resolve(load_hardware(str(ROOT / "hardware/a100x8_roofline.yaml")), {})
    calibrated = resolve(load_hardware(str(ROOT / "hardware/a100x8.yaml")), {})
    g = base.gpu
    variants = [
        ("dse calibrated (a100x8.yaml)", calibrated),
        ("dse pure roofline (a100x8_roofline.yaml)", base),
        ("  - kernel launch 1 µs -> 0", replace(base, gpu=replace(g, kernel_launch_s=0.0))),
        ("  - all-reduce latency 3.03 µs/step -> 0", replace(base, links=(replace(base.links[0], latency_s=0.0),))),
        ("  - efficiency caps 0.8/0.85 -> 1", replace(base, gpu=replace(g, compute_efficiency=1.0, memory_efficiency=1.0))),
        ("  - all three (pure roofline + bandwidth-only collectives)",
         replace(base, gpu=replace(g, kernel_launch_s=0.0, compute_efficiency=1.0, memory_efficiency=1.0),
                 links=(replace(base.links[0], latency_s=0.0),))),
    ]
    print(f"{'':58} {'decode b1':>10} {'decode b8':>10} {'decode b32':>10} {'prefill 2048':>13}  (ms)")
    for name, hw in variants:
        cells = []
        for b in (1, 8, 32):
            cells.append(run(hw, b)["decode_first_step_s"] * 1e3)
        cells.append(run(hw, 1)["ttft_s"] * 1e3)
        print(f"{name:58} " + " ".join(f"{c:10.2f}" for c in cells[:3]) + f" {cells[3]:13.1f}")
    print(f"{'GenZ 0.0.16':58} " + " ".join(f"{GENZ[b]:10.2f}" for b in (1, 8, 32)) + f" {GENZ['prefill']:13.1f}")
    print(f"{'llm-analysis 0.2.2':58} " + " ".join(f"{LLM_ANALYSIS[b]:10.2f}" for b in (1, 8, 32))
          + f" {LLM_ANALYSIS['prefill']:13.1f}")
    m = run(base, 1)
    rows: list = []
    llm.evaluate_config(llm.build(resolve(load_workload(str(ROOT / "workloads/llama65b_serving.yaml")),
                                   {"models[0].transformer.batch": 1}), base), 8, 1, 1, op_rows=rows)
    step = [r for r in rows if r["phase"] == "decode step 1"]
    ops_ms = sum(r["latency_s"] * r["count"] for r in step) * 1e3
    print(f"batch 1 decode step by term: ops {ops_ms:.2f} ms (weights+KV at 0.85 x 2039 GB/s, "
          f"{sum(r['count'] for r in step)} kernels x 1 µs launch), all-reduce + all-gather "
          f"{m['decode_first_step_s'] * 1e3 - ops_ms:.2f} ms")


if __name__ == "__main__":
    main()
