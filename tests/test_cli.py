"""The real CLI end to end (subprocess), and every class of bad input: one line, exit 2."""

from __future__ import annotations

import json
import os
import re
import subprocess

import pandas as pd
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

ROOT = Path(__file__).resolve().parent.parent
WL = str(ROOT / "workloads/gpt2_resnet50.yaml")
HW = str(ROOT / "hardware/mcm4_hetero.yaml")


def dse(*args: str, cwd: Path | None = None, columns: int = 200) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": str(columns)}
    return subprocess.run([sys.executable, "-m", "dse.cli", *args], capture_output=True, text=True,
                          cwd=cwd or ROOT, env=env, timeout=600)


def on_terminal(*args: str, columns: int = 80) -> str:
    """dse's output to a terminal (a pseudo-terminal, COLUMNS wide): stdout and stderr as one text."""
    import pty

    main, sub = pty.openpty()
    env = {**os.environ, "COLUMNS": str(columns), "NO_COLOR": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "dse.cli", *args], stdout=sub, stderr=sub, cwd=ROOT, env=env)
    os.close(sub)
    chunks = []
    while True:
        try:
            chunk = os.read(main, 65536)
        except OSError:                  # the other end closed
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(main)
    assert proc.wait(timeout=600) == 0
    return b"".join(chunks).decode().replace("\r\n", "\n")


def test_search_summary_wraps_between_words_at_80_columns(tmp_path):
    """At 80 columns the summary (one long line into a pipe) wraps between words: no line longer
    than the terminal, no number split from itself (the mappings count has a thousands comma)."""
    text = on_terminal("search", WL, HW, "--trials", "6", "--batch", "3", "--out", str(tmp_path), "-q")
    lines = [line for line in re.sub(r"\x1b\[[0-9;]*m", "", text).split("\n") if line.strip()]
    # a line may be longer only when it is one unbreakable word (here the long temporary path)
    assert len(lines) > 1 and all(len(line) <= 80 or " " not in line.strip() for line in lines), lines
    joined = " ".join(line.strip() for line in lines)
    assert re.search(r"; [\d,]+ mappings, \d+ rows in 1 new part file\(s\)", joined), joined
    assert not any(re.search(r"\d,$", line) for line in lines)
    piped = dse("search", WL, HW, "--trials", "6", "--batch", "3", "--out", str(tmp_path), columns=80)
    assert piped.stdout.count("\n") == 1 and "already has 6 of 6 trials" in piped.stdout


