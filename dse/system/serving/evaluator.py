"""Serving evaluator: several models on a GPU pool split into model-parallel groups (AlpaServe).

resolved specs -> :func:`build` (:class:`ServingPoint`: the groups, each model's stage latencies and
bytes per GPU on each group from dse.system.serving.costs or its profiled figures, SLOs, arrivals)
-> :func:`place` (the numba greedy of dse.system.serving.kernels on the placement run) ->
:func:`evaluate` (the simulator on the evaluation run -> the metrics of the JSON / Parquet contract,
see README).

Groups: the hardware's ``groups``, laid out largest first on consecutive GPUs; a group of s
GPUs runs tp = min(tp, s) and pp = s / tp (tp must divide s), or its own degrees ('pp2tp2'). Links: a group inside one node talks
over the intra-node link; one that spans nodes sends between stages over the inter-node link, and
its TP all-reduces use the intra-node link when each stage's tp GPUs sit in one node.

Metrics over the requests arriving in [warmup, duration - warmup):

    slo_attainment   = requests served within their SLO / requests
    goodput_per_s    = requests served within their SLO / window seconds
    latency_*_s      over served requests (within SLO or late): finish - arrival
    gpu_utilisation  = sum over groups and stages of busy seconds x tp / (GPUs x window seconds)

With ``batching: continuous`` or ``static`` each group runs an engine per model it holds instead
(dse.system.serving.batched: replicas, placement, routing; dse.system.serving.engine: the
scheduler); a request then meets its SLO when every objective its model has holds (``slo_s``,
``ttft_slo_s``, ``tpot_slo_s``), and the token metrics (TTFT, TPOT, KV cache, energy and $ per
token) are filled.

The kind in short: several models on a pool of GPUs split into model-parallel groups, with bursty
traffic and latency SLOs (AlpaServe, Li et al. OSDI'23); a `kind: serving` hardware file and a workload
with a `serving` section select it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from dse.errors import DseError
from dse.spec.common import choices_of, resolve
from dse.system.serving.spec import ENGINES, ServingHardware, group_degrees
from dse.spec.workload import Transformer, WorkloadSpec
from dse.system.gpu.parallel import aligned_within_node, within_node
from dse.system.serving import kernels as K

@dataclass(frozen=True)
class GroupConfig:
    size: int
    pp: int
    tp: int
    first_gpu: int
    within_node: bool
    problem: str | None          # why no model can run on it (tp does not divide the size), else None

    @property
    def label(self) -> str:
        if self.size == 1:
            return "1gpu"
        return (f"pp{self.pp}" if self.pp > 1 else "") + (f"tp{self.tp}" if self.tp > 1 else "")


@dataclass(frozen=True)
class ServingPoint:
    workload: WorkloadSpec
    hw: ServingHardware
    configs: tuple[GroupConfig, ...]
    rates: np.ndarray            # [M] requests/s
    single_s: np.ndarray         # [M] single-GPU latency (no overhead); nan when unknown
    groups: K.Groups
    policy: K.Policy
    test: K.Requests
    train: K.Requests
    problems: tuple[str, ...]    # models that fit no group, SLOs below the fastest latency
    fastest_s: np.ndarray        # [M] fastest latency on these groups incl. overhead (inf: none)
    prompt_tokens: np.ndarray    # [M] int64: a request's prompt (an encoder: its sequence)
    output_tokens: np.ndarray    # [M] int64: tokens it generates (an encoder: 1)
    replicas: dict | None = None  # batching continuous: (model, group) -> batched.Replica that can run
    ttft_slo_s: np.ndarray | None = None   # [M] continuous batching's objectives (inf: none)
    tpot_slo_s: np.ndarray | None = None
    test_lengths: tuple | None = None      # (prompt, output) int64 [n] of the evaluation run's requests
    train_lengths: tuple | None = None     # the same for the placement run

    @property
    def continuous(self) -> bool:
        return self.replicas is not None

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(m.name for m in self.workload.models)


def check_workload(workload: WorkloadSpec, hw: ServingHardware) -> None:
    """A serving section, and every model a transformer with a fixed output length or with profiled
    figures; a model that fits no group the cluster can form is an error here (before any search)."""
    if workload.serving is None:
        raise DseError(workload.source, "serving", "a serving section (duration_s, rates, SLOs) for serving hardware")
    for i, m in enumerate(workload.models):
        t = m.generator
        if t is None:
            continue
        if not isinstance(t, Transformer):
            raise DseError(workload.source, f"models[{i}]", "a transformer (or profiled figures) for serving hardware")
        if t.training is not None:
            raise DseError(workload.source, f"models[{i}].transformer.training", "no training section for serving")
        if t.decode is not None and isinstance(t.decode.output_tokens, str):
            raise DseError(workload.source, f"models[{i}].transformer.decode.output_tokens",
                           "a fixed number of output tokens for serving (one latency per request)",
                           t.decode.output_tokens)
    if "none" in choices_of(hw.batching):
        from dse.spec.serving_workload import has_slo

        for i, m in enumerate(workload.models):
            if not has_slo(workload.serving, m.serving, whole_requests=True):
                raise DseError(workload.source, f"models[{i}].serving.slo_s", "an SLO on whole requests (slo_s, or "
                               f"slo_scale here or under serving): {hw.source} may run batching: none, which judges "
                               "whole requests (ttft_slo_s and tpot_slo_s need batching: continuous)")
    if "none" in choices_of(hw.batching):
        if workload.serving.trace_lengths:
            raise DseError(workload.source, "serving.trace", f"a trace without per-request lengths: {hw.source} may "
                           "run batching: none, whose request latencies assume the transformer's seq_len and "
                           "output_tokens (lengths need batching: continuous)")
        for i, m in enumerate(workload.models):
            if m.serving is not None and m.serving.speculative is not None:
                raise DseError(workload.source, f"models[{i}].serving.speculative", f"no speculative decoding: "
                               f"{hw.source} may run batching: none, which has no decode steps (speculative "
                               "decoding needs batching: continuous or static)")
            if m.serving is not None and m.serving.lengths is not None:
                raise DseError(workload.source, f"models[{i}].serving.lengths", f"no per-request lengths: {hw.source} "
                               "may run batching: none, whose request latencies assume the transformer's seq_len "
                               "and output_tokens (lengths need batching: continuous)")
    if set(ENGINES) & set(choices_of(hw.batching)):
        for i, m in enumerate(workload.models):
            if not isinstance(m.generator, Transformer):
                raise DseError(workload.source, f"models[{i}].transformer", "a transformer for batching: continuous "
                               f"(the engine times each iteration from the model; {hw.source} sets batching)")
    w, h = resolve(workload, {}), resolve(hw, {})
    gpus = h.cluster.gpus
    for i, m in enumerate(w.models):
        best = _smallest_footprint(m, h, gpus)
        if best is not None and best > float(h.gpu.memory_bytes):
            raise DseError(workload.source, f"models[{i}]", f"a model that fits some group of the cluster's {gpus} "
                           f"GPUs ({m.name} needs {best / 1e9:.3g} GB per GPU at best; gpu.memory_bytes is "
                           f"{float(h.gpu.memory_bytes) / 1e9:.3g} GB)")
    if w.serving.slo_scale is not None or any(m.serving is not None and m.serving.slo_scale is not None
                                              for m in w.models):
        for i, m in enumerate(w.models):
            scaled = m.serving is None or m.serving.slo_s is None
            if scaled and m.generator is None and not any(p.pp == 1 and p.tp == 1 for p in m.serving.profiled):
                raise DseError(workload.source, f"models[{i}].serving.slo_s", "an SLO in seconds, or a profiled "
                               "pp 1 tp 1 entry for slo_scale (the single-GPU latency)")


def _smallest_footprint(m, h: ServingHardware, gpus: int) -> float | None:
    """The least bytes per GPU of the model over every pp x tp it can run as on <= ``gpus`` GPUs."""
    from dse.models.operators import parameter_count

    best = None
    for p in (m.serving.profiled if m.serving is not None else ()):
        if p.pp * p.tp <= gpus:
            best = p.weight_bytes_per_gpu if best is None else min(best, p.weight_bytes_per_gpu)
    t = m.generator
    if t is not None:
        # weights spread over every GPU: a lower bound that needs no cost model
        spread = parameter_count(t) * t.precision_bits / 8.0 / gpus
        best = spread if best is None else min(best, spread)
    return best


def output_tokens(t: Transformer) -> int:
    """Tokens a request generates: the decode section's count, or 1 (one forward) for an encoder."""
    return int(t.decode.output_tokens) if t.decode is not None else 1


