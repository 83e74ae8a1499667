"""Ops that move dims around: Shape / Size / Constant, Reshape / Flatten, Transpose, Concat, Split,
Squeeze / Unsqueeze, Pad, Expand, Tile, ConstantOfShape, Range (Gather: gather_scatter.py; Slice: slicing.py)."""
from __future__ import annotations

from typing import List, Optional, Sequence

import sympy

from ..dims import MaybeDim, as_dim, canon, ceildiv, dmax, dmin, exactdiv, known_equal, known_ge, mod, prod
from ..graph import tensor_value
from ..limits import MAX_RANK
from ..enums import DType
from ..records import Value
from ._util import array_value, broadcast_shapes, broadcast_values, const_ints, norm_axis, value_array
from ..bounds import MAX_ELEMS as MAX_BOUND_ELEMS, overall, overall_bounds, scalar
from ..costmodel import free_cost
from .registry import NodeContext, RuleError, describe, register

INT64 = DType.INT64


def _vec(values: Sequence) -> Value:
    return Value((len(values),), INT64, tuple(as_dim(v) for v in values))


def dims_of(v: Optional[Value], what: str) -> Optional[List[MaybeDim]]:
    """Contents of a shape-like input as Dims; None when not known statically."""
    if v is None or v.value is None:
        return None
    out = []
    for x in v.value:
        if isinstance(x, float):
            if not x.is_integer():
                raise RuleError(f"{what} holds a non-integer {x}")
            x = int(x)
        out.append(as_dim(x))
    return out


@register("Constant")
def constant(ctx: NodeContext, *, value=None, value_int=None, value_ints=None, value_float=None, value_floats=None,
             sparse_value=None, **_):
    if value is not None:
        return Value(tuple(int(d) for d in value.dims), int(value.data_type), tensor_value(value))
    if value_int is not None:
        return Value((), INT64, (value_int,))
    if value_ints is not None:
        return Value((len(value_ints),), INT64, tuple(value_ints))
    if value_float is not None:
        return Value((), 1, (value_float,))
    if value_floats is not None:
        return Value((len(value_floats),), 1, tuple(value_floats))
    raise RuleError("Constant without a supported value attribute")


@register("Shape")
def shape(ctx: NodeContext, x: Value, *, start=0, end=None):
    r = len(x.shape)
    s = max(0, min(r, start + r if start < 0 else start))
    e = r if end is None else max(0, min(r, end + r if end < 0 else end))
    dims = x.shape[s:e]
    if any(d is None for d in dims):
        return Value((max(e - s, 0),), INT64)
    return _vec(dims)


@register("Size")
def size(ctx: NodeContext, x: Value):
    n = x.numel
    return Value((), INT64, None if n is None else (n,))


@register("Flatten")
def flatten(ctx: NodeContext, x: Value, *, axis=1):
    r = len(x.shape)
    a = axis + r if axis < 0 else axis
    if not 0 <= a <= r:
        raise RuleError(f"axis {axis} out of range for rank {r}")
    return Value((prod(x.shape[:a]), prod(x.shape[a:])), x.dtype, x.value)