def test_evaluate_keeps_labels_numbers_and_units_together_at_80_columns():
    """dse evaluate at 80 columns: each line fits, and a label, its number and its unit stay on one
    line (rich alone broke 'EDP' from '0.03199 J·s'; tests/test_output.py has wrap_fields by hand)."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", on_terminal("evaluate", WL, HW))
    lines = [line for line in text.split("\n") if line.strip()]
    assert all(len(line) <= 80 for line in lines), [line for line in lines if len(line) > 80]
    assert any(re.fullmatch(r"EDP [\d.]+ J·s", line.strip()) for line in lines), lines


def test_search_then_pareto_then_csv(tmp_path):
    r = dse("search", WL, HW, "--trials", "20", "--batch", "10", "--seed", "3", "--out", str(tmp_path), "--quiet")
    assert r.returncode == 0, r.stderr
    folder = tmp_path / "gpt2_resnet50__mcm4_hetero"
    parts = list(folder.glob("part-*.parquet"))
    assert parts and not list(folder.glob(".*tmp"))
    table = pq.read_table(parts[0])
    meta = table.schema.metadata
    assert json.loads(meta[b"dse.hardware"])["name"] == "mcm4_hetero"
    assert meta[b"dse.kind"] == b"chiplet" and set(table.column("kind").to_pylist()) == {"chiplet"}
    cols = set(table.column_names)
    assert {"throughput_per_s", "latency_s", "energy_j", "edp_js", "mapping", "trial", "seed",
            "dse_version", "workload_sha", "hardware_sha", "param.hw.chiplets.ws0.pe_array",
            "param.hw.system.pipelining", "utilization_ws0", "feasible"} <= cols
    # provenance: the paths as given, this dse's version, the parsed specs' 16-hex SHA-256, the seed
    import dse as package
    from dse.spec.common import spec_hash
    from dse.spec.hardware import load_hardware
    from dse.spec.workload import load_workload

    row = table.slice(0, 1).to_pylist()[0]
    assert (row["workload_file"], row["hardware_file"], row["dse_version"], row["seed"]) == (WL, HW, package.__version__, 3)
    assert (row["workload_sha"], row["hardware_sha"]) == (spec_hash(load_workload(WL)), spec_hash(load_hardware(HW)))
    assert len(row["workload_sha"]) == 16 and row["workload_sha"] != row["hardware_sha"]
    r = dse("pareto", str(folder), "--plot", "--csv", str(tmp_path / "front.csv"))
    assert r.returncode == 0, r.stderr
    assert "Pareto front" in r.stdout and "●" in r.stdout
    assert (tmp_path / "front.csv").read_text().startswith("study,")


def test_a_study_begun_in_the_old_layout_keeps_its_journal(tmp_path):
    """A study whose journal an earlier dse wrote to OUT/STUDY/_optuna.log (here: --storage naming that
    file) resumes from it without --storage: nothing evaluated twice, nothing in OUT/_storage/."""
    common = ("--batch", "3", "--study", "old", "--out", str(tmp_path), "-q")
    r = dse("search", WL, HW, "--trials", "6", "--storage", str(tmp_path / "old/_optuna.log"), *common)
    assert r.returncode == 0, r.stderr
    r = dse("search", WL, HW, "--trials", "6", *common)
    assert r.returncode == 0 and "already has 6 of 6 trials" in r.stdout, r.stdout + r.stderr
    assert not (tmp_path / "_storage").exists()


def test_study_resumes_and_a_second_worker_continues_it(tmp_path):
    """--trials is the study's budget: a second worker (index 2) raising it continues the study, a
    re-run of a finished study does nothing, and no design row is written twice."""
    common = ("--batch", "3", "--study", "merged", "--out", str(tmp_path), "-q")
    r = dse("search", WL, HW, "--trials", "6", "--worker", "1", *common)
    assert r.returncode == 0, r.stderr
    r = dse("search", WL, HW, "--trials", "12", "--worker", "2", *common)
    assert r.returncode == 0, r.stderr
    assert "12 of 12 trials complete" in r.stdout
    r = dse("search", WL, HW, "--trials", "12", "--worker", "2", *common)
    assert r.returncode == 0 and "already has 12 of 12 trials" in r.stdout and "nothing to do" in r.stdout
    parts = sorted(p.name for p in (tmp_path / "merged").glob("part-*.parquet"))
    assert parts[0].startswith("part-w1-") and parts[-1].startswith("part-w2-")
    frame = pd.read_parquet(tmp_path / "merged")      # the journal is in _storage/, not among the parts
    # the study folder holds its parts and nothing else, so DuckDB and polars read it as pandas does
    # (the journal, its locks and heartbeats live in OUT/_storage/STUDY/)
    import duckdb
    import polars as pl

    folder = tmp_path / "merged"
    assert {p.name for p in folder.iterdir()} == {p.name for p in folder.glob("part-*.parquet")}
    assert (tmp_path / "_storage/merged/journal.log").is_file()
    for glob in ("*", "*.parquet"):
        assert duckdb.sql(f"select count(*) from read_parquet('{folder}/{glob}')").fetchall() == [(len(frame),)]
    assert pl.read_parquet(folder).height == pl.read_parquet(f"{folder}/*").height == len(frame)
    assert sorted(pl.read_parquet(folder)["trial"].to_list()) == sorted(frame["trial"].tolist())
    design = [c for c in frame.columns if c.startswith("param.")] + ["mapping"]
    assert not frame.duplicated(design).any()
    assert set(frame["worker"]) == {1, 2} and frame.groupby("worker")["sampler_seed"].nunique().eq(1).all()
    r = dse("pareto", str(tmp_path / "merged"), "--objectives", "throughput_per_s:max,latency_s:min")
    assert r.returncode == 0, r.stderr


def test_evaluate_json_contract():
    r = dse("evaluate", WL, HW, "--json", "--set", "hw.system.pipelining=false")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    for key in ("throughput_per_s", "latency_s", "energy_j", "edp_js", "mapping", "per_op"):
        assert key in out
    assert out["pipelining"] is False and out["kind"] == "chiplet"
    # MACs per frame: one GPT-2 prefill of 1024 tokens (tests/test_models.py) + 8 ResNet-50s
    # (4,089,184,256 each, torchvision).
    gpt2 = 12 * (1024 * 768 * (2304 + 768 + 6144) + 2 * 12 * 1024 ** 2 * 64) + 768 * 50257
    assert out["macs"] == gpt2 + 8 * 4_089_184_256
    # Without pipelining a frame is the serial sum of every op (x its model's count) and every
    # transfer between consecutive ops on different chiplets (bytes / 100 GB/s + hops x 35 ns on
    # the 2x2 mesh), floored by the DRAM time (dram_bytes / 64 GB/s).
    from dse.models.views import einsum_ops
    from dse.spec.common import resolve
    from dse.spec.workload import load_workload

    ops = [op for m in resolve(load_workload(WL), {}).models for op in einsum_ops(m)]
    where = {"ws0": (0, 0), "ws1": (1, 0), "os0": (0, 1), "os1": (1, 1)}
    rows = out["per_op"]
    serial = sum(r["count"] * r["latency_s"] for r in rows)
    for prev, row, op in zip(rows, rows[1:], ops):
        if prev["model"] == row["model"] and prev["chiplet"] != row["chiplet"]:
            hops = sum(abs(a - b) for a, b in zip(where[prev["chiplet"]], where[row["chiplet"]]))
            serial += row["count"] * (op.N * op.K * op.Y * op.X / 100e9 + hops * 35e-9)
    assert out["latency_s"] == pytest.approx(max(serial, out["dram_bytes"] / 64e9), rel=1e-9)
    assert out["throughput_per_s"] == pytest.approx(1 / out["latency_s"], rel=1e-12)
    assert out["mapping_source"].startswith("inner optimiser")
    op = out["per_op"][0]
    assert set(op) >= {"name", "model", "chiplet", "cycles", "latency_s", "energy_j", "utilization", "bound"}
    assert len(out["per_op"]) == 73 + 54


def test_evaluate_with_mapping_file(tmp_path):
    mapping = tmp_path / "m.yaml"
    mapping.write_text("mapping:\n  gpt2: ws0*40,ws1*33\n  resnet50: os0\n")
    r = dse("evaluate", WL, HW, "--mapping", str(mapping), "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["mapping"] == "gpt2=ws0*40,ws1*33;resnet50=os0*54"
    assert out["mapping_source"] == str(mapping)


def bad(tmp_path, text: str, name: str = "bad.yaml") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


HW_OK = (ROOT / "hardware/mono_os.yaml").read_text()


@pytest.mark.parametrize("case,text,expect", [
    ("malformed", "name: x\nchiplets: [\n", "well-formed YAML"),
    ("unknown field", HW_OK.replace("l1_bytes: 256", "l1_bytes: 256\n    l3_bytes: 5"), "chiplets.os.l3_bytes"),
    ("missing field", HW_OK.replace("    clock_hz: 500 MHz\n", ""), "chiplets.os.clock_hz: expected a value (missing field)"),
    ("wrong unit", HW_OK.replace("clock_hz: 500 MHz", "clock_hz: 500 GB"), "chiplets.os.clock_hz: expected a number > 0 in Hz"),
    ("wrong sign", HW_OK.replace("l2_bytes: 40 MB", "l2_bytes: -4"), "chiplets.os.l2_bytes: expected a number > 0 in bytes"),
    ("bad choice", HW_OK.replace("dataflow: output_stationary", "dataflow: diagonal"), "chiplets.os.dataflow: expected one of"),
])
def test_bad_hardware(tmp_path, case, text, expect):
    path = bad(tmp_path, text)
    r = dse("evaluate", WL, path)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in r.stderr
    assert lines[0].startswith(f"dse: error: {path}") and expect in lines[0], lines[0]


@pytest.mark.parametrize("text,expect", [
    ("name: w\nmodels:\n  - name: m\n    transformer: {preset: gpt2}\n", "models[0].transformer.seq_len: expected a value"),
    ("name: w\nmodels:\n  - name: m\n    ops: [{name: a, K: 0}]\n", "models[0].ops[0].K: expected an integer > 0"),
    ("name: w\nmodels:\n  - name: m\n    count: 2.5\n    resnet50: {}\n", "models[0].count: expected an integer > 0"),
    ("name: w\nmodels:\n  - name: m\n    resnet50: {}\n    ops: []\n", "models[0]: expected exactly one of"),
])
def test_bad_workload(tmp_path, text, expect):
    r = dse("evaluate", bad(tmp_path, text), HW)
    assert r.returncode == 2 and expect in r.stderr and "Traceback" not in r.stderr, r.stderr


def test_missing_file():
    r = dse("evaluate", "no/such.yaml", HW)
    assert r.returncode == 2 and "no/such.yaml: expected a readable YAML file" in r.stderr


@pytest.mark.parametrize("text,expect", [
    ("mapping:\n  gpt2: ws0\n", "mapping.resnet50: expected a chiplet assignment for every model"),
    ("mapping:\n  gpt2: ws0*5\n  resnet50: os0\n", "mapping.gpt2: expected 73 op assignments"),
    ("mapping:\n  gpt2: gpu0\n  resnet50: os0\n", "mapping.gpt2: expected runs 'chiplet*count'"),
    ("mapping:\n  gpt2: ws0\n  resnet50: os0\n  bert: ws1\n", "mapping.bert: expected a model of the workload"),
])
def test_infeasible_mapping(tmp_path, text, expect):
    r = dse("evaluate", WL, HW, "--mapping", bad(tmp_path, text, "m.yaml"))
    assert r.returncode == 2 and expect in r.stderr and "Traceback" not in r.stderr, r.stderr


def test_bad_set_and_objective(tmp_path):
    r = dse("evaluate", WL, HW, "--set", "hw.chiplets.ws0.pe_array=7x")
    assert r.returncode == 2 and "--set: hw.chiplets.ws0.pe_array: expected pe_array [rows, cols]" in r.stderr
    r = dse("search", WL, HW, "--trials", "2", "--batch", "2", "--out", str(tmp_path), "-q")
    assert r.returncode == 0, r.stderr
    r = dse("pareto", str(tmp_path / "gpt2_resnet50__mcm4_hetero"), "--objectives", "speed:max")
    assert r.returncode == 2 and "--objectives: expected a numeric metric column (" in r.stderr and "got 'speed'" in r.stderr


def test_unreachable_storage_writes_nothing(tmp_path):
    # Port 9 on loopback refuses connections; nothing may be written for the study.
    r = dse("search", WL, HW, "--trials", "2", "--out", str(tmp_path), "-q",
            "--storage", "postgresql://dse@127.0.0.1:9/dse")
    assert r.returncode == 2, r.stderr
    assert r.stderr.startswith("dse: error: --storage: postgresql://dse@127.0.0.1:9/dse: expected a reachable")
    assert len(r.stderr.strip().splitlines()) == 1
    assert not any(tmp_path.iterdir())


def test_results_folder_missing():
    r = dse("pareto", "results/does-not-exist")
    assert r.returncode == 2 and "expected a results folder" in r.stderr


# --- LLM specs through the same commands -------------------------------------------------------

LLM_WL = str(ROOT / "workloads/llama65b_serving.yaml")


def test_llm_evaluate_json_contract():
    r = dse("evaluate", LLM_WL, str(ROOT / "hardware/a100x8.yaml"), "--json",
            "--set", "wl.models[0].transformer.batch=8")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    for key in ("ttft_s", "tpot_s", "decode_first_step_s", "tokens_per_s", "energy_per_token_j",
                "peak_gpu_memory_bytes", "feasible", "violations", "mapping", "per_op"):
        assert key in out, key
    assert out["mapping"] == "tp=8,pp=1,dp=1" and out["feasible"] and out["kind"] == "llm"
    # 8 requests x 128 output tokens, one token per step.
    assert out["output_tokens"] == 1024 and out["decode_steps"] == 128
    # Per GPU (tests/test_memory.py has the terms): KV 8 x (2048 + 128) tokens x 2,621,440 B / 8,
    # weights 130,568,683,520 / 8, activations 2 x 16,384 x (8192 + 5504) x 2.
    assert out["peak_gpu_memory_bytes"] == pytest.approx(
        8 * 2176 * 2_621_440 / 8 + 130_568_683_520 / 8 + 2 * 16_384 * 13_696 * 2, rel=1e-12)
    phases = {row["phase"] for row in out["per_op"]}
    assert phases == {"prefill", "decode step 1"}


def test_llm_search_then_pareto_uses_study_objectives(tmp_path):
    r = dse("search", str(ROOT / "workloads/gpt3_66b_decode.yaml"), str(ROOT / "hardware/papi.yaml"),
            "--trials", "12", "--batch", "6", "--out", str(tmp_path), "-q")
    assert r.returncode == 0, r.stderr
    folder = tmp_path / "gpt3_66b_decode__papi"
    table = pq.read_table(next(folder.glob("part-*.parquet")))
    assert table.schema.metadata[b"dse.objectives"] == b"tokens_per_s:max,energy_per_token_j:min"
    assert table.schema.metadata[b"dse.kind"] == b"llm" and set(table.column("kind").to_pylist()) == {"llm"}
    cols = set(table.column_names)
    assert {"tokens_per_s", "energy_per_token_j", "ttft_s", "tpot_s", "feasible", "violations",
            "param.hw.system.dispatch.alpha", "param.wl.models[0].transformer.decode.tlp", "tp", "pp", "dp"} <= cols
    r = dse("pareto", str(folder))
    assert r.returncode == 0, r.stderr
    assert "tokens_per_s" in r.stdout and "tp=" in r.stdout


def test_llm_bad_input_one_line_exit_2():
    # AttAcc-only (PIM) cannot run the prompt's GEMMs: the error names the op and the field.
    r = dse("evaluate", LLM_WL, str(ROOT / "hardware/attacc_only.yaml"))
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "seq_len" in r.stderr and "'qkv'" in r.stderr and "Traceback" not in r.stderr
    # A decode workload on chiplet hardware.
    r = dse("evaluate", str(ROOT / "workloads/llama65b_decode.yaml"), HW)
    assert r.returncode == 2 and "decode" in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_unknown_kind_one_line_exit_2(tmp_path):
    text = (ROOT / "hardware/a100x8.yaml").read_text()
    path = bad(tmp_path, "kind: tpu\n" + text)
    r = dse("evaluate", LLM_WL, path)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.strip() == f"dse: error: {path}: kind: expected a system kind, one of ['chiplet', 'llm', 'training', 'serving'], got 'tpu'"
    r = dse("search", LLM_WL, path, "--out", str(tmp_path / "out"), "-q")
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and not (tmp_path / "out").exists()


# --- the training kind ------------------------------------------------------------------------------------------

def dse80(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dse.cli", *args], capture_output=True, text=True, timeout=600,
                          env={**os.environ, "COLUMNS": "80"})


def test_cli_evaluate_synthetic_prints_the_timeline_and_json():
    wl, hw = str(ROOT / "workloads/zb_table5_profiled.yaml"), str(ROOT / "hardware/pipeline_only.yaml")
    r = dse80("evaluate", wl, hw, "--set", "hw.system.schedule.family=zb-h1")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert sum(line.startswith("dev ") for line in lines) == 8
    assert all(len(line) <= 80 for line in lines)
    assert "bubble 0.1585" in r.stdout                 # Zero Bubble Table 5 setting (see test_schedules)
    j = json.loads(dse80("evaluate", wl, hw, "--json").stdout)
    assert j["kind"] == "training" and j["schedule"] == "1f1b" and round(j["bubble_rate"], 4) == 0.2431
    assert len(j["per_stage"]) == 8 and len(j["passes"]) == 8 * 24 * 2     # F and fused BW
    # 1F1B holds min(n, p - d) microbatches on device d; busy = n (F + B + W) on every device
    assert [d["peak_activation_units"] for d in j["per_device"]] == [8 - d for d in range(8)]
    assert all(abs(d["busy_s"] - 24 * (18.522 + 18.086 + 9.337) / 1e3) < 1e-9 for d in j["per_device"])


def search_twice(workload: str, hardware: str, hw_name: str, trials: int, tmp_path: Path) -> pd.DataFrame:
    """Run the same search twice: the second run has nothing to do, and no design is written twice.
    Returns the study's rows."""
    wl, hw = str(ROOT / f"workloads/{workload}.yaml"), str(ROOT / f"hardware/{hardware}.yaml")
    r = dse80("search", wl, hw, "--trials", str(trials), "--out", str(tmp_path), "-q")
    assert r.returncode == 0, r.stderr
    again = dse80("search", wl, hw, "--trials", str(trials), "--out", str(tmp_path), "-q")
    assert again.returncode == 0 and "nothing to do" in again.stdout
    frame = pd.read_parquet(tmp_path / f"{workload}__{hw_name}")
    assert not frame.duplicated(subset=[c for c in frame.columns if c.startswith("param.")] + ["mapping"]).any()
    return frame


