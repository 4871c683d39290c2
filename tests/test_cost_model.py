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
    # -> DRAM-bound; the first stationary tile (2 x 4 weights = 8 bytes, a stored parameter, so from
    # DRAM) loads before compute: 8/64 + 8/1 = 8.125 ns exposed; latency = 128 + 8.125 + fill/drain
    # (2 + 4) ns = 142.125 ns.
    # Energy (pJ): MAC 256*1 + L1 (3*256 + 288)*2 + L2 288*10 + DRAM 128*8*5 = 256 + 2112 + 2880 + 5120.
    r = run_op((1, 8, 8, 4, 1, 1, 1), rows=2, cols=4, l1_bytes=2.0)
    assert r["compute_cycles"] == 32
    assert r["utilization"] == pytest.approx(1.0)
    assert r["l2_accesses"] == pytest.approx(288)
    assert r["dram_bytes"] == pytest.approx(128)
    assert r["bound"] == 2
    assert r["latency_s"] == pytest.approx(142.125e-9)
    assert r["exposed_s"] == pytest.approx(8.125e-9)
    assert r["energy_j"] == pytest.approx((256 + 2112 + 2880 + 5120) * 1e-12)


def test_weight_stationary_pe_holds_several_folds():
    # The WS case with a 256-byte L1: half holds cap = 128 weights per PE, given in the order
    # R S C K: R = S = 1 (temporal, 1 each), then C's 2 folds (cap 128 -> 64), then K's 4 folds:
    # the whole W (8 x 8) is one tile. So I is read once (32), W once (64) and every output is
    # written once with no partial sums (32): L2 accesses = 128, DRAM = 128 (first, last, static).
    # Exposed: the one 64-byte tile from DRAM, 64/64 + 64/1 = 65 ns; latency = 128 + 65 + 6 = 199 ns.
    r = run_op((1, 8, 8, 4, 1, 1, 1), rows=2, cols=4, l1_bytes=256.0)
    assert r["tiles"] == 1
    assert r["l2_accesses"] == pytest.approx(128)
    assert r["exposed_s"] == pytest.approx(65e-9)
    assert r["latency_s"] == pytest.approx(199e-9)


def test_dram_latency_is_paid_once_per_op():
    # The case above with a 200 ns DRAM latency: 142.125 ns + 200 ns.
    r = run_op((1, 8, 8, 4, 1, 1, 1), rows=2, cols=4, l1_bytes=2.0, dram_lat=200e-9)
    assert r["latency_s"] == pytest.approx(342.125e-9, rel=1e-12)


def test_small_gemm_output_stationary_l1_reuse_by_hand():
    # Same op, output-stationary Y x X on a 4 x 1 array: Y=4 on 4 rows (1 fold), X=1; temporal
    # N K C: cycles = 8 * 8 = 64. L1 8 bytes -> half holds 4 outputs, given along K (R, S, C are
    # not output dims): t_K = 4, f_K = 2. Tiles = f_Y f_X f_N f_K = 2.
    # I traffic = tiles * (N C ((Y-1)+R) ((X-1)+S)) = 2 * 8*4 = 64; W = tiles * K/2 * C = 2*4*8 = 64;
    # O writes = |O| = 32, no partial-sum reads. L2 accesses = 160.
    r = run_op((1, 8, 8, 4, 1, 1, 1), rows=4, cols=1, unroll=("Y", "X"), stationary=1, l1_bytes=8.0)
    assert r["compute_cycles"] == 64
    assert r["l2_accesses"] == pytest.approx(160)


