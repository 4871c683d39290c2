"""Shared test helpers: build IR-level inputs for one op / one chiplet without YAML."""

from __future__ import annotations

import numpy as np

from dse.cost.dataflow import COL, op_cost

DIMS = "NKCYXRS"


def axes(rows: str, cols: str) -> np.ndarray:
    out = np.full((2, 3), -1, dtype=np.int64)
    for a, dims in enumerate((rows, cols)):
        for k, d in enumerate(dims):
            out[a, k] = DIMS.index(d)
    return out


def run_op(dims, *, stride=1, elem_bytes=1.0, w_static=1, first=1, last=1, rows=4, cols=4,
           unroll=("K", "C"), stationary=0, l1_bytes=256.0, l2_bytes=1e9, clock_hz=1e9,
           onchip_bpc=64.0, mac_pj=1.0, l1_pj=2.0, l2_pj=10.0, dram_bw=1e9, dram_pj=5.0,
           dram_lat=0.0) -> dict:
    out = np.zeros(len(COL))
    op_cost(np.array(dims, dtype=np.int64), stride, elem_bytes, w_static, first, last, rows, cols,
            axes(*unroll), stationary, l1_bytes, l2_bytes, clock_hz, onchip_bpc, mac_pj, l1_pj, l2_pj,
            dram_bw, dram_pj, dram_lat, out, np.empty((3, 7), dtype=np.int64), np.empty(16))
    return {name: out[i] for name, i in COL.items()}
