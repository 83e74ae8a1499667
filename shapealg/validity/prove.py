"""Proofs about a condition in several symbols over the whole product of the per-symbol sets.

A model's constraints often include conditions in several symbols that the per-symbol lower bounds already
imply: ``floor(H/8)*floor(W/8) >= 1`` once ``H >= 8`` and ``W >= 8``; a Reshape whose target is
``Piecewise((floor(H/8), Eq(floor(H/8)*floor(W/8), 0)), (floor(H/8)*floor(W/8), True))`` (the ONNX "0 copies
the input dim" case) equal to its input size once that product is known to be >= 1. Such an atom adds
nothing to the valid set (``holds_everywhere``). Where the solution set is a product of periodic per-symbol
sets (window partitions), it is folded into them (``fold_periodic``). Both rest on the residue classes of
classes.py; anything undecided means "not proved" and the caller keeps the atom.
"""
from __future__ import annotations

import itertools
import math
from fractions import Fraction
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from .classes import decide_by_classes
from .ir import cbool
from .sets import SymbolSet, canonical_set

_MAX_GRID = 1_000_000    # representative points evaluated when folding a component


def holds_everywhere(node, names: Sequence[str], sets: Mapping[str, SymbolSet]) -> bool:
    """True when the boolean ``node`` is proved to hold at every point of the product of ``sets``;
    False when it fails somewhere or cannot be decided."""
    if _monotone_at_corner(node, names, sets):
        return True
    for pt in _samples(names, sets):  # a cheap refutation first: most atoms that fail, fail early
        try:
            if not cbool(node)(pt):
                return False
        except (ZeroDivisionError, OverflowError, TypeError):
            return False
    classes = decide_by_classes(node, names, sets)
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
        return bool(cbool(node)(corner))
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

    Every class found by ``decide_by_classes`` is a point or a progression starting below T with a period
    dividing L, so truth at h >= T depends on h mod L only: the truth on the representatives
    1 .. T + L - 1 of every symbol decides the whole set."""
    classes = decide_by_classes(node, names, sets)
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
    return {n: canonical_set(n, pr, T, L) for n, pr, T, L in zip(names, proj, Ts, Ls)}
