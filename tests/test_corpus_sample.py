"""A CI-sized sample of the real-model corpus (bench/corpus.py + bench/score.py): a few small transformers
vision models, exported with both exporters (H, W dynamic), scored against onnxruntime with every
intermediate exposed, as bench/score.py scores the whole corpus. Every dim shapealg gives a formula for
must equal onnxruntime's at every size the model ran, and >= 99.5% of dims must have a formula.

The default suite runs SAMPLE only (< 90 s); every other corpus model is marked slow and runs with
SHAPEALG_CORPUS=all (the full corpus, with the other tools for comparison: python bench/score.py DIR).
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

import corpus  # noqa: E402
import score  # noqa: E402

SAMPLE = ("resnet", "focalnet", "swin")  # dynamic batch; plain stages; window padding computed at run time
SIZES = [(64, 64), (65, 67), (96, 64), (33, 40), (17, 19), (127, 131), (8, 8), (40, 56)]
EXPORTERS = ("torchscript", "dynamo")
ALL = os.environ.get("SHAPEALG_CORPUS") == "all"


def _params():
    for name in corpus.MODELS:
        for exporter in EXPORTERS:
            if name in SAMPLE:
                yield pytest.param(name, exporter, id=f"{name}-{exporter}")
            else:
                yield pytest.param(name, exporter, id=f"{name}-{exporter}", marks=[
                    pytest.mark.slow, pytest.mark.skipif(not ALL, reason="full corpus: SHAPEALG_CORPUS=all")])


@pytest.mark.parametrize("name,exporter", list(_params()))
def test_corpus_model_shapes_match_onnxruntime(name, exporter, tmp_path):
    entry = corpus.export_one(name, exporter, tmp_path, check=False)
    if not entry["ok"]:
        pytest.skip(f"export failed: {entry['error']}")
    if not entry["dynamic_in_file"]:
        pytest.skip(f"{exporter} made H, W static: {entry.get('torch_export_says', '')[:200]}")
    rec = score.score_file(tmp_path / entry["path"], SIZES, tools=("shapealg",), keep_failures=20)
    assert rec["sizes_run"], f"no size ran in onnxruntime: {rec['sizes_failed']}"
    s = rec["tools"]["shapealg"]
    assert s["error"] is None, s["error"]
    assert s["dims"] > 0
    wrong = [f for f in s["failures"] if f["has_formula"]]
    assert s["correct"] == s["formula"], f"wrong formulas: {wrong[:5]}"
    assert s["formula"] >= 0.995 * s["dims"], f"{s['formula']}/{s['dims']} with a formula: {s['failures'][:5]}"


# ------------------------------------------------------------------------------ the scorer's own logic


def test_scorer_counts_formulas_and_wrong_dims():
    import sympy

    H = sympy.Symbol("H", integer=True, positive=True)
    runs = [({"H": 8, "W": 9}, {"a": (1, 4, 9), "b": (3,), "c": (2, 2)}),
            ({"H": 10, "W": 9}, {"a": (1, 5, 9), "b": (3,), "c": (2, 2)})]
    inputs = {"H", "W"}
    shapes = {
        "a": [score._from_shapealg(1, inputs), score._from_shapealg(sympy.floor(H / 2), inputs),
              score._from_text("W", inputs)],                       # all right; 2 dims vary
        "b": [score._from_text("unk__3", inputs)],                  # no formula (fresh symbol)
        "c": [score._Formula(2, "2", True)],                        # wrong rank: 2 wrong dims
    }
    c, fails = score.score_shapes(shapes, runs, ["a", "b", "c"], keep_failures=10)
    assert c == {"dims": 6, "formula": 5, "correct": 3, "vdims": 1, "vformula": 1, "vcorrect": 1}
    assert {f["value"] for f in fails} == {"b", "c"}
    # a formula wrong at one size only is wrong
    c2, _ = score.score_shapes({"a": [score._Formula(1, "1", True), score._from_text("H - 4", inputs),
                                      score._from_text("floor(W/1)", inputs)]}, runs, ["a"])
    assert c2["correct"] == 2 and c2["formula"] == 3
    # dim_param strings the other tools write parse into formulas (// is floor division)
    assert score._from_text("floor(H/2) + 1", inputs).at({"H": 9, "W": 1}) == 5
    assert score._from_text("H//4*W", inputs).at({"H": 9, "W": 3}) == 6
    assert not score._from_text("Reshape_out_dim_1", inputs).ok
