"""Every value's run-time shape from one onnxruntime run, without exposing the values as graph outputs.

A Shape node on each value, placed right after its producer, and one Concat of all of them (each shape
followed by -1) make one extra int64 output. The values stay intermediates, so onnxruntime frees their
buffers as in a plain run and pays no per-output cost at the end of the run; what comes back is the shape
of the tensor the runtime actually computed.
"""
from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper

PROBE_OUTPUT = "__shapealg_shapes"


def probe_shapes(model: onnx.ModelProto, names) -> onnx.ModelProto:
    """Return a copy of `model` that reports the run-time shape of each value in `names` (node outputs
    of the top-level graph, all tensors) through one extra graph output, PROBE_OUTPUT: a ``Shape`` node
    on each value, placed right after its producer, and one ``Concat`` of those shapes, each followed by
    a -1 separator (no dim is negative, so the vector splits back into shapes without knowing any rank).

    The values themselves stay intermediates: onnxruntime reuses their buffers and pays nothing per value
    at the output boundary, which makes this much cheaper than exposing each one as a graph output, and
    what it reports is the shape of the tensor the runtime actually computed. Raises ValueError for a
    default-domain opset below 4 (Concat had no int64 before), or when a name is no node output.
    """
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), None)
    if opset is None or opset < 4:
        raise ValueError(f"probing shapes needs ai.onnx opset >= 4, the model has {opset}")
    out = onnx.ModelProto()
    out.CopyFrom(model)
    g = out.graph
    taken = {i.name for i in g.input} | {i.name for i in g.initializer} | {o.name for o in g.output}
    for n in g.node:
        taken.add(n.name)
        taken.update(n.input)
        taken.update(n.output)
    if PROBE_OUTPUT in taken:
        raise ValueError(f"the model already has a value named {PROBE_OUTPUT}")
    prefix = "__shapealg_probe"
    while any(t.startswith(prefix) for t in taken):
        prefix += "_"
    sep = prefix + "_sep"
    wanted = set(names)
    nodes, cat_in, done = [], [], set()
    for node in g.node:
        nodes.append(node)
        for o in node.output:
            if o in wanted and o not in done:
                done.add(o)
                s = f"{prefix}_{len(done)}"
                shape = onnx.NodeProto(op_type="Shape", name=s)  # helper.make_node is 10x slower
                shape.input.append(o)
                shape.output.append(s)
                nodes.append(shape)
                cat_in += [s, sep]
    missing = wanted - done
    if missing:
        raise ValueError(f"no node computes {sorted(missing)[0]!r}")
    g.ClearField("node")
    g.node.extend(nodes)
    g.initializer.append(numpy_helper.from_array(np.array([-1], np.int64), sep))
    g.node.append(helper.make_node("Concat", cat_in or [sep], [PROBE_OUTPUT], axis=0, name=prefix + "_concat"))
    g.output.append(helper.make_tensor_value_info(PROBE_OUTPUT, onnx.TensorProto.INT64, None))
    return out


def decode_probe(vec: np.ndarray, names) -> dict[str, tuple[int, ...]] | None:
    """{name: shape} from PROBE_OUTPUT's vector; None when it does not hold one shape per name."""
    lst = vec.tolist()
    ends = [i for i, v in enumerate(lst) if v < 0]
    if len(ends) != len(names) + (1 if not names else 0):
        return None
    out, start = {}, 0
    for name, end in zip(names, ends):
        out[name] = tuple(lst[start:end])
        start = end + 1
    return out
