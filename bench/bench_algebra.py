"""Side-by-side benchmark of shapealg against onnxruntime's symbolic shape inference on a corpus of heavy files
(bench/heavy_corpus.py): time, exactness, valid-set correctness, readability and limit hits, one row per file.

    python bench/bench_algebra.py CORPUS_DIR [--names tv_swin_t,bomb_mul] [--exporters torchscript,dynamo]
                                  [--sizes N] [--timeout 600] [--mem-gb 8] [--json OUT] [--md OUT] [--json-digest]

For each file, three subprocesses (each with --timeout seconds and an address-space limit of --mem-gb, so that
a hang or a bomb costs one cell, not the bench):
  ort       onnxruntime runs the file at the first N sizes of heavy_corpus.GRID with every intermediate exposed
            (bench/score.py's ort_truth). A file whose H, W are static is run with its input relaxed to H, W
            (the question is where the *graph* runs; the original file runs only at its own size).
  shapealg  on bench/score.py's stripped model (no value_info, graph outputs' shapes cleared):
            `shapealg.infer.infer` (timed: "infer s"), then `shapealg.analyze(<that InferResult>)`, i.e. the
            valid set, verdict, chain and fixes (timed together with infer: "analyze s" = the whole analysis);
            then scored with score.py's per-dim scoring against the ort runs ("exact %" = correct dims / all
            value dims), `Analysis.is_valid(H=, W=)` at every size tried vs whether onnxruntime ran it
            ("invalid but runs", "valid but fails"), the JSON report (report.to_json, what `shapealg analyze
            --format json` prints) for the readability numbers (longest str(dim) of any value dim, len of
            "valid_if", len of the verdict's "summary") and its sha256 (--json-digest prints it), and the nodes
            whose warnings say a limit was hit (per-node time limit, "more than N terms", "too large to infer").
  ssi       `SymbolicShapeInference.infer_shapes(stripped, auto_merge=True)` (score.py's run_tools), timed and
            scored the same way.
A worker writes its result after each stage, so a timeout still reports what finished (and the stage it was in).
Output: a Markdown table (one row per file, then totals; lists of the wrong sizes, timeouts and limit hits below)
on stdout or --md, the full records as JSON to --json (rewritten after each file).
"""
from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import traceback
import warnings
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
for _p in (str(BENCH), str(ROOT)):  # ROOT first: this checkout's shapealg
    if _p in sys.path:
        sys.path.remove(_p)
    sys.path.insert(0, _p)

import score as S  # noqa: E402  (bench/score.py)
from heavy_corpus import GRID  # noqa: E402

LIMIT_PATTERNS = {
    "time": re.compile(r"took longer than [\d.]+ s"),
    "terms": re.compile(r"more than \d+ terms"),
    "too large": re.compile(r"too large to infer"),
    "rank": re.compile(r"output rank above"),
    "work": re.compile(r"passed the work limit"),
}


# ----------------------------------------------------------------------------- workers


def _write(out: Path, rec: dict[str, Any]) -> None:
    tmp = out.with_suffix(".part")
    tmp.write_text(json.dumps(rec, default=str))
    os.replace(tmp, out)


def _load_truth(path: Path):
    t = json.loads(path.read_text())
    runs = [(env, {k: tuple(v) for k, v in shapes.items()}) for env, shapes in t["runs"]]
    return t, runs


def _astronomical(e) -> bool:
    """A formula whose value is beyond int64 at every size >= 2 (a power with an exponent above 64, an integer
    above 2**63): evaluating it exactly would take forever (bomb_mul), and onnxruntime cannot produce it."""
    import sympy
    if isinstance(e, int) or not isinstance(e, sympy.Basic):
        return False
    for t in sympy.preorder_traversal(e):
        if isinstance(t, sympy.Pow) and t.exp.is_Integer and abs(int(t.exp)) > 64:
            return True
        if t.is_Integer and abs(int(t)) > 2 ** 63:
            return True
    return False


