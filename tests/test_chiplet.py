"""Chiplet kind: frame cost (hand-derived frames, a plain-Python twin) and the inner optimiser
(brute force)."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from dse.system.chiplet import kernels
from dse.system.chiplet.kernels import Effort
from tests.helpers import mesh_frame


def run(assign, frame):
    sc = kernels.scratch(frame)
    met = np.zeros(kernels.N_METRICS)
    kernels.frame_cost(np.asarray(assign, dtype=np.int64), frame, sc, met)
    return met, sc.busy


def test_two_op_frame_by_hand():
    # Op 0: 2 s on chiplet 0; op 1: 3 s on chiplet 1 (1 hop). Op 0's output is 1e9 bytes over a
    # 1 GB/s link: transfer = 1 s + 1 ns, energy 8e9 bit * 1 pJ = 8 mJ.
    time = np.array([[2.0, 9.0], [9.0, 3.0]])
    energy = np.array([[1.0, 9.0], [9.0, 2.0]])
    args = mesh_frame(time, energy, np.array([1e9, 0.0]))
    met, busy = run([0, 1], args)
    # Pipelined: period = max(busy 2, busy 3, link 1) = 3; latency = chain 2 + 1 + 1e-9 + 3 = 6 s.
    assert met[kernels.M_PERIOD] == pytest.approx(3.0)
    assert met[kernels.M_LATENCY] == pytest.approx(6.0 + 1e-9, rel=0, abs=1e-15)
    assert met[kernels.M_ENERGY] == pytest.approx(3.0 + 8e-3)
    assert list(busy) == [2.0, 3.0]
    # Without pipelining everything is serial: period = latency = 6 s (+1 ns).
    met, _ = run([0, 1], mesh_frame(time, energy, np.array([1e9, 0.0]), pipelining=False))
    assert met[kernels.M_PERIOD] == pytest.approx(6.0 + 1e-9, rel=0, abs=1e-15)
    # Both ops on chiplet 0: no transfer; period 11 s.
    met, _ = run([0, 0], args)
    assert met[kernels.M_PERIOD] == pytest.approx(11.0)
    assert met[kernels.M_NOP_BYTES] == 0.0
    # A 0.5 W package leaks for each frame's period: pipelined 0.5 * 3 s = 1.5 J on top of 3.008 J;
    # serial 0.5 * 6 s = 3 J (both chiplets powered while either works).
    met, _ = run([0, 1], mesh_frame(time, energy, np.array([1e9, 0.0]), static_w=0.5))
    assert met[kernels.M_STATIC_J] == pytest.approx(1.5)
    assert met[kernels.M_ENERGY] == pytest.approx(3.0 + 8e-3 + 1.5)
    met, _ = run([0, 1], mesh_frame(time, energy, np.array([1e9, 0.0]), static_w=0.5, pipelining=False))
    assert met[kernels.M_STATIC_J] == pytest.approx(3.0 + 0.5e-9)


def test_shared_dram_bounds_the_period():
    # Two chiplets each busy 1 s, but together they move 3e9 DRAM bytes at 1 GB/s: period 3 s.
    time = np.array([[1.0, 1.0], [1.0, 1.0]])
    dram = np.full((2, 2), 1.5e9)
    met, _ = run([0, 1], mesh_frame(time, np.zeros((2, 2)), np.zeros(2), dram=dram, model=np.array([0, 1])))
    assert met[kernels.M_PERIOD] == pytest.approx(3.0)


def test_serial_frame_is_floored_by_dram():
    # Without pipelining: ops 1 s + 1 s in series, but 3e9 DRAM bytes at 1 GB/s take 3 s.
    time = np.array([[1.0, 1.0], [1.0, 1.0]])
    dram = np.full((2, 2), 1.5e9)
    met, _ = run([0, 1], mesh_frame(time, np.zeros((2, 2)), np.zeros(2), dram=dram, model=np.array([0, 1]),
                             pipelining=False))
    assert met[kernels.M_PERIOD] == pytest.approx(3.0) and met[kernels.M_LATENCY] == pytest.approx(3.0)


def test_chain_dp_is_exact_for_sum_objectives():
    # chain_dp minimises sum_i node[i, a_i] + sum mult_i (wt transfer_s + we transfer_J) exactly;
    # checked against every mapping of random 6-op x 3-chiplet chains (two models, counts 1-4).
    import itertools

    for seed in range(8):
        rng = np.random.default_rng(100 + seed)
        f = random_case(seed, n=6, c=3)
        node = rng.uniform(0.0, 2.0, (6, 3))
        wt, we = 0.7, 30.0
        assign = np.zeros(6, dtype=np.int64)
        kernels.chain_dp(node, f, wt, we, assign, kernels.dp_work(f))

        def total(a):
            v = sum(node[i, a[i]] for i in range(6))
            for i in range(1, 6):
                if not f.first[i] and a[i - 1] != a[i]:
                    b, h = f.out_bytes[i - 1], abs(a[i - 1] - a[i])     # chiplets in a row
                    v += f.mult[i] * (wt * (b / f.link_bytes_per_s + h * f.hop_latency_s)
                                      + we * b * 8 * f.link_pj_per_bit * h * 1e-12)
            return v

        best = min(total(a) for a in itertools.product(range(3), repeat=6))
        assert total(assign) == pytest.approx(best, rel=1e-12), seed


def lagrangian_start(f, w, rounds):
    """Step 1 of optimise alone: the best mapping of ``rounds`` Lagrangian rounds from lambda = 1."""
    n, c = f.time.shape
    p_ref, e_ref = refs(f)
    work = kernels.Work(kernels.scratch(f), np.zeros(kernels.N_METRICS), np.empty((n, c)), np.ones(c),
                        np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64), kernels.dp_work(f))
    kernels.lagrangian(f, kernels.Goal(w, p_ref, e_ref), rounds, work)
    met, _ = run(work.lagr, f)
    return (1 - w) * met[kernels.M_PERIOD] / p_ref + w * met[kernels.M_ENERGY] / e_ref


def test_lagrangian_rounds_improve_the_start():
    # With pipelining, the Lagrangian rounds (step 1 of optimise) find better starting mappings
    # than one plain DP round: over 20 random cases x 3 weights the mean gap of the Lagrangian
    # mapping to the optimum is measured (deterministic, seeded) at 28.1 % with 40 rounds, 43.4 % with one.
    gaps = {}
    for rounds in (1, 40):
        g = []
        for seed in range(20):
            f = random_case(seed)
            p_ref, e_ref = refs(f)
            _, best = kernels.brute_force(f, WEIGHTS, p_ref, e_ref)
            g += [lagrangian_start(f, w, rounds) / b - 1 for w, b in zip(WEIGHTS, best)]
        gaps[rounds] = float(np.mean(g))
    assert gaps[40] < 0.30 < 0.40 < gaps[1], gaps


def test_model_count_multiplies_work_and_latency():
    # One model, count 4, single op of 1 s on chiplet 0: busy 4 s; latency = 1 + 3 * 1 = 4 s.
    met, busy = run([0], mesh_frame(np.array([[1.0, 5.0]]), np.array([[2.0, 2.0]]), np.zeros(1), mult=np.array([4.0])))
    assert busy[0] == pytest.approx(4.0)
    assert met[kernels.M_LATENCY] == pytest.approx(4.0)
    assert met[kernels.M_ENERGY] == pytest.approx(8.0)


def python_twin(assign, time, energy, dram, out_bytes, mult, model, first, n_models, pos, cols, rows,
                link_bw, link_pj, hop_lat, dram_bw, pipelining, static_w):
    """The evaluator's docstring, in plain Python (routes from ir.xy_links)."""
    from dse.system.chiplet.ir import xy_links

    n_dev = time.shape[1]
    busy = [0.0] * n_dev
    links = {}
    chain = [0.0] * n_models
    stage = [[0.0] * n_dev for _ in range(n_models)]
    count = [1.0] * n_models
    serial = energy_total = dram_total = 0.0
    for i, c in enumerate(assign):
        m, k = model[i], mult[i]
        count[m] = k
        busy[c] += k * time[i, c]
        stage[m][c] += time[i, c]
        chain[m] += time[i, c]
        serial += k * time[i, c]
        energy_total += k * energy[i, c]
        dram_total += k * dram[i, c]
        if not first[i] and assign[i - 1] != c:
            p, b = assign[i - 1], out_bytes[i - 1]
            route = xy_links(tuple(pos[p]), tuple(pos[c]), cols)
            tx = b / link_bw + len(route) * hop_lat
            chain[m] += tx
            serial += k * tx
            energy_total += k * b * 8 * link_pj * len(route) * 1e-12
            for link in route:
                links[link] = links.get(link, 0.0) + k * b / link_bw
    if pipelining:
        period = max([dram_total / dram_bw] + busy + list(links.values()))
        latency = max([period] + [chain[m] + (count[m] - 1) * max(stage[m]) for m in range(n_models)])
    else:
        period = latency = max(serial, dram_total / dram_bw)
    return period, latency, energy_total + static_w * period


