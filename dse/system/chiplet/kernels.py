"""Chiplet-pipeline kernels (SCAR / inter-layer scheduling): the frame cost of a mapping and the
inner mapping optimiser.

A mapping assigns every op of the frame to a chiplet. The kernels read the op x chiplet cost table
(dse.cost.dataflow), which does not depend on the mapping. :func:`frame_cost` is the reference
evaluator (a pass over the ops); the optimiser's local search instead keeps the per-chiplet and
per-link busy times, DRAM traffic and energy of its current mapping and prices each candidate move
by its deltas (:func:`best_target`), re-evaluating the whole mapping with :func:`frame_cost` as a
guard. Routes on the package mesh are walked on the fly (XY routing), so nothing is c x c x links.
Every kernel takes the :class:`Frame` bundle.

The inner search (README's summary in one place)
-------------------------------------------------
For every chiplet design point the inner level maps each op to a chiplet, for five objective weights w
from "fastest frame" (w = 0) to "least energy" (w = 1): it minimises (1 − w)·period/P_ref +
w·energy/E_ref, where P_ref and E_ref are those of the mapping that puts every op on its fastest chiplet.
Below 4,096 possible mappings it enumerates them all. Above that (:func:`optimise`):

1. A Lagrangian chain DP. The bottleneck period becomes a weighted sum of chiplet busy times, and an
   exact dynamic program over the op chain minimises it together with the energy and transfer terms.
   Its inner minimum over the previous op's chiplet is a distance transform over the mesh, O(mesh
   nodes) per op. The first weight runs 40 rounds of multiplier updates; each later weight starts from
   the previous weight's multipliers and runs 10.
2. A local search from several starts, in parallel (numba `prange`). The first weight starts from the
   Lagrangian mapping, "each op on its fastest chiplet", "everything on one chiplet" (one chiplet per
   distinct cost column) and the previous design point's mappings. Each later weight starts from the
   Lagrangian mapping and the previous weight's best.
   - The search repeatedly moves a run's first op, its last op or the whole run to the best other
     chiplet, until a sweep over all runs improves nothing.
   - Each move is priced by deltas: O(1) plus the hops of the at most four changed transfers.
     Prefix sums give a run's cost on every chiplet; the state keeps the two busiest chiplets and
     the busiest link, and each run gets one O(1) bound that covers every target.
   - After every 64 applied moves, and at the end of each descent, the mapping is re-evaluated from
     scratch by the reference evaluator (`frame_cost`).
3. Iterated local search. Each kick moves a random op or run to a random chiplet. Kicks run in rounds
   of 4, and each kick's descent looks at the ops within 16 of it. A kick that beats the best is
   descended over the whole frame. Kicking stops after 60 kicks, or after 8 rounds in a row that gain
   nothing.
4. Cross-seeding. Each weight's mapping is descended under every other weight's goal, and kept where
   it ends better.

**Guarantees.** Every reported mapping's metrics come from the reference evaluator, never from the
deltas. Each mapping is a local optimum of its weight's goal under the moves above, and at least as good
as each of its starts. The search is deterministic (seeded), and its result does not depend on the
number of threads (tested). Exhaustive search is exact below 4,096 mappings. Without pipelining the
random test cases reach their optimum (tested against brute force).

**Not guaranteed.** With pipelining there is no optimality bound. On 40 adversarial random 7-op ×
3-chiplet cases × 3 weights, where transfers cost as much as ops, the gap to brute force is 0.36 % on
average and 12.9 % at worst, and the optimum is found in 90 % of cases. The previous optimiser scored
0.71 %, 12.9 % and 84 % on the same cases (`tests/bench/bench_scale.py`).
`tests/test_chiplet.py` keeps the bounds.

**Reuse between design points.** A search row's mapping may beat the one a cold `dse evaluate` finds
for the same knobs, because the search also starts from the previous design point's mappings.
`dse evaluate --mapping` re-costs any row's mapping exactly, and a one-worker study re-run from scratch
gives identical rows.

**Speed.** `python tests/bench/bench_scale.py --before REV` measures the time per design point from 4
to 64 chiplets × 127 and 1,001 ops, and the same on any older revision. On 2 cores it takes 15 ms
per design point at 36 chiplets × 127 ops (the previous optimiser: 13.3 s), and 0.17 s at 64 × 1,001
(the previous one: more than 300 s). The time per op × chiplet falls as the size grows. Memory is
O(ops × chiplets): the network keeps four links per mesh node and walks its XY routes on the fly. The
descents run in parallel from 1,000 ops × chiplets up; below that, starting threads costs more than it
saves.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from dse.jit import njit, prange

# Indices into the metrics vector filled by frame_cost().
M_PERIOD, M_LATENCY, M_ENERGY, M_DRAM, M_NOP_BYTES, M_NOP_J, M_STATIC_J, M_SERIAL = 0, 1, 2, 3, 4, 5, 6, 7
N_METRICS = 8
# Directions of a mesh link, in the link index ((y * columns + x) * 4 + direction).
EAST, WEST, NORTH, SOUTH = 0, 1, 2, 3
# Sums of the incremental state (State.acc).
A_DRAM, A_ENERGY, A_SERIAL = 0, 1, 2
# The local search re-evaluates its mapping from scratch after this many applied moves (and at the
# end of every descent), so rounding in the delta updates never accumulates.
RESYNC = 64
# Kicks of the iterated local search are drawn and descended in rounds of this many (in parallel);
# a fixed size keeps the result independent of the number of threads.
KICK_ROUND = 4
# Descents run in parallel from this many ops x chiplets up (4 x 127 ran 0.88x as fast on 2 threads
# as on one, 8 x 127 1.34x; tests/bench/bench_scale.py).
PARALLEL_MIN = 1000
# A kick's descent looks at the ops within this many of the kicked ones; a kick that beats the best
# mapping is then descended over the whole frame.
KICK_REACH = 16


class Frame(NamedTuple):
    """Everything the mapping kernels read, as arrays and scalars (built once per hardware point)."""

    time: np.ndarray         # [n, c] op latency on chiplet (s)
    energy: np.ndarray       # [n, c] op energy on chiplet (J)
    dram: np.ndarray         # [n, c] op DRAM bytes on chiplet
    out_bytes: np.ndarray    # [n] output tensor bytes
    mult: np.ndarray         # [n] inferences of the op's model per frame
    model: np.ndarray        # [n] model index
    first: np.ndarray        # [n] 1 if first op of its model
    n_models: int
    pos: np.ndarray          # [c, 2] (x, y) mesh position of each chiplet (distinct)
    mesh_cols: int
    mesh_rows: int
    link_bytes_per_s: float
    link_pj_per_bit: float
    hop_latency_s: float
    dram_bytes_per_s: float
    pipelining: bool
    static_w: float          # leakage of the whole package (every chiplet powered all the time)


class Scratch(NamedTuple):
    """Work arrays of :func:`frame_cost` (allocate once with :func:`scratch`, reuse per call)."""

    busy: np.ndarray     # [c] chiplet busy time per frame
    link: np.ndarray     # [links] directed-link busy time per frame
    chain: np.ndarray    # [models] one inference's chain time
    counts: np.ndarray   # [models] inferences per frame
    stage: np.ndarray    # [models, c] one inference's time per chiplet
    path: np.ndarray     # [columns + rows] link indices of one route


class Goal(NamedTuple):
    """Scalarised objective of the inner search: (1 - w) period / p_ref + w energy / e_ref."""

    w: float
    p_ref: float
    e_ref: float


class Prefix(NamedTuple):
    """Prefix sums over the op order of one inference's cost per chiplet: row i + 1 holds the sum
    over ops 0..i, so a run lo..hi costs ``x[hi + 1, c] - x[lo, c]`` in O(1)."""

    time: np.ndarray     # [n + 1, c]
    energy: np.ndarray   # [n + 1, c]
    dram: np.ndarray     # [n + 1, c]
    low: np.ndarray      # [n + 1, 3] the same for each op's least time, energy and DRAM over chiplets


class State(NamedTuple):
    """The local search's mapping and its incremental cost: ``sc.busy`` and ``sc.link`` are the
    chiplet and link busy times, ``acc`` the DRAM bytes, dynamic energy and serial time (A_*)."""

    assign: np.ndarray   # [n] the mapping
    sc: Scratch          # busy / link arrays (also frame_cost's scratch for the guard)
    acc: np.ndarray      # [3] A_DRAM, A_ENERGY (without static), A_SERIAL
    top: np.ndarray      # [3] the two busiest chiplets (-1 if fewer), then the busiest link
    rem: np.ndarray      # [links] loads a move takes off (zero between moves)
    add: np.ndarray      # [links] loads a move puts on (zero between moves)
    met: np.ndarray      # [N_METRICS] exact metrics of the last full evaluation


class DPWork(NamedTuple):
    """Work arrays of :func:`chain_dp`."""

    best: np.ndarray     # [n, c] least cost of ops 0..i with op i on chiplet c
    back: np.ndarray     # [n, c] the chiplet of op i - 1 on that best path
    grid: np.ndarray     # [columns * rows] distance transform over the mesh
    arg: np.ndarray      # [columns * rows] its arg-min chiplet


class Work(NamedTuple):
    """Work arrays of the Lagrangian step (allocated once per optimise call)."""

    sc: Scratch
    met: np.ndarray      # [N_METRICS]
    node: np.ndarray     # [n, c] node costs of the chain DP
    lam: np.ndarray      # [c] Lagrange multipliers (carried from one objective weight to the next)
    cand: np.ndarray     # [n] candidate mapping
    lagr: np.ndarray     # [n] best mapping of the Lagrangian rounds
    dp: DPWork


class Effort(NamedTuple):
    """How hard the heuristic optimiser tries (see :func:`optimise`)."""

    iterations: int      # Lagrangian rounds for the first objective weight (a quarter for the others)
    sweeps: int          # local-search passes per descent
    kicks: int           # iterated-local-search restarts at most, per objective weight
    seed: int
    patience: int = 2    # stop kicking after this many rounds of KICK_ROUND kicks without a gain


# --- network -------------------------------------------------------------------------------------

@njit(cache=True)
def hop_count(pos, s, d):
    """XY hops between chiplets s and d at mesh positions ``pos``: |x_s - x_d| + |y_s - y_d|."""
    return abs(pos[s, 0] - pos[d, 0]) + abs(pos[s, 1] - pos[d, 1])


@njit(cache=True)
def route_links(frame, s, d, path):
    """Directed links of the XY route s -> d (along x first, then y) into ``path``; returns their
    number. Link index = (y * columns + x) * 4 + direction at the link's source node."""
    x, y = frame.pos[s, 0], frame.pos[s, 1]
    xd, yd = frame.pos[d, 0], frame.pos[d, 1]
    cols = frame.mesh_cols
    k = 0
    while x != xd:
        if xd > x:
            path[k] = (y * cols + x) * 4 + EAST
            x += 1
        else:
            path[k] = (y * cols + x) * 4 + WEST
            x -= 1
        k += 1
    while y != yd:
        if yd > y:
            path[k] = (y * cols + x) * 4 + NORTH
            y += 1
        else:
            path[k] = (y * cols + x) * 4 + SOUTH
            y -= 1
        k += 1
    return k


