"""The continuously batched engine (dse.system.serving.engine) and the mixed-batch iteration cost it
runs on (dse.system.gpu.kernels.iteration_cost): the cost against step_cost and by hand, the engine
on small cases derived by hand (admission order, chunked and whole prefills, a preemption) and
against a plain-Python twin written from the module docstring on random small cases."""

from __future__ import annotations

from collections import deque
from dataclasses import replace

import numpy as np
import pytest

from dse.errors import DseError

from dse.models.views import linear_ops
from dse.spec.workload import Transformer
from dse.system.gpu import kernels as G
from dse.system.gpu.devices import blank_device_table, fill_gpu_row
from dse.system.gpu.kernels import Batch, GpuSystem, Step, iteration_cost, step_cost
from dse.system.gpu.spec import Gpu
from dse.system.serving.engine import (S_BLOCK_S, S_BUSY, S_DEC_STEPS, S_DECODE_TOK, S_DRAFT_S, S_END,
                                       S_FC_PIM, S_INSIDE_S, S_ITER, S_MAX_RUNNING, S_PREEMPT, S_PREFILL_TOK,
                                       EngineConfig, Plan, accepted_tokens, check_requests, engine_out, run_engine,
                                       run_group, tbt_percentile)

TINY = Transformer(num_hidden_layers=2, hidden_size=64, num_attention_heads=4, intermediate_size=256,
                   vocab_size=100, seq_len=10, batch=1, precision_bits=16, architecture="gpt")
LLAMA7B = Transformer(num_hidden_layers=32, hidden_size=4096, num_attention_heads=32, intermediate_size=11008,
                      vocab_size=32000, seq_len=512, batch=1, precision_bits=16, architecture="llama",
                      num_key_value_heads=32)
GPU_ROWS = (0, 0, 0)


def system(ops, dev, tp=1, pp=1, kraken=False) -> GpuSystem:
    return GpuSystem(dev, tp, pp, 300e9, 5e-6, 1.0, 300e9, 5e-6, 1.0, ops.hidden * ops.elem_bytes,
                     ops.vocab * ops.elem_bytes, kraken)


def a100_row() -> np.ndarray:
    gpu = Gpu("a100", peak_flop_per_s=312e12, memory_bytes=80e9, memory_bytes_per_s=2.039e12, compute_efficiency=0.7,
              memory_efficiency=0.85, kernel_launch_s=4e-6, compute_half_tokens=64.0, memory_half_bytes=2e6,
              step_overhead_s=3e-3, pj_per_flop=0.4, memory_pj_per_bit=4.0)
    return fill_gpu_row(blank_device_table(), gpu)


# --- the iteration cost --------------------------------------------------------------------------

@pytest.mark.parametrize("tp,kraken", [(1, False), (2, False), (4, True)])
def test_iteration_cost_of_a_uniform_batch_is_the_step_cost(tp, kraken):
    # A decode batch of b requests with contexts summing to C is Step(b, b, 1, C); a prefill of b
    # prompts of s tokens is Step(b s, b, s, b s): the same seconds, joules and comm (Llama-2-7B on
    # a calibrated A100 row, so rows and stream sizes matter).
    ops = linear_ops(LLAMA7B, tp)
    sysm = system(ops, a100_row(), tp, 1, kraken)
    out = np.empty((ops.n, G.N_OCOLS))
    for b, ctx in ((1, 700), (8, 8 * 600), (64, 64 * 1000)):
        want = step_cost(Step(float(b), float(b), 1.0, float(ctx), 0, 0, 0), ops.arrays, sysm, out)
        got = iteration_cost(Batch(float(b), float(ctx), 0.0, 0.0, 0.0, 0.0, float(b)), ops.arrays, sysm, *GPU_ROWS)
        assert got == pytest.approx(want, rel=1e-12)
    for b, s in ((1, 512), (4, 256), (4, 4096)):       # the last: attention compute-bound, rows = s matter
        want = step_cost(Step(float(b * s), float(b), float(s), float(b * s), 0, 0, 0), ops.arrays, sysm, out)
        got = iteration_cost(Batch(0.0, 0.0, float(b), float(b * s), float(b * s * s), float(b * s), float(b)),
                             ops.arrays, sysm, *GPU_ROWS)
        assert got == pytest.approx(want, rel=1e-12)


@pytest.mark.parametrize("q", [2, 4])
def test_speculative_decode_iteration_is_the_step_cost_at_tlp(q):
    """Decodes verifying q - 1 draft tokens: b requests of q query tokens with contexts summing
    to C are step_cost's Step(b q, b q, q, C), the llm kind's decode step at TLP q. On a device of
    1 GFLOP/s and 1 GB/s attention's FLOPs (4 h q per context token) outweigh its bytes (4 h), so
    the q in its FLOPs shows."""
    ops = linear_ops(TINY, 1)
    dev = blank_device_table()
    dev[0, G.D_FLOPS], dev[0, G.D_BW] = 1e9, 1e9
    sysm = system(ops, dev)
    out = np.empty((ops.n, G.N_OCOLS))
    for b, ctx in ((1, 40), (3, 3 * 25)):
        want = step_cost(Step(float(b * q), float(b * q), float(q), float(ctx), 0, 0, 0), ops.arrays, sysm, out)
        got = iteration_cost(Batch(float(b), float(ctx), 0.0, 0.0, 0.0, 0.0, float(b * q), float(q)), ops.arrays, sysm,
                             *GPU_ROWS)
        assert got == pytest.approx(want, rel=1e-12)
        assert out[ops.index("attn"), G.O_BOUND] == 0        # compute-bound: the FLOPs decide


def test_mixed_iteration_by_hand():
    # The tiny decoder of tests/test_llm.py (h 64, 4 heads, f 256, 2 layers, vocab 100, FP16) on a
    # memory-bound GPU (1 TFLOP/s, 1 GB/s: seconds = bytes / 1e9), no launch or step cost. One
    # decode reading 10 context tokens beside a 4-token prefill chunk (nothing cached: context 4)
    # that ends its prompt: T = 5 tokens through the FC and element-wise ops, 2 through the LM head,
    # attention in two launches. Bytes per layer (per-token figures from test_step_hand_derived_tiny_decoder):
    #   norm1    256 x 5                           =   1,280
    #   qkv      24,576 + 512 x 5                  =  27,136
    #   attn     decode 256 + 256 x 10 = 2,816; prefill 256 x 4 + 256 x 4 = 2,048   =  4,864
    #   proj     8,192 + 256 x 5                   =   9,472
    #   norm2                                       =   1,280
    #   ffn_up   32,768 + 640 x 5                  =  35,968
    #   act      1,024 x 5                         =   5,120
    #   ffn_down                                    =  35,968
    #   layer 121,088 B, x 2 layers = 242,176; lm_head 12,800 + 328 x 2 = 13,456 -> 255,632 B = 255.632 us
    ops = linear_ops(TINY, 1)
    dev = blank_device_table()
    dev[0, G.D_FLOPS], dev[0, G.D_BW] = 1e12, 1e9
    t, e, comm = iteration_cost(Batch(1.0, 10.0, 1.0, 4.0, 16.0, 4.0, 2.0), ops.arrays, system(ops, dev), *GPU_ROWS)
    assert t == pytest.approx(255.632e-6, rel=1e-12) and comm == 0.0 and e == 0.0


# --- the engine by hand --------------------------------------------------------------------------

def flat(step_s=0.01):
    """Every iteration costs ``step_s`` (the GPU's step overhead; rates so high the ops cost ~0)."""
    ops = linear_ops(TINY, 1)
    dev = blank_device_table()
    dev[0, G.D_FLOPS], dev[0, G.D_BW], dev[0, G.D_STEP] = 1e30, 1e30, step_s
    return ops, system(ops, dev)


def serve(arrival, prompt, output, cfg, cost=None, plan=Plan(), draft=None):
    ops, sysm = cost or flat()
    d_ops, d_sys = draft or (ops, sysm)
    arrival, prompt, output = np.asarray(arrival, float), np.asarray(prompt, np.int64), np.asarray(output, np.int64)
    assert check_requests(prompt, output, cfg) == ""
    out = engine_out(len(arrival))
    run_engine(arrival, prompt, output, cfg, ops.arrays, sysm, plan, d_ops.arrays, d_sys, out)
    return out


def test_chunked_prefill_by_hand():
    # Budget 5 tokens, blocks of 2, 4 slots, 10 ms an iteration. r0 (prompt 4, output 3) and r1
    # (3, 1) at 0, r2 (2, 2) at 5 ms.
    #  it 1 @0:   r0 chunk 4 (2 blocks), r1 chunk 1 (budget left 1; 1 block); r0's prompt done:
    #             first token at 10 ms.                                       blocks in use 3
    #  it 2 @10:  r2 has arrived. r0 decodes (cache 5: 3 blocks), r1 chunk 2 (its last: first and
    #             only token, done at 20 ms), r2 chunk 2 (its whole prompt: first token 20 ms).  6
    #  it 3 @20:  r0 and r2 decode; r0 has 3 tokens, r2 2: both done at 30 ms.  r0 3 + r2 2 = 5
    # Block-seconds (3 + 6 + 5) x 10 ms; prefill tokens 4 + 1 + 2 + 2, decode tokens 1 + 2.
    out = serve([0.0, 0.0, 0.005], [4, 3, 2], [3, 1, 2], EngineConfig(4, 5, 2, 100, True))
    assert out.first_token_s.tolist() == pytest.approx([0.01, 0.02, 0.02])
    assert out.finish_s.tolist() == pytest.approx([0.03, 0.02, 0.03])
    s = out.stats
    assert (s[S_ITER], s[S_PREFILL_TOK], s[S_DECODE_TOK], s[S_MAX_RUNNING], s[S_PREEMPT]) == (3, 9, 3, 3, 0)
    assert s[S_BLOCK_S] == pytest.approx(14 * 0.01) and s[S_BUSY] == pytest.approx(0.03)
    assert s[S_END] == pytest.approx(0.03)
    # time between tokens: r0's 2nd and 3rd tokens and r2's 2nd, 10 ms after their previous: three
    # gaps in the bin holding 10 ms (50 bins a decade: its middle within 2.3 %); inside the engine
    # r0 30 ms, r1 20 ms, r2 25 ms = 75 ms (Little: sum of finish - arrival)
    assert out.tbt_hist.sum() == 3 and tbt_percentile(out.tbt_hist, 99) == pytest.approx(0.01, rel=0.024)
    assert s[S_INSIDE_S] == pytest.approx(0.075)


