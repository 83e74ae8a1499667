"""Many models at once (``shapealg analyze a.onnx b.onnx models/ --jobs 4``): each file in its own process, a
bad file a row with its error (never the end), one JSON object per line with ``--format jsonl``."""
from __future__ import annotations

import os
from typing import Dict, List, Sequence


def expand(models: Sequence[str]) -> List[str]:
    """Files as given; a folder stands for the ``.onnx`` files under it (sorted)."""
    out: List[str] = []
    for m in models:
        if os.path.isdir(m):
            found = []
            for root, dirs, files in os.walk(m):
                dirs.sort()
                found += [os.path.join(root, f) for f in sorted(files) if f.endswith(".onnx")]
            out += found
        else:
            out.append(m)
    return out


def _one_line(e: BaseException) -> str:
    text = str(e).strip()
    return " ".join(text.splitlines()[0].split()) if text else type(e).__name__


def analyze_one(model: str, opts: Dict) -> Dict:
    """One model's row: its JSON report (``report``), or its error; never raises."""
    try:
        from shapealg import report
        from .common import load_model
        a = load_model(model, opts.get("shapes", ()), opts.get("keep_static", False), opts.get("input_shape"))
        cls, words = report.verdict_of(a)
        row = {"model": model, "ok": True, "nodes": len(a.result.nodes), "params": a.result.total_params,
               "macs": report.count_text(a.result.total_macs), "verdict": cls, "words": words}
        if opts.get("sizes"):
            from shapealg.sizes import check_sizes, parse_size, spatial_symbols
            spatial = spatial_symbols(a)
            envs = [parse_size(s, spatial, a.symbols) for s in opts["sizes"]]
            row["sizes"] = [r.to_json() for r in check_sizes(a, envs)]
            row["labels"] = ["x".join(str(e[s]) for s in spatial) for e in envs]
        if opts.get("json"):
            row["report"] = report.to_json(a)
        return row
    except BaseException as e:  # noqa: BLE001 - one bad file is one row
        if isinstance(e, KeyboardInterrupt):
            raise
        return {"model": model, "ok": False, "error": f"{type(e).__name__}: {_one_line(e)}"
                if not type(e).__name__ == "ShapealgError" else _one_line(e)}


def run_all(models: Sequence[str], opts: Dict, jobs: int, on_done=None) -> List[Dict]:
    """Rows in the order of ``models``; ``jobs`` > 1: that many processes."""
    rows: List[Dict] = [None] * len(models)  # type: ignore[list-item]
    if jobs <= 1 or len(models) <= 1:
        for i, m in enumerate(models):
            rows[i] = analyze_one(m, opts)
            if on_done:
                on_done(rows[i])
        return rows
    from concurrent.futures import ProcessPoolExecutor, as_completed
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        futs = {pool.submit(analyze_one, m, opts): i for i, m in enumerate(models)}
        for f in as_completed(futs):
            i = futs[f]
            try:
                rows[i] = f.result()
            except Exception as e:  # noqa: BLE001 - a worker that died (out of memory...)
                rows[i] = {"model": models[i], "ok": False, "error": f"worker failed: {_one_line(e)}"}
            if on_done:
                on_done(rows[i])
    return rows


def summary_blocks(rows: Sequence[Dict], sizes: Sequence[str] = ()) -> list:
    from shapealg.report import Line, Table
    if sizes:
        header = ("model",) + tuple(sizes) + ("verdict",)
        body = []
        for r in rows:
            if not r["ok"]:
                body.append((r["model"],) + ("-",) * len(sizes) + ("error: " + r["error"],))
                continue
            cells = tuple("valid" if s["valid"] else "INVALID" for s in r["sizes"])
            body.append((r["model"],) + cells + (f"{r['verdict']} - {r['words']}",))
    else:
        header = ("model", "nodes", "params", "MACs", "verdict")
        body = [(r["model"], str(r["nodes"]), f"{r['params']:,}", r["macs"], f"{r['verdict']} - {r['words']}")
                if r["ok"] else (r["model"], "", "", "", "error: " + r["error"]) for r in rows]
    bad = sum(1 for r in rows if not r["ok"])
    tail = f"{len(rows)} models" + (f", {bad} could not be analysed" if bad else "")
    return [Table(header, tuple(body), (1, 2) if not sizes else ()), Line(""), Line(tail)]