@njit(cache=True)
def scratch(frame):
    """Work arrays for :func:`frame_cost` on ``frame``."""
    n_dev = frame.time.shape[1]
    return Scratch(np.zeros(n_dev), np.zeros(frame.mesh_cols * frame.mesh_rows * 4), np.zeros(frame.n_models),
                   np.ones(frame.n_models), np.zeros((frame.n_models, n_dev)),
                   np.zeros(frame.mesh_cols + frame.mesh_rows, dtype=np.int64))


# --- the reference evaluator ---------------------------------------------------------------------

@njit(cache=True)
def frame_cost(assign, frame, sc, metrics):
    """Frame metrics of a mapping into ``metrics`` (M_*); ``sc.busy[c]`` gets chiplet c's busy time
    and ``sc.link[l]`` link l's.

    Ops run in their model's chain order; op i consumes op i-1's output. When the two sit on
    different chiplets the tensor crosses the package network on the XY route:
        transfer_s = bytes / link_bytes_per_s + hops * hop_latency_s
        transfer_J = bytes * 8 * link_pj_per_bit * hops
    Each op and transfer happens ``mult`` times per frame (the model's count in the mix).

    With inter-layer pipelining, ops on different chiplets overlap across frames and the frame
    period is set by the busiest resource: a chiplet, a network link or the shared DRAM,
        period = max(max_c sum_{i on c} mult_i t_ic,  max_link sum mult * bytes / link_bw,
                     sum_i mult_i dram_i / dram_bytes_per_s)
    and a frame's latency is its models' critical path: for model m with chain time L_m (ops +
    transfers of one inference) and slowest stage s_m (its busiest chiplet per inference),
        latency = max(period, max_m L_m + (count_m - 1) * s_m).
    Without pipelining everything runs one after another: latency = period = serial = sum of all op
    and transfer times (floored by the DRAM term). Energy per frame sums ops and transfers, plus the
    package's leakage for the time one frame holds it (no chiplet is power-gated):
        static_J = static_w * period
    """
    n = assign.shape[0]
    n_dev = frame.time.shape[1]
    busy, link_busy, chain, counts, stage, path = sc.busy, sc.link, sc.chain, sc.counts, sc.stage, sc.path
    time, energy, dram, out_bytes = frame.time, frame.energy, frame.dram, frame.out_bytes
    mult, model, first, pos = frame.mult, frame.model, frame.first, frame.pos
    busy[:] = 0.0
    link_busy[:] = 0.0
    chain[:] = 0.0
    counts[:] = 1.0
    stage[:, :] = 0.0
    serial = 0.0
    e_total = 0.0
    dram_total = 0.0
    nop_bytes = 0.0
    nop_j = 0.0
    for i in range(n):
        c = assign[i]
        m = model[i]
        k = mult[i]
        counts[m] = k
        t = time[i, c]
        busy[c] += k * t
        stage[m, c] += t
        chain[m] += t
        serial += k * t
        e_total += k * energy[i, c]
        dram_total += k * dram[i, c]
        if first[i] == 0:
            p = assign[i - 1]
            if p != c:
                b = out_bytes[i - 1]
                h = hop_count(pos, p, c)
                tx = tx_time(frame, 1.0, b, h)
                chain[m] += tx
                serial += k * tx
                ej = tx_energy(frame, 1.0, b, h)
                e_total += k * ej
                nop_j += k * ej
                nop_bytes += k * b
                for j in range(route_links(frame, p, c, path)):
                    link_busy[path[j]] += k * b / frame.link_bytes_per_s
    dram_s = dram_total / frame.dram_bytes_per_s
    if frame.pipelining:
        period = max(dram_s, busy.max(), link_busy.max())
        latency = period
        for m in range(frame.n_models):
            lm = chain[m] + (counts[m] - 1.0) * stage[m].max()
            if lm > latency:
                latency = lm
    else:
        period = max(serial, dram_s)
        latency = period
    static_j = frame.static_w * period
    metrics[M_PERIOD] = period
    metrics[M_LATENCY] = latency
    metrics[M_ENERGY] = e_total + static_j
    metrics[M_STATIC_J] = static_j
    metrics[M_DRAM] = dram_total
    metrics[M_NOP_BYTES] = nop_bytes
    metrics[M_NOP_J] = nop_j
    metrics[M_SERIAL] = serial


