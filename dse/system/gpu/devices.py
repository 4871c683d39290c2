"""The device table every GPU-side kind hands to the shared kernels (dse.system.gpu.kernels): the
GPU's row filled from its :class:`~dse.system.gpu.spec.Gpu` once, the same way for every kind
(achievable rates, calibration, launch and step overheads, energies), and the system bundle of a
parallel configuration."""

from __future__ import annotations

import numpy as np

from dse.cost.roofline import gpu_rates
from dse.system.gpu.kernels import (D_BW, D_COMP_HALF, D_FLOPS, D_LAUNCH, D_LINK_BW, D_MEM_HALF, D_NDEV,
                                    D_PJ_BIT, D_PJ_FLOP, D_STEP, GPU, N_DCOLS, GpuSystem)
from dse.system.gpu.spec import Gpu, Link


def blank_device_table(rows: int = 1) -> np.ndarray:
    """``rows`` devices (row GPU first), columns D_*; every device absent (unit rates, one device,
    never used) until a caller fills its row."""
    dev = np.zeros((rows, N_DCOLS))
    dev[:, D_NDEV] = 1.0
    dev[:, D_FLOPS] = 1.0
    dev[:, D_BW] = 1.0
    dev[:, D_LINK_BW] = 1.0
    return dev


def fill_gpu_row(dev: np.ndarray, gpu: Gpu) -> np.ndarray:
    """The GPU row of ``dev`` from the spec: achievable rates (peak x efficiency cap, gpu_rates),
    launch cost, energies, calibration halves and per-step overhead. Returns ``dev``."""
    dev[GPU, D_FLOPS], dev[GPU, D_BW] = gpu_rates(float(gpu.peak_flop_per_s), float(gpu.memory_bytes_per_s),
                                                  float(gpu.compute_efficiency), float(gpu.memory_efficiency))
    dev[GPU, D_LAUNCH] = float(gpu.kernel_launch_s)
    dev[GPU, D_PJ_FLOP], dev[GPU, D_PJ_BIT] = float(gpu.pj_per_flop), float(gpu.memory_pj_per_bit)
    dev[GPU, D_COMP_HALF], dev[GPU, D_MEM_HALF] = float(gpu.compute_half_tokens), float(gpu.memory_half_bytes)
    dev[GPU, D_STEP] = float(gpu.step_overhead_s)
    return dev


def gpu_system(dev: np.ndarray, tp: int, pp: int, link: Link, hidden: int, vocab: int, elem_bytes: float,
               kraken: bool = False, stage_link: Link | None = None) -> GpuSystem:
    """The kernels' bundle: ``dev``, tp x pp, the link TP collectives run over, the link stage
    sends run over (``stage_link``; default the same), and the per-token bytes they carry (h b
    activations, vocab b logits)."""
    stage = link if stage_link is None else stage_link
    return GpuSystem(dev=dev, tp=tp, pp=pp, link_bytes_per_s=float(link.bytes_per_s),
                     link_latency_s=float(link.latency_s), link_pj_per_bit=float(link.pj_per_bit),
                     stage_bytes_per_s=float(stage.bytes_per_s), stage_latency_s=float(stage.latency_s),
                     stage_pj_per_bit=float(stage.pj_per_bit), act_bytes_per_token=hidden * elem_bytes,
                     logit_bytes_per_token=vocab * elem_bytes, kraken=kraken)
