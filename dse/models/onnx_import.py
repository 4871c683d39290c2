"""Import an ONNX graph's conv / GEMM / matmul ops as einsum ops (``models[].onnx``).

Needs the optional ``onnx`` package (``pip install '.[onnx]'`` in dse's folder). Shapes come from ONNX shape
inference after every symbolic or unknown graph-input dim is set: the first to ``batch``, any
other to an error naming it. Nodes are taken in the graph's (topological) order as a chain, as
dse's other op lists are; ops other than the three below are element-wise, pooling or layout
ops, which the chiplet model does not cost (their names are counted in the import summary).

- ``Conv`` (2-D, weights ``[K, C, R, S]`` an initializer): ``N, K, C`` and the output plane
  ``Y x X`` from the inferred output shape, ``R x S`` the kernel, ``stride`` the (equal) strides.
  Refused: grouped or dilated convolutions, unequal strides, 1-D / 3-D convs.
- ``Gemm`` (``Y = A B`` with ``transA`` / ``transB``): ``N`` = rows of A (the batch), ``K`` = columns
  of B, ``C`` = the shared dim; weights static when B is an initializer.
- ``MatMul`` (``A [..., M, C] x B [..., C, K]``): ``N`` = the product of A's leading dims, the M rows
  on a token plane ``Y x X`` (dse.models.views.token_grid), weights static when B is an
  initializer, else activation weights (an attention matmul; one batch's B is counted, as dse's
  attention ops do).
Precision: ``precision_bits`` if given, else the width of the graph's first float/int weight type.
"""

from __future__ import annotations

from pathlib import Path

from dse.errors import DseError
from dse.spec.workload import Op

MAX_ONNX_BYTES = 512 << 20
BITS = {1: 32, 10: 16, 16: 16, 11: 64, 3: 8, 2: 8, 5: 16, 6: 32, 7: 64}   # onnx TensorProto types -> bits


def import_onnx(path: Path, source: str, field: str, batch: int, precision_bits: int | None) -> tuple[Op, ...]:
    """The einsum op chain of the ONNX model at ``path`` (errors name ``source`` and ``field``)."""
    try:
        import onnx
        from onnx import shape_inference
    except ImportError:
        raise DseError(source, field, "the onnx package to read ONNX files (pip install '.[onnx]' in dse's folder)") from None
    from dse.models.views import token_grid

    from dse.spec.files import FileProblem, read_limited

    try:
        model = onnx.load_model_from_string(read_limited(path, MAX_ONNX_BYTES))
    except FileProblem as exc:
        raise DseError(source, field, "a readable ONNX file of at most 512 MiB", f"{path}: {exc}") from None
    except Exception as exc:                                      # protobuf decode errors
        raise DseError(source, field, "an ONNX model file", f"{path}: {type(exc).__name__}") from None
    graph = model.graph
    inits = {t.name: t for t in graph.initializer}
    for inp in graph.input:
        if inp.name in inits:
            continue
        dims = inp.type.tensor_type.shape.dim
        for i, d in enumerate(dims):
            if not d.HasField("dim_value") or d.dim_value <= 0:
                if i != 0:
                    raise DseError(source, f"{field} ({path.name}): input {inp.name!r} dim {i}",
                                   "a fixed size (only the first, batch dim may be symbolic)", d.dim_param or "?")
                d.Clear()
                d.dim_value = batch
    try:
        inferred = shape_inference.infer_shapes(model, strict_mode=True)
    except Exception as exc:
        raise DseError(source, f"{field} ({path.name})", "a graph ONNX shape inference accepts",
                       str(exc).splitlines()[0][:160]) from None
    shapes: dict[str, list[int]] = {}
    for vi in list(inferred.graph.value_info) + list(inferred.graph.input) + list(inferred.graph.output):
        dims = vi.type.tensor_type.shape.dim
        if dims and all(d.HasField("dim_value") for d in dims):
            shapes[vi.name] = [d.dim_value for d in dims]
    for t in graph.initializer:
        shapes[t.name] = list(t.dims)
    if precision_bits is None:
        types = [t.data_type for t in graph.initializer if t.data_type in BITS]
        precision_bits = BITS[types[0]] if types else 32
        if precision_bits not in (4, 8, 16, 32):
            precision_bits = 32

    def shape(node, name: str) -> list[int]:
        if name not in shapes:
            raise DseError(source, f"{field} ({path.name}): node {node.name or node.op_type!r}",
                           f"a known shape for tensor {name!r} after shape inference")
        return shapes[name]

    def attr(node, name: str, default):
        for a in node.attribute:
            if a.name == name:
                return list(a.ints) if a.ints else (a.i if a.type == onnx.AttributeProto.INT else default)
        return default

    ops: list[Op] = []
    used: set[str] = set()
    for idx, node in enumerate(graph.node):
        name = node.name or f"{node.op_type.lower()}{idx}"
        while name in used:
            name += "_"
        where = f"{field} ({path.name}): node {name!r}"
        if node.op_type == "Conv":
            w = shape(node, node.input[1])
            out = shape(node, node.output[0])
            if len(w) != 4:
                raise DseError(source, where, "a 2-D convolution (4-D weights)", f"{len(w)}-D weights")
            if attr(node, "group", 1) != 1:
                raise DseError(source, where, "an ungrouped convolution (grouped and depthwise convs are not "
                               "modelled)", f"group {attr(node, 'group', 1)}")
            if any(d != 1 for d in attr(node, "dilations", [1, 1])):
                raise DseError(source, where, "an undilated convolution", attr(node, "dilations", None))
            strides = attr(node, "strides", [1, 1])
            if len(set(strides)) != 1:
                raise DseError(source, where, "equal strides along both axes", strides)
            ops.append(Op(name, N=out[0], K=w[0], C=w[1], Y=out[2], X=out[3], R=w[2], S=w[3], stride=strides[0],
                          precision_bits=precision_bits, weights_static=node.input[1] in inits))
        elif node.op_type == "Gemm":
            a, b = shape(node, node.input[0]), shape(node, node.input[1])
            m, c = (a[1], a[0]) if attr(node, "transA", 0) else (a[0], a[1])
            k = b[0] if attr(node, "transB", 0) else b[1]
            ops.append(Op(name, N=m, K=k, C=c, precision_bits=precision_bits,
                          weights_static=node.input[1] in inits))
        elif node.op_type == "MatMul":
            a, b = shape(node, node.input[0]), shape(node, node.input[1])
            if len(a) < 2 or len(b) < 2:
                raise DseError(source, where, "matrices (2-D or batched) on both sides", [a, b])
            n = 1
            for d in a[:-2]:
                n *= d
            y, x = token_grid(a[-2])
            ops.append(Op(name, N=n, K=b[-1], C=a[-1], Y=y, X=x, precision_bits=precision_bits,
                          weights_static=node.input[1] in inits and len(b) == 2))
        used.add(name)
    if not ops:
        raise DseError(source, f"{field} ({path.name})", "a graph with at least one Conv, Gemm or MatMul node")
    return tuple(ops)