@njit(cache=True)
def objective(metrics, goal):
    """Scalarised objective of the inner search: (1 - w) * period / P_ref + w * energy / E_ref."""
    return (1.0 - goal.w) * metrics[M_PERIOD] / goal.p_ref + goal.w * metrics[M_ENERGY] / goal.e_ref


@njit(cache=True)
def scalarise(period, dyn_j, frame, goal):
    """The objective from a period and the dynamic (op + transfer) energy: energy = dyn + static_w period."""
    return (1.0 - goal.w) * period / goal.p_ref + goal.w * (dyn_j + frame.static_w * period) / goal.e_ref


# --- incremental evaluation ----------------------------------------------------------------------

@njit(cache=True)
def prefix(frame):
    """Prefix sums of time, energy and DRAM bytes over the op order (see :class:`Prefix`)."""
    time, energy, dram = frame.time, frame.energy, frame.dram
    n, n_dev = time.shape
    pt = np.zeros((n + 1, n_dev))
    pe = np.zeros((n + 1, n_dev))
    pd = np.zeros((n + 1, n_dev))
    low = np.zeros((n + 1, 3))
    for i in range(n):
        lt, le, ld = np.inf, np.inf, np.inf
        for c in range(n_dev):
            pt[i + 1, c] = pt[i, c] + time[i, c]
            pe[i + 1, c] = pe[i, c] + energy[i, c]
            pd[i + 1, c] = pd[i, c] + dram[i, c]
            lt = min(lt, time[i, c])
            le = min(le, energy[i, c])
            ld = min(ld, dram[i, c])
        low[i + 1, 0] = low[i, 0] + lt
        low[i + 1, 1] = low[i, 1] + le
        low[i + 1, 2] = low[i, 2] + ld
    return Prefix(pt, pe, pd, low)


@njit(cache=True)
def new_state(frame):
    n, n_dev = frame.time.shape
    n_links = frame.mesh_cols * frame.mesh_rows * 4
    return State(np.zeros(n, dtype=np.int64), scratch(frame), np.zeros(3), np.full(3, -1, dtype=np.int64),
                 np.zeros(n_links), np.zeros(n_links), np.zeros(N_METRICS))


@njit(cache=True)
def refresh_top(state):
    """The two busiest chiplets and the busiest link of the state (after a full or applied move)."""
    busy, top = state.sc.busy, state.top
    top[0] = -1
    top[1] = -1
    for c in range(busy.shape[0]):
        if top[0] < 0 or busy[c] > busy[top[0]]:
            top[1] = top[0]
            top[0] = c
        elif top[1] < 0 or busy[c] > busy[top[1]]:
            top[1] = c
    top[2] = np.argmax(state.sc.link)


@njit(cache=True)
def sync(state, frame):
    """Re-evaluate the state's mapping from scratch (:func:`frame_cost`): busy times, sums, maxima."""
    frame_cost(state.assign, frame, state.sc, state.met)
    state.acc[A_DRAM] = state.met[M_DRAM]
    state.acc[A_ENERGY] = state.met[M_ENERGY] - state.met[M_STATIC_J]
    state.acc[A_SERIAL] = state.met[M_SERIAL]
    refresh_top(state)


