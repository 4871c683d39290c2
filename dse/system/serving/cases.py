"""`dse validate`'s computations for the serving kind (cases: validate_cases.yaml beside this file):
AlpaServe's scenario on its profiled inputs, a model alone on one GPU, and a closed-loop benchmark
of the continuously batched engine."""

from __future__ import annotations

from dse.spec.bundled import spec


def serving_single(workload, hardware, model) -> float:
    """A model's latency alone on one GPU of the serving hardware (s), as the serving kind sets
    ``slo_scale`` SLOs from it."""
    from dse.system.serving.evaluator import single_gpu_latency

    return single_gpu_latency(spec("workloads", workload).models[model], spec("hardware", hardware))


def serving(workload, hardware, knobs, metric) -> float:
    from dse.system.serving.evaluator import build, evaluate, place

    point = build(spec("workloads", workload), spec("hardware", hardware, knobs))
    return float(evaluate(point, place(point)[0])[metric])


def closed_loop(workload, hardware, concurrency, metric, per_client=20, knobs=None, engine=None,
                workload_knobs=None) -> float:
    """A client-side concurrency sweep point (``vllm bench serve --max-concurrency C
    --request-rate inf``; LMDeploy's ``profile_throughput`` with C client threads), modelled as
    ``per_client`` x C requests of the workload's first model, all waiting at t = 0, on the first
    group of the hardware (``knobs`` and ``engine`` fields set) with max_num_seqs = C: a finished
    request's slot goes to the next waiting one, as the client sends a new request when one ends.
    Lengths: the model's fixed prompt and output, or with a length distribution the evaluation
    run's first per_client x C draws (``workload_knobs`` set, e.g. a rate high enough to draw them).
    ``metric``: ``output_tokens_per_s`` or ``requests_per_s`` (all output tokens, or requests, over
    the last finish), ``tpot_s`` (mean over requests), or ``gain`` (output tokens per second at C
    over that at concurrency 1)."""
    import numpy as np

    from dse.system.serving.engine import S_END, engine_out, run_engine
    from dse.system.serving.evaluator import build

    point = build(spec("workloads", workload, workload_knobs), _hardware(hardware, knobs, engine))
    rep = point.replicas[(0, 0)]

    def run(c: int):
        n = per_client * c
        if point.test_lengths is None:
            prompt = np.full(n, int(point.prompt_tokens[0]), np.int64)
            output = np.full(n, int(point.output_tokens[0]), np.int64)
        else:
            prompt, output = (np.resize(a, n) for a in point.test_lengths)
        out = engine_out(n)
        run_engine(np.zeros(n), prompt, output, rep.cfg._replace(max_seqs=c), rep.ops, rep.system, rep.plan,
                   rep.draft_ops, rep.draft_system, out)
        end = out.stats[S_END]
        tpot = (out.finish_s - out.first_token_s) / np.maximum(output - 1, 1)
        return {"output_tokens_per_s": float(output.sum()) / end, "requests_per_s": n / end,
                "tpot_s": float(np.mean(tpot))}

    m = run(int(concurrency))
    if metric == "gain":
        return m["output_tokens_per_s"] / run(1)["output_tokens_per_s"]
    return m[metric]


def _hardware(hardware, knobs=None, engine=None):
    """The bundled serving ``hardware`` with its ``knobs`` resolved and ``engine`` fields set."""
    from dataclasses import replace

    hw = spec("hardware", hardware, knobs)
    return replace(hw, engine=replace(hw.engine, **engine)) if engine else hw


def _at_rate(workload, hw, rate: float):
    """(point, metrics) of the bundled ``workload`` at ``serving.total_rate_per_s`` = ``rate`` on
    resolved serving hardware ``hw``, placed as the kind places it."""
    from dse.system.serving.evaluator import build, evaluate, place

    point = build(spec("workloads", workload, {"serving.total_rate_per_s": rate}), hw)
    return point, evaluate(point, place(point)[0])


def _highest(holds, low: float, high: float, halvings: int) -> float:
    """The highest rate in [low, high] at which ``holds(rate)``, by geometric bisection (``holds``
    true at low rates and false past some rate)."""
    for _ in range(halvings):
        mid = (low * high) ** 0.5
        low, high = (mid, high) if holds(mid) else (low, mid)
    return low


def rate_at_latency(workload, hardware, batching, threshold_s_per_token) -> float:
    """The highest request rate (``serving.total_rate_per_s``) whose mean normalized latency --
    end-to-end latency / output tokens, averaged over the window's requests, the vLLM paper's
    measure -- stays within ``threshold_s_per_token``, with the hardware's ``batching`` set as given;
    bisection over 0.01-1,000 req/s (16 halvings: within 0.1 % of the bracket), the normalized
    latency rising with the rate."""
    from dataclasses import replace

    hw = replace(spec("hardware", hardware), batching=batching)

    def holds(rate: float) -> bool:
        point, m = _at_rate(workload, hw, rate)
        _, output = point.test_lengths
        inside = (point.test.arrival_s >= point.policy.window_start_s) & (point.test.arrival_s < point.policy.window_end_s)
        return m["latency_mean_s"] / float(output[inside].mean()) <= threshold_s_per_token

    return _highest(holds, 0.01, 1000.0, 16)


