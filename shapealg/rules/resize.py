"""Resize / Upsample: output = floor(input * scale) per axis, or the given sizes."""
from __future__ import annotations

import math
import struct
from fractions import Fraction
from typing import Optional

import sympy

from ..costmodel import OpCost, cost_model, counted, mul, numel, zero
from ..dims import as_dim, floordiv
from ..records import Value
from ._util import norm_axis
from .registry import NodeContext, RuleError, describe, register


def _f32(x: float) -> float:
    return struct.unpack("f", struct.pack("f", x))[0]


def scale_rational(s: float) -> sympy.Rational:
    """The rational a float32 scale stands for: the simplest fraction that rounds to the same float32
    (0.699999988 -> 7/10, 0.33333334 -> 1/3). onnxruntime multiplies in float32, so 0.7f * 10 gives 7."""
    s32 = _f32(s)
    exact = Fraction(s32)
    for den in (1, 2, 3, 4, 5, 6, 8, 10, 16, 32, 64, 100, 1000, 10 ** 4, 10 ** 5, 10 ** 6):
        cand = exact.limit_denominator(den)  # the best fraction with a small denominator
        if _f32(float(cand)) == s32:
            return sympy.Rational(cand.numerator, cand.denominator)
    return sympy.Rational(exact.numerator, exact.denominator)


def _scaled(d, s: float):
    """floor(d * s) with s the rational the float32 scale stands for (2.0, 0.5, 7/10)."""
    if d is None:
        return None
    frac = scale_rational(s)
    if isinstance(d, int):
        return int(sympy.floor(d * frac))
    p, q = frac.as_numer_denom()
    return floordiv(as_dim(sympy.expand(d * p)), int(q))


def _keep_aspect(ctx: NodeContext, ins, sizes, policy: str):
    """One scale for every resized axis: s = min (not_larger) or max (not_smaller) of size_i / in_i; each axis
    becomes round(s * in_i) (half up). At an exact half the runtime's float rounding decides: left unknown."""
    from fractions import Fraction
    if all(isinstance(d, int) for d in ins) and all(isinstance(v, int) for v in sizes):
        if any(d == 0 for d in ins):
            return [None] * len(ins)
        ratios = [Fraction(v, d) for v, d in zip(sizes, ins)]
        sc = min(ratios) if policy == "not_larger" else max(ratios)
        out = []
        for d in ins:
            t = sc * d
            out.append(None if t.denominator == 2 else int(math.floor(t + Fraction(1, 2))))
        if None in out:
            ctx.warn("keep_aspect_ratio_policy: a scaled size is an exact half (the runtime's float rounding "
                     "decides); that dim is unknown")
        return out
    try:
        ratios = [sympy.Rational(1) * sympy.sympify(v) / sympy.sympify(d) for v, d in zip(sizes, ins)]
        sc = sympy.Min(*ratios) if policy == "not_larger" else sympy.Max(*ratios)
        return [as_dim(sympy.floor(sc * sympy.sympify(d) + sympy.Rational(1, 2))) for d in ins]
    except Exception:  # noqa: BLE001 - a formula the dim algebra cannot hold: unknown, said
        ctx.warn(f"keep_aspect_ratio_policy={policy} on symbolic sizes gives no formula here; resized dims unknown")
        return [None] * len(ins)


@register("Resize", since=11)
def resize(ctx: NodeContext, x: Value, roi: Optional[Value] = None, scales: Optional[Value] = None,
           sizes: Optional[Value] = None, *, axes=None, keep_aspect_ratio_policy="stretch", **_):
    r = len(x.shape)
    ax = [norm_axis(a, r) for a in axes] if axes is not None else list(range(r))
    out = list(x.shape)
    if sizes is not None and sizes.shape != (0,):
        if sizes.value is None:
            for a in ax:
                out[a] = None
            ctx.warn(f"output sizes are computed at run time and could not be "
                     f"derived; resized dims unknown")
            return Value(tuple(out), x.dtype)
        vals = [as_dim(v) for v in sizes.value]
        if keep_aspect_ratio_policy not in ("stretch", "not_larger", "not_smaller"):
            raise RuleError(f"keep_aspect_ratio_policy={keep_aspect_ratio_policy!r} is not stretch / not_larger / "
                            f"not_smaller")
        if keep_aspect_ratio_policy != "stretch":
            kept = _keep_aspect(ctx, [x.shape[a] for a in ax], vals, keep_aspect_ratio_policy)
            for a, v in zip(ax, kept):
                out[a] = v
            return Value(tuple(out), x.dtype)
        for a, v in zip(ax, vals):
            out[a] = v
    elif scales is not None and scales.shape != (0,):
        if scales.value is None:
            raise RuleError("scales are not constant")
        for a, s in zip(ax, scales.value):
            if isinstance(s, float) or isinstance(s, int):
                out[a] = _scaled(x.shape[a], float(s))
            else:
                raise RuleError("symbolic scales")
    else:
        raise RuleError("neither scales nor sizes given")
    given_sizes = sizes is not None and sizes.shape != (0,)
    for a in ax:
        if given_sizes:  # onnxruntime turns sizes into scales size/input and refuses a scale of 0
            ctx.require_positive(out[a], f"resized axis {a} (a size of 0 is a scale of 0, which onnxruntime refuses)")
        else:  # a positive scale may round an axis down to 0: an empty output, which onnxruntime computes
            ctx.require_nonnegative(out[a], f"resized axis {a}")
    return Value(tuple(out), x.dtype)


@register("Resize", "Upsample", until=10)
def upsample(ctx: NodeContext, x: Value, scales_in: Optional[Value] = None, *, scales=None, **_):
    sc = list(scales) if scales is not None else (list(scales_in.value) if scales_in is not None and
                                                   scales_in.value is not None else None)
    if sc is None:
        raise RuleError("scales unknown")
    out = tuple(_scaled(d, float(s)) for d, s in zip(x.shape, sc))
    if ctx.op_type == "Upsample" and any(float(s) < 1 for s in sc):  # the spec: every scale >= 1
        ctx.require(False, f"Upsample scales {list(sc)} must all be >= 1")
    for a, s in enumerate(sc):
        if float(s) != 1.0:
            ctx.require_nonnegative(out[a], f"resized axis {a}")
    return Value(out, x.dtype)


@register("Upsample", since=11)
def upsample_late(ctx: NodeContext, x: Value, scales_in: Optional[Value] = None, **kw):
    return upsample(ctx, x, scales_in, **kw)


# ---------------------------------------------------------------- costs (docs/COSTS.md)

@cost_model("resize")
def resize_cost(node, view, conv) -> OpCost:
    """``full``: nearest 0, linear 2^r, cubic 4^r per output element (r spatial dims)."""
    out = view.shape(node.outputs[0])
    mode = view.attrs(node).get("mode", "nearest")
    mode = mode.decode() if isinstance(mode, bytes) else str(mode)
    if conv.style == "torchinfo" or not conv.resize:
        return zero("resize", conv)
    if conv.style == "fvcore":
        w = {"nearest": 1, "linear": 4}.get(mode, 0)
        if not w:
            return zero("resize", conv, f"fvcore does not count {mode} interpolation")
    elif conv.style == "onnx-tool":
        w = {"nearest": 0, "linear": 4, "cubic": 8}.get(mode, 0)
    else:
        r = max(0, len(out) - 2) if out else 0
        w = {"nearest": 0, "linear": 2 ** r, "cubic": 4 ** r}.get(mode, 0)
    return counted(mul(numel(out), w), "resize")


describe("Resize", "Upsample", cost=resize_cost)
