"""Rebuild the ONNX files in examples/ from the seed notebook's torch models.

    python examples/build_examples.py            # graphs only (weights in *.onnx.data, git-ignored)

The committed ``*.onnx`` files hold the graph; the weights go to a side ``.onnx.data`` file that is not
committed. ``shapealg analyze`` never reads weights, so the graphs alone are enough to analyse them; run this
script to get the weights back for ``onnxruntime`` runs.
"""
from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import onnx
import torch
from torch import nn

HERE = Path(__file__).resolve().parent


class Model(nn.Module):
    """The notebook's Model (In [24]), without the print in forward."""

    def __init__(self, adaptive: bool = False):
        super().__init__()
        layers = [
            nn.Conv2d(in_channels=3, out_channels=16, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1)),
            nn.ReLU(),
            nn.MaxPool2d(kernel_size=2, stride=None, padding=0, dilation=1, return_indices=False, ceil_mode=False),
            nn.Conv2d(in_channels=16, out_channels=32, kernel_size=(5, 5), stride=(1, 1), padding=(1, 1)),
            nn.ReLU(),
        ]
        if adaptive:  # the notebook's fix
            layers.append(nn.AdaptiveAvgPool2d((110, 110)))
        layers += [nn.Flatten(), nn.Linear(387200, 64), nn.ReLU(), nn.Linear(64, 10)]
        self.net = nn.Sequential(*layers)

    def forward(self, x):
        return self.net(x)


def export(module: nn.Module, name: str, dynamo: bool) -> Path:
    """Export with H and W declared dynamic, weights stored beside the graph. The TorchScript exporter
    cannot export AdaptiveAvgPool2d on dynamic sizes, so the fixed model goes through the dynamo exporter
    (which turns the pool into Gathers whose indices are fixed at the export size)."""
    out = HERE / name
    torch.manual_seed(0)
    x = torch.randn(1, 3, 224, 224)
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp) / name
        if dynamo:
            dyn = {"x": {2: torch.export.Dim("H", min=8, max=4096), 3: torch.export.Dim("W", min=8, max=4096)}}
            torch.onnx.export(module.eval(), (x,), str(tmp_path), dynamo=True, input_names=["x"],
                              output_names=["logits"], dynamic_shapes=dyn, verbose=False)
        else:
            torch.onnx.export(module.eval(), (x,), str(tmp_path), dynamo=False, input_names=["x"],
                              output_names=["logits"], dynamic_axes={"x": {2: "H", 3: "W"}})
        model = onnx.load(str(tmp_path))
    data = HERE / (name + ".data")
    if data.exists():  # onnx appends to an existing data file
        data.unlink()
    onnx.save_model(model, str(out), save_as_external_data=True, all_tensors_to_one_file=True,
                    location=name + ".data", size_threshold=1024)
    return out


def main() -> int:
    for adaptive, name in ((False, "seed_model.onnx"), (True, "seed_model_adaptive.onnx")):
        p = export(Model(adaptive), name, dynamo=adaptive)
        print(f"wrote {p.relative_to(Path.cwd()) if p.is_relative_to(Path.cwd()) else p}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
