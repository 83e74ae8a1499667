"""The cost model every op's cost function uses: conventions (what a MAC is, and the presets that reproduce
other tools), the record a cost function returns (``OpCost``), the view of the graph it reads (``CostView``)
and small helpers. The per-op cost functions live beside each op's shape rule (``shapealg.rules``); both
``shapealg analyze`` (under the default convention) and ``shapealg cost`` read them.


A convention is a frozen record of switches (documented in docs/COSTS.md). ``shapealg`` (the default) counts
the multiply-accumulates of the linear-algebra ops only: Conv, ConvTranspose, Gemm, MatMul. The switches add
bias adds, elementwise ops, pooling, normalisations and resizes; ``style`` picks a tool's formulas for the op
families where tools disagree in structure, not only in what they include:

    shapealg   MACs of Conv / ConvTranspose / Gemm / MatMul, nothing else; FLOPs = 2 * MACs
    full       shapealg + bias adds + 1 op per output element of every elementwise op, pooling windows,
               normalisations, reductions, interpolation taps
    fvcore     fvcore.nn.FlopCountAnalysis: no bias; BatchNorm 2 (eval, affine) per input element, LayerNorm /
               GroupNorm 5 (4 without affine), InstanceNorm 5 / 4; adaptive/global average pool 1 per input
               element; nearest resize 1, bilinear 4 per output element; everything else 0; its "flops" are MACs
    torchinfo  torchinfo.summary().total_mult_adds: a layer with weights counts (weights + bias) * N * output
               positions for Conv / ConvTranspose, and (weights + bias) * (first output dim) for any other layer
               with parameters (Linear, LayerNorm, BatchNorm...); products of two activations (attention) are 0
    onnx-tool  onnx_tool Graph.profile(): x86-instruction weights per element (exp 32, div 4, sqrt 24, ...)
"""
from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Callable, Dict, Mapping, Optional, Sequence, Tuple

from .algebra import TooComplex
from .dims import MaybeDim, prod
from .enums import CostStatus

__all__ = ["Convention", "CONVENTIONS", "get_convention", "ONNX_TOOL_WEIGHTS", "ONNX_TOOL_ZERO", "SHAPEALG",
           "OpCost", "CostView", "CostStatus"]

STYLES = ("shapealg", "fvcore", "torchinfo", "onnx-tool")


@dataclass(frozen=True)
class Convention:
    """Which ops count and how.  ``flops_per_mac`` turns MACs into FLOPs (2: a multiply and an add)."""
    name: str = "shapealg"
    bias: bool = False         # bias adds of Conv / ConvTranspose / Gemm / Linear (MatMul + Add): 1 per output element
    elementwise: bool = False  # activations, arithmetic, comparisons, softmax, reductions: per output (input) element
    pooling: bool = False      # Max/Average/Lp pools: kernel window per output element; global pools: input elements
    norm: bool = False         # BatchNorm / LayerNorm / GroupNorm / InstanceNorm ...
    resize: bool = False       # Resize / Upsample: interpolation taps per output element
    activation_matmul: bool = True  # MatMul of two activations (attention scores, attention @ V)
    flops_per_mac: int = 2
    style: str = "shapealg"    # whose formulas for the families above: shapealg | fvcore | torchinfo | onnx-tool

    def __post_init__(self):
        if self.style not in STYLES:
            raise ValueError(f"convention style must be one of {STYLES}, not {self.style!r}")
        if self.flops_per_mac not in (1, 2):
            raise ValueError(f"flops_per_mac must be 1 or 2, not {self.flops_per_mac!r}")

    def with_(self, **changes) -> "Convention":
        """A copy with some switches changed; the name says so (``fvcore+bias``)."""
        if not changes:
            return self
        valid = {f.name for f in fields(self)}
        bad = [k for k in changes if k not in valid]
        if bad:
            raise ValueError(f"unknown convention switch {bad[0]!r} (switches: {sorted(valid - {'name'})})")
        if "name" not in changes:
            tags = []
            for k, v in changes.items():
                if getattr(self, k) != v:
                    tags.append(f"{k}={v}" if not isinstance(v, bool) else (f"+{k}" if v else f"-{k}"))
            changes["name"] = self.name + ("" if not tags else "[" + ",".join(tags) + "]")
        return replace(self, **changes)

    def to_json(self) -> Dict[str, object]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


