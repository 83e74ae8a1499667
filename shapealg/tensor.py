"""Frozen records that flow between the graph reader, the rules and the reports."""
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
    name: str
    op_type: str
    domain: str
    inputs: Tuple[str, ...]
    outputs: Tuple[str, ...]
    params: int = 0          # elements of floating-point initializers this node consumes (trainable weights)
    buffers: int = 0         # elements of initializers that are state, not weights (BatchNorm mean / var)
    param_inputs: Tuple[str, ...] = ()
    macs: MaybeDim = 0       # None when the cost of this op is not modelled
    warnings: Tuple[str, ...] = ()
    supported: bool = True
    scope: str = ""          # the torch module path the exporter recorded, when any


@dataclass(frozen=True)
class ValueInfo:
    name: str
    shape: Shape
    dtype: int
    producer: Optional[str]  # node name; None for graph inputs and initializers


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


def field_default(x):  # pragma: no cover - tiny helper for dataclasses with mutable defaults
    return field(default_factory=lambda: x)
