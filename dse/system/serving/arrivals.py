"""Request arrivals of a serving workload (numpy, seeded, deterministic).

Each model's arrivals are drawn from its own stream, ``numpy.random.default_rng([seed, stream,
model index])``, so adding a model does not change the others' arrivals; stream 0 is the evaluation
run, stream 1 the run the placement is chosen on (the same processes, other draws, so a placement is
not fitted to the very requests it is judged on). Arrivals lie in (0, duration).

    poisson   gaps ~ Exponential(rate)
    gamma     gaps ~ Gamma(shape 1/cv^2, scale cv^2/rate): mean 1/rate, coefficient of variation cv
    bursty    a two-state Markov-modulated Poisson process: a burst state at rate f r held for
              Exp(mean_burst_s), a quiet state at r (1 - f p) / (1 - p) held for
              Exp(mean_burst_s (1 - p) / p), so bursts take a share p of the time and the mean is r
              (f = burst_factor, p = burst_fraction)
    trace     the replayed CSV's rows, for both runs

Model rates: each model's ``rate_per_s``, or ``total_rate_per_s`` split uniformly or by a power
law (model i, 0-based, gets a share proportional to (i + 1)^-alpha).

Request lengths (:func:`request_lengths`; batching: continuous): each model's prompt and output
tokens per request from its own stream ``default_rng([seed, stream, model index, 1])``:

    fixed      the given number (or the transformer's seq_len / decode.output_tokens)
    uniform    integers in [low, high]
    lognormal  exp(N(mu, sigma)) with sigma^2 = ln(1 + cv^2), mu = ln(mean) - sigma^2 / 2 (mean
               ``mean``, coefficient of variation ``cv``), rounded, clipped to [1, max_tokens]
    empirical  (prompt, output) rows of the model's CSV, drawn uniformly with replacement
    trace      a trace with ``prompt_tokens,output_tokens`` columns gives every request its own
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np

from dse.spec.serving_workload import Arrival
from dse.spec.workload import WorkloadSpec


def model_rates(w: WorkloadSpec) -> np.ndarray:
    """Mean requests per second of each model (a trace: its count over duration_s)."""
    s = w.serving
    M = len(w.models)
    if s.trace is not None:
        _, model, _, _ = _trace(w)
        return np.bincount(model, minlength=M) / float(s.duration_s)
    if s.total_rate_per_s is not None:
        if s.rate_split == "uniform":
            share = np.full(M, 1.0 / M)
        else:
            share = (np.arange(M) + 1.0) ** (-float(s.power_law_alpha))
            share /= share.sum()
        return float(s.total_rate_per_s) * share
    return np.array([float(m.serving.rate_per_s) for m in w.models])


def arrival_of(w: WorkloadSpec, i: int) -> Arrival:
    ms = w.models[i].serving
    return ms.arrival if ms is not None and ms.arrival is not None else w.serving.arrival


def gaps_process(rng: np.random.Generator, rate: float, cv: float, duration: float) -> np.ndarray:
    """Arrival times in (0, duration) of a renewal process with Gamma gaps (mean 1/rate, CV cv)."""
    shape = 1.0 / (cv * cv)
    scale = cv * cv / rate
    chunk = int(rate * duration * 1.1) + 64
    times: list[np.ndarray] = []
    last = 0.0
    while True:
        t = last + np.cumsum(rng.gamma(shape, scale, size=chunk))
        times.append(t[t < duration])
        if t[-1] >= duration:
            break
        last = float(t[-1])
    return np.concatenate(times)


def bursty_process(rng: np.random.Generator, rate: float, a: Arrival, duration: float) -> np.ndarray:
    """Arrival times in (0, duration) of the two-state MMPP (module docstring); the first state is
    drawn from the stationary split."""
    f, p = float(a.burst_factor), float(a.burst_fraction)
    rates = (f * rate, rate * (1.0 - f * p) / (1.0 - p))
    stays = (float(a.mean_burst_s), float(a.mean_burst_s) * (1.0 - p) / p)
    state = 0 if rng.random() < p else 1
    t = 0.0
    parts: list[np.ndarray] = []
    while t < duration:
        stay = min(rng.exponential(stays[state]), duration - t)
        n = rng.poisson(rates[state] * stay)
        parts.append(t + np.sort(rng.random(n)) * stay)
        t += stay
        state = 1 - state
    return np.concatenate(parts) if parts else np.zeros(0)


@lru_cache(maxsize=8)
def generate(w: WorkloadSpec, stream: int) -> tuple[np.ndarray, np.ndarray]:
    """(arrival_s ascending, model index) of every request of the run ``stream``. Cached per
    (frozen) workload: every design point of a search, and `dse evaluate`'s baselines, replay the
    same arrivals; the arrays are shared, read-only by convention."""
    s = w.serving
    if s.trace is not None:
        return _trace(w)[:2]
    duration = float(s.duration_s)
    rates = model_rates(w)
    times, models = [], []
    for i, rate in enumerate(rates):
        rng = np.random.default_rng([int(s.seed), stream, i])
        a = arrival_of(w, i)
        if a.process == "bursty":
            t = bursty_process(rng, float(rate), a, duration)
        else:
            t = gaps_process(rng, float(rate), 1.0 if a.process == "poisson" else float(a.cv), duration)
        times.append(t)
        models.append(np.full(t.shape[0], i, dtype=np.int64))
    arrival = np.concatenate(times)
    model = np.concatenate(models)
    order = np.argsort(arrival, kind="stable")
    return np.ascontiguousarray(arrival[order]), np.ascontiguousarray(model[order])


def _trace(w: WorkloadSpec) -> tuple[np.ndarray, ...]:
    """(arrival, model, prompt, output) of the workload's trace (:func:`_trace_columns`, cached)."""
    s = w.serving
    return _trace_columns(s.trace, s.trace_sha256, tuple(m.name for m in w.models))


