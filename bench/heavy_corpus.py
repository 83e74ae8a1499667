"""Build a corpus of *heavy* transformer files (real default architectures, random weights, no downloads) and two
tiny hostile "bomb" files, for the dim-algebra benchmark (bench/bench_algebra.py).

    python bench/heavy_corpus.py OUTDIR [--names tv_swin_t,bomb_concat] [--exporters torchscript,dynamo] [--no-check]

Models (HEAVY; each with both exporters unless noted, H and W dynamic):
  tv_swin_t, tv_swin_v2_t       torchvision swin_t / swin_v2_t (weights=None), traced at 224x224
  timm_swin                     timm swin_tiny_patch4_window7_224 (pretrained=False), default flags (strict_img_size)
  timm_swin_dyn                 the same with dynamic_img_size=True, strict_img_size=False (timm's flags for other sizes)
  timm_maxvit                   timm maxvit_nano_rw_256 (pretrained=False), traced at 256x256 (MaxxVit has no
                                dynamic_img_size flag: its window/grid partitions are sized from img_size)
  timm_hrnet                    timm hrnet_w18_small (pretrained=False), 224x224
  hf_swin, hf_swinv2            transformers Swin / Swinv2 with bench/corpus.py's small configs (64x64)
  hf_maskformer_swin            transformers MaskFormerSwinModel, the same small config
  swin_t_static                 torchvision swin_t, TorchScript exporter, H, W fixed at 224 (no dynamic axes)
  seed_fixed                    the seed notebook's CNN "fixed" with AdaptiveAvgPool2d(7) + Linear(32*7*7, 64):
                                dynamo only (TorchScript refuses adaptive pooling on dynamic sizes), ~688 nodes
  bomb_concat, bomb_mul         onnx.helper files (no torch): Shape(x) doubled by Concat 40 times into a
                                ConstantOfShape; 200 chained Mul of H and W into a ConstantOfShape dim

The torch models are registered as bench/corpus.py Specs (builder "heavy_corpus:<fn>") and exported with
corpus.export_one, so the manifest entries have corpus.py's keys ("dims", "dynamic_in_file", "torch_export_says",
"nodes", "ops", "seconds", "error"...). Added here: "ort" ({"HxW": true | "node: message"}, run in a subprocess with
a memory limit, at GRID), "ort_runs" (the sizes that ran), "bytes" (file size). OUTDIR/manifest.json is merged with
an existing one (entries not rebuilt are kept). Progress goes to stderr.

Needs timm and torchvision, which the project does not install. Put them in a separate virtual environment
(`python -m venv /tmp/hv && /tmp/hv/bin/pip install torch==2.13.0 && /tmp/hv/bin/pip install -e . transformers
timm torchvision --no-deps` plus their small deps): the registry's torchvision is a CUDA build, and once it is
importable transformers fails to import its vision models ("operator torchvision::nms does not exist"), which
breaks the test suite in that environment.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import subprocess
import sys
import time
import traceback
import types
import warnings
from collections import Counter
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
for p in (str(ROOT), str(BENCH)):
    if p not in sys.path:
        sys.path.insert(0, p)

import corpus as C  # noqa: E402  (bench/corpus.py)

__all__ = ["HEAVY", "GRID", "build_heavy", "ort_grid", "make_bomb_concat", "make_bomb_mul", "main"]

# Sizes (H, W) every file is run at: the trace sizes, odd, prime, rectangular, small, window-aligned and not.
GRID: list[tuple[int, int]] = [
    (224, 224), (64, 64), (65, 67), (96, 64), (64, 96), (33, 40), (32, 32), (31, 31), (33, 33), (7, 7),
    (17, 19), (116, 116), (100, 60), (127, 131), (128, 128), (97, 89), (256, 256), (256, 192), (160, 96), (8, 8),
]
ORT_MEM_GB = 8  # address-space limit of the onnxruntime subprocess (the bombs would eat the machine)


# ----------------------------------------------------------------------------- builders


def _torchvision():
    try:
        import torchvision  # noqa: F401
    except Exception:  # a CUDA torchvision wheel against a CPU torch: skip its meta registrations
        for k in [k for k in sys.modules if k.startswith("torchvision")]:
            del sys.modules[k]
        sys.modules["torchvision._meta_registrations"] = types.ModuleType("torchvision._meta_registrations")
        import torchvision  # noqa: F401
    import torchvision.models as tvm
    return tvm


def _seeded(fn):
    import torch
    torch.manual_seed(0)
    return fn().eval()


def tv_swin_t():
    return _seeded(lambda: _torchvision().swin_t(weights=None))


def tv_swin_v2_t():
    return _seeded(lambda: _torchvision().swin_v2_t(weights=None))


def _timm(name: str, **kw):
    _torchvision()  # timm imports torchvision when present
    import timm
    return _seeded(lambda: timm.create_model(name, pretrained=False, **kw))


def timm_swin():
    return _timm("swin_tiny_patch4_window7_224")


def timm_swin_dyn():
    return _timm("swin_tiny_patch4_window7_224", dynamic_img_size=True, strict_img_size=False)


def timm_maxvit():
    return _timm("maxvit_nano_rw_256")


def timm_hrnet():
    return _timm("hrnet_w18_small")


def seed_fixed():
    """The seed notebook's CNN with its fix as AdaptiveAvgPool2d(7): Conv-ReLU-MaxPool-Conv-ReLU-AdaptiveAvgPool2d(7)
    -Flatten-Linear(1568, 64)-ReLU-Linear(64, 10) (tests/models.py's SeedModel, pool and first Linear replaced)."""
    import torch
    from torch import nn
    import tests.models as M

    torch.manual_seed(0)
    m = M.SeedModel(adaptive=True)
    m.net[5] = nn.AdaptiveAvgPool2d(7)
    m.net[7] = nn.Linear(32 * 7 * 7, 64)
    return M._init(m)


_SMALL_SWIN = dict(C.MODELS["swin"].kwargs)  # bench/corpus.py's small Swin config

# name -> (corpus.Spec, exporters, static). Specs go into corpus.MODELS so corpus.export_one builds them.
HEAVY: dict[str, tuple[Any, tuple[str, ...], bool]] = {
    "tv_swin_t": (C.Spec("", "", {}, builder="heavy_corpus:tv_swin_t", output="", input_shape=(1, 3, 224, 224),
                         note="torchvision swin_t, weights=None"), ("torchscript", "dynamo"), False),
    "tv_swin_v2_t": (C.Spec("", "", {}, builder="heavy_corpus:tv_swin_v2_t", output="", input_shape=(1, 3, 224, 224),
                            note="torchvision swin_v2_t, weights=None"), ("torchscript", "dynamo"), False),
    "timm_swin": (C.Spec("", "", {}, builder="heavy_corpus:timm_swin", output="", input_shape=(1, 3, 224, 224),
                         note="timm swin_tiny_patch4_window7_224, pretrained=False, default flags"),
                  ("torchscript", "dynamo"), False),
    "timm_swin_dyn": (C.Spec("", "", {}, builder="heavy_corpus:timm_swin_dyn", output="",
                             input_shape=(1, 3, 224, 224),
                             note="timm swin_tiny_patch4_window7_224, dynamic_img_size=True, strict_img_size=False"),
                      ("torchscript", "dynamo"), False),
    "timm_maxvit": (C.Spec("", "", {}, builder="heavy_corpus:timm_maxvit", output="", input_shape=(1, 3, 256, 256),
                           note="timm maxvit_nano_rw_256, pretrained=False (no dynamic-size flag in MaxxVit)"),
                    ("torchscript", "dynamo"), False),
    "timm_hrnet": (C.Spec("", "", {}, builder="heavy_corpus:timm_hrnet", output="", input_shape=(1, 3, 224, 224),
                          note="timm hrnet_w18_small, pretrained=False"), ("torchscript", "dynamo"), False),
    "hf_swin": (C.MODELS["swin"], ("torchscript", "dynamo"), False),
    "hf_swinv2": (C.MODELS["swinv2"], ("torchscript", "dynamo"), False),
    "hf_maskformer_swin": (C.Spec("MaskFormerSwinModel", "MaskFormerSwinConfig", dict(_SMALL_SWIN),
                                  output="last_hidden_state", note="transformers MaskFormerSwinModel, small config"),
                           ("torchscript", "dynamo"), False),
    "swin_t_static": (C.Spec("", "", {}, builder="heavy_corpus:tv_swin_t", output="", input_shape=(1, 3, 224, 224),
                             note="torchvision swin_t, TorchScript, H, W fixed at 224 (no dynamic axes)"),
                      ("torchscript",), True),
    "seed_fixed": (C.Spec("", "", {}, builder="heavy_corpus:seed_fixed", output="", input_shape=(1, 3, 224, 224),
                          note="seed CNN + AdaptiveAvgPool2d(7) + Linear(1568, 64); dynamo decomposes the pool into "
                               "Gathers fixed at the trace size"), ("dynamo",), False),
    "bomb_concat": (None, ("helper",), False),
    "bomb_mul": (None, ("helper",), False),
}
for _n, (_spec, _e, _s) in HEAVY.items():
    if _spec is not None:
        C.MODELS.setdefault(_n, _spec)


# ----------------------------------------------------------------------------- bombs


def make_bomb_concat(path: str | os.PathLike, doublings: int = 40) -> None:
    """x: [1, 3, H, W]; s = Shape(x); s = Concat(s, s) `doublings` times (length 4 * 2**40); ConstantOfShape(s)."""
    import onnx
    from onnx import TensorProto, helper

    nodes = [helper.make_node("Shape", ["x"], ["s0"])]
    for i in range(1, doublings + 1):
        nodes.append(helper.make_node("Concat", [f"s{i - 1}", f"s{i - 1}"], [f"s{i}"], axis=0))
    nodes.append(helper.make_node("ConstantOfShape", [f"s{doublings}"], ["y"],
                                  value=helper.make_tensor("v", TensorProto.FLOAT, [1], [0.0])))
    g = helper.make_graph(nodes, "bomb_concat",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, "H", "W"])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], producer_name="heavy_corpus")
    onnx.save(m, str(path))


