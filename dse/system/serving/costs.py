"""Per-stage latency and per-GPU memory of one request of a model under one parallel configuration
(pp pipeline stages x tp tensor degree), from the shared GPU step cost (dse.system.gpu.kernels.
step_cost: the calibrated roofline on the shared decomposition, TP all-reduces and the LM head's
all-gather included, the GPU's per-step overhead once per step) and the shared memory model
(dse.system.gpu.memory). No batching: a request runs alone on its stage.

A request is the prefill of its ``prompt`` tokens (an encoder's one forward; it yields the first
output token), then ``output_tokens - 1`` decode steps, step j (1-based) reading a context of
prompt + j tokens. Per step, with the whole-model step time split into the decoder layers' part
(``body``: their ops and all-reduces) and the LM head's (``head``: its gemm and logit all-gather):

    stage_k += body x layers_k / layers  +  [k = last] head  +  [k < last] send(h b x step tokens)

where the layers are split as evenly as possible, the first ``layers mod pp`` stages one more
(dse.system.gpu.parallel.layers_per_stage).
Under pipelining a request walks the stages with all its tokens (the request-level model of
AlpaServe): exact for a request alone; with several requests in flight it assumes their token steps
interleave perfectly in the pipeline, as pipeline-parallel decoding with several sequences does.

Memory per GPU of stage k (dse.system.gpu.memory.device_parameters): its layers' weights / tp and,
for a decoder, one request's KV cache (prompt + output tokens) for its layers / tp (an encoder's
one forward keeps none), the token embedding on the first stage and the LM head on the last (one
copy when pp = 1 and they are tied). The configuration's figure is the largest stage's.
"""

from __future__ import annotations

from functools import lru_cache

from dse.jit import nb
import numpy as np

from dse.cost.collectives import all_gather, send_recv
from dse.models.operators import tied_embeddings
from dse.models.views import ATTN, linear_ops
from dse.spec.workload import Transformer
from dse.system.gpu.devices import blank_device_table, fill_gpu_row, gpu_system
from dse.system.gpu.kernels import GPU, N_OCOLS, O_TIME, Step, step_cost
from dse.system.gpu.memory import device_parameters
from dse.system.gpu.parallel import layers_per_stage


@nb.njit(cache=True)
def request_stage_times(ops, system, prompt, output_tokens, layers, send_bytes_per_s, send_latency_s, out):
    """Adds the per-stage seconds of one request to ``out`` [pp] (see the module docstring):
    one prefill step of ``prompt`` tokens and ``output_tokens - 1`` decode steps; ``layers`` [pp]
    decoder layers per stage; sends over the given link. ``system.pp`` must be 1 (this kernel adds
    the stage-to-stage sends itself)."""
    pp = layers.shape[0]
    total_layers = 0.0
    for k in range(pp):
        total_layers += layers[k]
    op_out = np.empty((ops.cls.shape[0], N_OCOLS))
    steps = output_tokens if output_tokens > 1 else 1
    for j in range(steps):
        if j == 0:
            step = Step(float(prompt), 1.0, float(prompt), float(prompt), GPU, GPU, GPU)
        else:
            step = Step(1.0, 1.0, 1.0, float(prompt + j), GPU, GPU, GPU)
        total, _, _ = step_cost(step, ops, system, op_out)
        head = 0.0
        for i in range(ops.cls.shape[0]):
            if ops.last_only[i] == 1:
                head += op_out[i, O_TIME]
        if system.tp > 1:
            ag, _ = all_gather(system.logit_bytes_per_token * step.head_tokens, system.tp,
                               system.link_bytes_per_s, system.link_latency_s)
            head += ag
        body = total - head
        for k in range(pp):
            out[k] += body * layers[k] / total_layers
        out[pp - 1] += head
        if pp > 1:
            send, _ = send_recv(system.act_bytes_per_token * step.tokens, send_bytes_per_s, send_latency_s)
            for k in range(pp - 1):
                out[k] += send
    return out


@lru_cache(maxsize=1024)
def model_config(t: Transformer, output_tokens: int, gpu, pp: int, tp: int, tp_link, send_link
                 ) -> tuple[np.ndarray, float]:
    """(stage latencies [pp] in seconds, bytes per GPU of the largest stage) of one request of ``t``
    on pp x tp GPUs; TP collectives over ``tp_link``, stage sends over ``send_link``. Cached per
    (frozen) argument set: a search meets the same model and config at many design points; the
    array is shared, read-only by convention."""
    ops = linear_ops(t, tp)
    b = ops.elem_bytes
    system = gpu_system(fill_gpu_row(blank_device_table(), gpu), tp, 1, tp_link, t.hidden_size, t.vocab_size, b,
                        kraken=t.layer_variant == "kraken")
    layers = layers_per_stage(t.num_hidden_layers, pp)
    lat = request_stage_times(ops.arrays, system, int(t.seq_len), int(output_tokens), layers,
                              float(send_link.bytes_per_s), float(send_link.latency_s), np.zeros(pp))
    a = ops.arrays
    layer_bytes = sum(a.byte_w[i] / a.gpu_div[i] for i in range(ops.n) if a.last_only[i] == 0)
    kv_layer = sum(a.byte_c[i] / a.gpu_div[i] for i in range(ops.n) if a.cls[i] == ATTN)
    context = int(t.seq_len) + int(output_tokens) if t.decode is not None else 0   # an encoder keeps no KV cache
    head_bytes = t.vocab_size * t.hidden_size * b / tp
    stage = device_parameters(layers, np.arange(pp), pp, layer_bytes + kv_layer * context, head_bytes,
                              tied_embeddings(t))
    return lat, float(stage.max())


def usable(t: Transformer | None, pp: int, tp: int) -> str | None:
    """Why the model cannot run as pp x tp (None if it can)."""
    if t is None:
        return None
    if pp > t.num_hidden_layers:
        return f"{pp} stages for {t.num_hidden_layers} layers"
    if t.num_attention_heads % tp:
        return f"tp {tp} does not divide {t.num_attention_heads} heads"
    return None
