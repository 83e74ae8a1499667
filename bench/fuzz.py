"""Fuzz the ONNX reader and the analysis with mutated real models.

    python bench/fuzz.py --cases 10000 [--workers 2] [--timeout 10] [--seed 0] [--no-torch] [--save DIR]
    python bench/fuzz.py --cases 10000 --commands all --timeout 20     # the five commands, structural mutations

Corpus: small models from tests/models.py exported with both exporters (TorchScript and dynamo) into a
temporary folder (skipped with --no-torch), plus the graph-only files in examples/ (whose external data is
absent or never read). Large initializers are turned into external-data references to a missing file, so
mutations land in the graph rather than in weight bytes (shapealg never reads weights anyway).

Each case is derived from (seed, case number) alone, so any case can be replayed (``--replay N``). A case
applies 1-3 mutations: byte flips / truncation / insertion / splicing of the serialized file, dropped /
duplicated / reordered nodes, rewired node inputs (cycles, missing values), changed attributes (0, negative,
2**62, wrong type, payload strings), changed input dims (0, -1, 2**62, odd dim_params, no shape, other rank),
changed initializer dims / contents, opsets and domains, op types swapped for others.

Every case runs ``analyze(path)`` then the JSON and table renderers in a worker process whose cwd is an empty
folder; the model is written to its own empty folder. Odd-numbered cases read the file through the mmap path
that skips large tensors' bytes (onnx_file.SKIM_ABOVE = 0), so the wire-format walker is fuzzed too. Counted:
  - ok: an analysis came back (possibly with warnings marking the unknown part),
  - refused: ShapealgError (one-line message),
  - crash: any other exception (grouped by type and the innermost shapealg frame),
  - hang: the case took longer than --timeout seconds (shapealg.limits.time_limit in the worker; the parent kills a worker
    that does not answer within timeout + 20 s),
  - files written: anything new in the worker's cwd or in the model's folder after the case,
  - payload executed: a sentinel file that the injected code strings would create if evaluated.
Exit status 0 when there is no crash, hang, file written or payload executed.

``--commands all`` (or a comma list) runs the command line instead, in the worker through click's test runner:
case i runs the (i mod n)-th of analyze / check / cost / validate / export (validate with --max-sizes 2
--memory-budget 64; cost with --plot on every fourth of its cases; export with -o into an empty output
folder), and half the proto mutations are structural (``_structural``: deleted nodes, dangling inputs,
swapped op types, kernels / strides / pads / axes of 0, negative or huge values, input dims 0 and -1, rank
2000, duplicate value names, unknown domains and opsets, raw_data of the wrong size, string tensors where
ints are expected). The external data files the corpus refers to exist (sparse zeros), so export copies them
and validate reads them. There a crash is a traceback, 'internal error', an exit status other than 0 / 1 / 2,
an error that is not one line or a control character printed raw; a hang is a command over --timeout
(SHAPEALG_TIME_LIMIT is set to it); files: anything new in cwd or the model's folder, in the output folder
anything but the files asked for (and the external data a successful export references), or anything at all
after a failure.

``fuzz_cases(...)`` is the in-process API used by tests/test_robustness.py and tests/test_reliability.py.
"""
from __future__ import annotations

import argparse
import collections
import multiprocessing as mp
import os
import random
import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import onnx
from onnx import AttributeProto, TensorProto

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

SENTINEL = "PWNED_BY_MODEL"
# strings that execute code if a model string reaches eval (sympify / parse_expr): they create SENTINEL in cwd
PAYLOADS = [
    "[c for c in ().__class__.__base__.__subclasses__() if c.__name__=='_wrap_close'][0]"
    f".__init__.__globals__['open']('{SENTINEL}', 65)",
    f"__import__('os').open('{SENTINEL}', 65)",
    "9**9**9**9",
    "H*" * 200 + "W",
    "(" * 500 + "H" + ")" * 500,
    "lambda: 0",
    "H W", "H/0", "-H", "1/2", "H.W", "", " ", "N-1", "floor(H/7)", "Mod(H, 0)", "H\x00W", "\u00e9",
]
BIG = [0, -1, -2, 1, 2, 3, 7, 64, 2 ** 31 - 1, 2 ** 31, 2 ** 62, 2 ** 63 - 1, -(2 ** 63), -(2 ** 62)]
OPS = ["Conv", "Gemm", "MatMul", "Reshape", "Concat", "Tile", "Flatten", "Transpose", "Gather", "Slice",
       "Split", "Squeeze", "Unsqueeze", "Expand", "Resize", "MaxPool", "AveragePool", "GlobalAveragePool",
       "Pad", "Shape", "ConstantOfShape", "Range", "Add", "Mul", "Div", "ReduceMean", "Softmax", "Einsum",
       "ConvTranspose", "BatchNormalization", "LayerNormalization", "Constant", "Cast", "Where", "TopK",
       "Loop", "If", "Scan", "NonZero", "Identity", "Relu", "DepthToSpace", "SpaceToDepth", "Trilu"]


# ----------------------------------------------------------------------------------------- corpus

def _externalize(m: onnx.ModelProto, limit: int = 4096) -> onnx.ModelProto:
    """Large initializers become references to a missing external file (the reader never reads them)."""
    for t in m.graph.initializer:
        n = 1
        for d in t.dims:
            n *= d
        if n > limit and t.data_location != TensorProto.EXTERNAL:
            t.ClearField("raw_data")
            for f in ("float_data", "int32_data", "int64_data", "double_data", "uint64_data"):
                t.ClearField(f)
            t.data_location = TensorProto.EXTERNAL
            del t.external_data[:]
            for k, v in (("location", "weights.bin"), ("offset", "0"), ("length", str(n * 4))):
                e = t.external_data.add()
                e.key, e.value = k, v
    return m


