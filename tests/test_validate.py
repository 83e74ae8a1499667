"""shapealg.validate: formulas and valid sets against onnxruntime / torch runs.

Tiny models from tests/models.py, exported once per module with both exporters. Each test
checks a property of the report (outcome per size, the node and size named), never its text.
"""
from __future__ import annotations

import functools
import json

import pytest

torch = pytest.importorskip("torch")

from click.testing import CliRunner  # noqa: E402

from shapealg import analyze  # noqa: E402
from shapealg.rules import registry  # noqa: E402
from shapealg.records import Constraint, ShapealgError  # noqa: E402
from shapealg.validate import (  # noqa: E402
    GOOD_OUTCOMES, OUTCOMES, choose_sizes, predicted_bytes, validate,
)
from tests.models import ceil_pool_stack, export_onnx, seed_model, seed_model_adaptive, unet  # noqa: E402


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("validate")
    out = {}
    for name, build, exporter in [
        ("ceil_ts", ceil_pool_stack, "torchscript"),
        ("ceil_dynamo", ceil_pool_stack, "dynamo"),
        ("unet_ts", unet, "torchscript"),
        ("seed_ts", seed_model, "torchscript"),
    ]:
        e = export_onnx(build(), d / f"{name}.onnx", exporter=exporter)
        assert "dynamic" in e.note, e.note
        out[name] = str(e.path)
    return out


@pytest.fixture(scope="module")
def adaptive_448(tmp_path_factory):
    """The notebook's fix, dynamo-exported at 448: Gather/GatherND index tables baked at 448."""
    d = tmp_path_factory.mktemp("adaptive")
    m = seed_model_adaptive()
    e = export_onnx(m, d / "adaptive.onnx", input_shape=(1, 3, 448, 448), exporter="dynamo")
    return str(e.path), m


def _outcomes(rep):
    return {o.label(rep.spatial): o.outcome for o in rep.outcomes}


# ------------------------------------------------------------------ agreement at chosen sizes

@pytest.mark.parametrize("name", ["ceil_ts", "ceil_dynamo", "unet_ts", "seed_ts"])
def test_full_agreement_at_own_sizes(files, name):
    rep = validate(files[name], memory_budget=64 * 2 ** 20)
    assert rep.ok, rep.table()
    counts = rep.counts
    assert counts.get("agree", 0) >= 3
    # the chosen sizes include predicted-invalid ones, and they failed as predicted
    assert counts.get("failed-as-predicted", 0) >= 1
    assert all(o.outcome in GOOD_OUTCOMES for o in rep.outcomes)
    agree = [o for o in rep.outcomes if o.outcome == "agree"]
    assert all(o.checked > 3 for o in agree)


def test_chosen_sizes_cover_boundaries_residues_and_budget(files):
    a = analyze(files["unet_ts"])
    assert a.domain.moduli["H"][0] == 8
    plans = choose_sizes(a, memory_budget=64 * 2 ** 20)
    hs = {p.size["H"] for p in plans if p.size["W"] == plans[0].size["W"]}
    lb = a.domain.lower_bounds["H"]
    assert {lb - 1, lb, lb + 1} <= hs
    assert len({h % 8 for h in hs}) == 8                     # one size per residue class
    assert any(not p.predicted_valid for p in plans)
    over = [p for p in plans if p.over_budget]
    assert over and all(p.memory_bytes > 64 * 2 ** 20 for p in over)
    assert all(p.memory_bytes <= 64 * 2 ** 20 for p in plans if not p.over_budget)
    # memory is numel * itemsize summed over values: doubling H and W roughly quadruples it
    m1 = predicted_bytes(a, {"H": 64, "W": 64})
    m2 = predicted_bytes(a, {"H": 128, "W": 128})
    assert 3.5 < m2 / m1 < 4.5
    capped = choose_sizes(a, n=5)
    assert len(capped) == 5


def test_locked_model_uses_finite_set_points(files):
    a = analyze(files["seed_ts"])
    plans = choose_sizes(a)
    valid = [p.size for p in plans if p.predicted_valid]
    assert {"H": 224, "W": 224} in valid
    assert len(valid) >= 3
    assert any(not p.predicted_valid and abs(p.size["H"] - 224) + abs(p.size["W"] - 224) == 1 for p in plans)