def _tame(shapes):
    """score.py's {value: [_Formula] | None} with astronomical formulas kept as formulas that evaluate to
    nothing (score_shapes counts them as formulas, not correct) instead of hanging the scorer."""
    out = {}
    for name, dims in shapes.items():
        if dims is not None and any(_astronomical(f.value) for f in dims):
            dims = [S._Formula(None, f.text, f.ok) if _astronomical(f.value) else f for f in dims]
        out[name] = dims
    return out


def _values(model) -> list[str]:
    return [o for n in model.graph.node for o in n.output if o]


def worker_ort(path: Path, out: Path, sizes) -> None:
    import onnx

    rec: dict[str, Any] = {"stage": "ort"}
    _write(out, rec)
    static = S._is_static_file(path)
    run_path = path
    with tempfile.TemporaryDirectory() as tmp:
        if static:  # relax the input to H, W: where does the graph run?
            m = onnx.load(str(path))
            inits = {i.name for i in m.graph.initializer}
            for i in m.graph.input:
                dims = i.type.tensor_type.shape.dim
                if i.name not in inits and len(dims) == 4:
                    dims[2].dim_param, dims[3].dim_param = "H", "W"
            run_path = Path(tmp) / "relaxed.onnx"
            onnx.save(m, str(run_path))
            del m
        t0 = time.perf_counter()
        runs, failed = S.ort_truth(run_path, sizes)
    rec = {"stage": "done", "seconds": round(time.perf_counter() - t0, 2), "relaxed": static,
           "runs": [[env, shapes] for env, shapes in runs], "failed": failed}
    _write(out, rec)


def _limit_hits(res) -> list[dict[str, str]]:
    hits = []
    for n in res.nodes:
        for w in n.warnings:
            kind = next((k for k, p in LIMIT_PATTERNS.items() if p.search(w)), None)
            if kind:
                hits.append({"node": n.name, "op": n.op_type, "kind": kind, "warning": w[:300]})
                break
    return hits


def worker_shapealg(path: Path, out: Path, truth_path: Path | None) -> None:
    import onnx

    rec: dict[str, Any] = {"stage": "load"}
    _write(out, rec)
    model = onnx.load(str(path))
    stripped = S.strip_shapes(model)
    inputs = S._input_symbols(model)
    values = _values(model)
    del model
    truth, runs = ({}, [])
    if truth_path is not None and truth_path.exists():
        truth, runs = _load_truth(truth_path)
        if truth.get("relaxed"):
            inputs |= {"H", "W"}  # shapealg names a static file's spatial dims H, W itself
    import shapealg
    from shapealg.infer import infer
    from shapealg import limits as L
    # imports before the clocks start, as score.run_tools does for symbolic_shape_infer: a tool's time is its
    # analysis, not its import (shapealg.analyze imports the valid-set modules on first use)
    import shapealg.analysis  # noqa: F401

    def stage(name):
        rec["stage"] = name
        _write(out, rec)

    stage("infer")
    t0 = time.perf_counter()
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        res = infer(stripped)
    rec["infer_s"] = round(time.perf_counter() - t0, 3)
    rec["symbols"] = list(res.symbols)
    stage("analyze")
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        a = shapealg.analyze(res)
    rec["analyze_s"] = round(time.perf_counter() - t0, 3)
    rec["domain_s"] = round(rec["analyze_s"] - rec["infer_s"], 3)
    rec["verdict"] = a.domain.verdict
    rec["domain_method"] = a.domain.method
    rec["domain_budget_ran_out"] = "ran out" in (a.domain.method or "")
    rec["limit_hits"] = _limit_hits(res)
    rec["warnings"] = len(res.warnings)

    stage("score")
    if runs:
        shapes = {name: (None if v.shape is None else [S._from_shapealg(d, inputs) for d in v.shape])
                  for name, v in res.values.items()}
        counts, fails = S.score_shapes(_tame(shapes), runs, values, keep_failures=20)
        rec["score"] = counts
        rec["failures"] = fails

    stage("report")
    from shapealg.report import to_json
    t1 = time.perf_counter()
    rep = to_json(a)
    text = json.dumps(rep, sort_keys=True, default=str)
    rec["report_s"] = round(time.perf_counter() - t1, 3)
    rec["digest"] = hashlib.sha256(text.encode()).hexdigest()
    rec["report_chars"] = len(text)
    longest, where = 0, None
    for name, v in rep["values"].items():
        for d in v["shape"] or ():
            n = len(str(d)) if d is not None else 0
            if n > longest:
                longest, where = n, name
    rec["max_dim_chars"], rec["max_dim_value"] = longest, where
    rec["valid_if_chars"] = len(rep["valid_if"])
    rec["summary_chars"] = len(rep["verdict"]["summary"] or "")
    rec["summary"] = (rep["verdict"]["summary"] or "")[:400]
    rec["valid_if_head"] = rep["valid_if"][:300]

    stage("valid set")
    if truth:
        ran = {"x".join(str(env[k]) for k in ("H", "W")): True for env, _ in runs}
        tried = list(ran) + [k for k in truth["failed"]]
        invalid_runs, valid_fails, undecided, predicts_wrong = [], [], {}, []
        for key in tried:
            h, w = (int(x) for x in key.split("x")[-2:])
            env = {s: (h if s == "H" else w if s == "W" else 1) for s in res.symbols}
            rec["valid_set_partial"] = f"checking {key} ({tried.index(key) + 1}/{len(tried)})"
            _write(out, rec)
            try:
                with L.time_limit(30, f"is_valid({key})"):
                    v = a.is_valid(**env)
                    p = a.domain.predicts(env)
            except BaseException as e:  # noqa: BLE001 - a time limit or a MemoryError: this size only
                if isinstance(e, KeyboardInterrupt):
                    raise
                undecided[key] = f"{type(e).__name__}: {str(e)[:120]}"
                continue
            if v is None:  # a partial analysis: the analysed part runs there, the rest was not analysed
                undecided[key] = "partial analysis (valid for the part analysed)"
                continue
            if p != v:
                predicts_wrong.append(key)
            if v and key not in ran:
                valid_fails.append(key)
            elif not v and key in ran:
                invalid_runs.append(key)
        rec["valid_set"] = {"tried": len(tried), "ran": len(ran), "invalid_but_runs": invalid_runs,
                            "valid_but_fails": valid_fails, "undecided": undecided,
                            "predicts_differs_from_is_valid": predicts_wrong}
        rec.pop("valid_set_partial", None)

    stage("done")


