"""Score shape inference tools against onnxruntime on a corpus of ONNX files.

    python bench/score.py CORPUS_DIR [--names resnet,vit] [--exporters torchscript,dynamo]
                          [--tools shapealg,symbolic_shape_infer,onnx] [--sizes 24]
                          [--md OUT.md] [--json OUT.json] [--include-static]

CORPUS_DIR holds *.onnx files (and optionally bench/corpus.py's manifest.json). For each file:

1. every tool gets the same graph: the file with its value_info removed and its graph outputs' shapes
   cleared (the dynamo exporter writes torch's own symbolic shapes there; a tool must infer, not copy).
   Tools: shapealg (`shapealg.infer.infer`), onnxruntime's `SymbolicShapeInference.infer_shapes(model,
   auto_merge=True)`, `onnx.shape_inference.infer_shapes(model, data_prop=True)`. Each is timed.
2. onnxruntime runs the original file at a grid of sizes (odd, prime, rectangular, small, large) with
   every intermediate exposed; sizes where it fails are recorded and skipped.
3. every dim of every node output ORT produced is scored per tool:
   - "formula": the tool gives an int, or an expression whose symbols are all input dim_params (H, W, N);
     not None / unk__N / fresh or data-dependent symbols. A missing value or unknown rank: no formula.
   - "correct": a formula equal to ORT's dim at every size where the model ran (a wrong rank: every
     dim of that value counts as a wrong formula).
   - the same restricted to "varying" dims: dims whose ORT value differs across the sizes that ran.

Files whose H, W are static in the file (torch.export specialized them) are skipped unless
--include-static: they only run at one size. Output: a Markdown table (per model, then totals) on
stdout or to --md, and the full results (with shapealg's failing dims listed) as JSON to --json.

Importable: `SIZES`, `strip_shapes(model)`, `run_tools(model, tools)`, `ort_truth(path, sizes)`,
`score_file(path, sizes=SIZES, tools=TOOLS)`, `score_corpus(...)`, `markdown(results)`.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import re
import sys
import tempfile
import time
import traceback
import warnings
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import onnx  # noqa: E402
import sympy  # noqa: E402

__all__ = ["SIZES", "TOOLS", "strip_shapes", "run_tools", "ort_truth", "score_file", "score_corpus",
           "markdown", "main"]

# (H, W): square, rectangular both ways, odd, prime, small (some models refuse these: recorded), large.
SIZES: list[tuple[int, int]] = [
    (64, 64), (65, 67), (96, 64), (64, 96), (33, 40), (32, 32), (17, 19), (128, 128), (127, 131),
    (160, 96), (96, 160), (224, 224), (97, 89), (113, 191), (256, 192), (48, 48), (40, 56), (71, 73),
    (80, 80), (143, 111), (192, 256), (31, 37), (320, 240), (8, 8),
]
BATCHES = (1, 2, 3)  # cycled over the sizes for inputs with a dynamic batch dim
TOOLS = ("shapealg", "symbolic_shape_infer", "onnx")

# ----------------------------------------------------------------------------- dims


class _Formula:
    """One tool's dim: an int, an expression in input symbols, or not a formula (text kept)."""

    __slots__ = ("value", "text", "ok")

    def __init__(self, value, text: str, ok: bool):
        self.value, self.text, self.ok = value, text, ok

    def at(self, env: Mapping[str, int]):
        if isinstance(self.value, int):
            return self.value
        v = self.value.xreplace({s: sympy.Integer(env[s.name]) for s in self.value.free_symbols})
        return int(v) if v.is_number else None


_FUNCS = {"floor": sympy.floor, "ceiling": sympy.ceiling, "ceil": sympy.ceiling, "Mod": sympy.Mod,
          "Max": sympy.Max, "Min": sympy.Min, "Piecewise": sympy.Piecewise, "Abs": sympy.Abs,
          "Eq": sympy.Eq, "Ne": sympy.Ne, "And": sympy.And, "Or": sympy.Or, "Not": sympy.Not,
          "CeilToInt": sympy.ceiling, "FloorToInt": sympy.floor}


