"""The ``serving`` system kind: several models on a GPU pool split into model-parallel groups
(AlpaServe's placement problem), behind the registry's interface."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path


from dse.errors import DseError
from dse.spec.common import Knob, choices_of
from dse.system.base import SystemKind


class ServingKind(SystemKind):
    name = "serving"
    hardware_sections = ()           # serving files say `kind: serving`
    mapping_title = "placement"
    workload_sections = ("serving", "models[].serving", "models[].transformer", "models[].transformer.decode")

    fields_heading = "Serving hardware fields"
    spec_module = "dse.system.serving.spec"
    view_module = "dse.system.serving.view"
    cases_module = "dse.system.serving.cases"

    def check_workload(self, workload, hardware) -> None:
        from dse.system.serving.evaluator import check_workload

        check_workload(workload, hardware)

    def objectives(self, workload, hardware):
        """SLO attainment up and GPUs down; with engines (continuous or static batching) goodput
        up and, when the GPU has a price, $ per million output tokens down, else when it has
        energy figures (pJ per FLOP or bit, idle watts) J per output token down, else GPUs down."""
        from dse.system.serving.spec import ENGINES

        if hardware.batching in ENGINES:
            def given(v) -> bool:
                return isinstance(v, Knob) or float(v) > 0

            g = hardware.gpu
            if given(g.price_per_gpu_hour):
                return (("goodput_per_s", True), ("usd_per_million_tokens", False))
            if given(g.pj_per_flop) or given(g.memory_pj_per_bit) or given(g.idle_w):
                return (("goodput_per_s", True), ("energy_per_token_j", False))
            return (("goodput_per_s", True), ("gpus", False))
        return (("slo_attainment", True), ("gpus", False))

    def seed_points(self, workload, hardware) -> list[dict]:
        """The baselines every search evaluates first (when the group split is a knob), by knob name:
        the whole pool as one-GPU groups (selective replication) and as one model-parallel group
        (each tp choice)."""
        groups = hardware.groups
        if not isinstance(groups, Knob):
            return []
        full = max(sum(int(x) for x in g.split("+")) for g in groups.choices)
        wanted = ["+".join(["1"] * full), str(full)]
        out = []
        for g in wanted:
            if g not in groups.choices:
                continue
            for tp in (choices_of(hardware.tp) if g == str(full) else (1,)):
                if tp not in choices_of(hardware.tp):
                    continue
                point = {"hw.system.groups": g}
                if isinstance(hardware.tp, Knob):
                    point["hw.system.tp"] = tp
                if point not in out:
                    out.append(point)
        return out

    def build(self, workload, hardware):
        from dse.system.serving.evaluator import build

        return build(workload, hardware)

    def design_rows(self, point, weights=None):
        """One row per point: the greedy placement on its groups, judged on the evaluation run;
        the mappings evaluated are the simulator runs of the greedy."""
        from dse.system.serving.evaluator import evaluate, mapping_text, place

        placed, runs = place(point)
        return [{"objective_weight": float("nan"), "mapping": mapping_text(point, placed),
                 **evaluate(point, placed)}], runs

    def detail(self, point, mapping_path: Path | None) -> dict:
        """The point's placement in full, with the baselines on the same number of GPUs: selective
        replication (one-GPU groups) and one model-parallel group (the best tp)."""
        import numpy as np

        from dse.system.serving.evaluator import build, evaluate, mapping_text, place

        if mapping_path is not None:
            raise DseError("--mapping", str(mapping_path), "no mapping file for serving hardware (set the groups "
                           "with --set hw.system.groups=...; the placement is searched)")
        placed, runs = place(point)
        keep: dict = {}
        metrics = evaluate(point, placed, keep)
        groups = []
        span = point.policy.window_end_s - point.policy.window_start_s
        names = point.names
        for g, c in enumerate(point.configs):
            lat = point.groups.latency[:, g, :c.pp]
            held = np.flatnonzero(placed[:, g])
            groups.append({"group": g, "gpus": c.size, "pp": c.pp, "tp": c.tp, "first_gpu": c.first_gpu,
                           "models": [names[i] for i in held],
                           "memory_used_bytes": _memory_used(point, held, g),
                           "busy_s": [float(x) for x in keep["busy"][g, :c.pp]],
                           "utilisation": float(keep["busy"][g, :c.pp].sum() / (c.pp * span)),
                           "stage_latency_s": {names[i]: [float(x) for x in lat[i]] for i in held}})
        per_model = keep["per_model"]
        for i, row in enumerate(per_model):
            row["single_gpu_latency_s"] = float(point.single_s[i])
            row["fastest_latency_s"] = float(point.fastest_s[i])
        gpus = metrics["gpus"]
        baselines = []
        tps = sorted({int(t) for t in choices_of(point.hw.tp)} | {1})
        candidates = [("replication", "+".join(["1"] * gpus), 1)]
        candidates += [("one_group", str(gpus), tp) for tp in tps if gpus % tp == 0 and tp <= gpus]
        best_one = None
        for name, groups_text, tp in candidates:
            if groups_text == point.hw.groups and tp == min(int(point.hw.tp), gpus):
                other_placed, other = placed, point
            else:
                other = build(point.workload, replace(point.hw, groups=groups_text, tp=tp))
                other_placed, _ = place(other)
            m = evaluate(other, other_placed)
            row = {"baseline": name, "groups": groups_text, "tp": tp, "mapping": mapping_text(other, other_placed),
                   "slo_attainment": m["slo_attainment"], "goodput_per_s": m["goodput_per_s"],
                   "latency_p99_s": m["latency_p99_s"], "feasible": m["feasible"], "violations": m["violations"]}
            if name == "replication":
                baselines.append(row)
            elif best_one is None or (row["feasible"], _nz(row["slo_attainment"])) > \
                    (best_one["feasible"], _nz(best_one["slo_attainment"])):
                best_one = row
        if best_one is not None:
            baselines.append(best_one)
        source = (("one model per group by requested tokens (fast" if point.hw.placement == "fast" else
                   f"greedy placement (simulated, {runs} engine simulations") + f"; {point.hw.batching} batching)"
                  if point.continuous else f"greedy placement ({point.hw.placement}, {runs} simulator runs)")
        return {"mapping": mapping_text(point, placed), "mapping_source": source, **metrics, "per_group": groups, "per_model": per_model,
                "baselines": baselines}


def _memory_used(point, held, g: int) -> float:
    """Bytes per GPU the group's replicas take: weights and one request's KV cache each without
    batching; with continuous batching the engine's weights, KV blocks and activation reserve
    (all it is allowed: gpu_memory_utilization x memory)."""
    if point.continuous:            # the engines sharing a group share that budget (batched.shared_blocks)
        return (float(point.hw.engine.gpu_memory_utilization) * float(point.hw.gpu.memory_bytes)
                if any((int(m), g) in point.replicas for m in held) else 0.0)
    return float(point.groups.memory[held, g].sum())


def _nz(v: float) -> float:
    return -1.0 if v != v else v