def test_l2_blocking_by_hand():
    # The WS case above (|I| 32, |W| 64, |O| 32 bytes; P = N*Y*X = 4, K = 8, C = 8; 1-byte
    # accumulator) with a 100-byte L2: 128 bytes do not fit. Order (P outer, K inner) with f_P = 1
    # fits at the finest K split (32 + 64/8 + 32/8 = 44), so nothing is re-fetched and it wins
    # (the first order, no later one is strictly better). Smallest f_K: 32 + 96 * ceil(8/f)/8 <= 100
    # -> ceil(8/f) <= 5.67 -> f_K = 2 (32 + 48 = 80). DRAM = one pass each = 128; 2 L2 blocks;
    # overflow 128 - 100 = 28.
    r = run_op((1, 8, 8, 4, 1, 1, 1), rows=2, cols=4, l1_bytes=2.0, l2_bytes=100.0)
    assert r["dram_bytes"] == pytest.approx(128)
    assert r["l2_overflow_bytes"] == pytest.approx(28)
    assert r["l2_blocks"] == 2
    # A 128-byte L2 holds all three exactly: one block.
    assert run_op((1, 8, 8, 4, 1, 1, 1), rows=2, cols=4, l1_bytes=2.0, l2_bytes=128.0)["l2_blocks"] == 1
    # An 80-byte L2 is filled exactly by that block (32 + 48): still 2 blocks.
    assert run_op((1, 8, 8, 4, 1, 1, 1), rows=2, cols=4, l1_bytes=2.0, l2_bytes=80.0)["l2_blocks"] == 2
    # A 40-byte L2. No order fits with f_A = 1 (e.g. P, K: 32 + 8 + 4 = 44). Re-fetched bytes per
    # order, at the smallest feasible f_A (the other dim at its finest split):
    #   (P, K): 32 s_P + 8 + 4 s_P <= 40 -> f_P = 2, W re-read once: 64
    #   (P, C): 32 s_P / 8 + 8 + 32 s_P <= 40 -> f_P = 2: 64 (not better)
    #   (K, P): 8 + 64 s_K + 8 s_K <= 40 -> s_K <= 0.44 -> f_K = 3 (3/8), I twice more: 64
    #   (K, C): 32/8 + 64 s_K / 8 + 32 s_K <= 40 -> 40 s_K <= 36 -> f_K = 2, I once more: 32 <- best
    #   (C, *): partial sums 2 (f_C - 1) * 32 >= 64
    # Then f_C with f_K = 2: 32 s_C + 32 s_C + 16 <= 40 -> s_C <= 0.375 -> f_C = 3; 6 blocks.
    # DRAM = I 2 x 32 (first op) + W 64 + O 32 = 160 (the unblocked model fetched W per L2 access:
    # 192).
    r = run_op((1, 8, 8, 4, 1, 1, 1), rows=2, cols=4, l1_bytes=2.0, l2_bytes=40.0)
    assert r["dram_bytes"] == pytest.approx(160)
    assert r["l2_blocks"] == 6
    # A 9-byte L2 is filled exactly by the finest two-dim block, K and C split 8 ways each
    # (I 32/8 + W 64/64 + O 32/8 = 4 + 1 + 4 = 9): it still fits. Only orders of K and C have it;
    # (K, C) re-fetches I 8 times (the first order with that block; (C, K) would re-visit the
    # outputs, 2 x 7 x 32 = 448 bytes): 64 blocks, DRAM = I 8 x 32 + W 64 + O 32 = 352.
    r = run_op((1, 8, 8, 4, 1, 1, 1), rows=2, cols=4, l1_bytes=2.0, l2_bytes=9.0)
    assert r["dram_bytes"] == pytest.approx(352)
    assert r["l2_blocks"] == 64


def test_weights_larger_than_l2_are_fetched_once():
    # A 3x3 conv N=1 K=32 C=32 Y=X=4 (pad-free, so the input is 6x6), 1-byte elements, output-
    # stationary Y x X on a 4 x 4 array with L1 = 2 bytes (one output per PE: tiles = K = 32).
    # |W| = 32*32*9 = 9216, |I| = 32*36 = 1152, |O| = 32*16 = 512; L2 = 4096 holds neither W nor
    # all three. Order (P, K), f_P = 1: 1152 + (9216 + 512) s_K <= 4096 -> s_K <= 0.3026 ->
    # f_K = 4 (8/32 = 0.25: 1152 + 2432 = 3584). One pass each: DRAM = 1152 + 9216 + 512 = 10880,
    # where the unblocked model re-read W from DRAM for each of the 32 output tiles
    # (32 x 9216 = 294,912 bytes of W alone).
    r = run_op((1, 32, 32, 4, 4, 3, 3), rows=4, cols=4, unroll=("Y", "X"), stationary=1, l1_bytes=2.0,
               l2_bytes=4096.0)
    assert r["tiles"] == 32
    assert r["l2_blocks"] == 4
    assert r["dram_bytes"] == pytest.approx(10880)


