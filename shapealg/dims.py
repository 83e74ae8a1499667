"""Dims: ``int | sympy.Expr`` (or ``None`` when unknown), and the arithmetic on them.

This is the only module that makes symbols. Every helper keeps ints as ints, so a rule is
written once and works on concrete and symbolic sizes alike; nested floors collapse with
``floor((floor(y) + b) / d) == floor((y + b) / d)`` (b integer, d a positive integer), which
makes equal formulas print equally whichever path produced them.
"""
from __future__ import annotations

import math
from functools import lru_cache
from typing import Iterable, Mapping, Optional, Union

import sympy

Dim = Union[int, sympy.Expr]
MaybeDim = Optional[Dim]

__all__ = [
    "Dim", "MaybeDim", "symbol", "as_dim", "canon", "is_static", "floordiv", "ceildiv", "mod",
    "truncdiv", "exactdiv", "prod", "evaluate", "dim_to_str", "parse_dim", "free_symbols",
    "known_equal", "known_ge", "dmax", "dmin", "simplify_bool",
]

_ALLOWED_FUNCS = {
    "floor": sympy.floor, "ceiling": sympy.ceiling, "ceil": sympy.ceiling, "Mod": sympy.Mod,
    "Max": sympy.Max, "Min": sympy.Min, "Piecewise": sympy.Piecewise, "Eq": sympy.Eq,
    "Ne": sympy.Ne, "And": sympy.And, "Or": sympy.Or, "Not": sympy.Not,
}


@lru_cache(maxsize=None)
def symbol(name: str) -> sympy.Symbol:
    """The one symbol for ``name``: a positive integer (sizes are >= 1)."""
    if not isinstance(name, str) or not name:
        raise ValueError(f"symbol name must be a non-empty string, got {name!r}")
    return sympy.Symbol(name, integer=True, positive=True)


def as_dim(x) -> MaybeDim:
    """Normalise ints, numpy ints, integral sympy numbers; expressions stay expressions."""
    if x is None:
        return None
    if isinstance(x, bool):
        return int(x)
    if isinstance(x, int):
        return x
    if isinstance(x, sympy.Basic):
        if x.is_Integer:
            return int(x)
        if x.is_number and x.is_integer:
            return int(x)
        return x
    try:
        import numpy as np
        if isinstance(x, np.integer):
            return int(x)
    except ImportError:  # pragma: no cover
        pass
    if isinstance(x, float) and x.is_integer():
        return int(x)
    return sympy.sympify(x, strict=True)  # strict: a str (a model attribute...) is refused, never parsed (eval)


def _norm_round(f):
    """floor(e + c) -> floor(e + frac(c)) + floor(c), ceiling(e + c) -> ceiling(e + c - ceil(c)) + ceil(c) for
    a rational constant c: one spelling for floor(H/8 - 1/8) + 1 and floor(H/8 + 7/8)."""
    c, rest = f.args[0].as_coeff_Add()
    if not c.is_Rational or c == 0 or rest == 0:
        return f
    k = sympy.floor(c) if isinstance(f, sympy.floor) else sympy.ceiling(c)
    if k == 0:
        return f
    return type(f)(rest + c - k) + k


def norm_rounding(e):
    """e with every floor / ceiling of (expr + constant) in the form _norm_round gives."""
    if not isinstance(e, sympy.Basic) or not e.has(sympy.floor, sympy.ceiling):
        return e
    return e.replace(lambda x: isinstance(x, (sympy.floor, sympy.ceiling)), _norm_round)


@lru_cache(maxsize=65536)
def _canon_expr(e: sympy.Expr) -> sympy.Expr:
    return sympy.factor(sympy.expand(norm_rounding(e)))


def canon(d: MaybeDim) -> MaybeDim:
    """The canonical form of a dim: expanded, then factored over the rationals with floor / Mod terms as
    generators, so ``32*(floor(H/2) - 2)*(floor(W/2) - 2)`` prints the same whichever path built it."""
    d = as_dim(d)
    if d is None or isinstance(d, int) or d.is_Symbol:
        return d
    try:
        return as_dim(_canon_expr(d))
    except (sympy.PolynomialError, TypeError, ValueError):  # pragma: no cover - exotic expressions stay as they are
        return d


def is_static(d: MaybeDim) -> bool:
    return isinstance(d, int)


def _split_floor(n: sympy.Expr):
    """n == floor(y) + b with b integer-valued, or None."""
    terms = sympy.Add.make_args(sympy.expand(n))
    floors = [t for t in terms if isinstance(t, sympy.floor)]
    if len(floors) != 1:
        return None
    rest = sympy.Add(*[t for t in terms if t is not floors[0]])
    if rest != 0 and not rest.is_integer:
        return None
    return floors[0].args[0], rest


