"""Small torch models for the acceptance tests, and an ONNX exporter wrapper.

Every builder returns a tiny nn.Module in eval mode with deterministic weights
(torch.manual_seed), a single image input named ``x`` of shape (N, 3, H, W), and a
docstring stating the input-size constraint the model should exhibit. torch is
imported here at module level: this file is test support, not library code.

    from tests.models import seed_model, export_onnx
    path, note = export_onnx(seed_model(), tmp_path / "seed.onnx", exporter="torchscript")
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "seed_model",
    "seed_model_adaptive",
    "unet",
    "vit_fixed",
    "vit_interpolated",
    "ceil_pool_stack",
    "window_partition_model",
    "hw_product_model",
    "ALL_MODELS",
    "Exported",
    "export_onnx",
]


def _init(module: nn.Module, seed: int = 0) -> nn.Module:
    """Re-initialise parameters deterministically and switch to eval mode."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.1)
    return module.eval()


# ----------------------------------------------------------------- the notebook's models


class SeedModel(nn.Module):
    """The notebook's Model, without the print in forward (layer names net.0 .. net.8)."""

    def __init__(self, adaptive: bool = False):
        super().__init__()
        layers: list[nn.Module] = [
            nn.Conv2d(in_channels=3, out_channels=16, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1)),
            nn.ReLU(),
            nn.MaxPool2d(kernel_size=2, stride=None, padding=0, dilation=1, return_indices=False, ceil_mode=False),
            nn.Conv2d(in_channels=16, out_channels=32, kernel_size=(5, 5), stride=(1, 1), padding=(1, 1)),
            nn.ReLU(),
        ]
        if adaptive:
            layers.append(nn.AdaptiveAvgPool2d((110, 110)))
        layers += [nn.Flatten(), nn.Linear(387200, 64), nn.ReLU(), nn.Linear(64, 10)]
        self.net = nn.Sequential(*layers)

    def forward(self, x):
        return self.net(x)


def seed_model() -> nn.Module:
    """The seed notebook's Model: Conv2d(3,16,3,p=1) ReLU MaxPool2d(2) Conv2d(16,32,5,p=1) ReLU
    Flatten Linear(387200,64) ReLU Linear(64,10).

    Params 432, 16, 12800, 32, 24780800, 64, 640, 10 (total 24794794).
    Valid exactly where 32*(floor(H/2)-2)*(floor(W/2)-2) == 387200, i.e.
    (floor(H/2)-2)*(floor(W/2)-2) == 12100: 224x224, 204x246, 6x24204, ... (locked, finite set).
    Node names (torchscript export): /net/net.0/Conv ... /net/net.6/Gemm.
    """
    torch.manual_seed(0)
    m = SeedModel(adaptive=False).eval()
    m.example_input_shape = (1, 3, 224, 224)
    return m


def seed_model_adaptive() -> nn.Module:
    """The notebook's fix: AdaptiveAvgPool2d((110, 110)) before Flatten.

    The torch module runs for every H, W >= 6 (the 5x5 conv needs floor(H/2) >= 3).
    The torchscript exporter emits AdaptiveAvgPool as AveragePool with kernel/stride
    fixed at the export size (or fails); the dynamo exporter decomposes it into
    Gathers with indices fixed at the export size: the *file* is valid only where
    those constants still fit. shapealg must predict exactly where.
    """
    torch.manual_seed(0)
    m = SeedModel(adaptive=True).eval()
    m.example_input_shape = (1, 3, 224, 224)
    return m


# ----------------------------------------------------------------- UNet


def _block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.ReLU(), nn.Conv2d(cout, cout, 3, padding=1), nn.ReLU())


class TinyUNet(nn.Module):
    def __init__(self, depth: int = 3, base: int = 4, max_ch: int = 8):
        super().__init__()
        chs = [min(base * 2**i, max_ch) for i in range(depth + 1)]
        self.inc = _block(3, chs[0])
        self.downs = nn.ModuleList(_block(chs[i], chs[i + 1]) for i in range(depth))
        self.pool = nn.MaxPool2d(2)
        self.ups = nn.ModuleList(nn.ConvTranspose2d(chs[i + 1], chs[i], 2, stride=2) for i in reversed(range(depth)))
        self.up_blocks = nn.ModuleList(_block(2 * chs[i], chs[i]) for i in reversed(range(depth)))
        self.head = nn.Conv2d(chs[0], 2, 1)

    def forward(self, x):
        x = self.inc(x)
        skips = []
        for down in self.downs:
            skips.append(x)
            x = down(self.pool(x))
        for up, block in zip(self.ups, self.up_blocks):
            x = up(x)
            x = block(torch.cat([x, skips.pop()], dim=1))
        return self.head(x)


