"""onnxruntime contrib ops (domain com.microsoft): Attention, QAttention, MultiHeadAttention, GroupQueryAttention,
PackedAttention, RotaryEmbedding, the fused normalisations (SkipLayerNormalization, SkipSimplifiedLayerNormalization,
SimplifiedLayerNormalization, which onnxruntime defines in the ONNX domain,
EmbedLayerNormalization), the quantised matmuls (MatMulNBits, MatMulBnb4, MatMulInteger16, DynamicQuantizeMatMul,
MatMulIntegerToFloat), the fused activations (FastGelu, BiasGelu, QuickGelu, Gelu), BiasAdd, BiasSplitGelu and
GroupNorm (NHWC). Shapes from onnxruntime's ContribOperators.md and its CPU kernels' checks; a condition only
onnxruntime's kernel imposes (not the op's contract) says so in its reason ("onnxruntime's CPU kernel")."""
from __future__ import annotations

from typing import Optional

import sympy

from ..dims import MaybeDim, as_dim, canon, dmax, prod
from ..enums import DType
from ..records import Value
from ..costmodel import rule_counted
from ._util import norm_axis, unidirectional
from .linear import matmul
from .quant import quantized_weights
from .norm import norm_cost
from .registry import NodeContext, RuleError, describe, register
from .space import require_divisible

MS = "com.microsoft"


def _add(a: MaybeDim, b: MaybeDim) -> MaybeDim:
    return None if a is None or b is None else as_dim(a + b)


@register("Gelu", "QuickGelu", domain=MS)
def ms_gelu(ctx: NodeContext, x: Value, **_):
    return Value(x.shape, x.dtype)


@register("FastGelu", "BiasGelu", domain=MS)
def bias_gelu(ctx: NodeContext, x: Value, bias: Optional[Value] = None, **_):
    """X (..., D) with an optional bias (D): shape of X (onnxruntime's kernels take a 1-D bias over the last
    dim; BiasGelu's bias is required)."""
    if ctx.op_type == "BiasGelu" and bias is None:
        raise RuleError("BiasGelu needs its bias input")
    if bias is not None and bias.shape is not None:
        if len(bias.shape) != 1:
            raise RuleError(f"bias must have rank 1, got {len(bias.shape)}")
        if not x.shape:
            raise RuleError("input must have rank >= 1")
        ctx.require_equal(bias.shape[0], x.shape[-1], lambda: f"bias has {bias.shape[0]} values, the input's last "
                                                              f"dim is {x.shape[-1]}")
    return Value(x.shape, x.dtype)


# ---------------------------------------------------------------------------------------- normalisations


def _gamma(ctx: NodeContext, v: Optional[Value], d: MaybeDim, what: str) -> None:
    if v is not None and v.shape is not None:
        if len(v.shape) != 1:
            raise RuleError(f"{what} must have rank 1, got {len(v.shape)}")
        ctx.require_equal(v.shape[0], d, lambda: f"{what} has {v.shape[0]} values, the hidden size is {d}")


