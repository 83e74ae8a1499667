"""Per-op MAC counts as formulas, under a convention.

Every op falls into one family; each family's count reads the output / input shapes (formulas in the input
symbols) and the node's attributes. A node's status says how its number came about:

    counted       a formula (possibly 0 at some sizes)
    zero          the convention does not count this op family (e.g. ReLU under ``shapealg``) -- stated, not silent
    free          no arithmetic at all: data movement and shape plumbing (Reshape, Transpose, Gather, Concat ...)
    not-modelled  shapealg has no cost model for the op (LSTM, Einsum, custom domains ...): never added as 0
    unknown       the op is modelled but a shape it needs is unknown
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Dict, Mapping, Optional, Tuple

from ..dims import MaybeDim, prod
from .conventions import ONNX_TOOL_WEIGHTS, ONNX_TOOL_ZERO, Convention

__all__ = ["OpCost", "count_node", "family_of", "FREE_OPS", "ELEMENTWISE_OPS"]

FREE_OPS = frozenset({
    "Reshape", "Transpose", "Concat", "Split", "Slice", "Gather", "GatherElements", "GatherND", "Scatter",
    "ScatterElements", "ScatterND", "Squeeze", "Unsqueeze", "Flatten", "Expand", "Tile", "Pad", "Shape", "Size",
    "Constant", "ConstantOfShape", "Identity", "Dropout", "Cast", "CastLike", "Range", "DepthToSpace",
    "SpaceToDepth", "Trilu", "EyeLike", "OneHot", "Compress", "SequenceConstruct", "SplitToSequence",
})
VARIADIC = frozenset({"Sum", "Mean", "Max", "Min"})
ELEMENTWISE_OPS = frozenset({
    "Add", "Sub", "Mul", "Div", "Pow", "Mod", "Max", "Min", "Sum", "Mean", "Equal", "Less", "LessOrEqual",
    "Greater", "GreaterOrEqual", "And", "Or", "Xor", "Not", "BitShift", "BitwiseAnd", "BitwiseOr", "BitwiseXor",
    "BitwiseNot", "Where", "Relu", "LeakyRelu", "PRelu", "Sigmoid", "HardSigmoid", "HardSwish", "Tanh", "Elu",
    "Selu", "Celu", "Gelu", "Mish", "Softplus", "Softsign", "ThresholdedRelu", "Shrink", "Exp", "Log", "Sqrt",
    "Reciprocal", "Neg", "Abs", "Ceil", "Floor", "Round", "Sign", "Sin", "Cos", "Tan", "Asin", "Acos", "Atan",
    "Sinh", "Cosh", "Asinh", "Acosh", "Atanh", "Erf", "Clip", "IsNaN", "IsInf", "Softmax", "LogSoftmax",
    "Hardmax", "CumSum", "NonZero", "Silu", "BiasGelu", "FastGelu", "QuickGelu", "QuantizeLinear",
    "DequantizeLinear",
})
REDUCE_OPS = frozenset({"ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2",
                        "ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare", "ArgMax", "ArgMin"})
POOL_OPS = frozenset({"MaxPool", "AveragePool", "LpPool"})
GLOBAL_POOL_OPS = frozenset({"GlobalAveragePool", "GlobalMaxPool", "GlobalLpPool"})
NORM_OPS = frozenset({"BatchNormalization", "LayerNormalization", "GroupNormalization", "InstanceNormalization",
                      "MeanVarianceNormalization", "LpNormalization", "LRN", "SimplifiedLayerNormalization",
                      "SkipLayerNormalization", "SkipSimplifiedLayerNormalization", "RMSNormalization"})
RESIZE_OPS = frozenset({"Resize", "Upsample"})
CONV_OPS = frozenset({"Conv", "FusedConv", "ConvInteger"})
GEMM_OPS = frozenset({"Gemm", "FusedGemm"})
MATMUL_OPS = frozenset({"MatMul", "MatMulInteger"})


@dataclass(frozen=True)
class OpCost:
    macs: MaybeDim
    status: str          # counted | zero | free | not-modelled | unknown
    family: str
    note: str = ""


class Ctx:
    """What a family counter may look up: shapes of any value (initializers included), constness, producers,
    the node's attributes and parameter count."""

    def __init__(self, result):
        self.result = result
        self.graph = result.graph
        self.values = result.values
        self.inits = result.graph.initializers
        self.attrs = {n.name: n.attrs for n in result.graph.nodes}
        self.by_output: Dict[str, object] = {}
        for nr in result.nodes:
            for o in nr.outputs:
                if o:
                    self.by_output[o] = nr

    def shape(self, name: str):
        if not name:
            return None
        if name in self.values:
            return self.values[name].shape
        if name in self.inits:
            return tuple(self.inits[name].dims)
        return None

    def is_const(self, name: str, _depth: int = 0) -> bool:
        """An initializer, a Constant, or Identity / Cast / Transpose / Reshape of constants (weights)."""
        if not name:
            return False
        if name in self.inits:
            return True
        p = self.by_output.get(name)
        if p is None or _depth > 8:
            return False
        if p.op_type == "Constant":
            return True
        if p.op_type in ("Identity", "Cast", "Transpose", "Reshape", "Unsqueeze", "Squeeze"):
            return all(self.is_const(x, _depth + 1) for x in p.inputs if x)
        return False

    def producer(self, name: str):
        return self.by_output.get(name)


