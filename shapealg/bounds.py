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

from .dims import MaybeDim, ceildiv, dmax, dmin, known_ge
from .tensor import Value

Bounds = Tuple[Tuple[MaybeDim, MaybeDim], ...]

_INT_TYPES = {2, 3, 4, 5, 6, 7, 12, 13}
_MAX_ELEMS = 4096


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
    from .domain.ir import _Unsupported, _cexpr, _ir
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
            f, d = _cexpr(_ir(sympy.sympify(e)))
            if d != 1:
                return None
            rows.append(np.broadcast_to(np.asarray(f({sym.name: hs}), dtype=np.int64), hs.shape))
    except (_Unsupported, OverflowError, TypeError, ValueError):
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
    if v is None or v.value is None or not v.value or len(v.value) > _MAX_ELEMS:
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


def _scalar(v: Optional[Value]) -> Optional[MaybeDim]:
    return v.value[0] if v is not None and v.value is not None and len(v.value) == 1 else None


def _outer(a: Value, b: Value) -> bool:
    """Broadcasting a with b pairs every element of one with every element of the other."""
    if a.shape is None or b.shape is None:
        return False
    ra, rb = len(a.shape), len(b.shape)
    n = max(ra, rb)
    sa = (1,) * (n - ra) + tuple(a.shape)
    sb = (1,) * (n - rb) + tuple(b.shape)
    return all(x == 1 or y == 1 for x, y in zip(sa, sb))


# the ops whose output bounds follow from their inputs', and the ops that read bounds (index checks)
PROPAGATES = frozenset({"Range", "Identity", "Expand", "Cast", "Unsqueeze", "Squeeze", "Reshape", "Flatten",
                        "Transpose", "Tile", "Add", "Sub", "Mul", "Concat"})
CONSUMES = PROPAGATES | {"Gather", "GatherND"}


def propagate(op_type: str, attrs: dict, ins: List[Optional[Value]], in_bounds: List[Optional[Bounds]],
              out: Value) -> Optional[Bounds]:
    """Bounds of the (first) output of an integer op, or None."""
    if out is None or out.dtype not in _INT_TYPES:
        return None
    known = of_value(out)
    if known is not None:
        return known
    b0 = in_bounds[0] if in_bounds else None
    if op_type == "Range" and len(ins) >= 3:
        s, lim, d = (_scalar(x) for x in ins[:3])
        if s is None or lim is None or not isinstance(d, int) or d <= 0:
            return None
        # an empty range (lim <= s) has no element to index with: its (vacuous) bounds only loosen the checks
        return ((s, s + d * (ceildiv(lim - s, d) - 1)),)
    if op_type in ("Identity", "Expand", "Cast", "Unsqueeze", "Squeeze", "Reshape", "Flatten", "Transpose",
                   "Tile"):
        if b0 is None:
            return None
        if op_type in ("Identity", "Cast"):
            return b0
        if op_type == "Expand" and ins[0] is not None and out.shape and ins[0].shape and \
                len(b0) > 1 and ins[0].shape[-1] == out.shape[-1]:
            return b0
        return overall(b0)
    if op_type in ("Add", "Sub", "Mul") and len(ins) >= 2 and ins[0] is not None and ins[1] is not None:
        ba, bb = overall(in_bounds[0]), overall(in_bounds[1])
        if ba is None or bb is None or not _outer(ins[0], ins[1]):
            return None
        (la, ha), (lb, hb) = ba[0], bb[0]
        if op_type == "Add":
            return ((la + lb, ha + hb),)
        if op_type == "Sub":
            return ((la - hb, ha - lb),)
        if known_ge(la, 0) is True and known_ge(lb, 0) is True:  # Mul of non-negatives
            return ((la * lb, ha * hb),)
        return None
    if op_type == "Concat" and all(b is not None for b in in_bounds) and ins and \
            all(x is not None and x.shape for x in ins):
        r = len(out.shape or ())
        axis = attrs.get("axis", 0)
        axis = axis + r if axis < 0 else axis
        if axis == r - 1:  # components side by side
            comps: List[Tuple[MaybeDim, MaybeDim]] = []
            for x, b in zip(ins, in_bounds):
                k = x.shape[-1]
                if not isinstance(k, int) or len(comps) + k > _MAX_ELEMS:  # too many components to carry
                    return overall(tuple(p for b in in_bounds for p in b))
                if len(b) == k:
                    comps += list(b)
                elif isinstance(k, int) and len(b) == 1:
                    comps += [b[0]] * k
                else:
                    return None
            return tuple(comps)
        return overall(tuple(p for b in in_bounds for p in b))
    return None