def build_corpus(folder: Path, torch_models: bool = True, log=print) -> List[Tuple[str, bytes]]:
    """[(name, serialized model)] for the fuzzer."""
    out: List[Tuple[str, bytes]] = []
    for p in sorted((ROOT / "examples").glob("*.onnx")):
        m = onnx.load(str(p), load_external_data=False)
        out.append((p.name, _externalize(m).SerializeToString()))
    if torch_models:
        try:
            from tests.models import ALL_MODELS, export_onnx
        except Exception as e:  # noqa: BLE001 - torch missing: the examples alone
            log(f"(no torch models: {type(e).__name__}: {e})")
            return out
        names = ["ceil_pool_stack", "unet", "vit_fixed", "vit_interpolated", "window_partition_model",
                 "hw_product_model"]
        for name in names:
            for exporter in ("torchscript", "dynamo"):
                path = folder / f"{name}_{exporter}.onnx"
                t0 = time.time()
                try:
                    export_onnx(ALL_MODELS[name](), path, exporter=exporter)
                    m = onnx.load(str(path), load_external_data=False)
                except Exception as e:  # noqa: BLE001 - an exporter refusing is not our problem
                    log(f"  skip {name} ({exporter}): {type(e).__name__}: {str(e).splitlines()[0][:100]}")
                    continue
                out.append((path.name, _externalize(m).SerializeToString()))
                log(f"  corpus: {path.name} ({len(m.graph.node)} nodes, {time.time() - t0:.1f} s)")
    return out


def handmade_corpus() -> List[Tuple[str, bytes]]:
    """A few onnx.helper graphs covering Concat / Tile / Reshape / shape arithmetic (no torch needed)."""
    from onnx import helper as h
    x = h.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, "H", "W"])
    y = h.make_tensor_value_info("y", TensorProto.FLOAT, None)
    shp = h.make_tensor("shp", TensorProto.INT64, [2], [1, -1])
    rep = h.make_tensor("rep", TensorProto.INT64, [4], [1, 1, 2, 1])
    w = h.make_tensor("w", TensorProto.FLOAT, [8, 3, 3, 3], [0.0] * 216)
    nodes = [
        h.make_node("Conv", ["x", "w"], ["c"], name="conv", kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]),
        h.make_node("Concat", ["c", "c"], ["cc"], name="cat", axis=1),
        h.make_node("Tile", ["cc", "rep"], ["t"], name="tile"),
        h.make_node("Shape", ["t"], ["s"], name="shape"),
        h.make_node("Gather", ["s", "i2"], ["g"], name="gather", axis=0),
        h.make_node("MaxPool", ["t"], ["p"], name="pool", kernel_shape=[2, 2], strides=[2, 2], ceil_mode=1),
        h.make_node("Reshape", ["p", "shp"], ["r"], name="reshape"),
        h.make_node("Gemm", ["r", "wl"], ["y"], name="gemm", transB=1),
    ]
    i2 = h.make_tensor("i2", TensorProto.INT64, [], [2])
    wl = h.make_tensor("wl", TensorProto.FLOAT, [10, 16], [0.0] * 160)
    g = h.make_graph(nodes, "hand", [x], [y], [shp, rep, w, i2, wl])
    m = h.make_model(g, opset_imports=[h.make_opsetid("", 17)])
    return [("handmade.onnx", m.SerializeToString())]


# ----------------------------------------------------------------------------------------- mutators

def _rand_attr_value(rng: random.Random, a: AttributeProto) -> None:
    """Change an attribute's value, or its type (a wrong-typed attribute)."""
    k = rng.random()
    A = AttributeProto
    if k < 0.45 and a.type in (A.INT, A.INTS):
        if a.type == A.INT:
            a.i = rng.choice(BIG)
        elif len(a.ints) and rng.random() < 0.6:
            a.ints[rng.randrange(len(a.ints))] = rng.choice(BIG)
        else:
            del a.ints[:]
            a.ints.extend(rng.choice(BIG) for _ in range(rng.randrange(0, 7)))
        return
    # wrong type: keep the name, switch the payload
    for f in ("i", "f", "s", "t", "g"):
        a.ClearField(f)
    for f in ("ints", "floats", "strings", "tensors", "graphs"):
        a.ClearField(f)
    choice = rng.randrange(7)
    if choice == 0:
        a.type, a.s = A.STRING, rng.choice(PAYLOADS).encode("utf-8", "replace")
    elif choice == 1:
        a.type, a.f = A.FLOAT, rng.choice([0.5, -1.5, 1e30, float("nan"), float("inf")])
    elif choice == 2:
        a.type = A.FLOATS
        a.floats.extend([1.5, float("nan")])
    elif choice == 3:
        a.type = A.STRINGS
        a.strings.extend([rng.choice(PAYLOADS).encode("utf-8", "replace")])
    elif choice == 4:
        a.type = A.TENSOR
        a.t.CopyFrom(onnx.helper.make_tensor("v", TensorProto.INT64, [2], [rng.choice(BIG), 3]))
    elif choice == 5:
        a.type = A.GRAPH
        a.g.CopyFrom(onnx.helper.make_graph([], "sub", [], []))
    else:
        a.type = rng.choice([A.INT, A.INTS, A.UNDEFINED, A.SPARSE_TENSOR])  # type tag without a matching payload


def _value_names(g: onnx.GraphProto) -> List[str]:
    names = [i.name for i in g.input] + [t.name for t in g.initializer]
    for n in g.node:
        names.extend(o for o in n.output if o)
    return names


