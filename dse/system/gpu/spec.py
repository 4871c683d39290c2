"""The GPU vocabulary every GPU-side kind (llm, training, serving) reads: one ``gpu:`` section, one
link form and one ``cluster:`` section, each parsed here into one frozen dataclass. No numpy.

YAML (units in field names; any number may be a search range)::

    gpu:
      name: A100-80GB                      # optional
      peak_flop_per_s: 312 TFLOP/s         # dense, at the workload's precision
      memory_bytes: 80 GB
      memory_bytes_per_s: 2039 GB/s
      compute_efficiency: 0.7              # cap on achieved / peak FLOP/s
      memory_efficiency: 0.75              # cap on achieved / peak memory bandwidth
      kernel_launch_s: 1 us                # per kernel
      compute_half_tokens: 64              # calibration, optional (0 = flat caps): GEMM rows at half rate,
      memory_half_bytes: 8 MiB             #   bytes of one launch at half bandwidth (attention: all
      step_overhead_s: 0 s                 #   its requests' K/V), framework time per forward step
      pj_per_flop: 0.6                     # energy and power, optional (0 = not counted)
      memory_pj_per_bit: 3.59
      idle_w: 60 W
      count: 8                             # llm kind without a cluster: GPUs, on the
      link: nvlink                         #   interconnect entry `link`
    cluster:                               # every kind (llm: instead of gpu.count and gpu.link)
      nodes: 1
      gpus_per_node: 8
      intra_node: {bytes_per_s: 300 GB/s, latency_s: 5 us}      # pj_per_bit optional
      inter_node: {bytes_per_s: 25 GB/s, latency_s: 10 us}

The rates and the calibration are turned into achievable rates by
:func:`dse.cost.roofline.gpu_rates` and :func:`~dse.cost.roofline.calibrated_rates`, once for every
kind (:mod:`dse.system.gpu.devices`).
"""

from __future__ import annotations

from dataclasses import dataclass

from dse.spec.common import Knob, Node

# The fields every gpu section needs, and those it may give (each kind may require some of them).
GPU_REQUIRED = ("peak_flop_per_s", "memory_bytes", "memory_bytes_per_s", "compute_efficiency",
                "memory_efficiency", "kernel_launch_s")
GPU_CALIBRATION = ("compute_half_tokens", "memory_half_bytes", "step_overhead_s")
GPU_ENERGY = ("pj_per_flop", "memory_pj_per_bit", "idle_w")
GPU_COST = ("price_per_gpu_hour",)
GPU_PLACE = ("count", "link")
GPU_OPTIONAL = ("name",) + GPU_CALIBRATION + GPU_ENERGY + GPU_COST
LINK_FIELDS = (("bytes_per_s", "latency_s"), ("pj_per_bit",))
CLUSTER_FIELDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "cluster": (("nodes", "gpus_per_node", "intra_node", "inter_node"), ()),
    "cluster.intra_node": LINK_FIELDS,
    "cluster.inter_node": LINK_FIELDS,
}


@dataclass(frozen=True)
class Gpu:
    """One GPU model: peak rates and their efficiency caps, calibration curves, per-kernel and
    per-step overheads, energies and idle power, memory. ``count`` and ``link`` place GPUs on an
    llm kind's interconnect; the other kinds place them with a :class:`Cluster`."""

    name: str
    peak_flop_per_s: float | Knob
    memory_bytes: float | Knob
    memory_bytes_per_s: float | Knob
    compute_efficiency: float | Knob
    memory_efficiency: float | Knob
    kernel_launch_s: float | Knob
    compute_half_tokens: float | Knob = 0.0      # calibration (0: flat caps); see dse.cost.roofline
    memory_half_bytes: float | Knob = 0.0
    step_overhead_s: float | Knob = 0.0
    pj_per_flop: float | Knob = 0.0
    memory_pj_per_bit: float | Knob = 0.0
    idle_w: float | Knob = 0.0
    count: int | Knob = 1
    price_per_gpu_hour: float | Knob = 0.0      # $ per GPU-hour (serving: $ per million output tokens); 0: none
    link: str = ""