def make_bomb_mul(path: str | os.PathLike, steps: int = 200) -> None:
    """x: [1, 3, H, W]; h, w = Shape(x)[2], Shape(x)[3]; d = h; then `steps` chained products, alternately
    d = d * d and d = d * w (so d = H**a * W**b with a, b ~ 2**100); ConstantOfShape(Reshape(d, [1]))."""
    import onnx
    from onnx import TensorProto, helper

    inits = [helper.make_tensor("i2", TensorProto.INT64, [], [2]), helper.make_tensor("i3", TensorProto.INT64, [], [3]),
             helper.make_tensor("one", TensorProto.INT64, [1], [1])]
    nodes = [helper.make_node("Shape", ["x"], ["s"]), helper.make_node("Gather", ["s", "i2"], ["d0"]),
             helper.make_node("Gather", ["s", "i3"], ["w"])]
    for i in range(1, steps + 1):
        rhs = f"d{i - 1}" if i % 2 else "w"
        nodes.append(helper.make_node("Mul", [f"d{i - 1}", rhs], [f"d{i}"]))
    nodes.append(helper.make_node("Reshape", [f"d{steps}", "one"], ["v"]))
    nodes.append(helper.make_node("ConstantOfShape", ["v"], ["y"],
                                  value=helper.make_tensor("c", TensorProto.FLOAT, [1], [0.0])))
    g = helper.make_graph(nodes, "bomb_mul",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, "H", "W"])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], initializer=inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], producer_name="heavy_corpus")
    onnx.save(m, str(path))


