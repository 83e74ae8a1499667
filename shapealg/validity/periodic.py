"""Components whose conditions are congruences, decided exactly on one period.

timm's Swin exported at 224 with H, W made symbolic requires
``floor(H/28 + 6/7)*floor(W/28 + 6/7) % 64 == 0`` and two more conditions of that kind: a set in (H, W) that is
not a product of per-symbol sets, so the grid enumeration can only search it up to a bound. But each condition
is periodic in every symbol:

* ``Mod(P, k) == c`` (or ``!=``) with ``P`` a polynomial with integer coefficients in the symbols and in floors /
  ceilings of one symbol's linear form ``floor(a*H/q + b)`` is unchanged when H grows by ``k*q``: the floor grows
  by ``a*k``, a multiple of k, and an integer polynomial's value mod k depends on its arguments mod k only.

With L the lcm of those periods and of the per-symbol sets' periods, and T past every per-symbol set's start,
the truth at h >= T is the truth at T + (h - T) % L, for every symbol. One exact evaluation of the grid
1 .. T + L - 1 (at most ``GRID_LIMIT`` points) therefore decides the whole component: its truth table, the
conditions implied by the others (dropped from ``valid_if`` and the summary), whether it is finite.
"""
from __future__ import annotations

import math
from typing import Dict, List, Optional

import numpy as np
import sympy

from ._consts import GRID_LIMIT
from .atoms import Atom, Component
from .sets import SymbolSet


def _lcm(a: int, b: int) -> int:
    return a * b // math.gcd(a, b)


def atom_periods(expr) -> Optional[Dict[str, int]]:
    """Per symbol, a period of the condition ``Mod(P, k) == c`` / ``!=`` (see the module's docstring), or None
    when it is not one of those."""
    if not isinstance(expr, (sympy.Eq, sympy.Ne)):
        return None
    lhs, rhs = expr.lhs, expr.rhs
    if isinstance(rhs, sympy.Mod) and not isinstance(lhs, sympy.Mod):
        lhs, rhs = rhs, lhs
    if not isinstance(lhs, sympy.Mod) or not rhs.is_Integer:
        return None
    P, k = lhs.args
    if not (k.is_Integer and int(k) > 0):
        return None
    k = int(k)
    gens = sorted(P.atoms(sympy.floor, sympy.ceiling), key=sympy.default_sort_key)
    dummies = {g: sympy.Dummy(f"g{i}") for i, g in enumerate(gens)}
    Q = sympy.expand(P.xreplace(dummies))
    syms = sorted((s for s in Q.free_symbols if not isinstance(s, sympy.Dummy)), key=lambda s: s.name)
    try:
        poly = sympy.Poly(Q, *(list(dummies.values()) + syms))
    except sympy.PolynomialError:
        return None
    if not all(c.is_Integer for c in poly.coeffs()):
        return None
    out: Dict[str, int] = {s.name: k for s in syms}  # an integer polynomial of H: period k in H
    for g in gens:
        arg = g.args[0]
        fs = arg.free_symbols
        if len(fs) != 1:
            return None
        (s,) = fs
        try:
            lin = sympy.Poly(arg, s)
        except sympy.PolynomialError:
            return None
        if lin.degree() != 1 or not all(c.is_Rational for c in lin.coeffs()):
            return None
        slope = sympy.Rational(lin.coeffs()[0])
        # H + k*q moves a*H/q + b by a*k: the floor (ceiling) moves by a multiple of k
        out[s.name] = _lcm(out.get(s.name, 1), k * int(slope.q))
    return out


def decide_periodic(comp: Component, sets: Dict[str, SymbolSet]) -> Optional[List[Atom]]:
    """Decide ``comp`` exactly when every condition in it is a congruence (see above) and one period of the
    grid is at most GRID_LIMIT points: sets its truth table, points, periods, finiteness and method, and returns
    the conditions implied by the others (removed from ``comp.atoms``); None (``comp`` untouched) otherwise."""
    periods: Dict[str, int] = {}
    for a in comp.atoms:
        if a.node is None:
            return None
        p = atom_periods(a.expr)
        if p is None:
            return None
        for n, v in p.items():
            periods[n] = _lcm(periods.get(n, 1), v)
    TL = []
    total = 1
    for n in comp.names:
        s = sets[n]
        if s.is_finite:  # a bounded symbol: the grid enumeration is exact already
            return None
        T, L = max(s.start, 1), _lcm(periods.get(n, 1), s.period)
        TL.append((T, L))
        total *= T + L - 1
        if total > GRID_LIMIT:
            return None
    axes = [np.arange(1, T + L, dtype=np.int64) for T, L in TL]
    mesh = np.meshgrid(*axes, indexing="ij")
    env = {n: m.ravel() for n, m in zip(comp.names, mesh)}
    member = np.ones(total, dtype=bool)
    for n in comp.names:
        member &= np.isin(env[n], sets[n].values_upto(int(env[n].max())))
    truths = []
    for a in comp.atoms:
        t = np.zeros(total, dtype=bool)
        idx = np.flatnonzero(member)
        if len(idx):
            t[idx] = a.vec({k: env[k][idx] for k in a.syms}, len(idx))
        truths.append(t)
    joint = member.copy()
    for t in truths:
        joint &= t
    keep = list(range(len(comp.atoms)))
    implied: List[Atom] = []
    for i in reversed(range(len(comp.atoms))):  # a condition the others imply on the whole period adds nothing
        rest = member.copy()
        for j in keep:
            if j != i:
                rest &= truths[j]
        if np.array_equal(rest, joint):
            keep.remove(i)
            implied.append(comp.atoms[i])
    shape = tuple(len(ax) for ax in axes)
    table = joint.reshape(shape)
    pts = np.argwhere(table) + 1
    comp.atoms = [comp.atoms[i] for i in keep]
    comp.table, comp.periods, comp.points = table, tuple(TL), pts.astype(np.int64)
    # finite exactly when no valid point reaches a repeating coordinate (h >= T repeats at h + L)
    comp.finite = not bool(np.any(pts >= np.asarray([T for T, _ in TL], dtype=np.int64)))
    comp.exact, comp.bound = True, None
    per = ", ".join(str(L) for _, L in TL)
    comp.method = f"periodic in ({', '.join(comp.names)}) with period ({per}): decided exactly on one period"
    return implied