CONVENTIONS: Mapping[str, Convention] = {
    "shapealg": Convention(),
    "full": Convention("full", bias=True, elementwise=True, pooling=True, norm=True, resize=True),
    "fvcore": Convention("fvcore", norm=True, pooling=True, resize=True, flops_per_mac=1, style="fvcore"),
    "torchinfo": Convention("torchinfo", bias=True, norm=True, activation_matmul=False, style="torchinfo"),
    "onnx-tool": Convention("onnx-tool", bias=True, elementwise=True, pooling=True, norm=True, resize=True,
                            style="onnx-tool"),
}


def get_convention(c) -> Convention:
    if isinstance(c, Convention):
        return c
    if c is None:
        return CONVENTIONS["shapealg"]
    key = str(c).strip().lower().replace("_", "-")
    if key in ("onnxtool",):
        key = "onnx-tool"
    if key not in CONVENTIONS:
        raise ValueError(f"unknown counting convention {c!r}; choose one of {sorted(CONVENTIONS)}")
    return CONVENTIONS[key]


# onnx-tool 1.0 (onnx_tool/node.py): instruction weights per output element. MUL = ADD = CMP = 1, DIV = 4,
# EXP = POW = 32, LOG = 43, SIN = COS = 39, SQRT = 24, TANH = EXP + 2 ADD + DIV = 38.
# (weight, ratio): ratio "n-1" is max(1, inputs - 1) (onnx-tool's PWNode / NpMathBase), else a number.
ONNX_TOOL_WEIGHTS: Mapping[str, tuple] = {
    "Add": (1, "n-1"), "Sub": (1, "n-1"), "Mod": (1, "n-1"), "Max": (1, "n-1"), "Ceil": (1, "n-1"),
    "Min": (1, "n-1"), "Neg": (1, "n-1"), "Abs": (1, "n-1"), "Mul": (1, "n-1"), "Div": (4, "n-1"),
    "Relu": (1, "n-1"), "LeakyRelu": (2, "n-1"), "Sqrt": (24, "n-1"), "Pow": (32, "n-1"), "Sin": (39, "n-1"),
    "Cos": (39, "n-1"), "Sign": (1, "n-1"), "HardSigmoid": (4, "n-1"), "HardSwish": (5, "n-1"),
    "Silu": (33, "n-1"), "Gelu": (34, "n-1"), "Sum": (1, "n-1"), "Reciprocal": (4, "n-1"), "Hardmax": (1, "n-1"),
    "LpNormalization": (33, "n-1"), "InstanceNormalization": (7, "n-1"), "Relu6": (2, 1), "Clip": (2, 1),
    "PRelu": (2, 1), "CumSum": (1, 1), "Exp": (32, 1), "Sigmoid": (32, 1), "Softmax": (36, 1),
    "Softplus": (76, 1), "Log": (43, 1), "LogSoftmax": (80, 1), "Elu": (35, 1), "Tanh": (38, 2),
    "Atan": (34, 2), "ImageScaler": (2, 1), "Less": (1, 1), "LessOrEqual": (1, 1), "Round": (1, 1),
    "Not": (1, 1), "And": (1, 1), "Or": (1, 1), "Xor": (1, 1), "Equal": (1, 1), "Greater": (1, 1),
    "GreaterOrEqual": (1, 1), "NonZero": (1, 1), "Floor": (1, 1),
    "DequantizeLinear": (2, 1), "QuantizeLinear": (2, 1),
}
# ops onnx-tool knows and profiles as 0 (data movement, Erf, Identity, Where, Cast ...)
ONNX_TOOL_ZERO = {
    "ArgMax", "Cast", "Compress", "Concat", "Constant", "ConstantOfShape", "DepthToSpace", "Dropout", "Erf",
    "Expand", "Flatten", "Gather", "GatherElements", "GatherND", "Identity", "OneHot", "Pad", "Range", "Reshape",
    "ScatterElements", "ScatterND", "Shape", "Slice", "Split", "Squeeze", "Tile", "TopK", "Transpose", "Trilu",
    "Unsqueeze", "Where",
}


