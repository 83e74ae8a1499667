"""Slice (opset 1 attributes and 10+ inputs): lengths of clamped, negative, stepped and computed ranges, and
the contents of sliced shape tensors."""
from __future__ import annotations

from typing import Optional


from ..dims import MaybeDim, as_dim, ceildiv, dmax, dmin, known_ge
from ..records import Value
from ._util import array_value, const_ints, norm_axis, value_array
from ..costmodel import free_cost
from .registry import NodeContext, RuleError, describe, register
from .shape_ops import dims_of

BIG = 2 ** 62  # Slice ends like INT64_MAX


def _clamp(v: MaybeDim, lo: MaybeDim, hi: MaybeDim) -> MaybeDim:
    if known_ge(v, hi) is True:
        return hi
    if known_ge(lo, v) is True:
        return lo
    if known_ge(v, lo) is True:
        return dmin(v, hi)
    return dmax(lo, dmin(v, hi))


def slice_len(d: MaybeDim, start: MaybeDim, end: MaybeDim, step: int):
    """Length and clamped start of x[start:end:step] along an axis of size d (ONNX Slice semantics). The
    clamps are decided by the dim algebra's ranges where they can be (an axis known to be >= 1 gives
    x[1:] == d - 1) and kept as Max / Min where the axis may be empty (ONNX allows 0-sized dims)."""
    if d is None or start is None or end is None:
        return None, None
    return _slice_len(d, start, end, step)


def _slice_len(d: MaybeDim, start: MaybeDim, end: MaybeDim, step: int):
    if isinstance(start, int) and start < 0:
        start = start + d
    if isinstance(end, int) and end < 0:
        end = end + d
    if isinstance(end, int) and end >= BIG // 2:
        end = d if step > 0 else d - 1
    if isinstance(end, int) and end <= -(BIG // 2):
        end = -1
    if step > 0:
        s, e = _clamp(start, 0, d), _clamp(end, 0, d)
        n = ceildiv(e - s, step)
    else:
        s, e = _clamp(start, 0, d - 1), _clamp(end, -1, d - 1)
        n = ceildiv(s - e, -step)
    if known_ge(n, 0) is not True:
        n = dmax(n, 0)
    return as_dim(n), s


@register("Slice", since=10)
def slice_(ctx: NodeContext, x: Value, starts: Value, ends: Value, axes: Optional[Value] = None,
           steps: Optional[Value] = None):
    st = dims_of(starts, "starts")
    en = dims_of(ends, "ends")
    ax = const_ints(axes, "axes") if axes is not None else None
    sp = const_ints(steps, "steps") if steps is not None else None
    return _slice(ctx, x, st, en, ax, sp, starts)


@register("Slice", until=9)
def slice_v1(ctx: NodeContext, x: Value, *, starts=None, ends=None, axes=None):
    return _slice(ctx, x, list(starts), list(ends), axes, None, None)


def _slice(ctx, x: Value, st, en, ax, sp, starts: Optional[Value]):
    r = len(x.shape)
    if st is None or en is None:
        if ax is not None:
            out = list(x.shape)
            for a in ax:
                out[norm_axis(a, r)] = None
            ctx.warn(f"starts / ends are computed at run time and could not be "
                     f"derived; sliced dims unknown")
            return Value(tuple(out), x.dtype)
        raise RuleError("starts / ends unknown")
    ax = list(range(len(st))) if ax is None else ax
    sp = [1] * len(st) if sp is None else sp
    out = list(x.shape)
    val = x.value
    for a, s, e, step in zip(ax, st, en, sp):
        if step == 0:
            ctx.require(False, "slice step is 0")
            continue
        a = norm_axis(a, r)
        n, s0 = slice_len(x.shape[a], s, e, step)
        out[a] = n
        if val is not None and r == 1 and isinstance(n, int) and isinstance(s0, int):
            val = tuple(val[s0 + i * step] for i in range(n))
        elif r != 1:
            val = None
    if val is not None and (r != 1 or not isinstance(out[0], int)):
        val = None
    if r > 1 and x.value is not None:
        val = _slice_nd(x, ax, st, en, sp)
    return Value(tuple(out), x.dtype, val)


def _slice_nd(x: Value, ax, st, en, sp):
    """Contents of a slice of a small multi-dim tensor of static shape (any steps), or None."""
    arr = value_array(x)
    if arr is None:
        return None
    r = len(x.shape)
    for a, s, e, step in zip(ax, st, en, sp):
        a = norm_axis(a, r)
        n, s0 = slice_len(arr.shape[a], s, e, step)
        if not (isinstance(n, int) and isinstance(s0, int)) or step == 0:
            return None
        arr = arr.take([s0 + i * step for i in range(n)], axis=a)
    return array_value(arr)


describe("Slice", cost=free_cost)
