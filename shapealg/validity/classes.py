"""Deciding a condition class by class (exact, no floats).

Each symbol's set is a finite list of small values plus residue classes ``h = P*t + c`` (``t >= 0``, ``c``
the first value of the class). On one class per symbol every floor of a linear argument with integer slopes
in ``t`` is ``floor(const) + slopes * t`` exactly, so every expression is a polynomial in the ``t``'s (periods
are refined until every floor's slope is an integer). A comparison ``D >= 0`` is then decided on ``t >= 0``
when every coefficient of ``D`` has one sign (the constant term settles strictness); Max / Min and Piecewise
branches are decided the same way, and a class whose comparison is zero only at ``t = 0`` has that first value
peeled off.
"""
from __future__ import annotations

import itertools
import math
from fractions import Fraction
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

from .budget import BudgetSpent, charged, check
from .ir import Unsupported
from .sets import SymbolSet
from .structure import lin, symbols_in

Poly = Dict[Tuple[int, ...], Fraction]

_MAX_CLASSES = 4096      # residue-class combinations tried per atom
_MAX_REFINES = 8         # period refinements per atom
_MAX_PERIOD = 1 << 12
_MAX_PEELS = 6           # first values split off one class


class _Undecided(Exception):
    """A comparison whose sign changes (or may) inside one class; ``idx``: the variables it involves."""

    def __init__(self, idx: Tuple[int, ...]):
        super().__init__(idx)
        self.idx = idx


def _vars(p: Poly) -> Tuple[int, ...]:
    return tuple(sorted({i for mon in p for i, e in enumerate(mon) if e}))


class _NeedPeriod(Exception):
    def __init__(self, index: int, den: int):
        super().__init__(index, den)
        self.index, self.den = index, den


# ---------------------------------------------------------------- polynomials in t >= 0

# coefficients are ints where integral (int arithmetic is ~10x Fraction's), Fractions otherwise; a quotient
# is always taken as Fraction(a) / b, never int / int (a float)
def _small(v):
    return v.numerator if isinstance(v, Fraction) and v.denominator == 1 else v


def _padd(a: Poly, b: Poly) -> Poly:
    out = dict(a)
    for k, v in b.items():
        out[k] = out.get(k, 0) + v
    return {k: v for k, v in out.items() if v != 0}


def _pmul(a: Poly, b: Poly) -> Poly:
    if len(a) == 1 or len(b) == 1:  # a monomial times a polynomial (the common case): no collisions
        if len(a) != 1:
            a, b = b, a
        (ka, va), = a.items()
        if not any(ka):
            return {kb: va * vb for kb, vb in b.items()} if va else {}
        return {tuple(x + y for x, y in zip(ka, kb)): va * vb for kb, vb in b.items()} if va else {}
    out: Poly = {}
    for ka, va in a.items():
        for kb, vb in b.items():
            k = tuple(x + y for x, y in zip(ka, kb))
            out[k] = out.get(k, 0) + va * vb
    return {k: v for k, v in out.items() if v != 0}


def _sign(p: Poly, n: int) -> Optional[str]:
    """'zero', 'pos' (> 0 everywhere), 'nonneg' (>= 0, = 0 at t = 0), 'neg', 'nonpos', or None."""
    if not p:
        return "zero"
    const = p.get((0,) * n, 0)
    if all(v >= 0 for v in p.values()):
        return "pos" if const > 0 else "nonneg"
    if all(v <= 0 for v in p.values()):
        return "neg" if const < 0 else "nonpos"
    return None


_DECIDE = {  # relation of D to 0 -> {sign: truth}
    '==': {"zero": True, "pos": False, "neg": False},
    '!=': {"zero": False, "pos": True, "neg": True},
    '>=': {"zero": True, "pos": True, "nonneg": True, "neg": False},
    '>': {"pos": True, "zero": False, "nonpos": False, "neg": False},
    '<=': {"zero": True, "neg": True, "nonpos": True, "pos": False},
    '<': {"neg": True, "zero": False, "nonneg": False, "pos": False},
}


