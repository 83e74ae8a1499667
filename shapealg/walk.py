"""The one graph walker: runs any graph (the model's, or an If / Loop / Scan body under its parent's scope) in
topological order and returns one record per node (``NodeResult``: shapes, constraints, params, cost,
declared symbols, diagnostics).

Per node it looks up the op's ``OpDef`` (shapealg.rules.registry) and calls, in order: the shape rule (with
the node's inputs and attributes), the index-bound propagation, the cost model under the default convention.
Control-flow rules run their subgraphs through ``NodeContext.run_subgraph``, which comes back here with a
child scope: the outer values stay visible, the inner nodes are named ``<parent>/<attribute>/<node>``, their
constraints are re-attributed to the parent node (the reason naming the inner node), and the initializers they
consume count in the parent's params. No printing, no runtime.

Strict mode (``strict=True`` or ``SHAPEALG_STRICT=1``; on in the tests) re-raises an exception a rule or a cost
model raises, instead of turning it into an unknown shape and a diagnostic: a bug in a rule must not look like
an unsupported case.
"""
from __future__ import annotations

import inspect
import os
from collections import ChainMap, abc
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Callable, Dict, List, MutableMapping, Optional, Sequence, Tuple

import onnx
import sympy

from . import bounds as _bounds
from . import algebra as _algebra
from . import limits as _limits
from .algebra import TooComplex
from . import rules as _rules  # noqa: F401  (importing the package registers every op)
from .costmodel import SHAPEALG, CostView, count
from .diagnostics import Diagnostic, Kind
from .dims import MaybeDim, as_dim, canon, least_satisfying
from .enums import FLOAT_TYPES
from .graph import Node, read_subgraph
from .rules.registry import NodeContext, RuleError, SubgraphResult, cost_of, op_def
from .records import UNKNOWN, Constraint, Initializer, NodeResult, ShapealgError, Value

STRICT_ENV = "SHAPEALG_STRICT"
MAX_RANK = _limits.MAX_RANK  # a rule producing a higher rank (from a malformed shape vector) gives unknown outputs
VALUE_LIMIT = _limits.VALUE_LIMIT
MAX_DEPTH = 32  # subgraphs nested deeper than this are not analysed (malformed / adversarial models)
# what a rule may raise on a node it does not handle well: an unknown shape and a diagnostic (strict: re-raised)
RULE_EXCEPTIONS = (TypeError, ValueError, IndexError, KeyError, ZeroDivisionError, AttributeError, OverflowError)


def strict_default() -> bool:
    return os.environ.get(STRICT_ENV, "").strip() not in ("", "0", "false", "no")


@dataclass
class Scope:
    """What is visible where a node runs; a subgraph's scope chains its own names in front of its parent's."""
    env: MutableMapping[str, Value]            # value name -> Value (initializers included)
    inits: MutableMapping[str, Initializer]    # visible initializers
    param_keys: MutableMapping[str, str]       # initializer name -> its key in the params totals
    bounds: MutableMapping[str, object]        # value name -> exact element bounds (shapealg.bounds)
    producers: MutableMapping[str, NodeResult]  # value name -> the record of the node that produced it
    attrs: MutableMapping[str, dict]           # node name -> attributes
    opset: Callable[[str], int]                # domain -> opset version
    declared: Dict[str, Tuple[str, str, str]]  # data-dependent symbols of the whole analysis
    strict: bool = False
    depth: int = 0
    label: Optional[str] = None                # the subgraph attribute ("body"), None for the model's graph
    assume: Optional[object] = None            # the model graph's dims.assuming() handle: lower bounds proved

    def child(self, env: dict, inits: dict, keys: dict, label: str) -> "Scope":
        """``inits``: every initializer visible inside (the caller drops outer ones a formal input hides)."""
        return Scope(ChainMap(env, self.env), inits, ChainMap(keys, self.param_keys),
                     ChainMap({}, self.bounds), ChainMap({}, self.producers), ChainMap({}, self.attrs), self.opset,
                     self.declared, self.strict, self.depth + 1, label)

    def cost_view(self) -> CostView:
        return CostView(self.env, self.inits, self.producers, self.attrs)


@dataclass(frozen=True)
class WalkResult:
    nodes: Tuple[NodeResult, ...]
    constraints: Tuple[Constraint, ...]
    diagnostics: Tuple[Diagnostic, ...]


