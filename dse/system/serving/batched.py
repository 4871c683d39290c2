"""The serving kind with ``batching: continuous``: each group of GPUs runs one model as a
continuously batched engine (dse.system.serving.engine, vLLM's scheduler with a paged KV cache),
instead of one request at a time per stage; ``batching: static`` runs the same engine with
request-level batching (a new batch only when the last has ended, each request's cache reserved
whole), the baseline continuous batching is measured against.

Replica of model m on a group of tp x pp GPUs (:func:`replica`):
    weights   the largest stage's weights per GPU (dse.system.gpu.memory.device_parameters: its
              layers / tp, the embedding on the first stage, the LM head on the last)
    reserve   the activations of one iteration at the token budget
              (memory.prefill_activations(max_num_batched_tokens, h, f or 2 f, tp))
    KV block  block_size tokens x K and V of the largest stage's layers per GPU
    blocks    floor((gpu_memory_utilization x memory_bytes - weights - reserve) / KV block)
A replica with fewer blocks than its longest request needs (check_requests) cannot run it: the
design point is infeasible with that reason.

With PIM pools (``pim``, ``system.dispatch``; dse.system.gpu.pim) each pool the policy uses is
spread evenly over the cluster's GPUs: a stage of a group of s GPUs gets floor(count x s /
(GPUs x pp)) devices (none: infeasible). The FC pool (policy papi) holds the weights: the
largest stage's, tp x its per-GPU bytes, over its devices, each within its capacity, and the GPUs
hold none. The attention pool (gpu_attn_pim, papi) holds the KV cache: blocks = floor(devices x
capacity / (block_size x K+V bytes of the stage's layers, all heads)), and the GPUs hold none of
it. The engine dispatches each iteration (dse.system.serving.engine, Plan).

Speculative decoding (``models[].serving.speculative``): the draft model runs unsharded (tp 1)
on the group's GPU; its weights and its KV cache (block_size x its K+V bytes per token, all
layers) are charged on every GPU of the group -- conservative for tp > 1, where vLLM keeps one
copy -- so blocks = floor(usable / (the target's block bytes on the GPU + the draft's)).

Iterations cost dse.system.gpu.kernels.iteration_cost on the group's tp x pp system (TP
collectives over the group's TP link, stage sends over its send link). Simplification, stated: a
pp > 1 replica runs each iteration through all its stages before the next starts (the layers'
time adds up and pp - 1 sends are paid); vLLM's pipelined virtual engines, which keep pp batches in
flight, are not modelled, so pp adds KV capacity, not throughput.

Placement: every group holds one model; a model's requests go to its replicas in turn (round
robin in arrival order). Groups are handed out largest first (then by index), each to one of the
models the group can hold; a group that holds none stays empty.
    fast (:func:`place_replicas`): to the model with the most work per GPU held so far (work =
         its request rate x its prompt + output tokens; a model without a replica first, the
         larger work first);
    simulated (:func:`place_simulated`, AlpaServe's simulator-guided greedy on the engines): to
         the model whose requests meeting their objectives on the placement run rise the most
         with the group added (its engines simulated with and without it; models on different
         groups do not interact, so only that model's engines run), ties -- e.g. every model
         already meets its SLO -- broken by the fast rule; a group only one model can take goes
         to it without a simulation.

Metrics over the requests arriving in [warmup, duration - warmup), all served (an engine never
rejects):
    ttft_s = first token - arrival;   tpot_s = (finish - first token) / (output - 1) (output > 1)
    latency_s = finish - arrival;     slo_attainment = share with latency_s <= the model's SLO
    output_tokens_per_s = output tokens of the window's requests / window seconds
    kv_cache_utilisation = sum of replicas' block-seconds / (sum of blocks x engine end times)
    gpu_utilisation = sum of engine busy seconds x tp x pp / pp / (GPUs x window seconds):
              a non-pipelined pp replica keeps each stage busy 1/pp of an iteration
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dse.system.gpu import memory


@dataclass(frozen=True)
class Replica:
    """A model on a group: its engine limits, blocks, cost bundles and where ops run."""

    cfg: object                  # engine.EngineConfig
    ops: object                  # LinearArrays
    system: object               # GpuSystem (device table: the GPU row, then the PIM pools' rows)
    weights_bytes: float         # per GPU, largest stage (0 when the FC pool holds them)
    kv_block_bytes: float        # per GPU (0 when an attention pool holds the KV cache)
    problem: str | None          # why it cannot run (memory), else None
    plan: object = None          # engine.Plan
    draft_ops: object = None     # the speculative draft's LinearArrays and GpuSystem (else the model's)
    draft_system: object = None
    pool_devices: tuple = ()     # (pool, devices of the group) the policy powers


def replica(t, hw, c, tp_link, send_link, spec=None, seed: int = 0) -> Replica:
    """The engine of transformer ``t`` on group config ``c`` with speculative decoding ``spec``
    (a resolved dse.spec.serving_workload.Speculative, or None; its acceptance draws seeded by
    ``seed``); see the module docstring."""
    from dse.models.operators import tied_embeddings
    from dse.models.views import ATTN, linear_ops
    from dse.system.gpu.devices import blank_device_table, fill_gpu_row, gpu_system
    from dse.system.gpu.kernels import N_DEVICES
    from dse.system.gpu.parallel import layers_per_stage
    from dse.system.gpu.pim import POLICIES, POLICY_ROLES, fill_pim_row, pool_violations
    from dse.system.serving.engine import EngineConfig, Plan

    e = hw.engine
    ops = linear_ops(t, c.tp)
    a = ops.arrays
    b = ops.elem_bytes
    policy = str(hw.dispatch.policy)
    roles = POLICY_ROLES[policy]
    dev = fill_gpu_row(blank_device_table(N_DEVICES), hw.gpu)
    gpus = int(hw.cluster.gpus)
    problems = []
    pool_devices = []
    fc_max_query = 0
    for pool in hw.pims:
        if pool.role not in roles:
            continue
        per_stage = int(pool.count) * c.size // (gpus * c.pp)
        fill_pim_row(dev, pool, per_stage, hw.link(pool.link))
        problems += pool_violations(pool)
        if per_stage < 1:
            problems.append(f"{pool.name}: {pool.count} devices over {gpus} GPUs leave none for each of the "
                            f"{c.pp} stages of {c.label}")
        pool_devices.append((pool, per_stage * c.pp))
        if pool.role == "fc":
            fc_max_query = int(pool.max_query_tokens)
    system = gpu_system(dev, c.tp, c.pp, tp_link, t.hidden_size, t.vocab_size, b,
                        kraken=t.layer_variant == "kraken", stage_link=send_link)
    layers = layers_per_stage(t.num_hidden_layers, c.pp)
    layer_bytes = sum(a.byte_w[i] / a.gpu_div[i] for i in range(ops.n) if a.last_only[i] == 0)
    kv_layer = sum(a.byte_c[i] / a.gpu_div[i] for i in range(ops.n) if a.cls[i] == ATTN)
    kv_layer_all = sum(a.byte_c[i] for i in range(ops.n) if a.cls[i] == ATTN)
    weights = float(memory.device_parameters(layers, np.arange(c.pp), c.pp, layer_bytes,
                                             t.vocab_size * t.hidden_size * b / c.tp, tied_embeddings(t)).max())
    tokens = int(e.max_num_batched_tokens)
    reserve = memory.prefill_activations(tokens, ops.hidden, ops.ffn * (2 if t.architecture == "llama" else 1),
                                         c.tp, b)
    block = float(e.block_size)
    pools = {pool.role: (pool, n) for pool, n in pool_devices}
    if "fc" in pools:                 # the FC pool holds the weights: the stage's, over its devices
        pool, n = pools["fc"]
        per_dev = weights * c.tp / max(n // c.pp, 1)
        if per_dev > pool.capacity_bytes():
            problems.append(f"{pool.name}: weights {per_dev / 1e9:.3g} GB per device > {pool.capacity_bytes() / 1e9:.3g} GB")
        weights = 0.0
    k = int(spec.tokens) if spec is not None else 0
    draft_ops, draft_system, draft_weights, draft_block = a, system, 0.0, 0.0
    if k > 0:                         # the draft, unsharded, on every GPU of the group (its KV too)
        d = linear_ops(spec.draft, 1)
        draft_ops = d.arrays
        draft_system = gpu_system(fill_gpu_row(blank_device_table(), hw.gpu), 1, 1, tp_link, spec.draft.hidden_size,
                                  spec.draft.vocab_size, d.elem_bytes)
        draft_weights = d.weight_bytes
        draft_block = block * d.kv_bytes_per_token
    gpu_block = draft_block + (0.0 if "attn" in pools else block * kv_layer * float(layers.max()))
    usable = float(e.gpu_memory_utilization) * float(hw.gpu.memory_bytes) - weights - draft_weights - reserve
    if usable <= 0:
        blocks = 0
    else:                             # nothing of the cache on the GPU: the pool's capacity alone
        blocks = int(usable // gpu_block) if gpu_block > 0 else 2**62
    if "attn" in pools:               # the attention pool holds the KV cache
        pool, n = pools["attn"]
        pool_block = block * kv_layer_all * float(layers.max())
        blocks = min(blocks, int((n // c.pp) * pool.capacity_bytes() // pool_block))
    if blocks < 1 and not problems:
        problems.append(f"no KV cache on {c.label}: weights {(weights + draft_weights) / 1e9:.3g} GB + activations "
                        f"{reserve / 1e9:.3g} GB per GPU leave nothing of {float(e.gpu_memory_utilization):g} x "
                        f"{float(hw.gpu.memory_bytes) / 1e9:.3g} GB" + (" (or the attention pool holds none)"
                                                                         if "attn" in pools else ""))
    cfg = EngineConfig(int(e.max_num_seqs), tokens, int(e.block_size), max(blocks, 1), bool(e.chunked_prefill),
                       hw.batching == "static", k, float(spec.acceptance_rate) if spec is not None else 0.0, int(seed))
    plan = Plan(POLICIES.index(policy), float(hw.dispatch.alpha), fc_max_query)
    return Replica(cfg, a, system, weights, gpu_block, "; ".join(problems) or None, plan, draft_ops, draft_system,
                   tuple(pool_devices))


def place_replicas(work: np.ndarray, can: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """placed uint8 [M, G]: each group (largest first, then by index) to the model with the most
    work per GPU held so far among those it can hold (``can`` [M, G]); see the module docstring."""
    M, G = can.shape
    placed = np.zeros((M, G), dtype=np.uint8)
    held = np.zeros(M)
    for g in sorted(range(G), key=lambda g: (-sizes[g], g)):
        best, key = -1, None
        for m in range(M):
            if not can[m, g] or work[m] <= 0:
                continue
            k = (held[m] == 0, work[m] / held[m] if held[m] else work[m], -m)
            if key is None or k > key:
                best, key = m, k
        if best >= 0:
            placed[best, g] = 1
            held[best] += sizes[g]
    return placed


def place_simulated(replicas: dict, can: np.ndarray, sizes: np.ndarray, work: np.ndarray, run, good) -> tuple:
    """(placed uint8 [M, G], engine simulations) by the simulator-guided greedy (module docstring).
    ``run`` = (arrival, model, prompt, output) of the placement run; ``good(m, first, finish, idx)``
    counts model m's requests ``idx`` that meet its objectives given their first-token and finish
    times (NaN: unserved)."""
    arrival, model, prompt, output = run
    M, G = can.shape
    placed = np.zeros((M, G), dtype=np.uint8)
    held = np.zeros(M)
    score = np.zeros(M)
    sims = 0
    mine = [np.flatnonzero(model == m) for m in range(M)]

    def simulate(m: int, groups: list) -> float:
        trial = np.zeros((M, G), dtype=np.uint8)
        trial[m, groups] = 1
        sub = {(m, g): replicas[(m, g)] for g in groups}
        idx = mine[m]
        res = run_replicas(sub, trial, arrival, model, prompt, output, only=m)
        return float(good(m, res["first"][idx], res["finish"][idx], idx))

    stale = np.zeros(M, dtype=bool)        # score[m] not simulated for m's current groups
    for g in sorted(range(G), key=lambda g: (-sizes[g], g)):
        takers = [m for m in range(M) if can[m, g] and work[m] > 0]
        if len(takers) == 1:                # no choice to make: no simulation
            placed[takers[0], g] = 1
            held[takers[0]] += sizes[g]
            stale[takers[0]] = True
            continue
        best, key = -1, None
        for m in takers:
            if stale[m]:
                score[m] = simulate(m, list(np.flatnonzero(placed[m])))
                stale[m] = False
                sims += 1
            gain = simulate(m, list(np.flatnonzero(placed[m])) + [g]) - score[m]
            sims += 1
            k = (gain, held[m] == 0, work[m] / held[m] if held[m] else work[m], -m)
            if key is None or k > key:
                best, key = m, k
        if best >= 0:
            score[best] += key[0]
            placed[best, g] = 1
            held[best] += sizes[g]
    return placed, sims


def run_replicas(replicas: dict, placed: np.ndarray, arrival: np.ndarray, model: np.ndarray,
                 prompt: np.ndarray, output: np.ndarray, only: int | None = None) -> dict:
    """Run every placed replica's engine on its share of the requests (round robin per model).
    ``only``: run that model's replicas alone. Returns per request first token and finish times
    (NaN: no replica), the replica of each, and
    per group the engine's stats (dse.system.serving.engine S_* columns), KV blocks, the idle
    watts of the PIM devices its policy powers and the time-between-tokens histogram."""
    from dse.system.serving.engine import engine_out, run_engine

    n = arrival.shape[0]
    first = np.full(n, np.nan)
    finish = np.full(n, np.nan)
    group_of = np.full(n, -1, dtype=np.int64)
    stats: dict[int, np.ndarray] = {}
    blocks: dict[int, int] = {}
    pool_idle: dict[int, float] = {}
    tbt: dict[int, np.ndarray] = {}
    for m in range(placed.shape[0]) if only is None else (only,):
        groups = np.flatnonzero(placed[m])
        mine = np.flatnonzero(model == m)
        for j, g in enumerate(groups):
            idx = mine[j::len(groups)]
            group_of[idx] = g
            r = replicas[(m, int(g))]
            out = engine_out(idx.shape[0])
            if idx.shape[0]:
                run_engine(arrival[idx], prompt[idx], output[idx], r.cfg, r.ops, r.system, r.plan, r.draft_ops,
                           r.draft_system, out)
            first[idx] = out.first_token_s
            finish[idx] = out.finish_s
            stats[int(g)] = out.stats
            blocks[int(g)] = r.cfg.kv_blocks
            pool_idle[int(g)] = sum(float(pool.idle_w) * n for pool, n in r.pool_devices)
            tbt[int(g)] = out.tbt_hist
    return {"first": first, "finish": finish, "group": group_of, "stats": stats, "blocks": blocks,
            "pool_idle_w": pool_idle, "tbt_hist": tbt}
