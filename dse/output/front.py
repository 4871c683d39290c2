"""Non-dominated sets with numpy (no Optuna objects: best_trials deep-copies and is slow at 1e4)."""

from __future__ import annotations

import numpy as np


def non_dominated(values: np.ndarray, maximise: np.ndarray) -> np.ndarray:
    """Boolean mask of the Pareto-optimal rows of ``values`` [n, k].

    Row a dominates row b when a is at least as good in every objective and strictly better in
    one (after flipping maximised objectives to minimisation). Rows with a NaN are never on the
    front. Identical rows are all kept. Sort by the first objective, then sweep: O(n^2 k) worst
    case with early exits, fine for the 1e5-row studies dse writes."""
    v = np.asarray(values, dtype=np.float64).copy()
    if v.ndim != 2:
        raise ValueError("values must be 2-D")
    v[:, np.asarray(maximise, dtype=bool)] *= -1.0
    n = v.shape[0]
    ok = ~np.isnan(v).any(axis=1)
    order = np.lexsort(v[:, ::-1].T)
    front_idx: list[int] = []
    for i in order:
        if not ok[i]:
            continue
        row = v[i]
        if front_idx:
            f = v[front_idx]
            dominated = np.all(f <= row, axis=1) & np.any(f < row, axis=1)
            if dominated.any():
                continue
        front_idx.append(i)
    mask = np.zeros(n, dtype=bool)
    mask[front_idx] = True
    return mask


# Metrics a user maximises, by name; every other metric dse writes (times, energies, bytes, power,
# bubble rates) is minimised. Used when --objectives gives a column without :max or :min.
MAXIMISED_SUFFIXES = ("_per_s", "attainment")
MAXIMISED_PREFIXES = ("utilization", "slo_attainment")
MINIMISED_SUFFIXES = ("_s", "_j", "_js", "_bytes", "_w", "_rate", "_ms")


def natural_direction(name: str) -> bool | None:
    """True (maximise) for rates and attainments, False for times, energies, bytes, power and
    rates of waste; None when the name says nothing."""
    if name.endswith(MAXIMISED_SUFFIXES) or name.startswith(MAXIMISED_PREFIXES):
        return True
    if name.endswith(MINIMISED_SUFFIXES):
        return False
    return None


def parse_objectives(text: str) -> list[tuple[str, bool, bool]]:
    """``throughput_per_s:max,energy_j`` -> [(column, maximise, implied)]: a column without
    ``:max`` / ``:min`` takes its :func:`natural_direction` (``implied`` True); ValueError names the
    part that has neither."""
    out = []
    for part in text.split(","):
        name, sep, direction = part.strip().partition(":")
        if not name or (sep and direction not in ("min", "max")):
            raise ValueError(part)
        if sep:
            out.append((name, direction == "max", False))
            continue
        natural = natural_direction(name)
        if natural is None:
            raise ValueError(f"{part} (no :max or :min, and the name does not say)")
        out.append((name, natural, True))
    return out
