"""Shape inference inside a subgraph (If branches, Loop / Scan bodies) with the outer scope visible.

``infer_graph`` attaches its value environment to every rule context (``attach_scope``); a control-flow rule
calls ``run_subgraph`` with the subgraph's formal input values, and gets back the subgraph's output values
plus what its nodes reported. Nodes inside are named ``<parent>/<attribute>/<node>`` in warnings; their
constraints are re-attributed to the parent node (the only node the report lists), the reason naming the
inner node. A subgraph's own nodes may hold subgraphs: this recurses.
"""
from __future__ import annotations

from collections import ChainMap
from dataclasses import dataclass
from typing import Callable, List, Mapping, Optional, Sequence, Tuple

import onnx

from .dims import MaybeDim, as_dim
from .graph import Node, _attr_value, _declared_dims, _s, _toposort, tensor_value
from .rules.registry import NodeContext, RuleError, lookup
from .tensor import UNKNOWN, Constraint, ShapealgError, Value

MAX_DEPTH = 32  # subgraphs nested deeper than this are not analysed (malformed / adversarial models)


@dataclass(frozen=True)
class Scope:
    env: Mapping[str, Value]          # every value visible at the node (outer scopes included)
    opset: Callable[[str], int]       # domain -> opset version
    depth: int = 0


@dataclass(frozen=True)
class SubgraphResult:
    outputs: Tuple[Value, ...]
    constraints: Tuple[Constraint, ...]  # attributed to the parent node
    warnings: Tuple[str, ...]
    macs: MaybeDim                       # sum over the subgraph's nodes (unmodelled ones count 0)
    unsupported: Tuple[str, ...]         # inner nodes without a rule


def attach_scope(ctx: NodeContext, env: Mapping[str, Value], opset: Callable[[str], int], depth: int = 0) -> None:
    """Make ``env`` (the values visible at this node) available to a control-flow rule."""
    ctx.scope = Scope(env, opset, depth)  # NodeContext is a plain dataclass: an extra attribute


def _declared_value(vi: onnx.ValueInfoProto) -> Value:
    """A subgraph input as the file declares it: static dims kept, named or missing dims unknown."""
    dims, dtype = _declared_dims(vi)
    if dims is None:
        return Value(None, int(dtype or 0))
    return Value(tuple(d if isinstance(d, int) else None for d in dims), int(dtype or 0))


def run_subgraph(ctx: NodeContext, g: onnx.GraphProto, inputs: Sequence[Optional[Value]], label: str) -> SubgraphResult:
    """Infer ``g`` with its formal inputs bound to ``inputs`` (None or a value of unknown shape: the file's
    declared shape is used) and the parent's scope visible."""
    from .infer import _call_rule, _canon  # infer imports the rules, which import this module

    scope: Optional[Scope] = getattr(ctx, "scope", None)
    if scope is None:
        raise RuleError("the enclosing scope is not available to analyse the subgraph")
    if scope.depth >= MAX_DEPTH:
        raise RuleError(f"subgraphs nested more than {MAX_DEPTH} deep")
    if not isinstance(g, onnx.GraphProto):
        raise RuleError(f"attribute {label} is not a graph")
    prefix = f"{ctx.node}/{label}"
    local: dict = {}
    env = ChainMap(local, scope.env)
    formal = list(g.input)
    if len(inputs) != len(formal):
        raise RuleError(f"{label} declares {len(formal)} inputs, {len(inputs)} are given")
    for t in g.initializer:
        local[_s(t.name)] = Value(tuple(int(d) for d in t.dims), int(t.data_type), tensor_value(t), True)
    for vi, v in zip(formal, inputs):
        local[_s(vi.name)] = v if v is not None and v.shape is not None else _declared_value(vi)
    nodes: List[Node] = []
    seen: set = set()
    for i, n in enumerate(g.node):
        base = f"{prefix}/{_s(n.name) or f'{_s(n.op_type)}_{i}'}"
        name, k = base, 0
        while name in seen:
            k += 1
            name = f"{base}#{k}"
        seen.add(name)
        nodes.append(Node(name, _s(n.op_type), _s(n.domain), tuple(_s(x) for x in n.input),
                          tuple(_s(x) for x in n.output), {_s(a.name): _attr_value(a) for a in n.attribute}))
    try:
        nodes = _toposort(nodes, set(), prefix)
    except ShapealgError as e:  # a cycle or a value produced twice inside: this node only
        raise RuleError(f"{label}: {e}") from None
    constraints: List[Constraint] = []
    warnings: List[str] = []
    unsupported: List[str] = []
    macs: MaybeDim = 0
    for node in nodes:
        opset = scope.opset(node.domain)
        c2 = NodeContext(node.name, node.op_type, opset, len(node.outputs))
        attach_scope(c2, env, scope.opset, scope.depth + 1)
        missing = [x for x in node.inputs if x and x not in env]
        rule = lookup(node.domain, node.op_type, opset)
        if missing:
            c2.warn(f"node {node.name!r} (op {node.op_type}): input {missing[0]!r} is not visible in {label} "
                    f"(no node, subgraph input or outer value produces it); outputs unknown")
            outs = [UNKNOWN] * len(node.outputs)
        elif rule is None:
            dom = f"{node.domain}." if node.domain not in ("", "ai.onnx") else ""
            c2.warn(f"node {node.name!r}: no shape rule for op {dom}{node.op_type} (opset {opset}); outputs unknown")
            unsupported.append(node.name)
            outs = [UNKNOWN] * len(node.outputs)
        else:
            ins = [env.get(x, UNKNOWN) if x else None for x in node.inputs]
            outs = _call_rule(rule, c2, node, ins)
        for o, v in zip(node.outputs, outs):
            if o:
                local[o] = _canon(v)
        constraints.extend(Constraint(ctx.node, ctx.op_type, c.condition,
                                      f"in {label}, node {c.node!r} ({c.op_type}): {c.reason}") for c in c2.constraints)
        warnings.extend(c2.warnings)
        if c2.macs is not None and macs is not None:
            macs = as_dim(macs + c2.macs)
    outputs = tuple(env.get(_s(o.name), UNKNOWN) for o in g.output)
    return SubgraphResult(outputs, tuple(constraints), tuple(warnings), macs, tuple(unsupported))