def _sym(name: str) -> sympy.Symbol:
    return sympy.Symbol(name, integer=True, positive=True)


def _from_text(text: str, inputs: set[str]) -> _Formula:
    """A dim_param string written by a tool -> _Formula (no eval: sympy's parser, names as symbols)."""
    from sympy.parsing.sympy_parser import parse_expr, standard_transformations

    if text.lstrip("-").isdigit():
        return _Formula(int(text), text, True)
    names = {t for t in re.findall(r"[A-Za-z_][A-Za-z_0-9]*", text) if t not in _FUNCS}
    if not names <= inputs:
        return _Formula(None, text, False)
    local = dict(_FUNCS)
    local.update({n: _sym(n) for n in names})
    src = re.sub(r"(\w+)\s*//\s*(\w+)", r"floor((\1)/(\2))", text)  # a//b: floor division
    try:
        e = parse_expr(src, local_dict=local, transformations=standard_transformations)
    except Exception:  # noqa: BLE001
        return _Formula(None, text, False)
    if e.is_Integer:
        return _Formula(int(e), text, True)
    return _Formula(e, text, True)


def _from_shapealg(d, inputs: set[str]) -> _Formula:
    if d is None:
        return _Formula(None, "None", False)
    if isinstance(d, int):
        return _Formula(d, str(d), True)
    names = {s.name for s in d.free_symbols}
    if not names <= inputs:
        return _Formula(None, str(d), False)
    # re-key on plain symbols so _Formula.at can substitute by name
    return _Formula(d.xreplace({s: _sym(s.name) for s in d.free_symbols}), str(d), True)


# ----------------------------------------------------------------------------- tools


def strip_shapes(model: onnx.ModelProto) -> onnx.ModelProto:
    """Copy of `model` without value_info and with the graph outputs' shapes cleared (types kept)."""
    m = onnx.ModelProto()
    m.CopyFrom(model)
    del m.graph.value_info[:]
    for o in m.graph.output:
        if o.type.HasField("tensor_type"):
            o.type.tensor_type.ClearField("shape")
    return m


def _input_symbols(model: onnx.ModelProto) -> set[str]:
    inits = {i.name for i in model.graph.initializer}
    out = set()
    for i in model.graph.input:
        if i.name in inits:
            continue
        for d in i.type.tensor_type.shape.dim:
            if d.dim_param:
                out.add(d.dim_param)
    return out


def _shapes_from_value_info(model: onnx.ModelProto, inputs: set[str]) -> dict[str, list[_Formula] | None]:
    out: dict[str, list[_Formula] | None] = {}
    for vi in list(model.graph.value_info) + list(model.graph.output):
        tt = vi.type.tensor_type
        if not vi.type.HasField("tensor_type") or not tt.HasField("shape"):
            out.setdefault(vi.name, None)
            continue
        dims = []
        for d in tt.shape.dim:
            if d.HasField("dim_value"):
                dims.append(_Formula(int(d.dim_value), str(d.dim_value), True))
            elif d.HasField("dim_param"):
                dims.append(_from_text(d.dim_param, inputs))
            else:
                dims.append(_Formula(None, "?", False))
        out[vi.name] = dims
    return out


def _tool_shapealg(model: onnx.ModelProto, inputs: set[str]):
    from shapealg.infer import infer

    r = infer(model)
    return {name: (None if v.shape is None else [_from_shapealg(d, inputs) for d in v.shape])
            for name, v in r.values.items()}


def _tool_ssi(model: onnx.ModelProto, inputs: set[str]):
    from onnxruntime.tools.symbolic_shape_infer import SymbolicShapeInference

    cwd = os.getcwd()
    with tempfile.TemporaryDirectory() as tmp:  # it writes temp files into the cwd when it fails
        os.chdir(tmp)
        try:
            out = SymbolicShapeInference.infer_shapes(model, auto_merge=True)
        finally:
            os.chdir(cwd)
    if out is None:
        raise RuntimeError("SymbolicShapeInference returned None (incomplete inference)")
    return _shapes_from_value_info(out, inputs)


