"""The attention family of the default domain (opset 23+): Attention, RotaryEmbedding, RMSNormalization,
TensorScatter (KV-cache writes), FlexAttention (ai.onnx.preview)."""
from __future__ import annotations

from typing import Optional

import sympy

from ..costmodel import free_cost, mul, rule_counted
from ..dims import MaybeDim, as_dim, exactdiv
from ..records import Value
from ._util import norm_axis, unidirectional
from .elementwise import elementwise_cost
from .norm import norm_cost
from .registry import NodeContext, RuleError, register

attention_cost = rule_counted("attention", activation_product=True)


def _split_heads(ctx: NodeContext, t: Value, heads, what: str):
    """(batch, heads, seq, head_size) of a 4-D input, or of a 3-D (batch, seq, heads * head_size) one."""
    if len(t.shape) == 4:
        if heads is not None and t.shape[1] is not None:
            ctx.require_equal(t.shape[1], heads, f"{what} has {t.shape[1]} heads, the attribute says {heads}")
        return t.shape[0], t.shape[1], t.shape[2], t.shape[3]
    if len(t.shape) == 3:
        if heads is None:
            raise RuleError(f"a 3-D {what} needs its number of heads (attribute)")
        hidden = t.shape[2]
        hs = None
        if hidden is not None:
            hs = exactdiv(hidden, heads)
            ctx.require_equal(as_dim(hidden - heads * hs), 0,
                              f"{what} hidden size {hidden} must be a multiple of its {heads} heads")
        return t.shape[0], heads, t.shape[1], hs
    raise RuleError(f"{what} must have rank 3 or 4, got {len(t.shape)}")


@register("Attention", since=23, cost=attention_cost)  # spec: https://onnx.ai/onnx/operators/onnx__Attention.html
def attention(ctx: NodeContext, q: Value, k: Value, v: Value, mask: Optional[Value] = None,
              past_key: Optional[Value] = None, past_value: Optional[Value] = None,
              nonpad: Optional[Value] = None, *, q_num_heads=None, kv_num_heads=None, **_):
    """Y (B, Hq, Sq, dv) [3-D: (B, Sq, Hq*dv)], present_key (B, Hkv, P + Skv, d), present_value
    (B, Hkv, P + Skv, dv), qk_matmul_output (B, Hq, Sq, P + Skv)."""
    if k.shape is None or v.shape is None:
        raise RuleError("K / V rank unknown")
    if not len(q.shape) == len(k.shape) == len(v.shape):
        raise RuleError(f"Q, K, V ranks differ ({len(q.shape)}, {len(k.shape)}, {len(v.shape)})")
    b, hq, sq, d = _split_heads(ctx, q, q_num_heads, "Q")
    bk, hkv, skv, dk = _split_heads(ctx, k, kv_num_heads, "K")
    bv, hv, sv, dv = _split_heads(ctx, v, kv_num_heads, "V")
    ctx.require_equal(b, bk, f"batch: Q {b}, K {bk}")
    ctx.require_equal(b, bv, f"batch: Q {b}, V {bv}")
    ctx.require_equal(d, dk, f"head size: Q {d}, K {dk}")
    ctx.require_equal(hkv, hv, f"heads: K {hkv}, V {hv}")
    ctx.require_equal(skv, sv, f"sequence: K {skv}, V {sv}")
    if isinstance(hq, int) and isinstance(hkv, int):
        if hkv <= 0 or hq % hkv:
            ctx.require(False, f"Q heads {hq} must be a multiple of K / V heads {hkv}")
    total: MaybeDim = skv
    if past_key is not None or past_value is not None:
        if past_key is None or past_value is None:
            raise RuleError("past_key and past_value must be given together")
        if past_key.shape is None or len(past_key.shape) != 4 or past_value.shape is None or \
                len(past_value.shape) != 4:
            raise RuleError("past_key / past_value must have rank 4")
        p = past_key.shape[2]
        ctx.require_equal(past_key.shape[3], d, f"past_key head size {past_key.shape[3]}, Q's {d}")
        ctx.require_equal(past_value.shape[3], dv, f"past_value head size {past_value.shape[3]}, V's {dv}")
        ctx.require_equal(past_value.shape[2], p, f"past lengths: key {p}, value {past_value.shape[2]}")
        total = None if p is None or skv is None else as_dim(p + skv)
    if len(q.shape) == 4:
        y = (b, hq, sq, dv)
    else:
        y = (b, sq, None if hq is None or dv is None else as_dim(hq * dv))
    ctx.macs = mul(b, hq, sq, total, d) + mul(b, hq, sq, total, dv) \
        if None not in (b, hq, sq, total, d, dv) else None
    return [Value(y, q.dtype), Value((b, hkv, total, d), q.dtype), Value((b, hkv, total, dv), q.dtype),
            Value((b, hq, sq, total), q.dtype)]


