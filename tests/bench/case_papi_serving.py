"""PAPI under traffic (issue 24): GPT-3 66B on PAPI's system (hardware/papi_serving.yaml) behind a
continuously batched engine with speculative decoding, Gamma arrivals at several burstiness
levels (CV) and rates. Each engine iteration dispatches by its live RLP x TLP:

    PAPI            policy papi, the best alpha of 8-128 (by goodput, then TPOT p50)
    A100+AttAcc     policy gpu_attn_pim: FC always on the GPUs, attention on Attn-PIM
    PIM-only        policy papi, alpha 2048 (the token budget): FC on FC-PIM in every decode-only
                    iteration (prefill chunks need the GPUs in any engine)
    A100            policy gpu: no PIM; the GPUs' 60 GB hold weights and KV cache

Prints goodput (requests/s meeting TTFT 5 s and TPOT 100 ms), TPOT p50, TTFT p99, J per output
token and the share of iterations with FC on FC-PIM, then geomeans of PAPI's goodput, TPOT and
energy-efficiency ratios beside
the paper's 1.8x (vs A100+AttAcc) and 11.1x (vs AttAcc-only), which are decode-only speedups on
static batches (tokens/s), not goodput under traffic.

    python tests/bench/case_papi_serving.py [--rates 1,2,4] [--cvs 1,2,4] [--tokens 0,1,3]
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from dse.spec.common import resolve  # noqa: E402
from dse.spec.hardware import load_hardware  # noqa: E402
from dse.spec.workload import load_workload  # noqa: E402
from dse.system.serving.cases import best_dispatch  # noqa: E402

DESIGNS = {"PAPI": ("papi", (8, 16, 32, 64, 128)), "A100+AttAcc": ("gpu_attn_pim", (32,)),
           "PIM-only": ("papi", (2048,)), "A100": ("gpu", (32,))}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rates", default="1,2,4")
    parser.add_argument("--cvs", default="1,2,4")
    parser.add_argument("--tokens", default="0,1,3")
    args = parser.parse_args()
    wl0 = load_workload(str(ROOT / "workloads/gpt3_66b_papi_serving.yaml"))
    hw = resolve(load_hardware(str(ROOT / "hardware/papi_serving.yaml")), {})
    ratios: dict[str, list] = {k: [] for k in DESIGNS if k != "PAPI"}
    print(f"{'CV':>3} {'req/s':>5} {'TLP':>3}  {'design':12} {'goodput/s':>9} {'TPOT p50':>9} {'TTFT p99':>9} "
          f"{'J/token':>8} {'FC-PIM':>6} {'alpha':>5}")
    for cv in (float(x) for x in args.cvs.split(",")):
        for rate in (float(x) for x in args.rates.split(",")):
            for k in (int(x) for x in args.tokens.split(",")):
                wl = resolve(wl0, {"serving.arrival.cv": cv, "serving.total_rate_per_s": rate,
                                   "models[0].serving.speculative.tokens": k})
                rows = {name: best_dispatch(wl, hw, *spec) for name, spec in DESIGNS.items()}
                for j, (name, (r, a)) in enumerate(rows.items()):
                    head = f"{cv:3g} {rate:5g} {k + 1:3d}" if j == 0 else " " * 13
                    print(f"{head}  {name:12} {r['goodput_per_s']:9.3f} {r['tpot_p50_s'] * 1e3:7.2f}ms "
                          f"{r['ttft_p99_s']:8.3g}s {r['energy_per_token_j']:8.3f} {r['fc_pim_iteration_share']:6.0%} "
                          + (f"{a:5g}" if name == "PAPI" else ""))
                p = rows["PAPI"][0]
                for name in ratios:
                    o = rows[name][0]
                    if o["goodput_per_s"] > 0 and p["goodput_per_s"] > 0:
                        ratios[name].append((p["goodput_per_s"] / o["goodput_per_s"], o["tpot_p50_s"] / p["tpot_p50_s"],
                                             o["energy_per_token_j"] / p["energy_per_token_j"]))

    def geo(xs):
        return math.exp(sum(math.log(x) for x in xs) / len(xs)) if xs else float("nan")

    paper = {"A100+AttAcc": "1.8x", "PIM-only": "11.1x (vs AttAcc-only, no GPU)", "A100": "-"}
    for name, rs in ratios.items():
        print(f"PAPI vs {name}: goodput x{geo([g for g, _, _ in rs]):.3f}, TPOT p50 speedup "
              f"x{geo([t for _, t, _ in rs]):.3f}, energy efficiency x{geo([e for _, _, e in rs]):.3f} over "
              f"{len(rs)} cells (paper, decode tokens/s: {paper[name]})")


if __name__ == "__main__":
    main()
