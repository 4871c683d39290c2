"""``dse batch``: a sweep file (workload x hardware pairs, each with its own options) becomes a
list of worker tasks — ``workers`` tasks per study, each one ``dse search ... --worker W`` — run
as a Slurm job array or as local processes. Every task of a study works on the same study
(its storage), so re-running the sweep resumes it; nothing is duplicated.

A sweep file::

    out: results                 # results folder (relative paths: to the sweep file's folder)
    storage: postgresql://dse@db.example/dse   # optional; default: each study's journal file
    trials: 300                  # per study: the study-wide budget
    workers: 2                   # tasks per study
    seed: 0
    batch: 50                    # NSGA-II population
    slurm: {partition: cpu, time: "02:00:00", cpus_per_task: 1, mem: 4G, account: null,
            setup: "source .venv/bin/activate"}
    runs:
      - {workload: workloads/gpt2_resnet50.yaml, hardware: hardware/mcm4_hetero.yaml}
      - {workload: workloads/gpt3_175b_decode.yaml, hardware: hardware/papi.yaml,
         trials: 500, workers: 4, study: papi_decode}
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from dse.errors import DseError
from dse.spec.common import Node, load_yaml

RUN_OPTIONS = ("trials", "workers", "seed", "batch", "study")
TOP_FIELDS = ("out", "storage", "slurm", "runs") + RUN_OPTIONS[:-1]
SLURM_FIELDS = ("partition", "time", "cpus_per_task", "mem", "account", "qos", "setup", "job_name")
MAX_TASKS = 100_000
RANGES = {"trials": (1, 10_000_000), "workers": (1, 10_000), "seed": (0, 2**31 - 1), "batch": (2, 100_000)}


@dataclass(frozen=True)
class Run:
    workload: str            # as written (relative to the sweep's folder)
    hardware: str
    study: str
    trials: int
    workers: int
    seed: int
    batch: int


@dataclass(frozen=True)
class Slurm:
    partition: str | None = None
    time: str | None = None
    cpus_per_task: int = 1
    mem: str | None = None
    account: str | None = None
    qos: str | None = None
    setup: str | None = None
    job_name: str = "dse-sweep"


@dataclass(frozen=True)
class Sweep:
    path: Path
    folder: Path             # relative paths in the sweep are relative to this
    out: str
    storage: str | None
    slurm: Slurm
    runs: tuple[Run, ...]

    @property
    def out_folder(self) -> Path:
        return _under(self.folder, self.out)

    def tasks(self) -> list[tuple[Run, int]]:
        """(run, worker index) per task, in array-index order."""
        return [(run, w) for run in self.runs for w in range(run.workers)]

    def argv(self, run: Run, worker: int) -> list[str]:
        """The task's command line (``dse search ...``), paths as written in the sweep file."""
        args = ["dse", "search", run.workload, run.hardware, "--study", run.study, "--out", self.out,
                "--trials", str(run.trials), "--seed", str(run.seed), "--batch", str(run.batch),
                "--worker", str(worker)]          # not --quiet: a status line every 5 s in the task's log
        if self.storage:
            args += ["--storage", self.storage]
        return args


def _int(node: Node, low: int, high: int) -> int:
    value = node.number(integer=True, positive=False, knob=False)
    if not low <= value <= high:
        raise node.fail(f"an integer in [{low}, {high}]")
    return int(value)


