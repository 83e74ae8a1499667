"""The seed notebook, reproduced with shapealg on ONNX files from both torch exporters.

Every formula is checked by evaluating it at many sizes against the shapes onnxruntime produced."""
from __future__ import annotations

import pytest
import sympy
import torch
from torch import nn

from shapealg import conv_out, conv_params, evaluate, infer, linear_params, symbol
from shapealg import analyze
from tests.conftest import OrtRunError, run_ort
from tests.models import export_onnx, seed_model

H, W = symbol("H"), symbol("W")
NOTEBOOK_224 = [(1, 16, 224, 224), (1, 16, 224, 224), (1, 16, 112, 112), (1, 32, 110, 110), (1, 32, 110, 110),
                (1, 387200), (1, 64), (1, 64), (1, 10)]
# odd, prime, boundary, large, and the notebook's sizes; (204, 246) and (6, 24204) also give 387200 features
SIZES = [(224, 224), (225, 225), (448, 448), (204, 246), (205, 247), (6, 24204), (7, 24205), (5, 24204),
         (223, 224), (6, 6), (5, 5), (4, 4), (1, 1), (97, 31), (113, 2)]


@pytest.fixture(scope="module", params=["torchscript", "dynamo"])
def seed(request, tmp_path_factory):
    import onnx
    path = tmp_path_factory.mktemp(request.param) / "seed.onnx"
    exp = export_onnx(seed_model(), path, input_shape=(1, 3, 224, 224), exporter=request.param)
    return request.param, onnx.load(str(exp.path)), exp.path


def _main_chain(res):
    """The 9 layer outputs of the notebook (the exporters add no other nodes on the main path)."""
    ops = ("Conv", "Relu", "MaxPool", "Flatten", "Reshape", "Gemm", "MatMul")
    return [n for n in res.nodes if n.op_type in ops]


def test_parameter_table_is_the_notebooks(seed):
    _, model, _ = seed
    res = infer(model)
    inits = {t.name: tuple(t.dims) for t in model.graph.initializer}
    counts = sorted((n for n in (res.graph.initializers[x].numel for node in res.nodes for x in node.param_inputs)),
                    reverse=True)
    assert counts == sorted([432, 16, 12800, 32, 24780800, 64, 640, 10], reverse=True), inits
    assert res.total_params == 24794794
    assert [n.params for n in res.nodes if n.params] == [448, 12832, 24780864, 650]


def test_shapes_at_224_are_the_notebooks(seed):
    _, model, _ = seed
    res = infer(model)
    chain = _main_chain(res)
    got = [tuple(evaluate(d, {"H": 224, "W": 224}) for d in res.values[n.outputs[0]].shape) for n in chain]
    assert got == NOTEBOOK_224


def test_formulas_of_the_second_conv_and_the_flatten(seed):
    _, model, _ = seed
    res = infer(model)
    conv2 = [n for n in res.nodes if n.op_type == "Conv"][1]
    flat = [n for n in res.nodes if n.op_type in ("Flatten", "Reshape")][0]
    expect_conv = (1, 32, sympy.floor(H / 2) - 2, sympy.floor(W / 2) - 2)
    flat_shape = res.values[flat.outputs[0]].shape
    for h in (6, 7, 31, 97, 224, 225, 448, 1000):
        for w in (6, 13, 224, 511):
            env = {"H": h, "W": w}
            assert [evaluate(d, env) for d in res.values[conv2.outputs[0]].shape] == \
                [evaluate(d, env) for d in expect_conv]
            if "torchscript" in seed[0]:  # dynamo's Reshape bakes 387200 in: that is the point
                assert evaluate(flat_shape[1], env) == 32 * (h // 2 - 2) * (w // 2 - 2)
    assert str(res.values[conv2.outputs[0]].shape[2]) == "floor(H/2) - 2"


def test_every_formula_matches_onnxruntime(seed):
    """Wherever onnxruntime runs the file, every value's formula equals its actual shape;
    the analysis calls a size valid exactly where onnxruntime runs it."""
    exporter, model, _ = seed
    a = analyze(model)
    runs = 0
    for h, w in SIZES:
        env = {"H": h, "W": w}
        try:
            actual = run_ort(model, {"x": (1, 3, h, w)})
        except OrtRunError:
            assert not a.domain.contains(env), f"{exporter}: onnxruntime fails at {h}x{w}, analysis says valid"
            continue
        runs += 1
        assert a.domain.contains(env), f"{exporter}: onnxruntime runs at {h}x{w}, analysis says invalid"
        for name, shp in actual.items():
            formula = a.result.values[name].shape
            assert tuple(evaluate(d, env) for d in formula) == shp, (exporter, name, h, w, formula, shp)
    assert runs >= 3  # 224x224, 204x246, 6x24204


def test_parameter_formula_helpers():
    # f*f*c_in*c_out + bias: the notebook's three worked examples
    assert conv_params(3, 3, 16) == 3 * 3 * 3 * 16 + 16 == 448
    assert conv_params(5, 16, 32) == 5 * 5 * 16 * 32 + 32 == 12832
    assert linear_params(387200, 64, bias=False) == 24780800
    assert linear_params(25088, 4096) == 102764544  # VGG16's first FC, as the notebook computes
    assert conv_out(224, 3, 1, 1) == 224
    e = conv_out(H, 3, 2, 1)
    assert isinstance(e, sympy.Expr)
    for h in range(1, 300):
        assert evaluate(e, {"H": h}) == (h + 2 - 3) // 2 + 1


def test_one_by_one_conv_is_a_linear_layer(tmp_path):
    """The notebook's first cell: Conv2d(16, 33, 1) == Linear(16, 33) applied on the channel axis,
    numerically (torch) and symbolically (same params, same MACs formula, same output shape)."""
    torch.manual_seed(0)
    m = nn.Conv2d(16, 33, kernel_size=1, stride=1)
    fc = nn.Linear(16, 33)
    fc.weight.data = m.weight.squeeze()
    fc.bias.data = m.bias
    x = torch.randn(20, 16, 50, 100)
    diff = (fc(x.transpose(1, 3)).transpose(1, 3) - m(x)).abs().max().item()
    assert diff < 1e-5

    class AsLinear(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = fc

        def forward(self, x):
            return self.fc(x.transpose(1, 3)).transpose(1, 3)

    import onnx
    pa = export_onnx(m.eval(), tmp_path / "conv.onnx", input_shape=(1, 16, 50, 100), exporter="torchscript").path
    pb = export_onnx(AsLinear().eval(), tmp_path / "fc.onnx", input_shape=(1, 16, 50, 100), exporter="torchscript").path
    ra, rb = infer(onnx.load(str(pa))), infer(onnx.load(str(pb)))
    assert ra.total_params == rb.total_params == 16 * 33 + 33
    out_a = ra.values[ra.graph.outputs[0]].shape
    out_b = rb.values[rb.graph.outputs[0]].shape
    for h, w in [(50, 100), (1, 1), (7, 13), (224, 31)]:
        env = {"H": h, "W": w}
        assert [evaluate(d, env) for d in out_a] == [evaluate(d, env) for d in out_b] == [1, 33, h, w]
        assert evaluate(ra.total_macs, env) == evaluate(rb.total_macs, env) == 16 * 33 * h * w
        got = run_ort(onnx.load(str(pb)), {"x": (1, 16, h, w)})
        assert got[rb.graph.outputs[0]] == (1, 33, h, w)
