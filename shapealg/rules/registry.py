"""Everything known about each op, in one record per (domain, op_type), and the context a rule gets.

An op's file registers, side by side (``OpDef``):

- its shape rules by opset range: plain functions named after the op,
  ``def conv(ctx, x, w, b=None, *, strides=None, ...)``. A rule receives the input ``Value``s positionally
  (``None`` for an omitted optional input) and the node's attributes as keyword arguments, so spec defaults
  live in the signature. It returns a ``Value`` or a list of them, and states through ``ctx`` the constraints
  its op imposes;
- its cost: ``cost(node, view, convention) -> OpCost`` (``shapealg.costmodel``), read by both
  ``shapealg analyze`` (under the default convention) and ``shapealg cost`` (under any);
- its index-bound propagation (``shapealg.bounds``): ``bounds(attrs, ins, in_bounds, out) -> Bounds | None``,
  and whether the rule reads its inputs' bounds (``reads_bounds``);
- which inputs are buffers (state, not weights: BatchNormalization's running mean / variance);
- how many weights a packed integer initializer holds (``weights``: MatMulNBits' int4 B holds N * K).

``@register("Relu", "Sigmoid", cost=elementwise_cost)`` registers a rule; ``describe(...)`` states the other
facts of ops whose rule lives elsewhere (or that have none yet).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import sympy

from ..diagnostics import Diagnostic
from ..dims import MaybeDim, canon, known_equal, known_ge, simplify_bool
from ..records import Constraint, ShapealgError, Value

Rule = Callable[..., object]

ONNX_DOMAINS = ("", "ai.onnx")
# domains whose ops share one cost model by op_type (a com.microsoft Gelu costs what an ONNX Gelu does)
COST_DOMAINS = ("", "com.microsoft")


@dataclass
class OpDef:
    """Everything shapealg knows about one op."""
    domain: str
    op_type: str
    rules: List[Tuple[int, int, Rule]] = field(default_factory=list)  # (since, until, rule)
    cost: Optional[Callable] = None         # (node, view, convention) -> OpCost; None: not modelled
    bounds: Optional[Callable] = None       # (attrs, ins, in_bounds, out) -> Bounds | None
    reads_bounds: bool = False              # the rule reads ctx.input_bounds (index checks)
    buffers: Tuple[int, ...] = ()           # input positions holding state, not weights
    # (node, input position, Initializer) -> the logical weights an initializer there holds (a packed int4
    # weight: N * K), 0 for quantisation metadata (scales, zero points), None: the default (floats count)
    weights: Optional[Callable] = None

    def rule(self, opset: int) -> Optional[Rule]:
        for since, until, fn in self.rules:
            if since <= opset <= until:
                return fn
        return None


_OPS: Dict[Tuple[str, str], OpDef] = {}


def _norm_domain(domain: str) -> str:
    return "" if domain in ONNX_DOMAINS else domain


def op_def(domain: str, op_type: str, create: bool = False) -> Optional[OpDef]:
    key = (_norm_domain(domain), op_type)
    if create and key not in _OPS:
        _OPS[key] = OpDef(*key)
    return _OPS.get(key)


def describe(*op_types: str, domain: str = "", cost: Optional[Callable] = None, bounds: Optional[Callable] = None,
             reads_bounds: Optional[bool] = None, buffers: Optional[Sequence[int]] = None,
             weights: Optional[Callable] = None) -> None:
    """State an op's cost, bound propagation, bound reading, buffer inputs or packed weights."""
    for op in op_types:
        d = op_def(domain, op, create=True)
        if cost is not None:
            d.cost = cost
        if bounds is not None:
            d.bounds = bounds
        if reads_bounds is not None:
            d.reads_bounds = reads_bounds
        if buffers is not None:
            d.buffers = tuple(buffers)
        if weights is not None:
            d.weights = weights


def register(*op_types: str, domain: str = "", since: int = 1, until: int = 10 ** 6, **facts):
    """``@register("Relu", "Sigmoid", cost=...)``: the function is the shape rule of these ops for opsets
    [since, until]; ``facts`` are ``describe``'s keywords."""
    def deco(fn: Rule) -> Rule:
        for op in op_types:
            op_def(domain, op, create=True).rules.append((since, until, fn))
        if facts:
            describe(*op_types, domain=domain, **facts)
        return fn
    return deco


def lookup(domain: str, op_type: str, opset: int) -> Optional[Rule]:
    d = op_def(domain, op_type)
    return None if d is None else d.rule(opset)


