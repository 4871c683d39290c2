"""`dse validate` in process: tolerance forms, and a case outside its tolerance fails the run (the
real CLI runs every case in tests/test_cli.py)."""

from __future__ import annotations

import json
import math
from dataclasses import replace

from dse import validate as V


def test_a_must_case_outside_its_tolerance_fails_the_run(capsys):
    case = next(c for c in V.load_cases() if c.name.startswith("1F1B makespan"))
    assert V.report([case], as_json=True) is True
    # 116 s is one unit off the closed form (n + p - 1)(F + B + W) = 117: outside "exact".
    capsys.readouterr()
    bad = replace(case, reference=116.0)
    assert V.report([bad], as_json=True) is False
    out = json.loads(capsys.readouterr().out)
    assert out["summary"] == {"cases": 1, "within_tolerance": 0, "must": 1, "must_held": 0, "ok": False}


def test_tolerance_forms():
    base = V.Case("c", "g", "training", {}, 100.0, "s", "src", {"rel": 0.05}, True, "why")
    assert base.within(104.9) and not base.within(105.2) and not base.within(math.nan)
    assert replace(base, tolerance={"abs": 3.0}).within(97.0) and not replace(base, tolerance={"abs": 3.0}).within(96.9)
    band = replace(base, tolerance={"band": [0.5, 2.0]})
    assert band.within(50.0) and band.within(200.0) and not band.within(201.0) and not band.within(49.0)