@register("Reshape")
def reshape(ctx: NodeContext, x: Value, target: Optional[Value] = None, *, allowzero=0, shape=None):
    tgt = dims_of(target, "the target shape") if target is not None else list(shape or [])
    if tgt is None:
        if target is not None and target.shape is not None and isinstance(target.shape[0], int):
            if target.shape[0] > MAX_RANK:
                raise RuleError(f"target shape of length {target.shape[0]} (more than {MAX_RANK} dims)")
            ctx.warn(f"target shape is computed at run time and could not be "
                     f"derived; output dims unknown")
            return Value((None,) * target.shape[0], x.dtype)
        raise RuleError("target shape unknown")
    out: List[MaybeDim] = []
    infer_at = None
    for i, d in enumerate(tgt):
        if isinstance(d, int) and d == 0 and not allowzero:
            if i >= len(x.shape):
                raise RuleError(f"target dim {i} is 0 (copy) but the input has rank {len(x.shape)}")
            out.append(x.shape[i])
        elif d is not None and not isinstance(d, int) and not allowzero and known_ge(d, 1) is not True \
                and i < len(x.shape) and x.shape[i] is not None:
            # a computed dim that is 0 at some sizes copies the input's dim there: Piecewise((x_i, d == 0), (d, True))
            try:
                out.append(canon(sympy.Piecewise((x.shape[i], sympy.Eq(d, 0)), (d, True), evaluate=False)))
            except ArithmeticError:  # sympy cannot decide the condition (PrecisionExhausted): unknown
                out.append(None)
        elif isinstance(d, int) and d == -1:
            if infer_at is not None:
                raise RuleError("more than one -1 in the target shape")
            infer_at = i
            out.append(None)
        else:
            out.append(d)
    total = x.numel
    if infer_at is not None:
        known = prod([d for i, d in enumerate(out) if i != infer_at])
        if total is not None and known is not None:
            r = mod(total, known) if known != 0 else 0
            if r != 0:
                ctx.require(sympy.Eq(sympy.sympify(r), 0) if not isinstance(r, int) else False,
                            f"{total} elements cannot be reshaped to {_fmt(out)}: not divisible by {known}")
            out[infer_at] = exactdiv(total, known) if known != 0 else 0
            ctx.require_nonnegative(out[infer_at], f"the inferred (-1) dim {infer_at}")
        if known is not None:  # onnxruntime: "Product cannot be 0 in combination with -1" (an empty output may be)
            ctx.require_positive(known, f"the product of the other target dims (beside the -1) = {known}")
    elif total is not None:
        ctx.require_equal(total, prod(out), lambda: f"element count {total} must equal the target shape's "
                                            f"{prod(out)} ({_fmt(out)})")
    return Value(tuple(out), x.dtype, x.value)


def _fmt(dims) -> str:
    return "[" + ", ".join("?" if d is None else str(d) for d in dims) + "]"


@register("Transpose")
def transpose(ctx: NodeContext, x: Value, *, perm=None):
    r = len(x.shape)
    perm = list(range(r - 1, -1, -1)) if perm is None else list(perm)
    if sorted(perm) != list(range(r)):
        raise RuleError(f"perm {perm} is not a permutation of rank {r}")
    arr = value_array(x)  # a small int tensor (pads reshaped to (k, 2) and flipped...) keeps its contents
    return Value(tuple(x.shape[p] for p in perm), x.dtype,
                 array_value(arr.transpose(perm)) if arr is not None else None)


@register("Concat")
def concat(ctx: NodeContext, *xs: Value, axis=0):
    xs = [x for x in xs if x is not None]
    if any(x.shape is None for x in xs):
        return Value(None, xs[0].dtype)
    r = len(xs[0].shape)
    a = norm_axis(axis, r)
    for x in xs[1:]:
        if len(x.shape) != r:
            raise RuleError(f"inputs have ranks {r} and {len(x.shape)}")
    out = list(xs[0].shape)
    for i in range(r):
        if i == a:
            continue
        for j, x in enumerate(xs[1:], 1):
            d0, d = out[i], x.shape[i]
            if d0 is None:
                out[i] = d
            elif d is not None:
                ctx.require_equal(d0, d, lambda: f"axis {i} of input {j} is {d}, input 0 has {d0} (concat on axis {a})")
    total = 0
    for x in xs:
        total = None if total is None or x.shape[a] is None else total + x.shape[a]
    out[a] = as_dim(total) if total is not None else None
    val = None
    if r == 1 and all(x.value is not None for x in xs):
        val = tuple(v for x in xs for v in x.value)
    elif r > 1 and all(x.value is not None for x in xs):
        arrs = [value_array(x) for x in xs]
        if all(a is not None for a in arrs):
            import numpy as np
            val = array_value(np.concatenate(arrs, axis=a))
    return Value(tuple(out), xs[0].dtype, val)


