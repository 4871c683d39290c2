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


POINT_ATTR = "dse.point"      # trial user attr: the design point's key (its knob labels, JSON)
OWNER_ATTR = "dse.owner"      # True on the one trial per point that evaluated it and wrote its rows
PART_ATTR = "dse.part"        # the part file holding an owner's rows (set before the write)
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


STUDY_NAME = "a study name of 1-120 letters, digits, '_', '.', '-' (not starting with '.')"


def valid_study_name(name: str) -> bool:
    """Study names become folder names and lock keys."""
    return bool(re.fullmatch(r"[A-Za-z0-9_.-]{1,120}", name)) and not name.startswith(".")


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
    probe(kind, workload, hardware, space)
    return Prepared(workload, hardware, kind, space, objs, name, metadata, provenance, binding)


def _magnitude(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, tuple)):
        return 0.0
    return float(math.prod(value)) if isinstance(value, tuple) else float(value)


def probe(kind: Any, workload: Any, hardware: Any, space: Space) -> None:
    """Build (not evaluate) the design points at every knob's extremes — each choice, each range
    end, and all knobs at their largest together — so that a knob value the kind rejects is an
    error before any search work, not after a hundred trials."""
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
        kind.build(resolve(workload, wl_vals), resolve(hardware, hw_vals))


@dataclass
class _Proposal:
    """One asked trial on its way to being told."""

    trial: Any                      # optuna.Trial
    key: str                        # the design point: its knob labels as JSON
    values: dict                    # knob path -> value
    state: str = "new"              # owner | repeat | adopted | wait
    result: tuple | None = None     # (best values, feasible) once known
    owner: "_Proposal | None" = None  # a repeat of a point this worker owns and has not told yet


def _owners(study, exclude: set[int]) -> dict[str, Any]:
    """Point key -> the trial that best speaks for it: COMPLETE, else RUNNING, else FAIL with rows."""
    from optuna.trial import TrialState

    rank = {TrialState.COMPLETE: 0, TrialState.RUNNING: 1, TrialState.FAIL: 2}
    out: dict[str, Any] = {}
    for t in study.get_trials(deepcopy=False):
        key = t.user_attrs.get(POINT_ATTR)
        if key is None or not t.user_attrs.get(OWNER_ATTR) or t.number in exclude or t.state not in rank:
            continue
        if t.state == TrialState.FAIL and PART_ATTR not in t.user_attrs:
            continue
        prev = out.get(key)
        if prev is None or rank[t.state] < rank[prev.state]:
            out[key] = t
    return out


def _told_values(trial) -> tuple[list[float], bool]:
    return list(trial.values), float(trial.user_attrs.get("violation", 0.0)) <= 0.0


