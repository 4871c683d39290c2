"""The serving sections of a workload (serving kind): traffic, SLOs, a replayed trace and measured
latencies. YAML layout (units in field names)::

    serving:
      duration_s: 2000              # simulated arrivals (or the trace's span)
      warmup_s: 10                  # left out of the statistics at both ends (default min(10 s, duration / 10))
      seed: 0
      arrival: {process: gamma, cv: 3}     # poisson | gamma (cv) | bursty (burst_factor, burst_fraction, mean_burst_s)
      total_rate_per_s: 8           # split over the models: rate_split uniform | power_law (power_law_alpha)
      slo_scale: 5                  # SLO = 5 x the model's single-GPU latency
      trace: traces/two_models.csv  # or: replay arrival_s,model rows (replaces rates and processes)
    models:
      - name: bert-a
        transformer: {preset: bert-2.6b, seq_len: 2048, precision_bits: 16}
        serving:
          rate_per_s: 4             # or a share of total_rate_per_s
          arrival: {process: poisson}
          slo_s: 0.74               # or slo_scale
          ttft_slo_s: 0.5           # batching: continuous: time to first token, time per output token
          tpot_slo_s: 0.05          # (a request meets its SLO when every objective given holds)
          lengths:                  # batching: continuous: per-request prompt and output tokens
            dist: lognormal         # fixed | uniform | lognormal | empirical (default: the transformer's)
            prompt: [600, 1.2]      # uniform: [low, high]; lognormal: [mean, cv]; fixed: a number
            output: [200, 1.0]
            max_tokens: 4096        # lognormal: each draw capped here
            file: lengths.csv       # empirical: prompt_tokens,output_tokens pairs, drawn with replacement
          profiled:                 # measured figures replace the cost model's for these configs
            - {pp: 1, tp: 1, stage_latency_s: [0.148], weight_bytes_per_gpu: 5.2 GB}

Any numeric field (rates, cv, SLOs, duration) may be a search range.
"""

from __future__ import annotations

import csv
import hashlib
import math
from dataclasses import dataclass
from pathlib import Path

from dse.errors import DseError
from dse.spec.common import Knob, Node, choices_of

MAX_TRACE_ROWS = 10**7
MAX_TRACE_BYTES = 1 << 30
LENGTH_DISTS = ("fixed", "uniform", "lognormal", "empirical")
MAX_LENGTH_TOKENS = 10**7           # one request's prompt or output
MAX_LENGTH_ROWS = 10**6
MAX_LENGTH_BYTES = 64 << 20

ARRIVAL_PROCESSES = ("poisson", "gamma", "bursty")
RATE_SPLITS = ("uniform", "power_law")


@dataclass(frozen=True)
class Arrival:
    """A model's arrival process (serving kind), at the model's mean rate. ``poisson``: exponential
    gaps. ``gamma``: Gamma gaps with coefficient of variation ``cv`` (shape 1/cv^2; cv 1 is Poisson).
    ``bursty``: a two-state Markov-modulated Poisson process -- bursts at ``burst_factor`` times the
    mean rate for ``burst_fraction`` of the time (exponential stays of mean ``mean_burst_s``), a
    quieter rate in between that keeps the mean."""

    process: str | Knob = "poisson"
    cv: float | Knob = 1.0
    burst_factor: float | Knob = 4.0
    burst_fraction: float | Knob = 0.1
    mean_burst_s: float | Knob = 5.0


@dataclass(frozen=True)
class Profiled:
    """Measured figures of a model under one parallel configuration (pp stages x tp tensor degree),
    which replace the cost model's: per-stage latency of one request, weight bytes per GPU."""

    pp: int
    tp: int
    stage_latency_s: tuple[float, ...]
    weight_bytes_per_gpu: float


@dataclass(frozen=True)
class Lengths:
    """Per-request prompt and output lengths (tokens) of a model (batching: continuous), drawn per
    request (dse.system.serving.arrivals.request_lengths). ``prompt`` and ``output`` are the
    parameters of ``dist`` (fixed: a number; uniform: (low, high) inclusive; lognormal: (mean, cv),
    rounded, in [1, max_tokens]); None keeps the transformer's seq_len / output_tokens. empirical:
    the (prompt, output) pairs of ``file``, drawn with replacement."""

    dist: str
    prompt: tuple[float, ...] | None = None
    output: tuple[float, ...] | None = None
    max_tokens: int | None = None
    file: str | None = None
    pairs: tuple[tuple[int, int], ...] = ()     # empirical: the file's rows
    file_sha256: str | None = None