def _mutate_dims(rng: random.Random, g: onnx.GraphProto) -> None:
    if not len(g.input):
        return
    vi = g.input[rng.randrange(len(g.input))]
    tt = vi.type.tensor_type
    k = rng.randrange(6)
    if k == 0:
        tt.ClearField("shape")
    elif k == 1:
        tt.shape.dim.add().dim_value = rng.choice([1, 3, 0])
    elif k == 2 and len(tt.shape.dim):
        del tt.shape.dim[rng.randrange(len(tt.shape.dim))]
    elif k == 3:
        tt.elem_type = rng.choice([0, 7, 8, 9, 16, 99])
    elif len(tt.shape.dim):
        d = tt.shape.dim[rng.randrange(len(tt.shape.dim))]
        if rng.random() < 0.5:
            d.dim_value = rng.choice(BIG)
        else:
            d.dim_param = rng.choice(PAYLOADS)


def _mutate_initializer(rng: random.Random, g: onnx.GraphProto) -> None:
    if not len(g.initializer):
        return
    t = g.initializer[rng.randrange(len(g.initializer))]
    k = rng.randrange(5)
    if k == 0 and len(t.dims):
        t.dims[rng.randrange(len(t.dims))] = rng.choice(BIG)
    elif k == 1:
        t.dims.append(rng.choice([0, 1, 2, 2 ** 40]))
    elif k == 2:
        t.data_type = rng.choice([0, 1, 7, 8, 13, 99])
    elif k == 3 and t.data_type == TensorProto.INT64:  # shape constants: new contents, same count
        n = 1
        for d in t.dims:
            n *= d
        if n <= 64:
            vals = [rng.choice(BIG + [0, 1, -1, 2, 4]) for _ in range(n)]
            t.ClearField("raw_data")
            t.ClearField("int64_data")
            t.int64_data.extend(max(-(2 ** 63), min(2 ** 63 - 1, v)) for v in vals)
    else:
        t.raw_data = os.urandom(rng.randrange(0, 16))


STRUCT_ATTRS = {"kernel_shape": "ints", "strides": "ints", "pads": "ints", "dilations": "ints", "axes": "ints",
                "axis": "int", "perm": "ints", "group": "int", "keepdims": "int", "blocksize": "int",
                "output_padding": "ints", "output_shape": "ints", "ceil_mode": "int", "to": "int", "k": "int"}
HUGE = [0, -1, -3, 1, 2, 7, 1000, 2 ** 20, 2 ** 31, 2 ** 62, -(2 ** 62)]


def _structural(rng: random.Random, m: onnx.ModelProto) -> str:
    """The structural mutations of real models: deleted nodes, dangling inputs, swapped op types, attribute
    values 0 / negative / huge (kernels, strides, pads, axes), input dims 0 and -1 (and rank 2000), duplicate
    value names, unknown domains and opsets, raw_data of the wrong size, string tensors where ints are
    expected."""
    g = m.graph
    nodes = g.node
    kind = rng.choice(["s_delete", "s_dangle", "s_swap", "s_attr", "s_attr", "s_dim", "s_rank", "s_dupname",
                       "s_unknown_domain", "s_opset", "s_rawsize", "s_string"])
    if kind == "s_delete" and len(nodes):
        for _ in range(rng.randrange(1, 4)):
            if len(nodes):
                del nodes[rng.randrange(len(nodes))]
    elif kind == "s_dangle" and len(nodes):
        n = nodes[rng.randrange(len(nodes))]
        if len(n.input):
            n.input[rng.randrange(len(n.input))] = f"dangling_{rng.randrange(1000)}"
        else:
            n.input.append("dangling")
    elif kind == "s_swap" and len(nodes) > 1:
        a, b = rng.sample(range(len(nodes)), 2)
        nodes[a].op_type, nodes[b].op_type = nodes[b].op_type, nodes[a].op_type
    elif kind == "s_attr" and len(nodes):
        n = nodes[rng.randrange(len(nodes))]
        name = rng.choice(list(STRUCT_ATTRS))
        for i, a in enumerate(n.attribute):
            if a.name == name:
                del n.attribute[i]
                break
        if STRUCT_ATTRS[name] == "int":
            n.attribute.append(onnx.helper.make_attribute(name, rng.choice(HUGE)))
        else:
            n.attribute.append(onnx.helper.make_attribute(name, [rng.choice(HUGE) for _ in range(rng.randrange(0, 9))]))
    elif kind == "s_dim" and len(g.input):
        tt = g.input[rng.randrange(len(g.input))].type.tensor_type
        if len(tt.shape.dim):
            d = tt.shape.dim[rng.randrange(len(tt.shape.dim))]
            d.dim_value = rng.choice([0, -1])
    elif kind == "s_rank" and len(g.input):
        tt = g.input[rng.randrange(len(g.input))].type.tensor_type
        for _ in range(rng.choice([2000, 64, 9])):
            tt.shape.dim.add().dim_value = 1
    elif kind == "s_dupname" and len(nodes):
        names = _value_names(g)
        n = nodes[rng.randrange(len(nodes))]
        if len(n.output) and names:
            n.output[0] = rng.choice(names)  # two producers of one name (or a node writing a graph input)
        if len(g.initializer) and len(g.input) and rng.random() < 0.5:
            g.initializer[rng.randrange(len(g.initializer))].name = g.input[0].name
    elif kind == "s_unknown_domain" and len(nodes):
        dom = rng.choice(["com.example.unknown", "ai.onnx.ml", "com.microsoft", ""])
        nodes[rng.randrange(len(nodes))].domain = dom
        op = m.opset_import.add()
        op.domain, op.version = dom or "x.unknown", rng.choice([1, 99, 0])
    elif kind == "s_opset":
        for op in m.opset_import:
            op.version = rng.choice([1, 5, 9, 13, 21, 99, 10 ** 6])
    elif kind == "s_rawsize" and len(g.initializer):
        t = g.initializer[rng.randrange(len(g.initializer))]
        if t.data_location != TensorProto.EXTERNAL:
            for f in ("float_data", "int32_data", "int64_data", "double_data", "uint64_data", "string_data"):
                t.ClearField(f)
            t.raw_data = bytes(rng.choice([0, 1, 3, 7, 9, 4097]))
    elif kind == "s_string":
        ints = [t for t in g.initializer if t.data_type in (TensorProto.INT64, TensorProto.INT32)
                and t.data_location != TensorProto.EXTERNAL]
        if ints:
            t = ints[rng.randrange(len(ints))]
            n = 1
            for d in t.dims:
                n *= d
            for f in ("raw_data", "int32_data", "int64_data"):
                t.ClearField(f)
            t.data_type = TensorProto.STRING
            t.string_data.extend([rng.choice(PAYLOADS).encode("utf-8", "replace") for _ in range(max(0, min(n, 64)))])
        elif len(nodes):
            c = onnx.helper.make_node("Constant", [], [f"str_{rng.randrange(99)}"], name="fuzz_str",
                                      value=onnx.helper.make_tensor("v", TensorProto.STRING, [2], [b"1", b"H"]))
            n = nodes[rng.randrange(len(nodes))]
            if len(n.input):
                n.input[rng.randrange(len(n.input))] = c.output[0]
            nodes.insert(0, c)
    else:
        return kind + "(noop)"
    return kind


