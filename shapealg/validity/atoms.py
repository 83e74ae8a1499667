"""Atoms (the conjuncts of the constraints, compiled for exact evaluation), components of symbols tied by
atoms, and their evaluation on arrays of sizes."""
from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

import numpy as np
import sympy

from ..dims import symbol
from .ir import Unsupported, cbool, eval_bool_at, eval_bool_vec, to_ir
from .structure import lower_bound_of


@dataclass
class Atom:
    expr: sympy.Basic
    index: int              # index into the deduplicated constraints
    node: Optional[tuple]   # None when it cannot be compiled
    syms: Tuple[str, ...]
    lb: Optional[int] = None  # exact lower bound when the atom is `sym >= lb`

    def vec(self, env, n):
        if self.node is None:
            return _sympy_vec(self.expr, env, n)
        return eval_bool_vec(self.node, env, n)

    def at(self, env) -> bool:
        if self.node is None:
            return bool(self.expr.xreplace({symbol(k): sympy.Integer(int(v)) for k, v in env.items()}))
        return eval_bool_at(self.node, env)


def _sympy_vec(expr, env, n):
    names = list(env)
    out = np.empty(n, dtype=bool)
    for i in range(n):
        out[i] = bool(expr.xreplace({symbol(k): sympy.Integer(int(env[k][i])) for k in names}))
    return out


def make_atom(expr, index: int) -> Atom:
    syms = tuple(sorted(s.name for s in expr.free_symbols))
    try:
        node = to_ir(expr)
        cbool(node)
    except Unsupported:
        node = None
    a = Atom(expr, index, node, syms)
    if node is not None and len(syms) == 1:
        try:
            a.lb = lower_bound_of(node, syms[0])
        except Unsupported:
            a.lb = None
    return a


@dataclass
class Component:
    """Symbols tied together by atoms in several symbols, and what is known of their joint set."""
    names: Tuple[str, ...]
    atoms: List[Atom]
    points: Optional[np.ndarray] = None   # (n, len(names)) valid points (all, when finite)
    finite: bool = False
    exact: bool = True
    method: str = ""
    bound: Optional[int] = None
    note: str = ""
    # a periodic component (validity/periodic.py): per symbol (T, L), truth at h >= T repeats with period L, and
    # ``table[h1 - 1, h2 - 1, ...]`` is the exact truth on 1 .. T + L - 1 (``points`` its valid points there)
    periods: Optional[Tuple[Tuple[int, int], ...]] = None
    table: Optional[np.ndarray] = None
    _set: Optional[frozenset] = None

    def reduce(self, t) -> Tuple[int, ...]:
        """The representative in 1 .. T + L - 1 of a point of a periodic component (the point itself below T)."""
        return tuple(h if h < T + L else T + (h - T) % L for h, (T, L) in zip(t, self.periods))

    def near(self, x: Sequence[int], k: int) -> np.ndarray:
        """Valid points of a periodic component around x: every valid point of the smallest box around x (radius
        4, 16, ... 1024) that holds at least k of them within its radius in L1 (so no valid point outside the box is
        nearer in L1); the first period's points when none does."""
        x = np.asarray(x, dtype=np.int64)
        T = np.asarray([t for t, _ in self.periods], dtype=np.int64)
        L = np.asarray([l for _, l in self.periods], dtype=np.int64)
        for r in (4, 16, 64, 256, 1024):
            axes = [np.arange(max(1, int(v) - r), int(v) + r + 1, dtype=np.int64) for v in x]
            if np.prod([len(a) for a in axes]) > 5_000_000:
                break
            box = grid_points(axes)
            rep = np.where(box < T + L, box, T + (box - T) % L)
            ok = self.table[tuple((rep - 1).T)]
            cand = box[ok]
            cand = cand[np.abs(cand - x).sum(axis=1) <= r]
            if len(cand) >= k:
                return cand
        return self.points

    def _lookup(self, t) -> bool:
        if self.table is not None:
            r = self.reduce(t)
            return all(h >= 1 for h in r) and bool(self.table[tuple(h - 1 for h in r)])
        if self._set is None:
            self._set = frozenset(tuple(int(v) for v in row) for row in self.points)
        return t in self._set


def eval_atoms(atoms: Sequence[Atom], names: Sequence[str], pts: np.ndarray) -> np.ndarray:
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


def grid_points(lists: Sequence[np.ndarray]) -> np.ndarray:
    if not lists:
        return np.zeros((1, 0), dtype=np.int64)
    mesh = np.meshgrid(*lists, indexing="ij")
    return np.stack([m.ravel() for m in mesh], axis=1)


def all_hold(atoms: Sequence[Atom], env, n: int) -> np.ndarray:
    ok = np.ones(n, dtype=bool)
    for a in atoms:
        ok &= a.vec({k: env[k] for k in a.syms}, n)
    return ok
