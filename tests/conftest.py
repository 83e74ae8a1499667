"""Shared test helpers: run an ONNX model in onnxruntime and get every node output's shape.

``run_ort(model, {"x": (1, 3, 37, 5)})`` -> ``{value name: shape}`` for every graph input and every node
output, or raises ``OrtRunError``. Sessions are cached per model (by its serialized bytes), so calling it
at many sizes builds one session. Graph optimizations are disabled so no node is fused away.
"""
from __future__ import annotations

import hashlib
import os
from typing import Dict, Mapping, Sequence, Tuple

import numpy as np
import onnx
import pytest


# strict mode: an exception raised inside a shape rule or a cost model fails the test instead of becoming an
# unknown shape and a warning (a bug in a rule must not look like an unsupported case)
os.environ.setdefault("SHAPEALG_STRICT", "1")


@pytest.fixture
def lenient(monkeypatch):
    """For tests of malformed models whose rules are expected to give up: strict mode off."""
    monkeypatch.setenv("SHAPEALG_STRICT", "0")


class OrtRunError(Exception):
    """onnxruntime refused the model or failed while running it."""


_SESSIONS: Dict[str, tuple] = {}

_NP_TYPES = {
    onnx.TensorProto.FLOAT: np.float32, onnx.TensorProto.DOUBLE: np.float64, onnx.TensorProto.FLOAT16: np.float16,
    onnx.TensorProto.INT64: np.int64, onnx.TensorProto.INT32: np.int32, onnx.TensorProto.INT8: np.int8,
    onnx.TensorProto.INT16: np.int16,
    onnx.TensorProto.UINT8: np.uint8, onnx.TensorProto.BOOL: np.bool_,
}


def _expose_all(model: onnx.ModelProto) -> onnx.ModelProto:
    """A copy whose graph outputs are every node output (untyped: onnxruntime fills the type in)."""
    m = onnx.ModelProto()
    m.CopyFrom(model)
    del m.graph.output[:]
    seen = set()
    for node in m.graph.node:
        for o in node.output:
            if o and o not in seen:
                seen.add(o)
                m.graph.output.append(onnx.ValueInfoProto(name=o))
    return m


def _session(model: onnx.ModelProto):
    data = model.SerializeToString()
    key = hashlib.sha1(data).hexdigest()
    if key not in _SESSIONS:
        import onnxruntime as ort
        so = ort.SessionOptions()
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        so.log_severity_level = 4
        exposed = _expose_all(model)
        try:
            sess = ort.InferenceSession(exposed.SerializeToString(), so, providers=["CPUExecutionProvider"])
        except Exception as e:  # noqa: BLE001 - any refusal is a failure to run
            sess = e
        init = {t.name for t in model.graph.initializer}
        types = {i.name: i.type.tensor_type.elem_type for i in model.graph.input if i.name not in init}
        _SESSIONS[key] = (sess, [o.name for o in exposed.graph.output], types)
    return _SESSIONS[key]


def run_ort(model: onnx.ModelProto, feeds_shapes: Mapping[str, Sequence[int]], seed: int = 0) -> Dict[str, Tuple[int, ...]]:
    """Shapes of every graph input and node output when ``model`` runs on random inputs of the given shapes."""
    sess, names, types = _session(model)
    if isinstance(sess, Exception):
        raise OrtRunError(f"session creation failed: {sess}")
    rng = np.random.default_rng(seed)
    feeds = {}
    for name, shp in feeds_shapes.items():
        dt = _NP_TYPES.get(types.get(name, onnx.TensorProto.FLOAT), np.float32)
        if np.issubdtype(dt, np.floating):
            feeds[name] = rng.standard_normal(tuple(shp)).astype(dt)
        else:
            feeds[name] = rng.integers(0, 2, tuple(shp)).astype(dt)
    try:
        outs = sess.run(names, feeds)
    except Exception as e:  # noqa: BLE001
        raise OrtRunError(str(e).splitlines()[0] if str(e) else type(e).__name__) from None
    shapes = {k: tuple(int(d) for d in v.shape) for k, v in feeds.items()}
    shapes.update({n: tuple(int(d) for d in np.shape(o)) for n, o in zip(names, outs)})
    return shapes


@pytest.fixture
def ort_runner():
    """The ``run_ort`` helper as a fixture, for tests that prefer injection."""
    return run_ort
