"""MAESTRO-like dataflow cost model for one op on one chiplet, and the op x chiplet cost table.

The kernels take named bundles of numpy arrays and scalars (:class:`OpArrays`,
:class:`ChipletArrays`, :class:`Dram`), built by dse.system.chiplet.ir.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from dse.jit import njit

# Columns of the cost table (last axis of the array returned by cost_table).
COLUMNS = ("compute_cycles", "utilization", "l2_accesses", "onchip_bytes", "dram_bytes", "latency_s",
           "energy_j", "bound", "l2_overflow_bytes", "macs", "mac_j", "l1_j", "l2_j", "dram_j",
           "compute_s", "onchip_s", "dram_s", "unrolling", "tiles", "l2_blocks", "exposed_s")
COL = {name: i for i, name in enumerate(COLUMNS)}
N_COLS = len(COLUMNS)
(C_CYCLES, C_UTIL, C_L2_ACCESSES, C_ONCHIP_BYTES, C_DRAM_BYTES, C_LATENCY, C_ENERGY, C_BOUND, C_L2_OVERFLOW,
 C_MACS, C_MAC_J, C_L1_J, C_L2_J, C_DRAM_J, C_COMPUTE_S, C_ONCHIP_S, C_DRAM_S, C_UNROLLING, C_TILES,
 C_L2_BLOCKS, C_EXPOSED_S) = range(N_COLS)
BOUNDS = ("compute", "onchip", "dram")

# Loop dims: 0 N, 1 K, 2 C, 3 Y, 4 X, 5 R, 6 S. Which dims index each operand:
#   I[n, c, y*stride + r, x*stride + s]   W[k, c, r, s]   O[n, k, y, x]
REL_I = np.array([1, 0, 1, 1, 1, 1, 1], dtype=np.int64)
REL_W = np.array([0, 1, 1, 0, 0, 1, 1], dtype=np.int64)
REL_O = np.array([1, 1, 0, 1, 1, 0, 0], dtype=np.int64)
# Order in which L1 capacity enlarges the stationary tile along temporal dims: R S C K X Y N.
L1_ORDER = np.array([5, 6, 2, 1, 4, 3, 0], dtype=np.int64)
# L2 blocking works on three macro dims: 0 P (output pixels N*Y*X), 1 K, 2 C (R and S stay whole).
# Each operand is indexed by two of them: I is not indexed by K, W not by P, O not by C.
BLOCK_P, BLOCK_K, BLOCK_C = 0, 1, 2
# How an op's operands sit in L2 (cost column "l2_blocks" > 1 means blocked; see l2_blocking).
FITS, BLOCKED, STREAMED = 0, 1, 2


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
    axis_dims: np.ndarray            # [c, u, 2, 3] per candidate unrolling: loop-dim index per array axis, -1 unused
    n_unroll: np.ndarray             # [c] candidate unrollings (1: the array is fixed to candidate 0)
    stationary: np.ndarray           # [c] 0 weight, 1 output, 2 input
    l1_bytes: np.ndarray             # [c] per PE
    l2_bytes: np.ndarray             # [c]
    acc_bytes: np.ndarray            # [c] partial-sum width; 0: max(4, element bytes) per op
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
    axis_dims: np.ndarray    # [u, 2, 3]
    n_unroll: int
    stationary: int
    l1_bytes: float
    l2_bytes: float
    acc_bytes: float
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
    return ChipletRow(chips.rows[c], chips.cols[c], chips.axis_dims[c], chips.n_unroll[c], chips.stationary[c],
                      chips.l1_bytes[c], chips.l2_bytes[c], chips.acc_bytes[c], chips.clock_hz[c],
                      chips.onchip_bytes_per_cycle[c], chips.mac_pj[c], chips.l1_pj[c], chips.l2_pj[c])


class Dram(NamedTuple):
    bytes_per_s: float
    pj_per_bit: float
    latency_s: float


class Scratch(NamedTuple):
    """Caller-owned work space, so the kernel allocates nothing."""

    floats: np.ndarray       # float64 [4, 8]: rows EXT, LANES, FOLDS, DIM, one column per loop dim


# Rows of Scratch.floats: a dim's extent inside one stationary tile, its lanes, its spatial folds
# (ceil(D / lanes)), and the dim itself as a float.
EXT, LANES, FOLDS, DIM = 0, 1, 2, 3


@njit(cache=True)
def scratch():
    """A fresh :class:`Scratch` (callable from Python and from kernels)."""
    return Scratch(np.empty((4, 8)))


@njit(cache=True)
def read_extent(out_len, window, stride):
    """Input pixels one spatial dim actually reads: the union of ``out_len`` windows of ``window``
    pixels placed every ``stride`` pixels, ``min((out_len - 1) * stride + window, out_len * window)``
    (contiguous when window >= stride; a strided 1x1 conv reads out_len pixels, not its bounding box)."""
    return min((out_len - 1.0) * stride + window, out_len * window)


@njit(cache=True)
def _slice(extent, f):
    """Fraction of a dim of ``extent`` one of ``f`` blocks holds: ceil(extent / f) / extent (in
    floats: exact for integers below 2^53, and faster than an integer division)."""
    return np.ceil(extent / f) / extent


@njit(cache=True)
def l2_footprint(sizes, acc_o, extent, fp, fk, fc):
    """Bytes in L2 of one block ``(fp, fk, fc)``: each operand scaled by the block's share of the
    two macro dims indexing it; the output block is held at accumulator width (``acc_o``) when the
    reduction C is split (fc > 1), at output width otherwise."""
    sp = _slice(extent[BLOCK_P], fp)
    sk = _slice(extent[BLOCK_K], fk)
    sc = _slice(extent[BLOCK_C], fc)
    o = acc_o if fc > 1 else sizes[2]
    return sizes[0] * sp * sc + sizes[1] * sk * sc + o * sp * sk


@njit(cache=True)
def _with(var, f, f0, f1, f2):
    """(fp, fk, fc) with the factor of dim ``var`` replaced by ``f``."""
    return (f if var == 0 else f0), (f if var == 1 else f1), (f if var == 2 else f2)


@njit(cache=True)
def _least(sizes, acc_o, extent, capacity, var, f0, f1, f2):
    """Smallest split ``f`` of dim ``var`` (the other dims split f0, f1, f2) whose block fits
    ``capacity``; 0 when even the finest split does not fit. The footprint is linear in the slice
    ``s = ceil(D / f) / D`` (``alpha s + beta``, the output's width fixed by whether C is split), so
    ``ceil(D / f) <= m = floor(D (capacity - beta) / alpha)`` and ``f = ceil(D / m)``, then
    corrected by single steps against rounding."""
    g0, g1, g2 = _with(var, 1, f0, f1, f2)
    if l2_footprint(sizes, acc_o, extent, g0, g1, g2) <= capacity:
        return 1
    d = extent[var]
    if d == 1:
        return 0
    # The footprint at slice 1 and slice 0 of dim var (C split from here on when var is C).
    sp = _slice(extent[0], f0)
    sk = _slice(extent[1], f1)
    sc = _slice(extent[2], f2)
    o = acc_o if (var == 2 or f2 > 1) else sizes[2]
    if var == 0:
        alpha = sizes[0] * sc + o * sk
        beta = sizes[1] * sk * sc
    elif var == 1:
        alpha = sizes[1] * sc + o * sp
        beta = sizes[0] * sp * sc
    else:
        alpha = sizes[0] * sp + sizes[1] * sk
        beta = o * sp * sk
    room = capacity - beta
    if room <= 0.0:
        return 0
    m = int(d * room / alpha)
    f = d if m < 1 else max(2, (d + m - 1) // m)
    f = min(f, d)
    g0, g1, g2 = _with(var, f, f0, f1, f2)
    while l2_footprint(sizes, acc_o, extent, g0, g1, g2) > capacity:
        if f >= d:
            return 0
        f += 1
        g0, g1, g2 = _with(var, f, f0, f1, f2)
    while f > 2:
        g0, g1, g2 = _with(var, f - 1, f0, f1, f2)
        if l2_footprint(sizes, acc_o, extent, g0, g1, g2) > capacity:
            break
        f -= 1
    return f


@njit(cache=True)
def l2_blocking(sizes, acc_o, extent, capacity):
    """Loop blocking at L2 for one op: ``(state, passes_i, passes_w, passes_o, blocks)``.

    ``sizes`` are the bytes of I, W, O (O at output width), ``acc_o`` the output at accumulator
    width, ``extent`` the macro dims P (= N*Y*X), K, C; ``capacity`` the L2 bytes.

    FITS: I + W + O fit L2 whole; one pass over each operand (passes 1, 1, 1, one block).
    BLOCKED: an outer loop over dim A split ``f_A`` ways around an inner loop over dim B split
    ``f_B`` ways, everything else whole inside a block. The operand that A does not index
    (I for K, W for P, O for C) is re-fetched once per outer iteration (``f_A``
    passes); the other two pass once (each block's slice of them is loaded once). For A = C the
    output is re-visited: its partial sums are written and read back ``f_C - 1`` times at
    accumulator width. Of the six orders (A, B) in the order (P,K) (P,C) (K,P) (K,C) (C,P) (C,K),
    the one with the least re-fetched bytes ``(f_A - 1) * |X|`` (``2 (f_C - 1) |O|_acc`` for the
    output) wins, ties to the first; ``f_A`` is the smallest split for which some ``f_B`` fits,
    ``f_B`` the smallest that then fits (``f_A = 1`` is blocking along B alone, which re-fetches
    nothing). A block's L2 footprint is :func:`l2_footprint` (halo rows of neighbouring pixel
    blocks are not re-read).
    STREAMED: no block of two split dims fits (a tiny L2): every L2 access of every operand
    goes to DRAM (the caller charges the L2 traffic; ``passes`` are 0)."""
    if sizes[0] + sizes[1] + sizes[2] <= capacity:
        return FITS, 1.0, 1.0, 1.0, 1.0
    best = -1.0
    best_a, best_b, best_fa = -1, -1, 0
    for a in range(3):
        for b in range(3):
            if b == a or best == 0.0:      # nothing re-fetched: no later order can be strictly better
                continue
            # dim b at its finest split; the third dim whole
            f0, f1, f2 = _with(b, extent[b], 1, 1, 1)
            fa = _least(sizes, acc_o, extent, capacity, a, f0, f1, f2)
            if fa == 0:
                continue
            irr = 0 if a == BLOCK_K else (1 if a == BLOCK_P else 2)
            extra = (fa - 1.0) * (2.0 * acc_o if irr == 2 else sizes[irr])
            if best < 0.0 or extra < best:
                best, best_a, best_b, best_fa = extra, a, b, fa
    if best_a < 0:
        return STREAMED, 0.0, 0.0, 0.0, 1.0
    f0, f1, f2 = _with(best_a, best_fa, 1, 1, 1)
    fb = _least(sizes, acc_o, extent, capacity, best_b, f0, f1, f2)
    p_i = best_fa * 1.0 if best_a == BLOCK_K else 1.0
    p_w = best_fa * 1.0 if best_a == BLOCK_P else 1.0
    p_o = best_fa * 1.0 if best_a == BLOCK_C else 1.0
    return BLOCKED, p_i, p_w, p_o, best_fa * fb * 1.0


@njit(cache=True)
def operand_sizes(op):
    """Elements of I (the pixels actually read, :func:`read_extent`), W and O, and the MACs."""
    dims = op.dims
    size_i = dims[0] * dims[2] * read_extent(dims[3], dims[5], op.stride) * read_extent(dims[4], dims[6], op.stride)
    size_w = dims[1] * dims[2] * dims[5] * dims[6] * 1.0
    size_o = dims[0] * dims[1] * dims[3] * dims[4] * 1.0
    return size_i, size_w, size_o


@njit(cache=True)
def acc_bytes_of(op, chip):
    """Partial-sum width: the chiplet's ``accumulator_bits`` / 8, else max(4, element bytes)."""
    return chip.acc_bytes if chip.acc_bytes > 0.0 else max(4.0, op.elem_bytes)


@njit(cache=True)
def op_blocking(op, chip):
    """:func:`l2_blocking` of one op on one chiplet (it depends on the chiplet only through
    ``l2_bytes`` and the accumulator width, so :func:`cost_table` shares it between chiplets)."""
    size_i, size_w, size_o = operand_sizes(op)
    e = op.elem_bytes
    dims = op.dims
    return l2_blocking((size_i * e, size_w * e, size_o * e), size_o * acc_bytes_of(op, chip),
                       (dims[0] * dims[3] * dims[4], dims[1], dims[2]), chip.l2_bytes)


@njit(cache=True)
def op_cost(op, chip, dram, out, work):
    """:func:`op_cost_blocked` with the op's :func:`op_blocking` on this chiplet."""
    op_cost_blocked(op, chip, dram, op_blocking(op, chip), out, work)


@njit(cache=True)
def op_cost_blocked(op, chip, dram, blocking, out, work):
    """Cost of one op (loop dims ``dims`` = N K C Y X R S) on one chiplet; fills ``out`` (COLUMNS).

    Candidate unrollings. A fixed array has one spatial unrolling (candidate 0); a flexible one
    has its dataflow family's candidates (dse.system.chiplet.spec.FAMILY_UNROLLINGS) and the op takes the
    one with the lowest latency (ties: lowest energy, then the first). ``unrolling`` is its index.

    Spatial unrolling. Each array axis (rows, then cols) takes its dims in order; dim d gets
    ``lanes_d = min(D_d, A_left)`` lanes and ``A_left //= lanes_d``. Folds ``f_d = ceil(D_d / lanes_d)``
    model edge effects (a partly filled last fold). Dims on no axis are temporal.
        compute_cycles = prod_spatial f_d * prod_temporal D_d
        utilization    = MACs / (compute_cycles * rows * cols)

    L1 blocking (one stationary operand S held in the PEs while the others stream from L2). Half of
    L1 holds ``cap = floor(l1_bytes / 2 / elem_bytes)`` elements of S per PE, given to S's dims in
    the order R S C K X Y N: a temporal dim takes ``t_d = min(D_d, cap)`` elements, a spatial dim
    ``h_d = min(f_d, cap)`` of its folds (``t_d = lanes_d * h_d``), and ``cap`` is divided by what
    was taken (so a weight-stationary PE holding several C folds accumulates across them in place). ``f_d = ceil(D_d / t_d)`` tiles along each dim of S; ``tiles = prod f_d``. Per tile
    the other loops run in full, so each dim has extent ``e_d = D_d / f_d`` if d indexes S, else D_d,
    and the L2 traffic (elements) of operand X is ``tiles * touched_X``:
        touched_W = e_K e_C e_R e_S;   touched_O = e_N e_K e_Y e_X
        touched_I = e_N e_C rd(e_Y, e_R) rd(e_X, e_S),   rd(o, w) = min((o - 1) stride + w, o w)
    (``rd`` = :func:`read_extent`, the pixels a sliding window actually reads; ``|I|`` likewise.)
    Output writes are ``tiles * touched_O``: ``|O|`` final writes at element width and
    ``writes - |O|`` partial-sum writes, each read back, at accumulator width ``acc``:
        onchip_bytes = (I + W traffic) * elem_bytes + |O| * elem_bytes + 2 (writes - |O|) * acc
        l2_accesses  = I + W traffic + 2 writes - |O|                        (elements)
    This is SCALE-Sim's reuse algebra generalised to any unrolling: e.g. weight-stationary K x C
    gives I reads = |I| * f_K and psum writes = |O| * f_C.

    L2 blocking (:func:`l2_blocking`) gives passes over I, W, O from DRAM. DRAM bytes:
        I: passes_I |I| if first op, re-fetched (passes > 1) or |I| > L2, else 0 (stays on chip)
        W: passes_W |W| if a stored parameter, re-fetched or |W| > L2, else 0
        O: |O| if last op or |O| > L2 (spilled for its consumer), else 0;  + 2 (passes_O - 1) |O|_acc
    (activations that fit stay on chip or cross the package network, which the system evaluator
    charges.) STREAMED ops send all their L2 traffic to DRAM. ``l2_overflow = max(0, |I|+|W|+|O| - L2)``.

    Time (roofline over the three resources, the first tile's load exposed, fixed costs):
        compute_s = compute_cycles / clock;  onchip_s = onchip_bytes / (onchip_bpc * clock)
        dram_s    = dram_bytes / dram_bytes_per_s
        exposed_s = |S tile| (1 / (onchip_bpc * clock) + [S from DRAM] / dram_bytes_per_s)
        latency_s = max(compute_s, onchip_s, dram_s) + exposed_s + (rows + cols) / clock + dram_latency_s
    (tiles are double-buffered: each stationary tile loads while the previous one computes, except
    the first, whose load is exposed -- for an output-stationary array, the last tile's write-back;
    ``|S tile|`` = prod t_d elements of S at element width, from DRAM when S's DRAM traffic is not 0
    by the rules above; array fill/drain once per op.)
    ``bound`` is the argmax term.

    Energy (MAESTRO's per-access model plus DRAM):
        L1 accesses = 3 * MACs (two operand reads, one partial-sum update) + L2 accesses (fills)
        energy = MACs*mac_pj + L1*l1_pj + L2_accesses*l2_pj + dram_bytes*8*dram_pj_per_bit  [pJ]

    Arguments: the op (:class:`OpRow`), the chiplet (:class:`ChipletRow`), the shared ``dram``
    (:class:`Dram`), ``out`` (gets the COLUMNS) and ``work`` (:class:`Scratch`, owned by the caller
    so the kernel allocates nothing), and ``blocking`` (:func:`op_blocking`'s tuple). The
    per-candidate stages stay in one loop body and index ``work.floats`` in place on purpose: split
    into stage functions it measured 2-3x slower, and taking row views of the scratch array (each
    view is reference-counted) 1.5x slower.
    """
    dims = op.dims
    stride = op.stride
    elem_bytes = op.elem_bytes
    rows = chip.rows
    cols = chip.cols
    clock_hz = chip.clock_hz
    l2_bytes = chip.l2_bytes
    acc = acc_bytes_of(op, chip)
    fl = work.floats     # rows EXT, LANES, FOLDS, DIM (indexed in place: no views)
    for d in range(7):
        fl[DIM, d] = dims[d]

    # Operand sizes (elements) and the L2 blocking: the same for every unrolling.
    size_i, size_w, size_o = operand_sizes(op)
    macs = 1.0
    for d in range(7):
        macs *= dims[d]
    sz_i = size_i * elem_bytes
    sz_w = size_w * elem_bytes
    sz_o = size_o * elem_bytes
    state, p_i, p_w, p_o, blocks = blocking
    dram_fixed = 0.0
    from_i = state == STREAMED or op.first == 1 or p_i > 1.0 or sz_i > l2_bytes
    from_w = state == STREAMED or op.w_static == 1 or p_w > 1.0 or sz_w > l2_bytes
    from_o = state == STREAMED or op.last == 1 or sz_o > l2_bytes
    if state != STREAMED:
        if from_i:
            dram_fixed += p_i * sz_i
        if from_w:
            dram_fixed += p_w * sz_w
        if from_o:
            dram_fixed += sz_o
        dram_fixed += 2.0 * (p_o - 1.0) * size_o * acc
    overflow = max(0.0, sz_i + sz_w + sz_o - l2_bytes)
    if chip.stationary == 0:
        rel_s = REL_W
        s_dram = from_w
        s_size = size_w
    elif chip.stationary == 1:
        rel_s = REL_O
        s_dram = from_o
        s_size = size_o
    else:
        rel_s = REL_I
        s_dram = from_i
        s_size = size_i
    mac_j = macs * chip.mac_pj * 1e-12
    fill_s = (rows + cols) / clock_hz + dram.latency_s

    best_latency = -1.0
    best_energy = 0.0
    cap0 = max(1.0, np.floor(chip.l1_bytes / 2.0 / elem_bytes))
    onchip_rate = chip.onchip_bytes_per_cycle * clock_hz
    for u in range(chip.n_unroll):
        # Spatial: lanes per dim (1 on temporal dims), then folds = ceil(D / lanes) (D on temporal dims).
        for d in range(7):
            fl[LANES, d] = 1.0
        for a in range(2):
            left = rows * 1.0 if a == 0 else cols * 1.0
            for k in range(3):
                d = chip.axis_dims[u, a, k]
                if d >= 0:
                    fl[LANES, d] = min(fl[DIM, d], left)
                    left = np.floor(left / fl[LANES, d])
        cycles = 1.0
        for d in range(7):
            fo = fl[DIM, d] if fl[LANES, d] == 1.0 else np.ceil(fl[DIM, d] / fl[LANES, d])
            fl[FOLDS, d] = fo
            cycles *= fo

        # L1: the stationary tile holds held_d = min(folds_d, cap) folds of each of S's dims in
        # L1_ORDER (a temporal dim's folds are its elements); tiles along d: ceil(folds_d / held_d)
        # (= ceil(D_d / (lanes_d held_d))). Divisions are skipped where they are exact.
        cap = cap0
        n_tiles = 1.0
        tile_elems = 1.0
        for d in range(7):
            fl[EXT, d] = fl[DIM, d]
        for j in range(7):
            d = L1_ORDER[j]
            if rel_s[d] == 1:
                fo = fl[FOLDS, d]
                held = 1.0
                if cap > 1.0:
                    held = min(fo, cap)
                    cap = max(1.0, np.floor(cap / held))
                if held < fo:
                    f = fo if held == 1.0 else np.ceil(fo / held)
                    n_tiles *= f
                    fl[EXT, d] = fl[DIM, d] / f
                tile_elems *= min(fl[LANES, d] * held, fl[DIM, d])
        t_w = n_tiles * fl[EXT, 1] * fl[EXT, 2] * fl[EXT, 5] * fl[EXT, 6]
        t_i = n_tiles * fl[EXT, 0] * fl[EXT, 2] * read_extent(fl[EXT, 3], fl[EXT, 5], stride) * read_extent(fl[EXT, 4], fl[EXT, 6], stride)
        o_writes = n_tiles * fl[EXT, 0] * fl[EXT, 1] * fl[EXT, 3] * fl[EXT, 4]
        l2_acc = t_i + t_w + 2.0 * o_writes - size_o
        onchip_bytes = (t_i + t_w + size_o) * elem_bytes + 2.0 * (o_writes - size_o) * acc
        dram_bytes = onchip_bytes if state == STREAMED else dram_fixed

        compute_s = cycles / clock_hz
        onchip_s = onchip_bytes / onchip_rate
        dram_s = dram_bytes / dram.bytes_per_s
        bound = 0
        worst = compute_s
        if onchip_s > worst:
            bound = 1
            worst = onchip_s
        if dram_s > worst:
            bound = 2
            worst = dram_s
        tile_bytes = min(tile_elems, s_size) * elem_bytes
        exposed = tile_bytes / onchip_rate
        if s_dram:
            exposed += tile_bytes / dram.bytes_per_s
        latency = worst + exposed + fill_s

        l1_acc = 3.0 * macs + l2_acc
        l1_j = l1_acc * chip.l1_pj * 1e-12
        l2_j = l2_acc * chip.l2_pj * 1e-12
        dram_j = dram_bytes * 8.0 * dram.pj_per_bit * 1e-12
        energy = mac_j + l1_j + l2_j + dram_j
        if not (best_latency < 0.0 or latency < best_latency or (latency == best_latency and energy < best_energy)):
            continue
        best_latency = latency
        best_energy = energy
        out[C_CYCLES] = cycles
        out[C_UTIL] = macs / (cycles * rows * cols)
        out[C_L2_ACCESSES] = l2_acc
        out[C_ONCHIP_BYTES] = onchip_bytes
        out[C_DRAM_BYTES] = dram_bytes
        out[C_LATENCY] = latency
        out[C_ENERGY] = energy
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
        out[C_UNROLLING] = u
        out[C_TILES] = n_tiles
        out[C_L2_BLOCKS] = blocks
        out[C_EXPOSED_S] = exposed


@njit(cache=True)
def cost_table(ops, chips, dram):
    """op x chiplet cost table: ``table[i, c, :] = op_cost(op i, chiplet c)`` (columns COLUMNS),
    shape [n_ops, n_chiplets, N_COLS]. Chiplets with the same L2 bytes and accumulator width share
    each op's :func:`op_blocking` (computed once, for the first of them)."""
    n_ops = ops.dims.shape[0]
    n_dev = chips.rows.shape[0]
    table = np.empty((n_ops, n_dev, N_COLS))
    work = scratch()
    first = np.empty(n_dev, dtype=np.int64)      # the first chiplet with c's L2 and accumulator
    for c in range(n_dev):
        first[c] = c
        for b in range(c):
            if chips.l2_bytes[b] == chips.l2_bytes[c] and chips.acc_bytes[b] == chips.acc_bytes[c]:
                first[c] = b
                break
    states = np.empty(n_dev, dtype=np.int64)
    passes = np.empty((n_dev, 4))
    out = np.empty(N_COLS)
    for i in range(n_ops):
        op = op_row(ops, i)
        for c in range(n_dev):
            chip = chiplet_row(chips, c)
            b = first[c]
            if b == c:
                st, p_i, p_w, p_o, blocks = op_blocking(op, chip)
                states[c] = st
                passes[c, 0] = p_i
                passes[c, 1] = p_w
                passes[c, 2] = p_o
                passes[c, 3] = blocks
            blocking = (states[b], passes[b, 0], passes[b, 1], passes[b, 2], passes[b, 3])
            op_cost_blocked(op, chip, dram, blocking, out, work)
            for k in range(N_COLS):
                table[i, c, k] = out[k]
    return table