@dataclass(frozen=True)
class Link:
    """A link GPUs (or PIM devices) talk over: per-direction bandwidth per device, latency per
    message (ring step), energy per bit on the wire."""

    name: str
    bytes_per_s: float | Knob
    latency_s: float | Knob
    pj_per_bit: float | Knob = 0.0


@dataclass(frozen=True)
class Cluster:
    """Nodes of ``gpus_per_node`` GPUs: groups inside a node talk over ``intra_node`` (NVLink),
    groups that span nodes over ``inter_node`` (each GPU's NIC)."""

    nodes: int | Knob
    gpus_per_node: int | Knob
    intra_node: Link
    inter_node: Link

    @property
    def gpus(self) -> int:
        return int(self.nodes) * int(self.gpus_per_node)


def gpu_fields(required: tuple[str, ...] = (), also: tuple[str, ...] = ()) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(required, optional) keys of a gpu section whose kind also requires ``required`` (fields of
    GPU_OPTIONAL or GPU_PLACE) and also accepts ``also`` (GPU_PLACE); the kinds' FIELDS tables use
    this, so README lists one form."""
    optional = tuple(k for k in GPU_OPTIONAL + also if k not in required)
    return GPU_REQUIRED + tuple(required), optional


def parse_gpu(node: Node, required: tuple[str, ...] = (), links: tuple[str, ...] = (),
              also: tuple[str, ...] = ()) -> Gpu:
    """A gpu section (see the module docstring); ``required``: the optional fields this kind needs
    (the llm kind: energies); ``also``: the placement fields it accepts (the llm kind: count and
    link, when no cluster section places the GPUs); ``links``: the link names ``link`` may name."""
    f = node.mapping(*gpu_fields(required, also))

    def opt(key: str, unit: str | None = None) -> float | Knob:
        return f[key].number(unit, allow_zero=True) if key in f else 0.0

    return Gpu(
        name=f["name"].name(knob=False) if "name" in f else "gpu",
        peak_flop_per_s=f["peak_flop_per_s"].number("flop_per_s"),
        memory_bytes=f["memory_bytes"].number("bytes"),
        memory_bytes_per_s=f["memory_bytes_per_s"].number("bytes_per_s"),
        compute_efficiency=f["compute_efficiency"].fraction(),
        memory_efficiency=f["memory_efficiency"].fraction(),
        kernel_launch_s=f["kernel_launch_s"].number("s", allow_zero=True),
        compute_half_tokens=opt("compute_half_tokens"),
        memory_half_bytes=opt("memory_half_bytes", "bytes"),
        step_overhead_s=opt("step_overhead_s", "s"),
        pj_per_flop=opt("pj_per_flop", "pj_per_flop"),
        memory_pj_per_bit=opt("memory_pj_per_bit", "pj_per_bit"),
        idle_w=opt("idle_w", "w"),
        count=f["count"].number(integer=True) if "count" in f else 1,
        link=f["link"].name(links, knob=False) if "link" in f else "",
        price_per_gpu_hour=f["price_per_gpu_hour"].number(allow_zero=True, high=1e5) if "price_per_gpu_hour" in f else 0.0,
    )


def parse_link(name: str, node: Node) -> Link:
    f = node.mapping(*LINK_FIELDS)
    return Link(name=name, bytes_per_s=f["bytes_per_s"].number("bytes_per_s"),
                latency_s=f["latency_s"].number("s", allow_zero=True),
                pj_per_bit=f["pj_per_bit"].number("pj_per_bit", allow_zero=True) if "pj_per_bit" in f else 0.0)


def parse_cluster(node: Node) -> Cluster:
    f = node.mapping(*CLUSTER_FIELDS["cluster"])
    return Cluster(nodes=f["nodes"].number(integer=True, high=100000),
                   gpus_per_node=f["gpus_per_node"].number(integer=True, high=1024),
                   intra_node=parse_link("intra_node", f["intra_node"]),
                   inter_node=parse_link("inter_node", f["inter_node"]))
