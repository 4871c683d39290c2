"""A chiplet design point: resolved specs -> IR -> cost table -> mapping metrics, with named fields.

This is the Python face of the chiplet kind; the work happens in dse.cost.dataflow (cost table)
and dse.system.chiplet.kernels (frame cost, inner optimiser).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dse.cost.dataflow import BOUNDS, COL, cost_table
from dse.errors import DseError
from dse.system.chiplet.spec import ChipletHardware
from dse.spec.workload import WorkloadSpec
from dse.system.chiplet import kernels
from dse.system.chiplet.ir import (ChipletsTable, NetworkTable, OpsTable, compile_chiplets, compile_network,
                                   compile_ops, output_bytes)

# Objective weights of the inner optimiser: 0 = fastest frame, 1 = least energy per frame.
DEFAULT_WEIGHTS = (0.0, 0.25, 0.5, 0.75, 1.0)


@dataclass(frozen=True)
class DesignPoint:
    """A resolved chiplet design: IR tables, the op x chiplet cost table and the kernels' frame."""

    ops: OpsTable
    chiplets: ChipletsTable
    network: NetworkTable
    table: np.ndarray            # [n_ops, n_chiplets, N_COLS] (dse.cost.dataflow.COLUMNS)
    frame: kernels.Frame

    @property
    def macs(self) -> np.ndarray:
        """MACs of one inference of each op (the same on every chiplet)."""
        return self.table[:, 0, COL["macs"]]


def build(workload: WorkloadSpec, hardware: ChipletHardware) -> DesignPoint:
    """Compile resolved specs (no knobs left) and compute the op x chiplet cost table."""
    ops = compile_ops(workload)
    chiplets = compile_chiplets(hardware)
    network = compile_network(hardware)
    table = cost_table(ops.arrays, chiplets.arrays, network.dram)
    frame = kernels.Frame(
        time=np.ascontiguousarray(table[:, :, COL["latency_s"]]),
        energy=np.ascontiguousarray(table[:, :, COL["energy_j"]]),
        dram=np.ascontiguousarray(table[:, :, COL["dram_bytes"]]),
        out_bytes=output_bytes(ops), mult=ops.mult, model=ops.model, first=ops.arrays.first,
        n_models=len(ops.model_names), pos=network.pos, mesh_cols=network.mesh[0], mesh_rows=network.mesh[1],
        link_bytes_per_s=network.link_bytes_per_s, link_pj_per_bit=network.link_pj_per_bit,
        hop_latency_s=network.hop_latency_s, dram_bytes_per_s=network.dram.bytes_per_s,
        pipelining=network.pipelining, static_w=float(sum(c.static_w for c in hardware.chiplets)),
    )
    return DesignPoint(ops, chiplets, network, table, frame)


def metrics_of(point: DesignPoint, assign: np.ndarray, raw: np.ndarray | None = None) -> dict:
    """Named frame metrics of a mapping (the JSON / Parquet contract; see README)."""
    if raw is None:
        raw = np.zeros(kernels.N_METRICS)
        kernels.frame_cost(assign, point.frame, kernels.scratch(point.frame), raw)
    period, latency, energy = raw[kernels.M_PERIOD], raw[kernels.M_LATENCY], raw[kernels.M_ENERGY]
    macs_on = np.zeros(point.chiplets.n)
    np.add.at(macs_on, assign, point.macs * point.ops.mult)
    rows = point.table[np.arange(point.ops.n), assign]
    overflow = rows[:, COL["l2_overflow_bytes"]]
    part = lambda col: float((rows[:, COL[col]] * point.ops.mult).sum())  # noqa: E731
    out = {
        "throughput_per_s": 1.0 / period,
        "latency_s": latency,
        "energy_j": energy,
        "edp_js": energy * latency,
        "period_s": period,
        "dram_bytes": raw[kernels.M_DRAM],
        "nop_bytes": raw[kernels.M_NOP_BYTES],
        "nop_energy_j": raw[kernels.M_NOP_J],
        "mac_energy_j": part("mac_j"),
        "l1_energy_j": part("l1_j"),
        "l2_energy_j": part("l2_j"),
        "dram_energy_j": part("dram_j"),
        "static_energy_j": raw[kernels.M_STATIC_J],
        "macs": float((point.macs * point.ops.mult).sum()),
        "l2_overflow_bytes": float(overflow.max()),
        "pipelining": bool(point.network.pipelining),
    }
    peak = point.chiplets.peak_macs_per_s
    for c, name in enumerate(point.chiplets.names):
        out[f"utilization_{name}"] = macs_on[c] / (period * peak[c])
    return out


def per_op(point: DesignPoint, assign: np.ndarray) -> list[dict]:
    rows = []
    for i, name in enumerate(point.ops.names):
        c = int(assign[i])
        t = point.table[i, c]
        rows.append({
            "name": name,
            "model": point.ops.model_names[point.ops.model[i]],
            "chiplet": point.chiplets.names[c],
            "count": int(point.ops.mult[i]),
            "macs": int(t[COL["macs"]]),
            "cycles": int(t[COL["compute_cycles"]]),
            "latency_s": float(t[COL["latency_s"]]),
            "energy_j": float(t[COL["energy_j"]]),
            "utilization": float(t[COL["utilization"]]),
            "onchip_bytes": float(t[COL["onchip_bytes"]]),
            "dram_bytes": float(t[COL["dram_bytes"]]),
            "bound": BOUNDS[int(t[COL["bound"]])],
            "unrolling": point.chiplets.unrolling_labels[c][int(t[COL["unrolling"]])],
            "l2_blocks": int(t[COL["l2_blocks"]]),
        })
    return rows