def batching_gain(workload, hardware, threshold_s_per_token) -> float:
    """Continuous over static batching: the ratio of their :func:`rate_at_latency`."""
    return (rate_at_latency(workload, hardware, "continuous", threshold_s_per_token)
            / rate_at_latency(workload, hardware, "static", threshold_s_per_token))


def capacity(workload, hardware, knobs, engine, tbt_p99_s, ttft_p50_s) -> float:
    """Sarathi-Serve's capacity: the highest request rate (``serving.total_rate_per_s``) at which
    the P99 time between tokens stays within ``tbt_p99_s`` and the median TTFT (the scheduling
    delay plus the prefill) within ``ttft_p50_s``, with the hardware ``knobs`` and ``engine``
    fields set; bisection over 0.05-100 req/s (14 halvings: within 0.4 %), both rising with the
    rate."""
    hw = _hardware(hardware, knobs, engine)

    def holds(rate: float) -> bool:
        _, m = _at_rate(workload, hw, rate)
        return m["tbt_p99_s"] <= tbt_p99_s and m["ttft_p50_s"] <= ttft_p50_s

    return _highest(holds, 0.05, 100.0, 14)


def rate_at_attainment(workload, hardware, knobs, engine, attainment) -> float:
    """The knee of a DistServe-style attainment-vs-rate curve: the highest request rate
    (``serving.total_rate_per_s``, the workload's arrival process) at which the share of requests
    meeting both the TTFT and the TPOT objective stays at least ``attainment``, with the hardware
    ``knobs`` and ``engine`` fields set; bisection over 0.05-100 req/s (14 halvings), attainment
    falling with the rate."""
    hw = _hardware(hardware, knobs, engine)
    return _highest(lambda rate: _at_rate(workload, hw, rate)[1]["slo_attainment"] >= attainment, 0.05, 100.0, 14)


def capacity_gain(workload, hardware, knobs, engine, baselines, tbt_p99_s, ttft_p50_s) -> float:
    """:func:`capacity` with the ``engine`` fields over the best of the ``baselines`` (a list of
    engine fields: the baseline tuned as its paper tuned it)."""
    return (capacity(workload, hardware, knobs, engine, tbt_p99_s, ttft_p50_s)
            / max(capacity(workload, hardware, knobs, b, tbt_p99_s, ttft_p50_s) for b in baselines))


def run_dispatch(wl, hw, policy: str, alpha: float) -> dict:
    """The metrics of resolved workload ``wl`` on resolved serving hardware ``hw`` (with PIM pools)
    under dispatch ``policy`` and ``alpha``."""
    from dataclasses import replace

    from dse.system.serving.evaluator import build, evaluate, place

    point = build(wl, replace(hw, dispatch=replace(hw.dispatch, policy=policy, alpha=alpha)))
    return evaluate(point, place(point)[0])


def best_dispatch(wl, hw, policy: str, alphas) -> tuple[dict, float]:
    """The feasible row of the highest goodput, then the lowest TPOT p50, over ``alphas``, and its
    alpha (PAPI's threshold tuned per cell, as the search would)."""
    rows = [(run_dispatch(wl, hw, policy, float(a)), float(a)) for a in alphas]
    return max(((r, a) for r, a in rows if r["feasible"]),
               key=lambda ra: (ra[0]["goodput_per_s"], -ra[0]["tpot_p50_s"]))


def papi_traffic_speedup(workload, hardware, cvs, rates, tokens, alphas) -> float:
    """PAPI under traffic: the geometric mean over (CV, rate, speculative tokens) cells of the
    A100+AttAcc design's TPOT p50 (policy gpu_attn_pim: FC always on the GPUs) over PAPI's (policy
    papi, the best of ``alphas`` per cell)."""
    import math

    from dse.spec.bundled import bundled
    from dse.spec.common import resolve
    from dse.spec.workload import load_workload

    w0, hw = load_workload(bundled(f"workloads/{workload}.yaml")), spec("hardware", hardware)
    logs = []
    for cv in cvs:
        for rate in rates:
            for k in tokens:
                wl = resolve(w0, {"serving.arrival.cv": cv, "serving.total_rate_per_s": rate,
                                  "models[0].serving.speculative.tokens": k})
                papi, _ = best_dispatch(wl, hw, "papi", alphas)
                base = run_dispatch(wl, hw, "gpu_attn_pim", 32.0)
                logs.append(math.log(base["tpot_p50_s"] / papi["tpot_p50_s"]))
    return math.exp(sum(logs) / len(logs))


COMPUTE = {"serving_single": serving_single, "serving": serving, "closed_loop": closed_loop,
           "batching_gain": batching_gain, "capacity": capacity, "capacity_gain": capacity_gain,
           "rate_at_attainment": rate_at_attainment,
           "papi_traffic_speedup": papi_traffic_speedup}