def unet(depth: int = 3) -> nn.Module:
    """Tiny UNet (channels 4-8): MaxPool2d(2) downs, ConvTranspose2d(k=2, s=2) ups, skip concat.

    Each Concat needs 2*floor(h/2) == h at every level, so valid exactly where
    H % 2**depth == 0 and W % 2**depth == 0 (H, W >= 2**depth): conditional.
    """
    return _init(TinyUNet(depth))


# ----------------------------------------------------------------- ViTs


class _Block(nn.Module):
    """Pre-norm transformer block with hand-written attention (plain MatMul/Softmax ops)."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads = heads
        self.norm1 = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))

    def forward(self, x):
        B, N, C = x.shape
        qkv = self.qkv(self.norm1(x)).reshape(B, N, 3, self.heads, C // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        attn = (q @ k.transpose(-2, -1)) * (C // self.heads) ** -0.5
        y = (attn.softmax(dim=-1) @ v).transpose(1, 2).reshape(B, N, C)
        x = x + self.proj(y)
        return x + self.mlp(self.norm2(x))


class TinyViT(nn.Module):
    def __init__(self, image: int = 64, patch: int = 8, dim: int = 16, heads: int = 2,
                 classes: int = 10, interpolate: bool = False):
        super().__init__()
        self.patch = patch
        self.grid = image // patch
        self.interpolate = interpolate
        self.patch_embed = nn.Conv2d(3, dim, patch, stride=patch)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, 1 + self.grid * self.grid, dim))
        self.block = _Block(dim, heads)
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, classes)

    def _pos(self, h: int, w: int):
        if not self.interpolate:
            return self.pos_embed
        cls_pos, grid_pos = self.pos_embed[:, :1], self.pos_embed[:, 1:]
        dim = grid_pos.shape[-1]
        grid_pos = grid_pos.reshape(1, self.grid, self.grid, dim).permute(0, 3, 1, 2)
        grid_pos = F.interpolate(grid_pos, size=(h, w), mode="bicubic", align_corners=False)
        grid_pos = grid_pos.permute(0, 2, 3, 1).reshape(1, h * w, dim)
        return torch.cat([cls_pos, grid_pos], dim=1)

    def forward(self, x):
        x = self.patch_embed(x)  # (B, D, H//p, W//p)
        h, w = x.shape[-2], x.shape[-1]
        x = x.flatten(2).transpose(1, 2)  # (B, h*w, D)
        cls = self.cls_token.expand(x.shape[0], -1, -1)
        x = torch.cat([cls, x], dim=1) + self._pos(h, w)
        x = self.block(x)
        return self.head(self.norm(x)[:, 0])


def vit_fixed(image: int = 64, patch: int = 8) -> nn.Module:
    """Tiny ViT (patch 8, dim 16, 1 block) with a fixed learned position embedding of
    length 1 + (image/patch)**2 (65 for 64x64).

    The Add of the position embedding needs floor(H/8)*floor(W/8) == 64: locked to a
    finite set (H, W in 64..71, plus pairs such as 32..39 x 128..135, 8..15 x 512..519, ...).
    """
    return _init(TinyViT(image, patch, interpolate=False))


def vit_interpolated(image: int = 64, patch: int = 8) -> nn.Module:
    """Same ViT, but the position embedding grid is bicubic-interpolated to
    (floor(H/8), floor(W/8)) at run time: size-invariant for H, W >= 8.
    """
    return _init(TinyViT(image, patch, interpolate=True))


# ----------------------------------------------------------------- ceil_mode pooling


class CeilPoolStack(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(),
            nn.MaxPool2d(3, 2, ceil_mode=True),
            nn.Conv2d(4, 8, 3), nn.ReLU(),
            nn.MaxPool2d(3, 2, ceil_mode=True),
            nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(),
        )
        self.head = nn.Linear(8, 10)

    def forward(self, x):
        x = self.features(x)
        return self.head(x.mean(dim=(2, 3)))


def ceil_pool_stack() -> nn.Module:
    """Conv(3,4,3,p=1) MaxPool(3,2,ceil) Conv(4,8,3) MaxPool(3,2,ceil) Conv(8,8,3,p=1), mean, Linear.

    a = ceil((H-3)/2)+1 (no window is ever dropped: pads are 0), b = a - 2,
    c = ceil((b-3)/2)+1. Every output >= 1 gives a lower bound only:
    size-invariant for H, W >= 8 (a >= 4 -> b >= 2 -> c >= 1; the second pool's
    window may hang over the end of a 2-wide input in ceil mode, torch and ORT agree).
    """
    return _init(CeilPoolStack())


# ----------------------------------------------------------------- Swin-style windows


class WindowModel(nn.Module):
    def __init__(self, window: int = 4, dim: int = 8, patch: int = 4):
        super().__init__()
        self.window = window
        self.patch_embed = nn.Conv2d(3, dim, patch, stride=patch)
        self.norm = nn.LayerNorm(dim)
        self.mix = nn.Linear(window * window, window * window)  # mixes tokens within a window
        self.head = nn.Linear(dim, 10)

    def forward(self, x):
        x = self.patch_embed(x).permute(0, 2, 3, 1)  # (B, h, w, C)
        B, h, w, C = x.shape
        s = self.window
        win = x.view(B, h // s, s, w // s, s, C).permute(0, 1, 3, 5, 2, 4).reshape(-1, C, s * s)
        win = self.mix(win)  # (B*nW, C, s*s)
        x = win.reshape(B, h // s, w // s, C, s, s).permute(0, 1, 4, 2, 5, 3).reshape(B, h, w, C)
        x = self.norm(x)
        return self.head(x.mean(dim=(1, 2)))


def window_partition_model(window: int = 4) -> nn.Module:
    """Swin-style: patch-embed Conv(k=4, s=4) to (B, h, w, C), then
    x.view(B, h//w, w, w//w, w, C) window partition and its reverse.

    The view needs floor(H/4) % window == 0 and floor(W/4) % window == 0: conditional
    (H mod 16 in 0..3 for window 4), H, W >= 16.
    """
    return _init(WindowModel(window))


# ----------------------------------------------------------------- H*W product


class HWProduct(nn.Module):
    def __init__(self, tokens: int = 64, dim: int = 8, patch: int = 4):
        super().__init__()
        self.patch_embed = nn.Conv2d(3, dim, patch, stride=patch)
        self.token_mix = nn.Linear(tokens, 16)  # over the flattened spatial axis
        self.head = nn.Linear(dim * 16, 10)

    def forward(self, x):
        x = self.patch_embed(x).flatten(2)  # (B, C, floor(H/4)*floor(W/4))
        x = self.token_mix(x)  # needs floor(H/4)*floor(W/4) == 64
        return self.head(x.flatten(1))


def hw_product_model() -> nn.Module:
    """Patch-embed Conv(k=4, s=4), flatten spatial, Linear(64, 16) over the tokens.

    The MatMul's K needs floor(H/4)*floor(W/4) == 64: a product constraint where H and W
    interact (locked: 32..35 x 32..35, 16..19 x 64..67, 4..7 x 256..259, 64..67 x 16..19, ...).
    """
    m = _init(HWProduct())
    m.example_input_shape = (1, 3, 32, 32)
    return m


ALL_MODELS = {
    "seed_model": seed_model,
    "seed_model_adaptive": seed_model_adaptive,
    "unet": unet,
    "vit_fixed": vit_fixed,
    "vit_interpolated": vit_interpolated,
    "ceil_pool_stack": ceil_pool_stack,
    "window_partition_model": window_partition_model,
    "hw_product_model": hw_product_model,
}


# ----------------------------------------------------------------- export


class Exported(NamedTuple):
    """What export_onnx produced. `note` starts with the exporter and 'dynamic' or 'static';
    a static fallback says why the dynamic export was refused (first line of the error)."""

    path: Path
    note: str


def _first_line(e: BaseException, limit: int = 300) -> str:
    lines = [ln.strip() for ln in f"{type(e).__name__}: {e}".splitlines() if ln.strip()]
    for i, ln in enumerate(lines):  # torch.onnx's TorchExportError: the cause follows this header
        if ln.startswith("## Exception summary") and i + 1 < len(lines):
            return lines[i + 1][:limit]
    return (lines[0] if lines else type(e).__name__)[:limit]


def export_onnx(
    module: nn.Module,
    path: str | os.PathLike,
    input_shape: tuple[int, ...] | None = None,
    exporter: str = "dynamo",
    dynamic: bool = True,
    opset: int | None = None,
    dynamic_batch: bool = False,
) -> Exported:
    """Export `module` to ONNX at `path` (traced at `input_shape`, default the module's
    `example_input_shape`: (1, 3, 224, 224) for the seed models, else (1, 3, 64, 64)), input named "x", H and W (dims 2, 3) dynamic
    and named "H", "W" (batch "N" with dynamic_batch).

    exporter="torchscript": torch.onnx.export(dynamo=False, dynamic_axes=...).
    exporter="dynamo": torch.onnx.export(dynamo=True, dynamic_shapes=torch.export.Dim...).
    When an exporter refuses the dynamic shapes (torch.export raising a constraint
    violation; the TorchScript exporter's adaptive_avg_pool2d "input size not
    accessible"), the model is exported again with static shapes and the note says so:
    the note starts "<exporter> dynamic" or "<exporter> static". torch.onnx's dynamo path
    never refuses in practice: where torch.export would raise a constraint violation it
    silently specializes H, W to the trace size and writes a static file; that is
    detected (input dims without dim_param) and the note carries torch.export's message
    ("dynamo static (specialized H=64, W=64 silently; torch.export says: ...)").

    Observed with torch 2.13: dynamo exports the seed model (and every model here)
    with dynamic H, W *without* complaint, carrying none of the guards. Both exporters
    trace AdaptiveAvgPool2d((110,110)) at 224 (conv output 110) as a plain AveragePool
    (kernel 1); dynamo traced at other sizes emits Gather/GatherND index tables fixed
    at the trace size; TorchScript refuses it when dynamic (static fallback) and
    refuses it statically unless 110 divides the traced conv output.

    Writes only `path` and, for large dynamo models, external data beside it in the same
    directory. Returns Exported(path, note).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    module = module.eval()
    if input_shape is None:
        input_shape = getattr(module, "example_input_shape", (1, 3, 64, 64))
    x = torch.randn(*input_shape)
    if exporter not in ("torchscript", "dynamo"):
        raise ValueError(f"exporter must be 'torchscript' or 'dynamo', not {exporter!r}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if exporter == "torchscript":
            if dynamic:
                axes = {2: "H", 3: "W"}
                if dynamic_batch:
                    axes[0] = "N"
                try:
                    _torchscript_export(module, x, path, opset, {"x": axes})
                    return Exported(path, "torchscript dynamic")
                except Exception as e:  # e.g. adaptive_avg_pool2d: "input size not accessible"
                    _cleanup(path)
                    _torchscript_export(module, x, path, opset, None)
                    return Exported(path, f"torchscript static (dynamic export refused: {_first_line(e)})")
            _torchscript_export(module, x, path, opset, None)
            return Exported(path, "torchscript static")

        note = "dynamo dynamic"
        if dynamic:
            Dim = torch.export.Dim
            spec = {2: Dim("H"), 3: Dim("W")}
            if dynamic_batch:
                spec[0] = Dim("N")
                if x.shape[0] == 1:  # torch.export specializes a size-1 dim
                    x = torch.randn(2, *x.shape[1:])
            try:
                _dynamo_export(module, x, path, opset, (spec,))
            except Exception as e:  # torch.export raises several types
                note = f"dynamo static (dynamic export refused: {_first_line(e)})"
                _cleanup(path)
            else:
                fixed = _specialized(path, spec)
                if not fixed:
                    return Exported(path, note)
                # torch.onnx does not refuse: it lets torch.export specialize the dims and
                # writes a static file. Say so, with torch.export's own complaint.
                why = _torch_export_complaint(module, x, (spec,))
                return Exported(path, f"dynamo static (specialized {', '.join(fixed)} silently; "
                                      f"torch.export says: {why})")
        else:
            note = "dynamo static"
        _dynamo_export(module, x, path, opset, None)
        return Exported(path, note)


def _specialized(path: Path, spec: dict) -> list[str]:
    """Names of the requested dynamic dims that the exported file fixes to a number."""
    import onnx

    m = onnx.load(str(path), load_external_data=False)
    dims = m.graph.input[0].type.tensor_type.shape.dim
    return [f"{d.__name__}={dims[i].dim_value}" for i, d in spec.items() if not dims[i].dim_param]


def _torch_export_complaint(module, x, dynamic_shapes) -> str:
    """What torch.export.export(strict=False) says about these dynamic shapes, on one line."""
    try:
        torch.export.export(module, (x,), dynamic_shapes=dynamic_shapes, strict=False)
        return "nothing (exports dynamically)"
    except Exception as e:
        lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
        keep = [ln for ln in lines if not ln.startswith(("The error above", "For more information"))]
        return " | ".join(keep[:8])[:600]


def _cleanup(path: Path) -> None:
    for p in (path, path.with_name(path.name + ".data")):
        if p.exists():
            p.unlink()


def _torchscript_export(module, x, path: Path, opset, dynamic_axes) -> None:
    kw = dict(dynamic_axes=dynamic_axes) if dynamic_axes else {}
    with torch.no_grad():
        torch.onnx.export(
            module, (x,), str(path), dynamo=False, input_names=["x"], output_names=["output"],
            opset_version=opset if opset is not None else 17, **kw,
        )


def _dynamo_export(module, x, path: Path, opset, dynamic_shapes) -> None:
    kw = {}
    if opset is not None:
        kw["opset_version"] = opset
    with torch.no_grad():
        prog = torch.onnx.export(
            module, (x,), dynamo=True, dynamic_shapes=dynamic_shapes, report=False, verbose=False,
            verify=False, artifacts_dir=str(path.parent), **kw,
        )
    # One file when it fits comfortably; external data beside it otherwise.
    big = sum(int(t.numel()) * t.element_size() for t in module.state_dict().values()) > 1_500_000_000
    prog.save(str(path), external_data=big)
