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
    - a decode takes q = k + 1 tokens of the budget (k = ``spec_tokens`` draft tokens verified per
      step with speculative decoding, else 0) and stops the pass when fewer are left;
    - a request scheduled for n tokens needs ceil((cached + n) / block_tokens) blocks. A running
      request short of a block preempts the newest running request (possibly itself): its blocks
      are freed and it returns to the front of the waiting queue with cached = 0 (recompute);
      a waiting request short of blocks stops admission (FCFS, no overtaking).
 3. where it runs (``plan``, PAPI's rule at the iteration's live RLP x TLP): with T = the
    iteration's query tokens, dse.system.gpu.kernels.dispatch(policy, alpha, T) places FC and the
    decodes' attention; FC stays on the GPU when the iteration has a prefill chunk or q exceeds
    the FC pool's ``fc_max_query`` (PIM runs GEMV-like ops only); prefill chunks' attention runs
    on the GPU (iteration_cost);
 4. the iteration's time and energy: iteration_cost of its Batch (decode contexts cached + q,
    chunk contexts cached + chunk), its FC / element-wise part looked up in per-token-count
    tables made once per run; with speculative decoding the draft model (``draft_ops`` on
    ``draft_system``, on the GPU) first runs the iteration once (its chunks and one token per
    decode) and then k - 1 more decode-only steps, each an iteration_cost at the decodes'
    contexts cached + 1 (the draft's contexts growing by one token per step are not counted);
    t += time;
 5. the results: a chunk adds its tokens to cached; the chunk that reaches the target samples a
    token (generated += 1; the first one sets ``first_token_s``); a decode caches and samples
    j = min(a, output - generated) tokens, a = 1 + the leading draft tokens accepted, each
    accepted with probability ``acceptance`` (Leviathan et al.'s rule, iid per token; a = 1
    without speculation) from a counter-based hash of (seed, request, generated) so the draws do
    not depend on the schedule; a request with generated = output finishes at t and frees its
    blocks.

Feasibility is checked before the run (:func:`check_requests`): every request's final cache,
prompt + output - 1 + k tokens (its last decode's lookahead slots included), fits in the whole cache (else the oldest running request could not
progress), and without chunking every prompt + output fits ``max_tokens`` (vLLM v0 requires
max_num_batched_tokens >= max_model_len): then every iteration makes progress.

Per request out: first token time, finish time, preemptions. Per run: iterations, busy seconds,
energy, the integral of blocks in use over time, preemptions, prefill and decode tokens, decode
steps (one per decode request per iteration), iterations with FC on the FC pool, draft seconds,
the integral of requests inside (waiting or running, each from its arrival: Little's law, sum
over requests of finish - arrival), and a histogram of every token's time between tokens (a
token's gap after its request's previous one, the first token excluded; a recomputed request's
token after a preemption carries the stall).
"""

from __future__ import annotations

from typing import NamedTuple

from dse.jit import nb
import numpy as np

from dse.system.gpu.kernels import (FC_POOL, GPU, P_GPU, Batch, dispatch, iteration_total, token_ops_cost,
                                    token_ops_table)

MAX_TABLE_TOKENS = 65536      # token budgets up to this tabulate the FC / element-wise ops' cost

# Per-run totals (columns of Engine.stats).
(S_ITER, S_BUSY, S_ENERGY, S_BLOCK_S, S_PREEMPT, S_PREFILL_TOK, S_DECODE_TOK, S_END, S_MAX_RUNNING, S_DEC_STEPS,
 S_FC_PIM, S_DRAFT_S, S_INSIDE_S) = range(13)
N_STATS = 13
# Time between tokens (TBT): a histogram of every output token's gap after its request's previous
# token, TBT_PER_DECADE log-spaced bins per decade from TBT_LO seconds (bin 0: gaps <= TBT_LO,
# tokens of one speculative step after the first included).
TBT_LO = 1e-6
TBT_PER_DECADE = 50
TBT_BINS = 10 * TBT_PER_DECADE + 1
M32 = 0xFFFFFFFF


class EngineConfig(NamedTuple):
    """The scheduler's limits (vLLM's names in brackets)."""

    max_seqs: int              # running requests at most [max_num_seqs]
    max_tokens: int            # query tokens per iteration [max_num_batched_tokens]
    block_tokens: int          # tokens per KV block [block_size]
    kv_blocks: int             # blocks in the cache (GPU memory - weights - reserve, / block bytes)
    chunked: bool              # chunked prefill [enable_chunked_prefill]
    static: bool = False       # request-level (static) batching: a new batch only when the last has ended
    spec_tokens: int = 0       # k: draft tokens verified per decode step [num_speculative_tokens]
    acceptance: float = 0.0    # probability a draft token is accepted (iid)
    seed: int = 0              # the acceptance draws'


class Plan(NamedTuple):
    """Where each iteration's op classes run (dse.system.gpu.kernels.dispatch)."""

    policy: int = P_GPU        # P_GPU, P_GPU_ATTN_PIM or P_PAPI
    alpha: float = 0.0         # PAPI: FC on the FC pool while the query tokens T <= alpha
    fc_max_query: int = 0      # the FC pool's query tokens per request at most (GEMV-like)


