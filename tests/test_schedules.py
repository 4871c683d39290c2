"""Pipeline schedules: the simulator against closed forms (REFERENCES.md), a plain-Python twin,
the Zero Bubble paper's Table 5 and the building-block memory bound."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from dse.system.training import schedules as S
from dse.system.training.kernels import BW, B, F, W, D_BUSY, D_FIRST, D_LAST, D_PEAK, PassCosts, simulate


def run(s, f=1.0, b=1.0, w=1.0, comm=0.0, memory_model=0, keep=1.0):
    """Simulate with per-device pass times f, b, w (each chunk of a device takes 1/v of them), one
    unit of activations per microbatch per device. Returns (makespan, bubble by span, bubble by
    makespan, peak per device, lifespans, start, end)."""
    passes = S.prepared(s)
    n, stages, v = len(s.kind), s.stages, s.v
    costs = PassCosts(np.full(stages, f / v), np.full(stages, b / v), np.full(stages, w / v),
                      np.full(stages, comm), np.full(stages, 1.0 / v), np.full(stages, keep / v), memory_model)
    start, end, dev, life = np.empty(n), np.empty(n), np.empty((s.p, 4)), np.empty(stages)
    makespan = simulate(passes, costs, start, end, dev, life)
    busy = dev[:, D_BUSY].max()
    span = (dev[:, D_LAST] - dev[:, D_FIRST]).max()
    return makespan, 1 - busy / span, 1 - busy / makespan, dev[:, D_PEAK], life, start, end


def twin(s, f, b, w, comm):
    """Plain-Python twin of the simulator: a pass ends at max(its device's previous pass's end, its
    data predecessor's end + the send of the boundary between them if on another device) + its
    duration (memoised recursion). f, b, w, comm: per-device scalars (each chunk 1/v of them) or
    per-stage arrays (comm[s]: the boundary s -> s+1)."""
    dev_of = {}
    prev = {}
    for d in range(s.p):
        items = [(int(k), int(j), int(st)) for k, j, st in zip(s.kind[s.dev_start[d]:s.dev_start[d + 1]],
                                                             s.mb[s.dev_start[d]:s.dev_start[d + 1]],
                                                             s.stage[s.dev_start[d]:s.dev_start[d + 1]])]
        for i, x in enumerate(items):
            dev_of[x] = d
            prev[x] = items[i - 1] if i else None
    kinds = {x[:1] + x[1:]: x for x in dev_of}
    stages = s.stages
    def per_stage(x):
        return np.asarray(x, float) if np.ndim(x) else np.full(stages, x / s.v)

    fs, bs, ws = per_stage(f), per_stage(b), per_stage(w)
    cs = np.asarray(comm, float) if np.ndim(comm) else np.full(stages, comm)
    dur = {F: fs, B: bs, W: ws, BW: bs + ws}
    memo: dict = {}

    def end(x):
        if x in memo:
            return memo[x]
        k, j, st = x
        t = end(prev[x]) if prev[x] else 0.0
        if k == F and st > 0:
            q = (F, j, st - 1)
        elif k in (B, BW):
            q = (F, j, st) if st == stages - 1 else ((B, j, st + 1) if (B, j, st + 1) in kinds else (BW, j, st + 1))
        elif k == W:
            q = (B, j, st)
        else:
            q = None
        if q is not None:
            boundary = st - 1 if k == F else st
            c = cs[boundary] if dev_of[q] != dev_of[x] and k != W and not (k in (B, BW) and st == stages - 1) else 0.0
            t = max(t, end(q) + c)
        memo[x] = t + dur[k][st]
        return memo[x]

    import sys
    sys.setrecursionlimit(100000)
    return max(end(x) for x in dev_of)


# --- closed forms (REFERENCES.md "Closed forms"; uniform stages, no communication) ---------------

@pytest.mark.parametrize("p,n", [(4, 8), (8, 32), (8, 24), (5, 17), (16, 64)])
def test_gpipe_and_1f1b_makespan_bubble_and_peaks(p, n):
    for family in ("gpipe", "1f1b"):
        makespan, bubble, _, peak, *_ = run(S.build(family, p, n))
        assert makespan == (n + p - 1) * 3                                   # (n + p - 1)(F + B + W)
        assert bubble == pytest.approx((p - 1) / (n + p - 1))
    _, _, _, peak, *_ = run(S.build("gpipe", p, n))
    assert list(peak) == [n] * p                                             # GPipe: n M on every stage
    _, _, _, peak, *_ = run(S.build("1f1b", p, n))
    assert list(peak) == [min(n, p - i) for i in range(p)]                   # 1F1B: min(n, p - i) M


def test_1f1b_example_p8_n32():
    # REFERENCES.md: p = 8, n = 32, F = B = W = 1: makespan 117, bubble 0.179, peak 8; GPipe peak 32.
    makespan, bubble, _, peak, *_ = run(S.build("1f1b", 8, 32))
    assert makespan == 117 and round(bubble, 3) == 0.179 and peak.max() == 8
    assert run(S.build("gpipe", 8, 32))[3].max() == 32


@pytest.mark.parametrize("f,b,w", [(1, 1, 1), (2.0, 1.5, 0.5), (1.0, 1.2, 0.9)])
@pytest.mark.parametrize("p,n", [(4, 12), (8, 32)])
def test_zb_handcrafted_closed_forms(p, n, f, b, w):
    # ZB-H1: bubble (p - 1)(F + B - W), peak p M_B; ZB-H2: bubble (p - 1)(F + B - 2W), peak (2p - 1) M_B.
    makespan, *_ , peak, _, start, end = run(S.build("zb-h1", p, n), f, b, w)
    assert makespan - n * (f + b + w) == pytest.approx((p - 1) * (f + b - w))
    assert peak.max() == p
    s = S.build("zb-h2", p, n)
    _, _, _, peak, _, start, end = run(s, f, b, w)
    dev = run(s, f, b, w)
    spans = [end[s.dev_start[d + 1] - 1] - start[s.dev_start[d]] for d in range(p)]
    assert max(spans) - n * (f + b + w) == pytest.approx(max(0.0, (p - 1) * (f + b - 2 * w)))
    assert peak.max() == 2 * p - 1
    assert dev[0] >= max(spans)


@pytest.mark.parametrize("p,n,v", [(4, 8, 2), (8, 32, 2), (4, 16, 3), (8, 16, 4)])
def test_interleaved_bubble_and_peaks(p, n, v):
    # Interleaved 1F1B with v chunks: bubble (p - 1)(F + B + W) / v. Memory: device d runs Megatron's
    # (p - 1 - d) 2 + (v - 1) p warm-up chunk forwards and one more before its first BW, after which
    # each F is followed by a BW; a chunk holds 1 / v of a microbatch's activations.
    makespan, _, _, peak, *_ = run(S.build("interleaved", p, n, chunks=v))
    assert makespan - n * 3 == pytest.approx((p - 1) * 3 / v)
    assert list(peak) == pytest.approx([min((p - 1 - d) * 2 + (v - 1) * p + 1, n * v) / v for d in range(p)])


@pytest.mark.parametrize("p", [4, 8])
def test_v_half_and_v_min_peaks(p):
    # REFERENCES.md: V-Min (p + 4) // 3 and V-Half (p + 2) // 2 of 1F1B's p units; ZB-V p.
    assert run(S.build("v-min", p, 3 * p))[3].max() == (p + 4) // 3
    assert run(S.build("v-half", p, 3 * p))[3].max() == (p + 2) // 2
    assert run(S.build("zb-v", p, 3 * p))[3].max() == p
    assert run(S.build("1f1b", p, 3 * p))[3].max() == p


def test_reordering_helps_and_follows_the_costs():
    # Step (3) of the block construction: list scheduling warm-up and cool-down beats the squeezed
    # repetition of the V-Half block (unit slots), and scheduling with the real pass times beats the
    # unit-slot order when F, B, W differ (here F = 0.5, B = 1, W = 0.25 per chunk).
    from dse.system.training.kernels import PassCosts

    unit = S.unit_costs(16)
    rep = S.repeat_block("v-half", "v_shape", 8, 32, dict(S.uniform_v_offsets(8, 2)))
    assert S.makespan(S.build("v-half", 8, 32), unit) < S.makespan(rep, unit)
    # A block whose two chunks peak at different times (the device cap, below the sum of the stage
    # caps, binds): the capped reorder still beats the repetition, at no higher peak.
    offsets = dict(zip(S.BLOCK_OFFSETS["v_shape"], (1, 1, 1, 3, 1, 1, 1)))
    rep = S.repeat_block("block", "v_shape", 3, 12, offsets)
    built = S.build("block", 3, 12, offsets=tuple(offsets.items()))
    assert S.makespan(built, S.unit_costs(6)) < S.makespan(rep, S.unit_costs(6))
    assert np.all(run(built)[3] <= run(rep)[3])
    costs = PassCosts(np.full(16, 0.5), np.full(16, 1.0), np.full(16, 0.25), np.zeros(16), np.ones(16), np.ones(16), 0)
    for family in ("v-half", "zb-v"):
        aware = S.build(family, 8, 32, costs=costs)
        assert S.makespan(aware, costs) < S.makespan(S.build(family, 8, 32), costs)
        assert run(aware)[3].max() <= run(S.build(family, 8, 32))[3].max()     # never above the block's peak


def test_v_blocks_by_their_offsets():
    # A user V block given by its outward / return gaps, turns chosen: gaps (1, 1, 1, 1) and (2, 1, 2, 1)
    # are V-Min's and V-Half's blocks, so they reach (p + 4) // 3 and (p + 2) // 2 units at p = 8.
    for up, units in ((1, (8 + 4) // 3), (2, (8 + 2) // 2)):
        offsets = (("f_up", up), ("f_down", 1), ("b_up", up), ("b_down", 1))
        assert run(S.build("block", 8, 32, offsets=offsets))[3].max() == units
    with pytest.raises(S.ScheduleError, match="collision-free turns"):
        S.block_offsets("v_shape", 8, dict(f_up=3, f_down=2, b_up=1, b_down=1))


def test_bubble_order_of_the_families():
    # p = 8, n = 32, F = B = W: ZB-V < ZB-H1 < V-Half < V-Min < 1F1B (Controllable Memory, Fig. 1);
    # ZB-H2 has no bubble inside a device's span.
    bubble = {fam: run(S.build(fam, 8, 32))[2] for fam in ("zb-v", "zb-h1", "v-half", "v-min", "1f1b")}
    assert bubble["zb-v"] < bubble["zb-h1"] < bubble["v-half"] < bubble["v-min"] < bubble["1f1b"]
    assert run(S.build("zb-h2", 8, 32))[1] == pytest.approx(0.0)


def test_zero_bubble_table5_setting():
    # Zero Bubble PP (arXiv 2401.10241), 1.5B model, p = 8, m = 24, profiled T_F 18.522, T_B 18.086,
    # T_W 9.337, T_comm 0.601 ms (its Table 9); bubble rates (its Table 5): 1F1B 0.2431, ZB-1p 0.1585
    # (ZB-H1, the handcrafted schedule with the same memory, reaches the same rate here).
    f, b, w, c = 18.522, 18.086, 9.337, 0.601
    _, _, one = run(S.build("1f1b", 8, 24), f, b, w, c)[:3]
    _, _, h1 = run(S.build("zb-h1", 8, 24), f, b, w, c)[:3]
    assert round(one, 4) == 0.2431
    assert round(h1, 4) == 0.1585


@pytest.mark.parametrize("family", ["gpipe", "1f1b", "zb-h1", "zb-h2", "interleaved", "v-min", "v-half", "zb-v"])
def test_simulator_matches_its_twin(family):
    rng = np.random.default_rng(3)
    for _ in range(3):
        f, b, w, c = rng.uniform(0.2, 2.0, 4)
        s = S.build(family, 4, 8)
        assert run(s, f, b, w, c)[0] == pytest.approx(twin(s, f, b, w, c))
    # uneven stages and sends: every stage and boundary its own time
    s = S.build(family, 4, 8)
    st = s.stages
    f, b, w, c = (rng.uniform(0.2, 2.0, st) for _ in range(4))
    passes = S.prepared(s)
    n = len(s.kind)
    costs = PassCosts(f, b, w, c, np.ones(st), np.ones(st), 0)
    got = simulate(passes, costs, np.empty(n), np.empty(n), np.empty((s.p, 4)), np.empty(st))
    assert got == pytest.approx(twin(s, f, b, w, c))


def test_memory_models_and_lifespans():
    # 1F1B at p = 4, n = 8, F = B = W = 1 (BW = 2). Stage i's first BW ends at p + 2 (p - i) (F down
    # to stage p-1, then BW hops back), later ones every 3 (F + BW, no idle in the steady state). Its
    # last warm-up microbatch, k = p - 1 - i, starts F at k + i = p - 1 and ends BW at
    # p + 2 (p - i) + 3 k: the longest lifespan, 5 (p - i) - 2 = 18, 13, 8, 3.
    *_, life, start, end = run(S.build("1f1b", 4, 8))
    assert list(life) == [18, 13, 8, 3]
    # Zero Bubble memory model: B frees alloc - keep, W the rest. ZB-H1, p = 4, keep = 0.5: device d
    # runs p - 1 - d warm-up F and one more before its first B (p - d units live); in each of the next
    # d rounds (F, B) adds 1 - 0.5 while that round's W is deferred (d of them): peak (p - d) + d / 2.
    peak = run(S.build("zb-h1", 4, 8), memory_model=1, keep=0.5)[3]
    assert list(peak) == [4 - d + d / 2 for d in range(4)]                 # 4, 3.5, 3, 2.5
    # GPipe never frees before all F: n units whatever the model.
    assert run(S.build("gpipe", 4, 8), memory_model=1, keep=0.5)[3].max() == 8


# --- building blocks ------------------------------------------------------------------------------

def test_colliding_offsets_are_refused():
    with pytest.raises(S.ScheduleError, match="collide"):
        S.block_times("sequential", 4, dict(f=3, turn=1, b=1))      # B of stage 3 lands on F's slot
    with pytest.raises(S.ScheduleError, match=">= 1"):
        S.block_times("sequential", 4, dict(f=0, turn=1, b=1))


def test_deadlocking_orders_are_refused():
    s = S.build("1f1b", 2, 2)
    bad = S.Schedule("x", "sequential", 2, 1, 2, s.kind[::-1].copy(), s.mb[::-1].copy(), s.stage[::-1].copy(),
                     s.dev_start, s.stage_device)
    with pytest.raises(S.ScheduleError):
        S.prepared(bad)


@settings(max_examples=400, deadline=None, derandomize=True)
@given(p=st.integers(2, 6), n=st.integers(1, 20), placement=st.sampled_from(S.PLACEMENTS), chunks=st.integers(2, 3),
       gaps=st.lists(st.integers(1, 4), min_size=7, max_size=7))
def test_block_peak_bound(p, n, placement, chunks, gaps):
    """Controllable Memory, Sec. 3: repeating a block with lifespan l every T holds at most
    ceil(l / T) microbatches per stage, so a device's peak <= sum over its stages of ceil(l_s / T)
    chunk activations; squeezing keeps the order, hence the peak. For one chunk per device and
    n >= ceil(l / T), the bound is met with equality."""
    seq = placement == "sequential"
    names = S.BLOCK_OFFSETS[placement]
    offsets = dict(zip(names, gaps))
    try:
        s = S.repeat_block("block", placement, p, n, offsets, chunks)
    except S.ScheduleError:
        return
    bound = S.bound_units(s)
    peak = run(s)[3] * s.v                       # chunk activations
    assert np.all(peak <= bound + 1e-9)
    if seq:
        need = [math.ceil(life / s.block_period) for life in s.block_life]
        for d in range(p):
            if n >= need[d]:
                assert peak[d] == need[d]
    # the reordered schedule never raises the per-device peak
    r = S.from_block("block", placement, p, n, offsets, chunks=chunks)
    assert np.all(run(r)[3] * r.v <= peak + 1e-9)