@register("Split")
def split(ctx: NodeContext, x: Value, split_in: Optional[Value] = None, *, axis=0, split=None, num_outputs=None):
    a = norm_axis(axis, len(x.shape))
    d = x.shape[a]
    sizes = dims_of(split_in, "split") if split_in is not None else (list(split) if split is not None else None)
    n = num_outputs or (len(sizes) if sizes else ctx.n_outputs)
    if split_in is not None and sizes is None:  # sizes given but computed at run time: never an equal split
        ctx.warn("the split sizes are computed at run time and could not be derived; the split axis of every "
                 "output is unknown")
        return [Value(x.shape[:a] + (None,) + x.shape[a + 1:], x.dtype)] * ctx.n_outputs
    if sizes is None:
        if d is None:
            return [Value(x.shape[:a] + (None,) + x.shape[a + 1:], x.dtype)] * n
        chunk = ceildiv(d, n)
        if num_outputs is None:  # legacy equal split: must divide evenly
            r = mod(d, n)
            if r != 0:
                ctx.require(sympy.Eq(sympy.sympify(r), 0) if not isinstance(r, int) else False,
                            f"axis {a} of size {d} must split evenly into {n}")
            sizes = [exactdiv(d, n)] * n
        else:
            sizes = [chunk] * (n - 1) + [d - chunk * (n - 1)]
            ctx.require_nonnegative(sizes[-1], f"the last of {n} splits of axis {a}")
    elif d is not None:
        ctx.require_equal(d, sum(sizes), f"split sizes {sizes} must sum to axis {a}'s {d}")
    vals = [None] * len(sizes)
    if x.value is not None and len(x.shape) == 1 and all(isinstance(s, int) for s in sizes) \
            and len(x.value) == sum(sizes):  # a split shape vector keeps its contents
        offs = [sum(sizes[:i]) for i in range(len(sizes))]
        vals = [tuple(x.value[o:o + s]) for o, s in zip(offs, sizes)]
    elif x.value is not None and all(isinstance(s, int) for s in sizes):
        arr = value_array(x)
        if arr is not None and arr.shape[a] == sum(sizes):
            offs = [sum(sizes[:i]) for i in range(len(sizes))]
            vals = [array_value(arr.take(range(o, o + s), axis=a)) for o, s in zip(offs, sizes)]
    return [Value(x.shape[:a] + (s,) + x.shape[a + 1:], x.dtype, v) for s, v in zip(sizes, vals)]


def _axes(ctx: NodeContext, axes_in: Optional[Value], axes_attr) -> Optional[List[int]]:
    if axes_in is not None:
        return const_ints(axes_in, "axes")
    return None if axes_attr is None else list(axes_attr)


@register("Squeeze")
def squeeze(ctx: NodeContext, x: Value, axes_in: Optional[Value] = None, *, axes=None):
    ax = _axes(ctx, axes_in, axes)
    r = len(x.shape)
    if ax is None:
        if any(not isinstance(d, int) for d in x.shape):
            raise RuleError("Squeeze without axes on symbolic dims")
        ax = [i for i, d in enumerate(x.shape) if d == 1]
    ax = sorted({norm_axis(a, r) for a in ax})
    for a in ax:
        d = x.shape[a]
        if d is not None and d != 1:
            ctx.require_equal(d, 1, f"squeezed axis {a} has size {d}, must be 1")
    return Value(tuple(d for i, d in enumerate(x.shape) if i not in ax), x.dtype, x.value)


