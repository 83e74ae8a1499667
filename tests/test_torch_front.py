"""The torch front end: a module exported with symbolic dims, the path taken, what the exporter changed, and the
seed notebook's numbers from the nn.Modules themselves."""
from __future__ import annotations

import os

import pytest
import torch
from torch import nn

from shapealg import analyze, evaluate
from shapealg.report import to_json
from shapealg.records import ShapealgError
from shapealg.module_check import check_module_shapes
from shapealg.torch_front import export_module, parse_input_shape
from shapealg.user_code import load_factory
from tests.models import seed_model, seed_model_adaptive

NOTEBOOK_224 = [(1, 16, 224, 224), (1, 16, 224, 224), (1, 16, 112, 112), (1, 32, 110, 110), (1, 32, 110, 110),
                (1, 387200), (1, 64), (1, 64), (1, 10)]
NOTEBOOK_PARAMS = {"net.0.weight": 432, "net.0.bias": 16, "net.3.weight": 12800, "net.3.bias": 32,
                   "net.6.weight": 24780800, "net.6.bias": 64, "net.8.weight": 640, "net.8.bias": 10}


@pytest.fixture(scope="module")
def seed():
    m = seed_model()
    return m, analyze(m, input_shape=(1, 3, "H", "W"))


@pytest.fixture(scope="module")
def adaptive():
    m = seed_model_adaptive()
    return m, analyze(m, input_shape=(1, 3, "H", "W"))


def test_seed_front_end_says_what_changed(seed):
    _, a = seed
    f = a.front
    assert f.path in ("dynamo", "dynamo-auto") and f.dynamic and not f.specialized
    assert f.trace_shape == (1, 3, 224, 224)
    # torch.export refuses named H, W (H >= 6 ...); the Linear's guard is in its guards and not in the file
    assert any("387200" in g and g.startswith("Eq(") for g in f.guards)
    assert f.module_verdict == "locked"
    assert "front_end" in to_json(a) and to_json(a)["front_end"]["path"] == f.path
    assert "front end:" in str(a)


def test_seed_verdict_and_formulas(seed):
    _, a = seed
    assert a.domain.verdict == "locked"
    assert a.is_valid(H=224, W=224) and a.is_valid(H=204, W=246) and a.is_valid(H=6, W=24204)
    assert not a.is_valid(H=448, W=448)
    assert list(a.result.outputs.values()) == [(1, 10)]


def test_seed_module_table_is_the_notebooks(seed):
    m, a = seed
    t = a.modules()
    rows = [t.row(f"net.{i}") for i in range(9)]
    for r, want in zip(rows, NOTEBOOK_224):  # the notebook's printed sizes, from the formulas
        assert tuple(evaluate(d, {"H": 224, "W": 224}) for d in r.shape) == want
    assert [r.type for r in rows] == ["Conv2d", "ReLU", "MaxPool2d", "Conv2d", "ReLU", "Flatten", "Linear", "ReLU",
                                      "Linear"]
    # count_parameters: per parameter as the notebook prints it, per module, and the total
    assert {n: p.numel() for n, p in m.named_parameters()} == NOTEBOOK_PARAMS
    assert [r.params for r in rows] == [448, 0, 0, 12832, 0, 0, 24780864, 0, 650]
    assert t.total_params == t.rows[0].params == 24794794 == a.result.total_params
    exported = {i.name: 1 for i in a.model_proto.graph.initializer}
    assert set(NOTEBOOK_PARAMS) <= set(exported)  # the dynamo file keeps torch's parameter names
    assert str(rows[6].macs) == "24780800" and rows[0].macs is not None


def test_adaptive_fix_module_vs_file(adaptive):
    m, a = adaptive
    assert a.modules().total_params == sum(p.numel() for p in m.parameters()) == 24794794
    assert a.modules().row("net.5").type == "AdaptiveAvgPool2d"
    f = a.front
    # torch.export sees the module valid for H, W >= 6; the exported file fixed the pooling tables at 224
    assert f.module_verdict in ("size-invariant", "conditional")
    if a.domain.verdict in ("locked", "never-valid"):
        assert any("stricter than the module" in n for n in f.notes)


def test_check_module_shapes(seed):
    m, a = seed
    out = check_module_shapes(m, (1, 3, "H", "W"), [(224, 224), (204, 246), {"H": 448, "W": 448}], analysis=a)
    assert out == {(224, 224): [], (204, 246): [], (448, 448): []}  # 448: torch fails where predicted invalid