@njit(cache=True)
def state_period(state, frame):
    """The frame period of the state's incremental sums (the frame_cost formula)."""
    dram_s = state.acc[A_DRAM] / frame.dram_bytes_per_s
    top = state.top
    if frame.pipelining:
        return max(dram_s, state.sc.busy[top[0]], state.sc.link[top[2]])
    return max(state.acc[A_SERIAL], dram_s)


@njit(cache=True)
def busy_without(top, busy, a):
    """The largest busy time of the chiplets other than a (0 if none), from the two busiest
    chiplets ``top[:2]``."""
    if top[0] != a:
        return busy[top[0]]
    return busy[top[1]] if top[1] >= 0 else 0.0


@njit(cache=True)
def tx_energy(frame, k, b, h):
    """Energy of k transfers of b bytes over h hops: k * b * 8 * link_pj_per_bit * h (J)."""
    return k * b * 8.0 * frame.link_pj_per_bit * h * 1e-12


@njit(cache=True)
def tx_time(frame, k, b, h):
    """Time of k transfers of b bytes over h hops: k * (b / link_bytes_per_s + h * hop_latency_s)."""
    return k * (b / frame.link_bytes_per_s + h * frame.hop_latency_s)


@njit(cache=True)
def load_route(frame, s, d, load, into, path):
    """into[l] += load on every link of the route s -> d."""
    for j in range(route_links(frame, s, d, path)):
        into[path[j]] += load


@njit(cache=True)
def route_peak(frame, s, d, link, rem, add, path):
    """max over the route s -> d of link - rem + add (a link's busy time after the priced move)."""
    peak = 0.0
    for j in range(route_links(frame, s, d, path)):
        v = link[path[j]] - rem[path[j]] + add[path[j]]
        if v > peak:
            peak = v
    return peak


@njit(cache=True)
def clear_route(frame, s, d, into, path):
    for j in range(route_links(frame, s, d, path)):
        into[path[j]] = 0.0


@njit(cache=True)
def best_target(state, pre, frame, goal, lo, hi, current):
    """Price moving ops lo..hi (a run of one model, all on one chiplet h) to every other chiplet by
    deltas, and return (best objective, its chiplet, moves priced); the chiplet is h when no move
    beats ``current`` by more than a relative 1e-12.

    With k the model's count, a run costs T_c = k (P_c[hi+1] - P_c[lo]) on chiplet c (prefix sums,
    the same for energy and DRAM bytes). Moving the run h -> c changes busy_h by -T_h and busy_c by
    +T_c, the sums by (T_c - T_h), and at most four transfers: the edges into lo and out of hi leave
    their routes to h and take routes to c (none where the neighbour is on the chiplet itself).
    The period after the move is the max of
        the DRAM term, busy_h - T_h, busy_c + T_c, the busiest chiplet other than h (the two
        busiest are kept; where that is c itself, busy_c + T_c covers it),
        the busiest link off the removed routes, the removed routes' links after removal,
        and the added routes' links after the move (walked: O(hops));
    the first two link terms are computed once per run, so pricing one target costs O(1 + hops).
    Before any of that, a bound for all targets at once (the run at its ops' least time, energy
    and DRAM bytes over all chiplets, the untouched chiplets as they are, links >= 0) ends the call
    in O(1) when no target can win; a target whose bound without the added-route links cannot
    beat the best is not walked. (Plain arrays are read out of the bundles once, at the top: a
    bundle's field read inside a loop costs numba a reference count each time.)"""
    assign, acc, top = state.assign, state.acc, state.top
    busy, link, rem, add, path = state.sc.busy, state.sc.link, state.rem, state.add, state.sc.path
    ptime, penergy, pdram, plow = pre.time, pre.energy, pre.dram, pre.low
    first, mult, out_bytes, pos = frame.first, frame.mult, frame.out_bytes, frame.pos
    n = assign.shape[0]
    n_dev = frame.time.shape[1]
    h = assign[lo]
    k = mult[lo]
    t_h = k * (ptime[hi + 1, h] - ptime[lo, h])
    e_base = acc[A_ENERGY] - k * (penergy[hi + 1, h] - penergy[lo, h])
    d_base = acc[A_DRAM] - k * (pdram[hi + 1, h] - pdram[lo, h])
    s_base = acc[A_SERIAL] - t_h
    has_in = first[lo] == 0
    has_out = hi + 1 < n and first[hi + 1] == 0
    p_in = assign[lo - 1] if has_in else -1
    s_out = assign[hi + 1] if has_out else -1
    b_in = out_bytes[lo - 1] if has_in else 0.0
    b_out = out_bytes[hi]
    rem_in = has_in and p_in != h
    rem_out = has_out and s_out != h
    if rem_in:
        hp = hop_count(pos, p_in, h)
        e_base -= tx_energy(frame, k, b_in, hp)
        s_base -= tx_time(frame, k, b_in, hp)
    if rem_out:
        hs = hop_count(pos, h, s_out)
        e_base -= tx_energy(frame, k, b_out, hs)
        s_base -= tx_time(frame, k, b_out, hs)
    busy_h = busy[h] - t_h
    # the busiest chiplet other than h; for a target c it may be c's own old busy time, which
    # busy_c + T_c >= busy_c covers anyway
    busy_others = busy_without(top, busy, h)
    best = current
    best_c = h
    # A bound for every target at once: the run costs at least its ops' least time, energy and DRAM
    # over all chiplets, the chiplets it does not touch keep their busy times, and links add >= 0.
    # Most runs stop here, before any route is walked.
    e_low = e_base + k * (plow[hi + 1, 1] - plow[lo, 1])
    d_low = (d_base + k * (plow[hi + 1, 2] - plow[lo, 2])) / frame.dram_bytes_per_s
    if frame.pipelining:
        p_low = max(d_low, busy_h, busy_others)
    else:
        p_low = max(d_low, s_base + k * (plow[hi + 1, 0] - plow[lo, 0]))
    if scalarise(p_low, e_low, frame, goal) >= best - 1e-12 * abs(best):
        return best, best_c, 0
    # link maxima that do not depend on the target: off the removed routes, and on them after removal
    m_off = link[top[2]]
    m_on = 0.0
    if frame.pipelining and (rem_in or rem_out):
        if rem_in:
            load_route(frame, p_in, h, k * b_in / frame.link_bytes_per_s, rem, path)
        if rem_out:
            load_route(frame, h, s_out, k * b_out / frame.link_bytes_per_s, rem, path)
        if rem[top[2]] > 0.0:
            m_off = 0.0
            for ln in range(link.shape[0]):
                if rem[ln] == 0.0 and link[ln] > m_off:
                    m_off = link[ln]
        # (``add`` is all zero between targets, so route_peak gives link - rem here)
        if rem_in:
            m_on = route_peak(frame, p_in, h, link, rem, add, path)
        if rem_out:
            m_on = max(m_on, route_peak(frame, h, s_out, link, rem, add, path))
    priced = 0
    for c in range(n_dev):
        if c == h:
            continue
        priced += 1
        t_c = k * (ptime[hi + 1, c] - ptime[lo, c])
        e = e_base + k * (penergy[hi + 1, c] - penergy[lo, c])
        d = d_base + k * (pdram[hi + 1, c] - pdram[lo, c])
        s = s_base + t_c
        in_add = has_in and p_in != c
        out_add = has_out and s_out != c
        if in_add:
            hp = hop_count(pos, p_in, c)
            e += tx_energy(frame, k, b_in, hp)
            s += tx_time(frame, k, b_in, hp)
        if out_add:
            hs = hop_count(pos, c, s_out)
            e += tx_energy(frame, k, b_out, hs)
            s += tx_time(frame, k, b_out, hs)
        dram_s = d / frame.dram_bytes_per_s
        if frame.pipelining:
            period = max(dram_s, busy_h, busy[c] + t_c, busy_others, m_off, m_on)
            bar = best - 1e-12 * abs(best)
            if scalarise(period, e, frame, goal) >= bar:
                continue            # the added routes can only raise the period
            if in_add or out_add:
                if in_add:
                    load_route(frame, p_in, c, k * b_in / frame.link_bytes_per_s, add, path)
                if out_add:
                    load_route(frame, c, s_out, k * b_out / frame.link_bytes_per_s, add, path)
                # both peaks before clearing: the two routes may share a link
                if in_add:
                    period = max(period, route_peak(frame, p_in, c, link, rem, add, path))
                if out_add:
                    period = max(period, route_peak(frame, c, s_out, link, rem, add, path))
                if in_add:
                    clear_route(frame, p_in, c, add, path)
                if out_add:
                    clear_route(frame, c, s_out, add, path)
        else:
            period = max(s, dram_s)
        obj = scalarise(period, e, frame, goal)
        if obj < best - 1e-12 * abs(best):
            best = obj
            best_c = c
    if frame.pipelining and rem_in:
        clear_route(frame, p_in, h, rem, path)
    if frame.pipelining and rem_out:
        clear_route(frame, h, s_out, rem, path)
    return best, best_c, priced


