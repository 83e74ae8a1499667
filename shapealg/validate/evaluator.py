"""Every value's shape formula, compiled once, evaluated exactly at concrete sizes; predicted memory."""
from __future__ import annotations

from dataclasses import replace

import operator
from fractions import Fraction
from typing import Any, Callable, Dict, Mapping, Optional, Sequence, Tuple

import numpy as np
import onnx

Env = Dict[str, int]

_ITEMSIZE = {
    onnx.TensorProto.FLOAT: 4, onnx.TensorProto.DOUBLE: 8, onnx.TensorProto.FLOAT16: 2,
    onnx.TensorProto.BFLOAT16: 2, onnx.TensorProto.INT8: 1, onnx.TensorProto.UINT8: 1,
    onnx.TensorProto.INT16: 2, onnx.TensorProto.UINT16: 2, onnx.TensorProto.INT32: 4,
    onnx.TensorProto.UINT32: 4, onnx.TensorProto.INT64: 8, onnx.TensorProto.UINT64: 8,
    onnx.TensorProto.BOOL: 1,
}


class Evaluator:
    """Every value's shape formula, compiled once, evaluated exactly at concrete sizes.

    Distinct dim expressions are compiled with the domain's exact integer evaluator (no float ever
    decides a floor); sympy substitution is the fallback for what it cannot compile.
    """

    def __init__(self, analysis):
        # a sequence / optional's shape is its elements': onnxruntime has no tensor shape to compare it with
        self.values = {k: (vi if getattr(vi, "kind", "tensor") == "tensor" else replace(vi, shape=None))
                       for k, vi in analysis.result.values.items()}
        self._fns: Dict[Any, Callable[[Env], Any]] = {}
        for vi in self.values.values():
            for d in vi.shape or ():
                if d is not None and not isinstance(d, int) and d not in self._fns:
                    self._fns[d] = self._compile(d)
        # for shapes_at: every value's shape as slots into one list per size, [expr values..., constants...]
        slot = {d: i for i, d in enumerate(self._fns)}
        consts: Dict[Any, int] = {}
        self._getters: Dict[str, Callable[[list], Tuple[Any, ...]]] = {}
        self._slots: Dict[str, Tuple[int, ...]] = {}
        for name, vi in self.values.items():
            if vi.shape is None:
                continue
            idx = []
            for d in vi.shape:
                if d is None or isinstance(d, int):
                    idx.append(consts.setdefault(d, len(slot) + len(consts)))
                else:
                    idx.append(slot[d])
            self._getters[name] = _getter(idx)
            self._slots[name] = tuple(idx)
        self._consts = list(consts)
        # sizes with one symbol at 0 (zero_sizes.py): the values whose formula holds for that symbol >= 1 only
        # take the face's shape there (a formula of the other sizes), compiled the same way
        self._faces = tuple(getattr(analysis, "zero_faces", ()))
        self._face_shapes: Dict[str, Dict[str, Tuple[Any, ...]]] = {}
        for f in self._faces:
            if f.domain is None:
                continue
            self._face_shapes[f.symbol] = {
                v: tuple(d if d is None or isinstance(d, int) else self._fns.get(d) or self._compile(d) for d in shp)
                for v, _, shp in f.differs if v in self._getters}

    @staticmethod
    def _compile(expr):
        try:
            from ..validity import compile_exact
            fn, den = compile_exact(expr)
            names = {str(s) for s in expr.free_symbols}

            def f(env, fn=fn, den=den, names=names):
                if not names <= env.keys():
                    return None
                num = fn(env)
                return int(num) // den if num % den == 0 else Fraction(int(num), den)
            return f
        except Exception:  # noqa: BLE001 - anything the fast path cannot take goes through sympy
            from ..dims import evaluate

            def g(env, expr=expr):
                try:
                    return evaluate(expr, env)
                except (ValueError, TypeError, ZeroDivisionError):
                    return None
            return g

    def dims_at(self, env: Env) -> Dict[Any, Any]:
        out = {}
        for d, f in self._fns.items():
            try:
                out[d] = f(env)
            except (ZeroDivisionError, ValueError, TypeError, OverflowError):
                out[d] = None
        return out

    def face_shapes(self, env: Env) -> Optional[Dict[str, Tuple[Any, ...]]]:
        """At a size with one symbol at 0, the shapes there of the values whose general formula does not give
        them (the face's ``differs``, evaluated at the other sizes); {} when no size is 0 or every formula
        holds at 0; None when the size is not on an analysed face (nothing is claimed there)."""
        from ..zero_sizes import face_of
        try:
            f = face_of(self._faces, env)
        except ValueError:
            return None
        if f is None:
            return {}
        return {v: tuple(d if d is None or isinstance(d, int) else _at(d, env) for d in shp)
                for v, shp in self._face_shapes.get(f.symbol, {}).items()}

    def shapes_at(self, env: Env) -> Tuple[Dict[Any, Any], Callable[[str], Optional[Tuple[Any, ...]]]]:
        """(the distinct dims at env, a function: value name -> its shape at env, or None when its rank is
        unknown). Fast: one exact evaluation per distinct dim, then a C-level gather per value. The one place
        that knows sizes of 0: a value the face lists takes the face's shape, and a size off every analysed
        face has no expected shape."""
        dims = self.dims_at(env)
        vals = list(dims.values()) + self._consts
        getters = self._getters
        over = self.face_shapes(env) if any(v == 0 for v in env.values()) else {}
        if over is None:
            return dims, lambda name: None

        def shape(name: str):
            if name in over:
                return over[name]
            g = getters.get(name)
            return None if g is None else g(vals)
        return dims, shape

    def flat(self, names: Sequence[str]) -> Optional[Callable[[Env], Optional[np.ndarray]]]:
        """A function env -> the shapes of ``names`` at env as one int64 vector, each shape followed by -1
        (the layout of probe.PROBE_OUTPUT), so that one array comparison checks every value; a dim that is
        unknown, not an integer or out of int64 range at env is -2, which no run produces. None when a
        name's rank is unknown."""
        if any(n not in self._slots for n in names):
            return None
        sep = len(self._fns) + len(self._consts)
        idx = np.fromiter((i for n in names for i in self._slots[n] + (sep,)), dtype=np.intp)
        consts = self._consts

        def expected(env: Env) -> Optional[np.ndarray]:
            if any(v == 0 for v in env.values()) and self.face_shapes(env) != {}:
                return None  # a value takes the face's shape there (or none is claimed): compared by shapes_at
            vals = list(self.dims_at(env).values()) + consts
            arr = np.fromiter((v if type(v) is int and 0 <= v < 2 ** 62 else -2 for v in vals), dtype=np.int64,
                              count=len(vals))
            return np.append(arr, -1)[idx]
        return expected

    def memory(self, env: Env) -> Tuple[int, int]:
        """(predicted bytes of every value, number of values with unknown shape).

        A value whose shape is unknown at this size is counted as large as the largest known value
        (an over-estimate, so that large sizes are not run blind)."""
        _, shape_at = self.shapes_at(env)
        total, unknown, largest = 0, 0, 0
        for name, vi in self.values.items():
            shp = shape_at(name)
            if shp is None or any(d is None or not isinstance(d, int) for d in shp):
                unknown += 1
                continue
            n = 1
            for d in shp:
                n *= max(d, 0)
            b = n * _ITEMSIZE.get(vi.dtype, 4)
            total += b
            largest = max(largest, b)
        return total + unknown * largest, unknown


