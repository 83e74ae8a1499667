"""Expression trees of the constraints and their exact integer evaluation (ints / numpy, never floats)."""
from __future__ import annotations

import math
from fractions import Fraction
from functools import lru_cache
from typing import Dict, List, Mapping, Optional

import numpy as np
import sympy

from ._consts import INT64_SAFE

class Unsupported(Exception):
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
def to_ir(e) -> tuple:
    if e is sympy.true or e is True:
        return ('bool', True)
    if e is sympy.false or e is False:
        return ('bool', False)
    if isinstance(e, sympy.Symbol):
        return ('sym', e.name)
    if isinstance(e, sympy.Rational):
        return ('const', Fraction(int(e.p), int(e.q)))
    if isinstance(e, sympy.Add):
        return ('add', tuple(to_ir(a) for a in e.args))
    if isinstance(e, sympy.Mul):
        return ('mul', tuple(to_ir(a) for a in e.args))
    if isinstance(e, sympy.Pow):
        n = e.exp
        if isinstance(n, sympy.Float) and n == int(n):  # x**1.0 from a float Pow in the graph
            n = sympy.Integer(int(n))
        if isinstance(n, sympy.Integer) and int(n) >= 1:
            return ('pow', to_ir(e.base), int(n))
        raise Unsupported(f"power {e}")
    if isinstance(e, sympy.floor):
        try:
            return ('floor', to_ir(e.args[0]))
        except Unsupported:
            sq = _floor_sqrt(e.args[0])
            return sq if sq is not None else _floor_quotient(e.args[0])
    if isinstance(e, sympy.ceiling):  # ceil(x) == -floor(-x)
        return _neg(('floor', _neg(to_ir(e.args[0]))))
    if isinstance(e, sympy.Mod):  # Mod(x, m) == x - m*floor(x/m) (sign of m, like Python's %)
        x, m = e.args
        if not isinstance(m, sympy.Rational) and m.free_symbols:  # x - m*floor(x/m), m a formula
            xi, mi = to_ir(x), to_ir(m)
            return ('add', (xi, _neg(('mul', (mi, ('fdiv', xi, mi))))))
        if not isinstance(m, sympy.Rational) or m == 0:
            raise Unsupported(f"Mod with modulus {m}")
        fm = Fraction(int(m.p), int(m.q))
        xi = to_ir(x)
        return ('add', (xi, ('mul', (('const', -fm), ('floor', ('mul', (('const', 1 / fm), xi)))))))
    if isinstance(e, sympy.sign):  # as a Piecewise: every later step already handles those
        x = to_ir(e.args[0])
        return ('pw', ((('const', Fraction(1)), ('rel', '>', x)), (('const', Fraction(-1)), ('rel', '<', x)),
                       (('const', Fraction(0)), ('bool', True))))
    if isinstance(e, sympy.Max):
        return ('max', tuple(to_ir(a) for a in e.args))
    if isinstance(e, sympy.Min):
        return ('min', tuple(to_ir(a) for a in e.args))
    if isinstance(e, sympy.Abs):
        a = to_ir(e.args[0])
        return ('max', (a, _neg(a)))
    if isinstance(e, sympy.Piecewise):
        return ('pw', tuple((to_ir(v), to_ir(c)) for v, c in e.args))
    for cls, op in _REL_OPS.items():
        if isinstance(e, cls):
            return ('rel', op, _sub(to_ir(e.lhs), to_ir(e.rhs)))
    if isinstance(e, sympy.And):
        return ('and', tuple(to_ir(a) for a in e.args))
    if isinstance(e, sympy.Or):
        return ('or', tuple(to_ir(a) for a in e.args))
    if isinstance(e, sympy.Not):
        return ('not', to_ir(e.args[0]))
    if isinstance(e, sympy.ITE):  # ITE(c, a, b) == (c & a) | (~c & b)
        c, a, b = (to_ir(x) for x in e.args)
        return ('or', (('and', (c, a)), ('and', (('not', c), b))))
    if isinstance(e, sympy.Implies):
        a, b = (to_ir(x) for x in e.args)
        return ('or', (('not', a), b))
    if isinstance(e, sympy.Equivalent):
        kids = tuple(to_ir(x) for x in e.args)
        return ('or', (('and', kids), ('and', tuple(('not', k) for k in kids))))
    if isinstance(e, sympy.Xor):
        out = to_ir(e.args[0])
        for x in e.args[1:]:
            b = to_ir(x)
            out = ('or', (('and', (out, ('not', b))), ('and', (('not', out), b))))
        return out
    raise Unsupported(f"{type(e).__name__}: {e}")


def _floor_sqrt(arg) -> Optional[tuple]:
    """floor(c*sqrt(Q) + b) (c > 0, b rational, Q a product of formulas): a model that computes a side
    as int(sqrt(number of tokens)) (DPT); evaluated exactly with integer square roots. None otherwise."""
    b, rest = sympy.expand(arg).as_coeff_Add()
    c, factors = rest.as_coeff_Mul()
    parts = sympy.Mul.make_args(factors)
    if not (c.is_Rational and c > 0 and b.is_Rational) or not parts or \
            not all(isinstance(p, sympy.Pow) and p.exp == sympy.Rational(1, 2) for p in parts):
        return None
    return ('fsqrt', Fraction(int(c.p), int(c.q)), Fraction(int(b.p), int(b.q)),
            to_ir(sympy.Mul(*[p.base for p in parts])))