def walk(nodes: Sequence[Node], scope: Scope) -> WalkResult:
    """Run ``nodes`` (topological order) in ``scope``; ``scope.env`` receives every output."""
    records: List[NodeResult] = []
    constraints: List[Constraint] = []
    diagnostics: List[Diagnostic] = []
    for node in nodes:
        rec = _step(node, scope)
        records.append(rec)
        constraints.extend(rec.constraints)
        diagnostics.extend(rec.diagnostics)
    return WalkResult(tuple(records), tuple(constraints), tuple(diagnostics))


def _has_subgraph(node: Node) -> bool:
    """The node runs a subgraph (If / Loop / Scan ...): its constraints hold only where that runs."""
    return any(isinstance(v, onnx.GraphProto) or (isinstance(v, list) and v and isinstance(v[0], onnx.GraphProto))
               for v in node.attrs.values())


def _raise_lower_bounds(node: Node, constraints: Sequence[Constraint], scope: Scope) -> bool:
    """A constraint on one input size that fails below some value proves that lower bound for everything after
    it (no run gets past this node below it): later formulas are built and decided with it (``H >= 4`` after
    the first Conv turns ``Mod(3, 7*floor(H/28 + 6/7))`` into 3). Only the model graph's own nodes, never a
    subgraph's (its constraints hold only where it runs), and never a data-dependent symbol."""
    if _has_subgraph(node):
        return False
    raised = False
    for c in constraints:
        syms = getattr(c.condition, "free_symbols", ())
        if len(syms) != 1:
            continue
        (s,) = syms
        if s.name in scope.declared or not (s.is_integer and s.is_positive):
            continue
        lo = scope.assume.lower.get(s.name, 1)
        v = least_satisfying(c.condition, s.name, lo)
        if v > lo:
            raised = scope.assume.raise_lower(s.name, v) or raised
    return raised


FACT_STEPS = 20_000  # the residue-class fold's work on one constraint when looking for per-symbol facts (steps)
MAX_FACT_SYMBOLS = 3  # constraints in more symbols are not split


def _prove_facts(node: Node, constraints: Sequence[Constraint], scope: Scope) -> bool:
    """A constraint in several input sizes whose solutions are a product of one periodic set per size (a window
    partition's element count: ``64*ceiling(H/4)*ceiling(W/4) == 4096*floor(ceiling(H/4)/8)*...`` holds
    exactly when ``Mod(ceiling(H/4), 8) == 0`` and the same of W) proves each size's set for everything after
    it, as lower bounds do: its least value raises the lower bound, its residues (value mod M in R) let the
    algebra write ``ceiling(H/4)`` as ``8*ceiling(H/32)`` (``algebra.Assumptions.restrict``). The sets come from
    the valid-set solver's exact residue-class fold of that constraint inside the sizes' sets proved so far
    (which hold there too), within a fixed number of steps; only the model graph's own nodes, and sizes that are
    not data-dependent. The valid set itself is still solved from the constraints as written, without these."""
    if _has_subgraph(node):
        return False
    changed = False
    for c in constraints:
        syms = getattr(c.condition, "free_symbols", ())
        if not 2 <= len(syms) <= MAX_FACT_SYMBOLS or \
                any(s.name in scope.declared or not (s.is_integer and s.is_positive) for s in syms):
            continue
        if not isinstance(c.condition, (sympy.Eq, sympy.And)):
            continue
        names = tuple(sorted(s.name for s in syms))
        sets = _solved_sets(c.condition, tuple((n, scope.assume.lower.get(n, 1), scope.assume.residues.get(n))
                                               for n in names))
        for n, (lo, M, R) in (sets or {}).items():
            if M > 1:
                changed = scope.assume.restrict(n, M, R) or changed
            changed = scope.assume.raise_lower(n, lo) or changed
    return changed


@lru_cache(maxsize=4096)
def _solved_sets(cond, known: Tuple[Tuple[str, int, Optional[Tuple[int, Tuple[int, ...]]]], ...]):
    """{size: (least value, M, residues)} when the solutions of ``cond`` among the sizes known so far (each
    ``(name, lower bound, (M, residues) or None)``) are exactly a product of one set per size (every value of
    each set from its least one on has its residue mod M in the residues); None otherwise (or past the steps).
    A pure function of its arguments: the solver's budget counts steps, memoised ones at their first cost."""
    from .validity import product_sets
    return product_sets(cond, known, FACT_STEPS)