@register("FlexAttention", domain="ai.onnx.preview", cost=attention_cost)
def flex_attention(ctx: NodeContext, q: Value, k: Value, v: Value, **_):
    """Q (B, Hq, L, E), K (B, Hkv, S, E), V (B, Hkv, S, Ev): Y (B, Hq, L, Ev)."""
    if len(q.shape) != 4 or k.shape is None or v.shape is None or len(k.shape) != 4 or len(v.shape) != 4:
        raise RuleError("Q, K, V must have rank 4")
    ctx.require_equal(q.shape[3], k.shape[3], f"head size: Q {q.shape[3]}, K {k.shape[3]}")
    ctx.require_equal(k.shape[2], v.shape[2], f"sequence: K {k.shape[2]}, V {v.shape[2]}")
    return Value((q.shape[0], q.shape[1], q.shape[2], v.shape[3]), q.dtype)


@register("RotaryEmbedding", since=23, cost=free_cost)
def rotary_embedding(ctx: NodeContext, x: Value, cos: Value, sin: Value, pos: Optional[Value] = None, *,
                     num_heads=None, rotary_embedding_dim=0, interleaved=0):
    """The input's shape: X (B, S, hidden) with num_heads, or (B, H, S, head_size)."""
    if len(x.shape) not in (3, 4):
        raise RuleError(f"X must have rank 3 or 4, got {len(x.shape)}")
    if len(x.shape) == 3 and num_heads is None:
        raise RuleError("a 3-D X needs num_heads")
    if cos.shape is not None and sin.shape is not None and len(cos.shape) == len(sin.shape):
        for a, c in zip(cos.shape, sin.shape):
            ctx.require_equal(a, c, f"cos_cache {cos.shape} and sin_cache {sin.shape} must have one shape")
    return Value(x.shape, x.dtype)


@register("RMSNormalization", since=23, cost=norm_cost)
def rms_normalization(ctx: NodeContext, x: Value, scale: Value, *, axis=-1, **_):
    a = norm_axis(axis, len(x.shape))
    unidirectional(ctx, scale.shape, tuple(x.shape[a:]), "scale")
    return Value(x.shape, x.dtype)


@register("TensorScatter", since=24, cost=free_cost)
def tensor_scatter(ctx: NodeContext, past: Value, update: Value, write_indices: Optional[Value] = None, *,
                   axis=-2, mode="linear"):
    """present_cache: past_cache's shape; update matches it except on the sequence axis."""
    r = len(past.shape)
    a = norm_axis(axis, r)
    if update.shape is not None:
        if len(update.shape) != r:
            ctx.require(False, f"update rank {len(update.shape)} must equal past_cache's {r}")
        else:
            for i, (p, u) in enumerate(zip(past.shape, update.shape)):
                if i != a:
                    ctx.require_equal(p, u, f"axis {i}: past_cache {p}, update {u}")
            p, u = past.shape[a], update.shape[a]
            if p is not None and u is not None:  # the update is written at write_indices (default 0)
                ctx.require(sympy.Ge(sympy.sympify(p), sympy.sympify(u)),
                            f"the update's {u} positions must fit in the cache's {p} (axis {a})")
    return Value(past.shape, past.dtype)


@register("SwiGLU", since=28, cost=elementwise_cost)
def swiglu(ctx: NodeContext, a: Value, b: Value, *, alpha=1.0):
    """Swish(A) * B: A and B of one shape (no broadcasting), the output that shape."""
    if b.shape is not None:
        if len(b.shape) != len(a.shape):
            ctx.require(False, f"A has rank {len(a.shape)}, B {len(b.shape)} (they must have one shape)")
        else:
            for i, (x, y) in enumerate(zip(a.shape, b.shape)):
                ctx.require_equal(x, y, f"axis {i}: A {x}, B {y} (no broadcasting)")
    shape = tuple(x if x is not None else y for x, y in zip(a.shape, b.shape)) if b.shape is not None and \
        len(b.shape) == len(a.shape) else a.shape
    return Value(shape, a.dtype)
