"""Chiplet-pipeline kernels (SCAR / inter-layer scheduling): the frame cost of a mapping and the
inner mapping optimiser.

A mapping assigns every op of the frame to a chiplet. The kernels read the op x chiplet cost table
(dse.cost.dataflow), which does not depend on the mapping, so one mapping evaluation is a pass of
gathers and sums over the ops (microseconds). Every kernel takes the :class:`Frame` bundle.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

# Indices into the metrics vector filled by frame_cost().
M_PERIOD, M_LATENCY, M_ENERGY, M_DRAM, M_NOP_BYTES, M_NOP_J, M_STATIC_J = 0, 1, 2, 3, 4, 5, 6
N_METRICS = 7


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
    hops: np.ndarray         # [c, c]
    route: np.ndarray        # [c, c, links]
    link_bytes_per_s: float
    link_pj_per_bit: float
    hop_latency_s: float
    dram_bytes_per_s: float
    pipelining: bool
    static_w: float          # leakage of the whole package (every chiplet powered all the time)


class Goal(NamedTuple):
    """Scalarised objective of the inner search: (1 - w) period / p_ref + w energy / e_ref."""

    w: float
    p_ref: float
    e_ref: float


class Work(NamedTuple):
    """Work arrays of the optimiser (allocated once per optimise call)."""

    busy: np.ndarray     # [c] chiplet busy times of the last frame_cost
    met: np.ndarray      # [N_METRICS] metrics of the last frame_cost
    node: np.ndarray     # [n, c] node costs of the chain DP
    lam: np.ndarray      # [c] Lagrange multipliers
    cand: np.ndarray     # [n] candidate mapping
    lagr: np.ndarray     # [n] best mapping of the Lagrangian rounds


class Effort(NamedTuple):
    """How hard the heuristic optimiser tries (see :func:`optimise`)."""

    iterations: int      # Lagrangian rounds
    sweeps: int          # local-search passes per descent
    kicks: int           # iterated-local-search restarts
    seed: int


@njit(cache=True)
def frame_cost(assign, frame, busy, metrics):
    """Frame metrics of a mapping into ``metrics`` (M_*). ``busy[c]`` gets chiplet c's busy time.

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
    Without pipelining everything runs one after another: latency = period = sum of all op and
    transfer times (floored by the DRAM term). Energy per frame sums ops and transfers, plus the
    package's leakage for the time one frame holds it (no chiplet is power-gated):
        static_J = static_w * period
    """
    n = assign.shape[0]
    n_dev = busy.shape[0]
    n_links = frame.route.shape[2]
    link_busy = np.zeros(n_links)
    chain = np.zeros(frame.n_models)
    counts = np.ones(frame.n_models)
    stage = np.zeros((frame.n_models, n_dev))
    for c in range(n_dev):
        busy[c] = 0.0
    serial = 0.0
    e_total = 0.0
    dram_total = 0.0
    nop_bytes = 0.0
    nop_j = 0.0
    for i in range(n):
        c = assign[i]
        m = frame.model[i]
        k = frame.mult[i]
        counts[m] = k
        t = frame.time[i, c]
        busy[c] += k * t
        stage[m, c] += t
        chain[m] += t
        serial += k * t
        e_total += k * frame.energy[i, c]
        dram_total += k * frame.dram[i, c]
        if frame.first[i] == 0:
            p = assign[i - 1]
            if p != c:
                b = frame.out_bytes[i - 1]
                h = frame.hops[p, c]
                tx = b / frame.link_bytes_per_s + h * frame.hop_latency_s
                chain[m] += tx
                serial += k * tx
                ej = b * 8.0 * frame.link_pj_per_bit * h * 1e-12
                e_total += k * ej
                nop_j += k * ej
                nop_bytes += k * b
                for link in range(n_links):
                    if frame.route[p, c, link] == 1:
                        link_busy[link] += k * b / frame.link_bytes_per_s
    dram_s = dram_total / frame.dram_bytes_per_s
    if frame.pipelining:
        period = dram_s
        for c in range(n_dev):
            if busy[c] > period:
                period = busy[c]
        for link in range(n_links):
            if link_busy[link] > period:
                period = link_busy[link]
        latency = period
        for m in range(frame.n_models):
            s = 0.0
            for c in range(n_dev):
                if stage[m, c] > s:
                    s = stage[m, c]
            lm = chain[m] + (counts[m] - 1.0) * s
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


@njit(cache=True)
def objective(metrics, goal):
    """Scalarised objective of the inner search: (1 - w) * period / P_ref + w * energy / E_ref."""
    return (1.0 - goal.w) * metrics[M_PERIOD] / goal.p_ref + goal.w * metrics[M_ENERGY] / goal.e_ref


@njit(cache=True)
def chain_dp(node, frame, wt, we, assign):
    """Exact minimum of sum_i node[i, a_i] + sum_i edge(i, a_{i-1}, a_i) over all mappings,
    where edge = mult * (wt * transfer_s + we * transfer_J) between consecutive ops of a model.
    Dynamic programming over the op chain with the chiplet of the current op as state: O(n c^2)."""
    n, n_dev = node.shape
    best = np.empty((n, n_dev))
    back = np.zeros((n, n_dev), dtype=np.int64)
    for i in range(n):
        for c in range(n_dev):
            if frame.first[i] == 1:
                prev = 0.0
                if i > 0:
                    prev = best[i - 1, 0]
                    arg = 0
                    for p in range(1, n_dev):
                        if best[i - 1, p] < prev:
                            prev = best[i - 1, p]
                            arg = p
                    back[i, c] = arg
                best[i, c] = prev + node[i, c]
            else:
                b = frame.out_bytes[i - 1]
                lo = np.inf
                arg = 0
                for p in range(n_dev):
                    edge = 0.0
                    if p != c:
                        h = frame.hops[p, c]
                        edge = frame.mult[i] * (wt * (b / frame.link_bytes_per_s + h * frame.hop_latency_s)
                                                + we * b * 8.0 * frame.link_pj_per_bit * h * 1e-12)
                    v = best[i - 1, p] + edge
                    if v < lo:
                        lo = v
                        arg = p
                best[i, c] = lo + node[i, c]
                back[i, c] = arg
    c = 0
    for k in range(1, n_dev):
        if best[n - 1, k] < best[n - 1, c]:
            c = k
    for i in range(n - 1, -1, -1):
        assign[i] = c
        c = back[i, c]


@njit(cache=True)
def best_move(cand, lo, hi, goal, current, frame, busy, met):
    """Move ops lo..hi (all on one chiplet) to the other chiplet that lowers the objective most;
    keep the move only if it beats ``current``. Returns (objective after, mappings evaluated)."""
    n_dev = busy.shape[0]
    home = cand[lo]
    best_obj = current
    best_c = home
    for c in range(n_dev):
        if c == home:
            continue
        for k in range(lo, hi + 1):
            cand[k] = c
        frame_cost(cand, frame, busy, met)
        obj = objective(met, goal)
        if obj < best_obj - 1e-12 * abs(best_obj):
            best_obj = obj
            best_c = c
    for k in range(lo, hi + 1):
        cand[k] = best_c
    return best_obj, n_dev - 1


@njit(cache=True)
def local_search(cand, goal, sweeps, frame, busy, met):
    """Descend from ``cand`` (modified in place): for each run of consecutive ops of a model on one
    chiplet, try moving its first op, its last op, or the whole run to the best other chiplet;
    repeat until a sweep improves nothing (or ``sweeps`` passes). Returns (objective, evaluated)."""
    n = cand.shape[0]
    frame_cost(cand, frame, busy, met)
    best_obj = objective(met, goal)
    evaluated = 1
    for sweep in range(sweeps):
        improved = False
        i = 0
        while i < n:
            j = i
            while j + 1 < n and frame.first[j + 1] == 0 and cand[j + 1] == cand[i]:
                j += 1
            for move in range(3):
                if move > 0 and i == j:
                    break
                lo = i if move < 2 else j
                hi = j if move == 1 else lo
                obj, tried = best_move(cand, lo, hi, goal, best_obj, frame, busy, met)
                evaluated += tried
                if obj < best_obj:
                    best_obj = obj
                    improved = True
                    break
            i = j + 1
        if not improved:
            break
    return best_obj, evaluated


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
def lagrangian(frame, goal, rounds, work):
    """Step 1 of :func:`optimise` for ``goal``: the best mapping (into ``work.lagr``) over
    ``rounds`` of the Lagrangian chain DP (one mapping evaluated per round)."""
    n, n_dev = frame.time.shape
    w, p_ref, e_ref = goal.w, goal.p_ref, goal.e_ref
    busy, met, node, lam, cand, lagr = work.busy, work.met, work.node, work.lam, work.cand, work.lagr
    for c in range(n_dev):
        lam[c] = 1.0
    best_obj = np.inf
    for it in range(rounds):
        for i in range(n):
            for c in range(n_dev):
                node[i, c] = frame.mult[i] * ((1.0 - w) * lam[c] * frame.time[i, c] / p_ref
                                              + w * frame.energy[i, c] / e_ref)
        chain_dp(node, frame, (1.0 - w) / p_ref, w / e_ref, cand)
        frame_cost(cand, frame, busy, met)
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
def optimise(frame, weights, effort):
    """Inner optimiser: for each objective weight w in ``weights`` (0 = fastest frame period,
    1 = least energy per frame), the mapping minimising (1 - w) period/P_ref + w energy/E_ref.

    1. Lagrangian relaxation (:func:`lagrangian`): the bottleneck period is replaced by a weighted
       sum of chiplet busy times, sum_c lambda_c busy_c, which the exact chain DP (:func:`chain_dp`)
       minimises together with the energy and transfer terms; lambda_c shrinks on chiplets below
       the period, lambda_c <- lambda_c * exp(eta_t (busy_c / period - 1)), eta_t = 1 / (1 + t/10),
       for ``effort.iterations`` rounds (without pipelining the objective is already a sum, and one
       round is exact).
    2. Local search (:func:`local_search`) from the Lagrangian best, from "each op on its fastest
       chiplet" and from "everything on chiplet c" for every c; keep the best.
    3. Iterated local search: ``effort.kicks`` times, move a random run or op of the best mapping
       to a random chiplet, descend again, keep the result if it is better (seeded: deterministic).
    P_ref and E_ref are the period and energy of the mapping that puts each op on its fastest
    chiplet. Returns (assignments [w, n], metrics [w, N_METRICS], mappings evaluated).
    """
    np.random.seed(effort.seed)
    n, n_dev = frame.time.shape
    n_w = weights.shape[0]
    work = Work(np.zeros(n_dev), np.zeros(N_METRICS), np.empty((n, n_dev)), np.empty(n_dev),
                np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64))
    cand = work.cand
    lagr = work.lagr
    fastest = fastest_mapping(frame)
    frame_cost(fastest, frame, work.busy, work.met)
    p_ref = work.met[M_PERIOD]
    e_ref = work.met[M_ENERGY]
    out_assign = np.zeros((n_w, n), dtype=np.int64)
    out_metrics = np.zeros((n_w, N_METRICS))
    evaluated = 1
    best_assign = np.zeros(n, dtype=np.int64)
    for wi in range(n_w):
        goal = Goal(weights[wi], p_ref, e_ref)
        rounds = effort.iterations if frame.pipelining else 1
        lagrangian(frame, goal, rounds, work)
        evaluated += rounds
        best_obj = np.inf
        for attempt in range(2 + n_dev + effort.kicks):
            if attempt == 0:
                cand[:] = lagr
            elif attempt == 1:
                cand[:] = fastest
            elif attempt < 2 + n_dev:
                cand[:] = attempt - 2
            else:  # a kick: move a random op, or its whole run, of the best mapping
                cand[:] = best_assign
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
            obj, tried = local_search(cand, goal, effort.sweeps, frame, work.busy, work.met)
            evaluated += tried
            if obj < best_obj:
                best_obj = obj
                best_assign[:] = cand
        out_assign[wi] = best_assign
        frame_cost(best_assign, frame, work.busy, out_metrics[wi])
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
    busy = np.zeros(n_dev)
    met = np.zeros(N_METRICS)
    total = n_dev ** n
    for code in range(total):
        x = code
        for i in range(n):
            assign[i] = x % n_dev
            x //= n_dev
        frame_cost(assign, frame, busy, met)
        for wi in range(n_w):
            obj = objective(met, Goal(weights[wi], p_ref, e_ref))
            if obj < best[wi]:
                best[wi] = obj
                best_assign[wi] = assign
    return best_assign, best
