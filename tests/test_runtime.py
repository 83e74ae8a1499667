"""Tests of shapealg.validate.session (onnxruntime runs) and a smoke test of tests/models.py.

Findings about onnxruntime 1.32 (CPU), checked by the tests below
(test_conv_*, test_pool_*), sizes 1..40, kernels 2..5, strides 1..3, pads 0..2,
dilations 1..2, against torch 2.13's nn.MaxPool2d / nn.AvgPool2d:

(a) Undersized Conv / pool outputs do NOT behave alike in onnxruntime.
    - Conv: fails ("Invalid input shape: {h,w}") exactly when the padded input is
      smaller than the dilated kernel, i.e. when floor((H+pads-dk)/s)+1 < 1. Same
      boundary as torch. A Conv on an *empty* input (dim 0) with pads > 0 runs and
      returns a non-empty output (0x0 input, k=1, pads 1 -> 2x2).
    - MaxPool / AveragePool (ceil_mode=0): onnxruntime computes
      out = trunc((H + pad_begin + pad_end - dk) / s) + 1 with C++ truncation toward
      zero, and fails ("Calculated output dimension is negative") only when out < 0.
      So where torch raises, onnxruntime may instead return an EMPTY tensor (out == 0,
      e.g. MaxPool k=5 s=1 on H=4) or even a size-1 output (out == 1 where the true
      floor formula gives 0: MaxPool k=2 s=2 on H=1; k=5 s=2 on H=4; k=4 s=3 on H=2,3).
      Empty tensors then flow on: Flatten gives (1, 0), a Gemm with K=0 weights runs,
      GlobalAveragePool fails ("Only N can be zero").
    - ceil_mode=1 in the undersized region: out = ceil(x/s)+1 (then the drop rule
      below); empty tensors where that is 0.
    Consequence for a domain analysis: "every output dim >= 1" equals torch's
    validity and onnxruntime's for Conv, but for pools onnxruntime accepts more
    (empty or size-1 outputs) at sizes below the minimum; the model as a whole
    usually still fails further down (a Gemm / Reshape / GlobalPool), at another node.
(b) MaxPool ceil_mode=1, pads 0, 1 (and 2): onnxruntime drops the last window when it
    would start in the right padding ((out-1)*s >= H + pad_begin -> out -= 1), exactly
    like torch: out = ceil((H+2p-dk)/s)+1, minus 1 when (out-1)*s >= H+p. Equal to
    torch at every size where torch runs (100 drop cases in the sweep).
(c) AveragePool: same as (b), same formula, same agreement with torch
    (count_include_pad irrelevant to shapes).
"""

from __future__ import annotations

import math

import numpy as np
import onnx
import pytest
from onnx import TensorProto as T
from onnx import helper as h

from shapealg.validate.session import RunResult, expose_all, make_session, parse_failing_node, run_onnxruntime

OPSET = [h.make_opsetid("", 17)]


def _model(nodes, inputs, outputs, inits=()):
    g = h.make_graph(nodes, "g", inputs, outputs, list(inits))
    return h.make_model(g, opset_imports=OPSET)


def _vi(name, shape, elem=T.FLOAT):
    return h.make_tensor_value_info(name, elem, shape)


def _conv_chain():
    """x(1,3,H,W) -> Conv(3x3,p1) -> Relu -> MaxPool(2) -> Flatten -> Gemm(K=4*4*4)."""
    w = h.make_tensor("w", T.FLOAT, [4, 3, 3, 3], np.zeros(108, np.float32))
    gw = h.make_tensor("gw", T.FLOAT, [5, 64], np.zeros(320, np.float32))
    nodes = [
        h.make_node("Conv", ["x", "w"], ["c"], name="conv", pads=[1, 1, 1, 1]),
        h.make_node("Relu", ["c"], ["r"], name="relu"),
        h.make_node("MaxPool", ["r"], ["p"], name="pool", kernel_shape=[2, 2], strides=[2, 2]),
        h.make_node("Flatten", ["p"], ["f"], name="flat"),
        h.make_node("Gemm", ["f", "gw"], ["y"], name="gemm", transB=1),
    ]
    return _model(nodes, [_vi("x", [1, 3, "H", "W"])], [_vi("y", [1, 5])], [w, gw])


