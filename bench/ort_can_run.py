"""Which ops of ONNX's backend conformance tests onnxruntime itself can run: the "onnxruntime runs it" column.

    python bench/ort_can_run.py [--node-dir /tmp/onnx_node_tests] [--only REGEX] [--md OUT.md] [--json OUT.json]

Every test of bench/conformance.py's suites (its model and test_data_set_0, sequence and optional inputs fed as
lists / tensors) is run once in onnxruntime (CPU, graph optimizations off, only the first data set). An op runs
when at least one test using it runs; an op none of whose tests runs is listed with the first refusal's
message and the number of its tests. A refusal of a test that uses several ops is charged to each of them,
so an op listed as not run is confirmed by its messages, which the table shows; ``--verify`` also builds a
one-node model of each such op and tries it at several opsets (an op onnxruntime lacks only at the tests'
opset runs at an older one).
"""
from __future__ import annotations

import argparse
import json
import re
import sys
import warnings
from collections import defaultdict
from pathlib import Path
from typing import Any, Dict, Optional

ROOT = Path(__file__).resolve().parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import onnx  # noqa: E402
from onnx import numpy_helper  # noqa: E402

import conformance  # noqa: E402


def run_test(case_dir: Path) -> Optional[str]:
    """None when onnxruntime runs the test's model on its first data set, else why not (one line)."""
    import onnxruntime as ort

    try:
        if case_dir.suffix == ".onnx":  # the light suite: no inputs stored, fed from the declared shapes
            m = onnx.load(str(case_dir))
            ds = None
        else:
            m = onnx.load(str(case_dir / "model.onnx"))
            ds = case_dir / "test_data_set_0"
        so = ort.SessionOptions()
        so.log_severity_level = 4
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        sess = ort.InferenceSession(m.SerializeToString(), so, providers=["CPUExecutionProvider"])
        inits = {i.name for i in m.graph.initializer}
        feeds: Dict[str, Any] = {}
        for j, vi in enumerate(x for x in m.graph.input if x.name not in inits):
            if ds is None:
                t = vi.type.tensor_type
                shape = [d.dim_value or 1 for d in t.shape.dim]
                feeds[vi.name] = np.zeros(shape, onnx.helper.tensor_dtype_to_np_dtype(t.elem_type))
                continue
            p = ds / f"input_{j}.pb"
            if not p.is_file():
                continue
            kind, val = conformance._read_pb(p, vi)
            if kind == "tensor":
                feeds[vi.name] = numpy_helper.to_array(val)
            elif kind in ("seq", "optseq"):
                feeds[vi.name] = [numpy_helper.to_array(t) for t in val]
            elif kind == "opt":
                feeds[vi.name] = None if val is None else numpy_helper.to_array(val)
            else:
                return "an input of a type not fed here (map)"
        sess.run(None, feeds)
        return None
    except Exception as e:  # noqa: BLE001 - a refusal is the result
        text = str(e).replace("\n", " ")
        return f"{type(e).__name__}: {text[:220]}"


def run_all(node_dir=conformance.DEFAULT_NODE_DIR, suites=conformance.SUITES, only: Optional[str] = None,
            progress: bool = False) -> Dict[str, Any]:
    per_op: Dict[str, Dict[str, Any]] = defaultdict(lambda: {"tests": 0, "ran": 0, "refusals": []})
    tests = []
    cases = conformance.collect(node_dir, suites, only)
    for i, (suite, d) in enumerate(cases):
        model_path = d if d.suffix == ".onnx" else d / "model.onnx"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ops = sorted(conformance._ops(onnx.load(str(model_path)).graph, set()))
            why = run_test(d)
        tests.append({"suite": suite, "name": d.name, "ops": ops, "ort": why})
        for op in ops:
            rec = per_op[op]
            rec["tests"] += 1
            if why is None:
                rec["ran"] += 1
            else:
                rec["refusals"].append(f"{d.name}: {why}")
        if progress and i % 200 == 0:
            print(f"{i}/{len(cases)}", file=sys.stderr, flush=True)
    return {"tests": tests, "ops": dict(per_op)}


