"""The outer sampler: NSGA-II, seeded and constraint-aware (set explicitly: Optuna 5's
multi-objective default is TPE)."""

from __future__ import annotations

import warnings


def violation_constraint(trial) -> list[float]:
    """NSGA-II constraint: <= 0 when the point has a feasible design (user attr ``violation``)."""
    return [float(trial.user_attrs.get("violation", 0.0))]


def make_sampler(seed: int, population: int):
    """NSGA-II with ``population`` per generation; a point with no feasible design is dominated by
    every feasible one."""
    import optuna

    with warnings.catch_warnings():      # constraints_func is flagged experimental in Optuna 5
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        warnings.simplefilter("ignore", FutureWarning)
        return optuna.samplers.NSGAIISampler(population_size=population, seed=seed,
                                             constraints_func=violation_constraint)