@register("SkipLayerNormalization", "SkipSimplifiedLayerNormalization", domain=MS, cost=norm_cost)
def skip_layer_norm(ctx: NodeContext, x: Value, skip: Value, gamma: Value, *rest: Optional[Value], **_):
    """input (B, S, D) or (T, D); skip the input's shape, or (1, S, D) / (S, D) for a 3-D input; gamma, beta, bias
    (D). output and input_skip_bias_sum: the input's shape; mean, inv_std_var: (B, S, 1) / (T, 1)."""
    if len(x.shape) not in (2, 3):
        raise RuleError(f"input must have rank 2 or 3, got {len(x.shape)}")
    d = x.shape[-1]
    if skip.shape is not None:
        ok = [tuple(x.shape)] + ([(1,) + tuple(x.shape[1:]), tuple(x.shape[1:])] if len(x.shape) == 3 else [])
        if len(skip.shape) not in {len(o) for o in ok}:
            raise RuleError(f"skip has rank {len(skip.shape)}, the input {len(x.shape)}")
        if len(skip.shape) == len(x.shape) and len(x.shape) == 3:
            ctx.require(sympy.Or(*[sympy.And(*[sympy.Eq(sympy.sympify(a), sympy.sympify(b)) for a, b in zip(
                skip.shape, o) if a is not None and b is not None]) for o in ok if len(o) == 3]),
                lambda: f"skip {list(skip.shape)} must be the input's shape {list(x.shape)} or (1, S, D)")
        else:
            want = x.shape if len(skip.shape) == len(x.shape) else x.shape[1:]
            for i, (a, b) in enumerate(zip(skip.shape, want)):
                ctx.require_equal(a, b, lambda i=i, a=a, b=b: f"skip axis {i} is {a}, must be {b}")
    _gamma(ctx, gamma, d, "gamma")
    names = ("beta", "bias") if ctx.op_type == "SkipLayerNormalization" else ("bias",)
    for v, what in zip(rest, names):
        _gamma(ctx, v, d, what)
    stat = tuple(x.shape[:-1]) + (1,)
    return [Value(x.shape, x.dtype), Value(stat, DType.FLOAT), Value(stat, DType.FLOAT), Value(x.shape, x.dtype)]


@register("SimplifiedLayerNormalization", cost=norm_cost)  # onnxruntime's own schema, in the ONNX domain only
def simplified_layer_norm(ctx: NodeContext, x: Value, scale: Value, *rest, axis=-1, **_):
    """RMS normalisation over X.shape[axis:]; scale broadcasts to those dims. Y: X's shape; inv_std_var:
    X.shape[:axis] + 1s."""
    a = norm_axis(axis, len(x.shape))
    if scale is not None:
        unidirectional(ctx, scale.shape, tuple(x.shape[a:]), "scale")
    stat = tuple(x.shape[:a]) + (1,) * (len(x.shape) - a)
    return [Value(x.shape, x.dtype), Value(stat, DType.FLOAT)]


@register("EmbedLayerNormalization", domain=MS, cost=norm_cost)
def embed_layer_norm(ctx: NodeContext, ids: Value, segment_ids: Optional[Value], word: Value, position: Value,
                     segment: Optional[Value], gamma: Value, beta: Value, mask: Optional[Value] = None,
                     position_ids: Optional[Value] = None, **_):
    """input_ids (B, S) -> output (B, S, D), mask_index (B,), embedding_sum (B, S, D); D from the word
    embedding (V, D). Without position_ids the positions are 0..S-1: S <= the position table's rows."""
    if len(ids.shape) != 2:
        raise RuleError(f"input_ids must have rank 2, got {len(ids.shape)}")
    b, s = ids.shape
    if word.shape is None or len(word.shape) != 2:
        raise RuleError("word_embedding must have rank 2")
    d = word.shape[1]
    if position.shape is not None and len(position.shape) == 2:
        ctx.require_equal(position.shape[1], d, lambda: f"position embedding width {position.shape[1]}, word's {d}")
        if position_ids is None and s is not None and position.shape[0] is not None:
            ctx.require(sympy.Le(sympy.sympify(s), sympy.sympify(position.shape[0])),
                        lambda: f"sequence length {s} must be at most the position table's {position.shape[0]} rows")
    if segment is not None and segment.shape is not None and len(segment.shape) == 2:
        ctx.require_equal(segment.shape[1], d, lambda: f"segment embedding width {segment.shape[1]}, word's {d}")
    for v, what in ((segment_ids, "segment_ids"), (mask, "mask")):
        if v is not None and v.shape is not None:
            if len(v.shape) != 2:
                raise RuleError(f"{what} must have rank 2, got {len(v.shape)}")
            for i in range(2):
                ctx.require_equal(v.shape[i], ids.shape[i], lambda i=i, v=v, what=what:
                                  f"{what} axis {i} is {v.shape[i]}, input_ids' {ids.shape[i]}")
    _gamma(ctx, gamma, d, "gamma")
    _gamma(ctx, beta, d, "beta")
    dt = word.dtype or DType.FLOAT
    return [Value((b, s, d), dt), Value((b,), DType.INT32), Value((b, s, d), dt)]


