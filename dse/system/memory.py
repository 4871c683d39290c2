"""The shared memory model: bytes each device holds, and capacity checks as named violations.

Used by the LLM kind (inference: weights, KV cache, activations) and, for training, with the
optimizer-state and saved-activation terms. All sizes are bytes; every formula is in the
docstring of its function, and tests/test_memory.py checks each against hand arithmetic.
"""

from __future__ import annotations

import math


def weights_per_device(weight_bytes: float, tp: int, pp: int) -> float:
    """Weights one device holds: the stage's share, then the tensor-parallel shard,
        (weight_bytes / pp) / tp."""
    return weight_bytes / pp / tp


def kv_cache_per_stage(context_tokens: float, kv_bytes_per_token: float, layers: int, pp: int) -> float:
    """KV cache of one pipeline stage (before any tensor-parallel split):
        context_tokens * kv_bytes_per_token * ceil(layers / pp) / layers
    where ``kv_bytes_per_token`` is K and V of one context token over *all* layers and
    ``context_tokens`` the tokens held (summed over the requests of a replica)."""
    return context_tokens * kv_bytes_per_token * math.ceil(layers / pp) / layers


def prefill_activations(tokens: float, hidden: int, ffn_width: int, tp: int, elem_bytes: float) -> float:
    """Peak activations of a forward pass per device (inference: nothing kept for backward):
    the largest live pair of tensors, the residual stream (h, replicated) and the FFN's
    intermediate (``ffn_width`` = f, or 2 f for SwiGLU's gate and up, split by tp), each in and
    out:
        2 * tokens * (hidden + ffn_width / tp) * elem_bytes."""
    return 2.0 * tokens * (hidden + ffn_width / tp) * elem_bytes


def optimizer_state_per_device(params: float, bytes_per_param: float, tp: int, pp: int,
                               dp_shards: int = 1) -> float:
    """Training state per device: gradients, master weights and optimizer moments at
    ``bytes_per_param`` (mixed-precision Adam: 2 gradient + 4 master + 4 + 4 moments = 14, or
    12 without FP16 gradients kept), split like the weights and over ``dp_shards`` data-parallel
    ranks when sharded (ZeRO-1/2):
        params * bytes_per_param / pp / tp / dp_shards."""
    return params * bytes_per_param / pp / tp / dp_shards


def saved_activations_per_device(microbatches_in_flight: float, tokens_per_microbatch: float,
                                 bytes_per_token_per_layer: float, layers: int, pp: int, tp: int) -> float:
    """Activations a pipeline stage keeps for backward (training): each microbatch in flight
    holds its stage's layers' saved activations (dse.models.operators, Korthikanti et al.),
    split by tensor parallelism (no sequence parallelism):
        in_flight * tokens * bytes_per_token_per_layer * ceil(layers / pp) / tp."""
    return microbatches_in_flight * tokens_per_microbatch * bytes_per_token_per_layer * math.ceil(layers / pp) / tp


def over_capacity(what: str, used: float, capacity: float, per: str = "") -> str | None:
    """A violation text when ``used`` exceeds ``capacity`` (GB, one decimal), else None."""
    if used > capacity:
        return f"{what} {used / 1e9:.1f} GB > {capacity / 1e9:.1f} GB{per}"
    return None