_BOMBS = {"bomb_concat": (make_bomb_concat, "Shape(x) doubled by Concat 40 times (length 4*2**40) into ConstantOfShape"),
          "bomb_mul": (make_bomb_mul, "200 chained Mul of H and W (H**a * W**b, a, b ~ 2**100) into a ConstantOfShape "
                                      "dim; onnxruntime's int64 wraps")}


# ----------------------------------------------------------------------------- export


def _export_static(name: str, path: Path) -> dict[str, Any]:
    """TorchScript export with no dynamic axes; an entry shaped like corpus.export_one's."""
    import onnx
    import torch

    spec = C.MODELS[name]
    entry: dict[str, Any] = {"name": name, "exporter": "torchscript", "ok": False, "path": path.name,
                             "input": "pixel_values", "input_shape": list(spec.input_shape), "dynamic_batch": False,
                             "note": spec.note}
    t0 = time.perf_counter()
    try:
        module = C.build_model(name)
        x = torch.randn(*spec.input_shape)
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), torch.no_grad():
            warnings.simplefilter("ignore")
            torch.onnx.export(module, (x,), str(path), dynamo=False, input_names=["pixel_values"],
                              output_names=["output"], opset_version=17)
        m = onnx.load(str(path), load_external_data=False)
        dims = m.graph.input[0].type.tensor_type.shape.dim
        entry.update(ok=True, dims=[d.dim_param or d.dim_value for d in dims], nodes=len(m.graph.node),
                     ops=dict(Counter(n.op_type for n in m.graph.node).most_common()),
                     opset=max((o.version for o in m.opset_import if o.domain in ("", "ai.onnx")), default=None),
                     dynamic_in_file=bool(dims[2].dim_param and dims[3].dim_param))
    except Exception as e:  # noqa: BLE001
        entry["error"] = C._first_line(e)
        entry["traceback_tail"] = traceback.format_exc().strip().splitlines()[-3:]
        with contextlib.suppress(OSError):
            path.unlink()
    entry["seconds"] = round(time.perf_counter() - t0, 2)
    return entry