class EngineOut(NamedTuple):
    first_token_s: np.ndarray  # float64 [n]
    finish_s: np.ndarray       # float64 [n]
    preemptions: np.ndarray    # int64 [n]
    stats: np.ndarray          # float64 [N_STATS]
    tbt_hist: np.ndarray       # float64 [TBT_BINS]: tokens per time-between-tokens bin


def engine_out(n: int) -> EngineOut:
    return EngineOut(np.full(n, np.nan), np.full(n, np.nan), np.zeros(n, np.int64), np.zeros(N_STATS),
                     np.zeros(TBT_BINS))


def tbt_percentile(hist: np.ndarray, q: float) -> float:
    """The q-th percentile (0-100) of the gaps a TBT histogram holds: the geometric middle of the
    bin where the cumulative count first reaches q % (bin 0: TBT_LO); NaN when it is empty."""
    total = float(hist.sum())
    if total <= 0:
        return float("nan")
    k = int(np.searchsorted(np.cumsum(hist), q / 100.0 * total))
    return TBT_LO if k == 0 else TBT_LO * 10.0 ** ((k - 0.5) / TBT_PER_DECADE)


@nb.njit(cache=True)
def _tbt_bin(gap):
    if gap <= TBT_LO:
        return 0
    k = int(np.ceil(np.log10(gap / TBT_LO) * TBT_PER_DECADE))
    return min(max(k, 1), TBT_BINS - 1)


