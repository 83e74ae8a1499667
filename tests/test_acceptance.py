"""Issue acceptance on real exports: for each model and both torch exporters, the valid set shapealg computes
is exactly where onnxruntime runs the file, and every formula equals onnxruntime's shapes wherever it runs.

Sizes: a grid with odd, prime, small (at and around every lower bound), rectangular and large sizes, plus each
model's special sizes (the boundaries of its divisibility / finite set)."""
from __future__ import annotations

import pytest

from shapealg import analyze
from shapealg.dims import evaluate
from shapealg.validate.session import make_session, run_onnxruntime
from tests import models as M

GRID = sorted({1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 15, 16, 17, 23, 24, 31, 32, 33, 40, 47, 48, 63, 64, 65, 97, 128, 131})
PAIRS = [(h, w) for h in GRID for w in (7, 8, 16, 17, 32, 64, 65)] + [(w, h) for h in GRID for w in (8, 33)]

# model -> (expected verdict, extra sizes that sit on / next to its boundaries)
CASES = {
    "seed_model": ("locked", [(224, 224), (204, 246), (6, 24204), (5, 24204), (7, 24205), (448, 448), (225, 225)]),
    "seed_model_adaptive": ("locked", [(224, 224), (204, 246), (448, 448), (225, 224)]),
    "unet": ("conditional", [(64, 64), (72, 80), (66, 64), (8, 8), (16, 24), (12, 8)]),
    "vit_fixed": ("locked", [(64, 64), (71, 71), (72, 64), (8, 512), (519, 8), (520, 8), (63, 64)]),
    "vit_interpolated": ("size-invariant", [(8, 8), (7, 8), (200, 9), (9, 200)]),
    "ceil_pool_stack": ("size-invariant", [(8, 8), (7, 8), (8, 7), (9, 10), (200, 201)]),
    "window_partition_model": ("conditional", [(16, 16), (19, 35), (20, 16), (32, 48), (15, 16)]),
    "hw_product_model": ("locked", [(32, 32), (4, 256), (259, 4), (260, 4), (16, 64), (35, 35), (36, 32)]),
}
SLOW = {"seed_model", "seed_model_adaptive"}  # 100 MB Linear: the torchscript one runs in CI, both in bench


def _params():
    for name in CASES:
        for exporter in ("torchscript", "dynamo"):
            marks = [pytest.mark.slow] if (name in SLOW and exporter == "dynamo") else []
            yield pytest.param(name, exporter, id=f"{name}-{exporter}", marks=marks)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    cache = {}

    def get(name, exporter):
        if (name, exporter) not in cache:
            path = tmp_path_factory.mktemp(f"{name}_{exporter}") / "model.onnx"
            cache[(name, exporter)] = M.export_onnx(getattr(M, name)(), path, exporter=exporter)
        return cache[(name, exporter)]
    return get


def _session_with_symbolic_input(path):
    """A file exported with static sizes (the exporter refused dynamic ones) declares 224x224; shapealg makes
    H, W symbolic by default, so the file is run with its input declared [N, C, H, W] as well."""
    import onnx
    m = onnx.load(str(path))
    for d, name in zip(m.graph.input[0].type.tensor_type.shape.dim[2:], ("H", "W")):
        d.ClearField("dim_value")
        d.dim_param = name
    return make_session(m)


