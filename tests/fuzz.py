"""Bad input through the real CLI, generated: every case is a `dse` command line on files made for
it, run to completion or killed at its time bound, and classified by what a user would see.

Classes of case (a seeded ``random.Random`` draws them; the same seed gives the same cases):

- ``spec``: a bundled workload or hardware file of one of the four kinds with one random
  corruption (a field replaced by garbage of any type or magnitude, deleted, or an unknown one
  added), through ``evaluate``, ``knobs`` or a 2-trial ``search``;
- ``yaml``: hostile YAML text in the workload or hardware position (alias bombs, merge-key bombs,
  duplicate keys, 5,000-deep nesting, tags naming Python objects, non-UTF-8 and NUL bytes, a
  truncated file, a 10 MB scalar, byte soup);
- ``file``: a special or unsuitable file (FIFO, ``/dev/zero``, ``/dev/urandom``, ``/dev/null``, a
  directory, a missing path, a symlink loop, a private file holding a secret) in any path position:
  workload, hardware, ``--mapping``, ``serving.trace``, an ONNX file, an HF ``config.json``, a
  sweep, ``--out``, a results folder;
- ``results``: a study folder from a real search, then corrupted (part truncated, replaced by
  garbage, by another schema, by a FIFO or a directory; journal truncated, garbage, a FIFO; all
  parts gone), through ``pareto``, ``status`` and ``results compact``;
- ``sweep``: a sweep file with one random corruption or a hostile value (a newline and an
  ``#SBATCH`` line, shell metacharacters, a bogus storage URL), through ``batch --slurm --script``;
- ``knob``: ``--set NAME=VALUE`` with absurd values (0, negative, 1e30, 2**70, NaN, text, shapes).

Outcomes: ``ran`` (exit 0), ``refused`` (exit 2 with one ``dse: error:`` line, warnings aside),
``traceback`` (anything else: a traceback, another exit code, a signal), ``hang`` (killed at the
bound), ``leak`` (the secret file's content, or a line over 600 characters, in what was printed).

Cases run in forked children of a server process that has imported dse once (a case costs tens of
milliseconds, not the interpreter's start-up), each in its own folder, with COLUMNS=80.

    python tests/fuzz.py [N] [--seed S] [--jobs 2]      # prints the table
"""

from __future__ import annotations

import json
import os
import random
import select
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import yaml

from dse.search.storage import default_journal

ROOT = Path(__file__).resolve().parent.parent
CLASSES = ("spec", "yaml", "file", "results", "sweep", "knob")
SECRET = "SECRET-CANARY-5f1d2c"
BOUND_S = 120.0           # a case still running after this is a hang (they take ~0.01-2 s)
PAIRS = {
    "chiplet": ("workloads/gpt2_resnet50.yaml", "hardware/mcm4_hetero.yaml"),
    "llm": ("workloads/gpt3_175b_decode.yaml", "hardware/papi.yaml"),
    "llm-gpu": ("workloads/llama65b_serving.yaml", "hardware/a100x8.yaml"),
    "training": ("workloads/zb_table5_profiled.yaml", "hardware/pipeline_only.yaml"),
    "training-3d": ("workloads/cm_9.6b_seq1024.yaml", "hardware/a100_cluster_16.yaml"),
    "serving": ("workloads/bert_2x2.6b.yaml", "hardware/v100x2_6gb.yaml"),
    "serving-trace": ("workloads/bert_2x2.6b_trace.yaml", "hardware/v100x2_6gb.yaml"),
}
KNOBS = {"chiplet": ["pipelining", "ws0.pe_array", "os1.pe_array", "batch"],   # `dse knobs` names; one unknown each
         "llm": ["batch", "tlp", "fpus_per_bank", "alpha", "tp"],
         "llm-gpu": ["batch", "tp", "pp"], "training": ["family", "microbatches"],
         "training-3d": ["family", "microbatch_size", "recompute", "tp"], "serving": ["groups", "tp", "rate"],
         "serving-trace": ["groups", "tp", "slo"]}
