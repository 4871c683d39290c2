"""The ``llm`` system kind: LLM inference on GPUs and PIM, behind the registry's interface."""

from __future__ import annotations

from pathlib import Path


from dse.errors import DseError
from dse.system.base import SystemKind

PARALLEL_FROM_SEARCH = "best feasible tokens_per_s over every tp x pp x dp (parallel: auto)"


def _objectives(prefill_only: bool) -> tuple[tuple[str, bool], ...]:
    if prefill_only:
        return (("ttft_s", False), ("energy_j", False))
    return (("tokens_per_s", True), ("energy_per_token_j", False))


class LlmKind(SystemKind):
    name = "llm"
    hardware_sections = ("gpu", "pim")
    workload_sections = ("models[].transformer", "models[].transformer.decode")
    plain_python = True
    mapping_title = "parallel"

    fields_heading = "GPU/PIM hardware fields"
    spec_module = "dse.system.llm.spec"
    view_module = "dse.system.llm.view"
    cases_module = "dse.system.llm.cases"

    def check_workload(self, workload, hardware) -> None:
        from dse.system.llm.evaluator import check_workload

        check_workload(workload)

    def objectives(self, workload, hardware):
        return _objectives(workload.models[0].generator.decode is None)

    def build(self, workload, hardware):
        from dse.system.llm.evaluator import build

        return build(workload, hardware)

    def design_rows(self, point, weights=None):
        """Every parallel config of the point (one with fixed degrees, all factorisations with
        ``parallel: auto``) is a row; the inner level is exhaustive here (a handful of configs,
        each a microsecond-scale decode trace). ``weights`` do not apply (NaN in the rows)."""
        from dse.system.llm.evaluator import evaluate_config, mapping_text, parallel_configs

        configs = parallel_configs(point)
        rows = [{"objective_weight": float("nan"), "mapping": mapping_text(tp, pp, dp),
                 **evaluate_config(point, tp, pp, dp)} for tp, pp, dp in configs]
        return rows, len(configs)

    def detail(self, point, mapping_path: Path | None) -> dict:
        """The spec's parallel config, or with ``parallel: auto`` the feasible config with the
        most tokens/s (least TTFT for prefill-only workloads) among all factorisations."""
        from dse.system.llm.evaluator import evaluate_config, mapping_text, parallel_configs

        if mapping_path is not None:
            raise DseError("--mapping", str(mapping_path), "no mapping file for GPU/PIM hardware "
                           "(set parallel degrees with --set or in the spec)")
        configs = parallel_configs(point)
        if not configs:
            raise DseError(point.hw.source, "system.parallel", "at least one tp x pp x dp that fits the model")
        name, maximise = _objectives(point.prefill_only)[0]

        def key(item):
            v = float(item[0][name])
            return (item[0]["feasible"], v if maximise else -v)

        _, best = max(((evaluate_config(point, *c), c) for c in configs), key=key)
        rows: list = []
        metrics = evaluate_config(point, *best, op_rows=rows)
        return {"mapping": mapping_text(*best),
                "mapping_source": "the spec's parallel degrees" if len(configs) == 1 else PARALLEL_FROM_SEARCH,
                **{k: (v if isinstance(v, (bool, str)) else float(v)) for k, v in metrics.items()},
                "per_op": rows}
