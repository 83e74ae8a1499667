"""RNN / GRU / LSTM (every direction and layout) and the stateful sequence ops of recent opsets:
CausalConvWithState, LinearAttention."""
from __future__ import annotations

from typing import Optional

from ..costmodel import cost_model, counted, mul
from ..dims import MaybeDim, as_dim, exactdiv
from ..records import Value
from .registry import NodeContext, RuleError, register

_GATES = {"RNN": 1, "GRU": 3, "LSTM": 4}


@cost_model("recurrent", needs_output=False)
def recurrent_cost(node, view, conv):
    """seq * batch * directions * gates * hidden * (input + hidden): the input and recurrent matmuls."""
    return counted(node.rule_macs, "recurrent")


@register("RNN", "GRU", "LSTM", cost=recurrent_cost)  # spec: https://onnx.ai/onnx/operators/onnx__LSTM.html
def recurrent(ctx: NodeContext, x: Value, w: Value, r: Value, *rest: Optional[Value], hidden_size=None,
              direction="forward", layout=0, **_):
    """X (seq, batch, input) [layout 1: (batch, seq, input)]; W (dirs, gates*hidden, input), R (dirs,
    gates*hidden, hidden). Y (seq, dirs, batch, hidden) [layout 1: (batch, seq, dirs, hidden)], Y_h / Y_c
    (dirs, batch, hidden) [layout 1: (batch, dirs, hidden)]."""
    if len(x.shape) != 3:
        raise RuleError(f"X must have rank 3, got {len(x.shape)}")
    if direction not in ("forward", "reverse", "bidirectional"):
        raise RuleError(f"direction {direction!r} is not forward / reverse / bidirectional")
    g = _GATES[ctx.op_type]
    nd = 2 if direction == "bidirectional" else 1
    seq, batch = (x.shape[0], x.shape[1]) if layout == 0 else (x.shape[1], x.shape[0])
    hs: MaybeDim = hidden_size
    if hs is None and r.shape is not None and len(r.shape) == 3:
        hs = r.shape[2]
    if w.shape is not None and len(w.shape) == 3:
        ctx.require_equal(w.shape[0], nd, f"W has {w.shape[0]} directions, the node {nd}")
        ctx.require_equal(w.shape[2], x.shape[2], f"W's input size {w.shape[2]} must equal X's {x.shape[2]}")
        if hs is not None:
            ctx.require_equal(w.shape[1], as_dim(g * hs), f"W's rows {w.shape[1]} must be {g} x hidden {hs}")
        elif w.shape[1] is not None:
            hs = exactdiv(w.shape[1], g)
    if r.shape is not None and len(r.shape) == 3 and hs is not None:
        ctx.require_equal(r.shape[0], nd, f"R has {r.shape[0]} directions, the node {nd}")
        ctx.require_equal(r.shape[1], as_dim(g * hs), f"R's rows {r.shape[1]} must be {g} x hidden {hs}")
    if layout == 0:
        y, yh = (seq, nd, batch, hs), (nd, batch, hs)
    else:
        y, yh = (batch, seq, nd, hs), (batch, nd, hs)
    if hs is not None and x.shape[2] is not None:
        ctx.macs = mul(seq, batch, nd, g, hs, as_dim(x.shape[2] + hs))
    outs = [Value(y, x.dtype), Value(yh, x.dtype)]
    if ctx.op_type == "LSTM":
        outs.append(Value(yh, x.dtype))
    return outs


@register("CausalConvWithState", since=27, cost=recurrent_cost)
def causal_conv_with_state(ctx: NodeContext, x: Value, w: Value, b: Optional[Value] = None,
                           past: Optional[Value] = None, *, activation="none", **_):
    """input (B, C, L), weight (C, 1, k): output (B, C, L), present_state (B, C, k - 1)."""
    if len(x.shape) != 3 or w.shape is None or len(w.shape) != 3:
        raise RuleError("input and weight must have rank 3")
    ctx.require_equal(w.shape[0], x.shape[1], f"weight channels {w.shape[0]} must equal the input's {x.shape[1]}")
    ctx.require_equal(w.shape[1], 1, f"weight's second dim {w.shape[1]} must be 1 (depthwise)")
    k = w.shape[2]
    state = None if k is None else as_dim(k - 1)
    if past is not None and past.shape is not None and len(past.shape) == 3:
        ctx.require_equal(past.shape[2], state, f"past_state length {past.shape[2]} must be k - 1 = {state}")
    if k is not None:
        ctx.macs = mul(x.shape[0], x.shape[1], x.shape[2], k)
    return [Value(x.shape, x.dtype), Value((x.shape[0], x.shape[1], state), x.dtype)]


@register("LinearAttention", since=27, cost=recurrent_cost)
def linear_attention(ctx: NodeContext, q: Value, k: Value, v: Value, *rest: Optional[Value], q_num_heads=None,
                     kv_num_heads=None, **_):
    """query (B, T, Hq*dk), key (B, T, Hkv*dk), value (B, T, Hkv*dv): output (B, T, Hq*dv), present_state
    (B, Hkv, dk, dv)."""
    if q_num_heads is None or kv_num_heads is None:
        raise RuleError("q_num_heads and kv_num_heads are required")
    if len(q.shape) != 3 or k.shape is None or v.shape is None or len(k.shape) != 3 or len(v.shape) != 3:
        raise RuleError("query, key and value must have rank 3")
    if q_num_heads % kv_num_heads:
        ctx.require(False, f"q_num_heads {q_num_heads} must be a multiple of kv_num_heads {kv_num_heads}")
    dk = exactdiv(k.shape[2], kv_num_heads) if k.shape[2] is not None else None
    dv = exactdiv(v.shape[2], kv_num_heads) if v.shape[2] is not None else None
    for t, what in ((k, "key"), (v, "value")):
        if t.shape[2] is not None:
            ctx.require_equal(as_dim(t.shape[2] - kv_num_heads * exactdiv(t.shape[2], kv_num_heads)), 0,
                              f"{what} hidden size {t.shape[2]} must be a multiple of kv_num_heads {kv_num_heads}")
    if q.shape[2] is not None and dk is not None:
        ctx.require_equal(q.shape[2], as_dim(q_num_heads * dk), f"query hidden {q.shape[2]} must be q_num_heads x dk")
    out = (q.shape[0], q.shape[1], None if dv is None else as_dim(q_num_heads * dv))
    return [Value(out, q.dtype), Value((q.shape[0], kv_num_heads, dk, dv), q.dtype)]
