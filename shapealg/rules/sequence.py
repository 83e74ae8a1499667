"""Sequences and optionals: Sequence*, SplitToSequence, ConcatFromSequence, SequenceMap, Optional*.

A sequence is a ``Value`` of kind "sequence": its ``shape`` holds the dims every element shares (None where
elements may differ) and ``elems`` the elements when they are known (length and each shape), None when only
the shared shape is. An optional is of kind "optional": ``elems`` is () when empty, (element,) when not."""
from __future__ import annotations

from typing import List, Optional, Sequence

from ..costmodel import free_cost
from ..dims import MaybeDim, as_dim, known_equal
from ..enums import DType
from ..records import Value
from ._util import norm_axis
from .registry import NodeContext, RuleError, register

INT64, BOOL = DType.INT64, DType.BOOL


def common_shape(elems: Sequence[Value]):
    """The dims every element has (None where they differ); None when there is none or ranks differ."""
    if not elems or any(e.shape is None for e in elems):
        return None
    r = len(elems[0].shape)
    if any(len(e.shape) != r for e in elems):
        return None
    out = []
    for i in range(r):
        d = elems[0].shape[i]
        same = d is not None and all(e.shape[i] is not None and known_equal(e.shape[i], d) is True for e in elems)
        out.append(d if same else None)
    return tuple(out)


def seq(elems: Optional[Sequence[Value]], shape=None, dtype: int = 0) -> Value:
    if elems is not None:
        elems = tuple(Value(e.shape, e.dtype, e.value) for e in elems)
        return Value(common_shape(elems), dtype or (elems[0].dtype if elems else 0), kind="sequence", elems=elems)
    return Value(shape, dtype, kind="sequence", elems=None)


def _known(v: Optional[Value]) -> Optional[List[Value]]:
    if v is None or v.kind != "sequence" or v.elems is None:
        return None
    return list(v.elems)


def _merged(v: Value, *more: Value) -> Value:
    """An unknown-length sequence whose elements are those of ``v`` or any of ``more``."""
    cands = list(v.elems) if v.kind == "sequence" and v.elems is not None else [Value(v.shape, v.dtype)]
    if v.kind == "sequence" and v.elems is not None and not v.elems:
        cands = []
    cands += [Value(m.shape, m.dtype) for m in more]
    if not cands:
        return seq(None, None, v.dtype)
    shape = common_shape(cands)
    if v.kind == "sequence" and v.elems is None and v.shape is None:
        shape = None
    return seq(None, shape, v.dtype or (more[0].dtype if more else 0))


def _position(v: Optional[Value]) -> Optional[int]:
    if v is None or v.value is None or len(v.value) != 1 or not isinstance(v.value[0], int):
        return None
    return v.value[0]


def _accepts_unknown(fn):
    fn.accepts_unknown = True  # the walker passes inputs of unknown shape (an empty sequence has no shape)
    return fn


@register("SequenceEmpty", since=11, cost=free_cost)
@_accepts_unknown
def sequence_empty(ctx: NodeContext, *, dtype=1):
    return Value(None, int(dtype), kind="sequence", elems=())


@register("SequenceConstruct", since=11, cost=free_cost)
@_accepts_unknown
def sequence_construct(ctx: NodeContext, *xs: Value):
    return seq(list(xs))


@register("SequenceInsert", since=11, cost=free_cost)
@_accepts_unknown
def sequence_insert(ctx: NodeContext, s: Value, t: Value, pos: Optional[Value] = None):
    elems = _known(s)
    p = _position(pos) if pos is not None else len(elems) if elems is not None else None
    if elems is None or p is None:
        if pos is not None and p is None:
            ctx.warn("the insert position is computed at run time; the sequence's length and order are unknown")
        return _merged(s, t)
    n = len(elems)
    if not -n <= p <= n:
        ctx.require(False, f"position {p} is out of range for a sequence of {n}")
        return _merged(s, t)
    elems.insert(p if p >= 0 else p + n, t)
    return seq(elems, dtype=s.dtype or t.dtype)


@register("SequenceErase", since=11, cost=free_cost)
@_accepts_unknown
def sequence_erase(ctx: NodeContext, s: Value, pos: Optional[Value] = None):
    elems = _known(s)
    p = _position(pos) if pos is not None else -1
    if elems is None or p is None:
        return _merged(s)
    n = len(elems)
    if not -n <= p < n:
        ctx.require(False, f"position {p} is out of range for a sequence of {n}")
        return _merged(s)
    del elems[p]
    return seq(elems, dtype=s.dtype)


@register("SequenceAt", since=11, cost=free_cost)
@_accepts_unknown
def sequence_at(ctx: NodeContext, s: Value, pos: Value):
    elems = _known(s)
    p = _position(pos)
    if elems is not None and p is not None:
        n = len(elems)
        if not -n <= p < n:
            ctx.require(False, f"position {p} is out of range for a sequence of {n}")
            return Value(None, s.dtype)
        return elems[p]
    if elems is not None:
        return Value(common_shape(elems), s.dtype)
    return Value(s.shape, s.dtype)


@register("SequenceLength", since=11, cost=free_cost)
@_accepts_unknown
def sequence_length(ctx: NodeContext, s: Value):
    elems = _known(s)
    return Value((), INT64, (len(elems),) if elems is not None else None)


