"""`dse validate`'s computations for the training kind (cases: validate_cases.yaml beside this file):
schedules against closed forms and the Zero Bubble paper, pass times against its profile."""

from __future__ import annotations

from dataclasses import replace

from dse.spec.bundled import spec


def training(workload, hardware, knobs, metric) -> float:
    from dse.system.base import kind_named

    kind = kind_named("training")
    rows, _ = kind.design_rows(kind.build(spec("workloads", workload), spec("hardware", hardware, knobs)))
    return float(rows[0][metric])


def training_pass(workload, hardware, parallel, stage, metric) -> float:
    """One virtual stage's pass time in ms (``metric``: f_s, b_s or w_s) at the ``parallel``
    (tp, pp, dp) split, the schedule's 1F1B (pass times do not depend on the schedule)."""
    from dse.spec.common import Parallel
    from dse.system.base import kind_named
    from dse.system.training.evaluator import evaluate_config

    hw = replace(spec("hardware", hardware, {"system.schedule.family": "1f1b"}), parallel=Parallel(*parallel))
    timeline: dict = {}
    evaluate_config(kind_named("training").build(spec("workloads", workload), hw), *parallel, timeline)
    return float(timeline[metric][stage]) * 1e3


COMPUTE = {"training": training, "training_pass": training_pass}