def _export_bomb(name: str, path: Path) -> dict[str, Any]:
    import onnx

    fn, note = _BOMBS[name]
    t0 = time.perf_counter()
    fn(path)
    m = onnx.load(str(path))
    return {"name": name, "exporter": "helper", "ok": True, "path": path.name, "input": "x",
            "input_shape": [1, 3, 64, 64], "dynamic_batch": False, "note": note, "dims": [1, 3, "H", "W"],
            "dynamic_in_file": True, "nodes": len(m.graph.node),
            "ops": dict(Counter(n.op_type for n in m.graph.node).most_common()), "opset": 17,
            "seconds": round(time.perf_counter() - t0, 3)}


def _export_dynamo_auto(name: str, path: Path, entry: dict[str, Any]) -> dict[str, Any]:
    """The fallback when dynamo with Dim("H"), Dim("W") wrote H, W static: export again with Dim.AUTO (torch.export
    keeps a dim dynamic wherever its guards allow, instead of refusing the named Dim's range). The first try's
    dims, node count and torch.export's complaint are kept under "first_try"."""
    import onnx
    import torch

    first = {k: entry.get(k) for k in ("dims", "nodes", "seconds", "torch_export_says", "error") if k in entry}
    out = dict(entry, first_try=first, dynamic_shapes="Dim.AUTO (fallback)")
    t0 = time.perf_counter()
    try:
        module = C.build_model(name)
        x = torch.randn(*C.MODELS[name].input_shape)
        auto = torch.export.Dim.AUTO
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), torch.no_grad():
            warnings.simplefilter("ignore")
            prog = torch.onnx.export(module, (x,), dynamo=True, dynamic_shapes=({2: auto, 3: auto},),
                                     report=False, verbose=False, artifacts_dir=str(path.parent))
            prog.save(str(path))
        out["renamed"] = _rename_hw(path)
        m = onnx.load(str(path), load_external_data=False)
        dims = m.graph.input[0].type.tensor_type.shape.dim
        out.update(ok=True, dims=[d.dim_param or d.dim_value for d in dims], nodes=len(m.graph.node),
                   ops=dict(Counter(n.op_type for n in m.graph.node).most_common()),
                   dynamic_in_file=bool(dims[2].dim_param and dims[3].dim_param))
        out.pop("error", None)
    except Exception as e:  # noqa: BLE001 - keep the first try's (static) file and say why
        out["dynamic_shapes"] = f"Dim.AUTO fallback failed: {C._first_line(e)}"
        C.export_one(name, "dynamo", path.parent, check=False)  # the static file back
    out["seconds_fallback"] = round(time.perf_counter() - t0, 2)
    out["seconds"] = round((first.get("seconds") or 0) + out["seconds_fallback"], 2)  # both exports
    return out


