"""Counting conventions: what a MAC is, op family by op family, and the presets that reproduce other tools.

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
from typing import Dict, Mapping

__all__ = ["Convention", "CONVENTIONS", "get_convention", "ONNX_TOOL_WEIGHTS"]

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