def _recanon(v: Value) -> Value:
    """v's formulas again under the bounds in force (each kept as it was where that passes the work limit)."""
    def one(d):
        if d is None or isinstance(d, int) or not isinstance(d, sympy.Expr) or d.is_Number:
            return d
        try:
            return canon(d)
        except TooComplex:
            return d
    shape = None if v.shape is None else tuple(one(d) for d in v.shape)
    value = None if v.value is None else tuple(one(x) for x in v.value)
    return replace(v, shape=shape, value=value)


def _step(node: Node, scope: Scope) -> NodeResult:
    opset = scope.opset(node.domain)
    d = op_def(node.domain, node.op_type)
    ctx = NodeContext(node.name, node.op_type, opset, len(node.outputs), declared=scope.declared,
                      subgraph_runner=lambda c, g, ins, label: _run_subgraph(c, g, ins, label, scope))
    ctx.subgraph_records = []  # filled by _run_subgraph: the records of every subgraph this node ran
    n_declared = len(scope.declared)
    missing = [x for x in node.inputs if x and x not in scope.env]
    ins: List[Optional[Value]] = [scope.env.get(x, UNKNOWN) if x else None for x in node.inputs]
    if d is not None and d.reads_bounds:  # index checks: each input's bounds computed when the rule reads them
        ctx.input_bounds = _LazyBounds(scope, node.inputs, ins)
    rule = d.rule(opset) if d is not None else None
    if missing:
        where = "is produced by no node and is not a graph input or initializer" if scope.label is None else \
            (f"is not visible in {scope.label} (no node, subgraph input or outer value produces it)")
        ctx.warn(f"input {missing[0]!r} {where}; outputs unknown", Kind.MISSING_INPUT)
        outs = _as_outputs(None, len(node.outputs))
    elif rule is None:
        dom = f"{node.domain}." if node.domain not in ("", "ai.onnx") else ""
        ctx.warn(f"no shape rule for op {dom}{node.op_type} (opset {opset}); outputs unknown", Kind.NO_RULE)
        outs = _as_outputs(None, len(node.outputs))
    else:
        outs = call_rule(rule, ctx, node, ins, scope.strict)
    # the node's own constraints hold wherever its outputs exist: bounds they prove apply to its outputs too
    if ctx.constraints and scope.assume is not None and scope.depth == 0:
        raised = _raise_lower_bounds(node, ctx.constraints, scope)
        if _prove_facts(node, ctx.constraints, scope) or raised:
            outs = [_recanon(v) for v in outs]
    if d is not None and d.bounds is not None and outs and node.outputs and node.outputs[0]:
        scope.bounds[node.outputs[0]] = _Pending(d.bounds, node, ins, outs[0], scope)
    rec = NodeResult(node.name, node.op_type, node.domain, node.inputs, node.outputs,
                     diagnostics=tuple(ctx.diagnostics), supported=rule is not None, scope=node.scope,
                     output_values=tuple(outs), constraints=tuple(ctx.constraints),
                     declared=tuple(list(scope.declared)[n_declared:]), rule_macs=_safe_canon(ctx.macs),
                     **_params(node, scope, ctx.subgraph_records))
    for name, v in zip(node.outputs, outs):
        if name:
            scope.env[name] = v
    scope.attrs[node.name] = node.attrs
    oc = count(rec, scope.cost_view(), SHAPEALG, cost_of(node.domain, node.op_type), scope.strict)
    rec = replace(rec, macs=_safe_canon(oc.macs), cost=oc)
    for name in node.outputs:
        if name:
            scope.producers[name] = rec
    return rec