def _isqrt(x):
    """floor(sqrt(x)) exactly for integers x >= 0 (numpy int64 / object arrays, or ints); -1 for x < 0."""
    if _is_arr(x):
        if x.dtype == object:
            return np.vectorize(lambda v: math.isqrt(v) if v >= 0 else -1, otypes=[object])(x)
        r = np.floor(np.sqrt(np.maximum(x, 0).astype(np.float64))).astype(np.int64)
        r -= (r * r > x).astype(np.int64)
        r += ((r + 1) * (r + 1) <= x).astype(np.int64)
        return np.where(x < 0, -1, r)
    return math.isqrt(x) if x >= 0 else -1


def _floor_quotient(arg) -> tuple:
    """floor(n / d) with d a formula in the symbols (a Reshape's -1 dim: elements / product of the others)."""
    n, d = sympy.fraction(sympy.together(arg))
    if not d.free_symbols:
        raise Unsupported(f"floor of {arg}")
    return ('fdiv', to_ir(n), to_ir(d))


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
def cexpr(node):
    """(fn(env) -> integer numerator (int or array), static positive denominator)."""
    k = node[0]
    if k == 'const':
        n, d = node[1].numerator, node[1].denominator
        return (lambda env: n), d
    if k == 'sym':
        name = node[1]
        return (lambda env: env[name]), 1
    if k == 'add' or k == 'max' or k == 'min':
        parts = [cexpr(c) for c in node[1]]
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
        parts = [cexpr(c) for c in node[1]]
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
        f, d = cexpr(node[1])
        n = node[2]
        return (lambda env: f(env) ** n), d ** n
    if k == 'floor':
        f, d = cexpr(node[1])
        if d == 1:
            return f, 1
        return (lambda env: f(env) // d), 1
    if k == 'fsqrt':  # floor(c*sqrt(Q) + p/q) = (isqrt(floor(q^2 c^2 Q)) + p) // q
        c, b, (fq, dq) = node[1], node[2], cexpr(node[3])
        p, q = b.numerator, b.denominator
        num2, den2 = (q * c.numerator) ** 2, (c.denominator ** 2) * dq

        def fn(env, fq=fq, num2=num2, den2=den2, p=p, q=q):
            return (_isqrt(fq(env) * num2 // den2) + p) // q
        return fn, 1
    if k == 'fdiv':  # floor(a / b): (na/da) / (nb/db) = (na*db) / (da*nb); b == 0 counts as 0
        (fa, da), (fb, db) = cexpr(node[1]), cexpr(node[2])

        def fn(env, fa=fa, da=da, fb=fb, db=db):
            num, den = fa(env) * db, fb(env) * da
            if _is_arr(num) or _is_arr(den):
                num, den = np.broadcast_arrays(num, den)
                safe = np.where(den == 0, 1, den)
                return np.where(den == 0, 0, num // safe)
            return 0 if den == 0 else num // den
        return fn, 1
    if k == 'pw':
        pieces = [(cexpr(v), cbool(c)) for v, c in node[1]]
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
    raise Unsupported(f"not an expression: {k}")


@lru_cache(maxsize=200_000)
def cbool(node):
    k = node[0]
    if k == 'bool':
        b = node[1]
        return lambda env: b
    if k == 'rel':
        f, _ = cexpr(node[2])
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
        fs = [cbool(c) for c in node[1]]
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
        f = cbool(node[1])
        return lambda env: _lnot(f(env))
    raise Unsupported(f"not a boolean: {k}")


@lru_cache(maxsize=200_000)
def _den(node) -> int:
    return cexpr(node)[1]


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
    elif k == 'fsqrt':
        c, b = node[1], node[2]
        mq = _mag(node[3], X, acc)
        acc.append(mq * (b.denominator * c.numerator) ** 2)
        m = math.sqrt(mq) * float(c) + abs(float(b)) + 2
    elif k == 'fdiv':  # |floor(a/b)| <= |na| * db (|nb| >= 1 where b != 0); the products are computed too
        ma, mb = _mag(node[1], X, acc), _mag(node[2], X, acc)
        acc.append(ma * _den(node[2]))
        acc.append(mb * _den(node[1]))
        m = ma * _den(node[2]) + 1
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


def needs_object(bnode, X: float) -> bool:
    acc: List[float] = []
    try:
        _bmag(bnode, float(X) + 1, acc)
    except OverflowError:
        return True
    return max(acc, default=0.0) >= INT64_SAFE


def eval_bool_vec(bnode, env: Dict[str, np.ndarray], n: int) -> np.ndarray:
    """Exact vectorised truth of one atom; env arrays all have length n."""
    X = max((int(np.max(v)) for v in env.values() if len(v)), default=1)
    obj = needs_object(bnode, X)
    env2 = {k: (v.astype(object) if obj else v.astype(np.int64)) for k, v in env.items()}
    try:
        out = cbool(bnode)(env2)
    except OverflowError:  # a constant beyond int64 that needs_object missed (2**62-sized dims): exact ints
        out = cbool(bnode)({k: v.astype(object) for k, v in env.items()})
    out = np.asarray(out)
    if out.dtype == object:
        out = out.astype(bool)
    return np.broadcast_to(out.astype(bool), (n,))


def eval_bool_at(bnode, env: Mapping[str, int]) -> bool:
    return bool(cbool(bnode)({k: int(v) for k, v in env.items()}))
