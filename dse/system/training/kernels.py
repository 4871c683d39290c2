"""Schedule kernels of the training kind (numba, cache=True): the exact pipeline-schedule simulator
and the unit-time reordering used to build schedules from repeated building blocks.

A schedule is p devices' ordered lists of passes over S virtual stages (S = p x chunks per device)
and n microbatches, flattened into :class:`Passes` (device d's passes are positions
``dev_start[d] .. dev_start[d+1]-1``). A pass is F (forward), B (activation gradient), W (weight
gradient) or BW (B and W fused, as in 1F1B and GPipe).

Dependencies of one microbatch j (``stage_device[s]`` is the device holding virtual stage s):

    F(j, s)    after F(j, s-1)                      (s > 0)
    B(j, s)    after B(j, s+1), or F(j, S-1) at s = S-1      (BW: the same, as one pass)
    W(j, s)    after B(j, s)                        (same device)

plus the device order: a pass starts when its device has finished the pass before it. Timing
(:func:`simulate`): ``start = max(end of the device's previous pass, end of the data predecessor
+ comm)``, ``end = start + duration``, with ``comm = comm_s[boundary]`` only when the predecessor ran
on another device (boundary s-1 -> s for F, s -> s+1 for B). The order fixes the dependency graph, so
:func:`prepare` sorts it topologically once per schedule (a cycle = a schedule that deadlocks) and a
simulation is one pass over that order: O(passes).

Activation memory (bytes, per device) follows the device order: F allocates ``alloc[s]`` when it
starts; ``memory_model`` 0 (default): W (or BW) frees all of it when it ends; 1 (the Zero Bubble
paper's model): B frees ``alloc[s] - keep[s]`` when it ends and W frees ``keep[s]``. Passes on one
device never overlap, so the peak is the running maximum after each F along the device order (a free
at t comes before an allocation at t). Lifespan of (j, s) = end of its W (BW) - start of its F.

In short: a schedule is each device's order of passes: F (forward), B (activation gradient), W (weight
gradient), or a fused BW (1F1B, GPipe), over stages and microbatches. The simulator is exact for a given
order: a pass starts when its device has finished the pass before it and its predecessor (F of the stage
before, B of the stage after, B before W) has ended, plus a send when that ran on another device.
Activations of a microbatch are allocated when its F starts and freed when its W (or BW) ends
(`memory_model: zero_bubble`: B frees part). From this come the makespan, the bubble rate (1 − busiest
device's busy time / longest device span, as the Zero Bubble paper defines it, and the same against the
makespan), each device's peak activation memory in bytes and in microbatch units (one microbatch's
activations on one device, 1F1B's unit) and each stage's longest lifespan.
"""

from __future__ import annotations

from typing import NamedTuple

from dse.jit import nb
import numpy as np

F, B, W, BW = 0, 1, 2, 3
PASS_NAMES = ("F", "B", "W", "BW")

# Per-device result columns of simulate().
D_BUSY, D_FIRST, D_LAST, D_PEAK = range(4)
N_DEV_COLS = 4


class Passes(NamedTuple):
    """A schedule as flat arrays (one row per pass, in device order) plus what :func:`prepare`
    derived from it."""

    kind: np.ndarray           # F / B / W / BW (int64)
    mb: np.ndarray             # microbatch (int64)
    stage: np.ndarray          # virtual stage (int64)
    device: np.ndarray         # device of the pass (int64)
    dev_start: np.ndarray      # [p + 1] first position of each device (int64)
    stage_device: np.ndarray   # [S] device of each virtual stage (int64)
    pred: np.ndarray           # data predecessor's position, -1 none (int64)
    comm: np.ndarray           # boundary index whose comm_s applies, -1 none (same device) (int64)
    prev: np.ndarray           # the device's previous position, -1 first (int64)
    topo: np.ndarray           # positions in a dependency-respecting order (int64)


class PassCosts(NamedTuple):
    """Per virtual stage: pass durations (s), boundary communication (s), activation bytes."""

    f_s: np.ndarray            # [S] forward
    b_s: np.ndarray            # [S] activation gradient
    w_s: np.ndarray            # [S] weight gradient
    comm_s: np.ndarray         # [S] send between stage s and s+1 (either direction); last unused
    alloc: np.ndarray          # [S] bytes an F allocates
    keep: np.ndarray           # [S] bytes still held after B until W (memory model 1)
    memory_model: int          # 0: freed at the end of W / BW; 1: B frees alloc - keep, W keep


