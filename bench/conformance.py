"""ONNX backend conformance: every output shape of ONNX's own backend tests, three tools side by side.

    python bench/conformance.py [--node-dir /tmp/onnx_node_tests] [--suites node,pytorch-converted,...]
                                [--tools shapealg,onnx,symbolic_shape_infer] [--only REGEX]
                                [--md OUT.md] [--json OUT.json]

Suites: the node tests (generated from ``onnx.backend.test.case.node``: ``load_node_model_tests()`` handed to
``cmd_tools.generate_data``, about a minute, into ``--node-dir``, never into the repository; reused when
already there) and the pytorch-converted / pytorch-operator / simple / light suites the onnx wheel ships under
``onnx/backend/test/data``.

For each test (its model.onnx and test_data_set_0):

1. the graph inputs get the shapes of the test's input tensors; shape-deciding inputs are folded to constants
   (every integer / bool input, and float inputs of at most 16 elements: Resize scales, Range bounds,
   OneHot depth...: they become initializers, removed from the graph inputs); the stored value_info and the
   graph outputs' shapes are removed (types kept);
2. each tool infers shapes on that same model: shapealg (``shapealg.infer.infer``, strict, file dims kept),
   ``onnx.shape_inference.infer_shapes(strict_mode=False, data_prop=True)`` and onnxruntime's
   ``SymbolicShapeInference.infer_shapes(auto_merge=True)``;
3. every graph output is compared with the stored expected output's shape: ``exact`` (every dim equal),
   ``unknown`` (rank or some dim not given, none wrong), ``wrong`` (a given rank or dim differs from the
   expected output) or ``crash`` (the tool raised). A test takes the worst of its outputs (crash > wrong >
   unknown > exact). A sequence output is exact when the tool's element shape matches every element's,
   an optional output when it matches the element's shape (an empty optional: any element shape is unknown).

Output: totals side by side, the per-op table (a test counts under every op type its graph uses, subgraphs
included), the ops with no shapealg rule (and whether onnxruntime can run a test of theirs), the wrong and
crashing tests with their messages. Which of the tests' ops onnxruntime itself cannot run: bench/ort_can_run.py.

Importable: ``generate_node_tests(dir)``, ``collect(node_dir, suites)``, ``prepare(case_dir)``,
``run_case(case_dir, tools)``, ``never_guess(case_dir)``, ``run_all(...)``, ``markdown(results)``.

``--unknown-inputs``: never a guess. Every folded input is also left unknown in turn (a graph input of known
shape, unknown contents: a split's sizes, a Resize's scales, an optional input computed at run time) and
shapealg's outputs must still never be wrong (unknown is fine).
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
import warnings
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import onnx  # noqa: E402
from onnx import numpy_helper  # noqa: E402

__all__ = ["SUITES", "TOOLS", "generate_node_tests", "collect", "prepare", "run_case", "run_all", "markdown",
           "main"]

SUITES = ("node", "pytorch-converted", "pytorch-operator", "simple", "light")
TOOLS = ("shapealg", "onnx", "symbolic_shape_infer")
DATA_DIR = Path(os.path.dirname(onnx.__file__)) / "backend" / "test" / "data"
DEFAULT_NODE_DIR = Path(tempfile.gettempdir()) / "onnx_node_tests"
FOLD_FLOAT_MAX = 16  # float inputs up to this many elements are folded (scales, Range bounds, depths)
_RANK = {"exact": 0, "unknown": 1, "wrong": 2, "crash": 3}
_FLOATS = {onnx.TensorProto.FLOAT, onnx.TensorProto.DOUBLE, onnx.TensorProto.FLOAT16, onnx.TensorProto.BFLOAT16}

# ----------------------------------------------------------------------------- the tests


def generate_node_tests(out_dir, only: Optional[str] = None) -> Path:
    """ONNX's node tests written to ``out_dir/node/<test>`` (skipped when already there); ``only``: a regex
    on the test names (a subset, for CI)."""
    out = Path(out_dir)
    if (out / "node").is_dir() and len(os.listdir(out / "node")) > (0 if only else 100):
        return out / "node"
    import onnx.backend.test.cmd_tools as cmd_tools
    import onnx.backend.test.loader as loader

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cases = [c for c in loader.load_node_model_tests() if only is None or re.search(only, c.name)]

    class _Cases:  # generate_data writes what model_test.collect_testcases returns
        @staticmethod
        def collect_testcases():
            return cases

    saved = cmd_tools.model_test
    cmd_tools.model_test = _Cases
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cmd_tools.generate_data(argparse.Namespace(output=str(out)))
    finally:
        cmd_tools.model_test = saved
    return out / "node"


def collect(node_dir=DEFAULT_NODE_DIR, suites: Sequence[str] = SUITES, only: Optional[str] = None) -> List[Tuple[str, Path]]:
    """(suite, case dir) of every test with a model and a data set."""
    res = []
    for suite in suites:
        base = generate_node_tests(node_dir) if suite == "node" else DATA_DIR / suite
        for name in sorted(os.listdir(base)):
            d = Path(base) / name
            ok = ((d / "model.onnx").is_file() and (d / "test_data_set_0").is_dir()) or \
                (name.endswith(".onnx") and (Path(base) / (name[:-5] + "_output_0.pb")).is_file())  # light/
            if ok and (only is None or re.search(only, name)):
                res.append((suite, d))
    return res


def _read_pb(path: Path, vi: onnx.ValueInfoProto):
    """("tensor", TensorProto) / ("seq", [TensorProto]) / ("opt", TensorProto | None) / ("other", None)."""
    data = path.read_bytes()
    t = vi.type
    if t.HasField("sequence_type"):
        s = onnx.SequenceProto()
        s.ParseFromString(data)
        return "seq", list(s.tensor_values)
    if t.HasField("optional_type"):
        o = onnx.OptionalProto()
        o.ParseFromString(data)
        if o.HasField("tensor_value"):
            return "opt", o.tensor_value
        if o.HasField("sequence_value"):
            return "optseq", list(o.sequence_value.tensor_values)
        return "opt", None
    if t.HasField("tensor_type"):
        tp = onnx.TensorProto()
        tp.ParseFromString(data)
        return "tensor", tp
    return "other", None


def _ops(g: onnx.GraphProto, acc: set) -> set:
    for n in g.node:
        acc.add(n.op_type if n.domain in ("", "ai.onnx") else f"{n.domain}.{n.op_type}")
        for a in n.attribute:
            if a.type == onnx.AttributeProto.GRAPH:
                _ops(a.g, acc)
            for sg in a.graphs:
                _ops(sg, acc)
    return acc


def prepare(case_dir, unfold: Sequence[str] = ()) -> Tuple[onnx.ModelProto, Dict[str, Tuple[str, Any]], List[str]]:
    """The model every tool gets (input shapes from the data, shape-deciding inputs folded, stored shapes
    removed), the expected outputs {name: (kind, dims)}, and the folded input names. Inputs named in
    ``unfold`` stay graph inputs (their shape known, their contents not): the never-guess variants."""
    case_dir = Path(case_dir)
    if case_dir.suffix == ".onnx":  # the light suite: model.onnx's inputs declared in the file, one output file
        model = onnx.load(str(case_dir))
        ds = case_dir.parent / "__none__"
        out_file = lambda j: case_dir.parent / f"{case_dir.stem}_output_{j}.pb"  # noqa: E731
    else:
        model = onnx.load(str(case_dir / "model.onnx"))
        ds = case_dir / "test_data_set_0"
        out_file = lambda j: ds / f"output_{j}.pb"  # noqa: E731
    g = model.graph
    inits = {i.name for i in g.initializer}
    real_inputs = [vi for vi in g.input if vi.name not in inits]
    folded = []
    keep = []
    for j, vi in enumerate(real_inputs):
        p = ds / f"input_{j}.pb"
        if not p.is_file():
            keep.append(vi)
            continue
        kind, val = _read_pb(p, vi)
        if kind != "tensor":
            keep.append(vi)
            continue
        n = int(np.prod(val.dims)) if len(val.dims) else 1
        if vi.name not in unfold and val.data_type not in (onnx.TensorProto.STRING,) and \
                (val.data_type not in _FLOATS or n <= FOLD_FLOAT_MAX):
            t = onnx.TensorProto()
            t.CopyFrom(val)
            t.name = vi.name
            g.initializer.append(t)
            folded.append(vi.name)
            continue
        tt = vi.type.tensor_type
        tt.ClearField("shape")
        tt.shape.SetInParent()
        for d in val.dims:
            tt.shape.dim.add().dim_value = int(d)
        keep.append(vi)
    kept_names = {vi.name for vi in keep} | inits
    new_inputs = [vi for vi in g.input if vi.name in kept_names]
    del g.input[:]
    g.input.extend(new_inputs)
    if folded and model.ir_version < 4:
        model.ir_version = 4  # initializers that are not graph inputs
    del g.value_info[:]
    expected: Dict[str, Tuple[str, Any]] = {}
    for j, vo in enumerate(g.output):
        p = out_file(j)
        if p.is_file():
            kind, val = _read_pb(p, vo)
            if kind == "tensor":
                expected[vo.name] = ("tensor", tuple(int(d) for d in val.dims))
            elif kind in ("seq", "optseq"):
                expected[vo.name] = ("seq", [tuple(int(d) for d in t.dims) for t in val])
            elif kind == "opt":
                expected[vo.name] = ("tensor", None if val is None else tuple(int(d) for d in val.dims))
        _clear_shape(vo.type)
    return model, expected, folded


def _clear_shape(t: onnx.TypeProto) -> None:
    if t.HasField("tensor_type"):
        t.tensor_type.ClearField("shape")
    elif t.HasField("sequence_type"):
        _clear_shape(t.sequence_type.elem_type)
    elif t.HasField("optional_type"):
        _clear_shape(t.optional_type.elem_type)


# ----------------------------------------------------------------------------- the tools
# each returns {output name: predicted shape}: a tuple of (int | None) per dim, or None when the rank is unknown


def _shape_of_type(t: onnx.TypeProto):
    if t.HasField("sequence_type"):
        return _shape_of_type(t.sequence_type.elem_type)
    if t.HasField("optional_type"):
        return _shape_of_type(t.optional_type.elem_type)
    if not t.HasField("tensor_type") or not t.tensor_type.HasField("shape"):
        return None
    return tuple(int(d.dim_value) if d.HasField("dim_value") else None for d in t.tensor_type.shape.dim)


def _from_model(m: onnx.ModelProto) -> Dict[str, Any]:
    found = {vi.name: _shape_of_type(vi.type) for vi in list(m.graph.value_info)}
    for vo in m.graph.output:
        s = _shape_of_type(vo.type)
        if s is not None or vo.name not in found:
            found[vo.name] = s
    return {vo.name: found.get(vo.name) for vo in m.graph.output}


def _tool_shapealg(model: onnx.ModelProto):
    from shapealg.infer import infer

    r = infer(model, symbolize_spatial=False, strict=True)
    out = {}
    for name, shape in r.outputs.items():
        out[name] = None if shape is None else tuple(d if isinstance(d, int) else None for d in shape)
    return out, r


def _tool_onnx(model: onnx.ModelProto):
    return _from_model(onnx.shape_inference.infer_shapes(model, strict_mode=False, data_prop=True)), None


def _tool_ssi(model: onnx.ModelProto):
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
    return _from_model(out), None


_TOOL_FUNCS = {"shapealg": _tool_shapealg, "onnx": _tool_onnx, "symbolic_shape_infer": _tool_ssi}


def _judge(pred, exp: Tuple[str, Any]) -> str:
    kind, want = exp
    shapes = [want] if kind == "tensor" else list(want)
    if kind == "tensor" and want is None:  # an empty optional: nothing to compare
        return "exact" if pred is None else "unknown"
    if pred is None:
        return "unknown"
    verdict = "exact"
    if kind == "seq" and not shapes:
        return "unknown"
    for w in shapes:
        if len(pred) != len(w):
            if kind == "seq":  # elements of different ranks: only "unknown" is right
                return "wrong"
            return "wrong"
        for p, e in zip(pred, w):
            if p is None:
                verdict = "unknown"
            elif p != e:
                return "wrong"
    if kind == "seq" and len(set(shapes)) > 1:  # a single element shape cannot be exact for all
        return "unknown" if verdict != "wrong" else verdict
    return verdict


def run_case(case_dir, tools: Sequence[str] = TOOLS) -> Dict[str, Any]:
    """One test: its ops and, per tool, the verdict, the per-output verdicts, a message."""
    model, expected, folded = prepare(case_dir)
    res: Dict[str, Any] = {"ops": sorted(_ops(model.graph, set())), "folded": folded, "tools": {}}
    for tool in tools:
        t0 = time.perf_counter()
        info: Dict[str, Any] = {}
        try:
            with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), \
                    contextlib.redirect_stderr(io.StringIO()):
                warnings.simplefilter("ignore")
                pred, extra = _TOOL_FUNCS[tool](model)
            per = {name: _judge(pred.get(name), exp) for name, exp in expected.items()}
            info["outputs"] = {k: [v, None if pred.get(k) is None else list(pred[k]), _exp_text(expected[k])]
                               for k, v in per.items()}
            info["verdict"] = max(per.values(), key=_RANK.__getitem__) if per else "exact"
            if tool == "shapealg" and extra is not None:
                info["no_rule"] = sorted({d.op for d in extra.diagnostics if str(d.kind) == "no-rule"})
                info["diagnostics"] = [str(d) for d in extra.diagnostics][:5]
        except Exception as e:  # noqa: BLE001 - a crash is a result
            info["verdict"] = "crash"
            info["message"] = f"{type(e).__name__}: {str(e).splitlines()[0][:300] if str(e) else ''}"
        info["seconds"] = round(time.perf_counter() - t0, 3)
        res["tools"][tool] = info
    return res


def never_guess(case_dir) -> List[Dict[str, Any]]:
    """Each folded input left unknown in turn (its shape known, its contents not): shapealg may lose dims but
    never give a wrong one. [{"input", "verdict", "outputs" / "message"}] per folded input."""
    _, _, folded = prepare(case_dir)
    out = []
    for name in folded:
        model, expected, _ = prepare(case_dir, unfold=(name,))
        try:
            with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), \
                    contextlib.redirect_stderr(io.StringIO()):
                warnings.simplefilter("ignore")
                pred, _r = _tool_shapealg(model)
            per = {k: _judge(pred.get(k), e) for k, e in expected.items()}
            verdict = max(per.values(), key=_RANK.__getitem__) if per else "exact"
            out.append({"input": name, "verdict": verdict,
                        "outputs": {k: [v, None if pred.get(k) is None else list(pred[k]), _exp_text(expected[k])]
                                    for k, v in per.items() if v == "wrong"}})
        except Exception as e:  # noqa: BLE001
            out.append({"input": name, "verdict": "crash", "message": f"{type(e).__name__}: {str(e)[:300]}"})
    return out


def _exp_text(exp):
    return list(exp[1]) if exp[0] == "tensor" and exp[1] is not None else exp[1]


def _ort_runs(case_dir) -> Optional[str]:
    """None when onnxruntime runs the test's model, else its message."""
    try:
        import onnxruntime as ort

        m = onnx.load(str(Path(case_dir) / "model.onnx"))
        so = ort.SessionOptions()
        so.log_severity_level = 4
        sess = ort.InferenceSession(m.SerializeToString(), so, providers=["CPUExecutionProvider"])
        inits = {i.name for i in m.graph.initializer}
        feeds = {}
        real = [vi for vi in m.graph.input if vi.name not in inits]
        for j, vi in enumerate(real):
            p = Path(case_dir) / "test_data_set_0" / f"input_{j}.pb"
            kind, val = _read_pb(p, vi)
            if kind != "tensor":
                return "sequence / optional inputs not fed here"
            feeds[vi.name] = numpy_helper.to_array(val)
        sess.run(None, feeds)
        return None
    except Exception as e:  # noqa: BLE001
        return f"{type(e).__name__}: {str(e).splitlines()[0][:160] if str(e) else ''}"