@pytest.mark.parametrize("name,exporter", list(_params()))
def test_valid_set_and_formulas_match_onnxruntime(name, exporter, exported):
    exp = exported(name, exporter)
    a = analyze(str(exp.path))
    verdict, special = CASES[name]
    assert a.domain.verdict == verdict, (exp.note, a.domain.summary)
    sess = _session_with_symbolic_input(exp.path)
    ran = failed = 0
    sizes = list(dict.fromkeys(PAIRS + special))
    if name in SLOW:  # the 100 MB Gemm makes each run slow: boundaries and the notebook's sizes only
        sizes = special + [(6, 6), (5, 5), (31, 17), (97, 64)]
    for h, w in sizes:
        env = {"H": h, "W": w}
        res = run_onnxruntime(None, {"x": (1, 3, h, w)}, session=sess)
        predicted = a.domain.contains(env)
        assert res.ok == predicted, (f"{name}/{exporter} at {h}x{w}: onnxruntime "
                                     f"{'ran' if res.ok else 'failed: ' + str(res.error)[:200]}, shapealg says "
                                     f"{'valid' if predicted else 'invalid at ' + str(a.domain.blocking(env))}")
        if not res.ok:
            failed += 1
            assert a.domain.blocking(env) is not None
            continue
        ran += 1
        for value, shape in res.shapes.items():
            formula = a.result.values[value].shape
            assert formula is not None and None not in formula, (value, formula)
            assert tuple(evaluate(d, env) for d in formula) == shape, (name, exporter, value, h, w, formula, shape)
    assert ran > 0
    if verdict != "size-invariant":
        assert failed > 0


def test_seed_model_reports_the_notebook_sizes_and_the_fix(exported):
    exp = exported("seed_model", "torchscript")
    a = analyze(str(exp.path))
    for h, w in [(224, 224), (204, 246), (6, 24204), (24204, 6)]:
        assert a.is_valid(H=h, W=w)
    assert not a.is_valid(H=448, W=448)
    fs = a.domain.finite_set
    # brute force over the whole range the set can live in: (floor(H/2)-2)*(floor(W/2)-2) == 12100
    brute = {(h, w) for h in range(6, 24206) for w in [2 * (12100 // (h // 2 - 2) + 2), 2 * (12100 // (h // 2 - 2) + 2) + 1]
             if (h // 2 - 2) > 0 and 12100 % (h // 2 - 2) == 0 and 32 * (h // 2 - 2) * (w // 2 - 2) == 387200}
    assert set(map(tuple, fs)) == brute
    assert a.domain.breaking_constraint.op_type == "Gemm"
    fix = [f for f in a.fixes if "AdaptiveAvgPool2d((110, 110))" in f.code]
    assert fix, a.fixes
    assert a.fake_dynamic  # the file declares H, W dynamic: loudly flagged


def test_adaptive_pool_traced_at_448_gathernd_bounds(tmp_path):
    """Traced at 448, dynamo's GatherND indices are built at run time (window starts that follow H, plus a
    Range whose length was fixed at the trace): shapealg bounds them exactly, so the file's failures at 224,
    445 or 664 are predicted, not missed."""
    exp = M.export_onnx(M.seed_model_adaptive(), tmp_path / "a.onnx", input_shape=(1, 3, 448, 448), exporter="dynamo")
    a = analyze(str(exp.path))
    assert a.domain.verdict == "conditional"
    assert not any("not checked" in w for w in a.result.warnings)
    sess = make_session(str(exp.path))
    for h, w in [(224, 224), (223, 224), (448, 448), (447, 448), (445, 445), (446, 446), (300, 500), (664, 448),
                 (665, 449), (900, 900)]:
        res = run_onnxruntime(None, {"x": (1, 3, h, w)}, session=sess)
        assert res.ok == a.is_valid(H=h, W=w), (h, w, res.error)


def test_adaptive_pool_traced_off_size_fails_where_predicted(tmp_path):
    """dynamo turns AdaptiveAvgPool2d into Gathers whose index tables are baked at the trace size (256 here):
    the torch module runs everywhere, the file only for H, W >= 224 - and shapealg says exactly that."""
    exp = M.export_onnx(M.seed_model_adaptive(), tmp_path / "a.onnx", input_shape=(1, 3, 256, 256), exporter="dynamo")
    a = analyze(str(exp.path))
    sess = make_session(str(exp.path))
    assert a.domain.lower_bounds == {"H": 224, "W": 224}
    for h, w in [(224, 224), (223, 224), (224, 223), (256, 256), (204, 246), (300, 225), (100, 400)]:
        res = run_onnxruntime(None, {"x": (1, 3, h, w)}, session=sess)
        assert res.ok == a.is_valid(H=h, W=w), (h, w, res.error)
