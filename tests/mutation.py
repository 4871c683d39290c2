"""Mutation run: realistic one-line changes to the model's formulas and the code that combines
kernel results; each must make the test suite fail ("killed"). Run on demand:

    python tests/mutation.py            # all mutants, 2 at a time
    python tests/mutation.py -k kv      # only mutants whose description contains "kv"

Each mutant is applied to its own copy of the repository (git ls-files) and the suite runs there with
``NUMBA_DISABLE_JIT=1`` (the kernels as plain Python: no compile per mutant and no stale numba cache
of a caller whose callee changed), ``-x``, without the subprocess tests (their searches are slow
without the JIT). Mutants of the search loop, storage and CLI checks, which only the subprocess tests
reach, run those tests (named per mutant) with the JIT on: no kernel changes there, so the cache is
sound.
Prints one line per mutant and the kill rate; exit 1 if a mutant survives that is not listed in
EQUIVALENT with its reason.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# (file, original line fragment, mutated fragment, description). The fragment must occur exactly
# once in the file (or give "fragment@k" for its k-th occurrence, 0-based).
MUTANTS: list[tuple] = [
    # --- dse/cost: dataflow -----------------------------------------------------------------------
    ("dse/cost/dataflow.py", "else np.ceil(fl[DIM, d] / fl[LANES, d])", "else np.floor(fl[DIM, d] / fl[LANES, d])",
     "spatial folds: floor instead of ceil"),
    ("dse/cost/dataflow.py", "l2_acc = t_i + t_w + 2.0 * o_writes - size_o", "l2_acc = t_i + t_w + o_writes",
     "output traffic without partial-sum reads"),
    ("dse/cost/dataflow.py", "fill_s = (rows + cols) / clock_hz + dram.latency_s",
     "fill_s = (rows + cols) / clock_hz", "op latency without DRAM latency"),
    ("dse/cost/dataflow.py", "l1_acc = 3.0 * macs + l2_acc", "l1_acc = 2.0 * macs + l2_acc",
     "L1 accesses 2 per MAC instead of 3"),
    ("dse/cost/dataflow.py", "dram_j = dram_bytes * 8.0 * dram.pj_per_bit * 1e-12",
     "dram_j = dram_bytes * dram.pj_per_bit * 1e-12", "DRAM energy per byte instead of per bit"),
    ("dse/cost/dataflow.py", "or op.w_static == 1 or p_w > 1.0", "or True or p_w > 1.0",
     "activation weights read from DRAM as parameters"),
    ("dse/cost/dataflow.py", "cap0 = max(1.0, np.floor(chip.l1_bytes / 2.0 / elem_bytes))",
     "cap0 = max(1.0, np.floor(chip.l1_bytes / elem_bytes))", "whole L1 for the stationary tile"),
    # L2 blocking, accumulator width, pixels read, first tile exposed, flexible unrolling (issue 11)
    ("dse/cost/dataflow.py", "    o = acc_o if fc > 1 else sizes[2]", "    o = sizes[2]",
     "split reduction holds its output block at output width"),
    ("dse/cost/dataflow.py", "return sizes[0] * sp * sc + sizes[1] * sk * sc + o * sp * sk",
     "return sizes[0] * sp * sc + sizes[1] * sk + o * sp * sk", "weight block not split along C"),
    ("dse/cost/dataflow.py", "            if best < 0.0 or extra < best:", "            if best < 0.0 or extra > best:",
     "blocking order: most re-fetched bytes instead of least"),
    ("dse/cost/dataflow.py", "irr = 0 if a == BLOCK_K else (1 if a == BLOCK_P else 2)",
     "irr = 1 if a == BLOCK_K else (0 if a == BLOCK_P else 2)", "re-fetched operand: I and W swapped"),
    ("dse/cost/dataflow.py", "    p_i = best_fa * 1.0 if best_a == BLOCK_K else 1.0", "    p_i = 1.0",
     "input re-fetches of a K-outer blocking not charged"),
    ("dse/cost/dataflow.py", "    return BLOCKED, p_i, p_w, p_o, best_fa * fb * 1.0", "    return BLOCKED, p_i, p_w, p_o, fb * 1.0",
     "L2 blocks: inner splits only"),
    ("dse/cost/dataflow.py", "if b == a or best == 0.0:", "if b == a or best >= 0.0:",
     "L2 blocking stops at the first order that fits"),
    ("dse/cost/dataflow.py", "    while l2_footprint(sizes, acc_o, extent, g0, g1, g2) > capacity:",
     "    while l2_footprint(sizes, acc_o, extent, g0, g1, g2) >= capacity:",
     "a block that fills L2 exactly counted as not fitting"),
    ("dse/cost/dataflow.py", "    return min((out_len - 1.0) * stride + window, out_len * window)",
     "    return (out_len - 1.0) * stride + window", "input footprint as the window's bounding box"),
    ("dse/cost/dataflow.py", "onchip_bytes = (t_i + t_w + size_o) * elem_bytes + 2.0 * (o_writes - size_o) * acc",
     "onchip_bytes = (t_i + t_w + size_o) * elem_bytes + 2.0 * (o_writes - size_o) * elem_bytes",
     "partial sums at element width"),
    ("dse/cost/dataflow.py", "return chip.acc_bytes if chip.acc_bytes > 0.0 else max(4.0, op.elem_bytes)",
     "return chip.acc_bytes if chip.acc_bytes > 0.0 else op.elem_bytes", "default accumulator at element width"),
    ("dse/cost/dataflow.py", "            exposed += tile_bytes / dram.bytes_per_s", "            exposed += 0.0",
     "first tile's DRAM load hidden"),
    ("dse/cost/dataflow.py", "                    cap = max(1.0, np.floor(cap / held))", "                    cap = cap",
     "L1 capacity reused after holding folds"),
    ("dse/cost/dataflow.py", "f = fo if held == 1.0 else np.ceil(fo / held)", "f = fo if held == 1.0 else np.floor(fo / held)",
     "stationary tiles: floor instead of ceil"),
    ("dse/cost/dataflow.py", "and chips.acc_bytes[b] == chips.acc_bytes[c]:", ":",
     "cost table shares L2 blocking between chiplets of different accumulator widths"),
    ("dse/cost/dataflow.py", "b = first[c]", "b = 0",
     "cost table takes every chiplet's L2 blocking from the first chiplet"),
    ("dse/cost/dataflow.py", "        latency = worst + exposed + fill_s", "        latency = worst + fill_s",
     "first tile's load hidden"),
    ("dse/cost/dataflow.py", "if not (best_latency < 0.0 or latency < best_latency or",
     "if not (best_latency < 0.0 or latency > best_latency or", "flexible array takes the slowest unrolling"),
    ("dse/cost/dataflow.py", "        dram_fixed += 2.0 * (p_o - 1.0) * size_o * acc", "        dram_fixed += 0.0",
     "spilled partial sums not charged"),
    ("dse/cost/dataflow.py", "    if onchip_s > worst:", "    if onchip_s < worst:", "roofline: on-chip term max -> min"),
    ("dse/cost/dataflow.py", "overflow = max(0.0,", "overflow = min(0.0,", "L2 overflow max -> min"),
    ("dse/cost/dataflow.py", "size_w = dims[1] * dims[2] * dims[5] * dims[6] * 1.0",
     "size_w = dims[1] * dims[2] * 1.0", "weight size without the filter window"),
    # --- dse/cost: roofline, collectives -----------------------------------------------------------
    ("dse/cost/collectives.py", "return 2.0 * (n - 1) * (latency_s + nbytes / (n * bytes_per_s)), 2.0 * (n - 1) * nbytes",
     "return (n - 1) * (latency_s + nbytes / (n * bytes_per_s)), 2.0 * (n - 1) * nbytes",
     "ring all-reduce: one pass instead of two"),
    ("dse/cost/collectives.py", "return (n - 1) * (latency_s + nbytes / (n * bytes_per_s)), (n - 1) * nbytes",
     "return n * (latency_s + nbytes / (n * bytes_per_s)), (n - 1) * nbytes", "all-gather: n steps instead of n - 1"),
    ("dse/cost/roofline.py", "stream = min(all_bw, power_multiple * external_bytes_per_s)",
     "stream = max(all_bw, power_multiple * external_bytes_per_s)", "PIM power cap: min -> max"),
    ("dse/cost/roofline.py", "    if tc >= tm:", "    if tc <= tm:", "roofline: max -> min"),
    ("dse/cost/roofline.py", "return (flops * pj_per_flop + nbytes * 8.0 * pj_per_bit) * 1e-12",
     "return (flops * pj_per_flop + nbytes * pj_per_bit) * 1e-12", "op energy per byte instead of per bit"),
    # --- dse/system/llm ------------------------------------------------------------------------------
    ("dse/system/gpu/kernels.py", "comm += 2.0 * layers * ar", "comm += layers * ar",
     "standard TP: one all-reduce per layer instead of two"),
    ("dse/system/gpu/kernels.py", "comm += (layers - pp) * exposed + pp * ar", "comm += layers * exposed",
     "Kraken: stage-final all-reduces hidden too"),
    ("dse/system/gpu/kernels.py", "Ti = step.head_tokens if ops.last_only[i] == 1 else step.tokens", "Ti = step.tokens",
     "LM head on every prompt token in prefill"),
    ("dse/system/gpu/kernels.py", "runners = system.tp if d == GPU else dev[d, D_NDEV]@0",
     "runners = 1.0 if d == GPU else dev[d, D_NDEV]", "energy of one GPU instead of the TP group"),
    ("dse/system/gpu/kernels.py", "fc = FC_POOL if policy == P_PAPI and T <= alpha else GPU",
     "fc = FC_POOL if policy == P_PAPI and T < alpha else GPU", "PAPI threshold off by one"),
    ("dse/system/llm/kernels.py", "ctx = n * (trace.prompt + g + tlp)", "ctx = n * (trace.prompt + g)",
     "decode context without the step's own tokens"),
    ("dse/system/llm/kernels.py", "res[R_TPOT_SUM] += now / lengths[idx]", "res[R_TPOT_SUM] += now",
     "TPOT: finish time not divided by length"),
    ("dse/system/gpu/kernels.py", "comm += (pp - 1) * p2p", "comm += pp * p2p", "pipeline sends: pp instead of pp - 1"),
    ("dse/system/gpu/kernels.py", "        wire *= share\n", "", "PIM link energy of one device only"),
    ("dse/system/llm/evaluator.py", "energy += sum(e_one * len(r) / n_req for r in replicas)", "energy += e_one",
     "prefill energy of one replica"),
    ("dse/system/llm/evaluator.py", "decode_s = max(decode_s, res[R_TIME])", "decode_s = decode_s + res[R_TIME]",
     "DP replicas' decode times summed instead of maxed"),
    ("dse/system/gpu/pim.py", "dev[d, D_NDEV] = max(1.0, float(devices))",
     "dev[d, D_NDEV] = max(1.0, float(pool.count))", "PIM pools not split over pp x dp"),
    ("dse/system/llm/evaluator.py", "        energy += hw.gpu.idle_w * hw.gpu_count * latency\n", "        pass\n",
     "GPU idle energy dropped"),
    ("dse/system/llm/evaluator.py", "ops.ffn * (2 if t.architecture == \"llama\" else 1)", "ops.ffn",
     "SwiGLU activations counted once"),
    ("dse/system/llm/evaluator.py", "+ (0.0 if roles else kv_bytes / attn_share))", "+ (0.0 if roles else kv_bytes))",
     "KV cache not split over TP ranks"),
    ("dse/system/llm/evaluator.py", "kv_prefill = n_req * t.seq_len if dec.include_prefill else 0.0", "kv_prefill = 0.0",
     "KV of the prompt ignored without decode"),
    ("dse/system/llm/evaluator.py", "replicas = [np.sort(point.lengths[k::dp]) for k in range(dp)]",
     "replicas = [point.lengths[k::dp] for k in range(dp)]", "request lengths not sorted for the trace"),
    ("dse/system/llm/evaluator.py", "if tp * pp * dp > hw.gpu_count:", "if tp * pp * dp >= hw.gpu_count:",
     "GPU count check off by one"),
    ("dse/system/llm/evaluator.py", "link, stage = group_link(hw.cluster, tp), group_link(hw.cluster, tp * pp)",
     "link, stage = group_link(hw.cluster, tp), group_link(hw.cluster, tp)",
     "llm cluster: a replica spanning nodes sends between stages over NVLink"),
    ("dse/system/gpu/kernels.py", "p2p, wire = send_recv(system.act_bytes_per_token * tokens, system.stage_bytes_per_s,",
     "p2p, wire = send_recv(system.act_bytes_per_token * tokens, bw,",
     "stage sends over the TP link"),
    ("dse/system/llm/evaluator.py", "\"tokens_per_s\": tokens / latency if latency > 0 else 0.0",
     "\"tokens_per_s\": tokens / decode_s if latency > 0 else 0.0", "tokens/s over decode time only"),
    ("dse/system/gpu/devices.py", "dev[GPU, D_FLOPS], dev[GPU, D_BW] = gpu_rates(",
     "dev[GPU, D_BW], dev[GPU, D_FLOPS] = gpu_rates(", "GPU rates swapped"),
    ("dse/system/llm/evaluator.py", "held = {\"fc\": stage_weights, \"attn\": kv_bytes, \"all\": stage_weights + kv_bytes}",
     "held = {\"fc\": stage_weights, \"attn\": kv_bytes, \"all\": stage_weights}", "PIM-only pool holds no KV"),
    # --- dse/system: memory ---------------------------------------------------------------------------
    ("dse/system/gpu/memory.py", "return context_tokens * kv_bytes_per_token * math.ceil(layers / pp) / layers",
     "return context_tokens * kv_bytes_per_token * (layers // pp) / layers", "KV layers per stage rounded down"),
    ("dse/system/gpu/memory.py", "return context_tokens * kv_bytes_per_token * math.ceil(layers / pp) / layers",
     "return context_tokens * kv_bytes_per_token / layers", "KV cache of one layer instead of a stage's"),
    ("dse/system/gpu/memory.py", "return 2.0 * tokens * (hidden + ffn_width / tp) * elem_bytes",
     "return 2.0 * tokens * (hidden + ffn_width) * elem_bytes", "FFN activations not split by TP"),
    ("dse/system/gpu/memory.py", "return weight_bytes / pp / tp", "return weight_bytes / tp", "weights not split by PP"),
    # --- dse/system/chiplet ---------------------------------------------------------------------------
    ("dse/cost/roofline.py", "b = bytes_per_s * stream_bytes / (stream_bytes + memory_half)",
     "b = bytes_per_s * stream_bytes / (stream_bytes + 2.0 * memory_half)", "GPU stream curve: half rate at 2x"),
    ("dse/cost/roofline.py", "f = flop_per_s * m / (m + compute_half)", "f = flop_per_s * m / (m + 2.0 * compute_half)",
     "GPU GEMM-row curve: half rate at 2x"),
    ("dse/system/gpu/kernels.py", "fr, br = calibrated_rates(dev[d, D_FLOPS], dev[d, D_BW], m, by,",
     "fr, br = calibrated_rates(dev[d, D_FLOPS], dev[d, D_BW], m, by / tokens,",
     "a launch's bandwidth set by one token's bytes, not the launch's"),
    ("dse/system/gpu/kernels.py", "    return fl, by, q if attn else tokens", "    return fl, by, tokens",
     "attention's GEMM rows: all the step's queries, not one request's"),
    ("dse/system/gpu/kernels.py", "return total + comm + dev[GPU, D_STEP], energy, comm@0",
     "return total + comm, energy, comm", "per-step overhead dropped"),
    ("dse/system/gpu/pim.py", "dev[d, D_LAUNCH] = pool.kernel_floor_s", "dev[d, D_LAUNCH] = 0.0",
     "PIM per-op floor dropped"),
    ("dse/system/gpu/kernels.py", "        return FC_POOL, ATTN_POOL, FC_POOL", "        return ATTN_POOL, FC_POOL, FC_POOL",
     "pim_split: FC and attention pools swapped"),
    ("dse/system/llm/evaluator.py", "            energy += pool.idle_w * pool.count * latency",
     "            energy += pool.idle_w * latency", "PIM static power of one device"),
    ("dse/validate.py", 'return abs(value / self.reference - 1.0) <= tol["rel"] + 1e-12',
     'return abs(value / self.reference - 1.0) <= 2.0 * tol["rel"] + 1e-12', "validate: relative tolerance doubled"),
    ("dse/validate.py", '"ok": all(r["within_tolerance"] for r in must)}', '"ok": True}',
     "validate passes whatever the must cases"),
    ("dse/validate.py", "return lo <= value / self.reference <= hi", "return lo <= value / self.reference",
     "validate: band without its upper bound"),
    ("dse/system/chiplet/kernels.py", "    static_j = frame.static_w * period", "    static_j = frame.static_w * latency",
     "leakage charged for the frame latency instead of its period"),
    ("dse/system/chiplet/spec.py", "return n_pe * self.pe_static_w + sram_mb", "return self.pe_array[0] * self.pe_static_w + sram_mb",
     "PE leakage for one array row"),
    ("dse/system/chiplet/spec.py", "sram_mb = (n_pe * self.l1_bytes + self.l2_bytes) / 1e6", "sram_mb = self.l2_bytes / 1e6",
     "SRAM leakage without the PEs' L1"),
    ("dse/system/chiplet/evaluator.py", "part = lambda col: float((rows[:, COL[col]] * point.ops.mult).sum())",
     "part = lambda col: float(rows[:, COL[col]].sum())", "energy breakdown ignores the model count"),
    ("dse/system/chiplet/kernels.py", "lm = chain[m] + (counts[m] - 1.0) * stage[m].max()", "lm = chain[m] + counts[m] * stage[m].max()",
     "frame latency: count instead of count - 1 extra stages"),
    ("dse/system/chiplet/kernels.py", "period = max(serial, dram_s)", "period = serial",
     "serial frame ignores the DRAM floor"),
    ("dse/system/chiplet/kernels.py", "                e_total += k * ej", "                e_total += ej",
     "transfer energy once per frame, not per inference"),
    ("dse/system/chiplet/kernels.py", "link_busy[path[j]] += k * b / frame.link_bytes_per_s",
     "link_busy[path[j]] += b / frame.link_bytes_per_s", "link busy time ignores the model count"),
    ("dse/system/chiplet/kernels.py", "return k * b * 8.0 * frame.link_pj_per_bit * h * 1e-12",
     "return k * b * 8.0 * frame.link_pj_per_bit * 1e-12", "transfer energy of one hop"),
    ("dse/system/chiplet/kernels.py", "a_cost = k * wt * b / frame.link_bytes_per_s", "a_cost = wt * b / frame.link_bytes_per_s",
     "chain DP edges ignore the model count"),
    ("dse/system/chiplet/kernels.py", "            rounds = effort.iterations if wi == 0 else max(1, effort.iterations // 4)",
     "            rounds = 1", "one Lagrangian round with pipelining"),
    ("dse/system/chiplet/kernels.py", "return abs(pos[s, 0] - pos[d, 0]) + abs(pos[s, 1] - pos[d, 1])",
     "return abs(pos[s, 0] - pos[d, 0])", "XY routing: no hop count for Y moves"),
    ("dse/system/chiplet/kernels.py", "            path[k] = (y * cols + x) * 4 + NORTH\n",
     "            path[k] = (y * cols + x) * 4 + SOUTH\n", "XY routing: north links taken as south ones"),
    # issue 13: moves priced by deltas, the incremental state, the mesh distance transform
    ("dse/system/chiplet/kernels.py", "        e_base -= tx_energy(frame, k, b_out, hs)\n", "",
     "move pricing keeps the energy of the run's old out-transfer"),
    ("dse/system/chiplet/kernels.py", "        p_low = max(d_low, busy_h, busy_others)",
     "        p_low = max(d_low, busy[h], busy_others)", "run bound keeps the run's time on its chiplet"),
    ("dse/system/chiplet/kernels.py", "    if top[0] != a:\n        return busy[top[0]]", "    if True:\n        return busy[top[0]]",
     "busiest other chiplet counts the moved run's own chiplet"),
    ("dse/system/chiplet/kernels.py", "v = link[path[j]] - rem[path[j]] + add[path[j]]", "v = link[path[j]] + add[path[j]]",
     "added route's links keep the removed load"),
    ("dse/system/chiplet/kernels.py", "                if rem[ln] == 0.0 and link[ln] > m_off:", "                if link[ln] > m_off:",
     "busiest link off the removed routes includes them"),
    ("dse/system/chiplet/kernels.py", "            le = min(le, energy[i, c])", "            le = max(le, energy[i, c])",
     "run bound from the most energy instead of the least"),
    ("dse/system/chiplet/kernels.py", "            move_transfer(state, frame, p, h, k, b, -1.0)", "            move_transfer(state, frame, p, h, k, b, 1.0)",
     "applied move adds the old in-transfer instead of removing it"),
    ("dse/system/chiplet/kernels.py", "        elif top[1] < 0 or busy[c] > busy[top[1]]:", "        elif top[1] < 0:",
     "second-busiest chiplet not tracked"),
    ("dse/system/chiplet/kernels.py", "    state.acc[A_ENERGY] = state.met[M_ENERGY] - state.met[M_STATIC_J]",
     "    state.acc[A_ENERGY] = state.met[M_ENERGY]", "incremental energy includes the static energy twice"),
    ("dse/system/chiplet/kernels.py", "        for x in range(cols - 2, -1, -1):", "        for x in range(0):",
     "distance transform without the backward pass along rows"),
    ("dse/system/chiplet/kernels.py", "                if a_cost + grid[g] < lo:\n                    lo = a_cost + grid[g]",
     "                if grid[g] < lo:\n                    lo = grid[g]", "chain DP transfers without their per-byte time"),
    ("dse/system/chiplet/evaluator.py", "\"edp_js\": energy * latency,", "\"edp_js\": energy * period,", "EDP with the period"),
    ("dse/system/chiplet/evaluator.py", "out[f\"utilization_{name}\"] = macs_on[c] / (period * peak[c])",
     "out[f\"utilization_{name}\"] = macs_on[c] / (latency * peak[c])", "utilisation over latency"),
    # --- the decomposition and the store (combining code the issue names) ----------------------------
    ("dse/models/views.py", "return float(a.byte_c[a.cls == ATTN].sum()) * self.layers",
     "return float(a.byte_c[a.cls == ATTN].sum())", "KV cache of one layer"),
    ("dse/models/views.py", "            prev[\"byte_c\"] += op.kv_elems_per_context * b\n", "",
     "fused attention reads K only"),
    ("dse/models/operators.py", "shard_units=kvh, saved_elems_per_token=h + kv + heads * s",
     "shard_units=heads, saved_elems_per_token=h + kv + heads * s", "GQA attention shared by query heads"),
    ("dse/output/store.py", "temp = folder / f\".{final.name}.tmp\"", "temp = final", "part file written to its final name"),
    # --- written after the tests above, as a blind check ---------------------------------------------
    ("dse/cost/dataflow.py", "read_extent(fl[EXT, 3], fl[EXT, 5], stride)", "read_extent(fl[EXT, 3], fl[EXT, 5], 1)",
     "input window ignores the stride"),
    ("dse/cost/dataflow.py", "out[C_UTIL] = macs / (cycles * rows * cols)", "out[C_UTIL] = macs / (cycles * rows)",
     "utilisation over one array axis"),
    ("dse/cost/roofline.py", "    active = stream / all_bw", "    active = 1.0", "PIM compute not power-capped"),
    ("dse/system/gpu/kernels.py", "        if ops.reps[i] > layers:@0", "        if True:", "layer count from the last op"),
    ("dse/system/gpu/kernels.py", "return fc, (GPU if policy == P_GPU else ATTN_POOL), GPU",
     "return fc, (ATTN_POOL if policy == P_GPU else GPU), GPU", "attention dispatch inverted"),
    ("dse/system/llm/kernels.py", "if ctx > res[R_KV_PEAK]:", "if ctx < res[R_KV_PEAK]:", "KV peak max -> min"),
    ("dse/system/llm/evaluator.py", "    T = n_req * t.seq_len\n", "    T = t.seq_len\n", "prefill of one prompt"),
    ("dse/system/llm/evaluator.py", "kv_move, move_j = to_pool(dev, ATTN_POOL, ops.kv_bytes_per_token * T)",
     "kv_move, move_j = to_pool(dev, ATTN_POOL, ops.kv_bytes_per_token * n_req)", "KV move of one token per request"),
    ("dse/system/llm/evaluator.py", "and dp <= t.batch)", "and dp < t.batch)",
     "auto parallel: dp = batch excluded"),
    ("dse/system/chiplet/kernels.py", "        stage[m, c] += t\n", "        stage[m, c] += k * t\n",
     "slowest stage counted per frame, not per inference"),
    ("dse/system/chiplet/kind.py", "            if assign.tobytes() in seen:\n                continue\n", "",
     "identical inner mappings written twice"),
    ("dse/models/views.py", "\"gpu_div\": op.shard_units / math.ceil(op.shard_units / tp) if op.sharded else 1.0",
     "\"gpu_div\": tp if op.sharded else 1.0", "TP shares assume tp divides every unit count"),
    ("dse/system/gpu/memory.py", "    if used > capacity:", "    if used >= capacity:", "capacity check at equality"),
    # --- dse/system/training ------------------------------------------------------------------------
    ("dse/system/training/kernels.py", "                ready += costs.comm_s[sched.comm[i]]",
     "                ready += 0.0", "simulator: sends between devices cost nothing"),
    ("dse/system/training/kernels.py", "    return costs.b_s[s] + costs.w_s[s]", "    return costs.b_s[s]",
     "simulator: fused BW takes B's time only"),
    ("dse/system/training/kernels.py", "                boundary = s - 1\n", "                boundary = s\n",
     "simulator: F waits for the send of the wrong boundary"),
    ("dse/system/training/kernels.py", "                    mem -= costs.alloc[s] - costs.keep[s]",
     "                    mem -= costs.alloc[s]", "Zero Bubble memory model: B frees everything"),
    ("dse/system/training/kernels.py", "            busy += end[i] - start[i]", "            busy = end[i] - start[i]",
     "bubble: busy time of the last pass only"),
    ("dse/system/training/kernels.py", "                if span > life[s]:", "                if span < life[s]:",
     "lifespan max -> min"),
    ("dse/system/training/kernels.py", "        if best_k < 0 and mem[d] < device_cap[d]:",
     "        if best_k < 0 and mem[d] <= device_cap[d]:", "block reordering: device cap off by one"),
    ("dse/system/training/schedules.py", "        warm = min(warmup_c * (p - 1 - d), n)", "        warm = min(warmup_c * (p - d), n)",
     "1F1B / ZB: one warm-up forward too many"),
    ("dse/system/training/schedules.py", "            if j >= deferred:", "            if j > deferred:",
     "ZB-H1/H2: one more W deferred to the end"),
    ("dse/system/training/schedules.py", "        return group * p + rest % p, (v - 1 - chunk) if backward else chunk",
     "        return group * p + rest % p, chunk", "interleaved: backward chunks in forward order"),
    ("dse/system/training/schedules.py", "        warm = min((p - 1 - d) * 2 + (v - 1) * p, total)",
     "        warm = min((p - 1 - d) + (v - 1) * p, total)", "interleaved: warm-up without the 2 per rank"),
    ("dse/system/training/schedules.py", "        out[s.stage_device[st]] += math.ceil(life / s.block_period)",
     "        out[s.stage_device[st]] += life // s.block_period", "block bound: floor instead of ceil"),
    ("dse/system/training/schedules.py", "                          costs=costs)\n    if family == \"zb-v\":",
     "                          costs=None)\n    if family == \"zb-v\":", "V families reorder in unit time only"),
    ("dse/system/training/schedules.py", "                key = (int(bound.max()), int(w[0] - f[0]), f_turn + fb_turn + b_turn)",
     "                key = (-int(bound.max()), int(w[0] - f[0]), f_turn + fb_turn + b_turn)",
     "V turns chosen for the highest memory bound"),
    ("dse/system/gpu/kernels.py", "        out[PASS_F] += 2.0 * ar\n", "        out[PASS_F] += ar\n",
     "TP: one forward all-reduce per layer"),
    ("dse/system/gpu/kernels.py", "    if recompute and layer:\n        out[PASS_B] += out[PASS_F]\n", "",
     "recomputation costs no forward"),
    ("dse/system/gpu/kernels.py", "    mult[PASS_W, FC] = (1.0, 1.0)", "    mult[PASS_W, FC] = (1.0, 0.5)",
     "W pass reads half its bytes"),
    ("dse/system/training/evaluator.py", "        iteration = makespan + dp_ar + opt_s",
     "        iteration = makespan + dp_ar", "iteration without the optimizer step"),
    ("dse/system/training/evaluator.py", "        model_flops = 3.0 * sc.layer_flops", "        model_flops = 2.0 * sc.layer_flops",
     "MFU: forward + backward counted as 2x forward"),
    ("dse/system/training/evaluator.py", "    alloc[S - 1] += logits", "    alloc[S - 1] += 0.0",
     "logits not kept on the last stage"),
    ("dse/system/training/schedules.py", "    if family == \"interleaved\" and n % p:", "    if False:",
     "interleaved 1F1B accepts microbatches not a multiple of pp"),
    ("dse/system/training/schedules.py", "    if family in (\"zb-v\", \"v-half\", \"v-min\"):\n        return 2",
     "    if family in (\"zb-v\", \"v-half\", \"v-min\"):\n        return 1", "V families' layers split as one chunk"),
    ("dse/system/gpu/parallel.py", "        out[0] -= 1\n", "", "embedding slot not taken from the first stage"),
    ("dse/system/gpu/parallel.py", "    return count <= gpus_per_node and gpus_per_node % count == 0",
     "    return count < gpus_per_node and gpus_per_node % count == 0",
     "a group filling a node sent over the inter-node link"),
    ("dse/system/gpu/memory.py", "    if not (first == last and tied):", "    if True:",
     "tied embedding counted twice on one device"),
    ("dse/system/gpu/memory.py", "    held[first] += embedding\n", "", "memory: token embedding dropped"),
    ("dse/system/gpu/parallel.py", "base + (1 if k < extra else 0)", "base + (1 if k <= extra else 0)",
     "stage split off by one"),
    ("dse/system/training/evaluator.py", "    if t.num_attention_heads % tp:", "    if False:",
     "auto splits with tp not dividing the heads"),
    ("dse/system/training/evaluator.py", "    keep_share = 1.0 if tr.recompute else 32.0 * h / (34.0 * h + scores)",
     "    keep_share = 1.0 if tr.recompute else 34.0 * h / (34.0 * h + scores)", "Zero Bubble M_W: 34 sbh for 32"),
    ("dse/models/operators.py", "        if op.kind == GEMM:\n            whole += mask",
     "        if op.kind != GEMM:\n            whole += mask", "dropout masks: replicated and split swapped"),
    # --- input limits (in-process tests) ----------------------------------------------------------
    ("dse/spec/common.py", "        if abs(raw) > limit:", "        if raw > limit:", "magnitude bound on positive values only"),
    ("dse/system/chiplet/ir.py", "        if size > MAX_OP:", "        if size > MAX_OP * 10:", "operator bound 10x loose"),
    ("dse/search/runner.py", "    points.append(largest)\n", "", "knobs not probed at their largest together"),
    ("dse/output/store.py", "    tables = [t for t in tables if (t[0].parent, t[0].name) not in replaced_names]",
     "    tables = tables", "compacted parts read beside the parts they replace"),
    ("dse/output/store.py", "            skipped.append((f, _one_line(exc)))", "            raise",
     "one unreadable part fails the whole dataset"),
    ("dse/output/store.py", "    if len(chosen) > 1:", "    if False:", "rows of several studies merged into one front"),
    # --- dse/system/serving -----------------------------------------------------------------------
    ("dse/system/serving/kernels.py", "                t = (t if t > c else c) + groups.latency[m, g, k]",
     "                t = t + groups.latency[m, g, k]", "routing ignores the queue (no wait for a busy stage)"),
    ("dse/system/serving/kernels.py", "        done = best + policy.overhead_s", "        done = best",
     "per-request overhead dropped"),
    ("dse/system/serving/kernels.py", "        late = done - a > policy.slo_s[m]", "        late = done - a >= 2 * policy.slo_s[m]",
     "SLO doubled"),
    ("dse/system/serving/kernels.py", "            if t < best:", "            if t > best:",
     "requests routed to the group that finishes last"),
    ("dse/system/serving/kernels.py", "            clock[best_g, k] = t\n", "\n", "served requests do not move the clocks"),
    ("dse/system/serving/kernels.py", "                busy[best_g, k] += lat", "                busy[best_g, k] = lat",
     "busy time overwritten instead of summed"),
    ("dse/system/serving/kernels.py", "            rank[m] = unserved[m] + (n + 1.0 if held[m] == 0 else 0.0)",
     "            rank[m] = unserved[m]", "models without a replica not placed first"),
    ("dse/system/serving/kernels.py", "and used[g] + groups.memory[m, g] <= groups.capacity)",
     "and groups.memory[m, g] <= groups.capacity)", "replicas of a group not summed against memory"),
    ("dse/system/serving/costs.py", "            out[k] += body * layers[k] / total_layers",
     "            out[k] += body / pp", "layers' time split evenly regardless of the layer split"),
    ("dse/system/serving/costs.py", "        out[pp - 1] += head", "        out[0] += head",
     "LM head on the first stage"),
    ("dse/system/serving/costs.py", "            for k in range(pp - 1):\n                out[k] += send",
     "            for k in range(pp - 2):\n                out[k] += send", "one stage send too few"),
    ("dse/system/gpu/kernels.py", "t, _ = roofline(fm * fl, bm * by, fr, br, dev[GPU, D_LAUNCH])",
     "t, _ = roofline(fm * fl, bm * by, dev[GPU, D_FLOPS], dev[GPU, D_BW], dev[GPU, D_LAUNCH])",
     "calibration skipped for training passes"),
    ("dse/system/serving/costs.py", "fill_gpu_row(blank_device_table(), gpu)",
     "fill_gpu_row(blank_device_table(), type(gpu)(**{**gpu.__dict__, 'compute_half_tokens': 0.0, "
     "'memory_half_bytes': 0.0, 'step_overhead_s': 0.0}))", "calibration skipped for serving"),
    ("dse/system/serving/costs.py", "    stage = device_parameters(layers, np.arange(pp), pp,",
     "    stage = device_parameters(layers, np.zeros(pp, dtype=np.int64), pp,", "serving stages on one GPU"),
    ("dse/system/serving/arrivals.py", "    shape = 1.0 / (cv * cv)", "    shape = 1.0 / cv", "Gamma shape 1/cv instead of 1/cv^2"),
    ("dse/system/serving/arrivals.py", "            share = (np.arange(M) + 1.0) ** (-float(s.power_law_alpha))",
     "            share = (np.arange(M) + 0.0) ** (-float(s.power_law_alpha))", "power law off by one"),
    ("dse/system/serving/evaluator.py", "        \"goodput_per_s\": float(good.sum()) / span if span > 0 else float(\"nan\"),",
     "        \"goodput_per_s\": float(good.sum()) / float(point.workload.serving.duration_s),",
     "goodput over the whole run instead of the window"),
    ("dse/output/tables.py", "if glue and runs[-1]:", "if False:", "evaluate lines wrapped inside a label-number-unit run",
     "tests/test_output.py::test_wrap_fields_keeps_a_label_its_number_and_its_unit_together"),
    # blind mutants of the review (written before reading the tests meant to kill them)
    ("dse/search/storage.py", "return study_folder.parent / STORAGE_DIR / (study or study_folder.name) / \"journal.log\"",
     "return study_folder / STORAGE_DIR / \"journal.log\"", "blind: the journal back inside the dataset folder",
     "tests/test_cli.py::test_study_resumes_and_a_second_worker_continues_it"),
    ("dse/system/serving/cases.py", 'return m["output_tokens_per_s"] / run(1)["output_tokens_per_s"]',
     'return m["output_tokens_per_s"] / run(1)["requests_per_s"]', "blind: the closed loop's gain over requests at 1"),
    ("dse/output/tables.py", "if cur and len(cur) + 1 + len(run) > width:", "if cur and len(cur) + 1 + len(run) >= width:",
     "blind: wrap_fields one column short", "tests/test_output.py::test_wrap_fields_keeps_a_label_its_number_and_its_unit_together"),
    ("dse/system/serving/spec.py", "groups.sort(key=lambda g: (-g[0], -(g[2] or 0), -(g[1] or 0)))",
     "groups.sort(key=lambda g: (-g[0], (g[2] or 0), -(g[1] or 0)))", "blind: groups of one size ordered by tp ascending"),
    ("dse/cli.py", "    if stream.isatty():", "    if False:", "messages not wrapped between words on a terminal",
     "tests/test_cli.py::test_search_summary_wraps_between_words_at_80_columns"),
    ("dse/search/storage.py", "    if legacy.is_file():\n        return legacy", "    if False:\n        return legacy",
     "a study's journal in the old place ignored", "tests/test_cli.py::test_a_study_begun_in_the_old_layout_keeps_its_journal"),
    ("dse/search/storage.py", "(study or study_folder.name)", "study_folder.name",
     "a renamed study folder looks for its journal under the new name",
     "tests/test_batch.py"),
    ("dse/system/serving/cases.py", "prompt, output = (np.resize(a, n) for a in point.test_lengths)",
     "prompt, output = (np.resize(a[1:], n) for a in point.test_lengths)", "closed loop: lengths from the second draw"),
    ("dse/system/serving/cases.py", '"requests_per_s": n / end', '"requests_per_s": (n - 1) / end',
     "closed loop: one request fewer per second"),
    ("dse/system/serving/cases.py", '[1]["slo_attainment"] >= attainment', '[1]["slo_attainment_min"] >= 1.0',
     "attainment knee: every request instead of the share asked",
     "tests/test_cli.py::test_validate_runs_every_case_and_every_must_case_holds"),
    ("dse/system/serving/spec.py", "return pp * tp, pp, tp", "return pp + tp - 1, pp, tp", "a group's size from its degrees"),
    ("dse/system/serving/evaluator.py", "tp, pp, problem = fixed_tp, fixed_pp, None", "tp, pp, problem = fixed_pp, fixed_tp, None",
     "a group's own degrees swapped"),
    ("dse/system/serving/evaluator.py", "        tp = min(int(hw.tp), size)", "        tp = int(hw.tp)",
     "tp not capped by the group size"),
]

# Blind (issue 23, item 6): written from the sources where kernel results become reported metrics,
# before reading the tests meant to kill them; the first run's kill rate is in the note.
BLIND_MODEL = [
    ("dse/system/training/evaluator.py", "    busy = float(dev[:, D_BUSY].max())", "    busy = float(dev[:, D_BUSY].min())",
     "blind: bubble rate from the least busy device"),
    ("dse/system/training/evaluator.py", '"microbatches_per_s": n * dp / iteration', '"microbatches_per_s": n / iteration',
     "blind: one DP replica's microbatch rate reported as the whole"),
    ("dse/system/training/evaluator.py", "(iteration * tp * pp * dp * g.peak_flop_per_s)",
     "(iteration * tp * pp * g.peak_flop_per_s)", "blind: MFU over one DP replica's GPUs"),
    ("dse/system/training/evaluator.py", '"peak_memory_bytes": float(total.max()),', '"peak_memory_bytes": float(peak_act.max()),',
     "blind: peak memory without the training state"),
    ("dse/system/training/evaluator.py", '"pp_comm_s": float(sc.costs.comm_s.max())', '"pp_comm_s": float(sc.costs.comm_s.sum())',
     "blind: pipeline send time summed over stages"),
    ("dse/system/training/evaluator.py", "tokens = int(tr.global_batch) * t.seq_len", "tokens = int(tr.global_batch) * (t.seq_len - 1)",
     "blind: tokens per iteration one short per sequence"),
    ("dse/system/training/kind.py", '"span_s": float(row[D_LAST] - row[D_FIRST])', '"span_s": float(row[D_LAST])',
     "blind: a device's span from time 0, not its first pass"),
    ("dse/system/training/kind.py", '"peak_activation_units": float(row[D_PEAK]) / unit if unit',
     '"peak_activation_units": float(row[D_PEAK]) if unit', "blind: per-device peak in bytes labelled units"),
    ("dse/system/llm/evaluator.py", "        kv_peak = max(kv_peak, res[R_KV_PEAK])", "        kv_peak = res[R_KV_PEAK]",
     "blind: KV peak of the last DP replica, not the largest"),
    ("dse/system/llm/evaluator.py", '"tpot_s": tpot_sum / len(point.lengths)', '"tpot_s": tpot_sum / total_steps',
     "blind: TPOT averaged over steps, not requests"),
    ("dse/system/llm/evaluator.py", '"fc_on_gpu_fraction": fc_gpu / total_steps', '"fc_on_gpu_fraction": fc_gpu / len(point.lengths)',
     "blind: FC-on-GPU fraction per request, not per step"),
    ("dse/system/serving/evaluator.py", "    lat = (finish - req.arrival_s)[inside][served]", "    lat = (finish - req.arrival_s)[inside][good]",
     "blind: latency percentiles over the requests within SLO only"),
    ("dse/system/serving/evaluator.py", '"slo_attainment_min": min(attain)', '"slo_attainment_min": max(attain)',
     "blind: worst model's attainment from the best model"),
    ("dse/system/serving/evaluator.py", '"replicas": int(placed[i].sum())})', '"replicas": int(placed[i].any())})',
     "blind: a model's replicas counted as one"),
    ("dse/system/chiplet/evaluator.py", '"throughput_per_s": 1.0 / period,', '"throughput_per_s": 1.0 / latency,',
     "blind: throughput from the frame latency, not the period"),
    ("dse/system/chiplet/evaluator.py", "np.add.at(macs_on, assign, point.macs * point.ops.mult)",
     "np.add.at(macs_on, assign, point.macs)", "blind: chiplet utilisation without repeated ops"),
    ("dse/system/chiplet/evaluator.py", '"l2_overflow_bytes": float(overflow.max()),', '"l2_overflow_bytes": float(overflow.sum()),',
     "blind: L2 overflow summed over ops, not the worst op"),
    # written before any test of the serving kind's per-group figures was (2026-12-07, 18:12)
    ("dse/system/serving/kind.py", '"utilisation": float(keep["busy"][g, :c.pp].sum() / (c.pp * span)),',
     '"utilisation": float(keep["busy"][g, :c.pp].sum() / span),', "blind: per-group: utilisation not per stage"),
    ("dse/system/serving/kind.py", '    return float(point.groups.memory[held, g].sum())',
     '    return float(point.groups.memory[held, g].max())', "blind: per-group: memory of the largest model only"),
    ("dse/system/serving/kind.py", '"busy_s": [float(x) for x in keep["busy"][g, :c.pp]],',
     '"busy_s": [float(x) for x in keep["busy"][g, :1]],', "blind: per-group: busy seconds of the first stage only"),
    ("dse/system/serving/kind.py", '"stage_latency_s": {names[i]: [float(x) for x in lat[i]] for i in held}})',
     '"stage_latency_s": {names[i]: [float(x) for x in lat[held[0]]] for i in held}})',
     "blind: per-group: every model given the first model's stage latencies"),
    ("dse/system/serving/evaluator.py", "util = float((busy * tps[:, None]).sum() / (gpus * span))",
     "util = float(busy.sum() / (gpus * span))", "blind: per-group: GPU utilisation without the TP width"),
    ("dse/system/serving/evaluator.py", '"slo_attainment_min": min(attain) if attain else float("nan"),',
     '"slo_attainment_min": max(attain) if attain else float("nan"),', "blind: per-group: worst model's attainment from the best"),
    # written before any end-to-end test of the llm per-op table was (2026-12-07, 18:14)
    ("dse/system/llm/evaluator.py", '"count": int(ops.arrays.reps[i]),', '"count": 1,',
     "blind: llm per-op: an op's repeat count (layers) dropped"),
    ("dse/system/llm/evaluator.py", '"flops": float(op_out[i, O_FLOPS]), "bytes"', '"flops": float(op_out[i, O_BYTES]), "bytes"',
     "blind: llm per-op: FLOPs column from the bytes"),
    ("dse/system/llm/evaluator.py", "                first_step(point, ops, system, len(lengths), op_out)",
     "                first_step(point, ops, system, 1, op_out)", "blind: llm per-op: decode step 1 of one request, not the batch"),
    ("dse/system/gpu/kernels.py", "    e = op_energy(fl, by, dev[d, D_PJ_FLOP], dev[d, D_PJ_BIT]) * runners",
     "    e = op_energy(fl, by, dev[d, D_PJ_FLOP], dev[d, D_PJ_BIT])", "blind: llm per-op: energy of one of the devices running an op"),
    # written before any test of the chiplet energy terms was (session of 2026-12-07, 18:15)
    ("dse/system/chiplet/evaluator.py", '"mac_energy_j": part("mac_j"),', '"mac_energy_j": part("l1_j"),',
     "blind: energy term: MAC energy reported from the L1 column"),
    ("dse/system/chiplet/evaluator.py", 'float((rows[:, COL[col]] * point.ops.mult).sum())',
     'float(rows[:, COL[col]].sum())', "blind: energy term: per-op energies without the op's repeat count"),
    ("dse/cost/dataflow.py", "dram_j = dram_bytes * 8.0 * dram.pj_per_bit * 1e-12",
     "dram_j = dram_bytes * dram.pj_per_bit * 1e-12", "blind: energy term: DRAM energy per byte, not per bit"),
    ("dse/cost/dataflow.py", "l2_j = l2_acc * chip.l2_pj * 1e-12", "l2_j = l2_acc * chip.l1_pj * 1e-12",
     "blind: energy term: L2 accesses at L1's energy"),
    ("dse/system/chiplet/kernels.py", "return k * b * 8.0 * frame.link_pj_per_bit * h * 1e-12",
     "return k * b * 8.0 * frame.link_pj_per_bit * 1e-12", "blind: energy term: NoP energy of one hop whatever the route"),
    ("dse/system/chiplet/kernels.py", "                nop_bytes += k * b\n", "                nop_bytes += b\n",
     "blind: energy term: NoP bytes without the op's repeat count"),
]
BLIND_IMPORT = [
    ("dse/models/onnx_import.py", 'm, c = (a[1], a[0]) if attr(node, "transA", 0) else (a[0], a[1])', "m, c = (a[0], a[1])",
     "blind: ONNX Gemm transA ignored"),
    ("dse/models/onnx_import.py", "weights_static=node.input[1] in inits and len(b) == 2))",
     "weights_static=node.input[1] in inits))", "blind: a batched MatMul initializer counted as static weights"),
    ("dse/models/onnx_import.py", "stride=strides[0],", "stride=1,", "blind: ONNX Conv strides ignored"),
    ("dse/models/hf_config.py", 'intermediate_size=need("n_inner") if cfg.get("n_inner") is not None else 4 * hidden,',
     "intermediate_size=4 * hidden,", "blind: HF gpt2 n_inner ignored"),
]
MUTANTS += BLIND_MODEL
MUTANTS += [
    # --- the continuously batched engine and its iteration cost (issue 24) ---
    ('dse/system/serving/engine.py', '    return (tokens + block_tokens - 1) // block_tokens',
     '    return tokens // block_tokens', 'engine: KV blocks rounded down'),
    ('dse/system/serving/engine.py', '                cached[v] = 0                         # recompute',
     '                cached[v] = cached[v]                         # recompute', 'engine: a preempted request keeps its cache count'),
    ('dse/system/serving/engine.py', '                target[v] = prompt[v] + generated[v]',
     '                target[v] = prompt[v]', 'engine: recompute of the prompt only, not the generated tokens'),
    ('dse/system/serving/engine.py', '                want = min(target[r] - cached[r], budget)\n            need',
     '                want = target[r] - cached[r]\n            need', 'engine: a running chunk not capped by the token budget'),
    ('dse/system/serving/engine.py', '            while size > 0 and n_run < cfg.max_seqs and budget > 0:',
     '            while size > 0 and budget > 0:', 'engine: admission ignores max_num_seqs'),
    ('dse/system/serving/engine.py', '        if admit and ((not preempted) if cfg.chunked else prefill_only):',
     '        if admit and (True if cfg.chunked else prefill_only):', 'engine: admission in an iteration that preempted'),
    ('dse/system/serving/engine.py', '                free += held[r]\n                held[r] = 0\n                done += 1',
     '                held[r] = 0\n                done += 1', "engine: a finished request's blocks never freed"),
    ('dse/system/serving/engine.py', '                dec_ctx += cached[r] + q',
     '                dec_ctx += cached[r]', "engine: a decode's context without its new tokens"),
    ('dse/system/serving/engine.py', '                if ctx == target[r]:\n                    heads += 1.0',
     '                if False:\n                    heads += 1.0', "engine: a prompt's last chunk skips the LM head"),
    ('dse/system/serving/engine.py', '                        if generated[r] == 1:',
     '                        if True:', "engine: a recomputed request's first token time reset"),
    ('dse/system/serving/engine.py', '            stats[S_BLOCK_S] += (cfgs[c].kv_blocks - frees[c]) * dt',
     '            stats[S_BLOCK_S] += (cfgs[c].kv_blocks - frees[c])', 'engine: KV block-seconds counted per iteration'),
    ('dse/system/serving/engine.py',
     '\n                                        bt) <= free)',
     '\n                                        bt) <= free or True)', 'engine: prefill-first ignores the free blocks'),
    ('dse/system/serving/engine.py', '            v = running[n_run - 1]',
     '            v = running[k]', 'engine: the request short of a block preempts itself first'),
    ('dse/system/gpu/kernels.py', 'batch.pre_tokens, batch.pre_qc,',
     'batch.pre_tokens, batch.pre_ctx,', 'iteration cost: prefill attention FLOPs from the contexts, not queries x context'),
    ('dse/system/gpu/kernels.py', 'batch.dec_q * batch.dec_ctx, batch.dec_ctx, batch.dec_n)',
     'batch.dec_q * batch.dec_ctx, batch.dec_ctx, 1.0)', 'iteration cost: the decode launch taken as one request'),
    ('dse/system/gpu/kernels.py', '    return fl, by, tokens / requests',
     '    return fl, by, tokens', 'iteration cost: attention rows of the whole group, not per request'),
    ('dse/system/gpu/kernels.py', '    tokens = batch.dec_n * batch.dec_q + batch.pre_tokens@0',
     '    tokens = batch.pre_tokens', 'iteration cost: FC ops without the decode tokens'),
    ('dse/system/serving/evaluator.py', 'st[S_BUSY] / st[S_END] * span / point.configs[g].pp',
     'st[S_BUSY] / st[S_END] * span', "continuous: a pp group's stages each busy the whole iteration"),
    ('dse/system/serving/evaluator.py', '    tpot = ((finish - first)[many]) / (out_tokens[inside][many] - 1)',
     '    tpot = ((finish - first)[many]) / out_tokens[inside][many]', 'continuous: TPOT over every output token, not those after the first'),
    ('dse/system/serving/evaluator.py', '    capacity = sum(res["blocks"][g] * st[S_END] for g, st in stats.items())',
     '    capacity = sum(res["blocks"][g] for g, st in stats.items())', 'continuous: KV utilisation over blocks, not block-seconds'),
    ('dse/system/serving/evaluator.py', '    ttft = (first - arrival[inside])[done]',
     '    ttft = (first - arrival[inside])', 'continuous: TTFT percentiles include requests never served'),
    ('dse/system/serving/batched.py', '            k = (held[m] == 0, work[m] / held[m] if held[m] else work[m], -m)',
     '            k = (held[m] == 0, work[m], -m)', 'continuous placement by work, not work per GPU held'),
    ('dse/system/serving/batched.py', '            share[(m, int(g))] = mine[j::len(groups)]',
     '            share[(m, int(g))] = mine if j == 0 else mine[:0]', "continuous: every request to a model's first replica"),
    ('dse/system/serving/evaluator.py', '    return ((finish - arrival <= pol.slo_s[m]) & (ttft <= point.ttft_slo_s[m])',
     '    return ((finish - arrival <= pol.slo_s[m])', 'continuous: attainment ignores the TTFT objective'),
    ('dse/system/serving/evaluator.py', '    value = own if own is not None else getattr(serving, key)',
     '    value = own', "continuous: the workload's TTFT / TPOT objectives ignored"),
    ('dse/system/serving/evaluator.py', '"ttft_p90_s": pct(ttft, 90),',
     '"ttft_p90_s": pct(ttft, 99),', 'continuous: TTFT p90 from the p99'),
    ('dse/system/serving/arrivals.py', '    x = rng.lognormal(np.log(mean) - sigma2 / 2.0, np.sqrt(sigma2), n)',
     '    x = rng.lognormal(np.log(mean), np.sqrt(sigma2), n)', 'lengths: lognormal mu without the -sigma^2/2 (the median set to the mean)'),
    ('dse/system/serving/arrivals.py', '        return rng.integers(int(params[0]), int(params[1]) + 1, n).astype(np.int64)',
     '        return rng.integers(int(params[0]), int(params[1]), n).astype(np.int64)', "lengths: uniform's high bound excluded"),
    ('dse/system/serving/arrivals.py', '            prompt[idx], output[idx] = pairs[pick, 0], pairs[pick, 1]',
     '            prompt[idx], output[idx] = pairs[pick, 0], pairs[pick[::-1], 1]', 'lengths: empirical prompt and output from different rows'),
    ('dse/system/serving/evaluator.py', '        mine = [(lens[0][req.model == i], lens[1][req.model == i]) for req, lens in runs]',
     '        mine = [(lens[0][req.model == i], lens[1][req.model == i]) for req, lens in runs[:1]]', "continuous: KV feasibility checked on the evaluation run's lengths only"),
    ('dse/system/serving/evaluator.py', '        tokens = np.bincount(point.train.model, weights=prompt + output, minlength=M)',
     '        tokens = np.bincount(point.train.model, weights=prompt, minlength=M)', 'continuous: placement work without the output tokens'),
    ('dse/system/serving/evaluator.py', '(idle * point.configs[g].size + res["pool_idle_w"][g])',
     '(idle + res["pool_idle_w"][g])', 'continuous: idle energy of one GPU per group'),
    ('dse/system/serving/evaluator.py', '        "usd_per_million_tokens": (float(point.hw.gpu.price_per_gpu_hour) * gpus / 3600.0 / tokens_per_s * 1e6',
     '        "usd_per_million_tokens": (float(point.hw.gpu.price_per_gpu_hour) / 3600.0 / tokens_per_s * 1e6', 'continuous: price of one GPU, not the deployment'),
    ('dse/system/serving/arrivals.py', '    if s.trace is not None and s.trace_lengths:',
     '    if False:', "lengths: a trace's per-request lengths ignored"),
    ('dse/system/serving/engine.py', '        admit = not cfg.static or n_run == 0',
     '        admit = True', 'engine: static batching admits into a running batch'),
    ('dse/system/serving/engine.py', '                    upto = max(upto, prompt[r] + output[r] - 1 + k_spec)',
     '                    upto = upto', "engine: static batching reserves only the prompt's cache"),
    ('dse/system/serving/engine.py', 'system, fc, GPU, batch.head_tokens, 1)',
     'system, fc, GPU, 0.0, 1)', "engine: the LM head's time left out of the table lookup"),
    ('dse/system/serving/engine.py', 'system, fc, GPU, batch.dec_n * batch.dec_q + batch.pre_tokens, 0)',
     'system, fc, GPU, batch.pre_tokens, 0)', "engine: the decodes' tokens left out of the FC table lookup"),
    ('dse/system/serving/evaluator.py', '    many = done & (out_tokens[inside] > 1)',
     '    many = done', 'blind review: TPOT over one-token requests too'),
    ('dse/system/serving/engine.py', '    final = prompt + output - 1 + cfg.spec_tokens',
     '    final = prompt + output + cfg.spec_tokens', "blind review: feasibility counts the last token's KV"),
    ('dse/system/serving/kind.py', '                return isinstance(v, Knob) or float(v) > 0',
     '                return isinstance(v, Knob) or float(v) >= 0', 'blind review: unpriced GPUs still optimise $ per token'),
    ('dse/system/serving/evaluator.py', '    res["finish"] = finish = res["finish"] + pol.overhead_s',
     '    res["finish"] = finish = res["finish"]', 'blind review: continuous finish without the request overhead'),
    # --- speculative decoding, PAPI's per-iteration dispatch, PIM pools in serving (issue 24, item 4) ---
    ('dse/system/serving/batched.py', ' - max(r.reserve_bytes for r in reps)',
     '', 'continuous: KV blocks without the activation reserve'),
    ('dse/system/serving/batched.py', '    gpu_block = draft_block + (0.0 if "attn" in pools else block * kv_layer * float(layers.max()))',
     '    gpu_block = draft_block + (0.0 if "attn" in pools else block * kv_layer * float(layers.min()))', 'continuous: KV block of the smallest stage'),
    ('dse/system/serving/engine.py', '                want = q\n', '                want = 1\n', 'speculative: a decode schedules one token, not k + 1'),
    ('dse/system/serving/engine.py', '                if budget < q:', '                if budget < 1:', 'speculative: a decode taken with less budget than its tokens'),
    ('dse/system/serving/engine.py', '                heads += q\n', '                heads += 1.0\n', 'speculative: one LM-head token per decode, not k + 1'),
    ('dse/system/serving/engine.py', '            if pre_n > 0.0 or q > plan.fc_max_query:', '            if q > plan.fc_max_query:',
     'dispatch: FC on the pool in an iteration with a prefill chunk'),
    ('dse/system/serving/engine.py', '            if pre_n > 0.0 or q > plan.fc_max_query:', '            if pre_n > 0.0:',
     "dispatch: the FC pool's query limit ignored"),
    ('dse/system/serving/engine.py', '                d_t += (k_spec - 1) * s_t', '                d_t += k_spec * s_t',
     'speculative: one draft step too many'),
    ('dse/system/serving/engine.py', '                    a = min(a, output[r] - generated[r])', '                    a = a',
     'speculative: accepted tokens beyond the output length'),
    ('dse/system/serving/engine.py', '    for i in range(1, k + 1):', '    for i in range(1, k):',
     'speculative: the last draft token never accepted'),
    ('dse/system/serving/engine.py', '            d_ctx = dec_ctx - dec_n * k_spec', '            d_ctx = dec_ctx',
     "speculative: the draft reads the target's lookahead context"),
    ('dse/system/serving/engine.py', '                        a = accepted_tokens(cfg.seed, r, generated[r], k_spec, cfg.acceptance)',
     '                        a = accepted_tokens(cfg.seed, r, 0, k_spec, cfg.acceptance)', 'speculative: one draw per request, not per step'),
    ('dse/system/gpu/kernels.py', '    if attn_dev != GPU and batch.pre_tokens > 0.0:', '    if False:',
     "iteration cost: prefill chunks' K/V never moved to the attention pool"),
    ('dse/system/gpu/kernels.py', 'batch.dec_q * batch.dec_ctx, batch.dec_ctx, batch.dec_n)',
     'batch.dec_ctx, batch.dec_ctx, batch.dec_n)', 'iteration cost: decode attention FLOPs for one query token per request'),
    ('dse/system/gpu/kernels.py', "attention_launch(ops, dev, i, GPU, ops.gpu_div[i], system.tp, batch.pre_tokens",
     "attention_launch(ops, dev, i, d, share, runners, batch.pre_tokens", "iteration cost: prefill chunks' attention on the PIM pool"),
    ('dse/system/serving/batched.py', '        per_stage = int(pool.count) * c.size // (gpus * c.pp)', '        per_stage = int(pool.count) // c.pp',
     "serving PIM: a group gets the whole pool, not its GPUs' share"),
    ('dse/system/serving/batched.py', '        weights = 0.0\n', '        weights = weights\n',
     'serving PIM: weights on the GPU although the FC pool holds them'),
    ('dse/system/serving/batched.py', '        pool_blocks = float((n // c.pp) * pool.capacity_bytes() // pool_block)',
     '        pool_blocks = float(n * pool.capacity_bytes() // pool_block)', "serving PIM: the KV cache on every stage's pool devices at once"),
    ('dse/system/serving/batched.py', '        draft_block = block * d.kv_bytes_per_token', '        draft_block = 0.0',
     "speculative: the draft's KV cache takes no memory"),
    ('dse/system/serving/evaluator.py', '(idle * point.configs[g].size + res["pool_idle_w"][g])',
     '(idle * point.configs[g].size)', 'serving PIM: the pools draw no idle power'),
    ('dse/system/serving/evaluator.py', '"fc_pim_iteration_share": total(S_FC_PIM) / total(S_ITER)',
     '"fc_pim_iteration_share": total(S_FC_PIM) / total(S_DEC_STEPS)', 'serving PIM: FC-PIM share per decode step, not per iteration'),
    ('dse/system/serving/batched.py', '                    gain = sum(now.values()) - sum(score[x] for x in now)',
     '                    gain = sum(now.values())', 'simulated placement: total instead of marginal goodput'),
    ('dse/system/serving/batched.py', '                k = (held[m] == 0, gain, not on_g,',
     '                k = (gain, held[m] == 0, not on_g,', 'simulated placement: a model without a replica after the goodput'),
    ('dse/system/serving/evaluator.py', '    first, finish = first + over, finish + over',
     '    first, finish = first, finish', "simulated placement: the overhead left out of the placement run's objectives"),
    ('dse/system/serving/evaluator.py', '    return float(at_first + (k * share).sum())',
     '    return float(at_first + k.sum())', "continuous: every output token counted in the window (the offered load)"),
    # --- models sharing a group: engines taking turns, memory shared, the greedy (issue 24, item 5) ---
    ('dse/system/serving/engine.py', '            c = (last + j) % M', '            c = (j - 1) % M',
     'group: the first model with work always, not round robin'),
    ('dse/system/serving/engine.py', '            stats[S_INSIDE_S] += (n_runs[c] + sizes[c]) * dt',
     '            stats[S_INSIDE_S] += (n_runs[mi] + sizes[mi]) * dt', "group: requests inside counted for the running engine's model only"),
    ('dse/system/serving/batched.py', '    usable = reps[0].memory_bytes - sum(r.fixed_bytes for r in reps)',
     '    usable = reps[0].memory_bytes - reps[0].fixed_bytes', "sharing a group: the other models' weights left out"),
    ('dse/system/serving/batched.py', '        on_gpu = (int(usable / k // r.kv_block_bytes)',
     '        on_gpu = (int(usable // r.kv_block_bytes)', 'sharing a group: every model gets the whole memory left'),
    ('dse/system/serving/batched.py', '    if any(b < max(r.need_blocks, 1) for b, r in zip(blocks, reps)):',
     '    if any(b < 1 for b, r in zip(blocks, reps)):', "sharing a group: a share too small for the longest request allowed"),
    ('dse/system/serving/batched.py', '                if gain <= 0 and on_g and held[m] > 0:', '                if gain < 0 and on_g and held[m] > 0:',
     'simulated placement: a group shared without a gain'),
    ('dse/system/serving/batched.py', '        order = np.argsort(idx, kind="stable")', '        order = np.arange(idx.shape[0])',
     "group: the models' requests not merged in arrival order"),
    ('dse/system/serving/engine.py', '    if cfg.max_tokens < cfg.block_tokens:', '    if False:',
     'engine: a token budget below one KV block allowed'),
    ('dse/system/serving/evaluator.py', '        return (greedy if met(greedy) >= met(fast) else fast), sims + 2',
     '        return greedy, sims + 2', "simulated placement: the fast rule's better placement discarded"),
    # --- blind mutants of the review of issue 24's second part (written before reading the tests) ---
    ('dse/system/serving/evaluator.py', '    at_first = ((f >= start) & (f < end)).sum()',
     '    at_first = (f < end).sum()', 'blind 24b: first tokens before the window counted in it'),
    ('dse/system/serving/batched.py', ' - max(r.reserve_bytes for r in reps)',
     ' - sum(r.reserve_bytes for r in reps)', "blind 24b: every shared engine's activation reserve held at once"),
    ('dse/system/serving/engine.py', '                    hist[0] += a - 1',
     '                    hist[0] += a', 'blind 24b: one zero gap too many per decode'),
    ('dse/system/serving/batched.py', '        per_stage = int(pool.count) * c.size // (gpus * c.pp)',
     '        per_stage = int(pool.count) * c.size // gpus', "blind 24b: a pool's devices not split over the stages"),
    ('dse/system/serving/evaluator.py', '    tpot = (finish - first) / np.maximum(outs - 1, 1)',
     '    tpot = (finish - first) / np.maximum(outs, 1)', 'blind 24b: TPOT objective over every output token'),
    ('dse/system/gpu/kernels.py', '    return t, nbytes * 8.0 * dev[d, D_LINK_PJ] * 1e-12',
     '    return t, nbytes * dev[d, D_LINK_PJ] * 1e-12', 'blind 24b: K/V move energy per byte, not per bit'),
    ('dse/system/serving/kind.py', ' or given(g.idle_w):', ':', 'blind 24b: idle watts alone do not make energy the objective'),
    # --- blind mutants, training per-stage / per-device JSON and top-level figures (written before the test) ---
    ("dse/system/training/kind.py", '"weight_grad_s": float(line["w_s"][st]), "send_s"',
     '"weight_grad_s": float(line["b_s"][st]), "send_s"', "training per_stage weight_grad_s from the B column"),
    ("dse/system/training/kind.py", '"activation_bytes": float(line["alloc"][st]), "lifespan_s": float(line["life"][st])}',
     '"activation_bytes": float(line["alloc"][st]), "lifespan_s": float(line["life"][0])}',
     "training per_stage lifespan_s of stage 0 for every stage"),
    ("dse/system/training/kind.py", '"peak_activation_units": float(row[D_PEAK]) / unit if unit else',
     '"peak_activation_units": float(row[D_BUSY]) / unit if unit else',
     "training per_device activation units from the busy column"),
    ("dse/system/training/evaluator.py", '"bubble_rate_makespan": 1.0 - busy / makespan if makespan > 0 else 0.0,',
     '"bubble_rate_makespan": 1.0 - busy / span if makespan > 0 else 0.0,',
     "training bubble_rate_makespan over the span, not the makespan"),
    ("dse/system/training/evaluator.py", '"forward_s": float(f_dev[slow]), "backward_s": float(b_dev[slow]),',
     '"forward_s": float(f_dev[0]), "backward_s": float(b_dev[slow]),',
     "training forward_s of device 0, not the slowest"),
    ("dse/system/training/evaluator.py", "    slow = int(np.argmax(f_dev + b_dev + w_dev))",
     "    slow = int(np.argmax(f_dev + b_dev))", "training slowest device ranked without W"),
    ("dse/system/training/evaluator.py", '"lifespan_s": float(life.max()),', '"lifespan_s": float(life.mean()),',
     "training lifespan_s the mean stage's, not the longest"),
    ("dse/system/training/evaluator.py", '    np.add.at(w_dev, s.stage_device, sc.costs.w_s)',
     '    np.add.at(w_dev, np.arange(s.stages) % pp, sc.costs.w_s)',
     "training W per device by stage index, not the placement"),
]
MUTANTS += [(*m, "tests/test_import.py tests/test_models.py") for m in BLIND_IMPORT]

# A design the model cannot evaluate (issue 23): an infeasible row in a search, one line in evaluate.
MUTANTS += [
    ("dse/search/worker.py", "        except MODEL_FAILURES as exc:", "        except KeyError as exc:",
     "a design the model cannot evaluate crashes the search", "tests/test_llm.py"),
    ("dse/point.py", "    except MODEL_FAILURES as exc:", "    except KeyError as exc:",
     "a design the model cannot evaluate is a traceback in dse evaluate", "tests/test_llm.py"),
    ("dse/system/gpu/pim.py", "    if pool.banks_per_die_value() < 1:", "    if False:",
     "a die with no bank passes as feasible", "tests/test_llm.py"),
]

# Mutants of reading the files users name (issue 23), against the CLI's bad-input table.
INPUT_TESTS = "tests/test_bad_input.py"
MUTANTS += [(*m, INPUT_TESTS) for m in [
    ("dse/spec/files.py", "        if not stat.S_ISREG(mode):", "        if False:", "special files read as files"),
    ("dse/spec/files.py", "        if size > limit:", "        if size > limit + 1:", "size limit one byte loose"),
    ("dse/spec/common.py", "                    if key in seen:", "                    if False:", "duplicate YAML keys: the last wins"),
    ("dse/spec/common.py", 'got = self.value if self.path else ("an empty file"', 'got = self.value if True else ("an empty file"',
     "a whole file that is not YAML echoed in the error"),
    ("dse/search/storage.py", 'if not url.startswith("sqlite:///") or not path or path == ":memory:":',
     'if not url.startswith("sqlite:///"):', "an in-memory SQLite study accepted"),
    ("dse/search/storage.py", 'or not path or path == ":memory:":', "or not path:", "sqlite:///:memory: accepted"),
    ("dse/errors.py", "islice(value, 8)]", "islice(value, 80)]", "a list value quoted 80 items long"),
    ("dse/spec/common.py", "if size[id(node)] > MAX_EXPANDED:", "if size[id(node)] > MAX_EXPANDED * 100:",
     "alias expansion limit 100x loose"),
    ("dse/search/storage.py", '        text = text.replace(piece + "@", "***@")', "        pass",
     "a password's tail after an @ shown as a host"),
    ("dse/batch.py", '            if key in text and not re.fullmatch(r"[A-Za-z0-9_.,:+-]{1,128}", text[key]):',
     "            if False:", "a newline in slurm.partition ends the #SBATCH block"),
    ("dse/batch.py", "        if problem is not None:\n            raise top[\"storage\"].fail(problem, hide_password(storage))",
     "        if False:\n            pass", "a sweep's unknown storage accepted"),
]]

# Mutants of the output, model-import and knob-name code (issue 12), run against the tests that
# exercise them: (file, fragment, replacement, description, test files)
OUTPUT_TESTS = "tests/test_output.py tests/test_import.py tests/test_cli.py tests/test_results.py"
MUTANTS += [(*m, OUTPUT_TESTS) for m in [
    ("dse/output/store.py", "    regular = [f for f in named if f.is_file()]", "    regular = named",
     "a folder or FIFO named like a part read as a part"),
    ("dse/output/figure.py", "dist = np.abs(dv * (u - u[0]) - du * (v - v[0])) / norm", "dist = np.abs(dv * (u - u[0])) / norm",
     "knee: distance to the chord without its x term"),
    ("dse/output/tables.py", "            g[f] += r[f] * n", "            g[f] += r[f]", "grouped sums ignore the op count"),
    ("dse/output/tables.py", 'g["_util"] += r["utilization"] * r["cycles"] * n', 'g["_util"] += r["utilization"] * n',
     "grouped utilisation not weighted by cycles"),
    ("dse/output/tables.py", 'g["bound"] = max(bounds, key=bounds.get) if bounds else ""',
     'g["bound"] = min(bounds, key=bounds.get) if bounds else ""', "grouped bound: the smallest share"),
    ("dse/models/hf_config.py", 'else 4 * hidden,', "else 2 * hidden,", "GPT-2 FFN width default halved"),
    ("dse/models/hf_config.py", 'tie = cfg.get("tie_word_embeddings", kind in ("gpt2", "opt"))',
     'tie = cfg.get("tie_word_embeddings", kind in ("opt",))', "GPT-2 embedding untied by default"),
    ("dse/models/hf_config.py", 'kv = need("num_key_value_heads") if cfg.get("num_key_value_heads") is not None else keys[',
     'kv = keys["num_attention_heads"] if cfg.get("num_key_value_heads") is not None else keys[',
     "grouped-query attention's KV heads ignored"),
    ("dse/models/operators.py", "        return bool(t.tie_word_embeddings)", "        return t.architecture != \"llama\"",
     "tie_word_embeddings ignored"),
    ("dse/models/onnx_import.py", "k = b[0] if attr(node, \"transB\", 0) else b[1]", "k = b[1]",
     "ONNX Gemm: transB ignored"),
    ("dse/models/onnx_import.py", "ops.append(Op(name, N=out[0], K=w[0], C=w[1],", "ops.append(Op(name, N=out[0], K=w[1], C=w[0],",
     "ONNX Conv: K and C swapped"),
    ("dse/models/onnx_import.py", "            for d in a[:-2]:\n                n *= d", "            for d in a[:-3]:\n                n *= d",
     "ONNX MatMul: one batch dim dropped"),
    ("dse/output/front.py", "    if name.endswith(MAXIMISED_SUFFIXES) or name.startswith(MAXIMISED_PREFIXES):",
     "    if name.startswith(MAXIMISED_PREFIXES):", "rates not maximised by default"),
    ("dse/point.py", "        return value if math.isfinite(value) else None", "        return value",
     "NaN written into --json"),
    ("dse/output/names.py", "        for k in range(1, len(parts) + 1):", "        for k in range(2, len(parts) + 1):",
     "knob aliases one segment too long"),
    ("dse/output/progress.py", "        done = min(s.budget, s.complete_after + s.pending)", "        done = min(s.budget, s.complete_after)",
     "progress ignores evaluated, untold trials"),
]]

# Mutants of the search loop, storage and CLI checks: killed only by the subprocess tests (real CLI,
# journal files, kills), which need the JIT. (file, fragment, replacement, description, test files)
CLUSTER_TESTS = "tests/test_cluster.py tests/test_bad_input.py"
MUTANTS += [(*m, CLUSTER_TESTS) for m in [
    ("dse/search/worker.py", "min(size, cfg.trials - complete - len(running))", "min(size, cfg.trials - complete)",
     "budget room ignores other workers' running trials"),
    ("dse/search/worker.py", "elif other is not None and other.state == TrialState.COMPLETE:",
     "elif False:", "points already in the study evaluated again"),
    ("dse/search/worker.py", "elif other is not None and (found := read_trial_rows(",
     "elif False and (found := read_trial_rows(", "a killed worker's written rows not adopted"),
    ("dse/search/worker.py", "                q.trial.set_user_attr(PART_ATTR, name)\n", "                pass\n",
     "owners do not record their part before writing it"),
    ("dse/search/worker.py", "            self.stop.append(signum)", "            pass", "SIGTERM ignored"),
    ("dse/search/storage.py", "        fcntl.flock(self._fd, fcntl.LOCK_EX)", "        pass",
     "journal workers claim points without the mutex"),
    ("dse/search/storage.py", 'self._conn.execute(sqlalchemy.text("SELECT pg_advisory_lock(:k)"), {"k": self._key})',
     "pass", "PostgreSQL workers claim points without the mutex"),
    ("dse/search/storage.py", '{"s": self.study, "q": start + i, "l":', '{"s": self.study, "q": start, "l":',
     "PostgreSQL journal logs of one append share a number"),
    ("dse/search/storage.py", "            if age > GRACE_S or _process_gone(token):",
     "            if age > 10 * GRACE_S or _process_gone(token):", "silent workers reaped after 10x the grace period"),
    ("dse/output/store.py", " or not _can_create_in(ancestor):", ":", "--out not probed by creating a folder"),
    ("dse/search/storage.py", "if age > GRACE_S or _process_gone(token):@0", "if _process_gone(token):",
     "silent workers on other hosts never reaped"),
    # the batched journal (issue 23): one append per hold of the mutex, replay = file
    ("dse/search/storage.py", "            if self.depth == 0:", "            if True:",
     "journal batch written at every nested exit"),
    ("dse/search/storage.py", "yield from self.pending[max(0, n - self.in_file):]", "yield from self.pending",
     "pending journal logs replayed from the start at every read"),
    ("dse/search/storage.py", "        if not (self.depth and self.fresh and n >= self.in_file):",
     "        if not (self.depth and n >= self.in_file):", "a batch never reads what others appended before it"),
    # a worker killed in the middle of a journal append (found by a kill loop, this session)
    ("dse/search/storage.py", "                cut_torn_tail(fd)\n", "                pass\n",
     "a torn journal tail kept: the next append glued to it"),
    ("dse/search/storage.py", "            os.ftruncate(fd, start + at + 1)", "            os.ftruncate(fd, start + at)",
     "torn tail cut one byte too far"),
    ("dse/search/storage.py", "            if token is None:\n                stale.append(trial)",
     "            if token is None:\n                pass", "RUNNING trials of a torn batch never reaped"),
    # workers on one host share its cores; the sampler is told the study's space
    ("dse/jit.py", "usable_cores() // max(1, workers)", "usable_cores()", "every local worker takes every core"),
    ("dse/search/storage.py", "and now - entry.stat().st_mtime < GRACE_S", "and True",
     "silent workers counted as live local workers"),
    ("dse/search/storage.py", "            _host_entry(self.token).unlink()", "            pass",
     "a finished worker still counted as a live local worker"),
    # review refactor (blind): the space suggests from its distributions; pid liveness split out
    ("dse/search/space.py", "trial.suggest_int(name, dist.low, dist.high, log=dist.log)",
     "trial.suggest_int(name, dist.low, dist.high)", "review: integer knobs suggested without their log scale"),
    ("dse/search/storage.py", "    except PermissionError:\n        return False\n    return False",
     "    except PermissionError:\n        return True\n    return False", "review: another user's live process taken for gone"),
    ("dse/search/sampler.py", "for n, d in sorted(distributions.items())", "for n, d in distributions.items()",
     "the sampler's space not in Optuna's (name) order"),
    ("dse/search/sampler.py", "return dict(self._fixed) if self._any_complete else {}", "return dict(self._fixed)",
     "the sampler's space given before any trial is complete"),
]]
# numba's cache made safe (dse/jit.py): the unit and subprocess tests of tests/test_jit.py, JIT on.
MUTANTS += [(*m, "tests/test_jit.py") for m in [
    ("dse/jit.py", "                source_stamp = (source_stamp, sources())", "                pass",
     "kernel caches not stamped with the other kernel files"),
    ("dse/jit.py", "            with cache_lock(self._cache_path, exclusive=True):", "            if True:",
     "numba cache saved without the lock"),
    ("dse/jit.py", "                if overloads.get(key) != data_name:", "                if False:",
     "numba cache index never written"),
    ("dse/jit.py", "[^\\n]*\\b(nb|njit|prange)\\b", "[^\\n]*\\b(nb|prange)\\b",
     "kernel hash misses the modules importing njit"),
    ("dse/jit.py", "        if KERNEL_IMPORT.search(text):", '        if b"from dse.jit import" in text:',
     "kernel hash covers modules that only call use_plain_python / share_cores"),
]]

# Survivors examined and found equivalent or harmless, with the reason: description -> reason.
EQUIVALENT: dict[str, str] = {
    "training slowest device ranked without W": (
        "W is the weight-gradient GEMMs of the same FC ops whose F and B make the rest (W ~ the FC part of "
        "F on every stage, LM head included; synthetic pipelines have equal stages), so ranking the devices "
        "by F + B or by F + B + W picks the same one: checked over 1f1b, gpipe, interleaved, zb-h1, zb-h2, "
        "zb-v, v-half, v-min at pp 2 and 4"),
}


def apply(text: str, fragment: str, replacement: str) -> str:
    occurrence = None
    if re.search(r"@\d+$", fragment):
        fragment, _, k = fragment.rpartition("@")
        occurrence = int(k)
    count = text.count(fragment)
    if (count != 1) if occurrence is None else (count <= occurrence):
        raise SystemExit(f"mutation fragment found {count} times: {fragment!r}")
    occurrence = occurrence or 0
    start = -1
    for _ in range(occurrence + 1):
        start = text.index(fragment, start + 1)
    return text[:start] + replacement + text[start + len(fragment):]


def copy_repo(dest: Path) -> None:
    files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    for name in files:
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, target)


# Left out of the in-process run: the subprocess tests (slow without the JIT) and the property test
# (robustness to corrupt specs, not formulas; hundreds of evaluations in plain Python).
# test_mutation_list.py checks this file's fragments against the sources: in a mutant's copy it fails
# by construction, so it would "kill" every mutant that the real tests let through.
SUBPROCESS_TESTS = ("tests/test_cli.py", "tests/test_cluster.py", "tests/test_batch.py", "tests/test_bad_input.py",
                    "tests/test_properties.py", "tests/test_mutation_list.py", "tests/test_output.py",
                    "tests/test_import.py", "tests/test_jit.py", "tests/test_fuzz.py")


def run_one(index: int, mutant: tuple, workdir: Path) -> tuple[int, bool, str, float]:
    path, fragment, replacement, _ = mutant[:4]
    target = workdir / path
    original = (ROOT / path).read_text()
    target.write_text(apply(original, fragment, replacement))
    env = {**os.environ, "PYTHONPATH": str(workdir), "PYTHONDONTWRITEBYTECODE": "1"}
    if len(mutant) > 4:        # search-loop mutants: the named subprocess tests, with the JIT
        selection = mutant[4].split()
    else:                      # model mutants: every in-process test, kernels as plain Python
        env["NUMBA_DISABLE_JIT"] = "1"
        selection = [*(f"--ignore={t}" for t in SUBPROCESS_TESTS), "--ignore=tests/bench", "tests"]
    start = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "pytest", "-x", "-q", "-rf", "-p", "no:cacheprovider", *selection],
                       cwd=workdir, env=env, capture_output=True, text=True, timeout=1800)
    target.write_text(original)
    killer = next((line.split()[1] for line in r.stdout.splitlines() if line.startswith("FAILED")), "")
    if r.returncode not in (0, 1):          # not a test failure: the mutant broke the code itself
        raise SystemExit(f"mutant {index} ({mutant[3]}): pytest exit {r.returncode}\n{r.stdout[-2000:]}")
    return index, r.returncode == 1, killer, time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-k", default="", help="only mutants whose description contains this")
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    chosen = [(i, m) for i, m in enumerate(MUTANTS) if args.k.lower() in f"{m[3]} {m[0]}".lower()]
    for _, (path, fragment, replacement, *_) in chosen:          # every fragment applies
        apply((ROOT / path).read_text(), fragment, replacement)
    with tempfile.TemporaryDirectory() as tmp:
        dirs = [Path(tmp) / f"w{j}" for j in range(args.jobs)]
        for d in dirs:
            copy_repo(d)
        results: dict[int, tuple[bool, str, float]] = {}

        def work(slot: int) -> None:
            for i, m in chosen[slot::args.jobs]:
                _, killed, killer, seconds = run_one(i, m, dirs[slot])
                results[i] = (killed, killer, seconds)
                state = "killed  " if killed else "SURVIVED"
                print(f"{i:3d} {state} {m[0]:32} {m[3]:55} {killer or '-'} ({seconds:.0f} s)", flush=True)

        with ThreadPoolExecutor(args.jobs) as pool:
            list(pool.map(work, range(args.jobs)))
    killed = sum(1 for k, _, _ in results.values() if k)
    survivors = [MUTANTS[i][3] for i, (k, _, _) in sorted(results.items()) if not k]
    print(f"\n{killed} of {len(results)} mutants killed ({100 * killed / max(1, len(results)):.0f} %)")
    unexplained = [s for s in survivors if s not in EQUIVALENT]
    for s in survivors:
        print(f"survivor: {s}: {EQUIVALENT.get(s, 'NOT EXPLAINED')}")
    return 1 if unexplained else 0


if __name__ == "__main__":
    sys.exit(main())
