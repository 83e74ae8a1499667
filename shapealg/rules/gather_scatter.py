"""Gather / GatherND / GatherElements / ScatterND / ScatterElements: indexing with index tensors, and the
checks that constant (or exactly bounded run-time) indices stay within the data's dims."""
from __future__ import annotations

from typing import Optional

import sympy

from ..dims import MaybeDim, known_ge
from ..records import Value
from ._util import array_value, norm_axis, value_array
from ..costmodel import free_cost
from .registry import NodeContext, RuleError, describe, register


@register("Gather")
def gather(ctx: NodeContext, data: Value, indices: Value, *, axis=0):
    r = len(data.shape)
    a = norm_axis(axis, r)
    out = data.shape[:a] + indices.shape + data.shape[a + 1:]
    d = data.shape[a]
    idx = indices.value
    if idx is None and d is not None and len(ctx.input_bounds) > 1 and ctx.input_bounds[1]:
        _bounds_check(ctx, 1, (d,), a)
    if idx is not None and d is not None:
        lo, hi = min(idx, default=0), max(idx, default=0)
        if isinstance(lo, int) and isinstance(hi, int):
            if hi >= 0:
                _index_within(ctx, hi + 1, d, lambda: f"index {hi} on axis {a} of size {d}")
            if lo < 0:
                _index_within(ctx, -lo, d, lambda: f"index {lo} on axis {a} of size {d}")
    val = None
    if data.value is not None and idx is not None and r == 1:
        n = data.shape[0]
        if isinstance(n, int):
            try:
                val = tuple(data.value[i + n if i < 0 else i] for i in idx)
            except (IndexError, TypeError):
                val = None
    elif data.value is not None and idx is not None:
        arr, ind = value_array(data), value_array(indices)
        if arr is not None and ind is not None and all(isinstance(i, int) for i in idx):
            n = arr.shape[a]
            try:
                import numpy as np
                ind = np.vectorize(lambda i: i + n if i < 0 else i, otypes=[object])(ind) if ind.size else ind
                val = array_value(arr.take(ind.astype(np.int64), axis=a))
            except (IndexError, TypeError, ValueError):
                val = None
    return Value(out, data.dtype, val)


def _index_within(ctx: NodeContext, need: MaybeDim, size: MaybeDim, what) -> None:
    """``what``: the words, or a function giving them (formatted only when a constraint is kept)."""
    ok = known_ge(size, need)
    if ok is True:
        return
    words = what() if callable(what) else what
    if ok is False:
        ctx.require(False, f"{words} is out of range")
        return
    ctx.require(sympy.Ge(sympy.sympify(size), need, evaluate=False), f"{words} must be within the axis")


@register("GatherND")
def gather_nd(ctx: NodeContext, data: Value, indices: Value, *, batch_dims=0):
    """out = indices.shape[:-1] + data.shape[batch_dims + k:], k = indices.shape[-1] (static)."""
    k = indices.shape[-1] if indices.shape else None
    if not isinstance(k, int):
        raise RuleError("the last dim of indices is not static")
    if batch_dims + k > len(data.shape):
        raise RuleError(f"indices address {k} axes after {batch_dims} batch dims of a rank-{len(data.shape)} tensor")
    for i in range(batch_dims):
        ctx.require_equal(data.shape[i], indices.shape[i], f"batch dim {i}: data has {data.shape[i]}, "
                                                           f"indices {indices.shape[i]}")
    if indices.value is not None and isinstance(k, int) and k > 0:
        for j in range(k):
            col = indices.value[j::k]
            d = data.shape[batch_dims + j]
            if col and all(isinstance(v, int) for v in col):
                hi, lo = max(col), min(col)
                if hi >= 0:
                    _index_within(ctx, hi + 1, d, f"index {hi} on axis {batch_dims + j} of size {d}")
                if lo < 0:
                    _index_within(ctx, -lo, d, f"index {lo} on axis {batch_dims + j} of size {d}")
    elif _bounds_check(ctx, 1, data.shape[batch_dims:batch_dims + k], batch_dims):
        pass
    else:
        ctx.warn(f"indices are computed at run time; that they stay within "
                 f"the data's dims is not checked")
    return Value(tuple(indices.shape[:-1]) + tuple(data.shape[batch_dims + k:]), data.dtype)


def _bounds_check(ctx: NodeContext, input_index: int, dims, first_axis: int) -> bool:
    """Index checks from the exact bounds of a run-time index tensor (one pair per addressed axis, or one
    for all); False when there are none."""
    b = ctx.input_bounds[input_index] if len(ctx.input_bounds) > input_index else None
    if not b or not dims or (len(b) != len(dims) and len(b) != 1):
        return False
    from ..dims import known_ge
    pairs = list(b) if len(b) == len(dims) else [b[0]] * len(dims)
    for j, ((lo, hi), d) in enumerate(zip(pairs, dims)):
        if d is None:
            return False
        # valid indices are -d .. d-1: the largest below d, the smallest at least -d
        if known_ge(hi, 0) is not False:
            _index_within(ctx, hi + 1, d, f"index up to {hi} on axis {first_axis + j} of size {d}")
        if known_ge(lo, 0) is not True:
            _index_within(ctx, -lo, d, f"index down to {lo} on axis {first_axis + j} of size {d}")
    return True


@register("GatherElements")
def gather_elements(ctx: NodeContext, data: Value, indices: Value, *, axis=0):
    if len(indices.shape) != len(data.shape):
        raise RuleError(f"indices rank {len(indices.shape)} != data rank {len(data.shape)}")
    norm_axis(axis, len(data.shape))
    return Value(indices.shape, data.dtype)


@register("ScatterND", "ScatterElements", "Scatter")
def scatter(ctx: NodeContext, data: Value, indices: Value, updates: Optional[Value] = None, **_):
    return Value(data.shape, data.dtype)


describe("Gather", "GatherElements", "GatherND", "Scatter", "ScatterElements", "ScatterND", cost=free_cost)
describe("Gather", "GatherND", reads_bounds=True)  # index checks against the data dims
