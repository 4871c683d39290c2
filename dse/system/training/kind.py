"""The ``training`` system kind: pipeline-parallel training schedules, behind the registry's interface."""

from __future__ import annotations

from pathlib import Path


from dse.errors import DseError
from dse.system.base import SystemKind

PARALLEL_FROM_SEARCH = "best feasible tokens_per_s over every tp x pp x dp (parallel: auto)"


class TrainingKind(SystemKind):
    name = "training"
    hardware_sections = ()           # training files say `kind: training` (their gpu section is not the llm kind's)
    workload_sections = ("models[].transformer", "models[].transformer.training", "models[].pipeline")
    plain_python = True
    mapping_title = "parallel"

    fields_heading = "Training hardware fields"
    spec_module = "dse.system.training.spec"
    view_module = "dse.system.training.view"
    cases_module = "dse.system.training.cases"

    def check_workload(self, workload, hardware) -> None:
        from dse.system.training.evaluator import check_fixed_block, check_workload

        check_workload(workload, hardware)
        check_fixed_block(workload, hardware)

    def objectives(self, workload, hardware):
        from dse.spec.workload import Pipeline

        if isinstance(workload.models[0].generator, Pipeline):
            return (("microbatches_per_s", True), ("peak_activation_units", False))
        return (("tokens_per_s", True), ("peak_memory_bytes", False))

    def build(self, workload, hardware):
        from dse.system.training.evaluator import build

        return build(workload, hardware)

    def design_rows(self, point, weights=None):
        """Every parallel split of the point (one when fixed, all that fit with ``parallel: auto``)
        is a row, each one schedule simulation; ``weights`` do not apply. A point no split fits
        gives one infeasible row saying why."""
        from dse.system.training.evaluator import evaluate_config, mapping_text, no_split_row, parallel_configs

        configs = parallel_configs(point)
        if not configs:
            return [{"objective_weight": float("nan"), "mapping": "none", **no_split_row(point)}], 0
        rows = [{"objective_weight": float("nan"), "mapping": mapping_text(tp, pp, dp),
                 **evaluate_config(point, tp, pp, dp)} for tp, pp, dp in configs]
        return rows, len(configs)

    def detail(self, point, mapping_path: Path | None) -> dict:
        """The spec's split, or with ``parallel: auto`` the feasible split with the most tokens/s
        (microbatches/s for a synthetic pipeline); with its per-stage costs and timeline."""
        from dse.system.training.evaluator import evaluate_config, mapping_text, parallel_configs
        from dse.system.training.kernels import D_BUSY, D_FIRST, D_LAST, D_PEAK

        if mapping_path is not None:
            raise DseError("--mapping", str(mapping_path), "no mapping file for training hardware "
                           "(set parallel degrees and the schedule with --set or in the spec)")
        configs = parallel_configs(point)
        if not configs:
            raise DseError(point.hw.source, "system.parallel", "at least one tp x pp x dp split the model takes "
                           "(heads divisible by tp, whole layers per stage, whole microbatches)")
        key_name = "microbatches_per_s" if point.pipe is not None else "tokens_per_s"

        def rank(config):
            metrics = evaluate_config(point, *config)
            return metrics["feasible"], metrics[key_name]

        best = max(configs, key=rank)
        line: dict = {}
        metrics = evaluate_config(point, *best, timeline=line)
        if not line:                                       # the block collides at every split
            raise DseError(point.hw.source, "system.schedule.block.offsets", metrics["violations"])
        stages = [{"stage": int(st), "device": int(line["stage_device"][st]),
                   "forward_s": float(line["f_s"][st]), "backward_s": float(line["b_s"][st]),
                   "weight_grad_s": float(line["w_s"][st]), "send_s": float(line["comm_s"][st]),
                   "activation_bytes": float(line["alloc"][st]), "lifespan_s": float(line["life"][st])}
                  for st in range(len(line["f_s"]))]
        in_bytes = point.pipe is None or point.pipe.activation_bytes is not None
        unit = line["unit"]
        devices = [{"device": d, "busy_s": float(row[D_BUSY]), "span_s": float(row[D_LAST] - row[D_FIRST]),
                    "peak_activation_bytes": float(row[D_PEAK]) if in_bytes else float("nan"),
                    "peak_activation_units": float(row[D_PEAK]) / unit if unit else float("nan")}
                   for d, row in enumerate(line["dev"])]
        passes = [{"device": int(d), "pass": ("F", "B", "W", "BW")[int(k)], "microbatch": int(j), "stage": int(st),
                   "start_s": float(a), "end_s": float(e)}
                  for d, k, j, st, a, e in zip(line["device"], line["kind"], line["mb"], line["stage"],
                                                line["start"], line["end"])]
        return {"mapping": mapping_text(*best),
                "mapping_source": "the spec's split" if len(configs) == 1 else PARALLEL_FROM_SEARCH,
                **{k: (v if isinstance(v, (bool, str)) else float(v)) for k, v in metrics.items()},
                "per_stage": stages, "per_device": devices, "passes": passes}
