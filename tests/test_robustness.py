"""Reliability and security (issue 8): bad input never ends in a traceback, unsafe external data is never
read, nothing in a model is executed, and absurd graphs are bounded in time and size.

CLI cases run through click's CliRunner in an empty working directory (checked empty afterwards) and a few
through a real subprocess; each refusal must be exit status 2 and one line on stderr that names the file
(and the node and op where one is involved). A model that is only partly unknown must be analysed, with
the unknown part marked in a warning. A small fuzz sample runs here; bench/fuzz.py runs 10,000 cases.
"""
from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import onnx
import pytest
from click.testing import CliRunner
from onnx import TensorProto as T
from onnx import helper as h

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "seed_model.onnx"
SENTINEL = "PWNED_BY_MODEL"
if str(ROOT) not in sys.path:  # this checkout's cli package (also when run as plain `pytest`)
    sys.path.insert(0, str(ROOT))

from cli.main import main  # noqa: E402
from shapealg import analyze  # noqa: E402
from shapealg.records import ShapealgError  # noqa: E402


# ------------------------------------------------------------------------------------------ helpers

def model(nodes, inputs=None, outputs=None, inits=(), opset=17, extra_opsets=()):
    inputs = inputs if inputs is not None else [h.make_tensor_value_info("x", T.FLOAT, [1, 3, "H", "W"])]
    outputs = outputs if outputs is not None else [h.make_tensor_value_info("y", T.FLOAT, None)]
    g = h.make_graph(nodes, "g", inputs, outputs, list(inits))
    ops = [h.make_opsetid("", opset)] + [h.make_opsetid(d, v) for d, v in extra_opsets]
    return h.make_model(g, opset_imports=ops)


def W(name="w", dims=(8, 3, 3, 3)):
    n = 1
    for d in dims:
        n *= d
    return h.make_tensor(name, T.FLOAT, list(dims), [0.0] * n)


def save(m, path: Path) -> Path:
    path.write_bytes(m.SerializeToString() if isinstance(m, onnx.ModelProto) else m)
    return path


@pytest.fixture
def work(tmp_path, monkeypatch):
    """(folder for models, empty cwd); the cwd must still be empty at the end."""
    models = tmp_path / "models"
    cwd = tmp_path / "cwd"
    models.mkdir()
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    yield models, cwd
    assert sorted(os.listdir(cwd)) == [], "the command wrote files into the working directory"


