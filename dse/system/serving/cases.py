"""`dse validate`'s computations for the serving kind (cases: validate_cases.yaml beside this file):
AlpaServe's scenario on its profiled inputs, and a model alone on one GPU."""

from __future__ import annotations

from dse.spec.bundled import spec


def serving_single(workload, hardware, model) -> float:
    """A model's latency alone on one GPU of the serving hardware (s), as the serving kind sets
    ``slo_scale`` SLOs from it."""
    from dse.system.serving.evaluator import single_gpu_latency

    return single_gpu_latency(spec("workloads", workload).models[model], spec("hardware", hardware))


def serving(workload, hardware, knobs, metric) -> float:
    from dse.system.serving.evaluator import build, evaluate, place

    point = build(spec("workloads", workload), spec("hardware", hardware, knobs))
    return float(evaluate(point, place(point)[0])[metric])


COMPUTE = {"serving_single": serving_single, "serving": serving}
