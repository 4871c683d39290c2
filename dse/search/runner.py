"""The search loop (DESIGN.md, two levels): Optuna proposes the outer knobs, the system kind's
inner level solves the mapping for each proposal, and every distinct (knobs, mapping) design
becomes a Parquet row.

Optuna is told, per trial, the best value of each objective among the trial's inner designs
(the ideal point of its inner front, feasible designs only), which steers NSGA-II towards points
with good fronts; the rows hold the real designs, and ``dse pareto`` filters them.
"""

from __future__ import annotations

import math
import os
import re
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from dse import __version__
from dse.errors import DseError
from dse.search.space import Space
from dse.spec.common import label_of, resolve, spec_hash, to_jsonable
from dse.spec.hardware import load_hardware
from dse.spec.workload import load_workload


@dataclass(frozen=True)
class SearchConfig:
    study: str | None = None
    out: Path = Path("results")
    trials: int = 300
    seed: int = 0
    batch: int = 50
    storage: str | None = None
    worker: str | None = None
    flush_every: int = 100


@dataclass
class SearchSummary:
    study: str
    folder: Path
    trials: int = 0
    points: int = 0
    rows: int = 0
    mappings_evaluated: int = 0
    parts: list[Path] = field(default_factory=list)
    objectives: tuple = ()
    best: list = field(default_factory=list)     # best feasible value per objective
    seconds: float = 0.0

    def best_text(self) -> str:
        return ", ".join(f"best {name} {value:.4g}" for (name, _), value in zip(self.objectives, self.best))


def default_study_name(workload: Any, hardware: Any) -> str:
    return f"{workload.name}__{hardware.name}"


def worker_id(given: str | None) -> str:
    raw = given or f"{socket.gethostname()}-{os.getpid()}"
    return re.sub(r"[^A-Za-z0-9_.-]", "_", raw)


def best_values(rows: list[dict], objectives) -> tuple[list[float], bool]:
    """Per objective, the best value over the feasible rows (over all rows if none is feasible),
    and whether any row is feasible — what Optuna is told for the point."""
    feasible = [r for r in rows if r["feasible"]]
    pool = feasible or rows
    out = []
    for name, maximise in objectives:
        values = [float(r[name]) for r in pool if not math.isnan(float(r[name]))]
        if not values:
            out.append(0.0 if maximise else 1e300)
        else:
            out.append(max(values) if maximise else min(values))
    return out, bool(feasible)


@dataclass(frozen=True)
class Prepared:
    """Everything a search needs before its first trial, checked up front."""

    workload: Any
    hardware: Any
    kind: Any                      # dse.system.base.SystemKind
    space: Any                     # dse.search.space.Space
    objectives: tuple
    name: str
    metadata: dict                 # Parquet key-value metadata of every part
    provenance: dict               # columns every row carries


def prepare(workload_path: str, hardware_path: str, cfg: SearchConfig, worker: str) -> Prepared:
    """Load and check the specs through their kind, name the study, build metadata and provenance."""
    from dse.output.store import META_HARDWARE, META_KIND, META_OBJECTIVES, META_VERSION, META_WORKLOAD
    from dse.system.base import kind_of

    workload = load_workload(workload_path)
    hardware = load_hardware(hardware_path)
    kind = kind_of(hardware)
    kind.check_workload(workload, hardware)
    objs = kind.objectives(workload, hardware)
    name = cfg.study or default_study_name(workload, hardware)
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
        raise DseError("--study", "", "a study name of letters, digits, '_', '.', '-'", name)
    metadata = {
        META_WORKLOAD: _json(to_jsonable(workload)),
        META_HARDWARE: _json(to_jsonable(hardware)),
        META_VERSION: __version__.encode(),
        META_OBJECTIVES: ",".join(f"{n}:{'max' if m else 'min'}" for n, m in objs).encode(),
        META_KIND: kind.name.encode(),
    }
    provenance = {"study": name, "kind": kind.name, "worker": worker, "seed": cfg.seed, "dse_version": __version__,
                  "workload_file": str(workload_path), "hardware_file": str(hardware_path),
                  "workload_sha": spec_hash(workload), "hardware_sha": spec_hash(hardware)}
    return Prepared(workload, hardware, kind, Space.of(kind.knobs(workload, hardware)), objs, name, metadata,
                    provenance)


