"""Reductions: the reduced axes become 1 (keepdims) or disappear."""
from __future__ import annotations

from typing import Optional

from ..dims import prod
from ..tensor import Value
from ._util import const_ints, norm_axis
from .registry import NodeContext, register

REDUCE = ("ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2",
          "ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare")


@register(*REDUCE)
def reduce(ctx: NodeContext, x: Value, axes_in: Optional[Value] = None, *, axes=None, keepdims=1,
           noop_with_empty_axes=0):
    r = len(x.shape)
    ax = const_ints(axes_in, "axes") if axes_in is not None else axes
    if not ax:
        if noop_with_empty_axes:
            return Value(x.shape, x.dtype, x.value)
        ax = list(range(r))
    ax = {norm_axis(a, r) for a in ax}
    out = tuple(1 if i in ax else d for i, d in enumerate(x.shape) if keepdims or i not in ax)
    val = None
    if x.value is not None and r == 1 and ctx.op_type in ("ReduceProd", "ReduceSum"):
        val = (prod(x.value),) if ctx.op_type == "ReduceProd" else (sum(x.value),)
    return Value(out, x.dtype, val)


@register("ArgMax", "ArgMin")
def arg_reduce(ctx: NodeContext, x: Value, *, axis=0, keepdims=1, select_last_index=0):
    a = norm_axis(axis, len(x.shape))
    out = tuple(1 if i == a else d for i, d in enumerate(x.shape) if keepdims or i != a)
    return Value(out, 7)
