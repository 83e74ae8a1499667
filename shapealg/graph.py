"""ONNX -> read-only records. No weights are loaded: initializers give their dims (and, for small
integer / float tensors whose contents drive shapes, their values). dim_param strings become Dims here
and nowhere else."""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Dict, List, Mapping, Optional, Sequence, Tuple, Union

import onnx
from onnx import TensorProto, helper, numpy_helper

from .dims import MaybeDim, parse_dim, symbol
from .tensor import Initializer, ShapealgError

SMALL_VALUE_LIMIT = 4096  # elements: contents of smaller initializers / constants are read
_INT_TYPES = {TensorProto.INT64, TensorProto.INT32, TensorProto.INT16, TensorProto.INT8,
              TensorProto.UINT8, TensorProto.UINT16, TensorProto.UINT32, TensorProto.UINT64,
              TensorProto.BOOL}
_FLOAT_TYPES = {TensorProto.FLOAT, TensorProto.DOUBLE, TensorProto.FLOAT16, TensorProto.BFLOAT16}
SPATIAL_NAMES = {3: ("L",), 4: ("H", "W"), 5: ("D", "H", "W")}


@dataclass(frozen=True)
class Node:
    name: str
    op_type: str
    domain: str
    inputs: Tuple[str, ...]   # "" for an omitted optional input
    outputs: Tuple[str, ...]
    attrs: Mapping[str, object]
    scope: str = ""


@dataclass(frozen=True)
class GraphInput:
    name: str
    shape: Optional[Tuple[MaybeDim, ...]]
    dtype: int
    declared: Optional[Tuple[Union[int, str, None], ...]]  # as the file declares it (dim_value / dim_param / None)


@dataclass(frozen=True)
class Graph:
    path: str
    inputs: Tuple[GraphInput, ...]
    outputs: Tuple[str, ...]
    initializers: Mapping[str, Initializer]
    nodes: Tuple[Node, ...]  # topological order
    opsets: Mapping[str, int]
    producer: str = ""

    def opset(self, domain: str) -> int:
        d = "" if domain in ("", "ai.onnx") else domain
        return self.opsets.get(d, self.opsets.get("", 1))

    @property
    def symbols(self) -> List[str]:
        seen: List[str] = []
        for gi in self.inputs:
            for d in gi.shape or ():
                if d is not None and not isinstance(d, int):
                    for s in sorted(d.free_symbols, key=str):
                        if str(s) not in seen:
                            seen.append(str(s))
        return seen


def load_model(path: Union[str, os.PathLike]) -> onnx.ModelProto:
    """Parse an ONNX file without touching its external data."""
    p = os.fspath(path)
    if not os.path.exists(p):
        raise ShapealgError(f"{p}: no such file")
    if os.path.isdir(p):
        raise ShapealgError(f"{p}: is a directory, expected an ONNX file")
    try:
        with open(p, "rb") as f:
            data = f.read()
        model = onnx.ModelProto()
        model.ParseFromString(data)
    except Exception as e:  # noqa: BLE001 - protobuf raises several types
        raise ShapealgError(f"{p}: not a readable ONNX model ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else 'parse error'})") from None
    if not model.HasField("graph"):
        raise ShapealgError(f"{p}: not an ONNX model (no graph)")
    return model


def _attr_value(a: onnx.AttributeProto):
    t = a.type
    A = onnx.AttributeProto
    if t == A.INT:
        return int(a.i)
    if t == A.FLOAT:
        return float(a.f)
    if t == A.STRING:
        return a.s.decode("utf-8", "replace")
    if t == A.INTS:
        return [int(x) for x in a.ints]
    if t == A.FLOATS:
        return [float(x) for x in a.floats]
    if t == A.STRINGS:
        return [s.decode("utf-8", "replace") for s in a.strings]
    if t == A.TENSOR:
        return a.t
    if t == A.GRAPH:
        return a.g
    if t == A.GRAPHS:
        return list(a.graphs)
    if t == A.TENSORS:
        return list(a.tensors)
    return None


