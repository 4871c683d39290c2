"""Chiplet IR: resolved specs compiled to named bundles of numpy arrays. Kernels see only these.

Ops table (one row per op of the frame, models in order, each model's ops as a chain), from the
einsum view of the model decomposition (dse.models.views.einsum_ops):
    dims[n, 7]      N K C Y X R S (int64)
    stride[n]       int64
    elem_bytes[n]   bytes per element (precision_bits / 8)
    w_static[n]     1 when W is a stored parameter, 0 when it is an activation (attention)
    first[n]/last[n] 1 for the first / last op of its model (input read from / output written to DRAM)
    mult[n]         inferences of the op's model per frame (the mix count)
    model[n]        model index
Chiplets table (one row per chiplet): array shape, candidate spatial unrollings (one for a fixed
array, the family's for a flexible one), capacities, accumulator width, clock, energies.
Network: chiplet positions on the mesh; XY routes are walked on the fly (memory O(c), not c x c x links).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dse.cost.dataflow import ChipletArrays, Dram, OpArrays
from dse.errors import DseError
from dse.models.views import einsum_ops
from dse.system.chiplet.spec import LOOP_DIMS, STATIONARY, ChipletHardware
from dse.spec.workload import Op, WorkloadSpec

DIM = {d: i for i, d in enumerate(LOOP_DIMS)}
# Directions of a mesh link, in the link index ((y * columns + x) * 4 + direction).
EAST, WEST, NORTH, SOUTH = range(4)


@dataclass(frozen=True)
class OpsTable:
    names: tuple[str, ...]
    model_names: tuple[str, ...]
    arrays: OpArrays
    mult: np.ndarray
    model: np.ndarray

    @property
    def n(self) -> int:
        return len(self.names)


@dataclass(frozen=True)
class ChipletsTable:
    names: tuple[str, ...]
    dataflow_names: tuple[str, ...]
    unrolling_labels: tuple[tuple[str, ...], ...]    # per chiplet, its candidate unrollings ("K×C")
    arrays: ChipletArrays

    @property
    def n(self) -> int:
        return len(self.names)

    @property
    def peak_macs_per_s(self) -> np.ndarray:
        a = self.arrays
        return (a.rows * a.cols).astype(np.float64) * a.clock_hz


@dataclass(frozen=True)
class NetworkTable:
    pos: np.ndarray              # [c, 2] (x, y) of each chiplet on the mesh
    mesh: tuple[int, int]        # (columns, rows); routes are XY, walked on the fly (xy_links)
    link_bytes_per_s: float
    link_pj_per_bit: float
    hop_latency_s: float
    dram: Dram
    pipelining: bool


MAX_OP = 10**18      # MACs or tensor elements of one operator: beyond it int64 products overflow


def check_magnitude(op: Op, source: str, model: int) -> None:
    """An operator whose MACs or tensors exceed ``MAX_OP`` is an input error (exact integers here;
    the kernels' int64 products would wrap around to negative byte counts)."""
    # MACs bound the output and weight sizes (every dim >= 1); the input can exceed them with stride.
    sizes = {"MACs": op.N * op.K * op.C * op.Y * op.X * op.R * op.S,
             "input elements": op.N * op.C * (op.Y * op.stride + op.R) * (op.X * op.stride + op.S)}
    for what, size in sizes.items():
        if size > MAX_OP:
            raise DseError(source, f"models[{model}]", f"operators of at most {MAX_OP:.0e} {what} "
                           f"(operator {op.name} has {size:.3g}: smaller dims, seq_len or batch)")


def compile_ops(workload: WorkloadSpec) -> OpsTable:
    """Ops table of a resolved workload (every knob already assigned)."""
    rows: list[tuple[Op, int, int, bool, bool]] = []
    for m, model in enumerate(workload.models):
        ops = einsum_ops(model)
        for j, op in enumerate(ops):
            rows.append((op, m, model.count, j == 0, j == len(ops) - 1))
    for op, m, *_ in rows:
        check_magnitude(op, workload.source, m)
    dims = np.array([[op.N, op.K, op.C, op.Y, op.X, op.R, op.S] for op, *_ in rows], dtype=np.int64)
    return OpsTable(
        names=tuple(op.name for op, *_ in rows),
        model_names=tuple(m.name for m in workload.models),
        arrays=OpArrays(
            dims=dims.reshape(len(rows), 7),
            stride=np.array([op.stride for op, *_ in rows], dtype=np.int64),
            elem_bytes=np.array([op.precision_bits / 8.0 for op, *_ in rows]),
            w_static=np.array([int(op.weights_static) for op, *_ in rows], dtype=np.int64),
            first=np.array([int(r[3]) for r in rows], dtype=np.int64),
            last=np.array([int(r[4]) for r in rows], dtype=np.int64)),
        mult=np.array([float(r[2]) for r in rows]),
        model=np.array([r[1] for r in rows], dtype=np.int64),
    )


def unrolling_label(rows: tuple[str, ...], cols: tuple[str, ...]) -> str:
    """``YXN×K``: the rows axis's loop dims, then the columns axis's."""
    return f"{''.join(rows)}×{''.join(cols)}"


def axis_array(candidates: list[tuple[tuple[str, ...], tuple[str, ...]]], n_max: int) -> np.ndarray:
    """[n_max, 2, 3] loop-dim indices of each candidate unrolling's rows and cols axes (-1 unused)."""
    axis = np.full((n_max, 2, 3), -1, dtype=np.int64)
    for u, unroll in enumerate(candidates):
        for a, dims in enumerate(unroll):
            for k, d in enumerate(dims):
                axis[u, a, k] = DIM[d]
    return axis


def compile_chiplets(hw: ChipletHardware) -> ChipletsTable:
    chips = hw.chiplets
    cands = [c.dataflow.candidates(c.unrolling) for c in chips]
    n_max = max(len(u) for u in cands)
    f = lambda attr: np.array([float(getattr(c, attr)) for c in chips])  # noqa: E731
    return ChipletsTable(
        names=tuple(c.name for c in chips),
        dataflow_names=tuple(c.dataflow.name for c in chips),
        unrolling_labels=tuple(tuple(unrolling_label(*u) for u in units) for units in cands),
        arrays=ChipletArrays(
            rows=np.array([c.pe_array[0] for c in chips], dtype=np.int64),
            cols=np.array([c.pe_array[1] for c in chips], dtype=np.int64),
            axis_dims=np.stack([axis_array(units, n_max) for units in cands]),
            n_unroll=np.array([len(u) for u in cands], dtype=np.int64),
            stationary=np.array([STATIONARY.index(c.dataflow.stationary) for c in chips], dtype=np.int64),
            l1_bytes=f("l1_bytes"), l2_bytes=f("l2_bytes"),
            acc_bytes=np.array([0.0 if c.accumulator_bits is None else c.accumulator_bits / 8.0 for c in chips]),
            clock_hz=f("clock_hz"), onchip_bytes_per_cycle=f("onchip_bytes_per_cycle"),
            mac_pj=f("mac_pj"), l1_pj=f("l1_pj"), l2_pj=f("l2_pj")),
    )


def single_chiplet(rows: int, cols: int, unroll: tuple[tuple[str, ...], tuple[str, ...]], stationary: str,
                   l1_bytes: float, l2_bytes: float, clock_hz: float = 1e9,
                   onchip_bytes_per_cycle: float = 1e9) -> ChipletArrays:
    """A one-chiplet table with a fixed unrolling (dims by name) and unit energies: for reference
    cases and case scripts that cost one op without a hardware file."""
    one = lambda v: np.array([float(v)])  # noqa: E731
    i64 = lambda v: np.array([v], dtype=np.int64)  # noqa: E731
    return ChipletArrays(i64(rows), i64(cols), axis_array([unroll], 1)[None], i64(1),
                         i64(STATIONARY.index(stationary)), one(l1_bytes), one(l2_bytes), one(0), one(clock_hz),
                         one(onchip_bytes_per_cycle), one(1), one(1), one(1))


def single_op(dims: tuple[int, ...], stride: int = 1, elem_bytes: float = 1.0) -> OpArrays:
    """A one-op table (N K C Y X R S): a model's only op (input from and output to DRAM), static W."""
    i64 = lambda v: np.array([v], dtype=np.int64)  # noqa: E731
    return OpArrays(np.array([dims], dtype=np.int64), i64(stride), np.array([float(elem_bytes)]), i64(1), i64(1),
                    i64(1))


def xy_links(src: tuple[int, int], dst: tuple[int, int], columns: int) -> list[int]:
    """Directed links of the XY route src -> dst on a mesh with ``columns`` columns: along x first,
    then y. Links are indexed ``(y * columns + x) * 4 + direction`` at the link's source node,
    direction EAST (+x), WEST (-x), NORTH (+y), SOUTH (-y). The plain-Python reference of the
    kernels' route walk (kernels.route_links); nothing stores a c x c x links table."""
    (x, y), links = src, []
    while x != dst[0]:
        step = 1 if dst[0] > x else -1
        links.append((y * columns + x) * 4 + (EAST if step > 0 else WEST))
        x += step
    while y != dst[1]:
        step = 1 if dst[1] > y else -1
        links.append((y * columns + x) * 4 + (NORTH if step > 0 else SOUTH))
        y += step
    return links


def compile_network(hw: ChipletHardware) -> NetworkTable:
    net, dram = hw.network, hw.dram
    return NetworkTable(
        pos=np.array([c.position for c in hw.chiplets], dtype=np.int64).reshape(len(hw.chiplets), 2),
        mesh=(int(net.mesh[0]), int(net.mesh[1])),
        link_bytes_per_s=float(net.link_bytes_per_s), link_pj_per_bit=float(net.link_pj_per_bit),
        hop_latency_s=float(net.hop_latency_s),
        dram=Dram(float(dram.bytes_per_s), float(dram.pj_per_bit), float(dram.latency_s)),
        pipelining=bool(hw.system.pipelining),
    )


def output_bytes(ops: OpsTable) -> np.ndarray:
    """Bytes of each op's output tensor (what a consumer on another chiplet receives)."""
    d = ops.arrays.dims
    return (d[:, 0] * d[:, 1] * d[:, 3] * d[:, 4]).astype(np.float64) * ops.arrays.elem_bytes
