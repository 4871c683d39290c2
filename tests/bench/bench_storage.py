"""Per-trial overhead of each study storage (on demand): the same seeded search — PAPI decode
(gpt3_175b_decode x papi, evaluation well under a millisecond per point, so the storage shows) — in
memory, in a journal file, in SQLite and in PostgreSQL, and with 1, 2 and 4 workers sharing a
journal or PostgreSQL. Prints figures; asserts nothing about speed.

    python tests/bench/bench_storage.py [--trials 300] [--postgres postgresql://USER:PW@HOST/DB]

``--postgres`` defaults to $DSE_TEST_POSTGRES (``source .ci/postgres.sh start`` sets it).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from dse.search.runner import SearchConfig  # noqa: E402
from dse.search.worker import run_search  # noqa: E402

WL = str(ROOT / "workloads/gpt3_175b_decode.yaml")
HW = str(ROOT / "hardware/papi.yaml")


def one_worker(storage: str | None, trials: int, tmp: Path, label: str) -> float:
    cfg = SearchConfig(out=tmp / label, trials=trials, storage=storage, study=f"bench_{label}_{os.getpid()}")
    start = time.perf_counter()
    s = run_search(WL, HW, cfg)
    wall = time.perf_counter() - start
    assert s.complete_after == trials
    return wall


def many_workers(storage: str | None, trials: int, workers: int, tmp: Path, label: str) -> float:
    study = f"bench_{label}_{workers}w_{os.getpid()}"
    cmd = [sys.executable, "-m", "dse.cli", "search", WL, HW, "--trials", str(trials), "--out", str(tmp / label),
           "--study", study, "-q"] + (["--storage", storage] if storage else [])
    start = time.perf_counter()
    procs = [subprocess.Popen(cmd + ["--worker", str(w)], stdout=subprocess.DEVNULL) for w in range(workers)]
    codes = [p.wait() for p in procs]
    assert codes == [0] * workers, codes
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=300)
    parser.add_argument("--postgres", default=os.environ.get("DSE_TEST_POSTGRES"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_text:
        tmp = Path(tmp_text)
        one_worker("memory", 20, tmp, "warm")               # numba cache, imports
        storages = [("memory", "memory"), ("journal", None), ("sqlite", f"sqlite:///{tmp}/bench.db")]
        if args.postgres:
            storages.append(("postgresql", args.postgres))
        base = None
        print(f"one worker, {args.trials} trials of gpt3_175b_decode x papi:")
        for label, url in storages:
            wall = one_worker(url, args.trials, tmp, label)
            base = wall if base is None else base
            extra = "" if label == "memory" else f", +{(wall - base) / args.trials * 1e3:.1f} ms/trial vs memory"
            print(f"  {label:<11} {wall:6.2f} s  {wall / args.trials * 1e3:6.1f} ms/trial{extra}")
        print(f"workers sharing one study ({args.trials} trials in all; {os.cpu_count()} cores here):")
        for label, url in [("journal", None)] + ([("postgresql", args.postgres)] if args.postgres else []):
            for workers in (1, 2, 4):
                wall = many_workers(url, args.trials, workers, tmp, label)
                print(f"  {label:<11} {workers} worker(s): {wall:6.2f} s wall (processes, incl. ~1 s start-up each)")


if __name__ == "__main__":
    main()