@register("Unsqueeze")
def unsqueeze(ctx: NodeContext, x: Value, axes_in: Optional[Value] = None, *, axes=None):
    ax = _axes(ctx, axes_in, axes)
    if ax is None:
        raise RuleError("axes missing")
    r = len(x.shape) + len(ax)
    ax = sorted(norm_axis(a, r) for a in ax)
    out = list(x.shape)
    for a in ax:
        out.insert(a, 1)
    return Value(tuple(out), x.dtype, x.value)


@register("Pad")
def pad(ctx: NodeContext, x: Value, pads_in: Optional[Value] = None, value: Optional[Value] = None,
        axes_in: Optional[Value] = None, *, mode="constant", pads=None, **_):
    r = len(x.shape)
    p = dims_of(pads_in, "pads") if pads_in is not None else (list(pads) if pads is not None else None)
    ax = const_ints(axes_in, "axes") if axes_in is not None else list(range(r))
    ax = [norm_axis(a, r) for a in ax]  # before use: negative axes name the same dims
    if p is None:
        ctx.warn("the pads are computed at run time and could not be derived; padded dims unknown")
        return Value(tuple(d if i not in ax else None for i, d in enumerate(x.shape)), x.dtype)
    k = len(ax)
    if len(p) != 2 * k:
        raise RuleError(f"{len(p)} pads for {k} axes")
    out = list(x.shape)
    for j, a in enumerate(ax):
        if out[a] is None:
            continue
        out[a] = as_dim(out[a] + p[j] + p[j + k])
        if mode in ("reflect",) and not (p[j] == 0 and p[j + k] == 0):
            ctx.require(sympy.Gt(sympy.sympify(x.shape[a]), dmax(p[j], p[j + k])) if not isinstance(
                x.shape[a], int) else x.shape[a] > max(p[j], p[j + k]), f"reflect pad {max(p[j], p[j + k])} "
                f"needs axis {a} longer than the pad")
        if not (isinstance(p[j], int) and p[j] >= 0 and isinstance(p[j + k], int) and p[j + k] >= 0):
            ctx.require_nonnegative(out[a], f"padded axis {a}")  # an empty result is fine for a constant pad
            if mode != "constant":  # onnxruntime: "invalid mode ... with zero effective input" (what the crop leaves)
                eff = x.shape[a] + dmin(p[j], 0) + dmin(p[j + k], 0)
                ctx.require_positive(eff, f"axis {a} after the negative pads (a {mode} pad needs a non-empty input)")
    return Value(tuple(out), x.dtype)


@register("Expand")
def expand(ctx: NodeContext, x: Value, shape_in: Value):
    tgt = dims_of(shape_in, "shape")
    if tgt is None:
        n = shape_in.shape[0] if shape_in.shape else None
        if isinstance(n, int) and n <= MAX_RANK:
            return Value((None,) * max(n, len(x.shape)), x.dtype)
        raise RuleError("target shape unknown")
    out = broadcast_shapes(ctx, [x.shape, tuple(tgt)])
    val = None
    if x.value is not None and len(x.value) == 1 and out is not None and len(out) == 1 and isinstance(out[0], int):
        val = x.value * out[0]
    elif x.value is not None and out is not None:
        ex = broadcast_values([x.value], [x.shape], out)
        val = tuple(ex[0]) if ex is not None else None
    return Value(out, x.dtype, val)


@register("Tile")
def tile(ctx: NodeContext, x: Value, repeats: Value):
    rep = dims_of(repeats, "repeats")
    if rep is None:
        return Value((None,) * len(x.shape), x.dtype)
    if len(rep) != len(x.shape):
        raise RuleError(f"{len(rep)} repeats for rank {len(x.shape)}")
    val = None
    arr = value_array(x)
    if arr is not None and all(isinstance(k, int) and k >= 0 for k in rep):
        import numpy as np
        val = array_value(np.tile(arr, rep))
    return Value(tuple(None if d is None else as_dim(d * k) for d, k in zip(x.shape, rep)), x.dtype, val)