def load_sweep(path: str | Path) -> Sweep:
    """Parse and check a sweep file, including every pair's specs (through their system kind),
    so that a bad sweep fails before anything is submitted or started."""
    from dse.search.runner import STUDY_NAME, SearchConfig, prepare, valid_study_name

    root = load_yaml(path)
    if root.value is None:
        raise root.fail("a sweep: a mapping with runs: [...]", "an empty file")
    top = root.mapping(("runs",), TOP_FIELDS)
    folder = Path(path).resolve().parent
    out = top["out"].name(knob=False) if "out" in top else "results"
    storage = top["storage"].name(knob=False) if "storage" in top else None
    if storage is not None:
        from dse.search.storage import hide_password, storage_problem

        problem = storage_problem(storage)
        if problem is not None:
            raise top["storage"].fail(problem, hide_password(storage))
    defaults = {key: _int(top[key], *RANGES[key]) if key in top else default
                for key, default in (("trials", 300), ("workers", 1), ("seed", 0), ("batch", 50))}
    slurm = Slurm()
    if "slurm" in top:
        s = top["slurm"].mapping((), SLURM_FIELDS)
        text = {k: s[k].name(knob=False) for k in ("partition", "mem", "account", "qos", "setup", "job_name") if k in s}
        if "time" in s:
            t = s["time"].value
            if not isinstance(t, (str, int)) or not re.fullmatch(r"(\d+-)?\d+(:\d{2}){0,2}", str(t)):
                raise s["time"].fail("a Slurm time limit such as \"02:00:00\" or \"1-00:00:00\"")
            text["time"] = str(t)
        for key in ("partition", "account", "qos"):   # written into #SBATCH lines: one word, no shell
            if key in text and not re.fullmatch(r"[A-Za-z0-9_.,:+-]{1,128}", text[key]):
                raise s[key].fail(f"a Slurm {key} name (letters, digits and _ . , : + -)")
        if "setup" in text and ("\n" in text["setup"] or "\r" in text["setup"]):
            raise s["setup"].fail("one line of shell (commands joined with && or ;)")
        if "job_name" in text and not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", text["job_name"]):
            raise s["job_name"].fail("a job name of letters, digits, '_', '.', '-'")
        if "mem" in text and not re.fullmatch(r"\d+[KMGT]?", text["mem"]):
            raise s["mem"].fail("a Slurm memory size such as 4G or 4000M")
        cpus = _int(s["cpus_per_task"], 1, 1024) if "cpus_per_task" in s else 1
        slurm = Slurm(cpus_per_task=cpus, **text)
    runs: list[Run] = []
    studies: dict[str, str] = {}
    for item in top["runs"].sequence(min_len=1):
        r = item.mapping(("workload", "hardware"), RUN_OPTIONS)
        wl, hw = r["workload"].name(knob=False), r["hardware"].name(knob=False)
        opts = dict(defaults)
        for key in RANGES:
            if key in r:
                opts[key] = _int(r[key], *RANGES[key])
        study = r["study"].name(knob=False) if "study" in r else None
        if study is not None and not valid_study_name(study):
            raise r["study"].fail(STUDY_NAME)
        cfg = SearchConfig(study=study, trials=opts["trials"], seed=opts["seed"], batch=opts["batch"])
        p = prepare(str(_under(folder, wl)), str(_under(folder, hw)), cfg, 0)   # spec errors name the spec file
        if p.name in studies:
            raise item.fail(f"a study name not used by another run ({p.name} is {studies[p.name]}); "
                            "give one a study: field", p.name)
        studies[p.name] = item.path
        runs.append(Run(wl, hw, p.name, opts["trials"], opts["workers"], opts["seed"], opts["batch"]))
    sweep = Sweep(Path(path), folder, out, storage, slurm, tuple(runs))
    if len(sweep.tasks()) > MAX_TASKS:
        raise top["runs"].fail(f"at most {MAX_TASKS} tasks in all (runs x workers)", len(sweep.tasks()))
    from dse.output.store import check_results_folder

    check_results_folder(sweep.out_folder, sweep.out_folder / "_logs")
    return sweep


def _under(folder: Path, path: str) -> Path:
    p = Path(path).expanduser()
    return p if p.is_absolute() else folder / p


