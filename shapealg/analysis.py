"""The whole analysis of one model: shapes and params (infer), the valid sizes and verdict (domain)."""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, List, Mapping, Optional, Sequence, Tuple

import sympy

from .diagnostics import Kind
from .dims import symbol
from .enums import Verdict
from .validity import Domain, analyze_domain
from .explain import ChainStep, Fix, fake_dynamic_dims, formula_chain, suggest_fixes
from .infer import InferResult, infer
from .progress import step
from .source import Source, load
from .zero_sizes import ZeroFace, domain_at, faces, widen


@dataclass(frozen=True)
class Analysis:
    result: InferResult
    domain: Domain
    chain: Tuple[ChainStep, ...] = ()       # input -> ... -> the node where invariance breaks
    fixes: Tuple[Fix, ...] = ()
    fake_dynamic: Tuple[str, ...] = ()      # dims declared dynamic whose valid set is finite or sparse
    # constraints on data-dependent sizes (NonZero counts, TopK's k from data...): checked at run time only
    runtime_constraints: Tuple[Any, ...] = ()
    # for a torch module: how it became ONNX (torch_front.FrontEnd), the module and the exported model
    front: Any = None
    module: Any = field(default=None, compare=False, repr=False)
    model_proto: Any = field(default=None, compare=False, repr=False)
    source: Any = field(default=None, compare=False, repr=False)  # the source.Source analysed, when not an InferResult
    # what was not analysed: "node 'x' (op Foo): why" per node whose outputs are unknown (and are used), and
    # inputs of unknown shape; non-empty makes the verdict "partial"
    unknown: Tuple[str, ...] = ()
    # for a torch module whose export dropped or specialised what the module checks: the module's own valid set
    # (``domain`` stays the ONNX file's, which validate runs); None when the file's answer is the module's
    module_domain: Any = field(default=None, compare=False, repr=False)
    # the faces where one dynamic non-image size is 0 (zero_sizes.py); ``domain`` already includes them
    zero_faces: Tuple[ZeroFace, ...] = ()

    # -- convenient views ------------------------------------------------------------------------
    @property
    def symbols(self) -> List[str]:
        return self.result.symbols

    @property
    def values(self):
        return self.result.values

    @property
    def nodes(self):
        return self.result.nodes

    @property
    def constraints(self):
        return self.result.constraints

    @property
    def verdict_domain(self):
        """The valid set the verdict is about: the module's for a torch module (what the exporter dropped or
        specialised included), else the file's ``domain``."""
        return self.module_domain if self.module_domain is not None else self.domain

    @property
    def verdict(self) -> str:
        """The verdict (the module's for a torch module), or "partial" when part of the graph was not analysed."""
        return Verdict.PARTIAL if self.unknown else self.verdict_domain.verdict

    @property
    def analysed_verdict(self) -> str:
        """The verdict of the part analysed (the whole graph's when nothing is unknown)."""
        return self.verdict_domain.verdict

    @property
    def verdict_summary(self) -> str:
        dom = self.verdict_domain
        if not self.unknown:
            return dom.summary
        # the nodes by name only: each one's reason is in ``unknown`` (the JSON's verdict.unknown_nodes)
        names = [u.split(":", 1)[0].replace("node ", "").replace("'", "").replace("(op ", "(") for u in self.unknown]
        more = f" and {len(names) - 3} more" if len(names) > 3 else ""
        return f"for the part analysed: {dom.summary}; not analysed: " + ", ".join(names[:3]) + more

    @property
    def valid_if(self):
        return self.domain.valid_if

    def shape(self, value_name: str):
        return self.result.values[value_name].shape

    def is_valid(self, **sizes: int) -> Optional[bool]:
        """Whether the model runs at these sizes (the module's answer for a torch module; a size at 0 is
        answered by its face). None when the analysed part runs there but part of the graph was not analysed
        (``unknown``): the answer is never stronger than what was analysed."""
        dom, at = domain_at(self.verdict_domain, self.zero_faces, sizes)
        ok = dom.contains(at)
        return None if ok and self.unknown else ok

    def to_json(self) -> dict:
        from .report import to_json
        return to_json(self)

    def __str__(self) -> str:
        from .report import format_table
        return format_table(self)

    def modules(self, depth: Optional[int] = None):
        """The module view (modules.ModuleTable): rows per torch module, from the module or the file's scopes."""
        from .modules import module_table
        return module_table(self, depth=depth)

    def __repr__(self) -> str:
        from .report import short_repr
        return short_repr(self)

    def module_of(self, node: str) -> Optional[str]:
        """The torch module that produced ONNX node ``node`` (``net.6``), for a torch module's analysis; else None."""
        if self.front is None:
            return None
        owners = self.__dict__.get("_owners")
        if owners is None:
            from .modules import node_owners
            owners = node_owners(self)
            object.__setattr__(self, "_owners", owners)
        q = owners.get(node)
        return q or None

    def _repr_html_(self) -> str:
        from .report import to_html
        return to_html(self)