@dataclass(frozen=True)
class Speculative:
    """Speculative decoding (batching: continuous; dse.system.serving.engine): a ``draft`` model
    proposes ``tokens`` tokens per decode step, which the model verifies in one step of
    ``tokens`` + 1 query tokens (PAPI's TLP); each draft token is accepted with probability
    ``acceptance_rate`` (iid). ``tokens`` 0 turns it off."""

    draft: object                        # dse.spec.workload.Transformer
    tokens: int | Knob
    acceptance_rate: float | Knob


@dataclass(frozen=True)
class ModelServing:
    """A model's traffic and service level (serving kind): its mean request rate (else a share of
    the workload's ``total_rate_per_s``), its arrival process (else the workload's), its SLO in
    seconds or as a multiple of its single-GPU latency (else the workload's ``slo_scale``), and
    measured latencies that replace the cost model's."""

    rate_per_s: float | Knob | None = None
    arrival: Arrival | None = None
    slo_s: float | Knob | None = None
    slo_scale: float | Knob | None = None
    profiled: tuple[Profiled, ...] = ()
    ttft_slo_s: float | Knob | None = None      # continuous batching: time to first token
    tpot_slo_s: float | Knob | None = None      # continuous batching: time per output token after the first
    lengths: Lengths | None = None
    speculative: Speculative | None = None


@dataclass(frozen=True)
class Serving:
    """The simulated run of a serving workload: ``duration_s`` of arrivals (seeded), the first and
    last ``warmup_s`` left out of the statistics; defaults every model may override (``arrival``,
    ``slo_scale``); a total rate split over the models ``uniform``ly or by a ``power_law`` (model i,
    0-based, gets a share proportional to (i + 1)^-alpha); or a replayed ``trace`` (CSV of
    ``arrival_s,model``), which sets arrivals and rates."""

    duration_s: float | Knob | None = None
    warmup_s: float | None = None
    seed: int = 0
    arrival: Arrival = Arrival()
    total_rate_per_s: float | Knob | None = None
    rate_split: str | Knob = "uniform"
    power_law_alpha: float | Knob = 0.5
    slo_scale: float | Knob | None = None
    trace: str | None = None               # the CSV's path (relative paths: to the workload file)
    ttft_slo_s: float | Knob | None = None      # defaults of the models' TTFT and TPOT objectives
    tpot_slo_s: float | Knob | None = None
    min_slo_attainment: float | Knob | None = None   # a design below it is infeasible (SLOs as a constraint)
    trace_sha256: str | None = None        # its content's hash (part of the spec's identity)
    trace_lengths: bool = False            # the trace carries prompt_tokens, output_tokens per request

    @property
    def window(self) -> float:
        """The warm-up (and cool-down) excluded at each end: ``warmup_s``, else min(10 s, duration / 10)."""
        if self.warmup_s is not None:
            return float(self.warmup_s)
        return min(10.0, float(self.duration_s) / 10.0)


# The serving sections' fields (required, optional), merged into dse.spec.workload.FIELDS.
SERVING_FIELDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "serving": ((), ("duration_s", "warmup_s", "seed", "arrival", "total_rate_per_s", "rate_split",
                     "power_law_alpha", "slo_scale", "trace", "ttft_slo_s", "tpot_slo_s", "min_slo_attainment")),
    "serving.arrival": (("process",), ("cv", "burst_factor", "burst_fraction", "mean_burst_s")),
    "models[].serving": ((), ("rate_per_s", "arrival", "slo_s", "slo_scale", "profiled", "ttft_slo_s",
                              "tpot_slo_s", "lengths", "speculative")),
    "models[].serving.speculative": (("draft", "tokens", "acceptance_rate"), ()),
    "models[].serving.lengths": (("dist",), ("prompt", "output", "max_tokens", "file")),
    "models[].serving.profiled[]": (("pp", "tp", "stage_latency_s", "weight_bytes_per_gpu"), ()),
}


