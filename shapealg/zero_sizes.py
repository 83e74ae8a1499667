"""Sizes of 0: the face of the valid set where one dynamic size is 0 (an empty KV cache: the prompt step).

The dim algebra and the valid-set solver work over sizes >= 1. A size the file leaves dynamic on an input that
is not an image (``Graph.zero_ok``) may also be 0, and whether the graph allows it is decided exactly, without
assuming anything of the formulas: the graph is inferred again with that size set to 0 (every rule sees a
literal 0 and applies its own integer checks), its constraints are solved over the other sizes (>= 1), and
every value's formula is compared with its shape there. A formula that does not give the face's shape at 0 is
named (it holds for size >= 1 only). One size at 0 at a time, the others >= 1; at most ``MAX_FACES`` sizes.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Dict, Iterable, List, Mapping, Optional, Tuple

import sympy

from .dims import canon, known_equal, symbol
from .enums import Verdict
from .graph import Graph
from .infer import InferResult, infer_graph
from .records import Constraint
from .validity import Domain, analyze_domain

MAX_FACES = 4


@dataclass(frozen=True)
class ZeroFace:
    """The sizes where ``symbol`` is 0 (the other symbols >= 1)."""
    symbol: str
    domain: Optional[Domain]            # the valid set over the other symbols; None when not analysed
    differs: Tuple[Tuple[str, tuple, tuple], ...]  # (value, its formula, its shape at symbol = 0) that disagree
    unknown: Tuple[str, ...]            # values known in general but unknown at 0
    note: str = ""                      # why the face was not analysed

    @property
    def valid_somewhere(self) -> bool:
        return self.domain is not None and self.domain.verdict != Verdict.NEVER_VALID

    def words(self) -> str:
        if self.domain is None:
            return f"{self.symbol} = 0 not analysed ({self.note})"
        d = self.domain
        if d.verdict == Verdict.NEVER_VALID:
            c = next((c for c in d.constraints if c.condition == sympy.false), None) or d.breaking_constraint or \
                (d.constraints[0] if d.constraints else None)
            why = f": node {c.node} ({c.op_type}): {c.reason}" if c is not None else ""
            return f"{self.symbol} = 0 is never valid{why}"
        if d.verdict == Verdict.SIZE_INVARIANT:
            text = f"{self.symbol} = 0 is valid for every size of the others"
        else:
            text = f"at {self.symbol} = 0: {d.summary}"
        if self.differs:
            names = ", ".join(v for v, _, _ in self.differs[:3]) + (" ..." if len(self.differs) > 3 else "")
            text += (f" ({len(self.differs)} value(s) take another shape there than their formula gives, e.g. "
                     f"{names}: those formulas hold for {self.symbol} >= 1)")
        return text


def _at_zero(graph: Graph, name: str) -> Graph:
    z = {symbol(name): sympy.Integer(0)}
    ins = []
    for gi in graph.inputs:
        if gi.shape is None:
            ins.append(gi)
            continue
        dims = tuple(d if d is None or isinstance(d, int) else canon(d.xreplace(z)) for d in gi.shape)
        ins.append(replace(gi, shape=dims))
    return replace(graph, inputs=tuple(ins), zero_ok=())


def _static(res: InferResult) -> List[Constraint]:
    return [c for c in res.constraints
            if not any(res.is_data_dependent(s) for s in getattr(c.condition, "free_symbols", ()))]


def face(res: InferResult, name: str, bound: Optional[int] = None) -> ZeroFace:
    """The face ``name`` = 0 of the analysis ``res``."""
    res0 = infer_graph(_at_zero(res.graph, name))
    z = {symbol(name): sympy.Integer(0)}
    differs, unknown = [], []
    for vname, v in res.values.items():
        if v.shape is None or any(d is None for d in v.shape):
            continue
        v0 = res0.values.get(vname)
        if v0 is None or v0.shape is None or any(d is None for d in v0.shape):
            unknown.append(vname)
            continue
        general = tuple(d if isinstance(d, int) else canon(d.xreplace(z)) for d in v.shape)
        if len(general) != len(v0.shape) or not all(known_equal(a, b) is True for a, b in zip(general, v0.shape)):
            differs.append((vname, tuple(v.shape), tuple(v0.shape)))
    if unknown:  # a rule gave up at 0: what it would require there is not known, so nothing is claimed
        bad = next((d for d in res0.diagnostics), None)
        why = f"; {bad}" if bad is not None else ""
        return ZeroFace(name, None, tuple(differs), tuple(unknown),
                        f"{len(unknown)} value(s) known in general are unknown there, e.g. {unknown[0]}{why}")
    others = [s for s in res.symbols if s != name]
    dom = analyze_domain(_static(res0), [symbol(s) for s in others], bound=bound)
    return ZeroFace(name, dom, tuple(differs), ())


def faces(res: InferResult, bound: Optional[int] = None) -> Tuple[ZeroFace, ...]:
    names = [n for n in res.graph.zero_ok if n in res.symbols and not res.is_data_dependent(n)]
    out = [face(res, n, bound) for n in names[:MAX_FACES]]
    out += [ZeroFace(n, None, (), (), f"only the first {MAX_FACES} sizes that may be 0 are analysed at 0")
            for n in names[MAX_FACES:]]
    return tuple(out)


def widen(dom: Domain, zero_faces: Iterable[ZeroFace]) -> Domain:
    """The domain with each analysed face added: the summary says what holds at 0, the lower bound is 0 where
    the face has a valid size, and valid_if covers the face."""
    zero_faces = tuple(zero_faces)
    if not zero_faces:
        return dom
    lower = dict(dom.lower_bounds)
    valid_if = dom.valid_if
    parts = []
    for f in zero_faces:
        parts.append(f.words())
        if f.domain is None:
            continue
        s = symbol(f.symbol)
        if f.valid_somewhere:
            lower[f.symbol] = 0
            at0 = sympy.And(sympy.Eq(s, 0), f.domain.valid_if)
            if valid_if != sympy.true or at0 != sympy.Eq(s, 0):
                valid_if = sympy.Or(sympy.And(valid_if, sympy.Ge(s, 1)), at0)
    free = [f.symbol for f in zero_faces if f.domain is not None and not f.differs
            and f.domain.verdict == Verdict.SIZE_INVARIANT]
    if len(free) > 1:  # one phrase for the sizes that may each be 0 with no condition on the others
        rest = [p for f, p in zip(zero_faces, parts) if f.symbol not in free]
        parts = [f"{', '.join(free)} may each be 0 (any size of the others)"] + rest
    summary = dom.summary + "; sizes of 0: " + "; ".join(parts)
    return replace(dom, summary=summary, lower_bounds=lower, valid_if=valid_if)


def face_of(zero_faces: Iterable[ZeroFace], sizes: Mapping[str, int]) -> Optional[ZeroFace]:
    """The face the sizes lie on (one symbol at 0), None when none is 0; ValueError when the sizes are not
    on an analysed face."""
    zeros = [k for k, v in sizes.items() if int(v) == 0]
    if not zeros:
        return None
    by = {f.symbol: f for f in zero_faces}
    if len(zeros) > 1 or zeros[0] not in by or by[zeros[0]].domain is None:
        raise ValueError(f"sizes of 0 for {', '.join(zeros)}: not analysed (one dynamic non-image size at 0 at a "
                         f"time is)")
    return by[zeros[0]]


def domain_at(domain: Domain, zero_faces: Iterable[ZeroFace], sizes: Mapping[str, int]) -> Tuple[Domain, Dict[str, int]]:
    """(the domain that answers at ``sizes``, the sizes it is asked at): ``domain`` itself when no size is 0,
    else the face's domain over the other sizes. ValueError when the sizes are not on an analysed face."""
    f = face_of(zero_faces, sizes)
    if f is None:
        return domain, dict(sizes)
    return f.domain, {k: int(v) for k, v in sizes.items() if k != f.symbol}
