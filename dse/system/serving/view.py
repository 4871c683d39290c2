"""Rendering of the serving kind's results for people: the `dse evaluate` text, the short mapping of
`dse pareto`'s table and the bars of `dse evaluate --figure` (dse.system.base.SystemKind reaches
them through ``view_module``)."""

from __future__ import annotations

import math
from typing import Any


def mapping_summary(mapping: str) -> str:
    """A placement short enough for `dse pareto`'s table: as it is up to 40 characters, else its
    group configs counted and the replicas placed ('8x1gpu: 19 replicas'; the full text is in
    the Parquet rows and `--csv`)."""
    if len(mapping) <= 40:
        return mapping
    labels: dict[str, int] = {}
    replicas = 0
    for group in mapping.split(" + "):
        label, _, held = group.partition("(")
        labels[label] = labels.get(label, 0) + 1
        replicas += len([x for x in held.rstrip(")").split(",") if x])
    return " + ".join(f"{k}x{label}" if k > 1 else label for label, k in labels.items()) + f": {replicas} replicas"


def render(console: Any, result: dict, full: bool = False) -> None:
    from dse.output.tables import knobs_line, per_op_table, print_wrapped

    def ms(v):
        return "n/a" if v != v else f"{v * 1e3:,.4g}"

    def pct(v):
        return "n/a" if v != v else f"{v:.1%}"

    console.print(per_op_table(
        f"{result['workload']} on {result['hardware']}: groups",
        ("group", "GPUs", "pp x tp", "models", "GB/GPU", "busy"),
        [(str(g["group"]), str(g["gpus"]), f"{g['pp']}x{g['tp']}", ",".join(g["models"]) or "-",
          f"{g['memory_used_bytes'] / 1e9:.3g}", pct(g["utilisation"])) for g in result["per_group"]]))
    console.print(per_op_table(
        "per model", ("model", "rate/s", "SLO ms", "1-GPU ms", "reps", "requests", "attained"),
        [(r["model"], f"{r['rate_per_s']:.4g}", ms(r["slo_s"]), ms(r["single_gpu_latency_s"]), str(r["replicas"]),
          str(r["requests"]), pct(r["slo_attainment"])) for r in result["per_model"]]))
    console.print(knobs_line(result["params"]))
    lines = [f"placement {result['mapping']} ({result['mapping_source']})",
             f"SLO attainment {pct(result['slo_attainment'])} (worst model {pct(result['slo_attainment_min'])}); "
             f"goodput {result['goodput_per_s']:.4g} req/s",
             f"latency of served requests: mean {ms(result['latency_mean_s'])} ms, p50 "
             f"{ms(result['latency_p50_s'])} ms, p99 {ms(result['latency_p99_s'])} ms",
             f"{result['requests']} requests in the window: {result['served']} served ({result['late']} late), "
             f"{result['rejected']} rejected, {result['unplaced']} unplaced; GPU utilisation "
             f"{pct(result['gpu_utilisation'])} of {result['gpus']} GPUs"]
    if result.get("batching") in ("continuous", "static"):
        lines.append(f"{result['batching']} batching: TTFT p50 {ms(result['ttft_p50_s'])} ms, p99 {ms(result['ttft_p99_s'])} "
                     f"ms; TPOT p50 {ms(result['tpot_p50_s'])} ms, p99 {ms(result['tpot_p99_s'])} ms; "
                     f"{result['output_tokens_per_s']:,.4g} output tokens/s; KV cache "
                     f"{pct(result['kv_cache_utilisation'])} used; {result['preemptions']:,} preemptions")
        extra = [f"{result['energy_per_token_j']:.4g} J/token" if not math.isnan(result["energy_per_token_j"]) else "",
                 f"${result['usd_per_million_tokens']:.4g} per 10^6 tokens"
                 if not math.isnan(result["usd_per_million_tokens"]) else "",
                 f"FC on FC-PIM in {pct(result['fc_pim_iteration_share'])} of iterations"
                 if result.get("fc_pim_iteration_share", 0) > 0 else "",
                 f"{result['tokens_per_decode_step']:.3g} tokens per decode step, draft "
                 f"{pct(result['draft_time_share'])} of busy time" if result.get("draft_time_share", 0) > 0 else ""]
        if any(extra):
            lines.append("; ".join(x for x in extra if x))
    for b in result["baselines"]:
        label = "selective replication" if b["baseline"] == "replication" else f"one group (tp {b['tp']})"
        lines.append(f"baseline {label}: {b['mapping']}: SLO attainment {pct(b['slo_attainment'])}, "
                     f"p99 {ms(b['latency_p99_s'])} ms" + ("" if b["feasible"] else f" ({b['violations']})"))
    lines.append(f"feasible {result['feasible']}" + (f" ({result['violations']})" if result["violations"] else ""))
    for line in lines:
        print_wrapped(console, line, highlight=False, markup=False)


def breakdown(result: dict) -> tuple[str, list[tuple[str, float, float]]]:
    """`dse evaluate --figure`'s bars: (what they are, [(label, latency_s, energy_j)]), per group (the
    busy time of its stages, summed; no energy)."""
    return "per group (busy time of its stages, summed)", [(f"group {g['group']}", float(sum(g["busy_s"])),
                                                           math.nan) for g in result["per_group"]]