def group_configs(hw: ServingHardware) -> tuple[GroupConfig, ...]:
    gpn = int(hw.cluster.gpus_per_node)
    out = []
    start = 0
    for size, fixed_pp, fixed_tp in (group_degrees(x) for x in str(hw.groups).split("+")):
        if fixed_tp is not None:                  # the group's own degrees ('pp2tp2')
            tp, pp, problem = fixed_tp, fixed_pp, None
        else:
            tp = min(int(hw.tp), size)
            problem = None if size % tp == 0 else f"tp {tp} does not divide a group of {size} GPUs"
            pp = size // tp if problem is None else 1
        within = within_node(size, gpn, start)
        out.append(GroupConfig(size, pp, tp, start, within, problem))
        start += size
    return tuple(out)


def _links(hw: ServingHardware, c: GroupConfig):
    cl = hw.cluster
    if c.within_node:
        return cl.intra_node, cl.intra_node
    gpn = int(cl.gpus_per_node)
    tp_inside = aligned_within_node(c.tp, gpn) and c.first_gpu % c.tp == 0
    return (cl.intra_node if tp_inside else cl.inter_node), cl.inter_node


def _model_on(m, hw: ServingHardware, c: GroupConfig) -> tuple[np.ndarray | None, float]:
    """(stage latencies, bytes per GPU) of model ``m`` on group config ``c``: its profiled figures,
    else the cost model's (cached per model, config and links); (None, inf) where it cannot run."""
    from dse.system.serving.costs import model_config, usable

    for p in (m.serving.profiled if m.serving is not None else ()):
        if p.pp == c.pp and p.tp == c.tp:
            return np.array(p.stage_latency_s), float(p.weight_bytes_per_gpu)
    t = m.generator
    if t is None or c.problem or usable(t, c.pp, c.tp):
        return None, np.inf
    tp_link, send_link = _links(hw, c)
    return model_config(t, output_tokens(t), hw.gpu, c.pp, c.tp, tp_link, send_link)