def markdown(run: Dict[str, Any]) -> str:
    ops = run["ops"]
    never = {op: r for op, r in ops.items() if r["ran"] == 0}
    n_ran = sum(t["ort"] is None for t in run["tests"])
    lines = [f"## Ops onnxruntime cannot run ({len(never)} of {len(ops)} ops the tests use)", "",
             f"onnxruntime {_ort_version()} (CPU) ran {n_ran} of {len(run['tests'])} tests (bench/ort_can_run.py). "
             "An op is listed when none of its tests runs; the message is the first refusal.", "",
             "| op | tests | onnxruntime's refusal |", "|---|---|---|"]
    for op, r in sorted(never.items()):
        msg = r["refusals"][0] if r["refusals"] else ""
        lines.append(f"| {op} | {r['tests']} | {msg[:260].replace('|', '/')} |")
    partial = {op: r for op, r in ops.items() if 0 < r["ran"] < r["tests"]}
    lines += ["", f"Ops onnxruntime runs in some of their tests only ({len(partial)}): " + ", ".join(
        f"{op} ({r['ran']}/{r['tests']})" for op, r in sorted(partial.items())) + "."]
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------ verification: one small model per op


def _one(nodes, ins, feeds, opset: int, domains=()) -> Optional[str]:
    """None when onnxruntime runs the model, else its refusal (one line)."""
    import onnxruntime as ort
    from onnx import helper as oh

    g = oh.make_graph(nodes, "g", ins, [oh.make_empty_tensor_value_info(o) for n in nodes for o in n.output])
    m = oh.make_model(g, opset_imports=[oh.make_opsetid("", opset)] + [oh.make_opsetid(d, v) for d, v in domains])
    m.ir_version = 11 if opset >= 25 else 10 if opset >= 19 else 8
    so = ort.SessionOptions()
    so.log_severity_level = 4
    try:
        ort.InferenceSession(m.SerializeToString(), so, providers=["CPUExecutionProvider"]).run(None, feeds)
        return None
    except Exception as e:  # noqa: BLE001
        return re.sub(r"\[ONNXRuntimeError\] : \d+ : ", "", str(e).replace("\n", " "))[:160]


