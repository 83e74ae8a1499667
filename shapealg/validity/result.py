"""The public result: ``Domain`` (membership, blocking constraint, nearest valid sizes, JSON)."""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np
import sympy

from ..enums import Verdict
from ..records import Constraint
from .sets import SymbolSet

# ---------------------------------------------------------------- the public result

def fmt_size(t: Sequence[int]) -> str:
    return "x".join(str(int(v)) for v in t)


@dataclass(frozen=True)
class Domain:
    """The valid input sizes of a model, with the verdict and the words for it."""
    symbols: Tuple[str, ...]
    valid_if: sympy.Basic
    verdict: Verdict
    summary: str
    method: str
    exact: bool
    bound: Optional[int]
    lower_bounds: Dict[str, int]
    moduli: Dict[str, Tuple[int, Tuple[int, ...]]]
    finite_set: Optional[Tuple[Tuple[int, ...], ...]]
    finite_symbols: Tuple[str, ...]
    finite_count: Optional[int]
    breaking_constraint: Optional[Constraint]
    constraints: Tuple[Constraint, ...] = field(repr=False)
    sets: Dict[str, SymbolSet] = field(repr=False, default_factory=dict)
    _atoms: Tuple[Any, ...] = field(repr=False, compare=False, default=())
    _comps: Tuple[Any, ...] = field(repr=False, compare=False, default=())
    _free: Tuple[str, ...] = field(repr=False, compare=False, default=())

    def __repr__(self) -> str:
        from ..report import verdict_words
        s = verdict_words(self)
        s = s if len(s) <= 400 else s[:400] + "..."
        v = str(getattr(self.verdict, "value", self.verdict))
        cond = self.valid_if_text
        cond = cond if len(cond) <= 300 else cond[:300] + "..."
        return f"<Domain {v} over ({', '.join(self.symbols)}): {s}; valid if {cond}>"

    def _repr_html_(self) -> str:
        import html
        from ..report import html_table, html_verdict, verdict_words
        rows = [("valid if", html.escape(self.valid_if_text[:2000])), ("method", html.escape(str(self.method)))]
        if self.lower_bounds:
            rows.append(("lower bounds", html.escape(", ".join(f"{k} >= {v}" for k, v in self.lower_bounds.items()))))
        if self.finite_count is not None:
            rows.append(("finite set", html.escape(f"{self.finite_count} sizes of ({', '.join(self.finite_symbols)})")))
        return html_verdict(self.verdict, verdict_words(self)) + html_table(("", ""), rows)

    def __post_init__(self):
        if not isinstance(self.verdict, Verdict) and self.verdict in {v.value for v in Verdict}:
            object.__setattr__(self, "verdict", Verdict(self.verdict))

    @cached_property
    def valid_if_text(self) -> str:
        """``str(valid_if)``, printed once (sympy's printer takes ms on a long condition; reports, JSON,
        ``export``'s metadata and ``validate`` all show it)."""
        return str(self.valid_if)

    # -- queries ------------------------------------------------------------------------------
    def _env(self, env: Mapping) -> Dict[str, int]:
        out = {}
        for k, v in env.items():
            name = k if isinstance(k, str) else str(k)
            out[name] = int(v)
        missing = [a for a in self._needed() if a not in out]
        if missing:
            raise ValueError(f"no size given for {', '.join(missing)}")
        for k, v in out.items():
            if v < 1:
                raise ValueError(f"size {k}={v} must be >= 1")
        return out

    def _needed(self) -> List[str]:
        return sorted({s for a in self._atoms for s in a.syms})

    def contains(self, env: Mapping) -> bool:
        """Whether every constraint holds at these sizes (exact integer evaluation)."""
        e = self._env(env)
        return all(a.at(e) for a in self._atoms)

    def predicts(self, env: Mapping) -> bool:
        """Membership according to the computed set (per-symbol sets and enumerated points), without
        re-evaluating the constraints: what the analysis claims; ``contains`` is the ground truth."""
        e = self._env(env)
        if self.verdict == Verdict.NEVER_VALID:
            return False
        in_comp = {n for c in self._comps for n in c.names}
        for n, s in self.sets.items():
            if n not in in_comp and not s.contains(e[n]):
                return False
        for c in self._comps:
            t = tuple(e[n] for n in c.names)
            if not all(self.sets[n].contains(e[n]) for n in c.names):
                return False
            if c.exact or all(v <= (c.bound or 0) for v in t):
                if not c._lookup(t):
                    return False
            elif not all(a.at(e) for a in c.atoms):
                return False
        return True

    def blocking(self, env: Mapping) -> Optional[Constraint]:
        """The first constraint, in the graph's topological order, that fails at these sizes."""
        e = self._env(env)
        for a in self._atoms:  # atoms are in constraint order
            if not a.at(e):
                return self.constraints[a.index]
        return None

    def blocking_many(self, envs: Sequence[Mapping]) -> List[Optional[Constraint]]:
        """``blocking`` of each env, each atom evaluated once over all of them (exact, vectorised): what
        validate asks at every predicted-invalid size. Raises ValueError like ``blocking``."""
        es = [self._env(e) for e in envs]
        out: List[Optional[Constraint]] = [None] * len(es)
        if not es:
            return out
        big = any(v >= 2 ** 62 for e in es for v in e.values())
        arrs = {k: np.array([e[k] for e in es], dtype=object if big else np.int64) for k in self._needed()}
        open_ = np.ones(len(es), dtype=bool)  # sizes whose first failing atom is still to be found
        for a in self._atoms:  # atoms are in constraint order
            if not open_.any():
                break
            ok = np.asarray(a.vec({k: arrs[k] for k in a.syms}, len(es)), dtype=bool)
            for i in np.flatnonzero(open_ & ~ok):
                out[i] = self.constraints[a.index]
            open_ &= ok
        return out

    def nearest_valid(self, env: Mapping, k: int = 3) -> List[Dict[str, int]]:
        """Up to k valid sizes nearest to env: where several symbols are tied by one condition (an (H, W) set),
        the same aspect ratio first (448x448 -> 224x224 rather than 115x445), then L1 distance, then L2."""
        e = self._env(env)
        if self.verdict == Verdict.NEVER_VALID:
            return []
        in_comp = {n for c in self._comps for n in c.names}
        # each part: list of (l1, l2sq, {name: value})
        parts: List[List[Tuple[int, int, Dict[str, int]]]] = []
        for n, s in self.sets.items():
            if n in in_comp:
                continue
            x = e[n]
            parts.append([(abs(h - x), (h - x) ** 2, {n: h}) for h in s.nearest(x, k)])
        for c in self._comps:
            x = np.asarray([e[n] for n in c.names], dtype=np.int64)
            pts = c.near(x, k) if c.table is not None else c.points
            if pts is None or not len(pts):
                return []
            diff = np.abs(pts - x)
            l1 = diff.sum(axis=1)
            l2 = (diff.astype(np.float64) ** 2).sum(axis=1)
            kk = min(k, len(pts))
            if len(c.names) >= 2 and (pts > 0).all() and (x > 0).all():
                # aspect ratios to the first symbol, in log scale, rounded (224x225 keeps 448x448's ratio)
                lp = np.log(pts.astype(np.float64))
                lx = np.log(x.astype(np.float64))
                aspect = np.abs((lp[:, 1:] - lp[:, :1]) - (lx[1:] - lx[:1])).sum(axis=1)
                idx = np.lexsort((l2, l1, np.round(aspect, 2)))[:kk]
            else:
                idx = np.lexsort((l2, l1))[:kk]
            parts.append([(int(l1[i]), int(l2[i]), {n: int(pts[i, j]) for j, n in enumerate(c.names)})
                          for i in idx])
        best = [(0, 0, {})]
        for part in parts:
            comb = [(a1 + b1, a2 + b2, {**ad, **bd}) for a1, a2, ad in best for b1, b2, bd in part]
            comb.sort(key=lambda t: (t[0], t[1], tuple(t[2].get(n, 0) for n in self.symbols)))
            best = comb[:k]
        out = []
        for _, _, d in best:
            full = dict(e)
            full.update(d)
            out.append({n: full[n] for n in self.symbols if n in full})
        return out

    def examples(self, n: int = 5) -> List[Dict[str, int]]:
        """A few valid sizes (from the finite set when locked)."""
        if self.finite_set:
            return [dict(zip(self.finite_symbols, t)) for t in self.finite_set[:n]]
        ref = {s: max(self.lower_bounds.get(s, 1), 224 if s in ("H", "W") else 1) for s in self.symbols}
        try:
            return self.nearest_valid(ref, k=n)
        except ValueError:
            return []

    def to_json(self) -> Dict[str, Any]:
        bc = self.breaking_constraint
        return {
            "symbols": list(self.symbols),
            "valid_if": self.valid_if_text,
            "verdict": self.verdict,
            "summary": self.summary,
            "method": self.method,
            "exact": self.exact,
            "bound": self.bound,
            "lower_bounds": {k: int(v) for k, v in self.lower_bounds.items()},
            "moduli": {k: {"modulus": int(m), "residues": [int(r) for r in rs]}
                       for k, (m, rs) in self.moduli.items()},
            "finite_symbols": list(self.finite_symbols),
            "finite_count": self.finite_count,
            "finite_examples": [dict(zip(self.finite_symbols, map(int, t)))
                                for t in (self.finite_set or ())[:10]],
            "breaking_constraint": None if bc is None else {
                "node": bc.node, "op_type": bc.op_type, "condition": str(bc.condition),
                "reason": bc.reason},
        }
