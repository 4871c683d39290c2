"""The one model decomposition (dse.models): parameter and MAC counts against public figures, the
two views (einsum for chiplets, linear for GPUs/PIM), training quantities. Parameter counts are
tested here and nowhere else."""

from __future__ import annotations

import pytest

from dse.models.operators import (ATTENTION, GEMM, activation_bytes_per_token_per_layer, parameter_count,
                                  resnet50_operators, transformer_operators)
from dse.models.presets import TRANSFORMER_PRESETS
from dse.models.views import ATTN, einsum_ops, linear_ops
from dse.spec.workload import Model, ResNet50, Transformer


def preset(name: str, **kw) -> Transformer:
    return Transformer(**{**TRANSFORMER_PRESETS[name], "seq_len": kw.pop("seq_len", 16), **kw})


@pytest.mark.parametrize("name, params", [
    # LLaMA-65B: 80 x (8192 x 24576 + 8192^2 + 3 x 8192 x 22016) + 2 x 32000 x 8192 (embedding and
    # LM head, untied) = 65,284,341,760 (HF reports 65.3B including 1.3M norm weights, not held here).
    ("llama-65b", 65_284_341_760),
    # Llama-2-70B, GQA with 8 KV heads: 80 x (8192 x 10240 + 8192^2 + 3 x 8192 x 28672)
    # + 2 x 32000 x 8192 = 68,975,329,280 (HF: 68.98B).
    ("llama2-70b", 68_975_329_280),
    # GPT-3 175B: 96 x 12 x 12288^2 + 50257 x 12288 (tied) = 174,563,733,504.
    ("gpt3-175b", 174_563_733_504),
    # GPT-2 small (124M in HF, which adds 786,432 position embeddings and biases / norms):
    # 12 layers x 12 x 768^2 = 84,934,656 plus the tied LM head 50257 x 768 = 38,597,376.
    ("gpt2", 84_934_656 + 38_597_376),
])
def test_parameter_counts(name, params):
    assert parameter_count(preset(name)) == params


def test_resnet50_macs_and_weights():
    # torchvision ResNet-50 at 224x224: 4.09 GMACs (its model table's "4.09 GFLOPS" are MACs);
    # summed layer by layer: 4,089,184,256. 25.557M parameters, of which conv + FC weights are
    # 25,502,912 (the rest: batch-norm affine parameters and the FC bias).
    ops = resnet50_operators(ResNet50())
    assert len(ops) == 54          # 1 stem + 16 blocks x 3 convs + 4 downsample + 1 FC
    assert sum(op.einsum.macs for op in ops) == 4_089_184_256
    assert sum(op.weight_elems for op in ops) == 25_502_912


def test_einsum_view_of_gpt2():
    t = preset("gpt2", seq_len=1024)
    ops = einsum_ops(Model("gpt2", 1, t, ()))
    assert len(ops) == 12 * 6 + 1                  # qkv, qk, av, proj, up, down per layer; LM head
    assert sum(op.K * op.C for op in ops if op.weights_static) == parameter_count(t)
    # Attention per layer: Q.K^T and P.V, each heads x seq^2 x d_head = 12 x 1024^2 x 64 MACs.
    qk = next(op for op in ops if op.name == "l0.attn_qk")
    av = next(op for op in ops if op.name == "l0.attn_av")
    assert qk.macs == av.macs == 12 * 1024 * 1024 * 64 and not qk.weights_static
    assert (qk.K, qk.C, av.K, av.C) == (1024, 64, 64, 1024)
    # Tokens on a 32 x 32 plane; the LM head on the last token only.
    assert (ops[0].Y, ops[0].X) == (32, 32) and (ops[-1].Y, ops[-1].X, ops[-1].K) == (1, 1, 50257)
    # Prefill MACs = 12 x (1024 x 768 x (2304 + 768 + 2 x 3072) + 2 x 12 x 1024^2 x 64) + 768 x 50257.
    assert sum(op.macs for op in ops) == 12 * (1024 * 768 * (2304 + 768 + 6144) + 2 * 12 * 1024 ** 2 * 64) + 768 * 50257