def floordiv(n: MaybeDim, d: MaybeDim) -> MaybeDim:
    """floor(n / d) for integer-valued n and positive d."""
    if n is None or d is None:
        return None
    n, d = as_dim(n), as_dim(d)
    if isinstance(n, int) and isinstance(d, int):
        if d == 0:
            raise ZeroDivisionError("floordiv by zero")
        return n // d
    if isinstance(d, int) and d == 1:
        return n
    if isinstance(d, int) and d > 0:
        split = _split_floor(n)
        if split is not None:  # floor((floor(y) + b) / d) == floor((y + b) / d)
            y, b = split
            return as_dim(sympy.floor(sympy.expand((y + b) / d)))
    return as_dim(sympy.floor(sympy.expand(sympy.sympify(n) / d)))


def ceildiv(n: MaybeDim, d: MaybeDim) -> MaybeDim:
    """ceil(n / d); for a positive integer d, ceil(n/d) == floor((n + d - 1)/d) keeps one canonical form."""
    if n is None or d is None:
        return None
    n, d = as_dim(n), as_dim(d)
    if isinstance(d, int) and d > 0:
        return floordiv(sympy.expand(n + d - 1) if not isinstance(n, int) else n + d - 1, d)
    return as_dim(-floordiv(-sympy.sympify(n), d))


def truncdiv(n: MaybeDim, d: MaybeDim) -> MaybeDim:
    """ONNX integer Div: truncation toward zero. Sizes are non-negative, so it is floor there."""
    if n is None or d is None:
        return None
    n, d = as_dim(n), as_dim(d)
    if isinstance(n, int) and isinstance(d, int):
        q = abs(n) // abs(d)
        return q if (n >= 0) == (d >= 0) else -q
    if isinstance(d, int) and d < 0:
        return as_dim(-truncdiv(n, -d))
    return floordiv(n, d)


def mod(n: MaybeDim, d: MaybeDim) -> MaybeDim:
    if n is None or d is None:
        return None
    n, d = as_dim(n), as_dim(d)
    if isinstance(n, int) and isinstance(d, int):
        return n % d
    return as_dim(sympy.Mod(n, d))


def exactdiv(n: MaybeDim, d: MaybeDim) -> MaybeDim:
    """n / d where the caller requires d | n (Reshape's -1). Cancels when it can, else floor."""
    if n is None or d is None:
        return None
    n, d = as_dim(n), as_dim(d)
    if isinstance(n, int) and isinstance(d, int):
        return n // d if d else None
    q = sympy.cancel(sympy.sympify(n) / d)
    num, den = sympy.fraction(sympy.together(q))
    if den == 1 or (den.is_number and den == 1):
        return as_dim(sympy.expand(q))
    return floordiv(n, d)


def prod(dims: Iterable[MaybeDim]) -> MaybeDim:
    out: Dim = 1
    for d in dims:
        if d is None:
            return None
        out = out * d
    return as_dim(sympy.expand(out)) if not isinstance(out, int) else out


def dmax(a: MaybeDim, b: MaybeDim) -> MaybeDim:
    if a is None or b is None:
        return None
    if isinstance(a, int) and isinstance(b, int):
        return max(a, b)
    return as_dim(sympy.Max(a, b))


def dmin(a: MaybeDim, b: MaybeDim) -> MaybeDim:
    if a is None or b is None:
        return None
    if isinstance(a, int) and isinstance(b, int):
        return min(a, b)
    return as_dim(sympy.Min(a, b))


def free_symbols(d) -> set:
    return set(d.free_symbols) if isinstance(d, sympy.Basic) else set()


def known_equal(a: MaybeDim, b: MaybeDim) -> Optional[bool]:
    """True / False when decidable for every size, None when it depends on the size."""
    if a is None or b is None:
        return None
    diff = sympy.expand(norm_rounding(sympy.sympify(a) - b))
    if diff == 0:
        return True
    if diff.is_number:
        return False
    if diff.is_zero is False:
        return False
    return None


def known_ge(a: MaybeDim, b: MaybeDim) -> Optional[bool]:
    """a >= b for every size (True), for none (False), or undecided (None)."""
    if a is None or b is None:
        return None
    if isinstance(a, int) and isinstance(b, int):
        return a >= b
    return _ge0(sympy.expand(norm_rounding(sympy.sympify(a) - b)))