def run_all(node_dir=DEFAULT_NODE_DIR, suites: Sequence[str] = SUITES, tools: Sequence[str] = TOOLS,
            only: Optional[str] = None, progress: bool = False, unknown_inputs: bool = False) -> Dict[str, Any]:
    cases = collect(node_dir, suites, only)
    results = []
    for i, (suite, d) in enumerate(cases):
        r = run_case(d, tools)
        if unknown_inputs:
            r["never_guess"] = never_guess(d)
        r["suite"], r["name"] = suite, d.name[:-5] if d.suffix == ".onnx" else d.name
        r["dir"] = str(d)
        results.append(r)
        if progress and i % 100 == 0:
            print(f"{i}/{len(cases)}", file=sys.stderr, flush=True)
    missing: Dict[str, Dict[str, Any]] = {}
    if "shapealg" in tools:
        for r in results:
            for op in r["tools"]["shapealg"].get("no_rule", ()):
                m = missing.setdefault(op, {"tests": 0, "ort": None, "examples": []})
                m["tests"] += 1
                m["examples"].append(r["dir"])
        for op, m in missing.items():  # onnxruntime runs the op when it runs one of (up to 4 of) its tests
            for ex in m["examples"][:4]:
                m["ort"] = _ort_runs(ex)
                if m["ort"] is None:
                    break
    return {"tools": list(tools), "results": results, "missing": missing, "unknown_inputs": unknown_inputs}


