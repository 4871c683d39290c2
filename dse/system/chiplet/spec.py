"""Chiplet hardware spec (kind ``chiplet``): chiplets on a package mesh with shared DRAM.

YAML layout (units in field names; see README "Hardware spec")::

    name: mcm4_hetero
    chiplets:
      - name: ws0
        pe_array: [64, 64]            # rows, cols
        dataflow: weight_stationary   # or output_stationary, row_stationary, or {rows, cols, stationary}
        unrolling: fixed              # or flexible: each op takes its family's best spatial unrolling
        accumulator_bits: 32          # partial-sum width (default max(32, precision))
        pe_static_w: 10.7 uW          # leakage per PE (default 0: dynamic energy only)
        sram_static_w_per_mb: 56.4 mW # leakage per MB of SRAM: every PE's L1 plus the L2 (default 0)
        l1_bytes: 256                 # per PE
        l2_bytes: 10 MiB
        clock_hz: 500 MHz
        onchip_bytes_per_cycle: 256   # L2 <-> PE array
        mac_pj: 0.23
        l1_pj: 0.3864
        l2_pj: 4.2803
        position: [0, 0]              # (x, y) on the mesh
    network: {mesh: [2, 2], link_bytes_per_s: 100 GB/s, link_pj_per_bit: 2.04, hop_latency_s: 35 ns}
    dram: {bytes_per_s: 64 GB/s, pj_per_bit: 14.8, latency_s: 200 ns}
    system: {pipelining: true}
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from dse.errors import DseError
from dse.spec.common import Knob, Node

# Loop dims of the einsum-style op (see dse.spec.workload); spatial unrolling names these.
LOOP_DIMS = ("N", "K", "C", "Y", "X", "R", "S")
STATIONARY = ("weight", "output", "input")

# Named dataflow presets: (rows-axis dims, cols-axis dims, stationary operand).
#  weight_stationary  NVDLA-like: output channels K down the rows, input channels C across the
#                     columns, weights held in the PEs (MAESTRO's NVDLA template: K x C spatial).
#  output_stationary  Shidiannao-like: output rows Y x output columns X, partial sums held in the PEs.
#  row_stationary     Eyeriss-like: filter rows R x output rows Y, filter rows held in the PEs
#                     (MAESTRO's template without Eyeriss's replication of extra channels).
DATAFLOW_PRESETS: dict[str, tuple[tuple[str, ...], tuple[str, ...], str]] = {
    "weight_stationary": (("K",), ("C",), "weight"),
    "output_stationary": (("Y",), ("X",), "output"),
    "row_stationary": (("R",), ("Y",), "weight"),
}
UNROLLINGS = ("fixed", "flexible")

# What a flexible array may choose per op, by dataflow family (rows-axis dims, cols-axis dims), the
# family's own preset first. The rule behind each list (ZigZag's spatial-mapping search, limited to
# the unrollings the family's interconnect supports):
#  output-stationary  both axes unroll output dims (N K Y X): each PE owns distinct outputs and
#                     accumulates in place (no spatial reduction). "Y+X+N" is the token/pixel plane
#                     flattened onto one axis (tokens x K for a GEMM).
#  weight-stationary  both axes unroll weight dims (K C R S): each PE holds distinct weights;
#                     C, R, S across an axis reduce through its adder tree (NVDLA's C x K, plus
#                     R and S for few-channel layers such as a 3-channel stem).
#  row-stationary     filter rows (R, and channels C replicated) down the rows, output rows (Y,
#                     and filters K replicated) across the columns, as Eyeriss maps its PE sets.
#  input-stationary   (custom dataflows only) channels C on one axis, the pixel plane on the other.
FAMILY_UNROLLINGS: dict[str, tuple[tuple[tuple[str, ...], tuple[str, ...]], ...]] = {
    "output_stationary": ((("Y",), ("X",)), (("X",), ("Y",)), (("Y",), ("K",)), (("K",), ("Y",)),
                          (("Y", "X", "N"), ("K",)), (("K",), ("Y", "X", "N"))),
    "weight_stationary": ((("K",), ("C",)), (("C",), ("K",)), (("K",), ("C", "R", "S")),
                          (("C", "R", "S"), ("K",))),
    "row_stationary": ((("R",), ("Y",)), (("R", "C"), ("Y",)), (("R",), ("Y", "K")), (("R", "C"), ("Y", "K"))),
    "input_stationary": ((("C",), ("Y", "X", "N")), (("Y", "X", "N"), ("C",))),
}
FAMILY_OF_STATIONARY = {"weight": "weight_stationary", "output": "output_stationary", "input": "input_stationary"}


@dataclass(frozen=True)
class Dataflow:
    """Spatial unrolling: loop dims mapped onto the PE array's rows and columns, and which operand
    stays in the PEs while the others stream. Several dims on one axis fill it in order."""

    name: str
    rows: tuple[str, ...]
    cols: tuple[str, ...]
    stationary: str

    @property
    def label(self) -> str:
        return self.name

    @property
    def family(self) -> str:
        """The preset's name, or the family of the stationary operand for a custom unrolling."""
        return self.name if self.name in DATAFLOW_PRESETS else FAMILY_OF_STATIONARY[self.stationary]

    def candidates(self, unrolling: str) -> tuple[tuple[tuple[str, ...], tuple[str, ...]], ...]:
        """Spatial unrollings the array may use: its own, then (flexible) the rest of its family's."""
        own = (self.rows, self.cols)
        if unrolling == "fixed":
            return (own,)
        return (own,) + tuple(u for u in FAMILY_UNROLLINGS[self.family] if u != own)