def worker_ssi(path: Path, out: Path, truth_path: Path | None) -> None:
    import onnx

    rec: dict[str, Any] = {"stage": "load"}
    _write(out, rec)
    model = onnx.load(str(path))
    values = _values(model)
    rec["stage"] = "ssi"
    _write(out, rec)
    r = S.run_tools(model, ("symbolic_shape_infer",))["symbolic_shape_infer"]
    rec.update(seconds=r["seconds"], error=r["error"])
    if truth_path is not None and truth_path.exists():
        _t, runs = _load_truth(truth_path)
        if runs:
            counts, _f = S.score_shapes(_tame(r["shapes"]), runs, values)
            rec["score"] = counts
    rec["stage"] = "done"
    _write(out, rec)


# ----------------------------------------------------------------------------- orchestration


def _limit_memory(gb: float):
    def f():
        import resource
        b = int(gb * 2 ** 30)
        resource.setrlimit(resource.RLIMIT_AS, (b, b))
    return f


def _run_worker(kind: str, path: Path, out: Path, truth: Path | None, sizes, timeout: float,
                mem_gb: float) -> dict[str, Any]:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", kind, str(path), "--out", str(out),
           "--sizes-json", json.dumps([list(s) for s in sizes])]
    if truth is not None:
        cmd += ["--truth", str(truth)]
    t0 = time.perf_counter()
    status = "ok"
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, preexec_fn=_limit_memory(mem_gb),
                           cwd=str(ROOT))
        if p.returncode != 0:
            lines = [ln for ln in p.stderr.strip().splitlines() if ln.strip()]
            status = f"exit {p.returncode}: {(lines[-1] if lines else '')[:300]}"
    except subprocess.TimeoutExpired:
        status = f"timeout after {timeout:g} s"
    rec: dict[str, Any] = {}
    with contextlib.suppress(OSError, ValueError):
        rec = json.loads(out.read_text())
    rec["status"] = status
    rec["wall_s"] = round(time.perf_counter() - t0, 2)
    return rec


