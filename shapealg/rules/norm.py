"""Normalizations: the output keeps the input's shape; the statistics' channel counts must match."""
from __future__ import annotations

from typing import Optional

from ..tensor import Value
from ._util import norm_axis, unidirectional
from .registry import NodeContext, register


@register("BatchNormalization", "InstanceNormalization")
def batch_norm(ctx: NodeContext, x: Value, scale: Value, *rest: Optional[Value], **_):
    if len(x.shape) >= 2 and scale.shape is not None and len(scale.shape) == 1:
        ctx.require_equal(x.shape[1], scale.shape[0], f"channels {x.shape[1]} must equal the scale's {scale.shape[0]}")
    outs = [Value(x.shape, x.dtype)]
    for r in rest[2:]:  # training mode: running mean / var outputs
        outs.append(Value(scale.shape, scale.dtype))
    return outs + [Value(scale.shape, scale.dtype)] * 2


@register("LayerNormalization")
@register("SkipLayerNormalization", "SimplifiedLayerNormalization", "SkipSimplifiedLayerNormalization",
          domain="com.microsoft")
def layer_norm(ctx: NodeContext, x: Value, *rest, axis=-1, **_):
    a = norm_axis(axis, len(x.shape))
    if ctx.op_type == "LayerNormalization":  # scale / bias broadcast to the normalized dims x.shape[axis:]
        for v, what in zip(rest[:2], ("scale", "bias")):
            if v is not None and not (what == "bias" and v.shape == rest[0].shape):
                unidirectional(ctx, v.shape, tuple(x.shape[a:]), what)
    stat = tuple(x.shape[:a]) + (1,) * (len(x.shape) - a)
    return [Value(x.shape, x.dtype), Value(stat, 1), Value(stat, 1), Value(x.shape, x.dtype)]


@register("GroupNormalization")
def group_norm(ctx: NodeContext, x: Value, scale: Value, bias: Value, *, num_groups=1, **_):
    from ..dims import mod
    import sympy
    c = x.shape[1]
    if c is not None:
        r = mod(c, num_groups)
        if r != 0:
            ctx.require(sympy.Eq(sympy.sympify(r), 0) if not isinstance(r, int) else False,
                        f"channels {c} must be divisible by num_groups {num_groups}")
    return Value(x.shape, x.dtype)


@register("LpNormalization")
def lp_norm(ctx: NodeContext, x: Value, **_):
    return Value(x.shape, x.dtype)