def test_prefills_first_without_chunking_by_hand():
    # The same requests, whole prefills first (vLLM v0), budget 8. it 1 @0: prefills r0 (4) and r1
    # (3, budget left 1): r1 done at 10 ms. it 2 @10: r2 waits and fits: a prefill-only iteration,
    # r0 does not decode (first token 20 ms). it 3: r0 and r2 decode, r2 done at 30 ms. it 4: r0's
    # third token at 40 ms. Budget 5, r0 (3, 2): r1's 3 tokens do not fit beside r0's 3, so r1
    # prefills with r2 at 10 ms (first tokens 20 ms) while r0 waits to decode; at 20 ms r0 and r2
    # decode their last tokens.
    out = serve([0.0, 0.0, 0.005], [4, 3, 2], [3, 1, 2], EngineConfig(4, 8, 2, 100, False))
    assert out.first_token_s.tolist() == pytest.approx([0.01, 0.01, 0.02])
    assert out.finish_s.tolist() == pytest.approx([0.04, 0.01, 0.03])
    assert out.stats[S_ITER] == 4 and out.stats[S_DECODE_TOK] == 3
    out = serve([0.0, 0.0, 0.005], [3, 3, 2], [2, 1, 2], EngineConfig(4, 5, 2, 100, False))
    assert out.first_token_s.tolist() == pytest.approx([0.01, 0.02, 0.02])
    assert out.finish_s.tolist() == pytest.approx([0.03, 0.02, 0.03])
    # One slot: requests run one at a time, FCFS.
    out = serve([0.0, 0.0], [2, 2], [2, 2], EngineConfig(1, 8, 2, 100, False))
    assert out.finish_s.tolist() == pytest.approx([0.02, 0.04])


def test_preemption_recomputes_the_newest_by_hand():
    # Blocks of 1 token, 6 blocks; r0 (prompt 2, output 4: final cache 5) and r1 (2, 3: final 4) at 0.
    #  it 1: both prefill 2 (free 2), first tokens at 10 ms.   it 2: both decode (free 0).
    #  it 3: r0 needs a block: r1, the newest, is preempted (3 blocks back; it will recompute its
    #        prompt and 2 generated tokens, 4 tokens); no admission in an iteration that preempted.
    #  it 4: r0 decodes its 4th token (done at 40 ms); r1 needs 4 blocks, 1 free: it waits.
    #  it 5: r1 prefills 4 tokens and samples its 3rd: done at 50 ms; its first token stays 10 ms.
    out = serve([0.0, 0.0], [2, 2], [4, 3], EngineConfig(4, 10, 1, 6, True))
    assert out.first_token_s.tolist() == pytest.approx([0.01, 0.01])
    assert out.finish_s.tolist() == pytest.approx([0.04, 0.05])
    assert out.preemptions.tolist() == [0, 1]
    s = out.stats
    assert (s[S_ITER], s[S_PREEMPT], s[S_PREFILL_TOK], s[S_DECODE_TOK]) == (5, 1, 8, 4)


def test_a_prompt_longer_than_the_budget_is_chunked_by_hand():
    # Budget 4, chunked. r0 (prompt 10, output 2) and r1 (3, 1) at 0. it 1: r0 chunk 4 (budget
    # spent, r1 waits); it 2: r0 chunk 4; it 3: r0's last 2, r1 its first 2 of 3; it 4 @30 ms: r0
    # decodes (its first token came at 30 ms), r1 its last prompt token: both done at 40 ms.
    out = serve([0.0, 0.0], [10, 3], [2, 1], EngineConfig(4, 4, 4, 100, True))
    assert out.first_token_s.tolist() == pytest.approx([0.03, 0.04])
    assert out.finish_s.tolist() == pytest.approx([0.04, 0.04])
    assert out.stats[S_ITER] == 4 and out.stats[S_PREFILL_TOK] == 13 and out.stats[S_DECODE_TOK] == 1


def test_no_admission_in_an_iteration_that_preempted_by_hand():
    # Blocks of 1 token, 6 blocks, budget 2, chunked; r0 (2, 4) and r1 (2, 3) at 0.
    #  it 1: r0 prefills 2 (budget spent): first token 10 ms.   it 2: r0 decodes (3 blocks), r1
    #  chunk 1.   it 3: r0 decodes (4 blocks), r1 its last prompt token: first token 30 ms; free 0.
    #  it 4: r0 needs a 5th block: r1 preempted (2 blocks back, to recompute 3 tokens); r0 takes
    #  one and finishes at 40 ms. One token of budget and one block are left, enough for a chunk
    #  of r1, but an iteration that preempted admits nobody (vLLM).
    #  it 5: r1 chunk 2;  it 6: r1 chunk 1, its 2nd token;  it 7: r1 decodes its 3rd: done at 70 ms.
    out = serve([0.0, 0.0], [2, 2], [4, 3], EngineConfig(4, 2, 1, 6, True))
    assert out.first_token_s.tolist() == pytest.approx([0.01, 0.03])
    assert out.finish_s.tolist() == pytest.approx([0.04, 0.07])
    assert out.preemptions.tolist() == [0, 1] and out.stats[S_ITER] == 7


def test_static_batching_waits_for_the_batch_by_hand():
    """Request-level batching, whole prefills, budget 8, blocks of 2: r0 (4, 3) and r1 (3, 1) at 0,
    r2 (2, 2) at 5 ms. it 1: the idle engine admits r0 and r1 (r1 done at 10 ms); it 2, 3: r0
    decodes alone while r2 waits for the batch to end (r0 done at 30 ms); it 4: r2 prefills (first
    token 40 ms); it 5: r2 done at 50 ms -- 20 ms later than with continuous batching
    (test_prefills_first_without_chunking_by_hand). Each request reserves its whole cache: r0
    ceil(6 / 2) = 3 blocks from the start."""
    out = serve([0.0, 0.0, 0.005], [4, 3, 2], [3, 1, 2], EngineConfig(4, 8, 2, 100, False, True))
    assert out.first_token_s.tolist() == pytest.approx([0.01, 0.01, 0.04])
    assert out.finish_s.tolist() == pytest.approx([0.03, 0.01, 0.05])
    assert out.stats[S_ITER] == 5 and out.stats[S_PREEMPT] == 0
    # blocks held per iteration: r0 3 + r1 2, r0 3, r0 3, r2 ceil(3 / 2) = 2, r2 2
    assert out.stats[S_BLOCK_S] == pytest.approx((5 + 3 + 3 + 2 + 2) * 0.01)


def test_infeasible_requests_are_named():
    cfg = EngineConfig(4, 16, 16, 2, True)
    assert "needs 3 KV blocks of 16 tokens; the cache holds 2" in check_requests(np.array([30]), np.array([5]), cfg)
    assert "at least 1 token" in check_requests(np.array([3]), np.array([0]), cfg)
    assert "must fit max_num_batched_tokens (16)" in check_requests(
        np.array([13]), np.array([4]), cfg._replace(chunked=False, kv_blocks=10))
    assert check_requests(np.array([13]), np.array([4]), cfg._replace(kv_blocks=10)) == ""
    assert "max_num_batched_tokens (8) below one KV block (16 tokens)" in check_requests(
        np.array([5]), np.array([4]), cfg._replace(max_tokens=8, kv_blocks=10))


# --- speculative decoding and PAPI's dispatch, by hand ----------------------------------------------

def test_speculative_decoding_by_hand():
    """Target iterations cost 10 ms, each draft step 2 ms (flat systems: step overheads only). One
    request, prompt 4, output 7, k = 2 draft tokens, all accepted (acceptance 1: every draw
    u < 1). it 1: the prompt (a chunk of 4) through the target and once through the draft
    (10 + 2 ms); first token at 12 ms. it 2: a decode of q = 3 query tokens; the draft runs once
    and k - 1 = 1 more step (10 + 2 + 2 ms); a = min(3, 7 - 1) = 3 tokens. it 3: 3 more, done at
    12 + 14 + 14 = 40 ms. With acceptance 0 every step yields one token: 6 decodes, 12 + 6 x 14 =
    96 ms. Without speculation: 7 iterations of 10 ms."""
    cfg = EngineConfig(4, 16, 2, 100, True, False, 2, 1.0, 0)
    out = serve([0.0], [4], [7], cfg, flat(0.01), draft=flat(0.002))
    assert out.first_token_s[0] == pytest.approx(0.012) and out.finish_s[0] == pytest.approx(0.040)
    s = out.stats
    assert (s[S_ITER], s[S_DEC_STEPS], s[S_DECODE_TOK], s[S_PREFILL_TOK]) == (3, 2, 6, 4)
    assert s[S_DRAFT_S] == pytest.approx(0.002 + 2 * 0.004)
    out = serve([0.0], [4], [7], cfg._replace(acceptance=0.0), flat(0.01), draft=flat(0.002))
    assert out.finish_s[0] == pytest.approx(0.096) and out.stats[S_DEC_STEPS] == 6
    out = serve([0.0], [4], [7], cfg._replace(spec_tokens=0), flat(0.01), draft=flat(0.002))
    assert out.finish_s[0] == pytest.approx(0.07) and out.stats[S_DRAFT_S] == 0.0


def test_speculative_lookahead_needs_blocks_and_budget():
    # The last decode of a request of prompt 4 and output 7 runs at cache 4 + 5 with q = 3 query
    # tokens: ceil((4 + 7 - 1 + 2) / 2) = 6 blocks of 2; 5 blocks are too few. A budget of 2
    # cannot hold one decode of 3 tokens.
    cfg = EngineConfig(4, 16, 2, 5, True, False, 2, 0.5, 0)
    assert "(+ 2 lookahead) needs 6 KV blocks" in check_requests(np.array([4]), np.array([7]), cfg)
    assert check_requests(np.array([4]), np.array([7]), cfg._replace(kv_blocks=6)) == ""
    assert "must hold one decode's 3 tokens" in check_requests(np.array([4]), np.array([7]),
                                                               cfg._replace(max_tokens=2, kv_blocks=6))


@pytest.mark.parametrize("k, acceptance", [(1, 0.5), (4, 0.7), (8, 0.9)])
def test_accepted_tokens_follow_the_truncated_geometric_mean(k, acceptance):
    # Leviathan et al. (ICML'23), eq. 1: with iid acceptance a, a step yields on average
    # (1 - a^(k+1)) / (1 - a) tokens. 60,000 draws of the engine's hash (keyed by request and
    # tokens generated) within 1 % of it.
    draws = [accepted_tokens(7, r, g, k, acceptance) for r in range(300) for g in range(200)]
    assert np.mean(draws) == pytest.approx((1 - acceptance ** (k + 1)) / (1 - acceptance), rel=0.01)
    assert min(draws) == 1 and max(draws) == k + 1


