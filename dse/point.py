"""``dse evaluate``: one design point in full — its metrics and per-op breakdown (JSON contract in
README). The system kind (from the registry) builds the point, picks or reads the mapping, and
renders it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from dse.errors import DseError


def parse_sets(space, assignments: list[str]) -> dict[str, Any]:
    """``NAME=VALUE`` overrides for knobs: VALUE is a choice's label (``64x64``, ``true``,
    ``weight_stationary``) or a number inside a {min, max} range."""
    from dse.spec.common import label_of

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
    """The `--json` object: ``kind``, ``workload``, ``hardware``, ``params`` and the kind's detail."""
    from dse.search.space import Space
    from dse.spec.common import resolve
    from dse.spec.hardware import load_hardware
    from dse.spec.workload import load_workload
    from dse.system.base import kind_of

    workload = load_workload(workload_path)
    hardware = load_hardware(hardware_path)
    kind = kind_of(hardware)
    kind.check_pair(workload, hardware)
    space = Space.of(kind.knobs(workload, hardware))
    values = parse_sets(space, sets)
    wl_vals, hw_vals = space.split(values)
    point = kind.build(resolve(workload, wl_vals), resolve(hardware, hw_vals))
    return {"kind": kind.name, "workload": workload.name, "hardware": hardware.name,
            "params": space.labels(values), **kind.detail(point, mapping_path)}


def render(result: dict, as_json: bool) -> None:
    if as_json:
        print(json.dumps(result, indent=2))
        return
    from rich.console import Console

    from dse.system.base import kind_named

    kind_named(result["kind"]).render(Console(), result)
