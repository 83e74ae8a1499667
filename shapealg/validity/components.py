"""Atoms in several symbols: upper bounds derived from equalities (shifted polynomials in monotone
generators), then exact enumeration inside them (a grid, or every value of the others with the last
generator solved for); a bounded exhaustive search where none of that applies."""
from __future__ import annotations

import math
from fractions import Fraction
from typing import Dict, Optional

import numpy as np
import sympy

from ..dims import symbol
from ._consts import DEFAULT_BOUND_ND, GRID_LIMIT, SYMPY_LIMIT
from .atoms import Atom, Component, eval_atoms, grid_points
from .ir import Unsupported, cexpr, needs_object, to_ir
from .sets import SymbolSet
from .structure import largest_with_value_at_most, mono, slope_of


def _poly_bounds(atom: Atom, sets: Dict[str, SymbolSet]) -> Dict[str, int]:
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
            gn = to_ir(g)
        except Unsupported:
            return None
        if mono(gn) != 1 or not (slope_of(gn) or 0) > 0:
            return None
        s = sets[name]
        mn = s.minimum
        if mn is None:
            return "empty"
        f, d = cexpr(gn)
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
        h = largest_with_value_at_most(gn, name, math.floor(vmax), sets[name].minimum)
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


def solve_component(comp: Component, sets: Dict[str, SymbolSet], bound: Optional[int]) -> None:
    names = comp.names
    ubs: Dict[str, int] = {}
    for n in names:  # a symbol whose own set is finite (proved) is bounded by its largest value
        s = sets[n]
        if s.exact and s.is_finite and s.below:
            ubs[n] = s.below[-1]
    for a in comp.atoms:
        try:
            for n, u in _poly_bounds(a, sets).items():
                ubs[n] = min(ubs.get(n, u), u)
        except (Unsupported, sympy.PolynomialError, ValueError, TypeError, ZeroDivisionError):
            continue
    # robustness guard: a derived bound beyond GRID_LIMIT (2**62-sized dims...) would allocate TiB; use the fallback
    if all(n in ubs and ubs[n] <= GRID_LIMIT for n in names):
        lists = [sets[n].values_upto(ubs[n]) for n in names]
        total = 1
        for lst in lists:
            total *= len(lst)
        if total == 0:
            comp.points, comp.finite = np.zeros((0, len(names)), dtype=np.int64), True
            comp.method = f"derived bounds leave no ({', '.join(names)}) candidate"
            return
        if total <= GRID_LIMIT:
            pts = grid_points(lists)
            comp.points = pts[eval_atoms(comp.atoms, names, pts)]
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
    B = bound or DEFAULT_BOUND_ND
    limit = GRID_LIMIT if all(a.node is not None for a in comp.atoms) else SYMPY_LIMIT
    B = max(2, min(B, int(limit ** (1.0 / k))))
    lists = [sets[n].values_upto(B) for n in names]
    pts = grid_points(lists)
    pts = pts[eval_atoms(comp.atoms, names, pts)]
    comp.points = pts
    comp.exact = False
    comp.bound = B
    margin = max(8, B // 8)
    comp.finite = not (len(pts) and bool(np.any(pts.max(axis=0) > B - margin)))
    comp.method = f"exhaustive search up to {B} for ({', '.join(names)})"


def _solve_last(comp: Component, sets, lists, ubs) -> Optional[np.ndarray]:
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
            except (Unsupported, sympy.PolynomialError, ValueError, TypeError, ZeroDivisionError):
                b = None
            if b == "empty":
                continue
            pts = _solve_leaf(leaf, names, lists) if b is not None else None
            if pts is None:
                break
            cands.append(pts)
        else:
            pts = np.concatenate(cands) if cands else np.zeros((0, len(names)), dtype=np.int64)
            pts = pts[eval_atoms(comp.atoms, names, pts)]
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
            gn = to_ir(g)
        except Unsupported:
            continue
        if mono(gn) != 1:
            continue
        others = [i for i in range(len(names)) if i != li]
        size = 1
        for i in others:
            size *= len(lists[i])
        if size > GRID_LIMIT:
            continue
        c1 = P.as_expr().coeff(g, 1)
        c0 = sympy.expand(P.as_expr() - c1 * g)
        try:
            n1, d1 = cexpr(to_ir(c1))
            n0, d0 = cexpr(to_ir(c0))
            fg, dg = cexpr(gn)
        except Unsupported:
            continue
        if dg != 1:
            continue  # generators are floors or symbols, so integer valued
        grid = grid_points([lists[i] for i in others])
        onames = [names[i] for i in others]
        X = max([int(lists[i].max()) for i in range(len(names)) if len(lists[i])] + [1])
        obj = needs_object(('rel', '==', ('mul', (to_ir(c1), to_ir(c0), ('const', Fraction(d0 * d1))))), X)
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
