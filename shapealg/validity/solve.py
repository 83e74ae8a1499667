"""Atoms -> per-symbol sets, the implied / periodic conditions in several symbols, the remaining components,
and the verdict."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

import numpy as np
import sympy

from ..enums import Verdict
from ._consts import DEFAULT_BOUND_1D, SCAN_LIMIT
from .atoms import Atom, Component, all_hold
from .components import solve_component
from .periodic import decide_periodic
from .ir import Unsupported
from .prove import fold_periodic, holds_everywhere
from .sets import SymbolSet, canonical_set
from .structure import periodic_info


@dataclass
class Solved:
    sets: Dict[str, SymbolSet]
    comps: List[Component]
    free: Tuple[str, ...]
    verdict: Verdict
    methods: List[str]
    exact: bool
    bound: Optional[int]
    empty_atom: Optional[Atom] = None
    implied: List[Atom] = field(default_factory=list)  # atoms implied by / folded into the per-symbol sets


def _solve_symbol(name: str, atoms: List[Atom], bound: Optional[int]) -> Tuple[SymbolSet, str, Optional[int]]:
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
                raise Unsupported("not compiled")
            m, t = periodic_info(a.node)
            M = M * m // math.gcd(M, m)
            T = max(T, t)
        if T + M > SCAN_LIMIT:
            raise Unsupported("threshold too large")
        n = T + M - 1
        hs = np.arange(1, n + 1, dtype=np.int64)
        ok = hs >= lb
        for a in rest:
            ok &= a.vec({name: hs}, n)
        s = canonical_set(name, ok, T, M)
        return s, (f"period {M} for {name}" if M > 1 else ""), None
    except Unsupported:
        B = bound or DEFAULT_BOUND_1D
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
        s = canonical_set(name, ok, half + 1, d, exact=False) if half + d <= B else \
            SymbolSet(name, tuple(int(i) + 1 for i in np.flatnonzero(ok)), B + 1, 1, (), False)
        return s, f"exhaustive search up to {B} for {name}", B


def _as_product(comp: Component) -> Optional[Dict[str, SymbolSet]]:
    """The exact, finite joint set of a component, when it is every combination of its columns' values
    (swin fixed at 224: H and W each in 28..227 with % 28 < 4, 1024 pairs): one finite set per symbol."""
    if not (comp.exact and comp.finite) or comp.points is None or not len(comp.points):
        return None
    cols = [sorted({int(v) for v in comp.points[:, i]}) for i in range(len(comp.names))]
    total = 1
    for c in cols:
        total *= len(c)
    if total != len({tuple(int(v) for v in row) for row in comp.points}):
        return None
    return {n: SymbolSet(n, tuple(c), c[-1] + 1, 1, ()) for n, c in zip(comp.names, cols)}


def _fold_one_by_one(catoms: List[Atom], cnames: Tuple[str, ...], sets: Dict[str, SymbolSet], implied: List[Atom],
                     methods: List[str]) -> List[Atom]:
    """Fold each atom whose solutions inside the current per-symbol sets are a product of per-symbol sets into
    them, one at a time, until none does; the atoms left. Exact: with S the product of the sets, {x in S: A1(x)
    and A2(x)} is {x in S': A2(x)} where S' = {x in S: A1(x)}, a product when A1 folds. Several atoms that fold
    one by one need far fewer residue classes than their conjunction at once (periods 32, 64, 128, 256)."""
    left = list(catoms)
    progress = True
    while progress and left:
        progress = False
        for a in list(left):
            if a.node is None or any(sets[n].is_empty for n in cnames):
                continue
            names = tuple(n for n in cnames if n in a.syms)
            folded = fold_periodic(a.node, names, sets, lambda env, n, a=a: a.vec({k: env[k] for k in a.syms}, n))
            if folded is None:
                continue
            sets.update(folded)
            implied.append(a)
            left.remove(a)
            progress = True
    if len(left) < len(catoms):
        methods.append(f"periodic in ({', '.join(cnames)}): {len(catoms) - len(left)} condition(s) folded into "
                       f"per-symbol sets one at a time")
    return left


def solve_atoms(atoms: List[Atom], names: Tuple[str, ...], bound: Optional[int]) -> Solved:
    for a in atoms:
        if a.expr is sympy.false or (not a.syms and not a.at({})):
            return Solved({}, [], names, Verdict.NEVER_VALID, ["constant condition"], True, None, a)
    by_sym: Dict[str, List[Atom]] = {}
    multi: List[Atom] = []
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
    implied: List[Atom] = []
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
    groups: Dict[str, List[Atom]] = {}
    for a in multi:
        groups.setdefault(find(a.syms[0]), []).append(a)
    comps = []
    empty = any(s.is_empty for s in sets.values())
    for root, catoms in groups.items():
        cnames = tuple(n for n in names if n in parent and find(n) == root)  # unconstrained symbols: no component
        if not empty and len(catoms) > 1:  # one atom at a time (each window partition of a MaxViT on its own)
            catoms = _fold_one_by_one(catoms, cnames, sets, implied, methods)
            empty = any(s.is_empty for s in sets.values())
            if not catoms:
                continue
        comp = Component(cnames, catoms)
        if not empty and all(a.node is not None for a in catoms):
            folded = fold_periodic(('and', tuple(a.node for a in catoms)), cnames, sets,
                                   lambda env, n, catoms=catoms: all_hold(catoms, env, n))
            if folded is not None:  # a product of periodic per-symbol sets: no component left
                sets.update(folded)
                implied.extend(catoms)
                methods.append(f"periodic in ({', '.join(cnames)}): folded into per-symbol sets")
                empty = any(s.is_empty for s in folded.values())
                continue
        if not empty:
            periodic = decide_periodic(comp, sets)
            if periodic is not None:
                implied.extend(periodic)
            else:
                solve_component(comp, sets, bound)
            product = _as_product(comp)
            if product is not None:  # every combination of per-symbol values: per-symbol sets, no component
                sets.update(product)
                implied.extend(catoms)
                methods.append(comp.method + "; a product of per-symbol sets")
                continue
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
        verdict = Verdict.NEVER_VALID
    elif all((sets[n].is_finite for n in sets if n not in in_comp)) and all(c.finite for c in comps) \
            and constrained:
        verdict = Verdict.LOCKED
    elif not comps and all(s.is_upward for s in sets.values()):
        verdict = Verdict.SIZE_INVARIANT
    else:
        verdict = Verdict.CONDITIONAL
    return Solved(sets, comps, free, verdict, methods, exact, bnd, implied=implied)


def product_sets(cond, known: Tuple[Tuple[str, int, Optional[Tuple[int, Tuple[int, ...]]]], ...],
                 steps: int) -> Optional[Dict[str, Tuple[int, int, Tuple[int, ...]]]]:
    """{size: (least value, M, residues)} when the solutions of the condition ``cond`` inside the sizes' sets
    ``known`` (each ``(name, lower bound, (M, residues) or None)``) are exactly a product of one periodic set per
    size (each value of a set has its residue mod M in the residues); None otherwise, or past ``steps`` steps.
    Only the exact residue-class fold (``fold_periodic``), no enumeration: cheap enough to ask of every equation
    a walker meets (walk._prove_facts). A pure function of its arguments: steps are counted, memoised ones at
    their first cost."""
    from ..dims import symbol
    from .atoms import make_atom
    from .budget import budget
    from .classes import reset
    parts = cond.args if isinstance(cond, sympy.And) else (cond,)
    atoms = [make_atom(p, i) for i, p in enumerate(parts)]
    if any(a.node is None for a in atoms):
        return None
    names = tuple(n for n, _v, _r in known)
    reset()
    try:
        with budget(steps):
            sets = {}
            for n, v, r in known:  # the sizes' sets so far: a lower bound and residues
                facts = [make_atom(sympy.Ge(symbol(n), v), 0)] if v > 1 else []
                if r:
                    facts.append(make_atom(sympy.Or(*[sympy.Eq(sympy.Mod(symbol(n), r[0]), x) for x in r[1]]), 1))
                sets[n], _method, fallback = _solve_symbol(n, facts, None)
                if fallback is not None:
                    return None
            folded = fold_periodic(('and', tuple(a.node for a in atoms)), names, sets,
                                   lambda env, k: all_hold(atoms, env, k))
    except Unsupported:
        return None
    finally:
        reset()
    if folded is None or set(folded) != set(names):
        return None
    out = {}
    for n, st in folded.items():
        if st.is_empty or not st.exact:
            return None
        lo = st.minimum
        if st.is_finite:  # a finite set: its least value only
            out[n] = (lo, 1, (0,))
            continue
        M = st.period
        out[n] = (lo, M, tuple(sorted(set(st.residues) | {b % M for b in st.below})))
    return out