def single_gpu_latency(m, hw: ServingHardware) -> float:
    """The model's latency alone on one GPU (profiled pp 1 tp 1, else the cost model), memory aside."""
    lat, _ = _model_on(m, hw, GroupConfig(1, 1, 1, 0, True, None))
    return float(lat.sum()) if lat is not None else float("nan")


MAX_REQUESTS = 10**7      # per simulated run: about 0.3 GB of per-request arrays


def build(workload: WorkloadSpec, hw: ServingHardware) -> ServingPoint:
    from dse.system.serving.arrivals import generate, model_rates

    rates = model_rates(workload)
    expected = float(workload.serving.duration_s) * float(rates.sum())
    if expected > MAX_REQUESTS:
        raise DseError(workload.source, "serving.duration_s", f"a run of at most {MAX_REQUESTS:.0e} requests "
                       f"(duration_s x total rate = {expected:.3g}; shorten the run or lower the rates)")
    configs = group_configs(hw)
    M, G = len(workload.models), len(configs)
    S = max(c.pp for c in configs)
    latency = np.full((M, G, S), np.inf)
    memory = np.full((M, G), np.inf)
    single = np.array([single_gpu_latency(m, hw) for m in workload.models])
    for i, m in enumerate(workload.models):
        for g, c in enumerate(configs):
            lat, mem = _model_on(m, hw, c)
            if lat is not None:
                latency[i, g, :c.pp] = lat
                latency[i, g, c.pp:] = 0.0
                memory[i, g] = mem
    s = workload.serving
    slo = np.empty(M)
    for i, m in enumerate(workload.models):
        ms = m.serving
        if ms is not None and ms.slo_s is not None:
            slo[i] = float(ms.slo_s)
        else:
            scale = ms.slo_scale if ms is not None and ms.slo_scale is not None else s.slo_scale
            slo[i] = float(scale) * single[i] if scale is not None else np.inf
    duration = float(s.duration_s)
    window = s.window
    overhead = float(hw.request_overhead_s)
    policy = K.Policy(slo, overhead, hw.admission == "reject", window, duration - window)
    groups = K.Groups(np.array([c.pp for c in configs], dtype=np.int64), latency, memory,
                      float(hw.gpu.memory_bytes))
    test = K.Requests(*generate(workload, 0))
    train = K.Requests(*generate(workload, 1))
    fastest = latency.sum(axis=2).min(axis=1) + overhead          # inf where the model runs nowhere
    cap = float(hw.gpu.memory_bytes)
    problems = []
    for i, m in enumerate(workload.models):
        if not np.any(memory[i] <= cap):
            need = memory[i][np.isfinite(memory[i])]
            problems.append(f"{m.name} fits no group" + (f" (needs {need.min() / 1e9:.3g} GB per GPU at best, "
                                                        f"{cap / 1e9:.3g} GB)" if need.size else
                                                        " (no group config it can run as)"))
        elif fastest[i] > slo[i]:
            problems.append(f"{m.name}: SLO {slo[i]:.4g} s is below its fastest latency {fastest[i]:.4g} s here")
    prompt = np.array([int(m.generator.seq_len) if m.generator is not None else 0 for m in workload.models],
                      dtype=np.int64)
    out_tokens = np.array([output_tokens(m.generator) if m.generator is not None else 1 for m in workload.models],
                          dtype=np.int64)
    replicas = None
    test_lengths = train_lengths = None
    if hw.batching in ENGINES:
        from dse.system.serving.arrivals import request_lengths

        defaults = (tuple(int(x) for x in prompt), tuple(int(x) for x in out_tokens))
        test_lengths = request_lengths(workload, 0, *defaults)
        train_lengths = request_lengths(workload, 1, *defaults)
        replicas = _replicas(workload, hw, configs, (test, test_lengths), (train, train_lengths), problems=problems)
    ttft_slo, tpot_slo = (np.array([_objective(s, m.serving, key) for m in workload.models])
                          for key in ("ttft_slo_s", "tpot_slo_s"))
    return ServingPoint(workload, hw, configs, rates, single, groups, policy, test, train,
                        tuple(problems), fastest, prompt, out_tokens, replicas, ttft_slo, tpot_slo, test_lengths,
                        train_lengths)