# ----------------------------------------------------------------------------- report


def totals(results, tools) -> Dict[str, Counter]:
    return {t: Counter(r["tools"][t]["verdict"] for r in results) for t in tools}


def markdown(run: Dict[str, Any]) -> str:
    tools, results = run["tools"], run["results"]
    lines = [f"# ONNX backend conformance: {len(results)} tests (onnx {onnx.__version__})", "",
             "| tool | exact | unknown | wrong | crash |", "|---|---|---|---|---|"]
    for t, c in totals(results, tools).items():
        lines.append(f"| {t} | {c['exact']} | {c['unknown']} | {c['wrong']} | {c['crash']} |")
    lines += ["", "## By suite", "", "| suite | tests | " + " | ".join(f"{t} exact" for t in tools) + " |",
              "|---|---|" + "---|" * len(tools)]
    by_suite = defaultdict(list)
    for r in results:
        by_suite[r["suite"]].append(r)
    for s, rs in by_suite.items():
        lines.append(f"| {s} | {len(rs)} | " + " | ".join(
            str(sum(r["tools"][t]["verdict"] == "exact" for r in rs)) for t in tools) + " |")
    per_op: Dict[str, Dict[str, Counter]] = defaultdict(lambda: defaultdict(Counter))
    for r in results:
        for op in r["ops"]:
            for t in tools:
                per_op[op][t][r["tools"][t]["verdict"]] += 1
                per_op[op][t]["tests"] += 1
    lines += ["", "## Per op (a test counts under every op its graph uses)", "",
              "| op | tests | " + " | ".join(f"{t} exact / unknown / wrong / crash" for t in tools) + " |",
              "|---|---|" + "---|" * len(tools)]
    for op in sorted(per_op):
        c = per_op[op]
        n = c[tools[0]]["tests"]
        lines.append(f"| {op} | {n} | " + " | ".join(
            f"{c[t]['exact']} / {c[t]['unknown']} / {c[t]['wrong']} / {c[t]['crash']}" for t in tools) + " |")
    if run.get("missing"):
        lines += ["", "## Ops without a shapealg rule", "", "| op | tests | onnxruntime runs it |", "|---|---|---|"]
        for op, m in sorted(run["missing"].items(), key=lambda kv: -kv[1]["tests"]):
            lines.append(f"| {op} | {m['tests']} | {'yes' if m['ort'] is None else 'no: ' + m['ort']} |")
    if run.get("unknown_inputs"):
        ng = [(r, v) for r in results for v in r.get("never_guess", ())]
        c = Counter(v["verdict"] for _, v in ng)
        lines += ["", "## Never a guess: each folded input left unknown in turn (shapealg)", "",
                  f"{len(ng)} variants over {sum(1 for r in results if r.get('never_guess'))} tests: "
                  f"exact {c['exact']}, unknown {c['unknown']}, wrong {c['wrong']}, crash {c['crash']}"]
        for r, v in ng:
            if v["verdict"] in ("wrong", "crash"):
                lines.append(f"- {r['suite']}/{r['name']} input {v['input']!r} ({v['verdict']}): "
                             f"{v.get('message') or v.get('outputs')}")
    if "shapealg" in tools:
        unruled = ops_without_rule()
        lines += ["", "## Ops onnx defines with no shapealg rule (whether or not a test uses them)", ""]
        for dom, ops in unruled.items():
            lines.append(f"- {dom or 'ai.onnx'} ({len(ops)}): {', '.join(ops) if ops else 'none'}")
        if not unruled:
            lines.append("none: every op of every domain onnx defines (deprecated ones aside) has a rule")
    for t in tools:
        bad = [r for r in results if r["tools"][t]["verdict"] in ("wrong", "crash")]
        if bad:
            lines += ["", f"## {t}: wrong / crash ({len(bad)})", ""]
            for r in bad[:60]:
                info = r["tools"][t]
                why = info.get("message") or "; ".join(
                    f"{k}: got {v[1]} expected {v[2]}" for k, v in info.get("outputs", {}).items() if v[0] == "wrong")
                lines.append(f"- {r['suite']}/{r['name']} ({info['verdict']}): {why[:300]}")
            if len(bad) > 60:
                lines.append(f"- ... and {len(bad) - 60} more (--json lists them all)")
    return "\n".join(lines) + "\n"