def mutate_proto(rng: random.Random, m: onnx.ModelProto, structural: float = 0.0) -> str:
    g = m.graph
    nodes = g.node
    if structural and rng.random() < structural:
        return _structural(rng, m)
    kind = rng.choice(["drop", "dup", "reorder", "rewire", "attr", "attr", "dims", "dims", "init", "opset",
                       "domain", "optype", "io", "subgraph"])
    if kind == "drop" and len(nodes):
        del nodes[rng.randrange(len(nodes))]
    elif kind == "dup" and len(nodes):
        nodes.append(onnx.NodeProto())
        nodes[len(nodes) - 1].CopyFrom(nodes[rng.randrange(len(nodes) - 1)])
    elif kind == "reorder" and len(nodes) > 1:
        lst = [onnx.NodeProto() for _ in nodes]
        for a, b in zip(lst, nodes):
            a.CopyFrom(b)
        rng.shuffle(lst)
        del nodes[:]
        nodes.extend(lst)
    elif kind == "rewire" and len(nodes):
        n = nodes[rng.randrange(len(nodes))]
        names = _value_names(g)
        choice = rng.choice(names + ["", "missing_value", n.output[0] if len(n.output) else ""])
        if len(n.input) and rng.random() < 0.8:
            n.input[rng.randrange(len(n.input))] = choice
        elif len(n.input) and rng.random() < 0.5:
            del n.input[rng.randrange(len(n.input))]
        else:
            n.input.append(choice)
        if rng.random() < 0.2 and len(n.output):
            n.output[0] = rng.choice(names)  # duplicate producer
    elif kind == "attr" and len(nodes):
        n = nodes[rng.randrange(len(nodes))]
        if len(n.attribute) and rng.random() < 0.85:
            _rand_attr_value(rng, n.attribute[rng.randrange(len(n.attribute))])
        else:
            a = n.attribute.add()
            a.name = rng.choice(["axis", "kernel_shape", "strides", "pads", "group", "perm", "value", "to", "mode"])
            a.type = AttributeProto.INT
            _rand_attr_value(rng, a)
    elif kind == "dims":
        _mutate_dims(rng, g)
    elif kind == "init":
        _mutate_initializer(rng, g)
    elif kind == "opset":
        if len(m.opset_import) and rng.random() < 0.8:
            m.opset_import[rng.randrange(len(m.opset_import))].version = rng.choice([0, 1, 6, 7, 11, 99, -1, 2 ** 62])
        else:
            del m.opset_import[:]
    elif kind == "domain" and len(nodes):
        nodes[rng.randrange(len(nodes))].domain = rng.choice(["com.microsoft", "ai.onnx.ml", "x.y", "ai.onnx"])
    elif kind == "optype" and len(nodes):
        nodes[rng.randrange(len(nodes))].op_type = rng.choice(OPS)
    elif kind == "io":
        k = rng.randrange(4)
        if k == 0:
            del g.input[:]
        elif k == 1:
            del g.output[:]
        elif k == 2 and len(g.input):
            g.input.append(onnx.ValueInfoProto())
            g.input[len(g.input) - 1].CopyFrom(g.input[0])
        else:
            del g.node[:]
    elif kind == "subgraph" and len(nodes):  # an If whose branches reference outer values
        n = nodes[rng.randrange(len(nodes))]
        then = onnx.helper.make_graph([onnx.helper.make_node("Identity", [n.input[0] if len(n.input) else "x"], ["o"])],
                                      "then", [], [onnx.helper.make_tensor_value_info("o", TensorProto.FLOAT, None)])
        cond = onnx.helper.make_node("If", ["c_missing"], [f"if_out_{rng.randrange(99)}"], then_branch=then,
                                     else_branch=then, name="fuzz_if")
        nodes.append(cond)
    return kind


def mutate_bytes(rng: random.Random, data: bytes) -> Tuple[bytes, str]:
    b = bytearray(data)
    kind = rng.choice(["flip", "flip", "truncate", "insert", "splice", "zero"])
    if not b:
        return bytes(rng.randrange(256) for _ in range(16)), "random"
    if kind == "flip":
        for _ in range(rng.randrange(1, 8)):
            b[rng.randrange(len(b))] = rng.randrange(256)
    elif kind == "truncate":
        del b[rng.randrange(len(b)):]
    elif kind == "insert":
        i = rng.randrange(len(b))
        b[i:i] = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 32)))
    elif kind == "splice":
        i, j = sorted(rng.randrange(len(b)) for _ in range(2))
        k = rng.randrange(len(b))
        b[k:k] = b[i:j][:4096]
    else:
        i = rng.randrange(len(b))
        b[i:i + rng.randrange(1, 64)] = bytes(64)[:len(b[i:i + 64])]
    return bytes(b), kind


