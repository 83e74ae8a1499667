"""Exact bounds of integer index tensors computed at run time, so that the indexing ops can check them.

The dynamo exporter turns AdaptiveAvgPool2d (and similar) into GatherND / Gather whose indices are built at
run time: start offsets fixed at the trace size plus ``Range(0, floor(H/192) + 1)``. Their contents are not
known, but their smallest and largest element are, as formulas: that is all an index check needs
(``max index < data dim``).

``Bounds`` is a tuple of (lo, hi) pairs: one pair for every element, or one per position along the last
axis (a GatherND index tuple: component j addresses axis j). Only propagations that stay EXACT are made
(the bounds are attained by some element): an Add is taken only when its operands broadcast as an outer
sum (at every axis one side has size 1), so that the two maxima meet in one element. The extreme of a long
list of formulas (110 window starts) is the entry found extreme at every size up to 4096 by exact
evaluation (a bounded check, like the domain's fallback). Anything else gives no bounds, and the consumer
keeps its "not checked" warning.
"""
from __future__ import annotations

from typing import List, Optional, Sequence, Tuple

from .dims import MaybeDim, dmax, dmin
from .enums import INT_TYPES
from .records import Value

Bounds = Tuple[Tuple[MaybeDim, MaybeDim], ...]

MAX_ELEMS = 4096  # elements whose bounds are carried one by one


_MAX_SYMBOLIC = 8  # symbolic entries merged into Min / Max at most; longer lists: the entry that is extreme
_SCAN = 4096       # at every size up to this bound (exact evaluation), or no bounds
_MAX_SMALL = 16    # sizes below which another entry may be the extreme, spelled out one by one


def _hull(pairs: Sequence[Tuple[MaybeDim, MaybeDim]]) -> Optional[Tuple[MaybeDim, MaybeDim]]:
    if all(isinstance(a, int) and isinstance(b, int) for a, b in pairs):
        return min(a for a, _ in pairs), max(b for _, b in pairs)
    if len(pairs) > _MAX_SYMBOLIC:
        lo = _extreme([a for a, _ in pairs], largest=False)
        hi = _extreme([b for _, b in pairs], largest=True)
        return None if lo is None or hi is None else (lo, hi)
    lo, hi = pairs[0]
    for a, b in pairs[1:]:
        lo, hi = dmin(lo, a), dmax(hi, b)
        if lo is None or hi is None:
            return None
    return lo, hi


def _extreme(exprs: Sequence[MaybeDim], largest: bool, upto: int = _SCAN) -> Optional[MaybeDim]:
    """The largest (smallest) of a long list of formulas in one symbol, as ONE formula: the entry that is
    extreme at every size from some small h0 on (adaptive pooling's window starts floor(i*h/n): the last /
    first), with the few sizes below h0 spelled out as a Piecewise; found by exact evaluation at every size
    up to ``upto``. None when no entry is, the list involves several symbols, or h0 is not small."""
    import numpy as np
    import sympy
    from .validity import NotCompilable, compile_exact
    syms = set()
    for e in exprs:
        syms |= getattr(e, "free_symbols", set())
    if len(syms) != 1:
        return None
    sym = next(iter(syms))
    hs = np.arange(1, upto + 1, dtype=np.int64)
    rows = []
    try:
        for e in exprs:
            f, d = compile_exact(sympy.sympify(e))
            if d != 1:
                return None
            rows.append(np.broadcast_to(np.asarray(f({sym.name: hs}), dtype=np.int64), hs.shape))
    except (NotCompilable, OverflowError, TypeError, ValueError):
        return None
    table = np.stack(rows)
    best = table.max(axis=0) if largest else table.min(axis=0)
    off = table != best
    # per entry: the first size from which it is the extreme at every size up to ``upto``
    last_off = np.where(off.any(axis=1), upto - np.argmax(off[:, ::-1], axis=1), 0)
    k = int(np.argmin(last_off))
    h0 = int(last_off[k]) + 1
    if h0 > _MAX_SMALL + 1:
        return None
    pieces = [(int(best[h - 1]), sympy.Eq(sym, h)) for h in range(1, h0) if table[k, h - 1] != best[h - 1]]
    e = exprs[k]
    return sympy.Piecewise(*pieces, (e, True)) if pieces else e


def overall(b: Optional[Bounds]) -> Optional[Bounds]:
    return None if b is None else ((_hull(b),) if _hull(b) is not None else None)


def of_value(v: Optional[Value]) -> Optional[Bounds]:
    """Bounds of a tensor whose contents are known (per last-axis position when that axis is static)."""
    if v is None or v.value is None or not v.value or len(v.value) > MAX_ELEMS:
        return None
    vals = list(v.value)
    if any(x is None or isinstance(x, float) for x in vals):
        return None
    k = v.shape[-1] if v.shape else 1
    if isinstance(k, int) and k > 0 and len(vals) % k == 0 and len(v.shape or ()) >= 1:
        cols = [vals[j::k] for j in range(k)]
        out = tuple(_hull([(x, x) for x in col]) for col in cols)
    else:
        out = (_hull([(x, x) for x in vals]),)
    return None if any(p is None for p in out) else out


def scalar(v: Optional[Value]) -> Optional[MaybeDim]:
    return v.value[0] if v is not None and v.value is not None and len(v.value) == 1 else None


def outer(a: Value, b: Value) -> bool:
    """Broadcasting a with b pairs every element of one with every element of the other."""
    if a.shape is None or b.shape is None:
        return False
    ra, rb = len(a.shape), len(b.shape)
    n = max(ra, rb)
    sa = (1,) * (n - ra) + tuple(a.shape)
    sb = (1,) * (n - rb) + tuple(b.shape)
    return all(x == 1 or y == 1 for x, y in zip(sa, sb))


def propagate(rule, node, ins: List[Optional[Value]], in_bounds: List[Optional[Bounds]],
              out: Value) -> Optional[Bounds]:
    """Bounds of the (first) output of an integer op: its contents when known, else its op's propagation
    ``rule(node, ins, in_bounds, out)`` (node: its op_type and attrs) (registered beside the op's shape rule), or None."""
    if out is None or out.dtype not in INT_TYPES:
        return None
    known = of_value(out)
    if known is not None:
        return known
    return rule(node, ins, in_bounds, out)


def same_bounds(node, ins, in_bounds, out) -> Optional[Bounds]:
    """Propagation of an op that copies its input's elements unchanged, in place (Identity, Cast)."""
    return in_bounds[0] if in_bounds else None


def overall_bounds(node, ins, in_bounds, out) -> Optional[Bounds]:
    """Propagation of an op that moves its input's elements around (Reshape, Transpose, Tile ...)."""
    return overall(in_bounds[0]) if in_bounds else None