def _params(node: Node, scope: Scope, sub_records: Sequence[NodeResult]) -> dict:
    d = op_def(node.domain, node.op_type)
    buf_idx = d.buffers if d is not None else ()
    counts: Dict[str, int] = {}  # input -> its weights: a float initializer's elements, or the op's own count
    for i, x in enumerate(node.inputs):
        if x not in scope.inits or i in buf_idx:
            continue
        init = scope.inits[x]
        n = d.weights(node, i, init) if d is not None and d.weights is not None else None
        if n is None:
            if init.dtype not in FLOAT_TYPES:
                continue
            n = init.numel
        elif n == 0:  # quantisation metadata (scales, zero points)
            continue
        counts[x] = n
    param_inputs = tuple(counts)
    buffers = sum(scope.inits[x].numel for i, x in enumerate(node.inputs) if i in buf_idx and x in scope.inits)
    sizes: Dict[str, int] = {}
    for x in param_inputs:
        sizes[scope.param_keys.get(x, x)] = counts[x]
    for r in sub_records:  # what the subgraphs consume (a loop body run several times: once)
        for k, n in r.param_sizes:
            sizes.setdefault(k, n)
    return {"params": sum(sizes.values()), "buffers": buffers, "param_inputs": param_inputs,
            "param_sizes": tuple(sizes.items())}


# ------------------------------------------------------------------------------------------ subgraphs


def _run_subgraph(ctx: NodeContext, g, inputs: Sequence[Optional[Value]], label: str,
                  scope: Scope) -> SubgraphResult:
    """Infer ``g`` with its formal inputs bound to ``inputs`` (None or a value of unknown shape: the file's
    declared shape is used) and ``scope`` (the parent node's) visible."""
    if scope.depth >= MAX_DEPTH:
        raise RuleError(f"subgraphs nested more than {MAX_DEPTH} deep")
    if not isinstance(g, onnx.GraphProto):
        raise RuleError(f"attribute {label} is not a graph")
    prefix = f"{ctx.node}/{label}"
    try:
        sub = read_subgraph(g, prefix)
    except ShapealgError as e:  # a cycle or a value produced twice inside: this node only
        raise RuleError(f"{label}: {e}") from None
    if len(inputs) != len(sub.inputs):
        raise RuleError(f"{label} declares {len(sub.inputs)} inputs, {len(inputs)} are given")
    local: dict = {}
    for name, t in sub.initializers.items():
        local[name] = Value(t.dims, t.dtype, t.value, True)
    for (name, dims, dtype), v in zip(sub.inputs, inputs):
        local[name] = v if v is not None and v.shape is not None else _declared_value(dims, dtype)
    keys = {name: f"{prefix}/{name}" for name in sub.initializers}
    formal = {name for name, _, _ in sub.inputs}
    inits = {k: v for k, v in scope.inits.items() if k not in formal}  # a formal input hides an outer weight
    inits.update(sub.initializers)
    child = scope.child(local, inits, keys, label)
    res = walk(sub.nodes, child)
    ctx.subgraph_records.extend(res.nodes)
    constraints = tuple(Constraint(ctx.node, ctx.op_type, c.condition,
                                   f"in {label}, node {c.node!r} ({c.op_type}): {c.reason}") for c in res.constraints)
    macs: MaybeDim = 0
    for r in res.nodes:
        if r.macs is not None:
            macs = as_dim(macs + r.macs)
    outputs = tuple(child.env.get(o, UNKNOWN) for o in sub.outputs)
    return SubgraphResult(outputs, constraints, res.diagnostics, macs,
                          tuple(r.name for r in res.nodes if not r.supported))


def _declared_value(dims, dtype) -> Value:
    """A subgraph input as the file declares it: static dims kept, named or missing dims unknown."""
    if dims is None:
        return Value(None, int(dtype or 0))
    return Value(tuple(d if isinstance(d, int) else None for d in dims), int(dtype or 0))


# ------------------------------------------------------------------------------------------ calling a rule


@lru_cache(maxsize=None)
def _rule_params(fn) -> Tuple[Optional[set], int, int]:
    sig = inspect.signature(fn)
    kw = {p.name for p in sig.parameters.values() if p.kind == p.KEYWORD_ONLY}
    var_kw = any(p.kind == p.VAR_KEYWORD for p in sig.parameters.values())
    pos = [p for p in sig.parameters.values() if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)][1:]
    required = sum(1 for p in pos if p.default is p.empty)
    var_pos = any(p.kind == p.VAR_POSITIONAL for p in sig.parameters.values())
    return (None if var_kw else kw), (10 ** 6 if var_pos else len(pos)), required


def _as_outputs(out, n: int) -> List[Value]:
    if out is None:
        outs: List[Value] = []
    elif isinstance(out, Value):
        outs = [out]
    else:
        outs = list(out)
    outs = [o if isinstance(o, Value) else UNKNOWN for o in outs]
    return (outs + [UNKNOWN] * n)[:n]


