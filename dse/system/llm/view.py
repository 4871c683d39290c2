"""Rendering of the llm kind's results for people: the `dse evaluate` text, the short mapping of
`dse pareto`'s table and the bars of `dse evaluate --figure` (dse.system.base.SystemKind reaches
them through ``view_module``)."""

from __future__ import annotations

from typing import Any

from dse.output.tables import grouped


def render(console: Any, result: dict, full: bool = False) -> None:
    from dse.output.tables import grouped, knobs_line, per_op_table, print_wrapped

    title = (f"{result['workload']} on {result['hardware']} ({result['mapping']}; FLOPs, bytes and time "
             "per device, energy of all the devices running an op)")
    if full:
        console.print(per_op_table(
            title, ("phase", "op", "device", "x", "GFLOP", "MB", "latency µs", "energy mJ", "bound"),
            [(row["phase"], row["name"], row["device"], str(row["count"]), f"{row['flops'] / 1e9:.4g}",
              f"{row['bytes'] / 1e6:.4g}", f"{row['latency_s'] * 1e6:.4g}", f"{row['energy_j'] * 1e3:.4g}",
              row["bound"]) for row in result["per_op"]]))
    else:
        groups = grouped(result["per_op"], ("phase", "device"), ("flops", "bytes", "latency_s", "energy_j"))
        console.print(per_op_table(
            f"{title}, per phase and device (--full: per op)",
            ("phase", "device", "ops", "GFLOP", "GB", "latency ms", "energy J", "bound"),
            [(g["phase"], g["device"], str(g["ops"]), f"{g['flops'] / 1e9:.4g}", f"{g['bytes'] / 1e9:.4g}",
              f"{g['latency_s'] * 1e3:.4g}", f"{g['energy_j']:.4g}", g["bound"]) for g in groups],
            text_columns=2))
    console.print(knobs_line(result["params"]))
    console.print(f"parallel ({result['mapping_source']}): {result['mapping']}   dispatch {result['policy']}"
                  + (f" alpha {result['alpha']:g}" if result["policy"] == "papi" else ""))

    def ms(v):
        return "n/a" if v != v else f"{v * 1e3:.4g} ms"

    def gb(v):
        return "n/a" if v != v else f"{v / 1e9:.4g} GB"

    print_wrapped(
        console,
        f"TTFT {ms(result['ttft_s'])}   decode step 1 {ms(result['decode_first_step_s'])}   "
        f"TPOT {ms(result['tpot_s'])}   {result['tokens_per_s']:.4g} tokens/s   "
        f"{result['energy_per_token_j']:.4g} J/token\n"
        f"{result['output_tokens']:.0f} output tokens in {result['decode_steps']:.0f} steps, "
        f"{result['latency_s']:.4g} s; communication {ms(result['comm_s'])}; FC on GPU in "
        f"{result['fc_on_gpu_fraction']:.0%} of steps\n"
        f"peak memory per device: GPU {gb(result['peak_gpu_memory_bytes'])}, "
        f"PIM {gb(result['peak_pim_memory_bytes'])}   feasible {result['feasible']}"
        + (f" ({result['violations']})" if result["violations"] else ""))


def breakdown(result: dict) -> tuple[str, list[tuple[str, float, float]]]:
    """`dse evaluate --figure`'s bars: (what they are, [(label, latency_s, energy_j)]), per phase,
    device and op."""
    groups = grouped(result["per_op"], ("phase", "device", "name"), ("latency_s", "energy_j"))
    return "per phase, device and op", [(f"{g['phase']} / {g['device']} / {g['name']}", g["latency_s"],
                                         g["energy_j"]) for g in groups]
