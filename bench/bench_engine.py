"""Engine speed, side by side with the incumbents on the same files in the same run.

    python bench/bench_engine.py [--nodes 500] [--repeat 5]

Builds a ~500-node CNN (ResNet-style blocks: Conv, BatchNorm folded by the exporter, Relu, Add, stride-2
stages, a global pool and a Linear head) with H and W dynamic, exports it with the TorchScript exporter into a
temporary folder, and times on that file:
  - shapealg.infer (shapes, params, MACs, constraints) and shapealg.analyze (plus the valid set and verdict),
  - onnxruntime's symbolic_shape_infer (auto_merge=True),
  - onnx.shape_inference.infer_shapes.
Prints a table with the best-of-N time of each tool and the ratio shapealg / symbolic_shape_infer, and the
fraction of value dims each tool leaves with a known formula.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import onnx
import torch
from torch import nn


class Block(nn.Module):
    def __init__(self, c_in, c_out, stride):
        super().__init__()
        self.c1 = nn.Conv2d(c_in, c_out, 3, stride, 1)
        self.c2 = nn.Conv2d(c_out, c_out, 3, 1, 1)
        self.skip = nn.Conv2d(c_in, c_out, 1, stride) if (stride != 1 or c_in != c_out) else nn.Identity()

    def forward(self, x):
        return torch.relu(self.c2(torch.relu(self.c1(x))) + self.skip(x))


def deep_cnn(n_nodes: int) -> nn.Module:
    blocks, c, nodes = [], 8, 0
    stage = 0
    while nodes < n_nodes - 6:
        stride = 2 if (len(blocks) % 12 == 0 and stage < 5) else 1
        if stride == 2:
            stage += 1
        blocks.append(Block(c, c if stride == 1 else c + 4, stride))
        nodes += 5 + (1 if stride == 2 else 0)
        c = c if stride == 1 else c + 4
    return nn.Sequential(nn.Conv2d(3, 8, 3, 1, 1), *blocks, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, 10)).eval()


def best_of(fn, repeat):
    best = float("inf")
    out = None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def known_fraction_onnx(model: onnx.ModelProto) -> float:
    """Fraction of node-output dims that carry a value or a formula (not unk__N / missing)."""
    known = total = 0
    vis = {vi.name: vi for vi in list(model.graph.value_info) + list(model.graph.output)}
    for n in model.graph.node:
        for o in n.output:
            vi = vis.get(o)
            if vi is None or not vi.type.tensor_type.HasField("shape"):
                total += 1
                continue
            for d in vi.type.tensor_type.shape.dim:
                total += 1
                if d.HasField("dim_value") or (d.dim_param and not d.dim_param.startswith("unk__")):
                    known += 1
    return known / max(total, 1)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--nodes", type=int, default=500)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args(argv)
    from onnxruntime.tools.symbolic_shape_infer import SymbolicShapeInference

    import shapealg
    from shapealg import analyze

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "deep_cnn.onnx"
        torch.onnx.export(deep_cnn(args.nodes), (torch.randn(1, 3, 224, 224),), str(path), dynamo=False,
                          input_names=["x"], dynamic_axes={"x": {2: "H", 3: "W"}})
        model = onnx.load(str(path))
        n_nodes = len(model.graph.node)
        t_parse, _ = best_of(lambda: onnx.load(str(path)), args.repeat)
        t_infer, res = best_of(lambda: shapealg.infer(str(path)), args.repeat)
        t_an, an = best_of(lambda: analyze(str(path)), args.repeat)
        t_dom = t_an - t_infer
        t_ssi, ssi = best_of(lambda: SymbolicShapeInference.infer_shapes(onnx.load(str(path)), auto_merge=True),
                             args.repeat)
        t_onnx, oi = best_of(lambda: onnx.shape_inference.infer_shapes(onnx.load(str(path))), args.repeat)
    dims = [d for n in res.nodes for o in n.outputs for d in (res.values[o].shape or (None,))]
    ours = sum(d is not None for d in dims) / max(len(dims), 1)
    rows = [
        ("shapealg.infer (shapes, params, MACs, constraints)", t_infer, ours),
        ("shapealg.analyze (+ valid set, verdict)", t_an, ours),
        ("  of which domain analysis", t_dom, None),
        ("onnxruntime symbolic_shape_infer (auto_merge)", t_ssi, known_fraction_onnx(ssi)),
        ("onnx.shape_inference.infer_shapes", t_onnx, known_fraction_onnx(oi)),
        ("(onnx.load of the file, included in each)", t_parse, None),
    ]
    print(f"model: {n_nodes}-node CNN, input x[1, 3, H, W]; best of {args.repeat}")
    print(f"{'tool':52s} {'seconds':>9s} {'dims known':>11s}")
    for name, t, frac in rows:
        print(f"{name:52s} {t:9.4f} {'' if frac is None else f'{frac:10.1%}':>11s}")
    print(f"ratio shapealg.infer / symbolic_shape_infer: {t_infer / t_ssi:.2f}")
    print(f"ratio shapealg.analyze / symbolic_shape_infer: {t_an / t_ssi:.2f}")
    print(f"verdict: {an.domain.verdict} - {an.domain.summary}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
