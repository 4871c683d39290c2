"""The outer sampler: NSGA-II, seeded and constraint-aware (set explicitly: Optuna 5's
multi-objective default is TPE)."""

from __future__ import annotations

import warnings


def violation_constraint(trial) -> list[float]:
    """NSGA-II constraint: <= 0 when the point has a feasible design (user attr ``violation``)."""
    return [float(trial.user_attrs.get("violation", 0.0))]


def make_sampler(seed: int, population: int, distributions: dict):
    """NSGA-II with ``population`` per generation; a point with no feasible design is dominated by
    every feasible one. ``distributions``: the study's search space (dse.search.space.Space)."""
    import optuna

    class FixedSpaceNSGAII(optuna.samplers.NSGAIISampler):
        """NSGA-II told its search space instead of inferring it. Optuna's sampler infers it as
        the intersection of every complete trial's distributions (a deep copy of the space and a
        pass over new trials at each trial's first suggest: ~2.3 ms a trial for 36 knobs, in the
        serial part of a study shared by workers). A dse study's space is fixed by its specs (the
        study is bound to their hashes), so the intersection is that space once a trial is
        complete, and empty before — exactly what this returns (sorted by name, the single-valued
        left to independent sampling, as Optuna's does)."""

        def __init__(self, **options):
            super().__init__(**options)
            self._fixed = {n: d for n, d in sorted(distributions.items()) if not d.single()}
            self._any_complete = False

        def infer_relative_search_space(self, study, trial):
            if not self._any_complete:
                self._any_complete = bool(study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)))
            return dict(self._fixed) if self._any_complete else {}

    with warnings.catch_warnings():      # constraints_func is flagged experimental in Optuna 5
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        warnings.simplefilter("ignore", FutureWarning)
        return FixedSpaceNSGAII(population_size=population, seed=seed, constraints_func=violation_constraint)