def test_ffn_weight_matrix_larger_than_l2_is_fetched_once():
    # FFN GEMM, 4 tokens x (C 64 -> K 64), 1-byte: |W| 4096, |I| 256, |O| 256; L2 1024. Order
    # (P, K), f_P = 1: 256 + 4352 s_K <= 1024 -> s_K <= 0.1765 -> f_K = 6 (11/64 = 0.1719:
    # 256 + 748 = 1004). DRAM = 256 + 4096 + 256 = 4608 (once each; the unblocked model re-read W
    # per token tile).
    r = run_op((1, 64, 64, 4, 1, 1, 1), rows=4, cols=1, unroll=("Y", "X"), stationary=1, l1_bytes=2.0,
               l2_bytes=1024.0)
    assert r["l2_blocks"] == 6
    assert r["dram_bytes"] == pytest.approx(4608)


def test_tiny_l2_streams_every_access_from_dram():
    # L2 of 1 byte: not even one element of each operand fits, so every L2 access goes to DRAM:
    # DRAM bytes = on-chip bytes (the WS case: 288).
    r = run_op((1, 8, 8, 4, 1, 1, 1), rows=2, cols=4, l1_bytes=2.0, l2_bytes=1.0)
    assert r["dram_bytes"] == pytest.approx(288)
    assert r["onchip_bytes"] == pytest.approx(288)


def test_middle_op_activation_larger_than_l2_spills():
    # Not first, not last, activation weights (attention), L2 of 50 bytes: |I| 32 and |O| 32 do not
    # fit with |W| 64, nor |W| alone, so W (an activation produced elsewhere) comes from DRAM
    # (64 > 50: spilled by its producer) and the blocking's passes decide the rest. Order (P, K)
    # f_P = 1: 32 + 96 s_K <= 50 -> s_K <= 0.1875 -> f_K = 8 (1/8: 32 + 12 = 44): no re-fetch;
    # I (32 <= 50) and O (32 <= 50) stay on chip: DRAM = W 64 only.
    r = run_op((1, 8, 8, 4, 1, 1, 1), rows=2, cols=4, l1_bytes=2.0, l2_bytes=50.0, first=0, last=0, w_static=0)
    assert r["dram_bytes"] == pytest.approx(64)


def test_partial_sums_at_accumulator_width():
    # The WS case: writes = |O| f_C = 64, |O| = 32: 32 final writes at 1 byte, 32 partial writes and
    # 32 reads at the accumulator's 4 bytes: on-chip bytes = (128 + 64 + 32) + 2 * 32 * 4 = 480
    # (288 at a 1-byte accumulator); L2 accesses stay 288 (elements).
    r = run_op((1, 8, 8, 4, 1, 1, 1), rows=2, cols=4, l1_bytes=2.0, acc_bytes=4.0)
    assert r["onchip_bytes"] == pytest.approx(480)
    assert r["l2_accesses"] == pytest.approx(288)
    # No accumulator width given (0): max(32 bits, the element width) -> 4 bytes for 1-byte data,
    # 4 bytes for 2-byte data (on-chip bytes (224 * 2) + 2 * 32 * 4 = 704).
    assert run_op((1, 8, 8, 4, 1, 1, 1), rows=2, cols=4, l1_bytes=2.0, acc_bytes=0.0)["onchip_bytes"] == pytest.approx(480)
    r = run_op((1, 8, 8, 4, 1, 1, 1), rows=2, cols=4, l1_bytes=2.0, acc_bytes=0.0, elem_bytes=2.0)
    assert r["onchip_bytes"] == pytest.approx(704)


def test_strided_pointwise_conv_reads_only_its_pixels():
    # 1x1 conv, stride 2, 28x28 outputs from a 55x55 bounding box: it reads 28 x 28 pixels, not 55^2.
    # |I| = C * 28 * 28 = 8 * 784 = 6272 elements; first op, everything fits L2: DRAM = |I| + |W| + |O|
    # = 6272 + 16*8 + 16*784 = 6272 + 128 + 12544 = 18944 bytes.
    r = run_op((1, 16, 8, 28, 28, 1, 1), stride=2, rows=4, cols=4)
    assert r["dram_bytes"] == pytest.approx(18944)
    # A 3x3 stride-2 window overlaps its neighbour: (28 - 1) * 2 + 3 = 57 pixels per side.
    r = run_op((1, 16, 8, 28, 28, 3, 3), stride=2, rows=4, cols=4)
    assert r["dram_bytes"] == pytest.approx(8 * 57 * 57 + 16 * 8 * 9 + 16 * 784)


