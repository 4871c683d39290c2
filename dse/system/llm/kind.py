"""The ``llm`` system kind: LLM inference on GPUs and PIM, behind the registry's interface."""

from __future__ import annotations

from pathlib import Path
from typing import Any

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
    mapping_title = "parallel"

    fields_heading = "GPU/PIM hardware fields"
    spec_module = "dse.spec.gpu_pim"

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

    def render(self, console: Any, result: dict, full: bool = False) -> None:
        from dse.output.tables import grouped, knobs_line, per_op_table

        title = (f"{result['workload']} on {result['hardware']} ({result['mapping']}; FLOPs, bytes and time "
                 "per device, energy of all the devices running an op)")
        if full:
            console.print(per_op_table(
                title, ("phase", "op", "device", "x", "GFLOP", "MB", "latency µs", "energy mJ", "bound"),
                [(row["phase"], row["name"], row["device"], str(row["count"]), f"{row['flops'] / 1e9:.4g}",
                  f"{row['bytes'] / 1e6:.4g}", f"{row['latency_s'] * 1e6:.4g}", f"{row['energy_j'] * 1e3:.4g}",
                  row["bound"]) for row in result["per_op"]]))
        else:
            groups = grouped(result["per_op"], ("phase", "device"), ("flops", "bytes", "latency_s", "energy_j"))
            console.print(per_op_table(
                f"{title}, per phase and device (--full: per op)",
                ("phase", "device", "ops", "GFLOP", "GB", "latency ms", "energy J", "bound"),
                [(g["phase"], g["device"], str(g["ops"]), f"{g['flops'] / 1e9:.4g}", f"{g['bytes'] / 1e9:.4g}",
                  f"{g['latency_s'] * 1e3:.4g}", f"{g['energy_j']:.4g}", g["bound"]) for g in groups],
                text_columns=2))
        console.print(knobs_line(result["params"]))
        console.print(f"parallel ({result['mapping_source']}): {result['mapping']}   dispatch {result['policy']}"
                      + (f" alpha {result['alpha']:g}" if result["policy"] == "papi" else ""))

        def ms(v):
            return "n/a" if v != v else f"{v * 1e3:.4g} ms"

        def gb(v):
            return "n/a" if v != v else f"{v / 1e9:.4g} GB"

        console.print(
            f"TTFT {ms(result['ttft_s'])}   decode step 1 {ms(result['decode_first_step_s'])}   "
            f"TPOT {ms(result['tpot_s'])}   {result['tokens_per_s']:.4g} tokens/s   "
            f"{result['energy_per_token_j']:.4g} J/token\n"
            f"{result['output_tokens']:.0f} output tokens in {result['decode_steps']:.0f} steps, "
            f"{result['latency_s']:.4g} s; communication {ms(result['comm_s'])}; FC on GPU in "
            f"{result['fc_on_gpu_fraction']:.0%} of steps\n"
            f"peak memory per device: GPU {gb(result['peak_gpu_memory_bytes'])}, "
            f"PIM {gb(result['peak_pim_memory_bytes'])}   feasible {result['feasible']}"
            + (f" ({result['violations']})" if result["violations"] else ""))