@njit(cache=True)
def move_transfer(state, frame, s, d, k, b, sign):
    """Add (sign 1) or remove (sign -1) one transfer of b bytes, k times per frame, s -> d."""
    h = hop_count(frame.pos, s, d)
    state.acc[A_ENERGY] += sign * tx_energy(frame, k, b, h)
    state.acc[A_SERIAL] += sign * tx_time(frame, k, b, h)
    load_route(frame, s, d, sign * k * b / frame.link_bytes_per_s, state.sc.link, state.sc.path)


@njit(cache=True)
def apply_move(state, pre, frame, lo, hi, c):
    """Move ops lo..hi (a run on one chiplet) to chiplet c, updating the state by deltas."""
    assign, busy, acc = state.assign, state.sc.busy, state.acc
    ptime, penergy, pdram = pre.time, pre.energy, pre.dram
    n = assign.shape[0]
    h = assign[lo]
    k = frame.mult[lo]
    t_h = k * (ptime[hi + 1, h] - ptime[lo, h])
    t_c = k * (ptime[hi + 1, c] - ptime[lo, c])
    busy[h] -= t_h
    busy[c] += t_c
    acc[A_SERIAL] += t_c - t_h
    acc[A_ENERGY] += k * ((penergy[hi + 1, c] - penergy[lo, c]) - (penergy[hi + 1, h] - penergy[lo, h]))
    acc[A_DRAM] += k * ((pdram[hi + 1, c] - pdram[lo, c]) - (pdram[hi + 1, h] - pdram[lo, h]))
    if frame.first[lo] == 0:
        p = assign[lo - 1]
        b = frame.out_bytes[lo - 1]
        if p != h:
            move_transfer(state, frame, p, h, k, b, -1.0)
        if p != c:
            move_transfer(state, frame, p, c, k, b, 1.0)
    if hi + 1 < n and frame.first[hi + 1] == 0:
        s = assign[hi + 1]
        b = frame.out_bytes[hi]
        if s != h:
            move_transfer(state, frame, h, s, k, b, -1.0)
        if s != c:
            move_transfer(state, frame, c, s, k, b, 1.0)
    for i in range(lo, hi + 1):
        assign[i] = c
    refresh_top(state)


@njit(cache=True)
def local_search(state, pre, frame, goal, sweeps, first_op, last_op):
    """Descend from ``state.assign`` (modified in place): for each run of consecutive ops of a model
    on one chiplet, try moving its first op, the whole run, or its last op to the best other
    chiplet (priced by deltas, :func:`best_target`); apply the first that lowers the objective and
    look at the run starting there again (so a run boundary can travel far in one sweep); repeat
    until a sweep improves nothing (or ``sweeps`` passes). Only runs starting in first_op..last_op
    are looked at (the whole frame for a start; a window around the kick for a kick). The mapping
    is re-evaluated from scratch every RESYNC applied moves and at the end. Returns (exact
    objective, evaluated)."""
    assign, first = state.assign, frame.first
    n = assign.shape[0]
    sync(state, frame)
    current = scalarise(state_period(state, frame), state.acc[A_ENERGY], frame, goal)
    evaluated = 1
    applied = 0
    for sweep in range(sweeps):
        improved = False
        i = first_op
        while i <= last_op:
            j = i
            while j + 1 < n and first[j + 1] == 0 and assign[j + 1] == assign[i]:
                j += 1
            moved = False
            for move in range(3):
                if move > 0 and i == j:
                    break
                lo = i if move < 2 else j
                hi = j if move == 1 else lo
                obj, c, priced = best_target(state, pre, frame, goal, lo, hi, current)
                evaluated += priced
                if c != assign[lo]:
                    apply_move(state, pre, frame, lo, hi, c)
                    applied += 1
                    if applied % RESYNC == 0:
                        sync(state, frame)
                        evaluated += 1
                        obj = scalarise(state_period(state, frame), state.acc[A_ENERGY], frame, goal)
                    current = obj
                    improved = True
                    moved = True
                    break
            if not moved:
                i = j + 1           # after a move, the run starting at i is looked at again
        if not improved:
            break
    sync(state, frame)
    return objective(state.met, goal), evaluated + 1