# ------------------------------------------------------------------------------------- quantised matmuls


@register("MatMulNBits", "MatMulBnb4", domain=MS)
def matmul_nbits(ctx: NodeContext, a: Value, b: Value, *rest, K=None, N=None, **_):
    """A (..., K) times a packed (K, N) weight -> (..., N); K and N are attributes. MACs: prod(A's batch dims) *
    K * N. Parameters: the packed weight counts its N * K logical weights (``packed_weights``), its scales and
    zero points none (quantisation metadata, as torch counts the unquantised layer)."""
    if K is None or N is None:
        raise RuleError("attributes K and N are required")
    if not a.shape:
        raise RuleError("A must have rank >= 1")
    ctx.require_equal(a.shape[-1], K, lambda: f"A has {a.shape[-1]} columns, the weight K = {K} rows")
    if ctx.op_type == "MatMulNBits" and b.shape is not None and b.shape:
        ctx.require_equal(b.shape[0], N, lambda: f"B's first dim is {b.shape[0]}, N = {N}")
    out = tuple(a.shape[:-1]) + (int(N),)
    rows = prod(a.shape[:-1])
    if rows is not None:
        ctx.macs = as_dim(rows * int(K) * int(N))
    return Value(out, a.dtype)


@register("MatMulInteger16", "DynamicQuantizeMatMul", "MatMulIntegerToFloat", domain=MS)
def quant_matmul(ctx: NodeContext, a: Value, b: Value, *rest: Optional[Value], **_):
    """numpy matmul of A and B; Y is int32 (MatMulInteger16) or float (the others); a bias (N) is added."""
    y = matmul(ctx, a, b)
    bias = rest[2] if ctx.op_type == "DynamicQuantizeMatMul" and len(rest) > 2 else (
        rest[4] if ctx.op_type == "MatMulIntegerToFloat" and len(rest) > 4 else None)
    if bias is not None and bias.shape is not None and y.shape:
        if len(bias.shape) != 1:
            raise RuleError(f"bias must have rank 1, got {len(bias.shape)}")
        ctx.require_equal(bias.shape[0], y.shape[-1], lambda: f"bias has {bias.shape[0]} values for {y.shape[-1]} "
                                                              f"columns")
    if a.shape is not None and b.shape is not None and y.shape is not None and len(a.shape) >= 1 and len(b.shape) >= 2:
        n = prod(y.shape) if len(b.shape) >= 2 else None
        if n is not None and a.shape[-1] is not None:
            ctx.macs = as_dim(n * a.shape[-1])
    dt = DType.INT32 if ctx.op_type == "MatMulInteger16" else DType.FLOAT
    return Value(y.shape, dt)


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
    shared = any(x is not None for x in rest[:2])  # past_sequence_length / cache_indirection: a shared buffer
    if shared and past_key is not None:
        ctx.warn("past_sequence_length / cache_indirection given (a shared KV buffer): present_key / present_value's "
                 "length is not modelled")
        total = None
    elif past_key is not None and past_key.shape is not None and not kv_ready:
        if len(past_key.shape) != 4:
            raise RuleError(f"past_key must have rank 4, got {len(past_key.shape)}")
        total = _add(past_key.shape[2], length)
    d_v = None if hv is None else as_dim(n * hv)
    outs = [Value((b, s, d_v), q.dtype)]
    if kv_ready:
        outs += [Value(k.shape, k.dtype), Value(v.shape, v.dtype)]
    else:
        outs += [Value((b, n, total, hk), q.dtype), Value((b, n, total, hv), q.dtype)]
    if ctx.n_outputs > 3:
        outs.append(Value((b, n, s, total), q.dtype))
    if all(d is not None for d in (b, s, total, hk, hv)):
        ctx.macs = as_dim(prod([b, n, s, total]) * (hk + hv))
    return outs