@register("ConstantOfShape")
def constant_of_shape(ctx: NodeContext, shape_in: Value, *, value=None):
    dims = dims_of(shape_in, "shape")
    dtype = int(value.data_type) if value is not None else 1
    if dims is None:
        n = shape_in.shape[0] if shape_in.shape else None
        return Value((None,) * n if isinstance(n, int) and n <= MAX_RANK else None, dtype)
    fill = tensor_value(value) if value is not None else (0.0,)
    val = None
    if all(isinstance(d, int) for d in dims) and prod(dims) <= 4096 and fill:
        val = fill * prod(dims)
    return Value(tuple(dims), dtype, val)


@register("Range")
def range_(ctx: NodeContext, start: Value, limit: Value, delta: Value):
    if start.value is None or limit.value is None or delta.value is None:
        return Value((None,), start.dtype)
    s, l, d = start.value[0], limit.value[0], delta.value[0]
    if isinstance(d, (int, float)) and d == 0:
        raise RuleError("delta is 0")
    n = ceildiv(as_dim(l - s), d) if isinstance(d, int) and not isinstance(s, float) and not isinstance(l, float) \
        else as_dim(sympy.ceiling(sympy.sympify(l - s) / d))
    if known_ge(n, 0) is not True:
        n = dmax(n, 0)
    val = tuple(s + i * d for i in range(n)) if isinstance(n, int) and n <= 4096 else None
    return Value((as_dim(n),), start.dtype, val)


def _equal_dims(a, b) -> bool:
    return known_equal(a, b) is True


# data movement and shape plumbing: no arithmetic (SequenceConstruct / SplitToSequence have no shape rule yet)
describe("Reshape", "Transpose", "Concat", "Split", "Squeeze", "Unsqueeze", "Flatten", "Expand", "Tile", "Pad",
         "Shape", "Size", "Constant", "ConstantOfShape", "Range", "SequenceConstruct", "SplitToSequence",
         cost=free_cost)


# ---------------------------------------------------------------- index bounds (shapealg.bounds)

def range_bounds(node, ins, in_bounds, out):
    if len(ins) < 3:
        return None
    s, lim, d = (scalar(x) for x in ins[:3])
    if s is None or lim is None or not isinstance(d, int) or d <= 0:
        return None
    # an empty range (lim <= s) has no element to index with: its (vacuous) bounds only loosen the checks
    return ((s, s + d * (ceildiv(lim - s, d) - 1)),)


def expand_bounds(node, ins, in_bounds, out):
    b0 = in_bounds[0] if in_bounds else None
    if b0 is None:
        return None
    if ins[0] is not None and out.shape and ins[0].shape and len(b0) > 1 and ins[0].shape[-1] == out.shape[-1]:
        return b0  # per index component, unchanged along the last axis
    return overall(b0)


def concat_bounds(node, ins, in_bounds, out):
    if not (all(b is not None for b in in_bounds) and ins and all(x is not None and x.shape for x in ins)):
        return None
    r = len(out.shape or ())
    axis = node.attrs.get("axis", 0)
    axis = axis + r if axis < 0 else axis
    if axis == r - 1:  # components side by side
        comps = []
        for x, b in zip(ins, in_bounds):
            k = x.shape[-1]
            if not isinstance(k, int) or len(comps) + k > MAX_BOUND_ELEMS:  # too many components to carry
                return overall(tuple(p for b in in_bounds for p in b))
            if len(b) == k:
                comps += list(b)
            elif isinstance(k, int) and len(b) == 1:
                comps += [b[0]] * k
            else:
                return None
        return tuple(comps)
    return overall(tuple(p for b in in_bounds for p in b))


describe("Range", bounds=range_bounds)
describe("Expand", bounds=expand_bounds)
describe("Concat", bounds=concat_bounds)
describe("Unsqueeze", "Squeeze", "Reshape", "Flatten", "Transpose", "Tile", bounds=overall_bounds)
