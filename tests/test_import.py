"""Model import: Hugging Face config.json (transformer.hf_config) and ONNX graphs (models[].onnx)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from dse.errors import DseError
from dse.models.hf_config import transformer_keys
from dse.models.operators import parameter_count
from dse.spec.workload import Transformer

ROOT = Path(__file__).resolve().parents[1]

# meta-llama/Llama-2-7b-hf's config.json (the keys dse reads).
LLAMA2_7B = {"model_type": "llama", "hidden_size": 4096, "intermediate_size": 11008, "num_attention_heads": 32,
             "num_hidden_layers": 32, "num_key_value_heads": 32, "vocab_size": 32000, "tie_word_embeddings": False}
# openai-community/gpt2's config.json.
GPT2 = {"model_type": "gpt2", "n_embd": 768, "n_head": 12, "n_layer": 12, "n_inner": None, "vocab_size": 50257,
        "n_positions": 1024}


def keys_of(tmp_path, cfg) -> dict:
    f = tmp_path / "config.json"
    f.write_text(json.dumps(cfg))
    return transformer_keys(f, "w.yaml", "models[0].transformer.hf_config")


def count(keys) -> int:
    return parameter_count(Transformer(seq_len=1, **keys))


def test_llama2_7b_parameters_match_the_published_count(tmp_path):
    # Llama-2-7B has 6,738,415,616 parameters (HF num_parameters()). dse counts the matrices and
    # the untied embedding, not the RMSNorm weights: 32 layers x 2 norms x 4096 + the final 4096
    # = 266,240. By hand: per layer QKV 4096 x 12288 + proj 4096^2 + gate/up 4096 x 22016 + down
    # 11008 x 4096 = 202,375,168; x 32 = 6,476,005,376; + LM head and embedding 2 x 131,072,000.
    keys = keys_of(tmp_path, LLAMA2_7B)
    assert keys["architecture"] == "llama" and keys["tie_word_embeddings"] is False
    assert count(keys) == 6_738_415_616 - 266_240 == 6_476_005_376 + 2 * 131_072_000


def test_tinyllama_gqa_config_shipped_with_dse():
    # workloads/tinyllama_config.json: 22 layers, hidden 2048, 32 heads, 4 KV heads (head 64, so
    # K and V are 256 wide), FFN 5632, vocab 32000, untied. By hand: per layer QKV 2048 x (2048 +
    # 2 x 256) = 5,242,880, proj 4,194,304, gate/up 2048 x 11264 = 23,068,672, down 11,534,336:
    # 44,040,192 x 22 = 968,884,224; + LM head + embedding 2 x 65,536,000 = 1,099,956,224 (the
    # published 1,100,048,384 less 22 x 2 x 2048 + 2048 = 92,160 norm weights).
    keys = transformer_keys(ROOT / "workloads/tinyllama_config.json", "w.yaml", "hf_config")
    assert keys["num_key_value_heads"] == 4
    assert count(keys) == 1_099_956_224 == 1_100_048_384 - 92_160


def test_gpt2_ties_its_embedding(tmp_path):
    # GPT-2 (124,439,808 parameters) in dse: 12 x (768 x 2304 + 768^2 + 768 x 3072 + 3072 x 768)
    # = 84,934,656 + the tied LM head 768 x 50257 = 38,597,376 -> 123,532,032; the rest is the
    # position embedding 1024 x 768 = 786,432 and biases and LayerNorms 121,344.
    keys = keys_of(tmp_path, GPT2)
    assert keys["architecture"] == "gpt" and keys["intermediate_size"] == 3072 and keys["tie_word_embeddings"]
    assert count(keys) == 123_532_032 == 124_439_808 - 786_432 - 121_344
    # untied: one more vocab x hidden table
    assert count(keys_of(tmp_path, {**GPT2, "tie_word_embeddings": False})) == 123_532_032 + 38_597_376


@pytest.mark.parametrize("cfg, field, expected", [
    ({**LLAMA2_7B, "model_type": "mixtral", "num_local_experts": 8}, "num_local_experts", "dense model"),
    ({**LLAMA2_7B, "model_type": "t5"}, "model_type", "one of"),
    ({**LLAMA2_7B, "head_dim": 256}, "head_dim", "separate head width"),
    ({**LLAMA2_7B, "num_key_value_heads": 5}, "num_key_value_heads", "divisor"),
    ({k: v for k, v in LLAMA2_7B.items() if k != "vocab_size"}, "vocab_size", "missing key"),
    ({**LLAMA2_7B, "hidden_size": "4096"}, "hidden_size", "positive integer"),
    ({**LLAMA2_7B, "is_encoder_decoder": True}, "is_encoder_decoder", "decoder-only"),
])
def test_unsupported_configs_are_one_line_errors(tmp_path, cfg, field, expected):
    with pytest.raises(DseError) as err:
        keys_of(tmp_path, cfg)
    text = str(err.value)
    assert text.startswith("w.yaml: models[0].transformer.hf_config (config.json): " + field) and expected in text
    assert "\n" not in text


def test_malformed_and_missing_config_files(tmp_path):
    bad = tmp_path / "config.json"
    bad.write_text("{ not json")
    with pytest.raises(DseError, match="well-formed JSON"):
        transformer_keys(bad, "w.yaml", "hf_config")
    with pytest.raises(DseError, match="readable Hugging Face config.json"):
        transformer_keys(tmp_path / "nope.json", "w.yaml", "hf_config")
    bad.write_text("[1, 2]")
    with pytest.raises(DseError, match="JSON object"):
        transformer_keys(bad, "w.yaml", "hf_config")


# --- ONNX -----------------------------------------------------------------------------------------

onnx = pytest.importorskip("onnx")   # in the test extra; the import is an optional extra for users


def test_shipped_tiny_cnn_is_what_the_tests_build():
    from tests.onnx_models import tiny_cnn

    assert (ROOT / "workloads/tiny_cnn.onnx").read_bytes() == tiny_cnn().SerializeToString()


def test_tiny_cnn_ops_macs_and_weights_by_hand():
    # tests/onnx_models.py: x[2, 3, 16, 16] (batch 2 from the YAML) -> conv 3->8 3x3 pad 1 (16x16 out)
    # -> conv 8->16 3x3 stride 2 pad 1 (8x8 out) -> pool -> gemm 16->10. MACs by hand:
    #   conv1 2 x 8 x 3 x 16 x 16 x 9 = 110,592; conv2 2 x 16 x 8 x 8 x 8 x 9 = 147,456; fc 2 x 10 x 16 = 320
    # Weights (the initializers' sizes, counted independently below): 216 + 1152 + 160 = 1528.
    from dse.spec.workload import load_workload

    spec = load_workload(str(ROOT / "workloads/tiny_cnn.yaml"))
    ops = spec.models[0].ops
    assert [op.name for op in ops] == ["conv1", "conv2", "fc"]
    assert [op.macs for op in ops] == [110_592, 147_456, 320]
    assert (ops[1].stride, ops[1].Y, ops[1].R) == (2, 8, 3)
    assert [(op.N, op.K, op.C) for op in ops] == [(2, 8, 3), (2, 16, 8), (2, 10, 16)]   # K out, C in channels
    model = onnx.load(str(ROOT / "workloads/tiny_cnn.onnx"))
    weights = {t.name: int(np.prod(t.dims)) for t in model.graph.initializer if len(t.dims) > 1}
    assert sum(op.K * op.C * op.R * op.S for op in ops if op.weights_static) == sum(weights.values()) == 1528
    assert all(op.precision_bits == 8 for op in ops)         # the YAML's precision_bits


def test_attention_matmuls_have_activation_weights(tmp_path):
    # tests/onnx_models.py tiny_attention: x[1, 64, 32] x W_q[32, 32] -> 64 tokens on an 8 x 8 plane;
    # scores [1, 4, 64, 8] x [1, 4, 8, 64]: N = 4 heads, K = 64, C = 8 (4 x 64 x 64 x 8 = 131,072
    # MACs), activation weights; context likewise with K = 8, C = 64.
    from dse.models.onnx_import import import_onnx
    from tests.onnx_models import tiny_attention

    f = tmp_path / "att.onnx"
    onnx.save(tiny_attention(), str(f))
    ops = import_onnx(f, "w.yaml", "models[0].onnx.file", 1, None)
    assert [(o.name, o.N, o.K, o.C, o.Y, o.X, o.weights_static) for o in ops] == [
        ("q_proj", 1, 32, 32, 8, 8, True), ("scores", 4, 64, 8, 8, 8, False), ("context", 4, 8, 64, 8, 8, False)]
    assert [o.macs for o in ops] == [65_536, 131_072, 131_072]
    assert ops[0].precision_bits == 32                      # float32 weights


def test_onnx_errors_are_one_line(tmp_path):
    from onnx import helper

    from dse.models.onnx_import import import_onnx
    from tests.onnx_models import tiny_cnn

    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"\x00\x01 not a model")
    with pytest.raises(DseError, match="an ONNX model file|shape inference"):
        import_onnx(junk, "w.yaml", "models[0].onnx.file", 1, None)
    with pytest.raises(DseError, match="readable ONNX file"):
        import_onnx(tmp_path / "missing.onnx", "w.yaml", "models[0].onnx.file", 1, None)
    grouped = tiny_cnn()
    grouped.graph.node[2].attribute.append(helper.make_attribute("group", 2))
    grouped.graph.initializer[2].CopyFrom(onnx.numpy_helper.from_array(np.zeros((16, 4, 3, 3), np.float32), "w2"))
    f = tmp_path / "grouped.onnx"
    onnx.save(grouped, str(f))
    with pytest.raises(DseError) as err:
        import_onnx(f, "w.yaml", "models[0].onnx.file", 1, None)
    assert "node 'conv2'" in str(err.value) and "grouped" in str(err.value)


def test_chiplet_evaluate_of_an_imported_cnn_through_the_cli():
    run = subprocess.run([sys.executable, "-m", "dse.cli", "evaluate", str(ROOT / "workloads/tiny_cnn.yaml"),
                          str(ROOT / "hardware/mcm4_hetero.yaml"), "--json"], capture_output=True, text=True, cwd=ROOT)
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout)
    assert out["throughput_per_s"] > 0 and out["feasible"] is True


def test_gemm_trans_a_and_a_batched_matmul_initializer_by_hand(tmp_path):
    """Gemm with transA = 1: A is stored [C, N] = [16, 3], so N = 3 rows, C = 16, and B [16, 10]
    (transB = 0) gives K = 10: 480 MACs, static weights. A MatMul whose B is a batched (3-D)
    initializer [2, 16, 8] on x [2, 5, 16]: N = 2, K = 8, C = 16 over 5 tokens, 1,280 MACs; a
    per-batch B is not a static weight matrix (dse counts static weights once per op)."""
    from onnx import TensorProto, helper

    from dse.models.onnx_import import import_onnx
    from tests.onnx_models import _init

    graph = helper.make_graph(
        [helper.make_node("Gemm", ["a", "w"], ["y"], name="fc_ta", transA=1),
         helper.make_node("MatMul", ["x", "wb"], ["z"], name="batched")],
        "g",
        [helper.make_tensor_value_info("a", TensorProto.FLOAT, [16, 3]),
         helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 5, 16])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None),
         helper.make_tensor_value_info("z", TensorProto.FLOAT, None)],
        [_init("w", [16, 10], 1), _init("wb", [2, 16, 8], 2)])
    f = tmp_path / "t.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(f))
    ops = import_onnx(f, "w.yaml", "models[0].onnx.file", 1, None)
    assert [(o.name, o.N, o.K, o.C, o.weights_static) for o in ops] == [
        ("fc_ta", 3, 10, 16, True), ("batched", 2, 8, 16, False)]
    assert [o.macs for o in ops] == [480, 1280]


def test_gpt2_n_inner_sets_the_mlp_width(tmp_path):
    # GPT-2 with n_inner 2048 instead of 4 x 768: each of the 12 layers loses 2 x 768 x 1024 MLP
    # weights from test_gpt2_ties_its_embedding's 123,532,032.
    keys = keys_of(tmp_path, {**GPT2, "n_inner": 2048})
    assert keys["intermediate_size"] == 2048
    assert count(keys) == 123_532_032 - 12 * 2 * 768 * 1024
