"""Workload spec: models made of einsum-style ops, mixed into a frame.

One op type covers convolutions, GEMMs and attention matmuls (ZigZag-style)::

    O[n, k, y, x] += I[n, c, y*stride + r, x*stride + s] * W[k, c, r, s]

N batch, K output channels / features, C input channels / reduction, Y x X output positions,
R x S filter window. A GEMM [M x C] x [C x K] is a 1x1 conv over M = N*Y*X positions. Attention
matmuls set ``weights: activation``: their W operand is a tensor produced by the model (keys,
values), not a stored parameter, so it is not read from DRAM as weights.

A model is a ``transformer`` generator (HF-style config keys), the built-in ``resnet50``, or an
explicit ``ops`` list. ``count`` says how many inferences of the model make one frame.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from dse.spec.common import Knob, Node, load_yaml, resolve


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


# Output-length distributions of the decode trace (see dse.system.llm.output_lengths).
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
    generator: Transformer | ResNet50 | None
    ops: tuple[Op, ...]


@dataclass(frozen=True)
class WorkloadSpec:
    name: str
    source: str
    models: tuple[Model, ...]


def load_workload(path: str) -> WorkloadSpec:
    return parse_workload(load_yaml(path))


def parse_workload(root: Node) -> WorkloadSpec:
    top = root.mapping(("name", "models"), ("description",))
    name = top["name"].name(knob=False)
    models = tuple(_model(node) for node in top["models"].sequence(min_len=1))
    seen: set[str] = set()
    for node, model in zip(top["models"].sequence(), models):
        if model.name in seen:
            raise node.child("name", model.name).fail("a model name used only once")
        seen.add(model.name)
    spec = WorkloadSpec(name=name, source=root.source, models=models)
    for node, model in zip(top["models"].sequence(), resolve(spec, {}).models):
        kind = "transformer" if isinstance(model.generator, Transformer) else None
        if kind:
            _check_transformer(node.child(kind, None), model.generator)
    return spec


def _gpt(layers: int, hidden: int, heads: int, vocab: int = 50257) -> dict:
    return dict(num_hidden_layers=layers, hidden_size=hidden, num_attention_heads=heads,
                intermediate_size=4 * hidden, vocab_size=vocab, architecture="gpt")


_TRANSFORMER_PRESETS = {
    # HF config.json of openai-community/gpt2 (n_layer 12, n_embd 768, n_head 12, n_inner 4*768).
    "gpt2": _gpt(12, 768, 12),
    # openai-community/gpt2-xl (1.5B): n_layer 48, n_embd 1600, n_head 25.
    "gpt2-xl": _gpt(48, 1600, 25),
    # GPT-3 family (Brown et al. 2020, Table 2.1: n_layers, d_model, n_heads; d_ff = 4 d_model).
    "gpt3-1.3b": _gpt(24, 2048, 16),
    "gpt3-6.7b": _gpt(32, 4096, 32),
    # GPT-3 13B lists d_model 5140 with 40 heads (not divisible); OPT-13B's 5120 is used instead.
    "gpt3-13b": _gpt(40, 5120, 40),
    # "GPT-3 66B" as PAPI uses it: OPT-66B's shape (64 layers, 9216, 72 heads).
    "gpt3-66b": _gpt(64, 9216, 72),
    "gpt3-175b": _gpt(96, 12288, 96),
    # HF config.json of huggyllama/llama-65b and meta-llama/Llama-2-70b-hf.
    "llama-65b": dict(num_hidden_layers=80, hidden_size=8192, num_attention_heads=64,
                      num_key_value_heads=64, intermediate_size=22016, vocab_size=32000,
                      architecture="llama"),
    "llama2-70b": dict(num_hidden_layers=80, hidden_size=8192, num_attention_heads=64,
                       num_key_value_heads=8, intermediate_size=28672, vocab_size=32000,
                       architecture="llama"),
}


def _model(node: Node) -> Model:
    f = node.mapping(("name",), ("count", "transformer", "resnet50", "ops"))
    kinds = [k for k in ("transformer", "resnet50", "ops") if k in f]
    if len(kinds) != 1:
        raise node.fail("exactly one of transformer, resnet50 or ops", kinds or None)
    name = f["name"].name(knob=False)
    count = f["count"].number(integer=True) if "count" in f else 1
    if "transformer" in f:
        return Model(name, count, _transformer(f["transformer"]), ())
    if "resnet50" in f:
        g = f["resnet50"].mapping((), ("batch", "image_size", "precision_bits"))
        return Model(name, count, ResNet50(
            batch=g["batch"].number(integer=True) if "batch" in g else 1,
            image_size=g["image_size"].number(integer=True) if "image_size" in g else 224,
            precision_bits=_precision(g["precision_bits"]) if "precision_bits" in g else 8,
        ), ())
    ops = tuple(_op(item) for item in f["ops"].sequence(min_len=1))
    return Model(name, count, None, ops)


_TRANSFORMER_KEYS = ("num_hidden_layers", "hidden_size", "num_attention_heads", "intermediate_size",
                     "vocab_size")


def _transformer(node: Node) -> Transformer:
    f = node.mapping(("seq_len",), _TRANSFORMER_KEYS + (
        "preset", "batch", "precision_bits", "architecture", "num_key_value_heads", "layer_variant",
        "decode"))
    values: dict = {}
    if "preset" in f:
        values.update(_TRANSFORMER_PRESETS[f["preset"].name(tuple(_TRANSFORMER_PRESETS), knob=False)])
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
    missing = [k for k in _TRANSFORMER_KEYS if k not in values]
    if missing:
        raise node.child(missing[0], None).fail(
            f"a value (missing field; or give a preset, one of {list(_TRANSFORMER_PRESETS)})")
    return Transformer(**values)


def _decode(node: Node) -> Decode:
    f = node.mapping((), ("output_tokens", "tlp", "include_prefill", "seed"))
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


_OP_INT_FIELDS = ("N", "K", "C", "Y", "X", "R", "S", "stride")


def _op(node: Node) -> Op:
    f = node.mapping(("name",), _OP_INT_FIELDS + ("precision_bits", "weights"))
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


# --- generators -------------------------------------------------------------------------------

def token_grid(tokens: int) -> tuple[int, int]:
    """Lay ``tokens`` out as Y x X with Y*X == tokens, as square as possible (Y >= X).

    Matches how the SCAR/MAESTRO studies express GPT-2 layers as 1x1 convs (1024 tokens = 32x32),
    so that output-stationary arrays see a 2-D output plane, not a 1 x M strip."""
    x = int(math.isqrt(tokens))
    while tokens % x:
        x -= 1
    return tokens // x, x


def model_ops(model: Model) -> tuple[Op, ...]:
    """The op chain of a resolved model (no knobs left)."""
    gen = model.generator
    if isinstance(gen, Transformer):
        return transformer_ops(gen)
    if isinstance(gen, ResNet50):
        return resnet50_ops(gen)
    return model.ops


def transformer_ops(t: Transformer) -> tuple[Op, ...]:
    """Prefill of a decoder stack as einsum ops (chiplet evaluator). Per layer: QKV projection
    (K = h + 2 * kv_heads * d_head, so grouped-query attention shrinks it), Q.K^T and P.V per head
    (weights are activations), output projection, FFN up (gate and up together for SwiGLU: K = 2 *
    intermediate) and down; then the LM head for the last token. Element-wise ops (norms, softmax,
    GELU/SiLU, residual adds) are fused into their producers and not costed; causal masking is
    not exploited (full Q.K^T, as HF computes it)."""
    h, heads, ffn = t.hidden_size, t.num_attention_heads, t.intermediate_size
    d_head = h // heads
    qkv_k = h + 2 * t.kv_heads * d_head
    up_k = 2 * ffn if t.architecture == "llama" else ffn
    y, x = token_grid(t.seq_len)
    p, b = t.precision_bits, t.batch
    ops: list[Op] = []
    for layer in range(t.num_hidden_layers):
        pre = f"l{layer}."
        ops += [
            Op(pre + "qkv", N=b, K=qkv_k, C=h, Y=y, X=x, precision_bits=p),
            Op(pre + "attn_qk", N=b * heads, K=t.seq_len, C=d_head, Y=y, X=x, precision_bits=p,
               weights_static=False),
            Op(pre + "attn_av", N=b * heads, K=d_head, C=t.seq_len, Y=y, X=x, precision_bits=p,
               weights_static=False),
            Op(pre + "proj", N=b, K=h, C=h, Y=y, X=x, precision_bits=p),
            Op(pre + "ffn_up", N=b, K=up_k, C=h, Y=y, X=x, precision_bits=p),
            Op(pre + "ffn_down", N=b, K=h, C=ffn, Y=y, X=x, precision_bits=p),
        ]
    ops.append(Op("lm_head", N=b, K=t.vocab_size, C=h, precision_bits=p))
    return tuple(ops)


def resnet50_ops(r: ResNet50) -> tuple[Op, ...]:
    """torchvision ResNet-50 (v1.5: stride on the 3x3 conv): conv1 7x7/2, max-pool, four stages of
    bottlenecks [3, 4, 6, 3] with widths [64, 128, 256, 512] (x4 expansion), the 1x1 downsample
    conv on each stage's first block (placed after that block's three convs), and the FC layer.
    Pooling and element-wise ops are not costed; padding is not modelled (an op's input extent is
    (Y - 1) * stride + R)."""
    b, p = r.batch, r.precision_bits
    size = -(-r.image_size // 2)          # conv1, stride 2, padding 3
    ops = [Op("conv1", N=b, K=64, C=3, Y=size, X=size, R=7, S=7, stride=2, precision_bits=p)]
    size = -(-size // 2)                  # max-pool 3x3 / 2
    channels = 64
    for stage, (blocks, width) in enumerate(zip((3, 4, 6, 3), (64, 128, 256, 512))):
        for block in range(blocks):
            stride = 2 if block == 0 and stage > 0 else 1
            out = -(-size // stride)
            pre = f"s{stage + 1}b{block}."
            ops += [
                Op(pre + "conv_a", N=b, K=width, C=channels, Y=size, X=size, precision_bits=p),
                Op(pre + "conv_b", N=b, K=width, C=width, Y=out, X=out, R=3, S=3, stride=stride,
                   precision_bits=p),
                Op(pre + "conv_c", N=b, K=4 * width, C=width, Y=out, X=out, precision_bits=p),
            ]
            if block == 0:
                ops.append(Op(pre + "downsample", N=b, K=4 * width, C=channels, Y=out, X=out,
                              stride=stride, precision_bits=p))
            channels, size = 4 * width, out
    ops.append(Op("fc", N=b, K=1000, C=2048, precision_bits=p))
    return tuple(ops)
