"""Memory at a profile's max (the cost formulas: every activation's bytes, and the peak of live bytes along
the topological order, ``shapealg.cost.memory``), and the largest max that fits a memory limit."""
from __future__ import annotations

import re
from dataclasses import replace
from typing import Dict, List, Optional, Sequence

from ..records import ShapealgError

_UNITS = {"": 1, "b": 1, "k": 10 ** 3, "kb": 10 ** 3, "m": 10 ** 6, "mb": 10 ** 6, "g": 10 ** 9, "gb": 10 ** 9,
          "t": 10 ** 12, "tb": 10 ** 12, "kib": 2 ** 10, "mib": 2 ** 20, "gib": 2 ** 30, "tib": 2 ** 40}


def parse_bytes(text: str) -> int:
    """``8GiB``, ``512MiB``, ``1.5GB``, ``1000000`` -> bytes."""
    m = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([A-Za-z]*)\s*", str(text))
    if not m or m.group(2).lower() not in _UNITS:
        raise ShapealgError(f"memory limit {text!r}: expected e.g. 8GiB, 512MiB, 2GB or a number of bytes")
    v = int(float(m.group(1)) * _UNITS[m.group(2).lower()])
    if v <= 0:
        raise ShapealgError(f"memory limit {text!r}: must be > 0")
    return v


def fmt_bytes(n: Optional[int]) -> str:
    if n is None:
        return "?"
    for unit, k in (("GiB", 2 ** 30), ("MiB", 2 ** 20), ("KiB", 2 ** 10)):
        if abs(n) >= k:
            return f"{n / k:.1f} {unit}"
    return f"{n} B"


class _Memory:
    """Bytes of every activation at a size and the peak of live bytes (``cost.memory.Liveness``, the sweep the cost
    report's peak formula is made of), from every value's shape evaluated exactly (``validate``'s Evaluator,
    compiled once per analysis): the same numbers as ``CostReport.series`` without compiling formulas per call."""

    def __init__(self, a):
        from ..cost.memory import DTYPE_BYTES, Liveness
        from ..validate.evaluator import evaluator_for
        self.live = Liveness(a.result)
        self.ev = evaluator_for(a)
        vals = a.result.values
        self.size = {}
        for name in self.live.bytes:
            v = vals.get(name)
            dt = v.dtype if v is not None else None
            if dt in DTYPE_BYTES:
                self.size[name] = DTYPE_BYTES[dt]
        self.symbols = list(a.result.symbols)

    def at(self, env: Dict[str, int]) -> Dict[str, Optional[int]]:
        import math
        env = {**{s: 1 for s in self.symbols}, **env}
        _, shape = self.ev.shapes_at(env)
        by = {}
        for name, k in self.size.items():
            shp = shape(name)
            if shp is None or any(type(d) is not int for d in shp):
                continue
            n = 1
            for d in shp:
                n *= max(d, 0)
            by[name] = int(math.ceil(n * k))
        peak, _ = self.live.peak_at(by)
        return {"activation_bytes": int(sum(by.values())), "peak_bytes": int(peak)}


_MEMO: Dict[int, tuple] = {}


def memory_at(a, envs: Sequence[Dict[str, int]]) -> List[Dict[str, Optional[int]]]:
    """Activation bytes (every value once) and peak live bytes at each size."""
    hit = _MEMO.get(id(a.result))
    if hit is None or hit[0] is not a.result:
        _MEMO.clear()
        hit = _MEMO[id(a.result)] = (a.result, _Memory(a))
    return [hit[1].at(dict(e)) for e in envs]


def with_memory(a, profiles, weights: int):
    if not profiles:
        return profiles
    rows = memory_at(a, [p.point("max") for p in profiles])
    return [replace(p, memory={**r, "weights_bytes": weights}) for p, r in zip(profiles, rows)]


def fit_max(a, p, limit: int, weights: int, dom) -> Optional[Dict[str, int]]:
    """The largest max of profile ``p`` whose peak live activations + weights fit ``limit``: every dynamic size
    scaled down together along min..max (snapped to valid values on the profile's stride), then each one alone
    as far back up as it fits. ``p``'s own max when it fits; None when even its min does not."""
    from .parts import below_valid

    def total(env):
        m = memory_at(a, [env])[0]
        return (m["peak_bytes"] or 0) + weights

    if total(p.point("max")) <= limit:
        return p.point("max")
    if total(p.point("min")) > limit:
        return None

    def at(t: float):
        return {d.name: below_valid(dom, d.name, d.min, d.max, d.stride, d.min + int(t * (d.max - d.min)))
                for d in p.dims}
    lo, hi = 0.0, 1.0
    for _ in range(30):
        mid = (lo + hi) / 2
        if total(at(mid)) <= limit:
            lo = mid
        else:
            hi = mid
    mx = at(lo)
    for d in p.dims:  # each size alone as far up as it fits (a batch can grow where the image cannot)
        step = d.stride
        a_, b_ = mx[d.name], d.max
        while a_ < b_:
            m = below_valid(dom, d.name, d.min, d.max, step, min(b_, a_ + max(step, (b_ - a_) // 2 // step * step)))
            if m <= a_:
                break
            if total({**mx, d.name: m}) <= limit:
                a_ = m
            else:
                b_ = m - 1
        mx[d.name] = a_
    return mx