def run_search(workload_path: str, hardware_path: str, cfg: SearchConfig,
               on_trial: Callable[[SearchSummary], None] | None = None) -> SearchSummary:
    """Trials in batches of ``cfg.batch``: ask, evaluate each new point through its kind (a point
    already seen in this run is told its cached values), tell, flush every ``cfg.flush_every``
    trials and at the end."""
    from dse.output.store import write_part
    from dse.search.sampler import make_sampler
    from dse.search.storage import open_storage, open_study

    worker = worker_id(cfg.worker)
    p = prepare(workload_path, hardware_path, cfg, worker)
    objs, space = p.objectives, p.space
    summary = SearchSummary(study=p.name, folder=Path(cfg.out) / p.name, objectives=objs,
                            best=[0.0 if m else float("inf") for _, m in objs])
    storage = open_storage(cfg.storage)
    study = open_study(p.name, storage, make_sampler(cfg.seed, max(2, min(cfg.batch, cfg.trials))),
                       tuple("maximize" if m else "minimize" for _, m in objs))
    cache: dict[tuple, tuple[list[float], bool]] = {}
    pending: list[dict] = []
    start = time.perf_counter()
    flushed_at = 0

    def flush() -> None:
        if pending:
            summary.parts.append(write_part(summary.folder, worker, pending, p.metadata))
            summary.rows += len(pending)
            pending.clear()

    def point_rows(values: dict) -> tuple[list[dict], int]:
        wl_vals, hw_vals = space.split(values)
        point = p.kind.build(resolve(p.workload, wl_vals), resolve(p.hardware, hw_vals))
        return p.kind.design_rows(point)

    try:
        while summary.trials < cfg.trials:
            asked = [study.ask() for _ in range(min(cfg.batch, cfg.trials - summary.trials))]
            told = []
            for trial in asked:
                values = space.suggest(trial)
                key = tuple(label_of(values[k.path]) for k in space.knobs)
                if key not in cache:
                    rows, evaluated = point_rows(values)
                    summary.mappings_evaluated += evaluated
                    summary.points += 1
                    params = {f"param.{n}": label_of(values[k.path]) for n, k in zip(space.names, space.knobs)}
                    pending.extend({**p.provenance, "trial": trial.number, **params, **_plain(row),
                                    "mappings_evaluated": evaluated} for row in rows)
                    cache[key] = best_values(rows, objs)
                told.append((trial, cache[key]))
            for trial, (best, feasible) in told:
                trial.set_user_attr("violation", 0.0 if feasible else 1.0)
                study.tell(trial, best)
                summary.trials += 1
                if feasible:
                    summary.best = [max(a, b) if m else min(a, b)
                                    for a, b, (_, m) in zip(summary.best, best, objs)]
            if summary.trials - flushed_at >= cfg.flush_every:
                flush()
                flushed_at = summary.trials
            summary.seconds = time.perf_counter() - start
            if on_trial:
                on_trial(summary)
    finally:
        flush()
        summary.seconds = time.perf_counter() - start
    return summary


def _plain(row: dict) -> dict:
    """Row values as plain Python scalars (numpy scalars would not round-trip through Arrow)."""
    import numpy as np

    out = {}
    for k, v in row.items():
        if isinstance(v, (bool, np.bool_)):
            out[k] = bool(v)
        elif isinstance(v, str):
            out[k] = v
        elif isinstance(v, (int, np.integer)):
            out[k] = int(v)
        else:
            out[k] = float(v)
    return out


def _json(data: Any) -> bytes:
    import json

    return json.dumps(data, sort_keys=True).encode()
