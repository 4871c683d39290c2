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
      memory_half_bytes: 0                 #   bytes of one stream at half bandwidth,
      step_overhead_s: 0                   #   fixed framework time per forward step
      pj_per_flop: 0.8
      memory_pj_per_bit: 3.59
      idle_w: 90 W
      link: nvlink                         # the interconnect entry GPUs talk over (collectives)
    # or, instead of gpu.count and gpu.link, the shared cluster section (dse.system.gpu.spec):
    # cluster: {nodes: 2, gpus_per_node: 8, intra_node: {...}, inter_node: {...}}
    interconnect:                          # named links (optional with a cluster and no PIM)
      nvlink: {bytes_per_s: 300 GB/s, latency_s: 3.03 us, pj_per_bit: 1.3}
    pim:                                   # zero or more pools of identical PIM devices
      - name: fc_pim
        role: fc                           # fc (FC layers), attn (attention), all (everything)
        count: 30
        dies: 8
        banks_per_die: 96                  # or area_limited: floor(die_max_mm2 / (n*fpu_mm2 + bank_mm2))
        bank_bytes: 16 MiB
        fpus_per_bank: 4                   # 0.5 = 1P2B, 1 = 1P1B, 4 = 4P1B
        fpu_flop_per_s: 10.475 GFLOP/s
        bank_bytes_per_s: 10.475 GB/s
        external_bytes_per_s: 670.4 GB/s
        power_multiple: 9                  # internal bandwidth cap, as a multiple of external
        max_query_tokens: 16               # GEMV-like only: query tokens per request per op
        bank_mm2: 0.83
        fpu_mm2: 0.1025
        die_max_mm2: 121
        access_pj_per_bit: 0.55            # ACT/PRE + cell read, per bit streamed inside the bank
        alu_pj_per_flop: 0.16
        kernel_floor_s: 1.6 us             # optional: fixed time per op (input broadcast, activation)
        link: nvlink
    system:
      parallel: {tp: 8, pp: 1, dp: 1}      # or `auto`: every tp x pp x dp = GPU count is tried
      dispatch: {policy: papi, alpha: 32}  # gpu | gpu_attn_pim | papi | pim | pim_split
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

from dse.errors import DseError
from dse.spec.common import Knob, Node, Parallel, choices_of
from dse.system.gpu.spec import (CLUSTER_FIELDS, GPU_PLACE, Cluster, Gpu, Link, gpu_fields, parse_cluster, parse_gpu,
                                 parse_link)

POLICIES = ("gpu", "gpu_attn_pim", "papi", "pim", "pim_split")
ROLES = ("fc", "attn", "all")
# PIM pool roles each dispatch policy sends work to (and whose pools hold its weights / KV cache).
POLICY_ROLES = {"gpu": (), "gpu_attn_pim": ("attn",), "papi": ("fc", "attn"), "pim": ("all",),
                "pim_split": ("fc", "attn")}
# Policies that run without a GPU (everything on PIM).
PIM_ONLY = ("pim", "pim_split")


@dataclass(frozen=True)
class PimPool:
    name: str
    role: str
    count: int | Knob
    dies: int | Knob
    banks_per_die: int | str | Knob          # an integer or "area_limited"
    bank_bytes: float | Knob
    fpus_per_bank: float | Knob
    fpu_flop_per_s: float | Knob
    bank_bytes_per_s: float | Knob
    external_bytes_per_s: float | Knob
    power_multiple: float | Knob
    max_query_tokens: int | Knob
    bank_mm2: float | Knob
    fpu_mm2: float | Knob
    die_max_mm2: float | Knob
    access_pj_per_bit: float | Knob
    alu_pj_per_flop: float | Knob
    link: str
    kernel_floor_s: float | Knob = 0.0       # fixed time per op on the pool (see README)
    idle_w: float | Knob = 0.0               # static power per device, charged for the whole wall time

    def banks_per_die_value(self) -> int:
        """Banks per die; ``area_limited`` fits as many as PAPI's area budget allows:
        m * (n * A_fpu + A_bank) <= A_max  ->  m = floor(A_max / (n * A_fpu + A_bank))."""
        if self.banks_per_die == "area_limited":
            return int(math.floor(self.die_max_mm2 / (self.fpus_per_bank * self.fpu_mm2 + self.bank_mm2) + 1e-9))
        return int(self.banks_per_die)

    def capacity_bytes(self) -> float:
        return float(self.dies * self.banks_per_die_value() * self.bank_bytes)

    def die_area_mm2(self) -> float:
        return self.banks_per_die_value() * (self.fpus_per_bank * self.fpu_mm2 + self.bank_mm2)


@dataclass(frozen=True)
class Dispatch:
    policy: str | Knob = "gpu"
    alpha: float | Knob = 32.0


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
    "interconnect.<link>": (("bytes_per_s", "latency_s", "pj_per_bit"), ()),
    "pim[]": (("name", "role", "count", "dies", "banks_per_die", "bank_bytes", "fpus_per_bank", "fpu_flop_per_s",
               "bank_bytes_per_s", "external_bytes_per_s", "power_multiple", "max_query_tokens", "bank_mm2",
               "fpu_mm2", "die_max_mm2", "access_pj_per_bit", "alu_pj_per_flop", "link"), ("kernel_floor_s", "idle_w")),
    "system": ((), ("parallel", "dispatch")),
    "system.parallel": (("tp", "pp", "dp"), ()),
    "system.dispatch": (("policy",), ("alpha",)),
}


