"""A continuously batched LLM serving engine, one model replica (numba, cache=True): vLLM's
scheduler with a paged KV cache, optionally with chunked prefill (Sarathi-Serve), each iteration
timed by the shared GPU layer at its real composition (dse.system.gpu.kernels.iteration_cost).
Deterministic: the same requests give the same timeline.

State. Requests arrive in time order (``arrival_s``, ``prompt`` tokens, ``output`` tokens to
generate, output >= 1). A request is *waiting* (FCFS queue), *running* (in the batch, in admission
order) or finished. Per request: ``cached`` tokens whose K/V are in the cache, ``generated`` output
tokens, and ``target`` = the tokens its (re)prefill must cache: prompt + generated when it is
admitted (a preempted request recomputes its generated tokens with its prompt, as vLLM's recompute
preemption does). The cache holds ``kv_blocks`` blocks of ``block_tokens`` tokens; a request
holds ceil(cached / block_tokens) blocks once an iteration has run it.

One iteration, starting when the engine is free at time t:
 1. arrivals with arrival_s <= t join the waiting queue (when nothing runs and nothing waits, t
    jumps to the next arrival);
 2. the batch, under ``max_tokens`` query tokens per iteration (``max_num_batched_tokens``) and
    ``max_seqs`` running requests (``max_num_seqs``):
    - ``chunked`` (vLLM v1, Sarathi-Serve): first the running requests in admission order, a
      decode taking 1 token of the budget and a request still prefilling a chunk of
      min(target - cached, budget left) tokens; then, unless this iteration preempted, waiting
      requests FCFS while a running slot and budget are left, each with a chunk of
      min(target, budget left) tokens;
    - not chunked (vLLM v0's default, prefills first): if the head of the queue fits, an
      iteration of whole prefills only (FCFS while each whole target fits the budget left, the
      slots and the free blocks); otherwise an iteration of one decode per running request;
    - ``static`` (request-level batching, FasterTransformer-style): waiting requests are admitted
      only when nothing runs, each reserving the blocks of its whole cache (prompt + output - 1
      tokens) at once, so the batch runs to its last request's end without preemption;
    - a request scheduled for n tokens needs ceil((cached + n) / block_tokens) blocks. A running
      request short of a block preempts the newest running request (possibly itself): its blocks
      are freed and it returns to the front of the waiting queue with cached = 0 (recompute);
      a waiting request short of blocks stops admission (FCFS, no overtaking).
 3. the iteration's time and energy: iteration_cost of its Batch (decode contexts cached + 1,
    chunk contexts cached + chunk), its FC / element-wise part looked up in per-token-count
    tables made once per run; t += time;
 4. the results: a chunk adds its tokens to cached; the chunk that reaches the target samples a
    token (generated += 1; the first one sets ``first_token_s``); a decode caches one token and
    samples one; a request with generated = output finishes at t and frees its blocks.

Feasibility is checked before the run (:func:`check_requests`): every request's final cache,
prompt + output - 1 tokens, fits in the whole cache (else the oldest running request could not
progress), and without chunking every prompt + output fits ``max_tokens`` (vLLM v0 requires
max_num_batched_tokens >= max_model_len): then every iteration makes progress.

Per request out: first token time, finish time, preemptions. Per run: iterations, busy seconds,
energy, the integral of blocks in use over time, preemptions, prefill and decode tokens.
"""

from __future__ import annotations

from typing import NamedTuple

from dse.jit import nb
import numpy as np

from dse.system.gpu.kernels import Batch, iteration_total, token_ops_cost, token_ops_table

MAX_TABLE_TOKENS = 65536      # token budgets up to this tabulate the FC / element-wise ops' cost

# Per-run totals (columns of Engine.stats).
S_ITER, S_BUSY, S_ENERGY, S_BLOCK_S, S_PREEMPT, S_PREFILL_TOK, S_DECODE_TOK, S_END, S_MAX_RUNNING = range(9)
N_STATS = 9


class EngineConfig(NamedTuple):
    """The scheduler's limits (vLLM's names in brackets)."""

    max_seqs: int              # running requests at most [max_num_seqs]
    max_tokens: int            # query tokens per iteration [max_num_batched_tokens]
    block_tokens: int          # tokens per KV block [block_size]
    kv_blocks: int             # blocks in the cache (GPU memory - weights - reserve, / block bytes)
    chunked: bool              # chunked prefill [enable_chunked_prefill]
    static: bool = False       # request-level (static) batching: a new batch only when the last has ended


