"""Figures of the whole tool in one file, to show that a refactoring changed none of them.

    python tests/bench/snapshot.py OUT.json          # record (a few minutes on 2 cores)
    python tests/bench/snapshot.py OUT.json --compare BEFORE.json

Records, for every bundled workload x hardware pair, what ``dse evaluate --json`` prints (or the
one-line error of a pair that does not evaluate), ``dse validate --json``, and one seeded search
per kind: its Parquet rows with the provenance columns (tool version, spec hashes, study) dropped,
sorted, as a checksum plus the rows themselves. ``--compare`` names every entry that differs and,
for numbers, the largest relative difference, and exits 1 if any does.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# One seeded search per kind: (workload, hardware, trials, population).
SEARCHES = {
    "chiplet": ("gpt2_resnet50.yaml", "mcm4_hetero.yaml", 20, 10),
    "llm": ("gpt3_66b_decode.yaml", "papi.yaml", 20, 10),
    "training": ("cm_9.6b_seq1024.yaml", "a100_cluster_8.yaml", 20, 10),
    "serving": ("bert_2x2.6b.yaml", "v100x2_6gb.yaml", 12, 6),
}
PROVENANCE = ("version", "_sha", "_file", "spec_hash", "study", "worker", "uuid", "seconds")
SKIP_WORKLOADS = ("datacenter_mix.yaml",)     # minutes per chiplet pair; covered by bench_scale


def evaluate_all() -> dict:
    from dse.errors import DseError
    from dse.point import evaluate_point, strict

    out = {}
    os.chdir(ROOT)                     # relative paths: error texts name the files the same in any checkout
    for w in sorted(Path("workloads").glob("*.yaml")):
        if w.name in SKIP_WORKLOADS:
            continue
        for h in sorted(Path("hardware").glob("*.yaml")):
            key = f"{w.name} x {h.name}"
            try:
                out[key] = strict(evaluate_point(str(w), str(h), None, []))
            except DseError as err:
                out[key] = {"error": str(err)}
            except Exception as exc:          # a crash is a finding too: record it, go on
                out[key] = {"crash": f"{type(exc).__name__}: {exc}"}
            print(key, next(iter(out[key])) if len(out[key]) == 1 else "ok", file=sys.stderr, flush=True)
    return out


def validate_all() -> dict:
    run = subprocess.run([sys.executable, "-m", "dse.cli", "validate", "--json"], capture_output=True, text=True,
                         cwd=ROOT)
    return json.loads(run.stdout)


def searches() -> dict:
    import pandas as pd

    out = {}
    for kind, (w, h, trials, pop) in SEARCHES.items():
        with tempfile.TemporaryDirectory() as tmp:
            subprocess.run([sys.executable, "-m", "dse.cli", "search", str(ROOT / "workloads" / w),
                            str(ROOT / "hardware" / h), "--out", tmp, "--study", "s", "--trials", str(trials),
                            "--batch", str(pop), "--seed", "0", "--storage", "memory", "--quiet"],
                           check=True, cwd=ROOT, capture_output=True)
            df = pd.read_parquet(Path(tmp) / "s")
        df = df[[c for c in df.columns if not any(p in c for p in PROVENANCE)]]
        df = df.sort_values(list(df.columns)).reset_index(drop=True)
        rows = json.loads(df.to_json(orient="records", double_precision=15))
        text = json.dumps(rows, sort_keys=True)
        out[kind] = {"sha256": hashlib.sha256(text.encode()).hexdigest(), "rows": rows}
        print("search", kind, len(rows), "rows", file=sys.stderr, flush=True)
    return out


def diffs(a, b, path="") -> list[str]:
    """Paths where two JSON values differ, with the relative difference of numbers."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = [f"{path}.{k}: only in one" for k in sorted(set(a) ^ set(b))]
        for k in sorted(set(a) & set(b)):
            out += diffs(a[k], b[k], f"{path}.{k}")
        return out
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return [f"{path}: {len(a)} vs {len(b)} items"]
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in diffs(x, y, f"{path}[{i}]")]
    if a == b:
        return []
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        rel = abs(a - b) / max(abs(a), abs(b))
        return [f"{path}: {a!r} vs {b!r} (rel {rel:.2e})"]
    return [f"{path}: {a!r} vs {b!r}"]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--compare", help="a snapshot recorded before")
    ap.add_argument("--only", choices=("evaluate", "validate", "search"), action="append")
    args = ap.parse_args()
    parts = args.only or ["evaluate", "validate", "search"]
    snap = {}
    if "evaluate" in parts:
        snap["evaluate"] = evaluate_all()
    if "validate" in parts:
        snap["validate"] = validate_all()
    if "search" in parts:
        snap["search"] = searches()
    Path(args.out).write_text(json.dumps(snap, sort_keys=True, indent=1))
    results = list(snap.get("evaluate", {}).values())
    crashes = sum("crash" in v for v in results)
    evaluated = sum("error" not in v and "crash" not in v for v in results)
    print(f"{evaluated} pairs evaluate, {len(results) - evaluated - crashes} are errors, {crashes} crash; "
          f"{len(snap.get('search', {}))} searches")
    if not args.compare:
        return 0
    before = json.loads(Path(args.compare).read_text())
    found = diffs({k: before[k] for k in snap}, snap)
    for line in found[:200]:
        print(line)
    print(f"{len(found)} differences" if found else "identical")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