def run_search(workload_path: str, hardware_path: str, cfg: SearchConfig,
               on_trial: Callable[[SearchSummary], None] | None = None) -> SearchSummary:
    """Work on a study until it has ``cfg.trials`` COMPLETE trials (counting every worker and every
    earlier run), or until SIGINT/SIGTERM.

    Per round (a whole NSGA-II generation for a lone worker; with others at work, its share of one,
    at least ``cfg.ask``, so that every worker's results feed the next generation): ask; under the
    study's mutex, claim each proposed design point — a point already in
    the study is a *repeat* (told its stored values, not evaluated, no rows), one a live worker is
    evaluating is *waited* for, one whose rows a killed worker wrote is *adopted* (values read back
    from its part file), anything else is *owned* and evaluated here. Rows go to Parquet every
    ``cfg.flush_seconds`` (or ``cfg.flush_trials`` trials), and trials are told only after the part
    holding their rows is durable, so storage and Parquet agree after any kill.
    """
    import json
    import signal

    import warnings

    from optuna.exceptions import ExperimentalWarning
    from optuna.trial import TrialState

    from dse.output.store import check_results_folder, new_part_name, part_files_or_none, read_trial_rows, write_part
    from dse.search.sampler import make_sampler
    from dse.search.storage import WORKER_ATTR, open_store, open_study, worker_token

    index = worker_index(cfg.worker)
    p = prepare(workload_path, hardware_path, cfg, index)
    objs, space = p.objectives, p.space
    folder = Path(cfg.out) / p.name
    check_results_folder(Path(cfg.out), folder)
    token = worker_token()
    if not cfg.storage and not (folder / "_optuna.log").exists() and part_files_or_none(folder):
        raise DseError("--storage", str(folder / "_optuna.log"), f"the storage holding study {p.name}, whose "
                       f"rows are already in {folder}/; or another --study or --out", "no such file")
    store = open_store(cfg.storage, folder, p.name, token)
    sseed = p.provenance["sampler_seed"]
    summary = SearchSummary(study=p.name, folder=folder, storage=store.description, budget=cfg.trials,
                            worker=index, sampler_seed=sseed, objectives=objs,
                            best=[math.nan for _ in objs])
    coord = store.coordinator
    study = open_study(p.name, store, make_sampler(sseed, max(2, min(cfg.batch, cfg.trials))),
                       tuple("maximize" if m else "minimize" for _, m in objs), p.binding)

    def count(state) -> int:
        return study._storage.get_n_trials(study._study_id, state)     # a COUNT query on RDB storages

    with coord.lock():
        summary.reaped += coord.reap(study, force=True)
        summary.complete_before = count(TrialState.COMPLETE)
        fresh = not study.get_trials(deepcopy=False)
        orphan_rows = fresh and bool(part_files_or_none(folder))
        if fresh and not orphan_rows:
            for seed in p.kind.seed_points(p.workload, p.hardware):    # the kind's baselines come first
                study.enqueue_trial({n: label_of(v) for n, v in seed.items() if n in space.names})
    if orphan_rows:
        coord.close()       # rows without their study: a new one would write them again
        raise DseError("--storage", store.description, f"the storage holding study {p.name}, whose rows are "
                       f"already in {folder}/ (memory studies cannot resume); or another --study or --out",
                       "a storage without that study")
    summary.complete_after = summary.complete_before
    if not summary.already_done:
        from dse.search.status import BUDGET_ATTR

        study.set_user_attr(BUDGET_ATTR, cfg.trials)
    if summary.already_done:
        coord.close()
        return summary

    stop: list[int] = []

    def on_signal(signum, frame) -> None:
        if stop:                      # a second signal: leave now
            raise KeyboardInterrupt
        stop.append(signum)

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    quiet_optuna = warnings.catch_warnings()
    quiet_optuna.__enter__()
    warnings.simplefilter("ignore", ExperimentalWarning)           # heartbeat helpers
    warnings.filterwarnings("ignore", message="Heartbeat of storage")  # we beat in the ask/tell loop ourselves
    proposals: list[_Proposal] = []   # asked, not yet told
    rows: list[dict] = []             # rows of evaluated owners, not yet written
    start = last_flush = time.perf_counter()

    def due() -> bool:
        return (time.perf_counter() - last_flush >= cfg.flush_seconds
                or sum(q.state != "wait" for q in proposals) >= cfg.flush_trials)

    def live_ids() -> list[int]:
        return [q.trial._trial_id for q in proposals]

    def claim(batch: list[_Proposal]) -> None:
        mine = {q.key: q for q in proposals if q.state in ("owner", "adopted")}
        owners = _owners(study, {q.trial.number for q in batch})
        for q in batch:
            other = owners.get(q.key)
            inherited = q.trial.user_attrs.get(OWNER_ATTR)       # a re-queued trial carries its parent's attrs
            if q.key in mine and mine[q.key] is not q:
                q.state, q.owner = "repeat", mine[q.key]
            elif other is not None and other.state == TrialState.COMPLETE:
                q.state, q.result = "repeat", _told_values(other)
            elif other is not None and other.state == TrialState.RUNNING:
                q.state = "wait"
            elif other is not None and (found := read_trial_rows(folder, other.user_attrs[PART_ATTR], other.number)):
                q.state, q.result = "adopted", best_values(found, objs)
                mine[q.key] = q
                q.trial.set_user_attr(POINT_ATTR, q.key)
                q.trial.set_user_attr(OWNER_ATTR, True)
                q.trial.set_user_attr(PART_ATTR, other.user_attrs[PART_ATTR])
                summary.adopted += 1
                continue
            else:
                q.state = "owner"
                mine[q.key] = q
                q.trial.set_user_attr(POINT_ATTR, q.key)
                q.trial.set_user_attr(OWNER_ATTR, True)
                continue
            if inherited:
                q.trial.set_user_attr(OWNER_ATTR, False)

    def evaluate(q: _Proposal) -> None:
        wl_vals, hw_vals = space.split(q.values)
        point = p.kind.build(resolve(p.workload, wl_vals), resolve(p.hardware, hw_vals))
        point_rows, evaluated = p.kind.design_rows(point)
        params = {f"param.{n}": label_of(q.values[k.path]) for n, k in zip(space.names, space.knobs)}
        # the trial's count on its first row, 0 on the others: the column sums to the work done
        rows.extend({**p.provenance, "trial": q.trial.number, **params, **_plain(row),
                     "mappings_evaluated": evaluated if i == 0 else 0} for i, row in enumerate(point_rows))
        q.result = best_values(point_rows, objs)
        summary.mappings_evaluated += evaluated
        summary.points += 1
        summary.pending += 1
        best, feasible = q.result
        if feasible:
            summary.improve(best)

    def flush() -> None:
        """Write the evaluated rows as one part, then tell every resolved trial (budget permitting)."""
        nonlocal last_flush
        last_flush = time.perf_counter()
        owned = [q for q in proposals if q.state == "owner" and q.result is not None]
        if rows:
            name = new_part_name(index)
            for q in owned:
                q.trial.set_user_attr(PART_ATTR, name)
            summary.parts.append(write_part(folder, name, rows, p.metadata))
            summary.rows += len(rows)
            rows.clear()
            failpoint("written")
        ready = [q for q in proposals if q.result is not None or (q.owner is not None and q.owner.result is not None)]
        summary.pending = 0
        if not ready:
            return
        with coord.lock():
            complete = count(TrialState.COMPLETE)
            for q in ready:
                best, feasible = q.result or q.owner.result
                try:
                    if complete < cfg.trials:
                        q.trial.set_user_attr("violation", 0.0 if feasible else 1.0)
                        study.tell(q.trial, best)
                        complete += 1
                        summary.trials += 1
                        summary.repeats += q.state == "repeat"
                        if feasible:
                            summary.improve(best)
                    else:
                        q.trial.set_user_attr("over_budget", True)
                        study.tell(q.trial, state=TrialState.FAIL)
                except Exception:       # failed meanwhile by another worker (we were too slow): its retry adopts our rows
                    pass
            summary.complete_after = complete
        proposals[:] = [q for q in proposals if q not in ready]
        failpoint("told")

    try:
        while not stop:
            coord.beat(study, live_ids())
            batch: list[_Proposal] = []
            with coord.lock():        # counting and asking under the mutex: the budget is never overshot
                summary.reaped += coord.reap(study)
                complete = count(TrialState.COMPLETE)
                running = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
                summary.complete_after = max(summary.complete_after, complete)
                if complete >= cfg.trials and not proposals:
                    break
                # One worker asks a whole generation per round (fewest parts); with others at work,
                # its share of one, so that each generation mixes every worker's results.
                others = {t.user_attrs.get(WORKER_ATTR) for t in running} - {token, None}
                size = max(cfg.ask, cfg.batch // (1 + len(others)))
                asked = [study.ask() for _ in range(max(0, min(size, cfg.trials - complete - len(running))))]
                for trial in asked:        # a re-queued trial carries its dead parent's token: replace it at once
                    trial.set_user_attr(WORKER_ATTR, token)
            for trial in asked:
                values = space.suggest(trial)
                key = json.dumps([label_of(values[k.path]) for k in space.knobs])
                batch.append(_Proposal(trial, key, values))
            proposals.extend(batch)
            waiting = [q for q in proposals if q.state == "wait"]
            if batch or waiting:
                with coord.lock():
                    claim(batch + waiting)
            for q in batch + waiting:
                if stop:
                    break
                if q.state == "owner" and q.result is None:
                    evaluate(q)
                    failpoint("evaluated")
                    coord.beat(study, live_ids())
                    if due():
                        flush()
                    if on_trial:
                        summary.seconds = time.perf_counter() - start
                        on_trial(summary)
            flush()      # every batch is told before the next ask: one worker's run is reproducible
            summary.seconds = time.perf_counter() - start
            if on_trial:
                on_trial(summary)
            if not batch and not stop:
                time.sleep(0.2 if proposals else 1.0)    # others hold the rest of the budget: wait for them
    except KeyboardInterrupt:            # a second signal: no flush, but nothing left RUNNING either
        rows.clear()
        for q in proposals:
            q.result, q.owner = None, None
        raise
    finally:
        try:
            flush()
            for q in proposals:                  # asked but never resolved: fail them, nothing lingers RUNNING
                try:
                    study.tell(q.trial, state=TrialState.FAIL)
                except Exception:
                    pass
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)
            quiet_optuna.__exit__(None, None, None)
            coord.close()
            summary.seconds = time.perf_counter() - start
    summary.interrupted = stop[0] if stop else None
    return summary


_PASSES: dict[str, int] = {}


def failpoint(name: str) -> None:
    """Fault injection for the kill tests: ``DSE_FAILPOINT=NAME:N`` SIGKILLs this process the N-th
    time it passes ``NAME`` (``evaluated``: a point evaluated, rows not yet written; ``written``: a
    part renamed into place, its trials not yet told; ``told``: a round told, the next not asked)."""
    spec = os.environ.get("DSE_FAILPOINT")
    if not spec or spec.partition(":")[0] != name:
        return
    _PASSES[name] = _PASSES.get(name, 0) + 1
    if _PASSES[name] >= int(spec.partition(":")[2] or 1):
        import signal

        os.kill(os.getpid(), signal.SIGKILL)


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
