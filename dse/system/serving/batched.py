"""The serving kind with ``batching: continuous``: each group of GPUs runs each model it holds as
a continuously batched engine (dse.system.serving.engine, vLLM's scheduler with a paged KV cache),
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

Placement: a model's requests go to its groups in turn (round robin in arrival order).
    fast (:func:`place_replicas`): one model per group; groups are handed out largest first
         (then by index), each to the model with the most work per GPU held so far (work = its
         request rate x its prompt + output tokens; a model without a replica first, the larger
         work first) among those the group can hold; a group that holds none stays empty.
    simulated (:func:`place_simulated`, AlpaServe's simulator-guided greedy on the engines):
         step by step a (model, group) pair is added -- a model on an empty group, or beside the
         models already on a group when the memory holds it (:func:`group_cfgs`) and it gains or
         gives the model its first replica -- choosing first the models without a replica (a
         model left without one makes the design infeasible), then the pair that raises the
         number of placement-run requests meeting their objectives the most; an empty group goes
         to a model even at no gain (ties by the fast rule's keys, then the larger group, the
         lower index) -- until no pair is left. Each candidate simulates the
         engines it touches (the models connected to it through shared groups); an empty group
         like one already weighed in the step (same size, parallel config and links) is not.
Models sharing a group each run their own engine (dse.system.serving.engine.run_group: they take
turns, one iteration at a time) and share its memory (:func:`shared_blocks`).

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

from dataclasses import dataclass, replace

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
    memory_bytes: float = 0.0    # gpu_memory_utilization x GPU memory
    fixed_bytes: float = 0.0     # weights (and the draft's) per GPU
    reserve_bytes: float = 0.0   # one iteration's activations per GPU
    pool_blocks: float = np.inf  # KV blocks the attention pool holds for the model alone
    fc_bytes: float = 0.0        # weights per FC-pool device
    fc_cap: float = np.inf       # an FC-pool device's capacity
    need_blocks: int = 0         # blocks its longest request needs (set by the evaluator)


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
    weights = float(memory.device_parameters(layers, np.arange(c.pp), c.pp, layer_bytes,
                                             t.vocab_size * t.hidden_size * b / c.tp, tied_embeddings(t)).max())
    tokens = int(e.max_num_batched_tokens)
    reserve = memory.prefill_activations(tokens, ops.hidden, ops.ffn * (2 if t.architecture == "llama" else 1),
                                         c.tp, b)
    block = float(e.block_size)
    pools = {pool.role: (pool, n) for pool, n in pool_devices}
    fc_bytes, fc_cap = 0.0, np.inf
    if "fc" in pools:                 # the FC pool holds the weights: the stage's, over its devices
        pool, n = pools["fc"]
        fc_bytes, fc_cap = weights * c.tp / max(n // c.pp, 1), pool.capacity_bytes()
        if fc_bytes > fc_cap:
            problems.append(f"{pool.name}: weights {fc_bytes / 1e9:.3g} GB per device > {fc_cap / 1e9:.3g} GB")
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
    memory_bytes = float(e.gpu_memory_utilization) * float(hw.gpu.memory_bytes)
    pool_blocks = np.inf
    if "attn" in pools:               # the attention pool holds the KV cache
        pool, n = pools["attn"]
        pool_block = block * ops.kv_bytes_per_token / ops.layers * float(layers.max())   # all heads
        pool_blocks = float((n // c.pp) * pool.capacity_bytes() // pool_block)
    r = Replica(None, a, system, weights, gpu_block, None, Plan(POLICIES.index(policy), float(hw.dispatch.alpha),
                                                               fc_max_query),
                draft_ops, draft_system, tuple(pool_devices), memory_bytes, weights + draft_weights, reserve,
                pool_blocks, fc_bytes, fc_cap)
    blocks = shared_blocks([r])[0]
    if blocks < 1 and not problems:
        problems.append(f"no KV cache on {c.label}: weights {(weights + draft_weights) / 1e9:.3g} GB + activations "
                        f"{reserve / 1e9:.3g} GB per GPU leave nothing of {float(e.gpu_memory_utilization):g} x "
                        f"{float(hw.gpu.memory_bytes) / 1e9:.3g} GB" + (" (or the attention pool holds none)"
                                                                         if "attn" in pools else ""))
    cfg = EngineConfig(int(e.max_num_seqs), tokens, int(e.block_size), max(blocks, 1), bool(e.chunked_prefill),
                       hw.batching == "static", k, float(spec.acceptance_rate) if spec is not None else 0.0, int(seed))
    return replace(r, cfg=cfg, problem="; ".join(problems) or None)


def shared_blocks(reps: list) -> list[int]:
    """KV blocks of each of the models ``reps`` (Replicas) sharing one group (one alone: its own):

        usable    = gpu_memory_utilization x memory - every model's weights (and draft) - the
                    largest activation reserve (the engines' iterations take turns)
        blocks_m  = min(floor(usable / k / the model's bytes a block on the GPU),
                        floor(the attention pool's blocks for the model alone / k))

    with k models: the memory left, and the attention pool, shared evenly (each model's engine its
    own share, as separate vLLM instances with their own gpu_memory_utilization); 0 when the FC
    pool cannot hold every model's weights."""
    k = len(reps)
    usable = reps[0].memory_bytes - sum(r.fixed_bytes for r in reps) - max(r.reserve_bytes for r in reps)
    if sum(r.fc_bytes for r in reps) > reps[0].fc_cap:
        return [0] * k
    out = []
    for r in reps:
        on_gpu = (int(usable / k // r.kv_block_bytes) if r.kv_block_bytes > 0 else 2**62) if usable > 0 else 0
        out.append(int(min(on_gpu, r.pool_blocks // k)))
    return out


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


def group_cfgs(replicas: dict, models: list, g: int) -> list | None:
    """The engine configs of ``models`` sharing group ``g`` (:func:`shared_blocks`), or None when
    a model's share cannot hold its longest request (``need_blocks``) or the FC pool its weights."""
    reps = [replicas[(m, g)] for m in models]
    if len(reps) == 1:
        return [reps[0].cfg]
    blocks = shared_blocks(reps)
    if any(b < max(r.need_blocks, 1) for b, r in zip(blocks, reps)):
        return None
    return [r.cfg._replace(kv_blocks=b) for b, r in zip(blocks, reps)]


def place_simulated(replicas: dict, can: np.ndarray, sizes: np.ndarray, work: np.ndarray, run, good,
                    alike: list | None = None) -> tuple:
    """(placed uint8 [M, G], engine simulations) by the simulator-guided greedy (module docstring).
    ``run`` = (arrival, model, prompt, output) of the placement run; ``good(m, first, finish, idx)``
    counts model m's requests ``idx`` that meet its objectives given their first-token and finish
    times (NaN: unserved); ``alike[g]``: a key equal for groups that run a model alike (size,
    parallel config, links): of the empty ones only the first of each kind is weighed per step."""
    arrival, model, prompt, output = run
    M, G = can.shape
    placed = np.zeros((M, G), dtype=np.uint8)
    held = np.zeros(M)
    score = np.zeros(M)                    # requests meeting their objectives, per model, as placed
    stale = np.zeros(M, dtype=bool)        # score[m] not simulated since m was placed without one
    sims = 0
    mine = [np.flatnonzero(model == m) for m in range(M)]
    order = {g: i for i, g in enumerate(sorted(range(G), key=lambda g: (-sizes[g], g)))}

    memo: dict = {}

    def component(trial: np.ndarray, models: set) -> set:
        """``models`` and every model sharing a group with one of them, transitively."""
        hosted = set(models)
        while True:
            groups = {int(g) for m in hosted for g in np.flatnonzero(trial[m])}
            more = {int(m) for g in groups for m in np.flatnonzero(trial[:, g])} | hosted
            if more == hosted:
                return hosted
            hosted = more

    def simulate(trial: np.ndarray, models: set) -> dict:
        """Requests meeting their objectives of each model connected to ``models`` (sharing a group
        with one, transitively: engines elsewhere do not interact with them), their groups run. The
        same sub-placement again (a candidate untouched since the last step) is not re-run."""
        nonlocal sims
        hosted = component(trial, models)
        sub = trial.copy()
        sub[[m for m in range(M) if m not in hosted], :] = 0
        key = sub.tobytes()
        if key not in memo:
            sims += 1
            res = run_replicas(replicas, sub, arrival, model, prompt, output)
            memo[key] = {m: float(good(m, res["first"][mine[m]], res["finish"][mine[m]], mine[m])) for m in hosted}
        return memo[key]

    while True:
        best, key, result = None, None, None
        weighed = set()
        for g in sorted(range(G), key=lambda g: order[g]):
            on_g = [int(m) for m in np.flatnonzero(placed[:, g])]
            for m in range(M):
                if not can[m, g] or work[m] <= 0 or placed[m, g]:
                    continue
                if not on_g and alike is not None:
                    if (m, alike[g]) in weighed:
                        continue            # an empty group like one weighed already
                    weighed.add((m, alike[g]))
                if on_g and group_cfgs(replicas, sorted(on_g + [m]), g) is None:
                    continue                # the group's memory cannot hold one more model
                if not on_g and all(not can[x, g] or work[x] <= 0 for x in range(M) if x != m):
                    gain, now = 0.0, None    # m alone can take an empty group: no choice, no simulation
                else:
                    trial = placed.copy()
                    trial[m, g] = 1
                    now = simulate(trial, {m})      # m's component: the models on g and on m's groups
                    for x in now:
                        if stale[x]:        # its score as placed, simulated only now that it matters
                            score[x] = simulate(placed, {x})[x]
                            stale[x] = False
                    gain = sum(now.values()) - sum(score[x] for x in now)
                if gain <= 0 and on_g and held[m] > 0:
                    continue                # share a group only for a gain (or for a first replica)
                k = (held[m] == 0, gain, not on_g, work[m] / held[m] if held[m] else work[m], -m, -order[g])
                if key is None or k > key:
                    best, key, result = (m, g), k, now
        if best is None:
            return placed, sims
        m, g = best
        placed[m, g] = 1
        held[m] += sizes[g]
        if result is None:                  # placed without a simulation: scored when it matters
            for x in component(placed, {m}):
                stale[x] = True
        else:
            for x, v in result.items():
                score[x] = v
                stale[x] = False


def run_replicas(replicas: dict, placed: np.ndarray, arrival: np.ndarray, model: np.ndarray,
                 prompt: np.ndarray, output: np.ndarray) -> dict:
    """Run every group's engines (dse.system.serving.engine.run_group: the models placed on it
    taking turns; one model: its own engine) on their requests, each model's requests dealt to its
    groups in turn (round robin in arrival order). Returns per request first token and finish
    times (NaN: no replica), the group of each, and per group the engines' stats
    (dse.system.serving.engine S_* columns), KV blocks, the idle watts of the PIM devices its
    policy powers and the time-between-tokens histogram."""
    from dse.system.serving.engine import engine_out, run_group

    n = arrival.shape[0]
    first = np.full(n, np.nan)
    finish = np.full(n, np.nan)
    group_of = np.full(n, -1, dtype=np.int64)
    stats: dict[int, np.ndarray] = {}
    blocks: dict[int, int] = {}
    pool_idle: dict[int, float] = {}
    tbt: dict[int, np.ndarray] = {}
    share: dict[tuple, np.ndarray] = {}
    for m in range(placed.shape[0]):
        groups = np.flatnonzero(placed[m])
        mine = np.flatnonzero(model == m)
        for j, g in enumerate(groups):
            share[(m, int(g))] = mine[j::len(groups)]
    for g in range(placed.shape[1]):
        models = [int(m) for m in np.flatnonzero(placed[:, g])]
        if not models:
            continue
        cfgs = group_cfgs(replicas, models, g)
        if cfgs is None:
            raise ValueError(f"group {g} cannot hold models {models}")
        idx = np.concatenate([share[(m, g)] for m in models])
        local = np.concatenate([np.full(share[(m, g)].shape[0], j, np.int64) for j, m in enumerate(models)])
        order = np.argsort(idx, kind="stable")          # by arrival (the requests are in arrival order)
        idx, local = idx[order], local[order]
        reps = [replicas[(m, g)] for m in models]
        out = engine_out(idx.shape[0])
        if idx.shape[0]:
            run_group(arrival[idx], prompt[idx], output[idx], local, tuple(cfgs), tuple(r.ops for r in reps),
                      tuple(r.system for r in reps), tuple(r.plan for r in reps), tuple(r.draft_ops for r in reps),
                      tuple(r.draft_system for r in reps), out)
        group_of[idx] = g
        first[idx] = out.first_token_s
        finish[idx] = out.finish_s
        stats[g] = out.stats
        blocks[g] = sum(c.kv_blocks for c in cfgs)
        pool_idle[g] = sum(float(pool.idle_w) * k for pool, k in reps[0].pool_devices)
        tbt[g] = out.tbt_hist
    return {"first": first, "finish": finish, "group": group_of, "stats": stats, "blocks": blocks,
            "pool_idle_w": pool_idle, "tbt_hist": tbt}