def random_case(seed, n=7, c=3, pipelining=True, static_w=0.0):
    rng = np.random.default_rng(seed)
    model = np.sort(rng.integers(0, 2, n))
    return mesh_frame(rng.uniform(0.1, 2.0, (n, c)), rng.uniform(0.1, 2.0, (n, c)), rng.uniform(0, 2e9, n),
               mult=rng.choice([1.0, 2.0, 4.0], n)[model], model=model, pipelining=pipelining,
               dram=rng.uniform(0, 1e8, (n, c)), static_w=static_w)


@pytest.mark.parametrize("seed", range(10))
def test_evaluator_matches_python_twin(seed):
    args = random_case(seed, pipelining=bool(seed % 2), static_w=0.3 * (seed % 3))
    assign = np.random.default_rng(seed).integers(0, 3, 7)
    met, _ = run(assign, args)
    period, latency, energy = python_twin(assign, *args)
    assert met[kernels.M_PERIOD] == pytest.approx(period, rel=1e-12)
    assert met[kernels.M_LATENCY] == pytest.approx(latency, rel=1e-12)
    assert met[kernels.M_ENERGY] == pytest.approx(energy, rel=1e-12)


def refs(args):
    """P_ref, E_ref as optimise() defines them: the mapping of each op to its fastest chiplet."""
    met, _ = run(np.argmin(args.time, axis=1), args)
    return met[kernels.M_PERIOD], met[kernels.M_ENERGY]


