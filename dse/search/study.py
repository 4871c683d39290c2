"""Two-level search (DESIGN.md): Optuna proposes the outer knobs, the numba inner optimiser
solves the mapping for each proposal, and every distinct (knobs, mapping) design becomes a row.

Optuna is told, per trial, the best throughput and the least energy among the trial's inner
mappings (the ideal point of its inner front), which steers NSGA-II towards hardware points with
good fronts; the Parquet rows hold the real designs, and ``dse pareto`` filters them.
"""

from __future__ import annotations

import os
import re
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from dse import __version__
from dse.errors import DseError
from dse.spec.common import Knob, collect_knobs, resolve, spec_hash, to_jsonable
from dse.spec.hardware import Dataflow, HardwareSpec, load_hardware
from dse.spec.workload import WorkloadSpec, load_workload


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
    weights: tuple[float, ...] = (0.0, 0.25, 0.5, 0.75, 1.0)


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


@dataclass(frozen=True)
class Space:
    """The outer knobs, named ``wl.<path>`` / ``hw.<path>``, with label <-> value maps."""

    names: tuple[str, ...]
    knobs: tuple[Knob, ...]

    @staticmethod
    def of(workload: WorkloadSpec, hardware: HardwareSpec) -> Space:
        pairs = [("wl." + k.path, k) for k in collect_knobs(workload)]
        pairs += [("hw." + k.path, k) for k in collect_knobs(hardware)]
        return Space(tuple(n for n, _ in pairs), tuple(k for _, k in pairs))

    def suggest(self, trial) -> dict[str, Any]:
        """Values (by knob path) for an Optuna trial; labels go to Optuna, values to the specs."""
        values: dict[str, Any] = {}
        for name, knob in zip(self.names, self.knobs):
            if knob.choices is not None:
                labels = [label_of(c) for c in knob.choices]
                label = trial.suggest_categorical(name, labels)
                values[knob.path] = knob.choices[labels.index(label)]
            elif knob.integer:
                values[knob.path] = trial.suggest_int(name, int(knob.low), int(knob.high), log=knob.log)
            else:
                values[knob.path] = trial.suggest_float(name, knob.low, knob.high, log=knob.log)
        return values

    def split(self, values: dict[str, Any]) -> tuple[dict, dict]:
        """Values by knob path -> (workload values, hardware values)."""
        parts: dict[str, dict] = {"wl": {}, "hw": {}}
        for name, knob in zip(self.names, self.knobs):
            if knob.path in values:
                parts[name[:2]][knob.path] = values[knob.path]
        return parts["wl"], parts["hw"]


def label_of(value: Any) -> Any:
    """Optuna-friendly label of a choice: pe_array (64, 64) -> '64x64', a dataflow -> its name."""
    if isinstance(value, Dataflow):
        return value.name
    if isinstance(value, tuple):
        return "x".join(str(v) for v in value)
    return value


def default_study_name(workload: WorkloadSpec, hardware: HardwareSpec) -> str:
    return f"{workload.name}__{hardware.name}"


def _worker_id(given: str | None) -> str:
    raw = given or f"{socket.gethostname()}-{os.getpid()}"
    return re.sub(r"[^A-Za-z0-9_.-]", "_", raw)


