"""Frozen records that flow between the graph reader, the rules and the reports, and ShapealgError (an input
shapealg cannot use)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional, Tuple

import sympy

from .dims import MaybeDim, prod

Shape = Optional[Tuple[MaybeDim, ...]]  # None: rank unknown


class ShapealgError(Exception):
    """An input shapealg cannot use; the message is one line naming file / node / op."""


@dataclass(frozen=True)
class Value:
    """What the engine knows of one tensor: its shape, dtype and, for small tensors whose
    contents matter to shapes (shape vectors, axes, scales), the contents as Dims."""
    shape: Shape
    dtype: int = 0  # onnx.TensorProto element type; 0 when unknown
    value: Optional[Tuple[Any, ...]] = None  # flattened contents (row-major), when known
    is_initializer: bool = False
    # "tensor", "sequence", "optional" or "map" (an ai.onnx.ml map: no shape; dtype its values'). A sequence / optional's ``shape`` and ``dtype`` are its elements'
    # (for a sequence: dims every element shares, None where they may differ); ``elems`` lists the elements
    # when they are known (an empty optional: ()), None when only the element shape is
    kind: str = "tensor"
    elems: Optional[Tuple["Value", ...]] = None

    @property
    def rank(self) -> Optional[int]:
        return None if self.shape is None else len(self.shape)

    @property
    def numel(self) -> MaybeDim:
        return None if self.shape is None else prod(self.shape)

    def with_shape(self, shape: Shape) -> "Value":
        return Value(tuple(shape) if shape is not None else None, self.dtype)


UNKNOWN = Value(None, 0)


@dataclass(frozen=True)
class Constraint:
    """A condition on the input symbols under which a node can run, and why."""
    node: str
    op_type: str
    condition: sympy.Basic  # a sympy boolean in the input symbols
    reason: str

    def holds_at(self, env) -> bool:
        from .dims import symbol
        subs = {symbol(k) if isinstance(k, str) else k: sympy.Integer(v) for k, v in env.items()}
        return bool(self.condition.xreplace(subs))


@dataclass(frozen=True)
class NodeResult:
    """One node as the walker saw it: what it consumes and produces, its cost, what it requires, what it said."""
    name: str
    op_type: str
    domain: str
    inputs: Tuple[str, ...]
    outputs: Tuple[str, ...]
    params: int = 0          # elements of floating-point initializers this node (and its subgraphs) consume
    buffers: int = 0         # elements of initializers that are state, not weights (BatchNorm mean / var)
    param_inputs: Tuple[str, ...] = ()
    macs: MaybeDim = 0       # under the default convention; None when not modelled or a needed shape is unknown
    diagnostics: Tuple[Any, ...] = ()   # shapealg.diagnostics.Diagnostic records
    supported: bool = True
    scope: str = ""          # the torch module path the exporter recorded, when any
    output_values: Tuple[Value, ...] = field(default=(), compare=False, repr=False)
    constraints: Tuple["Constraint", ...] = field(default=(), compare=False, repr=False)
    declared: Tuple[str, ...] = ()  # data-dependent symbols this node declared
    # (key, elements) of every trainable initializer consumed, subgraphs included (key: the name at top level,
    # ``<node>/<attribute>/<name>`` for a subgraph's own initializers); totals count each key once
    param_sizes: Tuple[Tuple[str, int], ...] = ()
    rule_macs: MaybeDim = None  # a count the rule made (Einsum, attention, loop bodies); read by their cost model
    cost: Any = field(default=None, compare=False, repr=False)  # costmodel.OpCost under the default convention

    @property
    def warnings(self) -> Tuple[str, ...]:
        return tuple(str(d) for d in self.diagnostics)


@dataclass(frozen=True)
class ValueInfo:
    name: str
    shape: Shape
    dtype: int
    producer: Optional[str]  # node name; None for graph inputs and initializers
    kind: str = "tensor"     # "sequence" / "optional": ``shape`` is the elements' (Value.kind)


@dataclass(frozen=True)
class Initializer:
    name: str
    dims: Tuple[int, ...]
    dtype: int
    value: Optional[Tuple[Any, ...]] = None  # only for small tensors

    @property
    def numel(self) -> int:
        n = 1
        for d in self.dims:
            n *= d
        return n