def analyze_model(model, *, shapes: Optional[Mapping[str, Sequence]] = None, symbolize_spatial: bool = True,
                  bound: Optional[int] = None, input_shape=None, example: Optional[Mapping[str, int]] = None) -> Analysis:
    """Analyse ``model`` (an ONNX path, ModelProto, a source.Source, an InferResult, or a torch nn.Module exported
    with ``input_shape`` such as ``(1, 3, "H", "W")``; see torch_front.export_module). ``shapealg.analyze``."""
    if isinstance(model, InferResult) and input_shape is None:  # with input_shape: load refuses it
        return _finish(model, bound)
    src = load(model, input_shape=input_shape, example=example)
    return analyze_source(src, shapes=shapes, symbolize_spatial=symbolize_spatial, bound=bound)


def analyze_source(src: Source, *, shapes: Optional[Mapping[str, Sequence]] = None, symbolize_spatial: bool = True,
                   bound: Optional[int] = None) -> Analysis:
    """The analysis of a loaded model (source.load); a module's export keeps its front end's account."""
    if src.export is None:
        step("analysing the ONNX graph")
        return replace(_finish(infer(src, shapes=shapes, symbolize_spatial=symbolize_spatial), bound), source=src)
    from .graph import read_graph
    from .infer import infer_graph
    graph = read_graph(src.proto, shapes=src.export.shapes, symbolize_spatial=False)
    graph = replace(graph, path=src.label)
    step(f"analysing {len(graph.nodes)} ONNX nodes")
    a = _finish(infer_graph(graph), bound)
    front, guards_domain = _judge_front(src.export.front, a)
    front, module_domain = _module_verdict(front, a, src.module, guards_domain)
    return replace(a, front=front, module=src.module, model_proto=src.proto, source=src, module_domain=module_domain)


def _module_verdict(front, a: Analysis, module, guards_domain):
    """The module's own valid set when it differs from the file's: the dims the exporter specialised, where the
    module itself refuses other sizes (it is run at one the file accepts), or torch.export's guards where the file
    fixed sizes into constants. (front with a note, Domain or None)."""
    from .records import Constraint
    syms = [symbol(s) for s in a.result.symbols]
    fixed = [tuple(s.split("=", 1)) for s in front.specialized if "=" in s]
    fixed = [(n, int(v)) for n, v in fixed if n in a.result.symbols and v.strip().isdigit()]
    if fixed and module is not None and a.domain.verdict != Verdict.NEVER_VALID:
        other = next((e for e in a.domain.examples(50) if any(e.get(n) != v for n, v in fixed)), None)
        if other is None:
            other = {n: v + 1 for n, v in fixed}
        shape = [other.get(d, t) if isinstance(d, str) else t for d, t in zip(front.input_shape, front.trace_shape)]
        from .torch_front import runs_at
        step(f"running the module at {'x'.join(map(str, shape))} (the exporter specialised "
             f"{', '.join(front.specialized)})")
        err = runs_at(module, shape)
        if err is None:
            note = (f"the exporter specialised {', '.join(front.specialized)}, but the module runs at "
                    f"{'x'.join(map(str, shape))}: the file's set is the module's")
            return replace(front, notes=front.notes + (note,)), None
        why = f"the module refuses other sizes ({'x'.join(map(str, shape))}: {err})"
        cons = list(a.domain.constraints) + [
            Constraint("torch.export", "specialization", sympy.Eq(symbol(n), v),
                       f"the exporter specialised {n}={v} and {why}") for n, v in fixed]
        mod = analyze_domain(cons, syms)
        note = f"the ONNX file accepts more sizes than the module: the exporter traced the module's size check away; {why}"
        return replace(front, notes=front.notes + (note,), module_verdict=mod.verdict,
                       module_summary=mod.summary), mod
    if guards_domain is not None and any("stricter than the module" in n for n in front.notes):
        return front, guards_domain
    return front, None


