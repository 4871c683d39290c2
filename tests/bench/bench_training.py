"""Training-schedule benchmarks (on demand): schedules simulated per second as p and n grow, the
cost of building a schedule, a full design evaluation, and the wall time of the default training
search. Prints figures; asserts nothing about speed.

    python tests/bench/bench_training.py
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from dse.search.runner import SearchConfig  # noqa: E402
from dse.search.worker import run_search  # noqa: E402
from dse.spec.common import resolve  # noqa: E402
from dse.spec.hardware import load_hardware  # noqa: E402
from dse.spec.workload import load_workload  # noqa: E402
from dse.system.base import kind_named  # noqa: E402
from dse.system.training import schedules as S  # noqa: E402
from dse.system.training.evaluator import evaluate_config  # noqa: E402
from dse.system.training.kernels import PassCosts, simulate  # noqa: E402


def per_second(fn, seconds: float = 1.0) -> float:
    fn()
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        fn()
        count += 1
    return count / (time.perf_counter() - start)


def bench_simulator() -> None:
    print("| family | p | n | passes | simulations/s | µs/simulation | ns/pass | builds/s (uncached) |")
    print("|---|---|---|---|---|---|---|---|")
    for family in ("1f1b", "zb-h1", "v-half", "zb-v"):
        for p, n in ((8, 32), (16, 64), (32, 256)):
            s = S.build(family, p, n)
            passes = S.prepared(s)
            st = s.stages
            rng = np.random.default_rng(0)
            costs = PassCosts(rng.uniform(1, 2, st), rng.uniform(1, 2, st), rng.uniform(0.5, 1, st),
                              np.full(st, 0.05), np.ones(st), np.ones(st), 0)
            m = passes.kind.shape[0]
            start, end, dev, life = np.empty(m), np.empty(m), np.empty((p, 4)), np.empty(st)
            rate = per_second(lambda: simulate(passes, costs, start, end, dev, life))

            def build():
                S._build_unit.cache_clear()
                S.prepared.cache_clear()
                S.prepared(S.build(family, p, n))
            builds = per_second(build, 0.5)
            print(f"| {family} | {p} | {n} | {m} | {rate:,.0f} | {1e6 / rate:,.1f} | {1e9 / rate / m:.1f} | "
                  f"{builds:,.1f} |")


def bench_design() -> None:
    wl = resolve(load_workload(str(ROOT / "workloads/cm_98.5b_seq1024.yaml")), {})
    hw = load_hardware(str(ROOT / "hardware/a100_cluster_40.yaml"))
    kind = kind_named("training")
    for family in ("1f1b", "v-half"):
        point = kind.build(wl, resolve(hw, {"system.schedule.family": family}))
        rate = per_second(lambda: evaluate_config(point, 2, 20, 1))
        print(f"one 98.5B design (tp 2, pp 20, dp 1, 160 microbatches, {family}; costs + schedule + "
              f"simulation): {1e3 / rate:.2f} ms")
        rows = per_second(lambda: kind.design_rows(point), 0.5)
        print(f"  all {len(kind.design_rows(point)[0])} auto splits of one design point: {1e3 / rows:.1f} ms")


def bench_search() -> None:
    wl, hw = ROOT / "workloads/cm_9.6b_seq1024.yaml", ROOT / "hardware/a100_cluster_16.yaml"
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        summary = run_search(str(wl), str(hw), SearchConfig(out=Path(out), trials=300))
        wall = time.perf_counter() - start
    print(f"default training search (cm_9.6b_seq1024 on a100_cluster_16, 300 trials, journal storage): "
          f"{wall:.2f} s wall, {summary.points} design points, {summary.rows} rows, {summary.repeats} repeats")


if __name__ == "__main__":
    bench_simulator()
    bench_design()
    bench_search()