class _Class:
    """One residue class per symbol: symbol i = P_i * t_i + c_i (P_i == 0: the constant c_i)."""

    def __init__(self, names: Sequence[str], subs: Sequence[Tuple[int, int]], memo: Optional[dict] = None,
                 deps: Optional[dict] = None):
        self.index = {n: i for i, n in enumerate(names)}
        self.subs = subs
        self.n = len(names)
        # shared by every class of one proof: a sub-expression in H alone is the same polynomial for every
        # class of W, so it is keyed by the node and the classes of the symbols it uses only
        self._memo: dict = {} if memo is None else memo
        self._deps: dict = {} if deps is None else deps

    def _uses(self, node) -> Tuple[int, ...]:
        key = id(node)
        got = self._deps.get(key)
        if got is None:  # the entry keeps the node alive, so its id cannot be reused by another node
            got = self._deps[key] = (node, tuple(sorted(self.index[s] for s in symbols_in(node, set()))))
        return got[1]

    def expr(self, node) -> Poly:
        # id() instead of hashing the nodes (slow); _uses keeps every keyed node alive, so ids stay unique
        key = (id(node), tuple(self.subs[i] for i in self._uses(node)))
        got = self._memo.get(key)
        if got is None:
            got = self._memo[key] = self._expr(node)
        return got

    def _expr(self, node) -> Poly:
        k = node[0]
        zero = (0,) * self.n
        if k == 'const':
            return {zero: _small(node[1])} if node[1] != 0 else {}
        if k == 'sym':
            i = self.index[node[1]]
            P, c = self.subs[i]
            out: Poly = {zero: int(c)} if c else {}
            if P:
                out[tuple(1 if j == i else 0 for j in range(self.n))] = int(P)
            return out
        if k == 'add':
            out = {}
            for c in node[1]:
                out = _padd(out, self.expr(c))
            return out
        if k == 'mul':
            out = {zero: 1}
            for c in node[1]:
                out = _pmul(out, self.expr(c))
                if not out:
                    return out
            return out
        if k == 'pow':
            base = self.expr(node[1])
            out = {zero: 1}
            for _ in range(node[2]):
                out = _pmul(out, base)
            return out
        if k == 'fdiv':  # floor(a / b): b constant on the class, or a a constant multiple of b
            pa, pb = self.expr(node[1]), self.expr(node[2])
            zero = (0,) * self.n
            if not pb:
                raise Unsupported("division by zero")
            if set(pb) == {zero}:
                return self._floor({m: _small(Fraction(v) / pb[zero]) for m, v in pa.items()})
            m0 = next(iter(pb))
            ratio = Fraction(pa.get(m0, 0)) / pb[m0]
            if set(pa) == set(pb) and all(pa[m] == ratio * v for m, v in pb.items()) \
                    and _sign(pb, self.n) in ("pos", "neg"):  # b never 0 on the class
                f = math.floor(ratio)
                return {zero: f} if f else {}
            raise Unsupported("quotient of formulas")
        if k == 'floor':
            return self._floor(self.expr(node[1]))
        if k in ('max', 'min'):
            best = self.expr(node[1][0])
            for c in node[1][1:]:
                p = self.expr(c)
                diff = _padd(p, {m: -v for m, v in best.items()})
                s = _sign(diff, self.n)
                if s is None:
                    raise _Undecided(_vars(diff))
                if (k == 'max' and s in ("pos", "nonneg")) or (k == 'min' and s in ("neg", "nonpos")):
                    best = p
            return best
        if k == 'pw':
            for v, c in node[1]:
                if self.truth(c):
                    return self.expr(v)
            raise Unsupported("Piecewise with no branch taken")
        raise Unsupported(k)

    def _floor(self, p: Poly) -> Poly:
        """floor of a polynomial that is linear with integer slopes on the class (else refine / give up)."""
        out = {}
        for mon, v in p.items():
            deg = sum(mon)
            if deg == 0:
                v = math.floor(v)
                if v:
                    out[mon] = v
            elif deg == 1:
                if v.denominator != 1:
                    raise _NeedPeriod(mon.index(1), v.denominator)
                out[mon] = v
            else:
                raise Unsupported("floor of a non-linear argument")
        return out

    def truth(self, node) -> bool:
        """The truth on the whole class; raises _Undecided when it is not constant there (or not shown)."""
        k = node[0]
        if k == 'bool':
            return node[1]
        if k == 'rel':
            p = self.expr(node[2])
            t = _DECIDE[node[1]].get(_sign(p, self.n))
            if t is None:
                raise _Undecided(_vars(p))
            return t
        if k in ('and', 'or'):
            stop = k == 'or'  # the value that settles the connective
            pending = None
            for c in node[1]:
                try:
                    if self.truth(c) == stop:
                        return stop
                except _Undecided as e:
                    pending = pending or e
            if pending is not None:
                raise pending
            return not stop
        if k == 'not':
            return not self.truth(node[1])
        raise Unsupported(k)


