"""Training hardware spec (kind ``training``): a GPU cluster and the pipeline schedule to run on it.

A hardware file with ``kind: training``. YAML layout (units in field names)::

    name: a100-40
    kind: training
    gpu:                                   # optional for synthetic pipelines (no model)
      name: A100-80GB
      peak_flop_per_s: 312 TFLOP/s         # dense, at the workload's precision
      memory_bytes: 80 GB
      memory_bytes_per_s: 2039 GB/s
      compute_efficiency: 0.55             # cap on achieved / peak FLOP/s
      memory_efficiency: 0.8               # cap on achieved / peak memory bandwidth
      kernel_launch_s: 5 us                # per kernel
    cluster:                               # optional with gpu absent
      nodes: 5
      gpus_per_node: 8
      intra_node: {bytes_per_s: 300 GB/s, latency_s: 5 us}     # NVLink, per direction per GPU
      inter_node: {bytes_per_s: 25 GB/s, latency_s: 10 us}     # per GPU (its NIC)
    system:
      parallel: auto                       # or {tp, pp, dp}: tp x pp x dp = nodes x gpus_per_node
      schedule:
        family: 1f1b                       # gpipe | 1f1b | interleaved | zb-h1 | zb-h2 | zb-v | v-half | v-min | block
        chunks: 2                          # interleaved: virtual stages per device
        memory_model: w_end                # w_end (W or BW frees) | zero_bubble (B frees part, W the rest)
        block:                             # family block: placement and offsets in slots (see README)
          placement: v_shape               # sequential | interleaved (chunks per device) | v_shape
          offsets: {f_up: 1, f_turn: 1, f_down: 1, fb_turn: 1, b_up: 1, b_turn: 1, b_down: 1}

Any field may be a search range (``family: {choices: [1f1b, zb-h1, v-half]}``, offsets too).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from dse.errors import DseError
from dse.spec.common import Knob, Node, Parallel, choices_of
from dse.system.gpu.spec import CLUSTER_FIELDS, Cluster, Gpu, gpu_fields, parse_cluster, parse_gpu

MEMORY_MODELS = ("w_end", "zero_bubble")
# The schedule vocabulary (dse.system.training.schedules builds each of these).
FAMILIES = ("gpipe", "1f1b", "interleaved", "zb-h1", "zb-h2", "zb-v", "v-half", "v-min", "block")
PLACEMENTS = ("sequential", "interleaved", "v_shape")
BLOCK_OFFSETS = {
    "sequential": ("f", "turn", "b"),
    "interleaved": ("f", "turn", "b"),
    "v_shape": ("f_up", "f_turn", "f_down", "fb_turn", "b_up", "b_turn", "b_down"),
}
V_TURNS = ("f_turn", "fb_turn", "b_turn")     # a V block's turns: all given, or none (then chosen)


@dataclass(frozen=True)
class Block:
    placement: str | Knob
    offsets: tuple[tuple[str, int | Knob], ...]


@dataclass(frozen=True)
class ScheduleSpec:
    family: str | Knob = "1f1b"
    chunks: int | Knob = 2
    memory_model: str | Knob = "w_end"
    block: Block | None = None


@dataclass(frozen=True)
class TrainingHardware:
    kind: ClassVar[str] = "training"
    name: str
    source: str
    gpu: Gpu | None
    cluster: Cluster | None
    parallel: Parallel
    schedule: ScheduleSpec


FIELDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "": (("name", "kind"), ("gpu", "cluster", "system", "description")),
    "gpu": gpu_fields(),
    **CLUSTER_FIELDS,
    "system": ((), ("parallel", "schedule")),
    "system.parallel": (("tp", "pp", "dp"), ()),
    "system.schedule": (("family",), ("chunks", "memory_model", "block")),
    "system.schedule.block": (("placement", "offsets"), ()),
}


def parse(root: Node) -> TrainingHardware:
    top = root.mapping(*FIELDS[""])
    name = top["name"].name(knob=False)
    gpu = parse_gpu(top["gpu"]) if "gpu" in top else None
    cluster = parse_cluster(top["cluster"]) if "cluster" in top else None
    if (gpu is None) != (cluster is None):
        missing = "cluster" if cluster is None else "gpu"
        raise DseError(root.source, missing, "a gpu and a cluster section together (or neither, for synthetic "
                       "pipelines)")
    parallel, schedule = Parallel(), ScheduleSpec()
    if "system" in top:
        f = top["system"].mapping(*FIELDS["system"])
        if "parallel" in f:
            parallel = _parallel(f["parallel"], cluster)
        if "schedule" in f:
            s = f["schedule"].mapping(*FIELDS["system.schedule"])
            family = s["family"].name(FAMILIES)
            block = None
            if "block" in s:
                b = s["block"].mapping(*FIELDS["system.schedule.block"])
                placement = b["placement"].name(PLACEMENTS, knob=False)
                names = BLOCK_OFFSETS[placement]
                turns = V_TURNS if placement == "v_shape" else ()
                o = b["offsets"].mapping(tuple(k for k in names if k not in turns), turns)
                given = [k for k in turns if k in o]
                if given and len(given) != len(turns):
                    raise b["offsets"].fail(f"all three turns {list(turns)} or none (then they are chosen)", given)
                block = Block(placement, tuple((k, o[k].number(integer=True, high=64)) for k in names if k in o))
            if "block" in choices_of(family) and block is None:
                raise s["family"].fail("a schedule.block section (placement, offsets) for family block", "block")
            schedule = ScheduleSpec(
                family=family,
                chunks=s["chunks"].number(integer=True, high=64) if "chunks" in s else 2,
                memory_model=s["memory_model"].name(MEMORY_MODELS) if "memory_model" in s else "w_end",
                block=block)
    return TrainingHardware(name=name, source=root.source, gpu=gpu, cluster=cluster, parallel=parallel,
                            schedule=schedule)


def _parallel(node: Node, cluster: Cluster | None) -> Parallel:
    if node.value == "auto":
        return Parallel()
    f = node.mapping(*FIELDS["system.parallel"])
    par = Parallel(tp=f["tp"].number(integer=True, knob=False), pp=f["pp"].number(integer=True, knob=False),
                        dp=f["dp"].number(integer=True, knob=False))
    if cluster is not None and not isinstance(cluster.nodes, Knob) and not isinstance(cluster.gpus_per_node, Knob):
        if par.tp * par.pp * par.dp != cluster.gpus:
            raise node.fail(f"tp x pp x dp = the cluster's {cluster.gpus} GPUs "
                            f"({cluster.nodes} nodes x {cluster.gpus_per_node})",
                            f"{par.tp} x {par.pp} x {par.dp} = {par.tp * par.pp * par.dp}")
    return par
