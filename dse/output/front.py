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


def parse_objectives(text: str) -> list[tuple[str, bool]]:
    """``throughput_per_s:max,energy_j:min`` -> [(column, maximise)]."""
    out = []
    for part in text.split(","):
        name, _, direction = part.strip().partition(":")
        direction = direction or "min"
        if not name or direction not in ("min", "max"):
            raise ValueError(part)
        out.append((name, direction == "max"))
    return out