WEIGHTS = np.array([0.0, 0.5, 1.0])
NO_HINTS = np.zeros((0, 7), dtype=np.int64)


@pytest.mark.parametrize("seed", range(12))
def test_optimiser_is_exact_without_pipelining(seed):
    # Without pipelining the objective is a sum over ops and transfers: the chain DP is exact.
    args = random_case(seed, pipelining=False)
    _, metrics, _ = kernels.optimise(args, WEIGHTS, Effort(40, 50, 20, 0), NO_HINTS)
    p_ref, e_ref = refs(args)
    _, best = kernels.brute_force(args, WEIGHTS, p_ref, e_ref)
    got = (1 - WEIGHTS) * metrics[:, 0] / p_ref + WEIGHTS * metrics[:, 2] / e_ref
    np.testing.assert_allclose(got, best, rtol=1e-9)


def test_optimiser_near_brute_force_with_pipelining():
    # The bottleneck period is not a sum, so with pipelining the optimiser is a heuristic (dse uses
    # exhaustive search below 4,096 mappings; this test forces the heuristic). These 40 random
    # 7-op x 3-chiplet cases are adversarial -- transfers cost as much as ops -- and the measured
    # gaps to the optimum with the default effort are: mean 0.36 %, worst 12.9 %, optimum in 90 %
    # of (case, weight) pairs (the optimiser before issue 13: 0.71 %, 12.9 %, 84 %; with 20 kicks
    # and patience 2: 0.92 %, 14.1 %, 83 %). The bounds guard that quality.
    from dse.system.chiplet.evaluator import DEFAULT_EFFORT

    gaps = []
    for seed in range(40):
        args = random_case(seed)
        _, metrics, _ = kernels.optimise(args, WEIGHTS, DEFAULT_EFFORT, NO_HINTS)
        p_ref, e_ref = refs(args)
        _, best = kernels.brute_force(args, WEIGHTS, p_ref, e_ref)
        got = (1 - WEIGHTS) * metrics[:, 0] / p_ref + WEIGHTS * metrics[:, 2] / e_ref
        assert np.all(got >= best * (1 - 1e-9))          # never better than the optimum
        gaps.append(got / best - 1)
    gaps = np.array(gaps)
    assert gaps.mean() < 0.005
    assert gaps.max() < 0.14
    assert (gaps < 1e-9).mean() > 0.87