class _SizeCheck(nn.Module):
    """Refuses any other height in Python: torch.export specializes H, so the TorchScript path is taken."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, stride=2)
        self.bn = nn.BatchNorm2d(4)

    def forward(self, x):
        if x.shape[2] != 32:
            raise ValueError("height must be 32")
        return self.bn(self.conv(x)).mean(dim=(2, 3))


def test_specialized_dims_fall_back_to_torchscript():
    m = _SizeCheck()
    m.example_input_shape = (1, 3, 32, 40)
    a = analyze(m, input_shape="1,3,H,W")
    assert a.front.path == "torchscript"
    assert "H=32" in a.front.specialized and "W=40" not in a.front.specialized
    assert any("specialized" in r for r in a.front.refused)
    assert a.result.inputs["x"][2:] == tuple(a.result.inputs["x"][2:])
    conv = a.modules().row("conv")
    assert tuple(evaluate(d, {"H": 33, "W": 41}) for d in conv.shape) == (1, 4, 16, 20)
    t = a.modules()
    assert t.total_params == sum(p.numel() for p in m.parameters()) and t.total_buffers == 9


def test_module_without_symbols_and_bad_shapes():
    m = nn.Sequential(nn.Linear(8, 4), nn.ReLU())
    exp = export_module(m, (2, 8))
    assert exp.front.input_shape == (2, 8) and exp.front.trace_shape == (2, 8)
    for bad in ("1,3,H W", "", "1,-3,H,W", "1,3,_H,W"):
        with pytest.raises(ShapealgError):
            parse_input_shape(bad)
    with pytest.raises(ShapealgError):
        analyze("x.onnx", input_shape=(1, 3, "H", "W"))


def test_load_factory(tmp_path):
    f = tmp_path / "user_model.py"
    f.write_text("import torch\nfrom torch import nn\n"
                 "def make():\n    return nn.Sequential(nn.Conv2d(3, 2, 3))\n"
                 "def not_a_module():\n    return 3\n")
    assert isinstance(load_factory(f"{f}:make"), nn.Module)
    for spec, msg in ((f"{f}:missing", "has no"), (f"{f}:not_a_module", "expected a torch nn.Module"),
                      (f"{tmp_path}/nope.py:make", "no such file")):
        with pytest.raises(ShapealgError, match=msg):
            load_factory(spec)


def cli_main():
    try:
        from shapealg_cli.main import main
    except ImportError:  # not installed: the source tree's package
        from cli.main import main
    return main


def test_cli_analyze_factory(tmp_path):
    from click.testing import CliRunner
    main = cli_main()
    f = tmp_path / "tiny.py"
    f.write_text("from torch import nn\ndef make():\n    return nn.Sequential(nn.Conv2d(3, 4, 3, stride=2), nn.ReLU())\n")
    r = CliRunner().invoke(main, ["analyze", f"{f}:make", "--input", "1,3,H,W", "--modules", "--depth", "1"])
    assert r.exit_code == 0, r.output
    assert "Conv2d" in r.output and "ceiling(H/2) - 1" in r.output and "verdict:" in r.output
    r = CliRunner().invoke(main, ["analyze", f"{f}:make", "--modules", "--format", "json"])
    import json
    row = json.loads(r.stdout)["modules"]["rows"][1]  # stdout: only the JSON (progress goes to stderr)
    from shapealg.dims import parse_dim
    assert row["module"] == "0" and evaluate(parse_dim(row["shapes"][0][2]), {"H": 9}) == 4  # (9 - 3) // 2 + 1
    r = CliRunner().invoke(main, ["analyze", f"{f}:make", "--input", "1,3,H,,W"])
    errors = [ln for ln in r.output.splitlines() if not ln.startswith("shapealg: [")]  # progress lines: "[1.2 s] ..."
    assert r.exit_code == 2 and len(errors) <= 1 and r.stdout == "", r.output
    r = CliRunner().invoke(main, ["analyze", "--help"])
    assert "IMPORTS AND RUNS" in r.output


def test_transformers_vit_param_total():
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(0)
    cfg = transformers.ViTConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=37,
                                 image_size=32, patch_size=8)
    m = transformers.ViTModel(cfg).eval()
    a = analyze(m, input_shape=(1, 3, "H", "W"))
    t = a.modules(depth=2)
    assert t.total_params == t.rows[0].params == sum(p.numel() for p in m.parameters())
    assert a.front.specialized  # HF ViT refuses other sizes without interpolate_pos_encoding: torch fixes H, W


def _hf(name):
    transformers = pytest.importorskip("transformers")
    T = transformers
    return {
        "resnet": (T.ResNetModel, T.ResNetConfig(embedding_size=8, hidden_sizes=[8, 16], depths=[1, 1])),
        "convnext": (T.ConvNextModel, T.ConvNextConfig(num_stages=2, hidden_sizes=[8, 16], depths=[1, 1])),
        "swin": (T.SwinModel, T.SwinConfig(image_size=32, patch_size=4, embed_dim=8, depths=[1, 1],
                                           num_heads=[1, 2], window_size=4)),
    }[name]


@pytest.mark.slow
@pytest.mark.parametrize("name", ["resnet", "convnext", "swin"])
def test_transformers_param_totals(name):
    if name == "swin" and not os.environ.get("SHAPEALG_SWIN"):  # torch.export alone takes 90 s+ on 2 cores
        pytest.skip("set SHAPEALG_SWIN=1: Swin's export takes minutes")
    cls, cfg = _hf(name)
    torch.manual_seed(0)
    m = cls(cfg).eval()
    a = analyze(m, input_shape=(1, 3, "H", "W"))
    t = a.modules()
    assert t.total_params == t.rows[0].params == sum(p.numel() for p in m.parameters())
    assert t.total_buffers == sum(b.numel() for b in m.buffers())
    s = 64 if name != "swin" else 32
    bad = check_module_shapes(m, (1, 3, "H", "W"), [(s, s)], analysis=a)
    assert bad == {(s, s): []}
