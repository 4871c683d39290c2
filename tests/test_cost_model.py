"""Dataflow cost kernel: MAESTRO reference cases, hand-derived traffic and energy, and agreement
with an independently written plain-Python twin."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tests.helpers import run_op

# ---- REFERENCES.md "Dataflow affinity" (MAESTRO, 256 PEs, no bandwidth limit) -----------------
# MAESTRO's NVDLA template: K over 4 clusters x C over 64 PEs -> a 4 x 64 array (K rows, C cols).
# MAESTRO's Shidiannao template: 16 x 16 over output rows x columns.
QKV = (1, 2304, 768, 32, 32, 1, 1)       # GPT-2 QKV as a 1x1 conv over 32x32 tokens
CONV1 = (1, 64, 3, 112, 112, 7, 7)       # ResNet-50 conv1, stride 2


def test_qkv_weight_stationary_matches_maestro():
    # 2304/4 = 576 K-folds, 768/64 = 12 C-folds, 32*32 temporal: 576*12*1024 = 7,077,888 cycles,
    # every PE busy (utilisation 1.0) -- MAESTRO: 7,077,888 cycles, 1.0.
    r = run_op(QKV, rows=4, cols=64, unroll=("K", "C"), stationary=0)
    assert r["compute_cycles"] == 7_077_888
    assert r["utilization"] == pytest.approx(1.0)


def test_conv1_output_stationary_matches_maestro():
    # 112/16 = 7 folds on each axis; temporal K*C*R*S = 64*3*49: 49 * 9408 = 460,992 cycles, 1.0.
    r = run_op(CONV1, stride=2, rows=16, cols=16, unroll=("Y", "X"), stationary=1)
    assert r["compute_cycles"] == 460_992
    assert r["utilization"] == pytest.approx(1.0)


def test_conv1_weight_stationary_matches_maestro():
    # K 64 over 4 rows = 16 folds; C = 3 of 64 columns used (1 fold, 3/64 busy); temporal
    # 112*112*49 = 614,656: 16 * 614,656 = 9,834,496 cycles, utilisation 3/64 = 0.046875.
    r = run_op(CONV1, stride=2, rows=4, cols=64, unroll=("K", "C"), stationary=0)
    assert r["compute_cycles"] == 9_834_496
    assert r["utilization"] == pytest.approx(3 / 64)


def test_qkv_row_stationary_on_fixed_array():
    # Row-stationary R x Y on a fixed 16 x 16 array: R = 1 uses 1 of 16 rows, Y = 32 is two folds of
    # 16: cycles = 1 * 2 * (K C X S = 2304*768*32) = 113,246,208, utilisation 1/16. MAESTRO's
    # Eyeriss template reshapes the 256 PEs into Sz(R)=1-PE clusters (56,623,104 cycles, 0.125); dse
    # models a fixed array, so it is 2x slower here -- same direction (far worse than WS).
    r = run_op(QKV, rows=16, cols=16, unroll=("R", "Y"), stationary=0)
    assert r["compute_cycles"] == 113_246_208
    assert r["utilization"] == pytest.approx(1 / 16)


def test_affinity_directions():
    gemm_ws = run_op(QKV, rows=16, cols=16, unroll=("K", "C"), stationary=0)
    gemm_os = run_op((1, 2304, 768, 1024, 1, 1, 1), rows=16, cols=16, unroll=("Y", "X"), stationary=1)
    stem_ws = run_op(CONV1, stride=2, rows=16, cols=16, unroll=("K", "C"), stationary=0)
    stem_os = run_op(CONV1, stride=2, rows=16, cols=16, unroll=("Y", "X"), stationary=1)
    assert gemm_ws["latency_s"] < gemm_os["latency_s"]     # GEMM (token strip) favours WS
    assert stem_os["latency_s"] < stem_ws["latency_s"]     # 7x7/2 stem favours OS


# ---- hand-derived traffic, DRAM, time and energy -------------------------------------------------

def test_small_gemm_weight_stationary_by_hand():
    # Op N=1 K=8 C=8 Y=4 X=1 on a 2 x 4 array, K on rows (2 lanes, 4 folds), C on cols (4 lanes,
    # 2 folds); 1-byte elements; L1 of 2 bytes holds 1 element (no enlargement; R = S = 1 anyway).
    # MACs = 8*8*4 = 256; cycles = 4 * 2 * 4 = 32; utilisation = 256 / (32 * 8) = 1.
    # Stationary W: tiles = f_K f_C = 8; |I| = 8*4 = 32, |W| = 64, |O| = 8*4 = 32.
    # L2 traffic: I = |I| * f_K = 128; W = 64; O writes = |O| * f_C = 64, reads = 64 - 32 = 32.
    # L2 accesses = 128 + 64 + 96 = 288 (1 byte each). All fit L2: DRAM = compulsory I + W + O
    # (first and last op, static W) = 128 bytes.
    # Time at 1 GHz, 64 B/cycle, DRAM 1 GB/s: compute 32 ns, on-chip 288/64 = 4.5 ns, DRAM 128 ns
    # -> DRAM-bound; latency = 128 ns + fill/drain (2 + 4) ns = 134 ns.
    # Energy (pJ): MAC 256*1 + L1 (3*256 + 288)*2 + L2 288*10 + DRAM 128*8*5 = 256 + 2112 + 2880 + 5120.
    r = run_op((1, 8, 8, 4, 1, 1, 1), rows=2, cols=4, l1_bytes=2.0)
    assert r["compute_cycles"] == 32
    assert r["utilization"] == pytest.approx(1.0)
    assert r["l2_accesses"] == pytest.approx(288)
    assert r["dram_bytes"] == pytest.approx(128)
    assert r["bound"] == 2
    assert r["latency_s"] == pytest.approx(134e-9)
    assert r["energy_j"] == pytest.approx((256 + 2112 + 2880 + 5120) * 1e-12)


def test_dram_latency_is_paid_once_per_op():
    # The case above with a 200 ns DRAM latency: 134 ns + 200 ns.
    r = run_op((1, 8, 8, 4, 1, 1, 1), rows=2, cols=4, l1_bytes=2.0, dram_lat=200e-9)
    assert r["latency_s"] == pytest.approx(334e-9, rel=1e-12)


def test_small_gemm_output_stationary_l1_reuse_by_hand():
    # Same op, output-stationary Y x X on a 4 x 1 array: Y=4 on 4 rows (1 fold), X=1; temporal
    # N K C: cycles = 8 * 8 = 64. L1 8 bytes -> half holds 4 outputs, given along K (R, S, C are
    # not output dims): t_K = 4, f_K = 2. Tiles = f_Y f_X f_N f_K = 2.
    # I traffic = tiles * (N C ((Y-1)+R) ((X-1)+S)) = 2 * 8*4 = 64; W = tiles * K/2 * C = 2*4*8 = 64;
    # O writes = |O| = 32, no partial-sum reads. L2 accesses = 160.
    r = run_op((1, 8, 8, 4, 1, 1, 1), rows=4, cols=1, unroll=("Y", "X"), stationary=1, l1_bytes=8.0)
    assert r["compute_cycles"] == 64
    assert r["l2_accesses"] == pytest.approx(160)


def test_l2_overflow_sends_refetches_to_dram():
    # The WS case above with a 100-byte L2: reuse order is I (128/32 = 4), O (96/32 = 3), W (1).
    # I (32 B) is kept (room 68), O (32 B) kept (room 36), W (64 B) does not fit -> DRAM reads all
    # its L2 traffic (64). DRAM = 32 (I compulsory) + 32 (O compulsory) + 64 = 128; overflow =
    # 128 - 100 = 28 bytes. With a 40-byte L2 only I fits: DRAM = 32 + 96 (O traffic) + 64 = 192.
    r = run_op((1, 8, 8, 4, 1, 1, 1), rows=2, cols=4, l1_bytes=2.0, l2_bytes=100.0)
    assert r["dram_bytes"] == pytest.approx(128)
    assert r["l2_overflow_bytes"] == pytest.approx(28)
    r = run_op((1, 8, 8, 4, 1, 1, 1), rows=2, cols=4, l1_bytes=2.0, l2_bytes=40.0)
    assert r["dram_bytes"] == pytest.approx(192)


def test_middle_op_and_activation_weights_have_no_compulsory_dram():
    # Not first, not last, W an activation (attention): nothing needs DRAM when all fits L2.
    r = run_op((1, 8, 8, 4, 1, 1, 1), rows=2, cols=4, first=0, last=0, w_static=0)
    assert r["dram_bytes"] == 0.0


# ---- plain-Python twin -----------------------------------------------------------------------------

def twin(dims, stride, eb, w_static, first, last, rows, cols, unroll, stationary, l1, l2, clock,
         bpc, mac_pj, l1_pj, l2_pj, dram_bw, dram_pj, dram_lat):
    """Written from the docstring, with names instead of indices."""
    D = dict(zip("NKCYXRS", dims))
    lanes, spatial = {}, set()
    for axis_len, axis_dims in ((rows, unroll[0]), (cols, unroll[1])):
        left = axis_len
        for d in axis_dims:
            lanes[d] = min(D[d], left)
            spatial.add(d)
            left //= lanes[d]
    cycles = math.prod(math.ceil(D[d] / lanes[d]) if d in spatial else D[d] for d in D)
    macs = math.prod(D.values())
    rel = {"weight": "KCRS", "output": "NKYX", "input": "NCYXRS"}[("weight", "output", "input")[stationary]]
    tile = {d: (lanes[d] if d in spatial else 1) for d in rel}
    cap = max(1, int(l1 / 2 / eb))
    for d in "RSCKXYN":
        if d in rel and d not in spatial:
            tile[d] = min(D[d], cap)
            cap = max(1, cap // tile[d])
    f = {d: math.ceil(D[d] / tile[d]) for d in rel}
    tiles = math.prod(f.values())
    e = {d: (D[d] / f[d] if d in rel else D[d]) for d in D}
    size = {"I": D["N"] * D["C"] * ((D["Y"] - 1) * stride + D["R"]) * ((D["X"] - 1) * stride + D["S"]),
            "W": D["K"] * D["C"] * D["R"] * D["S"], "O": D["N"] * D["K"] * D["Y"] * D["X"]}
    writes = tiles * e["N"] * e["K"] * e["Y"] * e["X"]
    traffic = {"I": tiles * e["N"] * e["C"] * ((e["Y"] - 1) * stride + e["R"]) * ((e["X"] - 1) * stride + e["S"]),
               "W": tiles * e["K"] * e["C"] * e["R"] * e["S"], "O": 2 * writes - size["O"]}
    comp = {"I": size["I"] * first, "W": size["W"] * w_static, "O": size["O"] * last}
    room, dram = l2, 0.0
    for x in sorted("IWO", key=lambda x: -(traffic[x] / size[x])):
        if size[x] * eb <= room:
            room -= size[x] * eb
            dram += comp[x]
        else:
            dram += traffic[x]
    l2acc = sum(traffic.values())
    terms = [cycles / clock, l2acc * eb / (bpc * clock), dram * eb / dram_bw]
    latency = max(terms) + (rows + cols) / clock + dram_lat
    energy = (macs * mac_pj + (3 * macs + l2acc) * l1_pj + l2acc * l2_pj + dram * eb * 8 * dram_pj) * 1e-12
    return cycles, latency, energy, dram * eb


@pytest.mark.parametrize("seed", range(40))
def test_kernel_matches_python_twin(seed):
    rng = np.random.default_rng(seed)
    dims = [int(rng.integers(1, 5)), int(rng.choice([3, 16, 64, 100, 768])), int(rng.choice([3, 8, 64, 300])),
            int(rng.integers(1, 60)), int(rng.integers(1, 60)), int(rng.choice([1, 3, 7])), int(rng.choice([1, 3, 5]))]
    unroll = [("K", "C"), ("Y", "X"), ("R", "Y"), ("KN", "CX"), ("C", "K")][seed % 5]
    args = dict(stride=int(rng.choice([1, 2])), elem_bytes=float(rng.choice([1, 2])), w_static=int(seed % 2),
                first=int(seed % 3 == 0), last=int(seed % 4 == 0), rows=int(rng.choice([4, 16, 64])),
                cols=int(rng.choice([8, 32, 64])), unroll=unroll, stationary=int(seed % 3),
                l1_bytes=float(rng.choice([2, 64, 512])), l2_bytes=float(rng.choice([1e4, 1e6, 1e8])))
    r = run_op(dims, **args, dram_lat=50e-9 * (seed % 2))
    cycles, latency, energy, dram = twin(dims, args["stride"], args["elem_bytes"], args["w_static"],
                                         args["first"], args["last"], args["rows"], args["cols"], unroll,
                                         args["stationary"], args["l1_bytes"], args["l2_bytes"], 1e9, 64.0,
                                         1.0, 2.0, 10.0, 1e9, 5.0, 50e-9 * (seed % 2))
    assert r["compute_cycles"] == cycles
    assert r["latency_s"] == pytest.approx(latency, rel=1e-12)
    assert r["energy_j"] == pytest.approx(energy, rel=1e-12)
    assert r["dram_bytes"] == pytest.approx(dram, rel=1e-12)