def bench_file(path: Path, sizes, timeout: float, mem_gb: float, ort_timeout: float) -> dict[str, Any]:
    import onnx

    m = onnx.load(str(path), load_external_data=False)
    name, _, exporter = path.name[:-5].rpartition(".")
    rec: dict[str, Any] = {"file": path.name, "name": name, "exporter": exporter, "nodes": len(m.graph.node),
                           "static": S._is_static_file(path)}
    del m
    with tempfile.TemporaryDirectory(prefix="bench_algebra-") as tmp:
        tmp = Path(tmp)
        truth = tmp / "truth.json"
        o = _run_worker("ort", path, truth, None, sizes, ort_timeout, mem_gb)
        rec["ort"] = {k: o.get(k) for k in ("status", "wall_s", "seconds", "relaxed", "failed", "stage")}
        rec["ort"]["ran"] = ["x".join(str(env[k]) for k in ("H", "W")) for env, _ in o.get("runs", [])]
        have_truth = truth.exists() and o.get("stage") == "done"
        rec["shapealg"] = _run_worker("shapealg", path, tmp / "shapealg.json", truth if have_truth else None,
                                      sizes, timeout, mem_gb)
        rec["ssi"] = _run_worker("ssi", path, tmp / "ssi.json", truth if have_truth else None, sizes, timeout,
                                 mem_gb)
    return rec


def _files(corpus: Path, names, exporters) -> list[Path]:
    files = sorted(corpus.glob("*.onnx"))
    order = []
    with contextlib.suppress(OSError, ValueError, KeyError):
        order = [e["path"] for e in json.loads((corpus / "manifest.json").read_text())["models"]]
    files.sort(key=lambda p: (order.index(p.name) if p.name in order else len(order), p.name))
    out = []
    for p in files:
        name, _, exporter = p.name[:-5].rpartition(".")
        if (names and name not in names) or (exporters and exporter not in exporters):
            continue
        out.append(p)
    return out


# ----------------------------------------------------------------------------- report


def _pct(a, b):
    return "-" if not b else f"{100.0 * a / b:.1f}"


def _secs(w: dict[str, Any], key: str) -> str:
    v = w.get(key)
    if v is not None and w.get("status") == "ok":
        return f"{v:.2f}"
    if v is not None:
        return f"{v:.2f} ({_short_status(w)})"
    return _short_status(w)


def _short_status(w: dict[str, Any]) -> str:
    st = w.get("status", "?")
    if st.startswith("timeout"):
        return f"TIMEOUT in {w.get('stage')}"
    if st != "ok":
        return f"FAILED in {w.get('stage')}"
    return "-"


def _ratio(a, b):
    return "-" if a is None or not b else f"{a / b:.1f}"


def totals(records) -> dict[str, Any]:
    t: dict[str, Any] = {"files": len(records), "nodes": sum(r["nodes"] for r in records)}
    both = [r for r in records if r["shapealg"].get("analyze_s") is not None and r["shapealg"]["status"] == "ok"
            and r["ssi"].get("seconds") is not None and r["ssi"]["status"] == "ok"]
    t["files_timed_both"] = len(both)
    t["analyze_s"] = round(sum(r["shapealg"]["analyze_s"] for r in both), 2)
    t["infer_s"] = round(sum(r["shapealg"]["infer_s"] for r in both), 2)
    t["ssi_s"] = round(sum(r["ssi"]["seconds"] for r in both), 2)
    t["ratio_analyze"] = round(t["analyze_s"] / t["ssi_s"], 2) if t["ssi_s"] else None
    t["ratio_infer"] = round(t["infer_s"] / t["ssi_s"], 2) if t["ssi_s"] else None
    t["analyze_s_all"] = round(sum(r["shapealg"].get("analyze_s") or 0 for r in records), 2)
    t["ssi_s_all"] = round(sum(r["ssi"].get("seconds") or 0 for r in records), 2)
    for tool in ("shapealg", "ssi"):
        c = S._blank()
        for r in records:
            for k in c:
                c[k] += (r[tool].get("score") or {}).get(k, 0)
        t[f"{tool}_score"] = c
    t["invalid_but_runs"] = sum(len((r["shapealg"].get("valid_set") or {}).get("invalid_but_runs", ())) for r in records)
    t["valid_but_fails"] = sum(len((r["shapealg"].get("valid_set") or {}).get("valid_but_fails", ())) for r in records)
    t["limit_hits"] = sum(len(r["shapealg"].get("limit_hits") or ()) for r in records)
    t["timeouts"] = [f"{r['file']} ({tool})" for r in records for tool in ("ort", "shapealg", "ssi")
                     if str(r[tool].get("status", "")).startswith("timeout")]
    return t