def _objective(serving, ms, key: str) -> float:
    """A model's TTFT or TPOT objective: its own, else the workload's, else none (inf)."""
    own = getattr(ms, key) if ms is not None else None
    value = own if own is not None else getattr(serving, key)
    return float(value) if value is not None else np.inf


def _replicas(workload: WorkloadSpec, hw: ServingHardware, configs, *runs, problems: list) -> dict:
    """(model, group) -> the engine replica (dse.system.serving.batched) of every pair that can
    serve every request of the model in both ``runs`` ((requests, (prompt, output)) each); a
    model no group can serve adds its reason to ``problems``."""
    from dse.system.serving.batched import replica
    from dse.system.serving.costs import usable
    from dse.system.serving.engine import blocks_needed, check_requests

    out = {}
    for i, m in enumerate(workload.models):
        t = m.generator
        mine = [(lens[0][req.model == i], lens[1][req.model == i]) for req, lens in runs]
        reasons = []
        for g, c in enumerate(configs):
            reason = c.problem or usable(t, c.pp, c.tp)
            if reason is None:
                r = replica(t, hw, c, *_links(hw, c), m.serving.speculative if m.serving is not None else None,
                            int(workload.serving.seed))
                reason = r.problem or next((w for w in (check_requests(p, o, r.cfg) for p, o in mine) if w), None)
                if reason is None:          # the blocks its longest request needs, for sharing a group
                    out[(i, g)] = replace(r, need_blocks=max(blocks_needed(p, o, r.cfg) for p, o in mine))
            if reason is not None:
                reasons.append(reason)
        if len(reasons) == len(configs):
            problems.append(f"{m.name} fits no group's engine ({reasons[0] if reasons else 'no groups'})")
    return out


