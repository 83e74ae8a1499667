"""Control flow: If, Loop, Scan. Their subgraphs are inferred with the outer values visible
(``shapealg.subgraph``); what cannot be known is unknown (None) with a warning naming the node, never guessed.

If: a condition known to be constant runs only the taken branch (its constraints apply as they are). A
condition that is a formula in the input symbols gives ``Piecewise((then, c), (else, True))`` dims and
constraints ``c -> then's`` / ``not c -> else's``. A condition computed from data: both branches are inferred;
dims they agree on are kept, the others are unknown, and only the necessary condition ``then's or else's`` is
stated.

Loop / Scan: the body is inferred with the initial values; a loop-carried value whose dims change from one
iteration to the next gets those dims unknown, and the body is inferred again with them (to a fixed point).
Scan outputs stack along the trip count: the trip count is Scan's sequence length, or a Loop's M when the
loop's condition is known to stay true; otherwise that leading dim is unknown. The body's constraints apply
when it is known to run at least once.
"""
from __future__ import annotations

from typing import List, Optional, Tuple

import sympy

from ..enums import DType
from ..dims import MaybeDim, as_dim, canon, known_equal, known_ge, prod
from ..records import UNKNOWN, Constraint, Value
from ._util import norm_axis
from ..costmodel import rule_counted
from .registry import NodeContext, RuleError, SubgraphResult, describe, register

INT64, BOOL = DType.INT64, DType.BOOL
NO_LIMIT = 2 ** 62  # a Loop's M this large (INT64_MAX in exports) means "until the condition stops it"


def _scalar(v: Optional[Value]):
    if v is None or v.value is None or len(v.value) != 1:
        return None
    return v.value[0]


def condition_of(v: Optional[Value]) -> Tuple[Optional[bool], Optional[sympy.Basic]]:
    """(True / False when decided, else None; the condition as a sympy boolean in the symbols, or None when it
    is computed from data)."""
    c = _scalar(v)
    if c is None:
        return None, None
    if isinstance(c, (bool, int, float)):
        return bool(c), None
    if c in (sympy.true, sympy.false):
        return bool(c), None
    if isinstance(c, sympy.logic.boolalg.Boolean):
        return None, c
    if isinstance(c, sympy.Expr):
        if c.is_zero is True:
            return False, None
        if c.is_zero is False:
            return True, None
        return None, sympy.Ne(c, 0)
    return None, None


def _absorb(ctx: NodeContext, res: SubgraphResult, constraints: bool = True) -> None:
    ctx.diagnostics.extend(res.diagnostics)
    if constraints:
        ctx.constraints.extend(res.constraints)


def _same(a: MaybeDim, b: MaybeDim) -> bool:
    return a is not None and b is not None and known_equal(a, b) is True


# ------------------------------------------------------------------------------------------------------ If


def _piecewise(a, b, c):
    if a is None or b is None:
        return None
    if _same(a, b):
        return a
    return canon(sympy.Piecewise((a, c), (b, True), evaluate=False))


def _merge_symbolic(ctx: NodeContext, i: int, t: Value, e: Value, c) -> Value:
    if t.shape is None or e.shape is None or len(t.shape) != len(e.shape):
        if t.shape is not None and e.shape is not None:
            ctx.warn(f"output {i} has rank {len(t.shape)} when {c} and {len(e.shape)} "
                     f"otherwise; its shape is unknown")
        return Value(None, t.dtype or e.dtype)
    shape = tuple(_piecewise(a, b, c) for a, b in zip(t.shape, e.shape))
    val = None
    if t.value is not None and e.value is not None and len(t.value) == len(e.value):
        vals = tuple(_piecewise(a, b, c) if not isinstance(a, float) and not isinstance(b, float)
                     else (a if a == b else None) for a, b in zip(t.value, e.value))
        val = None if any(v is None for v in vals) else vals
    return Value(shape, t.dtype or e.dtype, val)


def _merge_unknown(ctx: NodeContext, i: int, t: Value, e: Value) -> Value:
    if t.shape is None or e.shape is None or len(t.shape) != len(e.shape):
        if t.shape is not None and e.shape is not None:
            ctx.warn(f"the condition is computed from data and the branches give "
                     f"output {i} ranks {len(t.shape)} and {len(e.shape)}; its shape is unknown")
        return Value(None, t.dtype or e.dtype)
    shape = []
    for j, (a, b) in enumerate(zip(t.shape, e.shape)):
        if _same(a, b):
            shape.append(a)
        else:
            shape.append(None)
            if a is not None and b is not None:
                ctx.warn(f"the condition is computed from data and the branches give "
                         f"output {i} axis {j} as {a} (then) and {b} (else); that dim is unknown")
    val = t.value if t.value is not None and t.value == e.value else None
    return Value(tuple(shape), t.dtype or e.dtype, val)


