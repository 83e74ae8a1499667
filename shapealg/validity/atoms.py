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
    _set: Optional[frozenset] = None

    def _lookup(self, t) -> bool:
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