def blocks_needed(prompt: np.ndarray, output: np.ndarray, cfg: EngineConfig) -> int:
    """KV blocks the longest request needs at its last decode: ceil((prompt + output - 1 + k) /
    block_tokens), its final cache with the lookahead slots (0 without requests)."""
    if prompt.size == 0:
        return 0
    return -(-int((prompt + output - 1 + cfg.spec_tokens).max()) // cfg.block_tokens)


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
    if cfg.max_tokens < cfg.block_tokens:
        return f"max_num_batched_tokens ({cfg.max_tokens}) below one KV block ({cfg.block_tokens} tokens)"
    if cfg.max_tokens < cfg.spec_tokens + 1:
        return (f"max_num_batched_tokens ({cfg.max_tokens}) must hold one decode's {cfg.spec_tokens + 1} tokens "
                f"({cfg.spec_tokens} speculative + 1)")
    final = prompt + output - 1 + cfg.spec_tokens
    i = int(np.argmax(final))
    need = blocks_needed(prompt, output, cfg)
    if need > cfg.kv_blocks:
        return (f"a request of {int(prompt[i])} + {int(output[i])} tokens"
                + (f" (+ {cfg.spec_tokens} lookahead)" if cfg.spec_tokens else "") + f" needs {need} KV blocks of "
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
def mix32(x):
    """A 32-bit integer hash (two multiply-xorshift rounds, constant 0x45d9f3b), exact in int64
    arithmetic, so numba and plain Python give the same bits."""
    x = x & M32
    x = (((x >> 16) ^ x) * 0x45D9F3B) & M32
    x = (((x >> 16) ^ x) * 0x45D9F3B) & M32
    return (x >> 16) ^ x


@nb.njit(cache=True)
def accepted_tokens(seed, request, generated, k, acceptance):
    """1 + the leading draft tokens accepted of ``k``, each accepted when its uniform draw
    mix32(h ^ i) / 2^32 < ``acceptance``, h = mix32(mix32(mix32(generated) ^ request) ^ seed)."""
    h = mix32(mix32(mix32(generated) ^ request) ^ seed)
    a = 1
    for i in range(1, k + 1):
        if mix32(h ^ i) / 4294967296.0 >= acceptance:
            break
        a += 1
    return a


@nb.njit(cache=True)
def _token_cost(tabled, tab_t, tab_e, ops, system, fc, elem, tokens, head):
    """:func:`token_ops_cost` at ``tokens``, from the table when there is one."""
    if tabled and tokens < tab_t.shape[0]:
        return tab_t[int(tokens)], tab_e[int(tokens)]
    return token_ops_cost(ops, system, fc, elem, float(tokens), head)


@nb.njit(cache=True, inline="always")
def _priced(batch, tabled, body_t, body_e, head_t, head_e, ops, system, fc, attn):
    """iteration_total of ``batch`` with its FC / element-wise part from the tables (body at the
    batch's query tokens, LM head at its head tokens): (seconds, joules, comm seconds)."""
    bt_, be_ = _token_cost(tabled, body_t, body_e, ops, system, fc, GPU, batch.dec_n * batch.dec_q + batch.pre_tokens, 0)
    ht_, he_ = _token_cost(tabled, head_t, head_e, ops, system, fc, GPU, batch.head_tokens, 1)
    return iteration_total(batch, ops, system, fc, attn, bt_ + ht_, be_ + he_)


@nb.njit(cache=True)
def _tables(cfg, ops, system, plan, draft_ops, draft_system):
    """The FC and element-wise ops' cost by token count (they depend on it alone: tabulated once,
    the same token_ops_cost as each iteration would compute): (body, LM head) on the GPU, with FC
    on the FC pool (PAPI: up to alpha tokens), and the draft model's; seconds and joules each."""
    q = cfg.spec_tokens + 1
    tabled = cfg.max_tokens <= MAX_TABLE_TOKENS
    heads_max = min(cfg.max_seqs * q, cfg.max_tokens)
    body_t = np.empty(cfg.max_tokens + 1 if tabled else 1)
    body_e = np.empty(body_t.shape[0])
    head_t = np.empty(heads_max + 1 if tabled else 1)
    head_e = np.empty(head_t.shape[0])
    papi = plan.policy != P_GPU and plan.alpha >= 1.0
    pim_n = min(int(min(plan.alpha, float(cfg.max_tokens))), heads_max) + 1 if tabled and papi else 1
    pbody_t = np.empty(pim_n)
    pbody_e = np.empty(pim_n)
    phead_t = np.empty(pim_n)
    phead_e = np.empty(pim_n)
    dbody_t = np.empty(cfg.max_tokens + 1 if tabled and q > 1 else 1)
    dbody_e = np.empty(dbody_t.shape[0])
    dhead_t = np.empty(cfg.max_seqs + 1 if tabled and q > 1 else 1)
    dhead_e = np.empty(dhead_t.shape[0])
    if tabled:
        token_ops_table(ops, system, GPU, GPU, 0, body_t, body_e)
        token_ops_table(ops, system, GPU, GPU, 1, head_t, head_e)
        if papi:
            token_ops_table(ops, system, FC_POOL, GPU, 0, pbody_t, pbody_e)
            token_ops_table(ops, system, FC_POOL, GPU, 1, phead_t, phead_e)
        if q > 1:
            token_ops_table(draft_ops, draft_system, GPU, GPU, 0, dbody_t, dbody_e)
            token_ops_table(draft_ops, draft_system, GPU, GPU, 1, dhead_t, dhead_e)
    return (body_t, body_e, head_t, head_e, pbody_t, pbody_e, phead_t, phead_e, dbody_t, dbody_e, dhead_t,
            dhead_e)


def run_engine(arrival_s, prompt, output, cfg, ops, system, plan, draft_ops, draft_system, out):
    """Serve the requests (arrays sorted by arrival) on one replica; fills ``out`` (EngineOut).
    ``plan`` (:class:`Plan`) places the op classes; ``draft_ops`` / ``draft_system`` are the
    draft model's when cfg.spec_tokens > 0 (else unused). The rules are in the module docstring;
    call :func:`check_requests` first. One model alone on its GPUs: :func:`run_group` with one."""
    run_group(arrival_s, prompt, output, np.zeros(arrival_s.shape[0], np.int64), (cfg,), (ops,), (system,), (plan,),
              (draft_ops,), (draft_system,), out)


@nb.njit(cache=True)
def run_group(arrival_s, prompt, output, model, cfgs, opss, systems, plans, draft_opss, draft_systems, out):
    """Serve the requests (arrays sorted by arrival; ``model`` [n] the index of each one's model)
    of several models sharing one group of GPUs, each model its own engine (its entries of the
    tuples ``cfgs``, ``opss``, ``systems``, ``plans``, ``draft_opss``, ``draft_systems``; its own
    queue, batch and KV blocks). The engines take turns, one iteration at a time (temporal
    multiplexing, as separate engines time-share the GPUs): after each iteration the next model
    in round-robin order that has a request running or waiting runs one iteration, as the module
    docstring describes for one engine; when none has, time jumps to the next arrival. Fills
    ``out``: per request times, per group stats (summed over the engines; blocks in use and
    requests inside counted for every engine during each iteration)."""
    n = arrival_s.shape[0]
    M = len(cfgs)
    cached = np.zeros(n, np.int64)
    generated = np.zeros(n, np.int64)
    target = np.zeros(n, np.int64)
    held = np.zeros(n, np.int64)            # blocks held
    last_tok = np.zeros(n)                  # time of each request's latest token
    hist = out.tbt_hist
    hist[:] = 0.0
    sched = np.zeros(n, np.int64)           # tokens scheduled this iteration (0: not in the batch)
    # per model: a waiting ring (front at fronts[m]) and a running list, segments of two buffers
    counts = np.zeros(M, np.int64)
    for i in range(n):
        counts[model[i]] += 1
    qoff = np.zeros(M, np.int64)
    roff = np.zeros(M, np.int64)
    for m in range(1, M):
        qoff[m] = qoff[m - 1] + counts[m - 1] + 1
        roff[m] = roff[m - 1] + counts[m - 1]
    qbuf = np.empty(n + M, np.int64)
    rbuf = np.empty(max(n, 1), np.int64)
    fronts = np.zeros(M, np.int64)
    sizes = np.zeros(M, np.int64)
    n_runs = np.zeros(M, np.int64)
    frees = np.zeros(M, np.int64)
    for m in range(M):
        frees[m] = cfgs[m].kv_blocks
    stats = out.stats
    for k in range(stats.shape[0]):
        stats[k] = 0.0
    tables = [_tables(cfgs[0], opss[0], systems[0], plans[0], draft_opss[0], draft_systems[0])]
    for m in range(1, M):
        tables.append(_tables(cfgs[m], opss[m], systems[m], plans[m], draft_opss[m], draft_systems[m]))
    last = M - 1
    nxt = 0
    t = 0.0
    done = 0
    while done < n:
        while nxt < n and arrival_s[nxt] <= t:
            target[nxt] = prompt[nxt]
            stats[S_INSIDE_S] += t - arrival_s[nxt]          # inside since its arrival
            a_m = model[nxt]
            qbuf[qoff[a_m] + (fronts[a_m] + sizes[a_m]) % (counts[a_m] + 1)] = nxt
            sizes[a_m] += 1
            nxt += 1
        mi = -1
        for j in range(1, M + 1):
            c = (last + j) % M
            if n_runs[c] > 0 or sizes[c] > 0:
                mi = c
                break
        if mi < 0:
            t = arrival_s[nxt]
            continue
        last = mi
        cfg = cfgs[mi]
        ops = opss[mi]
        system = systems[mi]
        plan = plans[mi]
        draft_ops = draft_opss[mi]
        draft_system = draft_systems[mi]
        (body_t, body_e, head_t, head_e, pbody_t, pbody_e, phead_t, phead_e, dbody_t, dbody_e, dhead_t,
         dhead_e) = tables[mi]
        tabled = cfg.max_tokens <= MAX_TABLE_TOKENS
        bt = cfg.block_tokens
        k_spec = cfg.spec_tokens
        q = k_spec + 1
        ring = counts[mi] + 1
        queue = qbuf[qoff[mi]:qoff[mi] + ring]
        running = rbuf[roff[mi]:roff[mi] + counts[mi]]
        head = fronts[mi]
        size = sizes[mi]
        n_run = n_runs[mi]
        free = frees[mi]
        budget = cfg.max_tokens
        preempted = False
        prefill_only = False
        admit = not cfg.static or n_run == 0
        if not cfg.chunked and size > 0 and admit:
            r = queue[head]
            prefill_only = (n_run < cfg.max_seqs and target[r] <= budget
                            and _blocks(target[r] if not cfg.static else prompt[r] + output[r] - 1 + k_spec,
                                        bt) <= free)
        # running requests, in admission order
        k = 0
        while k < n_run and not prefill_only:
            r = running[k]
            if cached[r] >= target[r]:
                want = q
                if budget < q:
                    break
            else:
                if budget == 0:
                    break
                want = min(target[r] - cached[r], budget)
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
                head = (head - 1) % ring
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
                    upto = max(upto, prompt[r] + output[r] - 1 + k_spec)
                need = _blocks(upto, bt) - held[r]
                if need > free:
                    break
                head = (head + 1) % ring
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
                dec_ctx += cached[r] + q
                heads += q
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
        T = dec_n * q + pre_tok
        fc = GPU
        attn = GPU
        if plan.policy != P_GPU:
            fc, attn, _ = dispatch(plan.policy, plan.alpha, T)
            if pre_n > 0.0 or q > plan.fc_max_query:
                fc = GPU
        batch = Batch(dec_n, dec_ctx, pre_n, pre_tok, pre_qc, pre_ctx, heads, float(q))
        if fc == GPU:
            dt, energy, _ = _priced(batch, tabled, body_t, body_e, head_t, head_e, ops, system, fc, attn)
        else:
            dt, energy, _ = _priced(batch, tabled, pbody_t, pbody_e, phead_t, phead_e, ops, system, fc, attn)
            stats[S_FC_PIM] += 1.0
        if k_spec > 0:
            # the draft: the iteration once (chunks, one token per decode), then k - 1 decode steps
            d_ctx = dec_ctx - dec_n * k_spec                  # each decode's cached + 1
            d_t, d_e, _ = _priced(Batch(dec_n, d_ctx, pre_n, pre_tok, pre_qc, pre_ctx, heads - dec_n * k_spec, 1.0),
                                  tabled, dbody_t, dbody_e, dhead_t, dhead_e, draft_ops, draft_system, GPU, GPU)
            if dec_n > 0.0:
                s_t, s_e, _ = _priced(Batch(dec_n, d_ctx, 0.0, 0.0, 0.0, 0.0, dec_n, 1.0), tabled, dbody_t, dbody_e,
                                      dhead_t, dhead_e, draft_ops, draft_system, GPU, GPU)
                d_t += (k_spec - 1) * s_t
                d_e += (k_spec - 1) * s_e
            dt += d_t
            energy += d_e
            stats[S_DRAFT_S] += d_t
        fronts[mi] = head
        sizes[mi] = size
        n_runs[mi] = n_run
        frees[mi] = free
        for c in range(M):
            stats[S_BLOCK_S] += (cfgs[c].kv_blocks - frees[c]) * dt
            stats[S_INSIDE_S] += (n_runs[c] + sizes[c]) * dt
        t_prev = t
        t += dt
        dt_bin = _tbt_bin(dt)                     # the gap of every request that ran last iteration too
        stats[S_ITER] += 1.0
        stats[S_BUSY] += dt
        stats[S_ENERGY] += energy
        stats[S_PREFILL_TOK] += pre_tok
        stats[S_DEC_STEPS] += dec_n
        if n_runs.sum() > stats[S_MAX_RUNNING]:
            stats[S_MAX_RUNNING] = n_runs.sum()
        keep = 0
        for k in range(n_run):
            r = running[k]
            s = sched[r]
            sched[r] = 0
            if s > 0:
                if cached[r] >= target[r]:
                    a = 1
                    if k_spec > 0:
                        a = accepted_tokens(cfg.seed, r, generated[r], k_spec, cfg.acceptance)
                    a = min(a, output[r] - generated[r])
                    cached[r] += a
                    generated[r] += a
                    stats[S_DECODE_TOK] += a
                    hist[dt_bin if last_tok[r] == t_prev else _tbt_bin(t - last_tok[r])] += 1.0
                    hist[0] += a - 1
                    last_tok[r] = t
                else:
                    cached[r] += s
                    if cached[r] == target[r]:
                        generated[r] += 1
                        if generated[r] == 1:
                            out.first_token_s[r] = t
                        else:
                            hist[_tbt_bin(t - last_tok[r])] += 1.0
                        last_tok[r] = t
            if generated[r] >= output[r]:
                out.finish_s[r] = t
                free += held[r]
                held[r] = 0
                done += 1
            else:
                running[keep] = r
                keep += 1
        n_runs[mi] = keep
        frees[mi] = free
    stats[S_END] = t
