"""Parallel configurations and stage splits shared by the GPU-side kinds: which tp x pp x dp
splits a GPU count admits, how a model's layers fall on pipeline stages, and whether a group of
GPUs sits inside one node of a cluster (Megatron order: TP ranks fastest, then DP, then pipeline stages;
nodes of ``gpus_per_node`` consecutive GPUs)."""

from __future__ import annotations

from typing import Callable

import numpy as np



def divisors(n: int) -> list[int]:
    return [k for k in range(1, n + 1) if n % k == 0]


def parallel_configs(gpus: int, accept: Callable[[int, int, int], bool]) -> list[tuple[int, int, int]]:
    """Every (tp, pp, dp) with tp x pp x dp = ``gpus`` that ``accept`` admits, tp ascending then
    pp ascending (each kind states what its model needs: heads, layers, batch)."""
    return [(tp, pp, gpus // (tp * pp)) for tp in divisors(gpus) for pp in divisors(gpus // tp)
            if accept(tp, pp, gpus // (tp * pp))]


def layers_per_stage(layers: int, stages: int, embedding_slot: bool = False) -> np.ndarray:
    """Decoder layers of each of ``stages`` pipeline stages, as evenly as possible:

        slots = layers (+ 2 when the embedding and the loss each count as a layer's slot)
        stage k gets slots // stages, one more for the first slots mod stages stages,
        minus one on the first and on the last stage for the embedding and the loss slots

    (Zero Bubble's 1.5B model: 22 layers + embedding + loss = 24 slots on 8 stages, 2 + 6 x 3 + 2)."""
    slots = layers + (2 if embedding_slot else 0)
    base, extra = divmod(slots, stages)
    out = np.array([base + (1 if k < extra else 0) for k in range(stages)], dtype=np.float64)
    if embedding_slot:
        out[0] -= 1
        out[stages - 1] -= 1
    return out


def within_node(count: int, gpus_per_node: int, first: int = 0) -> bool:
    """A group of ``count`` consecutive GPUs from GPU ``first`` (a multiple of ``count`` in the
    Megatron layout: TP ranks, a stage's TP x DP block) lies inside one node."""
    return first // gpus_per_node == (first + count - 1) // gpus_per_node


def aligned_within_node(count: int, gpus_per_node: int) -> bool:
    """Every group of ``count`` consecutive GPUs that starts at a multiple of ``count`` lies inside
    one node: count <= gpus_per_node and count divides it."""
    return count <= gpus_per_node and gpus_per_node % count == 0


def group_link(cluster, count: int):
    """The link a group of ``count`` consecutive GPUs (TP ranks, a replica, a stage's block) talks
    over on a :class:`~dse.system.gpu.spec.Cluster`: ``intra_node`` when every such group starting
    at a multiple of ``count`` lies inside one node (:func:`aligned_within_node`), else ``inter_node``."""
    return cluster.intra_node if aligned_within_node(count, int(cluster.gpus_per_node)) else cluster.inter_node