def test_cli_search_and_pareto_on_a_training_case(tmp_path):
    frame = search_twice("cm_9.6b_seq1024", "a100_cluster_16", "a100-cluster-16", 20, tmp_path)
    assert set(frame["kind"]) == {"training"}
    for col in ("tokens_per_s", "mfu", "iteration_s", "peak_memory_bytes", "bubble_rate", "peak_activation_units"):
        assert col in frame.columns
    front = dse80("pareto", str(tmp_path / "cm_9.6b_seq1024__a100-cluster-16"))
    assert front.returncode == 0 and "tokens_per_s" in front.stdout and "peak_memory_bytes" in front.stdout


def test_cli_serving_search_seeds_the_baselines_and_reruns_add_nothing(tmp_path):
    frame = search_twice("bert_2x2.6b", "v100x2_6gb", "v100x2-6gb", 6, tmp_path)
    assert set(frame["kind"]) == {"serving"}
    # the baselines are the study's first trials: replication (1+1, tp 1), one group (2) at tp 1 and 2
    first = frame.sort_values("trial").head(3)
    assert list(first["param.hw.system.groups"]) == ["1+1", "2", "2"]
    assert list(first["layout"]) == ["replication", "one_group", "one_group"]
    for col in ("slo_attainment", "slo_attainment_min", "goodput_per_s", "latency_p99_s", "gpu_utilisation",
                "rejected", "gpus", "feasible", "violations"):
        assert col in frame.columns
    # AlpaServe's point: with 6 GB GPUs the shared pipeline group attains more than dedicated GPUs
    rep = frame[frame["layout"] == "replication"]["slo_attainment"].max()
    one = frame[(frame["layout"] == "one_group") & (frame["param.hw.system.tp"] == 1)]["slo_attainment"].max()
    assert one > rep + 0.1
    front = dse80("pareto", str(tmp_path / "bert_2x2.6b__v100x2-6gb"))
    assert front.returncode == 0 and "slo_attainment" in front.stdout and "pp2(bert-a,bert-b)" in front.stdout


