"""``dse knobs``: the design knobs of a workload x hardware pair, with the names `--set` takes."""

from __future__ import annotations


def knobs_report(workload_path: str, hardware_path: str, as_json: bool) -> None:
    """``dse knobs``: every knob of the pair with its short name, values and default."""
    import json

    from rich.console import Console
    from rich.table import Table

    from dse.search.space import Space
    from dse.spec.common import label_of
    from dse.spec.hardware import load_hardware
    from dse.spec.workload import load_workload
    from dse.system.base import kind_of

    workload, hardware = load_workload(workload_path), load_hardware(hardware_path)
    kind = kind_of(hardware)
    kind.check_pair(workload, hardware)
    space = Space.of(kind.knobs(workload, hardware))
    rows = []
    for name, knob in zip(space.names, space.knobs):
        if knob.choices is not None:
            values = {"choices": [label_of(c) for c in knob.choices]}
        else:
            values = {"min": knob.low, "max": knob.high, "log": knob.log, "integer": knob.integer}
        rows.append({"name": space.aliases[name], "full_name": name, **values, "default": label_of(knob.default)})
    if as_json:
        print(json.dumps({"kind": kind.name, "workload": workload.name, "hardware": hardware.name, "knobs": rows},
                         indent=2))
        return
    console = Console()
    if not rows:
        console.print(f"{workload.name} on {hardware.name}: no knobs (every field is fixed)")
        return
    table = Table(title=f"knobs of {workload.name} on {hardware.name} ({kind.name})")
    table.add_column("name (--set)", no_wrap=True)
    table.add_column("values")
    table.add_column("default", no_wrap=True)
    table.add_column("full name (Parquet param.)", overflow="fold")
    for r in rows:
        if "choices" in r:
            values = ", ".join(str(c) for c in r["choices"])
        else:
            values = f"{r['min']:g} .. {r['max']:g}" + (" (log)" if r["log"] else "") + (" integer" if r["integer"] else "")
        table.add_row(r["name"], values, str(r["default"]), r["full_name"])
    console.print(table)
    console.print("--set NAME=VALUE takes any value the field accepts (a warning when outside these values)")
