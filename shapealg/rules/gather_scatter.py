"""GatherND / GatherElements / ScatterND / ScatterElements: indexing with index tensors."""
from __future__ import annotations

from typing import Optional

from ..tensor import Value
from ._util import norm_axis
from .registry import NodeContext, RuleError, register


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
        from .shape_ops import _index_within
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
        ctx.warn(f"node {ctx.node!r} (op GatherND): indices are computed at run time; that they stay within "
                 f"the data's dims is not checked")
    return Value(tuple(indices.shape[:-1]) + tuple(data.shape[batch_dims + k:]), data.dtype)


def _bounds_check(ctx: NodeContext, input_index: int, dims, first_axis: int) -> bool:
    """Index checks from the exact bounds of a run-time index tensor (one pair per addressed axis, or one
    for all); False when there are none."""
    b = ctx.input_bounds[input_index] if len(ctx.input_bounds) > input_index else None
    if not b or not dims or (len(b) != len(dims) and len(b) != 1):
        return False
    from ..dims import known_ge
    from .shape_ops import _index_within
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
