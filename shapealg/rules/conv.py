"""Conv, ConvTranspose, MaxPool / AveragePool / LpPool, Global*Pool: sliding windows over spatial axes."""
from __future__ import annotations

from typing import List, Optional

import sympy

from ..dims import MaybeDim, prod
from ..formulas import ceil_pool_out, conv_out, conv_transpose_out, pool_out, same_pads
from ..tensor import Value
from ._util import spatial_list
from .registry import NodeContext, RuleError, register


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
        if o is not None and pool:  # onnxruntime pools an empty output (0), but not an empty input
            ctx.require_positive(size, f"input spatial axis {i} (a pool's input must not be empty)")
            ctx.require_nonnegative(o, f"output spatial axis {i} (the padded input must reach the "
                                       f"{d * (k - 1) + 1}-wide window)")
        elif o is not None:  # onnxruntime's Conv refuses an output of 0
            ctx.require_positive(o, f"output spatial axis {i} (the padded input must cover the "
                                    f"{d * (k - 1) + 1}-wide window)")
        out.append(o)
    return out


@register("Conv")
@register("FusedConv", domain="com.microsoft")
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
    out = (x.shape[0], c_out, *sp)
    if all(d is not None for d in out) and isinstance(w.shape[1], int):
        ctx.macs = prod([*out, w.shape[1], *kernel])
    return Value(out, x.dtype)


@register("ConvTranspose")
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
    c_out = w.shape[1] * group if isinstance(w.shape[1], int) else None
    if output_shape is not None:
        # the output is fixed; the pads are derived from it. onnxruntime accepts an input at least as long as a
        # forward conv of the output would give: size >= floor((out - dilation*(k-1) - 1) / stride) + 1
        sp = list(output_shape)[-n:]
        for i in range(n):
            need = conv_out(sp[i], kernel[i], strides_l[i], 0, dil[i])
            size = x.shape[2 + i]
            if size is not None and need > 1:
                ctx.require(sympy.Ge(size, need) if not isinstance(size, int) else size >= need,
                            f"output_shape {sp[i]} on spatial axis {i} needs an input of at least {need}")
    elif auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        sp = [x.shape[2 + i] * strides_l[i] if x.shape[2 + i] is not None else None for i in range(n)]
    else:
        p = spatial_list(pads, 2 * n, 0) if pads is not None and auto_pad != "VALID" else [0] * (2 * n)
        sp = [conv_transpose_out(x.shape[2 + i], kernel[i], strides_l[i], p[i], opad[i], dil[i], p[i + n])
              for i in range(n)]
    for i, o in enumerate(sp):
        ctx.require_positive(o, f"output spatial axis {i}")
    if all(d is not None for d in x.shape) and c_out is not None:
        ctx.macs = prod([*x.shape, w.shape[1], *kernel])
    return Value((x.shape[0], c_out, *sp), x.dtype)


@register("MaxPool", "AveragePool", "LpPool")
def pool(ctx: NodeContext, x: Value, *, auto_pad="NOTSET", ceil_mode=0, dilations=None, kernel_shape=None,
         pads=None, strides=None, storage_order=0, count_include_pad=0, p=2):
    if kernel_shape is None:
        raise RuleError("kernel_shape attribute missing")
    sp = _window_out(ctx, list(x.shape[2:]), list(kernel_shape), strides, pads, dilations, auto_pad,
                     bool(ceil_mode), pool=True)
    out = Value((*x.shape[:2], *sp), x.dtype)
    if ctx.op_type == "MaxPool":
        return [out, Value(out.shape, 7)]  # Indices are int64
    return out


@register("GlobalAveragePool", "GlobalMaxPool", "GlobalLpPool")
def global_pool(ctx: NodeContext, x: Value, **_):
    return Value((*x.shape[:2], *([1] * (len(x.shape) - 2))), x.dtype)