EXHAUSTIVE_LIMIT = 4096


DEFAULT_EFFORT = kernels.Effort(iterations=40, sweeps=100_000, kicks=60, seed=0, patience=8)


def optimise(point: DesignPoint, weights=DEFAULT_WEIGHTS, effort: kernels.Effort = DEFAULT_EFFORT,
             hints: np.ndarray | None = None):
    """Best mappings per objective weight: (assignments [w, n], raw metrics [w, N_METRICS], evaluated).

    Exhaustive (kernels.brute_force) when there are at most EXHAUSTIVE_LIMIT mappings, else the
    heuristic kernels.optimise (Lagrangian chain DP + local search + iterated kicks), which also
    starts from the rows of ``hints`` (mappings of the same ops and chiplets), if given."""
    w = np.asarray(weights, dtype=np.float64)
    frame = point.frame
    n, c = frame.time.shape
    if c ** n > EXHAUSTIVE_LIMIT:
        hints = np.zeros((0, n), dtype=np.int64) if hints is None else np.asarray(hints, dtype=np.int64).reshape(-1, n)
        return kernels.optimise(frame, w, effort, hints)
    sc = kernels.scratch(frame)
    raw = np.zeros(kernels.N_METRICS)
    kernels.frame_cost(kernels.fastest_mapping(frame), frame, sc, raw)
    assigns, _ = kernels.brute_force(frame, w, raw[kernels.M_PERIOD], raw[kernels.M_ENERGY])
    metrics = np.zeros((len(w), kernels.N_METRICS))
    for k, assign in enumerate(assigns):
        kernels.frame_cost(assign, frame, sc, metrics[k])
    return assigns, metrics, c ** n


# --- mapping text: "model=chiplet*count,chiplet*count;model=..." --------------------------------

def encode_mapping(point: DesignPoint, assign: np.ndarray) -> str:
    """Run-length text of a mapping, e.g. ``gpt2=ws0*40,ws1*33;resnet50=os0*54``."""
    parts = []
    for m, model in enumerate(point.ops.model_names):
        idx = np.flatnonzero(point.ops.model == m)
        runs: list[list] = []
        for i in idx:
            name = point.chiplets.names[assign[i]]
            if runs and runs[-1][0] == name:
                runs[-1][1] += 1
            else:
                runs.append([name, 1])
        parts.append(model + "=" + ",".join(f"{n}*{k}" for n, k in runs))
    return ";".join(parts)


def decode_mapping(point: DesignPoint, spec: dict, source: str) -> np.ndarray:
    """A mapping from a YAML mapping file: ``{mapping: {model: VALUE}}`` where VALUE is a chiplet
    name (the whole model), a list of chiplet names (one per op) or run-length text
    ``ws0*12,os1*61``. Every model must be mapped, with exactly one chiplet per op."""
    if not isinstance(spec, dict) or set(spec) != {"mapping"} or not isinstance(spec["mapping"], dict):
        shape = (f"keys {sorted(map(str, spec))[:8]}" if isinstance(spec, dict) else
                 f"a {type(spec).__name__}, not a mapping")    # never the file's text: it may be any file
        raise DseError(source, "", "a mapping file {mapping: {model: chiplets}}", shape)
    given = spec["mapping"]
    names = point.chiplets.names
    assign = np.zeros(point.ops.n, dtype=np.int64)
    for key in given:
        if key not in point.ops.model_names:
            raise DseError(source, f"mapping.{key}", f"a model of the workload {list(point.ops.model_names)}", key)
    for m, model in enumerate(point.ops.model_names):
        path = f"mapping.{model}"
        if model not in given:
            raise DseError(source, path, "a chiplet assignment for every model (missing)")
        idx = np.flatnonzero(point.ops.model == m)
        value = given[model]
        if isinstance(value, str) and value in names:
            chips = [value] * len(idx)
        elif isinstance(value, str):
            chips = []
            for run in value.split(","):
                name, _, count = run.strip().partition("*")
                if name not in names or not count.isdigit() or int(count) < 1:
                    raise DseError(source, path, f"runs 'chiplet*count' with chiplets from {list(names)}", run)
                chips += [name] * int(count)
        elif isinstance(value, list):
            chips = value
        else:
            raise DseError(source, path, "a chiplet name, a list of names or 'chiplet*count,...' text", value)
        if len(chips) != len(idx):
            raise DseError(source, path, f"{len(idx)} op assignments (the model has {len(idx)} ops)", len(chips))
        for k, (i, chip) in enumerate(zip(idx, chips)):
            if chip not in names:
                raise DseError(source, f"{path}[{k}]", f"a chiplet of the hardware {list(names)}", chip)
            assign[i] = names.index(chip)
    return assign