@register("If")
def if_(ctx: NodeContext, cond: Value, *, then_branch=None, else_branch=None):
    if then_branch is None or else_branch is None:
        raise RuleError("then_branch / else_branch attribute missing")
    decided, sym = condition_of(cond)
    if decided is not None:
        label = "then_branch" if decided else "else_branch"
        res = ctx.run_subgraph(then_branch if decided else else_branch, [], label)
        _absorb(ctx, res)
        ctx.macs = res.macs
        return list(res.outputs)
    t = ctx.run_subgraph(then_branch, [], "then_branch")
    e = ctx.run_subgraph(else_branch, [], "else_branch")
    _absorb(ctx, t, constraints=False)
    _absorb(ctx, e, constraints=False)
    if len(t.outputs) != len(e.outputs):
        raise RuleError(f"the branches have {len(t.outputs)} and {len(e.outputs)} outputs")
    if sym is not None:  # exact: each branch's constraints hold where it is taken
        for c in t.constraints:
            ctx.constraints.append(Constraint(c.node, c.op_type, sympy.Or(sympy.Not(sym), c.condition),
                                              f"where {sym}: {c.reason}"))
        for c in e.constraints:
            ctx.constraints.append(Constraint(c.node, c.op_type, sympy.Or(sym, c.condition),
                                              f"where not ({sym}): {c.reason}"))
        ctx.macs = _piecewise(t.macs, e.macs, sym)
        return [_merge_symbolic(ctx, i, a, b, sym) for i, (a, b) in enumerate(zip(t.outputs, e.outputs))]
    ctx.warn(f"the condition is computed from data; both branches analysed")
    if t.constraints and e.constraints:  # whichever branch runs, its constraints hold: a necessary condition
        ctx.require(sympy.Or(sympy.And(*[c.condition for c in t.constraints]),
                             sympy.And(*[c.condition for c in e.constraints])),
                    "the branch taken (decided by data) must be able to run: "
                    + "; ".join(c.reason for c in t.constraints) + " | or | "
                    + "; ".join(c.reason for c in e.constraints))
    elif t.constraints or e.constraints:
        ctx.warn(f"the constraints of the "
                 f"{'then' if t.constraints else 'else'} branch hold only when the data selects it; not applied")
    ctx.macs = t.macs if _same(t.macs, e.macs) else None
    return [_merge_unknown(ctx, i, a, b) for i, (a, b) in enumerate(zip(t.outputs, e.outputs))]


# -------------------------------------------------------------------------------------------- Loop / Scan


def _generalize(before: Value, after: Value) -> Value:
    """A value that covers both: dims that differ become unknown, contents kept only when equal."""
    if before.shape is None or after.shape is None or len(before.shape) != len(after.shape):
        return Value(None, before.dtype or after.dtype)
    shape = tuple(a if _same(a, b) else None for a, b in zip(before.shape, after.shape))
    val = before.value if before.value is not None and before.value == after.value else None
    if before.kind != after.kind:  # a sequence on one side, a tensor on the other: nothing known
        return Value(None, before.dtype or after.dtype)
    elems = before.elems if before.elems == after.elems else None  # a growing sequence: length unknown
    return Value(shape, before.dtype or after.dtype, val, kind=before.kind, elems=elems)


def _stable_shape(before: Value, after: Value) -> bool:
    if before.shape is None:
        return True  # nothing known to lose
    if after.shape is None or len(before.shape) != len(after.shape):
        return False
    return not any(a is not None and not _same(a, b) for a, b in zip(before.shape, after.shape))


def _stable(before: Value, after: Value) -> bool:
    return _stable_shape(before, after) and (before.value is None or before.value == after.value) and \
        before.kind == after.kind and (before.elems is None or before.elems == after.elems)


