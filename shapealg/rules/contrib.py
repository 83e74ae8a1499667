"""onnxruntime contrib ops (domain com.microsoft): Attention, MultiHeadAttention, BiasAdd, BiasSplitGelu,
GroupNorm (NHWC), Gelu."""
from __future__ import annotations

from typing import Optional

from ..dims import MaybeDim, as_dim, prod
from ..records import Value
from ..costmodel import rule_counted
from .registry import NodeContext, RuleError, describe, register
from .space import require_divisible

MS = "com.microsoft"


def _add(a: MaybeDim, b: MaybeDim) -> MaybeDim:
    return None if a is None or b is None else as_dim(a + b)


@register("Gelu", domain=MS)
def ms_gelu(ctx: NodeContext, x: Value, **_):
    return Value(x.shape, x.dtype)


@register("BiasAdd", domain=MS)
def bias_add(ctx: NodeContext, x: Value, bias: Value, skip: Value):
    """X (N, S, C) + bias (C) + skip (N, S, C)."""
    if len(x.shape) != 3:
        raise RuleError(f"input must have rank 3, got {len(x.shape)}")
    if bias.shape is not None:
        ctx.require_equal(bias.shape[-1] if bias.shape else None, x.shape[2],
                          f"bias has {bias.shape[-1] if bias.shape else None} channels, the input {x.shape[2]}")
    if skip.shape is not None:
        if len(skip.shape) != 3:
            raise RuleError(f"skip must have rank 3, got {len(skip.shape)}")
        for i in range(3):
            ctx.require_equal(skip.shape[i], x.shape[i], f"skip axis {i} is {skip.shape[i]}, the input's {x.shape[i]}")
    return Value(x.shape, x.dtype)


@register("BiasSplitGelu", domain=MS)
def bias_split_gelu(ctx: NodeContext, x: Value, bias: Value):
    """X (N, S, D) + bias (D), split in halves along D, one half gates the other: (N, S, D / 2)."""
    if len(x.shape) != 3:
        raise RuleError(f"input must have rank 3, got {len(x.shape)}")
    d = x.shape[2]
    if bias.shape is not None and len(bias.shape) == 1:
        ctx.require_equal(bias.shape[0], d, f"bias has {bias.shape[0]} values, the input's last dim is {d}")
    half = require_divisible(ctx, d, 2, f"the last dim {d} must be even to split in halves")
    return Value((x.shape[0], x.shape[1], half), x.dtype)


@register("GroupNorm", domain=MS)
def ms_group_norm(ctx: NodeContext, x: Value, gamma: Value, beta: Value, *, groups=None, channels_last=1, **_):
    """NHWC (channels_last=1) or NCHW group normalization: shape kept; groups must divide the channels."""
    if groups is None or groups < 1:
        raise RuleError(f"groups {groups} must be a positive integer")
    c = x.shape[-1] if channels_last else x.shape[1]
    require_divisible(ctx, c, groups, f"channels {c} must be divisible by groups {groups}")
    for v, what in ((gamma, "gamma"), (beta, "beta")):
        if v is not None and v.shape is not None and len(v.shape) == 1:
            ctx.require_equal(v.shape[0], c, f"{what} has {v.shape[0]} values for {c} channels")
    return Value(x.shape, x.dtype)


@register("Attention", domain=MS)
def attention(ctx: NodeContext, x: Value, weights: Value, bias: Optional[Value] = None,
              mask_index: Optional[Value] = None, past: Optional[Value] = None, *rest, num_heads=None,
              qkv_hidden_sizes=None, **_):
    """input (B, S, D_in) @ weights (D_in, D_q + D_k + D_v) -> output (B, S, D_v); present (2, B, N, P + S, H)
    with past (2, B, N, P, H). MACs: the projection B*S*D_in*(D_q+D_k+D_v) plus scores and context
    B*S*T*(D_k + D_v), T = P + S."""
    if not num_heads:
        raise RuleError("num_heads attribute missing")
    if len(x.shape) != 3:
        raise RuleError(f"input must have rank 3, got {len(x.shape)}")
    if weights.shape is None or len(weights.shape) != 2:
        raise RuleError("weights must have rank 2")
    b, s, d_in = x.shape
    ctx.require_equal(weights.shape[0], d_in, f"weights expect {weights.shape[0]} input features, got {d_in}")
    total = weights.shape[1]
    if qkv_hidden_sizes:
        if len(qkv_hidden_sizes) != 3:
            raise RuleError(f"qkv_hidden_sizes must have 3 values, got {qkv_hidden_sizes}")
        dq, dk, dv = (int(v) for v in qkv_hidden_sizes)
        ctx.require_equal(total, dq + dk + dv, f"weights have {total} columns, qkv_hidden_sizes sum to {dq + dk + dv}")
    else:
        dq = dk = dv = require_divisible(ctx, total, 3, f"weights' {total} columns must split in 3 (Q, K, V)")
    if bias is not None and bias.shape is not None and len(bias.shape) == 1:
        ctx.require_equal(bias.shape[0], total, f"bias has {bias.shape[0]} values for {total} columns")
    head_v = require_divisible(ctx, dv, num_heads, f"hidden size {dv} must be divisible by num_heads {num_heads}")
    p = None
    if past is not None:
        if past.shape is None or len(past.shape) != 5:
            raise RuleError("past must have rank 5 (2, B, N, P, H)")
        p = past.shape[3]
    t = s if past is None else _add(p, s)
    present = None
    if dk == dv:
        present = Value((2, b, num_heads, t, head_v), x.dtype)
    elif ctx.n_outputs > 1:
        ctx.warn(f"K and V hidden sizes differ ({dk}, {dv}); present's shape "
                 f"unknown")
    if all(d is not None for d in (b, s, d_in, total, t, dk, dv)):
        ctx.macs = as_dim(prod([b, s, d_in, total]) + prod([b, s, t]) * (dk + dv))
    return [Value((b, s, dv), x.dtype), present]