def place(point: ServingPoint) -> tuple[np.ndarray, int]:
    """The greedy placement on the placement run: (placed uint8 [M, G], simulator runs). With
    engines (continuous or static batching): ``fast`` one model per group by work
    (dse.system.serving.batched.place_replicas, counted as one run); ``simulated`` the
    simulator-guided greedy (batched.place_simulated) on the whole placement run, one engine
    simulation per new candidate (seconds per design for a few models on 8 GPUs under overload;
    replaying only the run's first minutes misjudged overloaded models, so it is not done), or the
    fast rule's placement when that meets more objectives on the same run (the greedy is myopic:
    2 more simulations)."""
    M, G = point.groups.memory.shape
    if point.continuous:
        from dse.system.serving.batched import place_replicas, place_simulated, run_replicas

        can = np.zeros((M, G), dtype=bool)
        for m, g in point.replicas:
            can[m, g] = True
        prompt, output = point.train_lengths
        tokens = np.bincount(point.train.model, weights=prompt + output, minlength=M)
        count = np.bincount(point.train.model, minlength=M)
        mean = np.where(count > 0, tokens / np.maximum(count, 1), point.prompt_tokens + point.output_tokens)
        work = point.rates * mean
        sizes = np.array([c.size for c in point.configs])
        if point.hw.placement == "fast":
            return place_replicas(work, can, sizes), 1
        train = point.train

        def good(m, first, finish, idx):
            return int(_meets(point, np.full(idx.shape[0], m), train.arrival_s[idx], first, finish,
                              output[idx]).sum())

        alike = [(c.size, c.pp, c.tp, c.within_node) for c in point.configs]
        run = (train.arrival_s, train.model, prompt, output)
        greedy, sims = place_simulated(point.replicas, can, sizes, work, run, good, alike)
        # the greedy is myopic: keep the fast rule's placement when it does better on the same run
        fast = place_replicas(work, can, sizes)
        if np.array_equal(greedy, fast):
            return greedy, max(sims, 1)     # a placement without a choice still counts as one mapping
        mine = [np.flatnonzero(train.model == m) for m in range(M)]

        def met(placed):
            res = run_replicas(point.replicas, placed, *run)
            return sum(good(m, res["first"][mine[m]], res["finish"][mine[m]], mine[m]) for m in range(M))

        return (greedy if met(greedy) >= met(fast) else fast), sims + 2
    placed = np.zeros((M, G), dtype=np.uint8)
    train = point.train
    runs = K.greedy_place(train, point.groups, point.policy, point.hw.placement == "fast", placed,
                          K.scratch(train.arrival_s.shape[0], point.groups))
    return placed, int(runs)