def test_expose_all_copies_and_adds_every_node_output():
    m = _conv_chain()
    before = m.SerializeToString()
    e = expose_all(m)
    assert m.SerializeToString() == before
    assert [o.name for o in e.graph.output] == ["y", "c", "r", "p", "f"]
    # added outputs carry no shape
    assert all(not o.type.tensor_type.HasField("shape") for o in e.graph.output[1:])


def test_run_ok_records_every_shape():
    r = run_onnxruntime(_conv_chain(), {"x": (1, 3, 8, 8)})
    assert isinstance(r, RunResult) and r.ok and r.error is None and r.failing_node is None
    assert r.shapes == {
        "x": (1, 3, 8, 8), "c": (1, 4, 8, 8), "r": (1, 4, 8, 8), "p": (1, 4, 4, 4), "f": (1, 64), "y": (1, 5),
    }
    r = run_onnxruntime(_conv_chain(), {"x": (1, 3, 9, 8)}, expose=False)  # floor(9/2) == 4
    assert r.ok and set(r.shapes) == {"x", "y"}


def test_run_failure_names_the_node():
    r = run_onnxruntime(_conv_chain(), {"x": (1, 3, 10, 8)})
    assert not r.ok and r.failing_node == "gemm" and r.shapes == {}
    assert "\n" not in r.error and "Gemm" in r.error


def test_session_reused_across_sizes():
    sess = make_session(_conv_chain())
    ok = {hw: run_onnxruntime(None, {"x": (1, 3) + hw}, session=sess).ok for hw in [(8, 8), (9, 9), (10, 8), (2, 32)]}
    assert ok == {(8, 8): True, (9, 9): True, (10, 8): False, (2, 32): True}


def test_error_at_session_creation():
    w = h.make_tensor("w", T.FLOAT, [5, 3], np.zeros(15, np.float32))
    m = _model([h.make_node("MatMul", ["x", "w"], ["y"], name="mm")], [_vi("x", [1, 4])], [_vi("y", None)], [w])
    r = run_onnxruntime(m, {"x": (1, 4)})
    assert not r.ok and r.failing_node == "mm" and "ShapeInferenceError" in r.error


def test_int_and_bool_inputs_and_initializer_inputs():
    data = h.make_tensor("data", T.FLOAT, [4, 2], np.arange(8, dtype=np.float32))
    nodes = [
        h.make_node("Gather", ["data", "idx"], ["g"], name="gather", axis=0),
        h.make_node("Cast", ["mask"], ["mf"], name="cast", to=T.FLOAT),
        h.make_node("Mul", ["g", "mf"], ["y"], name="mul"),
    ]
    inputs = [_vi("idx", ["N"], T.INT64), _vi("mask", ["N", 2], T.BOOL), _vi("data", [4, 2])]
    r = run_onnxruntime(_model(nodes, inputs, [_vi("y", None)], [data]), {"idx": (7,), "mask": (7, 2)})
    assert r.ok, r.error
    assert r.shapes["g"] == (7, 2) and r.shapes["y"] == (7, 2)
    with pytest.raises(ValueError, match="idx"):
        run_onnxruntime(_model(nodes, inputs, [_vi("y", None)], [data]), {"mask": (7, 2)})


def test_cuda_without_provider_is_a_clear_error():
    import onnxruntime as ort

    if "CUDAExecutionProvider" in ort.get_available_providers():
        r = run_onnxruntime(_conv_chain(), {"x": (1, 3, 8, 8)}, device="cuda")
        assert r.ok
    else:
        with pytest.raises(RuntimeError, match="CUDAExecutionProvider"):
            make_session(_conv_chain(), device="cuda")


@pytest.mark.parametrize(
    "msg, node",
    [
        ("[ONNXRuntimeError] : 2 : INVALID_ARGUMENT : Non-zero status code returned while running Gemm node. "
         "Name:'/net/net.6/Gemm' Status Message: GEMM: Dimension mismatch", "/net/net.6/Gemm"),
        ("[ONNXRuntimeError] : 1 : FAIL : Node (mm) Op (MatMul) [ShapeInferenceError] Incompatible", "mm"),
        ("Invalid rank for input: x Got: 3 Expected: 2", None),
    ],
)
def test_parse_failing_node(msg, node):
    assert parse_failing_node(msg) == node


# ----------------------------------------------------------------- ORT findings (a), (b), (c)


