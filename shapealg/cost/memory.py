"""Activation memory: bytes of every value by its dtype, and the peak of live bytes along the topological order.

Liveness (one execution in the file's topological order, nothing freed early or fused):
a graph input is live from the start, a node output from the step that produces it; either stays live until
the last node that reads it has run (a graph output until the end). At step i the live bytes are those of the
values produced before i and still needed, plus the outputs of node i (its inputs are among the former).
Initializers (weights) are not activations and are not counted.

The peak is the largest step total. As a formula it is ``Max(step totals)``, restricted to the steps that are
the largest at some sampled size (a grid of sizes from 1 to 16384, square and 1:2 / 2:1); ``peak_at`` gives
the exact value at any size by evaluating every step.
"""
from __future__ import annotations

from typing import Dict, List, Mapping, Tuple

import sympy
from onnx import TensorProto

from ..dims import MaybeDim, prod

__all__ = ["DTYPE_BYTES", "value_bytes", "Liveness"]

DTYPE_BYTES: Mapping[int, object] = {
    TensorProto.FLOAT: 4, TensorProto.UINT8: 1, TensorProto.INT8: 1, TensorProto.UINT16: 2, TensorProto.INT16: 2,
    TensorProto.INT32: 4, TensorProto.INT64: 8, TensorProto.BOOL: 1, TensorProto.FLOAT16: 2,
    TensorProto.DOUBLE: 8, TensorProto.UINT32: 4, TensorProto.UINT64: 8, TensorProto.COMPLEX64: 8,
    TensorProto.COMPLEX128: 16, TensorProto.BFLOAT16: 2,
    17: 1, 18: 1, 19: 1, 20: 1, 21: sympy.Rational(1, 2), 22: sympy.Rational(1, 2), 23: 1, 25: 1,
}


def value_bytes(shape, dtype: int) -> MaybeDim:
    """numel * element size; None when the shape or the dtype (or its size: strings) is unknown."""
    if shape is None or dtype not in DTYPE_BYTES:
        return None
    n = prod(shape)
    if n is None:
        return None
    size = DTYPE_BYTES[dtype]
    out = n * size
    if isinstance(out, sympy.Basic):
        out = sympy.ceiling(out) if isinstance(size, sympy.Rational) and not size.is_integer else sympy.expand(out)
        return int(out) if out.is_Integer else out
    return out


class Liveness:
    """The step structure of the live-bytes sweep, built once; ``step_formulas`` and ``peak_at`` use it."""

    def __init__(self, result):
        nodes = result.nodes
        n = len(nodes)
        self.names: List[str] = [nr.name for nr in nodes]
        last: Dict[str, int] = {}
        for i, nr in enumerate(nodes):
            for x in nr.inputs:
                if x:
                    last[x] = i
        for o in result.graph.outputs:
            last[o] = n
        inits = result.graph.initializers
        self.bytes: Dict[str, MaybeDim] = {}
        self.unknown: List[str] = []
        self.inputs: List[str] = []
        for gi in result.graph.inputs:
            if gi.name in inits:
                continue
            self.inputs.append(gi.name)
            v = result.values.get(gi.name)
            self.bytes[gi.name] = value_bytes(v.shape if v else gi.shape, gi.dtype)
        self.outs: List[Tuple[str, ...]] = []
        self.freed: List[List[str]] = [[] for _ in range(n)]
        for i, nr in enumerate(nodes):
            outs = tuple(o for o in nr.outputs if o)
            self.outs.append(outs)
            for o in outs:
                v = result.values.get(o)
                self.bytes[o] = value_bytes(v.shape, v.dtype) if v is not None else None
                lu = last.get(o, i)  # an unread output is freed after its own step
                if lu < n:           # a graph output (lu == n) stays live to the end
                    self.freed[lu].append(o)
        for name in self.inputs:
            lu = last.get(name, 0)
            if n and lu < n:
                self.freed[lu].append(name)
        self.unknown = [k for k, b in self.bytes.items() if b is None]

    # a value whose last reader is step i is freed after step i; unread values are freed after their own step

    def step_formulas(self) -> List[MaybeDim]:
        """Live bytes at each step, as formulas (unknown sizes left out: see ``unknown``)."""
        cur: Dict[object, int] = {}

        def add(b, k):
            if b is not None and b != 0:
                cur[b] = cur.get(b, 0) + k

        for name in self.inputs:
            add(self.bytes[name], 1)
        steps = []
        for i, outs in enumerate(self.outs):
            for o in outs:
                add(self.bytes[o], 1)
            steps.append(sympy.Add(*[c * e for e, c in cur.items() if c]) if cur else 0)
            for v in self.freed[i]:
                add(self.bytes[v], -1)
        return steps

    def peak_many(self, values: Mapping[str, "object"], n: int):
        """Vectorised ``peak_at`` over n sizes: ``values`` maps a value name to an int64 array of its bytes at
        each size; returns (peak bytes array, step index array)."""
        import numpy as np
        zero = np.zeros(n, dtype=np.int64)

        def tot(names):
            out = zero
            for x in names:
                v = values.get(x)
                if v is not None:
                    out = out + v
            return out

        cur = tot(self.inputs)
        best, where = cur.copy(), np.zeros(n, dtype=np.int64)
        for i, outs in enumerate(self.outs):
            cur = cur + tot(outs)
            better = cur > best
            best = np.where(better, cur, best)
            where = np.where(better, i, where)
            if self.freed[i]:
                cur = cur - tot(self.freed[i])
        return best, where

    def peak_at(self, values: Mapping[str, float]) -> Tuple[float, int]:
        """(peak live bytes, step index) given every value's bytes evaluated at one size."""
        cur = sum(values.get(x) or 0 for x in self.inputs)
        best, where = cur, 0
        for i, outs in enumerate(self.outs):
            cur += sum(values.get(o) or 0 for o in outs)
            if cur > best:
                best, where = cur, i
            cur -= sum(values.get(v) or 0 for v in self.freed[i])
        return best, where