@nb.njit(cache=True)
def prepare(kind, mb, stage, dev_start, stage_device, n_mb, n_stage):
    """Data predecessors, device predecessors and a topological order of a schedule's passes.

    Returns (pred, comm, prev, device, topo, status): status 0 ok; 1 a pass appears twice or a
    predecessor is missing (W without B, B without F ...); 2 the orders deadlock (a cycle)."""
    n = kind.shape[0]
    p = dev_start.shape[0] - 1
    pos = np.full((4, n_mb, n_stage), -1, np.int64)
    device = np.empty(n, np.int64)
    prev = np.full(n, -1, np.int64)
    for d in range(p):
        for i in range(dev_start[d], dev_start[d + 1]):
            device[i] = d
            if i > dev_start[d]:
                prev[i] = i - 1
            k, j, s = kind[i], mb[i], stage[i]
            if pos[k, j, s] >= 0 or stage_device[s] != d:
                return prev, prev, prev, device, prev, 1
            pos[k, j, s] = i
    pred = np.full(n, -1, np.int64)
    comm = np.full(n, -1, np.int64)
    for i in range(n):
        k, j, s = kind[i], mb[i], stage[i]
        q = -1
        boundary = -1
        if k == F:
            if s > 0:
                q = pos[F, j, s - 1]
                boundary = s - 1
                if q < 0:
                    return pred, comm, prev, device, pred, 1
        elif k == B or k == BW:
            if s == n_stage - 1:
                q = pos[F, j, s]
                boundary = -1
            else:
                q = pos[B, j, s + 1]
                if q < 0:
                    q = pos[BW, j, s + 1]
                boundary = s
            if q < 0 or pos[F, j, s] < 0:
                return pred, comm, prev, device, pred, 1
        else:
            q = pos[B, j, s]
            if q < 0:
                return pred, comm, prev, device, pred, 1
        pred[i] = q
        if q >= 0 and boundary >= 0 and device[q] != device[i]:
            comm[i] = boundary
    # Kahn: each pass waits for at most two others (its data and device predecessors).
    waiting = np.zeros(n, np.int64)
    succ_head = np.full(n, -1, np.int64)
    succ_next = np.full(2 * n, -1, np.int64)
    succ_node = np.empty(2 * n, np.int64)
    edges = 0
    for i in range(n):
        for q in (pred[i], prev[i]):
            if q >= 0:
                waiting[i] += 1
                succ_node[edges] = i
                succ_next[edges] = succ_head[q]
                succ_head[q] = edges
                edges += 1
    topo = np.empty(n, np.int64)
    stack = np.empty(n, np.int64)
    top = 0
    for i in range(n):
        if waiting[i] == 0:
            stack[top] = i
            top += 1
    done = 0
    while top > 0:
        top -= 1
        i = stack[top]
        topo[done] = i
        done += 1
        e = succ_head[i]
        while e >= 0:
            c = succ_node[e]
            waiting[c] -= 1
            if waiting[c] == 0:
                stack[top] = c
                top += 1
            e = succ_next[e]
    if done < n:
        return pred, comm, prev, device, topo, 2
    return pred, comm, prev, device, topo, 0


@nb.njit(cache=True)
def pass_time(kind, s, costs):
    """Duration of one pass: F f_s, B b_s, W w_s, BW b_s + w_s."""
    if kind == F:
        return costs.f_s[s]
    if kind == B:
        return costs.b_s[s]
    if kind == W:
        return costs.w_s[s]
    return costs.b_s[s] + costs.w_s[s]