def evaluate(point: ServingPoint, placed: np.ndarray, keep: dict | None = None) -> dict:
    """The metrics of one placement on the evaluation run (module docstring); ``keep`` receives the
    per-model figures and the per-stage busy seconds for `dse evaluate`."""
    req, pol = point.test, point.policy
    span = pol.window_end_s - pol.window_start_s
    gpus = sum(c.size for c in point.configs)
    tps = np.array([c.tp for c in point.configs], dtype=np.float64)
    inside = (req.arrival_s >= pol.window_start_s) & (req.arrival_s < pol.window_end_s)
    n = int(inside.sum())
    out_tokens = point.test_lengths[1] if point.continuous else point.output_tokens[req.model]
    batched: dict = {}
    if point.continuous:
        status, finish, busy, batched = _run_continuous(point, placed)
    else:
        s = K.scratch(req.arrival_s.shape[0], point.groups)
        K.simulate(req, point.groups, placed, pol, s)
        status, finish, busy = s.status, s.finish, s.busy
    status = status[inside]
    good = status == K.GOOD
    served = (status == K.GOOD) | (status == K.LATE)
    lat = (finish - req.arrival_s)[inside][served]
    util = float((busy * tps[:, None]).sum() / (gpus * span)) if span > 0 else float("nan")
    models = req.model[inside]
    tokens = (_emitted(batched["first"], batched["finish"], out_tokens, pol.window_start_s, pol.window_end_s)
              if batched else float(out_tokens[inside][served].sum()))
    tokens_per_s = tokens / span if span > 0 else float("nan")
    per_model = []
    for i, name in enumerate(point.names):
        mine = models == i
        count = int(mine.sum())
        ok = int((good & mine).sum())
        per_model.append({"model": name, "rate_per_s": float(point.rates[i]), "slo_s": float(pol.slo_s[i]),
                          "requests": count, "slo_attainment": ok / count if count else float("nan"),
                          "replicas": int(placed[i].sum())})
    attain = [r["slo_attainment"] for r in per_model if r["requests"]]
    violations = list(point.problems)
    for i, name in enumerate(point.names):
        if not placed[i].any() and not any(p.startswith(f"{name} fits no group") for p in point.problems):
            violations.append(f"{name} has no replica " + ("(no group's memory or time was given to it)"
                                                           if point.continuous else "(memory full)"))
    target = point.workload.serving.min_slo_attainment
    if target is not None and n and float(good.sum()) / n < float(target):
        violations.append(f"SLO attainment {float(good.sum()) / n:.4g} < serving.min_slo_attainment {float(target):g}")
    metrics = {
        "slo_attainment": float(good.sum()) / n if n else float("nan"),
        "slo_attainment_min": min(attain) if attain else float("nan"),
        "goodput_per_s": float(good.sum()) / span if span > 0 else float("nan"),
        "latency_mean_s": float(lat.mean()) if lat.size else float("nan"),
        "latency_p50_s": float(np.percentile(lat, 50)) if lat.size else float("nan"),
        "latency_p99_s": float(np.percentile(lat, 99)) if lat.size else float("nan"),
        "gpu_utilisation": util,
        "requests": n,
        "served": int(served.sum()),
        "rejected": int((status == K.REJECTED).sum()),
        "late": int((status == K.LATE).sum()),
        "unplaced": int((status == K.UNPLACED).sum()),
        "gpus": gpus,
        "groups": len(point.configs),
        "replicas": int(placed.sum()),
        "layout": layout(point.configs),
        "batching": str(point.hw.batching),
        "output_tokens_per_s": tokens_per_s,
        "energy_per_token_j": _energy_per_token(point, batched),
        "usd_per_million_tokens": (float(point.hw.gpu.price_per_gpu_hour) * gpus / 3600.0 / tokens_per_s * 1e6
                                   if float(point.hw.gpu.price_per_gpu_hour) > 0 and tokens_per_s > 0 else float("nan")),
        **_token_metrics(batched, inside, req.arrival_s, out_tokens),
        "feasible": not violations,
        "violations": "; ".join(violations),
    }
    if keep is not None:
        keep["per_model"] = per_model
        keep["busy"] = busy
    return metrics


