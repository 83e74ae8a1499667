"""Memory at a profile's max (the cost formulas: every activation's bytes, and the peak of live bytes along
the topological order, ``shapealg.cost.memory``), and the largest max that fits a memory limit."""
from __future__ import annotations

import re
from dataclasses import replace
from typing import Dict, List, Optional, Sequence, Tuple

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


_REPORTS: Dict[int, tuple] = {}


def _cost(a):
    hit = _REPORTS.get(id(a.result))
    if hit is not None and hit[0] is a.result:
        return hit[1]
    from ..cost import cost
    rep = cost(a)
    _REPORTS.clear()
    _REPORTS[id(a.result)] = (a.result, rep)
    return rep


def memory_at(a, envs: Sequence[Dict[str, int]]) -> List[Dict[str, Optional[int]]]:
    """Activation bytes (every value once) and peak live bytes at each size, from the cost formulas."""
    rep = _cost(a)
    rows = rep.series(list(envs))
    return [{"activation_bytes": r["activation_bytes"], "peak_bytes": r["peak_bytes"]} for r in rows]


def with_memory(a, profiles, weights: int):
    if not profiles:
        return profiles
    rows = memory_at(a, [p.point("max") for p in profiles])
    return [replace(p, memory={**r, "weights_bytes": weights}) for p, r in zip(profiles, rows)]


def fit_memory(a, profiles, combos, limit: int, weights: int, dom) -> Tuple[list, List[str]]:
    """Each profile's max lowered (every dynamic size scaled down together along min..max, snapped to the
    part's valid values) to the largest one whose peak live activations + weights fit ``limit``; a profile
    whose min does not fit is dropped, and said so."""
    from .parts import DimRange, describe_invalid
    from .profiles import input_specs, refinish
    specs = input_specs(a)
    out, notes = [], []

    def total(env):
        m = memory_at(a, [env])[0]
        return (m["peak_bytes"] or 0) + weights

    for p, combo in zip(profiles, combos):
        parts = {q.name: q for q in combo}
        if total(p.point("max")) <= limit:
            out.append(p)
            continue
        if total(p.point("min")) > limit:
            notes.append(f"profile {p.label()}: even its min needs {fmt_bytes(total(p.point('min')))} "
                         f"(peak activations + weights) > limit {fmt_bytes(limit)}: dropped")
            continue

        def at(t: float):
            return {d.name: parts[d.name].below(d.min + int(t * (d.max - d.min))) for d in p.dims}
        lo, hi = 0.0, 1.0
        for _ in range(30):
            mid = (lo + hi) / 2
            if total(at(mid)) <= limit:
                lo = mid
            else:
                hi = mid
        mx = at(lo)
        # then each size alone as far up as it fits (a batch can grow where the image cannot, and back)
        for d in p.dims:
            q = parts[d.name]
            v = mx[d.name]
            step = q.stride
            a_, b_ = v, d.max
            while a_ < b_:
                m = q.below(a_ + max(step, (b_ - a_) // 2 // step * step))
                if m <= a_:
                    break
                if total({**mx, d.name: m}) <= limit:
                    a_ = m
                else:
                    b_ = m - 1
            mx[d.name] = a_
        dims = []
        for d in p.dims:
            new_max = mx[d.name]
            n_ok, inv = describe_invalid(dom, d.name, d.min, new_max, d.stride)
            dims.append(DimRange(d.name, d.role, d.min, min(d.opt, new_max), new_max, d.stride, n_ok, inv))
        before = p.label()
        q = refinish(a, specs, p, tuple(dims),
                     notes=(f"max lowered from {', '.join(f'{d.name}={d.max}' for d in p.dims)} to fit "
                            f"{fmt_bytes(limit)}",))
        m = memory_at(a, [q.point("max")])[0]
        out.append(replace(q, memory={**m, "weights_bytes": weights}))
        notes.append(f"profile {before}: max lowered to {q.point('max')} to fit {fmt_bytes(limit)}")
    return [replace(p, index=i) for i, p in enumerate(out)], notes
