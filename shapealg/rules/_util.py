"""Helpers shared by the rules: axes, broadcasting (with its constraint), reading small constant inputs."""
from __future__ import annotations

from typing import List, Optional, Sequence, Tuple

import sympy

from ..dims import MaybeDim, as_dim, dmax, known_equal
from ..limits import VALUE_LIMIT
from ..records import Value
from .registry import NodeContext, RuleError


def norm_axis(axis: int, rank: int) -> int:
    a = axis + rank if axis < 0 else axis
    if not 0 <= a < max(rank, 1):
        raise RuleError(f"axis {axis} out of range for rank {rank}")
    return a


def const_ints(v: Optional[Value], what: str) -> Optional[List[int]]:
    """Contents of a constant int input (axes, pads...) or None when absent; error when not constant."""
    if v is None:
        return None
    if v.value is None:
        raise RuleError(f"{what} is not a constant")
    out = []
    for x in v.value:
        x = as_dim(x)
        if not isinstance(x, int):
            raise RuleError(f"{what} is not a constant ({x})")
        out.append(x)
    return out


def broadcast_dim(ctx: NodeContext, a: MaybeDim, b: MaybeDim, where: str) -> MaybeDim:
    """numpy broadcasting of one dim pair; states the 'equal or 1' constraint when undecided."""
    if a is None or b is None:
        if a == 1:
            return b
        if b == 1:
            return a
        return a if a is not None else b
    if a == 1:
        return b
    if b == 1:
        return a
    eq = known_equal(a, b)
    if eq is True:
        return a
    if isinstance(a, int) and isinstance(b, int):
        ctx.require(False, f"{where}: cannot broadcast {a} with {b}")
        return a
    sa, sb = sympy.sympify(a), sympy.sympify(b)
    eq = lambda x, y: sympy.Eq(x, y, evaluate=False)  # noqa: E731  (decided by the algebra in require)
    ctx.require(sympy.Or(eq(sa, sb), eq(sa, 1), eq(sb, 1)),
                f"{where}: dims {a} and {b} must be equal or 1 to broadcast")
    return dmax(a, b)


def broadcast_shapes(ctx: NodeContext, shapes: Sequence[Optional[Tuple[MaybeDim, ...]]]) -> Optional[Tuple[MaybeDim, ...]]:
    if any(s is None for s in shapes):
        return None
    rank = max((len(s) for s in shapes), default=0)
    out: List[MaybeDim] = [1] * rank
    for s in shapes:
        padded = [1] * (rank - len(s)) + list(s)
        for i, d in enumerate(padded):
            out[i] = broadcast_dim(ctx, out[i], d, f"broadcast axis {i - rank}")
    return tuple(out)


def broadcast_values(values: Sequence[Tuple], shapes: Sequence[Tuple], out_shape: Tuple) -> Optional[List[Tuple]]:
    """Expand the flattened contents of small constant tensors to the broadcast shape."""
    if any(not isinstance(d, int) for d in out_shape):
        return None
    total = 1
    for d in out_shape:
        total *= d
    if total > 4096:
        return None
    res = []
    for val, shp in zip(values, shapes):
        shp = [1] * (len(out_shape) - len(shp)) + list(shp)
        if any(not isinstance(d, int) for d in shp):
            return None
        strides = [0] * len(shp)
        acc = 1
        for i in range(len(shp) - 1, -1, -1):
            strides[i] = acc if shp[i] != 1 else 0
            acc *= shp[i]
        out = []
        for flat in range(total):
            rem, idx = flat, 0
            for i in range(len(out_shape) - 1, -1, -1):
                coord = rem % out_shape[i]
                rem //= out_shape[i]
                idx += coord * strides[i]
            out.append(val[idx])
        res.append(tuple(out))
    return res


def spatial_list(attr, n: int, default: int) -> List[int]:
    if attr is None:
        return [default] * n
    attr = list(attr)
    if len(attr) != n:
        raise RuleError(f"expected {n} values, got {attr}")
    return attr


def unidirectional(ctx: NodeContext, src: Optional[Tuple[MaybeDim, ...]], target: Tuple[MaybeDim, ...],
                   where: str) -> None:
    """``src`` must broadcast *to* ``target`` without changing it (Gemm's C, LayerNorm's scale):
    right-aligned, each src dim is 1 or equal to the target's."""
    if src is None:
        return
    if len(src) > len(target):
        ctx.require(False, f"{where}: rank {len(src)} exceeds the target's {len(target)}")
        return
    for i, (s, t) in enumerate(zip(reversed(src), reversed(target))):
        if s is None or t is None or s == 1:
            continue
        eq = known_equal(s, t)
        if eq is True:
            continue
        if isinstance(s, int) and isinstance(t, int):
            ctx.require(False, f"{where}: dim {s} cannot broadcast to {t}")
            continue
        # s == t, or s == 1 when s is symbolic
        cond = sympy.Eq(sympy.sympify(s), sympy.sympify(t), evaluate=False)
        if not isinstance(s, int):
            cond = sympy.Or(cond, sympy.Eq(sympy.sympify(s), 1, evaluate=False))
        ctx.require(cond, f"{where}: dim {s} must equal {t} (or be 1) to broadcast to it")


def value_array(v: Optional[Value]):
    """The contents of a small tensor of static shape as a numpy object array (ints, floats, sympy
    exprs kept as they are), or None when its contents or shape are not known."""
    if v is None or v.value is None or v.shape is None or any(not isinstance(d, int) for d in v.shape):
        return None
    import numpy as np

    n = 1
    for d in v.shape:
        n *= d
    if n != len(v.value) or n > VALUE_LIMIT:
        return None
    arr = np.empty(n, dtype=object)
    for i, x in enumerate(v.value):
        arr[i] = x
    return arr.reshape(tuple(v.shape))


def array_value(arr) -> Optional[Tuple]:
    """Flattened (row-major) contents of a numpy object array, for Value.value."""
    if arr is None or arr.size > VALUE_LIMIT:
        return None
    return tuple(arr.reshape(-1).tolist())
