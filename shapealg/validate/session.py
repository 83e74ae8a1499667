"""Run ONNX models in onnxruntime and record every intermediate shape.

This is the only module of shapealg that imports onnxruntime (lazily, inside the
functions), so analysis never needs it installed.

    res = run_onnxruntime("model.onnx", {"x": (1, 3, 224, 224)})
    res.ok, res.shapes["/net/net.3/Conv_output_0"], res.failing_node

For many sizes, build the session once:

    sess = make_session("model.onnx")
    for h in range(32, 64):
        res = run_onnxruntime(None, {"x": (1, 3, h, h)}, session=sess)

Sessions run with all graph optimizations disabled, so intermediate values keep
the names they have in the file and no node is fused away.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np
import onnx

from .probe import PROBE_OUTPUT, decode_probe, probe_shapes

__all__ = [
    "RunResult",
    "Session",
    "expose_all",
    "probe_shapes",
    "decoded",
    "make_session",
    "run_onnxruntime",
    "parse_failing_node",
    "random_input",
]


@dataclass(frozen=True)
class RunResult:
    """Outcome of one onnxruntime run.

    ok: the run succeeded.
    shapes: {value name: concrete shape} for every exposed value (graph inputs,
        every node output when the session exposes them, graph outputs).
    error: the onnxruntime message on one line, or None.
    failing_node: the node name parsed from the message, or None.
    """

    ok: bool
    shapes: dict[str, tuple[int, ...]] = field(default_factory=dict)
    error: str | None = None
    failing_node: str | None = None
    probe_vector: Any = None  # with run_onnxruntime(decode=False): PROBE_OUTPUT, undecoded


# ---------------------------------------------------------------- model editing


def _load(model: str | os.PathLike | onnx.ModelProto) -> onnx.ModelProto:
    if isinstance(model, onnx.ModelProto):
        return model
    return onnx.load(os.fspath(model))


def expose_all(model: onnx.ModelProto) -> onnx.ModelProto:
    """Return a copy of `model` whose graph outputs include every node output.

    Only the top-level graph is touched (values inside If/Loop bodies are not
    visible from outside). Added outputs carry an element type when it is known
    from value_info, and no shape, so onnxruntime accepts whatever shape occurs.
    Existing graph outputs are kept as they are and in their order.
    """
    out = onnx.ModelProto()
    out.CopyFrom(model)
    g = out.graph
    have = {o.name for o in g.output}
    elem: dict[str, int] = {}
    for vi in list(g.value_info) + list(g.input) + list(g.output):
        if vi.type.HasField("tensor_type") and vi.type.tensor_type.elem_type:
            elem[vi.name] = vi.type.tensor_type.elem_type
    for node in g.node:
        for name in node.output:
            if not name or name in have:
                continue
            have.add(name)
            vi = onnx.ValueInfoProto()
            vi.name = name
            if name in elem:
                vi.type.tensor_type.elem_type = elem[name]
            g.output.append(vi)
    return out


# ---------------------------------------------------------------- errors

_NODE_PATTERNS = [
    # "Non-zero status code returned while running Gemm node. Name:'/net/net.6/Gemm' Status Message: ..."
    re.compile(r"running \w+ node\. Name:'([^']*)'"),
    # "Node (/net/net.6/Gemm) Op (Gemm) [ShapeInferenceError] ..." (session creation)
    re.compile(r"Node \(([^)]*)\) Op \("),
    # "... Node:/net/net.6/Gemm Output:..." (allocation / type errors)
    re.compile(r"[Nn]ode:\s*'?([^\s',]+)'?"),
    re.compile(r"Name:'([^']*)'"),
]


def parse_failing_node(message: str) -> str | None:
    """Node name named in an onnxruntime error message, or None."""
    for pat in _NODE_PATTERNS:
        m = pat.search(message)
        if m and m.group(1):
            return m.group(1)
    return None


def _one_line(message: str) -> str:
    return " ".join(str(message).split())


# ---------------------------------------------------------------- inputs

_FLOAT = {
    onnx.TensorProto.FLOAT: np.float32,
    onnx.TensorProto.DOUBLE: np.float64,
    onnx.TensorProto.FLOAT16: np.float16,
}
_INT = {
    onnx.TensorProto.INT8: np.int8,
    onnx.TensorProto.INT16: np.int16,
    onnx.TensorProto.INT32: np.int32,
    onnx.TensorProto.INT64: np.int64,
    onnx.TensorProto.UINT8: np.uint8,
    onnx.TensorProto.UINT16: np.uint16,
    onnx.TensorProto.UINT32: np.uint32,
    onnx.TensorProto.UINT64: np.uint64,
}
_ORT_TYPE = {
    "tensor(float)": onnx.TensorProto.FLOAT,
    "tensor(double)": onnx.TensorProto.DOUBLE,
    "tensor(float16)": onnx.TensorProto.FLOAT16,
    "tensor(int8)": onnx.TensorProto.INT8,
    "tensor(int16)": onnx.TensorProto.INT16,
    "tensor(int32)": onnx.TensorProto.INT32,
    "tensor(int64)": onnx.TensorProto.INT64,
    "tensor(uint8)": onnx.TensorProto.UINT8,
    "tensor(uint16)": onnx.TensorProto.UINT16,
    "tensor(uint32)": onnx.TensorProto.UINT32,
    "tensor(uint64)": onnx.TensorProto.UINT64,
    "tensor(bool)": onnx.TensorProto.BOOL,
}


def random_input(elem_type: int, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """Random array of the ONNX element type: normal floats, small non-negative ints, bools."""
    shape = tuple(int(d) for d in shape)
    if elem_type in _FLOAT:
        return rng.standard_normal(shape).astype(_FLOAT[elem_type])
    if elem_type in _INT:
        return rng.integers(0, 4, size=shape).astype(_INT[elem_type])
    if elem_type == onnx.TensorProto.BOOL:
        return rng.integers(0, 2, size=shape).astype(bool)
    if elem_type == onnx.TensorProto.BFLOAT16:
        raise ValueError("bfloat16 inputs are not supported by the numpy feeds")
    raise ValueError(f"unsupported input element type {onnx.TensorProto.DataType.Name(elem_type)}")


# ---------------------------------------------------------------- sessions


@dataclass(frozen=True)
class Session:
    """An onnxruntime session plus what is needed to feed it.

    sess is None when the session could not be created; `error` then holds the
    message, and every run returns it as a failure.
    """

    sess: Any
    input_types: Mapping[str, int]
    output_names: tuple[str, ...]
    error: str | None = None
    failing_node: str | None = None
    probed: tuple[str, ...] = ()  # values whose shapes come back through PROBE_OUTPUT (probe_shapes)


def _providers(device: str) -> list[str]:
    import onnxruntime as ort

    if device == "cpu":
        return ["CPUExecutionProvider"]
    if device == "cuda":
        avail = ort.get_available_providers()
        if "CUDAExecutionProvider" not in avail:
            raise RuntimeError(
                "device='cuda' asked for, but this onnxruntime build has no CUDAExecutionProvider "
                f"(available: {', '.join(avail)}); install onnxruntime-gpu"
            )
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    raise ValueError(f"device must be 'cpu' or 'cuda', not {device!r}")


def make_session(
    model: str | os.PathLike | onnx.ModelProto,
    device: str = "cpu",
    expose: bool = True,
    probe: Sequence[str] | None = None,
) -> Session:
    """Create an onnxruntime session once, to run at many sizes.

    Graph optimizations are disabled (ORT_DISABLE_ALL). A model onnxruntime
    refuses at creation (e.g. a shape-inference error on static dims) gives a
    Session whose runs all fail with that message.
    """
    import onnxruntime as ort

    providers = _providers(device)
    proto = _load(model)
    inits = {i.name for i in proto.graph.initializer}
    input_types = {
        i.name: i.type.tensor_type.elem_type for i in proto.graph.input if i.name not in inits
    }
    probed: tuple[str, ...] = ()
    if probe is not None:
        probed = tuple(dict.fromkeys(probe))
        try:
            proto = probe_shapes(proto, probed)
        except ValueError as e:
            return Session(None, input_types, (), error=f"cannot probe shapes: {e}")
    elif expose:
        proto = expose_all(proto)
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    opts.log_severity_level = 4  # errors come back in the exception; keep stderr quiet
    if probed:
        # run each Shape probe as soon as its value exists (node order) so the value's buffer is freed as in
        # a plain run; onnxruntime's default order runs them last and keeps every intermediate alive (3x the
        # memory, 2x the time on mobilenet_v2 at 512x512). The memory pattern, planned per new input shape,
        # costs more than it saves for runs at always-new sizes with the probes in place (bench_validate.py).
        opts.execution_order = ort.ExecutionOrder.PRIORITY_BASED
        opts.enable_mem_pattern = False
    try:
        # ModelProto over 2GB cannot be serialized; these tests never get there.
        sess = ort.InferenceSession(proto.SerializeToString(), sess_options=opts, providers=providers)
    except Exception as e:  # onnxruntime raises its own exception types
        msg = _one_line(e)
        return Session(None, input_types, (), error=msg, failing_node=parse_failing_node(msg))
    for i in sess.get_inputs():
        if i.name not in input_types or not input_types[i.name]:
            input_types[i.name] = _ORT_TYPE.get(i.type, onnx.TensorProto.FLOAT)
    output_names = tuple(o.name for o in sess.get_outputs())
    return Session(sess, input_types, output_names, probed=probed)


def run_onnxruntime(
    model: str | os.PathLike | onnx.ModelProto | None,
    inputs: Mapping[str, tuple[int, ...]],
    *,
    expose: bool = True,
    device: str = "cpu",
    session: Session | None = None,
    seed: int = 0,
    decode: bool = True,
) -> RunResult:
    """Run the model once on random inputs of the given shapes.

    `inputs` maps each graph input (initializers excluded) to a concrete shape;
    every such input must be given. With `session` the model argument is ignored
    (pass None). Never raises for a failing run: returns RunResult(ok=False, ...).
    A session made with ``probe=names`` reports those values' shapes through one vector
    (probe.py); ``decode=False`` leaves it undecoded in RunResult.probe_vector, for a
    caller that compares it whole.
    """
    if session is None:
        if model is None:
            raise ValueError("give a model or a session")
        session = make_session(model, device=device, expose=expose)
    if session.sess is None:
        return RunResult(False, {}, session.error, session.failing_node)
    missing = [n for n in session.input_types if n not in inputs]
    if missing:
        raise ValueError(f"no shape given for graph input(s) {missing}")
    rng = np.random.default_rng(seed)
    feeds = {
        name: random_input(session.input_types[name], tuple(inputs[name]), rng)
        for name in session.input_types
    }
    shapes: dict[str, tuple[int, ...]] = {name: tuple(a.shape) for name, a in feeds.items()}
    try:
        outs = session.sess.run(list(session.output_names), feeds)
    except Exception as e:
        msg = _one_line(e)
        return RunResult(False, {}, msg, parse_failing_node(msg))
    vector = None
    for name, val in zip(session.output_names, outs):
        if name == PROBE_OUTPUT and session.probed:
            vector = val
        else:
            shapes[name] = tuple(int(d) for d in np.shape(val))
    res = RunResult(True, shapes, None, None, probe_vector=vector)
    return decoded(session, res) if decode else res


def decoded(session: Session, res: RunResult) -> RunResult:
    """`res` with the probed values' shapes in `shapes` (run_onnxruntime(decode=False) left them in
    probe_vector)."""
    if res.probe_vector is None:
        return res
    got = decode_probe(res.probe_vector, session.probed)
    if got is None:
        return RunResult(False, res.shapes, f"the shape probe returned {np.size(res.probe_vector)} numbers that "
                         f"do not split into {len(session.probed)} shapes", None)
    return RunResult(True, {**res.shapes, **got}, None, None)
