""""One package plus one registry line", for real: a toy kind written into a temporary folder (no
file of dse changed) is registered by one line and then runs through `dse evaluate`, a short
`dse search`, `dse pareto` and `dse validate`, the real CLI in a subprocess.

The toy: a machine of ``lanes`` identical lanes at ``flop_per_s`` each runs a workload's ``ops``
(2 FLOP per MAC); the mapping puts each op on one lane (``serial``) or splits it over all lanes
(``split``, each split op paying ``sync_s``). Energy: ``pj_per_flop`` per FLOP plus ``idle_w`` per
lane for the latency. Hand-derived for the test's one op of 1e9 MACs (2e9 FLOP) on lanes of 1e9
FLOP/s, 1 ms sync, 1 pJ/FLOP, 0.5 W idle per lane (2e9 FLOP x 1 pJ = 0.002 J):
    4 lanes, split:  0.5 s + 1 ms = 0.501 s;  0.002 + 4 x 0.5 x 0.501 = 1.004 J
    2 lanes, split:  1 s + 1 ms = 1.001 s;    0.002 + 2 x 0.5 x 1.001 = 1.003 J
    1 lane, serial:  2 s;                     0.002 + 1 x 0.5 x 2     = 1.002 J   (split: 2.001 s)
so the front over the lanes knob is all three: faster costs energy.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

KIND = '''
from dse.errors import DseError
from dse.system.base import SystemKind


class ToyKind(SystemKind):
    name = "toy"
    hardware_sections = ()
    workload_sections = ("models[].ops",)
    fields_heading = "Toy hardware fields"
    spec_module = "toykind.spec"
    view_module = "toykind.view"
    cases_module = "toykind.cases"

    def check_workload(self, workload, hardware):
        if not all(m.ops for m in workload.models):
            raise DseError(workload.source, "models", "ops for toy hardware")

    def objectives(self, workload, hardware):
        return (("latency_s", False), ("energy_j", False))

    def build(self, workload, hardware):
        flops = sum(2.0 * op.macs * m.count for m in workload.models for op in m.ops)
        return flops, hardware

    def design_rows(self, point, weights=None):
        from toykind.evaluator import evaluate

        return [evaluate(point, mapping) for mapping in ("serial", "split")], 2

    def detail(self, point, mapping_path):
        from toykind.evaluator import evaluate

        best = min((evaluate(point, m) for m in ("serial", "split")), key=lambda r: r["latency_s"])
        return {**best, "mapping_source": "the faster mapping", "per_op": []}
'''
SPEC = '''
from dataclasses import dataclass
from typing import ClassVar

from dse.spec.common import Knob

FIELDS = {"": (("name", "kind", "machine"), ()),
          "machine": (("lanes", "flop_per_s", "sync_s", "pj_per_flop", "idle_w"), ())}


@dataclass(frozen=True)
class ToyHardware:
    kind: ClassVar[str] = "toy"
    name: str
    source: str
    lanes: "int | Knob"
    flop_per_s: "float | Knob"
    sync_s: "float | Knob"
    pj_per_flop: "float | Knob"
    idle_w: "float | Knob"


def parse(root):
    top = root.mapping(*FIELDS[""])
    f = top["machine"].mapping(*FIELDS["machine"])
    return ToyHardware(top["name"].name(knob=False), root.source, f["lanes"].number(integer=True),
                       f["flop_per_s"].number("flop_per_s"), f["sync_s"].number("s", allow_zero=True),
                       f["pj_per_flop"].number("pj_per_flop", allow_zero=True), f["idle_w"].number("w", allow_zero=True))
'''
EVALUATOR = '''
def evaluate(point, mapping):
    """serial: flops / rate; split: flops / (lanes rate) + sync. Energy: flops pJ + lanes idle_w latency."""
    flops, hw = point
    lanes = int(hw.lanes)
    latency = flops / hw.flop_per_s if mapping == "serial" else flops / (lanes * hw.flop_per_s) + hw.sync_s
    energy = flops * hw.pj_per_flop * 1e-12 + lanes * hw.idle_w * latency
    return {"objective_weight": float("nan"), "mapping": mapping, "latency_s": latency, "energy_j": energy,
            "feasible": True, "violations": ""}
'''
VIEW = '''
def render(console, result, full=False):
    console.print(f"toy: {result['mapping']} {result['latency_s']:.6g} s {result['energy_j']:.6g} J")


def breakdown(result):
    return "the design", [("all", result["latency_s"], result["energy_j"])]
'''
CASES = '''
from dse.spec.bundled import spec


def split_latency(workload):
    return 0.0


COMPUTE = {"split_latency": split_latency}
'''
CASES_YAML = '''
- name: toy split latency, nothing to split
  group: toy
  compute: split_latency
  args: {workload: none}
  reference: 0.0
  unit: s
  source: hand derivation
  tolerance: {abs: 0.0}
  must: true
  reason: exact
'''
HARDWARE = '''name: toy4
kind: toy
machine:
  lanes: {choices: [1, 2, 4]}
  flop_per_s: 1e9
  sync_s: 1 ms
  pj_per_flop: 1
  idle_w: 0.5 W
'''
WORKLOAD = '''name: one-op
models:
  - name: m
    ops:
      - {name: big, N: 1, K: 1000, C: 1000, Y: 1000, X: 1}
'''
# The one registry line, added by the process that runs the CLI (no file of dse is changed).
BOOT = ("import sys; sys.path.insert(0, {tmp!r}); from dse.system import base; "
        "base.REGISTRY['toy'] = 'toykind.kind:ToyKind'; from dse.cli import main; sys.argv = ['dse'] + {args!r}; main()")


def make(tmp: Path) -> None:
    pkg = tmp / "toykind"
    pkg.mkdir()
    for name, text in (("__init__.py", ""), ("kind.py", KIND), ("spec.py", SPEC), ("evaluator.py", EVALUATOR),
                       ("view.py", VIEW), ("cases.py", CASES), ("validate_cases.yaml", CASES_YAML)):
        (pkg / name).write_text(text)
    (tmp / "toy.yaml").write_text(HARDWARE)
    (tmp / "one_op.yaml").write_text(WORKLOAD)


def dse(tmp: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", BOOT.format(tmp=str(tmp), args=list(args))], capture_output=True,
                          text=True, cwd=tmp, env={"PATH": "/usr/bin:/bin", "COLUMNS": "100", "PYTHONPATH": str(ROOT)},
                          timeout=600)


def test_a_toy_kind_runs_through_every_command(tmp_path):
    make(tmp_path)
    r = dse(tmp_path, "evaluate", "one_op.yaml", "toy.yaml", "--set", "lanes=4", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["kind"] == "toy" and out["mapping"] == "split"
    assert abs(out["latency_s"] - 0.501) < 1e-12 and abs(out["energy_j"] - 1.004) < 1e-12   # module docstring
    r = dse(tmp_path, "evaluate", "one_op.yaml", "toy.yaml", "--set", "lanes=4", "--figure", "f.svg")
    assert r.returncode == 0 and "toy: split 0.501 s" in r.stdout and (tmp_path / "f.svg").is_file(), r.stderr
    r = dse(tmp_path, "search", "one_op.yaml", "toy.yaml", "--trials", "6", "--batch", "3", "-q", "--study", "t")
    assert r.returncode == 0 and "6 of 6 trials complete" in r.stdout, r.stderr
    r = dse(tmp_path, "pareto", "results/t", "--csv", "front.csv")
    assert r.returncode == 0 and "Pareto front of results/t" in r.stdout, r.stderr
    import csv

    front = sorted((float(r["latency_s"]), float(r["energy_j"]), r["param.hw.machine.lanes"], r["mapping"])
                   for r in csv.DictReader((tmp_path / "front.csv").open()))
    assert front == [(0.501, 1.004, "4", "split"), (1.001, 1.003, "2", "split"), (2.0, 1.002, "1", "serial")]
    r = dse(tmp_path, "validate", "-k", "toy", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["summary"] == {"cases": 1, "within_tolerance": 1, "must": 1, "must_held": 1,
                                               "ok": True}
    # a section the toy does not read is refused like any kind's
    (tmp_path / "bad.yaml").write_text(WORKLOAD + "  - name: cnn\n    resnet50: {}\n")
    r = dse(tmp_path, "evaluate", "bad.yaml", "toy.yaml")
    assert r.returncode == 2 and r.stderr == ("dse: error: bad.yaml: models[1].resnet50: expected no resnet50 section "
                                              "for toy hardware (the chiplet kind reads it; toy would ignore it)\n")


def test_every_kind_package_has_the_same_shape():
    from dse.system.base import REGISTRY

    for name in REGISTRY:
        files = {p.name for p in (ROOT / "dse" / "system" / name).iterdir()}
        assert {"spec.py", "kind.py", "evaluator.py", "kernels.py", "view.py", "cases.py",
                "validate_cases.yaml"} <= files, (name, sorted(files))
