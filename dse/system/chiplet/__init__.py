"""Chiplet modules (SCAR-style inter-layer scheduling): the ``chiplet`` system kind.

spec (dse.system.chiplet.spec) -> :mod:`.ir` (ops / chiplets / network arrays) -> dse.cost.dataflow
(op x chiplet cost table) -> :mod:`.kernels` (frame cost of a mapping, inner optimiser) ->
:mod:`.design` (named metrics, mapping text) -> :mod:`.kind` (the registry's face).
"""
