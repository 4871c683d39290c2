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
    spec_module = "dse.system.chiplet.spec"
    view_module = "dse.system.chiplet.view"
    cases_module = "dse.system.chiplet.cases"

    def __init__(self) -> None:
        # The distinct best mappings of the last design point this object optimised, per (ops,
        # chiplets) shape: the next point's inner search starts from them too (its outer knobs
        # usually changed little). One object serves one search process.
        self._previous: dict[tuple[int, int], Any] = {}

    # `dse evaluate --mapping` on at most this many chiplets runs interpreted (see plain_python_for).
    PLAIN_PYTHON_CHIPLETS = 8

    def plain_python_for(self, hardware, mapping_given: bool) -> bool:
        """A given mapping on a small module is costed once, which interpreted is quicker than
        numba's import and first-call set-up (~0.6 s on 2 cores): measured warm, gpt2_resnet50 on
        mcm4_hetero with a mapping file 0.85 s compiled, 0.35 s interpreted; datacenter_mix (1,001
        ops) on mcm4_hetero 0.83 / 0.51 s. Not so without a mapping (the inner optimiser: 0.9 / 0.66
        s for gpt2_resnet50 but 0.84 / 2.96 s for datacenter_mix) nor on many chiplets (building
        the per-chiplet cost tables of datacenter_mix on the 36-chiplet module: 1.0 / 2.2 s)."""
        return mapping_given and len(hardware.chiplets) <= self.PLAIN_PYTHON_CHIPLETS

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
        from dse.system.chiplet import evaluator as design

        return design.build(workload, hardware)

    def design_rows(self, point, weights=None):
        """The inner optimiser's best mapping per objective weight (default: design.DEFAULT_WEIGHTS,
        fastest frame ... least energy); identical mappings once. The previous design point's
        mappings of the same shape are extra starts, so a search row's mapping can differ from
        (usually: be at least as good as) the one `dse evaluate` finds from cold starts for the
        same knobs; `dse evaluate --mapping` re-costs any row's mapping exactly."""
        import numpy as np

        from dse.system.chiplet import evaluator as design

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
        from dse.system.chiplet import evaluator as design

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
