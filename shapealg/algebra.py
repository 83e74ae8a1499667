"""The dim algebra under the sympy face: canonical, range-aware, memoised.

A dim formula is turned into a *polynomial over atoms* (``Poly``): a sum of ``coefficient * monomial``,
a monomial a product of atoms raised to positive integer powers. Atoms are integer symbols, canonical
floors ``floor(N/q)`` (N a polynomial with integer coefficients, q >= 2), and opaque functions
(Max, Min, Piecewise, ... with canonical arguments). Every object is a hashable tuple, built once and
memoised, so work grows with the number of distinct subexpressions, not with the printed size.

Every rewrite below is exact for every integer value of the integer atoms in their ranges
(symbols are >= 1 unless sympy says otherwise). ``Mod(a, q)`` (q a positive integer) is read as
``a - q*floor(a/q)``; ``ceiling(x)`` as ``-floor(-x)``; the conversion back to sympy prints
``floor((P + q - 1)/q)`` as ``ceiling(P/q)`` and ``a - q*floor(a/q)`` as ``Mod(a, q)``.

Limits are counted in work: a polynomial whose size (atoms and terms, nested) passes ``MAX_SIZE`` raises
``TooComplex``; the caller turns the dim into unknown with a warning naming the node.
"""
from __future__ import annotations

import collections
import contextlib
import math
from fractions import Fraction
from functools import lru_cache
from typing import Callable, Dict, Optional, Tuple

import sympy

__all__ = ["TooComplex", "MAX_SIZE", "canonical", "bounds", "sign_of_ge0", "decide", "size_of", "Interval",
           "floor_div", "ceil_div", "mod", "max_of", "min_of", "exact_quotient"]

MAX_SIZE = 512           # nodes of one canonical formula (terms + atoms, nested) before it is given up
MAX_PRODUCT = 8192       # term pairs one multiplication may form (the work of expanding it)
MAX_DEGREE = 64          # total degree of one term (a size squared 40 times is not a shape)
MAX_BRANCHES = 16        # Min/Max case splits tried when bounding one sum

INF = math.inf
Interval = Tuple[object, object]  # (lo, hi): Fraction / int, or -inf / inf


class TooComplex(ArithmeticError):
    """A formula passed the work limit (``MAX_SIZE``); the dim it was for is unknown."""


# ---------------------------------------------------------------------------------------------------
# representation: Poly = tuple(sorted((mono, coeff))); mono = tuple(sorted((atom, power)))
# atoms: ("s", name)  integer symbol;  ("f", N, q)  floor(N/q);  ("x", key)  opaque (see _OPAQUE)
# ---------------------------------------------------------------------------------------------------
_SYMS: Dict[str, sympy.Symbol] = {}
_OPAQUE: Dict[tuple, Tuple[sympy.Expr, bool]] = {}   # key -> (sympy expression, integer-valued)
_SIZE: Dict[tuple, int] = {}


# ---------------------------------------------------------------------------------------------------
# assumptions: lower bounds of symbols that earlier constraints proved (``assuming``; the walker raises them),
# and residues (a symbol's value mod M is in a set; ``Assumptions.restrict``, ``_block_form``).
# Every memoised function whose answer depends on ranges is ``@_ranged``: it has one cache per set of
# assumptions (the module's names are rebound when the assumptions change), so an answer never depends on
# what was computed before under other assumptions. Those functions are private: the public ones call them
# through the module's names, so a caller that imported a public name still sees the assumptions in force.
# ---------------------------------------------------------------------------------------------------
_LOWER: Dict[str, int] = {}
_RESIDUES: Dict[str, Tuple[int, Tuple[int, ...]]] = {}  # name -> (M, residues): the symbol's value mod M is one of them
_BLOCKS: Dict[str, Tuple[int, int, int, int]] = {}     # name -> (M, c0, w, t): see _blocks_of
_RANGED: Dict[str, object] = {}       # name -> the plain function
_CACHE_SETS: "collections.OrderedDict[tuple, Dict[str, object]]" = collections.OrderedDict()
MAX_CONTEXTS = 8                      # cache sets kept besides the default one (work, not results)
_DEFAULT_KEY = ((), ())


def _ranged(fn):
    _RANGED[fn.__name__] = fn
    return lru_cache(maxsize=None)(fn)


def _blocks_of(M: int, R: Tuple[int, ...]) -> Optional[Tuple[int, int, int, int]]:
    """Residues R mod M that are one cyclic run c0, c0 + 1, ..., c0 + w - 1 (w < M): (M, c0, w, t) with t the
    offset that makes B = floor((x + t)/M) constant on each run (B is floor(x/M) where that works, else
    ceiling(x/M), else the least such t); None when R is not one run."""
    rs = set(R)
    w = len(rs)
    if not 0 < w < M:
        return None
    starts = [r for r in rs if (r - 1) % M not in rs]
    if len(starts) != 1:
        return None
    c0 = starts[0]
    # floor((c0 + j + t)/M) is one value for j in [0, w) iff (c0 + t) mod M <= M - w
    for t in [0, M - 1] + list(range(1, M - 1)):
        if (c0 + t) % M <= M - w:
            return M, c0, w, t
    return None  # pragma: no cover - t = M - w - c0 (mod M) always qualifies


def _activate(lower: Dict[str, int], residues: Optional[Dict[str, Tuple[int, Tuple[int, ...]]]] = None) -> None:
    global _LOWER, _RESIDUES, _BLOCKS
    residues = residues or {}
    key = (tuple(sorted(lower.items())), tuple(sorted(residues.items())))
    if key == (tuple(sorted(_LOWER.items())), tuple(sorted(_RESIDUES.items()))) and key in _CACHE_SETS:
        return
    fns = _CACHE_SETS.get(key)
    if fns is None:
        fns = {name: lru_cache(maxsize=None)(fn) for name, fn in _RANGED.items()}
        _CACHE_SETS[key] = fns
        while len(_CACHE_SETS) > MAX_CONTEXTS + 1:
            old = next(k for k in _CACHE_SETS if k != _DEFAULT_KEY)
            del _CACHE_SETS[old]
    _CACHE_SETS.move_to_end(key)
    _LOWER = dict(lower)
    _RESIDUES = dict(residues)
    _BLOCKS = {n: b for n, (M, R) in _RESIDUES.items() for b in [_blocks_of(M, R)] if b is not None}
    globals().update(fns)


def _reduce_period(M: int, R) -> Tuple[int, Tuple[int, ...]]:
    """The same set of residues with the least period: ({0, 2} mod 4 is {0} mod 2)."""
    rs = set(R)
    for d in range(1, M + 1):
        if M % d == 0 and all(((r % d) in {x % d for x in rs}) == (r in rs) for r in range(M)):
            return d, tuple(sorted({r % d for r in rs}))
    return M, tuple(sorted(rs))  # pragma: no cover


