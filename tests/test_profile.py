"""``shapealg profile``: deployment profiles from the valid set, on real models.

Every emitted min / opt / max runs in onnxruntime (a plain session, not shapealg's validate), every size the
report calls invalid fails there, the trtexec flags and onnxruntime's TensorRT option strings read back through
parsers written to those tools' documented syntax, and the torch.export spec exports the torch module.

Fast (unmarked): a UNet needing multiples of 16 and a detection-like model with a dynamic batch and two inputs
that must agree. Slow: transformers' ViT (locked), BERT (S <= 512) and Swin (periodic).
"""
from __future__ import annotations

import json
import os
import shlex
import warnings

import numpy as np
import onnx
import pytest
import torch
import torch.nn.functional as F
from click.testing import CliRunner
from torch import nn

from shapealg.profile import check_profiles, next_valid_code, parse_bytes, profile
from shapealg.profile.syntax import (parse_openvino_input, parse_ort_shapes, parse_trtexec_command,
                                     parse_trtexec_shapes, trtexec_shapes)
from shapealg.records import ShapealgError
from shapealg_cli.main import main
from tests.models import export_onnx, unet

_SESS = {}


def _runs(path, shapes, seed=0) -> bool:
    """Whether onnxruntime (a plain session) runs the model on random inputs of these shapes."""
    import onnxruntime as ort
    key = str(path)
    if key not in _SESS:
        so = ort.SessionOptions()
        so.log_severity_level = 4
        s = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
        _SESS[key] = (s, {i.name: i.type for i in s.get_inputs()})
    sess, types = _SESS[key]
    rng = np.random.default_rng(seed)
    feeds = {}
    for name, shp in shapes.items():
        if "int" in types[name]:
            feeds[name] = rng.integers(0, 2, tuple(shp)).astype(np.int64)
        else:
            feeds[name] = rng.standard_normal(tuple(shp)).astype(np.float32)
    try:
        sess.run(None, feeds)
        return True
    except Exception:  # noqa: BLE001 - any failure is "does not run"
        return False


def _assert_runs_as_reported(path, r, dims_sample=3):
    """min / opt / max of every profile run; a few invalid sizes inside each box (and just past it) fail."""
    dom = r.analysis.domain
    ran = 0
    for p in r.profiles:
        for w in ("min", "opt", "max"):
            shapes = {n: v[("min", "opt", "max").index(w)] for n, v in p.shapes.items()}
            assert _runs(path, shapes), (p, w, shapes)
            ran += 1
        bad = []
        for d in p.dims:
            for v in range(d.min, d.max + 1):
                env = {**p.point("opt"), d.name: v}
                if not dom.contains(env):
                    bad.append(env)
                    if len(bad) >= dims_sample:
                        break
            env = {**p.point("max"), d.name: d.max + 1}
            if not dom.contains(env):
                bad.append(env)
        for env in bad:
            shapes = {i.name: i.at(env) for i in r.dynamic_inputs}
            assert not _runs(path, shapes), ("reported invalid but runs", env)
    return ran


def _rename_input(path, new_name, out):
    m = onnx.load(str(path))
    old = m.graph.input[0].name
    m.graph.input[0].name = new_name
    for n in m.graph.node:
        for i, x in enumerate(n.input):
            if x == old:
                n.input[i] = new_name
    onnx.save(m, str(out))
    return out


# ---------------------------------------------------------------- models


@pytest.fixture(scope="module")
def unet_file(tmp_path_factory):
    d = tmp_path_factory.mktemp("unet")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        p, note = export_onnx(unet(4), d / "unet.onnx", exporter="torchscript", dynamic_batch=True)
    assert note == "torchscript dynamic"
    return p