GARBAGE = [None, True, False, 0, 1, -1, 2**31, 2**63, 2**80, -(2**80), 10**20, 1e308, -1e-308, float("nan"),
           float("inf"), float("-inf"), "", "abc", "1e30", "5 GB", "-3 ns", "500 MHz", "1e-30 s", "64x64", "x" * 500,
           "∞", [], {}, [1], [[1, 2], [3]], [0, 0], [-1, 5], {"choices": []}, {"choices": [1, "a"]},
           {"min": 5, "max": 1}, {"min": -1, "max": 1, "log": True}, {"min": 1, "max": 10**30}, {"choices": [1, 1]},
           {"choices": [[64, 64], [0, 1]]}, {"foo": 1}, "nan", "\x00", "a\nb"]
KNOB_VALUES = ["0", "-1", "1e30", str(2**70), "nan", "inf", "-inf", "abc", "", "1e-30", "[1, 2]", "{a: 1}", "64x0",
               "99999x99999", "true", "0.5", "2", "3", "2000", "1000000", "zb-h1", "v-min", "'", "*x", "&a b",
               "4096x4096", "1x1"]
HOSTILE_SLURM = ["cpu\n#SBATCH --wrap=INJECTED", "a;INJECTED", "$(INJECTED)", "`INJECTED`", "x y", "a|b", "a&b"]
HOSTILE_STORAGE = ["bogus://x", "sqlite:///", "sqlite:///:memory:", "postgresql://u:p@@h/db", "postgresql://", "memory",
                   "/dev/zero", "x.log\n", "file:///etc/passwd"]


@dataclass
class Case:
    cls: str
    what: str
    argv: list[str]
    folder: Path
    script: Path | None = None          # a Slurm script the case may write (checked for injection)
    out: Path | None = None             # a results folder a refused search must not create
    outcome: str = ""
    detail: str = ""
    seconds: float = 0.0


# --- generation ------------------------------------------------------------------------------------
def load(rel: str) -> object:
    return yaml.safe_load((ROOT / rel).read_text())


def corrupt(rng: random.Random, tree):
    """One random corruption of a YAML tree: replace (3 in 5), delete or add, anywhere."""
    path, node = [], tree
    while isinstance(node, (dict, list)) and node and rng.random() < 0.75:
        key = rng.choice(list(node) if isinstance(node, dict) else range(len(node)))
        path.append(key)
        node = node[key]
    action = rng.choice(["replace", "replace", "replace", "delete", "add"])
    if not path:
        return rng.choice(GARBAGE) if action == "replace" else tree
    parent = tree
    for key in path[:-1]:
        parent = parent[key]
    if action == "delete":
        del parent[path[-1]]
    elif action == "add" and isinstance(parent, dict):
        parent[rng.choice(["colour", "gpus", "nodes", "clock", "trace"])] = rng.choice(GARBAGE)
    else:
        parent[path[-1]] = rng.choice(GARBAGE)
    return tree


def absolute_trace(tree) -> None:
    """The trace workload names its CSV relative to its own folder: make it absolute in a copy."""
    if isinstance(tree, dict) and isinstance(tree.get("serving"), dict) and "trace" in tree["serving"]:
        trace = tree["serving"]["trace"]
        if isinstance(trace, str):
            tree["serving"]["trace"] = str(ROOT / "workloads" / trace)


def dump(tree) -> str:
    try:
        return yaml.safe_dump(tree, allow_unicode=True, sort_keys=False)
    except yaml.YAMLError:
        return "!!not-representable\n"


