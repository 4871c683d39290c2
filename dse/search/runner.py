"""What a search needs before its first trial (DESIGN.md, two levels: Optuna proposes the outer
knobs, the system kind's inner level solves the mapping for each proposal, and every distinct
(knobs, mapping) design becomes a Parquet row): the configuration, the checked specs and their
provenance (:func:`prepare`, :func:`probe`), the summary a worker fills, and the helpers the worker
(dse.search.worker) shares with `dse batch`.

Optuna is told, per trial, the best value of each objective among the trial's inner designs
(the ideal point of its inner front, feasible designs only), which steers NSGA-II towards points
with good fronts; the rows hold the real designs, and ``dse pareto`` filters them.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dse import __version__
from dse.errors import MODEL_FAILURES, DseError, model_failure
from dse.search.space import Space
from dse.spec.common import label_of, resolve, spec_hash, to_jsonable
from dse.spec.hardware import load_hardware
from dse.spec.workload import load_workload

BINDING = ("dse.workload_sha", "dse.hardware_sha", "dse.kind", "dse.objectives")


@dataclass(frozen=True)
class SearchConfig:
    study: str | None = None
    out: Path = Path("results")
    trials: int = 300                # study-wide budget of COMPLETE trials, over all workers and re-runs
    seed: int = 0
    batch: int = 50                  # NSGA-II population: trials per generation
    ask: int = 10                    # the smallest round (trials asked, evaluated, told) when workers share a study
    storage: str | None = None       # None: a journal file in the study folder
    worker: int | None = None        # None: $SLURM_ARRAY_TASK_ID, else 0
    flush_seconds: float = 5.0       # a killed worker loses at most this much evaluated work
    flush_trials: int = 100


@dataclass
class SearchSummary:
    study: str
    folder: Path
    storage: str = ""
    budget: int = 0
    complete_before: int = 0         # COMPLETE trials in the study when this worker started
    complete_after: int = 0
    worker: int = 0
    sampler_seed: int = 0
    trials: int = 0                  # trials this worker completed
    points: int = 0                  # design points this worker evaluated (and wrote)
    repeats: int = 0                 # trials whose point was already in the study: told, not evaluated
    adopted: int = 0                 # points whose rows a killed worker had written: told, not evaluated
    reaped: int = 0                  # trials of dead workers failed and re-queued by this worker
    rows: int = 0
    mappings_evaluated: int = 0
    pending: int = 0                 # trials evaluated in this round, not yet told
    parts: list[Path] = field(default_factory=list)
    objectives: tuple = ()
    best: list = field(default_factory=list)     # best feasible value per objective
    seconds: float = 0.0
    interrupted: int | None = None   # the signal that stopped the run

    @property
    def already_done(self) -> bool:
        return self.complete_before >= self.budget

    def best_text(self) -> str:
        from dse.output.progress import best_values_text

        return best_values_text(self)

    def improve(self, values: list[float]) -> None:
        """Fold one feasible design's objective values into ``best`` (NaN: none yet)."""
        self.best = [b if math.isnan(a) else (max(a, b) if m else min(a, b))
                     for a, b, (_, m) in zip(self.best, values, self.objectives)]


STUDY_NAME = "a study name of 1-120 letters, digits, '_', '.', '-' (not starting with '.' or '_')"


def valid_study_name(name: str) -> bool:
    """Study names become folder names and lock keys."""
    return bool(re.fullmatch(r"[A-Za-z0-9_.-]{1,120}", name)) and not name.startswith((".", "_"))


def default_study_name(workload: Any, hardware: Any) -> str:
    return f"{workload.name}__{hardware.name}"


def worker_index(given: int | None) -> int:
    """``--worker``, else Slurm's array index, else 0."""
    if given is not None:
        return given
    env = os.environ.get("SLURM_ARRAY_TASK_ID", "")
    if env.isdigit():
        return int(env)
    if env:
        raise DseError("SLURM_ARRAY_TASK_ID", "", "a non-negative integer", env)
    return 0


