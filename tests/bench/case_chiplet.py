"""Heterogeneous 4-chiplet module vs the optimised monolith (REFERENCES.md: the paper reports up to
2.2x throughput and 1.9x energy efficiency against an optimised output-stationary monolith), and
the conditions under which heterogeneity pays.

    python tests/bench/case_chiplet.py

Each row changes one assumption of hardware/mcm4_hetero.yaml and hardware/mono_os.yaml (both
sides alike unless the row says otherwise) and prints each design's best frame rate (the inner
optimiser's fastest mapping) and best energy per frame (its least-energy mapping), and the
heterogeneous/monolithic ratios: throughput, and energy efficiency (monolith J / hetero J). The
heterogeneous module keeps its knobs' defaults (64 x 64 arrays, pipelining on).
"""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from dse.system.chiplet.spec import Dataflow  # noqa: E402
from dse.spec.common import resolve  # noqa: E402
from dse.spec.hardware import load_hardware  # noqa: E402
from dse.spec.workload import load_workload  # noqa: E402
from dse.system.chiplet.cases import chiplet_best  # noqa: E402

PAPER = (2.2, 1.9)


def load(kind, name):
    loader = load_workload if kind == "wl" else load_hardware
    return resolve(loader(str(ROOT / f"{'workloads' if kind == 'wl' else 'hardware'}/{name}.yaml")), {})


def best(wl, hw):
    """(frames/s at the fastest mapping, J/frame at the least-energy mapping)."""
    fast, frugal = chiplet_best(wl, hw)
    return fast["throughput_per_s"], frugal["energy_j"]


def chips(hw, **changes):
    return replace(hw, chiplets=tuple(replace(c, **changes) for c in hw.chiplets))


def dram(hw, bytes_per_s):
    return replace(hw, dram=replace(hw.dram, bytes_per_s=bytes_per_s))


def scaled_static(hw, k):
    return replace(hw, chiplets=tuple(replace(c, pe_static_w=c.pe_static_w * k,
                                              sram_static_w_per_mb=c.sram_static_w_per_mb * k)
                                      for c in hw.chiplets))


def fixed(hw, rows, cols, label):
    return chips(hw, dataflow=Dataflow(label, rows, cols, "output"), unrolling="fixed")


def count(wl, model, n):
    return replace(wl, models=tuple(replace(m, count=n) if m.name == model else m for m in wl.models))


def seq(wl, n):
    return replace(wl, models=tuple(replace(m, generator=replace(m.generator, seq_len=n)) if m.name == "gpt2" else m
                                    for m in wl.models))


def main() -> None:
    mix, het, mono = load("wl", "gpt2_resnet50"), load("hw", "mcm4_hetero"), load("hw", "mono_os")
    gpt2 = replace(mix, models=mix.models[:1])
    resnet = replace(mix, models=mix.models[1:])
    rows = [
        ("bundled: GPT-2 x1 + ResNet-50 x8, 64 GB/s, 10 MB L2/chiplet", mix, het, mono),
        ("monolith fixed to Y x X (mono_os_yx.yaml)", mix, het, fixed(mono, ("Y",), ("X",), "YxX")),
        ("monolith fixed to Y x K", mix, het, fixed(mono, ("Y",), ("K",), "YxK")),
        ("monolith fixed to tokens x K", mix, het, fixed(mono, ("Y", "X", "N"), ("K",), "tokensxK")),
        ("hetero chiplets flexible too", mix, chips(het, unrolling="flexible"), mono),
        ("DRAM 16 GB/s", mix, dram(het, 16e9), dram(mono, 16e9)),
        ("DRAM 256 GB/s", mix, dram(het, 256e9), dram(mono, 256e9)),
        ("L2 2.5 MB/chiplet (monolith 10 MB)", mix, chips(het, l2_bytes=2.5e6), chips(mono, l2_bytes=10e6)),
        ("L2 40 MB/chiplet (monolith 160 MB)", mix, chips(het, l2_bytes=40e6), chips(mono, l2_bytes=160e6)),
        ("hetero on-chip 1024 B/cycle per chiplet", mix, chips(het, onchip_bytes_per_cycle=1024), mono),
        ("GPT-2 only", gpt2, het, mono),
        ("ResNet-50 x8 only", resnet, het, mono),
        ("GPT-2 x1 + ResNet-50 x32", count(mix, "resnet50", 32), het, mono),
        ("GPT-2 at 256 tokens + ResNet-50 x8", seq(mix, 256), het, mono),
        ("no leakage", mix, scaled_static(het, 0.0), scaled_static(mono, 0.0)),
        ("leakage x4", mix, scaled_static(het, 4.0), scaled_static(mono, 4.0)),
    ]
    head = f"{'case':58} {'hetero f/s':>10} {'mono f/s':>9} {'thr x':>6} {'hetero mJ':>9} {'mono mJ':>8} {'eff x':>6}"
    print(head)
    print("-" * len(head))
    for name, wl, h, m in rows:
        th, eh = best(wl, h)
        tm, em = best(wl, m)
        print(f"{name:58} {th:10.3f} {tm:9.3f} {th / tm:6.2f} {eh * 1e3:9.1f} {em * 1e3:8.1f} {em / eh:6.2f}")
    print(f"paper (against its optimised output-stationary monolith): {PAPER[0]}x throughput, "
          f"{PAPER[1]}x energy efficiency")


if __name__ == "__main__":
    main()
