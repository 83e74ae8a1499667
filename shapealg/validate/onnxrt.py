"""onnxruntime's side: the file as onnxruntime runs it (every intermediate's shape reported), the inputs at a size,
and the judgement of one run against the formulas and the predicted valid set."""
from __future__ import annotations

from typing import AbstractSet, Dict, List, Mapping, Optional, Tuple

import onnx

from ..records import ShapealgError
from ..zero_sizes import domain_at
from .evaluator import Evaluator
from .report import Mismatch, SizeOutcome

Env = Dict[str, int]


def runtime_model(analysis, proto: onnx.ModelProto) -> onnx.ModelProto:
    """The model onnxruntime runs: where the analysis made a dim the file fixes symbolic (spatial
    dims of a static export, or a --shape override), the file's input declares it as a dim_param, and
    declared output shapes are dropped (types kept) so they cannot contradict.

    Declared intermediate shapes (value_info) are always dropped: onnxruntime plans buffer reuse from
    them, and at a size where two dims the file declares equal differ (dynamo's value_info names torch's
    symbols, true only where torch.export's guards hold), a run fails at the first reused buffer ("Shape
    mismatch attempting to re-use buffer") instead of at the node whose computation is impossible. Without
    them onnxruntime infers its own shapes; what a node computes is unchanged."""
    by_name = {gi.name: gi for gi in analysis.result.graph.inputs}
    if not any(vi.type.tensor_type.HasField("shape") for vi in proto.graph.value_info) and not any(
            d.HasField("dim_value") for i in proto.graph.input if i.name in by_name
            for d in i.type.tensor_type.shape.dim):
        return proto  # nothing to change: no copy (weights can be large)
    m = onnx.ModelProto()
    m.CopyFrom(proto)
    changed = False
    for inp in m.graph.input:
        gi = by_name.get(inp.name)
        if gi is None or gi.shape is None or not inp.type.HasField("tensor_type"):
            continue
        dims = inp.type.tensor_type.shape.dim
        if len(dims) != len(gi.shape):
            continue
        for d, f in zip(dims, gi.shape):
            if f is not None and not isinstance(f, int) and d.HasField("dim_value"):
                d.dim_param = str(f)  # clears dim_value (oneof)
                changed = True
    for vi in list(m.graph.value_info) + (list(m.graph.output) if changed else []):
        if vi.type.HasField("tensor_type"):
            vi.type.tensor_type.ClearField("shape")
    return m


def node_values(proto: onnx.ModelProto, skip: AbstractSet[str] = frozenset()) -> Tuple[str, ...]:
    """Every node output of the top-level graph, in node order, except the file's own graph outputs (a run
    returns those anyway), Constant nodes' outputs (their shape is written in the file, not computed by any
    rule) and ``skip``."""
    g = proto.graph
    have = {o.name for o in g.output} | set(skip)
    out = []
    for node in g.node:
        if node.op_type == "Constant" and node.domain in ("", "ai.onnx"):
            continue
        for name in node.output:
            if name and name not in have:
                have.add(name)
                out.append(name)
    return tuple(out)


def exposed_model(proto: onnx.ModelProto, skip: AbstractSet[str] = frozenset()) -> onnx.ModelProto:
    """A copy of the model whose graph outputs are ``node_values(proto, skip)`` after the file's own
    outputs, without a declared shape, so onnxruntime reports whatever shape occurs.

    Each exposed value costs a buffer that cannot be reused, and a fixed cost per run at the output
    boundary; validate exposes only what its shape probes cannot report. ``constant_values`` finds the
    values that depend on no graph input, which need one run only. With nothing to expose, ``proto``
    itself (no copy: weights can be large)."""
    names = node_values(proto, skip)
    if not names:
        return proto
    out = onnx.ModelProto()
    out.CopyFrom(proto)
    g = out.graph
    elem = {vi.name: vi.type.tensor_type.elem_type for vi in list(g.value_info) + list(g.input) + list(g.output)
            if vi.type.HasField("tensor_type") and vi.type.tensor_type.elem_type}
    for name in names:
        vi = g.output.add()
        vi.name = name
        if name in elem:
            vi.type.tensor_type.elem_type = elem[name]
    return out


