"""Device kernels of the LLM kind: GPU roofline and bank-level PIM rates (collectives are in
dse.cost.collectives).

All kernels take numpy scalars/arrays only (numba, cache=True). Energies are in joules, times in
seconds, sizes in bytes. Each formula is stated next to its kernel; tests/test_llm.py derives cases
by hand.
"""

from __future__ import annotations

from dse.jit import nb

BOUND_COMPUTE = 0
BOUND_MEMORY = 1
BOUNDS_LLM = ("compute", "memory")


@nb.njit(cache=True)
def roofline(flops, nbytes, flop_per_s, bytes_per_s, launch_s):
    """Roofline time of one kernel (LLM-Viewer style):

        t = launch_s + max(flops / flop_per_s, bytes / bytes_per_s)

    ``flop_per_s`` and ``bytes_per_s`` are the achievable rates (peak x efficiency cap, see
    :func:`gpu_rates`). Returns (time_s, bound) with bound 0 = compute, 1 = memory."""
    tc = flops / flop_per_s
    tm = nbytes / bytes_per_s
    if tc >= tm:
        return launch_s + tc, BOUND_COMPUTE
    return launch_s + tm, BOUND_MEMORY


@nb.njit(cache=True)
def gpu_rates(peak_flop_per_s, memory_bytes_per_s, compute_efficiency, memory_efficiency):
    """Achievable GPU rates: (peak x compute_efficiency, bandwidth x memory_efficiency) — the named
    caps AttAcc's simulator uses (0.8 compute, 0.85 memory for its A100)."""
    return peak_flop_per_s * compute_efficiency, memory_bytes_per_s * memory_efficiency


@nb.njit(cache=True)
def calibrated_rates(flop_per_s, bytes_per_s, m, stream_bytes, compute_half, memory_half):
    """Rates one kernel reaches on a calibrated GPU (saturation curves; 0 halves = the flat caps):

        flop_per_s' = flop_per_s * m / (m + compute_half)                   (compute_half > 0)
        bytes_per_s' = bytes_per_s * s / (s + memory_half)                  (memory_half > 0)

    ``m`` is the GEMM's row count (tokens; a decode GEMV has few rows and fills few tensor-core
    tiles); ``s`` the bytes one kernel launch streams (an FC op's whole operand set; attention's
    K/V of every request and head in the launch): a short launch does not reach peak bandwidth. The rates
    reach half of the caps at ``m = compute_half`` rows and ``s = memory_half`` bytes."""
    f = flop_per_s
    b = bytes_per_s
    if compute_half > 0.0:
        f = flop_per_s * m / (m + compute_half)
    if memory_half > 0.0:
        b = bytes_per_s * stream_bytes / (stream_bytes + memory_half)
    return f, b


@nb.njit(cache=True)
def pim_rates(banks, fpus_per_bank, fpu_flop_per_s, bank_bytes_per_s, external_bytes_per_s,
              power_multiple):
    """Rates of one bank-level PIM device (AttAcc / PAPI style), returns (flop_per_s, bytes_per_s):

        all_banks_bw = banks * bank_bytes_per_s             (every bank streaming its rows)
        stream_bw    = min(all_banks_bw, power_multiple * external_bytes_per_s)
        active       = stream_bw / all_banks_bw             (share of banks the power budget lets run)
        flop_per_s   = banks * fpus_per_bank * fpu_flop_per_s * active

    An FPU (16 FP16 multipliers fed by one 32 B column read) sustains one MAC per weight element
    streamed, so with FP16 one FPU per bank balances 1 FLOP/byte: an FC op over T tokens
    (2*T FLOP per 2-byte weight, T FLOP/byte) is compute-bound on PIM once T > fpus_per_bank."""
    all_bw = banks * bank_bytes_per_s
    stream = min(all_bw, power_multiple * external_bytes_per_s)
    active = stream / all_bw
    return banks * fpus_per_bank * fpu_flop_per_s * active, stream


@nb.njit(cache=True)
def op_energy(flops, nbytes, pj_per_flop, pj_per_bit):
    """Dynamic energy of an op: (flops * pJ/FLOP + bytes * 8 * pJ/bit) * 1e-12 J. For a GPU the
    bytes are HBM traffic; for PIM they are the bytes streamed inside the banks."""
    return (flops * pj_per_flop + nbytes * 8.0 * pj_per_bit) * 1e-12
