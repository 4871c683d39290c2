"""Serving hardware spec (kind ``serving``): a GPU pool split into model-parallel groups that serve
several models (AlpaServe). YAML layout (units in field names)::

    name: v100x2-6gb
    kind: serving
    gpu:                                   # the shared GPU fields (dse.system.gpu.spec)
      name: V100-16GB (6 GB budget)
      peak_flop_per_s: 125 TFLOP/s
      memory_bytes: 6 GB                   # what the models' weights (and one request's KV cache) may use
      memory_bytes_per_s: 900 GB/s
      compute_efficiency: 0.7
      memory_efficiency: 0.8
      kernel_launch_s: 5 us
    cluster:
      nodes: 1
      gpus_per_node: 2
      intra_node: {bytes_per_s: 150 GB/s, latency_s: 5 us}
      inter_node: {bytes_per_s: 12.5 GB/s, latency_s: 10 us}
    system:
      groups: auto                         # "2+1+1": group sizes; auto: every split of 1..all GPUs into powers of two;
                                           #   a group may fix its degrees: "pp2tp2+tp2+1" (size = pp x tp)
      tp: {choices: [1, 2]}                # tensor degree inside a sized group (capped by its size); pp = size / tp
      placement: simulated                 # simulated | fast: the inner greedy replica placement
      admission: reject                    # reject (a request that would miss its SLO) | serve_late
      request_overhead_s: 0.011            # fixed per-request overhead (dispatch, RPC)
      batching: none                       # none: one request at a time per stage (AlpaServe);
                                           # continuous: each group one vLLM-style engine;
                                           # static: the same engine admitting a batch only when idle
      engine:                              # continuous only (vLLM's names in brackets)
        max_num_seqs: 256                  # running requests at most
        max_num_batched_tokens: 2048       # query tokens per iteration
        block_size: 16                     # tokens per KV-cache block
        chunked_prefill: true              # split prompts under the token budget (Sarathi-Serve)
        gpu_memory_utilization: 0.9        # share of GPU memory for weights, activations and KV cache
      dispatch: {policy: papi, alpha: 32}  # with PIM pools: gpu | gpu_attn_pim | papi (PAPI's per-iteration rule)
    interconnect:                          # with PIM pools: the named links they talk to the GPUs over
      cxl: {bytes_per_s: 64 GB/s, latency_s: 1 us, pj_per_bit: 1.3}
    pim:                                   # optional PIM pools (dse.system.gpu.pim), spread evenly over the GPUs
      - {name: attn_pim, role: attn, count: 60, ..., link: cxl}

``groups``, ``tp``, ``placement``, ``admission``, ``batching`` and the engine's fields may be search
knobs (``{choices: [...]}``; numbers also ``{low, high}``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import ClassVar

from dse.spec.common import Knob, Node, choices_of
from dse.system.gpu.pim import (DISPATCH_FIELDS, FIELDS as PIM_FIELDS, LINK_FIELDS, Dispatch, PimPool, parse_dispatch,
                                parse_interconnect, parse_pools)
from dse.system.gpu.spec import CLUSTER_FIELDS, Cluster, Gpu, Link, gpu_fields, parse_cluster, parse_gpu

PLACEMENTS = ("simulated", "fast")
ADMISSIONS = ("reject", "serve_late")
BATCHING = ("none", "continuous", "static")
ENGINES = ("continuous", "static")          # the batchings that run engines (dse.system.serving.engine)
# Dispatch policies an engine runs: prefill chunks need the GPU, so no PIM-only policy (PIM-only
# decoding is papi with alpha at or above the token budget).
SERVING_POLICIES = ("gpu", "gpu_attn_pim", "papi")


@dataclass(frozen=True)
class EngineSpec:
    """A continuously batched engine's limits (``batching: continuous``; dse.system.serving.engine)."""

    max_num_seqs: int | Knob = 256
    max_num_batched_tokens: int | Knob = 2048
    block_size: int | Knob = 16
    chunked_prefill: bool | Knob = True
    gpu_memory_utilization: float | Knob = 0.9
MAX_AUTO_PARTITIONS = 2000


@dataclass(frozen=True)
class ServingHardware:
    kind: ClassVar[str] = "serving"
    name: str
    source: str
    gpu: Gpu
    cluster: Cluster
    groups: str | Knob            # "4+2+1+1": group sizes, largest first
    tp: int | Knob
    placement: str | Knob
    admission: str | Knob
    request_overhead_s: float | Knob
    batching: str | Knob = "none"
    engine: EngineSpec = EngineSpec()
    pims: tuple[PimPool, ...] = ()
    links: tuple[Link, ...] = ()
    dispatch: Dispatch = Dispatch()

    def link(self, name: str) -> Link:
        return next(link for link in self.links if link.name == name)


FIELDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "": (("name", "kind", "gpu", "cluster"), ("system", "description", "interconnect", "pim")),
    "gpu": gpu_fields(),
    **CLUSTER_FIELDS,
    "system": ((), ("groups", "tp", "placement", "admission", "request_overhead_s", "batching", "engine",
                    "dispatch")),
    "system.dispatch": DISPATCH_FIELDS,
    "interconnect.<link>": LINK_FIELDS,
    "pim[]": PIM_FIELDS,
    "system.engine": ((), ("max_num_seqs", "max_num_batched_tokens", "block_size", "chunked_prefill",
                           "gpu_memory_utilization")),
}


def parse_engine(node: Node) -> EngineSpec:
    f = node.mapping(*FIELDS["system.engine"])
    values: dict = {}
    if "max_num_seqs" in f:
        values["max_num_seqs"] = f["max_num_seqs"].number(integer=True, high=65536)
    if "max_num_batched_tokens" in f:
        values["max_num_batched_tokens"] = f["max_num_batched_tokens"].number(integer=True, high=10**7)
    if "block_size" in f:
        values["block_size"] = f["block_size"].number(integer=True, high=4096)
    if "chunked_prefill" in f:
        values["chunked_prefill"] = f["chunked_prefill"].boolean()
    if "gpu_memory_utilization" in f:
        values["gpu_memory_utilization"] = f["gpu_memory_utilization"].fraction()
    spec = EngineSpec(**values)
    budget, block = spec.max_num_batched_tokens, spec.block_size
    if not isinstance(budget, Knob) and not isinstance(block, Knob) and budget < block:
        raise f["max_num_batched_tokens"].fail(f"a token budget of at least one KV block ({block} tokens)", budget)
    return spec


GROUP_FORM = re.compile(r"^(?:(\d+)|(?:pp(\d+))?(?:tp(\d+))?)$")


def group_degrees(part: str) -> tuple[int, int | None, int | None]:
    """One group of a ``groups`` string: (size, pp, tp). A bare size ('4') leaves the degrees to
    ``system.tp`` (pp = size / tp); 'pp2tp2', 'tp4' or 'pp2' fix them for that group (size = pp x
    tp, a missing degree 1). Raises ValueError on anything else."""
    m = GROUP_FORM.match(part)
    if m is None or part == "":
        raise ValueError(part)
    if m.group(1) is not None:
        return int(m.group(1)), None, None
    pp, tp = int(m.group(2) or 1), int(m.group(3) or 1)
    return pp * tp, pp, tp


def partitions(gpus: int, limit: int = MAX_AUTO_PARTITIONS + 1) -> tuple[str, ...]:
    """Every multiset of power-of-two group sizes with a sum of 1..``gpus``: the choices of
    ``groups: auto``. Most GPUs first, then most groups, so the first choice (the default of
    ``dse evaluate``) is the whole pool as one-GPU groups (selective replication). Largest groups
    first within a partition. Enumeration stops after ``limit`` of them."""
    out: list[tuple[int, ...]] = []

    def extend(rest: int, largest: int, prefix: tuple[int, ...]) -> None:
        if len(out) >= limit:
            return
        if prefix:
            out.append(prefix)
        size = largest
        while size >= 1:
            if size <= rest:
                extend(rest - size, size, prefix + (size,))
            size //= 2

    top = 1
    while top * 2 <= gpus:
        top *= 2
    extend(gpus, top, ())
    out.sort(key=lambda p: (-sum(p), -len(p), [-x for x in p]))
    return tuple("+".join(str(x) for x in p) for p in out)


def _auto(node: Node, gpus: int | None) -> Knob:
    if gpus is None:
        raise node.fail("explicit group choices when the cluster size is a search knob", "auto")
    choices = partitions(gpus)
    if len(choices) > MAX_AUTO_PARTITIONS:
        raise node.fail(f"explicit group choices (the power-of-two splits of {gpus} GPUs are more than "
                        f"{MAX_AUTO_PARTITIONS}, too many for auto)", "auto")
    return Knob("system.groups", choices=choices)


