"""Cost formulas on real architectures: agreement with fvcore / torchinfo / onnx-tool at several sizes, and speed.

    python bench/bench_cost.py [--names resnet,vit_interp,...] [--range 64:1024] [--tools fvcore,torchinfo,onnx-tool]

For each model (bench/corpus.py: transformers models with small configs and random weights, plus the test
models; TorchScript export with H, W dynamic, into a temporary folder):
  - times shapealg.analyze, shapealg.cost.cost under each convention, and the exact evaluation of the totals
    (MACs, FLOPs, activation bytes, exact peak live bytes, validity) at every size of --range (H = W = s);
  - at up to three valid sizes (odd / non-square / large), evaluates the formulas under the fvcore, torchinfo
    and onnx-tool conventions and runs those tools on the same module / file at that size;
  - prints one agreement row per (model, size, tool): the tool's number, shapealg's, and the relative
    difference; for onnx-tool, the op types of the nodes that differ.
Also prints each model's MACs growth order, the node dominating at large sizes and the not-modelled nodes.
Writes nothing outside a temporary folder.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import logging
import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

DEFAULT = "resnet,mobilenet_v2,convnext,efficientnet,vit_interp,swin,segformer,unet,tiny_vit_interp"
CANDIDATE_SIZES = [(97, 131), (64, 64), (160, 224), (96, 128), (224, 224), (256, 320), (128, 128)]


def _quiet():
    warnings.simplefilter("ignore")
    logging.disable(logging.WARNING)
    return contextlib.redirect_stderr(io.StringIO())


def tool_numbers(module, path, input_name, h, w, tools):
    import numpy as np
    import torch
    out = {}
    x = torch.randn(1, 3, h, w)
    if "fvcore" in tools:
        try:
            from fvcore.nn import FlopCountAnalysis
            with _quiet():
                f = FlopCountAnalysis(module, x)
                f.unsupported_ops_warnings(False)
                f.uncalled_modules_warnings(False)
                out["fvcore"] = (int(f.total()), None)
                # fvcore's own advice for inference: ignore BatchNorm, which exporters fold into the conv
                # (set_op_handle(name, None) does not remove a default handle in fvcore 0.1.5: a zero handle does)
                f = FlopCountAnalysis(module, x).set_op_handle("aten::batch_norm", lambda inputs, outputs: 0)
                f.unsupported_ops_warnings(False)
                f.uncalled_modules_warnings(False)
                out["fvcore (BN off)"] = (int(f.total()), None)
        except Exception as e:  # noqa: BLE001 - a tool's failure is a row, not a crash
            out["fvcore"] = (None, f"{type(e).__name__}: {str(e)[:80]}")
    if "torchinfo" in tools:
        try:
            from torchinfo import summary
            with _quiet():
                out["torchinfo"] = (int(summary(module, input_size=(1, 3, h, w), verbose=0).total_mult_adds), None)
        except Exception as e:  # noqa: BLE001
            out["torchinfo"] = (None, f"{type(e).__name__}: {str(e)[:80]}")
    if "onnx-tool" in tools:
        try:
            import onnx_tool
            with _quiet():
                g = onnx_tool.Model(str(path), {"verbose": False}).graph
                g.shape_infer({input_name: np.zeros((1, 3, h, w), np.float32)})
                g.profile()
            out["onnx-tool"] = (int(round(g.macs[0])), {k: int(v.macs[0]) for k, v in g.nodemap.items()})
        except Exception as e:  # noqa: BLE001
            out["onnx-tool"] = (None, f"{type(e).__name__}: {str(e)[:80]}")
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--names", default=DEFAULT)
    ap.add_argument("--range", default="64:1024")
    ap.add_argument("--tools", default="fvcore,torchinfo,onnx-tool")
    ap.add_argument("--sizes", type=int, default=3, help="valid sizes per model compared with the tools")
    args = ap.parse_args(argv)
    import corpus
    from shapealg import analyze
    from shapealg.cost import cost
    from shapealg.cost.plot import parse_range, square_envs
    import torch
    tools = [t for t in args.tools.split(",") if t]
    sides = parse_range(args.range)
    rows, speed, summary = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        for name in [n for n in args.names.split(",") if n]:
            with _quiet(), contextlib.redirect_stdout(io.StringIO()):
                entry = corpus.export_one(name, "torchscript", tmp, check=False)
            if not entry.get("ok"):
                print(f"{name}: export failed: {entry.get('error')}", file=sys.stderr)
                continue
            path = Path(tmp) / entry["path"]
            with _quiet():
                module = corpus.build_model(name)
            t = time.perf_counter()
            a = analyze(str(path))
            t_an = time.perf_counter() - t
            t = time.perf_counter()
            reps = {c: cost(a, c) for c in ("shapealg", "fvcore", "torchinfo", "onnx-tool")}
            t_cost = (time.perf_counter() - t) / len(reps)
            t = time.perf_counter()
            reps["shapealg"].series(square_envs(reps["shapealg"], sides))
            t_series = time.perf_counter() - t
            speed.append((name, len(a.result.nodes), t_an, t_cost, len(sides), t_series))
            base = reps["shapealg"]
            dom = base.dominant["macs"][0] if base.dominant["macs"] else None
            summary.append((name, base.growth["macs"].order, base.growth["peak_bytes"].order,
                            f"{dom.op_type} {dom.node} {100 * dom.share:.0f}%" if dom else "-",
                            len(base.not_modelled)))
            inp = a.result.graph.inputs[0].name
            sizes = [s for s in CANDIDATE_SIZES if a.domain.contains({"H": s[0], "W": s[1]})][:args.sizes]
            for h, w in sizes:
                ref = tool_numbers(module, path, inp, h, w, tools)
                n_bn = sum(1 for mod in module.modules() if isinstance(mod, torch.nn.modules.batchnorm._BatchNorm))
                n_bn_onnx = sum(1 for nr in a.result.nodes if nr.op_type == "BatchNormalization")
                folded = n_bn - n_bn_onnx
                for tool, (val, extra) in ref.items():
                    ours = reps[tool.split(" ")[0]].evaluate(H=h, W=w)["macs"]
                    if val is None:
                        rows.append((name, f"{h}x{w}", tool, "fails", f"{ours:,}", "-", extra))
                        print("  ", *rows[-1], file=sys.stderr, flush=True)
                        continue
                    diff = 0.0 if val == ours else (ours - val) / max(val, 1)
                    note = ""
                    if val != ours and folded > 0 and tool in ("fvcore", "torchinfo"):
                        note = f"the exporter folded {folded} BatchNorm(s) into convs (torch counts them)"
                    if tool == "onnx-tool" and val != ours and isinstance(extra, dict):
                        mine = reps[tool].node_macs_at(H=h, W=w)
                        ops = sorted({a.result.node(k).op_type for k, v in extra.items()
                                      if k in mine and (mine[k] or 0) != v})
                        note = "nodes differ: " + ",".join(ops)
                    rows.append((name, f"{h}x{w}", tool, f"{val:,}", f"{ours:,}",
                                 "equal" if val == ours else f"{100 * diff:+.3f}%", note))
                    print("  ", *rows[-1], file=sys.stderr, flush=True)  # progress
    w = [16, 9, 16, 16, 16, 9]
    print(f"{'model':<{w[0]}} {'size':<{w[1]}} {'tool':<{w[2]}} {'tool MACs':>{w[3]}} {'shapealg':>{w[4]}} "
          f"{'agree':>{w[5]}}  note")
    for r in rows:
        print(f"{r[0]:<{w[0]}} {r[1]:<{w[1]}} {r[2]:<{w[2]}} {r[3]:>{w[3]}} {r[4]:>{w[4]}} {r[5]:>{w[5]}}  {r[6]}")
    n_eq = sum(1 for r in rows if r[5] == "equal")
    print(f"\n{n_eq} of {len(rows)} (model, size, tool) figures equal exactly\n")
    print(f"{'model':<16} {'MACs grow as':<14} {'peak grows as':<14} {'not modelled':>12}  dominant at large sizes")
    for s in summary:
        print(f"{s[0]:<16} {s[1]:<14} {s[2]:<14} {s[4]:>12}  {s[3]}")
    print(f"\n{'model':<16} {'nodes':>6} {'analyze s':>10} {'cost s':>8} {'sizes':>6} {'series s':>9}")
    for s in speed:
        print(f"{s[0]:<16} {s[1]:>6} {s[2]:>10.2f} {s[3]:>8.2f} {s[4]:>6} {s[5]:>9.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