def parse_arrival(node: Node):
    f = node.mapping(*SERVING_FIELDS["serving.arrival"])
    process = f["process"].name(ARRIVAL_PROCESSES)
    values: dict = {"process": process}
    if "cv" in f:
        values["cv"] = f["cv"].number(high=100)
    if "burst_factor" in f:
        values["burst_factor"] = f["burst_factor"].number(high=1000)
    if "burst_fraction" in f:
        values["burst_fraction"] = f["burst_fraction"].fraction()
    if "mean_burst_s" in f:
        values["mean_burst_s"] = f["mean_burst_s"].number("s")
    allowed = {"gamma": {"cv"}, "bursty": {"burst_factor", "burst_fraction", "mean_burst_s"}, "poisson": set()}
    processes = choices_of(process)
    usable = set().union(*(allowed[p] for p in processes))
    for key in f:                                               # a field of another process is a mistake
        if key != "process" and key not in usable:
            raise f[key].fail(f"a field of the {'/'.join(processes)} process (allowed: {sorted(usable) or 'none'})",
                              key)
    arrival = Arrival(**values)
    factor, share = arrival.burst_factor, arrival.burst_fraction
    if not isinstance(factor, Knob) and not isinstance(share, Knob) and "bursty" in processes:
        if factor <= 1 or factor * share >= 1:
            raise (f.get("burst_factor") or node).fail(
                f"a burst_factor > 1 with burst_factor x burst_fraction < 1 (the quiet rate stays > 0; "
                f"burst_fraction {share})", factor)
    return arrival


def parse_lengths(node: Node) -> Lengths:
    """A model's ``lengths`` section (see :class:`Lengths`), checked: the parameters its ``dist``
    takes and no others, each within bounds, a readable CSV for ``empirical``."""
    f = node.mapping(*SERVING_FIELDS["models[].serving.lengths"])
    dist = f["dist"].name(LENGTH_DISTS, knob=False)
    takes = {"fixed": {"prompt", "output"}, "uniform": {"prompt", "output"},
             "lognormal": {"prompt", "output", "max_tokens"}, "empirical": {"file"}}[dist]
    for key in f:
        if key != "dist" and key not in takes:
            raise f[key].fail(f"a field of the {dist} distribution (allowed: {sorted(takes)})", key)
    values: dict = {"dist": dist}
    for key in ("prompt", "output"):
        if key not in f:
            continue
        g = f[key]
        if dist == "fixed":
            values[key] = (float(g.number(integer=True, knob=False, high=MAX_LENGTH_TOKENS)),)
            continue
        items = g.sequence(min_len=2)
        if len(items) != 2:
            raise g.fail("[low, high] tokens" if dist == "uniform" else "[mean tokens, cv]", f"{len(items)} values")
        if dist == "uniform":
            low, high = (x.number(integer=True, knob=False, high=MAX_LENGTH_TOKENS) for x in items)
            if low > high:
                raise g.fail("[low, high] with low <= high", f"[{low}, {high}]")
            values[key] = (float(low), float(high))
        else:
            values[key] = (float(items[0].number(knob=False, high=MAX_LENGTH_TOKENS)),
                           float(items[1].number(knob=False, high=100)))
    if dist == "lognormal":
        if "max_tokens" not in f:
            raise node.child("max_tokens", None).fail("a value (missing field: lognormal draws are capped there)")
        values["max_tokens"] = int(f["max_tokens"].number(integer=True, knob=False, high=MAX_LENGTH_TOKENS))
    if dist == "empirical":
        if "file" not in f:
            raise node.child("file", None).fail("a value (missing field: the CSV of prompt_tokens,output_tokens)")
        path = Path(f["file"].name(knob=False))
        if not path.is_absolute():
            path = Path(node.source).parent / path
        pairs, digest = read_lengths(path, f["file"])
        values.update(file=str(path), pairs=pairs, file_sha256=digest)
    return Lengths(**values)


