"""Analyse a model whose weights are several GB: time and peak memory stay far below the weights' size.

    python bench/bench_huge.py [--gb 3.5] [--dir /tmp] [--sparse] [--inline-gb 0] [--keep]

Generates (with onnx.helper, no torch) a ViT-like graph: a 16x16 patch Conv on a (1, 3, H, W) input, then
``--blocks`` transformer MLP blocks (MatMul d -> 4d -> d with LayerNorm and residual Add) whose weights add
up to ``--gb`` GB, stored as ONNX external data in one ``weights.bin`` beside the model, under a fresh
folder in ``--dir`` (never in the repository). The weights file is written for real (zeros) unless
``--sparse``. Every run is in a fresh subprocess that reports its own wall time and peak RSS
(``VmHWM``, else ``ru_maxrss``) and, through an audit hook, whether it opened the weights file:

  - baseline: import shapealg and analyse a 1-node model (the interpreter + sympy + onnx floor),
  - library:  ``analyze(path)`` + JSON + table,
  - cli:      ``shapealg analyze MODEL --format json``.

``--inline-gb N`` (N < 2) also builds a model with N GB of weights inside the protobuf itself (no external
data) and measures it the same way: the reader maps the file and leaves the large tensors' bytes out before
parsing (onnx_file.load_model(weights=False)), so the peak stays near the graph's size there too.
Everything generated is deleted at the end unless ``--keep``.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CHILD = r"""
import json, os, resource, sys, time
sys.path.insert(0, sys.argv[1])
mode, path, weights = sys.argv[2], sys.argv[3], sys.argv[4]
opened = []
def hook(name, args):
    if weights and name == "open" and args and isinstance(args[0], (str, bytes)) and os.fsdecode(args[0]).endswith(weights):
        opened.append(os.fsdecode(args[0]))
t0 = time.perf_counter()
if mode == "cli":
    sys.argv = ["shapealg", "analyze", path, "--format", "json"]
    sys.addaudithook(hook)
    import io, contextlib
    from cli.main import main
    buf = io.StringIO()
    try:
        with contextlib.redirect_stdout(buf):
            main(standalone_mode=False)
        code = 0
    except SystemExit as e:
        code = e.code
    rep = json.loads(buf.getvalue())
    summary = {"exit": code, "verdict": rep["verdict"]["class"], "params": rep["totals"]["params"],
               "nodes": len(rep["nodes"])}
else:
    from shapealg import analyze
    from shapealg import report
    sys.addaudithook(hook)
    a = analyze(path)
    rep = json.loads(report.dumps(a))
    report.format_table(a)
    summary = {"verdict": rep["verdict"]["class"], "params": rep["totals"]["params"], "nodes": len(rep["nodes"]),
               "output": rep["outputs"]}
el = time.perf_counter() - t0
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * (1 if sys.platform == "darwin" else 1024)
try:  # VmHWM: this process's own high-water mark (ru_maxrss may carry the parent's over a vfork + exec)
    with open("/proc/self/status") as f:
        peak = next(int(l.split()[1]) * 1024 for l in f if l.startswith("VmHWM:"))
except (OSError, StopIteration, ValueError):
    pass
