"""Serving kernels (numba, cache=True): the request-level simulator and the greedy replica placement
it guides. Arguments are named bundles (:class:`Requests`, :class:`Groups`, :class:`Policy`).

The simulator (AlpaServe's request-level model, no batching). Requests arrive in time order; a
group of GPUs runs one parallel configuration of ``stages`` pipeline stages; model m on group g
takes ``latency[m, g, k]`` seconds on stage k. Each stage serves requests first come, first served,
one at a time. Request i of model m, arriving at a_i, is routed to the group that holds m and would
finish it first (the least-loaded one; ties go to the lowest group index), and walks its stages:

    t_0 = a_i;   t_{k+1} = max(t_k, clock[g, k]) + latency[m, g, k];   finish_i = t_S + overhead_s

Admission (``reject``): a request with finish_i - a_i > slo[m] is rejected on arrival -- it takes
no GPU time and counts as a miss. ``serve_late``: every request is served; one that finishes
after its SLO is a miss. A served request moves the clocks: clock[g, k] = t_{k+1}; each stage's
busy time grows by its latency. Status per request: GOOD (served within its SLO), LATE (served,
missed), REJECTED, UNPLACED (no group holds its model).
"""

from __future__ import annotations

from typing import NamedTuple

from dse.jit import nb
import numpy as np

GOOD, LATE, REJECTED, UNPLACED = 0, 1, 2, 3
STATUS_NAMES = ("good", "late", "rejected", "unplaced")


class Requests(NamedTuple):
    arrival_s: np.ndarray      # float64 [n], ascending
    model: np.ndarray          # int64 [n]


class Groups(NamedTuple):
    stages: np.ndarray         # int64 [G]: pipeline stages of each group
    latency: np.ndarray        # float64 [M, G, S]: stage latencies (inf: the model cannot run there)
    memory: np.ndarray         # float64 [M, G]: bytes per GPU a replica of model m takes on group g
    capacity: float            # bytes per GPU the replicas of a group may take together


class Policy(NamedTuple):
    slo_s: np.ndarray          # float64 [M]
    overhead_s: float          # fixed per request, after the last stage
    reject: bool               # admission control (else serve late)
    window_start_s: float      # statistics cover arrivals in [start, end)
    window_end_s: float


class Scratch(NamedTuple):
    finish: np.ndarray         # float64 [n]
    status: np.ndarray         # int8 [n]
    route: np.ndarray          # int64 [n]
    clock: np.ndarray          # float64 [G, S]
    busy: np.ndarray           # float64 [G, S]


def scratch(n: int, groups: Groups) -> Scratch:
    G, S = groups.latency.shape[1], max(1, groups.latency.shape[2])
    return Scratch(np.empty(n), np.empty(n, np.int8), np.empty(n, np.int64), np.empty((G, S)), np.empty((G, S)))


@nb.njit(cache=True)
def simulate(req, groups, placed, policy, s):
    """One run of the simulator (see the module docstring) over ``placed`` (uint8 [M, G]: 1 where a
    replica of model m sits on group g), into the :class:`Scratch` ``s``: per request ``finish``
    (s; the arrival time for rejected and unplaced requests), ``status`` and ``route`` (the group,
    -1 if none), and per stage ``busy`` (s, requests arriving in the window only); ``clock`` [G, S]
    is working state. Returns the number of GOOD requests arriving in the window."""
    finish, status, route, clock, busy = s.finish, s.status, s.route, s.clock, s.busy
    G = groups.stages.shape[0]
    S = clock.shape[1]
    for g in range(G):
        for k in range(S):
            clock[g, k] = 0.0
            busy[g, k] = 0.0
    good = 0
    for i in range(req.arrival_s.shape[0]):
        a = req.arrival_s[i]
        m = req.model[i]
        best = np.inf
        best_g = -1
        for g in range(G):
            if placed[m, g] == 0:
                continue
            t = a
            for k in range(groups.stages[g]):
                c = clock[g, k]
                t = (t if t > c else c) + groups.latency[m, g, k]
            if t < best:
                best = t
                best_g = g
        route[i] = best_g
        if best_g < 0:
            finish[i] = a
            status[i] = UNPLACED
            continue
        done = best + policy.overhead_s
        late = done - a > policy.slo_s[m]
        if late and policy.reject:
            finish[i] = a
            status[i] = REJECTED
            continue
        inside = policy.window_start_s <= a < policy.window_end_s
        t = a
        for k in range(groups.stages[best_g]):
            c = clock[best_g, k]
            lat = groups.latency[m, best_g, k]
            t = (t if t > c else c) + lat
            clock[best_g, k] = t
            if inside:
                busy[best_g, k] += lat
        finish[i] = done
        if late:
            status[i] = LATE
        else:
            status[i] = GOOD
            if inside:
                good += 1
    return good