def _run_continuous(point: ServingPoint, placed: np.ndarray):
    """(status, finish, busy [G, S], engine results) of the evaluation run with every group an
    engine (dse.system.serving.batched): a request is GOOD when every objective its model has holds
    (latency within ``slo_s``, TTFT within ``ttft_slo_s``, TPOT within ``tpot_slo_s`` when it has
    more than one output token; DistServe's attainment), the per-request overhead counted in the
    first token and the finish, LATE otherwise, UNPLACED when no group holds its model; each
    stage of a group is busy its engine's busy share of its run (busy / end time, which covers
    requests arriving outside the window too) x the window's seconds / pp (iterations are not
    pipelined)."""
    from dse.system.serving.batched import run_replicas
    from dse.system.serving.engine import S_BUSY, S_END

    req, pol = point.test, point.policy
    res = run_replicas(point.replicas, placed, req.arrival_s, req.model, *point.test_lengths)
    res["finish"] = finish = res["finish"] + pol.overhead_s      # the token metrics read res: both shifted
    res["first"] = res["first"] + pol.overhead_s
    status = np.full(req.arrival_s.shape[0], K.UNPLACED, dtype=np.int8)
    placed_req = res["group"] >= 0
    met = _meets(point, req.model[placed_req], req.arrival_s[placed_req], res["first"][placed_req],
                 finish[placed_req], point.test_lengths[1][placed_req], shifted=True)
    status[placed_req] = np.where(met, K.GOOD, K.LATE)
    busy = np.zeros((len(point.configs), max(1, point.groups.latency.shape[2])))
    span = pol.window_end_s - pol.window_start_s
    for g, st in res["stats"].items():
        if st[S_END] > 0:         # the engine's busy share over its whole run, as seconds of the window
            busy[g, :point.configs[g].pp] = st[S_BUSY] / st[S_END] * span / point.configs[g].pp
    return status, finish, busy, res


def _emitted(first: np.ndarray, finish: np.ndarray, outs: np.ndarray, start: float, end: float) -> float:
    """Output tokens the engines emit in [start, end): each request's first token at ``first``,
    its other outs - 1 spread evenly over (first, finish] (its mean TPOT), counted by the share of
    that interval inside the window; unserved requests (NaN) emit none. At overload this is the
    engines' throughput, not the offered load."""
    done = np.isfinite(finish)
    f, e, k = first[done], finish[done], outs[done] - 1.0
    at_first = ((f >= start) & (f < end)).sum()
    span = e - f
    overlap = np.clip(np.minimum(e, end) - np.maximum(f, start), 0.0, None)
    share = np.where(span > 0, overlap / np.where(span > 0, span, 1.0), ((e >= start) & (e < end)).astype(float))
    return float(at_first + (k * share).sum())


def _meets(point: ServingPoint, m: np.ndarray, arrival: np.ndarray, first: np.ndarray, finish: np.ndarray,
           outs: np.ndarray, shifted: bool = False) -> np.ndarray:
    """Which requests (of models ``m``) meet every objective their model has: latency within
    ``slo_s``, TTFT within ``ttft_slo_s``, TPOT = (finish - first) / (outputs - 1) within
    ``tpot_slo_s`` when it has more than one output token; the per-request overhead added to the
    first token and the finish unless ``shifted`` already; NaN times (unserved) never meet them."""
    pol = point.policy
    over = 0.0 if shifted else pol.overhead_s
    first, finish = first + over, finish + over
    ttft = first - arrival
    tpot = (finish - first) / np.maximum(outs - 1, 1)
    return ((finish - arrival <= pol.slo_s[m]) & (ttft <= point.ttft_slo_s[m])
            & ((outs == 1) | (tpot <= point.tpot_slo_s[m])))


def _energy_per_token(point: ServingPoint, res: dict) -> float:
    """Joules per output token of the engines' whole run (continuous batching; NaN otherwise):
    (sum over groups of the iterations' energy -- ops on GPUs and PIM pools, collectives, sends,
    the draft model's steps -- + (idle_w x the group's GPUs + each powered PIM pool's idle_w x its
    devices on the group) x its engine's end time) / the output tokens of every request the
    engines finished."""
    from dse.system.serving.engine import S_END, S_ENERGY

    if not res or not res["stats"]:
        return float("nan")
    idle = float(point.hw.gpu.idle_w)
    energy = sum(st[S_ENERGY] + (idle * point.configs[g].size + res["pool_idle_w"][g]) * st[S_END]
                 for g, st in res["stats"].items())
    done = np.isfinite(res["finish"])
    tokens = float(point.test_lengths[1][done].sum())
    return energy / tokens if tokens > 0 and energy > 0 else float("nan")     # 0: the GPU has no energy figures