def _numel(shape) -> MaybeDim:
    return None if shape is None else prod(shape)


def _vol(shape) -> MaybeDim:
    """onnx-tool's volume(): like numel, but 0 for a rank-0 (scalar) tensor."""
    return None if shape is None else (0 if len(shape) == 0 else prod(shape))


def _mul(*xs) -> MaybeDim:
    if any(x is None for x in xs):
        return None
    return prod(xs)


def family_of(op_type: str, domain: str = "") -> str:
    if domain not in ("", "ai.onnx", "com.microsoft"):
        return "custom"
    for fam, ops in (("conv", CONV_OPS), ("conv-transpose", {"ConvTranspose"}), ("gemm", GEMM_OPS),
                     ("matmul", MATMUL_OPS), ("free", FREE_OPS), ("pool", POOL_OPS), ("global-pool", GLOBAL_POOL_OPS),
                     ("norm", NORM_OPS), ("resize", RESIZE_OPS), ("reduce", REDUCE_OPS),
                     ("elementwise", ELEMENTWISE_OPS)):
        if op_type in ops:
            return fam
    return "other"


def _ok(macs, family, note="") -> OpCost:
    if macs is None:
        return OpCost(None, "unknown", family, note or "a shape this count needs is unknown")
    return OpCost(macs, "counted", family, note)


def _zero(family, conv: Convention, why: str = "") -> OpCost:
    return OpCost(0, "zero", family, why or f"not counted under the {conv.name} convention")


# ---------------------------------------------------------------- linear algebra

def _conv(nr, ctx: Ctx, conv: Convention) -> OpCost:
    out, w = ctx.shape(nr.outputs[0]), ctx.shape(nr.inputs[1]) if len(nr.inputs) > 1 else None
    if out is None or w is None:
        return _ok(None, "conv")
    macs = _mul(_numel(out), prod(w[1:]))  # N * out positions * C_out * (C_in / group) * prod(kernel)
    b = _bias_term(nr, 2, out, ctx, conv)
    return _ok(None if macs is None or b is None else macs + b, "conv")


def _conv_transpose(nr, ctx: Ctx, conv: Convention) -> OpCost:
    x, w, out = ctx.shape(nr.inputs[0]), ctx.shape(nr.inputs[1]), ctx.shape(nr.outputs[0])
    if x is None or w is None or out is None:
        return _ok(None, "conv-transpose")
    if conv.style == "torchinfo":    # (weights) * N * output positions
        macs = _mul(out[0], *out[2:], prod(w))
    elif conv.style == "onnx-tool":  # output elements * prod(W.shape[1:])
        macs = _mul(_numel(out), prod(w[1:]))
    else:                            # N * input positions * C_in * C_out/group * prod(kernel)
        macs = _mul(_numel(x), prod(w[1:]))
    b = _bias_term(nr, 2, out, ctx, conv)
    return _ok(None if macs is None or b is None else macs + b, "conv-transpose")


