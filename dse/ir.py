"""IR: resolved specs compiled to plain numpy arrays. Kernels see only these, never spec objects.

Ops table (one row per op of the frame, models in order, each model's ops as a chain):
    dims[n, 7]      N K C Y X R S (int64)
    stride[n]       int64
    elem_bytes[n]   bytes per element (precision_bits / 8)
    w_static[n]     1 when W is a stored parameter, 0 when it is an activation (attention)
    first[n]/last[n] 1 for the first / last op of its model (input read from / output written to DRAM)
    mult[n]         inferences of the op's model per frame (the mix count)
    model[n]        model index
Devices table (one row per chiplet): array shape, spatial unrolling, capacities, clock, energies.
Links: XY-routed hop counts and the directed mesh links each chiplet pair's route uses.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dse.spec.hardware import LOOP_DIMS, STATIONARY, HardwareSpec
from dse.spec.workload import Op, WorkloadSpec, model_ops

DIM = {d: i for i, d in enumerate(LOOP_DIMS)}


@dataclass(frozen=True)
class OpsTable:
    names: tuple[str, ...]
    model_names: tuple[str, ...]
    dims: np.ndarray
    stride: np.ndarray
    elem_bytes: np.ndarray
    w_static: np.ndarray
    first: np.ndarray
    last: np.ndarray
    mult: np.ndarray
    model: np.ndarray

    @property
    def n(self) -> int:
        return len(self.names)


@dataclass(frozen=True)
class DevicesTable:
    names: tuple[str, ...]
    dataflow_names: tuple[str, ...]
    rows: np.ndarray
    cols: np.ndarray
    axis_dims: np.ndarray        # [n, 2, 3] loop-dim index per array axis, -1 unused
    stationary: np.ndarray       # 0 weight, 1 output, 2 input
    l1_bytes: np.ndarray
    l2_bytes: np.ndarray
    clock_hz: np.ndarray
    onchip_bytes_per_cycle: np.ndarray
    mac_pj: np.ndarray
    l1_pj: np.ndarray
    l2_pj: np.ndarray
    pos: np.ndarray              # [n, 2]

    @property
    def n(self) -> int:
        return len(self.names)


@dataclass(frozen=True)
class NetworkTable:
    hops: np.ndarray             # [c, c] XY hop count
    route: np.ndarray            # [c, c, n_links] 1 where the XY route src->dst uses the link
    link_bytes_per_s: float
    link_pj_per_bit: float
    hop_latency_s: float
    dram_bytes_per_s: float
    dram_pj_per_bit: float
    dram_latency_s: float
    pipelining: bool


def compile_ops(workload: WorkloadSpec) -> OpsTable:
    """Ops table of a resolved workload (every knob already assigned)."""
    rows: list[tuple[Op, int, int, bool, bool]] = []
    for m, model in enumerate(workload.models):
        ops = model_ops(model)
        for j, op in enumerate(ops):
            rows.append((op, m, model.count, j == 0, j == len(ops) - 1))
    dims = np.array([[op.N, op.K, op.C, op.Y, op.X, op.R, op.S] for op, *_ in rows], dtype=np.int64)
    return OpsTable(
        names=tuple(op.name for op, *_ in rows),
        model_names=tuple(m.name for m in workload.models),
        dims=dims.reshape(len(rows), 7),
        stride=np.array([op.stride for op, *_ in rows], dtype=np.int64),
        elem_bytes=np.array([op.precision_bits / 8.0 for op, *_ in rows]),
        w_static=np.array([int(op.weights_static) for op, *_ in rows], dtype=np.int64),
        first=np.array([int(r[3]) for r in rows], dtype=np.int64),
        last=np.array([int(r[4]) for r in rows], dtype=np.int64),
        mult=np.array([float(r[2]) for r in rows]),
        model=np.array([r[1] for r in rows], dtype=np.int64),
    )


def compile_devices(hw: HardwareSpec) -> DevicesTable:
    chips = hw.chiplets
    axis = np.full((len(chips), 2, 3), -1, dtype=np.int64)
    for i, c in enumerate(chips):
        for a, dims in enumerate((c.dataflow.rows, c.dataflow.cols)):
            for k, d in enumerate(dims):
                axis[i, a, k] = DIM[d]
    f = lambda attr: np.array([float(getattr(c, attr)) for c in chips])  # noqa: E731
    return DevicesTable(
        names=tuple(c.name for c in chips),
        dataflow_names=tuple(c.dataflow.name for c in chips),
        rows=np.array([c.pe_array[0] for c in chips], dtype=np.int64),
        cols=np.array([c.pe_array[1] for c in chips], dtype=np.int64),
        axis_dims=axis,
        stationary=np.array([STATIONARY.index(c.dataflow.stationary) for c in chips], dtype=np.int64),
        l1_bytes=f("l1_bytes"), l2_bytes=f("l2_bytes"), clock_hz=f("clock_hz"),
        onchip_bytes_per_cycle=f("onchip_bytes_per_cycle"),
        mac_pj=f("mac_pj"), l1_pj=f("l1_pj"), l2_pj=f("l2_pj"),
        pos=np.array([c.position for c in chips], dtype=np.int64).reshape(len(chips), 2),
    )


def compile_network(hw: HardwareSpec) -> NetworkTable:
    """XY routing on the mesh: move along x first, then y. Links are directed, indexed
    ((x, y), direction) with direction 0 +x, 1 -x, 2 +y, 3 -y."""
    cols, rows = hw.network.mesh
    n = len(hw.chiplets)
    n_links = cols * rows * 4
    hops = np.zeros((n, n), dtype=np.int64)
    route = np.zeros((n, n, n_links), dtype=np.int64)
    for s, src in enumerate(hw.chiplets):
        for d, dst in enumerate(hw.chiplets):
            x, y = src.position
            while x != dst.position[0]:
                step = 1 if dst.position[0] > x else -1
                route[s, d, (y * cols + x) * 4 + (0 if step > 0 else 1)] = 1
                x += step
                hops[s, d] += 1
            while y != dst.position[1]:
                step = 1 if dst.position[1] > y else -1
                route[s, d, (y * cols + x) * 4 + (2 if step > 0 else 3)] = 1
                y += step
                hops[s, d] += 1
    net, dram = hw.network, hw.dram
    return NetworkTable(
        hops=hops, route=route,
        link_bytes_per_s=float(net.link_bytes_per_s), link_pj_per_bit=float(net.link_pj_per_bit),
        hop_latency_s=float(net.hop_latency_s),
        dram_bytes_per_s=float(dram.bytes_per_s), dram_pj_per_bit=float(dram.pj_per_bit),
        dram_latency_s=float(dram.latency_s), pipelining=bool(hw.system.pipelining),
    )


def output_bytes(ops: OpsTable) -> np.ndarray:
    """Bytes of each op's output tensor (what a consumer on another chiplet receives)."""
    d = ops.dims
    return (d[:, 0] * d[:, 1] * d[:, 3] * d[:, 4]).astype(np.float64) * ops.elem_bytes
