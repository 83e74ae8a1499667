"""Proofs that a constraint in several symbols holds on the whole product of the per-symbol sets.

A model's constraints often include conditions in several symbols that the per-symbol lower bounds already
imply: ``floor(H/8)*floor(W/8) >= 1`` once ``H >= 8`` and ``W >= 8``; a Reshape whose target is
``Piecewise((floor(H/8), Eq(floor(H/8)*floor(W/8), 0)), (floor(H/8)*floor(W/8), True))`` (the ONNX "0 copies
the input dim" case) equal to its input size once that product is known to be >= 1. Such an atom adds
nothing to the valid set; finding that out symbolically keeps the verdict exact (size-invariant) instead of
falling back to a bounded search.

Method (exact, no floats): each symbol's set is a finite list of small values plus residue classes
``h = P*t + c`` (``t >= 0``, ``c`` the first value of the class). On one class per symbol every floor of a
linear argument with integer slopes in ``t`` is ``floor(const) + slopes * t`` exactly, so every expression is
a polynomial in the ``t``'s (periods are refined until every floor's slope is an integer). A comparison
``D >= 0`` is then decided on ``t >= 0`` when every coefficient of ``D`` has one sign (the constant term
settles strictness); Max / Min and Piecewise branches are decided the same way. The atom is proved when it
holds on every class; anything undecided means "not proved" and the caller keeps the atom.
"""
from __future__ import annotations

import itertools
import math
from fractions import Fraction
from functools import lru_cache
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from .budget import BudgetSpent, check
from .ir import _Unsupported, _cbool
from .sets import SymbolSet, _canonical_set
from .structure import _lin, _syms

Poly = Dict[Tuple[int, ...], Fraction]

_MAX_CLASSES = 4096      # residue-class combinations tried per atom
_MAX_REFINES = 8         # period refinements per atom
_MAX_PERIOD = 1 << 12
_MAX_PEELS = 6           # first values split off one class
_MAX_GRID = 1_000_000    # representative points evaluated when folding a component


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

def _padd(a: Poly, b: Poly) -> Poly:
    out = dict(a)
    for k, v in b.items():
        out[k] = out.get(k, Fraction(0)) + v
    return {k: v for k, v in out.items() if v != 0}


def _pmul(a: Poly, b: Poly) -> Poly:
    out: Poly = {}
    for ka, va in a.items():
        for kb, vb in b.items():
            k = tuple(x + y for x, y in zip(ka, kb))
            out[k] = out.get(k, Fraction(0)) + va * vb
    return {k: v for k, v in out.items() if v != 0}


