"""`dse validate`'s computations for the llm kind (cases: validate_cases.yaml beside this file): step
times against analytical tools and measured serving, PAPI's speedups and Kraken's TTFT change."""

from __future__ import annotations

import math
from dataclasses import replace
from functools import lru_cache

from dse.spec.bundled import bundled, spec


def llm_ms(workload, hardware, parallel, metric, knobs=None) -> float:
    from dse.system.llm import evaluator as llm

    wl = spec("workloads", workload, knobs)
    m = llm.evaluate_config(llm.build(wl, spec("hardware", hardware)), *parallel)
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
    base = {name: spec("hardware", name) for name in ("a100_attacc", "attacc_only")}
    logs: dict[str, list[float]] = {name: [] for name in base}
    for model in ("llama65b", "gpt3_66b", "gpt3_175b"):
        for rlp in (4, 16, 64):
            for tlp in (1, 2, 4):
                wl = spec("workloads", f"{model}_decode", {"models[0].transformer.batch": rlp,
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

    hw = spec("hardware", "a100x8")
    for size in ("6.7b", "13b", "66b", "175b"):
        for tp in (4, 8):
            for ctx in (128, 2048):
                m = {v: llm.evaluate_config(llm.build(spec("workloads", f"kraken_gpt3_{size}_prefill", {
                    "models[0].transformer.seq_len": ctx, "models[0].transformer.layer_variant": v}), hw), tp, 1, 1)
                     for v in ("standard", "kraken")}
                yield size, tp, ctx, m["standard"], m["kraken"]


def kraken_ttft_change() -> float:
    """Geomean TTFT change (%) of Kraken layers against standard TP over :func:`kraken_cells` that
    fit in memory."""
    logs = [math.log(k["ttft_s"] / s["ttft_s"]) for _, _, _, s, k in kraken_cells() if s["feasible"]]
    return (math.exp(sum(logs) / len(logs)) - 1.0) * 100.0


COMPUTE = {"llm_ms": llm_ms, "papi_speedup": papi_speedup, "kraken_ttft_change": kraken_ttft_change}