def _weights(nr, ctx: Ctx, idxs) -> MaybeDim:
    """Elements of the constant (weight) inputs at ``idxs``, however the exporter stored them (initializer,
    Constant, Identity of a shared initializer)."""
    tot = 0
    for i in idxs:
        if i < len(nr.inputs) and nr.inputs[i] and ctx.is_const(nr.inputs[i]):
            n = _numel(ctx.shape(nr.inputs[i]))
            if n is None:
                return None
            tot = tot + n
    return tot


def _bias_term(nr, idx: int, out, ctx: Ctx, conv: Convention) -> MaybeDim:
    """One add per output element when the node has a bias input and the convention counts bias adds."""
    if not conv.bias or len(nr.inputs) <= idx or not nr.inputs[idx]:
        return 0
    return _numel(out)


def _gemm(nr, ctx: Ctx, conv: Convention) -> OpCost:
    a, out = ctx.shape(nr.inputs[0]), ctx.shape(nr.outputs[0])
    if a is None or out is None or len(a) != 2:
        return _ok(None, "gemm")
    at = ctx.attrs.get(nr.name, {})
    k = a[0] if at.get("transA", 0) else a[1]
    bsh = ctx.shape(nr.inputs[1])
    if ctx.is_const(nr.inputs[1]) and bsh is not None and len(bsh) == 2:
        k = bsh[1] if at.get("transB", 0) else bsh[0]  # the weight's K: equal to x's wherever the node runs
    if conv.style == "torchinfo" and not ctx.is_const(nr.inputs[1]):
        return _zero("gemm", conv, "torchinfo counts layers with weights only")
    macs = _mul(_numel(out), k)  # M * K * N
    b = _bias_term(nr, 2, out, ctx, conv)
    return _ok(None if macs is None or b is None else macs + b, "gemm")


def _matmul(nr, ctx: Ctx, conv: Convention) -> OpCost:
    a, bsh, out = ctx.shape(nr.inputs[0]), ctx.shape(nr.inputs[1]), ctx.shape(nr.outputs[0])
    if a is None or bsh is None or out is None:
        return _ok(None, "matmul")
    weight = ctx.is_const(nr.inputs[1]) or ctx.is_const(nr.inputs[0])
    if not weight and not conv.activation_matmul:
        return _zero("matmul", conv, f"a product of two activations; not counted under the {conv.name} convention")
    k = bsh[-2] if ctx.is_const(nr.inputs[1]) and len(bsh) >= 2 else a[-1]  # the weight's K where there is one
    if conv.style == "onnx-tool" and len(bsh) == 1:
        return _ok(_numel(out), "matmul")  # onnx-tool: output elements only for a vector B
    if conv.style == "torchinfo" and ctx.is_const(nr.inputs[1]) and len(bsh) == 2 and len(out) >= 1:
        # torchinfo: a Linear counts (weights) * output_size[0]: only the first dim of a (B, T, C) output
        return _ok(_mul(out[0], *bsh), "matmul", "torchinfo counts a Linear on the first output dim only")
    return _ok(_mul(_numel(out), k), "matmul")  # batch * M * K * N


def _linear_bias_add(nr, ctx: Ctx) -> Optional[str]:
    """The constant input of ``Add(MatMul(x, W), b)`` when it is a Linear's bias (b of shape (N,) or (1.., N))."""
    if nr.op_type != "Add" or len([x for x in nr.inputs if x]) != 2:
        return None
    out = ctx.shape(nr.outputs[0])
    if not out:
        return None
    for i, j in ((0, 1), (1, 0)):
        b, x = nr.inputs[i], nr.inputs[j]
        p = ctx.producer(x)
        if not ctx.is_const(b) or p is None or p.op_type not in MATMUL_OPS or not ctx.is_const(p.inputs[1]):
            continue
        bs = ctx.shape(b)
        if bs and all(d == 1 for d in bs[:-1]) and bs[-1] == out[-1] and bs[-1] != 1:
            return b
    return None


def _bias_add(nr, ctx: Ctx, conv: Convention) -> OpCost:
    out = ctx.shape(nr.outputs[0])
    if not conv.bias:
        return _zero("bias", conv, f"a Linear's bias add; bias adds are not counted under {conv.name}")
    if conv.style == "torchinfo":
        return _ok(_mul(out[0], out[-1]), "bias", "torchinfo counts a Linear on the first output dim only")
    return _ok(_numel(out), "bias")


