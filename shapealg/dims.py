"""Dims: ``int | sympy.Expr`` (or ``None`` when unknown), and the arithmetic on them.

This is the only module that makes symbols. Every helper keeps ints as ints, so a rule is
written once and works on concrete and symbolic sizes alike; nested floors collapse with
``floor((floor(y) + b) / d) == floor((y + b) / d)`` (b integer, d a positive integer), which
makes equal formulas print equally whichever path produced them. The algebra itself (canonical forms,
ranges, the work limit) is shapealg/algebra.py.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Iterable, Mapping, Optional, Union

import sympy

from . import algebra as _algebra

Dim = Union[int, sympy.Expr]
MaybeDim = Optional[Dim]

__all__ = [
    "Dim", "MaybeDim", "symbol", "as_dim", "canon", "is_static", "floordiv", "ceildiv", "mod",
    "truncdiv", "exactdiv", "prod", "evaluate", "dim_to_str", "parse_dim", "free_symbols",
    "known_equal", "known_ge", "dmax", "dmin", "simplify_bool", "bounds", "assuming", "least_satisfying",
]

_ALLOWED_FUNCS = {
    "floor": sympy.floor, "ceiling": sympy.ceiling, "ceil": sympy.ceiling, "Mod": sympy.Mod,
    "Max": sympy.Max, "Min": sympy.Min, "Piecewise": sympy.Piecewise, "Eq": sympy.Eq,
    "Ne": sympy.Ne, "And": sympy.And, "Or": sympy.Or, "Not": sympy.Not,
}


# lower bounds of symbols that earlier constraints proved; formulas built within hold where those do
assuming = _algebra.assuming
least_satisfying = _algebra.least_satisfying


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


def canon(d: MaybeDim) -> MaybeDim:
    """The canonical form of a dim (shapealg.algebra): ``ceiling(H/32)``, ``7*ceiling(H/7)`` for a window pad,
    nested floors collapsed, clamps decided from ranges, products of floors factored. Raises
    ``algebra.TooComplex`` past the work limit."""
    d = as_dim(d)
    if d is None or isinstance(d, int) or d.is_Symbol:
        return d
    return as_dim(_algebra.canonical(d))


def is_static(d: MaybeDim) -> bool:
    return isinstance(d, int)


def floordiv(n: MaybeDim, d: MaybeDim) -> MaybeDim:
    """floor(n / d) for integer-valued n and positive d (canonical: nested floors collapse)."""
    if n is None or d is None:
        return None
    n, d = as_dim(n), as_dim(d)
    if isinstance(n, int) and isinstance(d, int):
        if d == 0:
            raise ZeroDivisionError("floordiv by zero")
        return n // d
    if isinstance(d, int) and d > 0:
        return as_dim(_algebra.floor_div(n, d))
    return canon(sympy.floor(sympy.sympify(n) / d))


def ceildiv(n: MaybeDim, d: MaybeDim) -> MaybeDim:
    """ceil(n / d), printed as ``ceiling``."""
    if n is None or d is None:
        return None
    n, d = as_dim(n), as_dim(d)
    if isinstance(n, int) and isinstance(d, int):
        if d == 0:
            raise ZeroDivisionError("ceildiv by zero")
        return -(-n // d)
    if isinstance(d, int) and d > 0:
        return as_dim(_algebra.ceil_div(n, d))
    return canon(sympy.ceiling(sympy.sympify(n) / d))


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
    if isinstance(d, int) and d > 0:
        return as_dim(_algebra.mod(n, d))
    return canon(sympy.Mod(n, d, evaluate=False))  # decided by canon (ranges), not by sympy's costly eval


def exactdiv(n: MaybeDim, d: MaybeDim) -> MaybeDim:
    """n / d where the caller requires d | n (Reshape's -1): the quotient when the dim algebra finds one (d's
    factors among n's), else floor(n / d), which equals it wherever d | n."""
    if n is None or d is None:
        return None
    n, d = as_dim(n), as_dim(d)
    if isinstance(n, int) and isinstance(d, int):
        return n // d if d else None
    if n == 0:  # an empty tensor (a size of 0): 0 / d is 0 for every d that divides it (d != 0)
        return 0
    q = _algebra.exact_quotient(n, d)
    if q is not None:
        return as_dim(q)
    if isinstance(d, int) and d > 0:
        return floordiv(n, d)
    return canon(sympy.floor(sympy.sympify(n) / d))


def prod(dims: Iterable[MaybeDim]) -> MaybeDim:
    out: Dim = 1
    for d in dims:
        if d is None:
            return None
        out = out * d
    return canon(out) if not isinstance(out, int) else out


def dmax(a: MaybeDim, b: MaybeDim) -> MaybeDim:
    if a is None or b is None:
        return None
    if isinstance(a, int) and isinstance(b, int):
        return max(a, b)
    return as_dim(_algebra.max_of(a, b))


def dmin(a: MaybeDim, b: MaybeDim) -> MaybeDim:
    if a is None or b is None:
        return None
    if isinstance(a, int) and isinstance(b, int):
        return min(a, b)
    return as_dim(_algebra.min_of(a, b))


def free_symbols(d) -> set:
    return set(d.free_symbols) if isinstance(d, sympy.Basic) else set()


def known_equal(a: MaybeDim, b: MaybeDim) -> Optional[bool]:
    """True / False when decidable for every size, None when it depends on the size (or is too large to
    decide)."""
    if a is None or b is None:
        return None
    if isinstance(a, int) and isinstance(b, int):
        return a == b
    try:
        diff = canon(sympy.sympify(a) - b)
        if diff == 0:
            return True
        lo, hi = _algebra.bounds(diff)
    except _algebra.TooComplex:
        return None
    return False if (lo > 0 or hi < 0) else None


def known_ge(a: MaybeDim, b: MaybeDim) -> Optional[bool]:
    """a >= b for every size (True), for none (False), or undecided (None), from the formulas' ranges."""
    if a is None or b is None:
        return None
    if isinstance(a, int) and isinstance(b, int):
        return a >= b
    try:
        return _algebra.sign_of_ge0(sympy.sympify(a) - b)
    except _algebra.TooComplex:
        return None


def bounds(d: MaybeDim):
    """(lo, hi) of a dim over every size (math.inf for an open end); None when unknown."""
    if d is None:
        return None
    if isinstance(d, int):
        return d, d
    return _algebra.bounds(d)


def simplify_bool(c):
    """A constraint with its formulas in canonical form and every comparison the ranges decide replaced
    by true / false (``floor(H/4) >= 0`` is true at every size); And / Or / Not are kept as they are."""
    if c is True or c is False:
        return sympy.true if c else sympy.false
    if isinstance(c, (sympy.And, sympy.Or, sympy.Not)):
        return c.func(*[simplify_bool(a) for a in c.args])
    if isinstance(c, sympy.core.relational.Relational) and c.rel_op in ("==", "!=", ">=", ">", "<=", "<"):
        if not c.free_symbols:  # numbers only (nan included: Eq(nan, 0) is false): sympy decides it
            try:
                return c.func(c.lhs, c.rhs)
            except TypeError:
                return c
        try:
            decided = _algebra.decide(c)
            if decided is not None:
                return sympy.true if decided else sympy.false
            if c.rel_op in ("==", "!="):  # one spelling per equation: duplicates and implied ones are seen
                sides = _algebra.equation(c.lhs, c.rhs)
                q = _algebra.quotient_equation(*sides) if c.rel_op == "==" else None
                if q is not None:
                    return simplify_bool(q)
                return c.func(*sides, evaluate=False)  # decided above: sympy's own evaluation only costs
            return c.func(canon(c.lhs), canon(c.rhs), evaluate=False)
        except (_algebra.TooComplex, TypeError, ValueError):
            return c
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

