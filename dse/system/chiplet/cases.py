"""`dse validate`'s computations for the chiplet kind (cases: validate_cases.yaml beside this file):
one op on one chiplet against MAESTRO, and the heterogeneous module against a monolith."""

from __future__ import annotations

from dse.spec.bundled import spec


def op_cost(dims, stride, array, unroll, stationary, metric) -> float:
    """One op on one chiplet of ``array`` PEs with a fixed unrolling and ample L1/L2/bandwidth."""
    import numpy as np

    from dse.cost import dataflow as df
    from dse.system.chiplet.ir import single_chiplet, single_op

    chips = single_chiplet(array[0], array[1], unroll, stationary, 256.0, 1e12)
    ops = single_op(dims, stride)
    out = np.zeros(df.N_COLS)
    df.op_cost(df.op_row(ops, 0), df.chiplet_row(chips, 0), df.Dram(1e15, 0.0, 0.0), out, df.scratch())
    return float(out[df.COL[metric]])


def chiplet_best(workload, hardware) -> tuple[dict, dict]:
    """Metrics of a chiplet design's fastest mapping and of its least-energy mapping (resolved specs)."""
    from dse.system.chiplet import evaluator as design

    point = design.build(workload, hardware)
    assigns, raw, _ = design.optimise(point, (0.0, 1.0))
    return design.metrics_of(point, assigns[0], raw[0]), design.metrics_of(point, assigns[1], raw[1])


def chiplet_ratio(workload, hetero, mono, metric) -> float:
    """Heterogeneous / monolithic: frames/s at each design's fastest mapping (``throughput``), or
    monolith J / hetero J at each one's least-energy mapping (``energy_efficiency``)."""
    wl = spec("workloads", workload)
    (fh, eh), (fm, em) = (chiplet_best(wl, spec("hardware", hw)) for hw in (hetero, mono))
    if metric == "throughput":
        return fh["throughput_per_s"] / fm["throughput_per_s"]
    return em["energy_j"] / eh["energy_j"]


COMPUTE = {"op_cost": op_cost, "chiplet_ratio": chiplet_ratio}