SHAPEALG = CONVENTIONS["shapealg"]  # the convention of ``shapealg analyze``'s per-node MACs


def analyze_equivalent(conv: Convention) -> bool:
    """Counts what the default convention counts (only FLOPs per MAC may differ)."""
    return replace(conv, name=SHAPEALG.name, flops_per_mac=SHAPEALG.flops_per_mac) == SHAPEALG


# ---------------------------------------------------------------- what a cost function returns and reads

@dataclass(frozen=True)
class OpCost:
    macs: MaybeDim
    status: CostStatus   # counted | zero | free | not-modelled | unknown
    family: str
    note: str = ""


class CostView:
    """What a cost function may look up about the graph around a node: the shape of any value (initializers
    included), constness, producers, a node's attributes."""

    def __init__(self, values: Mapping[str, object], inits: Mapping[str, object], producers: Mapping[str, object],
                 attrs: Mapping[str, dict]):
        self.values = values        # name -> anything with .shape
        self.inits = inits          # name -> anything with .dims
        self.producers = producers  # value name -> the node record that produced it
        self._attrs = attrs         # node name -> attributes

    def shape(self, name: str):
        if not name:
            return None
        v = self.values.get(name)
        if v is not None:
            return v.shape
        if name in self.inits:
            return tuple(self.inits[name].dims)
        return None

    def attrs(self, node) -> dict:
        return self._attrs.get(node.name, {})

    def is_const(self, name: str, _depth: int = 0) -> bool:
        """An initializer, a Constant, or Identity / Cast / Transpose / Reshape of constants (weights)."""
        if not name:
            return False
        if name in self.inits:
            return True
        p = self.producers.get(name)
        if p is None or _depth > 8:
            return False
        if p.op_type == "Constant":
            return True
        if p.op_type in ("Identity", "Cast", "Transpose", "Reshape", "Unsqueeze", "Squeeze"):
            return all(self.is_const(x, _depth + 1) for x in p.inputs if x)
        return False

    def producer(self, name: str):
        return self.producers.get(name)


def numel(shape) -> MaybeDim:
    return None if shape is None else prod(shape)


def volume(shape) -> MaybeDim:
    """onnx-tool's volume(): like numel, but 0 for a rank-0 (scalar) tensor."""
    return None if shape is None else (0 if len(shape) == 0 else prod(shape))


def mul(*xs) -> MaybeDim:
    if any(x is None for x in xs):
        return None
    return prod(xs)


def counted(macs, family, note="") -> OpCost:
    if macs is None:
        return OpCost(None, CostStatus.UNKNOWN, family, note or "a shape this count needs is unknown")
    return OpCost(macs, CostStatus.COUNTED, family, note)


def zero(family, conv: Convention, why: str = "") -> OpCost:
    return OpCost(0, CostStatus.ZERO, family, why or f"not counted under the {conv.name} convention")


def free_cost(node, view, conv) -> OpCost:
    """Data movement and shape plumbing: no arithmetic."""
    return OpCost(0, CostStatus.FREE, "free", "data movement / shape plumbing: no arithmetic")


def not_modelled(node, family: str = "other") -> OpCost:
    dom = f"{node.domain}." if node.domain not in ("", "ai.onnx") else ""
    return OpCost(None, CostStatus.NOT_MODELLED, family, f"no cost model for op {dom}{node.op_type}")


