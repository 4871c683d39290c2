"""Chiplet-pipeline evaluator (SCAR / inter-layer scheduling) and its inner mapping optimiser.

A mapping assigns every op of the frame to a chiplet. The kernels read the op x chiplet cost table
(dse.cost.dataflow), which does not depend on the mapping, so one mapping evaluation is a pass of
gathers and sums over the ops (microseconds).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

# Indices into the metrics vector returned by evaluate().
M_PERIOD, M_LATENCY, M_ENERGY, M_DRAM, M_NOP_BYTES, M_NOP_J = 0, 1, 2, 3, 4, 5
N_METRICS = 6


@dataclass(frozen=True)
class Context:
    """Everything the pipeline kernels need, as arrays (built once per hardware point)."""

    time: np.ndarray         # [n, c] op latency on chiplet (s)
    energy: np.ndarray       # [n, c] op energy on chiplet (J)
    dram: np.ndarray         # [n, c] op DRAM bytes on chiplet
    macs: np.ndarray         # [n]
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
    peak_macs_per_s: np.ndarray  # [c] PEs * clock

    def args(self) -> tuple:
        return (self.time, self.energy, self.dram, self.out_bytes, self.mult, self.model, self.first,
                self.n_models, self.hops, self.route, self.link_bytes_per_s, self.link_pj_per_bit,
                self.hop_latency_s, self.dram_bytes_per_s, self.pipelining)


@njit(cache=True)
def evaluate(assign, time, energy, dram, out_bytes, mult, model, first, n_models, hops, route,
             link_bytes_per_s, link_pj_per_bit, hop_latency_s, dram_bytes_per_s, pipelining,
             busy, metrics):
    """Frame metrics of a mapping. ``busy[c]`` gets chiplet c's busy time per frame.

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
    transfer times (floored by the DRAM term). Energy per frame sums ops and transfers.
    """
    n = assign.shape[0]
    n_dev = busy.shape[0]
    n_links = route.shape[2]
    link_busy = np.zeros(n_links)
    chain = np.zeros(n_models)
    counts = np.ones(n_models)
    stage = np.zeros((n_models, n_dev))
    for c in range(n_dev):
        busy[c] = 0.0
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
                h = hops[p, c]
                tx = b / link_bytes_per_s + h * hop_latency_s
                chain[m] += tx
                serial += k * tx
                ej = b * 8.0 * link_pj_per_bit * h * 1e-12
                e_total += k * ej
                nop_j += k * ej
                nop_bytes += k * b
                for l in range(n_links):
                    if route[p, c, l] == 1:
                        link_busy[l] += k * b / link_bytes_per_s
    dram_s = dram_total / dram_bytes_per_s
    if pipelining:
        period = dram_s
        for c in range(n_dev):
            if busy[c] > period:
                period = busy[c]
        for l in range(n_links):
            if link_busy[l] > period:
                period = link_busy[l]
        latency = period
        for m in range(n_models):
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
    metrics[0] = period
    metrics[1] = latency
    metrics[2] = e_total
    metrics[3] = dram_total
    metrics[4] = nop_bytes
    metrics[5] = nop_j


@njit(cache=True)
def _objective(metrics, w, p_ref, e_ref):
    """Scalarised objective of the inner search: (1 - w) * period / P_ref + w * energy / E_ref."""
    return (1.0 - w) * metrics[0] / p_ref + w * metrics[2] / e_ref


@njit(cache=True)
def _viterbi(node, out_bytes, first, hops, link_bytes_per_s, hop_latency_s, link_pj_per_bit, mult,
             wt, we, assign):
    """Exact minimum of sum_i node[i, a_i] + sum_i edge(i, a_{i-1}, a_i) over all mappings,
    where edge = mult * (wt * transfer_s + we * transfer_J) between consecutive ops of a model.
    Dynamic programming over the op chain with the chiplet of the current op as state: O(n c^2)."""
    n, n_dev = node.shape
    best = np.empty((n, n_dev))
    back = np.zeros((n, n_dev), dtype=np.int64)
    for i in range(n):
        for c in range(n_dev):
            if first[i] == 1:
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
                b = out_bytes[i - 1]
                lo = np.inf
                arg = 0
                for p in range(n_dev):
                    edge = 0.0
                    if p != c:
                        h = hops[p, c]
                        edge = mult[i] * (wt * (b / link_bytes_per_s + h * hop_latency_s)
                                          + we * b * 8.0 * link_pj_per_bit * h * 1e-12)
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
def _best_move(cand, lo, hi, w, p_ref, e_ref, current, time, energy, dram, out_bytes, mult, model,
               first, n_models, hops, route, link_bytes_per_s, link_pj_per_bit, hop_latency_s,
               dram_bytes_per_s, pipelining, busy, met):
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
        evaluate(cand, time, energy, dram, out_bytes, mult, model, first, n_models, hops, route,
                 link_bytes_per_s, link_pj_per_bit, hop_latency_s, dram_bytes_per_s, pipelining,
                 busy, met)
        obj = _objective(met, w, p_ref, e_ref)
        if obj < best_obj - 1e-12 * abs(best_obj):
            best_obj = obj
            best_c = c
    for k in range(lo, hi + 1):
        cand[k] = best_c
    return best_obj, n_dev - 1


@njit(cache=True)
def _local_search(cand, w, p_ref, e_ref, sweeps, time, energy, dram, out_bytes, mult, model, first,
                  n_models, hops, route, link_bytes_per_s, link_pj_per_bit, hop_latency_s,
                  dram_bytes_per_s, pipelining, busy, met):
    """Descend from ``cand`` (modified in place): for each run of consecutive ops of a model on one
    chiplet, try moving its first op, its last op, or the whole run to the best other chiplet;
    repeat until a sweep improves nothing (or ``sweeps`` passes). Returns (objective, evaluated)."""
    n = cand.shape[0]
    evaluate(cand, time, energy, dram, out_bytes, mult, model, first, n_models, hops, route,
             link_bytes_per_s, link_pj_per_bit, hop_latency_s, dram_bytes_per_s, pipelining, busy, met)
    best_obj = _objective(met, w, p_ref, e_ref)
    evaluated = 1
    for sweep in range(sweeps):
        improved = False
        i = 0
        while i < n:
            j = i
            while j + 1 < n and first[j + 1] == 0 and cand[j + 1] == cand[i]:
                j += 1
            for move in range(3):
                if move > 0 and i == j:
                    break
                lo = i if move < 2 else j
                hi = j if move == 1 else lo
                obj, tried = _best_move(cand, lo, hi, w, p_ref, e_ref, best_obj, time, energy, dram,
                                        out_bytes, mult, model, first, n_models, hops, route,
                                        link_bytes_per_s, link_pj_per_bit, hop_latency_s,
                                        dram_bytes_per_s, pipelining, busy, met)
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
def optimise(time, energy, dram, out_bytes, mult, model, first, n_models, hops, route,
             link_bytes_per_s, link_pj_per_bit, hop_latency_s, dram_bytes_per_s, pipelining,
             weights, iterations, sweeps, kicks, seed):
    """Inner optimiser: for each objective weight w in ``weights`` (0 = fastest frame period,
    1 = least energy per frame), the mapping minimising (1 - w) period/P_ref + w energy/E_ref.

    1. Lagrangian relaxation: the bottleneck period is replaced by a weighted sum of chiplet busy
       times, sum_c lambda_c busy_c, which the exact chain DP (_viterbi) minimises together with
       the energy and transfer terms; lambda_c shrinks on chiplets below the period,
       lambda_c <- lambda_c * exp(eta_t (busy_c / period - 1)), eta_t = 1 / (1 + t/10), for
       ``iterations`` rounds (without pipelining the objective is already a sum, and one round
       is exact).
    2. Local search (_local_search) from the Lagrangian best, from "each op on its fastest
       chiplet" and from "everything on chiplet c" for every c; keep the best.
    3. Iterated local search: ``kicks`` times, move a random run or op of the best mapping to a
       random chiplet, descend again, keep the result if it is better (seeded: deterministic).
    P_ref and E_ref are the period and energy of the mapping that puts each op on its fastest
    chiplet. Returns (assignments [w, n], metrics [w, N_METRICS], mappings evaluated).
    """
    np.random.seed(seed)
    n, n_dev = time.shape
    n_w = weights.shape[0]
    busy = np.zeros(n_dev)
    met = np.zeros(6)
    fastest = np.zeros(n, dtype=np.int64)
    for i in range(n):
        a = 0
        for c in range(1, n_dev):
            if time[i, c] < time[i, a]:
                a = c
        fastest[i] = a
    evaluate(fastest, time, energy, dram, out_bytes, mult, model, first, n_models, hops, route,
             link_bytes_per_s, link_pj_per_bit, hop_latency_s, dram_bytes_per_s, pipelining, busy, met)
    p_ref = met[0]
    e_ref = met[2]
    out_assign = np.zeros((n_w, n), dtype=np.int64)
    out_metrics = np.zeros((n_w, 6))
    evaluated = 1
    node = np.empty((n, n_dev))
    lam = np.empty(n_dev)
    cand = np.zeros(n, dtype=np.int64)
    best_assign = np.zeros(n, dtype=np.int64)
    lagr = np.zeros(n, dtype=np.int64)
    for wi in range(n_w):
        w = weights[wi]
        for c in range(n_dev):
            lam[c] = 1.0
        best_obj = np.inf
        rounds = iterations if pipelining else 1
        for it in range(rounds):
            for i in range(n):
                for c in range(n_dev):
                    node[i, c] = mult[i] * ((1.0 - w) * lam[c] * time[i, c] / p_ref
                                            + w * energy[i, c] / e_ref)
            _viterbi(node, out_bytes, first, hops, link_bytes_per_s, hop_latency_s,
                     link_pj_per_bit, mult, (1.0 - w) / p_ref, w / e_ref, cand)
            evaluate(cand, time, energy, dram, out_bytes, mult, model, first, n_models, hops,
                     route, link_bytes_per_s, link_pj_per_bit, hop_latency_s, dram_bytes_per_s,
                     pipelining, busy, met)
            evaluated += 1
            obj = _objective(met, w, p_ref, e_ref)
            if obj < best_obj:
                best_obj = obj
                lagr[:] = cand
            eta = 1.0 / (1.0 + 0.1 * it)
            for c in range(n_dev):
                lam[c] *= np.exp(eta * (busy[c] / met[0] - 1.0))
            top = lam.max()
            for c in range(n_dev):
                lam[c] /= top
        best_obj = np.inf
        for attempt in range(2 + n_dev + kicks):
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
                    while lo > 0 and first[lo] == 0 and cand[lo - 1] == cand[i]:
                        lo -= 1
                    while hi + 1 < n and first[hi + 1] == 0 and cand[hi + 1] == cand[i]:
                        hi += 1
                target = np.random.randint(0, n_dev)
                for k in range(lo, hi + 1):
                    cand[k] = target
            obj, tried = _local_search(cand, w, p_ref, e_ref, sweeps, time, energy, dram, out_bytes,
                                       mult, model, first, n_models, hops, route, link_bytes_per_s,
                                       link_pj_per_bit, hop_latency_s, dram_bytes_per_s,
                                       pipelining, busy, met)
            evaluated += tried
            if obj < best_obj:
                best_obj = obj
                best_assign[:] = cand
        out_assign[wi] = best_assign
        evaluate(best_assign, time, energy, dram, out_bytes, mult, model, first, n_models, hops,
                 route, link_bytes_per_s, link_pj_per_bit, hop_latency_s, dram_bytes_per_s,
                 pipelining, busy, out_metrics[wi])
    return out_assign, out_metrics, evaluated


@njit(cache=True)
def brute_force(time, energy, dram, out_bytes, mult, model, first, n_models, hops, route,
                link_bytes_per_s, link_pj_per_bit, hop_latency_s, dram_bytes_per_s, pipelining,
                weights, p_ref, e_ref):
    """Every one of the c^n mappings; the best per weight under the same scalarised objective
    as optimise() with the given P_ref, E_ref. For small cases and for testing the optimiser."""
    n, n_dev = time.shape
    n_w = weights.shape[0]
    assign = np.zeros(n, dtype=np.int64)
    best = np.full(n_w, np.inf)
    best_assign = np.zeros((n_w, n), dtype=np.int64)
    busy = np.zeros(n_dev)
    met = np.zeros(6)
    total = n_dev ** n
    for code in range(total):
        x = code
        for i in range(n):
            assign[i] = x % n_dev
            x //= n_dev
        evaluate(assign, time, energy, dram, out_bytes, mult, model, first, n_models, hops, route,
                 link_bytes_per_s, link_pj_per_bit, hop_latency_s, dram_bytes_per_s, pipelining,
                 busy, met)
        for wi in range(n_w):
            obj = _objective(met, weights[wi], p_ref, e_ref)
            if obj < best[wi]:
                best[wi] = obj
                best_assign[wi] = assign
    return best_assign, best
