"""Structure of one-symbol expressions: floor slopes, periods, thresholds past which truth is periodic, monotonicity, exact lower bounds."""
from __future__ import annotations

import math
from fractions import Fraction
from typing import Optional, Tuple

from .budget import charged, check
from .ir import Unsupported, cbool, cexpr

_MAX_PERIOD = 1 << 16  # largest period scanned residue by residue

# ---------------------------------------------------------------- structure: periods, monotonicity



def symbols_in(node, out: set) -> set:
    k = node[0]
    if k == 'sym':
        out.add(node[1])
    elif k in ('add', 'mul', 'max', 'min', 'and', 'or'):
        for c in node[1]:
            symbols_in(c, out)
    elif k in ('pow', 'floor', 'not'):
        symbols_in(node[1], out)
    elif k == 'fdiv':
        symbols_in(node[1], out)
        symbols_in(node[2], out)
    elif k == 'fsqrt':
        symbols_in(node[3], out)
    elif k == 'rel':
        symbols_in(node[2], out)
    elif k == 'pw':
        for v, c in node[1]:
            symbols_in(v, out)
            symbols_in(c, out)
    return out


def _padd(a, b):
    n = max(len(a), len(b))
    return [(a[i] if i < len(a) else 0) + (b[i] if i < len(b) else 0) for i in range(n)]


def _pmul(a, b):
    out = [Fraction(0)] * (len(a) + len(b) - 1)
    for i, x in enumerate(a):
        if x:
            for j, y in enumerate(b):
                out[i + j] += x * y
    return out


def _trim(p):
    p = list(p)
    while len(p) > 1 and p[-1] == 0:
        p.pop()
    return p


def lin(node, slopes: list):
    """Polynomial (list of Fractions) of ``node`` in its one symbol with every floor dropped, or None
    where that is not defined (Max / Piecewise); collects the slope of every floor argument."""
    k = node[0]
    if k == 'const':
        return [node[1]]
    if k == 'sym':
        return [Fraction(0), Fraction(1)]
    if k == 'add':
        out = [Fraction(0)]
        for c in node[1]:
            p = lin(c, slopes)
            if p is None:
                out = None
            elif out is not None:
                out = _padd(out, p)
        return None if out is None else _trim(out)
    if k == 'mul':
        out = [Fraction(1)]
        for c in node[1]:
            p = lin(c, slopes)
            if p is None:
                out = None
            elif out is not None:
                out = _pmul(out, p)
        return None if out is None else _trim(out)
    if k == 'pow':
        p = lin(node[1], slopes)
        if p is None:
            return None
        out = [Fraction(1)]
        for _ in range(node[2]):
            out = _pmul(out, p)
        return _trim(out)
    if k == 'floor':
        p = lin(node[1], slopes)
        if p is None or len(p) > 2:
            raise Unsupported("floor of a non-linear argument")
        if len(p) == 2:
            slopes.append(p[1])
        return p
    if k in ('max', 'min', 'pw'):
        # only the slopes matter here: branches of one common slope give a representative
        polys = []
        for c in (node[1] if k != 'pw' else [v for v, _ in node[1]]):
            polys.append(lin(c, slopes))
        if k == 'pw':
            for _, c in node[1]:
                _blin(c, slopes)
        if any(p is None or len(p) > 2 for p in polys):
            return None
        if len({(p[1] if len(p) == 2 else Fraction(0)) for p in polys}) != 1:
            if k == 'pw':
                return None
            # Max / Min of lines: from some size on, the line with the largest (smallest) slope is the value
            # (the threshold is found where the periods are checked, _qpoly), so its slope is the one that
            # repeats: Min(1, floor(H/4)) is 1 for H >= 4
            pick = max if k == 'max' else min
            return pick(polys, key=lambda p: (p[1] if len(p) == 2 else Fraction(0), p[0]))
        return polys[0]
    raise Unsupported(k)


def _blin(node, slopes: list) -> None:
    k = node[0]
    if k == 'rel':
        lin(node[2], slopes)
    elif k in ('and', 'or'):
        for c in node[1]:
            _blin(c, slopes)
    elif k == 'not':
        _blin(node[1], slopes)


def _period(bnode) -> int:
    slopes: list = []
    _blin(bnode, slopes)
    m = 1
    for s in slopes:
        d = Fraction(s).denominator
        m = m * d // math.gcd(m, d)
    return m


def _cauchy(p) -> int:
    """q beyond which the polynomial p (in q >= 0) keeps the sign of its leading coefficient."""
    p = _trim(p)
    if len(p) <= 1:
        return 0
    lead = abs(p[-1])
    return int(math.floor(1 + max(abs(c) / lead for c in p[:-1]))) + 1


