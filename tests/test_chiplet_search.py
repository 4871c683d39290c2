"""The chiplet inner search at scale (issue 13): moves priced by deltas against the reference
evaluator, the incremental state against a full re-evaluation, the mesh distance transform of
the chain DP against brute force, thread-count independence, hints, and memory O(c) network."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from dse.system.chiplet import kernels
from dse.system.chiplet.kernels import Effort, Goal
from tests.helpers import mesh_frame


def mesh_case(seed, n=24, mesh=(3, 2), n_models=3, pipelining=True, static_w=0.5, chiplets=None):
    """A random multi-model frame on a mesh; chiplets at the first ``chiplets`` positions (row
    major) or at every position. Transfers cost as much as ops (adversarial for the search)."""
    rng = np.random.default_rng(seed)
    cols, rows = mesh
    c = cols * rows if chiplets is None else chiplets
    model = np.sort(rng.integers(0, n_models, n))
    model = np.unique(model, return_inverse=True)[1].astype(np.int64)
    mult = rng.choice([1.0, 2.0, 3.0], int(model.max()) + 1)[model]
    time, energy, dram = rng.uniform(0.1, 2.0, (n, c)), rng.uniform(0.1, 2.0, (n, c)), rng.uniform(0, 1e9, (n, c))
    return mesh_frame(time, energy, rng.uniform(0, 2e9, n), dram=dram, mult=mult, model=model, mesh=mesh,
                      hop_lat=1e-3, dram_bw=5e9, pipelining=pipelining, static_w=static_w)


def full_objective(assign, f, goal):
    met = np.zeros(kernels.N_METRICS)
    kernels.frame_cost(np.asarray(assign, dtype=np.int64), f, kernels.scratch(f), met)
    return kernels.objective(met, goal)


def random_run(rng, a, f):
    """A random op, or half the time its whole run (a move the local search makes)."""
    n = a.shape[0]
    i = int(rng.integers(0, n))
    lo = hi = i
    if rng.random() < 0.5:
        while lo > 0 and f.first[lo] == 0 and a[lo - 1] == a[i]:
            lo -= 1
        while hi + 1 < n and f.first[hi + 1] == 0 and a[hi + 1] == a[i]:
            hi += 1
    return lo, hi


def random_state(f, seed):
    """(rng, prefix sums, a search state on a random mapping, synced) for frame f."""
    n, c = f.time.shape
    rng = np.random.default_rng(seed)
    st = kernels.new_state(f)
    st.assign[:] = rng.integers(0, c, n)
    kernels.sync(st, f)
    return rng, kernels.prefix(f), st


@pytest.mark.parametrize("seed", range(8))
def test_moves_priced_by_deltas_match_the_reference_evaluator(seed):
    # Every move best_target prices must cost what frame_cost says the moved mapping costs; and
    # with the real current objective (pruning on) it must find an improving target exactly when
    # one exists. Random walks of 60 applied moves, pipelined and serial frames, 3 weights.
    f = mesh_case(seed, pipelining=seed % 4 != 3, mesh=(3, 2) if seed % 2 else (2, 2))
    n, c = f.time.shape
    rng, pre, st = random_state(f, seed)
    for step in range(60):
        goal = Goal((0.0, 0.4, 1.0)[step % 3], 3.0, 40.0)
        a = st.assign
        cur = kernels.scalarise(kernels.state_period(st, f), st.acc[kernels.A_ENERGY], f, goal)
        assert cur == pytest.approx(full_objective(a, f, goal), rel=1e-10)
        lo, hi = random_run(rng, a, f)
        costs = {t: full_objective(np.r_[a[:lo], [t] * (hi - lo + 1), a[hi + 1:]], f, goal)
                 for t in range(c) if t != a[lo]}
        obj, target, priced = kernels.best_target(st, pre, f, goal, lo, hi, 1e300)
        assert priced == c - 1
        assert obj == pytest.approx(min(costs.values()), rel=1e-10)
        assert costs[target] == pytest.approx(obj, rel=1e-10)
        obj, target, _ = kernels.best_target(st, pre, f, goal, lo, hi, cur)
        if target == a[lo]:
            assert min(costs.values()) >= cur * (1 - 1e-9), "an improving move was pruned"
        else:
            assert costs[target] == pytest.approx(obj, rel=1e-10) and obj < cur
        assert not st.rem.any() and not st.add.any()        # the scratch loads are cleared
        t = int(rng.integers(0, c))
        if t != a[lo]:
            kernels.apply_move(st, pre, f, lo, hi, t)


@pytest.mark.parametrize("seed", range(6))
def test_applied_moves_keep_the_state_equal_to_a_full_evaluation(seed):
    # After random applied moves the delta-updated busy times, link loads and sums equal what
    # frame_cost computes from scratch for the same mapping (the guard's reference).
    f = mesh_case(100 + seed, n=30, mesh=(3, 3), n_models=4)
    n, c = f.time.shape
    rng, pre, st = random_state(f, seed)
    for _ in range(80):
        lo, hi = random_run(rng, st.assign, f)
        t = int(rng.integers(0, c))
        if t != st.assign[lo]:
            kernels.apply_move(st, pre, f, lo, hi, t)
    busy, link, acc = st.sc.busy.copy(), st.sc.link.copy(), st.acc.copy()
    top = st.top.copy()
    kernels.sync(st, f)
    np.testing.assert_allclose(busy, st.sc.busy, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(link, st.sc.link, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(acc, st.acc, rtol=1e-10)
    assert st.sc.busy[top[0]] == st.sc.busy.max() and st.sc.link[top[2]] == st.sc.link.max()
    assert sorted(st.sc.busy[top[:2]]) == sorted(np.sort(st.sc.busy)[-2:])


@pytest.mark.parametrize("mesh,chiplets", [((3, 2), None), ((2, 2), 3), ((4, 4), 3)])
def test_chain_dp_distance_transform_is_exact_on_meshes(mesh, chiplets):
    # The DP's inner minimum over the previous chiplet, min_p best[p] + A + B * hops(p, c), by a
    # distance transform over the mesh (dense meshes) or directly (a 4x4 mesh with 3 chiplets):
    # both must reach the optimum of every mapping, enumerated here in plain Python.
    for seed in range(4):
        f = mesh_case(seed, n=5, mesh=mesh, n_models=2, chiplets=chiplets)
        n, c = f.time.shape
        node = np.random.default_rng(seed).uniform(0.0, 2.0, (n, c))
        wt, we = 0.7, 30.0
        assign = np.zeros(n, dtype=np.int64)
        kernels.chain_dp(node, f, wt, we, assign, kernels.dp_work(f))

        def total(a):
            v = sum(node[i, a[i]] for i in range(n))
            for i in range(1, n):
                if not f.first[i] and a[i - 1] != a[i]:
                    b = f.out_bytes[i - 1]
                    h = abs(f.pos[a[i - 1], 0] - f.pos[a[i], 0]) + abs(f.pos[a[i - 1], 1] - f.pos[a[i], 1])
                    v += f.mult[i] * (wt * (b / f.link_bytes_per_s + h * f.hop_latency_s)
                                      + we * b * 8 * f.link_pj_per_bit * h * 1e-12)
            return v

        best = min(total(a) for a in itertools.product(range(c), repeat=n))
        assert total(assign) == pytest.approx(best, rel=1e-12), (mesh, seed)


def test_distance_transform_by_hand():
    # 3 x 2 mesh, f = [5, 1, 9 | 9, 9, 0] at (x, y) row-major, slope 2: node (0,0) takes the 1 at
    # (1,0) one hop away -> 3; node (2,0) takes the 0 at (2,1) -> 2; node (0,1) is two hops from
    # both -> 1 + 4 = 5 vs 0 + 4 = 4.
    f = mesh_case(0, n=2, mesh=(3, 2))
    grid, arg = np.zeros(6), np.zeros(6, dtype=np.int64)
    kernels.distance_transform(np.array([5.0, 1.0, 9.0, 9.0, 9.0, 0.0]), f, 2.0, grid, arg)
    assert grid.tolist() == [3.0, 1.0, 2.0, 4.0, 2.0, 0.0]
    assert arg.tolist() == [1, 1, 5, 5, 5, 5]


def test_descent_ends_in_a_local_optimum():
    # After local_search no first-op, whole-run or last-op move of any run to another chiplet
    # lowers the objective (checked with the reference evaluator).
    f = mesh_case(7, n=20, mesh=(2, 2))
    n, c = f.time.shape
    goal = Goal(0.3, 3.0, 40.0)
    a = np.random.default_rng(7).integers(0, c, n).astype(np.int64)
    obj, _ = kernels.descend(a, kernels.prefix(f), f, goal, 10_000, 0, n - 1)
    assert obj == pytest.approx(full_objective(a, f, goal), rel=1e-12)
    i = 0
    while i < n:
        j = i
        while j + 1 < n and f.first[j + 1] == 0 and a[j + 1] == a[i]:
            j += 1
        for lo, hi in {(i, i), (i, j), (j, j)}:
            for t in range(c):
                moved = np.r_[a[:lo], [t] * (hi - lo + 1), a[hi + 1:]]
                assert full_objective(moved, f, goal) >= obj * (1 - 1e-9)
        i = j + 1


def test_results_do_not_depend_on_the_thread_count():
    import numba

    # 170 ops x 6 chiplets >= PARALLEL_MIN: the descents take the prange path
    f = mesh_case(3, n=170, mesh=(3, 2), n_models=5)
    assert 170 * 6 >= kernels.PARALLEL_MIN
    weights = np.array([0.0, 0.5, 1.0])
    no_hints = np.zeros((0, 170), dtype=np.int64)
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = kernels.optimise(f, weights, Effort(10, 10_000, 8, 0, 2), no_hints)
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
        many = kernels.optimise(f, weights, Effort(10, 10_000, 8, 0, 2), no_hints)
    finally:
        numba.set_num_threads(before)
    np.testing.assert_array_equal(one[0], many[0])
    np.testing.assert_array_equal(one[1], many[1])
    assert one[2] == many[2]


def test_a_hint_is_a_start():
    # The brute-force optimum given as a hint is kept (the search only ever improves on a start).
    f = mesh_case(5, n=7, mesh=(3, 1), n_models=2)
    weights = np.array([0.0])
    met = np.zeros(kernels.N_METRICS)
    kernels.frame_cost(kernels.fastest_mapping(f), f, kernels.scratch(f), met)
    best_assign, best = kernels.brute_force(f, weights, met[kernels.M_PERIOD], met[kernels.M_ENERGY])
    _, metrics, _ = kernels.optimise(f, weights, Effort(1, 0, 0, 0, 1), best_assign)
    assert metrics[0, kernels.M_PERIOD] / met[kernels.M_PERIOD] == pytest.approx(best[0], rel=1e-12)


def test_network_memory_is_linear_in_chiplets():
    # A 512-chiplet design point holds no c x c x links route table: every array of its frame is
    # at most ops x chiplets (the cost table's size); the mesh links are 4 per node.
    from dse.spec.common import Node, resolve
    from dse.spec.hardware import parse_hardware
    from dse.spec.workload import parse_workload
    from dse.system.chiplet import evaluator as design

    chip = {"pe_array": [8, 8], "l1_bytes": 64, "l2_bytes": 1e6, "clock_hz": 1e9, "onchip_bytes_per_cycle": 64,
            "mac_pj": 1, "l1_pj": 1, "l2_pj": 1, "dataflow": "weight_stationary"}
    hw = parse_hardware(Node({"name": "h", "chiplets": [{**chip, "name": f"c{i}"} for i in range(512)],
                              "network": {"mesh": [32, 16], "link_bytes_per_s": 1e9, "link_pj_per_bit": 1},
                              "dram": {"bytes_per_s": 1e10, "pj_per_bit": 1}}, "h", ""))
    wl = parse_workload(Node({"name": "w", "models": [{"name": "m", "ops": [
        {"name": f"g{i}", "K": 64, "C": 64, "Y": 8, "X": 8} for i in range(6)]}]}, "w", ""))
    point = design.build(resolve(wl, {}), resolve(hw, {}))
    sizes = {name: v.size for name, v in point.frame._asdict().items() if isinstance(v, np.ndarray)}
    assert max(sizes.values()) <= 6 * 512, sizes
    assert kernels.scratch(point.frame).link.size == 32 * 16 * 4
