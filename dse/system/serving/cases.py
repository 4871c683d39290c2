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


def closed_loop(workload, hardware, concurrency, metric, per_client=20) -> float:
    """A client-side concurrency sweep point (``vllm bench serve --max-concurrency C
    --request-rate inf``), modelled as ``per_client`` x C requests of the workload's first model,
    all waiting at t = 0, on the first group of the hardware with max_num_seqs = C: a finished
    request's slot goes to the next waiting one, as the client sends a new request when one ends.
    ``metric``: ``output_tokens_per_s`` (all output tokens / the last finish), ``tpot_s`` (mean over
    requests), or ``gain`` (output tokens per second at C over that at concurrency 1)."""
    import numpy as np

    from dse.system.serving.engine import S_END, engine_out, run_engine
    from dse.system.serving.evaluator import build

    point = build(spec("workloads", workload), spec("hardware", hardware))
    rep = point.replicas[(0, 0)]
    prompt, output = int(point.prompt_tokens[0]), int(point.output_tokens[0])

    def run(c: int):
        n = per_client * c
        out = engine_out(n)
        run_engine(np.zeros(n), np.full(n, prompt, np.int64), np.full(n, output, np.int64),
                   rep.cfg._replace(max_seqs=c), rep.ops, rep.system, rep.plan, rep.draft_ops, rep.draft_system,
                   out)
        return n * output / out.stats[S_END], float(np.mean((out.finish_s - out.first_token_s) / max(output - 1, 1)))

    rate, tpot = run(int(concurrency))
    if metric == "gain":
        return rate / run(1)[0]
    return {"output_tokens_per_s": rate, "tpot_s": tpot}[metric]


def rate_at_latency(workload, hardware, batching, threshold_s_per_token) -> float:
    """The highest request rate (``serving.total_rate_per_s``) whose mean normalized latency --
    end-to-end latency / output tokens, averaged over the window's requests, the vLLM paper's
    measure -- stays within ``threshold_s_per_token``, with the hardware's ``batching`` set as given;
    bisection over 0.01-1,000 req/s (16 halvings: within 0.1 % of the bracket), the normalized
    latency rising with the rate."""
    from dataclasses import replace

    from dse.system.serving.evaluator import build, evaluate, place

    hw = replace(spec("hardware", hardware), batching=batching)

    def normalized(rate: float) -> float:
        point = build(spec("workloads", workload, {"serving.total_rate_per_s": rate}), hw)
        placed, _ = place(point)
        m = evaluate(point, placed)
        _, output = point.test_lengths
        inside = (point.test.arrival_s >= point.policy.window_start_s) & (point.test.arrival_s < point.policy.window_end_s)
        return m["latency_mean_s"] / float(output[inside].mean())

    low, high = 0.01, 1000.0
    for _ in range(16):
        mid = (low * high) ** 0.5
        low, high = (mid, high) if normalized(mid) <= threshold_s_per_token else (low, mid)
    return low


def batching_gain(workload, hardware, threshold_s_per_token) -> float:
    """Continuous over static batching: the ratio of their :func:`rate_at_latency`."""
    return (rate_at_latency(workload, hardware, "continuous", threshold_s_per_token)
            / rate_at_latency(workload, hardware, "static", threshold_s_per_token))


COMPUTE = {"serving_single": serving_single, "serving": serving, "closed_loop": closed_loop,
           "batching_gain": batching_gain}