def make_case(corpus: Sequence[Tuple[str, bytes]], seed: int, case: int, structural: float = 0.0) -> Tuple[bytes, str]:
    """Case ``case``'s model bytes and a label; ``structural``: the share of proto mutations drawn from the
    structural set (``_structural``), which also lowers the share of byte-level mutations."""
    rng = random.Random(f"{seed}:{case}")
    name, data = corpus[rng.randrange(len(corpus))]
    kinds = []
    if rng.random() < (0.3 if not structural else 0.15):
        if rng.random() < 0.05:
            return bytes(rng.randrange(256) for _ in range(rng.randrange(0, 2048))), f"{name}:random-bytes"
        out, kind = mutate_bytes(rng, data)
        return out, f"{name}:{kind}"
    m = onnx.ModelProto()
    m.ParseFromString(data)
    for _ in range(rng.randrange(1, 4)):
        try:
            kinds.append(mutate_proto(rng, m, structural))
        except (ValueError, TypeError, IndexError):  # a mutation protobuf refuses: skip it
            kinds.append("skipped")
    try:
        out = m.SerializeToString()
    except Exception:  # noqa: BLE001 - e.g. a value out of range for its field
        out = data
    return out, f"{name}:{'+'.join(kinds)}"


# ----------------------------------------------------------------------------------------- running a case

def _innermost(tb) -> str:
    """type @ the innermost frame in shapealg (file:line function)."""
    frames = traceback.extract_tb(tb)
    mine = [f for f in frames if ("shapealg" in f.filename or "/cli/" in f.filename)
            and not f.filename.endswith("limits.py")]  # the alarm handler is where a hang is noticed, not where it is
    f = (mine or frames or [None])[-1]
    if f is None:
        return "?"
    return f"{os.path.relpath(f.filename, ROOT) if f.filename.startswith(str(ROOT)) else f.filename}:{f.lineno} {f.name}"


def run_one(data: bytes, label: str, timeout: float, root: Optional[str] = None) -> Dict:
    """Analyse one mutated model in this process; cwd and the model folder are fresh (under ``root``) and
    checked after."""
    from shapealg import report
    from shapealg import analyze
    from shapealg.limits import TimeLimitExceeded, time_limit
    from shapealg.records import ShapealgError
    old = os.getcwd()
    base = tempfile.mkdtemp(prefix="shapealg_fuzz_", dir=root)
    cwd, mdir = os.path.join(base, "cwd"), os.path.join(base, "model")
    os.mkdir(cwd)
    os.mkdir(mdir)
    path = os.path.join(mdir, "m.onnx")
    with open(path, "wb") as f:
        f.write(data)
    res = {"label": label, "outcome": "ok", "detail": "", "seconds": 0.0, "files": [], "payload": False}
    os.chdir(cwd)
    t0 = time.perf_counter()
    token = None
    try:
        with time_limit(timeout, "the case") as token:
            a = analyze(path)
            report.dumps(a)
            report.format_table(a)
    except TimeLimitExceeded as e:
        if token is None or e.token is not token:
            res["outcome"], res["detail"] = "crash", "TimeLimitExceeded of a node escaped @ " + _innermost(e.__traceback__)
        else:
            res["outcome"], res["detail"] = "hang", "over the time limit @ " + _innermost(e.__traceback__)
    except ShapealgError as e:
        res["outcome"] = "refused"
        msg = str(e)
        res["detail"] = msg[:200]
        res["unnamed"] = path not in msg  # the library's own message should name the file (the CLI adds it anyway)
        if "\n" in msg.strip():
            res["outcome"], res["detail"] = "crash", "ShapealgError with a multi-line message @ " + _innermost(e.__traceback__)
    except RecursionError as e:
        res["outcome"], res["detail"] = "crash", "RecursionError @ " + _innermost(e.__traceback__)
    except BaseException as e:  # noqa: BLE001 - that is what we count
        if isinstance(e, KeyboardInterrupt):
            raise
        res["outcome"] = "crash"
        res["detail"] = f"{type(e).__name__} @ {_innermost(e.__traceback__)}: {str(e).splitlines()[0][:120] if str(e) else ''}"
    finally:
        res["seconds"] = time.perf_counter() - t0
        os.chdir(old)
    written = [os.path.join("cwd", x) for x in os.listdir(cwd)] + [os.path.join("model", x) for x in os.listdir(mdir)
                                                                     if x != "m.onnx"]
    res["files"] = written
    res["payload"] = any(SENTINEL in w for w in written)
    shutil.rmtree(base, ignore_errors=True)
    return res


# ----------------------------------------------------------------------------------------- the command line

COMMANDS = ("analyze", "check", "cost", "validate", "export")


def cli_args(command: str, case: int, path: str, out_dir: str) -> Tuple[List[str], List[str]]:
    """The argument list for ``command`` on case ``case``, and the files it is asked to write (names in
    ``out_dir``)."""
    k = case // len(COMMANDS)
    if command == "analyze":
        return ["analyze", path, "--format", ("table", "json", "markdown")[k % 3]], []
    if command == "check":
        return ["check", path, "--size", "224x224", "--size", "37x41"] + (["--format", "json"] if k % 2 else []), []
    if command == "cost":
        args = ["cost", path] + (["--format", "json", "--size", "64x64"] if k % 2 else ["--by", "node"])
        if k % 4 == 1:
            return args + ["--plot", os.path.join(out_dir, "plot.png"), "--range", "32:256:32"], ["plot.png"]
        return args, []
    if command == "validate":
        return ["validate", path, "--max-sizes", "2", "--memory-budget", "64"], []
    if command == "export":
        return ["export", path, "-o", os.path.join(out_dir, "out.onnx")], ["out.onnx"]
    raise ValueError(command)