def tensor_value(t: onnx.TensorProto) -> Optional[tuple]:
    """Flattened contents of a small tensor stored inline, else None (never reads external data)."""
    n = 1
    for d in t.dims:
        n *= d
    if n > SMALL_VALUE_LIMIT or t.data_location == TensorProto.EXTERNAL:
        return None
    if t.data_type not in _INT_TYPES and t.data_type not in _FLOAT_TYPES:
        return None
    try:
        arr = numpy_helper.to_array(t)
    except Exception:  # noqa: BLE001
        return None
    if t.data_type in _INT_TYPES:
        return tuple(int(x) for x in arr.reshape(-1))
    return tuple(float(x) for x in arr.reshape(-1))


def _declared_dims(vi: onnx.ValueInfoProto):
    tt = vi.type.tensor_type
    if not vi.type.HasField("tensor_type") or not tt.HasField("shape"):
        return None, (tt.elem_type if vi.type.HasField("tensor_type") else 0)
    out = []
    for d in tt.shape.dim:
        if d.HasField("dim_value"):
            out.append(int(d.dim_value))
        elif d.HasField("dim_param") and d.dim_param:
            out.append(d.dim_param)
        else:
            out.append(None)
    return tuple(out), tt.elem_type


_SANITIZE = re.compile(r"[^A-Za-z0-9_]")


def dim_from_param(param: str) -> MaybeDim:
    """A file's dim_param as a Dim: a formula when it parses as one, else an opaque symbol."""
    try:
        return parse_dim(param)
    except ValueError:
        name = _SANITIZE.sub("_", param) or "d"
        if not name[0].isalpha():
            name = "d_" + name
        return symbol(name)


def _input_dims(name: str, declared, dtype: int, overrides: Mapping[str, Sequence], symbolize_spatial: bool,
                used_names: set, path: str):
    if name in overrides:
        dims = []
        for d in overrides[name]:
            if isinstance(d, int):
                if d < 0:
                    raise ShapealgError(f"{path}: --shape {name}: dim {d} is negative")
                dims.append(d)
            else:
                try:
                    dims.append(parse_dim(str(d)))
                except ValueError as e:
                    raise ShapealgError(f"{path}: --shape {name}: {e}") from None
        if declared is not None and len(declared) != len(dims):
            raise ShapealgError(f"{path}: --shape {name}: the file declares rank {len(declared)}, got {len(dims)} dims")
        return tuple(dims)
    if declared is None:
        return None
    dims: List[MaybeDim] = []
    for d in declared:
        if isinstance(d, int):
            dims.append(d)
        elif isinstance(d, str):
            dims.append(dim_from_param(d))
        else:
            dims.append(None)
    rank = len(dims)
    if symbolize_spatial and rank in SPATIAL_NAMES and dtype in _FLOAT_TYPES:
        names = SPATIAL_NAMES[rank]
        suffix = ""
        k = 1
        while any(n + suffix in used_names for n in names):
            k += 1
            suffix = f"_{k}"
        for i, n in enumerate(names):
            j = rank - len(names) + i
            d = dims[j]
            if isinstance(d, int) or d is None:
                dims[j] = symbol(n + suffix)
        used_names.update(n + suffix for n in names)
    return tuple(dims)


