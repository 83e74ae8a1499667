"""Conv, ConvTranspose, MaxPool / AveragePool / LpPool, Global*Pool: sliding windows over spatial axes."""
from __future__ import annotations

from typing import List, Optional

import sympy

from ..costmodel import CostStatus, OpCost, bias_term, cost_model, counted, mul, numel, volume, zero
from ..dims import MaybeDim, as_dim, known_ge, prod
from ..enums import DType
from ..formulas import ceil_pool_out, conv_out, conv_transpose_out, pool_out, same_pads
from ..records import Value
from ._util import spatial_list
from .registry import NodeContext, RuleError, register


# ---------------------------------------------------------------- costs (docs/COSTS.md)

@cost_model("conv")
def conv_cost(node, view, conv, w_index: int = 1, b_index: int = 2) -> OpCost:
    """N * out positions * C_out * (C_in / group) * prod(kernel) (+ one add per output for a bias)."""
    out = view.shape(node.outputs[0])
    w = view.shape(node.inputs[w_index]) if len(node.inputs) > w_index else None
    if out is None or w is None:
        return counted(None, "conv")
    macs = mul(numel(out), prod(w[1:]))
    b = bias_term(node, b_index, out, conv)
    return counted(None if macs is None or b is None else macs + b, "conv")


@cost_model("conv-transpose")
def conv_transpose_cost(node, view, conv) -> OpCost:
    x, w, out = view.shape(node.inputs[0]), view.shape(node.inputs[1]), view.shape(node.outputs[0])
    if x is None or w is None or out is None:
        return counted(None, "conv-transpose")
    if conv.style == "torchinfo":    # (weights) * N * output positions
        macs = mul(out[0], *out[2:], prod(w))
    elif conv.style == "onnx-tool":  # output elements * prod(W.shape[1:])
        macs = mul(numel(out), prod(w[1:]))
    else:                            # N * input positions * C_in * C_out/group * prod(kernel)
        macs = mul(numel(x), prod(w[1:]))
    b = bias_term(node, 2, out, conv)
    return counted(None if macs is None or b is None else macs + b, "conv-transpose")


@cost_model("pool")
def pool_cost(node, view, conv) -> OpCost:
    out = view.shape(node.outputs[0])
    k = view.attrs(node).get("kernel_shape")
    k = tuple(int(v) for v in k) if k else None
    if conv.style in ("fvcore", "torchinfo") or not conv.pooling:
        return zero("pool", conv)
    if k is None:
        return counted(None, "pool", "no kernel_shape")
    if conv.style == "onnx-tool":  # onnx-tool multiplies by kernel_shape[0] (and [1] for 2-D kernels only)
        return counted(mul(numel(out), k[0] * (k[1] if len(k) == 2 else 1)), "pool")
    return counted(mul(numel(out), prod(k)), "pool")  # one op per window element


@cost_model("global-pool")
def global_pool_cost(node, view, conv) -> OpCost:
    x, out = view.shape(node.inputs[0]), view.shape(node.outputs[0])
    if conv.style == "torchinfo" or not conv.pooling:
        return zero("global-pool", conv)
    if conv.style == "fvcore":  # adaptive_avg_pool2d: input elements; adaptive max pool is not counted
        if node.op_type != "GlobalAveragePool":
            return zero("global-pool", conv, "fvcore does not count adaptive max / Lp pooling")
        return counted(numel(x), "global-pool")
    if conv.style == "onnx-tool":
        if node.op_type != "GlobalAveragePool":
            return OpCost(0, CostStatus.ZERO, "global-pool", "onnx-tool has no profiler for this op and counts it 0")
        return counted(None if x is None or out is None else volume(x) + 4 * volume(out), "global-pool")
    return counted(numel(x), "global-pool")


# ---------------------------------------------------------------- shape rules


