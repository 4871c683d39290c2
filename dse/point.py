"""``dse evaluate``: one design point in full — its metrics and per-op breakdown (JSON contract in
README). The system kind (from the registry) builds the point, picks or reads the mapping, and
renders it."""

from __future__ import annotations

import json
import math
import re
import sys
from pathlib import Path
from typing import Any

from dse.errors import MODEL_FAILURES, DseError, model_failure


def parse_sets(space, assignments: list[str], warn=None) -> dict[str, Any]:
    """``NAME=VALUE`` overrides for knobs. NAME is a knob's full name (``wl.models[0].transformer.batch``),
    the same without ``wl.``/``hw.``, or its alias (``batch``; ``dse knobs`` lists them). VALUE is a
    choice's label (``64x64``, ``true``, ``weight_stationary``) or any value the field accepts (YAML
    syntax, ``AxB`` for an array shape), checked like the spec field; a value outside the study's
    choices or range is used and reported through ``warn``."""
    import yaml

    from dse.spec.common import Node, label_of

    values: dict[str, Any] = {}
    for text in assignments:
        given, sep, raw = text.partition("=")
        name = space.named(given.strip()) if sep else None
        if name is None:
            aliases = list(space.aliases.values())
            which = (f"a knob ({', '.join(aliases)}; `dse knobs WORKLOAD HARDWARE` lists them)" if aliases else
                     "a knob (these specs have none: give a field a search range, e.g. {choices: [...]}, to vary it)")
            raise DseError("--set", given or text, f"NAME=VALUE with NAME {which}", text)
        knob = space.knobs[space.names.index(name)]
        if knob.choices is not None:
            labels = [str(label_of(c)).lower() for c in knob.choices]
            if raw.strip().lower() in labels:
                values[knob.path] = knob.choices[labels.index(raw.strip().lower())]
                continue
        shape = re.fullmatch(r"\s*(\d+)\s*x\s*(\d+)\s*", raw)
        try:
            data = [int(shape.group(1)), int(shape.group(2))] if shape else yaml.safe_load(raw)
        except yaml.YAMLError:
            data = raw
        if knob.parse is None:
            raise DseError("--set", name, "one of the knob's choices", raw)
        value = knob.parse(Node(data, "--set", name))
        inside = (knob.choices is not None and value in knob.choices) or (
            knob.choices is None and knob.low <= value <= knob.high)
        if not inside and warn is not None:
            space_text = (f"choices {[label_of(c) for c in knob.choices]}" if knob.choices is not None
                          else f"range [{knob.low}, {knob.high}]")
            warn(f"--set {given.strip()}={raw.strip()}: outside the study's {space_text} (used anyway)")
        values[knob.path] = value
    return values


def evaluate_point(workload_path: str, hardware_path: str, mapping_path: Path | None,
                   sets: list[str], plain_python: bool = False) -> dict:
    """The `--json` object: ``kind``, ``workload``, ``hardware``, ``params`` and the kind's detail.
    ``plain_python`` (the CLI, one design per process): where the kind's ``plain_python_for`` says
    so, the kernels run interpreted in this process, when no kernel has been loaded yet."""
    from dse.search.space import Space
    from dse.spec.common import resolve
    from dse.spec.hardware import load_hardware
    from dse.spec.workload import load_workload
    from dse.system.base import kind_of

    workload = load_workload(workload_path)
    hardware = load_hardware(hardware_path)
    kind = kind_of(hardware)
    if plain_python and kind.plain_python_for(hardware, mapping_path is not None):   # before any kernel import
        from dse.jit import use_plain_python

        use_plain_python()
    kind.check_pair(workload, hardware)
    space = Space.of(kind.knobs(workload, hardware))
    values = parse_sets(space, sets, warn=lambda text: print(f"dse: warning: {text}", file=sys.stderr))
    wl_vals, hw_vals = space.split(values)
    try:
        point = kind.build(resolve(workload, wl_vals), resolve(hardware, hw_vals))
        detail = kind.detail(point, mapping_path)
    except MODEL_FAILURES as exc:
        raise DseError("--set" if sets else hardware_path, "", "a design the model can evaluate",
                       model_failure(exc)) from None
    return {"kind": kind.name, "workload": workload.name, "hardware": hardware.name,
            "params": space.labels(values), **detail}


def strict(value: Any) -> Any:
    """``value`` with every non-finite float (NaN, inf) replaced by None, so that ``json.dumps``
    writes strict JSON (null) that every parser reads."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: strict(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [strict(v) for v in value]
    return value


def render(result: dict, as_json: bool, full: bool = False) -> None:
    if as_json:
        print(json.dumps(strict(result), indent=2, allow_nan=False))
        return
    from rich.console import Console

    from dse.system.base import kind_named

    kind_named(result["kind"]).render(Console(), result, full)