def call_rule(rule, ctx: NodeContext, node: Node, ins: List[Optional[Value]], strict: bool = False) -> List[Value]:
    """The rule's outputs for this node; what goes wrong becomes a diagnostic and unknown outputs."""
    kw_ok, max_pos, required = _rule_params(rule)
    attrs = {k: v for k, v in node.attrs.items() if kw_ok is None or k in kw_ok}
    args = list(ins[:max_pos])
    # an input whose shape is unknown makes the outputs unknown, without a second diagnostic
    if any(a is not None and a.shape is None for a in args[:max(required, 1)]) and \
            not getattr(rule, "accepts_unknown", False):
        return _as_outputs(None, len(node.outputs))
    while len(args) < required:
        args.append(None)
    bad = _attribute_type_problem(node, ctx.opset)
    if bad:  # the model's fault (a float where the spec says ints), not the rule's
        ctx.warn(f"{bad}; outputs unknown", Kind.RULE_ERROR)
        return _as_outputs(None, len(node.outputs))
    try:
        outs = run_limited(lambda: rule(ctx, *args, **attrs), ctx, node)
        if outs is not None:
            return outs
    except RuleError as e:
        ctx.warn(f"{e}; outputs unknown", Kind.RULE_ERROR)
    except ShapealgError:
        raise
    except RULE_EXCEPTIONS as e:
        absent = [i for i in range(required) if i >= len(ins) or ins[i] is None]
        if absent:  # the likely cause, in words: the model's fault, not the rule's
            ctx.warn(f"input {absent[0]} is missing (the op needs it); outputs unknown", Kind.MISSING_INPUT)
        else:
            if strict:
                raise
            ctx.warn(f"cannot infer shapes ({type(e).__name__}: {str(e)[:200]}); outputs unknown", Kind.RULE_ERROR)
    except (MemoryError, RecursionError) as e:  # absurd sizes / ranks in a malformed model: this node only
        ctx.warn(f"too large to infer ({type(e).__name__}); outputs unknown", Kind.LIMIT)
    return _as_outputs(None, len(node.outputs))


_ATTR_CHECKS = {
    onnx.AttributeProto.INT: lambda v: isinstance(v, int),
    onnx.AttributeProto.FLOAT: lambda v: isinstance(v, (int, float)),
    onnx.AttributeProto.STRING: lambda v: isinstance(v, str),
    onnx.AttributeProto.INTS: lambda v: isinstance(v, list) and all(isinstance(x, int) for x in v),
    onnx.AttributeProto.FLOATS: lambda v: isinstance(v, list) and all(isinstance(x, (int, float)) for x in v),
    onnx.AttributeProto.STRINGS: lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v),
    onnx.AttributeProto.GRAPH: lambda v: isinstance(v, onnx.GraphProto),
    onnx.AttributeProto.TENSOR: lambda v: isinstance(v, onnx.TensorProto),
}


@lru_cache(maxsize=4096)
def _attribute_types(domain: str, op_type: str, opset: int) -> Dict[str, int]:
    try:
        schema = onnx.defs.get_schema(op_type, opset, domain)
    except Exception:  # noqa: BLE001 - no schema (contrib / custom ops): nothing to check
        return {}
    return {name: int(a.type) for name, a in schema.attributes.items()}


def _attribute_type_problem(node: Node, opset: int) -> Optional[str]:
    """A sentence when an attribute's type is not the one the op's ONNX schema gives it."""
    if node.domain not in ("", "ai.onnx"):
        return None
    types = _attribute_types("", node.op_type, opset)
    for name, v in node.attrs.items():
        check = _ATTR_CHECKS.get(types.get(name, -1))
        if check is not None and v is not None and not check(v):
            kind = onnx.AttributeProto.AttributeType.Name(types[name])
            return f"attribute {name} is not of the spec's type {kind}"
    return None


# ---- the per-node limits: rank and the algebra's work limit (no clock: the same answer under any load) ----

def run_limited(call: Callable[[], object], ctx: NodeContext, node: Node) -> Optional[List[Value]]:
    """``call()`` (the rule) under the per-node limits; its outputs, or None (a diagnostic said why)."""
    try:
        outs = _as_outputs(call(), len(node.outputs))
        if any(o.shape is not None and len(o.shape) > MAX_RANK for o in outs):  # robustness: absurd ranks
            raise RuleError(f"an output rank above {MAX_RANK}")
        return [_bounded(ctx, o) for o in outs]
    except TooComplex:
        ctx.warn(f"a shape formula passed the work limit ({_algebra.MAX_SIZE} terms); outputs unknown", Kind.LIMIT)
    return None