def _pool_len(size, k, s, pb, d, ceil_mode, pe):
    """Pool output length; with ceil_mode the dropped last window (one starting in the end padding) is
    folded into one floor: floor((size + pb - 1 + min(pe - dk + s, 0)) / s) + 1, dk = d*(k-1) + 1."""
    if ceil_mode:
        closed = ceil_pool_out(size, k, s, pb, d, pe)
        if closed is not None:
            return closed
    return pool_out(size, k, s, pb, d, ceil_mode, pe)


def _window_out(ctx: NodeContext, x_sp: List[MaybeDim], kernel: List[int], strides, pads, dilations, auto_pad: str,
                ceil_mode: bool, pool: bool) -> List[MaybeDim]:
    n = len(kernel)
    strides = spatial_list(strides, n, 1)
    dilations = spatial_list(dilations, n, 1)
    pads = spatial_list(pads, 2 * n, 0) if pads is not None else [0] * (2 * n)
    out = []
    for i, size in enumerate(x_sp):
        k, s, d = kernel[i], strides[i], dilations[i]
        if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
            o = same_pads(size, k, s, d, auto_pad == "SAME_UPPER")[0]
        elif auto_pad == "VALID":
            o = conv_out(size, k, s, 0, d, ceil_mode, 0) if not pool else _pool_len(size, k, s, 0, d, ceil_mode, 0)
        else:
            pb, pe = pads[i], pads[i + n]
            o = _pool_len(size, k, s, pb, d, ceil_mode, pe) if pool else conv_out(size, k, s, pb, d, ceil_mode, pe)
        if o is not None:  # the window must fit the padded input once (the spec; onnxruntime's Conv refuses 0)
            ctx.require_positive(o, f"output spatial axis {i} (the padded input must cover the "
                                    f"{d * (k - 1) + 1}-wide window)")
        out.append(o)
    return out


@register("Conv", cost=conv_cost)
@register("FusedConv", domain="com.microsoft", cost=conv_cost)
def conv(ctx: NodeContext, x: Value, w: Value, b: Optional[Value] = None, *z, auto_pad="NOTSET", dilations=None,
         group=1, kernel_shape=None, pads=None, strides=None, **_):
    """out = floor((size + pads - dilation*(k-1) - 1) / stride) + 1; weight (C_out, C_in/group, k...)."""
    if w.shape is None:
        raise RuleError("weight rank unknown")
    kernel = list(kernel_shape) if kernel_shape is not None else list(w.shape[2:])
    n_sp = len(x.shape) - 2
    if len(kernel) != n_sp:
        raise RuleError(f"kernel {kernel} does not match input rank {len(x.shape)}")
    if any(not isinstance(k, int) for k in kernel):
        raise RuleError(f"kernel shape {kernel} is not static")
    c_in = x.shape[1]
    c_out = w.shape[0]
    ctx.require_equal(c_in, w.shape[1] * group if isinstance(w.shape[1], int) else None,
                      f"input channels {c_in} must equal weight's {w.shape[1]} x group {group}")
    sp = _window_out(ctx, list(x.shape[2:]), kernel, strides, pads, dilations, auto_pad, False, pool=False)
    return Value((x.shape[0], c_out, *sp), x.dtype)