@register("QAttention", domain=MS)
def q_attention(ctx: NodeContext, x: Value, weight: Value, bias: Value, input_scale: Value, weight_scale: Value,
                mask_index: Optional[Value] = None, input_zero_point: Optional[Value] = None,
                weight_zero_point: Optional[Value] = None, past: Optional[Value] = None, *, num_heads=None, **_):
    """Attention on 8-bit input and weights: Attention's shapes (output (B, S, D), present (2, B, N, P + S, H))."""
    outs = attention(ctx, x, weight, bias, mask_index, past, num_heads=num_heads)
    return [Value(outs[0].shape, DType.FLOAT), outs[1] and Value(outs[1].shape, DType.FLOAT)]


@register("PackedAttention", domain=MS)
def packed_attention(ctx: NodeContext, x: Value, weights: Value, bias: Value, token_offset: Value,
                     cum_seq_len: Value, *rest, num_heads=None, qkv_hidden_sizes=None, **_):
    """Padding removed: input (T, D_in) with T tokens, token_offset (B, S), cumulative_sequence_length (B + 1)
    -> output (T, D_v). MACs: the projection only (the per-sequence lengths are data)."""
    if not num_heads:
        raise RuleError("num_heads attribute missing")
    if len(x.shape) != 2:
        raise RuleError(f"input must have rank 2 (tokens, hidden), got {len(x.shape)}")
    if weights.shape is None or len(weights.shape) != 2:
        raise RuleError("weights must have rank 2")
    t, d_in = x.shape
    ctx.require_equal(weights.shape[0], d_in, lambda: f"weights expect {weights.shape[0]} input features, got {d_in}")
    total = weights.shape[1]
    if qkv_hidden_sizes:
        if len(qkv_hidden_sizes) != 3:
            raise RuleError(f"qkv_hidden_sizes must have 3 values, got {qkv_hidden_sizes}")
        dv = int(qkv_hidden_sizes[2])
        ctx.require_equal(total, sum(int(v) for v in qkv_hidden_sizes),
                          lambda: f"weights have {total} columns, qkv_hidden_sizes sum to {sum(qkv_hidden_sizes)}")
    else:
        dv = require_divisible(ctx, total, 3, f"weights' {total} columns must split in 3 (Q, K, V)")
    require_divisible(ctx, dv, num_heads, f"hidden size {dv} must be divisible by num_heads {num_heads}")
    if token_offset is not None and token_offset.shape is not None and cum_seq_len is not None and \
            cum_seq_len.shape is not None and len(token_offset.shape) == 2 and len(cum_seq_len.shape) == 1:
        ctx.require_equal(cum_seq_len.shape[0], _add(token_offset.shape[0], 1),
                          lambda: f"cumulative_sequence_length has {cum_seq_len.shape[0]} values for batch "
                                  f"{token_offset.shape[0]} (must be batch + 1)")
    if t is not None and d_in is not None and total is not None:
        ctx.macs = as_dim(t * d_in * total)
    return Value((t, dv), x.dtype)


