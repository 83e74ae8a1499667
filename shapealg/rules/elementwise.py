"""Elementwise ops: unary (shape kept) and n-ary with numpy broadcasting. Small constant contents
(shape arithmetic: Shape -> Gather -> Mul -> Concat) are carried through as Dims."""
from __future__ import annotations

import math
from typing import Callable, Dict, Optional

import sympy

from ..bounds import outer, overall, same_bounds
from ..costmodel import OpCost, cost_model, counted, free_cost, mul, numel, onnx_tool_pointwise, \
    weights, zero
from ..dims import as_dim, canon, ceildiv, dmax, dmin, floordiv, known_ge, mod, truncdiv
from ..enums import INT_TYPES, DType
from ..records import Value
from ._util import broadcast_shapes, broadcast_values
from .linear import linear_bias_cost, linear_bias_input
from .norm import norm_cost
from .registry import NodeContext, describe, register

_INT_TYPES = INT_TYPES | {DType.BOOL}  # exact integer arithmetic on contents

UNARY = (
    "Relu", "Sigmoid", "Tanh", "Exp", "Log", "Reciprocal", "Erf", "Gelu", "LeakyRelu", "HardSigmoid",
    "HardSwish", "Softplus", "Softsign", "Elu", "Selu", "Celu", "ThresholdedRelu", "Mish", "Sin", "Cos", "Tan",
    "Asin", "Acos", "Atan", "Sinh", "Cosh", "Asinh", "Acosh", "Atanh", "Round", "IsNaN", "IsInf", "BitwiseNot",
    "Shrink", "Softmax", "LogSoftmax", "Hardmax", "LRN", "MeanVarianceNormalization", "Trilu", "CumSum",
    "CumProd", "Swish",
)


def _is_sym_bool(c) -> bool:
    """A condition in the input symbols (Eq(2*floor(H/8) - 1, 15)...), not a decided True / False."""
    return (isinstance(c, sympy.logic.boolalg.Boolean) and not isinstance(c, sympy.Expr)  # a Symbol is both
            and c not in (sympy.true, sympy.false))


def _truth(c):
    """Python truth of a decided condition value; None when it depends on the size."""
    if _is_sym_bool(c):
        return None
    if isinstance(c, sympy.Basic) and not c.is_number and c not in (sympy.true, sympy.false):
        return None
    return bool(c)


def _sym_not(x):
    return sympy.Not(x) if _is_sym_bool(x) else None


def _rounded(x, div, fn):
    """Floor / Ceil of a symbolic value p/q (p integer-valued, q a positive int) in the one canonical
    form dims.floordiv / ceildiv give (ceil(c/2) == floor((c + 1)/2)), so the same size reached through
    a float Ceil and through a pool formula compares equal (no Max of two spellings of one dim)."""
    num, den = sympy.fraction(sympy.together(sympy.sympify(x)))
    if den.is_Integer and int(den) > 0 and num.is_integer:
        return div(sympy.expand(num), int(den))
    return as_dim(fn(x))


_UNARY_VALUE: Dict[str, Callable] = {
    "Identity": lambda x: x,
    "Neg": lambda x: -x,
    "Abs": lambda x: abs(x) if isinstance(x, (int, float)) else sympy.Abs(x, evaluate=False),  # decided by canon
    "Floor": lambda x: math.floor(x) if isinstance(x, (int, float)) else _rounded(x, floordiv, sympy.floor),
    "Ceil": lambda x: math.ceil(x) if isinstance(x, (int, float)) else _rounded(x, ceildiv, sympy.ceiling),
    "Sign": lambda x: (x > 0) - (x < 0) if isinstance(x, (int, float)) else sympy.sign(x, evaluate=False),
    "Not": lambda x: int(not x) if isinstance(x, (int, float)) else _sym_not(x),
    "Sqrt": lambda x: math.sqrt(x) if isinstance(x, (int, float)) else as_dim(sympy.sqrt(x)),
}


@register(*UNARY)
def unary(ctx: NodeContext, x: Value, *rest, **_):
    return Value(x.shape, x.dtype)


@register("Identity", "Neg", "Abs", "Floor", "Ceil", "Sign", "Not", "Sqrt")
def unary_value(ctx: NodeContext, x: Value, **_):
    val = None
    if x.value is not None:
        f = _UNARY_VALUE[ctx.op_type]
        try:
            vals = [f(v) for v in x.value]
        except (ValueError, OverflowError):  # a NaN / inf (sqrt of a negative): contents not tracked
            vals = [None]
        val = None if any(v is None for v in vals) else tuple(vals)
    return Value(x.shape, x.dtype if ctx.op_type != "Not" else 9, val)


@register("Dropout")
def dropout(ctx: NodeContext, x: Value, *rest, **_):
    # the contents pass through only in inference mode: training_mode (input 2) absent or a known 0
    mode = rest[1] if len(rest) > 1 else None
    inference = mode is None or (mode.value is not None and len(mode.value) == 1 and mode.value[0] in (0, False))
    return [Value(x.shape, x.dtype, x.value if inference else None), Value(x.shape, 9)]


