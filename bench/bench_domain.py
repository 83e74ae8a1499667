"""Time shapealg.validity.analyze_domain on synthetic constraint lists shaped like a 500-node model.

    python bench/bench_domain.py [--repeat 5]
    python bench/bench_domain.py --corpus /tmp/corpus [--min-nodes 300]   # real exports (bench/corpus.py)

Each model: a 100-layer conv stack (conv3x3 / BatchNorm / ReLU / residual Add per layer, so ~500 nodes;
every other conv unpadded) with a stride-2 stage every 20 layers, UNet-style skip Concats back up, then optionally a
Flatten -> Linear. Constraints are written as the shape rules write them: every output dim >= 1 for
each conv / pool (repeated by the elementwise ops: duplicates), broadcast conditions for the Adds,
equalities for the Concats and the Linear.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import sympy

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from shapealg.dims import evaluate, symbol  # noqa: E402
from shapealg.validity import analyze_domain  # noqa: E402
from shapealg.formulas import conv_out, pool_out  # noqa: E402
from shapealg.records import Constraint  # noqa: E402

H, W = symbol("H"), symbol("W")


def _ge1(cs, node, op, *dims):
    for d in dims:
        c = sympy.Ge(d, 1)
        if c is not sympy.true:
            cs.append(Constraint(node, op, c, f"{d} must be >= 1"))


def build(linear: bool, ceil_pool: bool = False):
    cs = []
    h, w = H, W
    skips = []
    nodes = 0
    for i in range(100):
        stride = 2 if i % 20 == 19 else 1
        pre = (h, w)
        if ceil_pool and stride == 2:  # k2 s2 p1 ceil_mode: a Piecewise (last window in the pad)
            h, w = pool_out(h, 2, 2, 1, ceil_mode=True), pool_out(w, 2, 2, 1, ceil_mode=True)
        else:  # every other conv unpadded, so every layer has its own lower bound
            pad = 1 if (i % 2 or stride == 2) else 0
            h, w = conv_out(h, 3, stride, pad), conv_out(w, 3, stride, pad)
        _ge1(cs, f"conv{i}", "Conv", h, w)
        if stride == 2:
            skips.append((pre, (h, w)))
        _ge1(cs, f"bn{i}", "BatchNormalization", h, w)   # duplicates
        _ge1(cs, f"relu{i}", "Relu", h, w)
        for a in (h, w):  # residual add: broadcast condition (auto-true when the dims are equal)
            c = sympy.Eq(a, a) | sympy.Eq(a, 1)
            if c is not sympy.true:
                cs.append(Constraint(f"add{i}", "Add", c, "broadcast"))
        nodes += 4
    for j, ((sh, sw), (ph, pw)) in enumerate(reversed(skips if not ceil_pool else [])):
        uh, uw = 2 * ph, 2 * pw  # ConvTranspose k2 s2 of the (same-size) decoder map at that level
        for u, s in ((uh, sh), (uw, sw)):
            c = sympy.Eq(u, s)
            if c is not sympy.true:
                cs.append(Constraint(f"up{j}.concat", "Concat", c, "skip / upsampled dims must match"))
        h, w = conv_out(sh, 3, 1, 1), conv_out(sw, 3, 1, 1)
        _ge1(cs, f"up{j}.conv", "Conv", h, w)
        nodes += 3
    if linear:
        h, w = pool_out(h, 2), pool_out(w, 2)
        _ge1(cs, "pool", "MaxPool", h, w)
        k = 32 * evaluate(h, {"H": 684}) * evaluate(w, {"W": 716})  # exported at 684x716
        cs.append(Constraint("fc", "Gemm", sympy.Eq(sympy.expand(32 * h * w), k),
                             "flattened features must equal in_features"))
        nodes += 3
    return cs, nodes


def one(path: str) -> dict:
    """Engine and domain time of one real model, cold (a fresh process: no compile cache)."""
    from shapealg import analyze
    from shapealg.infer import infer
    t = time.perf_counter()
    res = infer(path)
    t_infer = time.perf_counter() - t
    t = time.perf_counter()
    a = analyze(res)
    t_domain = time.perf_counter() - t
    return {"model": os.path.basename(path), "nodes": len(res.graph.nodes), "constraints": len(res.constraints),
            "infer_s": t_infer, "domain_s": t_domain, "verdict": a.domain.verdict, "exact": a.domain.exact}


def corpus(directory: str, min_nodes: int) -> None:
    import glob
    import json
    import subprocess
    rows = []
    for path in sorted(glob.glob(os.path.join(directory, "*.onnx"))):
        out = subprocess.run([sys.executable, __file__, "--one", path], capture_output=True, text=True)
        if out.returncode != 0:
            print(f"{os.path.basename(path)}: failed: {out.stderr.strip().splitlines()[-1:]}", file=sys.stderr)
            continue
        r = json.loads(out.stdout.strip().splitlines()[-1])
        if r["nodes"] >= min_nodes:
            rows.append(r)
    print(f"| model | nodes | constraints | engine (infer) s | domain s | verdict | proven |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['model']} | {r['nodes']} | {r['constraints']} | {r['infer_s']:.2f} | {r['domain_s']:.2f} | "
              f"{r['verdict']} | {'yes' if r['exact'] else 'bounded search'} |")


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--corpus", metavar="DIR", help="time real models (ONNX files in DIR), one process each")
    ap.add_argument("--min-nodes", type=int, default=300)
    ap.add_argument("--one", metavar="FILE", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.one:
        import json
        print(json.dumps(one(args.one)))
        return
    if args.corpus:
        corpus(args.corpus, args.min_nodes)
        return
    for label, kw in (("conv stack + skip concats (conditional)", dict(linear=False)),
                      ("ceil_mode pools (Piecewise), no concats", dict(linear=False, ceil_pool=True)),
                      ("... + Flatten -> Linear (locked)", dict(linear=True))):
        cs, nodes = build(**kw)
        best = float("inf")
        for r in range(args.repeat):
            # the compile caches are process-wide: the first run is the cold one
            t = time.perf_counter()
            dom = analyze_domain(cs, ["H", "W"])
            dt = time.perf_counter() - t
            if r == 0:
                cold = dt
            best = min(best, dt)
        print(f"{label}: ~{nodes} nodes, {len(cs)} constraints -> {dom.verdict}; "
              f"cold {cold * 1000:.0f} ms, warm best {best * 1000:.0f} ms")
        print(f"    {dom.summary}")
        print(f"    method: {dom.method}; breaking: "
              f"{dom.breaking_constraint.node if dom.breaking_constraint else None}")


if __name__ == "__main__":
    main()