def _slope_periods(node) -> Dict[str, int]:
    """Per symbol, the lcm of the denominators of the slopes of the floors of one symbol in ``node``
    (a good first period; floors of several symbols are left to refinement)."""
    out: Dict[str, int] = {}
    stack = [node]
    seen = set()
    while stack:
        nd = stack.pop()
        if nd in seen or not isinstance(nd, tuple):
            continue
        seen.add(nd)
        if nd[0] == 'floor':
            syms = symbols_in(nd, set())
            if len(syms) == 1:
                slopes: list = []
                try:
                    lin(nd, slopes)
                except Unsupported:
                    slopes = []
                name = next(iter(syms))
                for sl in slopes:
                    d = Fraction(sl).denominator
                    out[name] = out.get(name, 1) * d // math.gcd(out.get(name, 1), d)
                continue
        for kid in nd[1:]:
            if isinstance(kid, tuple):
                if kid and isinstance(kid[0], str):
                    stack.append(kid)
                else:  # a tuple of children (or of (value, cond) pairs)
                    for k2 in kid:
                        if isinstance(k2, tuple) and k2 and isinstance(k2[0], str):
                            stack.append(k2)
                        elif isinstance(k2, tuple):
                            stack.extend(x for x in k2 if isinstance(x, tuple))
    return out


def _classes(s: SymbolSet, period: int) -> List[Tuple[int, int]]:
    """(P, c) pairs covering the set: its listed small values, then each residue class mod ``period``."""
    if period > _MAX_CLASSES or len(s.below) > _MAX_CLASSES:
        raise Unsupported(f"too many classes (period {period})")
    out = [(0, int(b)) for b in s.below]
    if s.residues:
        res = set(s.residues)
        for r in range(period):
            c = s.start + ((r - s.start) % period)
            if c % s.period in res:
                out.append((period, c))
    return out


_SHARED: Dict[Tuple[str, ...], Tuple[dict, dict]] = {}


def _shared(names: Sequence[str]) -> Tuple[dict, dict]:
    """Polynomials of sub-expressions per class, shared by every proof of one analysis (conditions of one
    model repeat the same floors and Mods): keyed by node identity, so only valid while the nodes live."""
    return _SHARED.setdefault(tuple(names), ({}, {}))


def reset() -> None:
    """Forget the shared polynomials (analyze_domain calls it before and after its work)."""
    _SHARED.clear()


def decide_by_classes(node, names: Sequence[str], sets: Mapping[str, SymbolSet]):
    try:
        return _decide_cached(node, tuple(names), tuple(sets[n] for n in names))
    except Unsupported:  # the budget spent (not cached), or too many classes
        return None


@charged
def _decide_cached(node, names: Tuple[str, ...], set_list: Tuple[SymbolSet, ...]):
    """Partition the product of ``sets`` into classes on each of which ``node`` is constant: a list of
    (combo, truth), combo = one (P, c) per symbol; None when that cannot be shown within the limits.
    A class is refined by a longer period (floors with fractional slopes) or by peeling its first value
    (a comparison that is zero at t = 0 and of one sign after)."""
    sets = dict(zip(names, set_list))
    hint = _slope_periods(node)
    periods = [max(1, sets[n].period) for n in names]
    periods = [p * hint.get(n, 1) // math.gcd(p, hint.get(n, 1)) for n, p in zip(names, periods)]
    for _ in range(_MAX_REFINES):
        per = [_classes(sets[n], p) for n, p in zip(names, periods)]
        total = 1
        for p in per:
            total *= len(p)
        if total > _MAX_CLASSES:
            return None
        out = []
        memo, deps = _shared(names)
        work = [(combo, 0) for combo in itertools.product(*per)]
        try:
            while work:
                check()
                combo, peeled = work.pop()
                try:
                    out.append((combo, _Class(names, combo, memo, deps).truth(node)))
                except _Undecided as e:
                    idx = [i for i in e.idx if combo[i][0]]
                    if not idx or peeled >= _MAX_PEELS or len(out) + len(work) > _MAX_CLASSES:
                        return None
                    i = idx[0]
                    P, c = combo[i]
                    for piece in ((0, c), (P, c + P)):
                        work.append((combo[:i] + (piece,) + combo[i + 1:], peeled + 1))
            return out
        except _NeedPeriod as e:
            periods[e.index] *= e.den
            if periods[e.index] > _MAX_PERIOD:
                return None
        except BudgetSpent:
            raise
        except (Unsupported, ZeroDivisionError, KeyError, OverflowError, RecursionError):
            return None
    return None
