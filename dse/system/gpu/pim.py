"""PIM pools beside the GPUs (PAPI, AttAcc): the pool spec, its rows in the shared device table and
the dispatch policies that send op classes to them. Shared by every kind that runs LLM steps on
GPUs with PIM (the llm kind's static decode, the serving kind's engine); the per-step dispatch
rule itself is a kernel (dse.system.gpu.kernels.dispatch).

A pool is ``count`` identical PIM devices (HBM stacks) with one role: ``fc`` (FC layers: PAPI's
FC-PIM, the GPU's own memory), ``attn`` (attention over the KV cache it holds: PAPI's Attn-PIM,
AttAcc) or ``all``. YAML (one entry of a ``pim:`` list; units in field names)::

    - name: fc_pim
      role: fc                           # fc | attn | all
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
      idle_w: 1.31 W                     # optional: static power per device
      link: nvlink                       # the named interconnect entry it talks to the GPU over
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from dse.spec.common import Knob, Node, choices_of
from dse.system.gpu.spec import Link, parse_link

POLICIES = ("gpu", "gpu_attn_pim", "papi", "pim", "pim_split")
ROLES = ("fc", "attn", "all")
# PIM pool roles each dispatch policy sends work to (and whose pools hold its weights / KV cache).
POLICY_ROLES = {"gpu": (), "gpu_attn_pim": ("attn",), "papi": ("fc", "attn"), "pim": ("all",),
                "pim_split": ("fc", "attn")}
# Policies that run without a GPU (everything on PIM).
PIM_ONLY = ("pim", "pim_split")
# The device-table row of each role: dse.system.gpu.kernels' FC_POOL, ATTN_POOL, ALL_POOL (written
# out so that loading a spec imports no numba; tests/test_llm.py checks they agree).
DEVICE_ROLES = {"fc": 1, "attn": 2, "all": 3}

LINK_FIELDS = (("bytes_per_s", "latency_s", "pj_per_bit"), ())
DISPATCH_FIELDS = (("policy",), ("alpha",))

FIELDS = (("name", "role", "count", "dies", "banks_per_die", "bank_bytes", "fpus_per_bank", "fpu_flop_per_s",
           "bank_bytes_per_s", "external_bytes_per_s", "power_multiple", "max_query_tokens", "bank_mm2",
           "fpu_mm2", "die_max_mm2", "access_pj_per_bit", "alu_pj_per_flop", "link"), ("kernel_floor_s", "idle_w"))


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
    """Which op classes go to which pool (``system.dispatch``): a policy of POLICIES and PAPI's
    threshold ``alpha`` on RLP x TLP."""

    policy: str | Knob = "gpu"
    alpha: float | Knob = 32.0


def parse_dispatch(node: Node, has_gpu: bool, pims: tuple[PimPool, ...],
                   allowed: tuple[str, ...] = POLICIES) -> Dispatch:
    """``system.dispatch``, each policy it allows checked against the devices (:func:`check_policy`)."""
    d = node.mapping(*DISPATCH_FIELDS)
    out = Dispatch(policy=d["policy"].name(allowed), alpha=d["alpha"].number() if "alpha" in d else 32.0)
    check_policy(d["policy"], out.policy, has_gpu, pims)
    return out


def check_policy(node: Node, policy: str | Knob, has_gpu: bool, pims: tuple[PimPool, ...]) -> None:
    """Every policy the spec allows must have the devices it dispatches to (``node``: the policy's)."""
    roles = {p.role for p in pims}
    for choice in choices_of(policy):
        needed = POLICY_ROLES[choice]
        if (choice not in PIM_ONLY and not has_gpu) or not set(needed) <= roles:
            pools = (f"a PIM pool with role {needed[0]}" if len(needed) == 1 else
                     f"PIM pools with roles {' and '.join(needed)}" if needed else "")
            what = " and ".join(x for x in ("a gpu section" if not needed else
                                            "a gpu" if choice not in PIM_ONLY else "", pools) if x)
            raise node.fail(f"a policy this hardware can run (policy {choice} needs {what})", choice)


def parse_interconnect(node: Node) -> tuple[Link, ...]:
    """Named links {NAME: {bytes_per_s, latency_s, pj_per_bit}} (energy counted: pj_per_bit required)."""
    if not isinstance(node.value, dict) or not node.value:
        raise node.fail("named links {NAME: {bytes_per_s, latency_s, pj_per_bit}}")
    links = []
    for key, value in node.value.items():
        child = node.child(str(key), value)
        child.mapping(*LINK_FIELDS)
        links.append(parse_link(str(key), child))
    return tuple(links)


def parse_pools(node: Node, links: tuple[str, ...]) -> tuple[PimPool, ...]:
    """The ``pim:`` list: one pool per role, names used once; errors name the pool by its name."""
    pims: list[PimPool] = []
    for item in node.sequence(min_len=1):
        given = item.value.get("name") if isinstance(item.value, dict) else None
        if isinstance(given, str) and given.strip():
            item = Node(item.value, item.source, f"pim.{given}")
        pool = _pool(item, links)
        if pool.name in [p.name for p in pims]:
            raise item.child("name", pool.name).fail("a PIM pool name used only once")
        if pool.role in [p.role for p in pims]:
            raise item.child("role", pool.role).fail("one PIM pool per role")
        pims.append(pool)
    return tuple(pims)


def _pool(node: Node, links: tuple[str, ...]) -> PimPool:
    f = node.mapping(*FIELDS)
    banks = f["banks_per_die"]
    return PimPool(
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


def fill_pim_row(dev: np.ndarray, pool: PimPool, devices: float, link: Link) -> None:
    """The pool's row of ``dev`` (its role's row): bank-level rates of its devices (pim_rates of
    dies x banks per die banks), energies, the per-op floor, ``devices`` sharing each op (D_NDEV,
    at least 1) and the link each device talks to the GPU over. A pool with no bank keeps the
    blank row's unit rates (the kind reports it infeasible)."""
    from dse.cost.roofline import pim_rates
    from dse.system.gpu.kernels import (D_BW, D_FLOPS, D_LAUNCH, D_LINK_BW, D_LINK_LAT, D_LINK_PJ, D_NDEV, D_PJ_BIT,
                                        D_PJ_FLOP)

    d = DEVICE_ROLES[pool.role]
    banks = pool.dies * pool.banks_per_die_value()
    if banks >= 1:
        dev[d, D_FLOPS], dev[d, D_BW] = pim_rates(float(banks), pool.fpus_per_bank, pool.fpu_flop_per_s,
                                                  pool.bank_bytes_per_s, pool.external_bytes_per_s,
                                                  pool.power_multiple)
    dev[d, D_PJ_FLOP], dev[d, D_PJ_BIT] = pool.alu_pj_per_flop, pool.access_pj_per_bit
    dev[d, D_LAUNCH] = pool.kernel_floor_s
    dev[d, D_NDEV] = max(1.0, float(devices))
    dev[d, D_LINK_BW], dev[d, D_LINK_LAT], dev[d, D_LINK_PJ] = link.bytes_per_s, link.latency_s, link.pj_per_bit


def pool_violations(pool: PimPool) -> list[str]:
    """A die with no bank, or over its area budget."""
    out = []
    if pool.banks_per_die_value() < 1:
        out.append(f"{pool.name}: no bank fits a {pool.die_max_mm2:g} mm2 die with {pool.fpus_per_bank:g} "
                   "FPUs per bank")
    if pool.die_area_mm2() > pool.die_max_mm2 * (1 + 1e-9):
        out.append(f"{pool.name}: die area {pool.die_area_mm2():.1f} mm2 > {pool.die_max_mm2} mm2")
    return out