@njit(cache=True)
def descend(assign, pre, frame, goal, sweeps, first_op, last_op):
    """:func:`local_search` from ``assign`` (in place) with a state of its own."""
    state = new_state(frame)
    state.assign[:] = assign
    obj, evaluated = local_search(state, pre, frame, goal, sweeps, first_op, last_op)
    assign[:] = state.assign
    return obj, evaluated


@njit(cache=True)
def descend_rows(cands, windows, pre, frame, goal, sweeps, objs, evaluated):
    """:func:`descend` from every row of ``cands``, one after another (see :func:`descend_all`)."""
    for r in range(cands.shape[0]):
        obj, ev = descend(cands[r], pre, frame, goal, sweeps, windows[r, 0], windows[r, 1])
        objs[r] = obj
        evaluated[r] = ev


@njit(cache=True, parallel=True)
def descend_rows_parallel(cands, windows, pre, frame, goal, sweeps, objs, evaluated):
    """:func:`descend` from every row of ``cands``, in parallel (numba prange). The work arrays
    are allocated inside :func:`descend`: numba may hoist allocations written in a prange body
    out of the loop, which would share them between rows."""
    for r in prange(cands.shape[0]):
        obj, ev = descend(cands[r], pre, frame, goal, sweeps, windows[r, 0], windows[r, 1])
        objs[r] = obj
        evaluated[r] = ev


@njit(cache=True)
def descend_all(cands, windows, pre, frame, goal, sweeps, objs, evaluated):
    """:func:`descend` from every row of ``cands`` (in place) over its window of ops (``windows[r]``
    = first, last); objective and mappings evaluated per row into ``objs`` and ``evaluated``. In
    parallel when the frame has at least PARALLEL_MIN ops x chiplets (below that, starting the
    threads costs more than it saves: measured by tests/bench/bench_scale.py)."""
    if cands.shape[0] > 1 and frame.time.shape[0] * frame.time.shape[1] >= PARALLEL_MIN:
        descend_rows_parallel(cands, windows, pre, frame, goal, sweeps, objs, evaluated)
    else:
        descend_rows(cands, windows, pre, frame, goal, sweeps, objs, evaluated)


# --- the chain DP and the Lagrangian step ----------------------------------------------------------

@njit(cache=True)
def dp_work(frame):
    n, n_dev = frame.time.shape
    g = frame.mesh_cols * frame.mesh_rows
    return DPWork(np.empty((n, n_dev)), np.zeros((n, n_dev), dtype=np.int64), np.empty(g),
                  np.zeros(g, dtype=np.int64))


@njit(cache=True)
def distance_transform(f, frame, slope, grid, arg):
    """grid[node] = min_p f[p] + slope * hops(p, node) over the mesh nodes (arg: the minimising
    chiplet). The L1 distance on a mesh is separable: a forward and a backward pass along every
    row, then along every column, each relaxing v[x] <- min(v[x], v[x -+ 1] + slope). O(mesh)."""
    cols, rows, pos = frame.mesh_cols, frame.mesh_rows, frame.pos
    grid[:] = np.inf
    arg[:] = -1
    for p in range(f.shape[0]):
        g = pos[p, 1] * cols + pos[p, 0]
        grid[g] = f[p]
        arg[g] = p
    for y in range(rows):
        base = y * cols
        for x in range(1, cols):
            if grid[base + x - 1] + slope < grid[base + x]:
                grid[base + x] = grid[base + x - 1] + slope
                arg[base + x] = arg[base + x - 1]
        for x in range(cols - 2, -1, -1):
            if grid[base + x + 1] + slope < grid[base + x]:
                grid[base + x] = grid[base + x + 1] + slope
                arg[base + x] = arg[base + x + 1]
    for x in range(cols):
        for y in range(1, rows):
            if grid[(y - 1) * cols + x] + slope < grid[y * cols + x]:
                grid[y * cols + x] = grid[(y - 1) * cols + x] + slope
                arg[y * cols + x] = arg[(y - 1) * cols + x]
        for y in range(rows - 2, -1, -1):
            if grid[(y + 1) * cols + x] + slope < grid[y * cols + x]:
                grid[y * cols + x] = grid[(y + 1) * cols + x] + slope
                arg[y * cols + x] = arg[(y + 1) * cols + x]


@njit(cache=True)
def chain_dp(node, frame, wt, we, assign, dp):
    """Exact minimum of sum_i node[i, a_i] + sum_i edge(i, a_{i-1}, a_i) over all mappings,
    where edge = mult * (wt * transfer_s + we * transfer_J) between consecutive ops of a model on
    different chiplets, i.e. edge = A + B * hops with
        A = mult * wt * bytes / link_bw,  B = mult * (wt * hop_latency + we * bytes * 8 * pj * 1e-12).
    Dynamic programming over the op chain with the chiplet of the current op as state:
        best[i, c] = node[i, c] + min(best[i-1, c], A + min_p (best[i-1, p] + B hops(p, c)))
    where the inner minimum is a distance transform over the mesh (O(mesh nodes) per op; the
    direct O(c^2) minimum when the mesh has more than 4 nodes per chiplet)."""
    n, n_dev = node.shape
    best, back, grid, arg = dp.best, dp.back, dp.grid, dp.arg
    first, mult, out_bytes, pos = frame.first, frame.mult, frame.out_bytes, frame.pos
    cols = frame.mesh_cols
    dense = frame.mesh_cols * frame.mesh_rows <= 4 * n_dev
    for i in range(n):
        if first[i] == 1:
            prev = 0.0
            where = 0
            if i > 0:
                prev = best[i - 1, 0]
                for p in range(1, n_dev):
                    if best[i - 1, p] < prev:
                        prev = best[i - 1, p]
                        where = p
            for c in range(n_dev):
                best[i, c] = prev + node[i, c]
                back[i, c] = where
            continue
        b = out_bytes[i - 1]
        k = mult[i]
        a_cost = k * wt * b / frame.link_bytes_per_s
        slope = k * (wt * frame.hop_latency_s + we * b * 8.0 * frame.link_pj_per_bit * 1e-12)
        if dense:
            distance_transform(best[i - 1], frame, slope, grid, arg)
        for c in range(n_dev):
            lo = best[i - 1, c]
            where = c
            if dense:
                g = pos[c, 1] * cols + pos[c, 0]
                if a_cost + grid[g] < lo:
                    lo = a_cost + grid[g]
                    where = arg[g]
            else:
                for p in range(n_dev):
                    if p != c:
                        v = best[i - 1, p] + a_cost + slope * hop_count(pos, p, c)
                        if v < lo:
                            lo = v
                            where = p
            best[i, c] = lo + node[i, c]
            back[i, c] = where
    c = 0
    for j in range(1, n_dev):
        if best[n - 1, j] < best[n - 1, c]:
            c = j
    for i in range(n - 1, -1, -1):
        assign[i] = c
        c = back[i, c]