@dataclass(frozen=True)
class Chiplet:
    name: str
    pe_array: tuple[int, int] | Knob
    dataflow: Dataflow | Knob
    l1_bytes: float | Knob
    l2_bytes: float | Knob
    clock_hz: float | Knob
    onchip_bytes_per_cycle: float | Knob
    mac_pj: float | Knob
    l1_pj: float | Knob
    l2_pj: float | Knob
    position: tuple[int, int]
    unrolling: str | Knob = "fixed"
    accumulator_bits: int | None = None      # None: max(32, the op's precision)
    pe_static_w: float | Knob = 0.0          # leakage per PE (W)
    sram_static_w_per_mb: float | Knob = 0.0     # leakage per 10^6 bytes of SRAM, L1 and L2 (W)

    @property
    def static_w(self) -> float:
        """Leakage of the chiplet (resolved specs only)::

            P_static = n_pe * (pe_static_w + l1_bytes / 1e6 * sram_static_w_per_mb)
                       + l2_bytes / 1e6 * sram_static_w_per_mb
        """
        n_pe = self.pe_array[0] * self.pe_array[1]
        sram_mb = (n_pe * self.l1_bytes + self.l2_bytes) / 1e6
        return n_pe * self.pe_static_w + sram_mb * self.sram_static_w_per_mb


@dataclass(frozen=True)
class Network:
    mesh: tuple[int, int]
    link_bytes_per_s: float | Knob
    link_pj_per_bit: float | Knob
    hop_latency_s: float | Knob


@dataclass(frozen=True)
class Dram:
    bytes_per_s: float | Knob
    pj_per_bit: float | Knob
    latency_s: float | Knob


@dataclass(frozen=True)
class System:
    pipelining: bool | Knob = True


@dataclass(frozen=True)
class ChipletHardware:
    kind: ClassVar[str] = "chiplet"
    name: str
    source: str
    chiplets: tuple[Chiplet, ...]
    network: Network
    dram: Dram
    system: System