def cost_of(domain: str, op_type: str) -> Optional[Callable]:
    """The cost model of an op: its own, else (ONNX and com.microsoft ops) the same-named op's of the other."""
    dom = _norm_domain(domain)
    if dom not in COST_DOMAINS:
        return None
    for dm in (dom,) + tuple(x for x in COST_DOMAINS if x != dom):
        d = op_def(dm, op_type)
        if d is not None and d.cost is not None:
            return d.cost
    return None


def buffer_inputs(domain: str, op_type: str) -> Tuple[int, ...]:
    d = op_def(domain, op_type)
    return d.buffers if d is not None else ()


def registered_ops() -> List[Tuple[str, str]]:
    return sorted(k for k, d in _OPS.items() if d.rules)


class RuleError(ShapealgError):
    """Raised by a rule for a node it cannot handle; becomes a diagnostic and unknown outputs."""


@dataclass(frozen=True)
class SubgraphResult:
    """What a control-flow rule gets back from running a subgraph (``NodeContext.run_subgraph``)."""
    outputs: Tuple[Value, ...]
    constraints: Tuple[Constraint, ...]  # attributed to the parent node
    diagnostics: Tuple[Diagnostic, ...]
    macs: MaybeDim                       # sum over the subgraph's nodes (unmodelled ones count 0)
    unsupported: Tuple[str, ...]         # inner nodes without a rule

    @property
    def warnings(self) -> Tuple[str, ...]:
        return tuple(str(d) for d in self.diagnostics)


@dataclass
class NodeContext:
    """What a rule may use besides its inputs: where it is, and where it reports to."""
    node: str
    op_type: str
    opset: int
    n_outputs: int = 1
    constraints: List[Constraint] = field(default_factory=list)
    diagnostics: List[Diagnostic] = field(default_factory=list)
    # a count only the rule can make (Einsum's labels, an attention's heads, a loop body's MACs): the op's cost
    # model reads it as ``node.rule_macs``
    macs: MaybeDim = None
    input_bounds: Tuple = ()  # per input: exact element bounds of an index tensor (shapealg.bounds), or None
    # data-dependent symbols of the whole analysis: name -> (node, op_type, what it counts)
    declared: Dict[str, Tuple[str, str, str]] = field(default_factory=dict)
    # set by the walker: run a subgraph (If / Loop / Scan bodies) with this node's scope visible
    subgraph_runner: Optional[Callable] = field(default=None, repr=False)

    def run_subgraph(self, graph, inputs: Sequence[Optional[Value]], label: str) -> SubgraphResult:
        """Infer ``graph`` (an onnx.GraphProto) with its formal inputs bound to ``inputs`` and this node's
        scope visible."""
        if self.subgraph_runner is None:
            raise RuleError("the enclosing scope is not available to analyse the subgraph")
        return self.subgraph_runner(self, graph, inputs, label)

    def require(self, condition, reason) -> None:
        """Record that the node runs only where ``condition`` holds (trivially true ones are dropped).
        ``reason``: the words, or a function giving them (only called when the constraint is kept)."""
        condition = simplify_bool(condition)  # canonical formulas; comparisons the ranges decide are decided
        if condition == sympy.true:
            return
        words = reason() if callable(reason) else reason
        self.constraints.append(Constraint(self.node, self.op_type, condition, words))

    def require_equal(self, a: MaybeDim, b: MaybeDim, reason) -> None:
        if a is None or b is None:
            return
        if known_equal(a, b) is True:
            return
        self.require(sympy.Eq(sympy.sympify(canon(a)), sympy.sympify(canon(b)), evaluate=False), reason)

    def require_positive(self, d: MaybeDim, what: str) -> None:
        """``d >= 1``: only where the op's spec or the runtime refuse an empty axis (Conv's output, which
        onnxruntime rejects at 0). ONNX allows 0-sized dims: most ops want ``require_nonnegative``."""
        self._require_at_least(d, 1, what)

    def require_nonnegative(self, d: MaybeDim, what: str) -> None:
        """``d >= 0``: a length computed by the op may be 0 (an empty tensor), never negative."""
        self._require_at_least(d, 0, what)

    def _require_at_least(self, d: MaybeDim, k: int, what: str) -> None:
        if d is None:
            return
        if isinstance(d, int):
            if d < k:
                self.require(sympy.false, f"{what} is {d} (must be >= {k})")
            return
        if known_ge(d, k) is True:
            return
        self.require(sympy.Ge(canon(d), k, evaluate=False), f"{what} = {d} must be >= {k}")

    def warn(self, message: str, kind: str = "note") -> None:
        """A diagnostic about this node (``message`` without the node / op prefix: the formatter adds it)."""
        self.diagnostics.append(Diagnostic(self.node, self.op_type, kind, message))

    @property
    def warnings(self) -> List[str]:
        return [str(d) for d in self.diagnostics]

    def fail(self, message: str):
        raise RuleError(message)