def test_flexible_array_takes_the_fastest_unrolling():
    # GEMM K 64, C 64 on a 4x4 token plane (Y 4, X 4) on a 16 x 16 output-stationary array.
    # Y x X: 4 x 4 of 256 PEs busy: cycles = 1 * 1 * K*C = 4096 (utilisation 1/16).
    # Y x K: Y 4 of 16 rows, K 16 of 16 cols (4 folds), X 4 temporal: 4 * 4 * 64 = 1024 cycles (1/4).
    # Y+X+N x K: 16 token lanes x 16 K lanes: 4 K folds * C 64 = 256 cycles (utilisation 1).
    # With ample bandwidth and L2 the flexible array takes candidate 2 (Y+X+N x K), compute-bound.
    cands = [("Y", "X"), ("Y", "K"), ("YXN", "K")]
    fixed = run_op((1, 64, 64, 4, 4, 1, 1), rows=16, cols=16, unroll=("Y", "X"), stationary=1, onchip_bpc=1e6,
                   dram_bw=1e15)
    flex = run_op((1, 64, 64, 4, 4, 1, 1), rows=16, cols=16, stationary=1, onchip_bpc=1e6, dram_bw=1e15,
                  candidates=cands)
    assert fixed["compute_cycles"] == 4096
    assert flex["compute_cycles"] == 256
    assert flex["unrolling"] == 2
    assert flex["utilization"] == pytest.approx(1.0)
    # Restricted to the first two, it takes Y x K (1024 cycles).
    two = run_op((1, 64, 64, 4, 4, 1, 1), rows=16, cols=16, stationary=1, onchip_bpc=1e6, dram_bw=1e15,
                 candidates=cands[:2])
    assert two["compute_cycles"] == 1024
    assert two["unrolling"] == 1


def test_middle_op_and_activation_weights_have_no_compulsory_dram():
    # Not first, not last, W an activation (attention): nothing needs DRAM when all fits L2.
    r = run_op((1, 8, 8, 4, 1, 1, 1), rows=2, cols=4, first=0, last=0, w_static=0)
    assert r["dram_bytes"] == 0.0


# ---- plain-Python twin -----------------------------------------------------------------------------

def blocking_twin(sizes, acc_o, extent, cap):
    """l2_blocking written from its docstring: linear scans instead of binary searches."""
    frac = lambda d, f: math.ceil(extent[d] / f) / extent[d]  # noqa: E731

    def foot(f):
        o = acc_o if f[2] > 1 else sizes[2]
        return (sizes[0] * frac(0, f[0]) * frac(2, f[2]) + sizes[1] * frac(1, f[1]) * frac(2, f[2])
                + o * frac(0, f[0]) * frac(1, f[1]))

    if sum(sizes) <= cap:
        return "fits", (1, 1, 1), 1
    best = None
    for a, b in ((0, 1), (0, 2), (1, 0), (1, 2), (2, 0), (2, 1)):
        for fa in range(1, extent[a] + 1):
            f = [1, 1, 1]
            f[a], f[b] = fa, extent[b]
            if foot(f) <= cap:
                break
        else:
            continue
        irrelevant = {1: 0, 0: 1, 2: 2}[a]           # K -> I, P -> W, C -> O
        extra = (fa - 1) * (2 * acc_o if irrelevant == 2 else sizes[irrelevant])
        if best is None or extra < best[0]:
            best = (extra, a, b, fa, irrelevant)
    if best is None:
        return "streamed", (0, 0, 0), 1
    _, a, b, fa, irrelevant = best
    for fb in range(1, extent[b] + 1):
        f = [1, 1, 1]
        f[a], f[b] = fa, fb
        if foot(f) <= cap:
            break
    passes = [1, 1, 1]
    passes[irrelevant] = fa
    return "blocked", tuple(passes), fa * fb


