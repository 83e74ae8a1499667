"""shapealg.cost: MACs / FLOPs / activation memory as formulas, against fvcore, torchinfo and onnx-tool.

Each tool runs at concrete sizes (odd, prime, non-square, large); under the matching convention the formula
evaluated at that size must equal the tool's figure exactly. Memory is checked against the bytes of every
output of a real onnxruntime run. Formulas are compared by evaluating them, never by their strings.
"""
from __future__ import annotations

import json
import math
import os
import struct
import warnings

import numpy as np
import onnx
import pytest
import sympy
from onnx import TensorProto, helper

from shapealg import analyze
from shapealg.cost import CONVENTIONS, Convention, cost, get_convention, growth, module_path
from shapealg.cost.memory import value_bytes
from shapealg.cost.plot import parse_range
from shapealg.dims import evaluate, parse_dim, symbol
from shapealg.records import ShapealgError

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from tests.models import export_onnx, unet, vit_interpolated  # noqa: E402

H, W = symbol("H"), symbol("W")
SIZES = [(37, 37), (61, 53), (97, 131), (256, 320)]   # odd, primes / non-square, large


class SmallCNN(nn.Module):
    """Conv+bias, ReLU, BatchNorm after the ReLU (so no exporter folds it into the conv), MaxPool, a grouped
    strided conv without bias, ConvTranspose, AdaptiveAvgPool(1), Linear."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.BatchNorm2d(8), nn.MaxPool2d(2),
                                      nn.Conv2d(8, 16, 3, stride=2, groups=2, bias=False), nn.ReLU())
        self.up = nn.ConvTranspose2d(16, 4, 2, stride=2)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(4, 10)

    def forward(self, x):
        return self.fc(self.pool(self.up(self.features(x))).flatten(1))


def _cnn():
    torch.manual_seed(0)
    m = SmallCNN().eval()
    with torch.no_grad():  # non-trivial running stats
        m.features[2].running_mean.uniform_(-1, 1)
        m.features[2].running_var.uniform_(0.5, 2)
    return m


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    d = tmp_path_factory.mktemp("cost")
    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, build in (("cnn", _cnn), ("vit", vit_interpolated), ("unet", unet)):
            m = build()
            p, note = export_onnx(m, d / f"{name}.onnx", input_shape=(1, 3, 64, 64), exporter="torchscript")
            assert note.startswith("torchscript dynamic"), note
            out[name] = (m, str(p), analyze(str(p)))
    return out


# ---------------------------------------------------------------- the tools, at concrete sizes

def _fvcore(m, h, w):
    fv = pytest.importorskip("fvcore.nn")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        f = fv.FlopCountAnalysis(m, torch.randn(1, 3, h, w))
        f.unsupported_ops_warnings(False)
        f.uncalled_modules_warnings(False)
        return int(f.total())


def _torchinfo(m, h, w):
    ti = pytest.importorskip("torchinfo")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return int(ti.summary(m, input_size=(1, 3, h, w), verbose=0).total_mult_adds)


def _onnx_tool(path, h, w):
    ot = pytest.importorskip("onnx_tool")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        g = ot.Model(path, {"verbose": False}).graph
        g.shape_infer({"x": np.zeros((1, 3, h, w), np.float32)})
        g.profile()
        return int(round(g.macs[0])), {k: int(v.macs[0]) for k, v in g.nodemap.items()}


TOOL_CASES = [("cnn", s) for s in SIZES] + [("vit", s) for s in SIZES] + \
             [("unet", s) for s in [(64, 64), (96, 136)]]


@pytest.mark.parametrize("name,size", TOOL_CASES, ids=[f"{n}-{h}x{w}" for n, (h, w) in TOOL_CASES])
def test_formulas_equal_tools_at_sizes(models, name, size):
    m, path, a = models[name]
    h, w = size
    assert a.domain.contains({"H": h, "W": w})
    got = {c: cost(a, c).evaluate(H=h, W=w)["macs"] for c in ("fvcore", "torchinfo", "onnx-tool")}
    assert got["fvcore"] == _fvcore(m, h, w)
    assert got["torchinfo"] == _torchinfo(m, h, w)
    total, per_node = _onnx_tool(path, h, w)
    mine = cost(a, "onnx-tool").node_macs_at(H=h, W=w)
    assert {k: v for k, v in per_node.items() if v} == {k: v for k, v in mine.items() if v}
    assert got["onnx-tool"] == total


def test_conventions_differ_where_documented(models):
    """The same CNN: the conventions differ by exactly the terms docs/COSTS.md names."""
    _, _, a = models["cnn"]
    env = {"H": 61, "W": 53}
    base = cost(a).node_macs_at(env)
    fv = cost(a, "fvcore").node_macs_at(env)
    ti = cost(a, "torchinfo").node_macs_at(env)
    r = a.result
    conv0 = next(n for n in r.nodes if n.op_type == "Conv")
    out0 = evaluate(sympy.Mul(*r.values[conv0.outputs[0]].shape), env)
    assert ti[conv0.name] - base[conv0.name] == out0            # bias: one add per output element
    assert fv[conv0.name] == base[conv0.name]                     # fvcore: no bias
    bn = next(n for n in r.nodes if n.op_type == "BatchNormalization")
    x_bn = evaluate(sympy.Mul(*r.values[bn.inputs[0]].shape), env)
    assert base[bn.name] == 0 and fv[bn.name] == 2 * x_bn and ti[bn.name] == 1 * 16  # N * (weight + bias)
    ct = next(n for n in r.nodes if n.op_type == "ConvTranspose")
    x_ct = r.values[ct.inputs[0]].shape
    out_ct = r.values[ct.outputs[0]].shape
    # true MACs use input positions; torchinfo uses output positions (4x for stride 2)
    assert base[ct.name] == evaluate(sympy.Mul(*x_ct), env) * 4 * 2 * 2
    assert ti[ct.name] == evaluate(out_ct[2] * out_ct[3], env) * (16 * 4 * 2 * 2 + 4)


def test_default_convention_matches_analyze_macs(models):
    """The shapealg convention is the README's: per-node MACs equal analyze's for every linear-algebra node."""
    for _, _, a in models.values():
        c = cost(a)
        for nr in a.result.nodes:
            nc = c.node(nr.name)
            if nr.op_type in ("Conv", "ConvTranspose", "Gemm", "MatMul"):
                for env in ({"H": 64, "W": 64}, {"H": 96, "W": 136}):  # valid sizes
                    assert evaluate(nc.macs, env) == evaluate(nr.macs, env), nr.name
            else:
                assert nc.macs in (0, None)
        for env in ({"H": 64, "W": 64}, {"H": 96, "W": 136}):
            assert evaluate(c.total_macs, env) == evaluate(a.result.total_macs, env)
        assert sympy.expand(sympy.sympify(c.total_flops) - 2 * sympy.sympify(c.total_macs)) == 0


def test_switches(models):
    _, _, a = models["cnn"]
    env = {"H": 97, "W": 131}
    base = cost(a).evaluate(env)
    assert cost(a, flops_per_mac=1).evaluate(env)["flops"] == base["macs"]
    with_bias = cost(a, bias=True)
    assert with_bias.convention.name == "shapealg[+bias]"
    assert with_bias.evaluate(env)["macs"] > base["macs"]
    ew = cost(a, elementwise=True).node_macs_at(env)
    relu = next(n for n in a.result.nodes if n.op_type == "Relu")
    assert ew[relu.name] == evaluate(sympy.Mul(*a.result.values[relu.outputs[0]].shape), env)
    pool = cost(a, pooling=True).node_macs_at(env)
    mp = next(n for n in a.result.nodes if n.op_type == "MaxPool")
    assert pool[mp.name] == evaluate(sympy.Mul(*a.result.values[mp.outputs[0]].shape), env) * 4
    full = cost(a, "full").evaluate(env)["macs"]
    assert full > cost(a, bias=True, pooling=True).evaluate(env)["macs"] > base["macs"]
    assert get_convention("onnx_tool") is CONVENTIONS["onnx-tool"]
    with pytest.raises(ValueError):
        get_convention("thop")
    with pytest.raises(ValueError):
        Convention().with_(biass=True)
    with pytest.raises(ValueError):
        Convention(flops_per_mac=3)


# ---------------------------------------------------------------- the ViT acceptance

def test_vit_attention_is_quadratic_in_patches(models):
    """vit_interpolated: patch 8, dim 16, 2 heads, 1 block. Tokens T = floor(H/8)*floor(W/8) + 1; the score
    MatMul q @ k^T is heads * T * T * (dim / heads) = 16 * T^2 MACs, attn @ v the same."""
    m, _, a = models["vit"]
    c = cost(a)
    P = sympy.floor(H / 8) * sympy.floor(W / 8)
    T = P + 1
    act = [n for n in c.nodes if n.op_type == "MatMul" and n.status == "counted"
           and not any(x in a.result.graph.initializers for x in a.result.node(n.name).inputs)]
    assert len(act) == 2
    for n in act:
        for h, w in [(37, 37), (64, 80), (97, 131), (1023, 517)]:
            assert evaluate(n.macs, {"H": h, "W": w}) == evaluate(16 * T ** 2, {"H": h, "W": w})
        g = growth(n.macs, ["H", "W"])
        assert g.order == "(H*W)^2" and g.degree == 4
        assert sympy.simplify(g.leading - 16 * H ** 2 * W ** 2 / 8 ** 4) == 0
    assert c.growth["macs"].order == "(H*W)^2"
    # the linear layers grow as H*W; at large sizes the two attention MatMuls are all of the leading term
    lin = [n for n in c.nodes if n.op_type == "MatMul" and n not in act]
    assert lin and all(growth(n.macs, ["H", "W"]).order == "H*W" for n in lin)
    dom = c.dominant["macs"]
    assert {d.node for d in dom} == {n.name for n in act}
    assert math.isclose(sum(d.share for d in dom), 1.0)
    # activation memory is quadratic too (the (B, heads, T, T) score tensors)
    assert c.growth["activation_bytes"].order == "(H*W)^2"


@pytest.mark.slow
def test_hf_vit_attention_and_tools(tmp_path):
    """transformers ViTModel (image 32, patch 8, hidden 32, 2 layers, 2 heads), position embeddings
    interpolated: score MatMul = hidden * T^2, T = floor(H/8)*floor(W/8) + 1; tools agree at sizes."""
    tr = pytest.importorskip("transformers")
    cfg = tr.ViTConfig(image_size=32, patch_size=8, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                       intermediate_size=64, attn_implementation="eager")

    class Wrap(nn.Module):
        def __init__(self):
            super().__init__()
            torch.manual_seed(0)
            self.vit = tr.ViTModel(cfg, add_pooling_layer=False).eval()

        def forward(self, x):
            return self.vit(pixel_values=x, interpolate_pos_encoding=True).last_hidden_state

    m = Wrap().eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        p, note = export_onnx(m, tmp_path / "hfvit.onnx", input_shape=(1, 3, 32, 32), exporter="torchscript")
    a = analyze(str(p))
    c = cost(a)
    T = sympy.floor(H / 8) * sympy.floor(W / 8) + 1
    scores = [n for n in c.nodes if n.op_type == "MatMul" and growth(n.macs, ["H", "W"]).degree == 4]
    assert len(scores) == 4  # q @ k^T and attn @ v in each of 2 layers
    for n in scores:
        for h, w in [(37, 37), (97, 131)]:
            assert evaluate(n.macs, {"H": h, "W": w}) == evaluate(32 * T ** 2, {"H": h, "W": w})
    assert c.growth["macs"].order == "(H*W)^2"
    assert any("layers.0" in mm.name for mm in c.modules(2))
    for h, w in [(37, 37), (97, 131)]:
        assert cost(a, "fvcore").evaluate(H=h, W=w)["macs"] == _fvcore(m, h, w)
        assert cost(a, "torchinfo").evaluate(H=h, W=w)["macs"] == _torchinfo(m, h, w)
        assert cost(a, "onnx-tool").evaluate(H=h, W=w)["macs"] == _onnx_tool(str(p), h, w)[0]


@pytest.mark.slow
def test_dynamo_export_scopes_and_tools(tmp_path):
    """A dynamo export carries module scopes in metadata; the counts agree with the tools all the same."""
    m = vit_interpolated()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        p, note = export_onnx(m, tmp_path / "vit_dyn.onnx", exporter="dynamo")
    assert note.startswith("dynamo dynamic"), note
    a = analyze(str(p))
    mods = {mm.name for mm in cost(a).modules(1)}
    assert {"patch_embed", "block", "head"} <= mods
    for h, w in [(37, 37), (97, 131)]:
        assert cost(a, "fvcore").evaluate(H=h, W=w)["macs"] == _fvcore(m, h, w)
        assert cost(a, "torchinfo").evaluate(H=h, W=w)["macs"] == _torchinfo(m, h, w)
    assert cost(a).growth["macs"].order == "(H*W)^2"


# ---------------------------------------------------------------- memory

def _ort_outputs(path, h, w):
    import onnxruntime as ort
    model = onnx.load(path)
    del model.graph.output[:]
    names = [o for n in model.graph.node for o in n.output if o]
    for o in names:
        model.graph.output.append(onnx.ValueInfoProto(name=o))
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    so.log_severity_level = 4
    s = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    x = np.random.default_rng(0).standard_normal((1, 3, h, w)).astype(np.float32)
    return x, dict(zip(names, s.run(names, {"x": x})))


def _peak_independent(result, nbytes):
    """Peak live bytes by a direct simulation: after each node, free what no later node reads."""
    order = result.nodes
    outputs = set(result.graph.outputs)
    live = {gi.name for gi in result.graph.inputs}
    best = 0
    for i, nr in enumerate(order):
        live |= {o for o in nr.outputs if o}
        best = max(best, sum(nbytes[v] for v in live))
        later = {x for n in order[i + 1:] for x in n.inputs}
        live = {v for v in live if v in later or v in outputs}
    return best


@pytest.mark.parametrize("name,size", [("cnn", (61, 53)), ("vit", (97, 131)), ("unet", (96, 136))])
def test_activation_memory_equals_onnxruntime_bytes(models, name, size):
    _, path, a = models[name]
    h, w = size
    x, outs = _ort_outputs(path, h, w)
    nbytes = {k: int(np.asarray(v).nbytes) for k, v in outs.items()}
    nbytes["x"] = x.nbytes
    c = cost(a)
    got = c.evaluate(H=h, W=w)
    assert got["activation_bytes"] == sum(nbytes.values())
    for n in c.nodes:
        assert evaluate(n.output_bytes, {"H": h, "W": w}) == sum(nbytes[o] for o in a.result.node(n.name).outputs)
    assert got["peak_bytes"] == _peak_independent(a.result, nbytes)
    assert evaluate(c.totals["peak_bytes"], {"H": h, "W": w}) == got["peak_bytes"]


def test_bytes_by_dtype():
    assert value_bytes((2, 3), TensorProto.FLOAT) == 24
    assert value_bytes((2, 3), TensorProto.FLOAT16) == 12
    assert value_bytes((2, 3), TensorProto.INT64) == 48
    assert value_bytes((2, 3), TensorProto.BOOL) == 6
    assert value_bytes((H, 3), TensorProto.DOUBLE) == 24 * H
    assert value_bytes((H, 3), TensorProto.STRING) is None
    assert value_bytes(None, TensorProto.FLOAT) is None


# ---------------------------------------------------------------- not modelled is never 0 silently

def _custom_model(path):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, "H", "W"])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    w = helper.make_tensor("w", TensorProto.FLOAT, [8, 3, 3, 3], np.zeros(8 * 27, np.float32).tolist())
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], name="conv", pads=[1, 1, 1, 1]),
             helper.make_node("MyOp", ["c"], ["m"], name="mystery", domain="my.domain"),
             helper.make_node("Relu", ["m"], ["y"], name="relu")]
    g = helper.make_graph(nodes, "g", [x], [y], [w])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("my.domain", 1)])
    onnx.save(m, path)
    return path


def test_unmodelled_op_is_listed(tmp_path):
    c = cost(_custom_model(str(tmp_path / "custom.onnx")), "full")
    nm = c.not_modelled
    assert [n.name for n in nm] == ["mystery", "relu"]
    assert nm[0].macs is None and nm[0].status == "not-modelled"
    assert not c.complete
    assert any("lower bounds" in w for w in c.warnings)
    assert c.node("relu").status == "unknown" and c.node("relu").macs is None  # its input shape is unknown
    j = c.to_json()
    assert [d["node"] for d in j["not_modelled"]] == ["mystery", "relu"] and j["complete"] is False
    assert evaluate(c.total_macs, {"H": 5, "W": 7}) == 8 * 27 * 35  # the conv alone: a lower bound
    # not modelled is distinct from "this convention does not count it"
    z = cost(str(tmp_path / "custom.onnx"))
    assert z.node("mystery").status == "not-modelled"


def test_lstm_counted(tmp_path):
    """LSTM has a rule and a cost since issue 16: seq * batch * dirs * 4 gates * hidden * (input + hidden)."""
    class R(nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = nn.LSTM(3, 4, batch_first=True)

        def forward(self, x):
            return self.rnn(x.flatten(2).transpose(1, 2))[0]

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        p, _ = export_onnx(R().eval(), tmp_path / "lstm.onnx", input_shape=(1, 3, 8, 8), exporter="torchscript")
    c = cost(str(p))
    assert [n.op_type for n in c.not_modelled] == []
    lstm = [n for n in c.nodes if n.op_type == "LSTM"]
    assert len(lstm) == 1 and sympy.expand(lstm[0].macs - 112 * H * W) == 0, lstm


# ---------------------------------------------------------------- growth, modules, evaluation

def test_growth_orders():
    assert growth(27 * H * W + 5, ["H", "W"]).order == "H*W"
    g = growth(32 * (sympy.floor(H / 16) * sympy.floor(W / 16) + 1) ** 2, ["H", "W"])
    assert g.order == "(H*W)^2" and sympy.simplify(g.leading - 32 * H ** 2 * W ** 2 / 2 ** 16) == 0
    assert growth(H ** 2 * W + 3 * H, ["H", "W"]).order == "H^2*W"
    assert growth(sympy.Integer(40), ["H", "W"]).order == "1"
    assert growth(sympy.Max(64 * H * W, 5 * H), ["H", "W"]).order == "H*W"
    L = symbol("L")
    assert growth(3 * sympy.ceiling(L / 2) ** 2, ["L"]).order == "L^2"
    assert growth(None, ["H"]).order == "?"


def test_module_path():
    assert module_path("/layer1/layer1.0/conv1/Conv") == ("layer1", "layer1.0", "layer1.0.conv1")
    assert module_path("/encoder/layer.0/attention/query/MatMul") == (
        "encoder", "encoder.layer.0", "encoder.layer.0.attention", "encoder.layer.0.attention.query")
    assert module_path("node_conv2d", "['', 'features', 'features.4', 'conv2d_1']") == ("features", "features.4")
    assert module_path("n", ": __main__.Net/up: torch.nn.ConvTranspose2d/convolution: aten.convolution") == ("up",)
    assert module_path("Conv_3") == ()


def test_modules_sum_to_totals(models):
    _, _, a = models["unet"]
    c = cost(a, "full")
    for depth in (1, 2, 3):
        mods = c.modules(depth)
        tot = sum(evaluate(mm.macs, {"H": 96, "W": 136}) for mm in mods)
        assert tot == c.evaluate(H=96, W=136)["macs"]
    names = [mm.name for mm in c.modules(1)]
    assert "inc" in names and "head" in names and "downs.0" in names


def test_series_is_exact_and_marks_invalid(models):
    _, _, a = models["unet"]
    c = cost(a, "full")
    envs = [{"H": s, "W": s + 8} for s in range(60, 75)]
    for env, r in zip(envs, c.series(envs)):
        assert r["valid"] == (env["H"] % 8 == 0)
        for k in ("macs", "flops", "activation_bytes"):
            assert r[k] == evaluate(c.totals[k], env)


# ---------------------------------------------------------------- the CLI

def _cli():
    try:
        from shapealg_cli.main import main
    except ImportError:  # running from the source tree without an install
        from cli.main import main
    return main


def test_cli_json_carries_formulas(models, tmp_path, monkeypatch):
    from click.testing import CliRunner
    _, path, a = models["vit"]
    monkeypatch.chdir(tmp_path)
    before = set(os.listdir(tmp_path))
    res = CliRunner().invoke(_cli(), ["cost", path, "--format", "json", "--convention", "fvcore",
                                      "--size", "97x131", "--depth", "2"])
    assert res.exit_code == 0, res.output
    j = json.loads(res.output)
    assert set(os.listdir(tmp_path)) == before  # nothing written
    macs = parse_dim(j["totals"]["macs"], ["H", "W"])
    assert evaluate(macs, {"H": 97, "W": 131}) == j["samples"][0]["macs"] == cost(a, "fvcore").evaluate(
        H=97, W=131)["macs"]
    assert j["growth"]["macs"]["order"] == "(H*W)^2"
    assert j["convention"]["name"] == "fvcore" and j["convention"]["flops_per_mac"] == 1
    assert all(parse_dim(n["macs"], ["H", "W"]) is not None for n in j["nodes"] if n["macs"] is not None)
    assert j["complete"] is True and j["not_modelled"] == []


def test_cli_table_and_plot(models, tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    from click.testing import CliRunner
    _, path, _ = models["unet"]
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "cost.png"
    res = CliRunner().invoke(_cli(), ["cost", path, "--plot", str(out), "--range", "64:512", "--no-bias"])
    assert res.exit_code == 0, res.output
    assert "grows as H*W" in res.output and "every node is modelled" in res.output
    assert set(os.listdir(tmp_path)) == {"cost.png"}
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    wpx, hpx = struct.unpack(">II", data[16:24])
    assert wpx >= 800 and hpx >= 600 and len(data) > 20_000


@pytest.mark.parametrize("args,msg", [
    (["cost", "/nonexistent.onnx"], "no such file"),
    (["cost", "{model}", "--range", "9:3"], "--range"),
    (["cost", "{model}", "--range", "a:b"], "--range"),
    (["cost", "{model}", "--size", "12"], "--size"),
    (["cost", "{model}", "--convention", "thop"], "convention"),
])
def test_cli_bad_input_exit_2(models, args, msg):
    from click.testing import CliRunner
    _, path, _ = models["cnn"]
    res = CliRunner().invoke(_cli(), [a.replace("{model}", path) for a in args])
    assert res.exit_code == 2, res.output
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and msg in lines[0]


def test_parse_range():
    assert parse_range("64:68") == [64, 65, 66, 67, 68]
    assert parse_range("64:1024:64")[-1] == 1024
    assert len(parse_range("1:100000")) <= 2048
    assert parse_range("224, 64,128") == [64, 128, 224]
    for bad in ("0:5", "5:1", "x", "1:2:3:4", ""):
        with pytest.raises(ShapealgError):
            parse_range(bad)


def test_quantized_models_count_their_integer_weights(tmp_path):
    """onnxruntime's own quantizer: in QDQ form each weight is an int8 initializer feeding DequantizeLinear (its
    scale and zero point are metadata), so the total equals the float model's parameters exactly; in QOperator
    form (quantize_dynamic) the ConvInteger / MatMulInteger nodes hold exactly the float model's weight tensors
    (was: only their scales were counted)."""
    import torch
    from onnxruntime.quantization import (CalibrationDataReader, QuantFormat, QuantType, quantize_dynamic,
                                          quantize_static)
    torch.manual_seed(0)
    m = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 6 * 6, 10), nn.ReLU(),
                      nn.Linear(10, 4))
    n_float = sum(p.numel() for p in m.parameters())
    n_weights = sum(p.numel() for name, p in m.named_parameters() if name.endswith("weight"))
    f, q1, q2 = (str(tmp_path / n) for n in ("m.onnx", "qdq.onnx", "qop.onnx"))
    torch.onnx.export(m, (torch.randn(1, 3, 8, 8),), f, dynamo=False)
    name = onnx.load(f).graph.input[0].name

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.it = iter([{name: np.random.default_rng(i).standard_normal((1, 3, 8, 8)).astype(np.float32)}
                            for i in range(2)])

        def get_next(self):
            return next(self.it, None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        quantize_static(f, q1, Reader(), quant_format=QuantFormat.QDQ, weight_type=QuantType.QInt8)
        quantize_dynamic(f, q2, weight_type=QuantType.QInt8)
    qdq = analyze(q1).result
    assert "DequantizeLinear" in {n.op_type for n in qdq.nodes}
    assert qdq.total_params == n_float == 3158
    qop = analyze(q2).result
    integer = [n for n in qop.nodes if n.op_type in ("ConvInteger", "MatMulInteger")]
    assert len(integer) == 3 and sum(n.params for n in integer) == n_weights