@register("RotaryEmbedding", domain=MS)
def ms_rotary_embedding(ctx: NodeContext, x: Value, position_ids: Value, cos: Value, sin: Value, *,
                        num_heads=0, rotary_embedding_dim=0, interleaved=0, is_packed_batching=0, **_):
    """input (B, S, N*H) or (B, N, S, H), position_ids (B, S) or (1,) (an offset), cos / sin caches
    (max_S, rotary_dim / 2): output the input's shape. onnxruntime's kernel refuses a cache shorter than S
    (it cannot update the cache); positions past the cache are a run-time check (data)."""
    if is_packed_batching:
        raise RuleError("packed batching (is_packed_batching=1) is not modelled")
    if len(x.shape) not in (3, 4):
        raise RuleError(f"input must have rank 3 or 4, got {len(x.shape)}")
    if cos.shape is None or len(cos.shape) != 2:
        raise RuleError("cos_cache must have rank 2")
    if sin.shape is not None:
        for i in range(min(2, len(sin.shape))):
            ctx.require_equal(sin.shape[i], cos.shape[i], lambda i=i: f"sin_cache axis {i} is {sin.shape[i]}, "
                                                                      f"cos_cache's {cos.shape[i]}")
    b, s = x.shape[0], (x.shape[1] if len(x.shape) == 3 else x.shape[2])
    if len(x.shape) == 3:
        if num_heads:
            head = require_divisible(ctx, x.shape[2], int(num_heads),
                                     f"hidden size {x.shape[2]} must be divisible by num_heads {num_heads}")
        elif rotary_embedding_dim:
            raise RuleError("rotary_embedding_dim needs num_heads with a 3-D input")
        else:
            head = None if cos.shape[1] is None else as_dim(2 * cos.shape[1])
            if head is not None and x.shape[2] is not None:
                require_divisible(ctx, x.shape[2], head, f"hidden size {x.shape[2]} must be divisible by the head "
                                                         f"size {head} (twice the cos_cache's width)")
    if position_ids is not None and position_ids.shape is not None and len(position_ids.shape) == 2:
        for i, d in enumerate((b, s)):
            ctx.require_equal(position_ids.shape[i], d, lambda i=i, d=d: f"position_ids axis {i} is "
                                                                         f"{position_ids.shape[i]}, must be {d}")
    if s is not None and cos.shape[0] is not None:
        ctx.require(sympy.Le(sympy.sympify(s), sympy.sympify(cos.shape[0])),
                    lambda: f"onnxruntime's kernel: the cos / sin cache's {cos.shape[0]} rows must cover the "
                            f"sequence length {s}")
    return Value(x.shape, x.dtype)


