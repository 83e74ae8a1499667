"""Per-node MAC counts under a convention, read from each op's registered cost model (``shapealg.rules``).

A node's status (``shapealg.enums.CostStatus``) says how its number came about:

    counted       a formula (possibly 0 at some sizes)
    zero          the convention does not count this op family (e.g. ReLU under ``shapealg``) -- stated, not silent
    free          no arithmetic at all: data movement and shape plumbing (Reshape, Transpose, Gather, Concat ...)
    not-modelled  shapealg has no cost model for the op (LSTM, custom domains ...): never added as 0
    unknown       the op is modelled but a shape it needs is unknown

``shapealg analyze`` records each node's count under the default convention while it walks the graph; this
module counts the same way, from the finished analysis, under any convention.
"""
from __future__ import annotations

from ..costmodel import Convention, CostView, OpCost, count
from ..rules.registry import cost_of

__all__ = ["OpCost", "count_node", "cost_view"]


def cost_view(result) -> CostView:
    """The cost view of a finished analysis (an InferResult)."""
    producers = {o: nr for nr in result.nodes for o in nr.outputs if o}
    return CostView(result.values, result.graph.initializers, producers, {n.name: n.attrs for n in result.graph.nodes})


def count_node(nr, view: CostView, conv: Convention, strict: bool = False) -> OpCost:
    """The MACs of one node under ``conv`` (see the module docstring for the statuses)."""
    return count(nr, view, conv, cost_of(nr.domain, nr.op_type), strict)
