"""``validate`` over the real-model corpus, at its own chosen sizes: one row per model.

    nice python bench/validate_corpus.py [DIR=/tmp/corpus] [--budget-mib 128] [--timeout 900]
                                         [--names resnet,vit] [--json out.json] [--details]

Each model runs in its own child process (one at a time, with a time limit), so one model that hangs or
runs out of memory cannot stop the rest. Per model: the verdict, how many sizes were chosen / run / skipped
(over the memory budget), the outcome counts, and every disagreement (mismatch: value, node, size,
expected vs got; surprise: size and the runtime's or the analysis's word). Exit 0 when every model agrees.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")


def _one(path: str, budget: int) -> dict:
    """Validate one file (in the child); a summary dict."""
    sys.path.insert(0, ROOT)
    from shapealg import analyze
    from shapealg.validate import validate

    t = time.perf_counter()
    a = analyze(path)
    t_an = time.perf_counter() - t
    print(f"stage: analysed in {t_an:.1f}s, verdict {a.domain.verdict}", flush=True)
    rep = validate(path, analysis=a, memory_budget=budget)
    c = rep.counts
    problems = []
    for o in rep.problems:
        d = {"size": o.label(rep.spatial), "outcome": o.outcome, "detail": o.describe()}
        if o.mismatches:
            m = o.mismatches[0]
            d.update(node=m.node, op_type=m.op_type, value=m.value, expected=[str(x) for x in m.expected],
                     got=list(m.got), n_mismatches=len(o.mismatches))
        problems.append(d)
    return {"model": Path(path).name, "verdict": rep.verdict, "nodes": len(a.nodes), "ok": rep.ok,
            "sizes": len(rep.outcomes), "run": len(rep.outcomes) - c.get("skipped", 0),
            "skipped": c.get("skipped", 0), "agree": c.get("agree", 0),
            "failed_as_predicted": c.get("failed-as-predicted", 0), "mismatch": c.get("mismatch", 0),
            "surprises": sum(n for k, n in c.items() if k.startswith("surprise") or k == "failed-elsewhere"),
            "counts": c, "problems": problems, "warnings": list(rep.warnings),
            "analyze_s": round(t_an, 2), "validate_s": round(rep.seconds, 2)}


def _child(path: str, budget: int, timeout: float) -> dict:
    cmd = [sys.executable, os.path.abspath(__file__), "--one", path, "--budget-mib", str(budget / 2 ** 20)]
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
        stage = [ln for ln in out.splitlines() if ln.startswith("stage:")]
        where = f"in validate ({stage[-1][7:]})" if stage else "in the analysis (shapealg analyze itself)"
        return {"model": Path(path).name, "ok": False, "error": f"timed out after {timeout:.0f}s {where}"}
    lines = [ln for ln in p.stdout.splitlines() if ln.startswith("{")]
    if p.returncode != 0 or not lines:
        err = (p.stderr.strip().splitlines() or ["no output"])[-1]
        return {"model": Path(path).name, "ok": False, "error": f"exit {p.returncode}: {err[:300]}"}
    return json.loads(lines[-1])


def _row(r: dict) -> str:
    if "error" in r:
        return f"{r['model']:<36} ERROR {r['error']}"
    return (f"{r['model']:<36} {r['verdict']:<14} {r['sizes']:>5} {r['run']:>4} {r['skipped']:>4} {r['agree']:>5} "
            f"{r['failed_as_predicted']:>5} {r['mismatch']:>5} {r['surprises']:>5}  "
            f"{r['analyze_s'] + r['validate_s']:6.1f}s  {'agrees' if r['ok'] else 'DISAGREES'}")


HEADER = (f"{'model':<36} {'verdict':<14} {'sizes':>5} {'run':>4} {'skip':>4} {'agree':>5} {'fail✓':>5} "
          f"{'mism':>5} {'surp':>5}  {'time':>7}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("corpus", nargs="?", default="/tmp/corpus")
    ap.add_argument("--names", default="", help="comma-separated model names (file name prefixes)")
    ap.add_argument("--budget-mib", type=float, default=128)
    ap.add_argument("--timeout", type=float, default=900, help="seconds per model")
    ap.add_argument("--json", default=None, help="write every model's summary here")
    ap.add_argument("--details", action="store_true", help="print each disagreement under its model")
    ap.add_argument("--one", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    budget = int(args.budget_mib * 2 ** 20)
    if args.one:
        print(json.dumps(_one(args.one, budget)))
        return 0
    files = sorted(str(p) for p in Path(args.corpus).glob("*.onnx"))
    if args.names:
        want = [n for n in args.names.split(",") if n]
        files = [f for f in files if Path(f).name.split(".")[0] in want]
    print(f"{len(files)} models in {args.corpus}; memory budget {args.budget_mib:g} MiB per run", flush=True)
    print(HEADER, flush=True)
    rows = []
    for f in files:
        r = _child(f, budget, args.timeout)
        rows.append(r)
        print(_row(r), flush=True)
        if args.details:
            for p in r.get("problems", ()):
                print(f"    {p['size']:<12} {p['outcome']:<20} {p['detail'][:300]}", flush=True)
        if args.json:
            Path(args.json).write_text(json.dumps(rows, indent=1))
    bad = [r for r in rows if not r.get("ok")]
    runs = sum(r.get("run", 0) for r in rows)
    print(f"{len(rows) - len(bad)}/{len(rows)} models agree at their own sizes ({runs} runs); "
          f"disagreeing: {', '.join(r['model'] for r in bad) or 'none'}", flush=True)
    return 0 if not bad else 1


if __name__ == "__main__":
    sys.exit(main())
