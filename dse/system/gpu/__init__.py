"""The shared GPU layer under the llm, training and serving kinds: one vocabulary for GPUs, links
and clusters (:mod:`.spec`), one device table (:mod:`.devices`), one per-op step and pass cost
(:mod:`.kernels`, numba), one memory model (:mod:`.memory`) and one set of parallel splits and stage
splits (:mod:`.parallel`). The kinds above it hold only their policy (the llm kind's decode trace
and GPU <-> PIM dispatch, the training kind's schedules, the serving kind's arrivals and
placement); this layer imports no kind.
"""