def _sign(p: Poly, n: int) -> Optional[str]:
    """'zero', 'pos' (> 0 everywhere), 'nonneg' (>= 0, = 0 at t = 0), 'neg', 'nonpos', or None."""
    if not p:
        return "zero"
    const = p.get((0,) * n, Fraction(0))
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
            got = self._deps[key] = (node, tuple(sorted(self.index[s] for s in _syms(node, set()))))
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
            return {zero: node[1]} if node[1] != 0 else {}
        if k == 'sym':
            i = self.index[node[1]]
            P, c = self.subs[i]
            out: Poly = {zero: Fraction(c)} if c else {}
            if P:
                out[tuple(1 if j == i else 0 for j in range(self.n))] = Fraction(P)
            return out
        if k == 'add':
            out = {}
            for c in node[1]:
                out = _padd(out, self.expr(c))
            return out
        if k == 'mul':
            out = {zero: Fraction(1)}
            for c in node[1]:
                out = _pmul(out, self.expr(c))
                if not out:
                    return out
            return out
        if k == 'pow':
            base = self.expr(node[1])
            out = {zero: Fraction(1)}
            for _ in range(node[2]):
                out = _pmul(out, base)
            return out
        if k == 'fdiv':  # floor(a / b): b constant on the class, or a a constant multiple of b
            pa, pb = self.expr(node[1]), self.expr(node[2])
            zero = (0,) * self.n
            if not pb:
                raise _Unsupported("division by zero")
            if set(pb) == {zero}:
                return self._floor({m: v / pb[zero] for m, v in pa.items()})
            m0 = next(iter(pb))
            ratio = pa.get(m0, Fraction(0)) / pb[m0]
            if set(pa) == set(pb) and all(pa[m] == ratio * v for m, v in pb.items()) \
                    and _sign(pb, self.n) in ("pos", "neg"):  # b never 0 on the class
                f = Fraction(math.floor(ratio))
                return {zero: f} if f else {}
            raise _Unsupported("quotient of formulas")
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
            raise _Unsupported("Piecewise with no branch taken")
        raise _Unsupported(k)

    def _floor(self, p: Poly) -> Poly:
        """floor of a polynomial that is linear with integer slopes on the class (else refine / give up)."""
        out = {}
        for mon, v in p.items():
            deg = sum(mon)
            if deg == 0:
                v = Fraction(math.floor(v))
                if v:
                    out[mon] = v
            elif deg == 1:
                if v.denominator != 1:
                    raise _NeedPeriod(mon.index(1), v.denominator)
                out[mon] = v
            else:
                raise _Unsupported("floor of a non-linear argument")
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
        raise _Unsupported(k)


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
            syms = _syms(nd, set())
            if len(syms) == 1:
                slopes: list = []
                try:
                    _lin(nd, slopes)
                except _Unsupported:
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
        raise _Unsupported(f"too many classes (period {period})")
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


def _decide(node, names: Sequence[str], sets: Mapping[str, SymbolSet]):
    try:
        return _decide_cached(node, tuple(names), tuple(sets[n] for n in names))
    except _Unsupported:  # the budget spent (not cached), or too many classes
        return None


@lru_cache(maxsize=4096)
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
        except (_Unsupported, ZeroDivisionError, KeyError, OverflowError, RecursionError):
            return None
    return None


def holds_everywhere(node, names: Sequence[str], sets: Mapping[str, SymbolSet]) -> bool:
    """True when the boolean ``node`` is proved to hold at every point of the product of ``sets``;
    False when it fails somewhere or cannot be decided."""
    if _monotone_at_corner(node, names, sets):
        return True
    for pt in _samples(names, sets):  # a cheap refutation first: most atoms that fail, fail early
        try:
            if not _cbool(node)(pt):
                return False
        except (ZeroDivisionError, OverflowError, TypeError):
            return False
    classes = _decide(node, names, sets)
    return classes is not None and all(t for _, t in classes)


def _mono_nonneg(node) -> Tuple[Optional[int], bool]:
    """(direction, non-negative) of an expression in several symbols: +1 non-decreasing in every
    symbol, -1 non-increasing, 0 constant, None unknown; and whether it is >= 0 for sizes >= 1."""
    k = node[0]
    if k == 'const':
        return 0, node[1] >= 0
    if k == 'sym':
        return 1, True
    if k == 'floor':
        return _mono_nonneg(node[1])
    kids = [_mono_nonneg(c) for c in node[1]] if k in ('add', 'mul', 'max', 'min') else None
    if kids is None or any(m is None for m, _ in kids):
        return None, False
    dirs = {m for m, _ in kids}
    if k in ('add', 'max', 'min'):
        if 1 in dirs and -1 in dirs:
            return None, False
        d = 1 if 1 in dirs else (-1 if -1 in dirs else 0)
        nonneg = all(n for _, n in kids) if k != 'max' else any(n for _, n in kids)
        return d, nonneg
    # mul: a constant times a product of non-negative non-decreasing factors
    const = Fraction(1)
    var = []
    for c, (m, n) in zip(node[1], kids):
        if c[0] == 'const':
            const *= c[1]
        elif m == 1 and n:
            var.append(c)
        elif m == 0 and n:
            continue
        else:
            return None, False
    if not var:
        return 0, const >= 0
    return (1, True) if const > 0 else ((-1, False) if const < 0 else (0, True))


