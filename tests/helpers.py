"""Shared test helpers: build IR-level inputs for one op / one chiplet, or a chiplet frame, without YAML."""

from __future__ import annotations

import numpy as np

from dse.cost.dataflow import COL, N_COLS, ChipletArrays, Dram, OpArrays, chiplet_row, op_cost, op_row, scratch
from dse.system.chiplet.kernels import Frame

DIMS = "NKCYXRS"


def axes(rows: str, cols: str) -> np.ndarray:
    out = np.full((2, 3), -1, dtype=np.int64)
    for a, dims in enumerate((rows, cols)):
        for k, d in enumerate(dims):
            out[a, k] = DIMS.index(d)
    return out


def one_op(dims, *, stride=1, elem_bytes=1.0, w_static=1, first=1, last=1) -> OpArrays:
    i64 = lambda v: np.array([v], dtype=np.int64)  # noqa: E731
    return OpArrays(np.array([dims], dtype=np.int64), i64(stride), np.array([float(elem_bytes)]), i64(w_static),
                    i64(first), i64(last))


def one_chiplet(*, rows=4, cols=4, unroll=("K", "C"), stationary=0, l1_bytes=256.0, l2_bytes=1e9, clock_hz=1e9,
                onchip_bpc=64.0, mac_pj=1.0, l1_pj=2.0, l2_pj=10.0, acc_bytes=1.0, candidates=None) -> ChipletArrays:
    """One chiplet; ``candidates`` (a list of (rows, cols) unrollings) makes it flexible. The
    accumulator defaults to 1 byte, the element width of most hand cases, so partial sums cost
    what they did before accumulator width was modelled; cases about it set ``acc_bytes``."""
    f = lambda v: np.array([float(v)])  # noqa: E731
    units = candidates or [unroll]
    return ChipletArrays(np.array([rows], dtype=np.int64), np.array([cols], dtype=np.int64),
                         np.stack([axes(*u) for u in units])[None], np.array([len(units)], dtype=np.int64),
                         np.array([stationary], dtype=np.int64), f(l1_bytes), f(l2_bytes), f(acc_bytes), f(clock_hz),
                         f(onchip_bpc), f(mac_pj), f(l1_pj), f(l2_pj))


def run_op(dims, *, stride=1, elem_bytes=1.0, w_static=1, first=1, last=1, rows=4, cols=4,
           unroll=("K", "C"), stationary=0, l1_bytes=256.0, l2_bytes=1e9, clock_hz=1e9,
           onchip_bpc=64.0, mac_pj=1.0, l1_pj=2.0, l2_pj=10.0, dram_bw=1e9, dram_pj=5.0,
           dram_lat=0.0, acc_bytes=1.0, candidates=None) -> dict:
    out = np.zeros(N_COLS)
    ops = one_op(dims, stride=stride, elem_bytes=elem_bytes, w_static=w_static, first=first, last=last)
    chips = one_chiplet(rows=rows, cols=cols, unroll=unroll, stationary=stationary, l1_bytes=l1_bytes,
                        l2_bytes=l2_bytes, clock_hz=clock_hz, onchip_bpc=onchip_bpc, mac_pj=mac_pj, l1_pj=l1_pj,
                        l2_pj=l2_pj, acc_bytes=acc_bytes, candidates=candidates)
    op_cost(op_row(ops, 0), chiplet_row(chips, 0), Dram(float(dram_bw), float(dram_pj), float(dram_lat)), out, scratch())
    return {name: out[i] for name, i in COL.items()}


def mesh_frame(time, energy, out_bytes, *, dram=None, mult=None, model=None, first=None, mesh=None, positions=None,
               link_bw=1e9, link_pj=1.0, hop_lat=1e-9, dram_bw=1e9, pipelining=True, static_w=0.0) -> Frame:
    """A chiplet-kernel frame for hand and random cases. Chiplets sit at ``positions`` on ``mesh``
    (columns, rows); by default in a row (c x 1, so hops = |i - j|), or row-major on ``mesh``. One
    model unless ``model`` says otherwise; a model's first op is where ``model`` changes."""
    n, c = time.shape
    cols, rows = (c, 1) if mesh is None else mesh
    if positions is None:
        positions = [(i % cols, i // cols) for i in range(c)]
    model = np.zeros(n, dtype=np.int64) if model is None else model
    first = np.r_[1, (model[1:] != model[:-1]).astype(np.int64)] if first is None else first
    return Frame(time, energy, np.zeros((n, c)) if dram is None else dram, np.asarray(out_bytes, float),
                 np.ones(n) if mult is None else mult, model, first, int(model.max()) + 1,
                 np.array(positions, dtype=np.int64).reshape(c, 2), int(cols), int(rows), float(link_bw),
                 float(link_pj), float(hop_lat), float(dram_bw), pipelining, float(static_w))