def run_cli(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def assert_refused(res, *needles):
    """Exit 2, exactly one line on stderr, naming every needle, no traceback, nothing on stdout."""
    err = res.stderr
    assert res.exit_code == 2, (res.exit_code, res.stdout[-500:], err, res.exception)
    assert res.exception is None or isinstance(res.exception, SystemExit), repr(res.exception)
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("shapealg: error: "), err
    assert "Traceback" not in err and "Traceback" not in res.stdout
    for n in needles:
        assert str(n) in lines[0], (n, lines[0])
    return lines[0]


def assert_analysed(res, *needles):
    """Exit 0 (or 1 for check), a report on stdout whose warnings name every needle."""
    assert res.exit_code == 0, (res.exit_code, res.stderr, res.exception)
    assert "Traceback" not in res.stdout + res.stderr
    for n in needles:
        assert str(n) in res.stdout, (n, res.stdout[-1500:])
    return res.stdout


def cli_subprocess(args, cwd, env=None, timeout=120):
    """The installed ``shapealg_cli`` when it is this checkout's, else ``python -m cli.main`` from it."""
    import importlib.util
    spec = importlib.util.find_spec("shapealg_cli")
    here = spec is not None and spec.origin and Path(spec.origin).resolve().parent == ROOT / "cli"
    cmd = [sys.executable, "-m", "shapealg_cli.main" if here else "cli.main", *map(str, args)]
    e = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    e.update(env or {})
    return subprocess.run(cmd, cwd=cwd, env=e, capture_output=True, text=True, timeout=timeout)


# ------------------------------------------------------------------------ 1. files that are not models

def _unreadable(folder: Path):
    seed = EXAMPLE.read_bytes()
    return {
        "truncated": seed[: len(seed) // 3],
        "random": bytes((i * 131 + 7) % 256 for i in range(3000)),
        "tensorproto": W().SerializeToString(),
        "graphproto": model([h.make_node("Relu", ["x"], ["y"])]).graph.SerializeToString(),
        "empty": b"",
        "text": b"import os\nos.system('touch PWNED_BY_MODEL')\n",
    }


@pytest.mark.parametrize("kind", ["truncated", "random", "tensorproto", "graphproto", "empty", "text"])
def test_unreadable_files_are_refused(work, kind):
    models, cwd = work
    path = save(_unreadable(models)[kind], models / f"{kind}.onnx")
    for cmd in (["analyze", path], ["check", path, "--size", "64x64"]):
        assert_refused(run_cli(*cmd), path)
    assert not (cwd / SENTINEL).exists()


def test_missing_directory_and_fifo_are_refused(work):
    models, _ = work
    assert_refused(run_cli("analyze", models / "nope.onnx"), "nope.onnx", "no such file")
    assert_refused(run_cli("analyze", models), str(models), "directory")
    if hasattr(os, "mkfifo"):
        fifo = models / "pipe.onnx"
        os.mkfifo(fifo)  # opening it for reading would block forever
        assert_refused(run_cli("analyze", fifo), "pipe.onnx", "not a regular file")


def test_python_file_given_as_model_is_not_executed(work):
    """Only an explicit ``file.py:factory`` imports a Python file; a .py given as MODEL is just a bad file."""
    models, cwd = work
    evil = models / "evil.py"
    evil.write_text(f"open({SENTINEL!r}, 'w').close()\ndef factory():\n    open({SENTINEL!r}, 'w').close()\n")
    assert_refused(run_cli("analyze", evil), "evil.py")
    assert not (cwd / SENTINEL).exists() and not (models / SENTINEL).exists()


# ---------------------------------------------------------------- 1. graphs that cannot be analysed

def test_cycle_names_node_and_op(work):
    models, _ = work
    m = model([h.make_node("Relu", ["b"], ["a"], name="r1"), h.make_node("Sigmoid", ["a"], ["b"], name="s1"),
               h.make_node("Relu", ["b"], ["y"], name="r3")])
    line = assert_refused(run_cli("analyze", save(m, models / "cycle.onnx")), "cycle.onnx", "cycle")
    assert ("'r1'" in line and "Relu" in line) or ("'s1'" in line and "Sigmoid" in line), line


def test_duplicate_producer_names_node_and_op(work):
    models, _ = work
    m = model([h.make_node("Relu", ["x"], ["y"], name="r1"), h.make_node("Sigmoid", ["x"], ["y"], name="s1")])
    assert_refused(run_cli("analyze", save(m, models / "dup.onnx")), "dup.onnx", "'y'", "'s1'", "Sigmoid")


def test_duplicate_and_unnamed_graph_inputs(work):
    models, _ = work
    x = h.make_tensor_value_info("x", T.FLOAT, [1, 3, "H", "W"])
    m = model([h.make_node("Relu", ["x"], ["y"], name="r")], inputs=[x, x])
    assert_refused(run_cli("analyze", save(m, models / "dupin.onnx")), "dupin.onnx", "'x'", "twice")
    m = model([h.make_node("Relu", ["x"], ["y"], name="r")], inputs=[h.make_tensor_value_info("", T.FLOAT, [1])])
    assert_refused(run_cli("analyze", save(m, models / "noname.onnx")), "noname.onnx", "no name")


def test_negative_initializer_dim_is_refused(work):
    models, _ = work
    w = W()
    w.dims[0] = -8
    m = model([h.make_node("Conv", ["x", "w"], ["y"], name="c")], inits=[w])
    assert_refused(run_cli("analyze", save(m, models / "negw.onnx")), "negw.onnx", "'w'", "negative")


# ------------------------------------------------- 1. partly unknown models: analysed, unknown part marked

def _partial_models():
    x4 = [h.make_tensor_value_info("x", T.FLOAT, [1, 3, "H", "W"])]
    conv = lambda **kw: h.make_node("Conv", ["x", "w"], ["y"], name="c", **kw)  # noqa: E731
    return {
        # name: (model, words the warning must contain)
        "unknown_domain": (model([h.make_node("Foo", ["x"], ["y"], name="f", domain="x.y")],
                                 extra_opsets=[("x.y", 1)]), ["'f'", "x.y.Foo"]),
        "unknown_op": (model([h.make_node("NoSuchOp", ["x"], ["y"], name="n")]), ["'n'", "NoSuchOp"]),
        "future_opset": (model([h.make_node("Relu", ["x"], ["y"], name="r")], opset=99), ["opset 99"]),
        "no_opset": (model([h.make_node("Relu", ["x"], ["y"], name="r")], opset=0), ["opset"]),
        "conv_without_weight": (model([h.make_node("Conv", ["x"], ["y"], name="c", kernel_shape=[3, 3])]),
                                ["'c'", "Conv"]),
        "attr_string": (model([conv(kernel_shape="__import__('os')")], inits=[W()]), ["'c'", "Conv"]),
        "attr_float": (model([conv(strides=1.5)], inits=[W()]), ["'c'", "Conv"]),
        "attr_tensor": (model([conv(pads=h.make_tensor("p", T.INT64, [1], [1]))], inits=[W()]), ["'c'", "Conv"]),
        "attr_graph": (model([conv(dilations=h.make_graph([], "sub", [], []))], inits=[W()]), ["'c'", "Conv"]),
        "attr_huge": (model([conv(strides=[2 ** 62, 2 ** 62], pads=[-5, 0, 0, 0])], inits=[W()]), []),
        "empty_graph": (model([], outputs=[]), ["no nodes"]),
        "input_without_shape": (model([h.make_node("Relu", ["x"], ["y"], name="r")],
                                      inputs=[h.make_tensor_value_info("x", T.FLOAT, None)]), ["'x'", "no shape"]),
        "negative_input_dim": (model([h.make_node("Relu", ["x"], ["y"], name="r")],
                                     inputs=[h.make_tensor_value_info("x", T.FLOAT, [1, -3, 5])]), ["'x'", "negative"]),
        "payload_dim_param": (model([h.make_node("Relu", ["x"], ["y"], name="r")], inputs=[h.make_tensor_value_info(
            "x", T.FLOAT, [1, 3, f"__import__('os').system('touch {SENTINEL}')", "H.__class__"])]), []),
        "rank_mismatch_inputs": (model([h.make_node("Add", ["x", "x1"], ["y"], name="a")], inputs=x4 + [
            h.make_tensor_value_info("x1", T.FLOAT, [5, 7, 2, 2, 2, 2, 2])]), []),
    }


def _unrunnable_models():
    return {
        # a node reads a value that no node produces and no input / initializer holds: the graph cannot run
        "missing_value": (model([h.make_node("Relu", ["nope"], ["y"], name="r1")]), ["'r1'", "Relu", "'nope'"]),
        "if_without_condition": (model([h.make_node(
            "If", ["c_missing"], ["y"], name="iff",
            then_branch=h.make_graph([h.make_node("Identity", ["x"], ["o"])], "t", [],
                                     [h.make_tensor_value_info("o", T.FLOAT, None)]),
            else_branch=h.make_graph([], "e", [], []))]), ["'iff'", "'c_missing'"]),
        "add_reads_nothing": (model([h.make_node("Add", ["x", "ghost"], ["y"], name="a")]), ["'a'", "'ghost'"]),
    }


@pytest.mark.parametrize("name", sorted(_unrunnable_models()))
def test_unrunnable_graph_is_a_one_line_error(work, name):
    """Issue 16: a value read that nothing produces is not 'valid for every size': one line, exit 2."""
    models, _ = work
    m, words = _unrunnable_models()[name]
    path = save(m, models / f"{name}.onnx")
    assert_refused(run_cli("analyze", path), *words, "cannot run")
    assert_refused(run_cli("check", path, "--size", "8x8"), *words)


def test_partial_verdict_names_the_unknown_nodes(work):
    """Issue 16: a verdict is never stronger than what was analysed."""
    models, _ = work
    m = model([h.make_node("Relu", ["x"], ["r"], name="r"), h.make_node("NoSuchOp", ["r"], ["y"], name="n")])
    path = save(m, models / "partial.onnx")
    rep = json.loads(run_cli("analyze", path, "--format", "json").stdout)
    assert rep["verdict"]["class"] == "partial", rep["verdict"]
    assert rep["verdict"]["analysed_class"] == "size-invariant"
    assert any("'n'" in u and "NoSuchOp" in u for u in rep["verdict"]["unknown_nodes"]), rep["verdict"]
    assert "part analysed" in rep["verdict"]["summary"]
    res = run_cli("check", path, "--size", "8x8")
    assert res.exit_code == 3, (res.exit_code, res.stdout)
    assert "partial" in res.stdout


@pytest.mark.parametrize("name", sorted(_partial_models()))
def test_partly_unknown_model_is_analysed_and_marked(work, name):
    models, cwd = work
    m, words = _partial_models()[name]
    path = save(m, models / f"{name}.onnx")
    out = assert_analysed(run_cli("analyze", path), *words)
    if words:
        assert "warning" in out.lower(), out
    res = run_cli("analyze", path, "--format", "json")
    assert res.exit_code == 0, res.stderr
    rep = json.loads(res.stdout)
    if words:
        assert any(all(w in x for w in words) for x in rep["warnings"]), rep["warnings"]
    if any(n["supported"] is False for n in rep["nodes"]):
        assert rep["verdict"]["class"] == "partial" and rep["verdict"]["unknown_nodes"], rep["verdict"]
    assert not (cwd / SENTINEL).exists()


@pytest.mark.parametrize("dims", [[1, 3, 0, 0], [2 ** 62, 3, 2 ** 62, 5], [1, 3, 2 ** 31, 1]])
def test_zero_and_huge_static_dims(work, dims):
    models, _ = work
    m = model([h.make_node("Conv", ["x", "w"], ["c"], name="c"), h.make_node("Flatten", ["c"], ["f"], name="fl"),
               h.make_node("Gemm", ["f", "wl"], ["y"], name="g", transB=1)],
              inputs=[h.make_tensor_value_info("x", T.FLOAT, dims)], inits=[W(), W("wl", (10, 16))])
    path = save(m, models / "dims.onnx")
    res = run_cli("analyze", path, "--keep-static", "--format", "json")
    assert res.exit_code == 0, res.stderr
    rep = json.loads(res.stdout)
    assert rep["verdict"]["class"] in ("never-valid", "size-invariant", "conditional", "locked")
    res = run_cli("check", path, "--keep-static", "--size", "N=1")
    assert res.exit_code in (0, 1, 2) and "Traceback" not in res.stderr
    if res.exit_code == 2:
        assert_refused(res, "dims.onnx")


def test_huge_initializer_dims_are_counted_not_allocated(work):
    models, _ = work
    w = W()
    w.dims[0] = 2 ** 40
    w.ClearField("float_data")
    m = model([h.make_node("Conv", ["x", "w"], ["y"], name="c", kernel_shape=[3, 3])], inits=[w])
    res = run_cli("analyze", save(m, models / "bigw.onnx"), "--format", "json")
    assert res.exit_code == 0, res.stderr
    assert json.loads(res.stdout)["totals"]["params"] == 2 ** 40 * 27


# ------------------------------------------------------------------------- 1. malformed --shape / --size

@pytest.mark.parametrize("args, needle", [
    (["analyze", "{m}", "--shape", "x"], "--shape"),
    (["analyze", "{m}", "--shape", "=1,3,H,W"], "--shape"),
    (["analyze", "{m}", "--shape", "x=1,,H,W"], "--shape"),
    (["analyze", "{m}", "--shape", "x=1,3,H"], "rank"),
    (["analyze", "{m}", "--shape", "x=1,3,H,W", "--shape", "x=1,3,H,W"], "twice"),
    (["analyze", "{m}", "--shape", "nope=1,3,H,W"], "'nope'"),
    (["analyze", "{m}", "--shape", "x=1,3,-5,W"], "negative"),
    (["analyze", "{m}", "--shape", "x=1,3,H.__class__,W"], "--shape"),
    (["analyze", "{m}", "--shape", "x=1,3,__import__('os').getcwd(),W"], "--shape"),
    (["analyze", "{m}", "--shape", "x=1,3,9**9**9**9,W"], "--shape"),
    (["analyze", "{m}", "--shape", "x=1,3,H/0,W"], "--shape"),
    (["analyze", "{m}", "--shape", "x=1,3," + "(" * 300 + "H" + ")" * 300 + ",W"], "--shape"),
    (["analyze", "{m}", "--format", "xml"], "--format"),
    (["check", "{m}", "--size", "abc"], "--size"),
    (["check", "{m}", "--size", "0x0"], "--size"),
    (["check", "{m}", "--size", "-4x8"], "--size"),
    (["check", "{m}", "--size", "1x2x3"], "--size"),
    (["check", "{m}", "--size", "Q=4"], "'Q'"),
    (["check", "{m}", "--size", "H=4,H"], "--size"),
    (["check", "{m}", "--size", "448x"], "--size"),
    (["check", "{m}", "--size", "99999999999999999999999x4"], ""),
    (["check", "{m}"], "--size"),
])
def test_malformed_options(work, args, needle):
    args = [str(EXAMPLE) if a == "{m}" else a for a in args]
    line = assert_refused(run_cli(*args), needle)
    if not any(a.startswith("--format") for a in args) and args[-1] != str(EXAMPLE):
        assert str(EXAMPLE) in line, line  # value errors name the file they were given for


def test_subprocess_refusals_are_one_line(tmp_path):
    """The real entry point: exit 2, one line on stderr, no traceback, nothing written to the cwd."""
    models = tmp_path / "m"
    cwd = tmp_path / "cwd"
    models.mkdir()
    cwd.mkdir()
    cyc = save(model([h.make_node("Relu", ["b"], ["a"], name="r1"), h.make_node("Relu", ["a"], ["b"], name="r2"),
                      h.make_node("Relu", ["b"], ["y"], name="r3")]), models / "cyc.onnx")
    trunc = save(EXAMPLE.read_bytes()[:500], models / "trunc.onnx")
    for args, needles in [(["analyze", cyc], ["cyc.onnx", "Relu", "cycle"]),
                          (["check", trunc, "--size", "64x64"], ["trunc.onnx"]),
                          (["analyze", EXAMPLE, "--shape", "x=1,3,H"], ["seed_model.onnx", "--shape"]),
                          (["check", EXAMPLE, "--size", "1x2x3"], ["seed_model.onnx", "--size"])]:
        p = cli_subprocess(args, cwd)
        assert p.returncode == 2, (args, p.returncode, p.stderr)
        lines = p.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("shapealg: error: "), p.stderr
        assert "Traceback" not in p.stderr
        for n in needles:
            assert n in lines[0], (n, lines[0])
    assert os.listdir(cwd) == []


# ------------------------------------------------------------------------------------------ 3. security

_AUDIT = textwrap.dedent("""
    import json, os, sys
    events = []
    def hook(name, args):
        if name == "open" and args and isinstance(args[0], (str, bytes, os.PathLike)):
            events.append(("open", os.fsdecode(args[0])))
        elif name in ("os.system", "subprocess.Popen", "os.exec", "os.posix_spawn", "os.spawn", "os.fork",
                      "ctypes.dlopen", "pickle.find_class", "socket.connect", "urllib.Request"):
            events.append((name, repr(args)[:200]))
    import warnings; warnings.simplefilter("ignore")
    sys.path.insert(0, sys.argv[1])
    from shapealg import analyze
    from shapealg import report
    sys.addaudithook(hook)
    out = []
    for p in sys.argv[2:]:
        a = analyze(p)
        report.dumps(a)
        report.format_table(a)
        out.append(list(a.result.warnings))
    print(json.dumps({"events": events, "warnings": out}))
""")


def _audited(paths, cwd):
    p = subprocess.run([sys.executable, "-c", _AUDIT, str(ROOT), *map(str, paths)], cwd=cwd,
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr[-2000:]
    return json.loads(p.stdout.strip().splitlines()[-1])


def _external(loc: str, name="w"):
    t = W(name)
    t.ClearField("float_data")
    t.data_location = T.EXTERNAL
    for k, v in (("location", loc), ("offset", "0"), ("length", str(8 * 27 * 4))):
        e = t.external_data.add()
        e.key, e.value = k, v
    return t


def test_external_data_outside_the_folder_is_refused_and_never_read(tmp_path):
    """``../``, absolute paths and symlinks leaving the model's folder are named as refused; neither they
    nor a legitimate weights file beside the model is ever opened (analysis never loads weights)."""
    outside = tmp_path / "secret"
    outside.mkdir()
    secret = outside / "weights.bin"
    secret.write_bytes(b"\0" * 1024)
    mdir = tmp_path / "model"
    mdir.mkdir()
    (mdir / "weights.bin").write_bytes(b"\0" * 1024)
    link = mdir / "link.bin"
    try:
        link.symlink_to(secret)
    except (OSError, NotImplementedError):
        link = None
    cases = {"dotdot": "../secret/weights.bin", "absolute": str(secret), "inside": "weights.bin"}
    if link is not None:
        cases["symlink"] = "link.bin"
    paths = []
    for name, loc in cases.items():
        conv = h.make_node("Conv", ["x", "w"], ["y"], name="c", kernel_shape=[3, 3])
        paths.append(save(model([conv], inits=[_external(loc)]), mdir / f"{name}.onnx"))
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    got = _audited(paths, cwd)
    opened = [p for kind, p in got["events"] if kind == "open"]
    for p in opened:
        assert not p.endswith(".bin"), f"analysis opened weights: {p}"
        assert "secret" not in p
    assert [e for e in got["events"] if e[0] != "open"] == []
    for (name, loc), warns in zip(cases.items(), got["warnings"]):
        refused = [w for w in warns if "refused" in w and "'w'" in w]
        if name == "inside":
            assert refused == [], warns
        else:
            assert refused, (name, warns)
    assert os.listdir(cwd) == []


def test_cli_external_data_refusal_is_reported(work):
    models, _ = work
    conv = h.make_node("Conv", ["x", "w"], ["y"], name="c", kernel_shape=[3, 3])
    path = save(model([conv], inits=[_external("../../etc/passwd")]), models / "ext.onnx")
    out = assert_analysed(run_cli("analyze", path), "refused", "leaves the model's folder")
    assert "[1, 8, H - 2, W - 2]" in out  # the shapes are still derived: dims come from the graph, not the data


def test_nothing_in_a_model_is_executed(tmp_path):
    """Code strings in dim_params, attributes, names and metadata are never evaluated, and analysis starts
    no process, opens no library and unpickles nothing."""
    payloads = [f"__import__('os').system('touch {SENTINEL}')",
                f"[c for c in ().__class__.__base__.__subclasses__()][0]('{SENTINEL}')",
                "9**9**9**9", "lambda: 0", "H.__class__", f"open('{SENTINEL}', 'w')"]
    paths = []
    for i, p in enumerate(payloads):
        x = h.make_tensor_value_info("x", T.FLOAT, [1, 3, p, "W"])
        nodes = [h.make_node("Conv", ["x", "w"], ["c"], name=p[:40], kernel_shape=[3, 3], auto_pad=p),
                 h.make_node("Resize", ["c", "", "", "sz"], ["y"], name="rs", mode=p, coordinate_transformation_mode=p),
                 h.make_node("Reshape", ["c", "sz"], ["z"], name="r", allowzero=p)]
        m = model(nodes, inputs=[x], inits=[W(), h.make_tensor("sz", T.INT64, [4], [1, 8, 4, 4])])
        m.doc_string = p
        m.metadata_props.add(key=p, value=p)
        paths.append(save(m, tmp_path / f"p{i}.onnx"))
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    got = _audited(paths, cwd)
    assert [e for e in got["events"] if e[0] != "open"] == []
    assert not any(SENTINEL in p for _, p in got["events"])
    assert os.listdir(cwd) == [] and not (tmp_path / SENTINEL).exists()


def test_torch_checkpoints_only_with_weights_only():
    """Every torch.load in the package passes weights_only=True (a pickle can run code)."""
    bad = []
    for path in list((ROOT / "shapealg").rglob("*.py")) + list((ROOT / "cli").rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                f = node.func
                name = f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", "")
                owner = getattr(f.value, "id", "") if isinstance(f, ast.Attribute) else ""
                if name == "load" and owner == "torch" or name in ("load_state_dict_from_url",):
                    kw = {k.arg: k.value for k in node.keywords}
                    ok = "weights_only" in kw and isinstance(kw["weights_only"], ast.Constant) \
                        and kw["weights_only"].value is True
                    if not ok:
                        bad.append(f"{path.relative_to(ROOT)}:{node.lineno}")
                if name in ("loads", "load") and owner in ("pickle", "cPickle", "dill", "marshal"):
                    bad.append(f"{path.relative_to(ROOT)}:{node.lineno} ({owner}.{name})")
    assert bad == [], f"unsafe loads: {bad}"


def test_python_import_is_explicit_and_documented():
    """Importing a user's Python file happens only for an explicit file.py:factory / --module, and the
    help says that it runs the file."""
    res = run_cli("analyze", "--help")
    if "file.py:factory" not in res.stdout:
        pytest.skip("analyze file.py:factory is not available in this checkout")
    text = " ".join(res.stdout.split()).lower()
    assert "runs" in text or "executes" in text, res.stdout
    res = run_cli("validate", "--help")
    assert "--module" in res.stdout and "FILE.py:FACTORY" in res.stdout


# ------------------------------------------------------------------------------------- 5. bounded work

def test_time_limit_primitives():
    from shapealg.limits import TimeLimitExceeded, time_limit
    t0 = time.monotonic()
    with pytest.raises(TimeLimitExceeded) as ei:
        with time_limit(0.2, "spin") as token:
            while time.monotonic() < t0 + 30:
                try:  # code that swallows every Exception cannot swallow the limit
                    sum(range(10000))
                except Exception:  # noqa: BLE001
                    pass
    assert ei.value.token is token and time.monotonic() - t0 < 5
    # nested: the outer limit fires through an inner one that does not catch it
    t0 = time.monotonic()
    with pytest.raises(TimeLimitExceeded) as ei:
        with time_limit(0.2, "outer") as outer:
            with time_limit(60, "inner"):
                while time.monotonic() < t0 + 30:
                    sum(range(10000))
    assert ei.value.token is outer and time.monotonic() - t0 < 5
    # no limit: a no-op
    with time_limit(None) as token:
        assert token is None
    import signal
    if hasattr(signal, "getitimer"):
        assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)


def test_formula_bombs_end_fast_with_unknown_dims_and_a_note():
    """Shape arithmetic that grows without bound (a dim squared 60 times; a shape vector concatenated with
    itself 40 times) stops at the algebra's work limit: that dim is unknown with a warning naming the node,
    the dims that do not depend on it are kept, and the whole analysis ends in seconds, by work, not clock."""
    i2, i3 = h.make_tensor("i2", T.INT64, [1], [2]), h.make_tensor("i3", T.INT64, [1], [3])
    nodes = [h.make_node("Shape", ["x"], ["s"]), h.make_node("Gather", ["s", "i2"], ["h"], axis=0),
             h.make_node("Gather", ["s", "i3"], ["w"], axis=0), h.make_node("Add", ["h", "w"], ["d0"])]
    for i in range(60):
        nodes += [h.make_node("Mul", [f"d{i}", f"d{i}"], [f"e{i}"], name=f"sq{i}"),
                  h.make_node("Add", [f"e{i}", "w"], [f"d{i + 1}"], name=f"add{i}")]
    nodes += [h.make_node("ConstantOfShape", ["d60"], ["y"]), h.make_node("Relu", ["x"], ["z"])]
    outs = [h.make_tensor_value_info(n, T.FLOAT, None) for n in ("y", "z")]
    m = model(nodes, outputs=outs, inits=[i2, i3])
    t0 = time.monotonic()
    a = analyze(m)
    assert time.monotonic() - t0 < 30
    y = a.shape("y")
    assert y == (None,), y  # the bomb's dim is unknown (its rank is not)
    assert [str(d) for d in a.shape("z")] == ["1", "3", "H", "W"]  # what does not depend on it is kept
    assert any("work limit" in w for w in a.result.warnings), a.result.warnings
    cat = [h.make_node("Shape", ["x"], ["c0"])]
    for i in range(40):
        cat.append(h.make_node("Concat", [f"c{i}", f"c{i}"], [f"c{i + 1}"], axis=0))
    cat.append(h.make_node("ConstantOfShape", ["c40"], ["y"]))
    t0 = time.monotonic()
    a = analyze(model(cat))
    assert time.monotonic() - t0 < 30
    assert a.shape("c40") == (4 * 2 ** 40,)


def test_command_time_limit_is_one_line(work, monkeypatch):
    import shapealg.analysis as an

    def forever(*a, **k):
        t0 = time.monotonic()
        while time.monotonic() < t0 + 60:
            sum(range(1000))

    monkeypatch.setattr(an, "analyze_source", forever)
    monkeypatch.setenv("SHAPEALG_TIME_LIMIT", "0.5")
    t0 = time.monotonic()
    res = run_cli("analyze", EXAMPLE)
    assert time.monotonic() - t0 < 20
    assert_refused(res, "seed_model.onnx", "stopped after 0.5 s", "SHAPEALG_TIME_LIMIT")


def _chain(op, n, inits=(), **attrs):
    nodes = [h.make_node(op, ["x" if i == 0 else f"v{i - 1}"] + [t.name for t in inits],
                         [f"v{i}" if i < n - 1 else "y"], name=f"{op}{i}", **attrs) for i in range(n)]
    return model(nodes, inits=inits)


def test_deep_and_long_chains_are_bounded():
    """A 2,000-node chain, Concat / Tile chains that double a dim 200 times: exact, and quick."""
    import sympy
    H = sympy.Symbol("H", integer=True, positive=True)
    t0 = time.monotonic()
    assert analyze(_chain("Relu", 2000)).shape("y")[2] == H
    cat = model([h.make_node("Concat", ["x" if i == 0 else f"v{i - 1}"] * 2, [f"v{i}" if i < 199 else "y"],
                             name=f"cat{i}", axis=2) for i in range(200)])
    assert analyze(cat).shape("y")[2] == 2 ** 200 * H
    tile = _chain("Tile", 200, inits=[h.make_tensor("rep", T.INT64, [4], [1, 1, 2, 1])])
    assert analyze(tile).shape("y")[2] == 2 ** 200 * H
    assert time.monotonic() - t0 < 60


def test_huge_products_stay_exact_or_are_bounded():
    """Shape arithmetic with 2**62-sized values (Mul of Shape entries, Reshape to their product)."""
    nodes = [h.make_node("Shape", ["x"], ["s"], name="shape"),
             h.make_node("ReduceProd", ["s"], ["p"], name="prod", keepdims=1),
             h.make_node("Mul", ["p", "big"], ["pb"], name="mul"),
             h.make_node("Concat", ["one", "pb"], ["shp"], name="cat", axis=0),
             h.make_node("Reshape", ["x", "shp"], ["y"], name="reshape")]
    m = model(nodes, inputs=[h.make_tensor_value_info("x", T.FLOAT, [2 ** 62, 2 ** 62, "H", "W"])],
              inits=[h.make_tensor("big", T.INT64, [1], [2 ** 62]), h.make_tensor("one", T.INT64, [1], [1])])
    t0 = time.monotonic()
    a = analyze(m)
    a.to_json()
    str(a)
    assert time.monotonic() - t0 < 30


def test_formula_size_bound(monkeypatch):
    """A dim formula over the algebra's work limit becomes unknown with a warning naming the node and op."""
    import shapealg.algebra as alg
    monkeypatch.setattr(alg, "MAX_SIZE", 8)
    # y = Concat of 12 different symbolic dims along axis 2: a sum of 12 symbols
    names = [f"dd{i}" for i in range(12)]
    ins = [h.make_tensor_value_info(n, T.FLOAT, [1, 3, n, 4]) for n in names]
    m = model([h.make_node("Concat", names, ["y"], name="bigcat", axis=2)], inputs=ins)
    a = analyze(m, symbolize_spatial=False)
    assert a.shape("y")[2] is None
    assert a.shape("y")[3] == 4
    assert any("'bigcat'" in w and "Concat" in w and "work limit" in w for w in a.result.warnings), a.result.warnings


# ---------------------------------------------------------------------------------------- 2. fuzz sample

def test_fuzz_sample():
    """A small sample of bench/fuzz.py (graph-only corpus, no torch export): no crash, hang or file."""
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        import fuzz
    finally:
        sys.path.remove(str(ROOT / "bench"))
    corpus = fuzz.handmade_corpus() + fuzz.build_corpus(Path("."), torch_models=False, log=lambda *a: None)
    n = int(os.environ.get("SHAPEALG_FUZZ_CASES", "120"))
    results = fuzz.fuzz_cases(corpus, range(n), seed=1, timeout=15, workers=2, hard_timeout=20)
    s = fuzz.summarize(results)
    assert s["cases"] == n
    assert (s["crash"], s["files_written"], s["payload_executed"]) == (0, 0, 0), s
    assert s["hang"] == 0, [(r["case"], r["label"], r["detail"]) for r in results if r["outcome"] == "hang"]


def test_skimmed_reading_matches_the_full_parse(tmp_path, monkeypatch):
    """Large files are read through mmap without their large tensors' bytes: the same graph records as a
    full parse, and for mutated bytes the same outcome (records, or a one-line ShapealgError)."""
    import random
    from shapealg import graph as G
    from shapealg import onnx_file as F

    def records(p):
        try:
            g = G.read_graph(str(p))
        except ShapealgError as e:
            assert "\n" not in str(e).strip()
            return "refused"
        return ([(n.name, n.op_type, n.inputs, n.outputs, repr(n.attrs)) for n in g.nodes],
                {k: (v.dims, v.dtype, v.value) for k, v in g.initializers.items()},
                [(i.name, i.shape) for i in g.inputs], g.warnings)

    w = h.make_tensor("big", T.FLOAT, [16, 3, 11, 11], [0.5] * (16 * 3 * 11 * 11))  # 5808 > SMALL_VALUE_LIMIT
    m = model([h.make_node("Conv", ["x", "big"], ["c"], name="c", kernel_shape=[11, 11]),
               h.make_node("Reshape", ["c", "shp"], ["y"], name="r")],
              inits=[w, h.make_tensor("shp", T.INT64, [2], [1, -1])])
    data = m.SerializeToString()
    rng = random.Random(0)
    variants = [data]
    for _ in range(150):
        b = bytearray(data)
        k = rng.randrange(3)
        if k == 0:
            for _ in range(rng.randrange(1, 6)):
                b[rng.randrange(len(b))] = rng.randrange(256)
        elif k == 1:
            del b[rng.randrange(len(b)):]
        else:
            i = rng.randrange(len(b))
            b[i:i] = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 9)))
        variants.append(bytes(b))
    for i, v in enumerate(variants):
        p = tmp_path / f"v{i}.onnx"
        p.write_bytes(v)
        monkeypatch.setattr(F, "SKIM_ABOVE", 1 << 40)
        full = records(p)
        monkeypatch.setattr(F, "SKIM_ABOVE", 0)
        skim = records(p)
        if i == 0:
            assert skim == full and skim != "refused"
            assert F.load_model(str(p), weights=False).ByteSize() < len(v) // 10
        elif skim != full:
            # bytes corrupted inside a tensor's data: a full parse may refuse what the skim never reads
            assert full == "refused" and skim != "refused", (i, full, skim)


def test_shape_option_text_never_crashes():
    """Random --shape text: a clean ShapealgError or a shape, never anything else (hypothesis)."""
    hyp = pytest.importorskip("hypothesis")
    from hypothesis import given, settings, strategies as st
    from cli.common import parse_shapes
    from shapealg.graph import read_graph
    m = onnx.load(str(EXAMPLE), load_external_data=False)
    alphabet = st.sampled_from(list("xHW0123456789,=+-*/%()._ 'a:[]") + ["floor", "Mod", "__", "**", "\x00"])

    @settings(max_examples=150, deadline=None, derandomize=True)
    @given(st.lists(alphabet, max_size=30).map("".join))
    def check(text):
        try:
            read_graph(m, shapes=parse_shapes([text]))
        except ShapealgError as e:
            assert str(e) and "\n" not in str(e).strip()

    check()
    assert hyp
