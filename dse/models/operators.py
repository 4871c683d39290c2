"""The one operator decomposition of a model (forward, and what training needs for backward).

A model is a sequence of :class:`Operator` records at full width (before any sharding), each
repeated ``repeat`` times in a row (the layers of a decoder stack) or once (the LM head). Four
kinds cover every model dse reads:

``gemm``         activations x stored weights, ``in_features -> out_features`` per token
``attention``    activations x activations: the score matmul Q.K^T (``part = "scores"``) or the
                 context matmul P.V (``part = "context"``) of ``heads`` query heads reading
                 ``kv_heads`` key/value heads of ``head_dim``; the other operand grows with the context
``elementwise``  norms and activation functions: ``elems_per_token`` elements read + written
``conv``         an explicit einsum op (:class:`dse.spec.workload.Op`, ResNet-50 or a user's list),
                 fixed shape, no token dimension

Per-token quantities (elements; multiply by bytes per element):

    gemm       flops/token = 2 C K;   weights = C K;   act/token = C + K (in + out);   input/token = C
    attention  flops/(query x context token) = 2 heads d;   act/token = heads d (Q in, or context out)
               KV read per context token = kv_heads d (K for scores, V for context)
    elementwise  act/token = elems_per_token

Backward (training; B = activation gradient, W = weight gradient):

    gemm       B flops/token = 2 C K (dX = dY W^T);  W flops/token = 2 C K (dW = X^T dY)
    attention  B flops/(query x context) = 2 x forward (gradients of both operands); W = 0
    elementwise  no FLOPs counted (memory-bound)

Activations kept for the backward pass (``saved_elems_per_token`` at the model's precision plus
``mask_bytes_per_token`` of 1-byte dropout masks), per layer and token, follow Korthikanti et al.
(2022, "Reducing Activation Recomputation", Sec. 4.1), which gives 34 h + 5 a s bytes at 16-bit
with dropout (a heads, s sequence, h hidden):

    norm1      input h                                 (2h)
    qkv        input h                                 (2h)
    scores     Q and K: h + kv d;  softmax output a s;  dropout mask a s bytes   (4h + 2as + as)
    context    dropout output a s;  V: kv d            (2as + 2h)
    proj       input h;  dropout mask h bytes          (2h + h)
    norm2      input h                                 (2h)
    ffn_up     input h                                 (2h)
    act        input f (GELU) or 2 f (SwiGLU gate, up) (8h at f = 4h)
    ffn_down   input f;  dropout mask h bytes          (8h + h)

(summing to 34 h + 5 a s for multi-head attention, f = 4 h, 16-bit).
"""

from __future__ import annotations

from dataclasses import dataclass

from dse.spec.workload import Model, Op, ResNet50, Transformer

GEMM, ATTENTION, ELEMENTWISE, CONV = "gemm", "attention", "elementwise", "conv"


