"""Workload generators against public model sizes, and the bundled specs."""

from __future__ import annotations

from pathlib import Path

import pytest

from dse.ir import compile_ops
from dse.spec.common import collect_knobs, resolve
from dse.spec.hardware import load_hardware
from dse.spec.workload import ResNet50, Transformer, load_workload, resnet50_ops, token_grid, transformer_ops

ROOT = Path(__file__).resolve().parent.parent


def test_resnet50_macs():
    # torchvision ResNet-50 at 224x224: 4.09 GMACs (torchvision's model table lists 4.09 GFLOPS,
    # counted as multiply-accumulates). Conv + FC MACs summed layer by layer: 4,089,184,256.
    ops = resnet50_ops(ResNet50())
    assert sum(op.macs for op in ops) == 4_089_184_256
    assert len(ops) == 54          # 1 stem + 16 blocks x 3 convs + 4 downsample + 1 FC


def test_resnet50_params():
    # 25.557M parameters in torchvision ResNet-50, of which conv + FC weights are 25,502,912
    # (the remaining 53,120 are batch-norm affine parameters and the FC bias).
    ops = resnet50_ops(ResNet50())
    assert sum(op.K * op.C * op.R * op.S for op in ops) == 25_502_912


def test_gpt2_weights():
    # GPT-2 small, 124M parameters: per layer 4 h^2 (QKV + proj) + 8 h^2 (FFN) = 12 h^2 weights;
    # 12 layers x 12 x 768^2 = 84,934,656, plus the tied LM head 50257 x 768 = 38,597,376.
    ops = transformer_ops(Transformer(12, 768, 12, 3072, 50257, seq_len=1024))
    assert sum(op.K * op.C for op in ops if op.weights_static) == 84_934_656 + 38_597_376
    # Attention per layer: Q.K^T and P.V, each heads x seq^2 x d_head = 12 * 1024^2 * 64 MACs.
    qk = [op for op in ops if op.name == "l0.attn_qk"][0]
    assert qk.macs == 12 * 1024 * 1024 * 64 and not qk.weights_static


def test_token_grid():
    assert token_grid(1024) == (32, 32)
    assert token_grid(256) == (16, 16)
    assert token_grid(384) == (24, 16)
    assert token_grid(7) == (7, 1)


@pytest.mark.parametrize("path", sorted((ROOT / "workloads").glob("*.yaml")), ids=lambda p: p.name)
def test_bundled_workloads_load(path):
    spec = resolve(load_workload(str(path)), {})
    assert compile_ops(spec).n > 0


@pytest.mark.parametrize("path", sorted((ROOT / "hardware").glob("*.yaml")), ids=lambda p: p.name)
def test_bundled_hardware_load(path):
    load_hardware(str(path))


def test_mono_matches_hetero_totals():
    # mono_os has the same total PEs and L2 as mcm4_hetero (the comparison the issue asks for).
    hetero = resolve(load_hardware(str(ROOT / "hardware/mcm4_hetero.yaml")), {})
    mono = load_hardware(str(ROOT / "hardware/mono_os.yaml"))
    assert sum(c.pe_array[0] * c.pe_array[1] for c in hetero.chiplets) == 128 * 128
    assert sum(c.l2_bytes for c in hetero.chiplets) == mono.chiplets[0].l2_bytes
    assert [c.dataflow.name for c in hetero.chiplets].count("weight_stationary") == 2
    knobs = [k.path for k in collect_knobs(load_hardware(str(ROOT / "hardware/mcm4_hetero.yaml")))]
    assert "chiplets.ws0.pe_array" in knobs and "system.pipelining" in knobs
