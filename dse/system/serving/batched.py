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

Iterations cost dse.system.gpu.kernels.iteration_cost on the group's tp x pp system (TP
collectives over the group's TP link, stage sends over its send link). Simplification, stated: a
pp > 1 replica runs each iteration through all its stages before the next starts (the layers'
time adds up and pp - 1 sends are paid); vLLM's pipelined virtual engines, which keep pp batches in
flight, are not modelled, so pp adds KV capacity, not throughput.

Placement (:func:`place_replicas`): every group holds one model. Groups are handed out largest
first, each to the model with the most work per GPU held so far (work = its request rate x its
prompt + output tokens; a model without a replica first, the larger work first), among the models
the group can hold; a group that holds none stays empty. A model's requests go to its replicas
in turn (round robin in arrival order).

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
    """A model on a group: its engine limits, blocks and cost bundles."""

    cfg: object                  # engine.EngineConfig
    ops: object                  # LinearArrays
    system: object               # GpuSystem
    weights_bytes: float         # per GPU, largest stage
    kv_block_bytes: float        # per GPU
    problem: str | None          # why it cannot run (memory), else None


def replica(t, hw, c, tp_link, send_link) -> Replica:
    """The engine of transformer ``t`` on group config ``c`` (module docstring)."""
    from dse.models.operators import tied_embeddings
    from dse.models.views import ATTN, linear_ops
    from dse.system.gpu.devices import blank_device_table, fill_gpu_row, gpu_system
    from dse.system.gpu.parallel import layers_per_stage
    from dse.system.serving.engine import EngineConfig

    e = hw.engine
    ops = linear_ops(t, c.tp)
    a = ops.arrays
    b = ops.elem_bytes
    system = gpu_system(fill_gpu_row(blank_device_table(), hw.gpu), c.tp, c.pp, tp_link, t.hidden_size,
                        t.vocab_size, b, kraken=t.layer_variant == "kraken", stage_link=send_link)
    layers = layers_per_stage(t.num_hidden_layers, c.pp)
    layer_bytes = sum(a.byte_w[i] / a.gpu_div[i] for i in range(ops.n) if a.last_only[i] == 0)
    kv_layer = sum(a.byte_c[i] / a.gpu_div[i] for i in range(ops.n) if a.cls[i] == ATTN)
    weights = float(memory.device_parameters(layers, np.arange(c.pp), c.pp, layer_bytes,
                                             t.vocab_size * t.hidden_size * b / c.tp, tied_embeddings(t)).max())
    tokens = int(e.max_num_batched_tokens)
    reserve = memory.prefill_activations(tokens, ops.hidden, ops.ffn * (2 if t.architecture == "llama" else 1),
                                         c.tp, b)
    block_bytes = float(e.block_size) * kv_layer * float(layers.max())
    usable = float(e.gpu_memory_utilization) * float(hw.gpu.memory_bytes) - weights - reserve
    blocks = int(usable // block_bytes) if usable > 0 and block_bytes > 0 else 0
    problem = None
    if blocks < 1:
        problem = (f"no KV cache on {c.label}: weights {weights / 1e9:.3g} GB + activations {reserve / 1e9:.3g} GB "
                   f"per GPU leave nothing of {float(e.gpu_memory_utilization):g} x "
                   f"{float(hw.gpu.memory_bytes) / 1e9:.3g} GB")
    cfg = EngineConfig(int(e.max_num_seqs), tokens, int(e.block_size), max(blocks, 1), bool(e.chunked_prefill),
                       hw.batching == "static")
    return Replica(cfg, a, system, weights, block_bytes, problem)


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


def run_replicas(replicas: dict, placed: np.ndarray, arrival: np.ndarray, model: np.ndarray,
                 prompt: np.ndarray, output: np.ndarray) -> dict:
    """Run every placed replica's engine on its share of the requests (round robin per model).
    Returns per request first token and finish times (NaN: no replica), the replica of each, and
    per group the engine's stats (dse.system.serving.engine S_* columns) and KV blocks."""
    from dse.system.serving.engine import Devices, engine_out, run_engine

    n = arrival.shape[0]
    first = np.full(n, np.nan)
    finish = np.full(n, np.nan)
    group_of = np.full(n, -1, dtype=np.int64)
    stats: dict[int, np.ndarray] = {}
    blocks: dict[int, int] = {}
    devs = Devices(0, 0, 0)
    for m in range(placed.shape[0]):
        groups = np.flatnonzero(placed[m])
        mine = np.flatnonzero(model == m)
        for j, g in enumerate(groups):
            idx = mine[j::len(groups)]
            group_of[idx] = g
            r = replicas[(m, int(g))]
            out = engine_out(idx.shape[0])
            if idx.shape[0]:
                run_engine(arrival[idx], prompt[idx], output[idx], r.cfg, r.ops, r.system, devs, out)
            first[idx] = out.first_token_s
            finish[idx] = out.finish_s
            stats[int(g)] = out.stats
            blocks[int(g)] = r.cfg.kv_blocks
    return {"first": first, "finish": finish, "group": group_of, "stats": stats, "blocks": blocks}