def test_littles_law_on_a_long_run():
    """L = lambda W on one sample path: the engine's integral of requests inside (waiting or
    running, counted from the queue it keeps) over the run equals the sum over requests of
    finish - arrival (their own times), when the run starts and ends empty. 6,000 Poisson arrivals
    near saturation on a KV cache small enough to preempt, with speculation, so queue, running
    batch, preemption and admission all move requests; the time-average number inside is then
    lambda x W with lambda = requests / the run's end."""
    rng = np.random.default_rng(11)
    n = 6000
    arrival = np.cumsum(rng.exponential(0.004, n))
    prompt, output = rng.integers(1, 60, n), rng.integers(1, 40, n)
    cfg = EngineConfig(16, 64, 4, 120, True, False, 2, 0.6, 3)
    out = serve(arrival, prompt, output, cfg, flat(0.002), draft=flat(0.0005))
    s = out.stats
    assert s[S_PREEMPT] > 100 and s[S_MAX_RUNNING] == 16             # the case exercises what it should
    lam, w = n / s[S_END], float(np.mean(out.finish_s - arrival))
    assert s[S_INSIDE_S] / s[S_END] == pytest.approx(lam * w, rel=1e-9)
    # every output token after a request's first went through the TBT histogram
    assert out.tbt_hist.sum() == pytest.approx(float((output - 1).sum()))


def test_speculative_draft_takes_gpu_memory_by_hand(tmp_path):
    """The tiny model (2 layers) with a 1-layer draft of the same shape, k = 2. Per GPU: the
    model's weights 2 x 98,304 + the tied embedding 12,800 = 209,408 B, the draft's 98,304 +
    12,800 = 111,104 B, activations at the 5-token budget 6,400 B; a block of 2 tokens holds the
    model's K/V, 2 x 256 B x 2 layers = 1,024 B, and the draft's, 2 x 256 x 1 = 512 B:
    floor((0.9e9 - 209,408 - 111,104 - 6,400) / 1,536) = 585,724 blocks (without a draft 878,695,
    test_continuous_pipeline_group_by_hand's figure)."""
    draft = ("{slo_s: 1, speculative: {draft: {num_hidden_layers: 1, hidden_size: 64, num_attention_heads: 4, "
             "intermediate_size: 256, vocab_size: 100, seq_len: 4, precision_bits: 16, architecture: gpt}, "
             "tokens: 2, acceptance_rate: 0.5}}")
    kind, point = continuous_case(tmp_path, [(0.0, "tiny")], tiny_serving=draft)
    rep = point.replicas[(0, 0)]
    assert (rep.kv_block_bytes, rep.cfg.kv_blocks, rep.cfg.spec_tokens) == (1_536, 585_724, 2)
    r = kind.design_rows(point)[0][0]
    assert r["feasible"] and r["draft_time_share"] > 0 and 1 <= r["tokens_per_decode_step"] <= 3


def test_speculative_decode_waits_for_budget_by_hand():
    """Budget 5, k = 1 (a decode takes 2 tokens), acceptance 0; three requests of prompt 1 and
    output 3 at t = 0 (10 ms an iteration, draft free). it 1: three 1-token prefills. it 2, 3: r0
    and r1 decode (4 tokens); the 1 token left cannot hold r2's decode: it waits (r0, r1 done at
    30 ms). it 4, 5: r2 decodes: done at 50 ms."""
    cfg = EngineConfig(4, 5, 2, 100, True, False, 1, 0.0, 0)
    out = serve([0.0] * 3, [1, 1, 1], [3, 3, 3], cfg, flat(0.01), draft=flat(0.0))
    assert out.finish_s.tolist() == pytest.approx([0.03, 0.03, 0.05])


def pim_flat(step_s=0.01):
    """The flat GPU of :func:`flat` with an FC pool (0.2 ms per op, its link 0.1 ms) and an
    attention pool (0.5 ms per op, its link 1 ms), every rate so high the bytes cost ~0."""
    ops, sysm = flat(step_s)
    dev = np.vstack([sysm.dev, blank_device_table(G.N_DEVICES - 1)])
    for row, floor, lat in ((G.FC_POOL, 2e-4, 1e-4), (G.ATTN_POOL, 5e-4, 1e-3)):
        dev[row, G.D_FLOPS] = dev[row, G.D_BW] = dev[row, G.D_LINK_BW] = 1e30
        dev[row, G.D_LAUNCH], dev[row, G.D_LINK_LAT] = floor, lat
    return ops, sysm._replace(dev=dev)


def test_papi_dispatch_per_iteration_by_hand():
    """PAPI's rule on the live batch, alpha = 2. The tiny model has 9 FC launches (4 per layer x 2
    layers + the LM head) and 2 attention launches. Three requests of prompt 2 at t = 0, outputs
    2, 3, 5, chunked:
      it 1: three prefill chunks; their attention on the GPU, their 6 tokens' K/V to the
            attention pool (one send: 1 ms): 11 ms.
      it 2: 3 decodes, T = 3 > alpha: FC on the GPU; attention on the pool, 2 x (0.5 + 1) ms:
            13 ms; r0 done at 24 ms.
      it 3-5: 2, then 1 decode, T <= alpha: FC on the FC pool, 9 x (0.2 + 0.1) ms more: 15.7 ms;
            r1 done at 39.7 ms, r2 at 71.1 ms.
    gpu_attn_pim keeps FC on the GPU: 11 + 4 x 13 = 63 ms; gpu: 5 iterations of 10 ms."""
    cost = pim_flat()
    cfg = EngineConfig(4, 16, 2, 100, True)
    out = serve([0.0] * 3, [2, 2, 2], [2, 3, 5], cfg, cost, Plan(G.P_PAPI, 2.0, 8))
    assert out.first_token_s.tolist() == pytest.approx([0.011] * 3)
    assert out.finish_s.tolist() == pytest.approx([0.024, 0.0397, 0.0711])
    assert out.stats[S_FC_PIM] == 3 and out.stats[S_ITER] == 5
    out = serve([0.0] * 3, [2, 2, 2], [2, 3, 5], cfg, cost, Plan(G.P_GPU_ATTN_PIM, 2.0, 8))
    assert out.finish_s.tolist() == pytest.approx([0.024, 0.037, 0.063]) and out.stats[S_FC_PIM] == 0
    out = serve([0.0] * 3, [2, 2, 2], [2, 3, 5], cfg, cost, Plan())
    assert out.finish_s.tolist() == pytest.approx([0.02, 0.03, 0.05])


def test_papi_keeps_fc_on_the_gpu_beyond_the_pools_query_limit():
    # One request, speculation k = 1 (q = 2 query tokens per request), alpha 64: T = 2 <= alpha,
    # but an FC pool taking at most 1 query token per request cannot run it: FC on the GPU, as
    # in every iteration with a prefill chunk. With a limit of 2 the decodes go to the pool.
    cost = pim_flat()
    cfg = EngineConfig(4, 16, 2, 100, True, False, 1, 0.0, 0)
    out = serve([0.0], [2], [3], cfg, cost, Plan(G.P_PAPI, 64.0, 1), draft=flat(0.0))
    assert out.stats[S_FC_PIM] == 0
    out = serve([0.0], [2], [3], cfg, cost, Plan(G.P_PAPI, 64.0, 2), draft=flat(0.0))
    assert out.stats[S_FC_PIM] == 2 and out.stats[S_ITER] == 3


# --- the twin ------------------------------------------------------------------------------------

