"""ONNX -> read-only records. No weights are loaded: initializers give their dims (and, for small
integer / float tensors whose contents drive shapes, their values). dim_param strings become Dims here
and nowhere else."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Dict, List, Mapping, Optional, Sequence, Tuple, Union

import onnx
import sympy
from onnx import TensorProto, numpy_helper

from .dims import MaybeDim, parse_dim, symbol
from .onnx_file import SMALL_VALUE_LIMIT, external_data_problems, text
from .enums import FLOAT_TYPES, INT_TYPES, DType
from .records import Initializer, ShapealgError
from .source import load

_INT_TYPES = INT_TYPES | {DType.BOOL}  # contents read as ints
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
    kind: str = "tensor"  # "map": an ai.onnx.ml map input (no shape to have; dtype: its values' element type);
    # "sequence" / "optional": ``shape`` / ``dtype`` are the elements' (Value.kind), the count unknown


@dataclass(frozen=True)
class Graph:
    path: str
    inputs: Tuple[GraphInput, ...]
    outputs: Tuple[str, ...]
    initializers: Mapping[str, Initializer]
    nodes: Tuple[Node, ...]  # topological order
    opsets: Mapping[str, int]
    producer: str = ""
    warnings: Tuple[str, ...] = ()  # reader findings that do not stop the analysis (external data, odd dims)
    # symbols the file (a dim_param that is one name) or the user (--shape) leaves dynamic on inputs that are not
    # images: such a size
    # may be 0 (an empty KV cache, the prompt step); analysis.py analyses each of them at 0 too
    zero_ok: Tuple[str, ...] = ()

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


try:
    _LATEST_OPSET = int(onnx.defs.onnx_opset_version())
except Exception:  # noqa: BLE001 - an onnx without defs: no "newer than known" warning
    _LATEST_OPSET = 10 ** 4



def attr_value(a: onnx.AttributeProto):
    t = a.type
    A = onnx.AttributeProto
    if t == A.INT:
        return int(a.i)
    if t == A.FLOAT:
        return float(a.f)
    if t == A.STRING:
        return a.s.decode("utf-8", "replace") if isinstance(a.s, bytes) else text(a.s)
    if t == A.INTS:
        return [int(x) for x in a.ints]
    if t == A.FLOATS:
        return [float(x) for x in a.floats]
    if t == A.STRINGS:
        return [s.decode("utf-8", "replace") if isinstance(s, bytes) else text(s) for s in a.strings]
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
    if t.data_type not in _INT_TYPES and t.data_type not in FLOAT_TYPES:
        return None
    try:
        arr = numpy_helper.to_array(t)
    except Exception:  # noqa: BLE001
        return None
    if t.data_type in _INT_TYPES:
        return tuple(int(x) for x in arr.reshape(-1))
    return tuple(float(x) for x in arr.reshape(-1))


def declared_dims(vi: onnx.ValueInfoProto):
    tt = vi.type.tensor_type
    if not vi.type.HasField("tensor_type") or not tt.HasField("shape"):
        return None, (tt.elem_type if vi.type.HasField("tensor_type") else 0)
    out = []
    for d in tt.shape.dim:
        if d.HasField("dim_value"):
            # a negative dim_value is invalid ONNX (some tools write -1 for "dynamic"): unknown
            out.append(int(d.dim_value) if d.dim_value >= 0 else None)
        elif d.HasField("dim_param") and d.dim_param:
            out.append(text(d.dim_param))
        else:
            out.append(None)
    return tuple(out), tt.elem_type


_SANITIZE = re.compile(r"[^A-Za-z0-9_]")


# Formula text that may reach sympy's parser (which evals): names, integers, + - * / %, parentheses and
# commas only. No dots, brackets, quotes, colons or '**' means no attribute access, no strings, no lambdas and
# no exponent towers (9**9**9 would hang); every name becomes a symbol or one of floor / ceiling / Mod / Max...
_SAFE_FORMULA = re.compile(r"^[A-Za-z0-9_ +\-*/%(),]{1,200}$")


def safe_formula_text(text: str) -> bool:
    """True when ``text`` may be handed to ``parse_dim`` (see _SAFE_FORMULA)."""
    return bool(_SAFE_FORMULA.match(text)) and "**" not in text and "__" not in text and text.count("(") <= 20


def _finite_dim(d) -> bool:
    if d is None or isinstance(d, int):
        return d is None or d >= 0
    try:
        if d.has(sympy.zoo, sympy.oo, -sympy.oo, sympy.nan):
            return False
        return not d.is_number and not any(isinstance(a, sympy.Float) for a in sympy.preorder_traversal(d))
    except Exception:  # noqa: BLE001
        return False


def dim_from_param(param: str) -> MaybeDim:
    """A file's dim_param as a Dim: a formula when it parses as a safe one (integers, symbols, + - * / %,
    floor / ceiling / Mod / Max / Min), else an opaque symbol named after it. The text is never evaluated
    unless it passes ``safe_formula_text``."""
    param = text(param)
    if safe_formula_text(param):
        try:
            d = parse_dim(param)
            if _finite_dim(d):
                return d
        except (ValueError, TypeError, SyntaxError, sympy.SympifyError, RecursionError, MemoryError):
            pass
    name = _SANITIZE.sub("_", param)[:64] or "d"
    if not name[0].isalpha():
        name = "d_" + name
    return symbol(name)


# Ops whose input is a channels-first image (N, C, spatial...): an input that reaches one of them on its data
# input, directly or through a few layout-keeping elementwise ops, is a true image input; its spatial dims are
# symbols by default. Any other input (a KV cache [B, N, P, H], a token sequence [B, S, D]) keeps the dims
# the file fixes.
_IMAGE_OPS = {
    ("", "Conv"), ("", "ConvTranspose"), ("", "ConvInteger"), ("", "QLinearConv"), ("", "DeformConv"),
    ("", "MaxPool"), ("", "AveragePool"), ("", "LpPool"), ("", "GlobalAveragePool"), ("", "GlobalMaxPool"),
    ("", "GlobalLpPool"), ("", "Resize"), ("", "Upsample"), ("", "MaxRoiPool"), ("", "RoiAlign"),
    ("", "DepthToSpace"), ("", "SpaceToDepth"), ("", "InstanceNormalization"), ("", "BatchNormalization"),
    ("", "GridSample"), ("", "AffineGrid"), ("", "Col2Im"), ("", "LRN"),
    ("com.microsoft", "FusedConv"), ("com.microsoft", "QLinearConv"), ("com.microsoft", "QLinearAveragePool"),
    ("com.microsoft", "QLinearGlobalAveragePool"), ("com.microsoft", "NhwcMaxPool"),
}
# layout-keeping ops an image passes through before its first convolution (normalisation, casts, quantisation)
_PASS_OPS = {"Cast", "Identity", "Add", "Sub", "Mul", "Div", "Relu", "Clip", "Sigmoid", "Tanh", "Neg", "Abs",
             "Sqrt", "Pow", "Max", "Min", "QuantizeLinear", "DequantizeLinear", "Pad", "Exp", "Log", "Floor",
             "Round", "Ceil", "Where", "LeakyRelu", "Dropout", "CastLike", "Reciprocal"}
_PASS_DEPTH = 4


def _image_inputs(nodes: Sequence["Node"], names: Sequence[str]) -> set:
    """The graph inputs among ``names`` that reach an image op's data input (input 0) directly or through at
    most ``_PASS_DEPTH`` layout-keeping elementwise ops."""
    users: Dict[str, List[Tuple["Node", int]]] = {}
    for n in nodes:
        for i, x in enumerate(n.inputs):
            if x:
                users.setdefault(x, []).append((n, i))
    found = set()
    for name in names:
        frontier, seen = [name], {name}
        for _depth in range(_PASS_DEPTH + 1):
            nxt = []
            for v in frontier:
                for n, i in users.get(v, ()):
                    dom = "" if n.domain in ("", "ai.onnx") else n.domain
                    if (dom, n.op_type) in _IMAGE_OPS and i == 0:
                        found.add(name)
                        break
                    if dom == "" and n.op_type in _PASS_OPS:
                        for o in n.outputs[:1]:
                            if o and o not in seen:
                                seen.add(o)
                                nxt.append(o)
                if name in found:
                    break
            if name in found or not nxt:
                break
            frontier = nxt
    return found


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
                text = str(d).strip()
                if not safe_formula_text(text):
                    raise ShapealgError(f"{path}: --shape {name}: dim {text[:60]!r} is not a plain formula "
                                        f"(names, integers, + - * / %, floor / ceiling / Mod / Max / Min)")
                try:
                    dim = parse_dim(text)
                except (ValueError, TypeError, SyntaxError, sympy.SympifyError, RecursionError) as e:
                    raise ShapealgError(f"{path}: --shape {name}: {str(e).splitlines()[0] if str(e) else e!r}") from None
                if not _finite_dim(dim):
                    raise ShapealgError(f"{path}: --shape {name}: dim {text!r} is not a size (it must be a "
                                        f"non-negative integer or a formula in symbols)")
                dims.append(dim)
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
    if symbolize_spatial and rank in SPATIAL_NAMES and dtype in FLOAT_TYPES:
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


def toposort(nodes: List[Node], available: set, path: str) -> List[Node]:
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


def read_graph(model, *, shapes: Optional[Mapping[str, Sequence]] = None,
               symbolize_spatial: bool = True) -> Graph:
    """Read a model (an ONNX path, a ModelProto or a source.Source) into a ``Graph``. ``shapes`` overrides
    input shapes ({"x": [1, 3, "H", "W"]}). Never reads external data: unsafe external-data locations become ``Graph.warnings``."""
    src = load(model, modules=False)
    model, path, model_dir = src.proto, src.label, src.folder
    try:
        return _read(model, path, model_dir, shapes, symbolize_spatial)
    except ShapealgError:
        raise
    except RecursionError:
        raise ShapealgError(f"{path}: the model is too deeply nested to read") from None
    except (ValueError, TypeError, OverflowError, KeyError, IndexError, AttributeError, UnicodeError) as e:
        first = str(e).splitlines()[0][:200] if str(e).strip() else ""
        raise ShapealgError(f"{path}: malformed model ({type(e).__name__}: {first})") from None


def _read(model: onnx.ModelProto, path: str, model_dir: Optional[str], shapes, symbolize_spatial: bool) -> Graph:
    g = model.graph
    warnings: List[str] = [f"{path}: {w}" for w in external_data_problems(model, model_dir)]
    opsets: Dict[str, int] = {}
    for o in model.opset_import:
        dom = text(o.domain)
        opsets["" if dom in ("", "ai.onnx") else dom] = int(o.version)
    if "" not in opsets:
        opsets[""] = 1 if not model.opset_import else max(opsets.values(), default=1)
    if opsets[""] < 1 or opsets[""] > 10 ** 4:
        warnings.append(f"{path}: default-domain opset {opsets['']} is not an ONNX opset; ops are read with "
                        f"the rules of the nearest one")
        opsets[""] = min(max(opsets[""], 1), 10 ** 4)
    elif opsets[""] > _LATEST_OPSET:
        warnings.append(f"{path}: default-domain opset {opsets['']} is newer than the latest this onnx knows "
                        f"({_LATEST_OPSET}); ops are read with the latest rules shapealg has")
    if not len(g.node):
        warnings.append(f"{path}: the graph has no nodes")
    inits: Dict[str, Initializer] = {}
    for t in g.initializer:
        tname = text(t.name)
        if any(d < 0 for d in t.dims):
            raise ShapealgError(f"{path}: initializer {tname!r} has a negative dim {list(t.dims)}")
        if tname in inits:
            warnings.append(f"{path}: initializer {tname!r} is declared twice; the last one is used")
        inits[tname] = Initializer(tname, tuple(int(d) for d in t.dims), int(t.data_type), tensor_value(t))
    overrides = dict(shapes or {})
    init_names = set(inits)
    input_names = [text(i.name) for i in g.input]
    unknown = [k for k in overrides if k not in input_names]
    if unknown:
        names = [n for n in input_names if n not in init_names]
        raise ShapealgError(f"{path}: --shape names input {unknown[0]!r}, but the model's inputs are {names}")
    used: set = set()
    for vi in g.input:  # names used in the file's own dim_params are taken
        decl, _ = declared_dims(vi)
        for d in decl or ():
            if isinstance(d, str):
                used.add(d)
    nodes = []
    names_seen: set = set()
    for i, n in enumerate(g.node):
        op_type = text(n.op_type)
        base = text(n.name) or f"{op_type}_{i}"
        name, k = base, 0
        while name in names_seen:  # node names are not required to be unique; make them so
            k += 1
            name = f"{base}#{k}"
        names_seen.add(name)
        attrs = {text(a.name): attr_value(a) for a in n.attribute}
        scope = ""
        for p in n.metadata_props:
            if text(p.key) in ("pkg.torch.onnx.name_scopes", "namespace"):
                scope = text(p.value)
        nodes.append(Node(name, op_type, text(n.domain), tuple(text(x) for x in n.input),
                          tuple(text(x) for x in n.output), attrs, scope))
    nodes = toposort(nodes, set(), path)
    images = _image_inputs(nodes, [text(vi.name) for vi in g.input]) if symbolize_spatial else set()
    inputs = []
    seen_inputs = set()
    zero_ok: List[str] = []
    image_syms: set = set()
    for vi in g.input:
        vname = text(vi.name)
        if vname in init_names:
            continue
        if not vname:
            raise ShapealgError(f"{path}: a graph input has no name")
        if vname in seen_inputs:
            raise ShapealgError(f"{path}: graph input {vname!r} is declared twice")
        seen_inputs.add(vname)
        if vi.type.HasField("map_type"):  # a map has no shape: nothing to declare, nothing missing
            vt = vi.type.map_type.value_type
            inputs.append(GraphInput(vname, None, int(vt.tensor_type.elem_type) if vt.HasField("tensor_type") else 0,
                                     None, kind="map"))
            continue
        if vi.type.HasField("sequence_type") or vi.type.HasField("optional_type"):
            inputs.append(_container_input(vname, vi, overrides, used, path, warnings))
            continue
        decl, dtype = declared_dims(vi)
        if decl is not None and any(d is None for d in decl) and vi.type.tensor_type.HasField("shape") and any(
                dd.HasField("dim_value") and dd.dim_value < 0 for dd in vi.type.tensor_type.shape.dim):
            warnings.append(f"{path}: input {vname!r} declares a negative dim; read as unknown")
        dims = _input_dims(vname, decl, dtype, overrides, symbolize_spatial and vname in images, used, path)
        if dims is None:
            warnings.append(f"{path}: input {vname!r} declares no shape; what depends on it is unknown "
                            f"(give one with --shape {vname}=d0,d1,...)")
        inputs.append(GraphInput(vname, dims, int(dtype), decl))
        if vname in images:
            image_syms.update(str(x) for d in dims or () if d is not None and not isinstance(d, int)
                              for x in d.free_symbols)
        elif dims is not None:  # a size named by the file's dim_param or by the user's --shape
            named = overrides[vname] if vname in overrides else (decl or ())
            zero_ok.extend(str(d) for d, dd in zip(dims, named) if not isinstance(dd, int) and dd is not None and
                           isinstance(d, sympy.Symbol))
    zero_ok = [z for z in dict.fromkeys(zero_ok) if z not in image_syms]
    return Graph(path=path, inputs=tuple(inputs), outputs=tuple(text(o.name) for o in g.output), initializers=inits,
                 nodes=tuple(nodes), opsets=opsets, producer=text(model.producer_name), warnings=tuple(warnings),
                 zero_ok=tuple(zero_ok))


def _container_input(vname: str, vi, overrides, used, path: str, warnings: list) -> GraphInput:
    """A sequence / optional graph input: its element tensor's declared shape (dim_params become symbols, as a
    tensor input's do), the number of elements unknown. A sequence of sequences (or any element that is not a
    tensor) has no element shape to take: unknown, with a warning."""
    kind = "sequence" if vi.type.HasField("sequence_type") else "optional"
    et = (vi.type.sequence_type if kind == "sequence" else vi.type.optional_type).elem_type
    if not et.HasField("tensor_type"):
        warnings.append(f"{path}: input {vname!r} is {'an' if kind == 'optional' else 'a'} {kind} of non-tensor elements; what depends on it is unknown")
        return GraphInput(vname, None, 0, None, kind=kind)
    elem = onnx.ValueInfoProto(name=vi.name, type=et)
    decl, dtype = declared_dims(elem)
    dims = _input_dims(vname, decl, dtype, overrides, False, used, path)
    if dims is None:
        warnings.append(f"{path}: input {vname!r} ({kind}) declares no element shape; what depends on it is unknown")
    return GraphInput(vname, dims, int(dtype), decl, kind=kind)


@dataclass(frozen=True)
class Subgraph:
    """A subgraph (If branch, Loop / Scan body) as records; nodes named ``<prefix>/<node>``."""
    nodes: Tuple[Node, ...]  # topological order
    initializers: Mapping[str, Initializer]
    inputs: Tuple[Tuple[str, Optional[Tuple[Union[int, str, None], ...]], int], ...]  # (name, declared dims, dtype)
    outputs: Tuple[str, ...]


def read_subgraph(g: onnx.GraphProto, prefix: str) -> Subgraph:
    """Read a subgraph attribute; a cycle or a value produced twice raises ShapealgError."""
    inits = {}
    for t in g.initializer:
        inits[text(t.name)] = Initializer(text(t.name), tuple(int(d) for d in t.dims), int(t.data_type), tensor_value(t))
    inputs = []
    for vi in g.input:
        dims, dtype = declared_dims(vi)
        inputs.append((text(vi.name), dims, int(dtype or 0)))
    nodes: List[Node] = []
    seen: set = set()
    for i, n in enumerate(g.node):
        base = f"{prefix}/{text(n.name) or f'{text(n.op_type)}_{i}'}"
        name, k = base, 0
        while name in seen:
            k += 1
            name = f"{base}#{k}"
        seen.add(name)
        nodes.append(Node(name, text(n.op_type), text(n.domain), tuple(text(x) for x in n.input),
                          tuple(text(x) for x in n.output), {text(a.name): attr_value(a) for a in n.attribute}))
    return Subgraph(tuple(toposort(nodes, set(), prefix)), inits, tuple(inputs), tuple(text(o.name) for o in g.output))