def hostile_yaml(rng: random.Random, base: str) -> tuple[str, bytes]:
    kind = rng.choice(["bomb", "merge-bomb", "duplicate", "deep", "tag", "non-utf8", "nul", "truncated", "huge-scalar",
                       "soup", "empty", "list-root", "scalar-root", "self-alias", "long-key"])
    text = base.encode()
    if kind == "bomb":
        lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
        lines += [f"a{i}: &a{i} [{','.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 10)]
        return kind, ("\n".join(lines) + "\n").encode()
    if kind == "merge-bomb":
        lines = ["b0: &b0 {k0: 1}"] + [f"b{i}: &b{i} {{<<: [*b{i - 1}, *b{i - 1}], k{i}: 1}}" for i in range(1, 40)]
        return kind, ("\n".join(lines) + "\n").encode()
    if kind == "duplicate":
        lines = base.splitlines()
        top = [i for i, line in enumerate(lines) if line and not line[0].isspace() and ":" in line]
        i = rng.choice(top)
        return kind, ("\n".join(lines[:i + 1] + [lines[i]] + lines[i + 1:]) + "\n").encode()
    if kind == "deep":
        depth = 5000
        return kind, ("[" * depth + "]" * depth if rng.random() < 0.5 else
                      "".join(f"{' ' * i}k:\n" for i in range(depth))).encode()
    if kind == "tag":
        return kind, rng.choice([b"!!python/object/apply:os.system ['echo INJECTED']\n",
                                 b"name: !!python/name:os.system\n", b"name: !custom x\n"])
    if kind == "non-utf8":
        at = rng.randrange(len(text))
        return kind, text[:at] + rng.choice([b"\xff\xfe", b"\xc3\x28", b"\x80"]) + text[at:]
    if kind == "nul":
        at = rng.randrange(len(text))
        return kind, text[:at] + b"\x00" + text[at:]
    if kind == "truncated":
        return kind, text[:rng.randrange(len(text))]
    if kind == "huge-scalar":
        return kind, b"name: " + b"x" * (10 * 2**20) + b"\n"
    if kind == "soup":
        return kind, bytes(rng.randrange(256) for _ in range(rng.choice([10, 1000, 100000])))
    if kind == "empty":
        return kind, rng.choice([b"", b"# only a comment\n", b"---\n", b"...\n"])
    if kind == "list-root":
        return kind, b"- a\n- b\n"
    if kind == "scalar-root":
        return kind, rng.choice([b"42\n", b"hello\n", b"null\n"])
    if kind == "self-alias":
        return kind, b"a: &a [*a]\n"
    return kind, b"? " + b"k" * 100000 + b"\n: 1\n"


def special(rng: random.Random, folder: Path, name: str) -> tuple[str, Path]:
    """A special or unsuitable file at ``folder/name`` (or a device elsewhere)."""
    kind = rng.choice(["fifo", "dev-zero", "dev-urandom", "dev-null", "directory", "missing", "symlink-loop", "secret"])
    path = folder / name
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "dev-zero":
        path = Path("/dev/zero")
    elif kind == "dev-urandom":
        path = Path("/dev/urandom")
    elif kind == "dev-null":
        path = Path("/dev/null")
    elif kind == "directory":
        path.mkdir()
    elif kind == "symlink-loop":
        os.symlink(path, path)
    elif kind == "secret":
        path.write_text(f"{SECRET} the first line of a private file\nroot:x:0:0\n")
        path.chmod(0o600)
    return kind, path


def write_pair(folder: Path, wl_tree, hw_tree) -> tuple[Path, Path]:
    wl, hw = folder / "wl.yaml", folder / "hw.yaml"
    wl.write_text(dump(wl_tree))
    hw.write_text(dump(hw_tree))
    return wl, hw


def command(rng: random.Random, folder: Path, wl: Path | str, hw: Path | str) -> tuple[list[str], Path | None]:
    verb = rng.choice(["evaluate", "evaluate", "evaluate-json", "knobs", "search"])
    if verb == "search":
        out = folder / "out"
        return ["search", str(wl), str(hw), "--trials", "2", "--batch", "2", "--storage", "memory", "--out", str(out),
                "-q"], out
    if verb == "evaluate-json":
        return ["evaluate", str(wl), str(hw), "--json"], None
    return [verb, str(wl), str(hw)], None


def generate(rng: random.Random, index: int, base: Path, study: Path) -> Case:
    cls = CLASSES[index % len(CLASSES)] if index < len(CLASSES) else rng.choice(CLASSES)
    folder = base / f"case{index:05d}"
    folder.mkdir(parents=True)
    kind = rng.choice(list(PAIRS))
    wl_rel, hw_rel = PAIRS[kind]
    if cls == "spec":
        wl_tree, hw_tree = load(wl_rel), load(hw_rel)
        absolute_trace(wl_tree)
        side = rng.choice(["workload", "hardware"])
        if side == "workload":
            wl_tree = corrupt(rng, wl_tree)
        else:
            hw_tree = corrupt(rng, hw_tree)
        wl, hw = write_pair(folder, wl_tree, hw_tree)
        argv, out = command(rng, folder, wl, hw)
        return Case(cls, f"{kind} {side} corrupted, {argv[0]}", argv, folder, out=out)
    if cls == "yaml":
        side = rng.choice(["workload", "hardware"])
        rel = wl_rel if side == "workload" else hw_rel
        what, data = hostile_yaml(rng, (ROOT / rel).read_text())
        bad = folder / "bad.yaml"
        bad.write_bytes(data)
        wl, hw = (bad, ROOT / hw_rel) if side == "workload" else (ROOT / wl_rel, bad)
        argv, out = command(rng, folder, wl, hw)
        return Case(cls, f"{what} as {side}, {argv[0]}", argv, folder, out=out)
    if cls == "file":
        where = rng.choice(["workload", "hardware", "mapping", "trace", "onnx", "hf_config", "sweep", "out", "results"])
        what, path = special(rng, folder, "thing")
        wl, hw = ROOT / wl_rel, ROOT / hw_rel
        if where == "workload":
            argv, out = command(rng, folder, path, hw)
        elif where == "hardware":
            argv, out = command(rng, folder, wl, path)
        elif where == "mapping":
            argv, out = ["evaluate", str(wl), str(hw), "--mapping", str(path)], None
        elif where == "trace":
            tree = load(PAIRS["serving-trace"][0])
            tree["serving"]["trace"] = str(path)
            twl = folder / "wl.yaml"
            twl.write_text(dump(tree))
            argv, out = command(rng, folder, twl, ROOT / PAIRS["serving-trace"][1])
        elif where in ("onnx", "hf_config"):          # a file a workload names for its model
            if where == "onnx":
                tree, model_hw = load("workloads/tiny_cnn.yaml"), ROOT / PAIRS["chiplet"][1]
                tree["models"][0]["onnx"]["file"] = str(path)
            else:
                tree, model_hw = load("workloads/tinyllama_hf.yaml"), ROOT / PAIRS["llm-gpu"][1]
                tree["models"][0]["transformer"]["hf_config"] = str(path)
            mwl = folder / "wl.yaml"
            mwl.write_text(dump(tree))
            argv, out = command(rng, folder, mwl, model_hw)
        elif where == "sweep":
            argv, out = ["batch", str(path), "--slurm", "--script", str(folder / "s.sbatch")], None
        elif where == "out":
            argv, out = ["search", str(wl), str(hw), "--trials", "2", "--batch", "2", "--storage", "memory", "--out",
                         str(path), "-q"], None
        else:
            argv, out = [rng.choice(["pareto", "status"]), str(path)], None
        return Case(cls, f"{what} as {where}, {argv[0]}", argv, folder, out=out)
    if cls == "results":
        target = folder / study.name
        shutil.copytree(study, target)
        shutil.copytree(default_journal(study).parent, default_journal(target).parent)   # its journal too
        what = corrupt_results(rng, target)
        verb = rng.choice(["pareto", "pareto-csv", "status", "compact"])
        argv = {"pareto": ["pareto", str(target), "--limit", "3"], "pareto-csv": ["pareto", str(target), "--csv"],
                "status": ["status", str(target)], "compact": ["results", "compact", str(target)]}[verb]
        return Case(cls, f"{what}, {verb}", argv, folder)
    if cls == "sweep":
        sweep = {"out": "res", "trials": 10, "workers": 2, "storage": None,
                 "slurm": {"partition": "cpu", "time": "00:20:00", "mem": "1G", "setup": "true"},
                 "runs": [{"workload": str(ROOT / wl_rel), "hardware": str(ROOT / hw_rel)},
                          {"workload": str(ROOT / PAIRS["chiplet"][0]), "hardware": str(ROOT / PAIRS["chiplet"][1]),
                           "trials": 12, "workers": 1, "study": "chiplets"}]}
        del sweep["storage"]
        how = rng.choice(["corrupt", "slurm", "storage"])
        if how == "corrupt":
            sweep = corrupt(rng, sweep)
        elif how == "slurm":
            field_ = rng.choice(["partition", "account", "qos", "setup", "time", "mem", "job_name"])
            sweep["slurm"][field_] = rng.choice(HOSTILE_SLURM)
            how = f"slurm.{field_}"
        else:
            sweep["storage"] = rng.choice(HOSTILE_STORAGE)
        path = folder / "sweep.yaml"
        path.write_text(dump(sweep))
        script = folder / "s.sbatch"
        return Case(cls, f"sweep {how}", ["batch", str(path), "--slurm", "--script", str(script)], folder, script=script)
    name = rng.choice(KNOBS[kind])
    value = rng.choice(KNOB_VALUES)
    wl, hw = ROOT / wl_rel, ROOT / hw_rel
    if kind == "serving-trace":
        tree = load(wl_rel)
        absolute_trace(tree)
        wl = folder / "wl.yaml"
        wl.write_text(dump(tree))
    argv = ["evaluate", str(wl), str(hw), "--set", f"{name}={value}"]
    return Case(cls, f"{kind} --set {name}={value[:20]!r}", argv, folder)


def corrupt_results(rng: random.Random, target: Path) -> str:
    parts = sorted(target.glob("part-*.parquet"))
    journal = default_journal(target)
    what = rng.choice(["part-truncated", "part-garbage", "part-other-schema", "part-fifo", "part-directory",
                       "part-empty", "no-parts", "journal-truncated", "journal-garbage", "journal-fifo",
                       "journal-missing", "stray-file"])
    victim = rng.choice(parts)
    if what == "part-truncated":
        data = victim.read_bytes()
        victim.write_bytes(data[:rng.randrange(len(data))])
    elif what == "part-garbage":
        victim.write_bytes(bytes(rng.randrange(256) for _ in range(rng.choice([1, 100, 5000]))))
    elif what == "part-other-schema":
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pq.read_table(victim)
        column = rng.choice([c for c in table.column_names if c != "trial"])
        table = table.set_column(table.column_names.index(column), column,
                                 pa.array(["text"] * table.num_rows, type=pa.string()))
        pq.write_table(table, victim)
    elif what == "part-fifo":
        victim.unlink()
        os.mkfifo(victim)
    elif what == "part-directory":
        victim.unlink()
        victim.mkdir()
    elif what == "part-empty":
        victim.write_bytes(b"")
    elif what == "no-parts":
        for p in parts:
            p.unlink()
    elif what == "journal-truncated":
        data = journal.read_bytes()
        journal.write_bytes(data[:rng.randrange(len(data))])
    elif what == "journal-garbage":
        journal.write_bytes(bytes(rng.randrange(256) for _ in range(2000)))
    elif what == "journal-fifo":
        journal.unlink()
        os.mkfifo(journal)
    elif what == "journal-missing":
        journal.unlink()
    else:
        (target / "part-zzz.parquet.tmp").write_text("half written")
    return what


# --- running ---------------------------------------------------------------------------------------
SERVER = r"""
import json, os, signal, sys, time, traceback
os.environ["COLUMNS"] = "80"
import dse.cli
from numba.core.registry import cpu_target
cpu_target.target_context.refresh()        # numba's set-up once, inherited by every case
print("ready", flush=True)
for line in sys.stdin:
    case = json.loads(line)
    start = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        os.setpgid(0, 0)
        os.chdir(case["cwd"])
        out = os.open(case["stdout"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        err = os.open(case["stderr"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(out, 1); os.dup2(err, 2)
        sys.argv = ["dse", *case["argv"]]
        code = 0
        try:
            dse.cli.main()
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        except BaseException:
            traceback.print_exc()
            code = 99
        sys.stdout.flush(); sys.stderr.flush()
        os._exit(code)
    deadline = start + case["bound"]
    status, hang = None, False
    while status is None:
        done, st = os.waitpid(pid, os.WNOHANG)
        if done:
            status = st
        elif time.perf_counter() > deadline:
            hang = True
            os.killpg(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            status = -1
        else:
            time.sleep(0.005)
    code = os.waitstatus_to_exitcode(status) if status != -1 else None
    print(json.dumps({"code": code, "hang": hang, "seconds": time.perf_counter() - start}), flush=True)
"""


class Server:
    """A process that has imported dse; runs each case in a forked child."""

    def __init__(self):
        env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
        self.proc = subprocess.Popen([sys.executable, "-c", SERVER], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True, env=env, cwd=ROOT)
        assert self.proc.stdout.readline().strip() == "ready"

    def run(self, case: Case) -> None:
        out, err = case.folder / "_stdout", case.folder / "_stderr"
        self.proc.stdin.write(json.dumps({"argv": case.argv, "cwd": str(case.folder), "stdout": str(out),
                                          "stderr": str(err), "bound": BOUND_S}) + "\n")
        self.proc.stdin.flush()
        ready, _, _ = select.select([self.proc.stdout], [], [], BOUND_S + 60)
        if not ready:
            raise RuntimeError("the fuzz server stopped answering")
        reply = json.loads(self.proc.stdout.readline())
        case.seconds = reply["seconds"]
        classify(case, reply["code"], reply["hang"], out.read_bytes(), err.read_bytes())

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=60)