def test_design_optimise_is_exhaustive_when_small():
    from dse.spec.common import Node, resolve
    from dse.spec.hardware import parse_hardware
    from dse.spec.workload import parse_workload
    from dse.system.chiplet import evaluator as design

    wl = parse_workload(Node({"name": "w", "models": [{"name": "m", "ops": [
        {"name": f"g{i}", "K": 64 * (i + 1), "C": 64, "Y": 8 + 8 * i, "X": 8} for i in range(5)]}]}, "w", ""))
    chip = {"pe_array": [8, 8], "l1_bytes": 64, "l2_bytes": 1e6, "clock_hz": 1e9,
            "onchip_bytes_per_cycle": 64, "mac_pj": 1, "l1_pj": 1, "l2_pj": 1}
    hw = parse_hardware(Node({"name": "h", "chiplets": [
        {**chip, "name": "a", "dataflow": "weight_stationary"},
        {**chip, "name": "b", "dataflow": "output_stationary"}],
        "network": {"mesh": [2, 1], "link_bytes_per_s": 1e9, "link_pj_per_bit": 1},
        "dram": {"bytes_per_s": 1e10, "pj_per_bit": 1}}, "h", ""))
    point = design.build(resolve(wl, {}), resolve(hw, {}))
    assigns, metrics, evaluated = design.optimise(point, (0.0, 1.0))
    assert evaluated == 2 ** 5
    # Every one of the 32 mappings, costed by the plain-Python twin (not the kernel under test): the
    # weight-0 mapping has the least period of all.
    periods = [python_twin(np.array([(code >> i) & 1 for i in range(5)]), *point.frame)[0] for code in range(32)]
    assert metrics[0, 0] == pytest.approx(min(periods), rel=1e-12)
    assert python_twin(assigns[0], *point.frame)[0] == pytest.approx(min(periods), rel=1e-12)
    # Named metrics of a pipelined mapping (everything on chiplet a except g4 on b): EDP is
    # energy x latency (not period); utilisation is MACs done / (period x 64 PEs x 1 GHz).
    assign = np.array([0, 0, 0, 0, 1])
    m = design.metrics_of(point, assign)
    period, latency, energy = python_twin(assign, *point.frame)
    assert latency > period
    assert m["edp_js"] == pytest.approx(energy * latency, rel=1e-12)
    macs = [64 * (i + 1) * 64 * (8 + 8 * i) * 8 for i in range(5)]        # K C Y X of g0..g4
    assert m["macs"] == sum(macs)
    assert m["utilization_a"] == pytest.approx(sum(macs[:4]) / (period * 64 * 1e9), rel=1e-12)
    assert m["utilization_b"] == pytest.approx(macs[4] / (period * 64 * 1e9), rel=1e-12)


def test_design_rows_write_each_distinct_mapping_once():
    # One chiplet: every objective weight gives the same mapping, so the point is one row.
    from dse.spec.common import resolve
    from dse.spec.hardware import load_hardware
    from dse.spec.workload import load_workload
    from dse.system.base import kind_named

    kind = kind_named("chiplet")
    point = kind.build(resolve(load_workload("workloads/resnet50.yaml"), {}),
                       resolve(load_hardware("hardware/mono_os.yaml"), {}))
    rows, evaluated = kind.design_rows(point, (0.0, 0.5, 1.0))
    assert len(rows) == 1 and rows[0]["objective_weight"] == 0.0 and evaluated == 1
    assert rows[0]["mapping"] == "resnet50=os*54" and rows[0]["feasible"]