def open_study(name: str, storage: str | None, seed: int, population: int,
               directions: tuple[str, ...] = ("maximize", "minimize")):
    """An Optuna study (NSGA-II, seeded, constraint-aware: a point with no feasible design is
    dominated by every feasible one). ``storage`` None keeps it in memory; an RDB URL (sqlite:///,
    postgresql://) or a ``.log`` journal path shares it between workers. An unreachable or unusable
    storage is a DseError."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    import warnings

    with warnings.catch_warnings():      # constraints_func is flagged experimental in Optuna 5
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        warnings.simplefilter("ignore", FutureWarning)
        sampler = optuna.samplers.NSGAIISampler(population_size=population, seed=seed,
                                                constraints_func=_constraints)
    store: Any = None
    if storage:
        try:
            if storage.endswith(".log") and "://" not in storage:
                from optuna.storages import JournalStorage
                from optuna.storages.journal import JournalFileBackend

                store = JournalStorage(JournalFileBackend(storage))
            else:
                store = optuna.storages.RDBStorage(storage)
        except Exception as exc:  # driver missing, host unreachable, bad URL: one line, exit 2
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise DseError("--storage", storage, "a reachable Optuna storage (sqlite:///FILE, "
                           "postgresql://USER@HOST/DB with psycopg2 installed, or FILE.log)", reason) from None
    return optuna.create_study(study_name=name, storage=store, sampler=sampler,
                               directions=list(directions), load_if_exists=True)


def _constraints(trial) -> list[float]:
    """NSGA-II constraint: <= 0 when the point has a feasible design."""
    return [float(trial.user_attrs.get("violation", 0.0))]


def run_search(workload_path: str, hardware_path: str, cfg: SearchConfig,
               on_trial: Callable[[SearchSummary], None] | None = None) -> SearchSummary:
    from dse.store import META_HARDWARE, META_OBJECTIVES, META_VERSION, META_WORKLOAD, write_part
    from dse.system import evaluators

    workload = load_workload(workload_path)
    hardware = load_hardware(hardware_path)
    evaluators.check_pair(workload, hardware)
    space = Space.of(workload, hardware)
    objs = evaluators.objectives(workload, hardware)
    name = cfg.study or default_study_name(workload, hardware)
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
        raise DseError("--study", "", "a study name of letters, digits, '_', '.', '-'", name)
    summary = SearchSummary(study=name, folder=Path(cfg.out) / name, objectives=objs,
                            best=[0.0 if m else float("inf") for _, m in objs])
    worker = _worker_id(cfg.worker)
    metadata = {
        META_WORKLOAD: _json(to_jsonable(workload)),
        META_HARDWARE: _json(to_jsonable(hardware)),
        META_VERSION: __version__.encode(),
        META_OBJECTIVES: ",".join(f"{n}:{'max' if m else 'min'}" for n, m in objs).encode(),
    }
    provenance = {"study": name, "worker": worker, "seed": cfg.seed, "dse_version": __version__,
                  "workload_file": str(workload_path), "hardware_file": str(hardware_path),
                  "workload_sha": spec_hash(workload), "hardware_sha": spec_hash(hardware)}
    study = open_study(name, cfg.storage, cfg.seed, max(2, min(cfg.batch, cfg.trials)),
                       tuple("maximize" if m else "minimize" for _, m in objs))
    weights = tuple(cfg.weights)
    cache: dict[tuple, tuple[list[float], bool]] = {}
    pending: list[dict] = []
    start = time.perf_counter()
    flushed_at = 0

    def flush() -> None:
        if pending:
            summary.parts.append(write_part(summary.folder, worker, pending, metadata))
            summary.rows += len(pending)
            pending.clear()

    try:
        while summary.trials < cfg.trials:
            asked = [study.ask() for _ in range(min(cfg.batch, cfg.trials - summary.trials))]
            told = []
            for trial in asked:
                values = space.suggest(trial)
                key = tuple(label_of(values[k.path]) for k in space.knobs)
                if key not in cache:
                    wl_vals, hw_vals = space.split(values)
                    rows, evaluated = evaluators.design_rows(resolve(workload, wl_vals),
                                                             resolve(hardware, hw_vals), weights)
                    summary.mappings_evaluated += evaluated
                    summary.points += 1
                    params = {f"param.{n}": label_of(values[k.path]) for n, k in zip(space.names, space.knobs)}
                    for row in rows:
                        pending.append({**provenance, "trial": trial.number, **params, **_plain(row),
                                        "mappings_evaluated": evaluated})
                    cache[key] = evaluators.best_values(rows, objs)
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
