"""Normalizations: the output keeps the input's shape; the statistics' channel counts must match."""
from __future__ import annotations

from typing import Optional

from ..costmodel import CostStatus, OpCost, cost_model, counted, mul, numel, onnx_tool_pointwise, \
    weights, zero
from ..costmodel import ONNX_TOOL_WEIGHTS
from ..dims import prod
from ..enums import DType
from ..records import Value
from ._util import norm_axis, unidirectional
from .registry import NodeContext, describe, register


# ---------------------------------------------------------------- costs (docs/COSTS.md)

@cost_model("norm")
def norm_cost(node, view, conv) -> OpCost:
    """``full``: BatchNorm 1 per element (inference: x * a + b), LRN size + 1, the others 4 (3 without scale):
    mean, variance, normalise, affine."""
    x, out = view.shape(node.inputs[0]), view.shape(node.outputs[0])
    op = node.op_type
    if not conv.norm:
        return zero("norm", conv)
    if conv.style == "torchinfo":  # (weights + bias) * output_size[0]; BatchNorm's mean / var are buffers
        w = weights(node, view, (1, 2))
        return counted(mul(out[0], w) if out else None, "norm", "torchinfo: first output dim * weights")
    has_scale = len(node.inputs) > 1 and bool(node.inputs[1])
    if conv.style == "fvcore":
        if op == "BatchNormalization":
            return counted(mul(numel(x), 2 if has_scale else 1), "norm")
        if op in ("LayerNormalization", "GroupNormalization", "InstanceNormalization"):
            return counted(mul(numel(x), 5 if has_scale else 4), "norm")
        return zero("norm", conv, "fvcore does not count this normalisation")
    if conv.style == "onnx-tool":
        if op == "BatchNormalization":
            return counted(mul(numel(out), 31), "norm")  # ADD + SQRT + DIV + ADD + MUL
        if op == "LayerNormalization":
            if x is None:
                return counted(None, "norm")
            axis = int(view.attrs(node).get("axis", -1)) % len(x)
            rest = prod([d for i, d in enumerate(x) if i != axis])
            return counted(7 * numel(x) + 29 * rest, "norm")
        if op in ONNX_TOOL_WEIGHTS:
            return onnx_tool_pointwise(node, out, len([i for i in node.inputs if i]))
        return OpCost(0, CostStatus.ZERO, "norm", "onnx-tool has no profiler for this op and counts it 0")
    if op == "BatchNormalization":
        return counted(numel(x), "norm")
    if op == "LRN":
        size = int(view.attrs(node).get("size", 1))
        return counted(mul(numel(x), size + 1), "norm")
    return counted(mul(numel(x), 4 if has_scale else 3), "norm")


# ---------------------------------------------------------------- shape rules


@register("BatchNormalization", "InstanceNormalization", cost=norm_cost)
def batch_norm(ctx: NodeContext, x: Value, scale: Value, *rest: Optional[Value], **_):
    if len(x.shape) >= 2 and scale.shape is not None and len(scale.shape) == 1:
        ctx.require_equal(x.shape[1], scale.shape[0], f"channels {x.shape[1]} must equal the scale's {scale.shape[0]}")
    outs = [Value(x.shape, x.dtype)]
    for r in rest[2:]:  # training mode: running mean / var outputs
        outs.append(Value(scale.shape, scale.dtype))
    return outs + [Value(scale.shape, scale.dtype)] * 2


@register("LayerNormalization", cost=norm_cost)
def layer_norm(ctx: NodeContext, x: Value, *rest, axis=-1, **_):
    a = norm_axis(axis, len(x.shape))
    if ctx.op_type == "LayerNormalization":  # scale / bias broadcast to the normalized dims x.shape[axis:]
        for v, what in zip(rest[:2], ("scale", "bias")):
            if v is not None and not (what == "bias" and v.shape == rest[0].shape):
                unidirectional(ctx, v.shape, tuple(x.shape[a:]), what)
    stat = tuple(x.shape[:a]) + (1,) * (len(x.shape) - a)
    return [Value(x.shape, x.dtype), Value(stat, DType.FLOAT), Value(stat, DType.FLOAT), Value(x.shape, x.dtype)]


@register("GroupNormalization", cost=norm_cost)
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


@register("LpNormalization", cost=norm_cost)
def lp_norm(ctx: NodeContext, x: Value, **_):
    return Value(x.shape, x.dtype)


describe("BatchNormalization", buffers=(3, 4))  # running mean / var: state, not weights (torch's buffers)
describe("RMSNormalization", cost=norm_cost)  # no shape rule yet
