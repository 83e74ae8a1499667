"""What validation costs over plain onnxruntime runs at the same sizes.

    python bench/bench_validate.py [--corpus DIR] [--names resnet,vit,...] [--repeat 3] [--budget-mib 256]

For each corpus model (exported with bench/corpus.py into DIR, built there when missing):
sizes = choose_sizes(analysis) (those within the memory budget), then, in the same process, alternately:
  plain:    the file read from disk, its spatial dims made symbolic as validate does (a file exported at
            64x64 would otherwise refuse every other size at once), a session with the same options as
            validate's (shapealg's runtime: graph optimizations off, so value names survive) but no
            intermediate exposed, one run per size on the same random inputs;
  validate: validate(model, sizes, analysis=a): session reporting every intermediate's shape (probe.py: a Shape
            node on each value, one extra output), one run per size,
            every value's shape compared with its formula, failures matched to the blamed node;
  ort-opt:  for reference, plain runs with onnxruntime's default optimizations (ORT_ENABLE_ALL).
Each includes creating its session; the analysis is timed apart (``analyze``) and shown as the ratio with it
included. Times are the best of --repeat. Target: validate / plain <= 1.5 (the total over the models; exit 1
when over). The corpus's models are tiny configurations run at small sizes, a few ms per run or less: there
the fixed costs (a second session, the probes, the comparison) weigh most; at real sizes the ratio tends to 1.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from shapealg import analyze  # noqa: E402
from shapealg.validate.session import make_session, run_onnxruntime  # noqa: E402
from shapealg.validate import choose_sizes, validate  # noqa: E402
from shapealg.onnx_file import load_model  # noqa: E402
from shapealg.validate.onnxrt import input_shapes, runtime_model  # noqa: E402  # noqa: E402

DEFAULT_NAMES = ["resnet", "convnext", "mobilenet_v2", "efficientnet", "vit", "swin", "segformer", "mobilevit", "unet",
                 "regnet"]


def _plain(path, analysis, plans):
    sess = make_session(runtime_model(analysis, load_model(path)), expose=False)
    for p in plans:
        run_onnxruntime(None, input_shapes(analysis, p.size), session=sess)


def _plain_opt(proto, analysis, plans):
    """Plain runs as a user would make them: onnxruntime's default graph optimizations."""
    import numpy as np
    import onnxruntime as ort
    from shapealg.validate.session import random_input
    opts = ort.SessionOptions()
    opts.log_severity_level = 4
    try:
        sess = ort.InferenceSession(proto.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    except Exception:  # noqa: BLE001 - refused: nothing to time
        return
    types = {i.name: i.type.tensor_type.elem_type for i in proto.graph.input}
    for p in plans:
        rng = np.random.default_rng(0)
        feeds = {k: random_input(types[k], v, rng) for k, v in input_shapes(analysis, p.size).items()}
        try:
            sess.run(None, feeds)
        except Exception:  # noqa: BLE001 - a failing size costs what it costs
            pass


def _best_interleaved(fns, repeat):
    """Best time of each function over ``repeat`` rounds, run alternately so that load from elsewhere on a
    shared machine hits them alike."""
    best = [float("inf")] * len(fns)
    for _ in range(repeat):
        for i, fn in enumerate(fns):
            t = time.perf_counter()
            fn()
            best[i] = min(best[i], time.perf_counter() - t)
    return best


def bench_file(path: str, repeat: int, budget: int) -> dict:
    t = time.perf_counter()
    a = analyze(path)
    a.domain.valid_if_text  # the verdict's text is analysis output (printed once per analysis): timed here
    t_an = time.perf_counter() - t
    plans = [p for p in choose_sizes(a, memory_budget=budget) if not p.over_budget]
    proto = runtime_model(a, load_model(path))
    _plain(path, a, plans[:1])  # warm up onnxruntime
    rep = None

    def val():
        nonlocal rep
        rep = validate(path, sizes=plans, analysis=a, memory_budget=None)
    t_plain, t_val, t_opt = _best_interleaved(
        [lambda: _plain(path, a, plans), val, lambda: _plain_opt(proto, a, plans)], repeat)
    return {"model": Path(path).name, "nodes": len(a.nodes), "sizes": len(plans), "ok": rep.ok,
            "runs": sum(o.outcome in ("agree", "mismatch", "surprise-ran") for o in rep.outcomes),
            "analyze": t_an, "plain": t_plain, "validate": t_val, "ort_opt": t_opt, "ratio": t_val / t_plain,
            "ratio_opt": t_val / t_opt, "ratio_with_analysis": (t_val + t_an) / t_plain}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", default=None, help="directory of corpus .onnx files (built when missing)")
    ap.add_argument("--names", default=",".join(DEFAULT_NAMES))
    ap.add_argument("--exporters", default="torchscript,dynamo")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--budget-mib", type=float, default=256)
    args = ap.parse_args(argv)
    names = [n for n in args.names.split(",") if n]
    exporters = [e for e in args.exporters.split(",") if e]
    corpus = Path(args.corpus or os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".bench_corpus"))
    missing = [n for n in names if not any((corpus / f"{n}.{e}.onnx").exists() for e in exporters)]
    if missing:
        from corpus import build_corpus  # bench/corpus.py
        print(f"building corpus models {missing} in {corpus} ...", file=sys.stderr)
        build_corpus(corpus, exporters=tuple(exporters), names=missing, check=False)
    rows = []
    for n in names:
        for e in exporters:
            p = corpus / f"{n}.{e}.onnx"
            if p.exists():
                rows.append(bench_file(str(p), args.repeat, int(args.budget_mib * 2 ** 20)))
                r = rows[-1]
                print(f"{r['model']:<32} {r['nodes']:>5} nodes {r['sizes']:>3} sizes ({r['runs']:>3} ran)  "
                      f"analyze {r['analyze']:6.2f}s  plain {r['plain']:6.2f}s  validate {r['validate']:6.2f}s  "
                      f"ratio {r['ratio']:5.2f}  (with analysis {r['ratio_with_analysis']:5.2f}; ort-opt "
                      f"{r['ort_opt']:6.2f}s, ratio {r['ratio_opt']:5.2f})  {'agrees' if r['ok'] else 'DISAGREES'}",
                      flush=True)
    if rows:
        tot_p = sum(r["plain"] for r in rows)
        tot_v = sum(r["validate"] for r in rows)
        tot_a = sum(r["analyze"] for r in rows)
        tot_o = sum(r["ort_opt"] for r in rows)
        worst = max(rows, key=lambda r: r["ratio"])
        print(f"total: plain {tot_p:.2f}s validate {tot_v:.2f}s ratio {tot_v / tot_p:.2f} "
              f"(with analysis {(tot_v + tot_a) / tot_p:.2f}; vs ort-opt {tot_v / tot_o:.2f}); "
              f"worst {worst['model']} {worst['ratio']:.2f}; target <= 1.5")
        return 0 if tot_v / tot_p <= 1.5 else 1


if __name__ == "__main__":
    sys.exit(main())
