"""A DistServe-style SLO attainment curve (issue 24): the share of requests meeting both TTFT and
TPOT objectives (DistServe's attainment) as the request rate grows, for one Llama-2-7B on one
A100-80GB (hardware/a100x8_vllm.yaml with one one-GPU group) with the synthetic ShareGPT-like
lengths of workloads/llama2_7b_sharegpt_like.yaml (TTFT 1 s, TPOT 100 ms), under three engines:
continuous batching with chunked prefill (budget 2,048), continuous with whole prefills first
(vLLM v0, budget 4,096) and static (request-level) batching. Prints attainment, goodput, TTFT
p90, TPOT p90 and P99 time between tokens per rate, then each engine's highest rate at 90 %
attainment (bisected).

    python tests/bench/case_attainment_curve.py [--rates 1,2,4,6,8,10,12]
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from dse.spec.bundled import spec  # noqa: E402
from dse.system.serving.evaluator import build, evaluate, place  # noqa: E402

ENGINES = {"chunked": ("continuous", {"chunked_prefill": True, "max_num_batched_tokens": 2048}),
           "prefill-first": ("continuous", {"chunked_prefill": False, "max_num_batched_tokens": 4096}),
           "static": ("static", {"chunked_prefill": False, "max_num_batched_tokens": 4096})}


def metrics(rate: float, batching: str, engine: dict) -> dict:
    hw = spec("hardware", "a100x8_vllm", {"system.groups": "1", "system.tp": 1})
    hw = replace(hw, batching=batching, engine=replace(hw.engine, **engine))
    point = build(spec("workloads", "llama2_7b_sharegpt_like", {"serving.total_rate_per_s": rate}), hw)
    return evaluate(point, place(point)[0])


def rate_at(attainment: float, batching: str, engine: dict) -> float:
    low, high = 0.05, 200.0
    for _ in range(14):
        mid = (low * high) ** 0.5
        low, high = (mid, high) if metrics(mid, batching, engine)["slo_attainment"] >= attainment else (low, mid)
    return low


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rates", default="1,2,4,6,8,10,12")
    args = parser.parse_args()
    print(f"{'req/s':>6} {'engine':14} {'attained':>8} {'goodput/s':>9} {'TTFT p90':>9} {'TPOT p90':>9} {'TBT p99':>8}")
    for rate in (float(r) for r in args.rates.split(",")):
        for name, (batching, engine) in ENGINES.items():
            m = metrics(rate, batching, engine)
            print(f"{rate:6g} {name:14} {m['slo_attainment']:8.1%} {m['goodput_per_s']:9.3f} {m['ttft_p90_s']:8.3g}s "
                  f"{m['tpot_p90_s'] * 1e3:7.3g}ms {m['tbt_p99_s'] * 1e3:6.3g}ms")
    for name, (batching, engine) in ENGINES.items():
        print(f"{name:14} highest rate at 90 % attainment: {rate_at(0.9, batching, engine):.3g} req/s")


if __name__ == "__main__":
    main()
