"""Rendering of the training kind's results for people: the `dse evaluate` text, the short mapping of
`dse pareto`'s table and the bars of `dse evaluate --figure` (dse.system.base.SystemKind reaches
them through ``view_module``)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from dse.system.training.kind import PARALLEL_FROM_SEARCH


def render(console: Any, result: dict, full: bool = False) -> None:
    from dse.output.tables import knobs_line, per_op_table, print_wrapped

    def ms(v):
        return "n/a" if v != v else f"{v * 1e3:,.4g}"

    synthetic = result["tokens_per_s"] != result["tokens_per_s"]
    act_head = "act units" if synthetic and result["peak_activation_bytes"] != result["peak_activation_bytes"] else "act MB"
    unit = 1.0 if act_head == "act units" else 1e6
    console.print(per_op_table(
        f"{result['workload']} on {result['hardware']} ({result['mapping']}, {result['schedule']}, per stage)",
        ("stage", "dev", "F ms", "B ms", "W ms", "send ms", act_head, "life ms"),
        [(str(r["stage"]), str(r["device"]), ms(r["forward_s"]), ms(r["backward_s"]), ms(r["weight_grad_s"]),
          ms(r["send_s"]), f"{r['activation_bytes'] / unit:,.4g}", ms(r["lifespan_s"]))
         for r in result["per_stage"]]))
    width = max(40, min(console.width, 120))
    for line in timeline_lines(result["passes"], int(result["pp"]), result["pipeline_s"], width,
                               result["per_stage"]):
        console.print(line, markup=False, highlight=False)
    console.print(knobs_line(result["params"]))

    def gb(v):
        return "n/a" if v != v else f"{v / 1e9:.4g} GB"

    def sec(v):
        return "n/a" if v != v else f"{v:.4g} s" if v >= 1 else f"{v * 1e3:.4g} ms"

    how = "the spec's split" if result["mapping_source"] != PARALLEL_FROM_SEARCH else "the best feasible auto split"
    lines = [f"parallel {result['mapping']} ({how}); {result['microbatches']:.0f} microbatches"
             + ("" if synthetic else f" of {result['microbatch_size']:.0f}"),
             f"iteration {sec(result['iteration_s'])}: pipeline {sec(result['pipeline_s'])}"
             + ("" if synthetic else f", DP all-reduce {sec(result['dp_allreduce_s'])}, "
                f"optimizer {sec(result['optimizer_s'])}"),
             (f"{result['microbatches_per_s']:.4g} microbatches/s" if synthetic else
              f"{result['tokens_per_s']:,.0f} tokens/s, MFU {result['mfu']:.1%}")
             + f"; bubble {result['bubble_rate']:.4f} (span), {result['bubble_rate_makespan']:.4f} (makespan)",
             f"peak activations {result['peak_activation_units']:.4g} microbatch units"
             + ("" if act_head == "act units" else f" = {gb(result['peak_activation_bytes'])}"),
             ]
    if not synthetic:
        lines.append(f"weights + gradients + optimizer {gb(result['state_bytes'])}; peak memory "
                     f"{gb(result['peak_memory_bytes'])}")
    lines.append(f"feasible {result['feasible']}" + (f" ({result['violations']})" if result["violations"] else ""))
    for line in lines:
        print_wrapped(console, line, highlight=False)


def breakdown(result: dict) -> tuple[str, list[tuple[str, float, float]]]:
    """`dse evaluate --figure`'s bars: (what they are, [(label, latency_s, energy_j)]), per stage
    (F + B + W; no energy)."""
    return "per stage (F + B + W)", [(f"stage {r['stage']} (dev {r['device']})",
                                      r["forward_s"] + r["backward_s"] + r["weight_grad_s"], math.nan)
                                     for r in result["per_stage"]]


# --- a schedule as text: one line per device, one character per time bucket ------------------------
# Glyphs: ``F`` forward, ``B`` activation gradient, ``W`` weight gradient (a fused BW shows its B part
# then its W part, split by the stage's B and W times), lower case for the second (odd) chunk of a
# device, ``·`` idle. A bucket shows the pass running at its middle.

def timeline_lines(passes: list[dict], devices: int, makespan: float, width: int,
                   per_stage: list[dict] | None = None) -> list[str]:
    label = max(len(f"dev {devices - 1}"), 5) + 1
    cols = max(10, width - label - 1)
    if makespan <= 0:
        return []
    step = makespan / cols
    mid = (np.arange(cols) + 0.5) * step
    end = f"{makespan * 1e3:,.4g} ms"
    lines = [" " * label + "0" + end.rjust(cols - 1)]
    split = {}
    if per_stage:
        for r in per_stage:
            total = r["backward_s"] + r["weight_grad_s"]
            split[r["stage"]] = r["backward_s"] / total if total > 0 else 1.0
    by_device: list[list[dict]] = [[] for _ in range(devices)]
    for x in passes:                                   # each device's passes, already in time order
        by_device[x["device"]].append(x)
    for d, mine in enumerate(by_device):
        starts = np.array([x["start_s"] for x in mine])
        row = []
        for t in mid:
            i = int(np.searchsorted(starts, t, side="right")) - 1
            if i < 0 or t >= mine[i]["end_s"]:
                row.append("·")
                continue
            x = mine[i]
            glyph = x["pass"]
            if glyph == "BW":
                frac = (t - x["start_s"]) / max(x["end_s"] - x["start_s"], 1e-30)
                glyph = "B" if frac < split.get(x["stage"], 0.5) else "W"
            odd = (x["stage"] // devices) % 2 == 1
            row.append(glyph.lower() if odd else glyph)
        lines.append(f"dev {d}".ljust(label) + "".join(row))
    return lines
