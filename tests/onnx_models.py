"""Tiny ONNX models built with onnx.helper (no downloads): the shipped workloads/tiny_cnn.onnx and
graphs for the importer's tests. ``python tests/onnx_models.py`` rewrites the shipped file."""

from __future__ import annotations

import numpy as np


def _init(name, shape, seed):
    from onnx import numpy_helper

    rng = np.random.default_rng(seed)
    return numpy_helper.from_array(rng.standard_normal(shape).astype(np.float32), name)


def tiny_cnn():
    """x[N, 3, 16, 16] -> Conv 3->8 3x3 pad 1 -> Relu -> Conv 8->16 3x3 stride 2 pad 1 -> Relu ->
    GlobalAveragePool -> Flatten -> Gemm 16->10 (transB). The batch dim is symbolic ("N")."""
    from onnx import TensorProto, helper

    nodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], name="conv1", kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
        helper.make_node("Conv", ["r1", "w2", "b2"], ["c2"], name="conv2", kernel_shape=[3, 3], pads=[1, 1, 1, 1],
                         strides=[2, 2]),
        helper.make_node("Relu", ["c2"], ["r2"], name="relu2"),
        helper.make_node("GlobalAveragePool", ["r2"], ["p"], name="pool"),
        helper.make_node("Flatten", ["p"], ["f"], name="flatten"),
        helper.make_node("Gemm", ["f", "w3", "b3"], ["y"], name="fc", transB=1),
    ]
    inits = [_init("w1", (8, 3, 3, 3), 1), _init("b1", (8,), 2), _init("w2", (16, 8, 3, 3), 3), _init("b2", (16,), 4),
             _init("w3", (10, 16), 5), _init("b3", (10,), 6)]
    graph = helper.make_graph(nodes, "tiny_cnn", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 16, 16])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 10])], inits)
    return helper.make_model(graph, producer_name="dse tests", opset_imports=[helper.make_opsetid("", 17)],
                             ir_version=8)


def tiny_attention():
    """x[1, 64, 32] -> MatMul W_q [32, 32] -> Reshape [1, 4, 64, 8] (4 heads) ... as a short chain:
    q = x W_q; scores = q_h k_h^T with k_h the same heads (an activation x activation batched
    matmul [1, 4, 64, 8] x [1, 4, 8, 64]); out = scores v_h."""
    from onnx import TensorProto, helper

    shape4 = helper.make_tensor("shape4", TensorProto.INT64, [4], [1, 64, 4, 8])
    nodes = [
        helper.make_node("MatMul", ["x", "wq"], ["q"], name="q_proj"),
        helper.make_node("Reshape", ["q", "shape4"], ["q4"], name="split_heads"),
        helper.make_node("Transpose", ["q4"], ["qh"], name="heads_first", perm=[0, 2, 1, 3]),
        helper.make_node("Transpose", ["q4"], ["kt"], name="k_transposed", perm=[0, 2, 3, 1]),
        helper.make_node("MatMul", ["qh", "kt"], ["s"], name="scores"),
        helper.make_node("MatMul", ["s", "qh"], ["o"], name="context"),
    ]
    graph = helper.make_graph(nodes, "tiny_attention", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 64, 32])],
                              [helper.make_tensor_value_info("o", TensorProto.FLOAT, [1, 4, 64, 8])],
                              [_init("wq", (32, 32), 7), shape4])
    return helper.make_model(graph, producer_name="dse tests", opset_imports=[helper.make_opsetid("", 17)],
                             ir_version=8)


if __name__ == "__main__":
    import onnx
    from pathlib import Path

    out = Path(__file__).resolve().parents[1] / "workloads" / "tiny_cnn.onnx"
    onnx.save(tiny_cnn(), str(out))
    print(f"wrote {out} ({out.stat().st_size} bytes)")