@dataclass(frozen=True)
class Operator:
    """One operator of a model at full width; see the module docstring for every formula."""

    name: str
    kind: str
    repeat: int = 1                  # consecutive copies (layers); 1 for once-per-model ops
    per_layer: bool = False          # part of the repeated decoder layer (else once per model)
    last_token_only: bool = False    # in a prefill, runs on one token per request (LM head)
    in_features: int = 0             # gemm C
    out_features: int = 0            # gemm K
    part: str = ""                   # attention: "scores" (Q.K^T) or "context" (P.V)
    heads: int = 0                   # attention: query heads
    kv_heads: int = 0                # attention: key/value heads (GQA: fewer than heads)
    head_dim: int = 0
    elems_per_token: int = 0         # elementwise: elements read + written per token
    shard_units: int = 1             # units tensor parallelism splits (heads, features, vocab)
    sharded: bool = True             # False: every tensor-parallel rank runs the whole op
    column_parallel: bool = False    # gemm split by outputs: its (saved) input is whole on every TP rank
    saved_elems_per_token: int = 0   # kept for backward (training), at the model's precision
    mask_bytes_per_token: int = 0    # dropout masks kept for backward, 1 byte per element
    einsum: Op | None = None         # conv: the explicit op

    # --- forward ---------------------------------------------------------------------------
    @property
    def weight_elems(self) -> int:
        if self.kind == GEMM:
            return self.in_features * self.out_features
        if self.kind == CONV and self.einsum.weights_static:
            e = self.einsum
            return e.K * e.C * e.R * e.S
        return 0

    @property
    def flops_per_token(self) -> float:
        return 2.0 * self.in_features * self.out_features if self.kind == GEMM else 0.0

    @property
    def flops_per_query_context(self) -> float:
        return 2.0 * self.heads * self.head_dim if self.kind == ATTENTION else 0.0

    @property
    def act_elems_per_token(self) -> int:
        if self.kind == GEMM:
            return self.in_features + self.out_features
        if self.kind == ATTENTION:
            return self.heads * self.head_dim
        return self.elems_per_token

    @property
    def input_elems_per_token(self) -> int:
        """The op's input per token: what every device of a column-parallel PIM pool receives."""
        return self.in_features if self.kind == GEMM else 0

    @property
    def kv_elems_per_context(self) -> int:
        return self.kv_heads * self.head_dim if self.kind == ATTENTION else 0

    # --- backward (training) -----------------------------------------------------------------
    @property
    def bwd_act_flops_per_token(self) -> float:
        return self.flops_per_token

    @property
    def bwd_act_flops_per_query_context(self) -> float:
        return 2.0 * self.flops_per_query_context

    @property
    def bwd_weight_flops_per_token(self) -> float:
        return self.flops_per_token


def transformer_operators(t: Transformer) -> tuple[Operator, ...]:
    """A decoder layer (repeated ``num_hidden_layers`` times) and the LM head.

    ``gpt``: LayerNorm, multi-head attention, GELU FFN (up f, down). ``llama``: RMSNorm, GQA with
    ``num_key_value_heads``, SwiGLU FFN (gate and up together: 2 f outputs; the activation reads
    gate and up and writes f). The QKV projection has h + 2 kv_heads d outputs. Residual adds are
    fused into the norms (a norm reads and writes h per token); softmax is fused into attention.
    Tensor parallelism splits QKV and proj by query heads, attention by KV heads (replicated when
    kv_heads < tp), the FFN and its activation by intermediate features, the LM head by vocab."""
    h, heads, f, L = t.hidden_size, t.num_attention_heads, t.intermediate_size, t.num_hidden_layers
    d = h // heads
    kvh = t.kv_heads
    kv = kvh * d
    llama = t.architecture == "llama"
    up = 2 * f if llama else f
    s = t.seq_len
    act_in = 2 * f if llama else f
    layer = dict(repeat=L, per_layer=True)
    return (
        Operator("norm1", ELEMENTWISE, **layer, elems_per_token=2 * h, sharded=False, saved_elems_per_token=h),
        Operator("qkv", GEMM, **layer, in_features=h, out_features=h + 2 * kv, shard_units=heads,
                 column_parallel=True, saved_elems_per_token=h),
        Operator("attn_qk", ATTENTION, **layer, part="scores", heads=heads, kv_heads=kvh, head_dim=d,
                 shard_units=kvh, saved_elems_per_token=h + kv + heads * s, mask_bytes_per_token=heads * s),
        Operator("attn_av", ATTENTION, **layer, part="context", heads=heads, kv_heads=kvh, head_dim=d,
                 shard_units=kvh, saved_elems_per_token=heads * s + kv),
        Operator("proj", GEMM, **layer, in_features=h, out_features=h, shard_units=heads,
                 saved_elems_per_token=h, mask_bytes_per_token=h),
        Operator("norm2", ELEMENTWISE, **layer, elems_per_token=2 * h, sharded=False, saved_elems_per_token=h),
        Operator("ffn_up", GEMM, **layer, in_features=h, out_features=up, shard_units=f, column_parallel=True,
                 saved_elems_per_token=h),
        Operator("act", ELEMENTWISE, **layer, elems_per_token=3 * f if llama else 2 * f, shard_units=f,
                 saved_elems_per_token=act_in),
        Operator("ffn_down", GEMM, **layer, in_features=f, out_features=h, shard_units=f,
                 saved_elems_per_token=f, mask_bytes_per_token=h),
        Operator("lm_head", GEMM, last_token_only=True, in_features=h, out_features=t.vocab_size,
                 shard_units=t.vocab_size),
    )


