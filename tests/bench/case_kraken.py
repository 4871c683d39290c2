"""Kraken case study (NeurIPS'24): time to first token, standard tensor-parallel layers (two
all-reduces) vs Kraken layers (one, overlapped with the next layer's attention), GPT-3 6.7B-175B,
TP 4 and 8 on a100x8.yaml, prompts of 128 and 2048 tokens, batch 1. Geomean over feasible cells
beside the paper's -35.6 %.

    python tests/bench/case_kraken.py
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from dse.system.llm.cases import kraken_cells  # noqa: E402


def main() -> None:
    ratios = []
    print(f"{'model':10} {'TP':>3} {'ctx':>5} {'standard ms':>12} {'kraken ms':>10} {'change':>8} "
          f"{'AR exposed std/kraken ms':>25}  feasible")
    for size, tp, ctx, s, k in kraken_cells():
        r = k["ttft_s"] / s["ttft_s"]
        if s["feasible"]:
            ratios.append(r)
        print(f"gpt3-{size:5} {tp:3d} {ctx:5d} {s['ttft_s'] * 1e3:12.2f} {k['ttft_s'] * 1e3:10.2f} "
              f"{(r - 1) * 100:+7.1f}% {s['comm_s'] * 1e3:12.2f} / {k['comm_s'] * 1e3:8.2f}  "
              f"{s['feasible']}{'' if s['feasible'] else ' (' + s['violations'] + ')'}")
    gm = math.exp(sum(map(math.log, ratios)) / len(ratios))
    print(f"geomean TTFT change over {len(ratios)} feasible cells: {(gm - 1) * 100:+.1f}% (paper: -35.6%)")


if __name__ == "__main__":
    main()