# ---------------------------------------------------------------- the other families

def _elementwise(nr, ctx: Ctx, conv: Convention) -> OpCost:
    out = ctx.shape(nr.outputs[0])
    n_in = len([x for x in nr.inputs if x])
    if conv.style == "onnx-tool":
        return _onnx_tool_pw(nr, out, n_in)
    if conv.style == "torchinfo" and nr.op_type == "PRelu":
        w = _weights(nr, ctx, (1,))
        return _ok(_mul(out[0], w) if out else None, "elementwise", "torchinfo: first output dim * weights")
    if not conv.elementwise:
        return _zero("elementwise", conv)
    ratio = max(1, n_in - 1) if nr.op_type in VARIADIC else 1
    return _ok(_mul(_numel(out), ratio), "elementwise")


def _onnx_tool_pw(nr, out, n_in) -> OpCost:
    if nr.op_type in ONNX_TOOL_ZERO:
        return OpCost(0, "zero", "elementwise", "onnx-tool profiles this op as 0")
    if nr.op_type not in ONNX_TOOL_WEIGHTS:
        return OpCost(0, "zero", "elementwise", "onnx-tool has no profiler for this op and counts it 0")
    weight, ratio = ONNX_TOOL_WEIGHTS[nr.op_type]
    r = max(1, n_in - 1) if ratio == "n-1" else ratio
    return _ok(_mul(_vol(out), weight * r), "elementwise")


def _reduce(nr, ctx: Ctx, conv: Convention) -> OpCost:
    x = ctx.shape(nr.inputs[0])
    if conv.style == "onnx-tool":
        w = {"ReduceMean": 1, "ReduceSum": 1, "ReduceProd": 1, "ReduceMin": 1, "ReduceMax": 1, "ReduceL2": 25}
        if nr.op_type not in w:
            return OpCost(0, "zero", "reduce", "onnx-tool profiles this op as 0")
        return _ok(_mul(_vol(x), w[nr.op_type]), "reduce")
    if not conv.elementwise:
        return _zero("reduce", conv)
    return _ok(_numel(x), "reduce")  # one op per input element


def _kernel(nr, ctx: Ctx) -> Optional[Tuple[int, ...]]:
    k = ctx.attrs.get(nr.name, {}).get("kernel_shape")
    return tuple(int(v) for v in k) if k else None


def _pool(nr, ctx: Ctx, conv: Convention) -> OpCost:
    out = ctx.shape(nr.outputs[0])
    k = _kernel(nr, ctx)
    if conv.style in ("fvcore", "torchinfo") or not conv.pooling:
        return _zero("pool", conv)
    if k is None:
        return _ok(None, "pool", "no kernel_shape")
    if conv.style == "onnx-tool":  # onnx-tool multiplies by kernel_shape[0] (and [1] for 2-D kernels only)
        return _ok(_mul(_numel(out), k[0] * (k[1] if len(k) == 2 else 1)), "pool")
    return _ok(_mul(_numel(out), prod(k)), "pool")  # one op per window element


def _global_pool(nr, ctx: Ctx, conv: Convention) -> OpCost:
    x, out = ctx.shape(nr.inputs[0]), ctx.shape(nr.outputs[0])
    if conv.style == "torchinfo" or not conv.pooling:
        return _zero("global-pool", conv)
    if conv.style == "fvcore":  # adaptive_avg_pool2d: input elements; adaptive max pool is not counted
        if nr.op_type != "GlobalAveragePool":
            return _zero("global-pool", conv, "fvcore does not count adaptive max / Lp pooling")
        return _ok(_numel(x), "global-pool")
    if conv.style == "onnx-tool":
        if nr.op_type != "GlobalAveragePool":
            return OpCost(0, "zero", "global-pool", "onnx-tool has no profiler for this op and counts it 0")
        return _ok(None if x is None or out is None else _vol(x) + 4 * _vol(out), "global-pool")
    return _ok(_numel(x), "global-pool")


