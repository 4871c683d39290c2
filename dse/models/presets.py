"""Transformer presets: HF-style config keys of public models (plain dicts, no dse imports)."""

from __future__ import annotations


def _gpt(layers: int, hidden: int, heads: int, vocab: int = 50257) -> dict:
    return dict(num_hidden_layers=layers, hidden_size=hidden, num_attention_heads=heads,
                intermediate_size=4 * hidden, vocab_size=vocab, architecture="gpt")


TRANSFORMER_PRESETS: dict[str, dict] = {
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
    # AlpaServe's BERT models (alpa-projects/mms, benchmarks/alpa/bert_model.py: hidden, layers,
    # heads, vocab 51200; FFN 4 x hidden), the models of its experiments.
    "bert-1.3b": _gpt(24, 2048, 32, 51200),
    "bert-2.6b": _gpt(32, 2560, 32, 51200),
    "bert-6.7b": _gpt(32, 4096, 32, 51200),
    # HF config.json of meta-llama/Llama-2-7b-hf and Llama-2-13b-hf.
    "llama2-7b": dict(num_hidden_layers=32, hidden_size=4096, num_attention_heads=32,
                      num_key_value_heads=32, intermediate_size=11008, vocab_size=32000,
                      architecture="llama"),
    "llama2-13b": dict(num_hidden_layers=40, hidden_size=5120, num_attention_heads=40,
                       num_key_value_heads=40, intermediate_size=13824, vocab_size=32000,
                       architecture="llama"),
    # HF config.json of huggyllama/llama-65b and meta-llama/Llama-2-70b-hf.
    "llama-65b": dict(num_hidden_layers=80, hidden_size=8192, num_attention_heads=64,
                      num_key_value_heads=64, intermediate_size=22016, vocab_size=32000,
                      architecture="llama"),
    "llama2-70b": dict(num_hidden_layers=80, hidden_size=8192, num_attention_heads=64,
                       num_key_value_heads=8, intermediate_size=28672, vocab_size=32000,
                       architecture="llama"),
}
