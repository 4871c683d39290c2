"""GPU/PIM hardware spec (kind ``llm``): GPUs, PIM pools and the links between them.

A hardware file with a ``gpu`` or ``pim`` section (or ``kind: llm``) is one of these; the LLM
kind (dse.system.llm) evaluates it. YAML layout (units in field names)::

    name: papi
    gpu:                                   # optional (PIM-only systems have none)
      name: A100a
      count: 6
      peak_flop_per_s: 312 TFLOP/s         # dense, at the workload's precision
      memory_bytes: 60 GB
      memory_bytes_per_s: 3352 GB/s
      compute_efficiency: 0.8              # cap on achieved / peak FLOP/s
      memory_efficiency: 0.85              # cap on achieved / peak memory bandwidth
      kernel_launch_s: 1 us                # per kernel
      compute_half_tokens: 0               # calibration (optional, 0 = flat caps): GEMM rows at half rate,
      memory_half_bytes: 0                 #   bytes of one launch at half bandwidth,
      step_overhead_s: 0                   #   fixed framework time per forward step
      pj_per_flop: 0.8
      memory_pj_per_bit: 3.59
      idle_w: 90 W
      link: nvlink                         # the interconnect entry GPUs talk over (collectives)
    # or, instead of gpu.count and gpu.link, the shared cluster section (dse.system.gpu.spec):
    # cluster: {nodes: 2, gpus_per_node: 8, intra_node: {...}, inter_node: {...}}
    interconnect:                          # named links (optional with a cluster and no PIM)
      nvlink: {bytes_per_s: 300 GB/s, latency_s: 3.03 us, pj_per_bit: 1.3}
    pim:                                   # zero or more pools of identical PIM devices, one per
      - name: fc_pim                       # role (fields: dse.system.gpu.pim)
        role: fc
        ...
    system:
      parallel: {tp: 8, pp: 1, dp: 1}      # or `auto`: every tp x pp x dp = GPU count is tried
      dispatch: {policy: papi, alpha: 32}  # gpu | gpu_attn_pim | papi | pim | pim_split
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from dse.errors import DseError
from dse.spec.common import Node, Parallel
from dse.system.gpu.pim import (DISPATCH_FIELDS, FIELDS as PIM_FIELDS, LINK_FIELDS, PIM_ONLY, POLICIES, POLICY_ROLES,
                                Dispatch, PimPool, parse_dispatch, parse_interconnect, parse_pools)
from dse.system.gpu.spec import CLUSTER_FIELDS, GPU_PLACE, Cluster, Gpu, Link, gpu_fields, parse_cluster, parse_gpu

__all__ = ["PIM_ONLY", "POLICIES", "POLICY_ROLES", "GpuPimHardware", "Dispatch", "PimPool", "parse"]


@dataclass(frozen=True)
class GpuPimHardware:
    kind: ClassVar[str] = "llm"
    name: str
    source: str
    gpu: Gpu | None
    pims: tuple[PimPool, ...]
    links: tuple[Link, ...]
    parallel: Parallel
    dispatch: Dispatch
    cluster: Cluster | None = None

    @property
    def gpu_count(self) -> int:
        """GPUs: the cluster's nodes x gpus_per_node, else ``gpu.count``."""
        return self.cluster.gpus if self.cluster is not None else int(self.gpu.count)

    def link(self, name: str) -> Link:
        return next(link for link in self.links if link.name == name)

    def pool(self, role: str) -> PimPool | None:
        return next((p for p in self.pims if p.role == role), None)


# Fields of the shared gpu section this kind requires (its energy objective needs them); where its
# GPUs sit comes from gpu.count and gpu.link, or from a cluster section.
GPU_REQUIRED = ("pj_per_flop", "memory_pj_per_bit", "idle_w")

# Every field the loader accepts, by section (required, optional); README's tables list the same.
FIELDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "": (("name",), ("kind", "gpu", "cluster", "pim", "interconnect", "system", "description")),
    "gpu": gpu_fields(GPU_REQUIRED, GPU_PLACE),
    **CLUSTER_FIELDS,
    "interconnect.<link>": LINK_FIELDS,
    "pim[]": PIM_FIELDS,
    "system": ((), ("parallel", "dispatch")),
    "system.parallel": (("tp", "pp", "dp"), ()),
    "system.dispatch": DISPATCH_FIELDS,
}


def parse(root: Node) -> GpuPimHardware:
    top = root.mapping(*FIELDS[""])
    name = top["name"].name(knob=False)
    cluster = parse_cluster(top["cluster"]) if "cluster" in top else None
    links: tuple[Link, ...] = ()
    if "interconnect" in top or cluster is None or "pim" in top:
        if "interconnect" not in top:
            raise DseError(root.source, "interconnect", "an interconnect section naming the links (e.g. nvlink)")
        links = parse_interconnect(top["interconnect"])
    link_names = tuple(link.name for link in links)
    gpu = parse_gpu(top["gpu"], GPU_REQUIRED, link_names, GPU_PLACE) if "gpu" in top else None
    if gpu is not None:
        _check_placement(top["gpu"], cluster)
    elif cluster is not None:
        raise DseError(root.source, "gpu", "a gpu section: the GPUs the cluster section places")
    pims = parse_pools(top["pim"], link_names) if "pim" in top else ()
    if gpu is None and not pims:
        raise DseError(root.source, "gpu", "a gpu section or a pim section")
    parallel, dispatch = Parallel(), Dispatch(policy="gpu" if not pims else "papi")
    if "system" in top:
        f = top["system"].mapping(*FIELDS["system"])
        if "parallel" in f:
            parallel = _parallel(f["parallel"])
        if "dispatch" in f:
            dispatch = parse_dispatch(f["dispatch"], gpu is not None, pims)
    return GpuPimHardware(name=name, source=root.source, gpu=gpu, pims=pims, links=links,
                           parallel=parallel, dispatch=dispatch, cluster=cluster)


def _check_placement(gpu: Node, cluster: Cluster | None) -> None:
    """GPUs are placed either by ``gpu.count`` and ``gpu.link`` or by a cluster section, not both."""
    for key in GPU_PLACE:
        given = key in gpu.value
        if cluster is None and not given:
            raise DseError(gpu.source, gpu.child(key, None).path, "a value (missing field; or a cluster section)")
        if cluster is not None and given:
            raise gpu.child(key, gpu.value[key]).fail("no such field with a cluster section (the cluster's nodes x "
                                                      "gpus_per_node and its links place the GPUs)")


def _parallel(node: Node) -> Parallel:
    if node.value == "auto":
        return Parallel()
    f = node.mapping(*FIELDS["system.parallel"])
    return Parallel(tp=f["tp"].number(integer=True), pp=f["pp"].number(integer=True),
                    dp=f["dp"].number(integer=True))