def test_cli_serving_evaluate_prints_baselines_and_strict_json():
    wl, hw = str(ROOT / "workloads/bert_2x2.6b.yaml"), str(ROOT / "hardware/v100x2_6gb.yaml")
    r = dse80("evaluate", wl, hw, "--set", "hw.system.groups=2")
    assert r.returncode == 0, r.stderr
    assert all(len(line) <= 80 for line in r.stdout.splitlines())
    assert "baseline selective replication: 1gpu(" in r.stdout and "baseline one group" in r.stdout
    j = json.loads(dse80("evaluate", wl, hw, "--set", "hw.system.groups=2", "--json").stdout)
    assert j["kind"] == "serving" and j["mapping"] == "pp2(bert-a,bert-b)" and j["feasible"]
    assert [b["baseline"] for b in j["baselines"]] == ["replication", "one_group"]
    assert len(j["per_group"]) == 1 and j["per_group"][0]["pp"] == 2
    assert {m["model"] for m in j["per_model"]} == {"bert-a", "bert-b"}
    assert j["requests"] == sum(m["requests"] for m in j["per_model"])


# --- dse validate ------------------------------------------------------------------------------

def test_validate_runs_every_case_and_every_must_case_holds():
    r = dse("validate", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)                   # strict JSON: json.loads rejects NaN only if asked,
    assert "NaN" not in r.stdout and "Infinity" not in r.stdout    # so check the text as well
    from dse import validate as V

    cases = V.load_cases()
    assert out["summary"]["cases"] == len(cases) >= 30
    assert out["summary"]["ok"] is True
    assert out["summary"]["must_held"] == out["summary"]["must"] == sum(c.must for c in cases)
    by_name = {c["name"]: c for c in out["cases"]}
    # Every group the issue asks for is covered, each with a source and a reason.
    groups = {c["group"] for c in out["cases"]}
    assert {"dataflow (MAESTRO)", "LLM vs analytical tools", "LLM vs measured", "PIM (PAPI)", "LLM (Kraken)",
            "chiplets (SCAR)", "training schedules", "serving (AlpaServe)"} <= groups
    assert all(c["source"] and c["reason"] for c in out["cases"])
    # Spot values: exact MAESTRO cycles; the 1F1B closed form.
    assert by_name["GPT-2 QKV, weight-stationary K x C, cycles"]["dse"] == 7_077_888
    assert by_name["1F1B makespan, p 8, n 32, F = B = W = 1"]["dse"] == 117
    # Known deviations stay visible (not within tolerance, not must).
    dev = by_name["heterogeneous module vs optimised monolith, throughput"]
    assert not dev["within_tolerance"] and not dev["must"]


