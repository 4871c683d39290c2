"""What the study storage costs (on demand; prints figures, asserts nothing about speed).

1. The README's main job (gpt2_resnet50 x mcm4_hetero, 300 trials, warm caches) as a user runs
   it, with its journal and with ``--storage memory``, interleaved: wall and CPU time of the whole
   command, the search loop's own seconds, and the share of the wall time the storage costs,
   ``(journal - memory) / journal``. ``--before TREE`` adds another checkout of dse (e.g. a
   ``git worktree`` of an older commit), run the same way, interleaved with this one.
2. Workers sharing one study: the main job at 600 trials (most of them repeats of its 162 points,
   which cost only Optuna's serial bookkeeping under the study's mutex) and gpt2_resnet50 on the
   36-chiplet module at 600 trials (nearly every trial a new point: the model's cost dominates),
   each with 1 and with 2 worker processes (journal; PostgreSQL too when given): trials per
   second of the study as a whole, from the first worker's start to the last one's end, and from
   the workers' own loop seconds.
3. Per-trial overhead of each storage on a model that costs almost nothing (PAPI decode,
   gpt3_175b_decode x papi): memory, journal, SQLite, PostgreSQL.

    python tests/bench/bench_storage.py [--reps 3] [--before /tmp/before] [--postgres URL]

``--postgres`` defaults to $DSE_TEST_POSTGRES (``source .ci/postgres.sh start`` sets it).
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MAIN = (str(ROOT / "workloads/gpt2_resnet50.yaml"), str(ROOT / "hardware/mcm4_hetero.yaml"))
SCAR = (str(ROOT / "workloads/gpt2_resnet50.yaml"), str(ROOT / "hardware/scar_6x6_hetero.yaml"))
PAPI = (str(ROOT / "workloads/gpt3_175b_decode.yaml"), str(ROOT / "hardware/papi.yaml"))


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run(tree: Path, spec: tuple[str, str], out: Path, trials: int, storage: str | None = None,
        workers: int = 1, study: str | None = None, threads: int | None = None) -> dict:
    """The real CLI in ``workers`` processes on one study; wall, CPU and loop seconds.

    ``threads`` sets NUMBA_NUM_THREADS for every process (default: dse's own choice)."""
    cmd = [sys.executable, "-m", "dse.cli", "search", *spec, "--trials", str(trials), "--out", str(out), "-q"]
    cmd += (["--storage", storage] if storage else []) + (["--study", study] if study else [])
    env = {**os.environ, "PYTHONPATH": str(tree)} | ({"NUMBA_NUM_THREADS": str(threads)} if threads else {})
    cpu0, start = children_cpu(), time.perf_counter()
    procs = [subprocess.Popen(cmd + ["--worker", str(w)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, env=env, cwd=tree) for w in range(workers)]     # cwd: python -m reads it first
    outs = [p.communicate() for p in procs]
    wall = time.perf_counter() - start
    if any(p.returncode for p in procs):
        raise SystemExit(f"{cmd} failed: {outs}")
    loops = [float(re.search(r"\(([\d.]+) s\)\s*$", o.strip()).group(1)) for o, _ in outs]
    repeats = sum(int(m.group(1).replace(",", "")) for o, _ in outs if (m := re.search(r"([\d,]+) repeats", o)))
    return {"wall": wall, "cpu": children_cpu() - cpu0, "loop": max(loops), "repeats": repeats}


def main_job_share(trees: list[tuple[str, Path]], reps: int, tmp: Path) -> None:
    print("1. the README main job, 300 trials, warm; whole command (wall / CPU) and the search loop:")
    results: dict[tuple[str, str], list[dict]] = {}
    for rep in range(reps):                        # interleaved: every tree and storage once per rep
        for label, tree in trees:
            for storage in (None, "memory"):
                key = (label, "journal" if storage is None else "memory")
                results.setdefault(key, []).append(run(tree, MAIN, tmp / f"m{rep}{label}{key[1]}", 300, storage))
    for label, _ in trees:
        med = {s: {k: sorted(r[k] for r in results[(label, s)])[reps // 2] for k in ("wall", "cpu", "loop")}
               for s in ("journal", "memory")}
        for s in ("journal", "memory"):
            m = med[s]
            print(f"  {label:<8} {s:<8} wall {m['wall']:5.2f} s  CPU {m['cpu']:5.2f} s  loop {m['loop']:5.2f} s")
        j, m = med["journal"], med["memory"]
        print(f"  {label:<8} storage share: {(j['wall'] - m['wall']) / j['wall']:5.1%} of the command's wall time, "
              f"{(j['loop'] - m['loop']) / j['loop']:5.1%} of the search loop's (medians of {reps})")


def workers_speedup(tree: Path, storages: list[tuple[str, str | None]], reps: int, tmp: Path,
                    jobs: list[tuple[str, tuple[str, str], int]]) -> None:
    print(f"2. workers sharing one study ({os.cpu_count()} cores here):")
    for job, (name, spec, trials) in enumerate(jobs):
        for label, url in storages:
            rates: dict[int, list[tuple[float, float]]] = {1: [], 2: []}
            repeats = []
            for rep in range(reps):
                for workers in (1, 2):
                    study = f"w{job}_{workers}_{rep}_{os.getpid()}"
                    r = run(tree, spec, tmp / f"w{name}{label}{workers}{rep}", trials, url, workers, study)
                    rates[workers].append((trials / r["wall"], trials / r["loop"]))
                    repeats.append(r["repeats"])
            med = {w: (sorted(a for a, _ in v)[reps // 2], sorted(b for _, b in v)[reps // 2])
                   for w, v in rates.items()}
            print(f"  {name}, {trials} trials, {label} ({sorted(repeats)[len(repeats) // 2]} of them repeats "
                  "of stored points: Optuna's bookkeeping only):")
            for w in (1, 2):
                print(f"    {w} worker(s): {med[w][0]:6.1f} trials/s (whole commands), "
                      f"{med[w][1]:6.1f} trials/s (workers' loops)")
            print(f"    2 workers / 1: {med[2][0] / med[1][0]:.2f}x whole, {med[2][1] / med[1][1]:.2f}x loops")
        ceiling(tree, name, spec, trials, reps, tmp)


def ceiling(tree: Path, name: str, spec: tuple[str, str], trials: int, reps: int, tmp: Path) -> None:
    """What this machine gives two processes that share nothing: the ceiling of part 2's ratio.

    One process (``--storage memory``, every core) against two at once, each its own in-memory
    study of the same budget on one core: trials per second of both together over one's. Two
    hardware threads of one core, or a shared cache and memory bus, keep this below 2x whatever
    the storage does."""
    rates: dict[int, list[tuple[float, float]]] = {1: [], 2: []}
    for rep in range(reps):
        for workers in (1, 2):
            r = run(tree, spec, tmp / f"c{name}{workers}{rep}", trials, "memory", workers,
                    threads=1 if workers == 2 else None)
            rates[workers].append((workers * trials / r["wall"], workers * trials / r["loop"]))
    med = {w: (sorted(a for a, _ in v)[reps // 2], sorted(b for _, b in v)[reps // 2]) for w, v in rates.items()}
    print(f"  {name}, nothing shared (two separate in-memory studies at once, one core each): "
          f"{med[2][0] / med[1][0]:.2f}x whole, {med[2][1] / med[1][1]:.2f}x loops -- this machine's ceiling")


def per_trial(tree: Path, storages: list[tuple[str, str]], tmp: Path) -> None:
    print("3. one worker, 300 trials of gpt3_175b_decode x papi (a model of well under 1 ms a point):")
    base = None
    for label, url in storages:
        r = run(tree, PAPI, tmp / f"p{label}", 300, url, study=f"p_{label}_{os.getpid()}")
        base = r["loop"] if base is None else base
        extra = "" if label == "memory" else f", +{(r['loop'] - base) / 300 * 1e3:.1f} ms/trial vs memory"
        print(f"  {label:<11} loop {r['loop']:6.2f} s  {r['loop'] / 300 * 1e3:6.1f} ms/trial{extra}  "
              f"(command: wall {r['wall']:.2f} s, CPU {r['cpu']:.2f} s)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--before", type=Path, help="another dse checkout to compare (part 1)")
    parser.add_argument("--postgres", default=os.environ.get("DSE_TEST_POSTGRES"))
    parser.add_argument("--parts", default="123")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_text:
        tmp = Path(tmp_text)
        trees = ([("before", args.before.resolve())] if args.before else []) + [("this", ROOT)]
        for label, tree in trees:                   # numba caches and imports warm
            run(tree, MAIN, tmp / f"warm-{label}", 20, "memory")
            run(tree, PAPI, tmp / f"warm-{label}", 20, "memory")
            run(tree, SCAR, tmp / f"warm-{label}", 5, "memory")
        if "1" in args.parts:
            main_job_share(trees, args.reps, tmp)
        if "2" in args.parts:
            workers_speedup(ROOT, [("journal", None)] + ([("postgresql", args.postgres)] if args.postgres else []),
                            args.reps, tmp, [("the main job", MAIN, 600), ("gpt2_resnet50 x scar_6x6_hetero", SCAR, 600)])
        if "3" in args.parts:
            storages = [("memory", "memory"), ("journal", None), ("sqlite", f"sqlite:///{tmp}/bench.db")]
            per_trial(ROOT, storages + ([("postgresql", args.postgres)] if args.postgres else []), tmp)


if __name__ == "__main__":
    main()
