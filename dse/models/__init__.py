"""Model descriptions -> one operator decomposition.

Every system kind reads a model through :mod:`dse.models.operators`: a tuple of
:class:`~dse.models.operators.Operator` records (forward FLOPs, weight / activation / KV elements
per token, tensor-parallel shard units, and for training the backward FLOPs and the activations a
layer keeps for its backward pass). Kinds never re-derive a model; they take a *view* of it:

- :func:`dse.models.views.einsum_ops`: einsum ops ``O[n,k,y,x] += I[n,c,..] W[k,c,r,s]`` for the
  chiplet cost model (element-wise ops dropped, tokens laid out as a Y x X plane);
- :func:`dse.models.views.linear_ops`: per-layer rows whose FLOPs and bytes are linear in a step's
  tokens and context, for the GPU/PIM roofline (the attention matmuls fused into one kernel).

Presets (HF-style keys of public models) live in :mod:`dse.models.presets`.
"""