def _at(f: Callable[[Env], Any], env: Env) -> Any:
    try:
        return f(env)
    except (ZeroDivisionError, ValueError, TypeError, OverflowError):
        return None


def _getter(idx: Sequence[int]) -> Callable[[list], Tuple[Any, ...]]:
    if not idx:
        return lambda vals: ()
    if len(idx) == 1:
        i = idx[0]
        return lambda vals: (vals[i],)
    return operator.itemgetter(*idx)


_CACHE: Dict[int, Tuple[Any, Any, "Evaluator"]] = {}


def evaluator_for(analysis) -> "Evaluator":
    """The Evaluator of an analysis's result and its faces at 0, built once (choosing sizes and validating
    share it)."""
    r, faces = analysis.result, getattr(analysis, "zero_faces", ())
    hit = _CACHE.get(id(r))
    if hit is not None and hit[0] is r and hit[1] is faces:
        return hit[2]
    ev = Evaluator(analysis)
    if len(_CACHE) >= 8:  # keeps the last few results alive, no more
        _CACHE.clear()
    _CACHE[id(r)] = (r, faces, ev)
    return ev


def predicted_bytes(analysis, size: Mapping[str, int]) -> int:
    """Predicted activation memory of one run: sum over every value (graph inputs, intermediates,
    outputs) of numel * itemsize at these sizes; a value of unknown shape counts as the largest
    known one."""
    return evaluator_for(analysis).memory(dict(size))[0]


