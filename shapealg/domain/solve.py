"""Atoms and components: per-symbol sets, multi-symbol components (derived bounds, enumeration), the verdict."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import sympy

from ..dims import symbol
from ._consts import _DEFAULT_BOUND_1D, _DEFAULT_BOUND_ND, _GRID_LIMIT, _SCAN_LIMIT, _SYMPY_LIMIT
from .prove import fold_periodic, holds_everywhere
from .ir import _Unsupported, _cbool, _cexpr, _eval_bool_at, _eval_bool_vec, _ir, _needs_object
from .sets import SymbolSet, _canonical_set
from .structure import _largest_with_value_at_most, _lower_bound_of, _mono, _periodic_info, _slope

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
    implied: List[_Atom] = field(default_factory=list)  # atoms implied by / folded into the per-symbol sets


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
    limit = _GRID_LIMIT if all(a.node is not None for a in comp.atoms) else _SYMPY_LIMIT
    B = max(2, min(B, int(limit ** (1.0 / k))))
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


def _all_hold(atoms: Sequence[_Atom], env, n: int) -> np.ndarray:
    ok = np.ones(n, dtype=bool)
    for a in atoms:
        ok &= a.vec({k: env[k] for k in a.syms}, n)
    return ok


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
    # conditions in several symbols that the per-symbol sets already imply add nothing: drop them
    implied: List[_Atom] = []
    if multi and not any(s.is_empty for s in sets.values()):
        keep = []
        for a in multi:
            (implied if a.node is not None and holds_everywhere(a.node, a.syms, sets) else keep).append(a)
        multi = keep
        if implied:
            methods.append(f"{len(implied)} condition(s) in several symbols proved implied by the per-symbol sets")
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
        if not empty and all(a.node is not None for a in catoms):
            folded = fold_periodic(('and', tuple(a.node for a in catoms)), cnames, sets,
                                   lambda env, n, catoms=catoms: _all_hold(catoms, env, n))
            if folded is not None:  # a product of periodic per-symbol sets: no component left
                sets.update(folded)
                implied.extend(catoms)
                methods.append(f"periodic in ({', '.join(cnames)}): folded into per-symbol sets")
                empty = any(s.is_empty for s in folded.values())
                continue
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
    return _Solved(sets, comps, free, verdict, methods, exact, bnd, implied=implied)