def _external_locations(path: str) -> List[str]:
    try:
        m = onnx.load(path, load_external_data=False)
    except Exception:  # noqa: BLE001 - not readable: no locations
        return []
    from onnx.external_data_helper import _get_all_tensors
    out = []
    for t in _get_all_tensors(m):
        if t.data_location == TensorProto.EXTERNAL:
            out += [e.value for e in t.external_data if e.key == "location"]
    return out


def run_cli_one(data: bytes, label: str, command: str, case: int, timeout: float, root: Optional[str] = None,
                weights: Optional[Dict[str, int]] = None) -> Dict:
    """Run ``shapealg COMMAND`` in this process (click's test runner) on one mutated model: cwd, the model's
    folder and the output folder fresh (under ``root``). Counted as a crash: an uncaught exception (a
    traceback), 'internal error', an exit status other than 0 / 1 / 2 (or 3 from check), a multi-line error; as a hang: over
    ``timeout`` seconds (the command's own limit, SHAPEALG_TIME_LIMIT, says 'stopped after'); as files: anything
    new in cwd or the model's folder, and in the output folder anything but the files asked for (and, for a
    successful export, the external data it references), or any file at all when the command failed."""
    from click.testing import CliRunner
    from cli.main import main as cli_main
    from shapealg.limits import TimeLimitExceeded, time_limit
    old = os.getcwd()
    base = tempfile.mkdtemp(prefix="shapealg_fuzz_", dir=root)
    cwd, mdir, odir = (os.path.join(base, x) for x in ("cwd", "model", "out"))
    for d in (cwd, mdir, odir):
        os.mkdir(d)
    path = os.path.join(mdir, "m.onnx")
    with open(path, "wb") as f:
        f.write(data)
    for loc, size in (weights or {}).items():  # the external data the corpus refers to: sparse files of zeros
        with open(os.path.join(mdir, loc), "wb") as f:
            f.truncate(size)
    before_model = set(os.listdir(mdir))
    args, asked = cli_args(command, case, path, odir)
    res = {"label": f"{command} {label}", "command": command, "outcome": "ok", "detail": "", "seconds": 0.0,
           "files": [], "payload": False, "exit": None}
    os.chdir(cwd)
    t0 = time.perf_counter()
    token = None
    r = None
    try:
        with time_limit(timeout + 10, "the case") as token:
            r = CliRunner().invoke(cli_main, args, prog_name="shapealg", catch_exceptions=True)
    except TimeLimitExceeded as e:
        res["outcome"], res["detail"] = "hang", "over the case's time limit @ " + _innermost(e.__traceback__)
    finally:
        res["seconds"] = time.perf_counter() - t0
        os.chdir(old)
    if r is not None:
        res["exit"] = r.exit_code
        err = r.stderr or ""
        out = r.stdout or ""
        if r.exception is not None and not isinstance(r.exception, SystemExit):
            e = r.exception
            res["outcome"] = "crash"
            res["detail"] = (f"traceback: {type(e).__name__} @ {_innermost(e.__traceback__)}: "
                             f"{str(e).splitlines()[0][:120] if str(e).strip() else ''}")
        elif "Traceback (most recent call last)" in err + out:
            res["outcome"], res["detail"] = "crash", "traceback printed"
        elif "internal error" in err:
            res["outcome"] = "crash"
            res["detail"] = "internal error: " + err.strip().split("internal error: ", 1)[-1][:160]
        elif "stopped after" in err or res["seconds"] > timeout:
            res["outcome"], res["detail"] = "hang", f"{res['seconds']:.1f} s: {err.strip()[:120]}"
        elif r.exit_code not in (0, 1, 2) and not (command == "check" and r.exit_code == 3):  # 3: partial
            res["outcome"], res["detail"] = "crash", f"exit status {r.exit_code}: {err.strip()[:120]}"
        elif r.exit_code == 2:
            res["outcome"] = "refused"
            res["detail"] = err.strip()[:200]
            if len(err.strip().splitlines()) != 1:
                res["outcome"], res["detail"] = "crash", "error message not one line: " + err.strip()[:160]
            elif any(ord(c) < 32 and c not in "\n\t" for c in err):
                res["outcome"], res["detail"] = "crash", "control character in the error message"
        if res["outcome"] in ("ok", "refused") and any(ord(c) < 32 and c not in "\n\t" for c in out):
            res["outcome"], res["detail"] = "crash", "control character printed raw"
    written = [os.path.join("cwd", x) for x in os.listdir(cwd)]
    written += [os.path.join("model", x) for x in sorted(set(os.listdir(mdir)) - before_model)]
    got = sorted(os.listdir(odir))
    if r is not None and r.exit_code in (0, 1, 3) and res["outcome"] != "hang":
        allowed = set(asked)
        if command == "export" and "out.onnx" in got:
            allowed |= {os.path.normpath(x).split(os.sep)[0] for x in _external_locations(os.path.join(odir, "out.onnx"))}
        missing = [a for a in asked if a not in got]
        if missing:
            res["outcome"], res["detail"] = "crash", f"exit {r.exit_code} without writing {missing}"
        written += [os.path.join("out", x) for x in got if x not in allowed]
    else:
        written += [os.path.join("out", x) for x in got]  # a failed command leaves nothing behind
    res["files"] = written
    res["payload"] = any(SENTINEL in w for w in written)
    shutil.rmtree(base, ignore_errors=True)
    return res


# ----------------------------------------------------------------------------------------- worker pool

_CORPUS: List[Tuple[str, bytes]] = []