@nb.njit(cache=True)
def _fits(groups, placed, used, m, g):
    return (placed[m, g] == 0 and groups.latency[m, g, 0] < np.inf
            and used[g] + groups.memory[m, g] <= groups.capacity)


@nb.njit(cache=True)
def _add(groups, placed, used, held, m, g):
    placed[m, g] = 1
    used[g] += groups.memory[m, g]
    held[m] += 1


@nb.njit(cache=True)
def greedy_place(req, groups, policy, fast, placed, s):
    """Greedy replica placement guided by the simulator; fills ``placed`` (uint8 [M, G]) and returns
    the number of simulator runs. Each round simulates the current placement and ranks the models:
    those without a replica first (a service hosts every model it offers before it adds second
    copies), then by their requests not served within SLO (in the window), most first. Then, while
    memory allows:

    ``fast`` (AlpaServe's fast greedy): add a replica of the first model in that order that fits on
    the group that received the fewest requests (one simulation per replica added).

    otherwise (simulated): for the first model in that order with a replica that helps, try it on
    every group it fits on and keep the one that serves the most requests within SLO; a model whose
    every candidate serves no more than now is passed over for the next (except for its first
    replica, which goes where it serves most even if the total does not grow); stop when no model's
    replica helps. A group holds replicas while the sum of their bytes per GPU fits ``capacity``."""
    M, G = groups.memory.shape[0], groups.memory.shape[1]
    n = req.arrival_s.shape[0]
    for m in range(M):
        for g in range(G):
            placed[m, g] = 0
    used = np.zeros(G)                         # bytes per GPU of each group's replicas
    held = np.zeros(M, dtype=np.int64)         # replicas of each model
    runs = 0
    unserved = np.zeros(M)
    load = np.zeros(G)
    rank = np.zeros(M)
    while True:
        good = simulate(req, groups, placed, policy, s)
        runs += 1
        unserved[:] = 0.0
        load[:] = 0.0
        for i in range(n):
            a = req.arrival_s[i]
            if policy.window_start_s <= a < policy.window_end_s:
                if s.status[i] != GOOD:
                    unserved[req.model[i]] += 1.0
                if s.route[i] >= 0:
                    load[s.route[i]] += 1.0
        for m in range(M):                     # models with no replica yet come first
            rank[m] = unserved[m] + (n + 1.0 if held[m] == 0 else 0.0)
        order = np.argsort(-rank, kind="mergesort")
        added = False
        if fast:
            for g in np.argsort(load, kind="mergesort"):
                for m in order:
                    if _fits(groups, placed, used, m, g):
                        _add(groups, placed, used, held, m, g)
                        added = True
                        break
                if added:
                    break
        else:
            for m in order:
                if unserved[m] <= 0.0:
                    break
                best_g = -1
                best = good if held[m] > 0 else -1      # a model's first replica goes in regardless
                for g in range(G):
                    if not _fits(groups, placed, used, m, g):
                        continue
                    placed[m, g] = 1
                    got = simulate(req, groups, placed, policy, s)
                    runs += 1
                    placed[m, g] = 0
                    if got > best:
                        best = got
                        best_g = g
                if best_g >= 0:
                    _add(groups, placed, used, held, m, best_g)
                    added = True
                    break
        if not added:
            break
    return runs

