"""Gemm and MatMul: the inner dims must match (the activations' K against the weight's)."""
from __future__ import annotations

from typing import Optional

from ..dims import prod
from ..tensor import Value
from ._util import broadcast_shapes, unidirectional
from .registry import NodeContext, RuleError, register


@register("Gemm")
@register("FusedGemm", domain="com.microsoft")
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
    ctx.macs = prod([m, k2, n])
    return Value((m, n), a.dtype)


@register("MatMul", "MatMulInteger")
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
    ctx.macs = prod(list(batch) + [sa[-2], k2, sb[-1]])
    if va:
        out.pop(-2)
    if vb:
        out.pop(-1)
    return Value(tuple(out), a.dtype if ctx.op_type == "MatMul" else 6)
