"""LLM kernels: the per-step GPU <-> PIM dispatch policy and the step-by-step decode trace, on the
shared step cost (dse.system.gpu.kernels.step_cost). Numba, cache=True; arguments are named
bundles (:class:`~dse.models.views.LinearArrays`, :class:`~dse.system.gpu.kernels.GpuSystem`,
:class:`Trace`).

The device table is the shared one with this kind's PIM pools as rows after the GPU's; the
dispatch rule is the shared dse.system.gpu.kernels.dispatch.
"""

from __future__ import annotations

from typing import NamedTuple

from dse.jit import nb
import numpy as np

from dse.system.gpu.kernels import GPU, Step, dispatch, step_cost

# decode_trace results.
R_TIME, R_ENERGY, R_STEPS, R_TOKENS, R_TPOT_SUM, R_FIRST, R_FC_GPU_STEPS, R_KV_PEAK, R_COMM = range(9)
N_RES = 9


class Trace(NamedTuple):
    """One replica's requests for :func:`decode_trace`."""

    lengths: np.ndarray    # output tokens per request, ascending (int64)
    prompt: int            # prompt tokens per request
    tlp: int               # tokens verified per step (speculation length)
    policy: int            # P_*
    alpha: float           # PAPI threshold on RLP x TLP


@nb.njit(cache=True)
def decode_trace(trace, ops, system, op_out, res):
    """Step-by-step decode of one replica's requests (static batch: all start together after the
    prefill; ``trace.lengths`` are their output lengths in ascending order). Step k (g = k * tlp
    tokens generated so far, n active requests):

        T = n * tlp  (RLP x TLP);   C = n * (prompt + g + tlp)  (each reads its whole context)
        devices from :func:`dispatch` (PAPI: FC on the GPU if T > alpha, else FC-PIM)
        then g += tlp; requests with length <= g finish at the step's end.

    Results in ``res`` (R_*): decode time, energy, steps, output tokens, sum over requests of
    (finish time / length) (TPOT), first-step time, steps with FC on the GPU, peak context tokens
    held (KV), communication time."""
    for k in range(res.shape[0]):
        res[k] = 0.0
    lengths = trace.lengths
    tlp = trace.tlp
    R = lengths.shape[0]
    idx = 0
    while idx < R and lengths[idx] <= 0:
        idx += 1
    g = 0
    now = 0.0
    while idx < R:
        n = R - idx
        T = n * tlp
        ctx = n * (trace.prompt + g + tlp)
        fc_dev, attn_dev, elem_dev = dispatch(trace.policy, trace.alpha, T)
        step = Step(float(T), float(T), float(tlp), float(ctx), fc_dev, attn_dev, elem_dev)
        t, e, comm = step_cost(step, ops, system, op_out)
        if res[R_STEPS] == 0.0:
            res[R_FIRST] = t
        now += t
        res[R_ENERGY] += e
        res[R_STEPS] += 1.0
        res[R_COMM] += comm
        if fc_dev == GPU:
            res[R_FC_GPU_STEPS] += 1.0
        if ctx > res[R_KV_PEAK]:
            res[R_KV_PEAK] = ctx
        g += tlp
        while idx < R and lengths[idx] <= g:
            res[R_TOKENS] += lengths[idx]
            res[R_TPOT_SUM] += now / lengths[idx]
            idx += 1
    res[R_TIME] = now