def _tool_onnx(model: onnx.ModelProto, inputs: set[str]):
    out = onnx.shape_inference.infer_shapes(model, data_prop=True)
    return _shapes_from_value_info(out, inputs)


_TOOL_FUNCS: dict[str, Callable] = {"shapealg": _tool_shapealg, "symbolic_shape_infer": _tool_ssi,
                                    "onnx": _tool_onnx}


def run_tools(model: onnx.ModelProto, tools: Sequence[str] = TOOLS) -> dict[str, dict[str, Any]]:
    """{tool: {"shapes": {value: [_Formula] | None}, "seconds": float, "error": str | None}}."""
    stripped = strip_shapes(model)
    inputs = _input_symbols(model)
    # imports before the clocks start: a tool's time is its analysis, not its import
    import shapealg.infer  # noqa: F401
    from onnxruntime.tools import symbolic_shape_infer  # noqa: F401
    res = {}
    for tool in tools:
        t0 = time.perf_counter()
        err, shapes = None, {}
        try:
            with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), \
                    contextlib.redirect_stderr(io.StringIO()):
                warnings.simplefilter("ignore")
                shapes = _TOOL_FUNCS[tool](stripped, inputs)
        except Exception as e:  # noqa: BLE001 - a failing tool scores 0, with its message
            err = f"{type(e).__name__}: {str(e).splitlines()[0][:200] if str(e) else ''}"
        res[tool] = {"shapes": shapes, "seconds": round(time.perf_counter() - t0, 3), "error": err}
    return res


# ----------------------------------------------------------------------------- ground truth


def _input_specs(model: onnx.ModelProto):
    inits = {i.name for i in model.graph.initializer}
    return [(i.name, [d.dim_param or d.dim_value for d in i.type.tensor_type.shape.dim])
            for i in model.graph.input if i.name not in inits]


def ort_truth(path: str | os.PathLike, sizes: Sequence[tuple[int, int]] = SIZES):
    """Run the file at each (H, W) with every intermediate exposed.
    Returns (runs, failed): runs = [(env, {value: shape})], failed = {"HxW": "node: message"}."""
    from shapealg.validate.session import make_session, run_onnxruntime

    model = onnx.load(str(path))
    specs = _input_specs(model)
    sess = make_session(model)
    runs, failed = [], {}
    for k, (h, w) in enumerate(sizes):
        env = {"H": h, "W": w}
        feeds = {}
        for name, dims in specs:
            shape = []
            for j, d in enumerate(dims):
                if isinstance(d, int) and d > 0:
                    shape.append(d)
                elif d in ("H", "W"):
                    shape.append(env[d])
                elif j == 0:  # a dynamic batch: cycle 1, 2, 3
                    env[d] = BATCHES[k % len(BATCHES)]
                    shape.append(env[d])
                else:
                    raise ValueError(f"input {name}: do not know what to feed for dim {d!r}")
            feeds[name] = tuple(shape)
        r = run_onnxruntime(None, feeds, session=sess)
        key = "x".join(str(env[k2]) for k2 in ("N", "H", "W") if k2 in env)
        if r.ok:
            runs.append((env, r.shapes))
        else:
            failed[key] = f"{r.failing_node}: {(r.error or '')[:200]}"
    return runs, failed


# ----------------------------------------------------------------------------- scoring


def _blank():
    return {"dims": 0, "formula": 0, "correct": 0, "vdims": 0, "vformula": 0, "vcorrect": 0}