def weights(node, view: CostView, idxs) -> MaybeDim:
    """Elements of the constant (weight) inputs at ``idxs``, however the exporter stored them (initializer,
    Constant, Identity of a shared initializer)."""
    tot = 0
    for i in idxs:
        if i < len(node.inputs) and node.inputs[i] and view.is_const(node.inputs[i]):
            n = numel(view.shape(node.inputs[i]))
            if n is None:
                return None
            tot = tot + n
    return tot


def bias_term(node, idx: int, out, conv: Convention) -> MaybeDim:
    """One add per output element when the node has a bias input and the convention counts bias adds."""
    if not conv.bias or len(node.inputs) <= idx or not node.inputs[idx]:
        return 0
    return numel(out)


def onnx_tool_pointwise(node, out, n_in, family: str = "elementwise") -> OpCost:
    if node.op_type in ONNX_TOOL_ZERO:
        return OpCost(0, CostStatus.ZERO, family, "onnx-tool profiles this op as 0")
    if node.op_type not in ONNX_TOOL_WEIGHTS:
        return OpCost(0, CostStatus.ZERO, family, "onnx-tool has no profiler for this op and counts it 0")
    weight, ratio = ONNX_TOOL_WEIGHTS[node.op_type]
    r = max(1, n_in - 1) if ratio == "n-1" else ratio
    return counted(mul(volume(out), weight * r), family)


def cost_model(family: str, needs_output: bool = True) -> Callable:
    """Decorator naming a cost function's op family; ``needs_output``: the count reads the output shape
    (an unknown one makes the status ``unknown`` without calling the function)."""
    def deco(fn):
        fn.family = family
        fn.needs_output = needs_output
        return fn
    return deco


free_cost.family, free_cost.needs_output = "free", False


def rule_counted(family: str, activation_product: bool = False, analyze_only: bool = False) -> Callable:
    """A cost model for ops whose count only the rule can make (Einsum's labels, an attention's heads, a loop
    body): the number the rule stated (``node.rule_macs``). ``activation_product``: a product of activations,
    not counted by conventions that leave those out (torchinfo). ``analyze_only``: the number is only right
    under conventions equivalent to the default (a loop body counted under the default convention)."""
    @cost_model(family, needs_output=False)
    def cost(node, view: CostView, conv: Convention) -> OpCost:
        if analyze_only and not analyze_equivalent(conv):
            return OpCost(None, CostStatus.NOT_MODELLED, family,
                          f"the body's cost is modelled under the {SHAPEALG.name} convention only")
        if activation_product and not conv.activation_matmul and \
                not any(view.is_const(x) for x in node.inputs if x):
            return zero(family, conv, f"a product of activations; not counted under the {conv.name} convention")
        return counted(node.rule_macs, family)
    return cost


COUNT_ERRORS = (TypeError, ValueError, IndexError, KeyError, ZeroDivisionError)


def count(node, view: CostView, conv: Convention, cost_fn: Optional[Callable], strict: bool = False) -> OpCost:
    """The MACs of one node under ``conv`` with its op's cost model (None: not modelled)."""
    if cost_fn is None:
        return not_modelled(node, "custom" if node.domain not in ("", "ai.onnx", "com.microsoft") else "other")
    family = getattr(cost_fn, "family", "other")
    if getattr(cost_fn, "needs_output", True) and any(view.shape(o) is None for o in node.outputs[:1]):
        return OpCost(None, CostStatus.UNKNOWN, family, "the output shape is unknown")
    try:
        return cost_fn(node, view, conv)
    except TooComplex:
        return OpCost(None, CostStatus.UNKNOWN, family, "the cost formula passed the work limit")
    except COUNT_ERRORS as e:
        if strict:
            raise
        return OpCost(None, CostStatus.UNKNOWN, family, f"cannot count ({type(e).__name__}: {e})")