def twin(arrival, prompt, output, cfg, costs, models=None, more=()):
    """The engine written again from its module docstring, with Python lists and a deque.
    ``costs`` = (ops, system, plan, draft ops, draft system); with ``models`` (each request's
    model) and ``more`` ((cfg, costs) of models 1, 2, ...), several engines taking turns on one
    group, round robin, as run_group's docstring says."""
    engines = [(cfg, costs)] + list(more)
    models = models or [0] * len(arrival)
    n = len(arrival)
    cached, generated, held = [0] * n, [0] * n, [0] * n
    target = list(prompt)
    first, finish, pre = [float("nan")] * n, [float("nan")] * n, [0] * n
    waiting = [deque() for _ in engines]
    running = [[] for _ in engines]
    free = [c.kv_blocks for c, _ in engines]
    t, nxt, iters, on_pool, last = 0.0, 0, 0, 0, len(engines) - 1

    def blocks(tokens, c):
        return -(-tokens // c.block_tokens)

    while any(f != f for f in finish):
        while nxt < n and arrival[nxt] <= t:
            waiting[models[nxt]].append(nxt)
            nxt += 1
        busy = [(last + j) % len(engines) for j in range(1, len(engines) + 1)]
        busy = [m for m in busy if running[m] or waiting[m]]
        if not busy:
            t = arrival[nxt]
            continue
        m = last = busy[0]
        c, (ops, sysm, plan, d_ops, d_sys) = engines[m]
        k_spec = c.spec_tokens
        q = k_spec + 1
        budget, batch, preempted = c.max_tokens, {}, False
        admit = not c.static or not running[m]
        final = [p + o - 1 + k_spec for p, o in zip(prompt, output)]
        wq, run = waiting[m], running[m]
        prefill_only = (not c.chunked and admit and wq and len(run) < c.max_seqs
                        and target[wq[0]] <= budget
                        and blocks(final[wq[0]] if c.static else target[wq[0]], c) <= free[m])
        if not prefill_only:
            for r in list(run):
                decoding = cached[r] >= target[r]
                if (decoding and budget < q) or budget == 0 or r not in run:
                    break
                want = q if decoding else min(target[r] - cached[r], budget)
                while max(blocks(cached[r] + want, c) - held[r], 0) > free[m]:
                    v = run.pop()
                    free[m], held[v], cached[v], target[v] = free[m] + held[v], 0, 0, prompt[v] + generated[v]
                    batch.pop(v, None)
                    pre[v] += 1
                    wq.appendleft(v)
                    preempted = True
                    if v == r:
                        break
                if r not in run:
                    break
                grow = max(blocks(cached[r] + want, c) - held[r], 0)
                free[m] -= grow
                held[r] += grow
                batch[r] = want
                budget -= want
        if admit and ((not preempted) if c.chunked else prefill_only):
            while wq and len(run) < c.max_seqs and budget > 0:
                r = wq[0]
                if not c.chunked and target[r] - cached[r] > budget:
                    break
                want = min(target[r] - cached[r], budget)
                upto = max(cached[r] + want, final[r]) if c.static else cached[r] + want
                if blocks(upto, c) - held[r] > free[m]:
                    break
                wq.popleft()
                free[m] -= blocks(upto, c) - held[r]
                held[r] = blocks(upto, c)
                batch[r] = want
                budget -= want
                run.append(r)
        dec = [r for r in batch if cached[r] >= target[r]]
        chunks = [(batch[r], cached[r] + batch[r], cached[r] + batch[r] == target[r]) for r in batch if r not in dec]
        ends = sum(e for _, _, e in chunks)
        pre_shape = (float(len(chunks)), float(sum(c_ for c_, _, _ in chunks)),
                     float(sum(c_ * x for c_, x, _ in chunks)), float(sum(x for _, x, _ in chunks)))
        shape = Batch(float(len(dec)), float(sum(cached[r] + q for r in dec)), *pre_shape,
                      float(len(dec) * q + ends), float(q))
        # where: PAPI's rule on T, FC back to the GPU with a chunk or more query tokens than the pool takes
        fc, attn = 0, 0
        if plan.policy != G.P_GPU:
            fc, attn, _ = G.dispatch(plan.policy, plan.alpha, len(dec) * q + pre_shape[1])
            if chunks or q > plan.fc_max_query:
                fc = 0
        on_pool += fc != 0
        dt = iteration_cost(shape, ops.arrays, sysm, fc, attn, 0)[0]
        if k_spec:
            d_ctx = float(sum(cached[r] + 1 for r in dec))
            dt += iteration_cost(Batch(float(len(dec)), d_ctx, *pre_shape, float(len(dec) + ends), 1.0),
                                 d_ops.arrays, d_sys, 0, 0, 0)[0]
            if dec:
                dt += (k_spec - 1) * iteration_cost(Batch(float(len(dec)), d_ctx, 0.0, 0.0, 0.0, 0.0, float(len(dec)),
                                                          1.0), d_ops.arrays, d_sys, 0, 0, 0)[0]
        t += dt
        iters += 1
        for r in list(run):
            if r in batch:
                if r in dec:
                    a = accepted_tokens(c.seed, r, generated[r], k_spec, c.acceptance) if k_spec else 1
                    a = min(a, output[r] - generated[r])
                    cached[r] += a
                    generated[r] += a
                else:
                    cached[r] += batch[r]
                    if cached[r] == target[r]:
                        generated[r] += 1
                        if generated[r] == 1:
                            first[r] = t
            if generated[r] >= output[r]:
                finish[r] = t
                free[m] += held[r]
                held[r] = 0
                run.remove(r)
    return first, finish, pre, iters, on_pool


@pytest.mark.parametrize("seed", range(24))
def test_engine_matches_its_twin_on_random_small_cases(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 25))
    arrival = np.sort(rng.exponential(0.004, n).cumsum())
    prompt = rng.integers(1, 40, n)
    output = rng.integers(1, 20, n)
    chunked = bool(seed % 2)
    static = seed % 3 == 0
    k_spec = int(rng.integers(0, 4)) if seed >= 6 else 0
    bt = int(rng.choice([1, 4, 16]))
    need = int(((prompt + output - 1 + k_spec + bt - 1) // bt).max())
    cfg = EngineConfig(int(rng.integers(1, 6)), max(int(rng.integers(8, 64)), bt) if chunked else int((prompt + output).max()) + 4,
                       bt, need + int(rng.integers(0, 12)), chunked, static, k_spec, float(rng.uniform(0, 1)),
                       int(rng.integers(0, 1000)))
    ops, sysm = pim_flat(1e-3)
    dev = sysm.dev.copy()
    dev[:, G.D_FLOPS], dev[:, G.D_BW] = 1e9, 1e9                 # the shape matters: memory-bound
    sysm = sysm._replace(dev=dev)
    plan = Plan(int(rng.choice([G.P_GPU, G.P_GPU_ATTN_PIM, G.P_PAPI])), float(rng.integers(1, 12)),
                int(rng.integers(1, 4)))
    d_ops = linear_ops(replace(TINY, num_hidden_layers=1), 1)
    d_dev = blank_device_table()
    d_dev[0, G.D_FLOPS], d_dev[0, G.D_BW], d_dev[0, G.D_STEP] = 3e9, 3e9, 2e-4
    d_sys = system(d_ops, d_dev)
    out = serve(arrival, prompt, output, cfg, (ops, sysm), plan, (d_ops, d_sys))
    first, finish, pre, iters, on_pool = twin(arrival.tolist(), prompt.tolist(), output.tolist(), cfg,
                                              (ops, sysm, plan, d_ops, d_sys))
    assert out.first_token_s.tolist() == pytest.approx(first, rel=1e-12)
    assert out.finish_s.tolist() == pytest.approx(finish, rel=1e-12)
    assert out.preemptions.tolist() == pre and out.stats[S_ITER] == iters and out.stats[S_FC_PIM] == on_pool


def group(arrival, prompt, output, models, engines):
    """run_group on [(cfg, (ops, system, plan, draft ops, draft system)), ...] engines."""
    arrival, prompt, output = np.asarray(arrival, float), np.asarray(prompt, np.int64), np.asarray(output, np.int64)
    models = np.asarray(models, np.int64)
    for m, (cfg, _) in enumerate(engines):
        assert check_requests(prompt[models == m], output[models == m], cfg) == ""
    out = engine_out(len(arrival))
    run_group(arrival, prompt, output, models, *(tuple(x) for x in zip(*[
        (cfg, o.arrays, sy, pl, d.arrays, dsy) for cfg, (o, sy, pl, d, dsy) in engines])), out)
    return out


def test_two_engines_take_turns_on_a_group_by_hand():
    """Models A (10 ms an iteration) and B (4 ms) on one group, one request each at t = 0 (prompt
    2, output 2). Round robin from A: A's prefill (first token 10 ms), B's prefill (14 ms), A's
    decode (done at 24 ms), B's decode (done at 28 ms). Alone, each would finish after two of its
    own iterations (20 and 8 ms)."""
    cfg = EngineConfig(4, 16, 2, 100, True)
    a, b = flat(0.01), flat(0.004)
    out = group([0.0, 0.0], [2, 2], [2, 2], [0, 1],
                [(cfg, (*a, Plan(), *a)), (cfg, (*b, Plan(), *b))])
    assert out.first_token_s.tolist() == pytest.approx([0.01, 0.014])
    assert out.finish_s.tolist() == pytest.approx([0.024, 0.028])
    assert out.stats[S_ITER] == 4 and out.stats[S_INSIDE_S] == pytest.approx(0.024 + 0.028)


@pytest.mark.parametrize("seed", range(12))
def test_group_of_engines_matches_its_twin_on_random_small_cases(seed):
    rng = np.random.default_rng(100 + seed)
    M = int(rng.integers(2, 4))
    n = int(rng.integers(2, 30))
    arrival = np.sort(rng.exponential(0.004, n).cumsum())
    prompt, output = rng.integers(1, 30, n), rng.integers(1, 16, n)
    models = rng.integers(0, M, n)
    engines = []
    for m in range(M):
        mine = models == m
        k_spec = int(rng.integers(0, 3))
        bt = int(rng.choice([1, 4]))
        need = int(((prompt[mine] + output[mine] - 1 + k_spec + bt - 1) // bt).max()) if mine.any() else 1
        cfg = EngineConfig(int(rng.integers(1, 5)), int(rng.integers(8, 40)), bt, need + int(rng.integers(0, 8)),
                           True, bool(rng.integers(0, 2)), k_spec, float(rng.uniform(0, 1)), int(rng.integers(0, 99)))
        ops, sysm = pim_flat(float(rng.choice([1e-3, 2e-3])))
        dev = sysm.dev.copy()
        dev[:, G.D_FLOPS], dev[:, G.D_BW] = 1e9, 1e9
        sysm = sysm._replace(dev=dev)
        plan = Plan(int(rng.choice([G.P_GPU, G.P_PAPI])), float(rng.integers(1, 12)), 4)
        d_ops = linear_ops(replace(TINY, num_hidden_layers=1), 1)
        d_dev = blank_device_table()
        d_dev[0, G.D_FLOPS], d_dev[0, G.D_BW], d_dev[0, G.D_STEP] = 3e9, 3e9, 2e-4
        engines.append((cfg, (ops, sysm, plan, d_ops, system(d_ops, d_dev))))
    out = group(arrival, prompt, output, models, engines)
    first, finish, pre, iters, on_pool = twin(arrival.tolist(), prompt.tolist(), output.tolist(), engines[0][0],
                                              engines[0][1], models.tolist(), engines[1:])
    assert out.first_token_s.tolist() == pytest.approx(first, rel=1e-12)
    assert out.finish_s.tolist() == pytest.approx(finish, rel=1e-12)
    assert out.preemptions.tolist() == pre and out.stats[S_ITER] == iters and out.stats[S_FC_PIM] == on_pool
    assert out.stats[S_INSIDE_S] == pytest.approx(float((out.finish_s - arrival).sum()), rel=1e-9)


# --- the serving kind with batching: continuous, end to end ----------------------------------------

HW_CONTINUOUS = """name: flat-gpu
kind: serving
gpu: {{name: flat, peak_flop_per_s: 1e19, memory_bytes: 1 GB, memory_bytes_per_s: 1e16, compute_efficiency: 1,
       memory_efficiency: 1, kernel_launch_s: 0, step_overhead_s: 10 ms, idle_w: 100 W, price_per_gpu_hour: 3.6}}
cluster: {{nodes: 1, gpus_per_node: {gpus}, intra_node: {{bytes_per_s: 100 GB/s, latency_s: 1 us}},
          inter_node: {{bytes_per_s: 10 GB/s, latency_s: 1 us}}}}
system:
  groups: "{groups}"
  batching: {batching}
  engine: {{max_num_seqs: 4, max_num_batched_tokens: 5, block_size: 2, chunked_prefill: true}}
"""
WL_CONTINUOUS = """name: tiny-trace
serving: {{duration_s: 1, warmup_s: 0, trace: trace.csv{serving_extra}}}
models:
  - name: tiny
    transformer: {{num_hidden_layers: {layers}, hidden_size: 64, num_attention_heads: 4, intermediate_size: 256,
                  vocab_size: 100, seq_len: 4, precision_bits: 16, architecture: gpt,
                  decode: {{output_tokens: 3}}}}
    serving: {tiny_serving}
{more}"""


def continuous_case(tmp_path, trace, groups="1", gpus=1, more="", layers=2, tiny_serving="{slo_s: 0.042}",
                    serving_extra="", batching="continuous", hw_extra=""):
    from dse.spec.hardware import load_hardware
    from dse.spec.workload import load_workload
    from dse.system.base import kind_named

    header = "arrival_s,model" + (",prompt_tokens,output_tokens" if trace and len(trace[0]) == 4 else "")
    (tmp_path / "trace.csv").write_text(header + "\n" + "".join(",".join(str(x) for x in row) + "\n" for row in trace))
    (tmp_path / "hw.yaml").write_text(HW_CONTINUOUS.format(groups=groups, gpus=gpus, batching=batching) + hw_extra)
    (tmp_path / "wl.yaml").write_text(WL_CONTINUOUS.format(more=more, layers=layers, tiny_serving=tiny_serving,
                                                                  serving_extra=serving_extra))
    wl, hw = load_workload(tmp_path / "wl.yaml"), load_hardware(tmp_path / "hw.yaml")
    kind = kind_named("serving")
    kind.check_workload(wl, hw)
    return kind, kind.build(wl, hw)


def test_continuous_serving_metrics_by_hand(tmp_path):
    """Three requests of prompt 4, output 3 (arrivals 0, 0, 5 ms) on one GPU whose every iteration
    costs its 10 ms step overhead (rates so high the ops cost ~1e-10 s); budget 5, blocks of 2.
      it 1 @0:  r0 chunk 4, r1 chunk 1            -> r0's first token 10 ms
      it 2 @10: r0 decodes, r1 chunk 3, r2 chunk 1 -> r1's first token 20 ms
      it 3 @20: r0, r1 decode, r2 chunk 3          -> r0 done 30 ms, r2's first token 30 ms
      it 4 @30: r1, r2 decode                      -> r1 done 40 ms
      it 5 @40: r2 decodes                         -> r2 done 50 ms
    TTFT 10, 20, 25 ms (p50 20; p99 20 + 0.98 x 5 = 24.9); TPOT (finish - first) / 2 = 10 ms each;
    latency 30, 40, 45 ms: SLO 42 ms met by two (attainment 2/3, goodput 2 per 1 s window, r2
    late); 9 output tokens in 1 s; the engine busy its whole run (utilisation 1).
    KV blocks in use per iteration 3, 6, 8, 6, 3: 0.26 block-seconds over blocks x 50 ms, with
    blocks = floor((0.9 x 1e9 - weights 196,608 - tied embedding 12,800 - activations
    2 x 5 x (64 + 256) x 2 = 6,400) / (2 tokens x 256 B x 2 layers)) = 878,695."""
    kind, point = continuous_case(tmp_path, [(0.0, "tiny"), (0.0, "tiny"), (0.005, "tiny")])
    rows, runs = kind.design_rows(point)
    r = rows[0]
    assert point.replicas[(0, 0)].cfg.kv_blocks == 878_695
    assert r["mapping"] == "1gpu(tiny)" and r["batching"] == "continuous" and r["feasible"]
    assert (r["requests"], r["served"], r["late"], r["rejected"], r["unplaced"]) == (3, 3, 1, 0, 0)
    assert r["slo_attainment"] == pytest.approx(2 / 3) and r["goodput_per_s"] == pytest.approx(2.0)
    assert r["ttft_p50_s"] == pytest.approx(0.02, rel=1e-6) and r["ttft_p99_s"] == pytest.approx(0.0249, rel=1e-6)
    assert r["tpot_p50_s"] == pytest.approx(0.01, rel=1e-6) and r["tpot_p99_s"] == pytest.approx(0.01, rel=1e-6)
    assert r["latency_mean_s"] == pytest.approx((0.03 + 0.04 + 0.045) / 3, rel=1e-6)
    assert r["latency_p50_s"] == pytest.approx(0.04, rel=1e-6)
    assert r["output_tokens_per_s"] == pytest.approx(9.0) and r["preemptions"] == 0
    assert r["gpu_utilisation"] == pytest.approx(1.0, rel=1e-6)
    assert r["kv_cache_utilisation"] == pytest.approx(0.26 / (878_695 * 0.05), rel=1e-6)


def test_continuous_placement_one_model_per_group_round_robin(tmp_path):
    """Two models on three one-GPU groups: 'big' asks 3 x the tokens of 'tiny', so groups go big,
    tiny (a model without a replica first), then big again (3 / 1 > 1 / 1); big's requests
    alternate between its two replicas. Without batching the same files place by the simulator."""
    more = """  - name: big
    transformer: {num_hidden_layers: 2, hidden_size: 64, num_attention_heads: 4, intermediate_size: 256,
                  vocab_size: 100, seq_len: 4, precision_bits: 16, architecture: gpt,
                  decode: {output_tokens: 3}}
    serving: {slo_s: 1}
"""
    trace = [(0.0, "big"), (0.0, "big"), (0.0, "tiny"), (0.1, "big")]
    kind, point = continuous_case(tmp_path, trace, groups="1+1+1", gpus=3, more=more)
    rows, _ = kind.design_rows(point)
    assert rows[0]["mapping"] == "1gpu(big) + 1gpu(tiny) + 1gpu(big)"
    # big's requests 0, 1, 3 go to groups 0, 2, 0: requests 0 and 3 never share an iteration
    # (3 is at 100 ms), so every request runs alone: TTFT one iteration (10 ms), latency 30 ms.
    assert rows[0]["ttft_p99_s"] == pytest.approx(0.01, rel=1e-6)
    assert rows[0]["latency_p99_s"] == pytest.approx(0.03, rel=1e-6)
    assert rows[0]["replicas"] == 3


def test_continuous_infeasible_when_the_cache_cannot_hold_a_request(tmp_path):
    """gpu_memory_utilization so small that the weights leave no room: an infeasible row naming it."""
    kind, point = continuous_case(tmp_path, [(0.0, "tiny")])
    from dataclasses import replace as dc_replace

    hw = dc_replace(point.hw, engine=dc_replace(point.hw.engine, gpu_memory_utilization=0.0002))
    point = kind.build(point.workload, hw)
    r = kind.design_rows(point)[0][0]
    assert not r["feasible"] and "tiny fits no group's engine (no KV cache on 1gpu" in r["violations"]


BIG = """  - name: big
    transformer: {num_hidden_layers: 2, hidden_size: 64, num_attention_heads: 4, intermediate_size: 256,
                  vocab_size: 100, seq_len: 4, precision_bits: 16, architecture: gpt,
                  decode: {output_tokens: 3}}
    serving: {slo_s: 1}
"""


def test_continuous_placement_weighs_work_per_gpu_held(tmp_path):
    """big asks 3 requests' tokens, tiny 2, on four one-GPU groups: big (more work, neither held),
    tiny (no replica yet), big (3 / 1 > 2 / 1), then tiny (2 / 1 > big's 3 / 2)."""
    trace = [(0.0, "big"), (0.0, "big"), (0.0, "big"), (0.0, "tiny"), (0.0, "tiny")]
    kind, point = continuous_case(tmp_path, trace, groups="1+1+1+1", gpus=4, more=BIG)
    assert kind.design_rows(point)[0][0]["mapping"] == "1gpu(big) + 1gpu(tiny) + 1gpu(big) + 1gpu(tiny)"


@pytest.mark.parametrize("placement, mapping, attained", [
    ("simulated", "1gpu(tiny) + 1gpu(big) + 1gpu(tiny)", 3 / 7),
    ("fast", "1gpu(big) + 1gpu(tiny) + 1gpu(big)", 2 / 7)])
def test_continuous_simulated_placement_follows_the_goodput(tmp_path, placement, mapping, attained):
    """Three one-GPU groups; big (4 requests, SLO 1 ms: never met, an iteration is 10 ms) asks more
    work than tiny (3 requests of prompt 4 and output 3 at t = 0, SLO 42 ms). tiny on one engine
    (budget 5): r0 and r1 finish at 30 and 40 ms, r2's first token comes at 30 ms and its last at
    50 ms (late): 2 good. On two engines (r0, r2 | r1) all three finish by 40 ms: 3 good.
    simulated: group 0 to tiny (+2 against big's 0); big, still without a replica, comes first
    (a model left without one makes the design infeasible): group 1 (alone rather than beside tiny,
    which would slow tiny); then group 2 to tiny (+1). fast, by work per GPU held: big, tiny, big:
    one tiny engine, 2 good."""
    more = """  - name: big
    transformer: {num_hidden_layers: 2, hidden_size: 64, num_attention_heads: 4, intermediate_size: 256,
                  vocab_size: 100, seq_len: 4, precision_bits: 16, architecture: gpt,
                  decode: {output_tokens: 3}}
    serving: {slo_s: 0.001}
"""
    trace = [(0.0, "big")] * 4 + [(0.0, "tiny")] * 3
    kind, point = continuous_case(tmp_path, trace, groups="1+1+1", gpus=3, more=more)
    point = replace(point, hw=replace(point.hw, placement=placement))
    rows, sims = kind.design_rows(point)
    assert rows[0]["mapping"] == mapping and rows[0]["slo_attainment"] == pytest.approx(attained)
    # simulated: each step weighs each model on the first empty group (the three are alike) and
    # beside the models already placed (taken for a gain, or a first replica), one simulation each:
    # 2 with all groups empty; tiny on g0: big beside it, tiny and big on g1 (3); tiny on g0, big on
    # g1: each beside the other, tiny and big on g2 (4); then each beside the other twice (3)
    # (+ 2: the greedy's placement and the fast rule's, compared on the placement run)
    assert sims == (2 + 3 + 4 + 3 + 2 if placement == "simulated" else 1)


def test_simulated_placement_keeps_the_fast_rules_when_better(tmp_path, monkeypatch):
    """A greedy that placed nothing (monkeypatched) loses to the fast rule on the placement run:
    place() returns the fast rule's placement."""
    from dse.system.serving import batched
    from dse.system.serving.evaluator import place

    kind, point = continuous_case(tmp_path, [(0.0, "tiny")] * 3, groups="1+1", gpus=2)
    monkeypatch.setattr(batched, "place_simulated", lambda replicas, can, *rest: (np.zeros_like(can, np.uint8), 0))
    placed, sims = place(point)
    assert placed.tolist() == [[1, 1]] and sims == 2


def test_continuous_models_share_a_group_for_a_gain(tmp_path):
    """One one-GPU group, one request of each of two models at t = 0 (prompt 4, output 3), SLOs
    1 s. Alone the group serves one model (1 request good); sharing it, the two engines take turns
    (10 ms an iteration): tiny's prefill, big's, then their decodes in turn: tiny done at 50 ms,
    big at 60 ms, both good. The greedy puts tiny first (the lower index at equal gain and work),
    then big beside it for +1."""
    more = """  - name: big
    transformer: {num_hidden_layers: 2, hidden_size: 64, num_attention_heads: 4, intermediate_size: 256,
                  vocab_size: 100, seq_len: 4, precision_bits: 16, architecture: gpt,
                  decode: {output_tokens: 3}}
    serving: {slo_s: 1}
"""
    kind, point = continuous_case(tmp_path, [(0.0, "tiny"), (0.0, "big")], tiny_serving="{slo_s: 1}", more=more)
    r = kind.design_rows(point)[0][0]
    assert r["mapping"] == "1gpu(tiny,big)" and r["slo_attainment"] == 1.0
    # latencies 50 and 60 ms: mean 55, p99 by numpy's interpolation 50 + 0.99 x 10 = 59.9 ms
    assert r["latency_mean_s"] == pytest.approx(0.055, rel=1e-6) and r["latency_p99_s"] == pytest.approx(0.0599, rel=1e-6)


def test_models_sharing_a_group_take_requests_in_arrival_order(tmp_path):
    """The models of test_continuous_models_share_a_group_for_a_gain sharing the group, with
    arrivals interleaved across them: tiny at 0 and 20 ms, big at 10 ms (10 ms an iteration,
    turns tiny, big, ...). tiny prefills r0 (10 ms); big, its request in by then, prefills r1
    (20); tiny decodes r0 beside r2's prompt (30); big decodes (40); tiny (50: r0 done); big (60:
    r1 done); tiny (70: r2 done). Every request takes 50 ms."""
    more = """  - name: big
    transformer: {num_hidden_layers: 2, hidden_size: 64, num_attention_heads: 4, intermediate_size: 256,
                  vocab_size: 100, seq_len: 4, precision_bits: 16, architecture: gpt,
                  decode: {output_tokens: 3}}
    serving: {slo_s: 1}
"""
    kind, point = continuous_case(tmp_path, [(0.0, "tiny"), (0.01, "big"), (0.02, "tiny")],
                                  tiny_serving="{slo_s: 1}", more=more)
    r = kind.design_rows(point)[0][0]
    assert r["mapping"] == "1gpu(tiny,big)"
    assert r["latency_mean_s"] == pytest.approx(0.05, rel=1e-6) and r["latency_p99_s"] == pytest.approx(0.05, rel=1e-6)


def test_objectives_add_the_request_overhead_unless_shifted(tmp_path):
    """The placement run's objective check adds the per-request overhead to the first token and
    the finish (the evaluation shifts them before): a request of tiny (SLO 42 ms) arriving at 0,
    first token at 10 ms, done at 30 ms meets it alone, not with a 20 ms overhead (50 ms)."""
    from dse.system.serving.evaluator import _meets

    _, point = continuous_case(tmp_path, [(0.0, "tiny")])
    point = replace(point, policy=point.policy._replace(overhead_s=0.02))
    args = (np.array([0]), np.array([0.0]), np.array([0.01]), np.array([0.03]), np.array([3]))
    assert not _meets(point, *args)[0] and _meets(point, *args, shifted=True)[0]


def test_tokens_emitted_in_a_window_by_hand():
    """Window [1, 2) s. r0: first token at 0.5 s (before the window), its other 10 spread evenly
    to 1.5 s: half of them, 5, inside. r1: its only token at 1.2 s: 1. r2 never served: 0."""
    from dse.system.serving.evaluator import _emitted

    got = _emitted(np.array([0.5, 1.2, np.nan]), np.array([1.5, 1.2, np.nan]), np.array([11, 1, 4]), 1.0, 2.0)
    assert got == pytest.approx(6.0)


def test_tpot_objective_counts_the_tokens_after_the_first(tmp_path):
    """First token at 10 ms, the third and last at 30 ms: TPOT = 20 ms / 2 = 10 ms, over an
    8 ms objective (over 3 tokens it would read 6.7 ms and pass)."""
    from dse.system.serving.evaluator import _meets

    _, point = continuous_case(tmp_path, [(0.0, "tiny")], tiny_serving="{tpot_slo_s: 0.008}")
    args = (np.array([0]), np.array([0.0]), np.array([0.01]), np.array([0.03]), np.array([3]))
    assert not _meets(point, *args)[0]
    assert _meets(replace(point, tpot_slo_s=np.array([0.01])), *args)[0]


def test_kv_move_to_a_pool_by_hand():
    """1,000 bytes over a 1 GB/s link of 1 us latency at 2 pJ/bit: 1 us + 1 us, 1,000 x 8 x 2 pJ."""
    dev = blank_device_table(G.N_DEVICES)
    dev[G.ATTN_POOL, G.D_LINK_BW], dev[G.ATTN_POOL, G.D_LINK_LAT], dev[G.ATTN_POOL, G.D_LINK_PJ] = 1e9, 1e-6, 2.0
    t, e = G.to_pool(dev, G.ATTN_POOL, 1000.0)
    assert t == pytest.approx(2e-6) and e == pytest.approx(1.6e-8)


def test_models_sharing_a_group_share_its_memory_by_hand():
    """usable = 1,000 B - the weights 100 + 200 - the larger reserve 80 = 620 B, half each: 310 /
    10 = 31 blocks and 310 / 20 = 15; alone, the first has 1,000 - 100 - 50 = 850 / 10 = 85. An
    attention pool's 9 blocks halve to 4. FC pools holding 60 + 50 B of weights on 100 B: none."""
    from dse.system.serving.batched import Replica, shared_blocks

    a = Replica(None, None, None, 0.0, 10.0, None, memory_bytes=1000.0, fixed_bytes=100.0, reserve_bytes=50.0)
    b = Replica(None, None, None, 0.0, 20.0, None, memory_bytes=1000.0, fixed_bytes=200.0, reserve_bytes=80.0)
    assert shared_blocks([a, b]) == [31, 15] and shared_blocks([a]) == [85]
    assert shared_blocks([a, replace(b, pool_blocks=9.0)]) == [31, 4]
    assert shared_blocks([replace(a, fc_bytes=60.0, fc_cap=100.0), replace(b, fc_bytes=50.0, fc_cap=100.0)]) == [0, 0]
    # group_cfgs: the shares as the engines' blocks, refused when one cannot hold its longest request
    from dse.system.serving.batched import group_cfgs

    cfg = EngineConfig(4, 16, 2, 85, True)
    reps = {(0, 0): replace(a, cfg=cfg, need_blocks=30), (1, 0): replace(b, cfg=cfg, need_blocks=15)}
    assert [c.kv_blocks for c in group_cfgs(reps, [0, 1], 0)] == [31, 15]
    assert group_cfgs({**reps, (1, 0): replace(reps[(1, 0)], need_blocks=16)}, [0, 1], 0) is None
    assert group_cfgs(reps, [0], 0) == [cfg]


def test_continuous_metrics_leave_out_requests_of_an_unplaced_model(tmp_path):
    """One group, two models asking the same work, placement fast (one model per group): the
    first model (tiny) takes it, big's request is unplaced and never served; the TTFT and TPOT
    percentiles are tiny's alone (one request alone: 10 ms, then 10 ms a token). (simulated would
    put big beside tiny: test_continuous_models_share_a_group_for_a_gain.)"""
    kind, point = continuous_case(tmp_path, [(0.0, "big"), (0.0, "tiny")], more=BIG)
    point = replace(point, hw=replace(point.hw, placement="fast"))
    r = kind.design_rows(point)[0][0]
    assert r["mapping"] == "1gpu(tiny)" and r["unplaced"] == 1 and not r["feasible"]
    assert "big has no replica (no group's memory or time was given to it)" in r["violations"]
    assert r["ttft_p99_s"] == pytest.approx(0.01, rel=1e-3) and r["tpot_p99_s"] == pytest.approx(0.01, rel=1e-3)


def test_continuous_pipeline_group_by_hand(tmp_path):
    """A 3-layer model on one pp-2 group (tp 1): stages of 2 and 1 layers. Per GPU, the largest
    stage: weights 2 x 98,304 + the embedding 12,800 = 209,408 B (the last stage: 1 layer + the
    LM head, 111,104); KV block 2 tokens x 256 B x 2 layers = 1,024 B (the larger stage's);
    activations 6,400 B: floor((0.9e9 - 209,408 - 6,400) / 1,024) = 878,695 blocks. One request
    keeps the engine busy its whole run; unpipelined, each stage is busy half of it:
    utilisation 2 stages x 1/2 x window / (2 GPUs x window) = 0.5."""
    kind, point = continuous_case(tmp_path, [(0.0, "tiny")], groups="2", gpus=2, layers=3)
    rep = point.replicas[(0, 0)]
    assert (rep.weights_bytes, rep.kv_block_bytes, rep.cfg.kv_blocks) == (209_408, 1_024, 878_695)
    r = kind.design_rows(point)[0][0]
    assert r["mapping"] == "pp2(tiny)" and r["gpu_utilisation"] == pytest.approx(0.5, rel=1e-9)
    # three iterations (prefill, two decodes) of 10 ms and a ~1 us stage send each: idle 100 W on
    # both GPUs for 30 ms = 6 J over 3 output tokens; $3.6 an hour for 2 GPUs at 3 tokens a second
    assert r["energy_per_token_j"] == pytest.approx(2.0, rel=1e-3)
    assert r["usd_per_million_tokens"] == pytest.approx(3.6 * 2 / 3600 / 3 * 1e6, rel=1e-9)


def test_groups_with_their_own_degrees(tmp_path):
    """'pp2+tp2' on 4 GPUs: groups with their own degrees, whatever system.tp says (1 here), laid out
    largest first, then by tp: a 2-way TP group on GPUs 0-1 and a 2-stage pipeline on GPUs 2-3. The
    pipeline group is test_continuous_pipeline_group_by_hand's (209,408 B of weights per GPU, 878,695
    KV blocks); the TP group is what a sized group '2' is under system.tp 2. The canonical string
    sorts and spells the degrees ('pp2tp1' is 'pp2')."""
    from dse.spec.common import Node
    from dse.system.serving.spec import _partition

    kind, point = continuous_case(tmp_path, [(0.0, "tiny")], groups="pp2+tp2", gpus=4, layers=3)
    assert [(c.size, c.pp, c.tp, c.first_gpu) for c in point.configs] == [(2, 1, 2, 0), (2, 2, 1, 2)]
    pipe = point.replicas[(0, 1)]
    assert (pipe.weights_bytes, pipe.kv_block_bytes, pipe.cfg.kv_blocks) == (209_408, 1_024, 878_695)
    _, sized = continuous_case(tmp_path, [(0.0, "tiny")], groups="2+2", gpus=4, layers=3, hw_extra="  tp: 2\n")
    assert [(c.pp, c.tp) for c in sized.configs] == [(1, 2), (1, 2)]
    tp_rep, same = point.replicas[(0, 0)], sized.replicas[(0, 0)]
    assert (tp_rep.weights_bytes, tp_rep.cfg) == (same.weights_bytes, same.cfg)
    assert "tp2(tiny)" in kind.design_rows(point)[0][0]["mapping"]
    assert _partition(Node("1+tp2+pp2tp1", "hw.yaml", "system.groups"), 8) == "tp2+pp2+1"
    assert _partition(Node("pp2tp2+ 1 +2", "hw.yaml", "system.groups"), 8) == "pp2tp2+2+1"
    with pytest.raises(DseError, match="at most the cluster's 4 GPUs"):      # 2 x 2 + 1 GPUs
        _partition(Node("pp2tp2+1", "hw.yaml", "system.groups"), 4)


# PIM pools for the serving kind: rates so high the bytes cost ~0 (8 banks x 1e13 B/s per bank), an
# FC pool of 0.2 ms per op behind a 0.1 ms link, an attention pool of 0.5 ms per op behind 1 ms.
PIM_POOLS = """  dispatch: {{policy: {policy}, alpha: 4}}
interconnect:
  fast: {{bytes_per_s: 1e16, latency_s: 0.1 ms, pj_per_bit: 0}}
  slow: {{bytes_per_s: 1e16, latency_s: 1 ms, pj_per_bit: 0}}
pim:
  - &pool {{name: fc_pim, role: fc, count: {fc_count}, dies: 1, banks_per_die: {fc_banks}, bank_bytes: 32 KiB,
           fpus_per_bank: 1, fpu_flop_per_s: 1e13, bank_bytes_per_s: 1e13, external_bytes_per_s: 1e16,
           power_multiple: 1000, max_query_tokens: 4, bank_mm2: 1, fpu_mm2: 0, die_max_mm2: 1000,
           access_pj_per_bit: 0, alu_pj_per_flop: 0, kernel_floor_s: 0.2 ms, link: fast}}
  - {{<<: *pool, name: attn_pim, role: attn, count: {attn_count}, banks_per_die: 8, bank_bytes: 1 KiB, kernel_floor_s: 0.5 ms,
      idle_w: 2 W, link: slow}}
"""


def test_continuous_with_pim_pools_by_hand(tmp_path):
    """The tiny model (2 layers, h 64, FP16) on one flat GPU (10 ms a step, idle 100 W) with PAPI's
    pools, alpha 4, one request of prompt 4 and output 3:
      capacity  the attention pool holds the KV cache: 2 devices x 8 banks x 1 KiB = 16,384 B over
                blocks of 2 tokens x K+V 256 B x 2 layers = 1,024 B: 16 blocks; the FC pool holds
                the weights, 209,408 B (test_continuous_pipeline_group_by_hand's stage + the
                embedding) on its 1 device of 8 x 32 KiB = 262,144 B; the GPU holds neither
      it 1      the prompt on the GPU, its K/V sent to the attention pool (1 ms): 11 ms
      it 2, 3   a decode, T = 1 <= alpha: FC on the FC pool, 9 launches x (0.2 + 0.1) ms, and
                attention on the attention pool, 2 x (0.5 + 1) ms: 15.7 ms each
    TTFT 11 ms, finish 42.4 ms, TPOT 15.7 ms; FC on FC-PIM in 2 of 3 iterations; energy: idle only,
    (100 W + 2 x 2 W) x 42.4 ms over 3 tokens. gpu_attn_pim: FC on the GPU, 13 ms decodes, the
    attention pool powered; an FC pool too small for the weights: infeasible, saying so."""
    kind, point = continuous_case(tmp_path, [(0.0, "tiny")], tiny_serving="{slo_s: 1}",
                                  hw_extra=PIM_POOLS.format(policy="papi", fc_banks=8, fc_count=1, attn_count=2))
    rep = point.replicas[(0, 0)]
    assert (rep.weights_bytes, rep.kv_block_bytes, rep.cfg.kv_blocks) == (0.0, 0.0, 16)
    r = kind.design_rows(point)[0][0]
    assert r["feasible"], r["violations"]
    assert r["ttft_p50_s"] == pytest.approx(0.011, rel=1e-6) and r["tpot_p50_s"] == pytest.approx(0.0157, rel=1e-6)
    assert r["fc_pim_iteration_share"] == pytest.approx(2 / 3)
    assert r["energy_per_token_j"] == pytest.approx(104 * 0.0424 / 3, rel=1e-6)
    kind, point = continuous_case(tmp_path, [(0.0, "tiny")], tiny_serving="{slo_s: 1}",
                                  hw_extra=PIM_POOLS.format(policy="gpu_attn_pim", fc_banks=8, fc_count=1, attn_count=2))
    r = kind.design_rows(point)[0][0]
    assert r["tpot_p50_s"] == pytest.approx(0.013, rel=1e-6) and r["fc_pim_iteration_share"] == 0.0
    assert point.replicas[(0, 0)].weights_bytes == 209_408
    assert r["energy_per_token_j"] == pytest.approx(104 * (0.011 + 2 * 0.013) / 3, rel=1e-6)
    kind, point = continuous_case(tmp_path, [(0.0, "tiny")], tiny_serving="{slo_s: 1}",
                                  hw_extra=PIM_POOLS.format(policy="papi", fc_banks=6, fc_count=1, attn_count=2))
    r = kind.design_rows(point)[0][0]
    assert not r["feasible"] and "fc_pim: weights 0.000209 GB per device > 0.000197 GB" in r["violations"]


def test_pim_pools_on_a_pipeline_group_by_hand(tmp_path):
    """Four GPUs as two pp-2 groups (the 3-layer tiny model: stages of 2 and 1 layers), pools of 4
    FC-PIM and 4 Attn-PIM devices spread over the 4 GPUs: each stage gets 4 x 2 / (4 x 2) = 1
    device of each. KV blocks: the larger stage's 2 layers x 256 B x 2 tokens = 1,024 B a block,
    on its 1 device of 8 x 1 KiB: 8 blocks. The weights of that stage, 209,408 B, on its one FC
    device of 262,144 B. Idle power: the group's 2 attention devices, 2 W each."""
    kind, point = continuous_case(tmp_path, [(0.0, "tiny")], groups="2+2", gpus=4, layers=3,
                                  tiny_serving="{slo_s: 1}",
                                  hw_extra=PIM_POOLS.format(policy="papi", fc_banks=8, fc_count=4, attn_count=4))
    rep = point.replicas[(0, 0)]
    assert rep.cfg.kv_blocks == 8 and rep.problem is None
    assert [(pool.name, n) for pool, n in rep.pool_devices] == [("fc_pim", 2), ("attn_pim", 2)]
    assert rep.system.dev[G.ATTN_POOL, G.D_NDEV] == 1 and rep.system.dev[G.FC_POOL, G.D_NDEV] == 1


@pytest.mark.parametrize("objectives, attained", [
    ("{ttft_slo_s: 0.022}", 2 / 3),                      # TTFT 10, 20, 25 ms: r2 misses
    ("{ttft_slo_s: 0.022, tpot_slo_s: 0.02}", 2 / 3),     # TPOT 10 ms each: all meet it
    ("{tpot_slo_s: 0.005}", 0.0),                        # nobody makes 5 ms a token
    ("{slo_s: 0.042, ttft_slo_s: 0.015}", 1 / 3),         # r0 only: r1's first token at 20 ms, r2 late
])
def test_continuous_attainment_needs_every_objective(tmp_path, objectives, attained):
    """The three requests of test_continuous_serving_metrics_by_hand (TTFT 10, 20, 25 ms; TPOT
    10 ms each; latency 30, 40, 45 ms) judged on TTFT and TPOT objectives (DistServe: a request
    meets its SLO when all of them hold)."""
    kind, point = continuous_case(tmp_path, [(0.0, "tiny"), (0.0, "tiny"), (0.005, "tiny")], tiny_serving=objectives)
    r = kind.design_rows(point)[0][0]
    assert r["slo_attainment"] == pytest.approx(attained) and r["served"] == 3
    assert r["ttft_p90_s"] == pytest.approx(0.02 + 0.8 * 0.005, rel=1e-6)


@pytest.mark.parametrize("target, feasible", [(0.9, False), (0.6, True)])
def test_min_slo_attainment_is_a_constraint(tmp_path, target, feasible):
    """The three requests of test_continuous_serving_metrics_by_hand with a TTFT objective of 22 ms
    (TTFT 10, 20, 25 ms): attainment 2/3, below 0.9 (infeasible, saying so), above 0.6."""
    kind, point = continuous_case(tmp_path, [(0.0, "tiny"), (0.0, "tiny"), (0.005, "tiny")],
                                  tiny_serving="{ttft_slo_s: 0.022}", serving_extra=f", min_slo_attainment: {target}")
    r = kind.design_rows(point)[0][0]
    assert r["slo_attainment"] == pytest.approx(2 / 3) and r["feasible"] == feasible
    assert ("SLO attainment 0.6667 < serving.min_slo_attainment 0.9" in r["violations"]) != feasible


def test_continuous_output_tokens_are_those_emitted_in_the_window(tmp_path):
    """One request at 0.9 s (prompt 4, output 30) in a 1 s window, 10 ms an iteration: its first
    token at 0.91 s, the other 29 one an iteration until 1.20 s. Emitted inside the window: the
    first and 29 x (1.00 - 0.91) / (1.20 - 0.91) = 9 more: 10 tokens a second, not the 30 it
    asked for (the offered load)."""
    kind, point = continuous_case(tmp_path, [(0.9, "tiny", 4, 30)], tiny_serving="{slo_s: 1}")
    r = kind.design_rows(point)[0][0]
    assert r["output_tokens_per_s"] == pytest.approx(10.0, rel=1e-6)


def test_continuous_objectives_default_to_the_workloads(tmp_path):
    """serving.ttft_slo_s applies to a model without its own: TTFT 10, 20, 25 ms against 22 ms."""
    kind, point = continuous_case(tmp_path, [(0.0, "tiny"), (0.0, "tiny"), (0.005, "tiny")], tiny_serving="{}",
                                  serving_extra=", ttft_slo_s: 0.022")
    assert kind.design_rows(point)[0][0]["slo_attainment"] == pytest.approx(2 / 3)


# --- request lengths ------------------------------------------------------------------------------

def lengths_workload(tmp_path, lengths: str, rate=200.0, duration=50.0, csv_text=None):
    from dse.spec.workload import load_workload

    if csv_text is not None:
        (tmp_path / "l.csv").write_text(csv_text)
    (tmp_path / "w.yaml").write_text(f"""name: lens
serving: {{duration_s: {duration}, seed: 3, arrival: {{process: poisson}}}}
models:
  - name: a
    transformer: {{preset: llama2-7b, seq_len: 512, precision_bits: 16, decode: {{output_tokens: 128}}}}
    serving: {{rate_per_s: {rate}, slo_s: 10, lengths: {lengths}}}
  - name: b
    transformer: {{preset: llama2-7b, seq_len: 100, precision_bits: 16, decode: {{output_tokens: 7}}}}
    serving: {{rate_per_s: {rate}, slo_s: 10}}
""")
    return load_workload(tmp_path / "w.yaml")


def test_request_lengths_follow_their_distributions(tmp_path):
    """Model a draws, model b keeps its transformer's 100 / 7 tokens. Lognormal (mean 600, CV 1.2)
    over ~10,000 draws: the sample mean within 5 % and the CV within 10 % (the cap at 20,000
    tokens cuts a 1e-5 tail); uniform stays in its bounds and reaches both; the same seed and
    stream give the same draws, another stream others."""
    from dse.system.serving.arrivals import generate, request_lengths

    w = lengths_workload(tmp_path, "{dist: lognormal, prompt: [600, 1.2], output: [200, 0.5], max_tokens: 20000}")
    _, model = generate(w, 0)
    prompt, output = request_lengths(w, 0, (512, 100), (128, 7))
    a, b = model == 0, model == 1
    assert a.sum() > 9000 and (prompt[b] == 100).all() and (output[b] == 7).all()
    assert prompt[a].mean() == pytest.approx(600, rel=0.05) and prompt[a].std() / prompt[a].mean() == pytest.approx(1.2, rel=0.1)
    assert output[a].mean() == pytest.approx(200, rel=0.05) and prompt[a].min() >= 1 and prompt[a].max() <= 20000
    again = request_lengths(w, 0, (512, 100), (128, 7))
    other = request_lengths(w, 1, (512, 100), (128, 7))
    assert (again[0] == prompt).all() and not np.array_equal(other[0][:50], prompt[:50])
    w = lengths_workload(tmp_path, "{dist: uniform, prompt: [3, 5]}")
    _, model = generate(w, 0)
    prompt, output = request_lengths(w, 0, (512, 100), (128, 7))
    assert set(prompt[model == 0].tolist()) == {3, 4, 5} and (output[model == 0] == 128).all()


def test_empirical_lengths_are_the_files_pairs(tmp_path):
    from dse.system.serving.arrivals import generate, request_lengths

    w = lengths_workload(tmp_path, "{dist: empirical, file: l.csv}", csv_text="prompt_tokens,output_tokens\n10,1\n20,2\n")
    _, model = generate(w, 0)
    prompt, output = request_lengths(w, 0, (512, 100), (128, 7))
    pairs = set(zip(prompt[model == 0].tolist(), output[model == 0].tolist()))
    assert pairs == {(10, 1), (20, 2)}


def test_continuous_with_empirical_lengths_by_hand(tmp_path):
    """Every request of the flat-GPU case (10 ms an iteration, budget 5, blocks of 2) is 2 prompt
    and 2 output tokens (a one-row lengths file). it 1 @0: r0 and r1 prefill 2 each (first tokens
    10 ms); it 2 @10: r0 and r1 decode their last tokens (done 20 ms), r2 prefills 2 (first token
    20 ms); it 3: r2 done at 30 ms. TTFT 10, 10, 15 ms; latency 20, 20, 25 ms; TPOT 10 ms; 6 output
    tokens in the 1 s window."""
    (tmp_path / "l.csv").write_text("prompt_tokens,output_tokens\n2,2\n")
    kind, point = continuous_case(tmp_path, [(0.0, "tiny"), (0.0, "tiny"), (0.005, "tiny")],
                                  tiny_serving="{slo_s: 1, lengths: {dist: empirical, file: l.csv}}")
    r = kind.design_rows(point)[0][0]
    assert r["ttft_p50_s"] == pytest.approx(0.01, rel=1e-6) and r["ttft_p99_s"] == pytest.approx(0.01 + 0.98 * 0.005, rel=1e-6)
    assert r["latency_mean_s"] == pytest.approx(0.065 / 3, rel=1e-6) and r["tpot_p99_s"] == pytest.approx(0.01, rel=1e-6)
    assert r["output_tokens_per_s"] == pytest.approx(6.0)


def test_continuous_feasibility_covers_both_runs_lengths(tmp_path):
    """One request, lengths drawn from a two-row file: the evaluation run (stream 0) draws row 0,
    2 + 2 tokens, the placement run (stream 1) row 1, 40 + 2 (numpy's default_rng([0, s, 0, 1])
    .integers(0, 2) gives 0 and 1). A cache of 9 blocks of 2 tokens (gpu_memory_utilization
    0.000226 of 1 GB: 226,000 - 215,808 B of weights, embedding and activations = 10,192 B, over
    1,024 B a block) holds the first (2 blocks) but not the second (41 tokens: 21 blocks): the
    model cannot be served, whichever run draws the long request."""
    from dataclasses import replace as dc_replace

    (tmp_path / "l.csv").write_text("prompt_tokens,output_tokens\n2,2\n40,2\n")
    kind, point = continuous_case(tmp_path, [(0.0, "tiny")],
                                  tiny_serving="{slo_s: 1, lengths: {dist: empirical, file: l.csv}}")
    hw = dc_replace(point.hw, engine=dc_replace(point.hw.engine, gpu_memory_utilization=0.000226))
    point = kind.build(point.workload, hw)
    assert point.test_lengths[0].tolist() == [2] and point.train_lengths[0].tolist() == [40]
    r = kind.design_rows(point)[0][0]
    assert not r["feasible"]
    assert "a request of 40 + 2 tokens needs 21 KV blocks of 2 tokens; the cache holds 9" in r["violations"]


def test_continuous_energy_and_price_per_token_by_hand(tmp_path):
    """The three requests of test_continuous_serving_metrics_by_hand: the engine runs 50 ms; no
    dynamic energy figures, idle 100 W on its one GPU: 5 J over 9 output tokens = 0.5556 J a token.
    $3.6 a GPU-hour: 1 GPU x $0.001 a second / 9 tokens a second = $111.1 per million tokens. The
    study's objectives are then goodput (up) and that price (down)."""
    kind, point = continuous_case(tmp_path, [(0.0, "tiny"), (0.0, "tiny"), (0.005, "tiny")])
    r = kind.design_rows(point)[0][0]
    assert r["energy_per_token_j"] == pytest.approx(5.0 / 9, rel=1e-6)
    assert r["usd_per_million_tokens"] == pytest.approx(3.6 / 3600 / 9 * 1e6, rel=1e-9)
    assert kind.objectives(point.workload, point.hw) == (("goodput_per_s", True), ("usd_per_million_tokens", False))


def test_continuous_with_lengths_from_the_trace_by_hand(tmp_path):
    """A trace carrying each request's lengths: r0 and r1 (prompt 2, output 2) at 0, r2 (4, 3) at
    5 ms, on the flat GPU (10 ms an iteration, budget 5, blocks of 2). it 1: r0, r1 prefill 2 each
    (first tokens 10 ms). it 2 @10: r0, r1 decode their last (done 20 ms), r2 chunk 3 of 4. it 3:
    r2's last prompt token (first token 30 ms). it 4, 5: r2 decodes (done 50 ms). TTFT 10, 10, 25
    ms; latency 20, 20, 45 ms; 7 output tokens in the 1 s window."""
    kind, point = continuous_case(tmp_path, [(0.0, "tiny", 2, 2), (0.0, "tiny", 2, 2), (0.005, "tiny", 4, 3)],
                                  tiny_serving="{slo_s: 1}")
    assert point.workload.serving.trace_lengths and point.test_lengths[0].tolist() == [2, 2, 4]
    r = kind.design_rows(point)[0][0]
    assert r["ttft_p50_s"] == pytest.approx(0.01, rel=1e-6) and r["latency_p99_s"] == pytest.approx(0.02 + 0.98 * 0.025, rel=1e-6)
    assert r["latency_mean_s"] == pytest.approx(0.085 / 3, rel=1e-6) and r["output_tokens_per_s"] == pytest.approx(7.0)


def test_static_batching_through_the_serving_kind_by_hand(tmp_path):
    """The three requests of test_continuous_serving_metrics_by_hand with batching: static: it 1
    r0 chunk 4, r1 chunk 1; it 2 r0 decodes, r1 chunk 3 (first token 20 ms), r2 waits; it 3 r0
    done (30 ms); it 4 r1 done (40 ms); it 5 the idle engine takes r2 (first token 50 ms), done at
    70 ms. TTFT 10, 20, 45 ms; latency 30, 40, 65 ms."""
    kind, point = continuous_case(tmp_path, [(0.0, "tiny"), (0.0, "tiny"), (0.005, "tiny")], batching="static")
    r = kind.design_rows(point)[0][0]
    assert r["batching"] == "static" and r["ttft_p50_s"] == pytest.approx(0.02, rel=1e-6)
    assert r["latency_mean_s"] == pytest.approx(0.135 / 3, rel=1e-6)


def test_continuous_placement_counts_output_tokens(tmp_path):
    """One request each; tiny asks 4 + 3 tokens, big 4 + 20 (its lengths fixed at 20 outputs): big
    has the more work, so three groups go big, tiny, big (the prompts alone would tie)."""
    more = BIG.replace("serving: {slo_s: 1}", "serving: {slo_s: 1, lengths: {dist: fixed, output: 20}}")
    kind, point = continuous_case(tmp_path, [(0.0, "tiny"), (0.0, "big")], groups="1+1+1", gpus=3, more=more)
    assert kind.design_rows(point)[0][0]["mapping"] == "1gpu(big) + 1gpu(tiny) + 1gpu(big)"


def test_continuous_tpot_leaves_out_one_token_requests(tmp_path):
    """r0 asks 2 + 1 tokens, r1 2 + 2, both at 0: one iteration prefills both (r0 done at 10 ms
    with its only token), r1 decodes its second at 20 ms: TPOT is r1's alone, 10 ms (a one-token
    request has no time per output token)."""
    kind, point = continuous_case(tmp_path, [(0.0, "tiny", 2, 1), (0.0, "tiny", 2, 2)], tiny_serving="{slo_s: 1}")
    r = kind.design_rows(point)[0][0]
    assert r["tpot_p50_s"] == pytest.approx(0.01, rel=1e-6) and r["tpot_p99_s"] == pytest.approx(0.01, rel=1e-6)


def test_continuous_request_overhead_counts_in_first_token_and_finish(tmp_path):
    """The hand case of test_continuous_serving_metrics_by_hand with a 5 ms per-request overhead:
    TTFT 15, 25, 30 ms (p50 25), latency 35, 45, 50 ms; TPOT unchanged, 10 ms."""
    from dataclasses import replace as dc_replace

    kind, point = continuous_case(tmp_path, [(0.0, "tiny"), (0.0, "tiny"), (0.005, "tiny")])
    point = kind.build(point.workload, dc_replace(point.hw, request_overhead_s=0.005))
    r = kind.design_rows(point)[0][0]
    assert r["ttft_p50_s"] == pytest.approx(0.025, rel=1e-6) and r["latency_mean_s"] == pytest.approx(0.13 / 3, rel=1e-6)
    assert r["tpot_p50_s"] == pytest.approx(0.01, rel=1e-6)


def test_continuous_objectives_without_a_price_minimise_energy_then_gpus(tmp_path):
    """No gpu.price_per_gpu_hour (0): $ per token is NaN, so the study minimises J per token (the
    GPU has idle watts); without any energy figure either, GPUs."""
    from dataclasses import replace as dc_replace

    kind, point = continuous_case(tmp_path, [(0.0, "tiny")])
    gpu = dc_replace(point.hw.gpu, price_per_gpu_hour=0.0)
    hw = dc_replace(point.hw, gpu=gpu)
    assert kind.objectives(point.workload, hw) == (("goodput_per_s", True), ("energy_per_token_j", False))
    hw = dc_replace(point.hw, gpu=dc_replace(gpu, idle_w=0.0, pj_per_flop=0.0, memory_pj_per_bit=0.0))
    assert kind.objectives(point.workload, hw) == (("goodput_per_s", True), ("gpus", False))