def test_skipped_sizes_are_reported(files):
    rep = validate(files["ceil_ts"], sizes=["64x64", "4000x4000"], memory_budget=32 * 2 ** 20)
    out = _outcomes(rep)
    assert out == {"64x64": "agree", "4000x4000": "skipped"}
    assert rep.ok
    assert "MiB" in rep.outcomes[1].note


def test_external_data_file(files, tmp_path):
    import onnx
    m = onnx.load(files["ceil_ts"])
    p = tmp_path / "ext.onnx"
    onnx.save(m, str(p), save_as_external_data=True, all_tensors_to_one_file=True, location="ext.bin",
              size_threshold=0)
    rep = validate(str(p), sizes=["64x64", "4x4"])
    assert _outcomes(rep) == {"64x64": "agree", "4x4": "failed-as-predicted"}, rep.table()


def test_missing_weights_run_as_zeros(files, tmp_path):
    """A file shared without its weights file (like examples/seed_model.onnx): the float weights run as zeros
    of their declared shapes, the outcomes are those of the real weights, and the report says so."""
    import onnx
    from onnx.external_data_helper import uses_external_data
    m = onnx.load(files["unet_ts"])
    p = tmp_path / "noweights.onnx"
    onnx.save(m, str(p), save_as_external_data=True, all_tensors_to_one_file=True, location="w.bin",
              size_threshold=256)
    assert any(uses_external_data(t) for t in onnx.load(str(p), load_external_data=False).graph.initializer)
    (tmp_path / "w.bin").unlink()
    rep = validate(str(p), sizes=["64x64", "65x64", "4x4"])
    real = validate(files["unet_ts"], sizes=["64x64", "65x64", "4x4"])
    assert _outcomes(rep) == _outcomes(real), rep.table()
    assert any("zeros" in w and "w.bin" in w for w in rep.warnings)
    assert sorted(x.name for x in tmp_path.iterdir()) == ["noweights.onnx"]  # nothing written


def test_missing_integer_external_data_is_refused(tmp_path):
    import numpy as np
    import onnx
    from onnx import TensorProto as T, helper as h
    shape = onnx.numpy_helper.from_array(np.array([1, -1], np.int64), "target")
    g = h.make_graph([h.make_node("Reshape", ["x", "target"], ["y"], name="rs")], "g",
                     [h.make_tensor_value_info("x", T.FLOAT, [1, 2, "H", "W"])],
                     [h.make_tensor_value_info("y", T.FLOAT, None)], [shape])
    p = tmp_path / "ints.onnx"
    onnx.save(h.make_model(g, opset_imports=[h.make_opsetid("", 17)]), str(p), save_as_external_data=True,
              location="ints.bin", size_threshold=0)
    (tmp_path / "ints.bin").unlink()
    with pytest.raises(ShapealgError, match="'target'.*INT64.*ints.bin"):
        validate(str(p), sizes=["8x8"])
    from shapealg_cli.main import main
    res = CliRunner().invoke(main, ["validate", str(p), "--size", "8x8"])
    assert res.exit_code == 2 and "Traceback" not in res.output and "ints.bin" in res.output


# ------------------------------------------------------------------ a corrupted rule is caught

def _corrupt_first_conv(monkeypatch, change):
    """Wrap the Conv rule so that the first Conv it sees gets ``change(shape)`` as its output shape; returns
    a list that holds that node's name once the analysis has run (monkeypatch restores the rule)."""
    op = registry.op_def("", "Conv")
    entries = op.rules
    since, until, orig = entries[0]
    seen = []

    @functools.wraps(orig)
    def wrong(ctx, *args, **kw):
        out = orig(ctx, *args, **kw)
        if not seen or seen[0] == ctx.node:
            seen[:1] = [ctx.node]
            return out.with_shape(change(out.shape))
        return out
    monkeypatch.setattr(op, "rules", [(since, until, wrong)] + list(entries[1:]))
    return seen


@pytest.fixture
def corrupt_first_conv(monkeypatch):
    """The first Conv's output H one too large."""
    return _corrupt_first_conv(monkeypatch, lambda s: (*s[:2], s[2] + 1, *s[3:]))