def _rename_hw(path: Path) -> dict[str, str]:
    """Dim.AUTO names the input's dims after torch's symbols (s99, s4): rename them H, W in every dim_param of the
    file (inputs, outputs, value_info; whole tokens), as the other exports name them."""
    import re

    import onnx

    m = onnx.load(str(path))
    dims = m.graph.input[0].type.tensor_type.shape.dim
    ren = {dims[i].dim_param: hw for i, hw in ((2, "H"), (3, "W")) if dims[i].dim_param and dims[i].dim_param != hw}
    if not ren:
        return {}
    pat = re.compile(r"\b(" + "|".join(re.escape(k) for k in ren) + r")\b")
    for vi in list(m.graph.input) + list(m.graph.output) + list(m.graph.value_info):
        if vi.type.HasField("tensor_type"):
            for d in vi.type.tensor_type.shape.dim:
                if d.dim_param:
                    d.dim_param = pat.sub(lambda mo: ren[mo.group(1)], d.dim_param)
    onnx.save(m, str(path))
    return ren


def export_heavy(name: str, exporter: str, outdir: Path) -> dict[str, Any]:
    spec, _exps, static = HEAVY[name]
    path = outdir / f"{name}.{exporter}.onnx"
    if spec is None:
        return _export_bomb(name, path)
    if static:
        return _export_static(name, path)
    e = C.export_one(name, exporter, outdir, check=False)
    if exporter == "dynamo":
        e["dynamic_shapes"] = "Dim('H'), Dim('W')"
        if e["ok"] and not e.get("dynamic_in_file"):
            print(f"[heavy] {name} / dynamo: H, W static with Dim('H'), Dim('W'); trying Dim.AUTO", file=sys.stderr,
                  flush=True)
            e = _export_dynamo_auto(name, path, e)
    return e


# ----------------------------------------------------------------------------- onnxruntime grid


def _limit_memory(gb: float):
    def f():
        import resource
        b = int(gb * 2 ** 30)
        resource.setrlimit(resource.RLIMIT_AS, (b, b))
    return f


def _ort_grid_here(path: str, sizes) -> dict[str, Any]:
    """Run the file (no intermediates exposed) at each (H, W) on its float image input; {"HxW": True | msg}."""
    import onnx
    from shapealg.runtime import make_session, run_onnxruntime

    m = onnx.load(path, load_external_data=False)
    inits = {i.name for i in m.graph.initializer}
    ins = [i for i in m.graph.input if i.name not in inits]
    sess = make_session(path, expose=False)
    res: dict[str, Any] = {}
    for h, w in sizes:
        feeds = {}
        for i in ins:
            dims = [d.dim_value if d.HasField("dim_value") else 1 for d in i.type.tensor_type.shape.dim]
            if len(dims) == 4:
                dims[2], dims[3] = h, w
            feeds[i.name] = tuple(dims)
        r = run_onnxruntime(None, feeds, session=sess)
        res[f"{h}x{w}"] = True if r.ok else f"{r.failing_node}: {(r.error or '')[:200]}"
    return res


def ort_grid(path: str | os.PathLike, sizes=GRID, timeout: float = 900, mem_gb: float = ORT_MEM_GB) -> dict[str, Any]:
    """_ort_grid_here in a subprocess with an address-space limit and a timeout (a bomb cannot take the machine)."""
    cmd = [sys.executable, __file__, "--ort-worker", str(path), "--sizes-json", json.dumps([list(s) for s in sizes])]
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, preexec_fn=_limit_memory(mem_gb),
                           cwd=str(ROOT))
    except subprocess.TimeoutExpired:
        return {"error": f"onnxruntime check timed out after {timeout:g} s"}
    out = p.stdout.strip().splitlines()
    if p.returncode != 0 or not out:
        tail = (p.stderr.strip().splitlines() or [""])[-1][:300]
        return {"error": f"onnxruntime check process ended with status {p.returncode}: {tail}"}
    return json.loads(out[-1])