def sampler_seed(seed: int, worker: int) -> int:
    """One sampler seed per (``--seed``, worker index): independent streams, reproducible."""
    import numpy as np

    return int(np.random.SeedSequence([seed, worker]).generate_state(1)[0])


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
    binding: dict                  # what a stored study must have been made for


def prepare(workload_path: str, hardware_path: str, cfg: SearchConfig, worker: int) -> Prepared:
    """Load and check the specs through their kind, name the study, build metadata and provenance."""
    from dse.output.store import (META_HARDWARE, META_KIND, META_OBJECTIVES, META_SAMPLER_SEED, META_SEED,
                                  META_STUDY, META_VERSION, META_WORKER, META_WORKLOAD)
    from dse.system.base import kind_of

    workload = load_workload(workload_path)
    hardware = load_hardware(hardware_path)
    kind = kind_of(hardware)
    kind.check_pair(workload, hardware)
    objs = kind.objectives(workload, hardware)
    name = cfg.study or default_study_name(workload, hardware)
    if not valid_study_name(name):
        raise DseError("--study", "", STUDY_NAME, name)
    objectives_text = ",".join(f"{n}:{'max' if m else 'min'}" for n, m in objs)
    sseed = sampler_seed(cfg.seed, worker)
    metadata = {
        META_WORKLOAD: _json(to_jsonable(workload)),
        META_HARDWARE: _json(to_jsonable(hardware)),
        META_VERSION: __version__.encode(),
        META_OBJECTIVES: objectives_text.encode(),
        META_KIND: kind.name.encode(),
        META_STUDY: name.encode(),
        META_SEED: str(cfg.seed).encode(),
        META_WORKER: str(worker).encode(),
        META_SAMPLER_SEED: str(sseed).encode(),
    }
    provenance = {"study": name, "kind": kind.name, "worker": worker, "seed": cfg.seed, "sampler_seed": sseed,
                  "dse_version": __version__, "workload_file": str(workload_path),
                  "hardware_file": str(hardware_path), "workload_sha": spec_hash(workload),
                  "hardware_sha": spec_hash(hardware)}
    binding = dict(zip(BINDING, (provenance["workload_sha"], provenance["hardware_sha"], kind.name,
                                 objectives_text)))
    space = Space.of(kind.knobs(workload, hardware))
    probe(kind, workload, hardware, space, str(hardware_path))
    return Prepared(workload, hardware, kind, space, objs, name, metadata, provenance, binding)


def _magnitude(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, tuple)):
        return 0.0
    return float(math.prod(value)) if isinstance(value, tuple) else float(value)


def probe(kind: Any, workload: Any, hardware: Any, space: Space, source: str) -> None:
    """Build (not evaluate) the design points at every knob's extremes — each choice, each range
    end, and all knobs at their largest together — so that a knob value the kind rejects is an
    error before any search work, not after a hundred trials; so is one whose build divides by
    zero or leaves the model's domain (MODEL_FAILURES), named with the knob values that caused it.
    (Evaluating them too would cost a serving kind seconds per point; a value that fails only at
    evaluation becomes an infeasible row saying why.)"""
    points: list[dict] = [{}]
    largest: dict = {}
    for knob in space.knobs:
        values = list(knob.choices) if knob.choices is not None else [knob.low, knob.high]
        if knob.integer:
            values = [int(v) for v in values]
        points += [{knob.path: v} for v in values]
        largest[knob.path] = max(values, key=_magnitude)
    points.append(largest)
    for values in points:
        wl_vals, hw_vals = space.split(values)
        try:
            kind.build(resolve(workload, wl_vals), resolve(hardware, hw_vals))
        except MODEL_FAILURES as exc:      # e.g. a knob extreme that divides by zero while building
            given = [f"{n}={label_of(values[k.path])}" for n, k in zip(space.names, space.knobs) if k.path in values]
            shown = ", ".join(given) or ", ".join(f"{n}={label_of(k.default)}" for n, k in
                                                  zip(space.names, space.knobs)) + " (the defaults)"
            raise DseError(source, shown, "knob values the model can build (narrow the range)",
                           model_failure(exc)) from None


def plain_row(row: dict) -> dict:
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
