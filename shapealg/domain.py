"""Constraints -> the exact set of valid input sizes, in plain words, with a verdict.

How it works (all sizes are positive integers):

* Conditions are deduplicated and split into atoms (the conjuncts of each condition).
* Each atom is compiled once into a small expression tree (``_ir``) that is evaluated with exact
  integer arithmetic (``floor(n/d)`` as ``n // d`` on a common denominator; numpy int64 arrays, or
  Python ints in object arrays when the magnitudes could overflow). No float ever decides a floor.
* Lower-bound atoms ``E(H) >= c`` with ``E`` non-decreasing in ``H`` (conv / pool outputs >= 1) are
  exactly ``H >= h0``; ``h0`` is found by an exponential + binary search. They cost nothing more.
* The other atoms in one symbol are periodic: with ``M`` the lcm of the denominators of the slopes of
  every floor argument (``floor(floor(H/2)/3)`` has slope 1/6), ``H = M*q + r`` turns each floor
  into ``k*q + floor(const)`` exactly, so each comparison becomes a polynomial in ``q`` per residue
  ``r``. Past the Cauchy root bound of that polynomial its sign is that of the leading coefficient,
  so from ``T = M * max bound`` on, truth depends only on ``H mod M``. Evaluating every
  ``H < T + M`` exactly therefore gives the whole (eventually periodic) set, which is then put in
  canonical form (smallest period, earliest start).
* Atoms in several symbols (``Eq(32*(floor(H/2)-2)*(floor(W/2)-2), 387200)``,
  ``Eq(floor(H/16)*floor(W/16), 196)``) are polynomials in monotone generators (``floor(H/2)``...).
  Shifting each generator by its minimum on the per-symbol set (``g = g_min + t``, ``t >= 0``), an
  equality whose non-constant coefficients all have one sign bounds every ``t`` that has a pure
  power term: that gives finite upper bounds. Inside the bounds the solutions are enumerated exactly
  (a full grid when small, else every value of the other symbols and the linear generator solved
  for, like divisor pairs) and every atom is re-checked on every candidate.
* Where none of that applies, a bounded exhaustive evaluation is used, and ``Domain.method`` /
  ``Domain.exact`` say so and up to which bound.
"""
from __future__ import annotations

import bisect
import itertools
import math
from dataclasses import dataclass, field
from fractions import Fraction
from functools import lru_cache
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

import numpy as np
import sympy

from .dims import symbol
from .tensor import Constraint

__all__ = ["Domain", "SymbolSet", "analyze_domain", "VERDICTS"]

VERDICTS = ("size-invariant", "conditional", "locked", "never-valid")

_DEFAULT_BOUND_1D = 4096      # exhaustive fallback for one symbol
_DEFAULT_BOUND_ND = 1024      # exhaustive fallback per symbol for a component of several
_GRID_LIMIT = 4_000_000       # points evaluated at once in an enumeration
_SCAN_LIMIT = 20_000_000      # largest exact 1-D scan (T + M) before giving up on a symbol
_INT64_SAFE = 2 ** 62


class _Unsupported(Exception):
    """The symbolic path cannot handle this expression; use the exhaustive fallback."""


# ----------------------------------------------------------------------------------------------
# expression trees: tuples, hashable, built once per sympy expression
# ('const', Fraction) ('sym', name) ('add', kids) ('mul', kids) ('pow', kid, n) ('floor', kid)
# ('max', kids) ('min', kids) ('pw', ((value, cond), ...))
# booleans: ('bool', b) ('rel', op, diff) with op in == != >= > <= < comparing diff to 0,
# ('and', kids) ('or', kids) ('not', kid)
# ----------------------------------------------------------------------------------------------

_NEG1 = ('const', Fraction(-1))


def _neg(node):
    return ('mul', (_NEG1, node))


def _sub(a, b):
    return ('add', (a, _neg(b)))


_REL_OPS = {sympy.Eq: '==', sympy.Ne: '!=', sympy.Ge: '>=', sympy.Gt: '>', sympy.Le: '<=',
            sympy.Lt: '<'}


@lru_cache(maxsize=200_000)
def _ir(e) -> tuple:
    if e is sympy.true or e is True:
        return ('bool', True)
    if e is sympy.false or e is False:
        return ('bool', False)
    if isinstance(e, sympy.Symbol):
        return ('sym', e.name)
    if isinstance(e, sympy.Rational):
        return ('const', Fraction(int(e.p), int(e.q)))
    if isinstance(e, sympy.Add):
        return ('add', tuple(_ir(a) for a in e.args))
    if isinstance(e, sympy.Mul):
        return ('mul', tuple(_ir(a) for a in e.args))
    if isinstance(e, sympy.Pow):
        n = e.exp
        if isinstance(n, sympy.Integer) and int(n) >= 1:
            return ('pow', _ir(e.base), int(n))
        raise _Unsupported(f"power {e}")
    if isinstance(e, sympy.floor):
        return ('floor', _ir(e.args[0]))
    if isinstance(e, sympy.ceiling):  # ceil(x) == -floor(-x)
        return _neg(('floor', _neg(_ir(e.args[0]))))
    if isinstance(e, sympy.Mod):  # Mod(x, m) == x - m*floor(x/m) (sign of m, like Python's %)
        x, m = e.args
        if not isinstance(m, sympy.Rational) or m == 0:
            raise _Unsupported(f"Mod with modulus {m}")
        fm = Fraction(int(m.p), int(m.q))
        xi = _ir(x)
        return ('add', (xi, ('mul', (('const', -fm), ('floor', ('mul', (('const', 1 / fm), xi)))))))
    if isinstance(e, sympy.Max):
        return ('max', tuple(_ir(a) for a in e.args))
    if isinstance(e, sympy.Min):
        return ('min', tuple(_ir(a) for a in e.args))
    if isinstance(e, sympy.Abs):
        a = _ir(e.args[0])
        return ('max', (a, _neg(a)))
    if isinstance(e, sympy.Piecewise):
        return ('pw', tuple((_ir(v), _ir(c)) for v, c in e.args))
    for cls, op in _REL_OPS.items():
        if isinstance(e, cls):
            return ('rel', op, _sub(_ir(e.lhs), _ir(e.rhs)))
    if isinstance(e, sympy.And):
        return ('and', tuple(_ir(a) for a in e.args))
    if isinstance(e, sympy.Or):
        return ('or', tuple(_ir(a) for a in e.args))
    if isinstance(e, sympy.Not):
        return ('not', _ir(e.args[0]))
    if isinstance(e, sympy.ITE):  # ITE(c, a, b) == (c & a) | (~c & b)
        c, a, b = (_ir(x) for x in e.args)
        return ('or', (('and', (c, a)), ('and', (('not', c), b))))
    if isinstance(e, sympy.Implies):
        a, b = (_ir(x) for x in e.args)
        return ('or', (('not', a), b))
    if isinstance(e, sympy.Equivalent):
        kids = tuple(_ir(x) for x in e.args)
        return ('or', (('and', kids), ('and', tuple(('not', k) for k in kids))))
    if isinstance(e, sympy.Xor):
        out = _ir(e.args[0])
        for x in e.args[1:]:
            b = _ir(x)
            out = ('or', (('and', (out, ('not', b))), ('and', (('not', out), b))))
        return out
    raise _Unsupported(f"{type(e).__name__}: {e}")


# ---------------------------------------------------------------- exact evaluation (ints / numpy)

def _is_arr(x) -> bool:
    return isinstance(x, np.ndarray)


def _maximum(a, b):
    return np.maximum(a, b) if (_is_arr(a) or _is_arr(b)) else max(a, b)


def _minimum(a, b):
    return np.minimum(a, b) if (_is_arr(a) or _is_arr(b)) else min(a, b)


def _lnot(a):
    return np.logical_not(a) if _is_arr(a) else (not a)


def _where(c, a, b):
    if _is_arr(c) or _is_arr(a) or _is_arr(b):
        return np.where(c, a, b)
    return a if c else b