def twin(dims, stride, eb, w_static, first, last, rows, cols, unrolls, stationary, l1, l2, clock,
         bpc, mac_pj, l1_pj, l2_pj, dram_bw, dram_pj, dram_lat, acc):
    """Written from the docstring, with names instead of indices; ``unrolls`` lists the candidates."""
    D = dict(zip("NKCYXRS", dims))
    rd = lambda o, w: min((o - 1) * stride + w, o * w)  # noqa: E731
    size = {"I": D["N"] * D["C"] * rd(D["Y"], D["R"]) * rd(D["X"], D["S"]),
            "W": D["K"] * D["C"] * D["R"] * D["S"], "O": D["N"] * D["K"] * D["Y"] * D["X"]}
    macs = math.prod(D.values())
    state, passes, blocks = blocking_twin((size["I"] * eb, size["W"] * eb, size["O"] * eb), size["O"] * acc,
                                          (D["N"] * D["Y"] * D["X"], D["K"], D["C"]), l2)
    p = dict(zip("IWO", passes))
    streamed = state == "streamed"
    from_dram = {"I": streamed or first or p["I"] > 1 or size["I"] * eb > l2,
                 "W": streamed or w_static or p["W"] > 1 or size["W"] * eb > l2,
                 "O": streamed or last or size["O"] * eb > l2}
    dram_fixed = 0.0
    if from_dram["I"]:
        dram_fixed += p["I"] * size["I"] * eb
    if from_dram["W"]:
        dram_fixed += p["W"] * size["W"] * eb
    if from_dram["O"]:
        dram_fixed += size["O"] * eb
    dram_fixed += 2 * (p["O"] - 1) * size["O"] * acc if state != "streamed" else 0
    best = None
    for unroll in unrolls:
        lanes, spatial = {}, set()
        for axis_len, axis_dims in ((rows, unroll[0]), (cols, unroll[1])):
            left = axis_len
            for d in axis_dims:
                lanes[d] = min(D[d], left)
                spatial.add(d)
                left //= lanes[d]
        cycles = math.prod(math.ceil(D[d] / lanes[d]) if d in spatial else D[d] for d in D)
        rel = {"weight": "KCRS", "output": "NKYX", "input": "NCYXRS"}[("weight", "output", "input")[stationary]]
        tile = {}
        cap = max(1, int(l1 / 2 / eb))
        for d in "RSCKXYN":
            if d in rel and d not in spatial:
                tile[d] = min(D[d], cap)
                cap = max(1, cap // tile[d])
            elif d in rel:
                held = min(math.ceil(D[d] / lanes[d]), cap)
                tile[d] = lanes[d] * held
                cap = max(1, cap // held)
        f = {d: math.ceil(D[d] / tile[d]) for d in rel}
        tiles = math.prod(f.values())
        e = {d: (D[d] / f[d] if d in rel else D[d]) for d in D}
        writes = tiles * e["N"] * e["K"] * e["Y"] * e["X"]
        t_i = tiles * e["N"] * e["C"] * rd(e["Y"], e["R"]) * rd(e["X"], e["S"])
        t_w = tiles * e["K"] * e["C"] * e["R"] * e["S"]
        l2acc = t_i + t_w + 2 * writes - size["O"]
        onchip = (t_i + t_w + size["O"]) * eb + 2 * (writes - size["O"]) * acc
        dram = onchip if state == "streamed" else dram_fixed
        terms = [cycles / clock, onchip / (bpc * clock), dram / dram_bw]
        s_name = "WOI"[stationary]
        tile_bytes = min(math.prod(min(tile[d], D[d]) for d in rel), size[s_name]) * eb
        exposed = tile_bytes / (bpc * clock) + (tile_bytes / dram_bw if from_dram[s_name] else 0.0)
        latency = max(terms) + exposed + (rows + cols) / clock + dram_lat
        energy = (macs * mac_pj + (3 * macs + l2acc) * l1_pj + l2acc * l2_pj + dram * 8 * dram_pj) * 1e-12
        if best is None or (latency, energy) < best[1:3]:
            best = (cycles, latency, energy, dram)
    return best


FAMILIES = {0: [("K", "C"), ("C", "K"), ("K", "CRS"), ("CRS", "K")],
            1: [("Y", "X"), ("X", "Y"), ("Y", "K"), ("K", "Y"), ("YXN", "K"), ("K", "YXN")],
            2: [("C", "YXN"), ("YXN", "C")]}


@pytest.mark.parametrize("seed", range(48))
def test_kernel_matches_python_twin(seed):
    rng = np.random.default_rng(seed)
    dims = [int(rng.integers(1, 5)), int(rng.choice([3, 16, 64, 100, 768])), int(rng.choice([3, 8, 64, 300])),
            int(rng.integers(1, 60)), int(rng.integers(1, 60)), int(rng.choice([1, 3, 7])), int(rng.choice([1, 3, 5]))]
    unroll = [("K", "C"), ("Y", "X"), ("R", "Y"), ("KN", "CX"), ("C", "K")][seed % 5]
    stationary = int(seed % 3)
    # Every third case is a flexible array with its family's candidates.
    cands = FAMILIES[stationary] if seed % 3 == 1 else [unroll]
    args = dict(stride=int(rng.choice([1, 2, 3])), elem_bytes=float(rng.choice([1, 2])), w_static=int(seed % 2),
                first=int(seed % 3 == 0), last=int(seed % 4 == 0), rows=int(rng.choice([4, 16, 64])),
                cols=int(rng.choice([8, 32, 64])), stationary=stationary,
                l1_bytes=float(rng.choice([2, 64, 512])), l2_bytes=float(rng.choice([1e2, 3e3, 1e4, 1e5, 1e6, 1e8])),
                acc_bytes=float(rng.choice([1, 2, 4])))
    r = run_op(dims, **args, unroll=unroll, candidates=cands, dram_lat=50e-9 * (seed % 2))
    cycles, latency, energy, dram = twin(dims, args["stride"], args["elem_bytes"], args["w_static"],
                                         args["first"], args["last"], args["rows"], args["cols"], cands,
                                         args["stationary"], args["l1_bytes"], args["l2_bytes"], 1e9, 64.0,
                                         1.0, 2.0, 10.0, 1e9, 5.0, 50e-9 * (seed % 2), args["acc_bytes"])
    assert r["compute_cycles"] == cycles
    assert r["latency_s"] == pytest.approx(latency, rel=1e-12)
    assert r["energy_j"] == pytest.approx(energy, rel=1e-12)
    assert r["dram_bytes"] == pytest.approx(dram, rel=1e-12)


def test_cost_table_shares_l2_blocking_only_between_equal_chiplets():
    # cost_table computes each op's L2 blocking once per (L2 bytes, accumulator width) and reuses it
    # for later chiplets with the same pair; every entry must equal op_cost on that pair alone.
    # Chiplets: 40-byte L2 at a 1-byte accumulator (test_l2_blocking_by_hand: 160 DRAM bytes, 6
    # blocks), the same L2 at a 4-byte accumulator (C-split partial sums now cost 4 bytes), a
    # 100-byte L2 (128 bytes, 2 blocks), and the first chiplet again (shares its blocking).
    from dse.cost.dataflow import COL, ChipletArrays, Dram, OpArrays, cost_table
    from tests.helpers import one_chiplet, one_op

    specs = [dict(l2_bytes=40.0, acc_bytes=1.0), dict(l2_bytes=40.0, acc_bytes=4.0), dict(l2_bytes=100.0, acc_bytes=1.0),
             dict(l2_bytes=40.0, acc_bytes=1.0)]
    ops_dims = [(1, 8, 8, 4, 1, 1, 1), (1, 16, 8, 4, 1, 1, 1), (1, 8, 24, 4, 1, 1, 1)]
    chips = [one_chiplet(rows=2, cols=4, l1_bytes=2.0, **s) for s in specs]
    ops = [one_op(d) for d in ops_dims]
    both = ChipletArrays(*[np.concatenate(parts) for parts in zip(*chips)])
    all_ops = OpArrays(*[np.concatenate(parts) for parts in zip(*ops)])
    table = cost_table(all_ops, both, Dram(1e9, 5.0, 0.0))
    for i, d in enumerate(ops_dims):
        for c, s in enumerate(specs):
            alone = run_op(d, rows=2, cols=4, l1_bytes=2.0, **s)
            for name in ("dram_bytes", "l2_blocks", "latency_s", "energy_j", "onchip_bytes"):
                assert table[i, c, COL[name]] == alone[name], (i, c, name)
    assert table[0, 0, COL["dram_bytes"]] == 160 and table[0, 0, COL["l2_blocks"]] == 6
    assert table[0, 2, COL["dram_bytes"]] == 128 and table[0, 2, COL["l2_blocks"]] == 2
    # the accumulator width changes some op's blocking at the same L2 (else sharing could not be checked)
    assert any(table[i, 1, COL["dram_bytes"]] != table[i, 0, COL["dram_bytes"]] for i in range(len(ops_dims)))
