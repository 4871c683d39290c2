"""Training schedules against the two source papers (on demand; prints tables, asserts nothing).

1. Zero Bubble PP (arXiv 2401.10241), Table 5 setting: the 1.5B model's profiled pass times at p = 8,
   m = 24 (workloads/zb_table5_profiled.yaml): dse's bubble rates beside the paper's.
2. Controllable Memory PP (arXiv 2405.15362), Table 3 direction: the 98.5B model on 40 A100s at
   sequence 1024 (batch 160) and 3072 (batch 640), best MFU per schedule family over every
   tp x pp x dp split and microbatch size 1, 2, 4 (no recomputation: the paper's point is to avoid it),
   with FlashAttention and the embedding and loss counted as layers, as in the paper's Megatron runs.

    python tests/bench/case_training.py
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from dse.spec.common import resolve  # noqa: E402
from dse.spec.hardware import load_hardware  # noqa: E402
from dse.spec.workload import load_workload  # noqa: E402
from dse.system.base import kind_named  # noqa: E402

KIND = kind_named("training")
FAMILIES = ("1f1b", "interleaved", "zb-h1", "zb-h2", "zb-v", "v-half", "v-min")
# Zero Bubble paper, Table 5 (1.5B, p = 8, m = 24): the rows REFERENCES.md records.
PAPER_T5 = {"1f1b": 0.2431, "zb-1p": 0.1585}


def table5() -> None:
    wl = resolve(load_workload(str(ROOT / "workloads/zb_table5_profiled.yaml")), {})
    hw0 = load_hardware(str(ROOT / "hardware/pipeline_only.yaml"))
    print("Zero Bubble Table 5 setting (1.5B, p = 8, m = 24, T_F 18.522, T_B 18.086, T_W 9.337, T_comm 0.601 ms)")
    print("| schedule | dse bubble rate | paper | peak activations (units) |\n|---|---|---|---|")
    for family in ("1f1b", "zb-h1", "zb-h2", "zb-v", "v-half", "v-min", "interleaved"):
        row = KIND.design_rows(KIND.build(wl, resolve(hw0, {"system.schedule.family": family})))[0][0]
        paper = {"1f1b": "0.2431", "zb-h1": "0.1585 (ZB-1p; ZB-H1 has the same memory)"}.get(family, "")
        print(f"| {family} | {row['bubble_rate']:.4f} | {paper} | {row['peak_activation_units']:.3g} |")


def direction() -> None:
    hw0 = load_hardware(str(ROOT / "hardware/a100_cluster_40.yaml"))
    for name in ("cm_98.5b_seq1024", "cm_98.5b_seq3072"):
        wl0 = load_workload(str(ROOT / f"workloads/{name}.yaml"))
        print(f"\n{name} on 40 A100-80GB: best feasible MFU per family")
        print("| schedule | MFU | tokens/s | split | microbatch | peak memory GB | bubble |\n|---|---|---|---|---|---|---|")
        for family in FAMILIES:
            best = None
            for mb in (1, 2, 4):
                wl = resolve(wl0, {"models[0].transformer.training.microbatch_size": mb,
                                   "models[0].transformer.training.recompute": False})
                rows, _ = KIND.design_rows(KIND.build(wl, resolve(hw0, {"system.schedule.family": family})))
                for r in rows:
                    if r["feasible"] and (best is None or r["mfu"] > best["mfu"]):
                        best = r
            if best is None:
                print(f"| {family} | none feasible | | | | | |")
                continue
            print(f"| {family} | {best['mfu']:.3f} | {best['tokens_per_s']:,.0f} | {best['mapping']} | "
                  f"{best['microbatch_size']} | {best['peak_memory_bytes'] / 1e9:.1f} | {best['bubble_rate']:.3f} |")


if __name__ == "__main__":
    table5()
    direction()
