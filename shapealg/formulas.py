"""The formulas a student writes by hand, for ints and symbolic dims alike.

>>> conv_out(224, 3, 1, 1)
224
>>> conv_out(symbol("H"), 3, 2, 1)
floor(H/2 + 1/2)

The rules in ``shapealg.rules`` call these, so the library has one copy of each formula.
"""
from __future__ import annotations

from typing import Optional, Sequence

from .dims import Dim, MaybeDim, ceildiv, floordiv, prod, symbol  # noqa: F401  (symbol re-exported for doctests)

__all__ = [
    "conv_out", "pool_out", "conv_transpose_out", "same_pads", "conv_params", "linear_params",
    "batchnorm_params", "conv_macs", "ceil_pool_out",
]


def conv_out(size: MaybeDim, kernel: int, stride: int = 1, padding: int = 0, dilation: int = 1,
             ceil_mode: bool = False, pad_end: Optional[int] = None) -> MaybeDim:
    """Output length of a convolution / pooling window along one axis.

    ``out = floor((size + pad_begin + pad_end - dilation*(kernel-1) - 1) / stride) + 1``
    (``ceil`` instead of ``floor`` with ``ceil_mode``). ``padding`` is the begin pad; ``pad_end``
    defaults to the same (torch's symmetric padding).
    """
    if size is None:
        return None
    if stride < 1:
        raise ValueError(f"stride must be >= 1, got {stride}")
    pad_end = padding if pad_end is None else pad_end
    span = size + padding + pad_end - dilation * (kernel - 1) - 1
    q = ceildiv(span, stride) if ceil_mode else floordiv(span, stride)
    return q + 1


def pool_out(size: MaybeDim, kernel: int, stride: Optional[int] = None, padding: int = 0,
             dilation: int = 1, ceil_mode: bool = False, pad_end: Optional[int] = None,
             torch_ceil_rule: bool = True) -> MaybeDim:
    """Pooling output length. With ``ceil_mode`` the last window must start inside the input or
    left padding (torch and onnxruntime drop a window that would start in the right padding)."""
    stride = kernel if stride is None else stride
    out = conv_out(size, kernel, stride, padding, dilation, ceil_mode, pad_end)
    if ceil_mode and torch_ceil_rule and out is not None:
        # if (out - 1) * stride >= size + pad_begin, the last window starts in the padding: drop it
        if isinstance(out, int) and isinstance(size, int):
            return out - 1 if (out - 1) * stride >= size + padding else out
        import sympy
        if not _may_start_in_pad(size, kernel, stride, padding, dilation, pad_end):
            return out
        closed = ceil_pool_out(size, kernel, stride, padding, dilation, pad_end)
        if closed is not None:  # the same rule as one floor
            return closed
        # evaluate=False: sympy's own evaluation of a relation of nested floors can exhaust its precision
        starts_in_pad = sympy.Ge((out - 1) * stride, size + padding, evaluate=False)
        return sympy.Piecewise((out - 1, starts_in_pad), (out, True), evaluate=False)
    return out


def ceil_pool_out(size: MaybeDim, kernel: int, stride: int, padding: int = 0, dilation: int = 1,
                  pad_end: Optional[int] = None) -> MaybeDim:
    """ceil_mode pooling with the dropped last window as one floor, or None where that form does not apply.

    Window starts t*stride (t >= 0) are kept while t*stride <= size + pads - dk + stride - 1 (ceil mode,
    dk = dilation*(kernel-1) + 1) and t*stride <= size + pad_begin - 1 (the window starts before the end
    padding), so ``out = floor((size + pad_begin - 1 + min(pad_end - dk + stride, 0)) / stride) + 1``.
    It equals the one-step drop rule of torch / onnxruntime when the two limits are at most a stride apart
    (pad_end <= dk, always true for the pads < kernel that onnxruntime accepts)."""
    if size is None:
        return None
    pad_end = padding if pad_end is None else pad_end
    dk = dilation * (kernel - 1) + 1
    if pad_end > dk:
        return None
    return floordiv(size + padding - 1 + min(pad_end - dk + stride, 0), stride) + 1


def _may_start_in_pad(size, kernel, stride, padding, dilation, pad_end) -> bool:
    """A last window can only start in the end padding when pad_end >= stride (or so); check residues."""
    pad_end = padding if pad_end is None else pad_end
    for n in range(1, 4 * stride * max(kernel, 1) + 8):
        o = conv_out(n, kernel, stride, padding, dilation, True, pad_end)
        if (o - 1) * stride >= n + padding:
            return True
    return False


def conv_transpose_out(size: MaybeDim, kernel: int, stride: int = 1, padding: int = 0,
                       output_padding: int = 0, dilation: int = 1, pad_end: Optional[int] = None) -> MaybeDim:
    """``out = stride*(size-1) + output_padding + dilation*(kernel-1) + 1 - pad_begin - pad_end``."""
    if size is None:
        return None
    pad_end = padding if pad_end is None else pad_end
    return stride * (size - 1) + output_padding + dilation * (kernel - 1) + 1 - padding - pad_end


def same_pads(size: MaybeDim, kernel: int, stride: int, dilation: int, upper: bool):
    """auto_pad SAME_UPPER / SAME_LOWER: output ceil(size/stride), total pad split begin/end.

    Returns (out, pad_begin, pad_end); pads may be symbolic."""
    from .dims import dmax
    out = ceildiv(size, stride)
    total = (out - 1) * stride + dilation * (kernel - 1) + 1 - size
    total = dmax(total, 0)
    small = floordiv(total, 2)
    big = total - small if small is not None else None
    return (out, small, big) if upper else (out, big, small)


def conv_params(kernel: Sequence[int] | int, c_in: int, c_out: int, groups: int = 1, bias: bool = True,
                ndim: int = 2) -> int:
    """``f*f*c_in*c_out/groups + c_out``: 3x3 conv 3 -> 16 with bias is 3*3*3*16 + 16 = 448.
    An int ``kernel`` is square (cubic with ``ndim=3``)."""
    ks = [kernel] * ndim if isinstance(kernel, int) else list(kernel)
    return prod(ks) * (c_in // groups) * c_out + (c_out if bias else 0)


def linear_params(in_features: int, out_features: int, bias: bool = True) -> int:
    """``in*out + out``: Linear(387200, 64, bias=False) has 24780800."""
    return in_features * out_features + (out_features if bias else 0)


def batchnorm_params(channels: int, affine: bool = True) -> int:
    """Trainable parameters of BatchNorm (weight and bias); running mean / var are buffers."""
    return 2 * channels if affine else 0


def conv_macs(out_spatial: Sequence[MaybeDim], kernel: Sequence[int], c_in: int, c_out: int,
              groups: int = 1, batch: MaybeDim = 1) -> MaybeDim:
    """Multiply-accumulates of a convolution: N * prod(out) * c_out * prod(kernel) * c_in/groups."""
    p = prod(list(out_spatial) + [batch])
    if p is None:
        return None
    return prod([p, c_out, prod(kernel), c_in // groups])