def ops_without_rule() -> Dict[str, List[str]]:
    """{domain: op types} of every op the installed onnx defines (non-deprecated) that has no shapealg rule at
    the op's newest opset."""
    import shapealg.rules  # noqa: F401  (registers every rule)
    from shapealg.rules.registry import lookup
    out: Dict[str, List[str]] = {}
    for sch in onnx.defs.get_all_schemas():
        if sch.deprecated:
            continue
        dom = sch.domain
        if lookup(dom, sch.name, sch.since_version) is None:
            out.setdefault(dom, []).append(sch.name)
    return {d: sorted(v) for d, v in sorted(out.items())}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--node-dir", default=str(DEFAULT_NODE_DIR))
    ap.add_argument("--suites", default=",".join(SUITES))
    ap.add_argument("--tools", default=",".join(TOOLS))
    ap.add_argument("--only", default=None, help="regex on test names")
    ap.add_argument("--unknown-inputs", action="store_true",
                    help="also run shapealg with each folded input left unknown in turn (never a guess)")
    ap.add_argument("--md", default=None)
    ap.add_argument("--json", default=None)
    a = ap.parse_args(argv)
    os.environ.setdefault("SHAPEALG_STRICT", "1")
    run = run_all(a.node_dir, a.suites.split(","), a.tools.split(","), a.only, progress=True,
                  unknown_inputs=a.unknown_inputs)
    md = markdown(run)
    if a.md:
        Path(a.md).write_text(md)
    else:
        print(md)
    if a.json:
        Path(a.json).write_text(json.dumps(run, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