@pytest.fixture
def corrupt_first_conv_rank(monkeypatch):
    """The first Conv's output one dim too many (rank 5 instead of 4)."""
    return _corrupt_first_conv(monkeypatch, lambda s: (*s, 1))


def test_corrupted_rule_is_caught_with_node_and_size(files, corrupt_first_conv):
    rep = validate(files["ceil_ts"], sizes=["37x41", "64x64"])
    assert not rep.ok
    bad_node = corrupt_first_conv[0]
    for o in rep.outcomes:
        assert o.outcome == "mismatch", rep.table()
        first = o.mismatches[0]
        assert first.node == bad_node and first.op_type == "Conv"
        assert first.expected[2] == first.got[2] + 1
        assert first.expected[3] == first.got[3]
    assert rep.outcomes[0].size == {"H": 37, "W": 41}
    j = rep.to_json()
    assert j["sizes"][0]["mismatches"][0]["node"] == bad_node
    assert j["sizes"][0]["size"] == {"H": 37, "W": 41}


def test_corrupted_rank_is_caught_with_node(files, corrupt_first_conv_rank):
    # a wrong rank shifts every later shape in the probe vector: the value-by-value reading still names the node
    rep = validate(files["unet_ts"], sizes=["64x64", "96x128"])
    assert not rep.ok
    for o in rep.outcomes:
        assert o.outcome == "mismatch", rep.table()
        assert o.mismatches[0].node == corrupt_first_conv_rank[0]
        assert len(o.mismatches[0].expected) == 5 and len(o.mismatches[0].got) == 4


@pytest.mark.parametrize("name", ["unet_ts", "seed_ts", "ceil_dynamo"])
def test_probes_check_what_exposure_checks(files, name, monkeypatch):
    """Shape probes (one vector per run) and every value exposed as a graph output (the fallback) give the
    same outcome and the same number of values checked, at every size."""
    import shapealg.validate.session as rt
    calls, real = [], rt.probe_shapes

    def spy(model, names):
        calls.append(len(names))
        return real(model, names)
    monkeypatch.setattr(rt, "probe_shapes", spy)
    probed = validate(files[name], memory_budget=64 * 2 ** 20)
    assert calls and calls[0] > 5  # the probed session was made and used

    def refuse(*a, **k):
        raise ValueError("probes off for this test")
    monkeypatch.setattr(rt, "probe_shapes", refuse)
    exposed = validate(files[name], memory_budget=64 * 2 ** 20)
    assert probed.ok and exposed.ok
    rows = [(o.size, o.outcome, o.checked, o.unknown, o.failing_node) for o in probed.outcomes]
    assert rows == [(o.size, o.outcome, o.checked, o.unknown, o.failing_node) for o in exposed.outcomes]
    assert sum(o.checked for o in probed.outcomes) > 20


def test_values_of_unknown_rank_are_exposed(tmp_path):
    """A sequence value (no rule: rank unknown) is exposed as a graph output, the tensors around it probed."""
    import onnx
    from onnx import TensorProto as T, helper as h
    nodes = [h.make_node("Relu", ["x"], ["r"], name="relu"),
             h.make_node("SplitToSequence", ["r"], ["seq"], name="split", axis=2, keepdims=1),
             h.make_node("SequenceAt", ["seq", "zero"], ["first"], name="at"),
             h.make_node("Add", ["first", "one"], ["y"], name="add")]
    g = h.make_graph(nodes, "g", [h.make_tensor_value_info("x", T.FLOAT, [1, 2, "H", "W"])],
                     [h.make_tensor_value_info("y", T.FLOAT, None)],
                     [h.make_tensor("zero", T.INT64, [], [0]), h.make_tensor("one", T.FLOAT, [], [1.0])])
    p = tmp_path / "seq.onnx"
    onnx.save(h.make_model(g, opset_imports=[h.make_opsetid("", 17)]), p)
    rep = validate(str(p), sizes=["5x7", "8x3"])
    assert rep.ok, rep.table()
    for o in rep.outcomes:
        # checked: x, r, first, y (element shapes are tracked through sequences since issue 16); the sequence
        # itself has no tensor shape to compare: unknown
        assert o.outcome == "agree" and o.checked == 4 and o.unknown == 1, (o.checked, o.unknown)


