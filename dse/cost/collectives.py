"""Collectives and point-to-point transfers over one link type (numba, cache=True): times in
seconds, sizes in bytes; each returns (time_s, bytes on the wire summed over devices)."""

from __future__ import annotations

from dse.jit import nb


@nb.njit(cache=True)
def ring_allreduce(nbytes, n, bytes_per_s, latency_s):
    """Ring all-reduce of ``nbytes`` per device over ``n`` devices (reduce-scatter + all-gather):

        t = 2 (n - 1) * (latency_s + nbytes / (n * bytes_per_s))
        bytes on the wire (all devices) = 2 (n - 1) * nbytes

    With latency 3.03 µs per step this is AttAcc's (6.06 µs + ...)(N - 1) latency term."""
    if n <= 1:
        return 0.0, 0.0
    return 2.0 * (n - 1) * (latency_s + nbytes / (n * bytes_per_s)), 2.0 * (n - 1) * nbytes


@nb.njit(cache=True)
def all_gather(nbytes, n, bytes_per_s, latency_s):
    """Ring all-gather of a tensor of ``nbytes`` in total (nbytes / n per device):

        t = (n - 1) * (latency_s + nbytes / (n * bytes_per_s)),  wire bytes = (n - 1) * nbytes"""
    if n <= 1:
        return 0.0, 0.0
    return (n - 1) * (latency_s + nbytes / (n * bytes_per_s)), (n - 1) * nbytes


@nb.njit(cache=True)
def send_recv(nbytes, bytes_per_s, latency_s):
    """Point-to-point transfer: t = latency_s + nbytes / bytes_per_s, wire bytes = nbytes."""
    if nbytes <= 0.0:
        return 0.0, 0.0
    return latency_s + nbytes / bytes_per_s, nbytes