def tied_embeddings(t: Transformer) -> bool:
    """``tie_word_embeddings`` when given (a Hugging Face config's key), else GPT ties the token
    embedding to the LM head and LLaMA keeps a separate one."""
    if t.tie_word_embeddings is not None:
        return bool(t.tie_word_embeddings)
    return t.architecture != "llama"


def parameter_count(t: Transformer) -> int:
    """Weights held in device memory: every GEMM's C x K times its repeats, plus the token
    embedding (vocab x h) when it is not tied to the LM head. Norm weights and biases are not
    counted (about 1e-5 of the total)."""
    total = sum(op.weight_elems * op.repeat for op in transformer_operators(t))
    return total + (0 if tied_embeddings(t) else t.vocab_size * t.hidden_size)


def activation_bytes_per_token_per_layer(t: Transformer, dropout: bool = True) -> float:
    """Activations one layer keeps for its backward pass per token (Korthikanti et al. 2022):
    saved elements x bytes per element, plus 1-byte dropout masks when ``dropout``."""
    b = t.precision_bits / 8.0
    ops = [op for op in transformer_operators(t) if op.per_layer]
    return sum(op.saved_elems_per_token * b + (op.mask_bytes_per_token if dropout else 0) for op in ops)


def activation_bytes_per_token_per_layer_tp(t: Transformer, tp: int, dropout: bool = True,
                                            recompute: bool = False, flash: bool = False) -> float:
    """Activations one layer keeps per token on one tensor-parallel rank (Korthikanti et al. 2022,
    Sec. 4.2, no sequence parallelism): what every rank holds whole -- the norms' inputs, the inputs
    of the column-parallel gemms (QKV, FFN up) and the dropout masks after the row-parallel ones
    (projection, FFN down) -- plus the rest split over tp. For multi-head attention, f = 4h, 16-bit:

        s b h (10 + 24 / tp + 5 a s / (h tp))  bytes per layer (s b tokens)

    With full recomputation only the layer's input is kept: 2 h bytes per token at 16-bit (h b).
    With FlashAttention (``flash``) the score-sized tensors (softmax output, its dropout mask and
    output: the 5 a s term) are not kept: s b h (10 + 24 / tp) bytes."""
    b = t.precision_bits / 8.0
    if recompute:
        return t.hidden_size * b
    whole = split = 0.0
    for op in transformer_operators(t):
        if not op.per_layer:
            continue
        saved = op.saved_elems_per_token * b
        mask = op.mask_bytes_per_token if dropout else 0
        if flash and op.kind == ATTENTION:               # the heads x s score tensors are recomputed
            saved -= op.heads * t.seq_len * b
            mask = 0
        if not op.sharded or op.column_parallel:
            whole += saved
        else:
            split += saved
        if op.kind == GEMM:
            whole += mask
        else:
            split += mask
    return whole + split / tp


def resnet50_operators(r: ResNet50) -> tuple[Operator, ...]:
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
    return tuple(conv(op) for op in ops)


def conv(op: Op) -> Operator:
    """An explicit einsum op as an operator record."""
    return Operator(op.name, CONV, einsum=op)


def model_operators(model: Model) -> tuple[Operator, ...]:
    """The decomposition of a resolved model (no knobs left)."""
    gen = model.generator
    if isinstance(gen, Transformer):
        return transformer_operators(gen)
    if isinstance(gen, ResNet50):
        return resnet50_operators(gen)
    return tuple(conv(op) for op in model.ops)
