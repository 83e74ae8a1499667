"""Ops that make tensors: OneHot, EyeLike, RandomNormal / RandomUniform (and their *Like forms), Bernoulli,
Multinomial."""
from __future__ import annotations

from ..dims import as_dim
from ..enums import DType
from ..records import Value
from ._util import norm_axis
from .data_dependent import data_dependent_symbol
from ..costmodel import free_cost
from .registry import NodeContext, RuleError, describe, register

FLOAT, INT32 = DType.FLOAT, DType.INT32


@register("OneHot", since=9)
def one_hot(ctx: NodeContext, indices: Value, depth: Value, values: Value, *, axis=-1):
    """indices' shape with ``depth`` inserted at ``axis`` (of the output's rank r + 1)."""
    d = None
    if depth.value is not None and len(depth.value) == 1:
        v = depth.value[0]
        if isinstance(v, float):  # a float depth is cast to an integer
            v = int(v)
        d = as_dim(v)
        if isinstance(d, int) and d < 1:
            ctx.require(False, f"depth {d} must be >= 1")
    if d is None:
        d = data_dependent_symbol(ctx, "depth", "depth (the one-hot length)")
    if values.shape is not None:
        ctx.require_equal(values.numel, 2, f"values must hold 2 elements (off, on), got {values.numel}")
    r = len(indices.shape) + 1
    a = norm_axis(axis, r)
    out = list(indices.shape)
    out.insert(a, d)
    return Value(tuple(out), values.dtype)


@register("EyeLike", since=9)
def eye_like(ctx: NodeContext, x: Value, *, dtype=None, k=0):
    if len(x.shape) != 2:
        raise RuleError(f"input must have rank 2, got {len(x.shape)}")
    return Value(x.shape, dtype if dtype is not None else x.dtype)


@register("RandomNormal", "RandomUniform")
def random_fill(ctx: NodeContext, *, shape=None, dtype=FLOAT, **_):
    if shape is None:
        raise RuleError("shape attribute missing")
    return Value(tuple(int(d) for d in shape), dtype)


@register("RandomNormalLike", "RandomUniformLike")
def random_like(ctx: NodeContext, x: Value, *, dtype=None, **_):
    return Value(x.shape, dtype if dtype is not None else x.dtype)


@register("Bernoulli", since=15)
def bernoulli(ctx: NodeContext, x: Value, *, dtype=None, seed=None):
    return Value(x.shape, dtype if dtype is not None else x.dtype)


@register("Multinomial", since=7)
def multinomial(ctx: NodeContext, x: Value, *, dtype=INT32, sample_size=1, seed=None):
    """(batch, classes) -> (batch, sample_size)."""
    if len(x.shape) != 2:
        raise RuleError(f"input must have rank 2, got {len(x.shape)}")
    return Value((x.shape[0], sample_size), dtype)



describe("EyeLike", "OneHot", cost=free_cost)
