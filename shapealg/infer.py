"""Walk the graph once in topological order, call each node's rule, collect a frozen result.
No printing, no runtime."""
from __future__ import annotations

import inspect
from dataclasses import dataclass
from functools import lru_cache

import sympy
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

from . import rules as _rules  # noqa: F401  (registers every rule)
from .dims import MaybeDim, as_dim, canon
from .graph import FLOAT_TYPES, Graph, read_graph
from .rules._util import VALUE_LIMIT
from .rules.registry import NodeContext, RuleError, lookup
from .subgraph import attach_scope
from .tensor import UNKNOWN, Constraint, NodeResult, ShapealgError, Value, ValueInfo
from . import bounds as _bounds
from . import algebra as _algebra
from . import limits as _limits
from .algebra import TooComplex

# inputs that hold state rather than trained weights (torch counts them as buffers)
BUFFER_INPUTS = {"BatchNormalization": (3, 4)}
MAX_RANK = _limits.MAX_RANK  # a rule producing a higher rank (from a malformed shape vector) gives unknown outputs


@dataclass(frozen=True)
class InferResult:
    graph: Graph
    values: Mapping[str, ValueInfo]
    nodes: Tuple[NodeResult, ...]
    constraints: Tuple[Constraint, ...]
    warnings: Tuple[str, ...]

    @property
    def symbols(self) -> List[str]:
        return self.graph.symbols

    @property
    def inputs(self) -> Dict[str, tuple]:
        return {gi.name: gi.shape for gi in self.graph.inputs}

    @property
    def outputs(self) -> Dict[str, tuple]:
        return {o: self.values[o].shape if o in self.values else None for o in self.graph.outputs}

    @property
    def total_params(self) -> int:
        """Trainable weights: every floating-point initializer a node consumes, each counted once."""
        seen = {}
        for n in self.nodes:
            for name in n.param_inputs:
                seen[name] = self.graph.initializers[name].numel
        return sum(seen.values())

    @property
    def total_buffers(self) -> int:
        seen = {}
        for n in self.nodes:
            for i in BUFFER_INPUTS.get(n.op_type, ()):
                if i < len(n.inputs) and n.inputs[i] in self.graph.initializers:
                    seen[n.inputs[i]] = self.graph.initializers[n.inputs[i]].numel
        return sum(seen.values())

    @property
    def total_macs(self) -> MaybeDim:
        import sympy
        tot = 0
        for n in self.nodes:
            if n.macs is not None:
                tot = tot + n.macs
        return as_dim(sympy.expand(tot)) if not isinstance(tot, int) else tot

    @property
    def unsupported(self) -> List[NodeResult]:
        return [n for n in self.nodes if not n.supported]

    def node(self, name: str) -> NodeResult:
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(name)

    def shape(self, value_name: str):
        return self.values[value_name].shape


@lru_cache(maxsize=None)
def _rule_params(fn) -> Tuple[Optional[set], int, bool]:
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


def _canon(v: Value) -> Value:
    if v.shape is None:
        return v
    try:
        return Value(tuple(canon(d) for d in v.shape), v.dtype, v.value, v.is_initializer)
    except TooComplex:
        return Value(tuple(None for _d in v.shape), v.dtype, None, v.is_initializer)


def infer_graph(graph: Graph) -> InferResult:
    env: Dict[str, Value] = {}
    producer: Dict[str, Optional[str]] = {}
    for gi in graph.inputs:
        env[gi.name] = Value(gi.shape, gi.dtype)
        producer[gi.name] = None
    for name, init in graph.initializers.items():
        env.setdefault(name, Value(init.dims, init.dtype, init.value, is_initializer=True))
    results: List[NodeResult] = []
    constraints: List[Constraint] = []
    warnings: List[str] = list(graph.warnings)  # reader findings (unsafe external data...) come first
    bounds: Dict[str, _bounds.Bounds] = {}  # exact element bounds of integer index tensors (bounds.py)
    for node in graph.nodes:
        opset = graph.opset(node.domain)
        ctx = NodeContext(node.name, node.op_type, opset, len(node.outputs))
        attach_scope(ctx, env, graph.opset)  # If / Loop / Scan bodies see the outer values
        ins: List[Optional[Value]] = []
        missing = [x for x in node.inputs if x and x not in env]
        for x in node.inputs:
            ins.append(env.get(x, UNKNOWN) if x else None)
        in_bounds: List = []
        if node.op_type in _bounds.CONSUMES:  # only index arithmetic and indexing ops need them
            in_bounds = [bounds.get(x) or _bounds.of_value(v) if x else None for x, v in zip(node.inputs, ins)]
            ctx.input_bounds = tuple(in_bounds)
        rule = lookup(node.domain, node.op_type, opset)
        supported = rule is not None
        outs: List[Value]
        if missing:
            ctx.warn(f"node {node.name!r} (op {node.op_type}): input {missing[0]!r} is produced by no node and is "
                     f"not a graph input or initializer; outputs unknown")
            outs = _as_outputs(None, len(node.outputs))
        elif rule is None:
            dom = f"{node.domain}." if node.domain not in ("", "ai.onnx") else ""
            ctx.warn(f"node {node.name!r}: no shape rule for op {dom}{node.op_type} (opset {opset}); outputs unknown")
            outs = _as_outputs(None, len(node.outputs))
        else:
            outs = _call_rule(rule, ctx, node, ins)
        if node.op_type in _bounds.PROPAGATES and outs and node.outputs and node.outputs[0]:
            try:
                b = _bounds.propagate(node.op_type, node.attrs, ins, in_bounds, outs[0])
            except (TypeError, ValueError, AttributeError, IndexError):
                b = None
            if b is not None:
                bounds[node.outputs[0]] = b
        for name, v in zip(node.outputs, outs):
            if name:
                env[name] = v
                producer[name] = node.name
        buf_idx = BUFFER_INPUTS.get(node.op_type, ())
        param_inputs = tuple(x for i, x in enumerate(node.inputs)
                             if x in graph.initializers and graph.initializers[x].dtype in FLOAT_TYPES
                             and i not in buf_idx)
        buffers = sum(graph.initializers[x].numel for i, x in enumerate(node.inputs)
                      if i in buf_idx and x in graph.initializers)
        params = sum(graph.initializers[x].numel for x in dict.fromkeys(param_inputs))
        results.append(NodeResult(node.name, node.op_type, node.domain, node.inputs, node.outputs, params, buffers,
                                  param_inputs, _macs(ctx.macs), tuple(ctx.warnings), supported, node.scope))
        constraints.extend(ctx.constraints)
        warnings.extend(ctx.warnings)
    values: Dict[str, ValueInfo] = {}
    for gi in graph.inputs:
        values[gi.name] = ValueInfo(gi.name, gi.shape, gi.dtype, None)
    for node in graph.nodes:
        for o in node.outputs:
            if o:
                v = env[o]
                values[o] = ValueInfo(o, v.shape, v.dtype, producer[o])
    return InferResult(graph, values, tuple(results), tuple(constraints), tuple(warnings))