def _qpoly(node, M: int, r: int, thr: list):
    """``node`` with its symbol = M*q + r, as a polynomial in q (exact; thr collects q-thresholds
    of decisions taken inside: Piecewise conditions and Max / Min)."""
    k = node[0]
    if k == 'const':
        return [node[1]]
    if k == 'sym':
        return [Fraction(r), Fraction(M)]
    if k == 'add':
        out = [Fraction(0)]
        for c in node[1]:
            out = _padd(out, _qpoly(c, M, r, thr))
        return _trim(out)
    if k == 'mul':
        out = [Fraction(1)]
        for c in node[1]:
            out = _pmul(out, _qpoly(c, M, r, thr))
        return _trim(out)
    if k == 'pow':
        p = _qpoly(node[1], M, r, thr)
        out = [Fraction(1)]
        for _ in range(node[2]):
            out = _pmul(out, p)
        return _trim(out)
    if k == 'floor':
        p = _qpoly(node[1], M, r, thr)
        if len(p) > 2 or (len(p) == 2 and p[1].denominator != 1):
            raise Unsupported("period too small for a floor")  # cannot happen with _period's M
        return [Fraction(math.floor(p[0]))] + p[1:]
    if k in ('max', 'min'):
        polys = [_qpoly(c, M, r, thr) for c in node[1]]
        best = polys[0]
        for p in polys[1:]:
            diff = _trim(_padd(p, [-c for c in best]))
            thr.append(_cauchy(diff))
            sign = (diff[-1] > 0) - (diff[-1] < 0)
            if (k == 'max' and sign > 0) or (k == 'min' and sign < 0):
                best = p
        return best
    if k == 'pw':
        for v, c in node[1]:
            if _eventual(c, M, r, thr):
                return _qpoly(v, M, r, thr)
        raise Unsupported("Piecewise with no branch taken")
    raise Unsupported(k)


def _eventual(bnode, M: int, r: int, thr: list) -> bool:
    """Truth of a boolean for all large q (H = M*q + r); thr collects the q from which it holds."""
    k = bnode[0]
    if k == 'bool':
        return bnode[1]
    if k == 'rel':
        p = _trim(_qpoly(bnode[2], M, r, thr))
        thr.append(_cauchy(p))
        s = (p[-1] > 0) - (p[-1] < 0)
        return {'==': s == 0, '!=': s != 0, '>=': s >= 0, '>': s > 0, '<=': s <= 0, '<': s < 0}[bnode[1]]
    if k == 'and':
        return all([_eventual(c, M, r, thr) for c in bnode[1]])
    if k == 'or':
        return any([_eventual(c, M, r, thr) for c in bnode[1]])
    if k == 'not':
        return not _eventual(bnode[1], M, r, thr)
    raise Unsupported(k)


@charged
def periodic_info(bnode) -> Tuple[int, int]:
    """(period M, threshold T): for H >= T the atom's truth depends only on H mod M."""
    M = _period(bnode)
    if M > _MAX_PERIOD:  # 2**64 from 64 stride-2 ceil pools: not scannable, use the bounded fallback
        raise Unsupported(f"period {M}")
    Q = 0
    for r in range(M):
        check()
        thr: list = []
        _eventual(bnode, M, r, thr)
        Q = max([Q] + thr)
    return M, M * Q


def mono(node) -> Optional[int]:
    """+1 non-decreasing, -1 non-increasing, 0 constant, None unknown (in the one symbol)."""
    k = node[0]
    if k == 'const':
        return 0
    if k == 'sym':
        return 1
    if k == 'floor':
        return mono(node[1])
    if k in ('add', 'max', 'min'):
        ds = {mono(c) for c in node[1]}
        if None in ds or (1 in ds and -1 in ds):
            return None
        return 1 if 1 in ds else (-1 if -1 in ds else 0)
    if k == 'mul':
        const = Fraction(1)
        var = []
        for c in node[1]:
            if c[0] == 'const':
                const *= c[1]
            else:
                var.append(c)
        if not var:
            return 0
        if len(var) > 1:
            return None
        d = mono(var[0])
        if d is None:
            return None
        return d if const > 0 else (-d if const < 0 else 0)
    return None


def slope_of(node) -> Optional[Fraction]:
    try:
        p = lin(node, [])
    except Unsupported:
        return None
    if p is None or len(p) > 2:
        return None
    return p[1] if len(p) == 2 else Fraction(0)


def lower_bound_of(bnode, name: str) -> Optional[int]:
    """h0 with atom <=> name >= h0 exactly, when the atom is a monotone lower bound; else None."""
    if bnode[0] != 'rel':
        return None
    op, d = bnode[1], bnode[2]
    m = mono(d)
    sl = slope_of(d)
    if m is None or sl is None:
        return None
    if op in ('>=', '>') and m == 1 and sl > 0:
        pass
    elif op in ('<=', '<') and m == -1 and sl < 0:
        pass
    else:
        return None
    f = cbool(bnode)
    if f({name: 1}):
        return 1
    hi = 2
    while not f({name: hi}):
        hi *= 2
        if hi > 2 ** 62:
            return None
    lo = hi // 2  # f(lo) false, f(hi) true
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if f({name: mid}):
            hi = mid
        else:
            lo = mid
    return hi


def largest_with_value_at_most(g, name: str, vmax, start: int) -> int:
    """Largest h >= start with g(h) <= vmax for g non-decreasing and unbounded (start - 1 if none)."""
    f, d = cexpr(g)

    def ok(h):
        return f({name: h}) <= vmax * d

    if not ok(start):
        return start - 1
    lo, hi = start, start + 1
    while ok(hi):
        lo, hi = hi, hi * 2
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if ok(mid):
            lo = mid
        else:
            hi = mid
    return lo
