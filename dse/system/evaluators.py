"""One evaluator per source system, behind the same two calls, so search, evaluate and the results
contract do not fork per paper:

    objectives(workload, hardware) -> ((column, maximise), (column, maximise))
    design_rows(workload, hardware, weights) -> (rows, evaluated)

``rows`` are dicts of mapping text, objective weight, metrics, ``feasible`` and ``violations``;
the specs given are resolved (no knobs left).
"""

from __future__ import annotations

from typing import Any

from dse.spec.system import LlmHardwareSpec


def is_llm(hardware: Any) -> bool:
    return isinstance(hardware, LlmHardwareSpec)


def objectives(workload, hardware) -> tuple[tuple[str, bool], ...]:
    if not is_llm(hardware):
        return (("throughput_per_s", True), ("energy_j", False))
    decodes = [m.generator.decode for m in workload.models if getattr(m.generator, "decode", None)]
    if decodes:
        return (("tokens_per_s", True), ("energy_per_token_j", False))
    return (("ttft_s", False), ("energy_j", False))


def check_pair(workload, hardware) -> None:
    """Workloads a hardware kind cannot run are errors, not zeros."""
    from dse.errors import DseError

    if not is_llm(hardware):
        for i, m in enumerate(workload.models):
            if getattr(m.generator, "decode", None) is not None:
                raise DseError(workload.source, f"models[{i}].transformer.decode",
                               "no decode section on chiplet hardware (decode runs on GPU/PIM hardware: "
                               "a gpu or pim section)", "decode")


def design_rows(workload, hardware, weights) -> tuple[list[dict], int]:
    if is_llm(hardware):
        return _llm_rows(workload, hardware)
    return _chiplet_rows(workload, hardware, weights)


def _chiplet_rows(workload, hardware, weights) -> tuple[list[dict], int]:
    from dse.system import design

    point = design.build(workload, hardware)
    assigns, raw, evaluated = design.optimise(point, weights)
    rows, seen = [], set()
    for w, assign, r in zip(weights, assigns, raw):
        if assign.tobytes() in seen:
            continue
        seen.add(assign.tobytes())
        rows.append({"objective_weight": w, "mapping": design.encode_mapping(point, assign),
                     "feasible": True, "violations": "", **design.metrics_of(point, assign, r)})
    return rows, int(evaluated)


def _llm_rows(workload, hardware) -> tuple[list[dict], int]:
    """Every parallel config of the point (one with fixed degrees, all factorisations with
    ``parallel: auto``) is a row; the inner level is exhaustive here (a handful of configs, each a
    microsecond-scale decode trace)."""
    from dse.system import llm

    point = llm.build(workload, hardware)
    rows = []
    configs = llm.parallel_configs(point)
    for tp, pp, dp in configs:
        metrics = llm.evaluate(point, tp, pp, dp)
        rows.append({"objective_weight": float("nan"), "mapping": llm.mapping_text(tp, pp, dp), **metrics})
    return rows, len(configs)


def best_values(rows: list[dict], objs) -> tuple[list[float], bool]:
    """Per objective, the best value over the feasible rows (over all rows if none is feasible),
    and whether any row is feasible — what Optuna is told for the point."""
    import math

    feasible = [r for r in rows if r["feasible"]]
    pool = feasible or rows
    out = []
    for name, maximise in objs:
        values = [float(r[name]) for r in pool if not math.isnan(float(r[name]))]
        if not values:
            out.append(0.0 if maximise else 1e300)
        else:
            out.append(max(values) if maximise else min(values))
    return out, bool(feasible)