@register("GroupQueryAttention", domain=MS)
def group_query_attention(ctx: NodeContext, q: Value, k: Optional[Value] = None, v: Optional[Value] = None,
                          past_key: Optional[Value] = None, past_value: Optional[Value] = None,
                          seqlens_k: Optional[Value] = None, total_len: Optional[Value] = None,
                          cos: Optional[Value] = None, sin: Optional[Value] = None, *rest: Optional[Value],
                          num_heads=None, kv_num_heads=None, do_rotary=0, qk_output=0, k_quant_type="NONE",
                          v_quant_type="NONE", kv_cache_bit_width=0, **_):
    """query (B, S, N*H) with key / value (B, S, N_kv*H), or packed (B, S, (N + 2*N_kv)*H) without them;
    past_key / past_value (B, N_kv, P, H); seqlens_k (B,); total_sequence_length T, a scalar the graph computes
    (its value must be known: present's length is max(T, P)). output (B, S, N*H), present (B, N_kv, max(T, P), H).
    onnxruntime's kernel also requires T = P + S (a cache that grows) or T <= P (a fixed buffer) and refuses
    batch > 1 when S > 1 with a past (S != T): a condition of onnxruntime's kernel, not of the op's shapes.
    MACs: B*N*S*T_present*2*H (scores and context)."""
    if not num_heads or not kv_num_heads:
        raise RuleError("num_heads and kv_num_heads are required")
    n, nk = int(num_heads), int(kv_num_heads)
    if n % nk:
        ctx.require(sympy.false, f"num_heads {n} must be a multiple of kv_num_heads {nk}")
    if any(x not in ("NONE", b"NONE") for x in (k_quant_type, v_quant_type)) or kv_cache_bit_width:
        raise RuleError("a quantised KV cache is not modelled")
    if len(q.shape) != 3:
        raise RuleError(f"query must have rank 3, got {len(q.shape)}")
    b, s, dq = q.shape
    if k is None:  # packed QKV
        if v is not None:
            raise RuleError("value without key")
        h = require_divisible(ctx, dq, n + 2 * nk, f"packed QKV width {dq} must be divisible by "
                                                   f"num_heads + 2*kv_num_heads = {n + 2 * nk}")
    else:
        if v is None or k.shape is None or v.shape is None or len(k.shape) != 3 or len(v.shape) != 3:
            raise RuleError("key and value must both be given with rank 3")
        h = require_divisible(ctx, dq, n, f"query hidden {dq} must be divisible by num_heads {n}")
        for i, d in enumerate((b, s)):
            ctx.require_equal(k.shape[i], d, lambda i=i, d=d: f"key axis {i} is {k.shape[i]}, the query's {d}")
            ctx.require_equal(v.shape[i], d, lambda i=i, d=d: f"value axis {i} is {v.shape[i]}, the query's {d}")
        kvh = None if h is None else as_dim(h * nk)
        ctx.require_equal(k.shape[2], kvh, lambda: f"key hidden {k.shape[2]} must be kv_num_heads*head = {kvh}")
        ctx.require_equal(v.shape[2], kvh, lambda: f"value hidden {v.shape[2]} must be kv_num_heads*head = {kvh}")
    p = None
    if (past_key is None) != (past_value is None):
        raise RuleError("past_key and past_value must be given together")
    if past_key is not None:
        for pv, what in ((past_key, "past_key"), (past_value, "past_value")):
            if pv.shape is None or len(pv.shape) != 4:
                raise RuleError(f"{what} must have rank 4 (B, N_kv, P, H)")
            ctx.require_equal(pv.shape[0], b, lambda pv=pv, what=what: f"{what} batch {pv.shape[0]}, the query's {b}")
            ctx.require_equal(pv.shape[1], nk, lambda pv=pv, what=what: f"{what} has {pv.shape[1]} heads, "
                                                                        f"kv_num_heads is {nk}")
            ctx.require_equal(pv.shape[3], h, lambda pv=pv, what=what: f"{what} head size {pv.shape[3]}, "
                                                                       f"the query's {h}")
        ctx.require_equal(past_value.shape[2], past_key.shape[2],
                          lambda: f"past_value length {past_value.shape[2]}, past_key's {past_key.shape[2]}")
        p = past_key.shape[2]
    # onnxruntime 1.32's CPU kernel: batch 0 kills the process (SIGFPE); sequence length 0 is refused
    # ("total_sequence_length must be positive" without a past, "sequence_length shall be 1" with one)
    ctx.require_positive(b, "onnxruntime's kernel: batch (it crashes at 0)")
    ctx.require_positive(s, "onnxruntime's kernel: sequence length")
    if seqlens_k is not None and seqlens_k.shape is not None:
        if len(seqlens_k.shape) != 1:
            raise RuleError(f"seqlens_k must have rank 1, got {len(seqlens_k.shape)}")
        ctx.require_equal(seqlens_k.shape[0], b, lambda: f"seqlens_k has {seqlens_k.shape[0]} values for batch {b}")
    t = None
    if total_len is not None and total_len.value is not None and len(total_len.value) == 1 and \
            not isinstance(total_len.value[0], float):
        t = as_dim(total_len.value[0])
    if t is None:
        ctx.warn("total_sequence_length is not a value the graph computes from input sizes; present_key / "
                 "present_value's length and the kernel's conditions are unknown")
        present_len = None
    else:
        if p is None:
            present_len = t
        else:
            present_len = dmax(t, p)
            if s is not None:
                ctx.require(sympy.Or(sympy.Eq(sympy.sympify(t), sympy.sympify(canon(p + s))),
                                     sympy.Le(sympy.sympify(t), sympy.sympify(p))),
                            lambda: f"onnxruntime's kernel: total_sequence_length {t} must be past + sequence "
                                    f"length = {canon(p + s)} (a growing cache) or at most the past length {p} "
                                    f"(a fixed buffer)")
                ctx.require(sympy.Or(sympy.Le(sympy.sympify(s), 1), sympy.Eq(sympy.sympify(b), 1),
                                     sympy.Eq(sympy.sympify(s), sympy.sympify(t))),
                            lambda: f"onnxruntime's kernel (not the op's shapes): batch {b} must be 1 "
                                    f"when the sequence length {s} is over 1 with a past (total {t} != {s})")
    if do_rotary:
        if cos is None or cos.shape is None or len(cos.shape) != 2:
            raise RuleError("do_rotary needs cos_cache of rank 2")
        if t is not None and cos.shape[0] is not None:
            ctx.require(sympy.Le(sympy.sympify(t), sympy.sympify(cos.shape[0])),
                        lambda: f"onnxruntime's kernel: cos_cache's {cos.shape[0]} rows must cover "
                                f"total_sequence_length {t}")
        if h is not None:
            require_divisible(ctx, h, 16, f"onnxruntime's CPU kernel: with do_rotary the head size {h} must be a "
                                          f"multiple of 16")
    d_out = None if h is None else as_dim(n * h)
    present = (b, nk, present_len, h)
    outs = [Value((b, s, d_out), q.dtype), Value(present, q.dtype), Value(present, q.dtype)]
    if qk_output:
        outs.append(Value((b, n, s, present_len), q.dtype))
    if all(x is not None for x in (b, s, present_len, h)):
        ctx.macs = as_dim(prod([b, n, s, present_len]) * 2 * h)
    return outs


