"""How a cost grows as the input grows: the leading term of a formula when every spatial size scales together.

floor / ceiling differ from their argument by less than 1, so for the leading term they are replaced by their
arguments (``floor(H/16) -> H/16``); Mod is bounded and drops out. What is left is a polynomial in the spatial
symbols; its top-degree homogeneous part is the leading term (``H**2*W**2/65536`` for the score MatMul of a
ViT with 16-pixel patches), and the growth order is that part's monomials without coefficients, written with
``H*W`` where it can be (``(H*W)^2``). Where no polynomial comes out (Max, Piecewise), the degree is estimated
from the values at two large sizes and the order is reported as ``s^d`` with s the common scale.
"""
from __future__ import annotations

import math
from functools import lru_cache
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence

import sympy

from ..dims import MaybeDim, symbol

__all__ = ["Growth", "growth", "leading_coefficient"]

_S = sympy.Symbol("s", positive=True)


@dataclass(frozen=True)
class Growth:
    degree: Optional[float]     # total degree in the spatial symbols (2 for H*W, 4 for (H*W)^2)
    leading: Optional[sympy.Expr]  # the top-degree part, e.g. 3*H**2*W**2/256 (None when not polynomial)
    order: str                  # "H*W", "(H*W)^2", "H^2*W + H*W^2", "1", "s^2.0" (estimated), "?"

    def to_json(self) -> dict:
        return {"order": self.order, "degree": self.degree,
                "leading": None if self.leading is None else str(self.leading)}


def _smooth(e: sympy.Expr) -> sympy.Expr:
    """floor(x), ceiling(x) -> x; Mod(a, b) -> 0 (bounded for a constant b)."""
    e = e.replace(lambda t: isinstance(t, (sympy.floor, sympy.ceiling)), lambda t: t.args[0])
    e = e.replace(lambda t: isinstance(t, sympy.Mod), lambda t: sympy.Integer(0))
    return e


def _poly(expr: MaybeDim, spatial: Sequence[sympy.Symbol]) -> Optional[sympy.Poly]:
    if expr is None:
        return None
    return _poly_cached(sympy.sympify(expr), tuple(spatial))


@lru_cache(maxsize=16384)
def _poly_cached(expr: sympy.Expr, spatial: tuple) -> Optional[sympy.Poly]:
    e = sympy.expand(_smooth(expr))
    if e.has(sympy.Max, sympy.Min, sympy.Piecewise, sympy.floor, sympy.ceiling):
        return None
    if not spatial:
        return None
    try:
        return sympy.Poly(e, *spatial)
    except (sympy.PolynomialError, sympy.polys.polyerrors.GeneratorsError):
        return None


def _order_str(monoms: List[tuple], names: Sequence[str]) -> str:
    parts = []
    for m in monoms:
        if len(names) == 2 and m[0] == m[1] and m[0] > 0:
            p = f"{names[0]}*{names[1]}"
            parts.append(p if m[0] == 1 else f"({p})^{m[0]}")
            continue
        fs = [n if k == 1 else f"{n}^{k}" for n, k in zip(names, m) if k]
        parts.append("*".join(fs) or "1")
    return " + ".join(parts) if parts else "1"


def growth(expr: MaybeDim, spatial: Sequence[str], others: Optional[Dict[str, int]] = None) -> Growth:
    """The leading term and order of ``expr`` as every symbol in ``spatial`` grows together."""
    if expr is None:
        return Growth(None, None, "?")
    syms = [symbol(s) for s in spatial]
    e = sympy.sympify(expr)
    if not syms:  # nothing grows: a fixed-size model
        return Growth(0, e, "1")
    if isinstance(e, sympy.Max):  # the fastest-growing argument (ties: the largest leading coefficient)
        gs = [growth(arg, spatial, others) for arg in e.args]
        known = [g for g in gs if g.degree is not None]
        if known:
            return max(known, key=lambda g: (g.degree, _diag_coeff(g, spatial)))
    p = _poly(expr, syms)
    if p is not None:
        if p.is_zero:
            return Growth(0, sympy.Integer(0), "0")
        deg = p.total_degree()
        top = [(m, c) for m, c in p.terms() if sum(m) == deg]
        leading = sympy.Add(*[c * sympy.Mul(*[s ** k for s, k in zip(syms, m)]) for m, c in top])
        return Growth(deg, leading, _order_str([m for m, _ in top], list(spatial)))
    d = _numeric_degree(expr, spatial, others or {})
    if d is None:
        return Growth(None, None, "?")
    return Growth(d, None, f"s^{d:g}")


def _diag_coeff(g: Growth, spatial) -> float:
    """The leading term's coefficient with every spatial symbol set to the same s."""
    if g.leading is None:
        return 0.0
    try:
        v = float(g.leading.xreplace({symbol(n): sympy.Integer(1) for n in spatial}).subs(
            {x: 1 for x in g.leading.free_symbols}))
    except (TypeError, ValueError, OverflowError):
        return 0.0
    return v if math.isfinite(v) else 0.0


def _numeric_degree(expr, spatial, others) -> Optional[float]:
    e = sympy.sympify(expr)
    rest = {symbol(k): v for k, v in others.items()}
    vals = []
    for s in (4096, 8192):
        env = dict(rest)
        env.update({symbol(n): s for n in spatial})
        try:
            v = float(e.xreplace({k: sympy.Integer(v) for k, v in env.items()}))
        except (TypeError, ValueError, OverflowError):
            return None
        if not math.isfinite(v):  # nan / zoo in the formula (a division by 0 in the model): no growth order
            return None
        vals.append(v)
    if vals[0] <= 0 or vals[1] <= 0:
        return None
    return round(math.log2(vals[1] / vals[0]) * 4) / 4


def leading_coefficient(expr: MaybeDim, spatial: Sequence[str], degree) -> Optional[sympy.Expr]:
    """The coefficient of s**degree of ``expr`` with every spatial symbol set to s (0 when it grows slower)."""
    if expr is None or degree is None:
        return None
    p = _poly(expr, [symbol(s) for s in spatial])
    if p is None:
        return None
    tot = 0
    for m, c in p.terms():
        if sum(m) == degree:
            tot += c
        elif sum(m) > degree:
            return sympy.oo
    return sympy.sympify(tot)