# Every field the loader accepts, by section (required, optional); README's tables list the same.
FIELDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "": (("name", "chiplets", "dram"), ("kind", "network", "system", "description")),
    "chiplets[]": (("name", "pe_array", "dataflow", "l1_bytes", "l2_bytes", "clock_hz", "onchip_bytes_per_cycle",
                    "mac_pj", "l1_pj", "l2_pj"), ("position", "unrolling", "accumulator_bits", "pe_static_w",
                                                           "sram_static_w_per_mb")),
    "chiplets[].dataflow": (("rows", "cols", "stationary"), ("name",)),
    "network": (("mesh", "link_bytes_per_s", "link_pj_per_bit"), ("hop_latency_s",)),
    "dram": (("bytes_per_s", "pj_per_bit"), ("latency_s",)),
    "system": ((), ("pipelining",)),
}


def parse(root: Node) -> ChipletHardware:
    top = root.mapping(*FIELDS[""])
    name = top["name"].name(knob=False)
    chiplet_nodes = top["chiplets"].sequence(min_len=1)
    network = _network(top.get("network"), root, len(chiplet_nodes))
    chiplets = tuple(_chiplet(node, i, network.mesh) for i, node in enumerate(chiplet_nodes))
    names = [c.name for c in chiplets]
    for i, chiplet in enumerate(chiplets):
        if names.index(chiplet.name) != i:
            raise chiplet_nodes[i].child("name", chiplet.name).fail("a chiplet name used only once")
        if chiplet.position in [c.position for c in chiplets[:i]]:
            raise chiplet_nodes[i].child("position", list(chiplet.position)).fail(
                "a mesh position no other chiplet uses")
    dram_f = top["dram"].mapping(*FIELDS["dram"])
    dram = Dram(
        bytes_per_s=dram_f["bytes_per_s"].number("bytes_per_s"),
        pj_per_bit=dram_f["pj_per_bit"].number("pj_per_bit", allow_zero=True),
        latency_s=dram_f["latency_s"].number("s", allow_zero=True) if "latency_s" in dram_f else 0.0,
    )
    system = System()
    if "system" in top:
        sys_f = top["system"].mapping(*FIELDS["system"])
        if "pipelining" in sys_f:
            system = System(pipelining=sys_f["pipelining"].boolean())
    return ChipletHardware(name=name, source=root.source, chiplets=chiplets, network=network,
                        dram=dram, system=system)


def _network(node: Node | None, root: Node, n_chiplets: int) -> Network:
    if node is None:
        if n_chiplets > 1:
            raise DseError(root.source, "network", "a network section when there is more than one chiplet")
        return Network(mesh=(1, 1), link_bytes_per_s=1.0, link_pj_per_bit=0.0, hop_latency_s=0.0)
    f = node.mapping(*FIELDS["network"])
    mesh = _int_pair(f["mesh"], "mesh [columns, rows] of positive integers")
    if mesh[0] * mesh[1] < n_chiplets:
        raise f["mesh"].fail(f"a mesh with at least {n_chiplets} positions (one per chiplet)")
    return Network(
        mesh=mesh,
        link_bytes_per_s=f["link_bytes_per_s"].number("bytes_per_s"),
        link_pj_per_bit=f["link_pj_per_bit"].number("pj_per_bit", allow_zero=True),
        hop_latency_s=f["hop_latency_s"].number("s", allow_zero=True) if "hop_latency_s" in f else 0.0,
    )


