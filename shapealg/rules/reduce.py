"""Reductions: the reduced axes become 1 (keepdims) or disappear."""
from __future__ import annotations

from typing import Optional

from ..costmodel import CostStatus, OpCost, cost_model, counted, mul, numel, volume, zero
from ..dims import prod
from ..enums import DType
from ..records import Value
from ._util import const_ints, norm_axis
from .registry import NodeContext, describe, register

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
    return Value(out, DType.INT64)


# ---------------------------------------------------------------- costs (docs/COSTS.md)

ONNX_TOOL_REDUCE = {"ReduceMean": 1, "ReduceSum": 1, "ReduceProd": 1, "ReduceMin": 1, "ReduceMax": 1, "ReduceL2": 25}


@cost_model("reduce")
def reduce_cost(node, view, conv) -> OpCost:
    """``full``: one op per input element."""
    x = view.shape(node.inputs[0])
    if conv.style == "onnx-tool":
        if node.op_type not in ONNX_TOOL_REDUCE:
            return OpCost(0, CostStatus.ZERO, "reduce", "onnx-tool profiles this op as 0")
        return counted(mul(volume(x), ONNX_TOOL_REDUCE[node.op_type]), "reduce")
    if not conv.elementwise:
        return zero("reduce", conv)
    return counted(numel(x), "reduce")


describe(*REDUCE, "ArgMax", "ArgMin", cost=reduce_cost)