def _single(op, **attrs):
    inits, ins = [], ["x"]
    if op == "Conv":
        k = attrs.pop("k")
        inits = [h.make_tensor("w", T.FLOAT, [1, 1, k, 1], np.ones(k, np.float32))]
        ins = ["x", "w"]
    node = h.make_node(op, ins, ["y"], name="the_node", **attrs)
    return _model([node], [_vi("x", [1, 1, "H", 1])], [_vi("y", None)], inits)


def _ort_sizes(model, sizes):
    sess = make_session(model)
    out = {}
    for n in sizes:
        r = run_onnxruntime(None, {"x": (1, 1, n, 1)}, session=sess)
        out[n] = r.shapes["y"][2] if r.ok else None
    return out


def test_conv_undersized_fails():
    # k=5, s=2, p=1: padded input 2+1+1 < 5 -> fails; 3+2 == 5 -> 1
    got = _ort_sizes(_single("Conv", k=5, strides=[2, 1], pads=[1, 0, 1, 0]), range(1, 6))
    assert got == {1: None, 2: None, 3: 1, 4: 1, 5: 2}


def test_pool_undersized_empty_or_truncated():
    # MaxPool k=5 s=1: H=4 -> empty (0), H=3 -> error
    assert _ort_sizes(_single("MaxPool", kernel_shape=[5, 1]), [3, 4, 5]) == {3: None, 4: 0, 5: 1}
    # MaxPool k=2 s=2 on H=1: trunc(-1/2)+1 == 1 where torch raises
    assert _ort_sizes(_single("MaxPool", kernel_shape=[2, 1], strides=[2, 1]), [1]) == {1: 1}
    assert _ort_sizes(_single("AveragePool", kernel_shape=[5, 1], strides=[2, 1]), [1, 2, 3, 4]) == {1: None, 2: 0, 3: 0, 4: 1}


def _torch_pool(op, k, s, p, ceil, n):
    import torch

    cls = torch.nn.MaxPool2d if op == "MaxPool" else torch.nn.AvgPool2d
    try:
        return cls((k, 1), (s, 1), (p, 0), ceil_mode=ceil)(torch.zeros(1, 1, n, 1)).shape[2]
    except RuntimeError:
        return None


@pytest.mark.parametrize("op", ["MaxPool", "AveragePool"])
@pytest.mark.parametrize("k, s, p", [(2, 2, 0), (2, 2, 1), (3, 2, 0), (3, 2, 1), (3, 3, 1), (4, 3, 1), (2, 3, 1)])
def test_pool_ceil_mode_matches_torch(op, k, s, p):
    sizes = range(1, 41)
    got = _ort_sizes(_single(op, kernel_shape=[k, 1], strides=[s, 1], pads=[p, 0, p, 0], ceil_mode=1), sizes)
    for n in sizes:
        want = _torch_pool(op, k, s, p, True, n)
        # formula with the drop of a window starting in the right padding
        o = math.ceil((n + 2 * p - k) / s) + 1
        if (o - 1) * s >= n + p:
            o -= 1
        if want is not None:
            assert got[n] == want == o, (n, got[n], want, o)
        else:  # torch refuses: ORT gives an empty tensor or fails
            assert got[n] in (0, None, o)


# ----------------------------------------------------------------- the seed model, exported


try:
    from tests.models import export_onnx, seed_model
except ImportError:  # tests/ itself on sys.path (pytest's default prepend import mode)
    from models import export_onnx, seed_model


@pytest.fixture(scope="module")
def seed_torchscript(tmp_path_factory):
    path, note = export_onnx(seed_model(), tmp_path_factory.mktemp("seed") / "seed.onnx", exporter="torchscript")
    assert note == "torchscript dynamic"
    return path