def test_energy_breakdown_sums_and_static_is_package_leakage_times_period():
    # mcm4_hetero.yaml, per chiplet: 4096 PEs x 10.7 uW = 0.0438272 W; SRAM = 4096 x 256 B of L1
    # + 10 MB of L2 = 11.048576e6 B x 56.4 mW per 1e6 B = 0.62313969 W; 4 chiplets x 0.66696689 W
    # = 2.66786755 W of leakage, charged for each frame's period. MAC + L1 + L2 + DRAM + NoP +
    # static = energy_j.
    from dse.spec.common import resolve
    from dse.spec.hardware import load_hardware
    from dse.spec.workload import load_workload
    from dse.system.chiplet import evaluator as design

    root = __import__("pathlib").Path(__file__).resolve().parents[1]
    point = design.build(resolve(load_workload(str(root / "workloads/gpt2_resnet50.yaml")), {}),
                         resolve(load_hardware(str(root / "hardware/mcm4_hetero.yaml")), {}))
    assert point.frame.static_w == pytest.approx(2.66786755)
    assign = np.zeros(point.ops.n, dtype=np.int64)
    m = design.metrics_of(point, assign)
    assert m["static_energy_j"] == pytest.approx(2.66786755 * m["period_s"])
    parts = ("mac_energy_j", "l1_energy_j", "l2_energy_j", "dram_energy_j", "nop_energy_j", "static_energy_j")
    assert sum(m[k] for k in parts) == pytest.approx(m["energy_j"], rel=1e-12)


def test_reported_rates_and_utilisation_by_hand_from_the_per_op_table():
    """`dse evaluate` of the README's module with inter-layer pipelining (so the period is shorter
    than the frame latency): throughput is frames per period, 1 / period_s; the MACs are every op
    instance's (count x macs, 54 ops repeated 8 times here); a chiplet's utilisation is the MACs
    mapped to it over what its 64 x 64 array at 500 MHz could do in one period."""
    from pathlib import Path

    from dse.point import evaluate_point

    root = Path(__file__).resolve().parent.parent
    d = evaluate_point(str(root / "workloads/gpt2_resnet50.yaml"), str(root / "hardware/mcm4_hetero.yaml"), None,
                       ["pipelining=true"])
    assert d["period_s"] < d["latency_s"] * 0.9
    assert d["throughput_per_s"] == pytest.approx(1 / d["period_s"], rel=1e-12)
    assert d["edp_js"] == pytest.approx(d["energy_j"] * d["latency_s"], rel=1e-12)
    assert max(op["count"] for op in d["per_op"]) == 8
    assert d["macs"] == pytest.approx(sum(op["count"] * op["macs"] for op in d["per_op"]), rel=1e-12)
    for name in ("ws0", "ws1", "os0", "os1"):
        mine = sum(op["count"] * op["macs"] for op in d["per_op"] if op["chiplet"] == name)
        assert d[f"utilization_{name}"] == pytest.approx(mine / (d["period_s"] * 64 * 64 * 500e6), rel=1e-12)


def test_l2_overflow_is_the_worst_op_by_hand(tmp_path):
    """Two 8-bit GEMMs too big for a 10 MB (10^7 B) L2: overflow = |I| + |W| + |O| - L2 per op
    (dse.cost.dataflow). a: 4,096 + 4096 x 4096 + 4,096 = 16,785,408 -> 6,785,408 B over; b: 3,072
    + 4096 x 3072 + 4,096 = 12,590,080 -> 2,590,080 B over. The design reports the worst op's."""
    from pathlib import Path

    from dse.point import evaluate_point

    wl = tmp_path / "w.yaml"
    wl.write_text("name: ovf\nmodels:\n  - name: m\n    ops:\n"
                  "      - {name: a, N: 1, K: 4096, C: 4096, precision_bits: 8}\n"
                  "      - {name: b, N: 1, K: 4096, C: 3072, precision_bits: 8}\n")
    hw = Path(__file__).resolve().parent.parent / "hardware/mcm4_hetero.yaml"
    d = evaluate_point(str(wl), str(hw), None, [])
    assert d["l2_overflow_bytes"] == 6_785_408