def _groups(node: Node, gpus: int | None) -> str | Knob:
    if node.value == "auto":
        return _auto(node, gpus)
    if isinstance(node.value, dict):
        f = node.mapping(("choices",), ())
        items = f["choices"].sequence(min_len=1)
        values = tuple(_partition(item, gpus) for item in items)
        if len(set(values)) != len(values):
            raise f["choices"].fail("distinct choices")
        return Knob(node.path, choices=values)
    return _partition(node, gpus)


def _partition(node: Node, gpus: int | None) -> str:
    """A ``groups`` value in its canonical form: groups largest first (then by tp), each a size or
    its degrees ('pp2tp2', 'tp4', 'pp2'; see :func:`group_degrees`)."""
    what = "groups joined by '+', each a GPU count or its degrees (e.g. '2+1+1', 'pp2tp2+tp2+1'), or auto"
    raw = node.value
    if isinstance(raw, bool) or not isinstance(raw, (int, str)):
        raise node.fail(what)
    parts = str(raw).replace(" ", "").split("+")
    try:
        groups = [group_degrees(p) for p in parts]
    except ValueError:
        raise node.fail(what) from None
    if any(size < 1 for size, _, _ in groups):          # a group of no GPU ('0', 'tp0', 'pp0tp2')
        raise node.fail(what)
    if len(groups) > 4096:
        raise node.fail(f"{what}, at most 4096 groups", f"{len(groups)} groups")
    if gpus is not None and sum(g[0] for g in groups) > gpus:
        raise node.fail(f"{what}, at most the cluster's {gpus} GPUs in all", raw)
    groups.sort(key=lambda g: (-g[0], -(g[2] or 0), -(g[1] or 0)))
    return "+".join(str(size) if tp is None else (f"pp{pp}" if pp > 1 else "") + (f"tp{tp}" if tp > 1 or pp == 1 else "")
                    for size, pp, tp in groups)


def parse(root: Node) -> ServingHardware:
    top = root.mapping(*FIELDS[""])
    name = top["name"].name(knob=False)
    gpu = parse_gpu(top["gpu"])
    cluster = parse_cluster(top["cluster"])
    fixed = not isinstance(cluster.nodes, Knob) and not isinstance(cluster.gpus_per_node, Knob)
    gpus = cluster.gpus if fixed else None
    system = top.get("system", root.child("system", {}))
    tp: int | Knob = 1
    placement: str | Knob = "simulated"
    admission: str | Knob = "reject"
    overhead: float | Knob = 0.0
    f = system.mapping(*FIELDS["system"])
    groups = _groups(f["groups"], gpus) if "groups" in f else _auto(system.child("groups", "auto"), gpus)
    if "tp" in f:
        tp = f["tp"].number(integer=True, high=1024)
    if "placement" in f:
        placement = f["placement"].name(PLACEMENTS)
    if "admission" in f:
        admission = f["admission"].name(ADMISSIONS)
    if "request_overhead_s" in f:
        overhead = f["request_overhead_s"].number("s", allow_zero=True, high=3600)
    batching: str | Knob = f["batching"].name(BATCHING) if "batching" in f else "none"
    engine = EngineSpec()
    if "engine" in f:
        if not set(ENGINES) & set(choices_of(batching)):
            raise f["engine"].fail("no engine section unless batching is continuous or static (or a choice of "
                                   "them)", "engine")
        engine = parse_engine(f["engine"])
    if "pim" in top and "interconnect" not in top:
        raise root.child("interconnect", None).fail("an interconnect section naming the links the PIM pools talk over "
                                                    "(e.g. cxl)")
    links = parse_interconnect(top["interconnect"]) if "interconnect" in top else ()
    pims = parse_pools(top["pim"], tuple(x.name for x in links)) if "pim" in top else ()
    dispatch = Dispatch()
    if pims or "dispatch" in f:
        if not set(choices_of(batching)) <= set(ENGINES):
            node = top["pim"] if pims else f["dispatch"]
            raise node.fail("batching: continuous or static for PIM pools and a dispatch policy (the engine "
                            "dispatches each iteration; batching: none has no iterations)", "pim" if pims else
                            "dispatch")
        if "dispatch" not in f:
            raise system.child("dispatch", None).fail(f"a dispatch policy for the PIM pools (one of "
                                                      f"{list(SERVING_POLICIES)})")
        dispatch = parse_dispatch(f["dispatch"], True, pims, SERVING_POLICIES)
    return ServingHardware(name=name, source=root.source, gpu=gpu, cluster=cluster, groups=groups, tp=tp,
                           placement=placement, admission=admission, request_overhead_s=overhead,
                           batching=batching, engine=engine, pims=pims, links=links, dispatch=dispatch)