def _iterate(ctx: NodeContext, body, head: List[Value], carried: List[Value], tail: List[Value],
             out_offset: int) -> Tuple[SubgraphResult, SubgraphResult, List[Value], bool]:
    """Infer the body (formal inputs: head, carried, tail) until the carried values stop changing. Returns
    (first pass, last pass, the carried values that cover every iteration, whether the first pass already was
    a fixed point)."""
    first = res = ctx.run_subgraph(body, head + carried + tail, "body")
    fixed_point = True
    for _ in range(4):
        outs = list(res.outputs[out_offset:out_offset + len(carried)])
        outs += [UNKNOWN] * (len(carried) - len(outs))
        if all(_stable(c, o) for c, o in zip(carried, outs)):
            break
        for i, (c, o) in enumerate(zip(carried, outs)):
            if not _stable_shape(c, o):  # contents that change (a counter) are dropped without a word
                fixed_point = False
                ctx.warn(f"loop-carried / state value {i} changes shape across "
                         f"iterations ({_fmt(c.shape)} -> {_fmt(o.shape)}); the changing dims are unknown")
        carried = [_generalize(c, o) for c, o in zip(carried, outs)]
        res = ctx.run_subgraph(body, head + carried + tail, "body")
    else:
        fixed_point = False
        carried = [Value(None, c.dtype) for c in carried]
        res = ctx.run_subgraph(body, head + carried + tail, "body")
    return first, res, carried, fixed_point


def _fmt(shape) -> str:
    return "?" if shape is None else "[" + ", ".join("?" if d is None else str(d) for d in shape) + "]"


def _apply_body(ctx: NodeContext, first: SubgraphResult, last: SubgraphResult, trip: MaybeDim,
                fixed_point: bool) -> None:
    ctx.diagnostics.extend(d for d in first.diagnostics if d not in ctx.diagnostics)
    ctx.diagnostics.extend(d for d in last.diagnostics if d not in ctx.diagnostics)
    runs = trip is not None and known_ge(trip, 1) is True
    if runs:
        ctx.constraints.extend(first.constraints)  # the first iteration, with the initial values, must run
        if not fixed_point and last.constraints:
            ctx.warn(f"later iterations see other shapes; their "
                     f"constraints are not stated")
    elif first.constraints:
        ctx.warn(f"the body may run zero times; its "
                 f"{len(first.constraints)} constraint(s) are not applied")
    if trip is not None and fixed_point and first.macs is not None:
        ctx.macs = as_dim(prod([trip, first.macs])) if first.macs != 0 else 0
    else:
        ctx.macs = None


def _stack(per: Value, trip: MaybeDim, axis: int = 0) -> Value:
    if per.shape is None:
        return Value(None, per.dtype)
    a = norm_axis(axis, len(per.shape) + 1)
    return Value(per.shape[:a] + (trip,) + per.shape[a:], per.dtype)


@register("Loop")
def loop(ctx: NodeContext, m: Optional[Value] = None, cond: Optional[Value] = None, *v_initial: Value, body=None):
    """Outputs: the final loop-carried values, then the scan outputs, each (trip count, *per-iteration)."""
    if body is None:
        raise RuleError("body attribute missing")
    carried = [v if v is not None else UNKNOWN for v in v_initial]
    n_c = len(carried)
    k = len(body.output) - 1 - n_c
    if k < 0:
        raise RuleError(f"the body has {len(body.output)} outputs for {n_c} loop-carried values")
    init_decided, init_sym = condition_of(cond) if cond is not None else (True, None)
    m_val = as_dim(_scalar(m)) if m is not None and _scalar(m) is not None and not isinstance(_scalar(m), float) \
        else None
    if isinstance(m_val, int) and m_val >= NO_LIMIT:
        m_val = None
    cond_in = Value((), BOOL, (1,)) if init_decided is True else Value((), BOOL)
    first, last, carried_final, fixed_point = _iterate(ctx, body, [Value((), INT64), cond_in], carried, [], 1)
    body_decided = True
    if first.outputs:
        d1, _ = condition_of(first.outputs[0])
        d2, _ = condition_of(last.outputs[0])
        body_decided = d1 is True and d2 is True
    trip: MaybeDim = None
    if init_decided is False:
        trip = 0
    elif m is not None and m_val is not None and init_decided is True and body_decided:
        trip = m_val
    if trip == 0:
        outs = list(v_initial)
        scans = [_stack(v, 0) for v in last.outputs[1 + n_c:]]
        ctx.macs = 0
        return outs + scans
    _apply_body(ctx, first, last, trip, fixed_point)
    if trip is None and k:
        why = "no trip count M" if m is None else ("M is computed from data" if m_val is None and
                                                   _scalar(m) is None else "the loop condition may stop it early")
        ctx.warn(f"the number of iterations is unknown ({why}); the leading dim of "
                 f"its {k} scan output(s) is unknown")
    scans = [_stack(v, trip) for v in last.outputs[1 + n_c:]]
    return carried_final + scans