def classify(case: Case, code: int | None, hang: bool, stdout: bytes, stderr: bytes) -> None:
    text = stderr.decode(errors="replace")
    lines = [line for line in text.splitlines() if line.strip()]
    printed = stdout + stderr
    if hang:
        case.outcome, case.detail = "hang", f"killed after {BOUND_S:.0f} s"
    elif SECRET.encode() in printed:
        case.outcome, case.detail = "leak", "the secret file's content was printed"
    elif any(len(line) > 600 for line in text.splitlines()):
        case.outcome, case.detail = "leak", f"a {max(len(x) for x in text.splitlines())}-character line"
    elif code == 0:
        case.outcome = "ran"
        if case.script is not None and case.script.exists():
            injected = [line for line in case.script.read_text().splitlines()
                        if "INJECTED" in line and (line.startswith("#SBATCH --wrap") or not line.startswith("#"))]
            if injected and not (case.what == "sweep slurm.setup" and len(injected) == 1
                                 and not injected[0].startswith("#")):
                # setup is the user's own shell line (documented); a newline in it is refused
                case.outcome, case.detail = "leak", f"injected into the Slurm script: {injected[0][:80]}"
    elif (code == 2 and lines and all(line.startswith("dse: ") for line in lines)
          and sum(line.startswith("dse: error: ") for line in lines) == 1 and "Traceback" not in text):
        case.outcome, case.detail = "refused", lines[-1]
        if case.out is not None and case.out.exists() and any(case.out.rglob("*.parquet")):
            case.outcome, case.detail = "traceback", "refused but wrote results"
    else:
        case.outcome, case.detail = "traceback", f"exit {code}: {text.strip()[-400:]}"