def _verify_cases():
    from onnx import TensorProto as T
    from onnx import helper as oh

    f32 = lambda *s: np.random.default_rng(0).random(s).astype(np.float32)  # noqa: E731
    vi = oh.make_tensor_value_info
    n = oh.make_node
    x = lambda *s: vi("x", T.FLOAT, list(s))  # noqa: E731
    tr = "ai.onnx.preview.training"
    fl = [vi(f"i{k}", T.FLOAT, [2]) for k in range(6)]
    ones = {f"i{k}": np.ones(2, np.float32) for k in range(6)}
    return {
        "Bernoulli": ([n("Bernoulli", ["x"], ["y"])], [x(2, 3)], {"x": f32(2, 3)}, ()),
        "RandomUniformLike": ([n("RandomUniformLike", ["x"], ["y"])], [x(2, 3)], {"x": f32(2, 3)}, ()),
        "DequantizeLinear": ([n("DequantizeLinear", ["q", "s"], ["y"])], [vi("q", T.UINT8, [4]), vi("s", T.FLOAT, [])],
                             {"q": np.arange(4, dtype=np.uint8), "s": np.array(0.5, np.float32)}, ()),
        "QuantizeLinear": ([n("QuantizeLinear", ["x", "s", "z"], ["y"])],
                           [x(4), vi("s", T.FLOAT, []), vi("z", T.UINT8, [])],
                           {"x": f32(4), "s": np.array(0.5, np.float32), "z": np.array(1, np.uint8)}, ()),
        "RoiAlign": ([n("RoiAlign", ["x", "r", "b"], ["y"], output_height=2, output_width=2)],
                     [x(1, 1, 4, 4), vi("r", T.FLOAT, [1, 4]), vi("b", T.INT64, [1])],
                     {"x": f32(1, 1, 4, 4), "r": np.array([[0, 0, 2, 2]], np.float32), "b": np.zeros(1, np.int64)}, ()),
        "ImageDecoder": ([n("ImageDecoder", ["x"], ["y"])], [vi("x", T.UINT8, [10])], {"x": np.zeros(10, np.uint8)}, ()),
        "Swish": ([n("Swish", ["x"], ["y"])], [x(2, 3)], {"x": f32(2, 3)}, ()),
        "SwiGLU": ([n("SwiGLU", ["x", "b"], ["y"])], [x(2, 4), vi("b", T.FLOAT, [2, 4])],
                   {"x": f32(2, 4), "b": f32(2, 4)}, ()),
        "Optional + OptionalHasElement": ([n("Optional", ["x"], ["o"]), n("OptionalHasElement", ["o"], ["y"])], [x(2)],
                                          {"x": f32(2)}, ()),
        "Optional + OptionalGetElement": ([n("Optional", ["x"], ["o"]), n("OptionalGetElement", ["o"], ["y"])], [x(2)],
                                          {"x": f32(2)}, ()),
        "StringNormalizer (default locale)": ([n("StringNormalizer", ["x"], ["y"], case_change_action="LOWER")],
                                              [vi("x", T.STRING, [2])], {"x": np.array(["A", "b"], dtype=object)}, ()),
        "FlexAttention": ([n("FlexAttention", ["i0", "i1", "i2"], ["y"], domain="ai.onnx.preview")], fl[:3], ones,
                          (("ai.onnx.preview", 1),)),
        "Adagrad": ([n("Adagrad", [f"i{k}" for k in range(5)], ["y"], domain=tr)], fl[:5], ones, ((tr, 1),)),
        "Adam": ([n("Adam", [f"i{k}" for k in range(6)], ["y"], domain=tr)], fl[:6], ones, ((tr, 1),)),
        "Momentum": ([n("Momentum", [f"i{k}" for k in range(5)], ["y"], domain=tr)], fl[:5], ones, ((tr, 1),)),
        "Gradient": ([n("Add", ["i0", "i1"], ["c"]), n("Gradient", ["i0", "i1"], ["d"], domain=tr, xs=["i0"], y="c")],
                     fl[:2], ones, ((tr, 1),)),
    }


VERIFY_OPSETS = (28, 25, 24, 22, 21, 18)


def verify() -> str:
    """Each op of the list tried alone at several opsets: which opsets onnxruntime runs it at."""
    lines = ["| op (a one-node model) | " + " | ".join(f"opset {o}" for o in VERIFY_OPSETS) + " |",
             "|---|" + "---|" * len(VERIFY_OPSETS)]
    notes = {}
    for name, (nodes, ins, feeds, doms) in _verify_cases().items():
        cells = []
        for o in VERIFY_OPSETS:
            why = _one(nodes, ins, feeds, o, [(d, v) for d, v in doms])
            if why is None:
                cells.append("runs")
                continue
            key = ("no kernel" if "NOT_IMPLEMENTED" in why else "not registered" if "not a registered" in why
                   or "No Op registered" in why or "No opset import" in why else "refused")
            notes.setdefault(f"{name}: {key}", why)
            cells.append(key)
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += ["", "First refusal of each kind:", ""] + [f"- {k}: {v}" for k, v in notes.items()]
    return "\n".join(lines) + "\n"


def _ort_version() -> str:
    import onnxruntime as ort
    return ort.__version__


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--node-dir", default=str(conformance.DEFAULT_NODE_DIR))
    ap.add_argument("--suites", default=",".join(conformance.SUITES))
    ap.add_argument("--only", default=None, help="regex on test names")
    ap.add_argument("--md", default=None)
    ap.add_argument("--json", default=None)
    ap.add_argument("--verify", action="store_true", help="also try each op of the list alone at several opsets")
    a = ap.parse_args(argv)
    run = run_all(a.node_dir, a.suites.split(","), a.only, progress=True)
    md = markdown(run)
    if a.verify:
        md += "\n### Verified one op at a time\n\n" + verify()
    if a.md:
        Path(a.md).write_text(md)
    else:
        print(md)
    if a.json:
        Path(a.json).write_text(json.dumps(run, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
