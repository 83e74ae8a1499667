"""Issue 16: validate runs the sizes where a dynamic non-image size is 0 (an empty KV cache: the prompt step).

A tiny attention step written with onnx.helper: the past keys [B, 2, P, 8] concatenated with the new keys
[B, 2, S, 8] on axis 2, scores against the queries, a position bias sliced from a 64-long table (so P + S <= 64,
and at P = 0: S <= 64), and a buffer of max(P, 1) positions (its formula is P for P >= 1; at P = 0 it holds 1:
the face lists it in ``differs``). validate must pick P = 0 sizes on its own, expect the face's shape for the
value the face lists, and say where the face is invalid; onnxruntime decides.
"""
from __future__ import annotations

import json
import re
from dataclasses import replace

import numpy as np
import onnx
import pytest
from click.testing import CliRunner
from onnx import TensorProto as T
from onnx import helper as oh
from onnx import numpy_helper as nh

from shapealg import analyze
from shapealg.records import ShapealgError
from shapealg.validate import choose_sizes, sample_sizes, validate
from shapealg.validate.evaluator import evaluator_for


def attention_step(bias: bool = True) -> onnx.ModelProto:
    ins = [oh.make_tensor_value_info("past_key", T.FLOAT, ["B", 2, "P", 8]),
           oh.make_tensor_value_info("key", T.FLOAT, ["B", 2, "S", 8]),
           oh.make_tensor_value_info("query", T.FLOAT, ["B", 2, "S", 8])]
    nodes = [
        oh.make_node("Concat", ["past_key", "key"], ["present_key"], name="cat", axis=2),
        oh.make_node("Transpose", ["present_key"], ["kt"], name="kt", perm=[0, 1, 3, 2]),
        oh.make_node("MatMul", ["query", "kt"], ["scores"], name="qk"),
        oh.make_node("Shape", ["present_key"], ["total"], name="total", start=2, end=3),
        oh.make_node("Slice", ["table", "zero", "total", "three"], ["bias"], name="bias"),
        oh.make_node("Add", ["scores", "bias"], ["biased"], name="add_bias"),
        oh.make_node("Softmax", ["biased"], ["probs"], name="softmax", axis=-1),
        oh.make_node("MatMul", ["probs", "present_key"], ["attn"], name="pv"),
        oh.make_node("Shape", ["past_key"], ["past_len"], name="past_len", start=2, end=3),
        oh.make_node("Max", ["past_len", "one"], ["slots"], name="slots"),
        oh.make_node("ConstantOfShape", ["slots"], ["positions"], name="positions"),
    ]
    inits = [nh.from_array(np.linspace(-1, 1, 64, dtype=np.float32).reshape(1, 1, 1, 64), "table"),
             nh.from_array(np.array([0], np.int64), "zero"), nh.from_array(np.array([3], np.int64), "three"),
             nh.from_array(np.array([1], np.int64), "one")]
    outs = [oh.make_tensor_value_info(n, T.FLOAT, None) for n in ("attn", "present_key", "positions")]
    if not bias:  # the scores go to the softmax as they are: no condition on P + S
        nodes = [n for n in nodes if n.name not in ("total", "bias", "add_bias")]
        nodes[[n.name for n in nodes].index("softmax")].input[0] = "scores"
    m = oh.make_model(oh.make_graph(nodes, "attention_step", ins, outs, inits),
                      opset_imports=[oh.make_opsetid("", 17)])
    m.ir_version = 8
    return m


@pytest.fixture(scope="module")
def step():
    m = attention_step()
    return m, analyze(m)


def test_the_face_at_p0(step):
    """What the rest relies on: P = 0 is valid for S <= 64, and 'positions' takes another shape there."""
    _, a = step
    face = {f.symbol: f for f in a.zero_faces}["P"]
    assert face.valid_somewhere and face.domain.verdict == "locked"
    assert [v for v, _, _ in face.differs] == ["positions"]
    assert a.is_valid(B=2, P=0, S=64) and not a.is_valid(B=2, P=0, S=65)


def test_expected_shape_at_zero_is_the_faces(step):
    """At P = 0 the expected shape of a value the face lists is the face's (not its formula at 0); the others
    are their formulas at 0. Without the face (a deliberately wrong expectation) 'positions' expects [0]."""
    _, a = step
    env = {"B": 2, "P": 0, "S": 3}
    _, shape = evaluator_for(a).shapes_at(env)
    assert shape("positions") == (1,)
    assert shape("present_key") == (2, 2, 3, 8) and shape("attn") == (2, 2, 3, 8)
    assert evaluator_for(a).shapes_at({"B": 2, "P": 5, "S": 3})[1]("positions") == (5,)
    face = {f.symbol: f for f in a.zero_faces}["P"]
    wrong = replace(a, zero_faces=tuple(replace(f, differs=()) if f is face else f for f in a.zero_faces))
    assert evaluator_for(wrong).shapes_at(env)[1]("positions") == (0,)
    # two sizes at 0 are on no analysed face: nothing is expected there
    assert evaluator_for(a).shapes_at({"B": 0, "P": 0, "S": 3})[1]("present_key") is None