@register("BitCast", since=26)
def bit_cast(ctx: NodeContext, x: Value, *, to=None):
    """The same bits read as ``to`` (of the same width): the input's shape."""
    return Value(x.shape, int(to or 0))


@register("Cast", "CastLike")
def cast(ctx: NodeContext, x: Value, like: Optional[Value] = None, *, to=None, **_):
    dtype = like.dtype if like is not None else (to or 0)
    val = x.value
    if val is not None and any(_is_sym_bool(v) for v in val):
        if dtype == 9:
            return Value(x.shape, dtype, val)
        one, zero = (1, 0) if dtype in _INT_TYPES else (sympy.Integer(1), sympy.Integer(0))
        val = tuple(canon(sympy.Piecewise((one, v), (zero, True), evaluate=False)) if _is_sym_bool(v) else v for v in val)
        return Value(x.shape, dtype, val if dtype in _INT_TYPES else None)
    if val is not None and dtype in _INT_TYPES:
        # float -> int casts truncate toward zero; a symbolic size is already an integer
        val = tuple(int(v) if isinstance(v, float) else _trunc(as_dim(v)) for v in val)
        if any(v is None for v in val):
            val = None
    elif val is not None and dtype in (1, 10, 11, 16):
        val = tuple(float(v) if isinstance(v, int) else v for v in val)
    return Value(x.shape, dtype, val)


def _trunc(v):
    """A symbolic value cast to an int type: truncated toward zero (floor when it is >= 0)."""
    if not isinstance(v, sympy.Basic) or v.is_integer:
        return v
    if known_ge(v, 0) is True:
        return as_dim(sympy.floor(v))
    if known_ge(0, v) is True:
        return as_dim(sympy.ceiling(v))
    return None


@register("Clip")
def clip(ctx: NodeContext, x: Value, lo: Optional[Value] = None, hi: Optional[Value] = None, **_):
    return Value(x.shape, x.dtype)


def _minmax(of_dims, of_floats, a, b):
    """Max / Min of two values: the dim algebra's for integer formulas, sympy's otherwise (floats)."""
    if isinstance(a, float) or isinstance(b, float):
        return as_dim(of_floats(a, b))
    return of_dims(a, b)


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
    "Max": lambda a, b: a if _ge(a, b) else b if _ge(b, a) else _minmax(dmax, sympy.Max, a, b),
    "Min": lambda a, b: a if _ge(b, a) else b if _ge(a, b) else _minmax(dmin, sympy.Min, a, b),
    "Pow": lambda a, b: a ** b,
}
_COMPARE = {
    "Equal": sympy.Eq, "Less": sympy.Lt, "Greater": sympy.Gt, "LessOrEqual": sympy.Le, "GreaterOrEqual": sympy.Ge,
}


def _ge(a, b) -> bool:
    """a >= b for every size: plain comparison for numbers, dims.known_ge (which bounds floors and
    ceilings) for formulas, e.g. 2*ceiling(H/2) + 5 - H >= 0 in a dynamic 'SAME' pad's Max(0, ...)."""
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a >= b
    try:
        if _known(a >= b):
            return True
        return known_ge(as_dim(a) if not isinstance(a, float) else a, as_dim(b) if not isinstance(b, float) else b) is True
    except (TypeError, ValueError):
        return False


def _known(rel) -> bool:
    return rel is True or rel == sympy.true


def _exact(a, b):
    """A float met with a symbolic size becomes the exact rational it stores (0.5 -> 1/2), so that
    ceil(0.5*H) stays the integer formula ceiling(H/2) instead of a sympy Float that never simplifies."""
    def conv(x, other):
        if isinstance(x, float) and isinstance(other, sympy.Basic) and not other.is_number and math.isfinite(x):
            return sympy.Rational(x)
        return x
    return conv(a, b), conv(b, a)


def _elementwise_value(op: str, vals, dtype: int):
    vals = [tuple(v) for v in vals]
    if len(vals) == 2:
        pairs = [_exact(a, b) for a, b in zip(*vals)]
        vals = [tuple(p[0] for p in pairs), tuple(p[1] for p in pairs)]
    if op == "Div":
        f = _int_div if dtype in _INT_TYPES else _float_div
        return tuple(as_dim(f(a, b)) if not isinstance(f(a, b), float) else f(a, b) for a, b in zip(*vals))
    if op in _BINARY:
        return tuple(_BINARY[op](a, b) for a, b in zip(*vals))
    if op in _COMPARE:
        out = []
        for a, b in zip(*vals):
            if _is_sym_bool(a) or _is_sym_bool(b):
                return None
            r = _COMPARE[op](a, b)
            if r in (True, False, sympy.true, sympy.false):
                out.append(int(bool(r)))
            elif _is_sym_bool(r) and not r.has(sympy.Float):
                out.append(r)  # a condition on the sizes (the If of VitDet's rel-pos resize reads it)
            else:
                return None
        return tuple(out)
    if op in ("And", "Or", "Xor"):
        fn = {"And": lambda a, b: a and b, "Or": lambda a, b: a or b, "Xor": lambda a, b: bool(a) != bool(b)}[op]
        sym = {"And": sympy.And, "Or": sympy.Or, "Xor": sympy.Xor}[op]
        out = []
        for a, b in zip(*vals):
            if _is_sym_bool(a) or _is_sym_bool(b):
                ta, tb = _truth(a), _truth(b)
                out.append(sym(sympy.true if ta is True else sympy.false if ta is False else a,
                               sympy.true if tb is True else sympy.false if tb is False else b))
            else:
                out.append(int(bool(fn(a, b))))
        return tuple(out)
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
            except (TypeError, ValueError, ZeroDivisionError):
                val = None
    return Value(shape, dtype, val)


