"""The exact set of valid values of one symbol (lower bound, period and residues, exceptions) and its words."""
from __future__ import annotations

import bisect
from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

import numpy as np
import sympy

from ..dims import symbol

# ---------------------------------------------------------------- per-symbol sets

def _divisors(n: int) -> List[int]:
    small, big = [], []
    i = 1
    while i * i <= n:
        if n % i == 0:
            small.append(i)
            if i * i != n:
                big.append(n // i)
        i += 1
    return small + big[::-1]


def _runs(values: Sequence[int]) -> List[Tuple[int, int]]:
    out: List[Tuple[int, int]] = []
    for v in values:
        if out and v == out[-1][1] + 1:
            out[-1] = (out[-1][0], v)
        else:
            out.append((v, v))
    return out


def _fmt_values(name: str, values: Sequence[int], limit: int = 6) -> str:
    runs = _runs(values)
    if len(runs) == 1:
        a, b = runs[0]
        return f"{name} = {a}" if a == b else f"{name} in {a}..{b}"
    parts = [f"{a}" if a == b else f"{a}..{b}" for a, b in runs[:limit]]
    more = ", ..." if len(runs) > limit else ""
    return f"{name} in {{{', '.join(parts)}{more}}}"


def finite_pattern(values: Sequence[int]) -> Optional[Tuple[int, int, int, int, int]]:
    """A finite set of at least 3 runs as (lo, hi, M, a, b): exactly the h in lo..hi with a <= h % M <= b
    (swin at a fixed 224: 28..227 with H % 28 < 4); None when it is not one. An inner run is a whole run of
    residues, so M can only be the distance between the starts of the 2nd and 3rd runs."""
    vals = sorted(set(values))
    runs = _runs(vals)
    if len(runs) < 3:
        return None
    lo, hi = vals[0], vals[-1]
    M = runs[2][0] - runs[1][0]
    a, b = runs[1][0] % M, runs[1][1] % M
    if b < a:  # a run of residues wrapping past M - 1: not one interval
        return None
    present = set(vals)
    want = [h for h in range(lo, hi + 1) if a <= h % M <= b]
    if len(want) != len(vals) or any(h not in present for h in want):
        return None
    return lo, hi, M, a, b


def _residue_words(n: str, M: int, a: int, b: int) -> str:
    if a == b:
        return f"{n} % {M} == {a}"
    if a == 0:
        return f"{n} % {M} < {b + 1}"
    if b == M - 1:
        return f"{n} % {M} >= {a}"
    return f"{n} % {M} in {a}..{b}"


@dataclass(frozen=True)
class SymbolSet:
    """An eventually periodic set of sizes: ``below`` (the valid values < start) plus every
    ``h >= start`` with ``h % period in residues``. Finite when ``residues`` is empty."""
    name: str
    below: Tuple[int, ...]
    start: int
    period: int
    residues: Tuple[int, ...]
    exact: bool = True

    @property
    def is_empty(self) -> bool:
        return not self.below and not self.residues

    @property
    def is_finite(self) -> bool:
        return not self.residues

    @property
    def minimum(self) -> Optional[int]:
        if self.below:
            return self.below[0]
        if not self.residues:
            return None
        return min(self.start + ((r - self.start) % self.period) for r in self.residues)

    @property
    def is_upward(self) -> bool:
        """Every size from the minimum on (only a lower bound)."""
        if self.is_empty or self.period != 1 or not self.residues:
            return False
        m = self.minimum
        return self.below == tuple(range(m, self.start))

    def contains(self, h: int) -> bool:
        if h < self.start:
            return h in self._below_set
        return (h % self.period) in self._res_set

    @property
    def _below_set(self):
        return frozenset(self.below)

    @property
    def _res_set(self):
        return frozenset(self.residues)

    def values_upto(self, n: int) -> np.ndarray:
        below = np.asarray([b for b in self.below if b <= n], dtype=np.int64)
        if n < self.start or not self.residues:
            return below
        tail = np.arange(self.start, n + 1, dtype=np.int64)
        if self.period > 1:
            tail = tail[np.isin(tail % self.period, np.asarray(self.residues, dtype=np.int64))]
        return np.concatenate([below, tail])

    def count(self) -> Optional[int]:
        return len(self.below) if self.is_finite else None

    def nearest(self, x: int, k: int) -> List[int]:
        cands = set()
        i = bisect.bisect_left(self.below, x)
        cands.update(self.below[max(0, i - k): i + k])
        if self.residues:
            M = self.period
            for r in self.residues:
                up = max(x, self.start)
                up += (r - up) % M
                for j in range(k):
                    cands.add(up + j * M)
                dn = x - ((x - r) % M)
                j = 0
                while dn >= self.start and j < k:
                    cands.add(dn)
                    dn -= M
                    j += 1
        return sorted(cands, key=lambda h: (abs(h - x), h))[:k]

    def describe(self) -> List[str]:
        """Plain-words pieces, e.g. ['H % 32 == 0', 'H >= 32']."""
        n = self.name
        if self.is_empty:
            return [f"no {n}"]
        if self.is_finite:
            pat = finite_pattern(self.below) if len(_runs(self.below)) > 2 else None
            if pat is not None:
                lo, hi, M, a, b = pat
                return [f"{n} in {lo}..{hi} with {_residue_words(n, M, a, b)}"]
            return [_fmt_values(n, self.below)]
        if self.is_upward:
            return [f"{n} >= {self.minimum}"]
        M, R = self.period, self.residues
        lb = self.minimum
        parts = []
        if M > 1:
            if len(R) == 1:
                parts.append(f"{n} % {M} == {R[0]}")
            elif len(R) == M - 1 and M > 2:
                miss = sorted(set(range(M)) - set(R))[0]
                parts.append(f"{n} % {M} != {miss}")
            elif tuple(R) == tuple(range(len(R))):
                parts.append(f"{n} % {M} < {len(R)}")
            elif tuple(R) == tuple(range(R[0], M)):
                parts.append(f"{n} % {M} >= {R[0]}")
            elif len(_runs(R)) < len(R):
                parts.append(f"{n} % {M} in {{{', '.join(f'{a}..{b}' if a < b else str(a) for a, b in _runs(R))}}}")
            else:
                parts.append(f"{n} % {M} in {{{', '.join(map(str, R))}}}")
        if lb > 1:
            parts.append(f"{n} >= {lb}")
        missing, extra = self._exceptions()
        if extra:
            parts.append("also " + _fmt_values(n, extra))
        if missing:
            parts.append("except " + _fmt_values(n, missing))
        return parts

    def _exceptions(self) -> Tuple[List[int], List[int]]:
        """Values in [minimum, start) where the set differs from 'periodic pattern and >= minimum'."""
        lb = self.minimum
        res = self._res_set
        below = self._below_set
        missing, extra = [], []
        for h in range(lb, self.start):
            p = (h % self.period) in res
            if p and h not in below:
                missing.append(h)
            elif h in below and not p:
                extra.append(h)
        return missing, extra

    def as_condition(self) -> Optional[sympy.Basic]:
        """An exact sympy boolean for this set, or None when it would be long."""
        s = symbol(self.name)
        if self.is_empty:
            return sympy.false
        if self.is_finite:
            runs = _runs(self.below)
            pat = finite_pattern(self.below) if len(runs) > 2 else None
            if pat is not None:  # lo <= s <= hi with a <= s % M <= b
                lo, hi, M, a, b = pat
                r = sympy.Mod(s, M)
                res = [sympy.Eq(r, a)] if a == b else ([r >= a] if a else []) + ([r < b + 1] if b < M - 1 else [])
                return sympy.And(s >= lo, s <= hi, *res)
            if len(runs) > 8:
                return None
            return sympy.Or(*[sympy.Eq(s, a) if a == b else sympy.And(s >= a, s <= b) for a, b in runs])
        missing, extra = self._exceptions()
        prefix = tuple(self.residues) == tuple(range(len(self.residues)))
        suffix = bool(self.residues) and tuple(self.residues) == tuple(range(self.residues[0], self.period))
        if len(missing) + len(extra) > 8 or (self.period > 1 and len(self.residues) > 4 and not (prefix or suffix)):
            return None
        M = self.period
        base = [s >= self.minimum] if self.minimum > 1 else []
        if M > 1 and len(self.residues) < M:
            if len(self.residues) == M - 1 and M > 2:
                miss = sorted(set(range(M)) - set(self.residues))[0]
                base.append(sympy.Ne(sympy.Mod(s, M), miss))
            elif prefix and len(self.residues) > 1:
                base.append(sympy.Lt(sympy.Mod(s, M), len(self.residues)))
            elif suffix and len(self.residues) > 1:
                base.append(sympy.Ge(sympy.Mod(s, M), self.residues[0]))
            else:
                base.append(sympy.Or(*[sympy.Eq(sympy.Mod(s, M), r) for r in self.residues]))
        base += [sympy.Ne(s, m) for m in missing]
        cond = sympy.And(*base) if base else sympy.true
        if extra:
            cond = sympy.Or(cond, *[sympy.Eq(s, e) for e in extra])
        return cond


def canonical_set(name: str, ok: np.ndarray, T: int, M: int, exact: bool = True) -> SymbolSet:
    """``ok[h-1]`` is the truth at h for h in [1, T+M); for h >= T it repeats with period M."""
    n = len(ok)
    assert n >= T + M - 1
    R = [r for r in range(M) if ok[T + ((r - T) % M) - 1]]
    d = M
    for cand in _divisors(M):
        Rd = {r % cand for r in R}
        if all(((r % cand) in Rd) == (r in set(R)) for r in range(M)):
            d = cand
            break
    Rd = sorted({r % d for r in R})
    rs = set(Rd)
    start = T
    if Rd:
        while start > 1 and bool(ok[start - 2]) == (((start - 1) % d) in rs):
            start -= 1
    else:
        idx = np.flatnonzero(ok[:T - 1]) if T > 1 else np.array([], dtype=np.int64)
        start = int(idx[-1]) + 2 if len(idx) else 1
        d = 1
    start = max(start, 1)
    below = tuple(int(i) + 1 for i in np.flatnonzero(ok[:start - 1]))
    return SymbolSet(name, below, start, d, tuple(Rd), exact)
