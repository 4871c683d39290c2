"""Workload generators against public model sizes, and the bundled specs."""

from __future__ import annotations

from pathlib import Path

import pytest

from dse.models.views import token_grid
from dse.spec.common import collect_knobs, resolve
from dse.spec.hardware import load_hardware
from dse.spec.workload import load_workload
from dse.system.base import kind_of

ROOT = Path(__file__).resolve().parent.parent


def test_token_grid():
    assert token_grid(1024) == (32, 32)
    assert token_grid(256) == (16, 16)
    assert token_grid(384) == (24, 16)
    assert token_grid(7) == (7, 1)


@pytest.mark.parametrize("path", sorted((ROOT / "workloads").glob("*.yaml")), ids=lambda p: p.name)
def test_bundled_workloads_load(path):
    from dse.system.chiplet.ir import compile_ops

    from dse.spec.workload import Pipeline

    spec = resolve(load_workload(str(path)), {})
    if spec.serving is not None:                             # traffic for the serving kind
        from dse.system.serving.arrivals import generate

        arrivals, models = generate(spec, 0)
        assert arrivals.size > 0 and set(models.tolist()) == set(range(len(spec.models)))
        return
    if isinstance(spec.models[0].generator, Pipeline):       # a synthetic pipeline: schedules only
        hw = resolve(load_hardware(str(ROOT / "hardware/pipeline_only.yaml")), {})
        kind = kind_of(hw)
        kind.check_workload(spec, hw)
        rows, n = kind.design_rows(kind.build(spec, hw))
        assert n == 1 and rows[0]["feasible"]
        return
    assert compile_ops(spec).n > 0


@pytest.mark.parametrize("path", sorted((ROOT / "hardware").glob("*.yaml")), ids=lambda p: p.name)
def test_bundled_hardware_load(path):
    hw = load_hardware(str(path))
    assert kind_of(hw).name in ("chiplet", "llm", "training", "serving")


def test_mono_matches_hetero_totals():
    # mono_os has the same total PEs and L2 as mcm4_hetero (the comparison the issue asks for).
    hetero = resolve(load_hardware(str(ROOT / "hardware/mcm4_hetero.yaml")), {})
    mono = load_hardware(str(ROOT / "hardware/mono_os.yaml"))
    assert sum(c.pe_array[0] * c.pe_array[1] for c in hetero.chiplets) == 128 * 128
    assert sum(c.l2_bytes for c in hetero.chiplets) == mono.chiplets[0].l2_bytes
    assert [c.dataflow.name for c in hetero.chiplets].count("weight_stationary") == 2
    knobs = [k.path for k in collect_knobs(load_hardware(str(ROOT / "hardware/mcm4_hetero.yaml")))]
    assert "chiplets.ws0.pe_array" in knobs and "system.pipelining" in knobs
