"""Read a Hugging Face ``config.json`` into dse's transformer keys (``transformer: {hf_config: FILE}``).

Supported ``model_type`` values and how their keys map (every other key is ignored):

- ``llama``, ``mistral``, ``qwen2`` -> architecture ``llama`` (RMSNorm, SwiGLU FFN, grouped-query
  attention): ``num_hidden_layers``, ``hidden_size``, ``num_attention_heads``,
  ``num_key_value_heads`` (default: ``num_attention_heads``), ``intermediate_size``, ``vocab_size``,
  ``tie_word_embeddings`` (default false).
- ``gpt2`` -> ``gpt``: ``n_layer``, ``n_embd``, ``n_head``, ``n_inner`` (default 4 ``n_embd``),
  ``vocab_size``; embeddings tied unless ``tie_word_embeddings`` is false.
- ``gpt_neox`` -> ``gpt`` (attention and a 2-matrix GELU FFN; the parallel residual does not
  change the op table): the llama-style names, ``tie_word_embeddings`` default false.
- ``opt`` -> ``gpt``: ``ffn_dim`` is the FFN width; embeddings tied unless said otherwise.

Refused, with the reason: mixture-of-experts configs (``num_local_experts``, ``num_experts``),
a ``head_dim`` that does not equal ``hidden_size / num_attention_heads``, encoder-decoder models and
any other ``model_type``. Mistral's sliding-window attention is read as full attention (the
attention ops then cover the whole context; exact up to the window length).
"""

from __future__ import annotations

import json
from pathlib import Path

from dse.errors import DseError

LLAMA_STYLE = ("llama", "mistral", "qwen2")
SUPPORTED = LLAMA_STYLE + ("gpt2", "gpt_neox", "opt")
MAX_CONFIG_BYTES = 1 << 20


def read_config(path: Path, source: str, field: str) -> dict:
    """The JSON object in ``path``; errors name the workload file (``source``) and ``field``."""
    from dse.spec.files import FileProblem, read_limited

    try:
        data = json.loads(read_limited(path, MAX_CONFIG_BYTES).decode("utf-8"))
    except FileProblem as exc:
        raise DseError(source, field, "a readable Hugging Face config.json of at most 1 MiB", f"{path}: {exc}") from None
    except UnicodeDecodeError:
        raise DseError(source, field, "a UTF-8 JSON file", f"{path} is not UTF-8") from None
    except json.JSONDecodeError as exc:
        raise DseError(source, field, "well-formed JSON", f"{path}: {exc.msg} at line {exc.lineno}") from None
    if not isinstance(data, dict):
        raise DseError(source, field, "a JSON object (a Hugging Face config.json)", f"{path}: {type(data).__name__}")
    return data


def transformer_keys(path: Path, source: str, field: str) -> dict:
    """dse transformer keys (num_hidden_layers, hidden_size, num_attention_heads, intermediate_size,
    vocab_size, architecture, num_key_value_heads, tie_word_embeddings) from a config.json."""
    cfg = read_config(path, source, field)
    where = f"{field} ({path.name})"

    def need(*names: str) -> int:
        for name in names:
            if name in cfg:
                value = cfg[name]
                if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                    raise DseError(source, f"{where}: {name}", "a positive integer", value)
                return value
        raise DseError(source, f"{where}: {names[0]}", "a value (missing key in config.json)")

    kind = cfg.get("model_type")
    if not isinstance(kind, str):
        raise DseError(source, f"{where}: model_type", f"one of {list(SUPPORTED)}", kind)
    if cfg.get("is_encoder_decoder"):
        raise DseError(source, f"{where}: is_encoder_decoder", "a decoder-only model (dse models decoder stacks)",
                       True)
    for moe in ("num_local_experts", "num_experts", "n_routed_experts"):
        if cfg.get(moe):
            raise DseError(source, f"{where}: {moe}", "a dense model (mixture-of-experts layers are not modelled)",
                           cfg[moe])
    if kind not in SUPPORTED:
        raise DseError(source, f"{where}: model_type", f"one of {list(SUPPORTED)} (other architectures are not "
                       "modelled)", kind)
    tie = cfg.get("tie_word_embeddings", kind in ("gpt2", "opt"))
    if not isinstance(tie, bool):
        raise DseError(source, f"{where}: tie_word_embeddings", "true or false", tie)
    if kind == "gpt2":
        hidden = need("n_embd", "hidden_size")
        keys = dict(num_hidden_layers=need("n_layer", "num_hidden_layers"), hidden_size=hidden,
                    num_attention_heads=need("n_head", "num_attention_heads"),
                    intermediate_size=need("n_inner") if cfg.get("n_inner") is not None else 4 * hidden,
                    vocab_size=need("vocab_size"), architecture="gpt")
    else:
        keys = dict(num_hidden_layers=need("num_hidden_layers"), hidden_size=need("hidden_size"),
                    num_attention_heads=need("num_attention_heads"),
                    intermediate_size=need("ffn_dim") if kind == "opt" else need("intermediate_size"),
                    vocab_size=need("vocab_size"), architecture="llama" if kind in LLAMA_STYLE else "gpt")
        if kind in LLAMA_STYLE:
            kv = need("num_key_value_heads") if cfg.get("num_key_value_heads") is not None else keys[
                "num_attention_heads"]
            keys["num_key_value_heads"] = kv
    heads, hidden = keys["num_attention_heads"], keys["hidden_size"]
    if hidden % heads:
        raise DseError(source, f"{where}: num_attention_heads", f"a divisor of hidden_size ({hidden})", heads)
    head_dim = cfg.get("head_dim")
    if head_dim is not None and head_dim != hidden // heads:
        raise DseError(source, f"{where}: head_dim", f"hidden_size / num_attention_heads = {hidden // heads} "
                       "(a separate head width is not modelled)", head_dim)
    kv = keys.get("num_key_value_heads")
    if kv is not None and heads % kv:
        raise DseError(source, f"{where}: num_key_value_heads", f"a divisor of num_attention_heads ({heads})", kv)
    if kind == "opt" and cfg.get("word_embed_proj_dim", hidden) != hidden:
        raise DseError(source, f"{where}: word_embed_proj_dim", f"hidden_size ({hidden}); a projected embedding "
                       "is not modelled", cfg["word_embed_proj_dim"])
    keys["tie_word_embeddings"] = tie
    return keys
