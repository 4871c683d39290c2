"""Loop blocking when an operand does not fit L2: the two cases of issue 11 on an edge-TPU-like
chiplet (a 32 x 32 array, 2.1 MB L2, 16 B of L1 per PE, 16 GB/s DRAM, 1 GHz, INT8) under three
unrollings, each with its hand derivation printed beside dse's figures. Before loop blocking, dse
charged every L2 access of an operand that did not fit to DRAM: the output-stationary K x Y array
read the conv's weights 4 times (10.3 MB of DRAM traffic) and the FFN's twice (8.7 MB).

    python tests/bench/case_blocking.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from dse.cost import dataflow as df  # noqa: E402
from dse.system.chiplet.ir import single_chiplet, single_op  # noqa: E402

L2 = 2.1e6
CASES = (
    # name, dims N K C Y X R S, stride, hand derivation of DRAM bytes (first and last op, static W)
    ("3x3 conv, K = C = 512, 28 x 28 out (2.36 MB weights)", (1, 512, 512, 28, 28, 3, 3), 1,
     "|I| 512 x 30 x 30 = 460,800 + |W| 512 x 512 x 9 = 2,359,296 + |O| 512 x 784 = 401,408 = 3,221,504: "
     "a K-slice of W fits beside I and the O slice, so each operand crosses DRAM once"),
    ("FFN 1024 -> 4096, 64 tokens (4.19 MB weights)", (1, 4096, 1024, 64, 1, 1, 1), 1,
     "|I| 64 x 1024 = 65,536 + |W| 4,194,304 + |O| 64 x 4096 = 262,144 = 4,521,984: once each"),
)
ARRAYS = (("weight-stationary K x C", (("K",), ("C",)), "weight"),
          ("output-stationary Y x X", (("Y",), ("X",)), "output"),
          ("output-stationary K x Y", (("K",), ("Y",)), "output"))


def chip(unroll, stationary):
    return single_chiplet(32, 32, unroll, stationary, 16.0, L2, clock_hz=1e9, onchip_bytes_per_cycle=64.0)


def main() -> None:
    for name, dims, stride, hand in CASES:
        ops = single_op(dims, stride)
        print(f"{name}\n  hand: {hand}")
        for label, unroll, stationary in ARRAYS:
            out = np.zeros(df.N_COLS)
            df.op_cost(df.op_row(ops, 0), df.chiplet_row(chip(unroll, stationary), 0), df.Dram(16e9, 14.8, 0.0),
                       out, df.scratch())
            c = {k: out[i] for k, i in df.COL.items()}
            print(f"  {label:24} DRAM {c['dram_bytes']:>12,.0f} B   cycles {c['compute_cycles']:>10,.0f}   "
                  f"latency {c['latency_s'] * 1e6:9.1f} us ({df.BOUNDS[int(c['bound'])]}-bound)   "
                  f"L2 blocks {c['l2_blocks']:.0f}")


if __name__ == "__main__":
    main()
