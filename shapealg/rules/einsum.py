"""Einsum (general equations: implicit / explicit output, ellipsis, broadcasting) and Det."""
from __future__ import annotations

from typing import Dict, List, Optional, Tuple

from ..dims import MaybeDim, prod
from ..records import Value
from ._util import broadcast_dim, broadcast_shapes
from ..costmodel import rule_counted
from .registry import NodeContext, RuleError, describe, register

ELLIPSIS = "."  # one marker standing for "..."


def _parse_term(term: str, where: str) -> List[str]:
    """'b...ij' -> ['b', '.', 'i', 'j']; labels are ASCII letters, '...' appears at most once."""
    if term.count("...") > 1:
        raise RuleError(f"{where}: more than one ellipsis in {term!r}")
    text = term.replace("...", ELLIPSIS)
    out = []
    for ch in text:
        if ch == ELLIPSIS:
            out.append(ELLIPSIS)
        elif ch.isascii() and ch.isalpha():
            out.append(ch)
        else:
            raise RuleError(f"{where}: {ch!r} in {term!r} is not a subscript label (letters and '...' only)")
    return out


def parse_equation(equation: str, n_inputs: int) -> Tuple[List[List[str]], Optional[List[str]]]:
    eq = "".join(equation.split())
    if eq.count("->") > 1:
        raise RuleError(f"equation {equation!r} has more than one '->'")
    lhs, rhs = eq.split("->") if "->" in eq else (eq, None)
    terms = lhs.split(",")
    if len(terms) != n_inputs:
        raise RuleError(f"equation {equation!r} names {len(terms)} operands, the node has {n_inputs} inputs")
    ins = [_parse_term(t, f"operand {i}") for i, t in enumerate(terms)]
    out = _parse_term(rhs, "output") if rhs is not None else None
    return ins, out


@register("Einsum", since=12)
def einsum(ctx: NodeContext, *xs: Value, equation: str = ""):
    """Each label's dim is shared by every operand using it (equal, or 1 and broadcast; equal when it repeats
    within one operand, a diagonal); the ellipsis dims
    broadcast numpy-style, right-aligned. Implicit output: the ellipsis dims, then the labels used exactly
    once, in alphabetical order. MACs (two or more operands): the product of every label's dim and the
    broadcast ellipsis dims, the size of the naive iteration space; a single operand (transpose, trace, sum)
    counts 0."""
    xs = [x for x in xs if x is not None]
    if not xs:
        raise RuleError("no operands")
    terms, out_terms = parse_equation(equation, len(xs))
    labels: Dict[str, MaybeDim] = {}
    counts: Dict[str, int] = {}
    ell_shapes: List[Tuple[MaybeDim, ...]] = []
    for i, (term, x) in enumerate(zip(terms, xs)):
        named = [t for t in term if t != ELLIPSIS]
        r = len(x.shape)
        if ELLIPSIS in term:
            n_ell = r - len(named)
            if n_ell < 0:
                raise RuleError(f"operand {i} has rank {r}, fewer than its {len(named)} labels")
            e = term.index(ELLIPSIS)
            dims = list(x.shape[:e]) + list(x.shape[e + n_ell:])
            ell_shapes.append(tuple(x.shape[e:e + n_ell]))
        else:
            if r != len(named):
                raise RuleError(f"operand {i} has rank {r}, its term {''.join(term)!r} names {len(named)} dims")
            dims = list(x.shape)
        mine: Dict[str, MaybeDim] = {}
        for lab, d in zip(named, dims):
            counts[lab] = counts.get(lab, 0) + 1
            if lab in mine:  # a label repeated within one operand (a diagonal): equal dims, no broadcasting
                ctx.require_equal(mine[lab], d, f"label {lab!r} repeats in operand {i} with dims {mine[lab]} and {d}")
                continue
            mine[lab] = d
            if lab in labels:
                labels[lab] = broadcast_dim(ctx, labels[lab], d, f"label {lab!r} (operand {i})")
            else:
                labels[lab] = d
    ell = broadcast_shapes(ctx, ell_shapes) if ell_shapes else ()
    if out_terms is None:
        out_terms = ([ELLIPSIS] if ell_shapes else []) + sorted(lab for lab, c in counts.items() if c == 1)
    out: List[MaybeDim] = []
    seen = set()
    for lab in out_terms:
        if lab in seen:
            raise RuleError(f"output label {lab!r} appears twice")
        seen.add(lab)
        if lab == ELLIPSIS:
            if not ell_shapes:
                raise RuleError("the output has '...' but no operand does")
            out.extend(ell)
        elif lab not in labels:
            raise RuleError(f"output label {lab!r} names no operand dim")
        else:
            out.append(labels[lab])
    # one MAC per point of the label space when operands are multiplied; a single operand only moves / sums
    ctx.macs = prod(list(labels.values()) + list(ell)) if len(xs) >= 2 else 0
    return Value(tuple(out), xs[0].dtype)


@register("Det", since=11)
def det(ctx: NodeContext, x: Value):
    """(*, M, M) -> (*)."""
    if len(x.shape) < 2:
        raise RuleError(f"Det needs rank >= 2, got {len(x.shape)}")
    ctx.require_equal(x.shape[-2], x.shape[-1], f"the matrices must be square: {x.shape[-2]} x {x.shape[-1]}")
    return Value(tuple(x.shape[:-2]), x.dtype)


# the count follows from the equation's labels (the rule's ``ctx.macs``): one MAC per point of the label space
describe("Einsum", cost=rule_counted("einsum", activation_product=True))