@njit(cache=True)
def fastest_mapping(frame):
    """Each op on the chiplet where it runs fastest (ties: the lowest index)."""
    n, n_dev = frame.time.shape
    fastest = np.zeros(n, dtype=np.int64)
    for i in range(n):
        a = 0
        for c in range(1, n_dev):
            if frame.time[i, c] < frame.time[i, a]:
                a = c
        fastest[i] = a
    return fastest


@njit(cache=True)
def chiplet_kinds(frame):
    """One chiplet per distinct cost-table column (time, energy, DRAM of every op): chiplets with
    the same costs give the same "everything on one chiplet" mapping."""
    n, n_dev = frame.time.shape
    reps = np.zeros(n_dev, dtype=np.int64)
    n_reps = 0
    for c in range(n_dev):
        new = True
        for r in range(n_reps):
            q = reps[r]
            same = True
            for i in range(n):
                if (frame.time[i, c] != frame.time[i, q] or frame.energy[i, c] != frame.energy[i, q]
                        or frame.dram[i, c] != frame.dram[i, q]):
                    same = False
                    break
            if same:
                new = False
                break
        if new:
            reps[n_reps] = c
            n_reps += 1
    return reps[:n_reps]


@njit(cache=True)
def lagrangian(frame, goal, rounds, work):
    """Step 1 of :func:`optimise` for ``goal``: the best mapping (into ``work.lagr``) over
    ``rounds`` of the Lagrangian chain DP (one mapping evaluated per round), starting from the
    multipliers in ``work.lam`` and leaving the last ones there."""
    n, n_dev = frame.time.shape
    w, p_ref, e_ref = goal.w, goal.p_ref, goal.e_ref
    met, node, lam, cand, lagr = work.met, work.node, work.lam, work.cand, work.lagr
    busy = work.sc.busy
    time, energy, mult = frame.time, frame.energy, frame.mult
    best_obj = np.inf
    for it in range(rounds):
        for i in range(n):
            for c in range(n_dev):
                node[i, c] = mult[i] * ((1.0 - w) * lam[c] * time[i, c] / p_ref + w * energy[i, c] / e_ref)
        chain_dp(node, frame, (1.0 - w) / p_ref, w / e_ref, cand, work.dp)
        frame_cost(cand, frame, work.sc, met)
        obj = objective(met, goal)
        if obj < best_obj:
            best_obj = obj
            lagr[:] = cand
        eta = 1.0 / (1.0 + 0.1 * it)
        for c in range(n_dev):
            lam[c] *= np.exp(eta * (busy[c] / met[M_PERIOD] - 1.0))
        top = lam.max()
        for c in range(n_dev):
            lam[c] /= top


@njit(cache=True)
def kick(best, frame, cand, window):
    """A random perturbation of ``best`` into ``cand``: a random op, or (half the time) its whole
    run, moved to a random chiplet; ``window`` gets the ops within KICK_REACH of the moved ones."""
    n = best.shape[0]
    n_dev = frame.time.shape[1]
    cand[:] = best
    i = np.random.randint(0, n)
    lo = i
    hi = i
    if np.random.randint(0, 2) == 1:
        while lo > 0 and frame.first[lo] == 0 and cand[lo - 1] == cand[i]:
            lo -= 1
        while hi + 1 < n and frame.first[hi + 1] == 0 and cand[hi + 1] == cand[i]:
            hi += 1
    target = np.random.randint(0, n_dev)
    for k in range(lo, hi + 1):
        cand[k] = target
    window[0] = max(0, lo - KICK_REACH)
    window[1] = min(n - 1, hi + KICK_REACH)