def _token_metrics(res: dict, inside: np.ndarray, arrival: np.ndarray, out_tokens: np.ndarray) -> dict:
    """TTFT and TPOT percentiles of the window's served requests, the KV cache's utilisation, the
    preemptions, and over the engines' whole runs: the time between tokens (every token after a
    request's first, Sarathi-Serve's TBT; dse.system.serving.engine.tbt_percentile), the share of
    iterations with FC on the FC-PIM pool, output tokens per decode step (1 without speculative decoding; 1 + accepted draft
    tokens with it) and the draft model's share of the busy time (NaN / 0 without continuous
    batching; module docstring of dse.system.serving.batched)."""
    from dse.system.serving.engine import (S_BLOCK_S, S_BUSY, S_DEC_STEPS, S_DECODE_TOK, S_DRAFT_S, S_END,
                                           S_FC_PIM, S_ITER, S_PREEMPT, tbt_percentile)

    nan = float("nan")
    if not res:
        return {"ttft_p50_s": nan, "ttft_p90_s": nan, "ttft_p99_s": nan, "tpot_p50_s": nan, "tpot_p90_s": nan,
                "tpot_p99_s": nan, "tbt_p50_s": nan, "tbt_p99_s": nan, "kv_cache_utilisation": nan, "preemptions": 0,
                "fc_pim_iteration_share": nan, "tokens_per_decode_step": nan, "draft_time_share": nan}
    first, finish = res["first"][inside], res["finish"][inside]
    done = np.isfinite(finish)
    ttft = (first - arrival[inside])[done]
    many = done & (out_tokens[inside] > 1)
    tpot = ((finish - first)[many]) / (out_tokens[inside][many] - 1)
    stats = res["stats"]
    hist = sum(res["tbt_hist"].values(), np.zeros(1))
    capacity = sum(res["blocks"][g] * st[S_END] for g, st in stats.items())

    def total(col):
        return float(sum(st[col] for st in stats.values()))

    def pct(x, q):
        return float(np.percentile(x, q)) if x.size else nan

    return {"ttft_p50_s": pct(ttft, 50), "ttft_p90_s": pct(ttft, 90), "ttft_p99_s": pct(ttft, 99),
            "tpot_p50_s": pct(tpot, 50), "tpot_p90_s": pct(tpot, 90), "tpot_p99_s": pct(tpot, 99),
            "tbt_p50_s": tbt_percentile(hist, 50), "tbt_p99_s": tbt_percentile(hist, 99),
            "kv_cache_utilisation": total(S_BLOCK_S) / capacity if capacity > 0 else nan,
            "preemptions": int(total(S_PREEMPT)),
            "fc_pim_iteration_share": total(S_FC_PIM) / total(S_ITER) if total(S_ITER) else nan,
            "tokens_per_decode_step": total(S_DECODE_TOK) / total(S_DEC_STEPS) if total(S_DEC_STEPS) else nan,
            "draft_time_share": total(S_DRAFT_S) / total(S_BUSY) if total(S_BUSY) else nan}


def layout(configs: tuple[GroupConfig, ...]) -> str:
    if all(c.size == 1 for c in configs):
        return "replication"
    if len(configs) == 1:
        return "one_group"
    return "mixed"


def mapping_text(point: ServingPoint, placed: np.ndarray) -> str:
    """'pp2(bert-a,bert-b) + 1gpu(bert-a)': each group's config and the models it holds."""
    names = point.names
    return " + ".join(f"{c.label}({','.join(names[i] for i in np.flatnonzero(placed[:, g]))})"
                      for g, c in enumerate(point.configs))