# projections and attention products, counted by the rules (``ctx.macs``)
describe("Attention", "MultiHeadAttention", "QAttention", "PackedAttention", "GroupQueryAttention", domain=MS,
         cost=rule_counted("attention"))
describe("MatMulNBits", "MatMulBnb4", "MatMulInteger16", "DynamicQuantizeMatMul", "MatMulIntegerToFloat", domain=MS,
         cost=rule_counted("matmul"))


def packed_weights(node, i: int, init) -> Optional[int]:
    """MatMulNBits' B (uint8 [N, ceil(K / block_size), block_size * bits / 8]) and MatMulBnb4's B (uint8
    [ceil(N * K / 2)]) hold N * K weights; their scales (input 2) and zero points (input 3) are metadata (0).
    A B whose size does not match K, N, bits and block_size keeps the default count (None: not a float)."""
    k, n = node.attrs.get("K"), node.attrs.get("N")
    if not isinstance(k, int) or not isinstance(n, int) or k < 0 or n < 0:
        return None
    if i in (2, 3):
        return 0
    if i != 1:
        return None
    if node.op_type == "MatMulNBits":
        bits, blk = node.attrs.get("bits", 4), node.attrs.get("block_size")
        if not isinstance(bits, int) or not isinstance(blk, int) or blk <= 0 or bits <= 0 or blk * bits % 8:
            return None
        packed = n * (-(-k // blk)) * (blk * bits // 8)
    else:  # MatMulBnb4: two 4-bit weights a byte
        packed = -(-(n * k) // 2)
    return n * k if init.numel == packed else None


describe("MatMulNBits", "MatMulBnb4", domain=MS, weights=packed_weights)
describe("MatMulInteger16", domain=MS, weights=quantized_weights((0, 1), ()))
describe("DynamicQuantizeMatMul", domain=MS, weights=quantized_weights((1,), (2, 3)))
describe("MatMulIntegerToFloat", domain=MS, weights=quantized_weights((0, 1), (2, 3, 4, 5)))
# rotary cos / sin caches: state computed from the config, not weights (torch's rotary modules hold them as buffers)
describe("GroupQueryAttention", domain=MS, buffers=(7, 8))
describe("RotaryEmbedding", domain=MS, buffers=(2, 3))
