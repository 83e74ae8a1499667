"""Elementwise ops: unary (shape kept) and n-ary with numpy broadcasting. Small constant contents
(shape arithmetic: Shape -> Gather -> Mul -> Concat) are carried through as Dims."""
from __future__ import annotations

import math
from typing import Callable, Dict, Optional

import sympy

from ..dims import as_dim, floordiv, mod, truncdiv
from ..tensor import Value
from ._util import broadcast_shapes, broadcast_values
from .registry import NodeContext, register

_INT_TYPES = {2, 3, 4, 5, 6, 7, 9, 12, 13}

UNARY = (
    "Relu", "Sigmoid", "Tanh", "Exp", "Log", "Reciprocal", "Erf", "Gelu", "LeakyRelu", "HardSigmoid",
    "HardSwish", "Softplus", "Softsign", "Elu", "Selu", "Celu", "ThresholdedRelu", "Mish", "Sin", "Cos", "Tan",
    "Asin", "Acos", "Atan", "Sinh", "Cosh", "Asinh", "Acosh", "Atanh", "Round", "IsNaN", "IsInf", "BitwiseNot",
    "Shrink", "Softmax", "LogSoftmax", "Hardmax", "LRN", "MeanVarianceNormalization", "Trilu", "CumSum",
)


def _num(x):
    return x if isinstance(x, (int, float)) else x


_UNARY_VALUE: Dict[str, Callable] = {
    "Identity": lambda x: x,
    "Neg": lambda x: -x,
    "Abs": lambda x: abs(x) if isinstance(x, (int, float)) else as_dim(sympy.Abs(x)),
    "Floor": lambda x: math.floor(x) if isinstance(x, (int, float)) else as_dim(sympy.floor(x)),
    "Ceil": lambda x: math.ceil(x) if isinstance(x, (int, float)) else as_dim(sympy.ceiling(x)),
    "Sign": lambda x: (x > 0) - (x < 0) if isinstance(x, (int, float)) else as_dim(sympy.sign(x)),
    "Not": lambda x: int(not x) if isinstance(x, (int, float)) else None,
    "Sqrt": lambda x: math.sqrt(x) if isinstance(x, (int, float)) else as_dim(sympy.sqrt(x)),
}


@register(*UNARY)
@register("QuickGelu", "BiasGelu", "FastGelu", domain="com.microsoft")
def unary(ctx: NodeContext, x: Value, *rest, **_):
    return Value(x.shape, x.dtype)


@register("Identity", "Neg", "Abs", "Floor", "Ceil", "Sign", "Not", "Sqrt")
def unary_value(ctx: NodeContext, x: Value, **_):
    val = None
    if x.value is not None:
        f = _UNARY_VALUE[ctx.op_type]
        vals = [f(v) for v in x.value]
        val = None if any(v is None for v in vals) else tuple(vals)
    return Value(x.shape, x.dtype if ctx.op_type != "Not" else 9, val)


@register("Dropout")
def dropout(ctx: NodeContext, x: Value, *rest, **_):
    return [Value(x.shape, x.dtype, x.value), Value(x.shape, 9)]


@register("Cast", "CastLike")
def cast(ctx: NodeContext, x: Value, like: Optional[Value] = None, *, to=None, **_):
    dtype = like.dtype if like is not None else (to or 0)
    val = x.value
    if val is not None and dtype in _INT_TYPES:
        # float -> int casts truncate toward zero; a symbolic size is already an integer
        val = tuple(int(v) if isinstance(v, float) else as_dim(v) for v in val)
    elif val is not None and dtype in (1, 10, 11, 16):
        val = tuple(float(v) if isinstance(v, int) else v for v in val)
    return Value(x.shape, dtype, val)


@register("Clip")
def clip(ctx: NodeContext, x: Value, lo: Optional[Value] = None, hi: Optional[Value] = None, **_):
    return Value(x.shape, x.dtype)


def _int_div(a, b):
    if isinstance(a, float) or isinstance(b, float):
        return a / b if not (isinstance(a, (int, float)) and isinstance(b, (int, float))) else a / b
    return truncdiv(a, b)


def _float_div(a, b):
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a / b
    return sympy.sympify(a) / b  # exact rational, floored / ceiled later by Floor / Ceil / Cast


_BINARY: Dict[str, Callable] = {
    "Add": lambda a, b: a + b,
    "Sub": lambda a, b: a - b,
    "Mul": lambda a, b: a * b,
    "Mod": lambda a, b: mod(a, b),
    "Max": lambda a, b: a if _known(a >= b) else b if _known(b >= a) else as_dim(sympy.Max(a, b)),
    "Min": lambda a, b: a if _known(a <= b) else b if _known(b <= a) else as_dim(sympy.Min(a, b)),
    "Pow": lambda a, b: a ** b,
}
_COMPARE = {
    "Equal": sympy.Eq, "Less": sympy.Lt, "Greater": sympy.Gt, "LessOrEqual": sympy.Le, "GreaterOrEqual": sympy.Ge,
}


def _known(rel) -> bool:
    return rel is True or rel == sympy.true


def _elementwise_value(op: str, vals, dtype: int):
    if op == "Div":
        f = _int_div if dtype in _INT_TYPES else _float_div
        return tuple(as_dim(f(a, b)) if not isinstance(f(a, b), float) else f(a, b) for a, b in zip(*vals))
    if op in _BINARY:
        return tuple(_BINARY[op](a, b) for a, b in zip(*vals))
    if op in _COMPARE:
        out = []
        for a, b in zip(*vals):
            r = _COMPARE[op](a, b)
            if r not in (True, False, sympy.true, sympy.false):
                return None
            out.append(int(bool(r)))
        return tuple(out)
    if op in ("And", "Or", "Xor"):
        fn = {"And": lambda a, b: a and b, "Or": lambda a, b: a or b, "Xor": lambda a, b: bool(a) != bool(b)}[op]
        return tuple(int(bool(fn(a, b))) for a, b in zip(*vals))
    return None


@register("Add", "Sub", "Mul", "Div", "Pow", "Mod", "Max", "Min", "Sum", "Mean", "PRelu", "And", "Or", "Xor",
          "Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual", "BitShift", "BitwiseAnd", "BitwiseOr",
          "BitwiseXor")
def nary(ctx: NodeContext, *xs: Value, **_):
    xs = [x for x in xs if x is not None]
    if any(x.shape is None for x in xs):
        return Value(None, xs[0].dtype if xs else 0)
    shape = broadcast_shapes(ctx, [x.shape for x in xs])
    dtype = 9 if ctx.op_type in _COMPARE or ctx.op_type in ("And", "Or", "Xor") else xs[0].dtype
    val = None
    if len(xs) == 2 and shape is not None and all(x.value is not None for x in xs):
        expanded = broadcast_values([x.value for x in xs], [x.shape for x in xs], shape)
        if expanded is not None:
            try:
                val = _elementwise_value(ctx.op_type, expanded, xs[0].dtype)
            except (TypeError, ZeroDivisionError):
                val = None
    return Value(shape, dtype, val)


@register("Where")
def where(ctx: NodeContext, cond: Value, a: Value, b: Value):
    shape = broadcast_shapes(ctx, [cond.shape, a.shape, b.shape])
    val = None
    if shape is not None and all(v.value is not None for v in (cond, a, b)):
        ex = broadcast_values([cond.value, a.value, b.value], [cond.shape, a.shape, b.shape], shape)
        if ex is not None:
            val = tuple(x if c else y for c, x, y in zip(*ex))
    return Value(shape, a.dtype, val)