@nb.njit(cache=True)
def simulate(sched, costs, start, end, dev_out, life):
    """Run a prepared schedule with real costs (see the module docstring for every rule).

    Fills ``start`` / ``end`` [passes], ``dev_out`` [p, N_DEV_COLS] (busy time, first start, last
    end, peak activation bytes) and ``life`` [S] (longest lifespan of a microbatch on each stage).
    Returns the makespan (last end - first start)."""
    p = sched.dev_start.shape[0] - 1
    for idx in range(sched.topo.shape[0]):
        i = sched.topo[idx]
        t = 0.0
        if sched.prev[i] >= 0:
            t = end[sched.prev[i]]
        q = sched.pred[i]
        if q >= 0:
            ready = end[q]
            if sched.comm[i] >= 0:
                ready += costs.comm_s[sched.comm[i]]
            if ready > t:
                t = ready
        start[i] = t
        end[i] = t + pass_time(sched.kind[i], sched.stage[i], costs)
    first = np.inf
    last = -np.inf
    for s in range(life.shape[0]):
        life[s] = 0.0
    n_mb = 0
    for i in range(sched.mb.shape[0]):
        if sched.mb[i] + 1 > n_mb:
            n_mb = sched.mb[i] + 1
    f_start = np.zeros((n_mb, life.shape[0]))
    for d in range(p):
        busy = 0.0
        mem = 0.0
        peak = 0.0
        a, b = sched.dev_start[d], sched.dev_start[d + 1]
        for i in range(a, b):
            k, s = sched.kind[i], sched.stage[i]
            busy += end[i] - start[i]
            if k == F:
                mem += costs.alloc[s]
                if mem > peak:
                    peak = mem
                f_start[sched.mb[i], s] = start[i]
            elif k == B:
                if costs.memory_model == 1:
                    mem -= costs.alloc[s] - costs.keep[s]
            else:                                  # W or BW: the microbatch's stage is done
                if k == BW or costs.memory_model == 0:
                    mem -= costs.alloc[s]
                else:
                    mem -= costs.keep[s]
                span = end[i] - f_start[sched.mb[i], s]
                if span > life[s]:
                    life[s] = span
        dev_out[d, D_BUSY] = busy
        dev_out[d, D_FIRST] = start[a] if b > a else 0.0
        dev_out[d, D_LAST] = end[b - 1] if b > a else 0.0
        dev_out[d, D_PEAK] = peak
        if b > a:
            if start[a] < first:
                first = start[a]
            if end[b - 1] > last:
                last = end[b - 1]
    return last - first


@nb.njit(cache=True)
def unit_peaks(kind, stage, dev_start, n_stage):
    """The most microbatches whose activations are live at once along the device order (an F counts
    one in when it starts, a W or BW one out when it ends): per device and stage [p, S], and per
    device over all its stages [p] (int64)."""
    p = dev_start.shape[0] - 1
    out = np.zeros((p, n_stage), np.int64)
    total = np.zeros(p, np.int64)
    for d in range(p):
        live = np.zeros(n_stage, np.int64)
        level = 0
        for i in range(dev_start[d], dev_start[d + 1]):
            s = stage[i]
            if kind[i] == F:
                live[s] += 1
                level += 1
                if live[s] > out[d, s]:
                    out[d, s] = live[s]
                if level > total[d]:
                    total[d] = level
            elif kind[i] == W or kind[i] == BW:
                live[s] -= 1
                level -= 1
    return out, total


