"""``dse evaluate``: one design point, its metrics and per-op breakdown (JSON contract in README)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from dse.errors import DseError
from dse.spec.common import resolve
from dse.spec.hardware import load_hardware
from dse.spec.workload import load_workload

MAPPING_FROM_OPTIMISER = "inner optimiser, best throughput (objective weight 0)"


def parse_sets(space, assignments: list[str]) -> dict[str, Any]:
    """``NAME=VALUE`` overrides for knobs: VALUE is a choice's label (``64x64``, ``true``,
    ``weight_stationary``) or a number inside a {min, max} range."""
    from dse.search.study import label_of

    values: dict[str, Any] = {}
    for text in assignments:
        name, sep, raw = text.partition("=")
        if not sep or name not in space.names:
            raise DseError("--set", name or text, f"NAME=VALUE with NAME one of {list(space.names)}", text)
        knob = space.knobs[space.names.index(name)]
        if knob.choices is not None:
            labels = [str(label_of(c)).lower() for c in knob.choices]
            if raw.strip().lower() not in labels:
                raise DseError("--set", name, f"one of {labels}", raw)
            values[knob.path] = knob.choices[labels.index(raw.strip().lower())]
        else:
            try:
                number = float(raw)
            except ValueError:
                raise DseError("--set", name, f"a number in [{knob.low}, {knob.high}]", raw) from None
            if not knob.low <= number <= knob.high or knob.integer and number != int(number):
                raise DseError("--set", name, f"{'an integer' if knob.integer else 'a number'} in [{knob.low}, {knob.high}]", raw)
            values[knob.path] = int(number) if knob.integer else number
    return values


def evaluate_point(workload_path: str, hardware_path: str, mapping_path: Path | None,
                   sets: list[str]) -> dict:
    import numpy as np

    from dse.search.study import Space, label_of
    from dse.spec.common import load_yaml
    from dse.system import design

    workload = load_workload(workload_path)
    hardware = load_hardware(hardware_path)
    space = Space.of(workload, hardware)
    values = parse_sets(space, sets)
    wl_vals, hw_vals = space.split(values)
    point = design.build(resolve(workload, wl_vals), resolve(hardware, hw_vals))
    if mapping_path is not None:
        assign = design.decode_mapping(point, load_yaml(mapping_path).value, str(mapping_path))
        source = str(mapping_path)
    else:
        assigns, _, _ = design.optimise(point, (0.0,))
        assign = np.asarray(assigns[0])
        source = MAPPING_FROM_OPTIMISER
    metrics = design.metrics_of(point, assign)
    params = {name: label_of(values.get(k.path, k.default)) for name, k in zip(space.names, space.knobs)}
    return {
        "workload": workload.name,
        "hardware": hardware.name,
        "params": params,
        "mapping": design.encode_mapping(point, assign),
        "mapping_source": source,
        **{k: (v if isinstance(v, bool) else float(v)) for k, v in metrics.items()},
        "per_op": design.per_op(point, assign),
    }


def render(result: dict, as_json: bool) -> None:
    if as_json:
        print(json.dumps(result, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    console = Console()
    table = Table(title=f"{result['workload']} on {result['hardware']}", show_lines=False)
    for col, justify in (("op", "left"), ("model", "left"), ("chiplet", "left"), ("x", "right"),
                         ("cycles", "right"), ("latency µs", "right"), ("energy µJ", "right"),
                         ("util", "right"), ("bound", "left")):
        table.add_column(col, justify=justify)
    for row in result["per_op"]:
        table.add_row(row["name"], row["model"], row["chiplet"], str(row["count"]), f"{row['cycles']:,}",
                      f"{row['latency_s'] * 1e6:,.1f}", f"{row['energy_j'] * 1e6:,.1f}",
                      f"{row['utilization']:.3f}", row["bound"])
    console.print(table)
    params = ", ".join(f"{k}={v}" for k, v in result["params"].items()) or "(no knobs)"
    console.print(f"knobs: {params}")
    console.print(f"mapping ({result['mapping_source']}): {result['mapping']}")
    utils = "  ".join(f"{k.removeprefix('utilization_')} {v:.3f}" for k, v in result.items()
                      if k.startswith("utilization_"))
    console.print(
        f"throughput {result['throughput_per_s']:.4g} frames/s   latency {result['latency_s'] * 1e3:.4g} ms   "
        f"energy {result['energy_j'] * 1e3:.4g} mJ/frame   EDP {result['edp_js']:.4g} J·s\n"
        f"DRAM {result['dram_bytes'] / 1e6:.4g} MB/frame   NoP {result['nop_bytes'] / 1e6:.4g} MB/frame   "
        f"pipelining {result['pipelining']}   utilisation: {utils}")