def _ge0(diff, depth: int = 0) -> Optional[bool]:
    """diff >= 0 for every size (True), for none (False), or undecided (None).

    floor(e) lies in (e - 1, e]: each floor is bounded by its argument to decide linear-ish cases, e.g.
    floor(H/220 - 1/55) + 2 >= 0 because H/220 - 1/55 - 1 + 2 > 0 for every H >= 1. Failing that, every floor /
    ceiling nested inside another one becomes an integer unknown c (>= 0 when provable) and the test is
    repeated: -c + 2*ceiling(c/2) + 1 >= 0 with c = ceiling(H/2) (a dynamic 'SAME' pad), where bounding c
    itself by H/2 loses the cancellation."""
    if diff.is_nonnegative:
        return True
    if diff.is_negative:
        return False
    lo = _bound(diff, lower=True)
    if lo is not None and (lo.is_nonnegative or (lo + 1).is_positive and _int_valued(diff)):
        return True
    hi = _bound(diff, lower=False)
    if hi is not None and hi.is_negative:
        return False
    if depth > 2 or not diff.has(sympy.floor, sympy.ceiling):
        return None
    nested = set()
    for f in diff.atoms(sympy.floor, sympy.ceiling):
        nested |= {g for g in f.args[0].atoms(sympy.floor, sympy.ceiling)}
    if not nested:
        return None
    inner = {g for g in nested if not any(g in h.args[0].atoms(sympy.floor, sympy.ceiling) for h in nested if h is not g)}
    reps = {}
    for g in sorted(inner, key=sympy.default_sort_key):
        nonneg = known_ge(g, 0) is True
        reps[g] = sympy.Dummy("c", integer=True, nonnegative=True) if nonneg else sympy.Dummy("c", integer=True)
    return _ge0(sympy.expand(diff.xreplace(reps)), depth + 1)


def _int_valued(e) -> bool:
    return bool(getattr(e, "is_integer", False))


def _bound(e, lower: bool):
    """A lower (or upper) bound of e with every floor / ceiling replaced by a bound of its argument;
    None when e has terms this cannot bound (Max, Min, Mod, Piecewise...)."""
    if e.is_Number or e.is_Symbol:
        return e
    if isinstance(e, sympy.floor):
        return e.args[0] - 1 if lower else e.args[0]
    if isinstance(e, sympy.ceiling):
        return e.args[0] if lower else e.args[0] + 1
    if e.is_Add:
        parts = [_bound(t, lower) for t in e.args]
        return None if any(p is None for p in parts) else sympy.Add(*parts)
    if e.is_Mul:
        coeff, rest = e.as_coeff_Mul()
        if coeff.is_Number and rest is not e:
            if coeff.is_negative:
                r = _bound(rest, not lower)
            else:
                r = _bound(rest, lower)
            return None if r is None else coeff * r
        # products of non-negative factors: bound each factor below by a non-negative bound
        if lower and all(_nonneg(f) for f in e.args):
            parts = [_bound(f, True) for f in e.args]
            if all(p is not None and p.is_nonnegative for p in parts):
                return sympy.Mul(*parts)
        return None
    return None


def _nonneg(f) -> bool:
    if f.is_nonnegative:
        return True
    lo = _bound(f, True)
    return lo is not None and bool(lo.is_nonnegative)


def simplify_bool(c):
    """Light simplification of a constraint (no expensive sympy.simplify)."""
    if c is True or c is False:
        return sympy.true if c else sympy.false
    return c


def evaluate(d: MaybeDim, env: Mapping) -> Optional[int]:
    """Value of a dim at concrete sizes, e.g. ``evaluate(floor(H/2) - 2, {"H": 224}) == 110``."""
    if d is None:
        return None
    if isinstance(d, int):
        return d
    subs = {(symbol(k) if isinstance(k, str) else k): v for k, v in env.items()}
    v = d.xreplace({k: sympy.Integer(v) for k, v in subs.items()})
    if not v.is_number:
        raise ValueError(f"cannot evaluate {d}: symbols {sorted(map(str, v.free_symbols))} have no value")
    return int(v)


def dim_to_str(d: MaybeDim) -> Optional[str]:
    if d is None:
        return None
    return str(d)


def parse_dim(text: str, symbols: Iterable[str] = ()) -> Dim:
    """Parse a user-given or dim_param string safely (no eval): ints, symbols, + - * /, floor..."""
    text = str(text).strip()
    if not text:
        raise ValueError("empty dim")
    if text.lstrip("-").isdigit():
        return int(text)
    if text.isidentifier():
        return symbol(text)
    from sympy.parsing.sympy_parser import parse_expr, standard_transformations
    names = set(symbols)
    import re
    names |= {t for t in re.findall(r"[A-Za-z_][A-Za-z_0-9]*", text) if t not in _ALLOWED_FUNCS}
    local = dict(_ALLOWED_FUNCS)
    local.update({n: symbol(n) for n in names})
    try:
        expr = parse_expr(text, local_dict=local, global_dict={"Integer": sympy.Integer,
                          "Symbol": sympy.Symbol, "Rational": sympy.Rational, "Float": sympy.Float},
                          transformations=standard_transformations, evaluate=True)
    except Exception as e:  # noqa: BLE001 - turned into a one-line error
        raise ValueError(f"cannot parse dim {text!r}: {e}") from None
    return as_dim(expr)

