"""Gemm and MatMul: the inner dims must match (the activations' K against the weight's)."""
from __future__ import annotations

from typing import Optional

from ..costmodel import bias_term, cost_model, counted, mul, numel, zero, OpCost
from ..enums import DType
from ..records import Value
from ._util import broadcast_shapes, unidirectional
from .registry import NodeContext, RuleError, register


# ---------------------------------------------------------------- costs (docs/COSTS.md)

@cost_model("gemm")
def gemm_cost(node, view, conv) -> OpCost:
    """M * K * N (+ M * N for the bias C)."""
    a, out = view.shape(node.inputs[0]), view.shape(node.outputs[0])
    if a is None or out is None or len(a) != 2:
        return counted(None, "gemm")
    at = view.attrs(node)
    k = a[0] if at.get("transA", 0) else a[1]
    bsh = view.shape(node.inputs[1])
    if view.is_const(node.inputs[1]) and bsh is not None and len(bsh) == 2:
        k = bsh[1] if at.get("transB", 0) else bsh[0]  # the weight's K: equal to x's wherever the node runs
    if conv.style == "torchinfo" and not view.is_const(node.inputs[1]):
        return zero("gemm", conv, "torchinfo counts layers with weights only")
    macs = mul(numel(out), k)
    b = bias_term(node, 2, out, conv)
    return counted(None if macs is None or b is None else macs + b, "gemm")


def matmul_count(node, view, conv, a_name: str, b_name: str) -> OpCost:
    """batch * M * K * N of ``a_name @ b_name`` (MatMul, QLinearMatMul)."""
    a, bsh, out = view.shape(a_name), view.shape(b_name), view.shape(node.outputs[0])
    if a is None or bsh is None or out is None:
        return counted(None, "matmul")
    weight = view.is_const(b_name) or view.is_const(a_name)
    if not weight and not conv.activation_matmul:
        return zero("matmul", conv, f"a product of two activations; not counted under the {conv.name} convention")
    k = bsh[-2] if view.is_const(b_name) and len(bsh) >= 2 else a[-1]  # the weight's K where there is one
    if conv.style == "onnx-tool" and len(bsh) == 1:
        return counted(numel(out), "matmul")  # onnx-tool: output elements only for a vector B
    if conv.style == "torchinfo" and view.is_const(b_name) and len(bsh) == 2 and len(out) >= 1:
        # torchinfo: a Linear counts (weights) * output_size[0]: only the first dim of a (B, T, C) output
        return counted(mul(out[0], *bsh), "matmul", "torchinfo counts a Linear on the first output dim only")
    return counted(mul(numel(out), k), "matmul")


@cost_model("matmul")
def matmul_cost(node, view, conv) -> OpCost:
    return matmul_count(node, view, conv, node.inputs[0], node.inputs[1])


def linear_bias_input(node, view) -> Optional[str]:
    """The constant input of ``Add(MatMul(x, W), b)`` when it is a Linear's bias (b of shape (N,) or (1.., N))."""
    if node.op_type != "Add" or len([x for x in node.inputs if x]) != 2:
        return None
    out = view.shape(node.outputs[0])
    if not out:
        return None
    for i, j in ((0, 1), (1, 0)):
        b, x = node.inputs[i], node.inputs[j]
        p = view.producer(x)
        if not view.is_const(b) or p is None or p.op_type not in ("MatMul", "MatMulInteger") or \
                not view.is_const(p.inputs[1]):
            continue
        bs = view.shape(b)
        if bs and all(d == 1 for d in bs[:-1]) and bs[-1] == out[-1] and bs[-1] != 1:
            return b
    return None


def linear_bias_cost(node, view, conv) -> OpCost:
    """The bias add of a Linear exported as MatMul + Add."""
    out = view.shape(node.outputs[0])
    if not conv.bias:
        return zero("bias", conv, f"a Linear's bias add; bias adds are not counted under {conv.name}")
    if conv.style == "torchinfo":
        return counted(mul(out[0], out[-1]), "bias", "torchinfo counts a Linear on the first output dim only")
    return counted(numel(out), "bias")


# ---------------------------------------------------------------- shape rules


@register("Gemm", cost=gemm_cost)
@register("FusedGemm", domain="com.microsoft", cost=gemm_cost)
def gemm(ctx: NodeContext, a: Value, b: Value, c: Optional[Value] = None, *, transA=0, transB=0, alpha=1.0,
         beta=1.0, **_):
    """Y = A' B' + C with A' (M, K), B' (K, N)."""
    if len(a.shape) != 2 or len(b.shape) != 2:
        raise RuleError(f"Gemm needs rank-2 inputs, got {len(a.shape)} and {len(b.shape)}")
    m, k = (a.shape[1], a.shape[0]) if transA else a.shape
    k2, n = (b.shape[1], b.shape[0]) if transB else b.shape
    ctx.require_equal(k, k2, f"inner dims: the input has {k} features, the weight expects {k2}")
    if c is not None and c.shape is not None:  # C broadcasts one way, to (M, N)
        unidirectional(ctx, c.shape, (m, n), "bias C")
    return Value((m, n), a.dtype)


@register("MatMul", "MatMulInteger", cost=matmul_cost)
def matmul(ctx: NodeContext, a: Value, b: Value, *rest):
    """numpy matmul: 1-D operands get a dim prepended / appended and removed again."""
    sa, sb = list(a.shape), list(b.shape)
    if not sa or not sb:
        raise RuleError("MatMul operands must have rank >= 1")
    va, vb = len(sa) == 1, len(sb) == 1
    if va:
        sa = [1] + sa
    if vb:
        sb = sb + [1]
    k, k2 = sa[-1], sb[-2]
    ctx.require_equal(k, k2, f"inner dims: the left operand has {k} columns, the right operand {k2} rows")
    batch = broadcast_shapes(ctx, [tuple(sa[:-2]), tuple(sb[:-2])])
    out = list(batch) + [sa[-2], sb[-1]]
    if va:
        out.pop(-2)
    if vb:
        out.pop(-1)
    return Value(tuple(out), a.dtype if ctx.op_type == "MatMul" else DType.INT32)