@lru_cache(maxsize=8)
def _trace_columns(path: str, sha: str, names: tuple[str, ...]) -> tuple[np.ndarray, ...]:
    """(arrival, model, prompt, output) of the trace's rows sorted by arrival (lengths -1 when the
    trace has none); ``sha`` keys the cache."""
    from dse.spec.serving_workload import read_trace

    rows, _ = read_trace(Path(path), list(names))
    index = {n: i for i, n in enumerate(names)}
    arrival = np.array([r[0] for r in rows])
    model = np.array([index[r[1]] for r in rows], dtype=np.int64)
    prompt = np.array([r[2] if len(r) == 4 else -1 for r in rows], dtype=np.int64)
    output = np.array([r[3] if len(r) == 4 else -1 for r in rows], dtype=np.int64)
    order = np.argsort(arrival, kind="stable")
    return tuple(np.ascontiguousarray(x[order]) for x in (arrival, model, prompt, output))


def _draw(rng: np.random.Generator, dist: str, params, default: int, cap: int | None, n: int) -> np.ndarray:
    if params is None or dist == "fixed":
        return np.full(n, int(params[0]) if params is not None else default, dtype=np.int64)
    if dist == "uniform":
        return rng.integers(int(params[0]), int(params[1]) + 1, n).astype(np.int64)
    mean, cv = params
    sigma2 = np.log1p(cv * cv)
    x = rng.lognormal(np.log(mean) - sigma2 / 2.0, np.sqrt(sigma2), n)
    return np.clip(np.rint(x), 1, cap).astype(np.int64)


@lru_cache(maxsize=8)
def request_lengths(w: WorkloadSpec, stream: int, prompt_default: tuple[int, ...],
                    output_default: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """(prompt tokens, output tokens) of every request of :func:`generate`'s run ``stream``, in
    its order (module docstring); a model without ``lengths`` keeps its defaults. Cached like
    :func:`generate`."""
    s = w.serving
    if s.trace is not None and s.trace_lengths:           # the trace's own, for both runs
        _, _, prompt, output = _trace(w)
        return prompt, output
    _, model = generate(w, stream)
    prompt = np.empty(model.shape[0], dtype=np.int64)
    output = np.empty(model.shape[0], dtype=np.int64)
    for i, m in enumerate(w.models):
        idx = np.flatnonzero(model == i)
        spec = m.serving.lengths if m.serving is not None else None
        if spec is None:
            prompt[idx], output[idx] = prompt_default[i], output_default[i]
            continue
        rng = np.random.default_rng([int(w.serving.seed), stream, i, 1])
        if spec.dist == "empirical":
            pairs = np.array(spec.pairs, dtype=np.int64)
            pick = rng.integers(0, pairs.shape[0], idx.shape[0])
            prompt[idx], output[idx] = pairs[pick, 0], pairs[pick, 1]
            continue
        prompt[idx] = _draw(rng, spec.dist, spec.prompt, prompt_default[i], spec.max_tokens, idx.shape[0])
        output[idx] = _draw(rng, spec.dist, spec.output, output_default[i], spec.max_tokens, idx.shape[0])
    return prompt, output