class Devices(NamedTuple):
    """Where each op class runs (device-table rows of dse.system.gpu.kernels)."""

    fc: int
    attn: int
    elem: int


class EngineOut(NamedTuple):
    first_token_s: np.ndarray  # float64 [n]
    finish_s: np.ndarray       # float64 [n]
    preemptions: np.ndarray    # int64 [n]
    stats: np.ndarray          # float64 [N_STATS]


def engine_out(n: int) -> EngineOut:
    return EngineOut(np.full(n, np.nan), np.full(n, np.nan), np.zeros(n, np.int64), np.zeros(N_STATS))


def check_requests(prompt: np.ndarray, output: np.ndarray, cfg: EngineConfig) -> str:
    """'' when the engine can serve every request, else the first reason it cannot (see the
    module docstring): lengths >= 1, the final cache within the whole cache, and without chunked
    prefill every prompt + output within the token budget."""
    if cfg.max_seqs < 1 or cfg.max_tokens < 1 or cfg.block_tokens < 1 or cfg.kv_blocks < 1:
        return "max_num_seqs, max_num_batched_tokens, the block size and the KV blocks must each be >= 1"
    if prompt.size == 0:
        return ""
    if int(prompt.min()) < 1 or int(output.min()) < 1:
        return "every request needs a prompt and an output of at least 1 token"
    final = prompt + output - 1
    i = int(np.argmax(final))
    need = -(-int(final[i]) // cfg.block_tokens)
    if need > cfg.kv_blocks:
        return (f"a request of {int(prompt[i])} + {int(output[i])} tokens needs {need} KV blocks of "
                f"{cfg.block_tokens} tokens; the cache holds {cfg.kv_blocks}")
    longest = int((prompt + output).max())
    if not cfg.chunked and longest > cfg.max_tokens:
        return (f"without chunked prefill every prompt + output ({longest} tokens) must fit "
                f"max_num_batched_tokens ({cfg.max_tokens})")
    return ""


@nb.njit(cache=True)
def _blocks(tokens, block_tokens):
    return (tokens + block_tokens - 1) // block_tokens


@nb.njit(cache=True)
def run_engine(arrival_s, prompt, output, cfg, ops, system, devs, out):
    """Serve the requests (arrays sorted by arrival) on one replica; fills ``out`` (EngineOut).
    The rules are in the module docstring; call :func:`check_requests` first."""
    n = arrival_s.shape[0]
    bt = cfg.block_tokens
    cached = np.zeros(n, np.int64)
    generated = np.zeros(n, np.int64)
    target = np.zeros(n, np.int64)
    held = np.zeros(n, np.int64)            # blocks held
    sched = np.zeros(n, np.int64)           # tokens scheduled this iteration (0: not in the batch)
    queue = np.empty(n + 1, np.int64)       # waiting, a ring: front at head
    head = 0
    size = 0
    running = np.empty(n, np.int64)
    n_run = 0
    free = cfg.kv_blocks
    stats = out.stats
    for k in range(stats.shape[0]):
        stats[k] = 0.0
    # the FC and element-wise ops depend on the token count alone: tabulated once (same function,
    # same values as computing them each iteration; dse.system.gpu.kernels.token_ops_cost)
    tabled = cfg.max_tokens <= MAX_TABLE_TOKENS
    body_t = np.empty(cfg.max_tokens + 1 if tabled else 1)
    body_e = np.empty(body_t.shape[0])
    head_t = np.empty(min(cfg.max_seqs, cfg.max_tokens) + 1 if tabled else 1)
    head_e = np.empty(head_t.shape[0])
    if tabled:
        token_ops_table(ops, system, devs.fc, devs.elem, 0, body_t, body_e)
        token_ops_table(ops, system, devs.fc, devs.elem, 1, head_t, head_e)
    nxt = 0
    t = 0.0
    done = 0
    while done < n:
        while nxt < n and arrival_s[nxt] <= t:
            target[nxt] = prompt[nxt]
            queue[(head + size) % (n + 1)] = nxt
            size += 1
            nxt += 1
        if n_run == 0 and size == 0:
            t = arrival_s[nxt]
            continue
        budget = cfg.max_tokens
        preempted = False
        prefill_only = False
        admit = not cfg.static or n_run == 0
        if not cfg.chunked and size > 0 and admit:
            r = queue[head]
            prefill_only = (n_run < cfg.max_seqs and target[r] <= budget
                            and _blocks(target[r] if not cfg.static else prompt[r] + output[r] - 1, bt) <= free)
        # running requests, in admission order
        k = 0
        while k < n_run and not prefill_only:
            if budget == 0:
                break
            r = running[k]
            want = 1 if cached[r] >= target[r] else min(target[r] - cached[r], budget)
            need = max(_blocks(cached[r] + want, bt) - held[r], 0)     # static: reserved at admission
            while need > free:                       # preempt the newest running request
                v = running[n_run - 1]
                n_run -= 1
                free += held[v]
                held[v] = 0
                cached[v] = 0                         # recompute: prompt and generated tokens again
                target[v] = prompt[v] + generated[v]
                sched[v] = 0
                out.preemptions[v] += 1
                stats[S_PREEMPT] += 1.0
                head = (head - 1) % (n + 1)
                queue[head] = v
                size += 1
                preempted = True
                if v == r:
                    break
            if n_run <= k:                            # it preempted itself
                break
            free -= need
            held[r] += need
            sched[r] = want
            budget -= want
            k += 1
        # waiting requests, FCFS
        if admit and ((not preempted) if cfg.chunked else prefill_only):
            while size > 0 and n_run < cfg.max_seqs and budget > 0:
                r = queue[head]
                remaining = target[r] - cached[r]
                if not cfg.chunked and remaining > budget:
                    break
                want = min(remaining, budget)
                upto = cached[r] + want
                if cfg.static:                            # the whole request's cache, reserved now
                    upto = max(upto, prompt[r] + output[r] - 1)
                need = _blocks(upto, bt) - held[r]
                if need > free:
                    break
                head = (head + 1) % (n + 1)
                size -= 1
                free -= need
                held[r] += need
                sched[r] = want
                budget -= want
                running[n_run] = r
                n_run += 1
        # the batch's shape
        dec_n = 0.0
        dec_ctx = 0.0
        pre_n = 0.0
        pre_tok = 0.0
        pre_qc = 0.0
        pre_ctx = 0.0
        heads = 0.0
        for k in range(n_run):
            r = running[k]
            s = sched[r]
            if s == 0:
                continue
            if cached[r] >= target[r]:
                dec_n += 1.0
                dec_ctx += cached[r] + 1.0
                heads += 1.0
            else:
                ctx = cached[r] + s
                pre_n += 1.0
                pre_tok += s
                pre_qc += s * ctx
                pre_ctx += ctx
                if ctx == target[r]:
                    heads += 1.0
        if dec_n + pre_n == 0.0:          # nothing could run (cannot happen after check_requests)
            break
        if tabled:
            tok_t = body_t[int(dec_n + pre_tok)] + head_t[int(heads)]
            tok_e = body_e[int(dec_n + pre_tok)] + head_e[int(heads)]
        else:
            bt_, be_ = token_ops_cost(ops, system, devs.fc, devs.elem, dec_n + pre_tok, 0)
            ht_, he_ = token_ops_cost(ops, system, devs.fc, devs.elem, heads, 1)
            tok_t = bt_ + ht_
            tok_e = be_ + he_
        dt, energy, _ = iteration_total(Batch(dec_n, dec_ctx, pre_n, pre_tok, pre_qc, pre_ctx, heads), ops,
                                        system, devs.fc, devs.attn, tok_t, tok_e)
        stats[S_BLOCK_S] += (cfg.kv_blocks - free) * dt
        t += dt
        stats[S_ITER] += 1.0
        stats[S_BUSY] += dt
        stats[S_ENERGY] += energy
        stats[S_PREFILL_TOK] += pre_tok
        stats[S_DECODE_TOK] += dec_n
        if n_run > stats[S_MAX_RUNNING]:
            stats[S_MAX_RUNNING] = n_run
        keep = 0
        for k in range(n_run):
            r = running[k]
            s = sched[r]
            sched[r] = 0
            if s > 0:
                if cached[r] >= target[r]:
                    cached[r] += 1
                    generated[r] += 1
                else:
                    cached[r] += s
                    if cached[r] == target[r]:
                        generated[r] += 1
                        if generated[r] == 1:
                            out.first_token_s[r] = t
            if generated[r] >= output[r]:
                out.finish_s[r] = t
                free += held[r]
                held[r] = 0
                done += 1
            else:
                running[keep] = r
                keep += 1
        n_run = keep
    stats[S_END] = t