@njit(cache=True)
def optimise(frame, weights, effort, hints):
    """Inner optimiser: for each objective weight w in ``weights`` in order (0 = fastest frame
    period, 1 = least energy per frame), the mapping minimising (1 - w) period/P_ref + w energy/E_ref.

    1. Lagrangian relaxation (:func:`lagrangian`): the bottleneck period is replaced by a weighted
       sum of chiplet busy times, sum_c lambda_c busy_c, which the exact chain DP (:func:`chain_dp`)
       minimises together with the energy and transfer terms; lambda_c shrinks on chiplets below
       the period, lambda_c <- lambda_c * exp(eta_t (busy_c / period - 1)), eta_t = 1 / (1 + t/10),
       for ``effort.iterations`` rounds on the first weight; each later weight starts from the
       previous weight's multipliers and runs a quarter of the rounds (without pipelining the
       objective is a sum, and one round is exact).
    2. Local search (:func:`local_search`, moves priced by deltas) from, in parallel: the
       Lagrangian best and, for the first weight, "each op on its fastest chiplet", "everything on
       chiplet c" for one chiplet of each distinct cost column and every row of ``hints`` (e.g.
       the previous design point's mappings); for the later weights, the previous weight's best
       mapping (warm start). Keep the best.
    3. Iterated local search: rounds of KICK_ROUND kicks (:func:`kick`) of the best mapping, each
       descended over a window of 2 KICK_REACH ops around the kick, in parallel; a round's best
       that beats the best mapping is descended over the whole frame and replaces it. Stop after
       ``effort.kicks`` kicks or ``effort.patience`` rounds in a row without a gain.
    4. Cross-seeding: each weight's best mapping is descended under every other weight's goal
       and replaces that weight's mapping where it ends better.
    Every returned mapping is a local optimum of its weight's goal under the local search's moves
    (unless ``effort.sweeps`` stops a descent first),
    at least as good as each of its starts, and costed by :func:`frame_cost` (never by deltas).
    Results do not depend on the number of threads (the random draws happen outside the parallel
    loops). P_ref and E_ref are the period and energy of the mapping that puts each op on its
    fastest chiplet. Returns (assignments [w, n], metrics [w, N_METRICS], mappings evaluated; a
    move priced counts as one mapping evaluated).
    """
    np.random.seed(effort.seed)
    n, n_dev = frame.time.shape
    n_w = weights.shape[0]
    work = Work(scratch(frame), np.zeros(N_METRICS), np.empty((n, n_dev)), np.ones(n_dev),
                np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64), dp_work(frame))
    pre = prefix(frame)
    kinds = chiplet_kinds(frame)
    fastest = fastest_mapping(frame)
    frame_cost(fastest, frame, work.sc, work.met)
    p_ref = work.met[M_PERIOD]
    e_ref = work.met[M_ENERGY]
    out_assign = np.zeros((n_w, n), dtype=np.int64)
    out_metrics = np.zeros((n_w, N_METRICS))
    out_obj = np.zeros(n_w)
    evaluated = 1
    best_assign = np.zeros(n, dtype=np.int64)
    n_hints = hints.shape[0]
    batch = np.zeros((KICK_ROUND, n), dtype=np.int64)
    kick_win = np.zeros((KICK_ROUND, 2), dtype=np.int64)
    objs_k = np.zeros(KICK_ROUND)
    evals_k = np.zeros(KICK_ROUND, dtype=np.int64)
    for wi in range(n_w):
        goal = Goal(weights[wi], p_ref, e_ref)
        rounds = 1
        if frame.pipelining:
            rounds = effort.iterations if wi == 0 else max(1, effort.iterations // 4)
        lagrangian(frame, goal, rounds, work)
        evaluated += rounds
        n_starts = 2 + kinds.shape[0] + n_hints if wi == 0 else 2
        starts = np.zeros((n_starts, n), dtype=np.int64)
        starts[0] = work.lagr
        if wi == 0:
            starts[1] = fastest
            for q in range(kinds.shape[0]):
                starts[2 + q] = kinds[q]
            for q in range(n_hints):
                starts[2 + kinds.shape[0] + q] = hints[q]
        else:
            starts[1] = best_assign
        objs = np.zeros(n_starts)
        evals = np.zeros(n_starts, dtype=np.int64)
        windows = np.zeros((n_starts, 2), dtype=np.int64)
        windows[:, 1] = n - 1
        descend_all(starts, windows, pre, frame, goal, effort.sweeps, objs, evals)
        evaluated += evals.sum()
        top = np.argmin(objs)
        best_obj = objs[top]
        best_assign[:] = starts[top]
        done = 0
        idle = 0
        while done < effort.kicks and idle < effort.patience:
            m = min(KICK_ROUND, effort.kicks - done)
            for q in range(m):
                kick(best_assign, frame, batch[q], kick_win[q])
            descend_all(batch[:m], kick_win[:m], pre, frame, goal, effort.sweeps, objs_k[:m], evals_k[:m])
            evaluated += evals_k[:m].sum()
            done += m
            q = np.argmin(objs_k[:m])
            if objs_k[q] < best_obj:
                obj, ev = descend(batch[q], pre, frame, goal, effort.sweeps, 0, n - 1)
                evaluated += ev
                best_obj = obj
                best_assign[:] = batch[q]
                idle = 0
            else:
                idle += 1
        out_assign[wi] = best_assign
        out_obj[wi] = best_obj
    # 4. Cross-seeding: every weight's best mapping, descended under every other weight's goal
    #    (a mapping found for one weight is often a better start for its neighbours).
    if n_w > 1:
        seeds = np.zeros((n_w, n), dtype=np.int64)
        objs_w = np.zeros(n_w)
        evals_w = np.zeros(n_w, dtype=np.int64)
        seed_win = np.zeros((n_w, 2), dtype=np.int64)
        seed_win[:, 1] = n - 1
        found = out_assign.copy()
        for wi in range(n_w):
            goal = Goal(weights[wi], p_ref, e_ref)
            m = 0
            for r in range(n_w):          # the other weights' mappings, each distinct one once
                fresh = True
                for q in range(m):
                    if np.array_equal(found[r], seeds[q]):
                        fresh = False
                if fresh and not np.array_equal(found[r], out_assign[wi]):
                    seeds[m] = found[r]
                    m += 1
            if m == 0:
                continue
            descend_all(seeds[:m], seed_win[:m], pre, frame, goal, effort.sweeps, objs_w[:m], evals_w[:m])
            evaluated += evals_w[:m].sum()
            q = np.argmin(objs_w[:m])
            if objs_w[q] < out_obj[wi]:
                out_obj[wi] = objs_w[q]
                out_assign[wi] = seeds[q]
    for wi in range(n_w):
        frame_cost(out_assign[wi], frame, work.sc, out_metrics[wi])
    return out_assign, out_metrics, evaluated


@njit(cache=True)
def brute_force(frame, weights, p_ref, e_ref):
    """Every one of the c^n mappings; the best per weight under the same scalarised objective
    as optimise() with the given P_ref, E_ref. For small cases and for testing the optimiser."""
    n, n_dev = frame.time.shape
    n_w = weights.shape[0]
    assign = np.zeros(n, dtype=np.int64)
    best = np.full(n_w, np.inf)
    best_assign = np.zeros((n_w, n), dtype=np.int64)
    sc = scratch(frame)
    met = np.zeros(N_METRICS)
    total = n_dev ** n
    for code in range(total):
        x = code
        for i in range(n):
            assign[i] = x % n_dev
            x //= n_dev
        frame_cost(assign, frame, sc, met)
        for wi in range(n_w):
            obj = objective(met, Goal(weights[wi], p_ref, e_ref))
            if obj < best[wi]:
                best[wi] = obj
                best_assign[wi] = assign
    return best_assign, best