def _chiplet(node: Node, index: int, mesh: tuple[int, int]) -> Chiplet:
    given = node.value.get("name") if isinstance(node.value, dict) else None
    if isinstance(given, str) and given.strip():
        # Paths (errors and knob names) use the chiplet's name: chiplets.ws0.l2_bytes.
        node = Node(node.value, node.source, f"chiplets.{given}")
    f = node.mapping(*FIELDS["chiplets[]"])
    name = f["name"].name(knob=False)
    if "position" in f:
        position = _int_pair(f["position"], "position [x, y] of integers >= 0", allow_zero=True)
    else:
        position = (index % mesh[0], index // mesh[0])
    if position[0] >= mesh[0] or position[1] >= mesh[1]:
        raise f.get("position", node).fail(f"a position inside the {mesh[0]}x{mesh[1]} mesh", list(position))
    pe = f["pe_array"]
    if isinstance(pe.value, dict):
        pe_array = pe._knob(lambda n: _int_pair(n, "pe_array [rows, cols] of positive integers", high=MAX_PE_SIDE),
                            False)
    else:
        pe_array = _int_pair(pe, "pe_array [rows, cols] of positive integers", high=MAX_PE_SIDE)
    return Chiplet(
        name=name,
        pe_array=pe_array,
        dataflow=_dataflow(f["dataflow"]),
        l1_bytes=f["l1_bytes"].number("bytes"),
        l2_bytes=f["l2_bytes"].number("bytes"),
        clock_hz=f["clock_hz"].number("hz"),
        onchip_bytes_per_cycle=f["onchip_bytes_per_cycle"].number("bytes_per_cycle"),
        mac_pj=f["mac_pj"].number("pj", allow_zero=True),
        l1_pj=f["l1_pj"].number("pj", allow_zero=True),
        l2_pj=f["l2_pj"].number("pj", allow_zero=True),
        position=position,
        unrolling=f["unrolling"].name(UNROLLINGS) if "unrolling" in f else "fixed",
        accumulator_bits=(f["accumulator_bits"].number(integer=True, knob=False, high=128)
                          if "accumulator_bits" in f else None),
        pe_static_w=f["pe_static_w"].number("w", allow_zero=True, high=10.0) if "pe_static_w" in f else 0.0,
        sram_static_w_per_mb=(f["sram_static_w_per_mb"].number("w", allow_zero=True, high=100.0)
                              if "sram_static_w_per_mb" in f else 0.0),
    )


def _dataflow(node: Node) -> Dataflow | Knob:
    if isinstance(node.value, dict) and "choices" in node.value:
        return node._knob(lambda n: _dataflow_one(n), False)
    return _dataflow_one(node)


def _dataflow_one(node: Node) -> Dataflow:
    if isinstance(node.value, str):
        preset = node.name(tuple(DATAFLOW_PRESETS), knob=False)
        rows, cols, stationary = DATAFLOW_PRESETS[preset]
        return Dataflow(preset, rows, cols, stationary)
    f = node.mapping(*FIELDS["chiplets[].dataflow"])
    axes = []
    for key in ("rows", "cols"):
        dims = f[key].value if isinstance(f[key].value, list) else [f[key].value]
        if not dims or len(dims) > 3 or any(d not in LOOP_DIMS for d in dims):
            raise f[key].fail(f"one to three loop dims from {list(LOOP_DIMS)}")
        axes.append(tuple(dims))
    if set(axes[0]) & set(axes[1]) or len(set(axes[0])) != len(axes[0]) or len(set(axes[1])) != len(axes[1]):
        raise f["cols"].fail("loop dims used at most once across rows and cols")
    stationary = f["stationary"].name(STATIONARY, knob=False)
    label = f["name"].name(knob=False) if "name" in f else f"{'+'.join(axes[0])}x{'+'.join(axes[1])}-{stationary}"
    return Dataflow(label, axes[0], axes[1], stationary)


MAX_PE_SIDE = 65536        # PE-array rows or columns (a 64k x 64k array is already wafer scale)


def _int_pair(node: Node, expected: str, allow_zero: bool = False, high: int = 1024) -> tuple[int, int]:
    value = node.value
    ok = (isinstance(value, list) and len(value) == 2
          and all(isinstance(v, int) and not isinstance(v, bool) and (v > 0 or allow_zero and v == 0)
                  for v in value))
    if not ok:
        raise node.fail(expected)
    if max(value) > high:
        raise node.fail(f"{expected}, each at most {high}")
    return (value[0], value[1])