def _monotone_at_corner(node, names: Sequence[str], sets: Mapping[str, SymbolSet]) -> bool:
    """``D >= 0`` (or > 0) with D non-decreasing in every symbol holds everywhere iff at the smallest
    sizes of the sets (and ``D <= 0`` with D non-increasing)."""
    if node[0] != 'rel' or node[1] not in ('>=', '>', '<=', '<'):
        return False
    d, _ = _mono_nonneg(node[2])
    if d is None or (node[1] in ('>=', '>') and d < 0) or (node[1] in ('<=', '<') and d > 0):
        return False
    corner = {}
    for n in names:
        m = sets[n].minimum
        if m is None:
            return False
        corner[n] = m
    try:
        return bool(_cbool(node)(corner))
    except (ZeroDivisionError, OverflowError, TypeError):
        return False


def _samples(names: Sequence[str], sets: Mapping[str, SymbolSet]) -> List[Dict[str, int]]:
    per = []
    for n in names:
        s = sets[n]
        m = s.minimum or 1
        vals = [v for v in (m, m + 1, m + 2, m + 7, m + 31, 2 * m + 97) if s.contains(v)]
        per.append(vals[:4] or [m])
    return [dict(zip(names, combo)) for combo in itertools.product(*per)][:64]


def fold_periodic(node, names: Sequence[str], sets: Mapping[str, SymbolSet], vec) -> Optional[Dict[str, SymbolSet]]:
    """When the points of the product of ``sets`` where ``node`` holds form a product of one set per
    symbol (``floor(H/4)*floor(W/4) == 16*floor(H/16)*floor(W/16)``: H % 16 < 4 and W % 16 < 4), those
    sets, exactly; else None. ``vec(env, n)`` evaluates the condition exactly on arrays of sizes.

    Every class found by ``_decide`` is a point or a progression starting below T with a period
    dividing L, so truth at h >= T depends on h mod L only: the truth on the representatives
    1 .. T + L - 1 of every symbol decides the whole set."""
    classes = _decide(node, names, sets)
    if classes is None:
        return None
    reps, Ts, Ls = [], [], []
    for i, n in enumerate(names):
        T = max([c + 1 for combo, _ in classes for P, c in [combo[i]]] + [sets[n].start])
        L = 1
        for combo, _ in classes:
            P = combo[i][0]
            if P:
                L = L * P // math.gcd(L, P)
        Ts.append(T)
        Ls.append(L)
        reps.append(np.arange(1, T + L, dtype=np.int64))
    size = 1
    for r in reps:
        size *= len(r)
    if size > _MAX_GRID:
        return None
    mesh = np.meshgrid(*reps, indexing="ij")
    member = np.ones(mesh[0].shape, dtype=bool)
    for n, m in zip(names, mesh):
        s = sets[n]
        member &= np.vectorize(s.contains, otypes=[bool])(m) if m.size else member
    ok = np.zeros(mesh[0].shape, dtype=bool)
    flat = np.flatnonzero(member)
    if len(flat):
        env = {n: m.ravel()[flat] for n, m in zip(names, mesh)}
        ok.ravel()[flat] = vec(env, len(flat))
    # a product set: each point valid exactly when each coordinate's projection is
    proj = []
    for i in range(len(names)):
        axes = tuple(j for j in range(len(names)) if j != i)
        proj.append(ok.any(axis=axes) if axes else ok)
    outer = proj[0]
    for pr in proj[1:]:
        outer = np.multiply.outer(outer, pr)
    if not np.array_equal(outer.astype(bool), ok):
        return None
    return {n: _canonical_set(n, pr, T, L) for n, pr, T, L in zip(names, proj, Ts, Ls)}
