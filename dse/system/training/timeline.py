"""A schedule as text: one line per device, one character per time bucket.

Glyphs: ``F`` forward, ``B`` activation gradient, ``W`` weight gradient (a fused BW shows its B part
then its W part, split by the stage's B and W times), lower case for the second (odd) chunk of a
device, ``·`` idle. A bucket shows the pass running at its middle."""

from __future__ import annotations

import numpy as np


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