def test_chosen_sizes_run_p0(step):
    """choose_sizes puts P = 0 (valid there) second, so a small n keeps it, and a P = 0 size the face says is
    invalid; onnxruntime runs the first with every shape as expected and fails at the second."""
    m, a = step
    plans = choose_sizes(a, n=2)
    assert plans[1].size["P"] == 0 and plans[1].predicted_valid, plans
    plans = choose_sizes(a)
    zero = [p for p in plans if p.size["P"] == 0]
    assert any(p.predicted_valid for p in zero) and any(not p.predicted_valid for p in zero), zero
    rep = validate(m, analysis=a, sizes=plans)
    assert rep.ok, rep.table()
    at0 = [o for o in rep.outcomes if o.size["P"] == 0]
    assert {o.outcome for o in at0} == {"agree", "failed-as-predicted"}, rep.table()
    ran = next(o for o in at0 if o.outcome == "agree")
    assert ran.checked >= 10 and not ran.unknown
    failed = next(o for o in at0 if o.outcome != "agree")
    assert failed.blamed is not None and failed.blamed.node == "add_bias" and failed.size["S"] > 64


def test_wrong_expectation_at_p0_is_caught(step):
    """The same run with the face's 'positions' shape dropped: validate must report the mismatch at P = 0."""
    m, a = step
    face = {f.symbol: f for f in a.zero_faces}["P"]
    wrong = replace(a, zero_faces=tuple(replace(f, differs=()) if f is face else f for f in a.zero_faces))
    rep = validate(m, analysis=wrong, sizes=[{"B": 1, "P": 0, "S": 4}, {"B": 1, "P": 3, "S": 4}])
    assert [o.outcome for o in rep.outcomes] == ["mismatch", "agree"], rep.table()
    mm = rep.outcomes[0].mismatches
    assert [(x.value, x.expected, x.got) for x in mm] == [("positions", (0,), (1,))]
    # the predicted validity at 0 comes from the face: with the face of the step without the position bias
    # (valid for every B, S), S = 65 at P = 0 is predicted valid, and onnxruntime objects
    free = {f.symbol: f for f in analyze(attention_step(bias=False)).zero_faces}["P"]
    assert free.domain.verdict == "size-invariant"
    lax = replace(a, zero_faces=tuple(replace(f, domain=free.domain) if f is face else f for f in a.zero_faces))
    rep = validate(m, analysis=lax, sizes=[{"B": 1, "P": 0, "S": 65}, {"B": 1, "P": 2, "S": 65}])
    assert [o.outcome for o in rep.outcomes] == ["surprise-failed", "failed-as-predicted"], rep.table()


def test_sampled_sizes_include_p0(step):
    m, a = step
    plans = sample_sizes(a, 8, seed=1)
    assert any(p.size["P"] == 0 for p in plans)
    rep = validate(m, analysis=a, sizes=plans)
    assert rep.ok, rep.table()


def test_sizes_of_zero_given(step):
    m, a = step
    rep = validate(m, analysis=a, sizes=["B=2,P=0,S=5", {"B": 2, "P": 0, "S": 70}])
    assert [o.outcome for o in rep.outcomes] == ["agree", "failed-as-predicted"], rep.table()
    with pytest.raises(ShapealgError, match="at a time"):
        validate(m, analysis=a, sizes=[{"B": 0, "P": 0, "S": 5}])


def test_cli_prints_the_zero_size(step, tmp_path):
    from shapealg_cli.main import main
    m, _ = step
    p = tmp_path / "step.onnx"
    onnx.save(m, p)
    r = CliRunner().invoke(main, ["validate", str(p), "--max-sizes", "3", "--format", "markdown"])
    assert r.exit_code == 0, r.output
    row = next(ln for ln in r.output.splitlines() if "P=0" in ln)  # a size with a 0 names every symbol
    assert re.search(r"\bB=1,P=0,S=\d+ *\| *agree *\|.*P = 0: 1 value.*positions", row), r.output
    r = CliRunner().invoke(main, ["validate", str(p), "--size", "B=1,P=0,S=3", "--format", "json"])
    assert r.exit_code == 0, r.output
    size = json.loads(r.output)["sizes"][0]
    assert size["size"] == {"B": 1, "P": 0, "S": 3} and size["outcome"] == "agree" and size["predicted_valid"]
