"""The ``chiplet`` system kind: heterogeneous chiplet modules, behind the registry's interface."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dse.errors import DseError
from dse.system.base import SystemKind

MAPPING_FROM_OPTIMISER = "inner optimiser, best throughput (objective weight 0)"


class ChipletKind(SystemKind):
    name = "chiplet"
    hardware_sections = ("chiplets",)
    workload_sections = ("models[].transformer", "models[].resnet50", "models[].ops")
    mapping_title = "ops per chiplet"

    fields_heading = "Chiplet hardware fields"
    spec_module = "dse.spec.chiplet"

    def __init__(self) -> None:
        # The distinct best mappings of the last design point this object optimised, per (ops,
        # chiplets) shape: the next point's inner search starts from them too (its outer knobs
        # usually changed little). One object serves one search process.
        self._previous: dict[tuple[int, int], Any] = {}

    def check_workload(self, workload, hardware) -> None:
        """Decode (token-by-token generation) runs on GPU/PIM hardware, not here."""
        for i, m in enumerate(workload.models):
            if getattr(m.generator, "decode", None) is not None:
                raise DseError(workload.source, f"models[{i}].transformer.decode",
                               "no decode section on chiplet hardware (decode runs on GPU/PIM hardware: "
                               "a gpu or pim section)", "decode")

    def objectives(self, workload, hardware):
        return (("throughput_per_s", True), ("energy_j", False))

    def build(self, workload, hardware):
        from dse.system.chiplet import design

        return design.build(workload, hardware)

    def design_rows(self, point, weights=None):
        """The inner optimiser's best mapping per objective weight (default: design.DEFAULT_WEIGHTS,
        fastest frame ... least energy); identical mappings once. The previous design point's
        mappings of the same shape are extra starts, so a search row's mapping can differ from
        (usually: be at least as good as) the one `dse evaluate` finds from cold starts for the
        same knobs; `dse evaluate --mapping` re-costs any row's mapping exactly."""
        import numpy as np

        from dse.system.chiplet import design

        weights = design.DEFAULT_WEIGHTS if weights is None else weights
        shape = (point.ops.n, point.chiplets.n)
        assigns, raw, evaluated = design.optimise(point, weights, hints=self._previous.get(shape))
        self._previous[shape] = np.unique(np.asarray(assigns), axis=0)
        rows, seen = [], set()
        for w, assign, r in zip(weights, assigns, raw):
            if assign.tobytes() in seen:
                continue
            seen.add(assign.tobytes())
            rows.append({"objective_weight": w, "mapping": design.encode_mapping(point, assign),
                         "feasible": True, "violations": "", **design.metrics_of(point, assign, r)})
        return rows, int(evaluated)

    def detail(self, point, mapping_path: Path | None) -> dict:
        """A given mapping file, or the inner optimiser's best-throughput mapping."""
        import numpy as np

        from dse.spec.common import load_yaml
        from dse.system.chiplet import design

        if mapping_path is not None:
            assign = design.decode_mapping(point, load_yaml(mapping_path).value, str(mapping_path))
            source = str(mapping_path)
        else:
            assigns, _, _ = design.optimise(point, (0.0,))
            assign = np.asarray(assigns[0])
            source = MAPPING_FROM_OPTIMISER
        metrics = design.metrics_of(point, assign)
        # A chiplet design is always feasible: operands larger than L2 are blocked or streamed.
        return {"mapping": design.encode_mapping(point, assign), "mapping_source": source,
                "feasible": True, "violations": "",
                **{k: (v if isinstance(v, bool) else float(v)) for k, v in metrics.items()},
                "per_op": design.per_op(point, assign)}

    def render(self, console: Any, result: dict, full: bool = False) -> None:
        from dse.output.tables import grouped, knobs_line, per_op_table

        title = f"{result['workload']} on {result['hardware']}"
        if full:
            # The unrolling column only when some op's chiplet could choose (a flexible array).
            flexible = (len({row["unrolling"] for row in result["per_op"]})
                        > len({row["chiplet"] for row in result["per_op"]}))
            extra = ("unrolling",) if flexible else ()
            console.print(per_op_table(
                title, ("op", "model", "chiplet", *extra, "x", "cycles", "latency µs", "energy µJ", "util", "bound"),
                [(row["name"], row["model"], row["chiplet"], *((row["unrolling"],) if flexible else ()),
                  str(row["count"]), f"{row['cycles']:.6g}", f"{row['latency_s'] * 1e6:.5g}",
                  f"{row['energy_j'] * 1e6:.5g}", f"{row['utilization']:.3f}", row["bound"])
                 for row in result["per_op"]], text_columns=3 + len(extra)))
        else:
            groups = grouped(result["per_op"], ("model", "chiplet"), ("cycles", "latency_s", "energy_j"))
            console.print(per_op_table(
                f"{title}, per model and chiplet (--full: per op)",
                ("model", "chiplet", "ops", "cycles", "latency ms", "energy mJ", "util", "bound"),
                [(g["model"], g["chiplet"], str(g["ops"]), f"{g['cycles']:.4g}", f"{g['latency_s'] * 1e3:.4g}",
                  f"{g['energy_j'] * 1e3:.4g}", f"{g['weighted_utilization']:.3f}", g["bound"]) for g in groups],
                text_columns=2))
        console.print(knobs_line(result["params"]))
        # spaces after the separators let a narrow terminal wrap the mapping between runs, not inside one
        console.print(f"mapping ({result['mapping_source']}): "
                      + result["mapping"].replace(",", ", ").replace(";", "; "))
        utils = "  ".join(f"{k.removeprefix('utilization_')} {v:.3f}" for k, v in result.items()
                          if k.startswith("utilization_"))
        console.print(
            f"throughput {result['throughput_per_s']:.4g} frames/s   latency {result['latency_s'] * 1e3:.4g} ms   "
            f"energy {result['energy_j'] * 1e3:.4g} mJ/frame   EDP {result['edp_js']:.4g} J·s\n"
            f"DRAM {result['dram_bytes'] / 1e6:.4g} MB/frame   NoP {result['nop_bytes'] / 1e6:.4g} MB/frame   "
            f"pipelining {result['pipelining']}   utilisation: {utils}\n"
            "energy per frame (mJ): " + "  ".join(
                f"{label} {result[key] * 1e3:.4g}" for label, key in
                (("MAC", "mac_energy_j"), ("L1", "l1_energy_j"), ("L2", "l2_energy_j"), ("DRAM", "dram_energy_j"),
                 ("NoP", "nop_energy_j"), ("static", "static_energy_j"))))

    def mapping_summary(self, mapping: str) -> str:
        """'gpt2=ws0*3,ws1*5,ws0*2;resnet50=os0*54' -> 'gpt2: ws0 5, ws1 5 | resnet50: os0 54'."""
        parts = []
        for model_part in filter(None, mapping.split(";")):
            model, _, runs = model_part.partition("=")
            counts: dict[str, int] = {}
            for run in runs.split(","):
                chip, _, k = run.partition("*")
                counts[chip] = counts.get(chip, 0) + int(k or 0)
            parts.append(f"{model}: " + ", ".join(f"{c} {k}" for c, k in sorted(counts.items())))
        return " | ".join(parts)
