"""Build a corpus of real vision architectures (transformers, small configs, random
weights, no downloads; plus the plain torch models of tests/models.py) exported to ONNX
with dynamic H and W (and N for the *_batch models, resnet, vit_interp, tiny_vit_interp).
Score it against onnxruntime with bench/score.py.

    python bench/corpus.py OUTDIR [--names resnet,vit] [--exporters torchscript,dynamo] [--no-check]

Writes OUTDIR/<name>.<exporter>.onnx and OUTDIR/manifest.json:
    {"torch": ..., "transformers": ..., "models": [
        {"name", "exporter", "ok", "path", "note", "input", "input_shape" (traced shape),
         "dims" (input dims as in the file), "dynamic_in_file" (H and W are dim_params),
         "torch_export_says" (when dynamo silently made H, W static), "nodes", "ops" ({op_type: count}),
         "seconds", "error", "ort" ({"HxW": true | "failing node: message"})}, ...]}
A failed export is kept in the manifest with ok=false and the first line of the error. An existing
manifest.json in OUTDIR is merged: entries of models not rebuilt this time are kept.

Importable: `MODELS`, `build_model(name)`, `export_one(name, exporter, outdir)`,
`build_corpus(outdir, exporters=("torchscript", "dynamo"), names=None, check=True)`.
Progress goes to stderr; nothing is written outside OUTDIR.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import sys
import time
import traceback
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["MODELS", "Spec", "build_model", "export_one", "build_corpus", "main"]

# Sizes at which the exported file is run in onnxruntime after export (check=True).
CHECK_SIZES = [(64, 64), (96, 64), (65, 67), (128, 128), (224, 224), (33, 40)]


@dataclass(frozen=True)
class Spec:
    """How to build one corpus model: the transformers model class name, its config class
    name with keyword overrides, which output to return, extra forward kwargs."""

    model: str
    config: str
    kwargs: dict[str, Any]
    output: str = "logits"
    forward_kwargs: dict[str, Any] = field(default_factory=dict)
    input_shape: tuple[int, ...] = (1, 3, 64, 64)
    dynamic_batch: bool = False
    note: str = ""
    # ("ResNetConfig", {...}): passed to the config as backbone_config=ResNetConfig(**{...})
    backbone: tuple[str, dict[str, Any]] | None = None
    # "module:function" building a plain nn.Module (e.g. "tests.models:unet"); model/config unused then
    builder: str | None = None


_VIT = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64, image_size=64, patch_size=8)
_STAGES = dict(hidden_sizes=[8, 16, 24, 32], depths=[1, 1, 1, 1])

MODELS: dict[str, Spec] = {
    "resnet": Spec("ResNetForImageClassification", "ResNetConfig",
                   dict(embedding_size=8, layer_type="basic", num_labels=10, **_STAGES), dynamic_batch=True,
                   note="stride 32, AdaptiveAvgPool(1,1): size-invariant"),
    "resnet_bottleneck": Spec("ResNetModel", "ResNetConfig",
                              dict(embedding_size=8, layer_type="bottleneck", hidden_sizes=[16, 16, 32, 32],
                                   depths=[1, 1, 1, 1], downsample_in_first_stage=True),
                              output="last_hidden_state"),
    "convnext": Spec("ConvNextForImageClassification", "ConvNextConfig", dict(num_labels=10, **_STAGES)),
    "convnextv2": Spec("ConvNextV2Model", "ConvNextV2Config", dict(**_STAGES), output="last_hidden_state"),
    "mobilenet_v2": Spec("MobileNetV2ForImageClassification", "MobileNetV2Config",
                         dict(depth_multiplier=0.25, image_size=64, num_labels=10)),
    "mobilenet_v1": Spec("MobileNetV1ForImageClassification", "MobileNetV1Config",
                         dict(depth_multiplier=0.25, image_size=64, num_labels=10),
                         note="tf_padding=True: dynamic 'SAME' padding computed from the input size"),
    "regnet": Spec("RegNetForImageClassification", "RegNetConfig",
                   dict(embedding_size=8, hidden_sizes=[8, 16, 16, 32], depths=[1, 1, 1, 1], groups_width=8,
                        num_labels=10)),
    "efficientnet": Spec("EfficientNetModel", "EfficientNetConfig",
                         dict(image_size=64, width_coefficient=0.25, depth_coefficient=0.25, hidden_dim=320),
                         output="last_hidden_state"),
    "poolformer": Spec("PoolFormerModel", "PoolFormerConfig",
                       dict(hidden_sizes=[8, 16, 24, 32], depths=[1, 1, 1, 1]), output="last_hidden_state"),
    "vit": Spec("ViTModel", "ViTConfig", dict(**_VIT), output="last_hidden_state",
                note="fixed position embedding: locked to floor(H/8)*floor(W/8) == 64"),
    "vit_interp": Spec("ViTModel", "ViTConfig", dict(**_VIT), output="last_hidden_state",
                       forward_kwargs=dict(interpolate_pos_encoding=True), dynamic_batch=True,
                       note="interpolate_pos_encoding=True: position embedding resized at run time"),
    "deit": Spec("DeiTModel", "DeiTConfig", dict(**_VIT), output="last_hidden_state"),
    "beit": Spec("BeitModel", "BeitConfig", dict(**_VIT), output="last_hidden_state"),
    "dinov2": Spec("Dinov2Model", "Dinov2Config",
                   dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, mlp_ratio=2, image_size=64,
                        patch_size=8), output="last_hidden_state",
                   note="always interpolates the position embedding"),
    "swin": Spec("SwinModel", "SwinConfig",
                 dict(image_size=64, patch_size=4, embed_dim=16, depths=[1, 1], num_heads=[1, 2], window_size=4),
                 output="last_hidden_state", note="pads to window multiples at run time"),
    "segformer": Spec("SegformerForSemanticSegmentation", "SegformerConfig",
                      dict(hidden_sizes=[8, 16, 24, 32], depths=[1, 1, 1, 1], num_attention_heads=[1, 1, 1, 1],
                           decoder_hidden_size=16, num_labels=4)),
    "mobilevit": Spec("MobileViTModel", "MobileViTConfig",
                      dict(image_size=64, hidden_sizes=[16, 16, 16], neck_hidden_sizes=[8, 8, 16, 16, 16, 16, 32],
                           num_attention_heads=1, patch_size=2), output="last_hidden_state",
                      note="unfold into 2x2 patches, interpolating when not divisible"),
    "pvt_v2": Spec("PvtV2Model", "PvtV2Config",
                   dict(hidden_sizes=[8, 16, 24, 32], depths=[1, 1, 1, 1], num_attention_heads=[1, 1, 1, 1]),
                   output="last_hidden_state"),
    "dpt": Spec("DPTForDepthEstimation", "DPTConfig",
                dict(hidden_size=32, num_hidden_layers=4, num_attention_heads=2, intermediate_size=64, image_size=64,
                     patch_size=8, backbone_out_indices=[0, 1, 2, 3], neck_hidden_sizes=[8, 16, 16, 32],
                     fusion_hidden_size=16, head_in_index=-1),
                output="predicted_depth"),
    # ---- added for issue 4 (scoring against onnxruntime) ----
    "swinv2": Spec("Swinv2Model", "Swinv2Config",
                   dict(image_size=64, patch_size=4, embed_dim=16, depths=[1, 1], num_heads=[1, 2], window_size=4),
                   output="last_hidden_state", note="log-spaced continuous position bias; pads to windows"),
    "levit": Spec("LevitModel", "LevitConfig",
                  dict(image_size=64, patch_size=16, hidden_sizes=[16, 24, 32], num_attention_heads=[1, 1, 1],
                       depths=[1, 1, 1], key_dim=[8, 8, 8]), output="last_hidden_state",
                  note="attention biases indexed for the training resolution"),
    "cvt": Spec("CvtModel", "CvtConfig",
                dict(embed_dim=[8, 16, 24], num_heads=[1, 1, 1], depth=[1, 2, 3], drop_path_rate=[0.0, 0.0, 0.0]),
                output="last_hidden_state", note="CvT: conv token embedding, cls token in the last stage"),
    "focalnet": Spec("FocalNetModel", "FocalNetConfig",
                     dict(image_size=64, embed_dim=8, hidden_sizes=[16, 32], depths=[1, 1], focal_levels=[2, 2],
                          focal_windows=[3, 3]), output="last_hidden_state"),
    "bit": Spec("BitModel", "BitConfig",
                dict(embedding_size=8, hidden_sizes=[16, 16, 32, 32], depths=[1, 1, 1, 1], num_groups=4,
                     global_padding="SAME", embedding_dynamic_padding=True, layer_type="bottleneck"),
                output="last_hidden_state", note="dynamic 'SAME' padding"),
    "swiftformer": Spec("SwiftFormerModel", "SwiftFormerConfig",
                        dict(depths=[1, 1, 1, 1], embed_dims=[8, 16, 24, 32]), output="last_hidden_state"),
    "glpn": Spec("GLPNForDepthEstimation", "GLPNConfig",
                 dict(hidden_sizes=[8, 16, 24, 32], depths=[1, 1, 1, 1], num_attention_heads=[1, 1, 1, 1],
                      decoder_hidden_size=16), output="predicted_depth"),
    "yolos": Spec("YolosModel", "YolosConfig",
                  dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                       image_size=[64, 64], patch_size=8, num_detection_tokens=5),
                  output="last_hidden_state", note="DETR-style ViT detector; interpolates position embeddings"),
    "vitdet": Spec("VitDetModel", "VitDetConfig",
                   dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, mlp_ratio=2, image_size=64,
                        pretrain_image_size=64, patch_size=8, window_block_indices=[0], window_size=4,
                        use_relative_position_embeddings=True), output="feature_maps_or_last",
                   note="windowed + global attention, relative position embeddings"),
    "detr": Spec("DetrModel", "DetrConfig",
                 dict(d_model=16, encoder_layers=1, decoder_layers=1, encoder_ffn_dim=32, decoder_ffn_dim=32,
                      encoder_attention_heads=2, decoder_attention_heads=2, num_queries=10),
                 output="encoder_last_hidden_state",
                 backbone=("ResNetConfig", dict(embedding_size=8, hidden_sizes=[8, 16, 24, 32], depths=[1, 1, 1, 1],
                                                layer_type="basic", out_features=["stage4"])),
                 note="DETR: ResNet backbone + sine position embedding from the pixel mask"),
    "upernet": Spec("UperNetForSemanticSegmentation", "UperNetConfig",
                    dict(hidden_size=16, use_auxiliary_head=False, pool_scales=[1, 2, 3, 6]),
                    backbone=("ConvNextConfig", dict(hidden_sizes=[8, 16, 24, 32], depths=[1, 1, 1, 1],
                                                     out_features=["stage1", "stage2", "stage3", "stage4"])),
                    note="pyramid pooling: AdaptiveAvgPool to 1, 2, 3, 6"),
    "mobilevitv2": Spec("MobileViTV2Model", "MobileViTV2Config",
                        dict(image_size=64, width_multiplier=0.25, n_attn_blocks=[1, 1, 1]),
                        output="last_hidden_state"),
    "data2vec_vision": Spec("Data2VecVisionModel", "Data2VecVisionConfig",
                            dict(**_VIT, use_relative_position_bias=True), output="last_hidden_state",
                            forward_kwargs=dict(interpolate_pos_encoding=True),
                            note="relative position bias interpolated to the grid"),
    "dinov2_registers": Spec("Dinov2WithRegistersModel", "Dinov2WithRegistersConfig",
                             dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, mlp_ratio=2,
                                  image_size=64, patch_size=8, num_register_tokens=2),
                             output="last_hidden_state"),
    "deeplabv3_mobilenet": Spec("MobileNetV2ForSemanticSegmentation", "MobileNetV2Config",
                                dict(depth_multiplier=0.25, image_size=64, num_labels=4), dynamic_batch=True),
    "convnext_batch": Spec("ConvNextModel", "ConvNextConfig", dict(**_STAGES), output="pooler_output",
                           dynamic_batch=True),
    "segformer_batch": Spec("SegformerModel", "SegformerConfig",
                            dict(hidden_sizes=[8, 16, 24, 32], depths=[1, 1, 1, 1],
                                 num_attention_heads=[1, 1, 1, 1]), output="last_hidden_state",
                            dynamic_batch=True),
    # plain torch models of tests/models.py (issue-3 models)
    "unet": Spec("", "", {}, builder="tests.models:unet", output="", note="concat skips: H, W % 8 == 0"),
    "ceil_pool_stack": Spec("", "", {}, builder="tests.models:ceil_pool_stack", output=""),
    "window_partition": Spec("", "", {}, builder="tests.models:window_partition_model", output=""),
    "hw_product": Spec("", "", {}, builder="tests.models:hw_product_model", output="",
                       input_shape=(1, 3, 32, 32), note="locked: floor(H/4)*floor(W/4) == 64"),
    "tiny_vit_interp": Spec("", "", {}, builder="tests.models:vit_interpolated", output="", dynamic_batch=True),
}


def build_model(name: str):
    """The wrapped nn.Module for corpus entry `name`: forward(pixel_values) -> one tensor.
    Random (seeded) weights, eval mode, eager attention."""
    import torch
    import transformers
    from torch import nn

    spec = MODELS[name]
    if spec.builder:
        import importlib
        mod, fn = spec.builder.split(":")
        root = str(Path(__file__).resolve().parents[1])
        if root not in sys.path:
            sys.path.insert(0, root)
        return getattr(importlib.import_module(mod), fn)().eval()
    kwargs = dict(spec.kwargs)
    if spec.backbone is not None:
        kwargs["backbone_config"] = getattr(transformers, spec.backbone[0])(**spec.backbone[1])
    cfg = getattr(transformers, spec.config)(**kwargs)
    with contextlib.suppress(Exception):
        cfg._attn_implementation = "eager"
    torch.manual_seed(0)
    model = getattr(transformers, spec.model)(cfg).eval()

    class Wrapped(nn.Module):
        def __init__(self):
            super().__init__()
            self.model = model

        def forward(self, pixel_values):
            out = self.model(pixel_values=pixel_values, **spec.forward_kwargs)
            if spec.output == "feature_maps_or_last":
                return out.last_hidden_state if hasattr(out, "last_hidden_state") else out.feature_maps[-1]
            return getattr(out, spec.output)

    return Wrapped().eval()


def _first_line(e: BaseException, limit: int = 400) -> str:
    lines = [ln.strip() for ln in f"{type(e).__name__}: {e}".splitlines() if ln.strip()]
    # torch.onnx's TorchExportError puts the useful part under "## Exception summary"
    for i, ln in enumerate(lines):
        if ln.startswith("## Exception summary") and i + 1 < len(lines):
            return lines[i + 1][:limit]
    return (lines[0] if lines else type(e).__name__)[:limit]


def _export(module, x, path: Path, exporter: str, dynamic_batch: bool) -> None:
    import torch

    if exporter == "torchscript":
        axes = {2: "H", 3: "W"}
        if dynamic_batch:
            axes[0] = "N"
        torch.onnx.export(module, (x,), str(path), dynamo=False, input_names=["pixel_values"],
                          output_names=["output"], opset_version=17, dynamic_axes={"pixel_values": axes})
    elif exporter == "dynamo":
        Dim = torch.export.Dim
        spec = {2: Dim("H"), 3: Dim("W")}
        if dynamic_batch:
            spec[0] = Dim("N")
        prog = torch.onnx.export(module, (x,), dynamo=True, dynamic_shapes=(spec,),
                                 report=False, verbose=False, artifacts_dir=str(path.parent))
        prog.save(str(path))
    else:
        raise ValueError(f"unknown exporter {exporter!r}")


def _torch_export_complaint(module, x, dynamic_batch: bool) -> str:
    import torch

    Dim = torch.export.Dim
    spec = {2: Dim("H"), 3: Dim("W")}
    if dynamic_batch:
        spec[0] = Dim("N")
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            torch.export.export(module, (x,), dynamic_shapes=(spec,), strict=False)
        return "nothing (torch.export keeps H, W dynamic)"
    except Exception as e:
        lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
        keep = [ln for ln in lines if not ln.startswith(("The error above", "For more information", "If you"))]
        return " | ".join(keep[:8])[:800]


def _check(path: Path, input_shape: tuple[int, ...]) -> dict[str, Any]:
    """Run the file in onnxruntime at CHECK_SIZES; {"HxW": True | "node: message"}."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from shapealg.validate.session import make_session, run_onnxruntime

    sess = make_session(path, expose=False)
    res: dict[str, Any] = {}
    n = input_shape[0]
    for hgt, wid in [tuple(input_shape[2:])] + CHECK_SIZES:
        r = run_onnxruntime(None, {"pixel_values": (n, 3, hgt, wid)}, session=sess)
        res[f"{hgt}x{wid}"] = True if r.ok else f"{r.failing_node}: {(r.error or '')[:160]}"
    return res