@register("Scan", since=8, until=8)
def scan_v8(ctx: NodeContext, seq_lens: Optional[Value] = None, *inputs: Value, body=None, num_scan_inputs=None,
            directions=None):
    """Scan-8: every input has a leading batch axis; scan inputs are (batch, sequence, ...). Outputs: the final
    states (batch, ...), then the scan outputs (batch, sequence, ...)."""
    if body is None or num_scan_inputs is None:
        raise RuleError("body / num_scan_inputs attribute missing")
    ins = [v if v is not None else UNKNOWN for v in inputs]
    n_scan = int(num_scan_inputs)
    states, scans = ins[:len(ins) - n_scan], ins[len(ins) - n_scan:]
    if any(v.shape is None or len(v.shape) < 1 for v in states) or any(v.shape is None or len(v.shape) < 2
                                                                       for v in scans):
        raise RuleError("an input's rank is unknown or too small for the batch / sequence axes")
    batch = next((v.shape[0] for v in ins if v.shape[0] is not None), None)
    seq_len = next((v.shape[1] for v in scans if v.shape[1] is not None), None)
    for v in ins:
        ctx.require_equal(v.shape[0], batch, f"batch axis {v.shape[0]} must equal {batch}")
    for v in scans:
        ctx.require_equal(v.shape[1], seq_len, f"sequence axis {v.shape[1]} must equal {seq_len}")
    inner = [Value(v.shape[1:], v.dtype) for v in states] + [Value(v.shape[2:], v.dtype) for v in scans]
    res = ctx.run_subgraph(body, inner, "body")
    _absorb(ctx, res, constraints=False)
    if res.constraints:
        ctx.warn("the body's constraints are not applied (Scan-8)")
    outs = []
    for i, o in enumerate(res.outputs):
        if i < len(states):  # a state whose shape changes across iterations: unknown
            stable = o.shape is not None and _stable_shape(inner[i], o) and o.shape == inner[i].shape
            outs.append(Value((batch,) + o.shape, o.dtype) if stable else Value(None, o.dtype))
        else:
            outs.append(Value(None, o.dtype) if o.shape is None else Value((batch, seq_len) + o.shape, o.dtype))
    return outs


@register("Scan", since=9)
def scan(ctx: NodeContext, *inputs: Value, body=None, num_scan_inputs=None, scan_input_axes=None,
         scan_input_directions=None, scan_output_axes=None, scan_output_directions=None):
    """Outputs: the final state values, then the scan outputs stacked along the sequence length."""
    if body is None or num_scan_inputs is None:
        raise RuleError("body / num_scan_inputs attribute missing")
    inputs = [v if v is not None else UNKNOWN for v in inputs]
    n_s = len(inputs) - num_scan_inputs
    if n_s < 0:
        raise RuleError(f"{num_scan_inputs} scan inputs but only {len(inputs)} inputs")
    states, xs = inputs[:n_s], inputs[n_s:]
    in_axes = list(scan_input_axes) if scan_input_axes is not None else [0] * len(xs)
    if len(in_axes) != len(xs):
        raise RuleError(f"{len(in_axes)} scan_input_axes for {len(xs)} scan inputs")
    trip: MaybeDim = None
    slices: List[Value] = []
    for j, (x, ax) in enumerate(zip(xs, in_axes)):
        if x.shape is None:
            slices.append(Value(None, x.dtype))
            continue
        a = norm_axis(ax, len(x.shape))
        d = x.shape[a]
        if trip is None:
            trip = d
        elif d is not None:
            ctx.require_equal(trip, d, f"scan input {j} has {d} steps along axis {a}, scan input 0 has {trip}")
        slices.append(Value(x.shape[:a] + x.shape[a + 1:], x.dtype))
    first, last, states_final, fixed_point = _iterate(ctx, body, [], states, slices, 0)
    _apply_body(ctx, first, last, trip, fixed_point)
    k = len(last.outputs) - n_s
    if trip is None and k:
        ctx.warn(f"the sequence length is unknown; the scanned dim of its {k} scan "
                 f"output(s) is unknown")
    out_axes = list(scan_output_axes) if scan_output_axes is not None else [0] * k
    scans = [_stack(v, trip, out_axes[i] if i < len(out_axes) else 0) for i, v in enumerate(last.outputs[n_s:])]
    return states_final + scans


if_.accepts_unknown = True  # a data-computed condition of unknown shape still lets both branches be analysed
loop.accepts_unknown = True
scan.accepts_unknown = True


# the body's MACs (under the default convention) times the trip count, as the rules state them (``ctx.macs``)
describe("If", "Loop", "Scan", cost=rule_counted("control", analyze_only=True))