class Assumptions:
    """What earlier constraints proved of the symbols: lower bounds (``raise_lower``, never loosened) and
    residues (``restrict``: the value mod M is one of a set, never widened)."""

    def __init__(self, lower: Optional[Dict[str, int]] = None,
                 residues: Optional[Dict[str, Tuple[int, Tuple[int, ...]]]] = None):
        self.lower: Dict[str, int] = dict(lower or {})
        self.residues: Dict[str, Tuple[int, Tuple[int, ...]]] = dict(residues or {})
        for name in set(self.lower) | set(self.residues):
            v = self._least(name, self.lower.get(name, 1))
            if v > 1 or name in self.lower:
                self.lower[name] = v

    def _least(self, name: str, v: int) -> int:
        """The least value >= v with an allowed residue."""
        if name not in self.residues:
            return v
        M, R = self.residues[name]
        return min(v + (r - v) % M for r in R)

    def raise_lower(self, name: str, value: int) -> bool:
        value = self._least(name, int(value))
        if value <= self.lower.get(name, 1):
            return False
        self.lower[name] = value
        _activate(self.lower, self.residues)
        return True

    def restrict(self, name: str, M: int, R) -> bool:
        """The symbol's value mod M is in R (intersected with what is known); False when nothing new (or the
        intersection is empty or its period too long to use)."""
        M0, R0 = self.residues.get(name, (1, (0,)))
        L = M0 * M // math.gcd(M0, M)
        if L > MAX_PERIOD:
            return False
        rs, r0 = set(R), set(R0)
        both = [r for r in range(L) if r % M in rs and r % M0 in r0]
        if not both:
            return False
        new = _reduce_period(L, both)
        if new == (M0, tuple(sorted(r0))) or new[0] == 1:
            return False
        self.residues[name] = new
        self.lower[name] = self._least(name, self.lower.get(name, 1))
        if self.lower[name] == 1:
            del self.lower[name]
        _activate(self.lower, self.residues)
        return True


@contextlib.contextmanager
def assuming(lower: Optional[Dict[str, int]] = None, residues: Optional[Dict[str, Tuple[int, Tuple[int, ...]]]] = None):
    """Within the block, every range (and so every decision and canonical form) takes the given symbols to be
    at least the given values, and (``residues``: name -> (M, R)) each such symbol's value mod M to be in R;
    formulas built there hold wherever those facts do. Restored on exit."""
    before = dict(_LOWER), dict(_RESIDUES)
    a = Assumptions(lower, residues)
    _activate(a.lower, a.residues)
    try:
        yield a
    finally:
        _activate(*before)


def least_satisfying(cond, name: str, start: int, steps: int = 256) -> int:
    """The least v >= start at which the one-symbol condition ``cond`` is not false (sizes below it fail it);
    start + steps + 1 when it is false at every value tried (work, not time)."""
    sym = _SYMS.get(name)
    if sym is None:
        return start
    for v in range(start, start + steps + 1):
        try:
            r = cond.xreplace({sym: sympy.Integer(v)})
        except (TypeError, ValueError, ZeroDivisionError, ArithmeticError):
            return v
        if r is not sympy.false:
            return v
    return start + steps + 1


def _num(c):
    """A coefficient: an int where it is one (cheaper to hash and add), else a Fraction."""
    return c if type(c) is int else (c.numerator if c.denominator == 1 else c)


def _poly(d: Dict[tuple, Fraction]) -> tuple:
    p = tuple(sorted((m, _num(c)) for m, c in d.items() if c != 0))
    if p not in _SIZE:
        s = 0
        for m, _c in p:
            s += 1
            for a, _e in m:
                s += _atom_size(a)
        if s > MAX_SIZE:
            raise TooComplex(f"a formula of more than {MAX_SIZE} terms")
        _SIZE[p] = s
    return p


