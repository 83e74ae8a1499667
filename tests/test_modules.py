"""The module view: rows by torch module from an nn.Module or from the scopes an ONNX file records."""
from __future__ import annotations

import pytest

from shapealg import analyze, evaluate
from shapealg.modules import UNOWNED, module_table, node_scope

SEED_ONNX = "examples/seed_model.onnx"


@pytest.mark.parametrize("name, scope, known, want", [
    ("node_conv2d", "['', 'net', 'net.0', 'conv2d']", None, "net.0"),
    ("node_add", "['', 'add']", None, ""),
    ("n", ": pkg.M/net: torch.nn.Sequential/net.3: torch.nn.Conv2d/conv2d_1: aten.conv2d.default", None, "net.3"),
    ("/net/net.0/Conv", "", None, "net.0"),
    ("/encoder/stages.0/layers.0/dwconv/Conv", "", None, "encoder.stages.0.layers.0.dwconv"),
    ("/net/net.0/Conv", "", {"", "net", "net.0"}, "net.0"),
    ("/head/head/Gemm", "", {"", "head", "head.head"}, "head.head"),
    ("/ReduceMean", "", None, ""),
    ("Identity_12", "", None, None),
    ("Constant_3", "", None, None),
])
def test_node_scope(name, scope, known, want):
    assert node_scope(name, scope, known) == want


def test_onnx_only_table_from_torchscript_names():
    a = analyze(SEED_ONNX)
    t = module_table(a)
    assert t.source == "onnx"
    names = [r.name for r in t.rows]
    assert names[:2] == ["", "net"] and [f"net.{i}" for i in range(9)] == names[2:]
    assert t.row("net.3").params == 12832 and t.row("net.6").params == 24780864
    assert t.total_params == t.rows[0].params == a.result.total_params == 24794794
    assert tuple(evaluate(d, {"H": 224, "W": 224}) for d in t.row("net.3").shape) == (1, 32, 110, 110)
    assert [r.name for r in module_table(a, depth=1).rows] == ["", "net"]
    text = str(t)
    assert "floor(H/2) - 2" in text and "24,794,794" in text
    html = t._repr_html_()
    assert "<table" in html and "</table>" in html and "\\left\\lfloor" in html
    j = t.to_json()
    assert j["totals"]["params"] == 24794794 and j["rows"][0]["module"] == ""


def test_module_table_params_equal_torch_with_shared_and_frozen():
    import torch
    from torch import nn

    class Tied(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Linear(8, 8)
            self.b = self.a  # shared: counted once, as torch counts
            self.norm = nn.BatchNorm1d(8)
            self.frozen = nn.Linear(8, 2)
            self.frozen.weight.requires_grad_(False)

        def forward(self, x):
            return self.frozen(self.norm(self.b(self.a(x))))

    torch.manual_seed(0)
    m = Tied().eval()
    a = analyze(m, input_shape=("N", 8))
    t = a.modules()
    assert t.total_params == sum(p.numel() for p in m.parameters()) == 72 + 16 + 18
    assert t.trainable_params == t.total_params - 16
    assert t.total_buffers == sum(b.numel() for b in m.buffers())
    assert t.row("frozen").params - t.row("frozen").trainable == 16
    assert "frozen" in str(t)
    assert t.unowned is None or t.unowned.name == UNOWNED