print(json.dumps({"seconds": el, "peak_rss": peak, "weights_opened": opened, **summary}))
"""


def build(folder: Path, gb: float, blocks: int, sparse: bool, inline: bool = False) -> tuple:
    """The model file, its weights file (or None), and the weights' size in bytes."""
    import numpy as np
    import onnx
    from onnx import TensorProto as T
    from onnx import helper as h

    per_block = gb * 1e9 / blocks  # two d x 4d float32 matrices per block: 32 d^2 bytes
    d = max(64, int((per_block / 32) ** 0.5) // 64 * 64)
    weights_name = "weights.bin"
    inits, nodes = [], []
    offset = 0
    chunks = []  # (offset, nbytes) of every external tensor, in file order

    def tensor(name, dims, inline_ok=False):
        nonlocal offset
        n = 1
        for x in dims:
            n *= x
        if inline or inline_ok or n <= 4096:
            if inline and n > 4096:
                t = onnx.TensorProto(name=name, data_type=T.FLOAT, dims=list(dims))
                t.raw_data = bytes(4 * n)
            else:
                t = h.make_tensor(name, T.FLOAT, list(dims), np.zeros(n, np.float32).tolist())
            inits.append(t)
            return name
        t = onnx.TensorProto(name=name, data_type=T.FLOAT, dims=list(dims), data_location=T.EXTERNAL)
        for k, v in (("location", weights_name), ("offset", str(offset)), ("length", str(4 * n))):
            e = t.external_data.add()
            e.key, e.value = k, v
        chunks.append((offset, 4 * n))
        offset += 4 * n
        inits.append(t)
        return name

    x = h.make_tensor_value_info("x", T.FLOAT, [1, 3, 224, 224])
    nodes.append(h.make_node("Conv", ["x", tensor("patch_w", [d, 3, 16, 16]), tensor("patch_b", [d], True)], ["p"],
                             name="patch", kernel_shape=[16, 16], strides=[16, 16]))
    inits.append(h.make_tensor("flat_shape", T.INT64, [3], [1, d, -1]))
    nodes.append(h.make_node("Reshape", ["p", "flat_shape"], ["pf"], name="flatten"))
    nodes.append(h.make_node("Transpose", ["pf"], ["t0"], name="tokens", perm=[0, 2, 1]))
    cur = "t0"
    for i in range(blocks):
        nodes.append(h.make_node("LayerNormalization", [cur, tensor(f"ln{i}_g", [d], True), tensor(f"ln{i}_b", [d], True)],
                                 [f"n{i}"], name=f"block{i}.ln", axis=-1))
        nodes.append(h.make_node("MatMul", [f"n{i}", tensor(f"fc{i}_1", [d, 4 * d])], [f"u{i}"], name=f"block{i}.fc1"))
        nodes.append(h.make_node("Relu", [f"u{i}"], [f"r{i}"], name=f"block{i}.act"))
        nodes.append(h.make_node("MatMul", [f"r{i}", tensor(f"fc{i}_2", [4 * d, d])], [f"m{i}"], name=f"block{i}.fc2"))
        nodes.append(h.make_node("Add", [cur, f"m{i}"], [f"t{i + 1}"], name=f"block{i}.residual"))
        cur = f"t{i + 1}"
    nodes.append(h.make_node("ReduceMean", [cur], ["pooled"], name="pool", axes=[1], keepdims=0))
    nodes.append(h.make_node("Gemm", ["pooled", tensor("head_w", [1000, d]), tensor("head_b", [1000], True)], ["y"],
                             name="head", transB=1))
    g = h.make_graph(nodes, "huge", [x], [h.make_tensor_value_info("y", T.FLOAT, None)], inits)
    m = h.make_model(g, opset_imports=[h.make_opsetid("", 17)])
    path = folder / ("inline.onnx" if inline else "huge.onnx")
    if inline:
        with open(path, "wb") as f:
            f.write(m.SerializeToString())
        return path, None, os.path.getsize(path), d
    onnx.save_model(m, str(path))
    wpath = folder / weights_name
    with open(wpath, "wb") as f:
        if sparse:
            f.truncate(offset)
        else:
            zero = bytes(64 << 20)
            left = offset
            while left:
                n = min(left, len(zero))
                f.write(zero[:n])
                left -= n
    return path, wpath, offset, d


def measure(mode: str, path: Path, weights: str) -> dict:
    p = subprocess.run([sys.executable, "-c", CHILD, str(ROOT), mode, str(path), weights],
                       capture_output=True, text=True, timeout=1800)
    if p.returncode != 0:
        raise SystemExit(f"{mode} run failed ({p.returncode}): {p.stderr[-2000:]}")
    return json.loads(p.stdout.strip().splitlines()[-1])


def gib(n: float) -> str:
    return f"{n / 2 ** 30:.2f} GiB" if n >= 2 ** 30 else f"{n / 2 ** 20:.0f} MiB"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--gb", type=float, default=3.5, help="size of the external weights (GB, 1e9 bytes)")
    ap.add_argument("--blocks", type=int, default=12)
    ap.add_argument("--dir", default=tempfile.gettempdir(), help="where to generate (a fresh folder inside)")
    ap.add_argument("--sparse", action="store_true", help="a sparse weights file (no disk blocks written)")
    ap.add_argument("--inline-gb", type=float, default=0.0, help="also a model with this many GB inline (< 2)")
    ap.add_argument("--keep", action="store_true", help="keep the generated files")
    args = ap.parse_args(argv)
    root = Path(args.dir).resolve()
    if str(root).startswith(str(ROOT)):
        raise SystemExit("--dir must be outside the repository")
    folder = Path(tempfile.mkdtemp(prefix="shapealg_huge_", dir=root))
    try:
        t0 = time.time()
        path, wpath, wbytes, d = build(folder, args.gb, args.blocks, args.sparse)
        print(f"model: {path} ({os.path.getsize(path)} bytes graph), weights {wpath} "
              f"{gib(wbytes)} ({wbytes:,} bytes, {'sparse' if args.sparse else 'written'}), d={d}, "
              f"{args.blocks} blocks; generated in {time.time() - t0:.1f} s", flush=True)
        tiny = folder / "tiny.onnx"
        import onnx
        from onnx import TensorProto as T
        from onnx import helper as h
        onnx.save_model(h.make_model(h.make_graph([h.make_node("Relu", ["x"], ["y"])], "t",
                                                  [h.make_tensor_value_info("x", T.FLOAT, [1, 3, 8, 8])],
                                                  [h.make_tensor_value_info("y", T.FLOAT, None)])), str(tiny))
        rows = [("baseline (1-node model)", measure("library", tiny, "weights.bin"))]
        rows.append(("library analyze()", measure("library", path, "weights.bin")))
        rows.append(("cli analyze --format json", measure("cli", path, "weights.bin")))
        if args.inline_gb > 0:
            t0 = time.time()
            ipath, _, ibytes, _ = build(folder, args.inline_gb, args.blocks, True, inline=True)
            print(f"inline model: {ipath} {gib(ibytes)} in one protobuf; generated in {time.time() - t0:.1f} s")
            rows.append((f"library, {gib(ibytes)} inline", measure("library", ipath, "")))
        print(f"\n{'run':32} {'seconds':>8} {'peak RSS':>10} {'RSS / weights':>14}  weights opened  result")
        for name, r in rows:
            ratio = r["peak_rss"] / wbytes
            print(f"{name:32} {r['seconds']:8.2f} {gib(r['peak_rss']):>10} {ratio:14.4f}  "
                  f"{'YES' if r['weights_opened'] else 'no':14}  {r['verdict']}, {r['nodes']} nodes, "
                  f"params {r['params']:,}")
        lib = rows[1][1]
        if "output" in lib:
            print(f"output shape: {lib['output']}")
        bad = [name for name, r in rows if r["weights_opened"]]
        if bad:
            print(f"FAIL: the weights were opened by {bad}")
            return 1
        return 0
    finally:
        if args.keep:
            print(f"kept: {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