@register("SplitToSequence", since=11, cost=free_cost)
def split_to_sequence(ctx: NodeContext, x: Value, split: Optional[Value] = None, *, axis=0, keepdims=1):
    r = len(x.shape)
    a = norm_axis(axis, r)
    d = x.shape[a]

    def piece(size):
        return Value(x.shape[:a] + (size,) + x.shape[a + 1:], x.dtype)

    if split is None:  # pieces of 1, the axis dropped unless keepdims
        one = Value(x.shape[:a] + ((1,) if keepdims else ()) + x.shape[a + 1:], x.dtype)
        if isinstance(d, int):
            return seq([one] * d, dtype=x.dtype)
        return seq(None, one.shape, x.dtype)
    if split.value is None or split.shape is None:
        ctx.warn("the split sizes are computed at run time; the split axis of the elements is unknown")
        return seq(None, piece(None).shape, x.dtype)
    vals = [as_dim(v) for v in split.value]
    if len(split.shape) == 0:  # one size: equal pieces, the last smaller
        k = vals[0]
        if not isinstance(k, int) or not isinstance(d, int) or k <= 0:
            if isinstance(k, int) and k <= 0:
                ctx.require(False, f"split size {k} must be positive")
            return seq(None, piece(None).shape, x.dtype)
        sizes = [k] * (d // k) + ([d % k] if d % k else [])
    else:
        sizes = vals
        if d is not None:
            ctx.require_equal(d, as_dim(sum(sizes)), f"split sizes {sizes} must sum to axis {a}'s {d}")
    return seq([piece(s) for s in sizes], dtype=x.dtype)


@register("ConcatFromSequence", since=11, cost=free_cost)
@_accepts_unknown
def concat_from_sequence(ctx: NodeContext, s: Value, *, axis=None, new_axis=0):
    if axis is None:
        raise RuleError("axis attribute missing")
    elems = _known(s)
    base = s.shape if elems is None else common_shape(elems)
    if elems is not None and elems:
        shapes = [e.shape for e in elems]
        if any(sh is None for sh in shapes) or len({len(sh) for sh in shapes}) != 1:
            return Value(None, s.dtype)
        r = len(shapes[0])
        if new_axis:
            a = norm_axis(axis, r + 1)
            for sh in shapes[1:]:
                for i, (p, q) in enumerate(zip(shapes[0], sh)):
                    ctx.require_equal(p, q, f"elements must have one shape to stack (axis {i}: {p} vs {q})")
            return Value(tuple(shapes[0][:a]) + (len(shapes),) + tuple(shapes[0][a:]), elems[0].dtype)
        a = norm_axis(axis, r)
        total: MaybeDim = 0
        for sh in shapes:
            total = None if total is None or sh[a] is None else as_dim(total + sh[a])
        out = list(base)
        out[a] = total
        for sh in shapes[1:]:
            for i, (p, q) in enumerate(zip(shapes[0], sh)):
                if i != a:
                    ctx.require_equal(p, q, f"elements must match off the concat axis (axis {i}: {p} vs {q})")
        return Value(tuple(out), elems[0].dtype)
    if base is None:
        return Value(None, s.dtype)
    r = len(base)
    a = norm_axis(axis, r + 1 if new_axis else r)
    if new_axis:
        return Value(tuple(base[:a]) + (None,) + tuple(base[a:]), s.dtype)
    out = list(base)
    out[a] = None
    return Value(tuple(out), s.dtype)


@register("SequenceMap", since=17, cost=free_cost)
@_accepts_unknown
def sequence_map(ctx: NodeContext, s: Value, *extra: Value, body=None):
    """The body on every element (and the same-position element of other sequence inputs): one sequence per
    body output."""
    if body is None:
        raise RuleError("body attribute missing")
    n_out = len(body.output)
    seqs = [s] + [e for e in extra if e is not None and e.kind == "sequence"]
    known = [_known(q) for q in seqs]
    if all(k is not None for k in known) and len({len(k) for k in known}) == 1:
        results: List[List[Value]] = [[] for _ in range(n_out)]
        for i in range(len(known[0])):
            ins = [s.elems[i]] + [e.elems[i] if e.kind == "sequence" else e for e in extra]
            res = ctx.run_subgraph(body, ins, f"body (element {i})")
            ctx.diagnostics.extend(d for d in res.diagnostics if d not in ctx.diagnostics)
            ctx.constraints.extend(res.constraints)
            for j in range(n_out):
                results[j].append(res.outputs[j] if j < len(res.outputs) else Value(None))
        return [seq(r, dtype=r[0].dtype if r else 0) for r in results]
    ins = [Value(s.shape, s.dtype)] + [Value(e.shape, e.dtype) for e in extra]
    res = ctx.run_subgraph(body, ins, "body")
    ctx.diagnostics.extend(d for d in res.diagnostics if d not in ctx.diagnostics)
    if res.constraints:
        ctx.warn("the body's constraints depend on the elements, which are not known; not applied")
    return [seq(None, o.shape, o.dtype) for o in res.outputs]


@register("Optional", since=15, cost=free_cost)
@_accepts_unknown
def optional(ctx: NodeContext, x: Optional[Value] = None, *, type=None):
    if x is None:
        return Value(None, 0, kind="optional", elems=())
    return Value(x.shape, x.dtype, kind="optional", elems=(x,))


@register("OptionalHasElement", since=15, cost=free_cost)
@_accepts_unknown
def optional_has_element(ctx: NodeContext, x: Optional[Value] = None):
    if x is None:
        return Value((), BOOL, (0,))
    if x.kind == "optional" and x.elems is not None:
        return Value((), BOOL, (int(bool(x.elems)),))
    if x.kind == "tensor" and x.shape is not None:
        return Value((), BOOL, (1,))
    return Value((), BOOL)


@register("OptionalGetElement", since=15, cost=free_cost)
@_accepts_unknown
def optional_get_element(ctx: NodeContext, x: Value):
    if x.kind == "optional":
        if x.elems == ():
            ctx.require(False, "the optional is empty")
            return Value(None, x.dtype)
        if x.elems:
            return x.elems[0]
        return Value(x.shape, x.dtype)
    return x if x.kind == "sequence" else Value(x.shape, x.dtype, x.value)
