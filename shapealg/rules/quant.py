"""Quantization: QuantizeLinear / DequantizeLinear / DynamicQuantizeLinear keep the shape (the scale must fit
it: one value, one per channel of ``axis``, or one per block); QLinearConv / ConvInteger / QLinearMatMul are
Conv / MatMul with quantized operands (same shapes, constraints and MACs)."""
from __future__ import annotations

from typing import Optional

from ..dims import ceildiv
from ..enums import INT_TYPES, DType
from ..records import Value
from ._util import norm_axis
from .conv import conv
from .linear import matmul
from ..costmodel import OpCost, cost_model
from .conv import conv_cost
from .elementwise import elementwise_cost
from .linear import matmul_count
from .registry import NodeContext, RuleError, describe, register

FLOAT, UINT8, INT32 = DType.FLOAT, DType.UINT8, DType.INT32


def _check_scale(ctx: NodeContext, x: Value, scale: Optional[Value], axis: int, block_size: int, what: str):
    if scale is None or scale.shape is None or x.shape is None:
        return
    if len(scale.shape) == 0 or (len(scale.shape) == 1 and scale.shape[0] == 1 and not block_size):
        return  # per tensor
    a = norm_axis(axis, len(x.shape))
    if block_size and block_size > 0:  # blocked: x's shape with axis a cut into blocks of block_size
        if len(scale.shape) != len(x.shape):
            raise RuleError(f"blocked {what} must have the input's rank {len(x.shape)}, got {len(scale.shape)}")
        for i, (s, d) in enumerate(zip(scale.shape, x.shape)):
            want = ceildiv(d, block_size) if i == a else d
            ctx.require_equal(s, want, f"{what} axis {i} is {s}, must be {want}"
                                       + (f" (ceil({d} / block_size {block_size}))" if i == a else ""))
        return
    if len(scale.shape) != 1:
        raise RuleError(f"{what} must be a scalar or 1-D, got rank {len(scale.shape)}")
    ctx.require_equal(scale.shape[0], x.shape[a], f"per-axis {what} has {scale.shape[0]} values for axis {a} of "
                                                   f"size {x.shape[a]}")


@register("QuantizeLinear", since=10)
def quantize_linear(ctx: NodeContext, x: Value, y_scale: Value, y_zero_point: Optional[Value] = None, *, axis=1,
                    block_size=0, output_dtype=0, saturate=1, precision=0):
    _check_scale(ctx, x, y_scale, axis, block_size, "y_scale")
    dtype = y_zero_point.dtype if y_zero_point is not None and y_zero_point.dtype else (output_dtype or UINT8)
    return Value(x.shape, dtype)


@register("DequantizeLinear", since=10)
def dequantize_linear(ctx: NodeContext, x: Value, x_scale: Value, x_zero_point: Optional[Value] = None, *, axis=1,
                      block_size=0, output_dtype=0):
    _check_scale(ctx, x, x_scale, axis, block_size, "x_scale")
    return Value(x.shape, output_dtype or x_scale.dtype or FLOAT)


@register("DynamicQuantizeLinear", since=11)
def dynamic_quantize_linear(ctx: NodeContext, x: Value):
    return [Value(x.shape, UINT8), Value((), FLOAT), Value((), UINT8)]


@register("QLinearConv", since=10)
def qlinear_conv(ctx: NodeContext, x: Value, x_scale: Value, x_zero_point: Value, w: Value, w_scale: Value,
                 w_zero_point: Value, y_scale: Value, y_zero_point: Value, b: Optional[Value] = None, **attrs):
    out = conv(ctx, x, w, b, **attrs)
    return Value(out.shape, y_zero_point.dtype if y_zero_point is not None and y_zero_point.dtype else x.dtype)


@register("ConvInteger", since=10)
def conv_integer(ctx: NodeContext, x: Value, w: Value, x_zero_point: Optional[Value] = None,
                 w_zero_point: Optional[Value] = None, **attrs):
    out = conv(ctx, x, w, None, **attrs)
    return Value(out.shape, INT32)


@register("QLinearMatMul", since=10)
def qlinear_matmul(ctx: NodeContext, a: Value, a_scale: Value, a_zero_point: Value, b: Value, b_scale: Value,
                   b_zero_point: Value, y_scale: Value, y_zero_point: Value):
    out = matmul(ctx, a, b)
    return Value(out.shape, y_zero_point.dtype if y_zero_point is not None and y_zero_point.dtype else a.dtype)


# ---------------------------------------------------------------- costs (docs/COSTS.md)

@cost_model("conv")
def qlinear_conv_cost(node, view, conv) -> OpCost:
    """A Conv's count with the weight at input 3 (the bias at 8)."""
    return conv_cost(node, view, conv, w_index=3, b_index=8)


@cost_model("matmul")
def qlinear_matmul_cost(node, view, conv) -> OpCost:
    return matmul_count(node, view, conv, node.inputs[0], node.inputs[3] if len(node.inputs) > 3 else "")


def quantized_weights(weights: tuple, metadata: tuple):
    """The weights of a quantized op (OpDef.weights): an integer initializer at a position in ``weights`` holds
    its elements as weights (an int8 Conv kernel); scales and zero points (``metadata``) hold none; anything
    else keeps the default (a float initializer's elements)."""
    def count(node, i: int, init) -> Optional[int]:
        if i in metadata:
            return 0
        if i in weights and init.dtype in INT_TYPES:
            return init.numel
        return None
    return count


describe("ConvInteger", cost=conv_cost, weights=quantized_weights((0, 1), (2, 3)))
describe("QLinearConv", cost=qlinear_conv_cost, weights=quantized_weights((0, 3, 8), (1, 2, 4, 5, 6, 7)))
describe("QLinearMatMul", cost=qlinear_matmul_cost, weights=quantized_weights((0, 3), (1, 2, 4, 5, 6, 7)))
describe("MatMulInteger", weights=quantized_weights((0, 1), (2, 3)))
# a weight stored quantized (QDQ): the integer initializer feeding DequantizeLinear is the weight, counted once there
describe("DequantizeLinear", cost=elementwise_cost, weights=quantized_weights((0,), (1, 2)))
describe("QuantizeLinear", cost=elementwise_cost, weights=quantized_weights((), (1, 2)))
