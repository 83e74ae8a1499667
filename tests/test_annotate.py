"""Annotated ONNX export: formulas in value_info, verdict in metadata, nothing else changed."""
from __future__ import annotations

import os
import shutil

import numpy as np
import onnx
import pytest

from shapealg import analyze
from shapealg.annotate import META_PREFIX, annotate_model, export_annotated
from shapealg.report import to_json
from shapealg.records import ShapealgError

EXAMPLE = "examples/seed_model.onnx"


def _random_weights(path):
    """The committed example holds the graph only; write random weights where its external data points."""
    m = onnx.load(str(path), load_external_data=False)
    rng = np.random.default_rng(0)
    for t in m.graph.initializer:
        if t.data_location != onnx.TensorProto.EXTERNAL:
            continue
        info = {e.key: e.value for e in t.external_data}
        n = int(np.prod(t.dims)) if len(t.dims) else 1
        data = (rng.standard_normal(n).astype(np.float32) * 0.01).tobytes()
        target = os.path.join(os.path.dirname(str(path)), info["location"])
        with open(target, "r+b" if os.path.exists(target) else "wb") as f:
            f.seek(int(info.get("offset", 0)))
            f.write(data[: int(info.get("length", len(data)))])


@pytest.fixture(scope="module")
def seed_onnx(tmp_path_factory):
    """The example model in a scratch folder, with its weights (copied, or random when not built)."""
    d = tmp_path_factory.mktemp("seed")
    shutil.copy(EXAMPLE, d)
    if os.path.exists(EXAMPLE + ".data"):
        shutil.copy(EXAMPLE + ".data", d)
    else:
        _random_weights(d / "seed_model.onnx")
    return str(d / "seed_model.onnx")


def _json(a):
    d = to_json(a)
    d.pop("model")
    return d


def _ort(path):
    import onnxruntime as ort
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


@pytest.fixture(scope="module")
def annotated(tmp_path_factory, seed_onnx):
    d = tmp_path_factory.mktemp("ann")
    r = export_annotated(seed_onnx, d / "seed_annotated.onnx")
    return r, d / "seed_annotated.onnx"


def test_formulas_in_value_info_and_metadata(annotated):
    r, path = annotated
    m = onnx.load(str(path), load_external_data=False)
    vi = {v.name: [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim] for v in m.graph.value_info}
    assert vi["/net/net.3/Conv_output_0"] == [1, 32, "floor(H/2) - 2", "floor(W/2) - 2"]
    assert [d.dim_param or d.dim_value for d in m.graph.input[0].type.tensor_type.shape.dim] == [1, 3, "H", "W"]
    md = {p.key: p.value for p in m.metadata_props}
    assert md[META_PREFIX + "verdict"] == "locked"
    assert "387200" in md[META_PREFIX + "valid_if"]
    assert r.values == len(vi) + 2


def test_reanalysis_is_identical(annotated, seed_onnx):
    _, path = annotated
    assert _json(analyze(str(path))) == _json(analyze(seed_onnx))


def test_nothing_else_changes(annotated, seed_onnx):
    r, path = annotated
    a = onnx.load(seed_onnx, load_external_data=False)
    b = onnx.load(str(path), load_external_data=False)
    assert [t.SerializeToString() for t in a.graph.initializer] == [t.SerializeToString() for t in b.graph.initializer]
    assert [n.SerializeToString() for n in a.graph.node] == [n.SerializeToString() for n in b.graph.node]
    assert a.opset_import == b.opset_import and a.ir_version == b.ir_version
    assert [p for p in b.metadata_props if not p.key.startswith(META_PREFIX)] == list(a.metadata_props)
    # the external data it references was copied beside it, byte for byte
    assert [os.path.basename(c) for c in r.copied] == ["seed_model.onnx.data"]
    assert os.path.getsize(r.copied[0]) == os.path.getsize(seed_onnx + ".data")


def test_onnxruntime_runs_it(annotated):
    _, path = annotated
    s = _ort(path)
    for h, w in ((224, 224), (204, 246)):
        out = s.run(None, {"x": np.random.rand(1, 3, h, w).astype(np.float32)})
        assert out[0].shape == (1, 10)


def test_idempotent_and_refuses_bad_targets(annotated, tmp_path, seed_onnx):
    _, path = annotated
    m = onnx.load(str(path), load_external_data=False)
    again, _ = annotate_model(m, analyze(str(path)))
    assert again.SerializeToString() == m.SerializeToString()
    with pytest.raises(ShapealgError, match="is the input model"):
        export_annotated(str(path), str(path))
    with pytest.raises(ShapealgError, match="exists"):  # would overwrite another file's external data
        export_annotated(seed_onnx, path.parent / "other.onnx")
    with pytest.raises(ShapealgError, match="directory"):
        export_annotated(seed_onnx, tmp_path)


def test_from_a_module(tmp_path):
    from tests.models import unet
    out = tmp_path / "unet.onnx"
    r = export_annotated(unet(), out, input_shape=(1, 3, "H", "W"))
    assert os.listdir(tmp_path) == ["unet.onnx"] and not r.copied
    a = analyze(str(out))
    assert a.domain.verdict == "conditional"
    s = _ort(out)
    assert s.run(None, {s.get_inputs()[0].name: np.random.rand(1, 3, 64, 48).astype(np.float32)})[0].shape == (1, 2, 64, 48)
    m = onnx.load(str(out))
    assert any(d.dim_param == "8*floor(H/8)" for v in m.graph.value_info for d in v.type.tensor_type.shape.dim)


def test_cli_export(tmp_path):
    from click.testing import CliRunner
    try:
        from shapealg_cli.main import main
    except ImportError:
        from cli.main import main
    small = tmp_path / "m.onnx"
    from tests.models import export_onnx, ceil_pool_stack
    export_onnx(ceil_pool_stack(), small, exporter="torchscript")
    r = CliRunner().invoke(main, ["export", str(small), "-o", str(tmp_path / "out.onnx")])
    assert r.exit_code == 0, r.output
    assert "wrote" in r.output and (tmp_path / "out.onnx").exists()
    assert _json(analyze(str(tmp_path / "out.onnx"))) == _json(analyze(str(small)))
    r = CliRunner().invoke(main, ["export", str(tmp_path / "missing.onnx"), "-o", str(tmp_path / "x.onnx")])
    assert r.exit_code == 2 and not (tmp_path / "x.onnx").exists()
