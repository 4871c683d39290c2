"""LLM evaluator benchmarks (on demand): decode-trace simulation speed and the wall time of a PAPI
search. Prints figures; asserts nothing about speed.

    python tests/bench/bench_llm.py
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from dse.models.views import linear_ops  # noqa: E402
from dse.search.runner import SearchConfig  # noqa: E402
from dse.search.worker import run_search  # noqa: E402
from dse.spec.common import resolve  # noqa: E402
from dse.spec.hardware import load_hardware  # noqa: E402
from dse.spec.workload import load_workload  # noqa: E402
from dse.system.gpu.kernels import N_OCOLS  # noqa: E402
from dse.system.llm import evaluator, kernels  # noqa: E402


def bench_trace() -> None:
    wl = resolve(load_workload(str(ROOT / "workloads/llama65b_decode.yaml")),
                 {"models[0].transformer.batch": 64, "models[0].transformer.decode.tlp": 1})
    hw = resolve(load_hardware(str(ROOT / "hardware/papi.yaml")), {})
    point = evaluator.build(wl, hw)
    evaluator.evaluate_config(point, 6, 1, 1)          # compile / load the numba cache
    ops = linear_ops(point.t, 6)
    system = evaluator.system_bundle(point, ops, 6, 1, 1)
    lengths = np.sort(point.lengths)
    out = np.zeros((ops.n, N_OCOLS))
    reps = 2000
    start = time.perf_counter()
    for _ in range(reps):
        res = evaluator.decode(point, ops, system, lengths, out)
    dt = time.perf_counter() - start
    steps = res[kernels.R_STEPS] * reps
    print(f"decode trace (LLaMA-65B, PAPI, batch 64, {int(res[kernels.R_STEPS])} steps/trace, 9 ops/step): "
          f"{steps / dt / 1e6:.2f} M steps/s, {dt / reps * 1e6:.1f} µs per trace (from Python)")
    start = time.perf_counter()
    n = 200
    for _ in range(n):
        evaluator.evaluate_config(point, 6, 1, 1)
    print(f"evaluate_config (whole LLM design point incl. Python glue): {(time.perf_counter() - start) / n * 1e3:.3f} ms")


def bench_search(trials: int = 300) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        cfg = SearchConfig(out=Path(tmp), trials=trials)
        start, cpu0 = time.perf_counter(), time.process_time()
        s = run_search(str(ROOT / "workloads/gpt3_175b_decode.yaml"), str(ROOT / "hardware/papi.yaml"), cfg)
        wall, cpu = time.perf_counter() - start, time.process_time() - cpu0
    print(f"PAPI search (gpt3_175b_decode x papi, {trials} trials): {wall:.2f} s wall, {cpu:.2f} s CPU, {s.points} distinct "
          f"points, {s.mappings_evaluated} parallel configs evaluated, {s.rows} rows; {s.best_text()}")


if __name__ == "__main__":
    bench_trace()
    bench_search()