def test_seed_model_torchscript_224_and_448(seed_torchscript):
    m = onnx.load(seed_torchscript, load_external_data=False)
    assert [n.op_type for n in m.graph.node] == ["Conv", "Relu", "MaxPool", "Conv", "Relu", "Flatten", "Gemm", "Relu", "Gemm"]
    dims = [d.dim_param or d.dim_value for d in m.graph.input[0].type.tensor_type.shape.dim]
    assert dims == [1, 3, "H", "W"]

    sess = make_session(seed_torchscript)
    r = run_onnxruntime(None, {"x": (1, 3, 224, 224)}, session=sess)
    assert r.ok, r.error
    shapes = [r.shapes[n.output[0]] for n in m.graph.node]
    # the notebook's printout, layer by layer
    assert shapes == [
        (1, 16, 224, 224), (1, 16, 224, 224), (1, 16, 112, 112), (1, 32, 110, 110), (1, 32, 110, 110),
        (1, 387200), (1, 64), (1, 64), (1, 10),
    ]
    r = run_onnxruntime(None, {"x": (1, 3, 448, 448)}, session=sess)
    assert not r.ok and r.failing_node == "/net/net.6/Gemm"
    # valid exactly where 32*(floor(H/2)-2)*(floor(W/2)-2) == 387200
    for hw in [(204, 246), (225, 225), (6, 24204)]:
        assert run_onnxruntime(None, {"x": (1, 3) + hw}, session=sess).ok, hw
    assert not run_onnxruntime(None, {"x": (1, 3, 226, 224)}, session=sess).ok


# ---------------------------------------------------------------- shape probes (probe.py)

def _probe_model():
    """Conv chain plus a rank-0 value (ReduceSum keepdims=0 of a Shape) and a value with an empty dim."""
    m = _conv_chain()
    g = m.graph
    g.node.extend([
        h.make_node("Shape", ["p"], ["ps"], name="ps"),
        h.make_node("ReduceSum", ["ps"], ["scalar"], name="rs", keepdims=0),
        h.make_node("Slice", ["r", "z0", "z0", "z2"], ["empty"], name="sl"),
        h.make_node("Add", ["scalar", "empty_len"], ["y2"], name="add"),
    ])
    g.initializer.extend([h.make_tensor("z0", T.INT64, [1], [0]), h.make_tensor("z2", T.INT64, [1], [2]),
                          h.make_tensor("empty_len", T.INT64, [], [0])])
    g.output.extend([_vi("y2", None, T.INT64), _vi("empty", None)])
    return m


def test_probe_reports_the_shapes_exposure_reports():
    from shapealg.validate.probe import PROBE_OUTPUT, probe_shapes
    m = _probe_model()
    before = m.SerializeToString()
    names = ["c", "r", "p", "f", "ps", "scalar", "empty"]
    pm = probe_shapes(m, names)
    assert m.SerializeToString() == before  # a copy; the model is untouched
    assert [o.name for o in pm.graph.output][-1] == PROBE_OUTPUT
    # each Shape probe sits right after its value's producer (onnxruntime frees the value as in a plain run)
    order = [n.op_type for n in pm.graph.node]
    assert order[:4] == ["Conv", "Shape", "Relu", "Shape"]
    probe = make_session(m, probe=names)
    exposed = make_session(m)
    assert probe.probed == tuple(names)
    for hw in [(8, 8), (9, 9), (2, 32), (33, 3)]:
        a = run_onnxruntime(None, {"x": (1, 3) + hw}, session=probe)
        b = run_onnxruntime(None, {"x": (1, 3) + hw}, session=exposed)
        assert a.ok and b.ok
        assert {k: a.shapes[k] for k in names} == {k: b.shapes[k] for k in names}
        assert a.shapes["scalar"] == () and a.shapes["empty"] == (1, 4, 0, hw[1])
        raw = run_onnxruntime(None, {"x": (1, 3) + hw}, session=probe, decode=False)
        assert raw.probe_vector is not None and "c" not in raw.shapes
        assert list(raw.probe_vector).count(-1) == len(names)
    bad = run_onnxruntime(None, {"x": (1, 3, 10, 8)}, session=probe)
    assert not bad.ok and bad.failing_node == "gemm"


def test_probe_refuses_what_it_cannot_do():
    from shapealg.validate.probe import PROBE_OUTPUT, probe_shapes
    m = _conv_chain()
    with pytest.raises(ValueError, match="no node computes"):
        probe_shapes(m, ["nope"])
    m.graph.node[1].output[0] = PROBE_OUTPUT  # "r" renamed to the probe's own output name
    m.graph.node[2].input[0] = PROBE_OUTPUT
    with pytest.raises(ValueError, match="already has a value"):
        probe_shapes(m, ["c"])
    s = make_session(m, probe=["c"])
    assert s.sess is None and "cannot probe" in s.error
    old = _conv_chain()
    old.opset_import[0].version = 3
    with pytest.raises(ValueError, match="opset"):
        probe_shapes(old, ["c"])