def export_one(name: str, exporter: str, outdir: str | os.PathLike, check: bool = True) -> dict[str, Any]:
    """Export corpus model `name` with `exporter` into outdir; return its manifest entry."""
    import onnx
    import torch

    outdir = Path(outdir)
    spec = MODELS[name]
    path = outdir / f"{name}.{exporter}.onnx"
    entry: dict[str, Any] = {"name": name, "exporter": exporter, "ok": False, "path": path.name,
                             "input": "pixel_values", "input_shape": list(spec.input_shape),
                             "dynamic_batch": spec.dynamic_batch, "note": spec.note}
    t0 = time.perf_counter()
    shape = spec.input_shape
    if spec.dynamic_batch and exporter == "dynamo" and shape[0] == 1:
        shape = (2,) + tuple(shape[1:])  # torch.export specializes size-1 dims
        entry["input_shape"] = list(shape)
    try:
        module = build_model(name)
        x = torch.randn(*shape)
        # the exporters are loud (warnings, progress, IR dumps on failure): keep stdout clean
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), torch.no_grad():
            warnings.simplefilter("ignore")
            _export(module, x, path, exporter, spec.dynamic_batch)
        m = onnx.load(str(path), load_external_data=False)
        entry.update(
            ok=True,
            dims=[d.dim_param or d.dim_value for d in m.graph.input[0].type.tensor_type.shape.dim],
            nodes=len(m.graph.node),
            ops=dict(Counter(n.op_type for n in m.graph.node).most_common()),
            opset=max((o.version for o in m.opset_import if o.domain in ("", "ai.onnx")), default=None),
        )
        dims = m.graph.input[0].type.tensor_type.shape.dim
        entry["dynamic_in_file"] = bool(dims[2].dim_param and dims[3].dim_param)
        if not entry["dynamic_in_file"] and exporter == "dynamo":
            # torch.onnx let torch.export specialize H, W silently: record torch.export's complaint
            entry["torch_export_says"] = _torch_export_complaint(module, x, spec.dynamic_batch)
    except Exception as e:
        entry["error"] = _first_line(e)
        entry["traceback_tail"] = traceback.format_exc().strip().splitlines()[-3:]
        for p in (path, path.with_name(path.name + ".data")):
            with contextlib.suppress(OSError):
                p.unlink()
    entry["seconds"] = round(time.perf_counter() - t0, 2)
    if entry["ok"] and check:
        try:
            entry["ort"] = _check(path, tuple(shape))
        except Exception as e:  # never let a checker problem lose the export
            entry["ort"] = {"error": _first_line(e)}
    return entry