def test_registry_restored_after_corruption(files):
    # runs after the corrupting test in file order: the real rule is back
    rep = validate(files["ceil_ts"], sizes=["37x41"])
    assert rep.ok, rep.table()


# ------------------------------------------------------------------ surprises

def test_predicted_invalid_size_that_runs_is_a_surprise(files):
    a = analyze(files["ceil_ts"])
    from shapealg.analysis import Analysis
    from shapealg.dims import symbol
    from shapealg.validity import analyze_domain
    bogus = Constraint("/features/features.0/Conv", "Conv", symbol("H") >= 40, "bogus: H >= 40")
    dom = analyze_domain(list(a.constraints) + [bogus], a.symbols)
    a2 = Analysis(a.result, dom)
    rep = validate(files["ceil_ts"], sizes=["37x64", "64x64"], analysis=a2)
    out = _outcomes(rep)
    assert out["37x64"] == "surprise-ran"
    assert out["64x64"] == "agree"
    assert not rep.ok
    s = rep.outcomes[0]
    assert s.blamed is not None and s.blamed.reason == "bogus: H >= 40"


def test_predicted_valid_size_that_fails_is_a_surprise(adaptive_448):
    path, _ = adaptive_448
    a = analyze(path)
    rep = validate(path, sizes=["448x448", "224x224"], analysis=a)
    out = _outcomes(rep)
    assert out["448x448"] == "agree"
    if a.domain.contains({"H": 224, "W": 224}):
        # the analysis misses the baked GatherND index table: the report must not hide it
        assert out["224x224"] == "surprise-failed"
        assert rep.outcomes[1].failing_node
    else:
        assert out["224x224"] == "failed-as-predicted"


def test_exporter_divergence_module_vs_file(adaptive_448):
    path, module = adaptive_448
    rep = validate(path, sizes=["448x448", "224x224", "5x5"], runtime="both", module=module)
    out = _outcomes(rep)
    assert out["448x448"] == "agree"
    assert out["224x224"] == "exporter-divergence"   # torch runs, the file's GatherND goes out of bounds
    assert out["5x5"] == "failed-as-predicted"       # both fail: the 5x5 conv needs floor(H/2) >= 3
    div = rep.outcomes[1]
    assert div.torch.ok and div.failing_node and div.ort_outcome in ("surprise-failed", "failed-as-predicted")
    assert not rep.ok


def test_torch_runtime_alone(adaptive_448):
    path, module = adaptive_448
    rep = validate(path, sizes=["64x80", "5x5"], runtime="torch", module=module)
    assert _outcomes(rep) == {"64x80": "agree", "5x5": "failed-as-predicted"}
    assert rep.outcomes[0].torch.output_shapes == ((1, 10),)
    with pytest.raises(ShapealgError, match="module"):
        validate(path, sizes=["64x64"], runtime="torch")


# ------------------------------------------------------------------ torch: forward hooks per module

def test_module_hooks_compare_every_submodule(files):
    m = unet()
    rep = validate(files["unet_ts"], sizes=["64x64", "72x40", "65x64"], runtime="both", module=m)
    assert _outcomes(rep) == {"64x64": "agree", "72x40": "agree", "65x64": "failed-as-predicted"}, rep.table()
    ran = [o for o in rep.outcomes if o.torch is not None and o.torch.ok]
    assert ran and all(o.torch.modules_checked >= 8 and not o.torch.module_mismatches for o in ran)
    j = rep.to_json()["sizes"][0]["torch"]
    assert j["modules_checked"] == ran[0].torch.modules_checked and j["module_mismatches"] == []


def test_corrupted_rule_is_caught_by_module_hooks(files, corrupt_first_conv):
    rep = validate(files["ceil_ts"], sizes=["37x41"], runtime="torch", module=ceil_pool_stack())
    o = rep.outcomes[0]
    assert o.outcome == "mismatch", rep.table()
    first = o.mismatches[0]
    assert first.node == "module features.0" and first.op_type == "Conv2d"
    assert first.expected[2] == first.got[2] + 1 == 38


# ------------------------------------------------------------------ devices

