"""Core benchmarks (run on demand: ``python tests/bench/bench_core.py``); prints figures, asserts nothing.

1. op-cost evaluations per second on one core (target >= 1e7)
2. one whole-system mapping evaluation, GPT-2 + ResNet-50 on 4 chiplets (target <= 5 us)
3. wall time of the default search with a warm numba cache (target < 60 s)
4. wall time of ``dse --help`` (target < 0.3 s)
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from numba import njit

from dse.cost.dataflow import ChipletArrays, cost_table
from dse.spec.common import resolve
from dse.spec.hardware import load_hardware
from dse.spec.workload import load_workload
from dse.system.chiplet import evaluator as design, kernels

ROOT = Path(__file__).resolve().parents[2]
WL = str(ROOT / "workloads/gpt2_resnet50.yaml")
HW = str(ROOT / "hardware/mcm4_hetero.yaml")


@njit(cache=True)
def _evaluate_many(reps, assigns, frame):
    sc = kernels.scratch(frame)
    met = np.zeros(kernels.N_METRICS)
    acc = 0.0
    for r in range(reps):
        kernels.frame_cost(assigns[r % assigns.shape[0]], frame, sc, met)
        acc += met[kernels.M_PERIOD]
    return acc


def best_of(fn, repeats=5):
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    point = design.build(resolve(load_workload(WL), {}), resolve(load_hardware(HW), {}))
    ops, dev, net = point.ops, point.chiplets, point.network
    print(f"workload: {ops.n} ops (GPT-2 1024 tokens + 8 x ResNet-50), hardware: {dev.n} chiplets")

    # 1. op-cost evaluations: the same 4 chiplets tiled 64x -> 256 devices x 127 ops per call; each
    #    includes the L2 blocking search. Then the flexible monolith (6 candidate unrollings per op).
    tiled = ChipletArrays(*[np.ascontiguousarray(np.concatenate([a] * 64)) for a in dev.arrays])
    cost_table(ops.arrays, tiled, net.dram)
    t = best_of(lambda: cost_table(ops.arrays, tiled, net.dram))
    evals = ops.n * 4 * 64
    print(f"op-cost evaluations, fixed arrays: {evals / t:,.0f} per second on one core "
          f"({evals} (op, chiplet) pairs in {t * 1e3:.2f} ms; the 256 chiplets share one L2 size, so each "
          f"op's L2 blocking is computed once)")
    # the same with every chiplet's L2 a few bytes apart: the blocking search runs for every pair
    apart = tiled._replace(l2_bytes=tiled.l2_bytes + np.arange(len(tiled.l2_bytes)))
    cost_table(ops.arrays, apart, net.dram)
    ta = best_of(lambda: cost_table(ops.arrays, apart, net.dram))
    print(f"op-cost evaluations, fixed arrays, every L2 size different: {evals / ta:,.0f} per second")
    mono = design.build(resolve(load_workload(WL), {}), resolve(load_hardware(str(ROOT / "hardware/mono_os.yaml")), {}))
    flex = ChipletArrays(*[np.ascontiguousarray(np.concatenate([a] * 256)) for a in mono.chiplets.arrays])
    cost_table(ops.arrays, flex, net.dram)
    tf = best_of(lambda: cost_table(ops.arrays, flex, net.dram))
    n_cand = int(mono.chiplets.arrays.n_unroll[0])
    print(f"op-cost evaluations, flexible array ({n_cand} candidate unrollings): {ops.n * 256 / tf:,.0f} per second "
          f"({ops.n * 256 * n_cand / tf:,.0f} candidate evaluations per second; the search costs "
          f"{tf / (ops.n * 256) / (t / evals):.1f}x a fixed array's evaluation)")

    # 2. mapping evaluation: 1e6 evaluations of 64 random mappings inside one jitted loop, and one
    #    call from Python (includes the dispatcher's argument unboxing).
    rng = np.random.default_rng(0)
    assigns = rng.integers(0, dev.n, size=(64, ops.n)).astype(np.int64)
    frame = point.frame
    _evaluate_many(10, assigns, frame)
    reps = 1_000_000
    t = best_of(lambda: _evaluate_many(reps, assigns, frame), 3)
    sc, met = kernels.scratch(frame), np.zeros(kernels.N_METRICS)
    t_py = best_of(lambda: [kernels.frame_cost(assigns[0], frame, sc, met) for _ in range(10_000)], 3) / 10_000
    print(f"mapping evaluation (GPT-2 + ResNet-50, 4 chiplets): {t / reps * 1e6:.2f} us in a jitted loop, "
          f"{t_py * 1e6:.2f} us per call from Python")

    # 3. inner optimiser per design point and the default search, warm cache.
    t = best_of(lambda: design.optimise(point), 3)
    _, _, evaluated = design.optimise(point)
    print(f"inner optimiser: {t * 1e3:.1f} ms per design point, {evaluated:,} mappings evaluated "
          "(sizes up to 64 chiplets x 1,001 ops: tests/bench/bench_scale.py)")
    with tempfile.TemporaryDirectory() as out:
        cmd = [sys.executable, "-m", "dse.cli", "search", WL, HW, "--out", out, "--quiet"]
        subprocess.run(cmd + ["--trials", "2", "--batch", "2", "--study", "warm"], check=True, capture_output=True)
        import resource

        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t = time.perf_counter()
        r = subprocess.run(cmd, check=True, capture_output=True, text=True)
        wall = time.perf_counter() - t
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    print(f"default search (dse search {Path(WL).name} {Path(HW).name}): {wall:.1f} s wall, {cpu:.1f} s CPU\n"
          f"  {r.stdout.strip()}")

    # 4. dse --help
    exe = [str(Path(sys.executable).with_name("dse"))] if Path(sys.executable).with_name("dse").exists() else [sys.executable, "-m", "dse.cli"]
    env = {**os.environ, "COLUMNS": "80"}
    t = best_of(lambda: subprocess.run(exe + ["--help"], check=True, capture_output=True, env=env), 5)
    print(f"dse --help: {t:.3f} s wall (best of 5, {' '.join(Path(e).name for e in exe)})")


if __name__ == "__main__":
    main()
