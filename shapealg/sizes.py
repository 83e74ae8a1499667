"""Concrete sizes given by a user (``448x448``, ``H=448,W=320``) as environments for the symbols,
and the per-size verdict that ``shapealg check`` reports."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

from .records import Constraint, ShapealgError
from .zero_sizes import domain_at


def spatial_symbols(analysis) -> List[str]:
    """The symbols a ``448x448`` size fills: the symbolic trailing dims of the first image-like input."""
    syms = analysis.symbols
    for gi in analysis.result.graph.inputs:
        if gi.shape is None:
            continue
        names = [str(d) for d in gi.shape[2:] if d is not None and not isinstance(d, int) and d.is_Symbol]
        if names:
            return names
    return list(syms)


def parse_size_text(text: str, spatial: Sequence[str], names: Sequence[str], what: str = "--size",
                    zero_ok: Sequence[str] = ()) -> Dict[str, int]:
    """``448x448`` (the spatial symbols in order) or ``H=448,W=448``: the sizes it names, each a symbol of
    ``names`` and >= 1 (or 0 for a symbol of ``zero_ok``: the analysis's faces at 0, ``Analysis.zero_faces``);
    a one-line ShapealgError naming ``what`` otherwise."""
    t = text.strip()
    env: Dict[str, int] = {}
    try:
        if "=" in t:
            for part in t.split(","):
                k, v = part.split("=")
                env[k.strip()] = int(v)
        else:
            nums = [int(p) for p in re.split(r"[x,X*]", t)]
            if len(nums) != len(spatial):
                raise ShapealgError(f"{what} {text!r}: expected {len(spatial)} numbers "
                                    f"({'x'.join(spatial) or 'no spatial symbols'})")
            env = dict(zip(spatial, nums))
    except ValueError:
        raise ShapealgError(f"{what} {text!r}: expected e.g. 448x448 or H=448,W=448") from None
    unknown = [k for k in env if k not in names]
    if unknown:
        raise ShapealgError(f"{what} {text!r}: the model has no symbol {unknown[0]!r} (symbols: {list(names)})")
    bad = [k for k, v in env.items() if v < 1 and not (v == 0 and k in zero_ok)]
    if bad:
        raise ShapealgError(f"{what} {text!r}: {bad[0]} must be >= 1" +
                            (f" (only {', '.join(zero_ok)} may be 0)" if zero_ok else ""))
    if sum(1 for v in env.values() if v == 0) > 1:
        raise ShapealgError(f"{what} {text!r}: one size at 0 at a time is analysed")
    return env


def parse_size(text: str, spatial: Sequence[str], all_symbols: Sequence[str],
               zero_ok: Sequence[str] = ()) -> Dict[str, int]:
    env = parse_size_text(text, spatial, all_symbols, zero_ok=zero_ok)
    for s in all_symbols:  # symbols the size does not name (batch...) default to 1
        env.setdefault(s, 1)
    return env


@dataclass(frozen=True)
class SizeCheck:
    size: Dict[str, int]
    valid: bool
    blocking: Optional[Constraint]
    nearest: Tuple[Dict[str, int], ...]

    def to_json(self) -> dict:
        b = self.blocking
        return {"size": self.size, "valid": self.valid,
                "blocking": None if b is None else {"node": b.node, "op_type": b.op_type,
                                                    "condition": str(b.condition), "reason": b.reason},
                "nearest_valid": list(self.nearest)}


def check_sizes(analysis, envs: Sequence[Dict[str, int]], k: int = 3) -> List[SizeCheck]:
    out = []
    verdict_dom = getattr(analysis, "verdict_domain", analysis.domain)  # a torch module's own set when it differs
    for env in envs:
        try:  # a size at 0: the face's domain over the other sizes
            dom, at = domain_at(verdict_dom, getattr(analysis, "zero_faces", ()), env)
        except ValueError as e:
            raise ShapealgError(str(e)) from None
        extra = {k: v for k, v in env.items() if k not in at}
        ok = dom.contains(at)
        blocking = None if ok else dom.blocking(at)
        nearest = () if ok else tuple({**n, **extra} for n in dom.nearest_valid(at, k))
        out.append(SizeCheck(dict(env), ok, blocking, nearest))
    return out