@register("Where")
def where(ctx: NodeContext, cond: Value, a: Value, b: Value):
    shape = broadcast_shapes(ctx, [cond.shape, a.shape, b.shape])
    val = None
    if shape is not None and all(v.value is not None for v in (cond, a, b)):
        ex = broadcast_values([cond.value, a.value, b.value], [cond.shape, a.shape, b.shape], shape)
        if ex is not None:
            out = []
            for c, x, y in zip(*ex):
                t = _truth(c)
                if t is None and _is_sym_bool(c) and not isinstance(x, float) and not isinstance(y, float):
                    out.append(canon(sympy.Piecewise((x, c), (y, True), evaluate=False)))  # decided by the algebra
                elif t is None:
                    out = None
                    break
                else:
                    out.append(x if t else y)
            val = tuple(out) if out is not None else None
    return Value(shape, a.dtype, val)


# ---------------------------------------------------------------- costs (docs/COSTS.md)

VARIADIC = frozenset({"Sum", "Mean", "Max", "Min"})
ELEMENTWISE_OPS = (
    "Add", "Sub", "Mul", "Div", "Pow", "Mod", "Max", "Min", "Sum", "Mean", "Equal", "Less", "LessOrEqual",
    "Greater", "GreaterOrEqual", "And", "Or", "Xor", "Not", "BitShift", "BitwiseAnd", "BitwiseOr", "BitwiseXor",
    "BitwiseNot", "Where", "Relu", "LeakyRelu", "PRelu", "Sigmoid", "HardSigmoid", "HardSwish", "Tanh", "Elu",
    "Selu", "Celu", "Gelu", "Mish", "Softplus", "Softsign", "ThresholdedRelu", "Shrink", "Exp", "Log", "Sqrt",
    "Reciprocal", "Neg", "Abs", "Ceil", "Floor", "Round", "Sign", "Sin", "Cos", "Tan", "Asin", "Acos", "Atan",
    "Sinh", "Cosh", "Asinh", "Acosh", "Atanh", "Erf", "Clip", "IsNaN", "IsInf", "Softmax", "LogSoftmax",
    "Hardmax", "CumSum", "Silu", "BiasGelu", "FastGelu", "QuickGelu", "CumProd", "Swish",
)


@cost_model("elementwise")
def elementwise_cost(node, view, conv) -> OpCost:
    """``full``: one op per output element (Sum / Mean / Max / Min: inputs - 1); a Linear's bias add (MatMul +
    Add) is counted as a bias."""
    if node.op_type == "Add" and linear_bias_input(node, view) is not None:
        return linear_bias_cost(node, view, conv)
    out = view.shape(node.outputs[0])
    n_in = len([x for x in node.inputs if x])
    if conv.style == "onnx-tool":
        return onnx_tool_pointwise(node, out, n_in)
    if conv.style == "torchinfo" and node.op_type == "PRelu":
        w = weights(node, view, (1,))
        return counted(mul(out[0], w) if out else None, "elementwise", "torchinfo: first output dim * weights")
    if not conv.elementwise:
        return zero("elementwise", conv)
    ratio = max(1, n_in - 1) if node.op_type in VARIADIC else 1
    return counted(mul(numel(out), ratio), "elementwise")


# Silu has no shape rule yet; its cost is stated for files whose other ops are analysed
describe(*ELEMENTWISE_OPS, cost=elementwise_cost)
describe("Identity", "Dropout", "Cast", "CastLike", "Trilu", "BitCast", cost=free_cost)
describe("MeanVarianceNormalization", "LRN", cost=norm_cost)


# ---------------------------------------------------------------- index bounds (shapealg.bounds)

def arith_bounds(node, ins, in_bounds, out):
    """Add / Sub / Mul of index tensors, only where the bounds stay exact (an outer sum / product)."""
    if len(ins) < 2 or ins[0] is None or ins[1] is None:
        return None
    ba, bb = overall(in_bounds[0]), overall(in_bounds[1])
    if ba is None or bb is None or not outer(ins[0], ins[1]):
        return None
    (la, ha), (lb, hb) = ba[0], bb[0]
    if node.op_type == "Add":
        return ((la + lb, ha + hb),)
    if node.op_type == "Sub":
        return ((la - hb, ha - lb),)
    if known_ge(la, 0) is True and known_ge(lb, 0) is True:  # Mul of non-negatives
        return ((la * lb, ha * hb),)
    return None


describe("Identity", "Cast", bounds=same_bounds)
describe("Add", "Sub", "Mul", bounds=arith_bounds)