def test_energy_terms_by_hand(tmp_path):
    """Each energy column of `dse evaluate` on a small case, by hand. Model m (count 3: three
    instances a frame) of two 8-bit convs-as-GEMMs, g0 (K 64, C 32, Y = X = 8) on chiplet a at
    mesh (0, 0) and g1 (K 32, C 64) on chiplet c at (2, 0), two XY hops away; every energy
    constant distinct, so that a term costed with another's constant shows.
    - MACs: 64 x 32 x 8 x 8 = 131,072 per op, 2 ops x 3 instances = 786,432; x 1.5 pJ.
    - NoP: g0's output, 64 x 8 x 8 = 4,096 B, crosses to c once per instance: 12,288 B; energy
      12,288 B x 8 bit x 3 pJ/bit x 2 hops = 589,824 pJ.
    - DRAM: the reported bytes x 8 bit x 11 pJ/bit.
    - L1 and L2: accesses x their pJ: doubling l2_pj doubles the L2 term and nothing else, and
      likewise l1_pj.
    - static: no leakage given, 0; the terms sum to energy_j."""
    from dse.point import evaluate_point

    def case(l1_pj: float, l2_pj: float) -> dict:
        chip = {"pe_array": [8, 8], "dataflow": "weight_stationary", "l1_bytes": 256, "l2_bytes": 1e6,
                "clock_hz": 1e9, "onchip_bytes_per_cycle": 64, "mac_pj": 1.5, "l1_pj": l1_pj, "l2_pj": l2_pj}
        hw = {"name": "h", "chiplets": [{**chip, "name": "a", "position": [0, 0]},
                                        {**chip, "name": "b", "position": [1, 0]},
                                        {**chip, "name": "c", "position": [2, 0]}],
              "network": {"mesh": [3, 1], "link_bytes_per_s": 1e9, "link_pj_per_bit": 3},
              "dram": {"bytes_per_s": 1e10, "pj_per_bit": 11}}
        wl = {"name": "w", "models": [{"name": "m", "count": 3, "ops": [
            {"name": "g0", "K": 64, "C": 32, "Y": 8, "X": 8, "precision_bits": 8},
            {"name": "g1", "K": 32, "C": 64, "Y": 8, "X": 8, "precision_bits": 8}]}]}
        for name, doc in (("h.yaml", hw), ("w.yaml", wl), ("m.yaml", {"mapping": {"m": ["a", "c"]}})):
            (tmp_path / name).write_text(yaml.safe_dump(doc))
        return evaluate_point(str(tmp_path / "w.yaml"), str(tmp_path / "h.yaml"), tmp_path / "m.yaml", [])

    d = case(0.7, 2.3)
    assert d["macs"] == 786_432
    assert d["mac_energy_j"] == pytest.approx(786_432 * 1.5e-12, rel=1e-12)
    assert d["nop_bytes"] == 12_288
    assert d["nop_energy_j"] == pytest.approx(589_824e-12, rel=1e-12)
    assert d["dram_bytes"] > 0
    assert d["dram_energy_j"] == pytest.approx(d["dram_bytes"] * 8 * 11e-12, rel=1e-12)
    assert d["static_energy_j"] == 0
    parts = ("mac_energy_j", "l1_energy_j", "l2_energy_j", "dram_energy_j", "nop_energy_j", "static_energy_j")
    assert sum(d[k] for k in parts) == pytest.approx(d["energy_j"], rel=1e-12)
    l2x2, l1x2 = case(0.7, 4.6), case(1.4, 2.3)
    assert l2x2["l2_energy_j"] == pytest.approx(2 * d["l2_energy_j"], rel=1e-12) and d["l2_energy_j"] > 0
    assert l1x2["l1_energy_j"] == pytest.approx(2 * d["l1_energy_j"], rel=1e-12) and d["l1_energy_j"] > 0
    for other in ("mac_energy_j", "dram_energy_j", "nop_energy_j"):
        assert l2x2[other] == d[other] and l1x2[other] == d[other]
    assert l2x2["l1_energy_j"] == d["l1_energy_j"] and l1x2["l2_energy_j"] == d["l2_energy_j"]