def _bounded(ctx: NodeContext, v: Value) -> Value:
    """v in canonical form; a dim (or a tracked element) whose formula passes the work limit
    (algebra.MAX_SIZE) becomes unknown, with a note; the other dims are kept."""
    shape, value, lost = v.shape, v.value, False
    if shape is not None:
        dims = []
        for d in shape:
            try:
                d = canon(d)
            except TooComplex:
                d, lost = None, True
            if isinstance(d, sympy.Expr) and d.has(sympy.nan, sympy.zoo, sympy.oo, -sympy.oo):
                ctx.warn(f"a dim is not a finite number ({d}: the model's shape arithmetic divides by zero or "
                         f"overflows); that dim is left unknown", Kind.RULE_ERROR)
                d = None
            dims.append(d)
        shape = tuple(dims)
    if value is not None and len(value) > VALUE_LIMIT:  # contents of large tensors are not carried
        value = None
    if value is not None and any(isinstance(x, sympy.Expr) and x.has(sympy.nan, sympy.zoo, sympy.oo, -sympy.oo)
                                 for x in value):
        ctx.warn("a computed shape value is not a finite number (the model's shape arithmetic divides by zero or "
                 "overflows); its contents are unknown", Kind.RULE_ERROR)
        value = None
    if value is not None:
        try:
            value = tuple(canon(x) if isinstance(x, sympy.Expr) and not x.is_Number else x for x in value)
        except TooComplex:
            value = None
            ctx.warn(f"a computed shape value passed the work limit ({_algebra.MAX_SIZE} terms); its contents are "
                     f"unknown, and so are the dims made from it", Kind.LIMIT)
    if lost:
        ctx.warn(f"a shape formula passed the work limit ({_algebra.MAX_SIZE} terms); that dim is left unknown",
                 Kind.LIMIT)
    return replace(v, shape=shape, value=value)


class _Pending:
    """A value's element bounds (shapealg.bounds), computed when an index check first reads them: most
    integer values are never read, and a hull of symbolic elements costs range decisions. The lower bounds
    in force then are those proved by the nodes walked so far, all of which hold wherever the reader runs."""
    __slots__ = ("rule", "node", "ins", "out", "scope")

    def __init__(self, rule, node: Node, ins, out: Value, scope: "Scope"):
        self.rule, self.node, self.ins, self.out, self.scope = rule, node, ins, out, scope

    def resolve(self):
        in_bounds = _LazyBounds(self.scope, self.node.inputs, self.ins)
        try:
            return _bounds.propagate(self.rule, self.node, self.ins, in_bounds, self.out)
        except TooComplex:  # bounds past the work limit: none (the index checks say "not checked")
            return None
        except (TypeError, ValueError, AttributeError, IndexError):
            if self.scope.strict:
                raise
            return None


def _read_bounds(scope: "Scope", name: str, v: Optional[Value]):
    b = scope.bounds.get(name)
    if isinstance(b, _Pending):
        b = b.resolve()
        scope.bounds[name] = b
    return b or _known_bounds(v)


class _LazyBounds(abc.Sequence):
    """Per input: its bounds, computed on first read (a tuple to the rules that read them)."""

    def __init__(self, scope: "Scope", names: Sequence[str], ins: Sequence[Optional[Value]]):
        self._scope, self._names, self._ins = scope, list(names), list(ins)
        self._done: Dict[int, object] = {}

    def __len__(self) -> int:
        return len(self._names)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return tuple(self[j] for j in range(*i.indices(len(self))))
        i = range(len(self))[i]
        if i not in self._done:
            x = self._names[i]
            self._done[i] = _read_bounds(self._scope, x, self._ins[i]) if x else None
        return self._done[i]


def _known_bounds(v: Optional[Value]):
    try:
        return _bounds.of_value(v)
    except TooComplex:
        return None


def _safe_canon(d: MaybeDim) -> MaybeDim:
    try:
        return canon(d)
    except TooComplex:
        return None


# ---- end of the per-node limits ----
