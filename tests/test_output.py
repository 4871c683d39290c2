"""Readable output: knob names and `dse knobs`, objectives' directions, strict JSON, empty fronts,
narrow terminals, progress lines, figures, CLI conventions."""

from __future__ import annotations

import io
import json
import math
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from dse.errors import DseError

ROOT = Path(__file__).resolve().parents[1]
WL = str(ROOT / "workloads/gpt2_resnet50.yaml")
HW = str(ROOT / "hardware/mcm4_hetero.yaml")
LLAMA = str(ROOT / "workloads/llama65b_serving.yaml")
A100 = str(ROOT / "hardware/a100x8.yaml")


def dse(*args: str, columns: int = 200, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": str(columns)}
    return subprocess.run([sys.executable, "-m", "dse.cli", *args], capture_output=True, text=True,
                          cwd=cwd or ROOT, env=env, timeout=600)


def strict_json(text: str):
    """json.loads that refuses NaN / Infinity, as most parsers outside Python do."""
    def refuse(name):
        raise ValueError(f"non-standard JSON constant {name}")
    return json.loads(text, parse_constant=refuse)


# --- knob names -------------------------------------------------------------------------------

def test_short_names_are_the_shortest_unique_suffix():
    from dse.output.names import short_names

    names = ["hw.chiplets.ws0.pe_array", "hw.chiplets.ws1.pe_array", "hw.system.pipelining",
             "wl.models[0].transformer.batch", "wl.models[1].transformer.batch", "hw.system.parallel.tp"]
    assert short_names(names) == ["ws0.pe_array", "ws1.pe_array", "pipelining", "models[0].transformer.batch",
                                  "models[1].transformer.batch", "tp"]


def test_dse_knobs_on_two_bundled_cases():
    r = dse("knobs", LLAMA, A100, "--json")
    assert r.returncode == 0, r.stderr
    knobs = {k["name"]: k for k in strict_json(r.stdout)["knobs"]}
    assert set(knobs) == {"batch", "tp", "pp", "dp"}
    assert knobs["batch"]["full_name"] == "wl.models[0].transformer.batch" and knobs["batch"]["choices"] == [1, 8, 32]
    r = dse("knobs", WL, HW, columns=80)
    assert r.returncode == 0, r.stderr
    assert "ws0.pe_array" in r.stdout and "hw.chiplets.ws0.pe_array" in r.stdout and "64x64, 32x128, 128x32" in r.stdout
    assert max(len(line) for line in r.stdout.splitlines()) <= 80


def test_set_by_alias_with_any_legal_value():
    # batch 2 is not among the study's choices (1, 8, 32): used, with a warning; tp=8 by alias
    r = dse("evaluate", LLAMA, A100, "--set", "batch=2", "--set", "tp=8", "--json")
    assert r.returncode == 0, r.stderr
    out = strict_json(r.stdout)
    assert out["params"]["wl.models[0].transformer.batch"] == 2 and out["params"]["hw.system.parallel.tp"] == 8
    assert "warning: --set batch=2: outside the study's choices [1, 8, 32]" in r.stderr
    # the full name and the name without its prefix work too; a choice gives no warning
    r = dse("evaluate", LLAMA, A100, "--set", "models[0].transformer.batch=8", "--json")
    assert r.returncode == 0 and "warning" not in r.stderr
    assert strict_json(r.stdout)["params"]["wl.models[0].transformer.batch"] == 8


# --- objectives, JSON, empty fronts --------------------------------------------------------------

def test_objective_without_direction_takes_the_metric_names_direction():
    from dse.output.front import natural_direction, parse_objectives

    assert parse_objectives("throughput_per_s,energy_j") == [("throughput_per_s", True, True), ("energy_j", False, True)]
    assert parse_objectives("latency_s:max") == [("latency_s", True, False)]
    assert natural_direction("slo_attainment") is True and natural_direction("bubble_rate") is False
    with pytest.raises(ValueError):
        parse_objectives("mapping")            # says nothing about its direction
    with pytest.raises(ValueError):
        parse_objectives("energy_j:down")


def test_pareto_objective_directions_stated(tmp_path):
    r = dse("search", WL, HW, "--trials", "6", "--batch", "3", "--out", str(tmp_path), "-q")
    assert r.returncode == 0, r.stderr
    folder = str(tmp_path / "gpt2_resnet50__mcm4_hetero")
    r = dse("pareto", folder, "--objectives", "throughput_per_s,energy_j")
    assert r.returncode == 0, r.stderr
    assert "throughput_per_s ↑, energy_j ↓" in r.stdout
    assert "directions from the metric names (give :max or :min to choose): throughput_per_s maximised, " \
           "energy_j minimised" in r.stdout
    r = dse("pareto", folder, "--objectives", "trial")
    assert r.returncode == 2 and "no :max or :min, and the name does not say" in r.stderr
    # mappings_evaluated sums to the work done: the trial's count on its first row only
    frame = pd.concat(pd.read_parquet(p) for p in Path(folder).glob("part-*.parquet"))
    per_trial = frame.groupby("trial")["mappings_evaluated"].agg(lambda s: (s > 0).sum())
    assert (per_trial <= 1).all()


def test_strict_json_replaces_non_finite_values():
    from dse.point import strict

    assert strict({"a": math.nan, "b": [1.0, math.inf], "c": "x", "d": {"e": -math.inf}}) == \
        {"a": None, "b": [1.0, None], "c": "x", "d": {"e": None}}


def test_evaluate_json_is_strict_and_carries_feasibility():
    # gpt3_175b_decode on papi decodes without a prefill: ttft_s is not a number (null in JSON)
    r = dse("evaluate", str(ROOT / "workloads/gpt3_175b_decode.yaml"), str(ROOT / "hardware/papi.yaml"), "--json")
    assert r.returncode == 0, r.stderr
    out = strict_json(r.stdout)
    assert out["ttft_s"] is None and out["feasible"] in (True, False) and "violations" in out
    r = dse("evaluate", WL, HW, "--json")
    out = strict_json(r.stdout)
    assert out["feasible"] is True and out["violations"] == ""


def test_empty_front_explains_the_violations():
    from dse.output.report import empty_front_reason

    frame = pd.DataFrame({"tokens_per_s": [1.0, 2.0, 3.0], "feasible": [False] * 3,
                          "violations": ["tp*pp*dp = 16 > 8 GPUs", "tp*pp*dp = 32 > 8 GPUs; dp 4 > batch 1",
                                         "dp 8 > batch 1"]})
    text = empty_front_reason(frame, [("tokens_per_s", True)])
    assert text.startswith("no feasible design: all 3 designs violate a constraint")
    assert "  2 x tp*pp*dp = # > # GPUs  (e.g. tp*pp*dp = 16 > 8 GPUs)" in text
    assert "  2 x dp # > batch #  (e.g. dp 4 > batch 1)" in text
    assert empty_front_reason(frame.iloc[:0], [("tokens_per_s", True)]).startswith("no designs")


# --- narrow terminals ---------------------------------------------------------------------------

NUMBER = re.compile(r"\d+(\.\d+)?(e-?\d+)?")


@pytest.fixture(scope="module")
def chiplet_study(tmp_path_factory):
    out = tmp_path_factory.mktemp("study")
    r = dse("search", WL, HW, "--trials", "30", "--batch", "10", "--out", str(out), "-q")
    assert r.returncode == 0, r.stderr
    return out / "gpt2_resnet50__mcm4_hetero"


def test_pareto_at_80_columns_keeps_every_number_whole(chiplet_study):
    wide = dse("pareto", str(chiplet_study), "--csv", str(chiplet_study.parent / "front.csv"), columns=250)
    narrow = dse("pareto", str(chiplet_study), columns=80)
    assert narrow.returncode == 0, narrow.stderr
    assert max(len(line) for line in narrow.stdout.splitlines()) <= 80
    front = pd.read_csv(chiplet_study.parent / "front.csv")
    # every front row's throughput and energy appear whole (5 significant digits) in the 80-column table
    from dse.output.report import _fmt

    for value in front.drop_duplicates(["throughput_per_s", "energy_j"]).head(30)["throughput_per_s"]:
        assert re.search(rf"(^|\s){re.escape(_fmt(float(value)))}(\s|$)", narrow.stdout, re.M), value
    assert "hidden at 80 columns: ops per chiplet" in narrow.stdout
    assert "hidden at" not in wide.stdout


def test_many_hidden_knobs_are_counted_not_listed():
    # A 6x6 mesh has 36 knobs: past four hidden knobs the note counts them and names the ends.
    from dse.output.report import _hidden_note

    labels = {f"param.hw.chiplets.c{i}.dataflow": f"c{i}.dataflow" for i in range(6)}
    hidden = ["mapping", "trial", *labels]
    assert _hidden_note(hidden, labels, "ops per chiplet") == \
        "ops per chiplet, trial, 6 knobs (c0.dataflow … c5.dataflow)"
    assert _hidden_note(hidden[:5], labels, "ops per chiplet") == \
        "ops per chiplet, trial, c0.dataflow, c1.dataflow, c2.dataflow"


def test_evaluate_at_80_columns_groups_ops_and_cuts_nothing():
    r = dse("evaluate", WL, HW, columns=80)
    assert r.returncode == 0, r.stderr
    assert "…" not in r.stdout and max(len(line) for line in r.stdout.splitlines()) <= 80
    assert "per model and chiplet (--full: per op)" in " ".join(r.stdout.split())
    table = r.stdout.split("knobs:")[0]
    assert len(table.splitlines()) < 16            # 8 (model, chiplet) groups, not 127 ops
    full = dse("evaluate", WL, HW, "--full", columns=80)
    assert "l0.qkv" in full.stdout and "…" not in full.stdout
    # the grouped latencies are the per-op latencies summed (x count)
    from dse.output.tables import grouped

    rows = strict_json(dse("evaluate", WL, HW, "--json").stdout)["per_op"]
    groups = grouped(rows, ("model", "chiplet"), ("latency_s",))
    assert sum(g["latency_s"] for g in groups) == pytest.approx(sum(r["latency_s"] * r["count"] for r in rows))
    assert sum(g["ops"] for g in groups) == len(rows)


def test_grouped_by_hand():
    from dse.output.tables import grouped

    rows = [dict(model="a", chiplet="x", count=2, latency_s=1.0, cycles=10.0, utilization=0.5, bound="compute"),
            dict(model="a", chiplet="x", count=1, latency_s=3.0, cycles=30.0, utilization=1.0, bound="dram"),
            dict(model="b", chiplet="x", count=1, latency_s=1.0, cycles=5.0, utilization=0.2, bound="onchip")]
    g = grouped(rows, ("model", "chiplet"), ("latency_s", "cycles"))
    # a/x: latency 2 x 1 + 3 = 5; cycles 20 + 30 = 50; utilization (0.5 x 20 + 1.0 x 30) / 50 = 0.8;
    # bound: dram holds 3 of the 5 seconds
    assert g[0] == {"model": "a", "chiplet": "x", "ops": 2, "latency_s": 5.0, "cycles": 50.0, "bound": "dram",
                    "weighted_utilization": pytest.approx(0.8)}
    assert g[1]["ops"] == 1 and g[1]["bound"] == "onchip"


# --- progress -----------------------------------------------------------------------------------

def summary(**kw):
    base = dict(study="s", budget=100, complete_before=0, complete_after=0, pending=0,
                objectives=(("throughput_per_s", True), ("energy_j", False)), best=[math.nan, math.nan])
    return SimpleNamespace(**{**base, **kw})


def test_progress_lines_for_job_logs():
    from dse.output.progress import Progress, best_values_text

    assert best_values_text(summary()) == "no feasible design yet"
    assert best_values_text(summary(best=[35.96, 0.3492])) == "best throughput_per_s 35.96, energy_j 0.3492"
    log = io.StringIO()
    p = Progress(stream=log, every_s=0.0, tty=False)
    p.update(summary(complete_after=10, pending=5, best=[30.0, 0.4]))
    p.update(summary(complete_after=40, pending=0, best=[35.0, 0.35]))
    p.close()
    lines = log.getvalue().splitlines()
    assert len(lines) == 3                                   # two updates and the final line
    assert lines[0].startswith("dse search s: 15/100 trials, ") and lines[0].endswith("best throughput_per_s 30, energy_j 0.4")
    assert lines[1].startswith("dse search s: 40/100 trials, ") and " left; " in lines[1]


def test_search_without_a_terminal_writes_status_lines(tmp_path):
    r = dse("search", WL, HW, "--trials", "6", "--batch", "3", "--out", str(tmp_path))
    assert r.returncode == 0, r.stderr
    status = [line for line in r.stderr.splitlines() if line.startswith("dse search gpt2_resnet50__mcm4_hetero:")]
    assert status and status[-1].startswith("dse search gpt2_resnet50__mcm4_hetero: 6/6 trials")
    assert "best throughput_per_s" in status[-1]


# --- figures ------------------------------------------------------------------------------------

def test_knee_by_hand():
    from dse.output.figure import knee

    # (0, 1), (0.2, 0.2), (1, 0): the chord from (0, 1) to (1, 0) is x + y = 1; distances
    # 0, |0.2 + 0.2 - 1| / sqrt 2 = 0.42, 0 -> the middle point
    assert knee(np.array([0.0, 0.2, 1.0]), np.array([1.0, 0.2, 0.0])) == 1
    assert knee(np.array([0.0, 0.5, 1.0]), np.array([1.0, 0.5, 0.0])) == -1    # a straight front has none
    assert knee(np.array([0.0, 1.0]), np.array([1.0, 0.0])) == -1


def test_pareto_figure_svg_and_html(chiplet_study, tmp_path):
    svg = tmp_path / "front.svg"
    r = dse("pareto", str(chiplet_study), "--figure", str(svg))
    assert r.returncode == 0, r.stderr
    tree = ET.parse(svg)
    ns = "{http://www.w3.org/2000/svg}"
    titles = [c.find(f"{ns}title") for c in tree.iter(f"{ns}circle")]
    designs = [t.text for t in titles if t is not None]
    rows = len(pd.concat(pd.read_parquet(p) for p in chiplet_study.glob("part-*.parquet")))
    assert len(designs) >= rows                      # every design drawn (twice when a zoom panel is added)
    assert any("knee" in (t.text or "") for t in tree.iter(f"{ns}text"))
    html_path = tmp_path / "front.html"
    assert dse("pareto", str(chiplet_study), "--figure", str(html_path)).returncode == 0
    assert html_path.read_text().startswith("<!doctype html>")


def test_figure_errors_before_any_work(chiplet_study, tmp_path):
    r = dse("pareto", str(chiplet_study), "--figure", str(tmp_path / "front.gif"))
    assert r.returncode == 2 and "--figure" in r.stderr and ".svg" in r.stderr
    r = dse("pareto", str(chiplet_study), "--figure", str(tmp_path / "no/such/dir/front.svg"))
    assert r.returncode == 2 and "expected a file in an existing folder" in r.stderr
    try:
        import matplotlib  # noqa: F401
        has_mpl = True
    except ImportError:
        has_mpl = False
    r = dse("pareto", str(chiplet_study), "--figure", str(tmp_path / "front.png"))
    if has_mpl:
        assert r.returncode == 0 and (tmp_path / "front.png").read_bytes()[:4] == b"\x89PNG"
    else:
        assert r.returncode == 2 and "pip install '.[figures]'" in r.stderr and not (tmp_path / "front.png").exists()


def test_evaluate_figure_breakdown(tmp_path):
    svg = tmp_path / "bd.svg"
    r = dse("evaluate", LLAMA, A100, "--set", "batch=1", "--figure", str(svg))
    assert r.returncode == 0, r.stderr
    tree = ET.parse(svg)
    ns = "{http://www.w3.org/2000/svg}"
    bars = [e.find(f"{ns}title").text for e in tree.iter(f"{ns}rect") if e.find(f"{ns}title") is not None]
    assert any(b.startswith("prefill / gpu / qkv:") for b in bars) and len(bars) == 2 * 18   # 9 ops x 2 phases
    # every kind draws one: chiplets, training stages, serving groups
    for wl, hw, label in (("gpt2_resnet50", "mcm4_hetero", "gpt2 / ws0:"), ("zb_table5_profiled", "pipeline_only", "stage 0"),
                          ("bert_2x2.6b", "v100x2_6gb", "group 0:")):
        out = tmp_path / f"{wl}.svg"
        r = dse("evaluate", str(ROOT / f"workloads/{wl}.yaml"), str(ROOT / f"hardware/{hw}.yaml"), "--figure", str(out))
        assert r.returncode == 0, r.stderr
        titles = [e.find(f"{ns}title").text for e in ET.parse(out).iter(f"{ns}rect") if e.find(f"{ns}title") is not None]
        assert any(t.startswith(label) for t in titles), titles
    r = dse("evaluate", LLAMA, A100, "--figure", str(tmp_path / "bd.pdf"))
    assert r.returncode == 2 and "expected a file ending in .svg or .html" in r.stderr


# --- CLI conventions ----------------------------------------------------------------------------

def test_version_and_flags_in_help():
    from dse import __version__

    r = dse("--version")
    assert r.returncode == 0 and r.stdout.strip() == f"dse {__version__}"
    r = dse("search", "--help", columns=80)
    assert "-q, --quiet" in r.stdout and "<bool>" not in r.stdout
    assert max(len(line) for line in r.stdout.splitlines()) <= 80
    r = dse("pareto", "x", "--limit", "-1")
    assert r.returncode == 2 and "--limit" in r.stderr


def test_wrap_fields_keeps_a_label_its_number_and_its_unit_together():
    # At 80 columns the chiplet summary line breaks before 'EDP', not between 'EDP' and its value;
    # at 20, 'p99 95.79 ms' moves whole; a run longer than the width stands alone.
    from dse.output.tables import wrap_fields

    line = "throughput 35.79 frames/s   latency 91.47 ms   energy 349.7 mJ/frame   EDP 0.03199 J·s"
    assert wrap_fields(line, 80) == ["throughput 35.79 frames/s   latency 91.47 ms   energy 349.7 mJ/frame",
                                     "EDP 0.03199 J·s"]
    assert wrap_fields("TPOT p50 26.76 ms, p99 95.79 ms", 20) == ["TPOT p50 26.76 ms,", "p99 95.79 ms"]
    assert wrap_fields("p99 95.79 ms latency", 20) == ["p99 95.79 ms latency"]      # exactly 20 fits
    assert wrap_fields("under /a/very/long/path/that/does/not/fit (0.4 s)", 10) == [
        "under", "/a/very/long/path/that/does/not/fit (0.4 s)"]      # a number goes with the word before it