def _worker(conn, corpus, seed, timeout, root, commands=None, structural=0.0, weights=None):
    import warnings
    warnings.simplefilter("ignore")
    if commands:
        os.environ["SHAPEALG_TIME_LIMIT"] = str(timeout)  # the command's own limit: 'stopped after' is a hang
    # a node's rule that runs long degrades to unknown outputs (the library's own bound) well before the
    # case's limit; what still reaches the case's limit is counted as a hang
    os.environ.setdefault("SHAPEALG_NODE_TIME_LIMIT", str(max(0.5, timeout / 3)))
    from shapealg import onnx_file as _graph  # the file reader (SKIM_ABOVE lives there)
    skim_default = _graph.SKIM_ABOVE
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10000))
    while True:
        case = conn.recv()
        if case is None:
            return
        data, label = make_case(corpus, seed, case, structural)
        # odd cases read the file through the weight-skimming path that large files take
        from shapealg import onnx_file as _graph  # the file reader (SKIM_ABOVE lives there)
        _graph.SKIM_ABOVE = 0 if case % 2 else skim_default
        if commands:
            r = run_cli_one(data, label, commands[case % len(commands)], case, timeout, root, weights)
        else:
            r = run_one(data, label, timeout, root)
        r["case"] = case
        conn.send(r)


def fuzz_cases(corpus, cases: Sequence[int], *, seed: int = 0, timeout: float = 10.0, workers: int = 2,
               hard_timeout: float = 20.0, progress=None, commands: Optional[Sequence[str]] = None,
               structural: float = 0.0) -> List[Dict]:
    """Run the given case numbers on a pool of worker processes; a worker that stops answering is killed
    (the case counts as a hang) and replaced. ``commands``: run the command line (case ``i`` runs
    ``commands[i % len(commands)]``) instead of the library's analyze; ``structural``: the share of
    structural mutations."""
    weights = _weights_files(corpus) if commands else {}
    ctx = mp.get_context("fork" if hasattr(os, "fork") else "spawn")
    todo = list(cases)[::-1]
    results: List[Dict] = []
    pool = []
    root = tempfile.mkdtemp(prefix="shapealg_fuzz_run_")  # every case's folders; removed at the end (killed
    try:                                                   # workers cannot clean up after themselves)
        return _run_pool(ctx, (corpus, seed, timeout, root, commands, structural, weights), timeout, workers,
                         hard_timeout, progress, todo, results, pool)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _weights_files(corpus) -> Dict[str, int]:
    """The external data files the corpus refers to (plain names in the model's folder) and the size each must
    have, so that export copies them and validate reads them."""
    out: Dict[str, int] = {}
    for _, data in corpus:
        m = onnx.ModelProto()
        m.ParseFromString(data)
        for t in m.graph.initializer:
            info = {e.key: e.value for e in t.external_data}
            loc = info.get("location", "")
            if not loc or os.path.basename(loc) != loc or loc in (".", ".."):
                continue
            try:
                out[loc] = max(out.get(loc, 0), int(info.get("offset", 0)) + int(info.get("length", 0)))
            except ValueError:
                pass
    return out


def _run_pool(ctx, wargs, timeout, workers, hard_timeout, progress, todo, results, pool):
    from multiprocessing.connection import wait

    def start():
        a, b = ctx.Pipe()
        p = ctx.Process(target=_worker, args=(b,) + tuple(wargs), daemon=True)
        p.start()
        return {"proc": p, "conn": a, "case": None, "since": 0.0}

    def feed(w):
        if todo:
            w["case"] = todo.pop()
            w["since"] = time.time()
            w["conn"].send(w["case"])
        else:
            w["case"] = None

    for _ in range(max(1, workers)):
        w = start()
        pool.append(w)
        feed(w)
    while any(w["case"] is not None for w in pool):
        busy = [w for w in pool if w["case"] is not None]
        ready = wait([w["conn"] for w in busy], timeout=1.0)
        for w in busy:
            if w["conn"] in ready:
                try:
                    results.append(w["conn"].recv())
                except EOFError:  # the worker died (segfault, os._exit...)
                    results.append({"case": w["case"], "label": "?", "outcome": "crash", "payload": False,
                                    "detail": f"worker died (exit {w['proc'].exitcode})", "seconds": 0.0,
                                    "files": []})
                    w.update(start())
                feed(w)
                if progress:
                    progress(len(results))
            elif time.time() - w["since"] > timeout + hard_timeout:
                w["proc"].kill()
                w["proc"].join()
                results.append({"case": w["case"], "label": "?", "outcome": "hang", "payload": False,
                                "detail": "killed: no answer", "seconds": time.time() - w["since"], "files": []})
                w.update(start())
                feed(w)
    for w in pool:
        try:
            w["conn"].send(None)
        except (BrokenPipeError, OSError):
            pass
        w["proc"].join(timeout=5)
        if w["proc"].is_alive():
            w["proc"].kill()
    return sorted(results, key=lambda r: r["case"])


