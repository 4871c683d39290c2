"""The shared memory model of the GPU-side kinds: bytes each device holds, and capacity checks as
named violations.

The llm kind (weights, KV cache of a batch, forward activations), the serving kind (each stage's
weights with the embedding and LM head, one request's KV cache) and the training kind (weights,
gradients and optimizer state of each device's stages; saved activations from its schedule
simulator) all count through these functions. All sizes are bytes; every formula is in the
docstring of its function, and tests/test_memory.py checks each against hand arithmetic.
"""

from __future__ import annotations

import math

import numpy as np


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


def device_parameters(layers: np.ndarray, stage_device: np.ndarray, devices: int, per_layer: float,
                      embedding: float, tied: bool) -> np.ndarray:
    """What each of ``devices`` pipeline devices holds, per TP rank, when stage ``k`` (of
    ``layers[k]`` decoder layers) lives on device ``stage_device[k]``:

        held[d] = sum over its stages of layers[k] * per_layer
                  + embedding on the first stage's device (token embedding)
                  + embedding on the last stage's device (LM head), unless both are one device
                    and the embeddings are tied (one copy)

    ``per_layer`` and ``embedding`` in any unit (parameters, or bytes with a request's KV cache
    folded into ``per_layer``). The LM head is a separate copy under PP even when tied."""
    held = np.zeros(devices)
    for k in range(layers.shape[0]):
        held[stage_device[k]] += layers[k] * per_layer
    first, last = int(stage_device[0]), int(stage_device[-1])
    held[first] += embedding
    if not (first == last and tied):
        held[last] += embedding
    return held


def training_state(params: np.ndarray, bytes_per_param: float) -> np.ndarray:
    """Training state per device, unsharded: weights, gradients and optimizer state at
    ``bytes_per_param`` (the weight's precision + the workload's gradient and optimizer bytes per
    parameter; mixed-precision Adam: 2 + 2 + 12 = 16):
        params * bytes_per_param."""
    return params * bytes_per_param


def over_capacity(what: str, used: float, capacity: float, per: str = "") -> str | None:
    """A violation text when ``used`` exceeds ``capacity`` (GB, one decimal), else None."""
    if used > capacity:
        return f"{what} {used / 1e9:.1f} GB > {capacity / 1e9:.1f} GB{per}"
    return None