def score_shapes(tool_shapes: Mapping[str, Any], runs, values: Iterable[str], keep_failures: int = 0):
    """Score one tool's shapes against ORT's runs. Returns (counts, failures)."""
    c = _blank()
    failures = []
    for name in values:
        actual = [shapes[name] for _, shapes in runs if name in shapes]
        if len(actual) != len(runs) or not actual:
            continue  # not produced at every size that ran (should not happen)
        rank = len(actual[0])
        if any(len(a) != rank for a in actual):
            continue  # rank varies with the size: skip (no tool can express it)
        got = tool_shapes.get(name)
        for ax in range(rank):
            col = [a[ax] for a in actual]
            varying = len(set(col)) > 1
            c["dims"] += 1
            c["vdims"] += varying
            if got is None or len(got) != rank:
                has, right = (got is not None), False
                text = "unknown" if got is None else f"rank {len(got)} vs {rank}"
            else:
                f = got[ax]
                has = f.ok
                text = f.text
                right = False
                if has:
                    try:
                        right = all(f.at(env) == v for (env, _), v in zip(runs, col))
                    except Exception:  # noqa: BLE001
                        right = False
            c["formula"] += has
            c["correct"] += has and right
            if varying:
                c["vformula"] += has
                c["vcorrect"] += has and right
            if (not has or not right) and len(failures) < keep_failures:
                failures.append({"value": name, "axis": ax, "got": text, "has_formula": bool(has),
                                 "ort": {"x".join(str(v) for v in env.values()): a
                                         for (env, _), a in list(zip(runs, col))[:6]}})
    return c, failures


def score_file(path: str | os.PathLike, sizes: Sequence[tuple[int, int]] = SIZES,
               tools: Sequence[str] = TOOLS, keep_failures: int = 200) -> dict[str, Any]:
    """Run the tools and ORT on one file; return its result record."""
    path = Path(path)
    model = onnx.load(str(path))
    rec: dict[str, Any] = {"file": path.name, "nodes": len(model.graph.node),
                           "inputs": {n: d for n, d in _input_specs(model)}}
    t0 = time.perf_counter()
    runs, failed = ort_truth(path, sizes)
    rec["ort_seconds"] = round(time.perf_counter() - t0, 2)
    rec["sizes_run"] = [dict(env) for env, _ in runs]
    rec["sizes_failed"] = failed
    tool_res = run_tools(model, tools)
    values = [o for n in model.graph.node for o in n.output if o]
    rec["tools"] = {}
    for tool in tools:
        tr = tool_res[tool]
        counts, fails = score_shapes(tr["shapes"], runs, values,
                                     keep_failures=keep_failures if tool == "shapealg" else 20)
        rec["tools"][tool] = {"seconds": tr["seconds"], "error": tr["error"], **counts, "failures": fails}
    return rec


def _is_static_file(path: Path) -> bool:
    m = onnx.load(str(path), load_external_data=False)
    specs = _input_specs(m)
    return not any(isinstance(d, str) for _, dims in specs for d in dims[2:])


def score_corpus(corpus: str | os.PathLike, names: Sequence[str] | None = None,
                 exporters: Sequence[str] | None = None, sizes=SIZES, tools=TOOLS,
                 include_static: bool = False, progress: bool = True) -> dict[str, Any]:
    corpus = Path(corpus)
    files = sorted(corpus.glob("*.onnx"))
    order = []
    with contextlib.suppress(OSError, ValueError, KeyError):
        order = [e["path"] for e in json.loads((corpus / "manifest.json").read_text())["models"]]
    files.sort(key=lambda p: (order.index(p.name) if p.name in order else len(order), p.name))
    results, skipped = [], {}
    for p in files:
        name, _, exporter = p.name[:-5].rpartition(".")
        if names and name not in names:
            continue
        if exporters and exporter not in exporters:
            continue
        if not include_static and _is_static_file(p):
            skipped[p.name] = "H, W static in the file"
            continue
        if progress:
            print(f"[score] {p.name} ...", file=sys.stderr, flush=True)
        try:
            rec = score_file(p, sizes, tools)
        except Exception as e:  # noqa: BLE001
            skipped[p.name] = f"scorer error: {type(e).__name__}: {e}"
            traceback.print_exc()
            continue
        rec["name"], rec["exporter"] = name, exporter
        results.append(rec)
        if progress:
            s = rec["tools"].get("shapealg")
            if s:
                print(f"[score] {p.name}: ran {len(rec['sizes_run'])}/{len(sizes)} sizes; shapealg "
                      f"{s['formula']}/{s['dims']} formula, {s['correct']} correct ({s['seconds']}s)",
                      file=sys.stderr, flush=True)
    return {"sizes": [list(s) for s in sizes], "tools": list(tools), "results": results, "skipped": skipped,
            "totals": totals(results, tools)}