def summarize(results: List[Dict]) -> Dict:
    c = collections.Counter(r["outcome"] for r in results)
    crashes = collections.Counter(r["detail"] for r in results if r["outcome"] == "crash")
    first = {}
    for r in results:
        if r["outcome"] in ("crash", "hang"):
            first.setdefault(r["detail"], r["case"])
    secs = sorted(r["seconds"] for r in results) or [0.0]
    per_command = {}
    for r in results:
        pc = per_command.setdefault(r.get("command", "analyze(API)"), collections.Counter())
        pc["cases"] += 1
        pc[r["outcome"]] += 1
        pc["files"] += bool(r["files"])
        pc["seconds"] += r["seconds"]
    return {
        "per_command": {k: dict(v) for k, v in per_command.items()},
        "cases": len(results), "ok": c["ok"], "refused": c["refused"], "crash": c["crash"], "hang": c["hang"],
        "files_written": sum(1 for r in results if r["files"]), "payload_executed": sum(r["payload"] for r in results),
        "refused_unnamed": sum(1 for r in results if r.get("unnamed")),
        "unnamed_examples": [r["detail"] for r in results if r.get("unnamed")][:5],
        "crash_kinds": crashes.most_common(), "first_case": first,
        "max_seconds": secs[-1], "p99_seconds": secs[int(0.99 * (len(secs) - 1))],
        "mean_seconds": sum(secs) / len(secs),
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=int, default=1000)
    ap.add_argument("--start", type=int, default=0, help="first case number")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workers", type=int, default=max(1, min(4, os.cpu_count() or 1)))
    ap.add_argument("--timeout", type=float, default=10.0, help="seconds per case before it counts as a hang")
    ap.add_argument("--budget", type=float, default=0, help="stop after this many seconds (0: no limit)")
    ap.add_argument("--no-torch", action="store_true", help="examples/ and handmade graphs only")
    ap.add_argument("--replay", type=int, default=None, help="run one case in this process, with its traceback")
    ap.add_argument("--save", default=None, help="folder to save crashing / hanging cases into")
    ap.add_argument("--commands", default=None, metavar="LIST",
                    help="run the command line instead of the library: 'all' or a comma list of "
                         f"{','.join(COMMANDS)} (case i runs the (i mod n)-th)")
    ap.add_argument("--structural", type=float, default=None,
                    help="share of structural mutations (default 0.5 with --commands, else 0)")
    args = ap.parse_args(argv)
    commands = None
    if args.commands:
        commands = list(COMMANDS) if args.commands == "all" else [c.strip() for c in args.commands.split(",")]
        bad = [c for c in commands if c not in COMMANDS]
        if bad:
            ap.error(f"unknown command(s) {bad}")
    structural = args.structural if args.structural is not None else (0.5 if commands else 0.0)

    tmp = Path(tempfile.mkdtemp(prefix="shapealg_fuzz_corpus_"))
    try:
        t0 = time.time()
        corpus = handmade_corpus() + build_corpus(tmp, torch_models=not args.no_torch)
        print(f"corpus: {len(corpus)} models ({time.time() - t0:.1f} s)", flush=True)
        if args.replay is not None:
            data, label = make_case(corpus, args.seed, args.replay, structural)
            print(f"case {args.replay}: {label}")
            if commands:
                cmd = commands[args.replay % len(commands)]
                p = tmp / "case.onnx"
                p.write_bytes(data)
                for loc, size in _weights_files(corpus).items():
                    with open(tmp / loc, "wb") as f:
                        f.truncate(size)
                (tmp / "out").mkdir()
                cl, _ = cli_args(cmd, args.replay, str(p), str(tmp / "out"))
                print("shapealg " + " ".join(cl))
                from cli.main import main as cli_main
                try:
                    cli_main(cl, prog_name="shapealg", standalone_mode=False)
                except SystemExit as e:
                    print(f"exit {e.code}")
                return 0
            from shapealg import analyze
            p = tmp / "case.onnx"
            p.write_bytes(data)
            from shapealg import report
            a = analyze(str(p))
            report.dumps(a)
            print(a)
            return 0
        t0 = time.time()
        results: List[Dict] = []
        chunk = 500 if not commands else 100
        start = args.start
        end = args.start + args.cases
        while start < end:
            ids = range(start, min(end, start + chunk))
            results += fuzz_cases(corpus, ids, seed=args.seed, timeout=args.timeout, workers=args.workers,
                                  commands=commands, structural=structural)
            start = ids.stop
            el = time.time() - t0
            s = summarize(results)
            print(f"  {len(results)} cases, {el:.0f} s: crash {s['crash']}, hang {s['hang']}, "
                  f"files {s['files_written']}, payload {s['payload_executed']}", flush=True)
            if args.budget and el > args.budget:
                print(f"  budget of {args.budget:.0f} s spent: stopping at {len(results)} cases")
                break
        el = time.time() - t0
        s = summarize(results)
        print(f"\ncases {s['cases']} in {el:.0f} s ({s['cases'] / max(el, 1e-9):.1f}/s, {args.workers} workers)")
        print(f"  analysed ok {s['ok']}, refused (ShapealgError) {s['refused']}, of which not naming the file "
              f"{s['refused_unnamed']}")
        for d in s["unnamed_examples"]:
            print(f"    e.g. {d}")
        print(f"  uncaught exceptions {s['crash']}, hangs (> {args.timeout:g} s) {s['hang']}, "
              f"cases that wrote files {s['files_written']}, payload executed {s['payload_executed']}")
        print(f"  seconds per case: mean {s['mean_seconds']:.3f}, p99 {s['p99_seconds']:.3f}, max {s['max_seconds']:.2f}")
        for cmd, pc in s["per_command"].items():
            print(f"  {cmd}: {pc.get('cases', 0)} cases, ok {pc.get('ok', 0)}, refused {pc.get('refused', 0)}, "
                  f"crash {pc.get('crash', 0)}, hang {pc.get('hang', 0)}, files {pc.get('files', 0)}, "
                  f"mean {pc.get('seconds', 0) / max(1, pc.get('cases', 0)):.2f} s")
        for detail, n in s["crash_kinds"]:
            print(f"  CRASH x{n} (first: case {s['first_case'][detail]}): {detail}")
        for r in results:
            if r["outcome"] == "hang":
                print(f"  HANG case {r['case']} ({r['seconds']:.1f} s): {r['label']} {r['detail']}")
            if r["files"]:
                print(f"  FILES case {r['case']}: {r['label']} {r['files']}")
        if args.save:
            d = Path(args.save)
            d.mkdir(parents=True, exist_ok=True)
            for r in results:
                if r["outcome"] in ("crash", "hang") or r["files"]:
                    data, _ = make_case(corpus, args.seed, r["case"], structural)
                    (d / f"case_{r['case']}.onnx").write_bytes(data)
        bad = s["crash"] + s["hang"] + s["files_written"] + s["payload_executed"]
        return 1 if bad else 0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
