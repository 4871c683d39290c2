"""Serving benchmarks (on demand): simulated requests per second per core (one stage, a pipeline,
several groups per model), the greedy placement, one design point, and the wall time of the default
serving searches. Prints figures; asserts nothing about speed.

    python tests/bench/bench_serving.py
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
from dse.system.serving import kernels as K  # noqa: E402
from dse.system.serving.arrivals import gaps_process, generate  # noqa: E402
from dse.system.serving.costs import model_config  # noqa: E402
from dse.system.serving.evaluator import build, evaluate, place  # noqa: E402


def best_of(fn, repeats: int = 5) -> float:
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def bench_simulator() -> None:
    """Gamma arrivals (CV 3) at 1,000 req/s; service times set so the groups run about 80 % busy
    (a mix of served, queued and rejected requests, not an overload where nearly all are rejected)."""
    print("| case | requests | good | rejected | seconds | requests/s |")
    print("|---|---|---|---|---|---|")
    rng = np.random.default_rng(0)
    n = 2_000_000
    for name, M, G, S, held in (("1 model, 1 group, 1 stage", 1, 1, 1, 1), ("1 model, 1 group, 4 stages", 1, 1, 4, 1),
                                ("8 models, 4 groups, 1 stage, 2 groups each", 8, 4, 1, 2),
                                ("8 models, 2 groups, 2 stages, all on both", 8, 2, 2, 2)):
        t = gaps_process(rng, 1000.0, 3.0, n / 1000.0)
        models = rng.integers(0, M, size=t.size)
        latency = np.full((M, G, S), 0.8 * G / 1000.0 / S)      # whole request: 0.8 G / rate
        placed = np.zeros((M, G), dtype=np.uint8)
        for m in range(M):
            for j in range(held):
                placed[m, (m + j) % G] = 1
        groups = K.Groups(np.full(G, S, dtype=np.int64), latency, np.zeros((M, G)), 1.0)
        req = K.Requests(t, models.astype(np.int64))
        pol = K.Policy(np.full(M, 10 * 0.8 * G / 1000.0), 0.0, True, 0.0, 1e18)
        s = K.scratch(t.size, groups)
        sec = best_of(lambda: K.simulate(req, groups, placed, pol, s))
        good = int((s.status == K.GOOD).sum())
        rejected = int((s.status == K.REJECTED).sum())
        print(f"| {name} | {t.size:,} | {good:,} | {rejected:,} | {sec:.4f} | {t.size / sec:,.0f} |")


def bench_points() -> None:
    print("\n| workload | hardware | groups | tp | requests | first build s | placement s (runs) | evaluation s |")
    print("|---|---|---|---|---|---|---|---|")
    for wl, hw, groups, tp in (("bert_2x2.6b", "v100x2_6gb", "2", 1), ("bert_8x2.6b", "v100x4_13gb", "1+1+1+1", 1),
                               ("bert_8x2.6b", "v100x4_13gb", "2+2", 1),
                               ("llm_4x_llama2", "a100x8_serving", "2+2+2+2", 1)):
        w = resolve(load_workload(str(ROOT / f"workloads/{wl}.yaml")), {})
        h = resolve(load_hardware(str(ROOT / f"hardware/{hw}.yaml")), {"system.groups": groups, "system.tp": tp})
        build(w, h)                                   # compile the kernels
        model_config.cache_clear()                    # time a first build: costs and arrivals drawn
        generate.cache_clear()
        start = time.perf_counter()
        point = build(w, h)
        t_build = time.perf_counter() - start
        start = time.perf_counter()
        placed, runs = place(point)
        t_place = time.perf_counter() - start
        start = time.perf_counter()
        evaluate(point, placed)
        t_eval = time.perf_counter() - start
        print(f"| {wl} | {hw} | {groups} | {tp} | {point.test.arrival_s.size:,} | {t_build:.3f} | "
              f"{t_place:.3f} ({runs}) | {t_eval:.4f} |")


def bench_search() -> None:
    print("\n| default search | trials | points | seconds (wall) | seconds (CPU) |")
    print("|---|---|---|---|---|")
    for wl, hw in (("bert_2x2.6b", "v100x2_6gb"), ("bert_8x2.6b", "v100x4_13gb"), ("llm_4x_llama2", "a100x8_serving")):
        with tempfile.TemporaryDirectory() as tmp:
            start, cpu0 = time.perf_counter(), time.process_time()
            summary = run_search(str(ROOT / f"workloads/{wl}.yaml"), str(ROOT / f"hardware/{hw}.yaml"),
                                 SearchConfig(out=Path(tmp)))
            print(f"| {wl} on {hw} | {summary.trials} | {summary.points} | {time.perf_counter() - start:.2f} | "
                  f"{time.process_time() - cpu0:.2f} |")


if __name__ == "__main__":
    bench_simulator()
    bench_points()
    bench_search()
