"""Workload spec: the models of a workload, as frozen specs (no numpy, no decomposition here).

A model is a ``transformer`` (HF-style config keys or a preset from dse.models.presets), the built-in
``resnet50``, or an explicit ``ops`` list; ``count`` says how many inferences of the model make one
frame (chiplet kind). dse.models turns each into the one operator decomposition the kinds share.

Explicit ops are einsum-style; one op type covers convolutions, GEMMs and attention matmuls
(ZigZag-style)::

    O[n, k, y, x] += I[n, c, y*stride + r, x*stride + s] * W[k, c, r, s]

N batch, K output channels / features, C input channels / reduction, Y x X output positions,
R x S filter window. A GEMM [M x C] x [C x K] is a 1x1 conv over M = N*Y*X positions. Attention
matmuls set ``weights: activation``: their W operand is a tensor produced by the model (keys,
values), not a stored parameter, so it is not read from DRAM as weights.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from dse.errors import DseError
from dse.models.presets import TRANSFORMER_PRESETS
from dse.spec.common import Knob, Node, load_yaml, resolve
from dse.spec.serving_workload import SERVING_FIELDS, ModelServing, Serving, parse_model_serving, parse_serving


@dataclass(frozen=True)
class Op:
    name: str
    N: int = 1
    K: int = 1
    C: int = 1
    Y: int = 1
    X: int = 1
    R: int = 1
    S: int = 1
    stride: int = 1
    precision_bits: int = 8
    weights_static: bool = True

    @property
    def macs(self) -> int:
        return self.N * self.K * self.C * self.Y * self.X * self.R * self.S


# Output-length distributions of the decode trace (see dse.system.llm.evaluator.output_lengths).
LENGTH_DISTRIBUTIONS = ("dolly_creative", "dolly_general_qa")
ARCHITECTURES = ("gpt", "llama")
LAYER_VARIANTS = ("standard", "kraken")


@dataclass(frozen=True)
class Decode:
    """Auto-regressive decoding after the prompt. Each step verifies ``tlp`` tokens per active request
    (speculative decoding; every drafted token is accepted); a request stops after its output length,
    drawn per request from ``output_tokens`` (a fixed count or a named distribution, seeded)."""

    output_tokens: int | str | Knob = 128
    tlp: int | Knob = 1
    include_prefill: bool | Knob = True
    seed: int = 0


@dataclass(frozen=True)
class Training:
    """A training iteration (training kind): ``global_batch`` sequences of ``seq_len`` tokens in
    microbatches of ``microbatch_size``; gradients and optimizer state per parameter in bytes
    (mixed-precision Adam: 2-byte gradients, 12 bytes of FP32 master weights and two moments);
    ``recompute``: full activation recomputation (keep each layer's input, redo the forward before
    the backward); ``dropout``: keep dropout masks (Korthikanti et al.'s 34 h + 5 a s);
    ``flash_attention``: fused attention that keeps no score matrices (drops the 5 a s term) and
    recomputes them in its backward;
    ``split_embedding_loss``: count the embedding and the loss as a layer each when splitting the
    layers over pipeline stages."""

    global_batch: int | Knob
    microbatch_size: int | Knob = 1
    gradient_bytes_per_param: float | Knob = 2.0
    optimizer_bytes_per_param: float | Knob = 12.0
    recompute: bool | Knob = False
    dropout: bool | Knob = True
    flash_attention: bool | Knob = False
    split_embedding_loss: bool | Knob = False

    def stage_slots(self, layers: int) -> int:
        """Layer slots the pipeline split divides: the layers, plus one each for the embedding and
        the loss with ``split_embedding_loss`` (Megatron's --account-for-embedding-in-pipeline-split
        and --account-for-loss-in-pipeline-split: the first and last stages get one layer fewer)."""
        return layers + (2 if self.split_embedding_loss else 0)


@dataclass(frozen=True)
class Pipeline:
    """A synthetic pipeline (training kind, no model): ``stages`` devices, ``microbatches`` per
    iteration and per-device pass times (a device's whole stage; V-shape and interleaved schedules
    split them evenly over the device's chunks), the stage-to-stage send time, and optionally the
    activation bytes of one microbatch on one device (memory in bytes; else only in units).
    ``w_memory_fraction``: the share of those activations W still needs after B (used by the
    Zero Bubble memory model)."""

    stages: int | Knob
    microbatches: int | Knob
    forward_s: float | Knob
    backward_s: float | Knob
    weight_s: float | Knob
    comm_s: float | Knob = 0.0
    activation_bytes: float | Knob | None = None
    w_memory_fraction: float | Knob = 1.0


@dataclass(frozen=True)
class Transformer:
    """Decoder stack. ``gpt``: multi-head attention, LayerNorm, GELU FFN (up, down). ``llama``:
    RMSNorm, SwiGLU FFN (gate, up, down), grouped-query attention with ``num_key_value_heads``.
    ``seq_len`` is the prompt (prefill) length per request, ``batch`` the number of requests.
    ``layer_variant: kraken`` restructures each layer so tensor parallelism needs one all-reduce
    (overlapped with the next layer's attention) instead of two."""

    num_hidden_layers: int | Knob
    hidden_size: int | Knob
    num_attention_heads: int | Knob
    intermediate_size: int | Knob
    vocab_size: int | Knob
    seq_len: int | Knob
    batch: int | Knob = 1
    precision_bits: int | Knob = 8
    architecture: str | Knob = "gpt"
    num_key_value_heads: int | Knob | None = None
    layer_variant: str | Knob = "standard"
    decode: Decode | None = None
    training: Training | None = None
    tie_word_embeddings: bool | None = None   # None: tied for gpt, separate for llama

    @property
    def kv_heads(self) -> int:
        return self.num_key_value_heads or self.num_attention_heads


@dataclass(frozen=True)
class ResNet50:
    batch: int | Knob = 1
    image_size: int | Knob = 224
    precision_bits: int | Knob = 8


@dataclass(frozen=True)
class Model:
    name: str
    count: int | Knob
    generator: Transformer | ResNet50 | Pipeline | None
    ops: tuple[Op, ...]
    serving: ModelServing | None = None


@dataclass(frozen=True)
class WorkloadSpec:
    name: str
    source: str
    models: tuple[Model, ...]
    serving: Serving | None = None


def sections(workload: WorkloadSpec) -> list[tuple[str, str]]:
    """The optional sections a workload has, as (field path, section name) in file order, the
    top-level ``serving`` first; section names generalise the model index (``models[].pipeline``).
    Each system kind declares the ones it reads (dse.system.base.SystemKind.workload_sections)."""
    out = [("serving", "serving")] if workload.serving is not None else []
    for i, m in enumerate(workload.models):
        g, at = m.generator, f"models[{i}]"
        if isinstance(g, Transformer):
            out.append((f"{at}.transformer", "models[].transformer"))
            if g.decode is not None:
                out.append((f"{at}.transformer.decode", "models[].transformer.decode"))
            if g.training is not None:
                out.append((f"{at}.transformer.training", "models[].transformer.training"))
        elif isinstance(g, ResNet50):
            out.append((f"{at}.resnet50", "models[].resnet50"))
        elif isinstance(g, Pipeline):
            out.append((f"{at}.pipeline", "models[].pipeline"))
        elif m.ops:
            out.append((f"{at}.ops", "models[].ops"))
        if m.serving is not None:
            out.append((f"{at}.serving", "models[].serving"))
    return out


_TRANSFORMER_KEYS = ("num_hidden_layers", "hidden_size", "num_attention_heads", "intermediate_size",
                     "vocab_size")
_OP_INT_FIELDS = ("N", "K", "C", "Y", "X", "R", "S", "stride")

# Every field the loader accepts, by section (required, optional); README's tables list the same.
FIELDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "": (("name", "models"), ("description", "serving")),
    "models[]": (("name",), ("count", "transformer", "resnet50", "ops", "onnx", "pipeline", "serving")),
    "models[].onnx": (("file",), ("batch", "precision_bits")),
    "models[].transformer": (("seq_len",), _TRANSFORMER_KEYS + (
        "preset", "hf_config", "batch", "precision_bits", "architecture", "num_key_value_heads",
        "tie_word_embeddings", "layer_variant", "decode", "training")),
    "models[].transformer.decode": ((), ("output_tokens", "tlp", "include_prefill", "seed")),
    "models[].transformer.training": (("global_batch",), (
        "microbatch_size", "gradient_bytes_per_param", "optimizer_bytes_per_param", "recompute", "dropout",
        "flash_attention", "split_embedding_loss")),
    "models[].pipeline": (("stages", "microbatches", "forward_s", "backward_s", "weight_s"), (
        "comm_s", "activation_bytes", "w_memory_fraction")),
    "models[].resnet50": ((), ("batch", "image_size", "precision_bits")),
    "models[].ops[]": (("name",), _OP_INT_FIELDS + ("precision_bits", "weights")),
    **SERVING_FIELDS,
}


def load_workload(path: str) -> WorkloadSpec:
    return parse_workload(load_yaml(path))


def parse_workload(root: Node) -> WorkloadSpec:
    top = root.mapping(*FIELDS[""])
    name = top["name"].name(knob=False)
    models = tuple(_model(node) for node in top["models"].sequence(min_len=1))
    seen: set[str] = set()
    for node, model in zip(top["models"].sequence(), models):
        if model.name in seen:
            raise node.child("name", model.name).fail("a model name used only once")
        seen.add(model.name)
    serving = None
    if "serving" in top:
        serving = parse_serving(top["serving"], models, top["models"].sequence())
    elif any(m.serving is not None for m in models):
        at = next(i for i, m in enumerate(models) if m.serving is not None)
        raise DseError(root.source, f"models[{at}].serving", "a top-level serving section (duration_s, ...) "
                       "with the models' serving sections")
    spec = WorkloadSpec(name=name, source=root.source, models=models, serving=serving)
    for node, model in zip(top["models"].sequence(), resolve(spec, {}).models):
        kind = "transformer" if isinstance(model.generator, Transformer) else None
        if kind:
            _check_transformer(node.child(kind, None), model.generator)
        if model.serving is not None and model.serving.speculative is not None:
            _check_transformer(node.child("serving", None).child("speculative", None).child("draft", None),
                               model.serving.speculative.draft)
    return spec


def _model(node: Node) -> Model:
    f = node.mapping(*FIELDS["models[]"])
    serving = None
    if "serving" in f:
        serving = parse_model_serving(f["serving"])
    kinds = [k for k in ("transformer", "resnet50", "ops", "onnx", "pipeline") if k in f]
    name = f["name"].name(knob=False)
    if not kinds and serving is not None and serving.profiled:
        return Model(name, 1, None, (), serving)             # measured figures only (serving kind)
    if len(kinds) != 1:
        raise node.fail("exactly one of transformer, resnet50, ops, onnx or pipeline (or, for serving, only "
                        "profiled figures)", kinds or None)
    count = f["count"].number(integer=True) if "count" in f else 1
    if "transformer" in f:
        return Model(name, count, _transformer(f["transformer"]), (), serving)
    if serving is not None:
        raise f["serving"].fail(f"a serving section on a transformer (or profiled figures only), not on {kinds[0]}")
    if "resnet50" in f:
        g = f["resnet50"].mapping(*FIELDS["models[].resnet50"])
        return Model(name, count, ResNet50(
            batch=g["batch"].number(integer=True) if "batch" in g else 1,
            image_size=g["image_size"].number(integer=True) if "image_size" in g else 224,
            precision_bits=_precision(g["precision_bits"]) if "precision_bits" in g else 8,
        ), ())
    if "pipeline" in f:
        return Model(name, count, _pipeline(f["pipeline"]), ())
    if "onnx" in f:
        return Model(name, count, None, _onnx(f["onnx"]))
    ops = tuple(_op(item) for item in f["ops"].sequence(min_len=1))
    return Model(name, count, None, ops)


def _beside(node: Node) -> Path:
    """A file named by a spec field, relative to the spec file's folder."""
    path = Path(node.name(knob=False))
    return path if path.is_absolute() else Path(node.source).resolve().parent / path


def _onnx(node: Node) -> tuple[Op, ...]:
    from dse.models.onnx_import import import_onnx

    f = node.mapping(*FIELDS["models[].onnx"])
    batch = f["batch"].number(integer=True, knob=False, high=1 << 20) if "batch" in f else 1
    bits = None
    if "precision_bits" in f:
        bits = f["precision_bits"].number(integer=True, knob=False)
        if bits not in (4, 8, 16, 32):
            raise f["precision_bits"].fail("precision_bits of 4, 8, 16 or 32")
    return import_onnx(_beside(f["file"]), node.source, f["file"].path, batch, bits)


def _pipeline(node: Node) -> Pipeline:
    f = node.mapping(*FIELDS["models[].pipeline"])
    values: dict = {
        "stages": f["stages"].number(integer=True, high=4096),
        "microbatches": f["microbatches"].number(integer=True, high=65536),
        "forward_s": f["forward_s"].number("s"),
        "backward_s": f["backward_s"].number("s"),
        "weight_s": f["weight_s"].number("s", allow_zero=True),
    }
    if "comm_s" in f:
        values["comm_s"] = f["comm_s"].number("s", allow_zero=True)
    if "activation_bytes" in f:
        values["activation_bytes"] = f["activation_bytes"].number("bytes")
    if "w_memory_fraction" in f:
        values["w_memory_fraction"] = f["w_memory_fraction"].fraction()
    return Pipeline(**values)


def _training(node: Node) -> Training:
    f = node.mapping(*FIELDS["models[].transformer.training"])
    values: dict = {"global_batch": f["global_batch"].number(integer=True, high=10**7)}
    if "microbatch_size" in f:
        values["microbatch_size"] = f["microbatch_size"].number(integer=True, high=10**6)
    for key in ("gradient_bytes_per_param", "optimizer_bytes_per_param"):
        if key in f:
            values[key] = f[key].number(allow_zero=True, high=64)
    for key in ("recompute", "dropout", "flash_attention", "split_embedding_loss"):
        if key in f:
            values[key] = f[key].boolean()
    return Training(**values)


def parse_transformer(node: Node) -> Transformer:
    """A ``transformer`` mapping (a preset, an hf_config or the fields; the same keys wherever a
    transformer is given, e.g. a speculative draft model)."""
    return _transformer(node)


def _transformer(node: Node) -> Transformer:
    f = node.mapping(*FIELDS["models[].transformer"])
    values: dict = {}
    if "preset" in f and "hf_config" in f:
        raise f["hf_config"].fail("either a preset or an hf_config, not both")
    if "preset" in f:
        values.update(TRANSFORMER_PRESETS[f["preset"].name(tuple(TRANSFORMER_PRESETS), knob=False)])
    if "hf_config" in f:
        from dse.models.hf_config import transformer_keys

        node_hf = f["hf_config"]
        values.update(transformer_keys(_beside(node_hf), node_hf.source, node_hf.path))
    if "tie_word_embeddings" in f:
        values["tie_word_embeddings"] = f["tie_word_embeddings"].boolean(knob=False)
    for key in _TRANSFORMER_KEYS + ("seq_len", "batch", "num_key_value_heads"):
        if key in f:
            values[key] = f[key].number(integer=True)
    if "precision_bits" in f:
        values["precision_bits"] = _precision(f["precision_bits"])
    if "architecture" in f:
        values["architecture"] = f["architecture"].name(ARCHITECTURES)
    if "layer_variant" in f:
        values["layer_variant"] = f["layer_variant"].name(LAYER_VARIANTS)
    if "decode" in f:
        values["decode"] = _decode(f["decode"])
    if "training" in f:
        if "decode" in f:
            raise f["training"].fail("either a decode section (inference) or a training section, not both")
        values["training"] = _training(f["training"])
    missing = [k for k in _TRANSFORMER_KEYS if k not in values]
    if missing:
        raise node.child(missing[0], None).fail(
            f"a value (missing field; or give a preset, one of {list(TRANSFORMER_PRESETS)})")
    return Transformer(**values)


def _decode(node: Node) -> Decode:
    f = node.mapping(*FIELDS["models[].transformer.decode"])
    values: dict = {}
    if "output_tokens" in f:
        out = f["output_tokens"]
        is_name = isinstance(out.value, str) or (isinstance(out.value, dict) and "choices" in out.value
                                                  and any(isinstance(c, str) for c in out.value["choices"] or []))
        if is_name:
            values["output_tokens"] = out.name(LENGTH_DISTRIBUTIONS)
        else:
            values["output_tokens"] = out.number(integer=True)
    if "tlp" in f:
        values["tlp"] = f["tlp"].number(integer=True)
    if "include_prefill" in f:
        values["include_prefill"] = f["include_prefill"].boolean()
    if "seed" in f:
        values["seed"] = f["seed"].number(integer=True, allow_zero=True, knob=False)
    return Decode(**values)


def _check_transformer(node: Node, t: Transformer) -> None:
    if t.hidden_size % t.num_attention_heads:
        raise node.child("num_attention_heads", t.num_attention_heads).fail(
            f"a divisor of hidden_size ({t.hidden_size})")
    if t.num_attention_heads % t.kv_heads:
        raise node.child("num_key_value_heads", t.kv_heads).fail(
            f"a divisor of num_attention_heads ({t.num_attention_heads})")


def _precision(node: Node) -> int | Knob:
    value = node.number(integer=True)
    if not isinstance(value, Knob) and value not in (4, 8, 16, 32):
        raise node.fail("precision_bits of 4, 8, 16 or 32")
    return value


def _op(node: Node) -> Op:
    f = node.mapping(*FIELDS["models[].ops[]"])
    values: dict = {"name": f["name"].name(knob=False)}
    for key in _OP_INT_FIELDS:
        if key in f:
            values[key] = f[key].number(integer=True, knob=False)
    if "precision_bits" in f:
        values["precision_bits"] = f["precision_bits"].number(integer=True, knob=False)
        if values["precision_bits"] not in (4, 8, 16, 32):
            raise f["precision_bits"].fail("precision_bits of 4, 8, 16 or 32")
    if "weights" in f:
        values["weights_static"] = f["weights"].name(("static", "activation"), knob=False) == "static"
    return Op(**values)
