"""The AlpaServe comparisons (on demand): the REFERENCES.md scenario beside AlpaServe's simulator,
and the trends of SLO attainment with CV, rate and SLO scale for selective replication (two
one-GPU groups) against one 2-GPU pipeline group, and the memory crossover. Each figure is what
`dse evaluate WORKLOAD HARDWARE --set hw.system.groups=G --set hw.system.tp=1` prints for the
workload with the varied field set to the value shown (done here through the same library calls).

    python tests/bench/case_serving.py
"""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from dse.spec.common import resolve  # noqa: E402
from dse.spec.hardware import load_hardware  # noqa: E402
from dse.spec.serving_workload import Arrival, Profiled  # noqa: E402
from dse.spec.workload import load_workload  # noqa: E402
from dse.system.serving.evaluator import build, evaluate, place  # noqa: E402

PROFILED = ROOT / "workloads/alpaserve_profiled.yaml"
MODELLED = ROOT / "workloads/bert_2x2.6b.yaml"
HW6 = ROOT / "hardware/v100x2_6gb.yaml"
HW12 = ROOT / "hardware/v100x2_12gb.yaml"


def attainment(w, hw_path: Path, groups: str) -> float:
    h = resolve(load_hardware(str(hw_path)), {"system.groups": groups, "system.tp": 1})
    point = build(resolve(w, {}), h)
    return evaluate(point, place(point)[0])["slo_attainment"]


def with_serving(w, **changes):
    return replace(w, serving=replace(w.serving, **changes))


def inflated(w, per_stage: float = 0.009):
    """AlpaServe's simulator multiplies each profiled stage latency by (1 + 0.009 x stages) but sets
    the SLO from the uninflated single-GPU latency (5 x 0.148 s = 0.74 s)."""
    models = []
    for m in w.models:
        prof = tuple(Profiled(p.pp, p.tp, tuple(x * (1 + per_stage * p.pp) for x in p.stage_latency_s),
                              p.weight_bytes_per_gpu) for p in m.serving.profiled)
        single = next(sum(p.stage_latency_s) for p in m.serving.profiled if p.pp == 1 and p.tp == 1)
        slo = float(w.serving.slo_scale) * single
        models.append(replace(m, serving=replace(m.serving, profiled=prof, slo_s=slo, slo_scale=None)))
    return replace(w, models=tuple(models))


def reference() -> None:
    w = load_workload(str(PROFILED))
    print("REFERENCES.md scenario: 2 x BERT-2.6B, 2 GPUs, Gamma 4 + 4 req/s CV 3, SLO 5 x 0.148 s\n")
    print("| inputs | 6 GB dedicated | 6 GB one pp2 group | 12 GB replication | 12 GB pp2 group |")
    print("|---|---|---|---|---|")
    print("| AlpaServe's simulator (REFERENCES.md) | 0.639 | 0.814 | 0.826 | 0.804 |")

    def row(label, wl):
        vals = [attainment(wl, HW6, "1+1"), attainment(wl, HW6, "2"), attainment(wl, HW12, "1+1"),
                attainment(wl, HW12, "2")]
        print(f"| {label} | " + " | ".join(f"{v:.3f}" for v in vals) + " |")
        return vals

    row("dse, AlpaServe's profiled latencies, seed 0", w)
    row("dse, same + AlpaServe's 0.9 %/stage latency inflation", inflated(w))
    seeds = np.array([row(f"dse, profiled + inflation, seed {s}", with_serving(inflated(w), seed=s))
                      for s in range(1, 6)])
    print("| mean ± sd over seeds 1-5 | " + " | ".join(f"{m:.3f} ± {sd:.3f}" for m, sd in
                                                       zip(seeds.mean(axis=0), seeds.std(axis=0, ddof=1))) + " |")
    row("dse's own cost model (bert_2x2.6b.yaml)", load_workload(str(MODELLED)))


def trends() -> None:
    w = load_workload(str(MODELLED))
    print("\nTrends, dse's cost model (bert_2x2.6b.yaml), 6 GB GPUs: replication (1+1) vs one pp2 group (2)\n")
    print("| CV | replication | pp2 group |")
    print("|---|---|---|")
    for cv in (1, 2, 3, 4, 6, 8):
        wl = with_serving(w, arrival=Arrival("gamma", cv=float(cv)))
        print(f"| {cv} | {attainment(wl, HW6, '1+1'):.3f} | {attainment(wl, HW6, '2'):.3f} |")
    print("\n| rate per model (req/s), CV 3 | replication | pp2 group |")
    print("|---|---|---|")
    for rate in (1, 2, 4, 6, 8):
        models = tuple(replace(m, serving=replace(m.serving, rate_per_s=float(rate))) for m in w.models)
        wl = replace(w, models=models)
        print(f"| {rate} | {attainment(wl, HW6, '1+1'):.3f} | {attainment(wl, HW6, '2'):.3f} |")
    print("\n| SLO scale, CV 3, 4 + 4 req/s | replication | pp2 group |")
    print("|---|---|---|")
    for scale in (1.5, 2, 3, 5, 10, 20):
        wl = with_serving(w, slo_scale=float(scale))
        print(f"| {scale} | {attainment(wl, HW6, '1+1'):.3f} | {attainment(wl, HW6, '2'):.3f} |")
    print("\nMemory crossover, CV 3, 4 + 4 req/s: GPU memory budget vs the better layout\n")
    print("| GB per GPU | replicas per model (replication) | replication | pp2 group | better |")
    print("|---|---|---|---|---|")
    for gb in (6, 8, 10, 11, 12, 16):
        vals = []
        reps = 0
        for groups in ("1+1", "2"):
            h = resolve(load_hardware(str(HW6)), {"system.groups": groups, "system.tp": 1})
            h = replace(h, gpu=replace(h.gpu, memory_bytes=gb * 1e9))
            point = build(resolve(w, {}), h)
            placed = place(point)[0]
            vals.append(evaluate(point, placed)["slo_attainment"])
            if groups == "1+1":
                reps = int(placed.sum()) / 2
        better = "replication" if vals[0] > vals[1] else "pp2 group"
        print(f"| {gb} | {reps:g} | {vals[0]:.3f} | {vals[1]:.3f} | {better} |")


if __name__ == "__main__":
    reference()
    trends()
