"""``dse validate``: the shipped reference cases (dse/validate_cases.yaml) -- published and measured
figures with their source, a tolerance and the reason for it -- computed with dse's own model.

A case names a computation (``compute``, one of COMPUTE below) and its arguments; the specs it
reads are the bundled workloads/ and hardware/ files (next to the package in a checkout, under
``<prefix>/share/dse`` once installed). A case marked ``must`` has to hold for ``dse validate`` to
exit 0; the others are known, named deviations, shown so that nobody mistakes them for agreement.

Tolerances (``tolerance`` in a case):
    rel: r          |dse / reference - 1| <= r
    abs: a          |dse - reference| <= a
    band: [lo, hi]  lo <= dse / reference <= hi
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass, replace
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Callable

import yaml

from dse.errors import DseError


@dataclass(frozen=True)
class Case:
    name: str
    group: str
    compute: str
    args: dict
    reference: float
    unit: str
    source: str
    tolerance: dict
    must: bool
    reason: str

    def within(self, value: float) -> bool:
        if not math.isfinite(value):
            return False
        tol = self.tolerance
        if "rel" in tol:
            return abs(value / self.reference - 1.0) <= tol["rel"] + 1e-12
        if "abs" in tol:
            return abs(value - self.reference) <= tol["abs"] + 1e-12
        lo, hi = tol["band"]
        return lo <= value / self.reference <= hi

    def tolerance_text(self) -> str:
        tol = self.tolerance
        if "rel" in tol:
            return "exact" if tol["rel"] < 1e-6 else f"±{tol['rel'] * 100:g} %"
        if "abs" in tol:
            return f"±{tol['abs']:g}"
        return f"{tol['band'][0]:g}-{tol['band'][1]:g}x"


def bundled(path: str) -> str:
    """A bundled spec file: in a checkout (or editable install) next to the package, else where
    ``pip install`` put the data files (``<prefix>/share/dse``)."""
    for root in (Path(__file__).resolve().parents[1], Path(sys.prefix) / "share" / "dse"):
        if (root / path).is_file():
            return str(root / path)
    raise DseError(path, "", "a bundled spec file (workloads/ and hardware/ next to the dse package, or "
                   f"{Path(sys.prefix) / 'share' / 'dse'} after pip install)")


def load_cases() -> list[Case]:
    text = resources.files("dse").joinpath("validate_cases.yaml").read_text()
    out = []
    for raw in yaml.safe_load(text):
        out.append(Case(name=raw["name"], group=raw["group"], compute=raw["compute"], args=raw.get("args", {}),
                        reference=float(raw["reference"]), unit=raw["unit"], source=raw["source"],
                        tolerance=raw["tolerance"], must=bool(raw["must"]), reason=raw["reason"]))
    return out


# --- computations -----------------------------------------------------------------------------------

def _spec(kind: str, name: str, knobs: dict | None = None):
    from dse.spec.common import resolve
    from dse.spec.hardware import load_hardware
    from dse.spec.workload import load_workload

    loader = load_workload if kind == "workloads" else load_hardware
    return resolve(loader(bundled(f"{kind}/{name}.yaml")), knobs or {})


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


def llm_ms(workload, hardware, parallel, metric, knobs=None) -> float:
    from dse.system.llm import evaluator as llm

    wl = _spec("workloads", workload, knobs)
    m = llm.evaluate_config(llm.build(wl, _spec("hardware", hardware)), *parallel)
    return m[metric] * 1e3


def _llm_best(workload, hardware, alphas=(None,)) -> dict:
    from dse.system.base import kind_named

    kind = kind_named("llm")
    rows = []
    for alpha in alphas:
        hw = hardware if alpha is None else replace(hardware, dispatch=replace(hardware.dispatch, alpha=alpha))
        rows += [r for r in kind.design_rows(kind.build(workload, hw), ())[0] if r["feasible"]]
    return max(rows, key=lambda r: r["tokens_per_s"])


@lru_cache(maxsize=1)
def papi_grid() -> dict:
    """PAPI vs each baseline over the paper's 3 models x RLP 4/16/64 x TLP 1/2/4 decode grid, each
    design at its best feasible parallel config (and PAPI at its best alpha): geomean speedups."""
    from dse.spec.common import collect_knobs, resolve
    from dse.spec.hardware import load_hardware

    raw_papi = load_hardware(bundled("hardware/papi.yaml"))
    alphas = next(k for k in collect_knobs(raw_papi) if k.path == "system.dispatch.alpha").choices
    papi = resolve(raw_papi, {"system.dispatch.alpha": alphas[0]})
    base = {name: _spec("hardware", name) for name in ("a100_attacc", "attacc_only")}
    logs: dict[str, list[float]] = {name: [] for name in base}
    for model in ("llama65b", "gpt3_66b", "gpt3_175b"):
        for rlp in (4, 16, 64):
            for tlp in (1, 2, 4):
                wl = _spec("workloads", f"{model}_decode", {"models[0].transformer.batch": rlp,
                                                             "models[0].transformer.decode.tlp": tlp})
                top = _llm_best(wl, papi, alphas)["tokens_per_s"]
                for name, hw in base.items():
                    logs[name].append(math.log(top / _llm_best(wl, hw)["tokens_per_s"]))
    return {name: math.exp(sum(v) / len(v)) for name, v in logs.items()}


def papi_speedup(baseline) -> float:
    return papi_grid()[baseline]


def kraken_cells():
    """(model size, tp, context, standard metrics, kraken metrics) over GPT-3 6.7B-175B, TP 4/8,
    prompts 128/2048, batch 1, on a100x8.yaml."""
    from dse.system.llm import evaluator as llm

    hw = _spec("hardware", "a100x8")
    for size in ("6.7b", "13b", "66b", "175b"):
        for tp in (4, 8):
            for ctx in (128, 2048):
                m = {v: llm.evaluate_config(llm.build(_spec("workloads", f"kraken_gpt3_{size}_prefill", {
                    "models[0].transformer.seq_len": ctx, "models[0].transformer.layer_variant": v}), hw), tp, 1, 1)
                     for v in ("standard", "kraken")}
                yield size, tp, ctx, m["standard"], m["kraken"]


def kraken_ttft_change() -> float:
    """Geomean TTFT change (%) of Kraken layers against standard TP over :func:`kraken_cells` that
    fit in memory."""
    logs = [math.log(k["ttft_s"] / s["ttft_s"]) for _, _, _, s, k in kraken_cells() if s["feasible"]]
    return (math.exp(sum(logs) / len(logs)) - 1.0) * 100.0


def chiplet_best(workload, hardware) -> tuple[dict, dict]:
    """Metrics of a chiplet design's fastest mapping and of its least-energy mapping (resolved specs)."""
    from dse.system.chiplet import design

    point = design.build(workload, hardware)
    assigns, raw, _ = design.optimise(point, (0.0, 1.0))
    return design.metrics_of(point, assigns[0], raw[0]), design.metrics_of(point, assigns[1], raw[1])