def run_cases(n: int, seed: int, base: Path, jobs: int = 1) -> list[Case]:
    """Generate and run ``n`` cases under ``base`` (a study for the results class made first)."""
    study = make_study(base / "_study")
    rng = random.Random(seed)
    cases = [generate(rng, i, base, study) for i in range(n)]
    servers = [Server() for _ in range(max(1, jobs))]
    try:
        if len(servers) == 1:
            for case in cases:
                servers[0].run(case)
        else:
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(len(servers)) as pool:
                list(pool.map(lambda k: [servers[k].run(c) for c in cases[k::len(servers)]], range(len(servers))))
    finally:
        for s in servers:
            s.close()
    return cases


def make_study(out: Path) -> Path:
    """A real study folder: 6 trials of the chiplet main job, journal and parts."""
    wl, hw = PAIRS["chiplet"]
    r = subprocess.run([sys.executable, "-m", "dse.cli", "search", str(ROOT / wl), str(ROOT / hw), "--trials", "6",
                        "--batch", "3", "--out", str(out), "-q"], capture_output=True, text=True, cwd=ROOT, timeout=900)
    if r.returncode != 0:
        raise RuntimeError(r.stderr)
    return out / "gpt2_resnet50__mcm4_hetero"


def table(cases: list[Case]) -> str:
    outcomes = ("ran", "refused", "traceback", "hang", "leak")
    counts = Counter((c.cls, c.outcome) for c in cases)
    rows = [f"{'class':<9}" + "".join(f"{o:>11}" for o in outcomes) + f"{'cases':>8}{'max s':>8}"]
    for cls in CLASSES:
        mine = [c for c in cases if c.cls == cls]
        if mine:
            rows.append(f"{cls:<9}" + "".join(f"{counts[(cls, o)]:>11}" for o in outcomes)
                        + f"{len(mine):>8}{max(c.seconds for c in mine):>8.1f}")
    rows.append(f"{'all':<9}" + "".join(f"{sum(counts[(c, o)] for c in CLASSES):>11}" for o in outcomes)
                + f"{len(cases):>8}{max(c.seconds for c in cases):>8.1f}")
    return "\n".join(rows)


def main() -> None:
    import argparse
    import tempfile

    parser = argparse.ArgumentParser()
    parser.add_argument("n", type=int, nargs="?", default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        cases = run_cases(args.n, args.seed, Path(tmp), args.jobs)
        print(table(cases))
        print(f"{len(cases)} cases in {time.perf_counter() - start:.0f} s (seed {args.seed}, {args.jobs} jobs)")
        for c in cases:
            if c.outcome not in ("ran", "refused"):
                print(f"  {c.outcome}: [{c.cls}] {c.what}: {' '.join(c.argv)[:200]}\n    {c.detail[:600]}")


if __name__ == "__main__":
    main()
