"""Registry of shape rules, keyed by (domain, op_type) with opset ranges, and the context a rule gets.

A rule is a plain function named after its op: ``def conv(ctx, x, w, b=None, *, strides=None, ...)``.
It receives the input ``Value``s positionally (``None`` for an omitted optional input) and the node's
attributes as keyword arguments, so spec defaults live in the signature. It returns a ``Value`` or a
list of them, and states through ``ctx`` the constraints its op imposes and its cost.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Tuple

import sympy

from ..dims import MaybeDim, canon, known_equal, known_ge, simplify_bool
from ..tensor import Constraint, ShapealgError

Rule = Callable[..., object]
_REGISTRY: Dict[Tuple[str, str], List[Tuple[int, int, Rule]]] = {}

ONNX_DOMAINS = ("", "ai.onnx")


def register(*op_types: str, domain: str = "", since: int = 1, until: int = 10 ** 6):
    """``@register("Relu", "Sigmoid")``: the function handles these ops for opsets [since, until]."""
    def deco(fn: Rule) -> Rule:
        for op in op_types:
            _REGISTRY.setdefault((domain, op), []).append((since, until, fn))
        return fn
    return deco


def lookup(domain: str, op_type: str, opset: int) -> Optional[Rule]:
    domain = "" if domain in ONNX_DOMAINS else domain
    for since, until, fn in _REGISTRY.get((domain, op_type), ()):
        if since <= opset <= until:
            return fn
    return None


def registered_ops() -> List[Tuple[str, str]]:
    return sorted(_REGISTRY)


class RuleError(ShapealgError):
    """Raised by a rule for a node it cannot handle; becomes a warning and unknown outputs."""


@dataclass
class NodeContext:
    """What a rule may use besides its inputs: where it is, and where it reports to."""
    node: str
    op_type: str
    opset: int
    n_outputs: int = 1
    constraints: List[Constraint] = field(default_factory=list)
    warnings: List[str] = field(default_factory=list)
    macs: MaybeDim = 0
    buffer_inputs: Tuple[int, ...] = ()
    input_bounds: Tuple = ()  # per input: exact element bounds of an index tensor (shapealg.bounds), or None

    def require(self, condition, reason: str) -> None:
        """Record that the node runs only where ``condition`` holds (trivially true ones are dropped)."""
        condition = simplify_bool(condition)  # canonical formulas; comparisons the ranges decide are decided
        if condition == sympy.true:
            return
        self.constraints.append(Constraint(self.node, self.op_type, condition, reason))

    def require_equal(self, a: MaybeDim, b: MaybeDim, reason: str) -> None:
        if a is None or b is None:
            return
        if known_equal(a, b) is True:
            return
        self.require(sympy.Eq(sympy.sympify(canon(a)), sympy.sympify(canon(b))), reason)

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
        self.require(sympy.Ge(canon(d), k), f"{what} = {d} must be >= {k}")

    def warn(self, message: str) -> None:
        self.warnings.append(message)

    def fail(self, message: str):
        raise RuleError(message)
