"""Shape formulas for every value of a model: its graph walked once (``shapealg.walk``), the result frozen.
No printing, no runtime."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

from .diagnostics import Diagnostic, file_note
from .dims import MaybeDim, as_dim, assuming
from .graph import Graph, read_graph
from .records import Constraint, NodeResult, Value, ValueInfo
from .walk import Scope, strict_default, walk


@dataclass(frozen=True)
class InferResult:
    graph: Graph
    values: Mapping[str, ValueInfo]
    nodes: Tuple[NodeResult, ...]
    constraints: Tuple[Constraint, ...]
    diagnostics: Tuple[Diagnostic, ...]
    # data-dependent symbols declared while walking: name -> (node, op_type, what it counts)
    data_dependent: Mapping[str, Tuple[str, str, str]] = field(default_factory=dict)
    # lower bounds of input sizes that constraints proved on the way (``H >= 4`` after a 4x4 patch Conv):
    # the formulas after the proving node hold where these do (every valid size)
    assumed: Mapping[str, int] = field(default_factory=dict)
    # residues proved likewise (a window partition's ``Mod(ceiling(H/4), 8) == 0``): name -> (M, the allowed
    # values of the size mod M)
    residues: Mapping[str, Tuple[int, Tuple[int, ...]]] = field(default_factory=dict)

    @property
    def warnings(self) -> Tuple[str, ...]:
        return tuple(str(d) for d in self.diagnostics)

    def is_data_dependent(self, sym) -> bool:
        """True for a symbol (or its name) a rule of this analysis declared data-dependent."""
        return str(sym) in self.data_dependent

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
        """Trainable weights: every floating-point initializer a node (or a subgraph of it) consumes, each
        counted once."""
        seen: Dict[str, int] = {}
        for n in self.nodes:
            seen.update(n.param_sizes)
        return sum(seen.values())

    @property
    def total_buffers(self) -> int:
        from .rules.registry import buffer_inputs
        seen = {}
        for n in self.nodes:
            for i in buffer_inputs(n.domain, n.op_type):
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
        if isinstance(tot, int):
            return tot
        tot = as_dim(sympy.expand(tot))
        if self.residues:  # each node's formula holds where the model runs: so does their sum, in one spelling there
            from .algebra import TooComplex
            from .dims import canon
            try:
                with assuming(self.assumed, self.residues):
                    tot = canon(tot)
            except TooComplex:
                pass
        return tot

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


def infer_graph(graph: Graph, *, strict: Optional[bool] = None) -> InferResult:
    """Walk ``graph``; ``strict`` (default: ``SHAPEALG_STRICT``): an exception in a rule is re-raised."""
    env: Dict[str, Value] = {}
    for gi in graph.inputs:
        env[gi.name] = Value(gi.shape, gi.dtype, kind=gi.kind)
    for name, init in graph.initializers.items():
        env.setdefault(name, Value(init.dims, init.dtype, init.value, is_initializer=True))
    with assuming() as assume:
        scope = Scope(env, dict(graph.initializers), {}, {}, {}, {}, graph.opset, {},
                      strict_default() if strict is None else strict, assume=assume)
        res = walk(graph.nodes, scope)
    values: Dict[str, ValueInfo] = {}
    for gi in graph.inputs:
        values[gi.name] = ValueInfo(gi.name, gi.shape, gi.dtype, None, gi.kind)
    for rec in res.nodes:
        for o in rec.outputs:
            if o:
                v = env[o]
                values[o] = ValueInfo(o, v.shape, v.dtype, scope.producers[o].name, v.kind)
    # reader findings (unsafe external data...) come first
    diags = tuple(file_note(w) for w in graph.warnings) + res.diagnostics
    return InferResult(graph, values, res.nodes, res.constraints, diags, dict(scope.declared), dict(assume.lower),
                       dict(assume.residues))


def infer(model, *, shapes: Optional[Mapping[str, Sequence]] = None, symbolize_spatial: bool = True,
          strict: Optional[bool] = None) -> InferResult:
    """Shape formulas for every value of ``model`` (a path or an onnx.ModelProto)."""
    graph = model if isinstance(model, Graph) else read_graph(model, shapes=shapes, symbolize_spatial=symbolize_spatial)
    return infer_graph(graph, strict=strict)