class TinyDet(nn.Module):
    """Detection-like: an image and a mask that must agree (N, H, W shared), stride-2 convs to /16, a top-down
    path (nearest x2 upsample + add) and per-level heads concatenated. 3x3 s2 p1 convs give ceil(h/2), the
    upsample 2*ceil(h/2): the adds need ceil(H/4) and ceil(H/8) even, i.e. H % 16 in {0, 13, 14, 15} (several
    residues: one profile per run of valid sizes)."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        c = 8
        self.stem = nn.Conv2d(3, c, 3, 2, 1)
        self.c3 = nn.Conv2d(c, c, 3, 2, 1)
        self.c4 = nn.Conv2d(c, c, 3, 2, 1)
        self.c5 = nn.Conv2d(c, c, 3, 2, 1)
        self.head = nn.Conv2d(c, 6, 1)

    def forward(self, x, mask):
        x = F.relu(self.stem(x * mask))
        p3 = F.relu(self.c3(x))
        p4 = F.relu(self.c4(p3))
        p5 = F.relu(self.c5(p4))
        p4 = p4 + F.interpolate(p5, scale_factor=2.0, mode="nearest")
        p3 = p3 + F.interpolate(p4, scale_factor=2.0, mode="nearest")
        outs = [self.head(p).flatten(2) for p in (p3, p4, p5)]
        return torch.cat(outs, 2).transpose(1, 2)


@pytest.fixture(scope="module")
def det_file(tmp_path_factory):
    d = tmp_path_factory.mktemp("det")
    m = TinyDet().eval()
    x, mask = torch.randn(2, 3, 64, 64), torch.ones(2, 1, 64, 64)
    axes = {0: "N", 2: "H", 3: "W"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(m, (x, mask), str(d / "det.onnx"), input_names=["image", "mask"], output_names=["boxes"],
                          dynamic_axes={"image": axes, "mask": axes}, dynamo=False, opset_version=17)
    return d / "det.onnx"


# ---------------------------------------------------------------- fast: UNet


def test_unet_strided_profile_runs(unet_file):
    r = profile(str(unet_file), ranges={"H": (100, 300), "W": (100, 300)}, opt={"H": 200, "W": 150})
    assert len(r.profiles) == 1 and not r.left_out
    p = r.profiles[0]
    d = {x.name: x for x in p.dims}
    assert (d["H"].min, d["H"].opt, d["H"].max, d["H"].stride) == (112, 192, 288, 16)  # a tie: the smaller
    assert (d["W"].min, d["W"].opt, d["W"].max, d["W"].stride) == (112, 144, 288, 16)
    assert d["N"].stride == 1 and not d["N"].invalid and d["N"].role == "batch"
    assert d["H"].invalid.startswith("H % 16 != 0 (165 of 177 sizes")
    assert any("fails at node" in n for n in p.notes)
    assert p.shapes["x"] == ((1, 3, 112, 112), (1, 3, 192, 144), (8, 3, 288, 288))
    assert p.memory["peak_bytes"] > 0 and p.memory["activation_bytes"] >= p.memory["peak_bytes"]
    assert p.memory["weights_bytes"] == r.weights_bytes > 0
    assert "Profile(0: N 1..8, H 112..288 step 16" in repr(p) and "ProfileReport(" in repr(r)
    assert _assert_runs_as_reported(unet_file, r) == 3
    # shapealg's own check agrees: every size run, predicted-invalid ones fail where predicted
    c = check_profiles(r, per_profile=2)
    assert c.ok and c.counts.get("agree", 0) >= 5 and c.counts.get("failed-as-predicted", 0) >= 2
    assert "skipped" in c.tensorrt and "tensorrt" in c.tensorrt.lower()


def test_unet_runtime_syntaxes_round_trip(unet_file, tmp_path):
    r = profile(str(unet_file), ranges={"H": (32, 96), "W": (32, 96)}, opt={"H": 64, "W": 64})
    p = r.profiles[0]
    cmd = r.trtexec("my models/unet.onnx")
    got = parse_trtexec_command(cmd)
    assert got == {"min": {"x": p.shapes["x"][0]}, "opt": {"x": p.shapes["x"][1]}, "max": {"x": p.shapes["x"][2]}}
    assert "--onnx=my models/unet.onnx" in shlex.split(cmd)
    opts = r.onnxruntime_tensorrt()
    for k, i in (("trt_profile_min_shapes", 0), ("trt_profile_opt_shapes", 1), ("trt_profile_max_shapes", 2)):
        assert parse_ort_shapes(opts[k]) == [{"x": p.shapes["x"][i]}]
    assert parse_openvino_input(r.openvino(0)) == {"x": [(1, 8), 3, (32, 96), (32, 96)]}
    j = json.loads(json.dumps(r.to_json()))
    assert j["profiles"][0]["dims"][1]["stride"] == 16 and j["runtimes"]["trtexec"] == r.trtexec()
    assert r.to_json("my models/unet.onnx")["runtimes"]["trtexec"] == cmd
    # names with special characters: trtexec quotes them; onnxruntime cannot name ':' and says so
    for name in ("input:0", "img/x"):
        path = _rename_input(unet_file, name, tmp_path / f"{name.replace('/', '_').replace(':', '_')}.onnx")
        rr = profile(str(path), ranges={"H": (32, 96), "W": (32, 96)}, opt={"H": 64, "W": 64})
        flags = rr.trtexec(str(path))
        assert f"'{name}':" in shlex.split(flags)[2]
        assert parse_trtexec_command(flags)["max"] == {name: rr.profiles[0].shapes[name][2]}
        if ":" in name:
            with pytest.raises(ShapealgError, match="rename the input"):
                rr.onnxruntime_tensorrt()
        else:
            assert parse_ort_shapes(rr.onnxruntime_tensorrt()["trt_profile_opt_shapes"]) == [
                {name: rr.profiles[0].shapes[name][1]}]
        assert _runs(path, {name: rr.profiles[0].shapes[name][2]})
    with pytest.raises(ShapealgError, match="trtexec cannot name"):
        trtexec_shapes({"a,b": (1, 2)})
    assert parse_trtexec_shapes("'a:b':1x2,c:d:3x4,e:scalar") == {"a:b": (1, 2), "c:d": (3, 4), "e": ()}


def test_unet_torch_export_spec_exports_the_module(unet_file):
    r = profile(str(unet_file), ranges={"H": (32, 96), "W": (32, 128)}, opt={"H": 64, "W": 64})
    module = unet(4)
    ns = {"module": module}
    exec(compile(r.torch_export(0), "<profile>", "exec"), ns)  # the emitted snippet, as a user pastes it
    ep = ns["ep"]
    ph = [n for n in ep.graph.nodes if n.op == "placeholder" and n.name == "x"][0]
    h, w = ph.meta["val"].shape[2], ph.meta["val"].shape[3]
    assert not isinstance(h, int) and not isinstance(w, int)  # still dynamic: the spec matched the module
    out = ep.module()(torch.randn(3, 3, 96, 128))
    assert tuple(out.shape) == (3, 2, 96, 128)
    specs, shapes = r.dynamic_shapes(0)
    torch.export.export(module, tuple(torch.randn(*s) for s in shapes), dynamic_shapes=specs)


def test_unet_prepare_and_memory_limit(unet_file, tmp_path):
    r = profile(str(unet_file), ranges={"H": (32, 256), "W": (32, 256)}, opt={"H": 128, "W": 128})
    preps = {q.policy: q for q in r.prepare({"H": 100, "W": 75})}
    assert preps["pad"].target == {"H": 112, "W": 80} and preps["pad"].pads == {"H": (0, 12), "W": (0, 5)}
    assert preps["crop"].target == {"H": 96, "W": 64} and preps["crop"].crop == {"H": (2, 96), "W": (5, 64)}
    lb = preps["resize-pad"]
    assert lb.target == {"H": 128, "W": 128} and lb.resize == {"H": 128, "W": 96} and lb.pads["W"] == (16, 16)
    for q in preps.values():  # the numpy and torch code produce the target, and the model runs on it
        ns = {"x": np.zeros((1, 3, 100, 75), dtype=np.float32)}
        exec(q.numpy_code, ns)
        assert ns["x"].shape == (1, 3, q.target["H"], q.target["W"]), q.policy
        assert _runs(unet_file, {"x": ns["x"].shape})
        ns = {"x": torch.zeros(1, 3, 100, 75)}
        exec(q.torch_code, ns)
        assert tuple(ns["x"].shape) == (1, 3, q.target["H"], q.target["W"]), q.policy
    ns = {}
    exec(next_valid_code(r), ns)
    assert ns["next_valid"]("H", 100) == 112 and ns["prev_valid"]("W", 75) == 64 and ns["next_valid"]("H", 999) is None
    # memory: the largest max that fits, and the next valid step up does not
    full = r.profiles[0].memory["peak_bytes"] + r.weights_bytes
    limit = full // 3
    rl = profile(str(unet_file), ranges={"H": (32, 256), "W": (32, 256)}, opt={"H": 128, "W": 128},
                 memory_limit=limit)
    p = rl.profiles[0]
    assert p.memory["peak_bytes"] + rl.weights_bytes <= limit
    mx = p.point("max")
    assert r.analysis.domain.contains(mx) and mx != r.profiles[0].point("max")
    from shapealg.profile.memory import memory_at
    for k, step in (("H", 16), ("W", 16), ("N", 1)):
        up = {**mx, k: mx[k] + step}
        if up[k] <= dict(r.box)[k][1]:
            assert memory_at(r.analysis, [up])[0]["peak_bytes"] + r.weights_bytes > limit, k
    assert any("lowered" in n for n in rl.notes)
    assert parse_bytes("8GiB") == 8 * 2 ** 30 and parse_bytes("1.5GB") == 1_500_000_000


def test_cli_profile(unet_file, tmp_path):
    run = CliRunner().invoke
    res = run(main, ["profile", str(unet_file), "--range", "H=32:96", "--range", "W=32:96", "--opt", "64x64",
                     "--prepare", "50x70", "--format", "json"])
    assert res.exit_code == 0, res.output
    j = json.loads(res.output)
    assert j["profiles"][0]["shapes"]["x"]["max"] == [8, 3, 96, 96]
    assert [q["target"] for q in j["prepare"][0]["policies"]] == [{"H": 64, "W": 80}, {"H": 64, "W": 64},
                                                                   {"H": 48, "W": 64}]
    res = run(main, ["profile", str(unet_file), "--range", "48:64", "--validate", "--samples", "1"])
    assert res.exit_code == 0, res.output
    assert "trtexec" in res.output and "validation" in res.output and "sizes agree with the report" in res.output
    res = run(main, ["profile", str(unet_file), "--format", "markdown", "--range", "48:64"])
    assert res.exit_code == 0 and res.output.startswith("# shapealg profile") and "```python" in res.output
    out = tmp_path / "prof.json"
    res = run(main, ["profile", str(unet_file), "--range", "48:64", "--format", "json", "-o", str(out)])
    assert res.exit_code == 0 and json.loads(out.read_text())["profiles"]
    assert not [f for f in os.listdir(tmp_path) if f != "prof.json" and f.startswith(".")]
    for args, words in ((["--range", "Q=1:5"], "no dynamic size 'Q'"), (["--range", "H=9:5"], "lo <= hi"),
                        (["--range", "H=17:31"], "no valid H in 17..31"), (["--opt", "64"], "expected 2 numbers"),
                        (["--memory-limit", "lots"], "memory limit 'lots'"),
                        (["--memory-limit", "1KiB", "--range", "32:64"], "no profile fits the memory limit"),
                        (["-o", str(unet_file)], "is the input model")):
        res = run(main, ["profile", str(unet_file), *args])
        assert res.exit_code == 2, (args, res.output)
        assert words in res.output and len(res.output.strip().splitlines()) == 1, res.output


# ---------------------------------------------------------------- fast: a detection-like model, two inputs


def test_detection_dynamic_batch_two_inputs_parts(det_file):
    r = profile(str(det_file), ranges={"H": (40, 100), "W": (60, 64), "N": (1, 4)}, opt={"H": 64, "W": 64, "N": 2},
                max_profiles=3)
    assert r.roles == {"N": "batch", "H": "spatial", "W": "spatial"}
    # H % 16 in {0, 13, 14, 15}: runs 45..48, 61..64, 77..80, 93..96 -> one profile per run, nearest to opt first
    assert r.analysis.domain.sets["H"].describe()[0] == "H % 16 in {0, 13..15}"
    hs = [(d.min, d.max) for p in r.profiles for d in p.dims if d.name == "H"]
    assert hs == [(61, 64), (77, 80), (45, 48)]
    assert all(p.exact for p in r.profiles)
    assert r.left_out == ("N in 1..4, H in 93..96, W in 61..64",)
    p = r.profiles[0]
    assert set(p.shapes) == {"image", "mask"}
    assert p.shapes["mask"][2] == (4, 1, 64, 64) and p.shapes["image"][2] == (4, 3, 64, 64)
    opts = r.onnxruntime_tensorrt()
    profs = parse_ort_shapes(opts["trt_profile_max_shapes"])
    assert profs == [{n: q.shapes[n][2] for n in ("image", "mask")} for q in r.profiles]
    lines = r.trtexec().splitlines()
    assert len(lines) == 3 and parse_trtexec_command(lines[2])["min"] == {"image": (1, 3, 45, 61), "mask": (1, 1, 45, 61)}
    assert _assert_runs_as_reported(det_file, r) == 9
    # --cover: one profile over the whole valid range, the invalid sizes inside named
    rc = profile(str(det_file), ranges={"H": (40, 100), "W": (61, 64)}, opt={"H": 64, "W": 64}, cover=True)
    assert len(rc.profiles) == 1
    d = {x.name: x for x in rc.profiles[0].dims}
    assert (d["H"].min, d["H"].max) == (45, 96) and "of 52 sizes" in d["H"].invalid
    assert _assert_runs_as_reported(det_file, rc) == 3


# ---------------------------------------------------------------- slow: transformers


def _hf_export(cls_name, cfg_name, cfg, path, inputs, axes, kw=None):
    tr = pytest.importorskip("transformers")
    config = getattr(tr, cfg_name)(**cfg)

    class Wrap(nn.Module):
        def __init__(self):
            super().__init__()
            torch.manual_seed(0)
            self.m = getattr(tr, cls_name)(config, add_pooling_layer=False).eval()

        def forward(self, *args):
            return self.m(**dict(zip(list(axes), args)), **(kw or {})).last_hidden_state

    m = Wrap().eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(m, tuple(inputs), str(path), input_names=list(axes), output_names=["out"],
                          dynamic_axes=axes, dynamo=False, opset_version=17)
    return m


@pytest.mark.slow
def test_vit_locked(tmp_path):
    p = tmp_path / "vit.onnx"
    cfg = dict(image_size=32, patch_size=8, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
               intermediate_size=37)
    _hf_export("ViTModel", "ViTConfig", cfg, p, [torch.randn(2, 3, 32, 32)],
               {"pixel_values": {0: "batch", 2: "H", 3: "W"}})
    r = profile(str(p), opt={"H": 32, "W": 32}, max_profiles=2)
    assert r.analysis.domain.verdict == "locked"
    # floor(H/8)*floor(W/8) == 16: five boxes of valid sizes; the one holding the trace size first
    first = {d.name: (d.min, d.max) for d in r.profiles[0].dims}
    assert first == {"batch": (1, 8), "H": (32, 39), "W": (32, 39)}
    assert len(r.left_out) == 3 and all(pr.exact for pr in r.profiles)
    assert any("not a product" in n for n in r.notes)
    assert _assert_runs_as_reported(p, r) == 6
    assert not _runs(p, {"pixel_values": (1, 3, 40, 32)}) and not _runs(p, {"pixel_values": (1, 3, 224, 224)})


@pytest.mark.slow
def test_bert_sequence_bound(tmp_path):
    p = tmp_path / "bert.onnx"
    cfg = dict(vocab_size=100, hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=37,
               max_position_embeddings=512)
    ids = torch.randint(0, 100, (2, 16))
    ax = {0: "batch", 1: "sequence"}
    _hf_export("BertModel", "BertConfig", cfg, p, [ids, torch.ones_like(ids)],
               {"input_ids": ax, "attention_mask": ax})
    r = profile(str(p))
    assert r.roles == {"batch": "batch", "sequence": "sequence"}
    d = {x.name: x for x in r.profiles[0].dims}
    assert (d["sequence"].min, d["sequence"].opt, d["sequence"].max) == (1, 128, 512)
    assert r.profiles[0].shapes["attention_mask"][2] == (8, 512)
    assert _assert_runs_as_reported(p, r) == 3
    assert not _runs(p, {"input_ids": (1, 513), "attention_mask": (1, 513)})
    with pytest.raises(ShapealgError, match="no valid sequence in 600..700"):
        profile(str(p), ranges={"sequence": (600, 700)})
    opts = r.onnxruntime_tensorrt()
    assert parse_ort_shapes(opts["trt_profile_max_shapes"]) == [{"input_ids": (8, 512), "attention_mask": (8, 512)}]


@pytest.mark.slow
def test_swin_periodic_parts(tmp_path):
    p = tmp_path / "swin.onnx"
    cfg = dict(image_size=32, patch_size=4, embed_dim=8, depths=[1, 1], num_heads=[1, 2], window_size=4)
    _hf_export("SwinModel", "SwinConfig", cfg, p, [torch.randn(1, 3, 32, 32)],
               {"pixel_values": {2: "H", 3: "W"}})
    r = profile(str(p), ranges={"H": (32, 160), "W": (32, 160)}, opt={"H": 64, "W": 64}, max_profiles=3)
    assert r.analysis.domain.verdict == "conditional"
    assert len(r.profiles) == 3 and r.left_out
    assert _assert_runs_as_reported(p, r) == 9
    c = check_profiles(r, per_profile=2)
    assert c.ok, c.to_json()


@pytest.mark.slow
def test_module_given_opt_is_trace_size_and_spec_exports():
    """A torch module: profiled from its own export; opt defaults to the trace size; the spec exports it."""
    m = unet(3)
    r = profile(m, input_shape=(1, 3, "H", "W"))
    assert "trace size" in r.opt_source
    trace = dict(zip(("H", "W"), r.analysis.front.trace_shape[2:]))
    assert {d.name: d.opt for d in r.profiles[0].dims} == trace
    assert all(d.stride == 8 for d in r.profiles[0].dims)
    specs, shapes = r.dynamic_shapes(0)
    ep = torch.export.export(m, tuple(torch.randn(*s) for s in shapes), dynamic_shapes=specs)
    hi = r.profiles[0].point("max")
    assert tuple(ep.module()(torch.randn(1, 3, hi["H"], hi["W"])).shape) == (1, 2, hi["H"], hi["W"])


def test_static_file_opt_is_declared_size(tmp_path):
    """A file exported statically at 64x64: shapealg makes H, W symbolic; opt defaults to the declared size and the
    report says the file must be re-exported with those dims dynamic before a runtime takes the profiles."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        p, note = export_onnx(unet(3), tmp_path / "static.onnx", input_shape=(1, 3, 64, 64), exporter="torchscript",
                              dynamic=False)
    r = profile(str(p), ranges={"H": (40, 100), "W": (40, 100)})
    assert {d.name: d.opt for d in r.profiles[0].dims} == {"H": 64, "W": 64}
    assert "declares" in r.opt_source and any("re-export" in n for n in r.notes)
    assert r.inputs[0].fixed_in_file == (2, 3)
    c = check_profiles(r, per_profile=1)  # validate runs the file with its dims made dynamic
    assert c.ok and c.counts["agree"] >= 3