def test_linear_view_fuses_attention_and_keeps_every_term():
    # Llama-2-70B, FP16, TP 8: h 8192, 64 heads of 128, 8 KV heads (kv = 1024), f 28672.
    t = preset("llama2-70b", precision_bits=16)
    ops = linear_ops(t, 8)
    a = ops.arrays
    assert ops.names == ("norm1", "qkv", "attn", "proj", "norm2", "ffn_up", "act", "ffn_down", "lm_head")
    i = ops.index("attn")
    assert a.cls[i] == ATTN
    assert a.flop_qc[i] == 4 * 8192                  # Q.K^T and P.V: 2 x 64 x 128 each
    assert a.byte_c[i] == 2 * 1024 * 2              # K and V of 8 KV heads, 2 bytes
    assert a.byte_t[i] == 2 * 8192 * 2              # Q in, context out
    # KV cache per token over all layers: 2 x 80 x 8 x 128 x 2 B = 327,680 B (320 KiB), the
    # commonly quoted Llama-2-70B figure.
    assert ops.kv_bytes_per_token == 327_680
    q = ops.index("qkv")
    assert a.flop_t[q] == 2 * 8192 * (8192 + 2 * 1024) and a.byte_w[q] == 8192 * 10240 * 2
    assert a.byte_t[q] == (8192 + 10240) * 2 and a.bcast_t[q] == 8192 * 2
    up = ops.index("ffn_up")
    assert a.flop_t[up] == 2 * 8192 * 2 * 28672      # SwiGLU: gate and up
    assert a.byte_t[ops.index("act")] == 3 * 28672 * 2
    assert ops.weight_bytes == 2 * 68_975_329_280
    assert a.reps.tolist() == [80] * 8 + [1]


def test_tensor_parallel_shares_follow_heads_kv_heads_and_features():
    t = preset("llama2-70b", precision_bits=16)
    a8 = linear_ops(t, 8).arrays
    ops = linear_ops(t, 16)
    a16 = ops.arrays
    # GQA: attention splits by KV heads; 8 KV heads on 16 GPUs are replicated (1 each): share 8.
    assert a8.gpu_div[ops.index("attn")] == 8 and a16.gpu_div[ops.index("attn")] == 8
    assert a16.gpu_div[ops.index("qkv")] == 16                  # 64 query heads / 16
    assert a16.gpu_div[ops.index("norm1")] == 1                 # norms are replicated
    # 64 heads on 6 GPUs: 11 on the busiest -> share 64 / 11; features 28672 -> ceil 4779.
    a6 = linear_ops(t, 6).arrays
    assert a6.gpu_div[ops.index("proj")] == pytest.approx(64 / 11)
    assert a6.gpu_div[ops.index("ffn_down")] == pytest.approx(28672 / 4779)
    assert a6.gpu_div[ops.index("lm_head")] == pytest.approx(32000 / 5334)


def test_training_flops_are_six_per_parameter_per_token():
    # Forward 2N, activation gradient 2N, weight gradient 2N FLOPs per token for the GEMMs
    # (Kaplan et al. 2020, C = 6N per token, attention aside).
    t = preset("gpt3-175b")
    ops = transformer_operators(t)
    gemm = [op for op in ops if op.kind == GEMM]
    total = sum((op.flops_per_token + op.bwd_act_flops_per_token + op.bwd_weight_flops_per_token) * op.repeat
                for op in gemm)
    assert total == 6 * parameter_count(t)
    attn = [op for op in ops if op.kind == ATTENTION]
    assert all(op.bwd_weight_flops_per_token == 0 for op in attn)
    assert all(op.bwd_act_flops_per_query_context == 2 * op.flops_per_query_context for op in attn)


def test_saved_activations_match_korthikanti():
    # Korthikanti et al. 2022: 34 h + 5 a s bytes per token per layer at 16-bit with dropout.
    # Zero Bubble's 1.5B model (REFERENCES.md): h 2304, a 24, s 1024 -> 78,336 + 122,880 = 201,216.
    t = Transformer(num_hidden_layers=22, hidden_size=2304, num_attention_heads=24, intermediate_size=4 * 2304,
                    vocab_size=50257, seq_len=1024, precision_bits=16)
    assert activation_bytes_per_token_per_layer(t) == 34 * 2304 + 5 * 24 * 1024 == 201_216
    # Without dropout the masks go: a s (scores) + h (proj) + h (FFN) bytes fewer.
    assert activation_bytes_per_token_per_layer(t, dropout=False) == 201_216 - 24 * 1024 - 2 * 2304


def test_one_layer_model_keeps_layer_and_head_apart():
    # With a single layer, repeat counts cannot tell layer ops from the LM head: the decomposition
    # flags them. Prefill runs every layer op on all tokens and only the LM head on the last one.
    t = Transformer(num_hidden_layers=1, hidden_size=64, num_attention_heads=4, intermediate_size=256,
                    vocab_size=100, seq_len=16, batch=2)
    a = linear_ops(t, 1).arrays
    assert a.reps.tolist() == [1] * 9 and a.last_only.tolist() == [0] * 8 + [1]
    names = [op.name for op in einsum_ops(Model("m", 1, t, ()))]
    assert names == ["l0.qkv", "l0.attn_qk", "l0.attn_av", "l0.proj", "l0.ffn_up", "l0.ffn_down", "lm_head"]