def test_validate_table_at_80_columns_and_filter():
    r = dse("validate", "-k", "training", columns=80)
    assert r.returncode == 0, r.stderr
    assert "11 cases, 10 within tolerance; 8 of 8 must cases hold" in r.stdout
    assert max(len(line) for line in r.stdout.splitlines()) <= 80
    r = dse("validate", "-k", "no such case")
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "-k" in r.stderr


@pytest.mark.parametrize("args", [("workloads/llama65b_serving.yaml", "hardware/a100x8.yaml", "--set", "batch=8"),
                                  ("workloads/cm_9.6b_seq1024.yaml", "hardware/a100_cluster_16.yaml", "--set",
                                   "family=zb-h1"),
                                  ("workloads/gpt2_resnet50.yaml", "hardware/mcm4_hetero.yaml", "--mapping", "MAP")])
def test_evaluate_of_a_plain_python_kind_loads_no_numba_and_prints_what_numba_prints(args, tmp_path):
    """`dse evaluate` of an llm or training design, or of a given chiplet mapping on a small module,
    runs its kernels interpreted (Kind.plain_python_for: cheaper than numba's start-up); numba is
    never imported, and the JSON is byte for byte what the compiled kernels give (DSE_JIT=1)."""
    mapping = tmp_path / "m.yaml"
    mapping.write_text("mapping:\n  gpt2: ws0*40,os1*33\n  resnet50: os0*12,ws1*42\n")
    argv = ["dse", "evaluate", *[str(mapping) if a == "MAP" else a for a in args], "--json"]
    probe = ("import sys\nfrom dse.cli import main\n"
             f"sys.argv = {argv!r}\n"
             "try:\n    main()\nexcept SystemExit:\n    pass\n"
             "print('numba loaded' if 'numba' in sys.modules else 'no numba', file=sys.stderr)\n")
    plain = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, timeout=600,
                           env={k: v for k, v in os.environ.items() if k != "DSE_JIT"})
    jit = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, timeout=600,
                         env={**os.environ, "DSE_JIT": "1"})
    assert plain.stderr.strip().splitlines()[-1] == "no numba", plain.stderr
    assert jit.stderr.strip().splitlines()[-1] == "numba loaded", jit.stderr
    assert plain.stdout == jit.stdout and json.loads(plain.stdout)["kind"] in ("llm", "training", "chiplet")
