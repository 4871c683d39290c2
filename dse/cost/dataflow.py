"""MAESTRO-like dataflow cost model for one op on one chiplet, and the op x chiplet cost table.

The kernels take named bundles of numpy arrays and scalars (:class:`OpArrays`,
:class:`ChipletArrays`, :class:`Dram`), built by dse.system.chiplet.ir.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

# Columns of the cost table (last axis of the array returned by cost_table).
COLUMNS = ("compute_cycles", "utilization", "l2_accesses", "onchip_bytes", "dram_bytes", "latency_s",
           "energy_j", "bound", "l2_overflow_bytes", "macs", "mac_j", "l1_j", "l2_j", "dram_j",
           "compute_s", "onchip_s", "dram_s")
COL = {name: i for i, name in enumerate(COLUMNS)}
N_COLS = len(COLUMNS)
(C_CYCLES, C_UTIL, C_L2_ACCESSES, C_ONCHIP_BYTES, C_DRAM_BYTES, C_LATENCY, C_ENERGY, C_BOUND, C_L2_OVERFLOW,
 C_MACS, C_MAC_J, C_L1_J, C_L2_J, C_DRAM_J, C_COMPUTE_S, C_ONCHIP_S, C_DRAM_S) = range(N_COLS)
BOUNDS = ("compute", "onchip", "dram")

# Loop dims: 0 N, 1 K, 2 C, 3 Y, 4 X, 5 R, 6 S. Which dims index each operand:
#   I[n, c, y*stride + r, x*stride + s]   W[k, c, r, s]   O[n, k, y, x]
REL_I = np.array([1, 0, 1, 1, 1, 1, 1], dtype=np.int64)
REL_W = np.array([0, 1, 1, 0, 0, 1, 1], dtype=np.int64)
REL_O = np.array([1, 1, 0, 1, 1, 0, 0], dtype=np.int64)
# Order in which L1 capacity enlarges the stationary tile along temporal dims: R S C K X Y N.
L1_ORDER = np.array([5, 6, 2, 1, 4, 3, 0], dtype=np.int64)


class OpArrays(NamedTuple):
    """The ops table as the kernel reads it (one row per op; see dse.system.chiplet.ir)."""

    dims: np.ndarray         # [n, 7] N K C Y X R S (int64)
    stride: np.ndarray       # [n] int64
    elem_bytes: np.ndarray   # [n] bytes per element
    w_static: np.ndarray     # [n] 1 when W is a stored parameter (int64)
    first: np.ndarray        # [n] 1 for the first op of its model (input read from DRAM)
    last: np.ndarray         # [n] 1 for the last op of its model (output written to DRAM)


class ChipletArrays(NamedTuple):
    """The chiplets table as the kernel reads it (one row per chiplet)."""

    rows: np.ndarray                 # [c] PE array rows (int64)
    cols: np.ndarray                 # [c] PE array columns (int64)
    axis_dims: np.ndarray            # [c, 2, 3] loop-dim index per array axis, -1 unused
    stationary: np.ndarray           # [c] 0 weight, 1 output, 2 input
    l1_bytes: np.ndarray             # [c] per PE
    l2_bytes: np.ndarray             # [c]
    clock_hz: np.ndarray             # [c]
    onchip_bytes_per_cycle: np.ndarray   # [c] L2 <-> array
    mac_pj: np.ndarray               # [c]
    l1_pj: np.ndarray                # [c]
    l2_pj: np.ndarray                # [c]


class OpRow(NamedTuple):
    """One op of :class:`OpArrays` as scalars (what :func:`op_cost` reads)."""

    dims: np.ndarray         # [7] N K C Y X R S
    stride: int
    elem_bytes: float
    w_static: int
    first: int
    last: int


class ChipletRow(NamedTuple):
    """One chiplet of :class:`ChipletArrays` as scalars (what :func:`op_cost` reads)."""

    rows: int
    cols: int
    axis_dims: np.ndarray    # [2, 3]
    stationary: int
    l1_bytes: float
    l2_bytes: float
    clock_hz: float
    onchip_bytes_per_cycle: float
    mac_pj: float
    l1_pj: float
    l2_pj: float


@njit(cache=True)
def op_row(ops, i):
    return OpRow(ops.dims[i], ops.stride[i], ops.elem_bytes[i], ops.w_static[i], ops.first[i], ops.last[i])


@njit(cache=True)
def chiplet_row(chips, c):
    return ChipletRow(chips.rows[c], chips.cols[c], chips.axis_dims[c], chips.stationary[c], chips.l1_bytes[c],
                      chips.l2_bytes[c], chips.clock_hz[c], chips.onchip_bytes_per_cycle[c], chips.mac_pj[c],
                      chips.l1_pj[c], chips.l2_pj[c])


class Dram(NamedTuple):
    bytes_per_s: float
    pj_per_bit: float
    latency_s: float


class Scratch(NamedTuple):
    """Caller-owned work space, so the kernel allocates nothing."""

    ints: np.ndarray         # int64 [3, 7]: lanes, spatial flags, stationary tile per dim
    floats: np.ndarray       # float64 [16]: tile extents [0:7]; per operand I, W, O: sizes [7:10],
                             # L2 traffic [10:13], compulsory DRAM traffic [13:16]


@njit(cache=True)
def scratch():
    """A fresh :class:`Scratch` (callable from Python and from kernels)."""
    return Scratch(np.empty((3, 7), dtype=np.int64), np.empty(16))


@njit(cache=True)
def op_cost(op, chip, dram, out, work):
    """Cost of one op (loop dims ``dims`` = N K C Y X R S) on one chiplet; fills ``out`` (COLUMNS).

    Spatial unrolling. Each array axis (rows, then cols) takes its dims in order; dim d gets
    ``lanes_d = min(D_d, A_left)`` lanes and ``A_left //= lanes_d``. Folds ``f_d = ceil(D_d / lanes_d)``
    model edge effects (a partly filled last fold). Dims on no axis are temporal.
        compute_cycles = prod_spatial f_d * prod_temporal D_d
        utilization    = MACs / (compute_cycles * rows * cols)

    Reuse (one stationary operand S, held in the PEs while the others stream from L2). The
    stationary tile spans ``lanes_d`` along spatial dims of S, and along S's temporal dims as many
    elements as half of L1 holds (``floor(l1_bytes / 2 / elem_bytes)``, given to dims in the order
    R S C K X Y N). ``f_d = ceil(D_d / t_d)`` tiles along each dim of S; ``T_S = prod f_d``. Per tile
    the other loops run in full, so each dim has extent ``e_d = D_d / f_d`` if d indexes S, else D_d,
    and the L2 traffic (elements) of operand X is ``T_S * touched_X``:
        touched_W = e_K e_C e_R e_S;   touched_O = e_N e_K e_Y e_X
        touched_I = e_N e_C ((e_Y - 1) stride + e_R) ((e_X - 1) stride + e_S)   (sliding window)
    Output traffic counts writes ``T_S * touched_O`` and partial-sum reads ``writes - |O|``. This is
    SCALE-Sim's reuse algebra generalised to any unrolling: e.g. weight-stationary K x C gives
    I reads = |I| * f_K and psum writes = |O| * f_C; output-stationary Y x X gives
    W reads = |W| * N * f_Y * f_X and I reads ~ |I| * ceil(K / t_K).

    L2 capacity. Operands are kept whole in L2 in order of their reuse (traffic / size), while they
    fit. A kept operand costs its compulsory DRAM traffic: W once if it is a stored parameter, I only
    for a model's first op, O only for its last op (otherwise activations stay on chip or cross the
    package network, which the system evaluator charges). An operand that does not fit is fetched
    from DRAM on every L2 access (its full L2 traffic). ``l2_overflow = max(0, |I|+|W|+|O| - L2)``.

    Time (roofline over the three resources, plus fixed costs):
        compute_s = compute_cycles / clock;  onchip_s = onchip_bytes / (onchip_bpc * clock)
        dram_s    = dram_bytes / dram_bytes_per_s
        latency_s = max(compute_s, onchip_s, dram_s) + (rows + cols) / clock + dram_latency_s
    (array fill/drain once per op; tiles double-buffered.) ``bound`` is the argmax term.

    Energy (MAESTRO's per-access model plus DRAM):
        L1 accesses = 3 * MACs (two operand reads, one partial-sum update) + L2 accesses (fills)
        energy = MACs*mac_pj + L1*l1_pj + L2_accesses*l2_pj + dram_bytes*8*dram_pj_per_bit  [pJ]

    Arguments: the op (:class:`OpRow`), the chiplet (:class:`ChipletRow`), the shared ``dram``
    (:class:`Dram`), ``out`` (gets the COLUMNS) and ``work`` (:class:`Scratch`, owned by the caller
    so the kernel allocates nothing). One function on purpose: split into stage functions it measured
    2-3x slower (array views and calls per stage); the stages are the paragraphs above.
    """
    dims = op.dims
    stride = op.stride
    elem_bytes = op.elem_bytes
    w_static = op.w_static
    first = op.first
    last = op.last
    rows = chip.rows
    cols = chip.cols
    axis_dims = chip.axis_dims
    stationary = chip.stationary
    l1_bytes = chip.l1_bytes
    l2_bytes = chip.l2_bytes
    clock_hz = chip.clock_hz
    onchip_bpc = chip.onchip_bytes_per_cycle
    mac_pj = chip.mac_pj
    l1_pj = chip.l1_pj
    l2_pj = chip.l2_pj
    dram_bytes_per_s = dram.bytes_per_s
    dram_pj_per_bit = dram.pj_per_bit
    dram_latency_s = dram.latency_s
    iscr = work.ints
    fscr = work.floats
    lanes = iscr[0]
    spatial = iscr[1]
    tile = iscr[2]
    for d in range(7):
        lanes[d] = 1
        spatial[d] = 0
        tile[d] = 1
    for a in range(2):
        left = rows if a == 0 else cols
        for k in range(3):
            d = axis_dims[a, k]
            if d < 0:
                continue
            lanes[d] = min(dims[d], left)
            spatial[d] = 1
            left = left // lanes[d]
    cycles = 1.0
    macs = 1.0
    for d in range(7):
        macs *= dims[d]
        if spatial[d] == 1:
            cycles *= (dims[d] + lanes[d] - 1) // lanes[d]
        else:
            cycles *= dims[d]
    util = macs / (cycles * rows * cols)

    # Stationary tile and the number of tiles.
    if stationary == 0:
        rel_s = REL_W
    elif stationary == 1:
        rel_s = REL_O
    else:
        rel_s = REL_I
    for d in range(7):
        if rel_s[d] == 1 and spatial[d] == 1:
            tile[d] = lanes[d]
    cap = max(1, int(l1_bytes / 2.0 / elem_bytes))
    for j in range(7):
        d = L1_ORDER[j]
        if rel_s[d] == 1 and spatial[d] == 0:
            tile[d] = min(dims[d], cap)
            cap = max(1, cap // tile[d])
    n_tiles = 1.0
    ext = fscr[0:7]
    for d in range(7):
        if rel_s[d] == 1:
            f = (dims[d] + tile[d] - 1) // tile[d]
            n_tiles *= f
            ext[d] = dims[d] / f
        else:
            ext[d] = dims[d]

    size_i = dims[0] * dims[2] * ((dims[3] - 1) * stride + dims[5]) * ((dims[4] - 1) * stride + dims[6]) * 1.0
    size_w = dims[1] * dims[2] * dims[5] * dims[6] * 1.0
    size_o = dims[0] * dims[1] * dims[3] * dims[4] * 1.0
    t_w = n_tiles * ext[1] * ext[2] * ext[5] * ext[6]
    t_i = n_tiles * ext[0] * ext[2] * ((ext[3] - 1.0) * stride + ext[5]) * ((ext[4] - 1.0) * stride + ext[6])
    o_writes = n_tiles * ext[0] * ext[1] * ext[3] * ext[4]
    t_o = 2.0 * o_writes - size_o
    l2_acc = t_i + t_w + t_o
    onchip_bytes = l2_acc * elem_bytes

    # L2 residency in order of reuse; DRAM traffic (elements).
    sizes = fscr[7:10]
    traffic = fscr[10:13]
    compulsory = fscr[13:16]
    sizes[0], sizes[1], sizes[2] = size_i, size_w, size_o
    traffic[0], traffic[1], traffic[2] = t_i, t_w, t_o
    compulsory[0], compulsory[1], compulsory[2] = size_i * first, size_w * w_static, size_o * last
    # Operands by decreasing reuse (traffic / size); ties keep the order I, W, O.
    o1, o2, o3 = 0, 1, 2
    if traffic[o2] / sizes[o2] > traffic[o1] / sizes[o1]:
        o1, o2 = o2, o1
    if traffic[o3] / sizes[o3] > traffic[o2] / sizes[o2]:
        o2, o3 = o3, o2
        if traffic[o2] / sizes[o2] > traffic[o1] / sizes[o1]:
            o1, o2 = o2, o1
    room = l2_bytes
    dram_elems = 0.0
    for x in (o1, o2, o3):
        nbytes = sizes[x] * elem_bytes
        if nbytes <= room:
            room -= nbytes
            dram_elems += compulsory[x]
        else:
            dram_elems += traffic[x]
    dram_bytes = dram_elems * elem_bytes
    overflow = max(0.0, (size_i + size_w + size_o) * elem_bytes - l2_bytes)

    compute_s = cycles / clock_hz
    onchip_s = onchip_bytes / (onchip_bpc * clock_hz)
    dram_s = dram_bytes / dram_bytes_per_s
    bound = 0
    worst = compute_s
    if onchip_s > worst:
        bound = 1
        worst = onchip_s
    if dram_s > worst:
        bound = 2
        worst = dram_s
    latency = worst + (rows + cols) / clock_hz + dram_latency_s

    l1_acc = 3.0 * macs + l2_acc
    mac_j = macs * mac_pj * 1e-12
    l1_j = l1_acc * l1_pj * 1e-12
    l2_j = l2_acc * l2_pj * 1e-12
    dram_j = dram_bytes * 8.0 * dram_pj_per_bit * 1e-12

    out[C_CYCLES] = cycles
    out[C_UTIL] = util
    out[C_L2_ACCESSES] = l2_acc
    out[C_ONCHIP_BYTES] = onchip_bytes
    out[C_DRAM_BYTES] = dram_bytes
    out[C_LATENCY] = latency
    out[C_ENERGY] = mac_j + l1_j + l2_j + dram_j
    out[C_BOUND] = bound
    out[C_L2_OVERFLOW] = overflow
    out[C_MACS] = macs
    out[C_MAC_J] = mac_j
    out[C_L1_J] = l1_j
    out[C_L2_J] = l2_j
    out[C_DRAM_J] = dram_j
    out[C_COMPUTE_S] = compute_s
    out[C_ONCHIP_S] = onchip_s
    out[C_DRAM_S] = dram_s


@njit(cache=True)
def cost_table(ops, chips, dram):
    """op x chiplet cost table: ``table[i, c, :] = op_cost(op i, chiplet c)`` (columns COLUMNS),
    shape [n_ops, n_chiplets, N_COLS]."""
    n_ops = ops.dims.shape[0]
    n_dev = chips.rows.shape[0]
    table = np.empty((n_ops, n_dev, N_COLS))
    work = scratch()
    for i in range(n_ops):
        op = op_row(ops, i)
        for c in range(n_dev):
            op_cost(op, chiplet_row(chips, c), dram, table[i, c], work)
    return table