def _judge_front(front, a: Analysis):
    """torch.export's own view of the module (its guards as a domain), and a note when the file is stricter."""
    if not front.path.startswith("dynamo") or front.path.endswith("-static"):
        return front, None
    from .records import Constraint
    cons = [Constraint("torch.export", "guard", c, f"torch.export guard {c}") for c in front.conditions]
    try:
        mod = analyze_domain(cons, [symbol(s) for s in a.result.symbols])
    except Exception:  # noqa: BLE001 - a guard the domain solver cannot take: no second opinion
        return front, None
    notes = list(front.notes)
    order = Verdict.order()
    if mod.verdict in order and a.domain.verdict in order and order.index(mod.verdict) < order.index(a.domain.verdict):
        c = a.domain.breaking_constraint
        where = f" at {c.node} ({c.op_type})" if c is not None else ""
        notes.append(f"the ONNX file is stricter than the module{where}: the exporter fixed sizes seen at the trace "
                     f"size into constants (torch.export: {mod.verdict}; file: {a.domain.verdict})")
    return replace(front, module_verdict=mod.verdict, module_summary=mod.summary, notes=tuple(notes)), mod


def _split_runtime(res: InferResult) -> Tuple[list, list]:
    """(constraints on the input sizes only, constraints that involve a data-dependent size)."""
    static, runtime = [], []
    for c in res.constraints:
        syms = getattr(c.condition, "free_symbols", ())
        (runtime if any(res.is_data_dependent(s) for s in syms) else static).append(c)
    return static, runtime


def _finish(res: InferResult, bound: Optional[int]) -> Analysis:
    syms = [symbol(s) for s in res.symbols]
    static, runtime = _split_runtime(res)
    step(f"solving the valid input sizes ({len(static)} constraints)")
    dom = analyze_domain(static, syms, bound=bound)
    partial = Analysis(res, dom)
    brk = dom.breaking_constraint
    chain = tuple(formula_chain(res, brk)) if brk is not None else ()
    zero = faces(res, bound)
    return Analysis(res, widen(dom, zero), chain, tuple(suggest_fixes(partial)), tuple(fake_dynamic_dims(partial)),
                    runtime_constraints=tuple(runtime), unknown=tuple(unknown_parts(res)), zero_faces=zero)


_NOT_ANALYSED = (Kind.NO_RULE, Kind.MISSING_INPUT, Kind.RULE_ERROR, Kind.LIMIT)


def _known(shape) -> bool:
    return shape is not None and all(d is not None for d in shape)


def unknown_parts(res: InferResult) -> List[str]:
    """What the analysis could not derive, in words: inputs of unknown shape, nodes with no rule / an error /
    a limit / an input nothing produces, and nodes whose used outputs are unknown although their inputs are
    known. Unused outputs (an optional output nothing reads) do not count."""
    used = {x for n in res.nodes for x in n.inputs if x} | set(res.graph.outputs)
    out: List[str] = []
    for gi in res.graph.inputs:
        if gi.name in used and gi.kind in ("tensor", "sequence", "optional") and not _known(gi.shape):
            out.append(f"input {gi.name!r}: shape unknown")
    for n in res.nodes:
        bad = [d for d in n.diagnostics if d.kind in _NOT_ANALYSED]
        if bad:
            out.append(str(bad[0]))
            continue
        # a sequence / optional counts through the tensors read from it (an empty sequence has no shape)
        lost = [o for o in n.outputs if o and o in used and o in res.values and res.values[o].kind == "tensor"
                and not _known(res.values[o].shape)]
        if lost and all(_known(res.values[i].shape) for i in n.inputs
                        if i and i in res.values and res.values[i].kind == "tensor"):
            out.append(f"node {n.name!r} (op {n.op_type}): output {lost[0]!r} not fully derived")
    return out