def build_corpus(outdir: str | os.PathLike, exporters=("torchscript", "dynamo"), names=None,
                 check: bool = True) -> list[dict[str, Any]]:
    """Export every (or the named) corpus model with each exporter into outdir; write and
    return the manifest entries. Failures are recorded, never raised."""
    import torch
    import transformers

    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    names = list(MODELS) if names is None else list(names)
    unknown = [n for n in names if n not in MODELS]
    if unknown:
        raise ValueError(f"unknown corpus model(s) {unknown}; known: {sorted(MODELS)}")
    entries = []
    cwd = os.getcwd()
    try:
        os.chdir(outdir)  # anything an exporter drops in the working directory lands in outdir
        for name in names:
            for exporter in exporters:
                print(f"[corpus] {name} / {exporter} ...", file=sys.stderr, flush=True)
                e = export_one(name, exporter, outdir.resolve(), check=check)
                status = f"ok, {e['nodes']} nodes" if e["ok"] else f"FAILED: {e['error']}"
                if e["ok"] and not e["dynamic_in_file"]:
                    status += f", but H, W are STATIC in the file {e['dims']}"
                print(f"[corpus] {name} / {exporter}: {status} ({e['seconds']}s)", file=sys.stderr, flush=True)
                entries.append(e)
    finally:
        os.chdir(cwd)
    # merge with an existing manifest: entries for other (name, exporter) pairs are kept
    old = []
    with contextlib.suppress(OSError, ValueError, KeyError):
        old = json.loads((outdir / "manifest.json").read_text())["models"]
    built = {(e["name"], e["exporter"]) for e in entries}
    order = list(MODELS)
    merged = [e for e in old if (e["name"], e["exporter"]) not in built] + entries
    merged.sort(key=lambda e: (order.index(e["name"]) if e["name"] in order else len(order), e["exporter"] != "torchscript"))
    manifest = {"torch": torch.__version__, "transformers": transformers.__version__, "models": merged}
    (outdir / "manifest.json").write_text(json.dumps(manifest, indent=1))
    return entries


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("outdir")
    ap.add_argument("--names", default=None, help=f"comma-separated subset of: {','.join(MODELS)}")
    ap.add_argument("--exporters", default="torchscript,dynamo")
    ap.add_argument("--no-check", action="store_true", help="skip the onnxruntime runs after export")
    a = ap.parse_args(argv)
    names = a.names.split(",") if a.names else None
    entries = build_corpus(a.outdir, exporters=tuple(a.exporters.split(",")), names=names, check=not a.no_check)
    ok = sum(e["ok"] for e in entries)
    print(f"[corpus] {ok}/{len(entries)} exported; manifest: {Path(a.outdir) / 'manifest.json'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