def chiplet_ratio(workload, hetero, mono, metric) -> float:
    """Heterogeneous / monolithic: frames/s at each design's fastest mapping (``throughput``), or
    monolith J / hetero J at each one's least-energy mapping (``energy_efficiency``)."""
    wl = _spec("workloads", workload)
    (fh, eh), (fm, em) = (chiplet_best(wl, _spec("hardware", hw)) for hw in (hetero, mono))
    if metric == "throughput":
        return fh["throughput_per_s"] / fm["throughput_per_s"]
    return em["energy_j"] / eh["energy_j"]


def training(workload, hardware, knobs, metric) -> float:
    from dse.system.base import kind_named

    kind = kind_named("training")
    rows, _ = kind.design_rows(kind.build(_spec("workloads", workload), _spec("hardware", hardware, knobs)))
    return float(rows[0][metric])


def training_pass(workload, hardware, parallel, stage, metric) -> float:
    """One virtual stage's pass time in ms (``metric``: f_s, b_s or w_s) at the ``parallel``
    (tp, pp, dp) split, the schedule's 1F1B (pass times do not depend on the schedule)."""
    from dse.spec.common import Parallel
    from dse.system.base import kind_named
    from dse.system.training.evaluator import evaluate_config

    hw = replace(_spec("hardware", hardware, {"system.schedule.family": "1f1b"}), parallel=Parallel(*parallel))
    timeline: dict = {}
    evaluate_config(kind_named("training").build(_spec("workloads", workload), hw), *parallel, timeline)
    return float(timeline[metric][stage]) * 1e3


