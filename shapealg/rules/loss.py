"""Losses: NegativeLogLikelihoodLoss, SoftmaxCrossEntropyLoss."""
from __future__ import annotations

from typing import Optional

from ..records import Value
from .elementwise import elementwise_cost
from .registry import NodeContext, RuleError, register


def _check(ctx: NodeContext, x: Value, target: Value, weight: Optional[Value]):
    if len(x.shape) < 2:
        raise RuleError(f"input must have rank >= 2 (N, C, ...), got {len(x.shape)}")
    if target.shape is not None:
        if len(target.shape) != len(x.shape) - 1:
            ctx.require(False, f"target rank {len(target.shape)} must be the input's minus 1 ({len(x.shape) - 1})")
        else:
            ctx.require_equal(x.shape[0], target.shape[0], f"batch: input {x.shape[0]}, target {target.shape[0]}")
            for i, (a, b) in enumerate(zip(x.shape[2:], target.shape[1:])):
                ctx.require_equal(a, b, f"axis {i + 2} of the input ({a}) must equal target axis {i + 1} ({b})")
    if weight is not None and weight.shape is not None:
        if len(weight.shape) != 1:
            ctx.require(False, f"weight must be 1-D, got rank {len(weight.shape)}")
        else:
            ctx.require_equal(weight.shape[0], x.shape[1], f"weight length {weight.shape[0]} must equal C {x.shape[1]}")


def _reduced(x: Value, target: Value, reduction: str):
    if reduction == "none":
        shape = target.shape if target.shape is not None else (x.shape[0],) + tuple(x.shape[2:])
        return Value(shape, x.dtype)
    if reduction not in ("mean", "sum"):
        raise RuleError(f"reduction {reduction!r} is not none / mean / sum")
    return Value((), x.dtype)


@register("NegativeLogLikelihoodLoss", since=12, cost=elementwise_cost)
def nll_loss(ctx: NodeContext, x: Value, target: Value, weight: Optional[Value] = None, *, reduction="mean",
             ignore_index=None):
    """input (N, C, d...), target (N, d...): the target's shape (reduction none) or a scalar."""
    _check(ctx, x, target, weight)
    return _reduced(x, target, reduction)


@register("SoftmaxCrossEntropyLoss", since=12, cost=elementwise_cost)
def softmax_cross_entropy(ctx: NodeContext, scores: Value, labels: Value, weights: Optional[Value] = None, *,
                          reduction="mean", ignore_index=None):
    """output: the labels' shape (reduction none) or a scalar; log_prob: the scores' shape."""
    _check(ctx, scores, labels, weights)
    return [_reduced(scores, labels, reduction), Value(scores.shape, scores.dtype)]