def _macs(m: MaybeDim) -> MaybeDim:
    try:
        return canon(m)
    except TooComplex:
        return None


def _call_rule(rule, ctx: NodeContext, node, ins: List[Optional[Value]]) -> List[Value]:
    kw_ok, max_pos, required = _rule_params(rule)
    attrs = {k: v for k, v in node.attrs.items() if kw_ok is None or k in kw_ok}
    args = list(ins[:max_pos])
    # an input whose shape is unknown makes the outputs unknown, without a second warning
    if any(a is not None and a.shape is None for a in args[:max(required, 1)]) and not getattr(rule, "accepts_unknown", False):
        return _as_outputs(None, len(node.outputs))
    while len(args) < required:
        args.append(None)
    try:
        outs = _as_outputs(rule(ctx, *args, **attrs), len(node.outputs))
        if any(o.shape is not None and len(o.shape) > MAX_RANK for o in outs):  # robustness: absurd ranks
            raise RuleError(f"an output rank above {MAX_RANK}")
        return [_bounded(ctx, node, o) for o in outs]
    except TooComplex:
        ctx.warn(f"node {node.name!r} (op {node.op_type}): a shape formula passed the work limit "
                 f"({_algebra.MAX_SIZE} terms); outputs unknown")
    except RuleError as e:
        ctx.warn(f"node {node.name!r} (op {node.op_type}): {e}; outputs unknown")
    except ShapealgError:
        raise
    except (TypeError, ValueError, IndexError, KeyError, ZeroDivisionError, AttributeError, OverflowError) as e:
        absent = [i for i in range(required) if i >= len(ins) or ins[i] is None]
        if absent:  # the likely cause, in words
            ctx.warn(f"node {node.name!r} (op {node.op_type}): input {absent[0]} is missing (the op needs it); "
                     f"outputs unknown")
        else:
            ctx.warn(f"node {node.name!r} (op {node.op_type}): cannot infer shapes ({type(e).__name__}: "
                     f"{str(e)[:200]}); outputs unknown")
    except (MemoryError, RecursionError) as e:  # absurd sizes / ranks in a malformed model: this node only
        ctx.warn(f"node {node.name!r} (op {node.op_type}): too large to infer ({type(e).__name__}); outputs unknown")
    return _as_outputs(None, len(node.outputs))


def _bounded(ctx: NodeContext, node, v: Value) -> Value:
    """v in canonical form; a dim (or a tracked element) whose formula passes the work limit
    (algebra.MAX_SIZE) becomes unknown, with a note naming the node; the other dims are kept."""
    shape, value, lost = v.shape, v.value, False
    if shape is not None:
        dims = []
        for d in shape:
            try:
                dims.append(canon(d))
            except TooComplex:
                dims.append(None)
                lost = True
        shape = tuple(dims)
    if value is not None and len(value) > VALUE_LIMIT:  # contents of large tensors are not carried
        value = None
    if value is not None:
        try:
            value = tuple(canon(x) if isinstance(x, sympy.Expr) and not x.is_Number else x for x in value)
        except TooComplex:
            value = None
            ctx.warn(f"node {node.name!r} (op {node.op_type}): a computed shape value passed the work limit "
                     f"({_algebra.MAX_SIZE} terms); its contents are unknown, and so are the dims made from it")
    if lost:
        ctx.warn(f"node {node.name!r} (op {node.op_type}): a shape formula passed the work limit "
                 f"({_algebra.MAX_SIZE} terms); that dim is left unknown")
    return Value(shape, v.dtype, value, v.is_initializer)


def infer(model, *, shapes: Optional[Mapping[str, Sequence]] = None, symbolize_spatial: bool = True) -> InferResult:
    """Shape formulas for every value of ``model`` (a path or an onnx.ModelProto)."""
    graph = model if isinstance(model, Graph) else read_graph(model, shapes=shapes, symbolize_spatial=symbolize_spatial)
    return infer_graph(graph)