# ----------------------------------------------------------------------------- corpus


def build_heavy(outdir: str | os.PathLike, names=None, exporters=("torchscript", "dynamo"), check: bool = True,
                sizes=GRID) -> list[dict[str, Any]]:
    outdir = Path(outdir).resolve()
    outdir.mkdir(parents=True, exist_ok=True)
    names = list(HEAVY) if names is None else list(names)
    unknown = [n for n in names if n not in HEAVY]
    if unknown:
        raise ValueError(f"unknown heavy model(s) {unknown}; known: {list(HEAVY)}")
    entries = []
    cwd = os.getcwd()
    try:
        os.chdir(outdir)  # whatever an exporter drops in the working directory lands in outdir
        for name in names:
            for exporter in HEAVY[name][1]:
                if exporter != "helper" and exporter not in exporters:
                    continue
                print(f"[heavy] {name} / {exporter} ...", file=sys.stderr, flush=True)
                e = export_heavy(name, exporter, outdir)
                status = f"ok, {e['nodes']} nodes" if e["ok"] else f"FAILED: {e['error']}"
                if e["ok"] and not e.get("dynamic_in_file"):
                    status += f", H, W STATIC in the file {e.get('dims')}"
                print(f"[heavy] {name} / {exporter}: {status} ({e['seconds']}s)", file=sys.stderr, flush=True)
                if e["ok"]:
                    e["bytes"] = (outdir / e["path"]).stat().st_size
                    if check:
                        t0 = time.perf_counter()
                        e["ort"] = ort_grid(outdir / e["path"], sizes)
                        e["ort_seconds"] = round(time.perf_counter() - t0, 1)
                        e["ort_runs"] = [k for k, v in e["ort"].items() if v is True]
                        print(f"[heavy] {name} / {exporter}: runs in onnxruntime at {e['ort_runs']}",
                              file=sys.stderr, flush=True)
                entries.append(e)
                _write_manifest(outdir, entries, sizes)  # after each file: an interrupted build keeps its entries
    finally:
        os.chdir(cwd)
    return entries


def _write_manifest(outdir: Path, entries, sizes) -> None:
    import torch
    import transformers

    old = []
    with contextlib.suppress(OSError, ValueError, KeyError):
        old = json.loads((outdir / "manifest.json").read_text())["models"]
    built = {(e["name"], e["exporter"]) for e in entries}
    order = list(HEAVY)
    merged = [e for e in old if (e["name"], e["exporter"]) not in built] + entries
    merged.sort(key=lambda e: (order.index(e["name"]) if e["name"] in order else len(order),
                               e["exporter"] != "torchscript"))
    versions = {"torch": torch.__version__, "transformers": transformers.__version__}
    with contextlib.suppress(Exception):
        import timm
        versions["timm"] = timm.__version__
    with contextlib.suppress(Exception):
        _torchvision()
        versions["torchvision"] = sys.modules["torchvision"].__version__
    manifest = {**versions, "grid": [f"{h}x{w}" for h, w in sizes], "models": merged}
    (outdir / "manifest.json").write_text(json.dumps(manifest, indent=1))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("outdir", nargs="?")
    ap.add_argument("--names", default=None, help=f"comma-separated subset of: {','.join(HEAVY)}")
    ap.add_argument("--exporters", default="torchscript,dynamo")
    ap.add_argument("--no-check", action="store_true", help="skip the onnxruntime runs after export")
    ap.add_argument("--ort-worker", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--sizes-json", default=None, help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.ort_worker:  # subprocess mode of ort_grid
        sizes = [tuple(s) for s in json.loads(a.sizes_json)] if a.sizes_json else GRID
        print(json.dumps(_ort_grid_here(a.ort_worker, sizes)))
        return 0
    if not a.outdir:
        ap.error("OUTDIR is required")
    entries = build_heavy(a.outdir, names=a.names.split(",") if a.names else None,
                          exporters=tuple(a.exporters.split(",")), check=not a.no_check)
    ok = sum(e["ok"] for e in entries)
    print(f"[heavy] {ok}/{len(entries)} built; manifest: {Path(a.outdir) / 'manifest.json'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