def _toposort(nodes: List[Node], available: set, path: str) -> List[Node]:
    producers: Dict[str, int] = {}
    for i, n in enumerate(nodes):
        for o in n.outputs:
            if o:
                if o in producers or o in available:
                    raise ShapealgError(f"{path}: value {o!r} is produced twice (node {n.name!r}, op {n.op_type})")
                producers[o] = i
    indeg = [0] * len(nodes)
    users: Dict[int, List[int]] = {}
    for i, n in enumerate(nodes):
        deps = {producers[x] for x in n.inputs if x and x in producers}
        indeg[i] = len(deps)
        for d in deps:
            users.setdefault(d, []).append(i)
    ready = [i for i in range(len(nodes)) if indeg[i] == 0]
    order: List[int] = []
    import heapq
    heapq.heapify(ready)
    while ready:
        i = heapq.heappop(ready)
        order.append(i)
        for u in users.get(i, ()):
            indeg[u] -= 1
            if indeg[u] == 0:
                heapq.heappush(ready, u)
    if len(order) != len(nodes):
        stuck = next(nodes[i] for i in range(len(nodes)) if indeg[i] > 0)
        raise ShapealgError(f"{path}: the graph has a cycle (through node {stuck.name!r}, op {stuck.op_type})")
    return [nodes[i] for i in order]


def read_graph(model: Union[str, os.PathLike, onnx.ModelProto], *, shapes: Optional[Mapping[str, Sequence]] = None,
               symbolize_spatial: bool = True) -> Graph:
    """Read a model into a ``Graph``. ``shapes`` overrides input shapes ({"x": [1, 3, "H", "W"]})."""
    path = "<model>"
    if not isinstance(model, onnx.ModelProto):
        path = os.fspath(model)
        model = load_model(path)
    g = model.graph
    opsets = {("" if o.domain in ("", "ai.onnx") else o.domain): int(o.version) for o in model.opset_import}
    if "" not in opsets:
        opsets[""] = 1 if not model.opset_import else max(opsets.values(), default=1)
    inits: Dict[str, Initializer] = {}
    for t in g.initializer:
        if any(d < 0 for d in t.dims):
            raise ShapealgError(f"{path}: initializer {t.name!r} has a negative dim {list(t.dims)}")
        inits[t.name] = Initializer(t.name, tuple(int(d) for d in t.dims), int(t.data_type), tensor_value(t))
    overrides = dict(shapes or {})
    init_names = set(inits)
    unknown = [k for k in overrides if k not in {i.name for i in g.input}]
    if unknown:
        names = [i.name for i in g.input if i.name not in init_names]
        raise ShapealgError(f"{path}: --shape names input {unknown[0]!r}, but the model's inputs are {names}")
    used: set = set()
    for vi in g.input:  # names used in the file's own dim_params are taken
        decl, _ = _declared_dims(vi)
        for d in decl or ():
            if isinstance(d, str):
                used.add(d)
    inputs = []
    seen_inputs = set()
    for vi in g.input:
        if vi.name in init_names:
            continue
        if vi.name in seen_inputs:
            raise ShapealgError(f"{path}: graph input {vi.name!r} is declared twice")
        seen_inputs.add(vi.name)
        decl, dtype = _declared_dims(vi)
        dims = _input_dims(vi.name, decl, dtype, overrides, symbolize_spatial, used, path)
        inputs.append(GraphInput(vi.name, dims, int(dtype), decl))
    nodes = []
    names_seen: Dict[str, int] = {}
    for i, n in enumerate(g.node):
        name = n.name or f"{n.op_type}_{i}"
        if name in names_seen:  # node names are not required to be unique; make them so
            names_seen[name] += 1
            name = f"{name}#{names_seen[name]}"
        else:
            names_seen[name] = 0
        attrs = {a.name: _attr_value(a) for a in n.attribute}
        scope = ""
        for p in n.metadata_props:
            if p.key in ("pkg.torch.onnx.name_scopes", "namespace"):
                scope = p.value
        nodes.append(Node(name, n.op_type, n.domain, tuple(n.input), tuple(n.output), attrs, scope))
    available = {gi.name for gi in inputs} | init_names
    nodes = _toposort(nodes, set(), path)
    return Graph(path=path, inputs=tuple(inputs), outputs=tuple(o.name for o in g.output), initializers=inits,
                 nodes=tuple(nodes), opsets=opsets, producer=model.producer_name)
