"""``dse batch``: sweep files, the Slurm job-array script (run task by task with bash, and on a real
single-node Slurm when ``DSE_TEST_SLURM`` is set: ``.ci/slurm.sh start``), local processes, and
``dse status`` over the studies they made."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

ROOT = Path(__file__).resolve().parent.parent
SWEEP = """\
out: res
trials: {trials}
workers: 2
slurm: {{time: "00:20:00", mem: 1G}}
runs:
  - {{workload: {root}/workloads/gpt3_175b_decode.yaml, hardware: {root}/hardware/papi.yaml}}
  - {{workload: {root}/workloads/gpt2_resnet50.yaml, hardware: {root}/hardware/mcm4_hetero.yaml,
     trials: 12, workers: 1, study: chiplets}}
"""


def dse(*args: str, cwd: Path | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dse.cli", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=cwd)


def sweep_file(tmp_path: Path, trials: int = 30) -> Path:
    path = tmp_path / "sweep.yaml"
    path.write_text(SWEEP.format(trials=trials, root=ROOT))
    return path


def statuses(folder: Path) -> dict[str, dict]:
    r = dse("status", str(folder), "--json")
    assert r.returncode == 0, r.stderr
    return {s["study"]: s for s in json.loads(r.stdout)}


def test_slurm_script_is_readable_and_each_task_runs(tmp_path):
    sweep = sweep_file(tmp_path)
    r = dse("batch", str(sweep), "--slurm")
    assert r.returncode == 0, r.stderr
    script = tmp_path / "sweep.sbatch"
    text = script.read_text()
    assert "#SBATCH --array=0-2\n" in text                   # 2 workers + 1 worker
    assert "#SBATCH --time=00:20:00" in text and "#SBATCH --mem=1G" in text
    assert f"#SBATCH --output={tmp_path}/res/_logs/%x-%A_%a.out" in text
    tasks = [line for line in text.splitlines() if line.strip()[:2] in ("0)", "1)", "2)")]
    assert len(tasks) == 3
    argv = [shlex.split(t.split(") ", 1)[1].removesuffix(" ;;")) for t in tasks]
    assert [a[a.index("--worker") + 1] for a in argv] == ["0", "1", "0"]
    assert [a[a.index("--study") + 1] for a in argv] == ["gpt3_175b_decode__papi"] * 2 + ["chiplets"]
    assert subprocess.run(["bash", "-n", str(script)]).returncode == 0
    # Run the array by hand, as Slurm would (dse on PATH: this interpreter's).
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    for i in range(3):
        done = subprocess.run(["bash", str(script)], env={**env, "SLURM_ARRAY_TASK_ID": str(i)},
                              capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr
    bad = subprocess.run(["bash", str(script)], env={**env, "SLURM_ARRAY_TASK_ID": "3"}, capture_output=True,
                         text=True)
    assert bad.returncode == 2 and "no task 3" in bad.stderr
    got = statuses(tmp_path / "res")
    assert got["gpt3_175b_decode__papi"]["complete"] == 30 and got["chiplets"]["complete"] == 12
    assert got["gpt3_175b_decode__papi"]["duplicate_rows"] == 0


def test_local_batch_then_rerun_resumes(tmp_path):
    sweep = sweep_file(tmp_path)
    r = dse("batch", str(sweep), "--local", "--jobs", "2")
    assert r.returncode == 0, r.stdout + r.stderr
    got = statuses(tmp_path / "res")
    assert {k: v["complete"] for k, v in got.items()} == {"gpt3_175b_decode__papi": 30, "chiplets": 12}
    assert all(v["running"] == 0 and v["duplicate_rows"] == 0 for v in got.values())
    parts = sorted((tmp_path / "res").rglob("part-*.parquet"))
    r = dse("batch", str(sweep), "--local", "--jobs", "2")
    assert r.returncode == 0
    assert sorted((tmp_path / "res").rglob("part-*.parquet")) == parts      # nothing new: all complete
    logs = "".join(p.read_text() for p in (tmp_path / "res/_logs").glob("local-*.log"))
    assert logs.count("nothing to do") == 3
    # Raising the budget in the sweep continues the studies.
    sweep.write_text(sweep.read_text().replace("trials: 30", "trials: 40"))
    r = dse("batch", str(sweep), "--local", "--jobs", "2")
    assert r.returncode == 0
    assert statuses(tmp_path / "res")["gpt3_175b_decode__papi"]["complete"] == 40
    r = dse("pareto", str(tmp_path / "res"), "--study", "gpt3_175b_decode__papi")
    assert r.returncode == 0 and "Pareto front" in r.stdout, r.stderr
    # A study folder renamed by hand is still found by its parts' metadata, with its trials and rows.
    (tmp_path / "res/gpt3_175b_decode__papi").rename(tmp_path / "res/renamed")
    moved = statuses(tmp_path / "res")["gpt3_175b_decode__papi"]
    assert moved["complete"] == 40 and moved["rows"] > 0
    # A journal that is not one is a one-line error, not a traceback.
    (tmp_path / "res/_storage/gpt3_175b_decode__papi/journal.log").write_text(
        '{"op_code": 0, "worker_id": "x", "study_name": 5}\n')
    r = dse("status", str(tmp_path / "res/renamed"))
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "expected an Optuna journal" in r.stderr, r.stderr


@pytest.mark.parametrize("text, expect", [
    ("runs: []", "runs: expected a list of at least 1 item(s)"),
    ('out: "a\\0b"\nruns: [{workload: WL, hardware: HW}]', "expected a path without NUL characters"),   # fuzz case
    ("trials: 10\n", "runs: expected a value (missing field)"),
    ("runs: [{workload: a.yaml}]", "runs[0].hardware: expected a value (missing field)"),
    ("runs: [{workload: a.yaml, hardware: b.yaml, gpus: 3}]", "runs[0].gpus: expected one of the known fields"),
    ("workers: 0\nruns: [{workload: a.yaml, hardware: b.yaml}]", "workers: expected an integer in [1, 10000]"),
    ("slurm: {time: soon}\nruns: [{workload: a.yaml, hardware: b.yaml}]", "slurm.time: expected a Slurm time limit"),
    ("runs: [{workload: nope.yaml, hardware: b.yaml}]", "nope.yaml: expected a readable YAML file"),
    ("runs: [{workload: WL, hardware: HW, study: a/b}]", "s.yaml: runs[0].study: expected a study name of 1-120"),
    ("runs: [{workload: WL, hardware: HW}, {workload: WL, hardware: HW}]",
     "runs[1]: expected a study name not used by another run"),
])
def test_bad_sweep_one_line_exit_2(tmp_path, text, expect):
    sweep = tmp_path / "s.yaml"
    sweep.write_text(text.replace("WL", str(ROOT / "workloads/gpt2_resnet50.yaml"))
                     .replace("HW", str(ROOT / "hardware/mcm4_hetero.yaml")))
    r = dse("batch", str(sweep), "--local")
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
    assert expect in r.stderr and r.stderr.startswith("dse: error: "), r.stderr
    assert not (tmp_path / "results").exists()


def test_batch_needs_one_mode(tmp_path):
    r = dse("batch", str(sweep_file(tmp_path)))
    assert r.returncode == 2 and "exactly one of --slurm or --local" in r.stderr


@pytest.mark.skipif(not os.environ.get("DSE_TEST_SLURM"), reason="DSE_TEST_SLURM not set (.ci/slurm.sh start)")
def test_real_slurm_job_array(tmp_path):
    assert shutil.which("sbatch"), "DSE_TEST_SLURM is set but sbatch is not on PATH"
    sweep = sweep_file(tmp_path)
    r = dse("batch", str(sweep), "--slurm", "--test-only")
    assert r.returncode == 0 and "to start at" in r.stdout, r.stdout + r.stderr
    r = dse("batch", str(sweep), "--slurm", "--submit")
    assert r.returncode == 0, r.stderr
    job = r.stdout.strip().split()[-1]
    # Slurm itself waits: a job that may start only after the whole array ended, submitted with --wait.
    waited = subprocess.run(["sbatch", "--wait", f"--dependency=afterany:{job}", "--output=/dev/null",
                             "--wrap", "true"], capture_output=True, text=True, timeout=1800)
    assert waited.returncode == 0, waited.stderr
    logs = sorted((tmp_path / "res/_logs").glob(f"dse-sweep-{job}_*.out"))
    assert len(logs) == 3, logs
    got = statuses(tmp_path / "res")
    assert got["gpt3_175b_decode__papi"]["complete"] == 30 and got["chiplets"]["complete"] == 12
    for study in got:
        frame = pq.read_table(tmp_path / "res" / study).to_pandas()
        params = [c for c in frame.columns if c.startswith("param.")]
        assert not frame.duplicated(params + ["mapping"]).any()