def test_cuda_unavailable_is_a_clear_error(files):
    import onnxruntime as ort
    if "CUDAExecutionProvider" in ort.get_available_providers():
        pytest.skip("onnxruntime has CUDA here")
    with pytest.raises(ShapealgError, match="CUDAExecutionProvider"):
        validate(files["ceil_ts"], sizes=["64x64"], device="cuda")


def test_cuda_agrees():
    import onnxruntime as ort
    if "CUDAExecutionProvider" not in ort.get_available_providers() or not torch.cuda.is_available():
        pytest.skip("no CUDA onnxruntime / torch here")
    import tempfile
    from pathlib import Path
    with tempfile.TemporaryDirectory() as d:
        m = ceil_pool_stack()
        p = export_onnx(m, Path(d) / "c.onnx", exporter="torchscript").path
        rep = validate(str(p), device="cuda", runtime="both", module=m, n=12)
        assert rep.ok, rep.table()


# ------------------------------------------------------------------ report and CLI

def test_report_json_and_table(files):
    done = []
    rep = validate(files["ceil_ts"], sizes=["64x64", "4x4"], progress=lambda i, n, o: done.append((i, n, o.outcome)))
    assert done == [(1, 2, "agree"), (2, 2, "failed-as-predicted")]
    j = json.loads(json.dumps(rep.to_json()))
    assert j["ok"] is True and j["counts"] == {"agree": 1, "failed-as-predicted": 1}
    assert {s["outcome"] for s in j["sizes"]} <= set(OUTCOMES)
    assert j["sizes"][1]["blamed"]["node"]
    t = rep.table()
    assert "64x64" in t and "failed-as-predicted" in t


def test_cli_exit_codes(files, corrupt_first_conv):
    from shapealg_cli.main import main
    r = CliRunner()
    res = r.invoke(main, ["validate", files["unet_ts"], "--size", "64x64", "--size", "65x64"])
    # corrupted Conv rule: mismatch -> 1
    assert res.exit_code == 1, res.output
    assert "mismatch" in res.output


def test_cli_ok_json_and_errors(files):
    from shapealg_cli.main import main
    r = CliRunner()
    res = r.invoke(main, ["validate", files["unet_ts"], "--size", "64x64", "--size", "65x64", "--format", "json"])
    assert res.exit_code == 0, res.output
    j = json.loads(res.output)
    assert [s["outcome"] for s in j["sizes"]] == ["agree", "failed-as-predicted"]
    res = r.invoke(main, ["validate", files["ceil_ts"], "--max-sizes", "6"])
    assert res.exit_code == 0, res.output
    res = r.invoke(main, ["validate", files["ceil_ts"], "--runtime", "torch"])
    assert res.exit_code == 2
    res = r.invoke(main, ["validate", files["ceil_ts"], "--size", "12x"])
    assert res.exit_code == 2
    import onnxruntime as ort
    if "CUDAExecutionProvider" not in ort.get_available_providers():
        res = r.invoke(main, ["validate", files["ceil_ts"], "--device", "cuda"])
        assert res.exit_code == 2 and "CUDAExecutionProvider" in res.output


def test_cli_module_spec(files, tmp_path):
    from shapealg_cli.main import main
    f = tmp_path / "mk.py"
    f.write_text("from tests.models import ceil_pool_stack\n\ndef make():\n    return ceil_pool_stack()\n")
    res = CliRunner().invoke(main, ["validate", files["ceil_ts"], "--runtime", "both", "--module", f"{f}:make",
                                    "--size", "64x64", "--size", "7x7"])
    assert res.exit_code == 0, res.output
    assert "failed-as-predicted" in res.output


def test_cli_factory_model_runs_both(tmp_path):
    from shapealg_cli.main import main
    f = tmp_path / "mk2.py"
    f.write_text("from tests.models import ceil_pool_stack\n\ndef make():\n    return ceil_pool_stack()\n")
    res = CliRunner().invoke(main, ["validate", f"{f}:make", "--size", "64x64", "--size", "7x7", "--format", "json"])
    assert res.exit_code == 0, res.output
    j = json.loads(res.output[res.output.index("{"):])
    assert j["runtime"] == "both"
    assert [s["outcome"] for s in j["sizes"]] == ["agree", "failed-as-predicted"]
    assert j["sizes"][0]["torch"]["modules_checked"] >= 5