def _atom_size(a) -> int:
    if a[0] == "f":
        return 1 + _SIZE.get(a[1], 1)
    if a[0] == "x":
        key = a[1]
        return 1 + (len(key[1]) // 16 if key[0] == "~" else sum(_SIZE.get(k, 1) for k in key[1:]))
    return 1


def size_of(p: tuple) -> int:
    return _SIZE.get(p, 1)


def _const(c) -> tuple:
    return _poly({(): Fraction(c)})


def _atom_poly(a) -> tuple:
    return _poly({((a, 1),): Fraction(1)})


def _add(p: tuple, q: tuple, k=1) -> tuple:
    d = dict(p)
    for m, c in q:
        d[m] = d.get(m, 0) + k * c
    return _poly(d)


def _scale(p: tuple, k) -> tuple:
    return _poly({m: c * k for m, c in p}) if k != 0 else ()


def _mono_mul(a: tuple, b: tuple) -> tuple:
    d = dict(a)
    for at, e in b:
        d[at] = d.get(at, 0) + e
    if sum(d.values()) > MAX_DEGREE:  # a formula of degree 65 in the sizes is no shape
        raise TooComplex(f"a product of degree {sum(d.values())}")
    return tuple(sorted(d.items()))


def _mul(p: tuple, q: tuple) -> tuple:
    if len(p) * len(q) > MAX_PRODUCT:
        raise TooComplex(f"a product of {len(p)} by {len(q)} terms")
    d: Dict[tuple, Fraction] = {}
    for m1, c1 in p:
        for m2, c2 in q:
            m = _mono_mul(m1, m2)
            d[m] = d.get(m, 0) + c1 * c2
    return _poly(d)


def _is_const(p: tuple) -> bool:
    return not p or (len(p) == 1 and p[0][0] == ())


def _const_of(p: tuple) -> Fraction:
    return p[0][1] if p and p[0][0] == () else Fraction(0)


def _int_atom(a) -> bool:
    return a[0] in ("s", "f") or (a[0] == "x" and _OPAQUE[a[1]][1])  # ("d", ...) deltas are not


def _int_valued(p: tuple) -> bool:
    return all(c.denominator == 1 and all(_int_atom(a) for a, _e in m) for m, c in p)


# ---------------------------------------------------------------------------------------------------
# ranges
# ---------------------------------------------------------------------------------------------------
def _imul(x: Interval, y: Interval) -> Interval:
    prods = []
    for a in x:
        for b in y:
            if (a == 0 and b in (INF, -INF)) or (b == 0 and a in (INF, -INF)):
                prods.append(0)
            else:
                prods.append(a * b)
    return min(prods), max(prods)


def _ipow(x: Interval, e: int) -> Interval:
    lo, hi = x
    if e % 2 == 0 and lo < 0 < hi:  # an even power of an interval across 0
        m = max(-lo, hi)
        return 0, (m ** e if m != INF else INF)
    return _imul_n(x, e)


def _imul_n(x: Interval, e: int) -> Interval:
    out: Interval = (1, 1)
    for _ in range(e):
        out = _imul(out, x)
    return out


@_ranged
def _atom_range(a) -> Interval:
    kind = a[0]
    if kind == "s":
        s = _SYMS[a[1]]
        base = 1 if s.is_positive else (0 if s.is_nonnegative else -INF)
        return max(base, _LOWER.get(a[1], base)), INF
    if kind == "d":  # floor(N/q) - N/q
        return -Fraction(a[1][2] - 1, a[1][2]), 0
    if kind == "f":
        lo, hi = poly_range(a[1])
        q = a[2]
        return (lo // q if lo != -INF else -INF), (hi // q if hi != INF else INF)
    e, _ = _OPAQUE[a[1]]
    return _opaque_range(e)


def _opaque_range(e) -> Interval:
    if isinstance(e, (sympy.Max, sympy.Min)):
        rs = [bounds(x) for x in e.args]
        f = max if isinstance(e, sympy.Max) else min
        return f(r[0] for r in rs), f(r[1] for r in rs)
    if isinstance(e, sympy.Piecewise):
        rs = [bounds(x) for x, _c in e.args]
        return min(r[0] for r in rs), max(r[1] for r in rs)
    if isinstance(e, sympy.Abs):
        lo, hi = bounds(e.args[0])
        if lo >= 0:
            return lo, hi
        if hi <= 0:
            return -hi, -lo
        return 0, max(-lo, hi)
    if isinstance(e, sympy.sign):
        lo, hi = bounds(e.args[0])
        return (-1 if lo < 0 else (0 if lo == 0 else 1)), (1 if hi > 0 else (0 if hi == 0 else -1))
    if isinstance(e, sympy.Mod):
        alo, ahi = bounds(e.args[0])
        qlo, qhi = bounds(e.args[1])
        if qlo > 0 and e.args[0].is_integer and e.args[1].is_integer:  # 0 <= Mod(a, q) <= q - 1 (and <= a)
            return 0, min(qhi - 1, ahi) if alo >= 0 else qhi - 1
    if e.is_nonnegative:
        return 0, INF
    return -INF, INF


def _mono_range(m: tuple) -> Interval:
    if len(m) == 1 and m[0][1] == 1:  # one atom (most terms)
        return _atom_range(m[0][0])
    out: Interval = (1, 1)
    for a, e in m:
        out = _imul(out, _ipow(_atom_range(a), e))
    return out


def _plain_range(p: tuple) -> Interval:
    lo, hi = 0, 0
    for m, c in p:  # c != 0: c * (lo, hi) is (c*lo, c*hi), swapped for c < 0 (no 0 * inf)
        r0, r1 = _mono_range(m) if m else (1, 1)
        if c > 0:
            lo, hi = lo + c * r0, hi + c * r1
        else:
            lo, hi = lo + c * r1, hi + c * r0
    return lo, hi


def _linear_floor_terms(p: tuple):
    return [(m, c) for m, c in p if len(m) == 1 and m[0][1] == 1 and m[0][0][0] == "f"]


def _linear_minmax_terms(p: tuple):
    out = []
    for m, c in p:
        if len(m) == 1 and m[0][1] == 1 and m[0][0][0] == "x":
            e = _OPAQUE[m[0][0][1]][0]
            if isinstance(e, (sympy.Max, sympy.Min)):
                out.append((m, c, e))
    return out


def _linear_mod_terms(p: tuple):
    out = []
    for m, c in p:
        if len(m) == 1 and m[0][1] == 1 and m[0][0][0] == "x":
            e = _OPAQUE[m[0][0][1]][0]
            if isinstance(e, sympy.Mod) and e.args[0].is_integer and e.args[1].is_integer:
                out.append((m, c, e))
    return out


@_ranged
def poly_range(p: tuple) -> Interval:
    """Bounds of p over every integer point of the atoms' ranges (sound, not always tight)."""
    lo, hi = _plain_range(p)
    # floor(N/q) == N/q - d with d in [0, (q-1)/q]: substituting keeps cancellations (H - 4*floor(H/4) in [0, 3])
    lin = _linear_floor_terms(p)
    if lin:
        # the outermost floors only (not those inside another's numerator), all at once; then again
        inner = {a for m, _c in lin for nm, _nc in m[0][0][1] for a, _e in nm}
        d = dict(p)
        for m, c in lin:
            a = m[0][0]
            if a in inner:
                continue
            d[m] -= c
            for m2, c2 in a[1]:
                d[m2] = d.get(m2, 0) + Fraction(c * c2, a[2])
            d[((("d", a), 1),)] = c
        try:
            l2, h2 = poly_range(_poly(d))
            lo, hi = max(lo, l2), min(hi, h2)
        except TooComplex:
            pass
    # c*Mod(a, q) with q >= 1 symbolic: 0 <= Mod(a, q) <= q - 1 at every point, and p is linear in it, so p lies
    # between p with the Mod at 0 and p with it at q - 1 (pointwise): Mod(-3, x) - x <= -1
    for m, c, e in _linear_mod_terms(p):
        qp = _from_sympy(e.args[1])
        if poly_range(qp)[0] < 1:
            continue
        rest = dict(p)
        del rest[m]
        try:
            at0 = poly_range(_poly(rest))
            atq = poly_range(_add(_poly(rest), _scale(_add(qp, _const(-1)), c)))
        except TooComplex:
            continue
        lo, hi = max(lo, min(at0[0], atq[0])), min(hi, max(at0[1], atq[1]))
        break
    # c*Min(a, b): lo is the smaller of the cases (exact for c > 0), hi likewise; Max the other way round
    mm = _linear_minmax_terms(p)
    if mm:
        m, c, e = mm[0]
        rest = dict(p)
        del rest[m]
        los, his = [], []
        for arg in e.args[:MAX_BRANCHES]:
            try:
                q = _add(_poly(rest), _scale(_from_sympy(arg), c))
                r = poly_range(q)
            except TooComplex:
                los, his = [], []
                break
            los.append(r[0])
            his.append(r[1])
        if los:
            # S + c*Max(a, b) with c > 0 is Max(S + c*a, S + c*b): lo >= each case's lo, hi = the largest hi;
            # with c < 0 (or for Min) it is a Min of the cases: lo = the smallest lo, hi <= each case's hi
            maxlike = (c > 0) == isinstance(e, sympy.Max)
            lo2 = max(los) if maxlike else min(los)
            hi2 = max(his) if maxlike else min(his)
            lo, hi = max(lo, lo2), min(hi, hi2)
    if len(p) > 1 and any(len(m) > 1 or (m and m[0][1] > 1) for m, _c in p):
        fac = _factors(p)  # a product: the product of its factors' ranges keeps their signs
        if fac is not None:
            r: Interval = (1, 1)
            for f in fac:
                r = _imul(r, poly_range(f))
            lo, hi = max(lo, r[0]), min(hi, r[1])
    if _int_valued(p):
        lo = math.ceil(lo) if lo != -INF else lo
        hi = math.floor(hi) if hi != INF else hi
    return lo, hi


def bounds(e) -> Interval:
    """(lo, hi) of a dim expression over every size (symbols >= 1); infinite ends are +-math.inf."""
    if isinstance(e, int):
        return e, e
    return poly_range(_from_sympy(e))


def sign_of_ge0(e) -> Optional[bool]:
    """e >= 0 at every size (True), at none (False), or it depends (None)."""
    return (e >= 0) if isinstance(e, int) else _ge0(_from_sympy(e))


# ---------------------------------------------------------------------------------------------------
# floors: the canonical floor(N/q)
# ---------------------------------------------------------------------------------------------------
def _sym_residue(c: int, q: int) -> int:
    """c's residue mod q nearest 0 (a tie keeps c's sign): floor(3x/4) == x + floor(-x/4) keeps one
    spelling of a pad, while floor(x/2) and ceiling(x/2) stay as they are."""
    r = c % q
    return r - q if 2 * r > q or (2 * r == q and c < 0) else r


@_ranged
def _floor(p: tuple) -> tuple:
    """floor(p) as a canonical Poly."""
    if not _int_valued(_poly({m: Fraction(1) for m, _c in p})):  # a non-integer atom: floor stays opaque
        return _opaque(sympy.floor(_to_sympy(p)))
    q = 1
    for _m, c in p:
        q = q * c.denominator // math.gcd(q, c.denominator)
    # floor((q*A + R + r)/q) == A + floor((R + r)/q) for integer A: integer parts move out
    outside: Dict[tuple, Fraction] = {}
    inside: Dict[tuple, int] = {}
    for m, c in p:
        n = int(c * q)
        if m == ():
            outside[()] = Fraction(n // q)
            if n % q:
                inside[()] = n % q
            continue
        r = _sym_residue(n, q)
        if n != r:
            outside[m] = Fraction(n - r, q)
        if r:
            inside[m] = r
    out = _poly(outside)
    if q == 1 or not any(m != () for m in inside):
        return out
    return _add(out, _floor_int(_poly({m: Fraction(c) for m, c in inside.items()}), q))


def _floor_int(n: tuple, q: int) -> tuple:
    """floor(n/q) for an integer-coefficient n with no monomial divisible by q, 0 <= const < q."""
    r = int(_const_of(n))
    body = tuple((m, c) for m, c in n if m != ())
    g = q
    for _m, c in body:
        g = math.gcd(g, int(c))
    if g > 1:  # floor((g*P + r)/(g*q')) == floor((P + floor(r/g))/q')
        inner = _add(_scale(_poly(dict(body)), Fraction(1, g)), _const(r // g))
        return _floor(_scale(inner, Fraction(1, q // g)))
    # one sign: floor((-P + r)/q) == -floor((P - r + q - 1)/q)
    if body[0][1] < 0:
        neg = _add(_scale(_poly(dict(body)), -1), _const(q - 1 - r))
        return _scale(_floor_int(neg, q), -1)
    # nested floors collapse: floor((floor(A/q1) + B)/q) == floor((A + q1*B)/(q1*q)) for integer B
    for m, c in body:
        if c == 1 and len(m) == 1 and m[0][1] == 1 and m[0][0][0] == "f":
            a = m[0][0]
            rest = _add(n, ((m, Fraction(1)),), -1)
            return _floor(_scale(_add(a[1], _scale(rest, a[2])), Fraction(1, a[2] * q)))
    lo, hi = poly_range(n)
    if lo != -INF and hi != INF and lo // q == hi // q:  # decided by the range
        return _const(lo // q)
    atom = ("f", n, q)
    sv = _single_var(atom)
    if sv is not None and sv[0][0] == "s" and sv[0][1] in _BLOCKS:
        on_blocks = _on_blocks(atom, sv)
        if on_blocks is not None:
            return on_blocks
    if sv is not None and not _plain_floor(atom):  # floor((x + 4*floor(x/8))/8) == floor((x + 4)/16)
        return _merge_floors(_atom_poly(atom))
    return _atom_poly(atom)


def _on_blocks(atom: tuple, sv) -> Optional[tuple]:
    """A floor of one symbol x whose residues are known to be one run (``_BLOCKS``) in its one spelling there
    (``_block_form``); None: the atom as it is."""
    x, period, slope = sv
    out = _block_form(_atom_poly(atom), x, period, slope)
    return None if out is None or out == _atom_poly(atom) else out


def _block_form(part: tuple, x: tuple, period: int, slope: Fraction) -> Optional[tuple]:
    """``part``: a sum of x and floors built from x alone, with ``part - slope*x`` of period ``period``; x's
    residues are known to be one run (``_BLOCKS``: x mod M in c0 .. c0 + w - 1). Its one spelling per function on
    the allowed sizes: (1) a*B + b with B = floor((x + t)/M) the run's index (under ``Mod(ceiling(H/4), 8) == 0``,
    i.e. H mod 32 in 29..31, 0: ceiling(H/4) == 8*ceiling(H/32), floor(H/32 + 3/32) == ceiling(H/32)); else
    (2) floor((u*x + c)/m) + k with u/m the slope and c the ceiling-like, floor-like or else largest offset that
    agrees (3*floor(H/28) + floor(H/56 + 13/14) == floor(H/8 + 1/2) where H mod 28 < 4). Each side minus its
    slope times x has a period dividing L = lcm(period, M), so agreeing at the allowed x of one such period is
    agreeing at every allowed x. None when neither applies (or L is too long)."""
    M, c0, w, t = _BLOCKS[x[1]]
    L = period * M // math.gcd(period, M)
    if L > MAX_PERIOD:
        return None
    vs = [v for v in range(c0, c0 + L) if (v - c0) % M < w]
    fv = [_eval_at(part, x, v) for v in vs]
    if any(f.denominator != 1 for f in fv):
        return None
    a = slope * M
    if a.denominator == 1:  # (1) part == a*B + b
        block = ("f", _poly({((x, 1),): Fraction(1), (): Fraction(t)}), M)
        ds = {f - a * ((v + t) // M) for v, f in zip(vs, fv)}
        if len(ds) == 1:
            return _add(_scale(_atom_poly(block), a), _const(ds.pop())) if a else _const(ds.pop())
    if slope <= 0:
        return None
    u, m = slope.numerator, slope.denominator
    # (2) floor((u*x + c)/m) == f(x) iff m*f(x) - u*x <= c <= m*f(x) - u*x + m - 1
    lo = max(m * f - u * v for v, f in zip(vs, fv))
    hi = min(m * f - u * v for v, f in zip(vs, fv)) + m - 1
    if lo > hi:
        return None
    lo, hi = int(lo), int(hi)
    ceil_c = lo + (m - 1 - lo) % m
    floor_c = lo + (-lo) % m
    c = ceil_c if ceil_c <= hi else (floor_c if floor_c <= hi else hi)
    if m == 1:
        return _poly({((x, 1),): Fraction(u), (): Fraction(c)})
    cand = ("f", _poly({((x, 1),): Fraction(u), (): Fraction(c % m)}), m)
    return _add(_atom_poly(cand), _const(c // m))


# ---------------------------------------------------------------------------------------------------
# sympy -> Poly
# ---------------------------------------------------------------------------------------------------
def _opaque(e: sympy.Expr, integer: Optional[bool] = None, key: Optional[tuple] = None) -> tuple:
    """The atom of an expression the algebra keeps whole. ``key``: a structural key (a function name and its
    canonical argument Polys) where the caller has one, else one from sympy's srepr; every key is a tuple
    whose first item is a str, so atoms stay ordered."""
    if e.is_Integer:
        return _const(int(e))
    if key is None:
        key = ("~", sympy.srepr(e))
    if key not in _OPAQUE:
        if integer is None:
            integer = bool(e.is_integer)
        _OPAQUE[key] = (e, integer)
    return _atom_poly(("x", key))


@_ranged
def _from_sympy(e) -> tuple:
    return _merge_floors(_from_sympy_raw(e))


MAX_PERIOD = 4096  # residues one merge of floors may evaluate (work, not time)


@lru_cache(maxsize=None)
def _single_var(a) -> Optional[Tuple[tuple, int, Fraction]]:
    """For an atom built from ONE integer atom x by affine maps and floors (floor(x/4), floor((x + 4*floor(x/8))/8),
    ...): (x, a period L of a - s*x, the slope s); None otherwise."""
    if a[0] != "f":
        return None
    n, q = a[1], a[2]
    base, period, slope = None, 1, Fraction(0)
    for m, c in n:
        if m == ():
            continue
        if len(m) != 1 or m[0][1] != 1:
            return None
        b = m[0][0]
        inner = _single_var(b)
        x, per, sl = (b, 1, Fraction(1)) if inner is None else inner
        if base is None:
            base = x
        elif base != x:
            return None
        period = period * per // math.gcd(period, per)
        slope += c * sl
    if base is None:
        return None
    # N(x + period) == N(x) + slope*period: a period of floor(N/q) is period*q*den(slope)
    period *= q * slope.denominator
    if period > MAX_PERIOD:
        return None
    return base, period, slope / q


def _plain_floor(a: tuple) -> bool:
    """a == floor((u*x + c)/m) with x an atom that is not a floor of the same variable."""
    body = [(m, c) for m, c in a[1] if m != ()]
    return len(body) == 1 and len(body[0][0]) == 1 and body[0][0][0][1] == 1 and \
        _single_var(body[0][0][0][0]) is None


@lru_cache(maxsize=None)
def _int_evaluator(p: tuple, x: tuple) -> Tuple[Callable[[int], int], int]:
    """(fn, den) with fn(v) == den * p(x = v) exactly, in integer arithmetic (p's atoms all built from x; a
    floor(N/q) atom is fnN(v) // (denN * q), Python's exact floor division)."""
    den = 1
    for _m, c in p:
        den = den * Fraction(c).denominator // math.gcd(den, Fraction(c).denominator)
    terms = []
    for m, c in p:
        k = int(Fraction(c) * den)
        atoms = []
        for a, e in m:
            if a == x:
                atoms.append((None, 0, e))
            else:
                fn, d = _int_evaluator(a[1], x)
                atoms.append((fn, d * a[2], e))
        terms.append((k, tuple(atoms)))
    terms = tuple(terms)

    def fn(v: int) -> int:
        out = 0
        for k, atoms in terms:
            t = k
            for f, d, e in atoms:
                t *= (v if f is None else f(v) // d) ** e
            out += t
        return out
    return fn, den


def _eval_at(p: tuple, x: tuple, v: int) -> Fraction:
    """p at x = v (p's atoms all built from x), exactly."""
    fn, den = _int_evaluator(p, x)
    return Fraction(fn(v), den)


def _merge_measure(p: tuple) -> Tuple[int, int]:
    """(linear terms built from one variable, those that are not a plain floor): what a merge reduces."""
    n = plain = 0
    for m, _c in p:
        if len(m) == 1 and m[0][1] == 1 and _single_var(m[0][0]) is not None:
            n += 1
            plain += _plain_floor(m[0][0])
    return n, n - plain


@_ranged
def _merge_floors(p: tuple) -> tuple:
    """The linear terms of p that are built from one integer atom x (x itself and floors of affine maps of it,
    nested or not) summed into one floor when they are one: for every integer x, floor(x/4) - floor(x/8) ==
    floor((x + 4)/8), x - floor(x/2) == ceiling(x/2), 2*floor(x/4) - 2*floor(x/8) == 2*floor((x + 4)/8).
    S(x) - s*x has a period L (``_single_var``); when S's steps over a period all have one size g,
    S == g*floor((u*x + c)/m) with u/m = s/g, found and checked at x = 0 .. L (so it holds for every x)."""
    groups: Dict[tuple, list] = {}
    for m, c in p:
        if len(m) != 1 or m[0][1] != 1:
            continue
        a = m[0][0]
        info = _single_var(a)
        if info is not None:
            groups.setdefault(info[0], []).append((m, c, info))
    for x, terms in groups.items():
        lin = dict(p).get(((x, 1),), 0)
        if len(terms) == 1 and not lin and _plain_floor(terms[0][0][0][0]):
            continue  # one floor((u*x + c)/m): already the form this would give
        if any(Fraction(c).denominator != 1 for _m, c, _i in terms) or Fraction(lin).denominator != 1:
            continue
        slope = Fraction(lin) + sum(c * info[2] for _m, c, info in terms)
        period = 1
        for _m, _c, info in terms:
            period = period * info[1] // math.gcd(period, info[1])
        period = period * slope.denominator // math.gcd(period, slope.denominator)
        if period > MAX_PERIOD:
            continue
        part = _poly({m: c for m, c, _i in terms} | ({((x, 1),): lin} if lin else {}))
        if x[0] == "s" and x[1] in _BLOCKS and len(part) > 1:  # x's residues known: its one spelling there
            form = _block_form(part, x, period, slope)
            if form is not None and len(form) < len(part):
                return _merge_floors(_add(_add(p, part, -1), form))
        fn, den = _int_evaluator(part, x)  # den == 1: integer coefficients (checked above)
        vals = [fn(v) // den for v in range(period + 1)]
        steps = {vals[v + 1] - vals[v] for v in range(period)} - {0}
        if len(steps) != 1:
            continue
        g = steps.pop()
        if g < 0:
            continue
        unit = slope / g  # S/g has unit steps: floor((u*x + c)/m) with u/m = unit
        u, mm = unit.numerator, unit.denominator
        if vals[0] % g:
            continue
        base0 = vals[0] // g
        for c0 in range(mm * base0, mm * base0 + mm):
            if all((u * v + c0) // mm * g == vals[v] for v in range(period + 1)):
                d = dict(p)
                for m, _c, _i in terms:
                    del d[m]
                d.pop(((x, 1),), None)
                merged = _scale(_floor(_poly({((x, 1),): unit, (): Fraction(c0, mm)})), g)
                new = _add(_poly(d), merged)
                if _merge_measure(new) < _merge_measure(p):  # progress: fewer (or plainer) floors of one variable
                    return _merge_floors(new)
                break
    return p


def _from_sympy_raw(e) -> tuple:
    if isinstance(e, int):
        return _const(e)
    if e.is_Number:
        if e.is_Rational:
            return _const(Fraction(int(e.p), int(e.q)))
        return _opaque(e, False)
    if e.is_Symbol:
        if e.is_integer:
            _SYMS.setdefault(e.name, e)
            if _SYMS[e.name] is e:
                return _atom_poly(("s", e.name))
        return _opaque(e)
    if e.is_Add:
        out: tuple = ()
        for t in e.args:
            out = _add(out, _from_sympy(t))
        return out
    if e.is_Mul:
        out = _const(1)
        for t in e.args:
            out = _mul(out, _from_sympy(t))
        return out
    if e.is_Pow:
        b, x = e.args
        bp = _from_sympy(b)
        if x.is_Integer and _is_const(bp) and (int(x) >= 0 or _const_of(bp) != 0):
            if abs(int(x)) > MAX_DEGREE and abs(_const_of(bp)) > 1:
                raise TooComplex(f"a power with exponent {x}")
            return _const(Fraction(_const_of(bp)) ** int(x))
        if x.is_Integer and int(x) > 0:
            if int(x) > MAX_DEGREE:  # a size to the power 2**40 (a shape value squared again and again)
                raise TooComplex(f"a power with exponent {x}")
            out, n = _const(1), int(x)
            while n:  # square and multiply: the work stays logarithmic in the exponent
                if n & 1:
                    out = _mul(out, bp)
                n >>= 1
                if n:
                    bp = _mul(bp, bp)
            return out
        return _opaque(e.func(_to_sympy(_from_sympy(b)), x))
    if isinstance(e, sympy.floor):
        return _floor(_from_sympy(e.args[0]))
    if isinstance(e, sympy.ceiling):  # ceiling(x) == -floor(-x)
        return _scale(_floor(_scale(_from_sympy(e.args[0]), -1)), -1)
    if isinstance(e, sympy.Mod):
        a, q = _from_sympy(e.args[0]), _from_sympy(e.args[1])
        if _is_const(q) and _const_of(q) > 0 and _const_of(q).denominator == 1 and _int_valued(a):
            k = _const_of(q)  # Mod(a, k) == a - k*floor(a/k)
            return _add(a, _scale(_floor(_scale(a, Fraction(1) / k)), -k))
        if _int_valued(a) and _int_valued(q):
            alo, ahi = poly_range(a)
            qlo, _qhi = poly_range(q)
            if alo >= 0 and qlo > ahi:  # 0 <= a < q: Mod(a, q) == a
                return a
            if ahi < 0 and alo >= -qlo:  # -q <= a < 0: Mod(a, q) == a + q
                return _add(a, q)
            return _opaque(sympy.Mod(_to_sympy(a), _to_sympy(q)), True)
        return _opaque(sympy.Mod(_to_sympy(a), _to_sympy(q)))
    if isinstance(e, (sympy.Max, sympy.Min)):
        return _minmax(type(e), tuple(_from_sympy(x) for x in e.args))
    if isinstance(e, sympy.Piecewise):
        return _piecewise(e)
    if isinstance(e, sympy.Abs):
        a = _from_sympy(e.args[0])
        lo, hi = poly_range(a)
        if lo >= 0:
            return a
        if hi <= 0:
            return _scale(a, -1)
        return _opaque(sympy.Abs(_to_sympy(a), evaluate=False), _int_valued(a))  # sign undecided: nothing to evaluate
    if isinstance(e, sympy.sign):
        a = _from_sympy(e.args[0])
        lo, hi = poly_range(a)
        if lo > 0:
            return _const(1)
        if hi < 0:
            return _const(-1)
        if lo == hi == 0:
            return _const(0)
        return _opaque(sympy.sign(_to_sympy(a), evaluate=False), True)
    if e.args:
        return _opaque(e.func(*[_to_sympy(_from_sympy(x)) if isinstance(x, sympy.Expr) else x for x in e.args]))
    return _opaque(e)


def _ge0(p: tuple) -> Optional[bool]:
    """p >= 0 at every point (True), at none (False), or it depends (None)."""
    lo, hi = poly_range(p)
    if lo >= 0:
        return True
    if hi < 0:
        return False
    return None


def _minmax(kind, args: Tuple[tuple, ...]) -> tuple:
    """Max / Min with nested ones flattened and every argument another one dominates dropped."""
    flat = []
    for a in args:
        if len(a) == 1 and a[0][1] == 1 and len(a[0][0]) == 1 and a[0][0][0][1] == 1 and a[0][0][0][0][0] == "x":
            e = _OPAQUE[a[0][0][0][0][1]][0]
            if isinstance(e, kind):
                flat.extend(_from_sympy(x) for x in e.args)
                continue
        flat.append(a)
    keep = []
    for a in sorted(set(flat)):
        keep = [b for b in keep if not _dominates(kind, a, b)]
        if not any(_dominates(kind, b, a) for b in keep):
            keep.append(a)
    if len(keep) == 1:
        return keep[0]
    consts = [k for k in keep if _is_const(k)]
    if len(consts) > 1:  # two constants: keep the one that matters
        c = max(consts, key=_const_of) if kind is sympy.Max else min(consts, key=_const_of)
        keep = [k for k in keep if not _is_const(k) or k is c]
    integer = all(_int_valued(k) for k in keep)
    return _opaque(kind(*[_to_sympy(k) for k in keep], evaluate=False), integer, (kind.__name__, *keep))


def _dominates(kind, a: tuple, b: tuple) -> bool:
    """a makes b redundant in Max (a >= b everywhere) / Min (a <= b everywhere)."""
    hi, lo = (a, b) if kind is sympy.Max else (b, a)
    return _ge0(_add(hi, lo, -1)) is True or _product_ge(hi, lo)


def _factor_list(p: tuple) -> Tuple[Fraction, list]:
    """p == c * product of the listed Polys (each atom of a common monomial its own factor)."""
    fac = ((p,) if len(p) == 1 else None) or _factors(p)
    if fac is None:  # one factor: its content apart (32*h*w + 32 == 32 * (h*w + 1))
        c, prim = _primitive(p)
        return Fraction(c), [prim]
    (mono, c), = fac[0]
    out = [_poly({((a, 1),): 1}) for a, e in mono for _ in range(e)]
    for k, part in zip(fac[1::2], fac[2::2]):
        c *= _const_of(k)
        out.append(part)
    return Fraction(c), out


def _product_ge(a: tuple, b: tuple) -> bool:
    """a >= b from their factors: c_a * prod(A_i) >= c_b * prod(B_i) when the factors pair up by their
    symbols with A_i >= B_i >= 0 (the constants' ratio spread evenly over the pairs, or put on one of them):
    16*floor(H/32 + 7/8)*floor(W/32 + 7/8) >= floor(H/8 + 1/2)*floor(W/8 + 1/2)."""
    if len(a) < 1 or len(b) < 1 or _is_const(a) or _is_const(b):
        return False
    ca, fa = _factor_list(a)
    cb, fb = _factor_list(b)
    if len(fa) != len(fb) or len(fa) > 4 or ca <= 0 or cb <= 0:
        return False
    key = lambda f: sorted(frozenset().union(*[_atom_syms(x) for m, _c in f for x, _e in m]))  # noqa: E731
    fa, fb = sorted(fa, key=key), sorted(fb, key=key)
    if [key(f) for f in fa] != [key(f) for f in fb] or any(_ge0(f) is not True for f in fb):
        return False
    r, n = ca / cb, len(fa)
    shares = []
    root = _rational_root(r, n)
    if root is not None:
        shares.append([root] * n)
    shares += [[r if i == j else Fraction(1) for i in range(n)] for j in range(n)]
    for share in shares:
        if all(_ge0(_add(_scale(x, k), y, -1)) is True for x, y, k in zip(fa, fb, share)):
            return True
    return False


def _rational_root(r: Fraction, n: int) -> Optional[Fraction]:
    """r ** (1/n) when it is rational, else None."""
    def iroot(v: int) -> Optional[int]:
        x = round(v ** (1.0 / n))
        for y in (x - 1, x, x + 1):
            if y >= 0 and y ** n == v:
                return y
        return None
    p, q = iroot(r.numerator), iroot(r.denominator)
    return None if p is None or q is None else Fraction(p, q)


def _piecewise(e: sympy.Piecewise) -> tuple:
    pieces = []
    for val, cond in e.args:
        t = _decide(cond)
        if t is False:
            continue
        v = _from_sympy(val)
        if t is True:
            if not pieces:
                return v
            pieces.append((v, sympy.true))
            break
        pieces.append((v, cond))
    if not pieces:
        return _opaque(e)
    if all(v == pieces[0][0] for v, _c in pieces):
        return pieces[0][0]
    integer = all(_int_valued(v) for v, _c in pieces)
    return _opaque(sympy.Piecewise(*[(_to_sympy(v), c) for v, c in pieces]), integer)


def decide(cond) -> Optional[bool]:
    """A comparison of dims decided at every size from the ranges (True / False), or None."""
    return _decide(cond)


def _decide(cond) -> Optional[bool]:
    """A relational's truth at every size, from ranges; None when it depends."""
    if cond is sympy.true or cond is True:
        return True
    if cond is sympy.false or cond is False:
        return False
    if isinstance(cond, sympy.core.relational.Relational):
        try:
            d = _add(_from_sympy(cond.lhs), _from_sympy(cond.rhs), -1)
        except TooComplex:
            return None
        lo, hi = poly_range(d)
        op = cond.rel_op
        if op == "==":
            return True if lo == hi == 0 else (False if lo > 0 or hi < 0 else None)
        if op == "!=":
            return False if lo == hi == 0 else (True if lo > 0 or hi < 0 else None)
        if op == ">=":
            return True if lo >= 0 else (False if hi < 0 else None)
        if op == ">":
            return True if lo > 0 else (False if hi <= 0 else None)
        if op == "<=":
            return True if hi <= 0 else (False if lo > 0 else None)
        if op == "<":
            return True if hi < 0 else (False if lo >= 0 else None)
    return None


# ---------------------------------------------------------------------------------------------------
# Poly -> sympy (the printed, public form)
# ---------------------------------------------------------------------------------------------------
@lru_cache(maxsize=None)
def _atom_sympy(a) -> sympy.Expr:
    if a[0] == "s":
        return _SYMS[a[1]]
    if a[0] == "f":
        n, q = a[1], a[2]
        r = int(_const_of(n))
        # built unevaluated: the argument is canonical already (integer parts out), so sympy's eval (costly
        # assumption queries) has nothing left to do
        if r == q - 1:  # floor((P + q - 1)/q) == ceiling(P/q)
            return sympy.ceiling(_to_sympy(_add(n, _const(-r))) / q, evaluate=False)
        return sympy.floor(_to_sympy(n) / q, evaluate=False)
    return _OPAQUE[a[1]][0]


def _mono_sympy(m: tuple) -> sympy.Expr:
    return sympy.Mul(*[_atom_sympy(a) ** e for a, e in m])


def _fold_mods(p: tuple):
    """Terms c*N - c*q*floor(N/q) of p, read back as c*Mod(N, q); returns (rest, [sympy terms])."""
    d = dict(p)
    mods = []
    for m, c in p:
        if m not in d or len(m) != 1 or m[0][1] != 1 or m[0][0][0] != "f":
            continue
        n, q = m[0][0][1], m[0][0][2]
        k = Fraction(-c, q)
        if k.denominator != 1 or k <= 0:
            continue
        if all(d.get(mn, 0) == k * cn for mn, cn in n):
            for mn, cn in n:
                del d[mn]
            del d[m]
            mods.append(k * sympy.Mod(_to_sympy(n), q))
    return _poly(d) if mods else p, mods


@lru_cache(maxsize=None)
def _to_sympy(p: tuple) -> sympy.Expr:
    if not p:
        return sympy.Integer(0)
    rest, mods = _fold_mods(p)
    fac = _factor(rest)
    if fac is not None and not mods:
        return fac
    terms = [_coeff(c) * _mono_sympy(m) for m, c in rest] + mods
    return sympy.Add(*terms)


def _coeff(c: Fraction):
    return sympy.Integer(c.numerator) if c.denominator == 1 else sympy.Rational(c.numerator, c.denominator)


def _primitive(p: tuple) -> Tuple[Fraction, tuple]:
    """(content, p / content): integer coefficients with gcd 1, the first non-constant term positive."""
    num, den = 0, 1
    for _m, c in p:
        num = math.gcd(num, c.numerator)
        den = den * c.denominator // math.gcd(den, c.denominator)
    content = Fraction(num, den)
    lead = next((c for m, c in p if m != ()), p[0][1])
    if lead < 0:
        content = -content
    return content, _scale(p, 1 / Fraction(content))


@lru_cache(maxsize=None)
def _factors(p: tuple) -> Optional[Tuple[tuple, ...]]:
    """p == the product of the returned Polys (content and common monomial first), or None."""
    if len(p) < 2:
        return None
    common = dict(p[0][0])
    for m, _c in p[1:]:
        md = dict(m)
        common = {a: min(e, md.get(a, 0)) for a, e in common.items() if a in md}
    base = {}
    for m, c in p:
        md = dict(m)
        for a, e in common.items():
            md[a] -= e
        base[tuple(sorted((a, e) for a, e in md.items() if e))] = c
    content, b = _primitive(_poly(base))
    parts = _split(b)
    if len(parts) == 1 and not common:
        return None
    out = [_poly({tuple(sorted(common.items())): content})]
    for part in parts:
        k, part = _primitive(part)
        out.append(_const(k))
        out.append(part)
    return tuple(out)


def _factor(p: tuple) -> Optional[sympy.Expr]:
    """p as content * common monomial * a product of factors in disjoint sets of symbols, when it is
    one: 32*(floor(H/2) - 2)*(floor(W/2) - 2) rather than its four expanded terms. None when p is one term
    or does not split."""
    fac = _factors(p)
    if fac is None:
        return None
    factors = [_coeff(fac[0][0][1]), _mono_sympy(fac[0][0][0])]
    for k, part in zip(fac[1::2], fac[2::2]):
        factors.append(_coeff(_const_of(k)))
        factors.append(_to_sympy_flat(part))
    return sympy.Mul(*factors)  # at once: Mul(32, a + b) alone would distribute the 32


def _to_sympy_flat(p: tuple) -> sympy.Expr:
    rest, mods = _fold_mods(p)
    return sympy.Add(*([_coeff(c) * _mono_sympy(m) for m, c in rest] + mods))


@lru_cache(maxsize=None)
def _atom_syms(a) -> frozenset:
    if a[0] == "s":
        return frozenset([a[1]])
    if a[0] == "d":
        return frozenset([repr(a)])  # a floor's fractional part: its own variable
    if a[0] == "f":
        out = frozenset()
        for m, _c in a[1]:
            for b, _e in m:
                out |= _atom_syms(b)
        return out
    return frozenset(str(s) for s in _OPAQUE[a[1]][0].free_symbols)


def _split(p: tuple) -> list:
    """p == F(X) * G(Y) with X, Y disjoint symbol sets, recursively; [p] when it does not split."""
    syms = set()
    for m, _c in p:
        for a, _e in m:
            syms |= _atom_syms(a)
    if len(syms) < 2:
        return [p]
    for s in sorted(syms):
        xs = {s}
        # columns: Y-monomial -> X-polynomial
        cols: Dict[tuple, Dict[tuple, Fraction]] = {}
        ok = True
        for m, c in p:
            mx = tuple((a, e) for a, e in m if _atom_syms(a) <= xs)
            my = tuple((a, e) for a, e in m if not _atom_syms(a) <= xs)
            if any(_atom_syms(a) & xs for a, _e in my):
                ok = False
                break
            cols.setdefault(my, {})[mx] = c
        if not ok or len(cols) < 2:
            continue
        keys = sorted(cols)
        f0 = cols[keys[0]]
        if len(f0) < 2 and all(len(v) == len(f0) for v in cols.values()) and () in f0:
            continue
        lead = min(f0)
        ratios = {}
        for k in keys:
            col = cols[k]
            if set(col) != set(f0):
                ok = False
                break
            r = Fraction(col[lead]) / f0[lead]
            if any(col[mm] != r * f0[mm] for mm in f0):
                ok = False
                break
            ratios[k] = r
        if not ok:
            continue
        fx = _poly(dict(f0))
        gy = _poly({k: r for k, r in ratios.items()})
        if _is_const(fx) or _is_const(gy):
            continue
        return _split(fx) + _split(gy)
    return [p]


# ---------------------------------------------------------------------------------------------------
# the public face
# ---------------------------------------------------------------------------------------------------
def canonical(e: sympy.Expr) -> sympy.Expr:
    """The canonical sympy form of a dim formula (raises TooComplex past the work limit), under the
    assumptions in force (``assuming``)."""
    return _canonical(e)


@_ranged
def _canonical(e: sympy.Expr) -> sympy.Expr:
    p = _from_sympy(e)
    out = _to_sympy(p)
    if out.is_Integer:
        return out
    return out


# the arithmetic rules use, built in the algebra directly (no sympy evaluation of Max / floor / Mod on the way)
def floor_div(n, d: int) -> sympy.Expr:
    """floor(n / d) for a positive integer d, canonical."""
    return _to_sympy(_floor(_scale(_from_sympy(sympy.sympify(n)), Fraction(1, d))))


def ceil_div(n, d: int) -> sympy.Expr:
    """ceiling(n / d) == -floor(-n / d) for a positive integer d, canonical."""
    return _to_sympy(_scale(_floor(_scale(_from_sympy(sympy.sympify(n)), Fraction(-1, d))), -1))


def mod(n, d: int) -> sympy.Expr:
    """Mod(n, d) == n - d*floor(n/d) for a positive integer d and an integer-valued n, canonical."""
    a = _from_sympy(sympy.sympify(n))
    if not _int_valued(a):
        return canonical(sympy.Mod(n, d))
    return _to_sympy(_add(a, _scale(_floor(_scale(a, Fraction(1, d))), -d)))


def max_of(*args) -> sympy.Expr:
    return _to_sympy(_minmax(sympy.Max, tuple(_from_sympy(sympy.sympify(a)) for a in args)))


def min_of(*args) -> sympy.Expr:
    return _to_sympy(_minmax(sympy.Min, tuple(_from_sympy(sympy.sympify(a)) for a in args)))


def equation(lhs, rhs) -> Tuple[sympy.Expr, sympy.Expr]:
    """The canonical sides of ``Eq(lhs, rhs)`` (the same set of sizes): ``Mod(X, q) == c`` where lhs - rhs, with
    integer coefficients of gcd 1, folds into one Mod (``Eq(64*floor(X/64), X)`` and ``Eq(7203*Mod(X, 64), 0)``
    are one); where a factor that is never 0 cancels, the rest as positive terms == negated negative ones;
    else each side canonical, as written."""
    d = _add(_from_sympy(sympy.sympify(lhs)), _from_sympy(sympy.sympify(rhs)), -1)
    if not d or _is_const(d):
        return _to_sympy(d), sympy.Integer(0)
    cancelled = False
    if len(d) > 1:  # a factor that is never 0 leaves the equation: 768*X == floor(768/X)*X with X >= 1
        c, fs = _factor_list(d)
        keep = [f for f in fs if not (lambda r: r[0] > 0 or r[1] < 0)(poly_range(f))]
        if len(keep) < len(fs):
            cancelled = True
            d = _const(1)
            for f in keep:
                d = _mul(d, f)
            if _is_const(d):  # only never-zero factors: never equal
                return _to_sympy(d), sympy.Integer(0)
    den, num = 1, 0
    for _m, c in d:
        c = Fraction(c)
        den = den * c.denominator // math.gcd(den, c.denominator)
    for _m, c in d:
        num = math.gcd(num, int(Fraction(c) * den))
    unit = _scale(d, Fraction(den, num))
    for cand in (unit, _scale(unit, -1)):
        body = tuple((m, c) for m, c in cand if m != ())
        const = _const_of(cand) if any(m == () for m, _c in cand) else 0
        sb = _to_sympy(body)
        if isinstance(sb, sympy.Mod):
            return sb, sympy.Integer(-const)
    if not cancelled:  # the sides as written, each canonical (a Linear's 387200 features stay in view)
        return _to_sympy(_from_sympy(sympy.sympify(lhs))), _to_sympy(_from_sympy(sympy.sympify(rhs)))
    best = d if [c for m, c in d if m != ()][0] > 0 else _scale(d, -1)
    pos = tuple((m, c) for m, c in best if c > 0)
    neg = tuple((m, -c) for m, c in best if c < 0)
    return _to_sympy(pos), _to_sympy(neg)


def quotient_equation(lhs, rhs):
    """``floor(c/X) == k`` (c, k integers, X >= 1 integer-valued) as the equivalent condition on X:
    k <= c/X < k + 1, i.e. c//(k+1) < X <= c//k (``Eq(floor(768/X), 768)`` is ``Eq(X, 1)``); None when the
    equation is not of that form."""
    d = _add(_from_sympy(sympy.sympify(lhs)), _from_sympy(sympy.sympify(rhs)), -1)
    body = [(m, c) for m, c in d if m != ()]
    if len(body) != 1 or len(body[0][0]) != 1 or body[0][0][0][1] != 1 or body[0][0][0][0][0] != "x" \
            or abs(body[0][1]) != 1:
        return None
    e = _OPAQUE[body[0][0][0][0][1]][0]
    if not isinstance(e, sympy.floor):
        return None
    num, den = sympy.fraction(sympy.together(e.args[0]))
    if not num.is_Integer or int(num) < 0 or den.is_number:
        return None
    xp = _from_sympy(den)
    if not _int_valued(xp) or poly_range(xp)[0] < 1:
        return None
    c, k = int(num), -_const_of(d) / body[0][1]
    if Fraction(k).denominator != 1 or k < 0:
        return sympy.false if Fraction(k).denominator != 1 or k < 0 else None
    k = int(k)
    lo = c // (k + 1) + 1
    x = _to_sympy(xp)
    if k == 0:
        return sympy.Ge(x, lo)
    hi = c // k
    if lo > hi:
        return sympy.false
    return sympy.Eq(x, lo) if lo == hi else sympy.And(sympy.Ge(x, lo), sympy.Le(x, hi))


def exact_quotient(n, d) -> Optional[sympy.Expr]:
    """n / d as a polynomial with integer coefficients when d's factors are among n's (the content and
    common monomial included), else None."""
    pn, pd = _from_sympy(sympy.sympify(n)), _from_sympy(sympy.sympify(d))
    if not pd:
        return None
    cn, fn = _factor_list(pn)
    cd, fd = _factor_list(pd)
    rest = list(fn)
    for f in fd:
        if _is_const(f):
            cd *= _const_of(f)
            continue
        if f in rest:
            rest.remove(f)
        else:
            return None
    q = _const(cn / cd)
    for f in rest:
        q = _mul(q, f)
    if not _int_valued(q):
        return None
    return _to_sympy(q)


_CACHE_SETS[_DEFAULT_KEY] = {name: globals()[name] for name in _RANGED}  # the default assumptions (symbols >= 1)