def _norm(nr, ctx: Ctx, conv: Convention) -> OpCost:
    x, out = ctx.shape(nr.inputs[0]), ctx.shape(nr.outputs[0])
    op = nr.op_type
    if not conv.norm:
        return _zero("norm", conv)
    if conv.style == "torchinfo":  # (weights + bias) * output_size[0]; BatchNorm's mean / var are buffers
        w = _weights(nr, ctx, (1, 2))
        return _ok(_mul(out[0], w) if out else None, "norm", "torchinfo: first output dim * weights")
    has_scale = len(nr.inputs) > 1 and bool(nr.inputs[1])
    if conv.style == "fvcore":
        if op == "BatchNormalization":
            return _ok(_mul(_numel(x), 2 if has_scale else 1), "norm")
        if op in ("LayerNormalization", "GroupNormalization", "InstanceNormalization"):
            return _ok(_mul(_numel(x), 5 if has_scale else 4), "norm")
        return _zero("norm", conv, "fvcore does not count this normalisation")
    if conv.style == "onnx-tool":
        if op == "BatchNormalization":
            return _ok(_mul(_numel(out), 31), "norm")  # ADD + SQRT + DIV + ADD + MUL
        if op == "LayerNormalization":
            if x is None:
                return _ok(None, "norm")
            axis = int(ctx.attrs.get(nr.name, {}).get("axis", -1)) % len(x)
            rest = prod([d for i, d in enumerate(x) if i != axis])
            return _ok(7 * _numel(x) + 29 * rest, "norm")
        if op in ONNX_TOOL_WEIGHTS:
            return _onnx_tool_pw(nr, out, len([i for i in nr.inputs if i]))
        return OpCost(0, "zero", "norm", "onnx-tool has no profiler for this op and counts it 0")
    if op == "BatchNormalization":
        return _ok(_numel(x), "norm")  # inference: y = x * a + b, one MAC per element
    if op == "LRN":
        size = int(ctx.attrs.get(nr.name, {}).get("size", 1))
        return _ok(_mul(_numel(x), size + 1), "norm")
    return _ok(_mul(_numel(x), 4 if has_scale else 3), "norm")  # mean, variance, normalise, affine


def _resize(nr, ctx: Ctx, conv: Convention) -> OpCost:
    out = ctx.shape(nr.outputs[0])
    mode = ctx.attrs.get(nr.name, {}).get("mode", "nearest")
    mode = mode.decode() if isinstance(mode, bytes) else str(mode)
    if conv.style == "torchinfo" or not conv.resize:
        return _zero("resize", conv)
    if conv.style == "fvcore":
        w = {"nearest": 1, "linear": 4}.get(mode, 0)
        if not w:
            return _zero("resize", conv, f"fvcore does not count {mode} interpolation")
    elif conv.style == "onnx-tool":
        w = {"nearest": 0, "linear": 4, "cubic": 8}.get(mode, 0)
    else:
        r = max(0, len(out) - 2) if out else 0
        w = {"nearest": 0, "linear": 2 ** r, "cubic": 4 ** r}.get(mode, 0)
    return _ok(_mul(_numel(out), w), "resize")


_FAMILY: Mapping[str, Callable] = {
    "conv": _conv, "conv-transpose": _conv_transpose, "gemm": _gemm, "matmul": _matmul,
    "elementwise": _elementwise, "reduce": _reduce, "pool": _pool, "global-pool": _global_pool, "norm": _norm,
    "resize": _resize,
}


def count_node(nr, ctx: Ctx, conv: Convention) -> OpCost:
    """The MACs of one node under ``conv`` (see the module docstring for the statuses)."""
    fam = family_of(nr.op_type, nr.domain)
    if fam == "free":
        return OpCost(0, "free", fam, "data movement / shape plumbing: no arithmetic")
    if fam in ("custom", "other"):
        dom = f"{nr.domain}." if nr.domain not in ("", "ai.onnx") else ""
        return OpCost(None, "not-modelled", fam, f"no cost model for op {dom}{nr.op_type}")
    if fam == "elementwise" and _linear_bias_add(nr, ctx) is not None:
        return _bias_add(nr, ctx, conv)
    if any(ctx.shape(o) is None for o in nr.outputs[:1]):
        return OpCost(None, "unknown", fam, "the output shape is unknown")
    try:
        return _FAMILY[fam](nr, ctx, conv)
    except (TypeError, ValueError, IndexError, KeyError, ZeroDivisionError) as e:
        return OpCost(None, "unknown", fam, f"cannot count ({type(e).__name__}: {e})")
