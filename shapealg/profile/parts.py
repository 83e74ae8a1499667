"""Profiles from the valid set: per dynamic size a range (min / opt / max) lying in the valid set.

Per symbol, the valid values inside the requested range are read from the domain's exact per-symbol sets
(``Domain.sets``; a symbol without one takes every size). They form

* one interval: one part, every size in it valid;
* one residue class of a period (``H % 16 == 0``): one *strided* part, min and max valid, the sizes between the
  multiples invalid (torch.export: ``16*Dim``);
* anything else (Swin's ``H % 32 < 4``, a finite set such as {224, 448}): one part per run of consecutive valid
  sizes.

A profile is one part per symbol (the product, nearest to the wanted opt first, up to ``max_profiles``); the parts
left out are named. When the valid set is not a product of per-symbol sets (``(H/2-2)*(W/2-2) == 12100``), the
valid points inside the box are the parts, one profile each. Every min / opt / max is checked with
``Domain.contains`` (exact integer evaluation) before it is returned.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Mapping, Sequence, Tuple

import numpy as np

from ..records import ShapealgError

Env = Dict[str, int]
BATCH_NAMES = {"n", "b", "batch", "batch_size", "batchsize", "bs"}
MAX_GRID = 250_000   # points of a box enumerated when the valid set is not a product


@dataclass(frozen=True)
class Part:
    """A set of valid values of one symbol: ``lo..hi`` step ``stride`` (every listed value valid)."""
    name: str
    lo: int
    hi: int
    stride: int = 1

    @property
    def count(self) -> int:
        return (self.hi - self.lo) // self.stride + 1

    def contains(self, v: int) -> bool:
        return self.lo <= v <= self.hi and (v - self.lo) % self.stride == 0

    def nearest(self, v: int) -> int:
        if v <= self.lo:
            return self.lo
        if v >= self.hi:
            return self.hi
        k = round((v - self.lo) / self.stride)
        return self.lo + k * self.stride

    def below(self, v: int) -> int:
        """The largest value of the part <= v (lo when none)."""
        if v <= self.lo:
            return self.lo
        return self.lo + (min(v, self.hi) - self.lo) // self.stride * self.stride

    def text(self) -> str:
        if self.lo == self.hi:
            return f"{self.name} = {self.lo}"
        if self.stride == 1:
            return f"{self.name} in {self.lo}..{self.hi}"
        return f"{self.name} in {self.lo}..{self.hi} step {self.stride}"


@dataclass(frozen=True)
class DimRange:
    """One symbol in one profile: min / opt / max, and what lies between."""
    name: str
    role: str          # batch / spatial / sequence
    min: int
    opt: int
    max: int
    stride: int        # valid values are min + k*stride (1: every size in min..max)
    valid_count: int   # valid sizes in min..max
    invalid: str       # '' when every size in min..max is valid, else which ones are not

    @property
    def total(self) -> int:
        return self.max - self.min + 1

    def to_json(self) -> dict:
        return {"symbol": self.name, "role": self.role, "min": self.min, "opt": self.opt, "max": self.max,
                "stride": self.stride, "valid_sizes": self.valid_count, "sizes": self.total,
                "invalid": self.invalid or None}


def symbol_values(dom, name: str, lo: int, hi: int) -> np.ndarray:
    """The valid values of ``name`` in lo..hi according to its exact set (every size when it has none)."""
    s = dom.sets.get(name)
    if s is None:
        return np.arange(lo, hi + 1, dtype=np.int64)
    v = s.values_upto(hi)
    return v[v >= lo]


def valid_in(dom, name: str, lo: int, hi: int, stride: int = 1) -> np.ndarray:
    """The valid values of ``name`` in lo..hi on the stride from lo."""
    v = symbol_values(dom, name, lo, hi)
    return v[(v - lo) % stride == 0] if stride > 1 else v


def nearest_valid(dom, name: str, lo: int, hi: int, stride: int, v: int) -> int:
    """The valid value of lo..hi (on the stride) nearest to v (the smaller on a tie); lo when there is none."""
    vals = valid_in(dom, name, lo, hi, stride)
    if not len(vals):
        return lo
    i = int(np.argmin(np.abs(vals - v) * 2 + (vals > v)))
    return int(vals[i])


def below_valid(dom, name: str, lo: int, hi: int, stride: int, v: int) -> int:
    """The largest valid value of lo..min(v, hi) (on the stride); lo when there is none."""
    vals = valid_in(dom, name, lo, min(max(v, lo), hi), stride)
    return int(vals[-1]) if len(vals) else lo


def _runs(vals: np.ndarray) -> List[Tuple[int, int]]:
    if not len(vals):
        return []
    cut = np.flatnonzero(np.diff(vals) != 1)
    starts = np.concatenate([[0], cut + 1])
    ends = np.concatenate([cut, [len(vals) - 1]])
    return [(int(vals[a]), int(vals[b])) for a, b in zip(starts, ends)]


def symbol_parts(dom, name: str, lo: int, hi: int, cover: bool = False) -> Tuple[List[Part], str]:
    """(the parts of ``name``'s valid values in lo..hi, the words for the invalid sizes between them)."""
    vals = symbol_values(dom, name, lo, hi)
    if not len(vals):
        return [], ""
    s = dom.sets.get(name)
    first, last = int(vals[0]), int(vals[-1])
    runs = _runs(vals)
    if len(runs) == 1:
        return [Part(name, first, last)], ""
    steps = np.unique(np.diff(vals))
    if len(steps) == 1 and all(a == b for a, b in runs):  # one residue class: a strided part
        st = int(steps[0])
        return [Part(name, first, last, st)], f"{name} % {st} != {first % st}"
    words = " and ".join(s.describe()) if s is not None else ""
    if cover:
        return [Part(name, first, last, 1)], f"sizes outside {words}" if words else "some sizes"
    return [Part(name, a, b) for a, b in runs], words


def describe_invalid(dom, name: str, lo: int, hi: int, stride: int) -> Tuple[int, str]:
    """(valid sizes in lo..hi, the words for the invalid ones) of one symbol."""
    vals = symbol_values(dom, name, lo, hi)
    n = len(vals)
    total = hi - lo + 1
    if n == total:
        return n, ""
    bad = sorted(set(range(lo, hi + 1)) - set(int(v) for v in vals)) if total <= 4096 else []
    if stride > 1 and n == (hi - lo) // stride + 1:
        head = f"{name} % {stride} != {lo % stride}"
    else:
        s = dom.sets.get(name)
        head = "not " + " and ".join(s.describe()) if s is not None else "some sizes"
    listed = ""
    if bad and len(bad) <= 8:
        listed = ": " + ", ".join(map(str, bad))
    return n, f"{head} ({total - n} of {total} sizes{listed})"


def is_product(dom, names: Sequence[str], boxes: Mapping[str, Tuple[int, int]], seed: int = 0) -> bool:
    """Whether the valid set inside the box is the product of the per-symbol sets (checked exactly at sampled
    points of that product: a joint condition, such as a product of H and W, shows as a failing point)."""
    vals = {n: symbol_values(dom, n, *boxes[n]) for n in names}
    if any(not len(v) for v in vals.values()):
        return True
    rng = np.random.default_rng(seed)
    envs = []
    corners = [{n: int(v[0]) for n, v in vals.items()}, {n: int(v[-1]) for n, v in vals.items()}]
    envs += corners
    for _ in range(64):
        envs.append({n: int(v[rng.integers(len(v))]) for n, v in vals.items()})
    return all(dom.contains(e) for e in envs)


def joint_points(dom, names: Sequence[str], boxes: Mapping[str, Tuple[int, int]], fixed: Mapping[str, int],
                 limit: int = MAX_GRID) -> List[Tuple[int, ...]]:
    """Every valid point of the box over ``names`` (the other sizes at ``fixed``): a finite valid set's points,
    or the box enumerated when it is small enough."""
    names = list(names)
    if dom.finite_set and tuple(dom.finite_symbols) and set(dom.finite_symbols) == set(names):
        idx = [list(dom.finite_symbols).index(n) for n in names]
        pts = [tuple(int(t[i]) for i in idx) for t in dom.finite_set]
        pts = [p for p in pts if all(boxes[n][0] <= v <= boxes[n][1] for n, v in zip(names, p))]
        return [p for p in pts if dom.contains({**fixed, **dict(zip(names, p))})]
    n_pts = 1
    for n in names:
        n_pts *= boxes[n][1] - boxes[n][0] + 1
    if n_pts > limit:
        raise ShapealgError(f"the valid set of {', '.join(names)} is not a product of per-size ranges and the box "
                            f"holds {n_pts} sizes (over {limit}): give a smaller --range")
    grids = np.meshgrid(*[np.arange(boxes[n][0], boxes[n][1] + 1) for n in names], indexing="ij")
    pts = [tuple(map(int, t)) for t in zip(*[g.ravel() for g in grids])]
    envs = [{**fixed, **dict(zip(names, p))} for p in pts]
    blocked = dom.blocking_many(envs) if envs else []
    return [p for p, e, b in zip(pts, envs, blocked) if b is None and dom.contains(e)]


def rectangles(points: Sequence[Tuple[int, ...]]) -> List[Tuple[Tuple[int, int], ...]]:
    """The points covered by boxes whose every point is one of them (greedy: from the smallest point, grown
    along each axis in turn while the whole new face is in the set)."""
    import itertools
    S = set(points)
    used = set()
    out = []
    for p in sorted(S):
        if p in used:
            continue
        lo, hi = list(p), list(p)
        for ax in range(len(p)):
            while True:
                face = [range(lo[k], hi[k] + 1) if k != ax else (hi[ax] + 1,) for k in range(len(p))]
                cells = list(itertools.product(*face))
                if all(c in S and c not in used for c in cells):
                    hi[ax] += 1
                else:
                    break
        used.update(itertools.product(*[range(a, b + 1) for a, b in zip(lo, hi)]))
        out.append(tuple(zip(lo, hi)))
    return out