@register("MultiHeadAttention", domain=MS)
def multi_head_attention(ctx: NodeContext, q: Value, k: Optional[Value] = None, v: Optional[Value] = None,
                         bias: Optional[Value] = None, key_padding_mask: Optional[Value] = None,
                         attention_bias: Optional[Value] = None, past_key: Optional[Value] = None,
                         past_value: Optional[Value] = None, *rest, num_heads=None, **_):
    """query (B, S, D) with key (B, L, D) and value (B, L, D_v) -> (B, S, D_v); packed KV key (B, L, N, 2, H);
    packed QKV query (B, S, N, 3, H); key / value already (B, N, L, H). present_key / present_value:
    (B, N, P + L, H) with past (B, N, P, H). MACs: B*N*S*T*(H + H_v), T the total key length."""
    if not num_heads:
        raise RuleError("num_heads attribute missing")
    n = num_heads
    if q.shape is None:
        raise RuleError("query rank unknown")
    b, s = q.shape[0], q.shape[1]
    if len(q.shape) == 5:  # packed QKV (B, S, N, 3, H)
        if k is not None:
            raise RuleError("a packed QKV query takes no key")
        ctx.require_equal(q.shape[2], n, f"packed QKV has {q.shape[2]} heads, num_heads is {n}")
        ctx.require_equal(q.shape[3], 3, f"packed QKV dim 3 is {q.shape[3]}, must be 3")
        length, hk, hv, kv_ready = s, q.shape[4], q.shape[4], False
    elif len(q.shape) == 3:
        if k is None or k.shape is None:
            raise RuleError("key missing or of unknown rank")
        if len(k.shape) == 5:  # packed KV (B, L, N, 2, H)
            ctx.require_equal(k.shape[2], n, f"packed KV has {k.shape[2]} heads, num_heads is {n}")
            ctx.require_equal(k.shape[3], 2, f"packed KV dim 3 is {k.shape[3]}, must be 2")
            length, hk, hv, kv_ready = k.shape[1], k.shape[4], k.shape[4], False
            ctx.require_equal(q.shape[2], prod([n, hk]), f"query hidden {q.shape[2]} must equal N*H = {n}*{hk}")
        elif len(k.shape) == 3:
            if v is None or v.shape is None or len(v.shape) != 3:
                raise RuleError("value must have rank 3 with a rank-3 key")
            ctx.require_equal(k.shape[2], q.shape[2], f"key hidden {k.shape[2]}, query hidden {q.shape[2]}")
            ctx.require_equal(v.shape[1], k.shape[1], f"value length {v.shape[1]}, key length {k.shape[1]}")
            hk = require_divisible(ctx, q.shape[2], n, f"hidden {q.shape[2]} must be divisible by num_heads {n}")
            hv = require_divisible(ctx, v.shape[2], n, f"value hidden {v.shape[2]} must be divisible by num_heads {n}")
            length, kv_ready = k.shape[1], False
        elif len(k.shape) == 4:  # (B, N, L, H): used as they are
            if v is None or v.shape is None or len(v.shape) != 4:
                raise RuleError("value must have rank 4 with a rank-4 key")
            ctx.require_equal(k.shape[1], n, f"key has {k.shape[1]} heads, num_heads is {n}")
            length, hk, hv, kv_ready = k.shape[2], k.shape[3], v.shape[3], True
            ctx.require_equal(q.shape[2], prod([n, hk]), f"query hidden {q.shape[2]} must equal N*H = {n}*{hk}")
        else:
            raise RuleError(f"key must have rank 3, 4 or 5, got {len(k.shape)}")
    else:
        raise RuleError(f"query must have rank 3 or 5, got {len(q.shape)}")
    total = length
    if past_key is not None and past_key.shape is not None and not kv_ready:
        if len(past_key.shape) != 4:
            raise RuleError(f"past_key must have rank 4, got {len(past_key.shape)}")
        total = _add(past_key.shape[2], length)
    d_v = None if hv is None else as_dim(n * hv)
    outs = [Value((b, s, d_v), q.dtype)]
    if kv_ready:
        outs += [Value(k.shape, k.dtype), Value(v.shape, v.dtype)]
    else:
        outs += [Value((b, n, total, hk), q.dtype), Value((b, n, total, hv), q.dtype)]
    if all(d is not None for d in (b, s, total, hk, hv)):
        ctx.macs = as_dim(prod([b, n, s, total]) * (hk + hv))
    return outs


# projections and attention products, counted by the rules (``ctx.macs``)
describe("Attention", "MultiHeadAttention", domain=MS, cost=rule_counted("attention"))
