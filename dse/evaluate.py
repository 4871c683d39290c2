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

    from dse.system import evaluators

    workload = load_workload(workload_path)
    hardware = load_hardware(hardware_path)
    evaluators.check_pair(workload, hardware)
    space = Space.of(workload, hardware)
    values = parse_sets(space, sets)
    wl_vals, hw_vals = space.split(values)
    params = {name: label_of(values.get(k.path, k.default)) for name, k in zip(space.names, space.knobs)}
    if evaluators.is_llm(hardware):
        if mapping_path is not None:
            raise DseError("--mapping", str(mapping_path), "no mapping file for GPU/PIM hardware "
                           "(set parallel degrees with --set or in the spec)")
        return _evaluate_llm(resolve(workload, wl_vals), resolve(hardware, hw_vals), workload.name,
                             hardware.name, params)
    point = design.build(resolve(workload, wl_vals), resolve(hardware, hw_vals))
    if mapping_path is not None:
        assign = design.decode_mapping(point, load_yaml(mapping_path).value, str(mapping_path))
        source = str(mapping_path)
    else:
        assigns, _, _ = design.optimise(point, (0.0,))
        assign = np.asarray(assigns[0])
        source = MAPPING_FROM_OPTIMISER
    metrics = design.metrics_of(point, assign)
    return {
        "workload": workload.name,
        "hardware": hardware.name,
        "params": params,
        "mapping": design.encode_mapping(point, assign),
        "mapping_source": source,
        **{k: (v if isinstance(v, bool) else float(v)) for k, v in metrics.items()},
        "per_op": design.per_op(point, assign),
    }


PARALLEL_FROM_SEARCH = "best feasible tokens_per_s over every tp x pp x dp (parallel: auto)"


def _evaluate_llm(workload, hardware, wl_name: str, hw_name: str, params: dict) -> dict:
    """One LLM design point: the spec's parallel config, or with ``parallel: auto`` the feasible
    config with the most tokens/s (ttft for prefill-only workloads) among all factorisations."""
    from dse.system import evaluators, llm

    point = llm.build(workload, hardware)
    objs = evaluators.objectives(workload, hardware)
    configs = llm.parallel_configs(point)
    if not configs:
        raise DseError(hardware.source, "system.parallel", "at least one tp x pp x dp that fits the model")
    scored = [(llm.evaluate(point, *c), c) for c in configs]
    name, maximise = objs[0]

    def key(item):
        m = item[0]
        v = float(m[name])
        return (m["feasible"], v if maximise else -v)

    metrics, best = max(scored, key=key)
    rows: list = []
    llm.evaluate(point, *best, op_rows=rows)
    return {"workload": wl_name, "hardware": hw_name, "params": params,
            "mapping": llm.mapping_text(*best),
            "mapping_source": "the spec's parallel degrees" if len(configs) == 1 else PARALLEL_FROM_SEARCH,
            **{k: (v if isinstance(v, (bool, str)) else float(v)) for k, v in metrics.items()},
            "per_op": rows}


def _table(title: str, columns: tuple[str, ...], rows: list[tuple[str, ...]]):
    """A rich table: the first three columns (names) left-aligned, numbers right, the last (bound) left."""
    from rich.table import Table

    table = Table(title=title, show_lines=False)
    for i, col in enumerate(columns):
        table.add_column(col, justify="left" if i < 3 or i == len(columns) - 1 else "right")
    for row in rows:
        table.add_row(*row)
    return table


def render(result: dict, as_json: bool) -> None:
    if as_json:
        print(json.dumps(result, indent=2))
        return
    from rich.console import Console

    console = Console()
    if "tokens_per_s" in result:
        _render_llm(console, result)
        return
    console.print(_table(
        f"{result['workload']} on {result['hardware']}",
        ("op", "model", "chiplet", "x", "cycles", "latency µs", "energy µJ", "util", "bound"),
        [(row["name"], row["model"], row["chiplet"], str(row["count"]), f"{row['cycles']:,}",
          f"{row['latency_s'] * 1e6:,.1f}", f"{row['energy_j'] * 1e6:,.1f}", f"{row['utilization']:.3f}",
          row["bound"]) for row in result["per_op"]]))
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


def _render_llm(console, result: dict) -> None:
    console.print(_table(
        f"{result['workload']} on {result['hardware']} ({result['mapping']}, per device)",
        ("phase", "op", "device", "x", "GFLOP", "MB", "latency µs", "energy mJ", "bound"),
        [(row["phase"], row["name"], row["device"], str(row["count"]), f"{row['flops'] / 1e9:,.3f}",
          f"{row['bytes'] / 1e6:,.2f}", f"{row['latency_s'] * 1e6:,.1f}", f"{row['energy_j'] * 1e3:,.3f}",
          row["bound"]) for row in result["per_op"]]))
    params = ", ".join(f"{k}={v}" for k, v in result["params"].items()) or "(no knobs)"
    console.print(f"knobs: {params}")
    console.print(f"parallel ({result['mapping_source']}): {result['mapping']}   dispatch {result['policy']}"
                  + (f" alpha {result['alpha']:g}" if result["policy"] == "papi" else ""))

    def ms(v):
        return "n/a" if v != v else f"{v * 1e3:.4g} ms"

    gb = lambda v: "n/a" if v != v else f"{v / 1e9:.4g} GB"   # noqa: E731
    console.print(
        f"TTFT {ms(result['ttft_s'])}   decode step 1 {ms(result['decode_first_step_s'])}   "
        f"TPOT {ms(result['tpot_s'])}   {result['tokens_per_s']:.4g} tokens/s   "
        f"{result['energy_per_token_j']:.4g} J/token\n"
        f"{result['output_tokens']:.0f} output tokens in {result['decode_steps']:.0f} steps, "
        f"{result['latency_s']:.4g} s; communication {ms(result['comm_s'])}; FC on GPU in "
        f"{result['fc_on_gpu_fraction']:.0%} of steps\n"
        f"peak memory per device: GPU {gb(result['peak_gpu_memory_bytes'])}, PIM {gb(result['peak_pim_memory_bytes'])}   "
        f"feasible {result['feasible']}" + (f" ({result['violations']})" if result["violations"] else ""))