def constant_values(proto: onnx.ModelProto, min_values: int = 1) -> Tuple[Tuple[str, ...], Optional[onnx.ModelProto]]:
    """(values computed from initializers and Constants alone, a model with no input computing just them;
    None when there are fewer than ``min_values`` of them).

    Their shapes cannot depend on the input size, so one run of that small model checks them for every size
    (TorchScript exports compute padding vectors this way: in MobileNetV2, 406 of 558 values); the main
    session then does not expose them. Nodes with subgraphs are never counted constant."""
    g = proto.graph
    inputs = {i.name for i in g.input}
    known = {i.name for i in g.initializer if i.name not in inputs}
    nodes, values = [], []
    for n in g.node:
        if any(a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS) for a in n.attribute):
            continue
        if all(x in known for x in n.input if x):
            nodes.append(n)
            outs = [o for o in n.output if o]
            known.update(outs)
            if not (n.op_type == "Constant" and n.domain in ("", "ai.onnx")):
                values.extend(outs)
    if not values or len(values) < min_values:
        return tuple(values), None
    m = onnx.ModelProto()
    for fd, val in proto.ListFields():  # everything but the graph, whose weights can be large
        if fd.name == "graph":
            continue
        if isinstance(val, (str, bytes, int, float)):
            setattr(m, fd.name, val)
        elif hasattr(val, "extend"):  # repeated (opset_import, metadata_props, functions, ...)
            getattr(m, fd.name).extend(val)
        else:
            getattr(m, fd.name).CopyFrom(val)
    used = {x for n in nodes for x in n.input if x}
    keep = [t for t in g.initializer if t.name in used]
    mg = m.graph
    mg.name = g.name
    mg.node.extend(nodes)
    mg.initializer.extend(keep)
    for v in values:
        mg.output.add().name = v
    return tuple(values), m


def input_shapes(analysis, env: Env) -> Dict[str, Tuple[int, ...]]:
    from ..dims import evaluate
    init = set(analysis.result.graph.initializers)
    out = {}
    for gi in analysis.result.graph.inputs:
        if gi.name in init:
            continue
        if gi.shape is None:
            raise ShapealgError(f"graph input {gi.name!r} has no known rank: cannot make an input for it "
                                f"(give its shape with --shape {gi.name}=...)")
        dims = []
        for d in gi.shape:
            v = 1 if d is None else evaluate(d, env)
            dims.append(int(v))
        out[gi.name] = tuple(dims)
    return out


def graph_links(analysis):
    """(node name -> set of successor node names, node name -> op_type, value -> producer)."""
    consumers: Dict[str, List[str]] = {}
    producer: Dict[str, str] = {}
    ops: Dict[str, str] = {}
    for n in analysis.result.nodes:
        ops[n.name] = n.op_type
        for x in n.inputs:
            if x:
                consumers.setdefault(x, []).append(n.name)
        for o in n.outputs:
            if o:
                producer[o] = n.name
    succ: Dict[str, set] = {}
    for n in analysis.result.nodes:
        s = set()
        for o in n.outputs:
            s.update(consumers.get(o, ()))
        succ[n.name] = s
    return succ, ops, producer


def _descendants(succ: Mapping[str, set], start: str) -> set:
    seen = {start}
    stack = [start]
    while stack:
        for nx in succ.get(stack.pop(), ()):
            if nx not in seen:
                seen.add(nx)
                stack.append(nx)
    return seen


def _violated_nodes(analysis, env: Env) -> List[str]:
    """Nodes with at least one constraint violated at env, in constraint order (a face's constraints at a size
    with one symbol at 0)."""
    out: List[str] = []
    try:
        domain, env = domain_at(analysis.domain, analysis.zero_faces, env)
    except ValueError:
        return out
    try:
        e = domain._env(env)
        for a in domain._atoms:
            if not a.at(e):
                node = domain.constraints[a.index].node
                if node not in out:
                    out.append(node)
        return out
    except Exception:  # noqa: BLE001 - fall back on the public constraint records
        for c in domain.constraints:
            try:
                if not c.holds_at(env) and c.node not in out:
                    out.append(c.node)
            except Exception:  # noqa: BLE001
                pass
        return out




