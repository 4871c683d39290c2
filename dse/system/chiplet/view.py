"""Rendering of the chiplet kind's results for people: the `dse evaluate` text, the short mapping of
`dse pareto`'s table and the bars of `dse evaluate --figure` (dse.system.base.SystemKind reaches
them through ``view_module``)."""

from __future__ import annotations

from typing import Any

from dse.output.tables import grouped


def render(console: Any, result: dict, full: bool = False) -> None:
    from dse.output.tables import grouped, knobs_line, per_op_table, print_wrapped

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
    print_wrapped(
        console,
        f"throughput {result['throughput_per_s']:.4g} frames/s   latency {result['latency_s'] * 1e3:.4g} ms   "
        f"energy {result['energy_j'] * 1e3:.4g} mJ/frame   EDP {result['edp_js']:.4g} J·s\n"
        f"DRAM {result['dram_bytes'] / 1e6:.4g} MB/frame   NoP {result['nop_bytes'] / 1e6:.4g} MB/frame   "
        f"pipelining {result['pipelining']}   utilisation: {utils}\n"
        "energy per frame (mJ): " + "  ".join(
            f"{label} {result[key] * 1e3:.4g}" for label, key in
            (("MAC", "mac_energy_j"), ("L1", "l1_energy_j"), ("L2", "l2_energy_j"), ("DRAM", "dram_energy_j"),
             ("NoP", "nop_energy_j"), ("static", "static_energy_j"))))


def mapping_summary(mapping: str) -> str:
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


def breakdown(result: dict) -> tuple[str, list[tuple[str, float, float]]]:
    """`dse evaluate --figure`'s bars: (what they are, [(label, latency_s, energy_j)]), per model and
    chiplet."""
    groups = grouped(result["per_op"], ("model", "chiplet"), ("latency_s", "energy_j"))
    return "per model and chiplet", [(f"{g['model']} / {g['chiplet']}", g["latency_s"], g["energy_j"])
                                     for g in groups]
