"""LLM inference on GPUs and PIM (GenZ / LLMCompass-style roofline, AttAcc / PAPI-style PIM,
Kraken layers): the ``llm`` system kind.

spec (dse.system.llm.spec) + the linear view of the model decomposition (dse.models.views) ->
:mod:`.kernels` (one forward step, dispatch, the decode trace; on dse.cost.roofline and
dse.cost.collectives) -> :mod:`.evaluator` (parallel configs, prefill + decode, memory via
dse.system.memory) -> :mod:`.kind` (the registry's face).
"""