def open_csv(path: Path, limit: int, what: str, headers: tuple[list[str], ...], node: Node | None):
    """(a csv reader past the header, the file's bytes, which of ``headers`` it has) of a regular
    UTF-8 file of at most ``limit`` bytes whose first line is one of ``headers``; else a DseError
    at ``node`` (the field naming the file) when given, else at the file. The header line is
    described, never quoted: a file named here by mistake (or on purpose) is not shown to whoever
    reads the error."""
    from dse.spec.files import FileProblem, read_limited

    source = str(path)
    try:
        data = read_limited(path, limit)
    except FileProblem as exc:
        if node is None:
            raise DseError(source, "", what, str(exc)) from None
        raise node.fail(what, f"{source}: {exc}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise DseError(source, "", "a UTF-8 CSV file", "bytes that are not UTF-8") from None
    reader = csv.reader(text.splitlines())
    first = next(reader, None)
    got = [h.strip() for h in first] if first is not None else None
    if got not in headers:
        raise DseError(source, "line 1", "the header " + " or ".join(",".join(h) for h in headers),
                       "an empty file" if first is None else f"another first line ({len(first)} comma-separated fields)")
    return reader, data, headers.index(got)


def read_lengths(path: Path, node: Node) -> tuple[tuple[tuple[int, int], ...], str]:
    """A lengths CSV: the header ``prompt_tokens,output_tokens`` then one row per request, integers
    >= 1. Returns the rows and the file's SHA-256; an unreadable or malformed file is an error
    naming the file and line, never quoting a row that is not a pair of numbers."""
    source = str(path)
    reader, data, _ = open_csv(path, MAX_LENGTH_BYTES, "a readable CSV lengths file of at most 64 MiB",
                               (["prompt_tokens", "output_tokens"],), node)
    rows: list[tuple[int, int]] = []
    for line, row in enumerate(reader, start=2):
        if not row or all(not c.strip() for c in row):
            continue
        try:
            pair = tuple(int(c) for c in row)
        except ValueError:
            raise DseError(source, f"line {line}", "two integer token counts >= 1", "something else") from None
        if len(pair) != 2 or min(pair) < 1 or max(pair) > MAX_LENGTH_TOKENS:
            raise DseError(source, f"line {line}", f"two integer token counts in [1, {MAX_LENGTH_TOKENS:.0e}]",
                           ",".join(str(x) for x in pair)[:80])
        rows.append(pair)
        if len(rows) > MAX_LENGTH_ROWS:
            raise DseError(source, f"line {line}", f"at most {MAX_LENGTH_ROWS} rows", "more")
    if not rows:
        raise DseError(source, "", "at least one row after the header", "none")
    return tuple(rows), hashlib.sha256(data).hexdigest()


def parse_speculative(node: Node) -> Speculative:
    """A model's ``speculative`` section: the draft is a transformer mapping like ``transformer``
    (a preset, an hf_config or the fields), at most 64 draft tokens, an acceptance rate in [0, 1]."""
    from dse.spec.workload import parse_transformer

    f = node.mapping(*SERVING_FIELDS["models[].serving.speculative"])
    return Speculative(draft=parse_transformer(f["draft"]),
                       tokens=f["tokens"].number(integer=True, allow_zero=True, high=64),
                       acceptance_rate=f["acceptance_rate"].probability())


def parse_model_serving(node: Node):
    f = node.mapping(*SERVING_FIELDS["models[].serving"])
    values: dict = {}
    if "rate_per_s" in f:
        values["rate_per_s"] = f["rate_per_s"].number(high=1e7)
    if "arrival" in f:
        values["arrival"] = parse_arrival(f["arrival"])
    if "slo_s" in f and "slo_scale" in f:
        raise f["slo_scale"].fail("either slo_s or slo_scale, not both")
    if "slo_s" in f:
        values["slo_s"] = f["slo_s"].number("s")
    if "slo_scale" in f:
        values["slo_scale"] = f["slo_scale"].number(high=1e6)
    for key in ("ttft_slo_s", "tpot_slo_s"):
        if key in f:
            values[key] = f[key].number("s")
    if "lengths" in f:
        values["lengths"] = parse_lengths(f["lengths"])
    if "speculative" in f:
        values["speculative"] = parse_speculative(f["speculative"])
    if "profiled" in f:
        items = []
        seen = set()
        for item in f["profiled"].sequence(min_len=1):
            g = item.mapping(*SERVING_FIELDS["models[].serving.profiled[]"])
            pp = g["pp"].number(integer=True, knob=False, high=1024)
            tp = g["tp"].number(integer=True, knob=False, high=1024)
            lat = g["stage_latency_s"].sequence(min_len=1)
            if len(lat) != pp:
                raise g["stage_latency_s"].fail(f"one latency per pipeline stage ({pp})", f"{len(lat)} values")
            if (pp, tp) in seen:
                raise item.fail("one profiled entry per (pp, tp)", f"pp {pp} tp {tp} again")
            seen.add((pp, tp))
            items.append(Profiled(pp, tp, tuple(x.number("s", knob=False) for x in lat),
                                  g["weight_bytes_per_gpu"].number("bytes", allow_zero=True, knob=False)))
        values["profiled"] = tuple(items)
    return ModelServing(**values)


def parse_serving(node: Node, models: tuple, model_nodes: list[Node]):
    """The workload's serving section, checked against its models: every model gets a rate (its own,
    a share of ``total_rate_per_s``, or the trace's) and an SLO (``slo_s`` or a ``slo_scale``)."""
    f = node.mapping(*SERVING_FIELDS["serving"])
    values: dict = {}
    if "duration_s" in f:
        values["duration_s"] = f["duration_s"].number("s", high=1e7)
    if "warmup_s" in f:
        values["warmup_s"] = f["warmup_s"].number("s", allow_zero=True, knob=False)
    if "seed" in f:
        values["seed"] = f["seed"].number(integer=True, allow_zero=True, knob=False)
    if "arrival" in f:
        values["arrival"] = parse_arrival(f["arrival"])
    if "total_rate_per_s" in f:
        values["total_rate_per_s"] = f["total_rate_per_s"].number(high=1e8)
    if "rate_split" in f:
        values["rate_split"] = f["rate_split"].name(RATE_SPLITS)
    if "power_law_alpha" in f:
        values["power_law_alpha"] = f["power_law_alpha"].number(allow_zero=True, high=10)
    if "slo_scale" in f:
        values["slo_scale"] = f["slo_scale"].number(high=1e6)
    for key in ("ttft_slo_s", "tpot_slo_s"):
        if key in f:
            values[key] = f[key].number("s")
    if "min_slo_attainment" in f:
        values["min_slo_attainment"] = f["min_slo_attainment"].fraction()
    names = [m.name for m in models]
    if "trace" in f:
        path = Path(f["trace"].name(knob=False))
        if not path.is_absolute():
            path = Path(node.source).parent / path
        rows, digest = read_trace(path, names, f["trace"])
        values["trace"], values["trace_sha256"] = str(path), digest
        values["trace_lengths"] = bool(rows) and len(rows[0]) == 4
        values.setdefault("duration_s", max(r[0] for r in rows) if rows else 0.0)
        if values["trace_lengths"]:
            for i, m in enumerate(models):
                if m.serving is not None and m.serving.lengths is not None:
                    raise model_nodes[i].child("serving", None).child("lengths", None).fail(
                        "no lengths when the trace carries each request's (prompt_tokens, output_tokens)", "lengths")
        for key in ("total_rate_per_s", "arrival"):
            if key in f:
                raise f[key].fail(f"no {key} with a trace (the trace sets arrivals)", key)
        for i, m in enumerate(models):
            if m.serving is not None and (m.serving.rate_per_s is not None or m.serving.arrival is not None):
                key = "rate_per_s" if m.serving.rate_per_s is not None else "arrival"
                raise model_nodes[i].child("serving", None).child(key, None).fail(
                    "no per-model rate or arrival process with a trace (the trace sets arrivals)", key)
    elif "duration_s" not in f:
        raise node.child("duration_s", None).fail("a value (missing field; or a trace)")
    serving = Serving(**values)
    for i, m in enumerate(models):
        ms = m.serving
        where = model_nodes[i]
        if serving.trace is None and (ms is None or ms.rate_per_s is None) and serving.total_rate_per_s is None:
            raise where.child("serving", None).child("rate_per_s", None).fail(
                "a value (missing field; or serving.total_rate_per_s for the workload)")
        if serving.trace is None and ms is not None and ms.rate_per_s is not None and serving.total_rate_per_s is not None:
            raise where.child("serving", None).child("rate_per_s", None).fail(
                "no per-model rate when serving.total_rate_per_s splits the total", ms.rate_per_s)
        if not has_slo(serving, ms):
            raise where.child("serving", None).child("slo_s", None).fail(
                "a value (missing field; or slo_scale, ttft_slo_s or tpot_slo_s here or under serving)")
    if serving.warmup_s is not None and not isinstance(serving.duration_s, Knob):
        if 2 * serving.warmup_s >= float(serving.duration_s):
            raise f["warmup_s"].fail(f"less than half of duration_s ({serving.duration_s} s)")
    return serving


def has_slo(serving: Serving, ms: ModelServing | None, whole_requests: bool = False) -> bool:
    """Whether a model has a service objective: its own or the workload's ``slo_s`` / ``slo_scale``
    (a whole request's latency), or with ``whole_requests`` False also a TTFT or TPOT objective."""
    own = (ms.slo_s, ms.slo_scale) if ms is not None else ()
    token = () if whole_requests else ((ms.ttft_slo_s, ms.tpot_slo_s) if ms is not None else ()) + (
        serving.ttft_slo_s, serving.tpot_slo_s)
    return any(v is not None for v in (*own, serving.slo_scale, *token))


TRACE_HEADERS = (["arrival_s", "model"], ["arrival_s", "model", "prompt_tokens", "output_tokens"])


def read_trace(path: Path, names: list[str], node: Node | None = None) -> tuple[list[tuple], str]:
    """A trace CSV: a header ``arrival_s,model`` (or ``arrival_s,model,prompt_tokens,output_tokens``:
    per-request lengths, for batching: continuous) then one row per request (seconds from the
    start, a model name of the workload, token counts >= 1), any order. Returns the rows
    ((t, model) or (t, model, prompt, output)) and the file's SHA-256. An unreadable file is an
    error at ``node`` (the workload's ``trace`` field) when given."""
    source = str(path)
    reader, data, which = open_csv(path, MAX_TRACE_BYTES, "a readable CSV trace file of at most 1 GiB", TRACE_HEADERS,
                                   node)
    width = len(TRACE_HEADERS[which])
    known = set(names)
    rows: list[tuple] = []
    for line, row in enumerate(reader, start=2):
        if not row or all(not c.strip() for c in row):
            continue
        if len(row) != width:
            raise DseError(source, f"line {line}", f"{width} fields: {','.join(TRACE_HEADERS[which])}", ",".join(row)[:80])
        try:
            t = float(row[0])
        except ValueError:
            raise DseError(source, f"line {line}", "arrival_s, a number of seconds >= 0", row[0]) from None
        if not math.isfinite(t) or t < 0 or t > 1e7:
            raise DseError(source, f"line {line}", "arrival_s, a number of seconds >= 0 (at most 1e7)", row[0])
        model = row[1].strip()
        if model not in known:
            raise DseError(source, f"line {line}", f"a model of the workload, one of {names}", model)
        lengths: tuple = ()
        if width == 4:
            try:
                lengths = (int(row[2]), int(row[3]))
            except ValueError:
                raise DseError(source, f"line {line}", "prompt_tokens and output_tokens, integers >= 1",
                               f"{row[2]},{row[3]}"[:80]) from None
            if min(lengths) < 1 or max(lengths) > MAX_LENGTH_TOKENS:
                raise DseError(source, f"line {line}", f"prompt_tokens and output_tokens in [1, {MAX_LENGTH_TOKENS:.0e}]",
                               f"{row[2]},{row[3]}"[:80])
        rows.append((t, model) + lengths)
        if len(rows) > MAX_TRACE_ROWS:
            raise DseError(source, f"line {line}", f"at most {MAX_TRACE_ROWS} requests", "more")
    if not rows:
        raise DseError(source, "", "at least one request row after the header", "none")
    return rows, hashlib.sha256(data).hexdigest()
