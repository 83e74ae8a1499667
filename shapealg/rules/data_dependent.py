"""Ops whose output sizes depend on the data: NonZero, NonMaxSuppression, Unique, Compress, TopK.

Where the size follows from what is known (a constant condition, a constant or shape-derived k), it is exact.
Otherwise the size becomes a fresh symbol, declared data-dependent (``nz_<node>``, ``nms_<node>``...), with a
warning naming the node; the symbol flows downstream like any other dim, so the rest of the graph keeps its
formulas (in H, W and that symbol). Such a symbol is never guessed to have a value; it comes only from data.
"""
from __future__ import annotations

import re
from typing import Mapping, Optional, Tuple

import sympy

from ..diagnostics import Kind
from ..enums import DType
from ..dims import MaybeDim, as_dim, known_ge, symbol
from ..records import Value
from ._util import norm_axis
from ..costmodel import free_cost
from .elementwise import elementwise_cost
from .registry import NodeContext, RuleError, describe, register

INT64 = DType.INT64

def data_dependent_symbol(ctx: NodeContext, prefix: str, what: str) -> sympy.Symbol:
    """A fresh symbol for a size only the data decides, declared (see ``is_data_dependent``) and warned about."""
    base = prefix + "_" + (re.sub(r"\W", "_", ctx.node, flags=re.ASCII).strip("_") or "node")
    name, k = base, 1
    while name in ctx.declared and ctx.declared[name][0] != ctx.node:  # two node names that sanitize alike
        k += 1
        name = f"{base}_{k}"
    ctx.declared[name] = (ctx.node, ctx.op_type, what)  # the analysis's own table (InferResult.data_dependent)
    ctx.warn(f"{what} depends on the data; declared as the data-dependent symbol {name}", Kind.DATA_DEPENDENT)
    return symbol(name)


def is_data_dependent(sym, declared: Mapping[str, Tuple[str, str, str]]) -> bool:
    """True for a symbol (or its name) in ``declared`` (an analysis's ``InferResult.data_dependent``)."""
    return str(sym) in declared


def _count_true(vals, length: MaybeDim) -> MaybeDim:
    """Number of truthy entries among the first ``length`` of ``vals`` (a constant condition)."""
    pos = [i for i, v in enumerate(vals) if v]
    if isinstance(length, int):
        return sum(1 for i in pos if i < length)
    n: MaybeDim = 0
    for i in pos:  # [length > i] == min(max(length - i, 0), 1) for an integer length
        if known_ge(length, i + 1) is True:
            n = n + 1
        else:
            n = n + sympy.Min(sympy.Max(length - i, 0), 1)
    return as_dim(n)


def _plain_numbers(val) -> bool:
    return val is not None and all(isinstance(v, (int, float)) for v in val)


@register("NonZero")
def non_zero(ctx: NodeContext, x: Value):
    """(rank, number of non-zero elements)."""
    if _plain_numbers(x.value):
        return Value((len(x.shape), sum(1 for v in x.value if v)), INT64)
    n = data_dependent_symbol(ctx, "nz", "the number of non-zero elements")
    return Value((len(x.shape), n), INT64)


@register("NonMaxSuppression")
def non_max_suppression(ctx: NodeContext, boxes: Value, scores: Value, max_out: Optional[Value] = None,
                        iou: Optional[Value] = None, score_thr: Optional[Value] = None, *, center_point_box=0):
    """(selected boxes, 3); boxes (B, spatial, 4), scores (B, classes, spatial)."""
    if len(boxes.shape) != 3 or len(scores.shape) != 3:
        raise RuleError(f"boxes and scores must have rank 3, got {len(boxes.shape)} and {len(scores.shape)}")
    ctx.require_equal(boxes.shape[0], scores.shape[0], f"batch: boxes have {boxes.shape[0]}, scores {scores.shape[0]}")
    ctx.require_equal(boxes.shape[1], scores.shape[2], f"boxes: {boxes.shape[1]} per batch, scores {scores.shape[2]}")
    ctx.require_equal(boxes.shape[2], 4, f"the last dim of boxes is {boxes.shape[2]}, must be 4")
    if max_out is None or (_plain_numbers(max_out.value) and max_out.value and max_out.value[0] <= 0):
        return Value((0, 3), INT64)  # no box is selected when max_output_boxes_per_class is absent or 0
    n = data_dependent_symbol(ctx, "nms", "the number of selected boxes")
    return Value((n, 3), INT64)


@register("Unique")
def unique(ctx: NodeContext, x: Value, *, axis=None, sorted=1):
    """Y, indices, inverse_indices, counts; their length is the number of unique elements (slices)."""
    u = None
    if axis is None and _plain_numbers(x.value):
        u = len(set(x.value))
    if u is None:
        u = data_dependent_symbol(ctx, "uniq", "the number of unique " + ("elements" if axis is None else "slices"))
    if axis is None:
        return [Value((u,), x.dtype), Value((u,), INT64), Value((x.numel,), INT64), Value((u,), INT64)]
    a = norm_axis(axis, len(x.shape))
    y = x.shape[:a] + (u,) + x.shape[a + 1:]
    return [Value(y, x.dtype), Value((u,), INT64), Value((x.shape[a],), INT64), Value((u,), INT64)]


@register("Compress")
def compress(ctx: NodeContext, x: Value, condition: Value, *, axis=None):
    """Keeps the slices whose condition is true; a condition shorter than the axis truncates it."""
    if condition.shape is not None and len(condition.shape) != 1:
        raise RuleError(f"condition must be 1-D, got rank {len(condition.shape)}")
    length = x.numel if axis is None else x.shape[norm_axis(axis, len(x.shape))]
    if _plain_numbers(condition.value) and length is not None:
        n = _count_true(condition.value, length)
    else:
        n = data_dependent_symbol(ctx, "cmp", "the number of true entries of the condition")
    if axis is None:
        return Value((n,), x.dtype)
    a = norm_axis(axis, len(x.shape))
    return Value(x.shape[:a] + (n,) + x.shape[a + 1:], x.dtype)


def _topk(ctx: NodeContext, x: Value, k: MaybeDim, axis: int):
    a = norm_axis(axis, len(x.shape))
    d = x.shape[a]
    if k is None:
        k = data_dependent_symbol(ctx, "k", "k (how many elements TopK keeps)")
    elif isinstance(k, int) and k < 0:
        ctx.require(False, f"k = {k} is negative")
    elif d is not None:
        ok = known_ge(d, k)
        if ok is False:
            ctx.require(False, f"k = {k} exceeds axis {a}'s size {d}")
        elif ok is None:
            ctx.require(sympy.Ge(sympy.sympify(d), k), f"k = {k} must not exceed axis {a}'s size {d}")
    out = x.shape[:a] + (k,) + x.shape[a + 1:]
    return [Value(out, x.dtype), Value(out, INT64)]


@register("TopK", since=10)
def topk(ctx: NodeContext, x: Value, k_in: Value, *, axis=-1, largest=1, sorted=1):
    """Values and indices: the input with axis ``axis`` cut to k (a constant or a shape-derived value)."""
    k = None
    if k_in.value is not None and len(k_in.value) == 1:
        v = k_in.value[0]
        if isinstance(v, float):
            raise RuleError(f"k is not an integer ({v})")
        k = as_dim(v)
    return _topk(ctx, x, k, axis)


@register("TopK", until=9)
def topk_v1(ctx: NodeContext, x: Value, *, axis=-1, k=None):
    if k is None:
        raise RuleError("attribute k missing")
    return _topk(ctx, x, int(k), axis)



describe("Compress", cost=free_cost)
describe("NonZero", cost=elementwise_cost)