def totals(results, tools=TOOLS):
    tot = {}
    for tool in tools:
        c = _blank()
        secs = 0.0
        for r in results:
            t = r["tools"][tool]
            for k in c:
                c[k] += t[k]
            secs += t["seconds"]
        c["seconds"] = round(secs, 2)
        tot[tool] = c
    return tot


# ----------------------------------------------------------------------------- report


def _pct(a, b):
    return "-" if b == 0 else f"{100.0 * a / b:.1f}"


_SHORT = {"shapealg": "shapealg", "symbolic_shape_infer": "ssi", "onnx": "onnx"}


def markdown(out: Mapping[str, Any]) -> str:
    tools = out["tools"]
    head = ["model", "exp", "nodes", "sizes ran", "dims", "varying"]
    for t in tools:
        s = _SHORT.get(t, t)
        head += [f"{s} cov%", f"{s} correct%", f"{s} var cov%", f"{s} s"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]

    def row(label, exp, nodes, ran, data):
        first = next(iter(data.values()))
        cells = [label, exp, str(nodes), ran, str(first["dims"]), str(first["vdims"])]
        for t in tools:
            d = data[t]
            err = " (failed)" if d.get("error") else ""
            cells += [_pct(d["formula"], d["dims"]) + err, _pct(d["correct"], d["formula"]),
                      _pct(d["vformula"], d["vdims"]), f"{d['seconds']:.2f}"]
        return "| " + " | ".join(cells) + " |"

    for r in out["results"]:
        n = len(out["sizes"])
        lines.append(row(r["name"], r["exporter"][:5], r["nodes"], f"{len(r['sizes_run'])}/{n}", r["tools"]))
    nodes = sum(r["nodes"] for r in out["results"])
    lines.append(row(f"**total ({len(out['results'])} files)**", "", nodes, "", out["totals"]))
    text = "\n".join(lines)
    tot = out["totals"]
    text += "\n\ncov% = dims with a formula (int or expression in the input symbols); correct% = of those, equal " \
            "to onnxruntime at every size that ran; var cov% = coverage of the dims that vary with the size.\n"
    for t in tools:
        d = tot[t]
        text += (f"\n- {t}: {d['formula']}/{d['dims']} dims with a formula ({_pct(d['formula'], d['dims'])}%), "
                 f"{d['correct']} correct ({_pct(d['correct'], d['formula'])}% of formulas, "
                 f"{_pct(d['correct'], d['dims'])}% of all dims); varying dims: {d['vformula']}/{d['vdims']} "
                 f"({_pct(d['vformula'], d['vdims'])}%), {d['vcorrect']} correct; {d['seconds']} s in all")
    if out.get("skipped"):
        text += "\n\nskipped: " + "; ".join(f"{k} ({v})" for k, v in out["skipped"].items())
    return text + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("corpus")
    ap.add_argument("--names", default=None)
    ap.add_argument("--exporters", default=None)
    ap.add_argument("--tools", default=",".join(TOOLS))
    ap.add_argument("--sizes", type=int, default=len(SIZES), help="use the first N sizes of the grid")
    ap.add_argument("--md", default=None, help="write the Markdown table here (default: stdout)")
    ap.add_argument("--json", default=None, help="write the full results here")
    ap.add_argument("--include-static", action="store_true")
    a = ap.parse_args(argv)
    out = score_corpus(a.corpus, names=a.names.split(",") if a.names else None,
                       exporters=a.exporters.split(",") if a.exporters else None,
                       sizes=SIZES[: a.sizes], tools=tuple(a.tools.split(",")), include_static=a.include_static)
    md = markdown(out)
    if a.md:
        Path(a.md).write_text(md)
    else:
        print(md)
    if a.json:
        Path(a.json).write_text(json.dumps(out, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