def _empty_output(ev: Evaluator, env: Env, node: str, producer: Mapping[str, str]) -> str:
    """'[1, 8, 0, 0]' when a dim of one of ``node``'s predicted outputs is <= 0 at env, else ''."""
    _, shape_at = ev.shapes_at(env)
    for v, n in producer.items():
        if n == node:
            shp = shape_at(v)
            if shp and any(d is not None and d <= 0 for d in shp):
                return "[" + ", ".join(str(d) for d in shp) + "]"
    return ""


def compare(ev: Evaluator, env: Env, shapes: Mapping[str, Tuple[int, ...]], producer, ops):
    """(mismatches, values compared, values whose formula is (partly) unknown) for one run's shapes."""
    _, shape_at = ev.shapes_at(env)
    mism: List[Mismatch] = []
    checked = unknown = 0
    for name, got in shapes.items():
        exp = shape_at(name)
        if exp == got:  # the common case: every dim known and equal
            checked += 1
            continue
        if exp is None:
            unknown += 1
            continue
        checked += 1
        if len(exp) == len(got):
            known = [(e, g) for e, g in zip(exp, got) if e is not None]
            if len(known) < len(exp):
                unknown += 1
            if all(e == g for e, g in known):
                continue
        node = producer.get(name)
        mism.append(Mismatch(name, node, ops.get(node), exp, tuple(got)))
    return tuple(mism), checked, unknown


def safe_blocking(analysis, env):
    """The first constraint that fails at env (a face's at a size with one symbol at 0), or None."""
    try:
        dom, at = domain_at(analysis.domain, analysis.zero_faces, env)
        return dom.blocking(at)
    except ValueError:
        return None


def judge_ort(a, ev, env, pv, blamed, r, succ, ops, producer, base, agreed: int = 0) -> SizeOutcome:
    """The outcome of one onnxruntime run; ``agreed`` values were already found equal to their formulas
    (by one comparison of the probe vector) and are not in r.shapes."""
    if r.ok:
        mism, checked, unknown = compare(ev, env, r.shapes, producer, ops)
        checked += agreed
        if pv:
            return SizeOutcome(**base, outcome="mismatch" if mism else "agree", mismatches=mism, checked=checked,
                               unknown=unknown)
        note = f"{len(mism)} shape mismatches too" if mism else ""
        why = blamed.reason if blamed is not None else (
            "the verdict says no size is valid" if a.domain.verdict == "never-valid" else "")
        if why:
            note = (note + "; " if note else "") + why
        return SizeOutcome(**base, outcome="surprise-ran", mismatches=mism, checked=checked, unknown=unknown,
                           note=note)
    if pv:
        return SizeOutcome(**base, outcome="surprise-failed", failing_node=r.failing_node, error=r.error)
    fn = r.failing_node
    if blamed is None or fn is None:
        return SizeOutcome(**base, outcome="failed-as-predicted", failing_node=fn, error=r.error,
                           note="" if fn else "the runtime's message names no node")
    if fn == blamed.node:
        return SizeOutcome(**base, outcome="failed-as-predicted", failing_node=fn, error=r.error, note="")
    violated = _violated_nodes(a, env)
    if fn in violated:
        return SizeOutcome(**base, outcome="failed-as-predicted", failing_node=fn, error=r.error,
                           note=f"{fn} has a violated constraint too")
    for v in violated:
        if fn in _descendants(succ, v):
            return SizeOutcome(**base, outcome="failed-as-predicted", failing_node=fn, error=r.error,
                               note=f"{fn} ({ops.get(fn, '?')}) is downstream of {v} ({ops.get(v, '?')})")
    empty = _empty_output(ev, env, fn, producer)
    if empty:
        # the formulas themselves say this node cannot run here (a constraint equivalent to the blamed one
        # was attributed to that node only, e.g. Conv(k=8, s=8) beside a Resize to floor(H/8))
        return SizeOutcome(**base, outcome="failed-as-predicted", failing_node=fn, error=r.error,
                           note=f"{fn}'s output formula gives {empty} here")
    if fn not in ops:  # a name the runtime made up (e.g. a fused or renamed node)
        return SizeOutcome(**base, outcome="failed-as-predicted", failing_node=fn, error=r.error,
                           note=f"{fn} is not a node of the file")
    return SizeOutcome(**base, outcome="failed-elsewhere", failing_node=fn, error=r.error,
                       note=f"{fn} ({ops.get(fn, '?')}) is not downstream of any violated constraint")