@nb.njit(cache=True)
def greedy_reorder(stage_device, n_mb, p, stage_cap, device_cap, costs):
    """A schedule built pass by pass, list-scheduling style, the way the Zero Bubble and
    Controllable Memory generators fill warm-up and cool-down. Devices take turns in order of the
    time they fall free; a free device at time t runs, in this priority:

        1. the B of the earliest microbatch whose predecessor (+ comm) has ended by t (the critical
           path; ties: the later stage);
        2. else the F of the earliest microbatch ready by t, if its stage holds fewer than
           ``stage_cap[s]`` live microbatches and the device fewer than ``device_cap[d]`` chunk
           activations (the caps keep the peak at the block's);
        3. else its oldest pending W;
        4. else it idles until the next pass of any device ends.

    Pass times and sends come from ``costs`` (kernels.PassCosts; unit costs give the block
    generators' slot model). Returns (kind, mb, stage, dev_start, ok); ok False when the caps
    deadlock it (the caller then keeps the block's own order)."""
    S = stage_device.shape[0]
    total = 3 * n_mb * S
    kind = np.empty(total, np.int64)
    mb = np.empty(total, np.int64)
    stg = np.empty(total, np.int64)
    dev_of = np.empty(total, np.int64)
    f_end = np.full((n_mb, S), np.inf)
    b_end = np.full((n_mb, S), np.inf)
    next_f = np.zeros(S, np.int64)
    next_b = np.zeros(S, np.int64)
    live = np.zeros(S, np.int64)
    mem = np.zeros(p, np.int64)
    free = np.zeros(p)
    wq_mb = np.empty((p, n_mb * S), np.int64)
    wq_s = np.empty((p, n_mb * S), np.int64)
    wq_head = np.zeros(p, np.int64)
    wq_tail = np.zeros(p, np.int64)
    count = 0
    while count < total:
        d = 0
        for e in range(1, p):                      # the device that falls free first
            if free[e] < free[d]:
                d = e
        t = free[d]
        if t == np.inf:                            # every device waits on another: the caps deadlock
            break
        best_s = -1
        best_j = n_mb
        best_k = -1
        for s in range(S):
            if stage_device[s] != d or next_b[s] >= n_mb:
                continue
            j = next_b[s]
            if s == S - 1:
                ready = f_end[j, s]
            else:
                ready = b_end[j, s + 1]
                if stage_device[s + 1] != d:
                    ready += costs.comm_s[s]
            if ready <= t and (j < best_j or (j == best_j and s > best_s)):
                best_j, best_s, best_k = j, s, B
        if best_k < 0 and mem[d] < device_cap[d]:
            for s in range(S):
                if stage_device[s] != d or next_f[s] >= n_mb or live[s] >= stage_cap[s]:
                    continue
                j = next_f[s]
                ready = 0.0
                if s > 0:
                    ready = f_end[j, s - 1]
                    if stage_device[s - 1] != d:
                        ready += costs.comm_s[s - 1]
                if ready <= t and (j < best_j or (j == best_j and s > best_s)):
                    best_j, best_s, best_k = j, s, F
        if best_k < 0 and wq_head[d] < wq_tail[d]:
            best_j = wq_mb[d, wq_head[d]]
            best_s = wq_s[d, wq_head[d]]
            best_k = W
            wq_head[d] += 1
        if best_k < 0:                             # idle until the next end elsewhere
            nxt = np.inf
            for e in range(p):
                if free[e] > t and free[e] < nxt:
                    nxt = free[e]
            for s in range(S):                     # or until a pass of this device gets ready
                if stage_device[s] != d:
                    continue
                if next_b[s] < n_mb:
                    r = f_end[next_b[s], s] if s == S - 1 else b_end[next_b[s], s + 1]
                    if r > t and r < nxt:
                        nxt = r
                if next_f[s] < n_mb and s > 0:
                    r = f_end[next_f[s], s - 1]
                    if r > t and r < nxt:
                        nxt = r
            if nxt == np.inf:                      # park it until another device starts a pass
                free[d] = np.inf
                continue
            for e in range(p):                     # a device parked at inf may run again now
                if free[e] == np.inf:
                    free[e] = nxt
            free[d] = nxt
            continue
        for e in range(p):
            if free[e] == np.inf:
                free[e] = t
        kind[count] = best_k
        mb[count] = best_j
        stg[count] = best_s
        dev_of[count] = d
        count += 1
        if best_k == F:
            free[d] = t + costs.f_s[best_s]
            f_end[best_j, best_s] = free[d]
            next_f[best_s] += 1
            live[best_s] += 1
            mem[d] += 1
        elif best_k == B:
            free[d] = t + costs.b_s[best_s]
            b_end[best_j, best_s] = free[d]
            next_b[best_s] += 1
            wq_mb[d, wq_tail[d]] = best_j
            wq_s[d, wq_tail[d]] = best_s
            wq_tail[d] += 1
        else:
            free[d] = t + costs.w_s[best_s]
            live[best_s] -= 1
            mem[d] -= 1
    order = np.argsort(dev_of[:count], kind="mergesort")
    dev_start = np.zeros(p + 1, np.int64)
    for i in range(count):
        dev_start[dev_of[i] + 1] += 1
    for d in range(p):
        dev_start[d + 1] += dev_start[d]
    return kind[order], mb[order], stg[order], dev_start, count == total