def serving_single(workload, hardware, model) -> float:
    """A model's latency alone on one GPU of the serving hardware (s), as the serving kind sets
    ``slo_scale`` SLOs from it."""
    from dse.system.serving.evaluator import single_gpu_latency

    return single_gpu_latency(_spec("workloads", workload).models[model], _spec("hardware", hardware))


def serving(workload, hardware, knobs, metric) -> float:
    from dse.system.serving.evaluator import build, evaluate, place

    point = build(_spec("workloads", workload), _spec("hardware", hardware, knobs))
    return float(evaluate(point, place(point)[0])[metric])


COMPUTE: dict[str, Callable[..., float]] = {
    "op_cost": op_cost, "llm_ms": llm_ms, "papi_speedup": papi_speedup, "kraken_ttft_change": kraken_ttft_change,
    "chiplet_ratio": chiplet_ratio, "training": training, "training_pass": training_pass, "serving": serving,
    "serving_single": serving_single,
}


def run(cases: list[Case]) -> list[dict[str, Any]]:
    results = []
    for case in cases:
        value = float(COMPUTE[case.compute](**case.args))
        results.append({
            "name": case.name, "group": case.group, "dse": value, "reference": case.reference, "unit": case.unit,
            "ratio": value / case.reference if case.reference else float("nan"),
            "within_tolerance": case.within(value), "tolerance": case.tolerance_text(), "must": case.must,
            "source": case.source, "reason": case.reason})
    return results


def summary(results: list[dict]) -> dict:
    must = [r for r in results if r["must"]]
    return {"cases": len(results), "within_tolerance": sum(r["within_tolerance"] for r in results),
            "must": len(must), "must_held": sum(r["within_tolerance"] for r in must),
            "ok": all(r["within_tolerance"] for r in must)}


def report(cases: list[Case], as_json: bool) -> bool:
    """Run the cases and print them (a table per group and the deviations' reasons, or JSON);
    True when every ``must`` case holds."""
    import json

    from dse.point import strict

    results = run(cases)
    summ = summary(results)
    if as_json:
        print(json.dumps(strict({"cases": results, "summary": summ}), indent=2, allow_nan=False))
        return summ["ok"]
    from rich.console import Console
    from rich.table import Table

    console = Console()
    table = Table(title="dse validate: dse beside published and measured figures", title_justify="left",
                  show_edge=False, pad_edge=False)
    for col, justify in (("case", "left"), ("dse", "right"), ("reference", "right"), ("ratio", "right"),
                         ("tol.", "right"), ("ok", "center")):
        table.add_column(col, justify=justify, no_wrap=col != "case", overflow="fold")
    group = None
    for r in results:
        if r["group"] != group:
            group = r["group"]
            table.add_section()
            table.add_row(f"[bold]{group}[/bold]", "", "", "", "", "")
        mark = "✓" if r["within_tolerance"] else ("✗" if r["must"] else "·")
        table.add_row(r["name"], f"{r['dse']:.4g}", f"{r['reference']:.4g}", f"{r['ratio']:.3f}", r["tolerance"], mark)
    console.print(table)
    console.print("ok: ✓ within tolerance, ✗ a must case outside it (fails the run), · a known deviation")
    off = [r for r in results if not r["within_tolerance"]]
    if off:
        console.print("\n[bold]Outside tolerance, and why[/bold]")
        for r in off:
            console.print(f"- {r['name']} ({'MUST' if r['must'] else 'known deviation'}): {r['reason']}")
    console.print(f"\n{summ['cases']} cases, {summ['within_tolerance']} within tolerance; "
                  f"{summ['must_held']} of {summ['must']} must cases hold"
                  + ("" if summ["ok"] else " -- FAILED"))
    return summ["ok"]