def slurm_script(sweep: Sweep) -> str:
    """A readable job-array script: one array task per (study, worker)."""
    from dse import __version__

    tasks = sweep.tasks()
    s = sweep.slurm
    logs = str(sweep.out_folder / "_logs")     # absolute: Slurm opens it before the script runs
    lines = [
        "#!/bin/bash",
        f"# Generated by dse {__version__} from {sweep.path.name}: {len(sweep.runs)} studies, "
        f"{len(tasks)} array tasks (one dse worker each).",
        "# Re-submitting resumes every study: finished studies exit at once, nothing is evaluated twice.",
        f"#SBATCH --job-name={s.job_name}",
        f"#SBATCH --array=0-{len(tasks) - 1}",
        f"#SBATCH --cpus-per-task={s.cpus_per_task}",
        "#SBATCH --ntasks=1",
    ]
    for flag, value in (("partition", s.partition), ("time", s.time), ("mem", s.mem), ("account", s.account),
                        ("qos", s.qos)):
        if value:
            lines.append(f"#SBATCH --{flag}={value}")
    lines += [
        f"#SBATCH --output={logs}/%x-%A_%a.out",
        "#SBATCH --open-mode=append",
        "#SBATCH --requeue",
        "#SBATCH --signal=B:TERM@60       # pre-emption/time limit: SIGTERM first; dse flushes and exits 143",
        "set -euo pipefail",
        f"cd {shlex.quote(str(sweep.folder))}",
        f"mkdir -p {shlex.quote(logs)}",
    ]
    if s.setup:
        lines.append(s.setup)
    lines += [
        'export NUMBA_NUM_THREADS="${SLURM_CPUS_PER_TASK:-1}"',
        'case "$SLURM_ARRAY_TASK_ID" in',
    ]
    for i, (run, worker) in enumerate(tasks):
        lines.append(f"  {i}) exec {shlex.join(sweep.argv(run, worker))} ;;")
    lines += ['  *) echo "no task $SLURM_ARRAY_TASK_ID in this sweep" >&2; exit 2 ;;', "esac", ""]
    return "\n".join(lines)


def write_script(sweep: Sweep, script: Path) -> Path:
    import os

    from dse.output.store import atomic_write

    text = slurm_script(sweep)
    (sweep.out_folder / "_logs").mkdir(parents=True, exist_ok=True)   # Slurm will not create it

    def write(tmp: Path) -> None:
        tmp.write_text(text)
        os.chmod(tmp, 0o755)

    return atomic_write(script, "--script", write)


def submit(script: Path, test_only: bool = False) -> str:
    """``sbatch [--test-only] SCRIPT``; returns sbatch's answer (the job id line)."""
    import shutil

    if shutil.which("sbatch") is None:
        raise DseError("--submit", str(script), "Slurm's sbatch on PATH (the script is written; submit it "
                       "from a login node)", "sbatch not found")
    cmd = ["sbatch", *(["--test-only"] if test_only else []), str(script)]
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=script.parent)
    text = (done.stdout + done.stderr).strip()
    if done.returncode != 0:
        raise DseError("sbatch", str(script), "the job accepted", text.splitlines()[-1] if text else done.returncode)
    return text


def run_local(sweep: Sweep, jobs: int, echo=print) -> list[tuple[int, int]]:
    """Run every task as a local process, at most ``jobs`` at a time; logs in OUT/_logs/.
    Returns (task index, exit code) per task. SIGINT/SIGTERM reach the workers (they flush)."""
    import os
    import signal

    tasks = sweep.tasks()
    logs = sweep.out_folder / "_logs"
    logs.mkdir(parents=True, exist_ok=True)
    pending = list(enumerate(tasks))
    running: dict[int, tuple[subprocess.Popen, object]] = {}
    results: list[tuple[int, int]] = []
    stopping: list[int] = []

    def forward(signum, frame) -> None:
        stopping.append(signum)
        for proc, _ in running.values():
            proc.send_signal(signum)

    previous = {s: signal.signal(s, forward) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        while pending or running:
            while pending and len(running) < jobs and not stopping:
                i, (run, worker) = pending.pop(0)
                log = open(logs / f"local-{i}.log", "a")
                argv = [sys.executable, "-m", "dse.cli", *sweep.argv(run, worker)[1:]]
                env = {**os.environ, "NUMBA_NUM_THREADS": "1"}
                running[i] = (subprocess.Popen(argv, cwd=sweep.folder, stdout=log, stderr=subprocess.STDOUT,
                                               env=env, start_new_session=True), log)
                echo(f"task {i}: {run.study} worker {worker} started (log {logs / f'local-{i}.log'})")
            if stopping and pending:
                pending.clear()
            for i, (proc, log) in list(running.items()):
                code = proc.poll()
                if code is not None:
                    log.close()
                    del running[i]
                    results.append((i, code))
                    echo(f"task {i}: exit {code}")
            time.sleep(0.2)
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    return sorted(results)