@lru_cache(maxsize=200_000)
def _cexpr(node):
    """(fn(env) -> integer numerator (int or array), static positive denominator)."""
    k = node[0]
    if k == 'const':
        n, d = node[1].numerator, node[1].denominator
        return (lambda env: n), d
    if k == 'sym':
        name = node[1]
        return (lambda env: env[name]), 1
    if k == 'add' or k == 'max' or k == 'min':
        parts = [_cexpr(c) for c in node[1]]
        den = 1
        for _, d in parts:
            den = den * d // math.gcd(den, d)
        scaled = [(f, den // d) for f, d in parts]
        if k == 'add':
            def fn(env, scaled=scaled):
                s = 0
                for f, m in scaled:
                    v = f(env)
                    s = s + (v if m == 1 else v * m)
                return s
        else:
            comb = _maximum if k == 'max' else _minimum

            def fn(env, scaled=scaled, comb=comb):
                out = None
                for f, m in scaled:
                    v = f(env)
                    v = v if m == 1 else v * m
                    out = v if out is None else comb(out, v)
                return out
        return fn, den
    if k == 'mul':
        parts = [_cexpr(c) for c in node[1]]
        den = 1
        for _, d in parts:
            den *= d

        def fn(env, parts=parts):
            p = 1
            for f, _ in parts:
                p = p * f(env)
            return p
        return fn, den
    if k == 'pow':
        f, d = _cexpr(node[1])
        n = node[2]
        return (lambda env: f(env) ** n), d ** n
    if k == 'floor':
        f, d = _cexpr(node[1])
        if d == 1:
            return f, 1
        return (lambda env: f(env) // d), 1
    if k == 'pw':
        pieces = [(_cexpr(v), _cbool(c)) for v, c in node[1]]
        den = 1
        for (_, d), _ in pieces:
            den = den * d // math.gcd(den, d)

        def fn(env, pieces=pieces, den=den):
            out = None
            for (f, d), c in reversed(pieces):  # the first true condition wins
                v = f(env) * (den // d)
                out = v if out is None else _where(c(env), v, out)
            return out
        return fn, den
    raise _Unsupported(f"not an expression: {k}")


@lru_cache(maxsize=200_000)
def _cbool(node):
    k = node[0]
    if k == 'bool':
        b = node[1]
        return lambda env: b
    if k == 'rel':
        f, _ = _cexpr(node[2])
        op = node[1]
        if op == '==':
            return lambda env: f(env) == 0
        if op == '!=':
            return lambda env: f(env) != 0
        if op == '>=':
            return lambda env: f(env) >= 0
        if op == '>':
            return lambda env: f(env) > 0
        if op == '<=':
            return lambda env: f(env) <= 0
        return lambda env: f(env) < 0
    if k == 'and' or k == 'or':
        fs = [_cbool(c) for c in node[1]]
        if k == 'and':
            def fn(env, fs=fs):
                out = True
                for f in fs:
                    out = out & f(env)
                return out
        else:
            def fn(env, fs=fs):
                out = False
                for f in fs:
                    out = out | f(env)
                return out
        return fn
    if k == 'not':
        f = _cbool(node[1])
        return lambda env: _lnot(f(env))
    raise _Unsupported(f"not a boolean: {k}")


@lru_cache(maxsize=200_000)
def _den(node) -> int:
    return _cexpr(node)[1]


def _mag(node, X: float, acc: List[float]) -> float:
    """Upper bound on |numerator| that the evaluator computes for ``node`` with |symbols| <= X."""
    k = node[0]
    if k == 'const':
        m = float(abs(node[1].numerator))
    elif k == 'sym':
        m = X
    elif k in ('add', 'max', 'min'):
        den = _den(node)
        m = sum(_mag(c, X, acc) * (den // _den(c)) for c in node[1])
    elif k == 'mul':
        m = 1.0
        for c in node[1]:
            m *= _mag(c, X, acc)
    elif k == 'pow':
        m = _mag(node[1], X, acc) ** node[2]
    elif k == 'floor':
        m = _mag(node[1], X, acc) / _den(node[1]) + 1
    elif k == 'pw':
        den = _den(node)
        m = 0.0
        for v, c in node[1]:
            m = max(m, _mag(v, X, acc) * (den // _den(v)))
            _bmag(c, X, acc)
    else:
        m = 0.0
    acc.append(m)
    return m


def _bmag(node, X: float, acc: List[float]) -> None:
    k = node[0]
    if k == 'rel':
        _mag(node[2], X, acc)
    elif k in ('and', 'or'):
        for c in node[1]:
            _bmag(c, X, acc)
    elif k == 'not':
        _bmag(node[1], X, acc)


def _needs_object(bnode, X: float) -> bool:
    acc: List[float] = []
    try:
        _bmag(bnode, float(X) + 1, acc)
    except OverflowError:
        return True
    return max(acc, default=0.0) >= _INT64_SAFE


def _as_array(values, obj: bool) -> np.ndarray:
    return np.asarray(values, dtype=object if obj else np.int64)


def _eval_bool_vec(bnode, env: Dict[str, np.ndarray], n: int) -> np.ndarray:
    """Exact vectorised truth of one atom; env arrays all have length n."""
    X = max((int(np.max(v)) for v in env.values() if len(v)), default=1)
    obj = _needs_object(bnode, X)
    env2 = {k: (v.astype(object) if obj else v.astype(np.int64)) for k, v in env.items()}
    out = _cbool(bnode)(env2)
    out = np.asarray(out)
    if out.dtype == object:
        out = out.astype(bool)
    return np.broadcast_to(out.astype(bool), (n,))


def _eval_bool_at(bnode, env: Mapping[str, int]) -> bool:
    return bool(_cbool(bnode)({k: int(v) for k, v in env.items()}))


# ---------------------------------------------------------------- structure: periods, monotonicity

def _syms(node, out: set) -> set:
    k = node[0]
    if k == 'sym':
        out.add(node[1])
    elif k in ('add', 'mul', 'max', 'min', 'and', 'or'):
        for c in node[1]:
            _syms(c, out)
    elif k in ('pow', 'floor', 'not'):
        _syms(node[1], out)
    elif k == 'rel':
        _syms(node[2], out)
    elif k == 'pw':
        for v, c in node[1]:
            _syms(v, out)
            _syms(c, out)
    return out


def _padd(a, b):
    n = max(len(a), len(b))
    return [(a[i] if i < len(a) else 0) + (b[i] if i < len(b) else 0) for i in range(n)]


def _pmul(a, b):
    out = [Fraction(0)] * (len(a) + len(b) - 1)
    for i, x in enumerate(a):
        if x:
            for j, y in enumerate(b):
                out[i + j] += x * y
    return out


def _trim(p):
    p = list(p)
    while len(p) > 1 and p[-1] == 0:
        p.pop()
    return p


def _lin(node, slopes: list):
    """Polynomial (list of Fractions) of ``node`` in its one symbol with every floor dropped, or None
    where that is not defined (Max / Piecewise); collects the slope of every floor argument."""
    k = node[0]
    if k == 'const':
        return [node[1]]
    if k == 'sym':
        return [Fraction(0), Fraction(1)]
    if k == 'add':
        out = [Fraction(0)]
        for c in node[1]:
            p = _lin(c, slopes)
            if p is None:
                out = None
            elif out is not None:
                out = _padd(out, p)
        return None if out is None else _trim(out)
    if k == 'mul':
        out = [Fraction(1)]
        for c in node[1]:
            p = _lin(c, slopes)
            if p is None:
                out = None
            elif out is not None:
                out = _pmul(out, p)
        return None if out is None else _trim(out)
    if k == 'pow':
        p = _lin(node[1], slopes)
        if p is None:
            return None
        out = [Fraction(1)]
        for _ in range(node[2]):
            out = _pmul(out, p)
        return _trim(out)
    if k == 'floor':
        p = _lin(node[1], slopes)
        if p is None or len(p) > 2:
            raise _Unsupported("floor of a non-linear argument")
        if len(p) == 2:
            slopes.append(p[1])
        return p
    if k in ('max', 'min', 'pw'):
        # only the slopes matter here: branches of one common slope give a representative
        polys = []
        for c in (node[1] if k != 'pw' else [v for v, _ in node[1]]):
            polys.append(_lin(c, slopes))
        if k == 'pw':
            for _, c in node[1]:
                _blin(c, slopes)
        if any(p is None or len(p) > 2 for p in polys):
            return None
        if len({(p[1] if len(p) == 2 else Fraction(0)) for p in polys}) != 1:
            return None
        return polys[0]
    raise _Unsupported(k)


def _blin(node, slopes: list) -> None:
    k = node[0]
    if k == 'rel':
        _lin(node[2], slopes)
    elif k in ('and', 'or'):
        for c in node[1]:
            _blin(c, slopes)
    elif k == 'not':
        _blin(node[1], slopes)


def _period(bnode) -> int:
    slopes: list = []
    _blin(bnode, slopes)
    m = 1
    for s in slopes:
        d = Fraction(s).denominator
        m = m * d // math.gcd(m, d)
    return m


def _cauchy(p) -> int:
    """q beyond which the polynomial p (in q >= 0) keeps the sign of its leading coefficient."""
    p = _trim(p)
    if len(p) <= 1:
        return 0
    lead = abs(p[-1])
    return int(math.floor(1 + max(abs(c) / lead for c in p[:-1]))) + 1


def _qpoly(node, M: int, r: int, thr: list):
    """``node`` with its symbol = M*q + r, as a polynomial in q (exact; thr collects q-thresholds
    of decisions taken inside: Piecewise conditions and Max / Min)."""
    k = node[0]
    if k == 'const':
        return [node[1]]
    if k == 'sym':
        return [Fraction(r), Fraction(M)]
    if k == 'add':
        out = [Fraction(0)]
        for c in node[1]:
            out = _padd(out, _qpoly(c, M, r, thr))
        return _trim(out)
    if k == 'mul':
        out = [Fraction(1)]
        for c in node[1]:
            out = _pmul(out, _qpoly(c, M, r, thr))
        return _trim(out)
    if k == 'pow':
        p = _qpoly(node[1], M, r, thr)
        out = [Fraction(1)]
        for _ in range(node[2]):
            out = _pmul(out, p)
        return _trim(out)
    if k == 'floor':
        p = _qpoly(node[1], M, r, thr)
        if len(p) > 2 or (len(p) == 2 and p[1].denominator != 1):
            raise _Unsupported("period too small for a floor")  # cannot happen with _period's M
        return [Fraction(math.floor(p[0]))] + p[1:]
    if k in ('max', 'min'):
        polys = [_qpoly(c, M, r, thr) for c in node[1]]
        best = polys[0]
        for p in polys[1:]:
            diff = _trim(_padd(p, [-c for c in best]))
            thr.append(_cauchy(diff))
            sign = (diff[-1] > 0) - (diff[-1] < 0)
            if (k == 'max' and sign > 0) or (k == 'min' and sign < 0):
                best = p
        return best
    if k == 'pw':
        for v, c in node[1]:
            if _eventual(c, M, r, thr):
                return _qpoly(v, M, r, thr)
        raise _Unsupported("Piecewise with no branch taken")
    raise _Unsupported(k)


def _eventual(bnode, M: int, r: int, thr: list) -> bool:
    """Truth of a boolean for all large q (H = M*q + r); thr collects the q from which it holds."""
    k = bnode[0]
    if k == 'bool':
        return bnode[1]
    if k == 'rel':
        p = _trim(_qpoly(bnode[2], M, r, thr))
        thr.append(_cauchy(p))
        s = (p[-1] > 0) - (p[-1] < 0)
        return {'==': s == 0, '!=': s != 0, '>=': s >= 0, '>': s > 0, '<=': s <= 0, '<': s < 0}[bnode[1]]
    if k == 'and':
        return all([_eventual(c, M, r, thr) for c in bnode[1]])
    if k == 'or':
        return any([_eventual(c, M, r, thr) for c in bnode[1]])
    if k == 'not':
        return not _eventual(bnode[1], M, r, thr)
    raise _Unsupported(k)


@lru_cache(maxsize=100_000)
def _periodic_info(bnode) -> Tuple[int, int]:
    """(period M, threshold T): for H >= T the atom's truth depends only on H mod M."""
    M = _period(bnode)
    Q = 0
    for r in range(M):
        thr: list = []
        _eventual(bnode, M, r, thr)
        Q = max([Q] + thr)
    return M, M * Q


def _mono(node) -> Optional[int]:
    """+1 non-decreasing, -1 non-increasing, 0 constant, None unknown (in the one symbol)."""
    k = node[0]
    if k == 'const':
        return 0
    if k == 'sym':
        return 1
    if k == 'floor':
        return _mono(node[1])
    if k in ('add', 'max', 'min'):
        ds = {_mono(c) for c in node[1]}
        if None in ds or (1 in ds and -1 in ds):
            return None
        return 1 if 1 in ds else (-1 if -1 in ds else 0)
    if k == 'mul':
        const = Fraction(1)
        var = []
        for c in node[1]:
            if c[0] == 'const':
                const *= c[1]
            else:
                var.append(c)
        if not var:
            return 0
        if len(var) > 1:
            return None
        d = _mono(var[0])
        if d is None:
            return None
        return d if const > 0 else (-d if const < 0 else 0)
    return None


def _slope(node) -> Optional[Fraction]:
    try:
        p = _lin(node, [])
    except _Unsupported:
        return None
    if p is None or len(p) > 2:
        return None
    return p[1] if len(p) == 2 else Fraction(0)


def _lower_bound_of(bnode, name: str) -> Optional[int]:
    """h0 with atom <=> name >= h0 exactly, when the atom is a monotone lower bound; else None."""
    if bnode[0] != 'rel':
        return None
    op, d = bnode[1], bnode[2]
    m = _mono(d)
    sl = _slope(d)
    if m is None or sl is None:
        return None
    if op in ('>=', '>') and m == 1 and sl > 0:
        pass
    elif op in ('<=', '<') and m == -1 and sl < 0:
        pass
    else:
        return None
    f = _cbool(bnode)
    if f({name: 1}):
        return 1
    hi = 2
    while not f({name: hi}):
        hi *= 2
        if hi > 2 ** 62:
            return None
    lo = hi // 2  # f(lo) false, f(hi) true
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if f({name: mid}):
            hi = mid
        else:
            lo = mid
    return hi


def _largest_with_value_at_most(g, name: str, vmax, start: int) -> int:
    """Largest h >= start with g(h) <= vmax for g non-decreasing and unbounded (start - 1 if none)."""
    f, d = _cexpr(g)

    def ok(h):
        return f({name: h}) <= vmax * d

    if not ok(start):
        return start - 1
    lo, hi = start, start + 1
    while ok(hi):
        lo, hi = hi, hi * 2
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if ok(mid):
            lo = mid
        else:
            hi = mid
    return lo


# ---------------------------------------------------------------- per-symbol sets

def _divisors(n: int) -> List[int]:
    small, big = [], []
    i = 1
    while i * i <= n:
        if n % i == 0:
            small.append(i)
            if i * i != n:
                big.append(n // i)
        i += 1
    return small + big[::-1]


def _runs(values: Sequence[int]) -> List[Tuple[int, int]]:
    out: List[Tuple[int, int]] = []
    for v in values:
        if out and v == out[-1][1] + 1:
            out[-1] = (out[-1][0], v)
        else:
            out.append((v, v))
    return out


def _fmt_values(name: str, values: Sequence[int], limit: int = 6) -> str:
    runs = _runs(values)
    if len(runs) == 1:
        a, b = runs[0]
        return f"{name} = {a}" if a == b else f"{name} in {a}..{b}"
    parts = [f"{a}" if a == b else f"{a}..{b}" for a, b in runs[:limit]]
    more = ", ..." if len(runs) > limit else ""
    return f"{name} in {{{', '.join(parts)}{more}}}"


@dataclass(frozen=True)
class SymbolSet:
    """An eventually periodic set of sizes: ``below`` (the valid values < start) plus every
    ``h >= start`` with ``h % period in residues``. Finite when ``residues`` is empty."""
    name: str
    below: Tuple[int, ...]
    start: int
    period: int
    residues: Tuple[int, ...]
    exact: bool = True

    @property
    def is_empty(self) -> bool:
        return not self.below and not self.residues

    @property
    def is_finite(self) -> bool:
        return not self.residues

    @property
    def minimum(self) -> Optional[int]:
        if self.below:
            return self.below[0]
        if not self.residues:
            return None
        return min(self.start + ((r - self.start) % self.period) for r in self.residues)

    @property
    def is_upward(self) -> bool:
        """Every size from the minimum on (only a lower bound)."""
        if self.is_empty or self.period != 1 or not self.residues:
            return False
        m = self.minimum
        return self.below == tuple(range(m, self.start))

    def contains(self, h: int) -> bool:
        if h < self.start:
            return h in self._below_set
        return (h % self.period) in self._res_set

    @property
    def _below_set(self):
        return frozenset(self.below)

    @property
    def _res_set(self):
        return frozenset(self.residues)

    def values_upto(self, n: int) -> np.ndarray:
        below = np.asarray([b for b in self.below if b <= n], dtype=np.int64)
        if n < self.start or not self.residues:
            return below
        tail = np.arange(self.start, n + 1, dtype=np.int64)
        if self.period > 1:
            tail = tail[np.isin(tail % self.period, np.asarray(self.residues, dtype=np.int64))]
        return np.concatenate([below, tail])

    def count(self) -> Optional[int]:
        return len(self.below) if self.is_finite else None

    def nearest(self, x: int, k: int) -> List[int]:
        cands = set()
        i = bisect.bisect_left(self.below, x)
        cands.update(self.below[max(0, i - k): i + k])
        if self.residues:
            M = self.period
            for r in self.residues:
                up = max(x, self.start)
                up += (r - up) % M
                for j in range(k):
                    cands.add(up + j * M)
                dn = x - ((x - r) % M)
                j = 0
                while dn >= self.start and j < k:
                    cands.add(dn)
                    dn -= M
                    j += 1
        return sorted(cands, key=lambda h: (abs(h - x), h))[:k]

    def describe(self) -> List[str]:
        """Plain-words pieces, e.g. ['H % 32 == 0', 'H >= 32']."""
        n = self.name
        if self.is_empty:
            return [f"no {n}"]
        if self.is_finite:
            return [_fmt_values(n, self.below)]
        if self.is_upward:
            return [f"{n} >= {self.minimum}"]
        M, R = self.period, self.residues
        lb = self.minimum
        parts = []
        if M > 1:
            if len(R) == 1:
                parts.append(f"{n} % {M} == {R[0]}")
            elif len(R) == M - 1 and M > 2:
                miss = sorted(set(range(M)) - set(R))[0]
                parts.append(f"{n} % {M} != {miss}")
            else:
                parts.append(f"{n} % {M} in {{{', '.join(map(str, R))}}}")
        if lb > 1:
            parts.append(f"{n} >= {lb}")
        missing, extra = self._exceptions()
        if extra:
            parts.append("also " + _fmt_values(n, extra))
        if missing:
            parts.append("except " + _fmt_values(n, missing))
        return parts

    def _exceptions(self) -> Tuple[List[int], List[int]]:
        """Values in [minimum, start) where the set differs from 'periodic pattern and >= minimum'."""
        lb = self.minimum
        res = self._res_set
        below = self._below_set
        missing, extra = [], []
        for h in range(lb, self.start):
            p = (h % self.period) in res
            if p and h not in below:
                missing.append(h)
            elif h in below and not p:
                extra.append(h)
        return missing, extra

    def as_condition(self) -> Optional[sympy.Basic]:
        """An exact sympy boolean for this set, or None when it would be long."""
        s = symbol(self.name)
        if self.is_empty:
            return sympy.false
        if self.is_finite:
            runs = _runs(self.below)
            if len(runs) > 8:
                return None
            return sympy.Or(*[sympy.Eq(s, a) if a == b else sympy.And(s >= a, s <= b) for a, b in runs])
        missing, extra = self._exceptions()
        if len(missing) + len(extra) > 8 or (self.period > 1 and len(self.residues) > 4):
            return None
        M = self.period
        base = [s >= self.minimum] if self.minimum > 1 else []
        if M > 1 and len(self.residues) < M:
            if len(self.residues) == M - 1 and M > 2:
                miss = sorted(set(range(M)) - set(self.residues))[0]
                base.append(sympy.Ne(sympy.Mod(s, M), miss))
            else:
                base.append(sympy.Or(*[sympy.Eq(sympy.Mod(s, M), r) for r in self.residues]))
        base += [sympy.Ne(s, m) for m in missing]
        cond = sympy.And(*base) if base else sympy.true
        if extra:
            cond = sympy.Or(cond, *[sympy.Eq(s, e) for e in extra])
        return cond


def _canonical_set(name: str, ok: np.ndarray, T: int, M: int, exact: bool = True) -> SymbolSet:
    """``ok[h-1]`` is the truth at h for h in [1, T+M); for h >= T it repeats with period M."""
    n = len(ok)
    assert n >= T + M - 1
    R = [r for r in range(M) if ok[T + ((r - T) % M) - 1]]
    d = M
    for cand in _divisors(M):
        Rd = {r % cand for r in R}
        if all(((r % cand) in Rd) == (r in set(R)) for r in range(M)):
            d = cand
            break
    Rd = sorted({r % d for r in R})
    rs = set(Rd)
    start = T
    if Rd:
        while start > 1 and bool(ok[start - 2]) == (((start - 1) % d) in rs):
            start -= 1
    else:
        idx = np.flatnonzero(ok[:T - 1]) if T > 1 else np.array([], dtype=np.int64)
        start = int(idx[-1]) + 2 if len(idx) else 1
        d = 1
    start = max(start, 1)
    below = tuple(int(i) + 1 for i in np.flatnonzero(ok[:start - 1]))
    return SymbolSet(name, below, start, d, tuple(Rd), exact)


# ---------------------------------------------------------------- atoms and components

@dataclass
class _Atom:
    expr: sympy.Basic
    index: int              # index into the deduplicated constraints
    node: Optional[tuple]   # None when it cannot be compiled
    syms: Tuple[str, ...]
    lb: Optional[int] = None  # exact lower bound when the atom is `sym >= lb`

    def vec(self, env, n):
        if self.node is None:
            return _sympy_vec(self.expr, env, n)
        return _eval_bool_vec(self.node, env, n)

    def at(self, env) -> bool:
        if self.node is None:
            return bool(self.expr.xreplace({symbol(k): sympy.Integer(int(v)) for k, v in env.items()}))
        return _eval_bool_at(self.node, env)


def _sympy_vec(expr, env, n):
    names = list(env)
    out = np.empty(n, dtype=bool)
    for i in range(n):
        out[i] = bool(expr.xreplace({symbol(k): sympy.Integer(int(env[k][i])) for k in names}))
    return out


def _make_atom(expr, index: int) -> _Atom:
    syms = tuple(sorted(s.name for s in expr.free_symbols))
    try:
        node = _ir(expr)
        _cbool(node)
    except _Unsupported:
        node = None
    a = _Atom(expr, index, node, syms)
    if node is not None and len(syms) == 1:
        try:
            a.lb = _lower_bound_of(node, syms[0])
        except _Unsupported:
            a.lb = None
    return a


@dataclass
class _Component:
    """Symbols tied together by atoms in several symbols, and what is known of their joint set."""
    names: Tuple[str, ...]
    atoms: List[_Atom]
    points: Optional[np.ndarray] = None   # (n, len(names)) valid points (all, when finite)
    finite: bool = False
    exact: bool = True
    method: str = ""
    bound: Optional[int] = None
    note: str = ""
    _set: Optional[frozenset] = None

    def _lookup(self, t) -> bool:
        if self._set is None:
            self._set = frozenset(tuple(int(v) for v in row) for row in self.points)
        return t in self._set


@dataclass
class _Solved:
    sets: Dict[str, SymbolSet]
    comps: List[_Component]
    free: Tuple[str, ...]
    verdict: str
    methods: List[str]
    exact: bool
    bound: Optional[int]
    empty_atom: Optional[_Atom] = None


def _solve_symbol(name: str, atoms: List[_Atom], bound: Optional[int]) -> Tuple[SymbolSet, str, Optional[int]]:
    """The exact set of one symbol under its separable atoms; (set, method words, fallback bound)."""
    lb = 1
    rest = []
    for a in atoms:
        if a.lb is not None:
            lb = max(lb, a.lb)
        else:
            rest.append(a)
    if not rest:
        return SymbolSet(name, (), lb, 1, (0,)), "", None
    M, T = 1, lb
    try:
        for a in rest:
            if a.node is None:
                raise _Unsupported("not compiled")
            m, t = _periodic_info(a.node)
            M = M * m // math.gcd(M, m)
            T = max(T, t)
        if T + M > _SCAN_LIMIT:
            raise _Unsupported("threshold too large")
        n = T + M - 1
        hs = np.arange(1, n + 1, dtype=np.int64)
        ok = hs >= lb
        for a in rest:
            ok &= a.vec({name: hs}, n)
        s = _canonical_set(name, ok, T, M)
        return s, (f"period {M} for {name}" if M > 1 else ""), None
    except _Unsupported:
        B = bound or _DEFAULT_BOUND_1D
        hs = np.arange(1, B + 1, dtype=np.int64)
        ok = hs >= lb
        for a in rest:
            ok &= a.vec({name: hs}, B)
        # guess the tail's period from the upper half (not a proof: exact=False)
        half = B // 2
        d = 1
        for cand in range(1, min(256, max(1, half // 4)) + 1):
            if np.array_equal(ok[half:B - cand], ok[half + cand:B]):
                d = cand
                break
        s = _canonical_set(name, ok, half + 1, d, exact=False) if half + d <= B else \
            SymbolSet(name, tuple(int(i) + 1 for i in np.flatnonzero(ok)), B + 1, 1, (), False)
        return s, f"exhaustive search up to {B} for {name}", B


def _poly_bounds(atom: _Atom, sets: Dict[str, SymbolSet]) -> Dict[str, int]:
    """Upper bounds on symbols implied by an equality (or <=) atom, {} when none."""
    e = atom.expr
    if isinstance(e, sympy.Or):
        leaves = list(e.args)
    else:
        leaves = [e]
    per_leaf = []
    for leaf in leaves:
        b = _leaf_bounds(leaf, sets)
        if b is None:
            return {}
        per_leaf.append(b)
    names = set(atom.syms)
    out = {}
    for n in names:  # a union is bounded in n when every disjunct is (an empty disjunct: -inf)
        vals = []
        for b in per_leaf:
            if b == "empty":
                continue
            if n not in b:
                break
            vals.append(b[n])
        else:
            out[n] = max(vals) if vals else 0
    return out


def _leaf_bounds(leaf, sets):
    """{name: ub} or "empty" or None (no bound derivable)."""
    if isinstance(leaf, sympy.Eq):
        D, rel = leaf.lhs - leaf.rhs, '=='
    elif isinstance(leaf, (sympy.Le, sympy.Lt)):
        D, rel = leaf.lhs - leaf.rhs, '<='
    elif isinstance(leaf, (sympy.Ge, sympy.Gt)):
        D, rel = leaf.rhs - leaf.lhs, '<='
    else:
        return None
    try:
        P = sympy.Poly(sympy.expand(D))
    except sympy.PolynomialError:
        return None
    gens = P.gens
    info = []
    for g in gens:
        fs = g.free_symbols
        if len(fs) != 1:
            return None
        name = next(iter(fs)).name
        try:
            gn = _ir(g)
        except _Unsupported:
            return None
        if _mono(gn) != 1 or not (_slope(gn) or 0) > 0:
            return None
        s = sets[name]
        mn = s.minimum
        if mn is None:
            return "empty"
        f, d = _cexpr(gn)
        gmin = Fraction(f({name: mn}), d)
        info.append((g, gn, name, gmin))
    ts = [sympy.Dummy(f"t{i}", nonnegative=True) for i in range(len(gens))]
    shifted = sympy.Poly(P.as_expr().xreplace({g: sympy.Rational(gm.numerator, gm.denominator) + t
                                               for (g, _, _, gm), t in zip(info, ts)}), *ts) \
        if gens else None
    if shifted is None:
        return None
    terms = shifted.terms()
    const = Fraction(0)
    nonconst = []
    for mon, c in terms:
        c = Fraction(int(sympy.Rational(c).p), int(sympy.Rational(c).q))
        if sum(mon) == 0:
            const = c
        elif c != 0:
            nonconst.append((mon, c))
    if not nonconst:
        return None
    signs = {c > 0 for _, c in nonconst}
    if len(signs) != 1:
        return None
    sigma = 1 if signs.pop() else -1
    if rel == '<=' and sigma < 0:
        return None
    rhs = -sigma * const  # sum of the non-constant terms (all >= 0) must equal / be <= rhs
    if rhs < 0:
        return "empty"
    ub: Dict[str, int] = {}
    for i, (g, gn, name, gmin) in enumerate(info):
        pure = [(mon[i], sigma * c) for mon, c in nonconst if mon[i] > 0 and sum(mon) == mon[i]]
        if not pure:
            continue
        tmax = min(_int_root(rhs / c, k) for k, c in pure)
        vmax = gmin + tmax
        h = _largest_with_value_at_most(gn, name, math.floor(vmax), sets[name].minimum)
        ub[name] = min(ub.get(name, h), h)
    return ub


def _int_root(x: Fraction, k: int) -> int:
    """floor(x ** (1/k)) for x >= 0, exactly."""
    if x < 0:
        return -1
    v = int(math.floor(float(x) ** (1.0 / k))) if x < 2 ** 1000 else int(x)
    while v > 0 and Fraction(v) ** k > x:
        v -= 1
    while Fraction(v + 1) ** k <= x:
        v += 1
    return v


def _eval_atoms(atoms: Sequence[_Atom], names: Sequence[str], pts: np.ndarray) -> np.ndarray:
    n = len(pts)
    ok = np.ones(n, dtype=bool)
    if n == 0:
        return ok
    env = {nm: pts[:, i] for i, nm in enumerate(names)}
    for a in atoms:
        idx = np.flatnonzero(ok)
        if not len(idx):
            break
        sub = {k: v[idx] for k, v in env.items()}
        ok[idx] = a.vec({k: sub[k] for k in a.syms}, len(idx))
    return ok


def _grid(lists: Sequence[np.ndarray]) -> np.ndarray:
    if not lists:
        return np.zeros((1, 0), dtype=np.int64)
    mesh = np.meshgrid(*lists, indexing="ij")
    return np.stack([m.ravel() for m in mesh], axis=1)


def _solve_component(comp: _Component, sets: Dict[str, SymbolSet], bound: Optional[int]) -> None:
    names = comp.names
    ubs: Dict[str, int] = {}
    for a in comp.atoms:
        try:
            for n, u in _poly_bounds(a, sets).items():
                ubs[n] = min(ubs.get(n, u), u)
        except (_Unsupported, sympy.PolynomialError, ValueError, TypeError, ZeroDivisionError):
            continue
    # robustness guard: a derived bound beyond _GRID_LIMIT (2**62-sized dims...) would allocate TiB; use the fallback
    if all(n in ubs and ubs[n] <= _GRID_LIMIT for n in names):
        lists = [sets[n].values_upto(ubs[n]) for n in names]
        total = 1
        for lst in lists:
            total *= len(lst)
        if total == 0:
            comp.points, comp.finite = np.zeros((0, len(names)), dtype=np.int64), True
            comp.method = f"derived bounds leave no ({', '.join(names)}) candidate"
            return
        if total <= _GRID_LIMIT:
            pts = _grid(lists)
            comp.points = pts[_eval_atoms(comp.atoms, names, pts)]
            comp.finite = True
            comp.method = f"exact enumeration of ({', '.join(names)}) inside derived bounds"
            return
        pts = _solve_last(comp, sets, lists, ubs)
        if pts is not None:
            comp.points = pts
            comp.finite = True
            comp.method = f"divisor enumeration of ({', '.join(names)})"
            return
    # fallback: bounded exhaustive evaluation
    k = len(names)
    B = bound or _DEFAULT_BOUND_ND
    B = max(2, min(B, int(_GRID_LIMIT ** (1.0 / k))))
    lists = [sets[n].values_upto(B) for n in names]
    pts = _grid(lists)
    pts = pts[_eval_atoms(comp.atoms, names, pts)]
    comp.points = pts
    comp.exact = False
    comp.bound = B
    margin = max(8, B // 8)
    comp.finite = not (len(pts) and bool(np.any(pts.max(axis=0) > B - margin)))
    comp.method = f"exhaustive search up to {B} for ({', '.join(names)})"


def _solve_last(comp: _Component, sets, lists, ubs) -> Optional[np.ndarray]:
    """Candidates from one bounding atom (an equality, or an Or of equalities): all symbols but one
    are enumerated and the equality solved for the last one's generator; then every atom of the
    component is checked on every candidate."""
    names = comp.names
    for atom in comp.atoms:
        leaves = list(atom.expr.args) if isinstance(atom.expr, sympy.Or) else [atom.expr]
        cands = []
        for leaf in leaves:
            try:
                b = _leaf_bounds(leaf, sets)
            except (_Unsupported, sympy.PolynomialError, ValueError, TypeError, ZeroDivisionError):
                b = None
            if b == "empty":
                continue
            pts = _solve_leaf(leaf, names, lists) if b is not None else None
            if pts is None:
                break
            cands.append(pts)
        else:
            pts = np.concatenate(cands) if cands else np.zeros((0, len(names)), dtype=np.int64)
            pts = pts[_eval_atoms(comp.atoms, names, pts)]
            return np.unique(pts, axis=0) if len(pts) else pts
    return None


def _solve_leaf(leaf, names, lists) -> Optional[np.ndarray]:
    """Superset of the points of the grid ``lists`` where the equality ``leaf`` holds, or None."""
    if not isinstance(leaf, sympy.Eq):
        return None
    order = sorted(range(len(names)), key=lambda i: -len(lists[i]))
    D = sympy.expand(leaf.lhs - leaf.rhs)
    try:
        P = sympy.Poly(D)
    except sympy.PolynomialError:
        return None
    for li in order:
        last = names[li]
        gl = [g for g in P.gens if symbol(last) in g.free_symbols]
        if len(gl) != 1 or P.degree(gl[0]) != 1:
            continue
        g = gl[0]
        try:
            gn = _ir(g)
        except _Unsupported:
            continue
        if _mono(gn) != 1:
            continue
        others = [i for i in range(len(names)) if i != li]
        size = 1
        for i in others:
            size *= len(lists[i])
        if size > _GRID_LIMIT:
            continue
        c1 = P.as_expr().coeff(g, 1)
        c0 = sympy.expand(P.as_expr() - c1 * g)
        try:
            n1, d1 = _cexpr(_ir(c1))
            n0, d0 = _cexpr(_ir(c0))
            fg, dg = _cexpr(gn)
        except _Unsupported:
            continue
        if dg != 1:
            continue  # generators are floors or symbols, so integer valued
        grid = _grid([lists[i] for i in others])
        onames = [names[i] for i in others]
        X = max([int(lists[i].max()) for i in range(len(names)) if len(lists[i])] + [1])
        obj = _needs_object(('rel', '==', ('mul', (_ir(c1), _ir(c0), ('const', Fraction(d0 * d1))))), X)
        env = {nm: (grid[:, j].astype(object) if obj else grid[:, j]) for j, nm in enumerate(onames)}
        rows = len(grid)
        a1 = np.broadcast_to(np.asarray(n1(env)), (rows,))
        a0 = np.broadcast_to(np.asarray(n0(env)), (rows,))
        num = -(a0 * d1)
        den = a1 * d0
        nz = den != 0
        good = np.zeros(rows, dtype=bool)
        safe = np.where(nz, den, 1)
        good[nz] = (num[nz] % safe[nz]) == 0
        v = num[good] // safe[good]
        lastvals = lists[li]
        gv = np.broadcast_to(np.asarray(fg({last: lastvals.astype(object) if obj else lastvals})),
                             lastvals.shape)
        lo = np.searchsorted(gv, v, side="left")
        hi = np.searchsorted(gv, v, side="right")
        rows_idx = np.flatnonzero(good)
        cnt = (hi - lo).astype(np.int64)
        rep_rows = np.repeat(rows_idx, cnt)
        offs = np.arange(int(cnt.sum())) - np.repeat(np.cumsum(cnt) - cnt, cnt)
        last_idx = np.repeat(lo, cnt) + offs
        allrows = np.flatnonzero(~nz & (num == 0))  # the equation holds whatever the generator
        if len(allrows):
            rep_rows = np.concatenate([rep_rows, np.repeat(allrows, len(lastvals))])
            last_idx = np.concatenate([last_idx, np.tile(np.arange(len(lastvals)), len(allrows))])
        pts = np.zeros((len(rep_rows), len(names)), dtype=np.int64)
        for j, i in enumerate(others):
            pts[:, i] = grid[rep_rows, j]
        pts[:, li] = lastvals[last_idx]
        return pts
    return None


def _solve(atoms: List[_Atom], names: Tuple[str, ...], bound: Optional[int]) -> _Solved:
    for a in atoms:
        if a.expr is sympy.false or (not a.syms and not a.at({})):
            return _Solved({}, [], names, "never-valid", ["constant condition"], True, None, a)
    by_sym: Dict[str, List[_Atom]] = {}
    multi: List[_Atom] = []
    for a in atoms:
        if len(a.syms) == 1:
            by_sym.setdefault(a.syms[0], []).append(a)
        elif len(a.syms) > 1:
            multi.append(a)
    constrained = set(by_sym) | {s for a in multi for s in a.syms}
    sets: Dict[str, SymbolSet] = {}
    methods: List[str] = []
    exact = True
    bnd = None
    for n in names:
        if n not in constrained:
            continue
        s, m, b = _solve_symbol(n, by_sym.get(n, []), bound)
        sets[n] = s
        if m:
            methods.append(m)
        if b is not None:
            exact = False
            bnd = max(bnd or 0, b)
    # components of the multi-symbol atoms (union-find on symbols)
    parent = {n: n for n in constrained}

    def find(x):
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x
    for a in multi:
        for s in a.syms[1:]:
            parent[find(s)] = find(a.syms[0])
    groups: Dict[str, List[_Atom]] = {}
    for a in multi:
        groups.setdefault(find(a.syms[0]), []).append(a)
    comps = []
    empty = any(s.is_empty for s in sets.values())
    for root, catoms in groups.items():
        cnames = tuple(n for n in names if n in parent and find(n) == root)  # unconstrained symbols: no component
        comp = _Component(cnames, catoms)
        if not empty:
            _solve_component(comp, sets, bound)
            methods.append(comp.method)
            if not comp.exact:
                exact = False
                bnd = max(bnd or 0, comp.bound or 0)
            if comp.points is not None and len(comp.points) == 0:
                empty = True
        comps.append(comp)
    free = tuple(n for n in names if n not in constrained)
    in_comp = {n for c in comps for n in c.names}
    if empty:
        verdict = "never-valid"
    elif all((sets[n].is_finite for n in sets if n not in in_comp)) and all(c.finite for c in comps) \
            and constrained:
        verdict = "locked"
    elif not comps and all(s.is_upward for s in sets.values()):
        verdict = "size-invariant"
    else:
        verdict = "conditional"
    return _Solved(sets, comps, free, verdict, methods, exact, bnd)


# ---------------------------------------------------------------- the public result

def _fmt_size(t: Sequence[int]) -> str:
    return "x".join(str(int(v)) for v in t)


@dataclass(frozen=True)
class Domain:
    """The valid input sizes of a model, with the verdict and the words for it."""
    symbols: Tuple[str, ...]
    valid_if: sympy.Basic
    verdict: str
    summary: str
    method: str
    exact: bool
    bound: Optional[int]
    lower_bounds: Dict[str, int]
    moduli: Dict[str, Tuple[int, Tuple[int, ...]]]
    finite_set: Optional[Tuple[Tuple[int, ...], ...]]
    finite_symbols: Tuple[str, ...]
    finite_count: Optional[int]
    breaking_constraint: Optional[Constraint]
    constraints: Tuple[Constraint, ...] = field(repr=False)
    sets: Dict[str, SymbolSet] = field(repr=False, default_factory=dict)
    _atoms: Tuple[Any, ...] = field(repr=False, compare=False, default=())
    _comps: Tuple[Any, ...] = field(repr=False, compare=False, default=())
    _free: Tuple[str, ...] = field(repr=False, compare=False, default=())

    # -- queries ------------------------------------------------------------------------------
    def _env(self, env: Mapping) -> Dict[str, int]:
        out = {}
        for k, v in env.items():
            name = k if isinstance(k, str) else str(k)
            out[name] = int(v)
        missing = [a for a in self._needed() if a not in out]
        if missing:
            raise ValueError(f"no size given for {', '.join(missing)}")
        for k, v in out.items():
            if v < 1:
                raise ValueError(f"size {k}={v} must be >= 1")
        return out

    def _needed(self) -> List[str]:
        return sorted({s for a in self._atoms for s in a.syms})

    def contains(self, env: Mapping) -> bool:
        """Whether every constraint holds at these sizes (exact integer evaluation)."""
        e = self._env(env)
        return all(a.at(e) for a in self._atoms)

    def predicts(self, env: Mapping) -> bool:
        """Membership according to the computed set (per-symbol sets and enumerated points), without
        re-evaluating the constraints: what the analysis claims; ``contains`` is the ground truth."""
        e = self._env(env)
        if self.verdict == "never-valid":
            return False
        in_comp = {n for c in self._comps for n in c.names}
        for n, s in self.sets.items():
            if n not in in_comp and not s.contains(e[n]):
                return False
        for c in self._comps:
            t = tuple(e[n] for n in c.names)
            if not all(self.sets[n].contains(e[n]) for n in c.names):
                return False
            if c.exact or all(v <= (c.bound or 0) for v in t):
                if not c._lookup(t):
                    return False
            elif not all(a.at(e) for a in c.atoms):
                return False
        return True

    def blocking(self, env: Mapping) -> Optional[Constraint]:
        """The first constraint, in the graph's topological order, that fails at these sizes."""
        e = self._env(env)
        for a in self._atoms:  # atoms are in constraint order
            if not a.at(e):
                return self.constraints[a.index]
        return None

    def nearest_valid(self, env: Mapping, k: int = 3) -> List[Dict[str, int]]:
        """Up to k valid sizes nearest to env (L1 distance over the constrained symbols, then L2)."""
        e = self._env(env)
        if self.verdict == "never-valid":
            return []
        in_comp = {n for c in self._comps for n in c.names}
        # each part: list of (l1, l2sq, {name: value})
        parts: List[List[Tuple[int, int, Dict[str, int]]]] = []
        for n, s in self.sets.items():
            if n in in_comp:
                continue
            x = e[n]
            parts.append([(abs(h - x), (h - x) ** 2, {n: h}) for h in s.nearest(x, k)])
        for c in self._comps:
            pts = c.points
            if pts is None or not len(pts):
                return []
            x = np.asarray([e[n] for n in c.names], dtype=np.int64)
            diff = np.abs(pts - x)
            l1 = diff.sum(axis=1)
            l2 = (diff.astype(np.float64) ** 2).sum(axis=1)
            kk = min(k, len(pts))
            idx = np.lexsort((l2, l1))[:kk]
            parts.append([(int(l1[i]), int(l2[i]), {n: int(pts[i, j]) for j, n in enumerate(c.names)})
                          for i in idx])
        best = [(0, 0, {})]
        for part in parts:
            comb = [(a1 + b1, a2 + b2, {**ad, **bd}) for a1, a2, ad in best for b1, b2, bd in part]
            comb.sort(key=lambda t: (t[0], t[1], tuple(t[2].get(n, 0) for n in self.symbols)))
            best = comb[:k]
        out = []
        for _, _, d in best:
            full = dict(e)
            full.update(d)
            out.append({n: full[n] for n in self.symbols if n in full})
        return out

    def examples(self, n: int = 5) -> List[Dict[str, int]]:
        """A few valid sizes (from the finite set when locked)."""
        if self.finite_set:
            return [dict(zip(self.finite_symbols, t)) for t in self.finite_set[:n]]
        ref = {s: max(self.lower_bounds.get(s, 1), 224 if s in ("H", "W") else 1) for s in self.symbols}
        try:
            return self.nearest_valid(ref, k=n)
        except ValueError:
            return []

    def to_json(self) -> Dict[str, Any]:
        bc = self.breaking_constraint
        return {
            "symbols": list(self.symbols),
            "valid_if": str(self.valid_if),
            "verdict": self.verdict,
            "summary": self.summary,
            "method": self.method,
            "exact": self.exact,
            "bound": self.bound,
            "lower_bounds": {k: int(v) for k, v in self.lower_bounds.items()},
            "moduli": {k: {"modulus": int(m), "residues": [int(r) for r in rs]}
                       for k, (m, rs) in self.moduli.items()},
            "finite_symbols": list(self.finite_symbols),
            "finite_count": self.finite_count,
            "finite_examples": [dict(zip(self.finite_symbols, map(int, t)))
                                for t in (self.finite_set or ())[:10]],
            "breaking_constraint": None if bc is None else {
                "node": bc.node, "op_type": bc.op_type, "condition": str(bc.condition),
                "reason": bc.reason},
        }


# ---------------------------------------------------------------- analyze_domain

def _atoms_of(constraints: Sequence[Constraint]) -> Tuple[List[Constraint], List[_Atom]]:
    seen = set()
    kept: List[Constraint] = []
    atoms: List[_Atom] = []
    seen_atoms = set()
    for c in constraints:
        cond = c.condition
        if isinstance(cond, bool):
            cond = sympy.true if cond else sympy.false
        cond = sympy.sympify(cond)
        if cond is sympy.true or cond in seen:
            continue
        seen.add(cond)
        idx = len(kept)
        kept.append(c if cond is c.condition else Constraint(c.node, c.op_type, cond, c.reason))
        parts = cond.args if isinstance(cond, sympy.And) else (cond,)
        for p in parts:
            if p is sympy.true or p in seen_atoms:
                continue
            seen_atoms.add(p)
            atoms.append(_make_atom(p, idx))
    return kept, atoms


def _build_valid_if(solved: _Solved, atoms: List[_Atom], names) -> sympy.Basic:
    if solved.verdict == "never-valid" and solved.empty_atom is not None:
        return sympy.false
    in_comp = {n for c in solved.comps for n in c.names}
    parts = []
    for n in names:
        s = solved.sets.get(n)
        if s is None:
            continue
        sym_atoms = [a for a in atoms if a.syms == (n,)]
        cond = s.as_condition() if s.exact else None
        if cond is None:
            lbs = [a.lb for a in sym_atoms if a.lb is not None]
            if lbs and max(lbs) > 1:
                parts.append(symbol(n) >= max(lbs))
            parts += [a.expr for a in sym_atoms if a.lb is None]
        else:
            parts.append(cond)
    for a in atoms:
        if len(a.syms) > 1:
            parts.append(a.expr)
    _ = in_comp
    return sympy.And(*parts) if parts else sympy.true


def _summary(d_verdict: str, solved: _Solved, names, finite_syms, finite_count, examples,
             breaking: Optional[Constraint], reference) -> str:
    free = [n for n in solved.free]
    free_txt = f" ({', '.join(free)}: any size)" if free and len(free) < len(names) else ""
    in_comp = {n for c in solved.comps for n in c.names}
    if d_verdict == "never-valid":
        where = f" (first impossible at node {breaking.node} ({breaking.op_type}): {breaking.reason})" \
            if breaking is not None else ""
        return "never valid: no input size satisfies the constraints" + where
    if d_verdict == "size-invariant":
        bounds = [f"{n} >= {solved.sets[n].minimum}" for n in names if n in solved.sets]
        if not bounds:
            return "valid for every size (no constraint)"
        return "valid for " + " and ".join(bounds) + free_txt
    if d_verdict == "locked":
        tup = "(" + ", ".join(finite_syms) + ")" if len(finite_syms) > 1 else finite_syms[0]
        kinds = "pairs" if len(finite_syms) == 2 else ("triples" if len(finite_syms) == 3 else "sizes")
        if not in_comp:
            desc = " and ".join(solved.sets[n].describe()[0] for n in finite_syms)
            head = f"locked: {desc}"
            if len(finite_syms) > 1:
                head += f" ({finite_count} {tup} {kinds})"
            elif finite_count and finite_count > 1:
                head += f" ({finite_count} sizes)"
        else:
            head = f"locked: exactly {finite_count} {tup} {kinds}"
            if examples:
                head += ", e.g. " + ", ".join(_fmt_size(t) for t in examples)
        if reference is not None:
            head += f" (nearest to {_fmt_size(reference[0])}: " + ", ".join(
                _fmt_size(t) for t in reference[1]) + ")"
        return head + free_txt
    # conditional
    mods, bounds, other, notes = [], [], [], []
    for n in names:
        s = solved.sets.get(n)
        if s is None:
            continue
        for piece in s.describe():
            if piece.startswith("also ") or piece.startswith("except "):
                notes.append(piece)
            elif "%" in piece:
                mods.append(piece)
            elif ">=" in piece and piece.startswith(n):
                bounds.append(piece)
            else:
                other.append(piece)
    for c in solved.comps:
        conds = " and ".join(str(a.expr) for a in c.atoms)
        if c.finite:
            other.append(f"({', '.join(c.names)}) in {len(c.points)} combinations where {conds}")
        else:
            other.append(conds + (f" (searched up to {c.bound})" if c.bound else ""))
    text = "valid only when " + " and ".join(mods + other) if (mods or other) else "valid only when"
    if bounds:
        text += (", " if (mods or other) else " ") + ", ".join(bounds)
    if notes:
        text += " (" + "; ".join(notes) + ")"
    return text + free_txt


def analyze_domain(constraints: Iterable[Constraint], symbols: Iterable = (), *,
                   bound: Optional[int] = None, reference: Optional[Mapping[str, int]] = None) -> Domain:
    """The exact set of valid input sizes under ``constraints`` (in topological order).

    ``symbols``: the input symbols (names or sympy Symbols); symbols used by a constraint but not
    listed are added, symbols in no constraint are unconstrained (any size >= 1). ``bound``: the
    per-symbol bound of the exhaustive fallback (only used where the symbolic path cannot decide).
    ``reference``: a size to which the summary of a finite set lists the nearest valid sizes
    (default 224 for H and W where those are the symbols).
    """
    constraints = tuple(constraints)
    names = [s if isinstance(s, str) else s.name for s in symbols]
    kept, atoms = _atoms_of(constraints)
    extra = sorted({s for a in atoms for s in a.syms} - set(names))
    names = tuple(dict.fromkeys(list(names) + extra))
    solved = _solve(atoms, names, bound)

    # the first constraint whose prefix is no longer size-invariant
    breaking = None
    if solved.verdict != "size-invariant":
        if True:
            cand = sorted({a.index for a in atoms if a.lb is None})
            lo, hi = 0, len(cand) - 1  # smallest i with prefix up to cand[i] not size-invariant
            cache: Dict[int, str] = {}

            def verdict_upto(i):
                if i not in cache:
                    last = cand[i]
                    cache[i] = _solve([a for a in atoms if a.index <= last], names, bound).verdict
                return cache[i]
            if cand:
                while lo < hi:
                    mid = (lo + hi) // 2
                    if verdict_upto(mid) != "size-invariant":
                        hi = mid
                    else:
                        lo = mid + 1
                breaking = kept[cand[lo]]

    # finite set over the constrained symbols
    in_comp = {n for c in solved.comps for n in c.names}
    constrained = tuple(n for n in names if n in solved.sets)
    finite_set = None
    finite_count = None
    finite_syms: Tuple[str, ...] = ()
    if solved.verdict == "locked":
        finite_syms = constrained
        blocks: List[Tuple[Tuple[str, ...], np.ndarray]] = []
        for n in constrained:
            if n not in in_comp:
                blocks.append(((n,), np.asarray(solved.sets[n].below, dtype=np.int64).reshape(-1, 1)))
        for c in solved.comps:
            blocks.append((c.names, c.points))
        finite_count = 1
        for _, p in blocks:
            finite_count *= len(p)
        if finite_count <= 200_000:
            rows = [()]
            order: List[str] = []
            for bn, p in blocks:
                order += list(bn)
                rows = [r + tuple(int(v) for v in row) for r in rows for row in p]
            perm = [order.index(n) for n in finite_syms]
            finite_set = tuple(sorted(tuple(r[i] for i in perm) for r in rows))
    elif solved.verdict == "never-valid":
        finite_count = 0
        finite_set = ()

    lower_bounds: Dict[str, int] = {}
    moduli: Dict[str, Tuple[int, Tuple[int, ...]]] = {}
    for n in names:
        s = solved.sets.get(n)
        if s is None:
            lower_bounds[n] = 1
            continue
        mn = s.minimum
        for c in solved.comps:
            if n in c.names and c.points is not None and len(c.points):
                mn = int(c.points[:, c.names.index(n)].min())
        lower_bounds[n] = mn if mn is not None else 1
        if s.period > 1 and not s.is_finite:
            moduli[n] = (s.period, s.residues)

    valid_if = _build_valid_if(solved, atoms, names)
    if solved.verdict == "never-valid":
        valid_if = sympy.false

    methods = [m for m in solved.methods if m]
    if not atoms:
        method = "no constraint"
    elif solved.exact:
        method = "symbolic (" + ("; ".join(methods) if methods else "lower bounds only") + ")"
    else:
        method = "; ".join(methods)

    dom = Domain(names, valid_if, solved.verdict, "", method, solved.exact, solved.bound,
                 lower_bounds, moduli, finite_set, finite_syms, finite_count, breaking, tuple(kept),
                 dict(solved.sets), tuple(atoms), tuple(solved.comps), solved.free)

    examples: List[Tuple[int, ...]] = []
    ref_part = None
    if solved.verdict == "locked" and finite_set:
        arr = np.asarray(finite_set, dtype=np.float64)
        if arr.shape[1] > 1:
            spread = arr.max(axis=1) / arr.min(axis=1)
            i0 = int(np.lexsort((arr.sum(axis=1), spread))[0])
            picks = [i0, int(np.argmin(arr[:, 0])), int(np.argmax(arr[:, 0]))]
        else:
            picks = [0, len(arr) - 1]
        for i in picks:
            if finite_set[i] not in examples:
                examples.append(finite_set[i])
        ref = dict(reference) if reference else {n: 224 for n in finite_syms if n in ("H", "W")}
        if ref and all(n in ref for n in finite_syms):
            near = dom.nearest_valid({**{n: 1 for n in names}, **ref}, k=3)
            ref_part = (tuple(ref[n] for n in finite_syms), [tuple(d[n] for n in finite_syms) for d in near])
    summary = _summary(solved.verdict, solved, names, finite_syms, finite_count, examples, breaking,
                       ref_part)
    if not solved.exact:
        summary += f" [not proven: {method}]"
    object.__setattr__(dom, "summary", summary)
    return dom
