"""One search worker: the steps it takes on a shared study, each a method.

Lifecycle (:meth:`Worker.run`)::

    open                 load and check the specs (dse.search.runner.prepare), open the storage and
                         the study, reap dead workers, enqueue the kind's baselines in a new study
    loop until the study has its budget of COMPLETE trials (or SIGINT / SIGTERM):
        ask              under the study's mutex: reap (dead workers' trials re-queued), count,
                         ask this round's trials
        claim            under the mutex: decide each proposed point's fate (owner, repeat, wait,
                         adopted)
        evaluate         each owned point through the kind (build, inner level), rows kept in memory
        flush            rows -> one Parquet part (durable first), then tell
        tell             under the mutex: every resolved trial, within the budget
    close                flush what is left, fail what was asked and never resolved, release

Trials are told only after the part holding their rows is durable, so the storage and the Parquet
dataset agree after a kill at any point (the failpoints ``evaluated``, ``written`` and ``told`` of
dse.search.runner.failpoint mark the three places a kill can fall between).

Claiming (per proposed design point, against the study's owners; dse.search.storage's attributes):
a point already COMPLETE in the study is a *repeat* (told its stored values, not evaluated, no
rows); one a live worker is evaluating is *waited* for; one whose rows a killed worker wrote is
*adopted* (values read back from its part file); anything else is *owned* and evaluated here.

The sampler never touches the storage; the worker sits between them (Optuna's ask/tell), and reads
the storage only through :class:`dse.search.storage.StudyTrials` (public storage API).
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from dse.errors import MODEL_FAILURES, DseError, model_failure
from dse.failpoints import failpoint
from dse.search.runner import (SearchConfig, SearchSummary, best_values, plain_row, prepare,
                               worker_index)
from dse.search.storage import BUDGET_ATTR, OWNER_ATTR, PART_ATTR, POINT_ATTR, WORKER_ATTR
from dse.spec.common import label_of, resolve


@dataclass
class Proposal:
    """One asked trial on its way to being told."""

    trial: Any                      # optuna.Trial
    key: str                        # the design point: its knob labels as JSON
    values: dict                    # knob path -> value
    state: str = "new"              # owner | repeat | adopted | wait
    result: tuple | None = None     # (best values, feasible) once known
    owner: "Proposal | None" = None  # a repeat of a point this worker owns and has not told yet


def owners(study, exclude: set[int]) -> dict[str, Any]:
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


def unevaluable_row(exc: BaseException, objectives) -> dict:
    """The row of a design the model cannot evaluate: infeasible, the objectives NaN (Optuna is
    told the worst value), the exception and where it arose as its violation."""
    return {"mapping": "", "feasible": False, "violations": f"the model cannot evaluate this design: {model_failure(exc)}",
            **{name: math.nan for name, _ in objectives}}


def told_values(trial) -> tuple[list[float], bool]:
    return list(trial.values), float(trial.user_attrs.get("violation", 0.0)) <= 0.0


class Worker:
    """A worker on one study: construct, then :meth:`run` (the module docstring has the lifecycle)."""

    def __init__(self, workload_path: str, hardware_path: str, cfg: SearchConfig):
        self.workload_path, self.hardware_path, self.cfg = workload_path, hardware_path, cfg
        self.proposals: list[Proposal] = []   # asked, not yet told
        self.rows: list[dict] = []             # rows of evaluated owners, not yet written
        self.stop: list[int] = []              # the signals received
        self.summary: SearchSummary | None = None
        self.start = self.last_flush = time.perf_counter()

    # --- open ---------------------------------------------------------------------------------
    def open(self) -> None:
        """Check the specs, open the storage and the study, reap dead workers' trials, enqueue the
        kind's baselines in a new study, and record this run's budget. Raises DseError (nothing
        written) for unusable specs, storage or study."""
        from optuna.trial import TrialState

        from dse.output.store import check_results_folder, part_files_or_none
        from dse.search.sampler import make_sampler
        from dse.search.storage import StudyTrials, default_journal, open_store, open_study, worker_token

        cfg = self.cfg
        self.index = worker_index(cfg.worker)
        p = self.p = prepare(self.workload_path, self.hardware_path, cfg, self.index)
        folder = self.folder = Path(cfg.out) / p.name
        check_results_folder(Path(cfg.out), folder)
        self.token = worker_token()
        if not cfg.storage and not default_journal(folder).exists() and part_files_or_none(folder):
            raise DseError("--storage", str(default_journal(folder)), f"the storage holding study {p.name}, whose "
                           f"rows are already in {folder}/; or another --study or --out", "no such file")
        store = open_store(cfg.storage, folder, p.name, self.token)
        sseed = p.provenance["sampler_seed"]
        self.summary = summary = SearchSummary(study=p.name, folder=folder, storage=store.description,
                                               budget=cfg.trials, worker=self.index, sampler_seed=sseed,
                                               objectives=p.objectives, best=[math.nan for _ in p.objectives])
        self.coord = store.coordinator
        sampler = make_sampler(sseed, max(2, min(cfg.batch, cfg.trials)), p.space.distributions())
        self.study = open_study(p.name, store, sampler,
                                tuple("maximize" if m else "minimize" for _, m in p.objectives), p.binding)
        self.trials = StudyTrials(store.storage, self.study)
        with self.coord.lock():
            self.reap(force=True)
            summary.complete_before = self.trials.count(TrialState.COMPLETE)
            fresh = not self.study.get_trials(deepcopy=False)
            orphan_rows = fresh and bool(part_files_or_none(folder))
            if fresh and not orphan_rows:
                for seed in p.kind.seed_points(p.workload, p.hardware):    # the kind's baselines come first
                    self.study.enqueue_trial({n: label_of(v) for n, v in seed.items() if n in p.space.names})
            if not orphan_rows and not summary.already_done:
                self.study.set_user_attr(BUDGET_ATTR, cfg.trials)
        if orphan_rows:
            self.coord.close()       # rows without their study: a new one would write them again
            raise DseError("--storage", store.description, f"the storage holding study {p.name}, whose rows are "
                           f"already in {folder}/ (memory studies cannot resume); or another --study or --out",
                           "a storage without that study")
        summary.complete_after = summary.complete_before

    # --- one round ------------------------------------------------------------------------------
    def ask(self) -> list[Proposal] | None:
        """Under the mutex: reap dead workers, count, and ask this round's trials — a whole NSGA-II
        generation for a lone worker; with others at work, its share of one (at least ``cfg.ask``),
        so that each generation mixes every worker's results; never past the budget. None when the
        study is complete and nothing of this worker's is pending."""
        from optuna.trial import TrialState

        cfg, summary, study = self.cfg, self.summary, self.study
        with self.coord.lock():        # counting and asking under the mutex: the budget is never overshot
            self.reap()
            complete = self.trials.count(TrialState.COMPLETE)
            running = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
            summary.complete_after = max(summary.complete_after, complete)
            if complete >= cfg.trials and not self.proposals:
                return None
            others = {t.user_attrs.get(WORKER_ATTR) for t in running} - {self.token, None}
            self.share_cores()
            size = max(cfg.ask, cfg.batch // (1 + len(others)))
            asked = [study.ask() for _ in range(max(0, min(size, cfg.trials - complete - len(running))))]
            space = self.p.space
            batch = []
            for trial in asked:        # a re-queued trial carries its dead parent's token: replace it at once
                trial.set_user_attr(WORKER_ATTR, self.token)
                values = space.suggest(trial)      # under the mutex too: one journal write for the round
                batch.append(Proposal(trial, json.dumps([label_of(values[k.path]) for k in space.knobs]), values))
        self.proposals.extend(batch)
        return batch

    def claim(self, batch: list[Proposal]) -> None:
        """Decide each proposal's fate against the study's owners (call under the mutex): a point
        this worker already owns or one COMPLETE in the study is a repeat, one RUNNING elsewhere is
        waited for, one a dead worker wrote rows for is adopted, anything else owned here."""
        from optuna.trial import TrialState

        from dse.output.store import read_trial_rows

        mine = {q.key: q for q in self.proposals if q.state in ("owner", "adopted")}
        found_owners = owners(self.study, {q.trial.number for q in batch})
        for q in batch:
            other = found_owners.get(q.key)
            inherited = q.trial.user_attrs.get(OWNER_ATTR)       # a re-queued trial carries its parent's attrs
            if q.key in mine and mine[q.key] is not q:
                q.state, q.owner = "repeat", mine[q.key]
            elif other is not None and other.state == TrialState.COMPLETE:
                q.state, q.result = "repeat", told_values(other)
            elif other is not None and other.state == TrialState.RUNNING:
                q.state = "wait"
            elif other is not None and (found := read_trial_rows(self.folder, other.user_attrs[PART_ATTR],
                                                                 other.number)):
                q.state, q.result = "adopted", best_values(found, self.p.objectives)
                mine[q.key] = q
                q.trial.set_user_attr(POINT_ATTR, q.key)
                q.trial.set_user_attr(OWNER_ATTR, True)
                q.trial.set_user_attr(PART_ATTR, other.user_attrs[PART_ATTR])
                self.summary.adopted += 1
                continue
            else:
                q.state = "owner"
                mine[q.key] = q
                q.trial.set_user_attr(POINT_ATTR, q.key)
                q.trial.set_user_attr(OWNER_ATTR, True)
                continue
            if inherited:
                q.trial.set_user_attr(OWNER_ATTR, False)

    def evaluate(self, q: Proposal) -> None:
        """Build the proposal's design point through its kind, solve the inner level, keep the
        rows (provenance, trial, knob labels, the kind's columns; the trial's mapping count on its
        first row only, so the column sums to the work done) and the values Optuna will be told.
        A design the model cannot evaluate (MODEL_FAILURES) is one infeasible row naming why."""
        p, summary = self.p, self.summary
        wl_vals, hw_vals = p.space.split(q.values)
        try:
            point = p.kind.build(resolve(p.workload, wl_vals), resolve(p.hardware, hw_vals))
            point_rows, evaluated = p.kind.design_rows(point)
        except MODEL_FAILURES as exc:    # one infeasible row saying why, not a crashed study
            point_rows, evaluated = [unevaluable_row(exc, p.objectives)], 0
        params = {f"param.{n}": label_of(q.values[k.path]) for n, k in zip(p.space.names, p.space.knobs)}
        self.rows.extend({**p.provenance, "trial": q.trial.number, **params, **plain_row(row),
                          "mappings_evaluated": evaluated if i == 0 else 0} for i, row in enumerate(point_rows))
        q.result = best_values(point_rows, p.objectives)
        summary.mappings_evaluated += evaluated
        summary.points += 1
        summary.pending += 1
        best, feasible = q.result
        if feasible:
            summary.improve(best)

    def due(self) -> bool:
        """A flush is due: ``cfg.flush_seconds`` since the last, or ``cfg.flush_trials`` resolved."""
        return (time.perf_counter() - self.last_flush >= self.cfg.flush_seconds
                or sum(q.state != "wait" for q in self.proposals) >= self.cfg.flush_trials)

    def flush(self) -> None:
        """Write the evaluated rows as one part (renamed into place: durable), then :meth:`tell`."""
        from dse.output.store import new_part_name, write_part

        self.last_flush = time.perf_counter()
        owned = [q for q in self.proposals if q.state == "owner" and q.result is not None]
        if self.rows:
            name = new_part_name(self.index)
            with self.coord.lock():      # the name is on record (written when the lock is let go) before the part exists
                for q in owned:
                    q.trial.set_user_attr(PART_ATTR, name)
            self.summary.parts.append(write_part(self.folder, name, self.rows, self.p.metadata))
            self.summary.rows += len(self.rows)
            self.rows.clear()
            failpoint("written")
        self.tell()

    def tell(self) -> None:
        """Under the mutex: tell every resolved proposal its values (a repeat of an own point, its
        owner's), COMPLETE while the study is under budget, else FAIL marked ``over_budget``."""
        from optuna.trial import TrialState

        summary = self.summary
        ready = [q for q in self.proposals
                 if q.result is not None or (q.owner is not None and q.owner.result is not None)]
        summary.pending = 0
        if not ready:
            return
        with self.coord.lock():
            complete = self.trials.count(TrialState.COMPLETE)
            for q in ready:
                best, feasible = q.result or q.owner.result
                try:
                    if complete < self.cfg.trials:
                        q.trial.set_user_attr("violation", 0.0 if feasible else 1.0)
                        self.study.tell(q.trial, best)
                        complete += 1
                        summary.trials += 1
                        summary.repeats += q.state == "repeat"
                        if feasible:
                            summary.improve(best)
                    else:
                        q.trial.set_user_attr("over_budget", True)
                        self.study.tell(q.trial, state=TrialState.FAIL)
                except Exception:       # failed meanwhile by another worker (we were too slow): its retry adopts our rows
                    pass
            summary.complete_after = complete
        self.proposals[:] = [q for q in self.proposals if q not in ready]

    def reap(self, force: bool = False) -> None:
        """Under the mutex (the caller holds it): fail the RUNNING trials of workers whose heartbeat
        is older than dse.search.storage.GRACE_S (at once when their process is gone from this
        host) and re-queue their points, so that another worker claims them and adopts any rows
        they wrote. At most once per heartbeat period unless ``force``."""
        self.summary.reaped += self.coord.reap(self.study, self.trials, force=force)

    def beat(self) -> None:
        """Tell the other workers this one is alive (its RUNNING trials are not to be reaped), and
        re-size its kernels' threads (:meth:`share_cores`)."""
        if self.coord.beat(self.study, self.trials, [q.trial.number for q in self.proposals]):
            self.share_cores()

    def share_cores(self) -> None:
        """Size the parallel kernels' threads to this worker's share of the host's cores
        (dse.jit.share_cores), from the live dse workers on this host, of any study
        (dse.search.storage.host_registry): at each round and each heartbeat, so that workers
        started by hand on one machine do not oversubscribe it."""
        from dse.jit import share_cores

        share_cores(self.coord.local_workers())

    # --- the loop -----------------------------------------------------------------------------
    def run(self, on_trial: Callable[[SearchSummary], None] | None = None) -> SearchSummary:
        """Open, then rounds of ask, claim, evaluate, flush until the study has ``cfg.trials``
        COMPLETE trials (every worker and every earlier run counted) or a signal arrives; every
        round is told before the next ask, so one worker's run is reproducible. SIGINT / SIGTERM
        finish the point in hand, flush and stop (``summary.interrupted``); a second one leaves at
        once (nothing written, nothing left RUNNING)."""
        import signal
        import warnings

        from optuna.exceptions import ExperimentalWarning

        self.open()
        summary = self.summary
        if summary.already_done:
            self.coord.close()
            return summary

        def on_signal(signum, frame) -> None:
            if self.stop:                 # a second signal: leave now
                raise KeyboardInterrupt
            self.stop.append(signum)

        previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
        quiet_optuna = warnings.catch_warnings()
        quiet_optuna.__enter__()
        warnings.simplefilter("ignore", ExperimentalWarning)           # heartbeat helpers
        warnings.filterwarnings("ignore", message="Heartbeat of storage")  # we beat in the ask/tell loop ourselves
        self.start = self.last_flush = time.perf_counter()
        try:
            while not self.stop:
                self.beat()
                with self.coord.lock():         # asking and claiming: one hold of the mutex, one journal write
                    batch = self.ask()
                    if batch is None:
                        break
                    waiting = [q for q in self.proposals if q.state == "wait"]
                    if batch or waiting:
                        self.claim(batch + waiting)
                for q in batch + waiting:
                    if self.stop:
                        break
                    if q.state == "owner" and q.result is None:
                        self.evaluate(q)
                        failpoint("evaluated")
                        self.beat()
                        if self.due():
                            self.flush()
                        if on_trial:
                            summary.seconds = time.perf_counter() - self.start
                            on_trial(summary)
                self.flush()      # every batch is told before the next ask: one worker's run is reproducible
                failpoint("told")   # here, not in tell(): a flush the 5 s timer makes mid-round is not a round's end
                summary.seconds = time.perf_counter() - self.start
                if on_trial:
                    on_trial(summary)
                if not batch and not self.stop:
                    time.sleep(0.1)    # others hold the rest of the budget: poll (a cheap read of the journal)
        except KeyboardInterrupt:            # a second signal: no flush, but nothing left RUNNING either
            self.rows.clear()
            for q in self.proposals:
                q.result, q.owner = None, None
            raise
        finally:
            try:
                self.close()
            finally:
                for s, handler in previous.items():
                    signal.signal(s, handler)
                quiet_optuna.__exit__(None, None, None)
                self.coord.close()
                summary.seconds = time.perf_counter() - self.start
        summary.interrupted = self.stop[0] if self.stop else None
        return summary

    def close(self) -> None:
        """Flush what is left, then fail every proposal asked and never resolved, so that nothing
        of this worker's lingers RUNNING."""
        from optuna.trial import TrialState

        self.flush()
        with self.coord.lock():
            for q in self.proposals:
                try:
                    self.study.tell(q.trial, state=TrialState.FAIL)
                except Exception:
                    pass


def run_search(workload_path: str, hardware_path: str, cfg: SearchConfig,
               on_trial: Callable[[SearchSummary], None] | None = None) -> SearchSummary:
    """Work on a study until it has ``cfg.trials`` COMPLETE trials (counting every worker and every
    earlier run), or until SIGINT/SIGTERM: one :class:`Worker`'s :meth:`~Worker.run`."""
    return Worker(workload_path, hardware_path, cfg).run(on_trial)