def parse(root: Node) -> GpuPimHardware:
    top = root.mapping(*FIELDS[""])
    name = top["name"].name(knob=False)
    cluster = parse_cluster(top["cluster"]) if "cluster" in top else None
    links: tuple[Link, ...] = ()
    if "interconnect" in top or cluster is None or "pim" in top:
        if "interconnect" not in top:
            raise DseError(root.source, "interconnect", "an interconnect section naming the links (e.g. nvlink)")
        ic = top["interconnect"]
        if not isinstance(ic.value, dict) or not ic.value:
            raise ic.fail("named links {NAME: {bytes_per_s, latency_s, pj_per_bit}}")
        links = tuple(_link(str(k), ic.child(str(k), v)) for k, v in ic.value.items())
    link_names = tuple(link.name for link in links)
    gpu = parse_gpu(top["gpu"], GPU_REQUIRED, link_names, GPU_PLACE) if "gpu" in top else None
    if gpu is not None:
        _check_placement(top["gpu"], cluster)
    elif cluster is not None:
        raise DseError(root.source, "gpu", "a gpu section: the GPUs the cluster section places")
    pims: list[PimPool] = []
    if "pim" in top:
        for i, node in enumerate(top["pim"].sequence(min_len=1)):
            given = node.value.get("name") if isinstance(node.value, dict) else None
            if isinstance(given, str) and given.strip():
                node = Node(node.value, node.source, f"pim.{given}")
            pool = _pim(node, link_names)
            if pool.name in [p.name for p in pims]:
                raise node.child("name", pool.name).fail("a PIM pool name used only once")
            if pool.role in [p.role for p in pims]:
                raise node.child("role", pool.role).fail("one PIM pool per role")
            pims.append(pool)
    if gpu is None and not pims:
        raise DseError(root.source, "gpu", "a gpu section or a pim section")
    parallel, dispatch = Parallel(), Dispatch(policy="gpu" if pims == [] else "papi")
    if "system" in top:
        f = top["system"].mapping(*FIELDS["system"])
        if "parallel" in f:
            parallel = _parallel(f["parallel"])
        if "dispatch" in f:
            d = f["dispatch"].mapping(*FIELDS["system.dispatch"])
            dispatch = Dispatch(policy=d["policy"].name(POLICIES),
                                alpha=d["alpha"].number() if "alpha" in d else 32.0)
            _check_policy(d["policy"], dispatch.policy, gpu, tuple(pims))
    return GpuPimHardware(name=name, source=root.source, gpu=gpu, pims=tuple(pims), links=links,
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


def _check_policy(node: Node, policy: str | Knob, gpu: Gpu | None, pims: tuple[PimPool, ...]) -> None:
    """Every policy the spec allows must have the devices it dispatches to."""
    roles = {p.role for p in pims}
    for choice in choices_of(policy):
        needed = POLICY_ROLES[choice]
        if (choice not in PIM_ONLY and gpu is None) or not set(needed) <= roles:
            pools = (f"a PIM pool with role {needed[0]}" if len(needed) == 1 else
                     f"PIM pools with roles {' and '.join(needed)}" if needed else "")
            what = " and ".join(x for x in ("a gpu section" if not needed else
                                            "a gpu" if choice not in PIM_ONLY else "", pools) if x)
            raise node.fail(f"a policy this hardware can run (policy {choice} needs {what})", choice)


def _link(key: str, node: Node) -> Link:
    """An interconnect entry; this kind counts its energy, so pj_per_bit is required."""
    node.mapping(*FIELDS["interconnect.<link>"])
    return parse_link(key, node)


def _pim(node: Node, links: tuple[str, ...]) -> PimPool:
    f = node.mapping(*FIELDS["pim[]"])
    banks = f["banks_per_die"]
    pool = PimPool(
        name=f["name"].name(knob=False),
        role=f["role"].name(ROLES, knob=False),
        count=f["count"].number(integer=True),
        dies=f["dies"].number(integer=True),
        banks_per_die=banks.name(("area_limited",)) if isinstance(banks.value, str) else banks.number(integer=True),
        bank_bytes=f["bank_bytes"].number("bytes"),
        fpus_per_bank=f["fpus_per_bank"].number(),
        fpu_flop_per_s=f["fpu_flop_per_s"].number("flop_per_s"),
        bank_bytes_per_s=f["bank_bytes_per_s"].number("bytes_per_s"),
        external_bytes_per_s=f["external_bytes_per_s"].number("bytes_per_s"),
        power_multiple=f["power_multiple"].number(),
        max_query_tokens=f["max_query_tokens"].number(integer=True),
        bank_mm2=f["bank_mm2"].number("mm2"),
        fpu_mm2=f["fpu_mm2"].number("mm2", allow_zero=True),
        die_max_mm2=f["die_max_mm2"].number("mm2"),
        access_pj_per_bit=f["access_pj_per_bit"].number("pj_per_bit", allow_zero=True),
        alu_pj_per_flop=f["alu_pj_per_flop"].number("pj_per_flop", allow_zero=True),
        link=f["link"].name(links, knob=False),
        kernel_floor_s=f["kernel_floor_s"].number("s", allow_zero=True) if "kernel_floor_s" in f else 0.0,
        idle_w=f["idle_w"].number("w", allow_zero=True) if "idle_w" in f else 0.0,
    )
    return pool


def _parallel(node: Node) -> Parallel:
    if node.value == "auto":
        return Parallel()
    f = node.mapping(*FIELDS["system.parallel"])
    return Parallel(tp=f["tp"].number(integer=True), pp=f["pp"].number(integer=True),
                    dp=f["dp"].number(integer=True))