def markdown(records, tot, sizes) -> str:
    head = ["file", "nodes", "ORT ran", "analyze s", "infer s", "ssi s", "analyze/ssi", "infer/ssi", "exact %",
            "ssi exact %", "invalid but runs", "valid but fails", "max dim chars", "valid_if chars", "summary chars",
            "limit hits", "verdict"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in records:
        sa, ssi, ort = r["shapealg"], r["ssi"], r["ort"]
        vs = sa.get("valid_set") or {}
        sc, ssc = sa.get("score") or {}, ssi.get("score") or {}
        ssi_s = _secs(ssi, "seconds") + (" (failed)" if ssi.get("error") else "")
        hits = sa.get("limit_hits")
        hit_txt = "-" if hits is None else str(len(hits)) + ("+budget" if sa.get("domain_budget_ran_out") else "")
        ran = f"{len(ort.get('ran') or ())}/{len(sizes)}" + (" relaxed" if ort.get("relaxed") else "")
        if ort.get("status") != "ok":
            ran = f"{ort.get('status')[:30]}"
        cells = [r["file"], str(r["nodes"]), ran, _secs(sa, "analyze_s"), _secs(sa, "infer_s"), ssi_s,
                 _ratio(sa.get("analyze_s"), ssi.get("seconds")), _ratio(sa.get("infer_s"), ssi.get("seconds")),
                 _pct(sc.get("correct", 0), sc.get("dims")), _pct(ssc.get("correct", 0), ssc.get("dims")),
                 str(len(vs["invalid_but_runs"])) if vs else "-", str(len(vs["valid_but_fails"])) if vs else "-",
                 str(sa.get("max_dim_chars", "-")), str(sa.get("valid_if_chars", "-")),
                 str(sa.get("summary_chars", "-")), hit_txt, str(sa.get("verdict", "-"))]
        lines.append("| " + " | ".join(cells) + " |")
    sc, ssc = tot["shapealg_score"], tot["ssi_score"]
    lines.append("| " + " | ".join([
        f"**total ({tot['files']} files)**", str(tot["nodes"]), "", f"{tot['analyze_s']:.2f}", f"{tot['infer_s']:.2f}",
        f"{tot['ssi_s']:.2f}", str(tot["ratio_analyze"]), str(tot["ratio_infer"]), _pct(sc["correct"], sc["dims"]),
        _pct(ssc["correct"], ssc["dims"]), str(tot["invalid_but_runs"]), str(tot["valid_but_fails"]), "", "", "",
        str(tot["limit_hits"]), ""]) + " |")
    out = ["\n".join(lines), "",
           f"Sizes tried: {', '.join(f'{h}x{w}' for h, w in sizes)}. Times in seconds; the totals' times and ratios "
           f"are over the {tot['files_timed_both']} files where both shapealg and ssi finished (all files: "
           f"shapealg analyze {tot['analyze_s_all']} s, ssi {tot['ssi_s_all']} s). analyze s = infer + valid set, "
           f"verdict, chain, fixes. exact % = value dims equal to onnxruntime at every size that ran / all value dims "
           f"(shapealg {sc['correct']}/{sc['dims']}, ssi {ssc['correct']}/{ssc['dims']}). limit hits = nodes whose "
           f"warning says a limit was hit (+budget: the domain's symbolic time budget ran out)."]
    notes = []
    for r in records:
        sa = r["shapealg"]
        vs = sa.get("valid_set") or {}
        bits = []
        for tool in ("ort", "shapealg", "ssi"):
            if r[tool].get("status") != "ok":
                bits.append(f"{tool}: {r[tool].get('status')} (stage {r[tool].get('stage')})")
        if r["ssi"].get("error"):
            bits.append(f"ssi error: {r['ssi']['error'][:160]}")
        if vs.get("invalid_but_runs"):
            bits.append(f"called invalid but runs: {', '.join(vs['invalid_but_runs'])}")
        if vs.get("valid_but_fails"):
            bits.append(f"called valid but fails: {', '.join(vs['valid_but_fails'])}")
        if vs.get("undecided"):
            bits.append(f"is_valid gave no answer at: {', '.join(vs['undecided'])}")
        if sa.get("limit_hits"):
            kinds = {}
            for h in sa["limit_hits"]:
                kinds.setdefault(h["kind"], []).append(f"{h['node']} ({h['op']})")
            bits.append("limits: " + "; ".join(f"{k} x{len(v)}: {', '.join(v[:4])}{' ...' if len(v) > 4 else ''}"
                                               for k, v in kinds.items()))
        if bits:
            notes.append(f"- {r['file']}: " + " | ".join(bits))
    if notes:
        out += ["", *notes]
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("corpus", nargs="?")
    ap.add_argument("--names", default=None)
    ap.add_argument("--exporters", default=None)
    ap.add_argument("--sizes", type=int, default=len(GRID), help=f"use the first N sizes of heavy_corpus.GRID "
                                                                 f"(default all {len(GRID)})")
    ap.add_argument("--timeout", type=float, default=600, help="seconds per worker (shapealg, ssi)")
    ap.add_argument("--ort-timeout", type=float, default=900, help="seconds for the onnxruntime runs of one file")
    ap.add_argument("--mem-gb", type=float, default=8, help="address-space limit of each worker")
    ap.add_argument("--md", default=None)
    ap.add_argument("--json", default=None)
    ap.add_argument("--json-digest", action="store_true", help="print the sha256 of each file's JSON report")
    ap.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--out", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--truth", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--sizes-json", default=None, help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.worker:
        path, out = Path(a.corpus), Path(a.out)
        truth = Path(a.truth) if a.truth else None
        sizes = [tuple(s) for s in json.loads(a.sizes_json)] if a.sizes_json else GRID
        try:
            {"ort": lambda: worker_ort(path, out, sizes), "shapealg": lambda: worker_shapealg(path, out, truth),
             "ssi": lambda: worker_ssi(path, out, truth)}[a.worker]()
        except Exception:  # noqa: BLE001 - the parent reads the stage from the partial record
            traceback.print_exc()
            return 1
        return 0
    if not a.corpus:
        ap.error("CORPUS_DIR is required")
    sizes = GRID[: a.sizes]
    files = _files(Path(a.corpus), a.names.split(",") if a.names else None,
                   a.exporters.split(",") if a.exporters else None)
    records = []
    env = {k: v for k, v in os.environ.items() if k.startswith("SHAPEALG_")}
    commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=str(ROOT)).stdout.strip()
    for p in files:
        print(f"[algebra] {p.name} ...", file=sys.stderr, flush=True)
        r = bench_file(p, sizes, a.timeout, a.mem_gb, a.ort_timeout)
        records.append(r)
        sa = r["shapealg"]
        print(f"[algebra] {p.name}: ort {r['ort']['status']} ({len(r['ort']['ran'])} ran); shapealg "
              f"{sa['status']} analyze {sa.get('analyze_s')} s infer {sa.get('infer_s')} s; ssi {r['ssi']['status']} "
              f"{r['ssi'].get('seconds')} s", file=sys.stderr, flush=True)
        if a.json_digest:
            print(f"{sa.get('digest') or '-':64s}  {p.name}", flush=True)
        if a.json:
            Path(a.json).write_text(json.dumps({"commit": commit, "env": env, "sizes": [list(s) for s in sizes],
                                                "records": records, "totals": totals(records)}, indent=1,
                                               default=str))
    tot = totals(records)
    md = markdown(records, tot, sizes)
    if a.md:
        Path(a.md).write_text(md)
    if not a.json_digest or not a.md:
        print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