@register("ConvTranspose", cost=conv_transpose_cost)
def conv_transpose(ctx: NodeContext, x: Value, w: Value, b: Optional[Value] = None, *, auto_pad="NOTSET",
                   dilations=None, group=1, kernel_shape=None, output_padding=None, output_shape=None, pads=None,
                   strides=None):
    """out = stride*(size-1) + output_padding + dilation*(k-1) + 1 - pads; weight (C_in, C_out/group, k...)."""
    if w.shape is None:
        raise RuleError("weight rank unknown")
    kernel = list(kernel_shape) if kernel_shape is not None else list(w.shape[2:])
    n = len(x.shape) - 2
    strides_l = spatial_list(strides, n, 1)
    dil = spatial_list(dilations, n, 1)
    opad = spatial_list(output_padding, n, 0)
    ctx.require_equal(x.shape[1], w.shape[0], f"input channels {x.shape[1]} must equal weight's {w.shape[0]}")
    c_out = None if w.shape[1] is None else as_dim(w.shape[1] * group)
    if output_shape is not None:
        # the output is fixed; the pads are derived from it. onnxruntime accepts an input at least as long as a
        # forward conv of the output would give: size >= floor((out - dilation*(k-1) - 1) / stride) + 1
        sp = list(output_shape)[-n:]
        for i in range(n):
            if kernel[i] is None:
                continue
            need = conv_out(sp[i], kernel[i], strides_l[i], 0, dil[i])
            size = x.shape[2 + i]
            if size is not None and known_ge(1, need) is not True:
                ctx.require(sympy.Ge(size, need) if not (isinstance(size, int) and isinstance(need, int))
                            else size >= need,
                            f"output_shape {sp[i]} on spatial axis {i} needs an input of at least {need}")
    elif auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        sp = [x.shape[2 + i] * strides_l[i] if x.shape[2 + i] is not None else None for i in range(n)]
    else:
        p = spatial_list(pads, 2 * n, 0) if pads is not None and auto_pad != "VALID" else [0] * (2 * n)
        sp = [None if kernel[i] is None else  # a symbolic kernel (weight dims from a graph input) is a formula
              as_dim(conv_transpose_out(x.shape[2 + i], kernel[i], strides_l[i], p[i], opad[i], dil[i], p[i + n]))
              for i in range(n)]
    for i, o in enumerate(sp):
        ctx.require_positive(o, f"output spatial axis {i}")
    return Value((x.shape[0], c_out, *sp), x.dtype)


@cost_model("conv")
def deform_conv_cost(node, view, conv) -> OpCost:
    """Conv's count (the bias is input 3; the offsets' bilinear sampling is not counted)."""
    return conv_cost(node, view, conv, 1, 3)


@register("DeformConv", since=19, cost=deform_conv_cost)
def deform_conv(ctx: NodeContext, x: Value, w: Value, offset: Value, b: Optional[Value] = None,
                mask: Optional[Value] = None, *, dilations=None, group=1, kernel_shape=None, offset_group=1,
                pads=None, strides=None):
    """Conv's output (N, C_out, out...); offset (N, 2 * offset_group * prod(kernel), out...)."""
    y = conv(ctx, x, w, None, dilations=dilations, group=group, kernel_shape=kernel_shape, pads=pads,
             strides=strides)
    if offset.shape is not None and len(offset.shape) == len(y.shape):
        kernel = list(kernel_shape) if kernel_shape is not None else list(w.shape[2:])
        ctx.require_equal(offset.shape[1], as_dim(2 * offset_group * prod(kernel)),
                          f"offset channels {offset.shape[1]} must be 2 x offset_group x prod(kernel)")
        for i in range(2, len(y.shape)):
            ctx.require_equal(offset.shape[i], y.shape[i], f"offset axis {i} ({offset.shape[i]}) must equal the "
                                                          f"output's {y.shape[i]}")
    return y


@register("MaxPool", "AveragePool", "LpPool", cost=pool_cost)
def pool(ctx: NodeContext, x: Value, *, auto_pad="NOTSET", ceil_mode=0, dilations=None, kernel_shape=None,
         pads=None, strides=None, storage_order=0, count_include_pad=0, p=2):
    if kernel_shape is None:
        raise RuleError("kernel_shape attribute missing")
    sp = _window_out(ctx, list(x.shape[2:]), list(kernel_shape), strides, pads, dilations, auto_pad,
                     bool(ceil_mode), pool=True)
    out = Value((*x.shape[:2], *sp), x.dtype)
    if ctx.op_type == "MaxPool":
        return [out, Value(out.shape, DType.INT64)]  # Indices are int64
    return out


@register("GlobalAveragePool", "GlobalMaxPool", "GlobalLpPool", cost=global_pool_cost)
def global_pool(ctx: NodeContext, x: Value, **_):
    return Value((*x.shape[:2], *([1] * (len(x.shape) - 2))), x.dtype)
