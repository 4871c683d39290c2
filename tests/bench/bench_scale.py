"""Chiplet search at SCAR scale (run on demand): prints figures, asserts nothing.

    python tests/bench/bench_scale.py                 # this tree only
    python tests/bench/bench_scale.py --before REV    # and the same measurements on git revision REV

1. Inner optimiser per design point on meshes of 4, 8, 16, 36 and 64 chiplets (SCAR's datacenter
   chiplet, checkerboard of weight- and output-stationary chiplets) x GPT-2 + ResNet-50 (127 ops)
   and the datacenter mix (1,001 ops): time, mappings evaluated, best throughput and least energy
   found; with this tree also one thread vs all threads (numba prange).
2. Quality on 40 random pipelined 7-op x 3-chiplet cases against brute force: mean and worst gap.
3. Peak memory (RSS) of building one design point at 128, 256 and 512 chiplets.

Every measurement runs in a subprocess of its own (``--worker``), against this tree or a git
worktree of REV, so the old code is measured by the same script on the same machine in the same
run. A case slower than ``--limit`` seconds is stopped and reported as such.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SIZES = (4, 8, 16, 36, 64)
MESH = {4: (2, 2), 8: (4, 2), 16: (4, 4), 36: (6, 6), 64: (8, 8), 128: (16, 8), 256: (16, 16), 512: (32, 16)}
WORKLOADS = {127: "workloads/gpt2_resnet50.yaml", 1001: "workloads/datacenter_mix.yaml"}


# --- worker side (imports whichever dse is on sys.path) --------------------------------------------

def hardware(c: int):
    """c chiplets of hardware/scar_6x6_hetero.yaml (SCAR's datacenter chiplet, its network and
    DRAM) on a mesh, weight- and output-stationary in a checkerboard."""
    import yaml

    from dse.spec.common import Node
    from dse.spec.hardware import parse_hardware

    spec = yaml.safe_load((ROOT / "hardware/scar_6x6_hetero.yaml").read_text())
    cols, rows = MESH[c]
    chip = {k: v for k, v in spec["chiplets"][0].items() if k not in ("name", "position", "dataflow")}
    chips = [{**chip, "name": f"c{i}", "position": [i % cols, i // cols],
              "dataflow": "weight_stationary" if (i % cols + i // cols) % 2 == 0 else "output_stationary"}
             for i in range(c)]
    return parse_hardware(Node({"name": f"mesh{c}", "chiplets": chips,
                                "network": {**spec["network"], "mesh": [cols, rows]}, "dram": spec["dram"],
                                "system": {"pipelining": True}}, f"mesh{c}", ""))


def point_of(c: int, ops: int):
    from dse.spec.common import resolve
    from dse.spec.workload import load_workload
    from dse.system.chiplet import evaluator as design

    return design.build(resolve(load_workload(str(ROOT / WORKLOADS[ops])), {}), resolve(hardware(c), {}))


def work_optimise(c: int, ops: int, threads: int) -> dict:
    import numba
    import numpy as np

    from dse.system.chiplet import evaluator as design

    design.optimise(point_of(4, 127))          # compile (or load the cache) on a small case first
    point = point_of(c, ops)
    if threads:
        numba.set_num_threads(threads)
    times = []
    while len(times) < 3 and sum(times) < 2.0:
        t = time.perf_counter()
        _, metrics, evaluated = design.optimise(point)
        times.append(time.perf_counter() - t)
    return {"s": float(np.median(times)), "evaluated": int(evaluated), "threads": numba.get_num_threads(),
            "throughput": float(1.0 / metrics[:, 0].min()), "energy": float(metrics[:, 2].min())}


def random_frame(seed: int):
    """A random pipelined 7-op x 3-chiplet case, chiplets in a row (3 x 1 mesh), for either API."""
    import numpy as np

    from dse.system.chiplet import kernels

    rng = np.random.default_rng(seed)
    n, c = 7, 3
    model = np.sort(rng.integers(0, 2, n))
    first = np.r_[1, (model[1:] != model[:-1]).astype(np.int64)]
    time_, energy, out = rng.uniform(0.1, 2.0, (n, c)), rng.uniform(0.1, 2.0, (n, c)), rng.uniform(0, 2e9, n)
    mult = rng.choice([1.0, 2.0, 4.0], n)[model]
    dram = rng.uniform(0, 1e8, (n, c))
    head = (time_, energy, dram, out, mult, model, first, int(model.max()) + 1)
    tail = (1e9, 1.0, 1e-9, 1e9, True, 0.0)
    if "route" in kernels.Frame._fields:                      # before: a c x c x links route table
        from dse.system.chiplet.ir import xy_routes

        hops, route = xy_routes([(i, 0) for i in range(c)], (c, 1))
        return kernels.Frame(*head, hops, route, *tail)
    return kernels.Frame(*head, np.array([(i, 0) for i in range(c)], dtype=np.int64), c, 1, *tail)


def work_quality() -> dict:
    import numpy as np

    from dse.system.chiplet import evaluator as design, kernels

    weights = np.array([0.0, 0.5, 1.0])
    effort = design.DEFAULT_EFFORT
    gaps = []
    for seed in range(40):
        f = random_frame(seed)
        n = f.time.shape[0]
        if "route" in kernels.Frame._fields:
            _, metrics, _ = kernels.optimise(f, weights, effort)
            sc = np.zeros(f.time.shape[1])
        else:
            _, metrics, _ = kernels.optimise(f, weights, effort, np.zeros((0, n), dtype=np.int64))
            sc = kernels.scratch(f)
        met = np.zeros(kernels.N_METRICS)
        kernels.frame_cost(kernels.fastest_mapping(f), f, sc, met)
        p_ref, e_ref = met[kernels.M_PERIOD], met[kernels.M_ENERGY]
        _, best = kernels.brute_force(f, weights, p_ref, e_ref)
        got = (1 - weights) * metrics[:, kernels.M_PERIOD] / p_ref + weights * metrics[:, kernels.M_ENERGY] / e_ref
        gaps += list(got / best - 1)
    g = np.array(gaps)
    return {"mean": float(g.mean()), "worst": float(g.max()), "optimal": float((g < 1e-9).mean())}


def work_memory(c: int) -> dict:
    import resource

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    point_of(c, 127)
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"peak_mib": after / 1024, "build_mib": (after - before) / 1024}


def worker(task: dict) -> None:
    import dse.system.chiplet.evaluator  # noqa: F401  (import before measuring memory)
    if task["what"] == "optimise":
        out = work_optimise(task["c"], task["ops"], task.get("threads", 0))
    elif task["what"] == "quality":
        out = work_quality()
    else:
        out = work_memory(task["c"])
    print(json.dumps(out))


# --- driver side -------------------------------------------------------------------------------------

def run(tree: Path, task: dict, limit: float) -> dict | None:
    """One task in a fresh interpreter importing dse from ``tree``; None if it exceeds ``limit`` s."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    try:
        r = subprocess.run([sys.executable, __file__, "--worker", json.dumps(task)], env=env, cwd=tree,
                           capture_output=True, text=True, timeout=limit)
    except subprocess.TimeoutExpired:
        return None
    if r.returncode != 0:
        raise SystemExit(f"worker failed in {tree}: {task}\n{r.stderr[-2000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def fmt_s(r: dict | None, limit: float) -> str:
    if r is None:
        return f"> {limit:.0f} s"
    return f"{r['s'] * 1e3:.1f} ms" if r["s"] < 1 else f"{r['s']:.2f} s"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--worker")
    ap.add_argument("--before", help="git revision to measure as 'before'")
    ap.add_argument("--limit", type=float, default=300.0, help="seconds per case before it is stopped")
    ap.add_argument("--sizes", default=",".join(map(str, SIZES)))
    args = ap.parse_args()
    if args.worker:
        worker(json.loads(args.worker))
        return
    sizes = [int(s) for s in args.sizes.split(",")]
    trees = {"after": ROOT}
    tmp = None
    if args.before:
        tmp = tempfile.mkdtemp(prefix="dse-before-")
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", tmp, args.before], check=True,
                       capture_output=True)
        trees = {"before": Path(tmp), "after": ROOT}
    try:
        head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True).stdout.strip()
        print(f"after = this tree (HEAD {head}, with its working changes)"
              + (f"; before = {args.before}" if args.before else "") + f"; {os.cpu_count()} CPUs")
        print("\n1. inner optimiser per design point (5 objective weights; time = median of up to 3 runs)")
        cols = ["chiplets", "ops"]
        for name in trees:
            cols += [f"{name} time", f"{name} mappings", f"{name} thr/s", f"{name} mJ"]
        cols += ["1 thread", "speedup", "us/(op*chiplet)"]
        print("  ".join(f"{c:>15}" for c in cols))
        for ops in WORKLOADS:
            for c in sizes:
                cells = [str(c), str(ops)]
                res = {}
                for name, tree in trees.items():
                    r = res[name] = run(tree, {"what": "optimise", "c": c, "ops": ops}, args.limit)
                    cells += [fmt_s(r, args.limit), f"{r['evaluated']:,}" if r else "-",
                              f"{r['throughput']:.3f}" if r else "-", f"{r['energy'] * 1e3:.1f}" if r else "-"]
                one = run(ROOT, {"what": "optimise", "c": c, "ops": ops, "threads": 1}, args.limit)
                after = res["after"]
                cells += [fmt_s(one, args.limit),
                          f"{one['s'] / after['s']:.2f}x ({after['threads']} thr)" if one and after else "-",
                          f"{after['s'] / (ops * c) * 1e6:.2f}" if after else "-"]
                print("  ".join(f"{x:>15}" for x in cells), flush=True)
        print("\n2. quality on 40 random pipelined 7-op x 3-chiplet cases x 3 weights (gap to brute force)")
        for name, tree in trees.items():
            q = run(tree, {"what": "quality"}, args.limit)
            print(f"  {name:>6}: mean gap {q['mean'] * 100:.2f} %, worst {q['worst'] * 100:.1f} %, "
                  f"optimum found in {q['optimal'] * 100:.0f} % of (case, weight) pairs", flush=True)
        print("\n3. peak memory of building one design point (127 ops), RSS of a fresh process")
        for c in (128, 256, 512):
            line = [f"  {c:>4} chiplets:"]
            for name, tree in trees.items():
                m = run(tree, {"what": "memory", "c": c}, args.limit)
                line.append(f"{name} {m['peak_mib']:.0f} MiB peak ({m['build_mib']:.0f} MiB for the build)"
                            if m else f"{name} > {args.limit:.0f} s")
            print("  ".join(line), flush=True)
    finally:
        if tmp:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", tmp], capture_output=True)


if __name__ == "__main__":
    main()
