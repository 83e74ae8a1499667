"""The cost of a whole model under one convention: per node, per module, totals, growth, dominant nodes."""
from __future__ import annotations

import ast
import math
from dataclasses import dataclass, field
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import sympy

from ..dims import MaybeDim, assuming, canon, evaluate
from ..costmodel import CostStatus, Convention, get_convention
from .evaluate import compile_formulas
from .growth import Growth, growth, leading_coefficient
from .memory import Liveness
from .ops import cost_view, count_node

__all__ = ["NodeCost", "ModuleCost", "Dominant", "CostReport", "cost", "module_path", "TOTALS"]

TOTALS = ("macs", "flops", "activation_bytes", "peak_bytes")
# sizes at which the step totals are compared to pick the peak's candidate steps
_PROBE = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024, 1536, 2048, 4096,
          8192, 16384)


@dataclass(frozen=True)
class NodeCost:
    name: str
    op_type: str
    module: Tuple[str, ...]   # torch module path, outermost first ("features", "features.0"); () at top level
    family: str
    status: str               # counted | zero | free | not-modelled | unknown (see shapealg.cost.ops)
    macs: MaybeDim
    flops: MaybeDim
    output_bytes: MaybeDim
    params: int = 0
    note: str = ""

    def module_at(self, depth: int) -> str:
        if depth <= 0 or not self.module:
            return ""
        return self.module[min(depth, len(self.module)) - 1]


@dataclass(frozen=True)
class ModuleCost:
    name: str
    nodes: int
    macs: MaybeDim
    flops: MaybeDim
    output_bytes: MaybeDim
    params: int
    not_modelled: int


@dataclass(frozen=True)
class Dominant:
    node: str
    op_type: str
    module: str
    share: float              # limit of node / total as every spatial size grows together
    leading: Optional[str]    # the node's leading term


def module_path(name: str, scope: str = "") -> Tuple[str, ...]:
    """Module path of a node from the exporter's scope metadata (dynamo: name_scopes / namespace) or, failing
    that, from a TorchScript node name ``/layer1/layer1.0/conv1/Conv``; each level as a full dotted name."""
    comps: List[str] = []
    s = (scope or "").strip()
    if s.startswith("["):
        try:
            comps = [str(c) for c in ast.literal_eval(s)][:-1]
        except (ValueError, SyntaxError):
            comps = []
    elif s:
        comps = [p.split(":")[0].strip() for p in s.split("/")][:-1]
    elif name.startswith("/"):
        comps = name.split("/")[1:-1]
    comps = [c for c in comps if c]
    out: List[str] = []
    for c in comps:
        prev = out[-1] if out else ""
        full = c if not prev or c.startswith(prev + ".") else f"{prev}.{c}"
        out.append(full)
    return tuple(out)


def _sum(xs) -> MaybeDim:
    tot = 0
    for x in xs:
        if x is None:
            continue
        tot = tot + x
    return canon(sympy.expand(tot)) if not isinstance(tot, int) else tot


@dataclass(frozen=True)
class CostReport:
    analysis: object          # shapealg.analysis.Analysis (shapes, domain)
    convention: Convention
    spatial: Tuple[str, ...]
    nodes: Tuple[NodeCost, ...]
    totals: Mapping[str, MaybeDim]
    growth: Mapping[str, Growth]
    dominant: Mapping[str, Tuple[Dominant, ...]]
    liveness: Liveness = field(repr=False, compare=False)
    warnings: Tuple[str, ...] = ()

    def __str__(self) -> str:
        from .text import format_cost
        return format_cost(self)

    def __repr__(self) -> str:
        from ..report import count_text
        a = self.analysis
        macs = count_text(self.totals.get("macs"))
        macs = macs if len(macs) <= 300 else macs[:300] + "..."
        return (f"<CostReport {str(a.result.graph.path)[:120]}: {len(self.nodes)} nodes, convention "
                f"{self.convention.name}, MACs {macs}, grows as {self.growth['macs'].order}>")

    def _repr_html_(self) -> str:
        from ..report import blocks_html
        from .text import cost_blocks
        return blocks_html(cost_blocks(self))

    # -- views ---------------------------------------------------------------------------------------
    @property
    def symbols(self) -> List[str]:
        return list(self.analysis.result.symbols)

    @property
    def total_macs(self) -> MaybeDim:
        return self.totals["macs"]

    @property
    def total_flops(self) -> MaybeDim:
        return self.totals["flops"]

    @property
    def not_modelled(self) -> List[NodeCost]:
        """Nodes whose cost is left out of the totals (no cost model, or a needed shape is unknown)."""
        return [n for n in self.nodes if n.status in (CostStatus.NOT_MODELLED, CostStatus.UNKNOWN)]

    @property
    def complete(self) -> bool:
        return not self.not_modelled and not self.liveness.unknown

    def node(self, name: str) -> NodeCost:
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(name)

    def modules(self, depth: int = 1) -> List[ModuleCost]:
        """Per-module sums at ``depth`` (1: the model's direct children), in order of first appearance."""
        groups: Dict[str, List[NodeCost]] = {}
        for n in self.nodes:
            groups.setdefault(n.module_at(depth), []).append(n)
        return [ModuleCost(k, len(v), _sum(n.macs for n in v), _sum(n.flops for n in v),
                           _sum(n.output_bytes for n in v), sum(n.params for n in v),
                           sum(1 for n in v if n.status in (CostStatus.NOT_MODELLED, CostStatus.UNKNOWN)))
                for k, v in groups.items()]

    # -- numbers at sizes ----------------------------------------------------------------------------
    def env(self, sizes: Optional[Mapping[str, int]] = None, **kw) -> Dict[str, int]:
        env = {s: 1 for s in self.symbols}
        env.update(dict(sizes or {}, **kw))
        return env

    def evaluate(self, sizes: Optional[Mapping[str, int]] = None, **kw) -> Dict[str, object]:
        """Totals at one size (exact ints), the peak's node, and whether the model runs there."""
        return self.series([self.env(sizes, **kw)])[0]

    def series(self, envs: Sequence[Mapping[str, int]]) -> List[Dict[str, object]]:
        import numpy as np
        syms = self.symbols
        names = list(self.liveness.bytes)
        uniq: Dict[object, int] = {}  # many values share a formula: evaluate each distinct one once
        for k in names:
            uniq.setdefault(self.liveness.bytes[k], len(uniq))
        fn = compile_formulas([self.totals["macs"], self.totals["flops"], self.totals["activation_bytes"]]
                              + list(uniq), syms)
        envs = [self.env(e) for e in envs]
        rows = [fn(e) for e in envs]
        cols = {j: np.array([(r[3 + j] or 0) for r in rows], dtype=np.int64) for j in range(len(uniq))}
        peak, step = self.liveness.peak_many({k: cols[uniq[self.liveness.bytes[k]]] for k in names}, len(envs))
        out = []
        for i, (env, vals) in enumerate(zip(envs, rows)):
            out.append({"size": {s: env[s] for s in syms}, "valid": bool(self.analysis.domain.contains(env)),
                        "macs": vals[0], "flops": vals[1], "activation_bytes": vals[2],
                        "peak_bytes": int(peak[i]), "peak_node": self.liveness.names[int(step[i])] if self.nodes
                        else None})
        return out

    def node_macs_at(self, sizes: Optional[Mapping[str, int]] = None, **kw) -> Dict[str, Optional[int]]:
        env = self.env(sizes, **kw)
        return {n.name: evaluate(n.macs, env) for n in self.nodes}

    # -- reports ---------------------------------------------------------------------------------------
    def to_json(self, depth: int = 1, sizes: Sequence[Mapping[str, int]] = ()) -> dict:
        from ..report import dim_json
        a = self.analysis
        out = {
            "model": a.result.graph.path,
            "convention": self.convention.to_json(),
            "symbols": self.symbols,
            "spatial": list(self.spatial),
            "totals": {k: dim_json(v) for k, v in self.totals.items()},
            "growth": {k: g.to_json() for k, g in self.growth.items()},
            "dominant": {k: [{"node": d.node, "op_type": d.op_type, "module": d.module, "share": round(d.share, 6),
                              "leading": d.leading} for d in v] for k, v in self.dominant.items()},
            "complete": self.complete,
            "not_modelled": [{"node": n.name, "op_type": n.op_type, "status": n.status, "note": n.note}
                             for n in self.not_modelled],
            "unknown_bytes": list(self.liveness.unknown),
            "module_depth": depth,
            "modules": [{"module": m.name, "nodes": m.nodes, "params": m.params, "macs": dim_json(m.macs),
                         "flops": dim_json(m.flops), "output_bytes": dim_json(m.output_bytes),
                         "not_modelled": m.not_modelled} for m in self.modules(depth)],
            "nodes": [{"name": n.name, "op_type": n.op_type, "module": ".".join(n.module[-1:]), "family": n.family,
                       "status": n.status, "params": n.params, "macs": dim_json(n.macs), "flops": dim_json(n.flops),
                       "output_bytes": dim_json(n.output_bytes), "note": n.note} for n in self.nodes],
            "valid_if": a.domain.valid_if_text,
            "verdict": a.domain.verdict,
            "warnings": list(self.warnings),
        }
        if sizes:
            out["samples"] = self.series(sizes)
        return out


def _spatial(result) -> Tuple[str, ...]:
    for gi in result.graph.inputs:
        if gi.shape is None:
            continue
        names = [str(d) for d in gi.shape[2:] if d is not None and not isinstance(d, int) and d.is_Symbol]
        if names:
            return tuple(names)
    return tuple(result.symbols)


def _peak_formula(live: Liveness, symbols: Sequence[str], spatial: Sequence[str]) -> MaybeDim:
    """Max of the step totals that are the largest at some probe size (see shapealg.cost.memory)."""
    steps = live.step_formulas()
    if not steps:
        return 0
    uniq: Dict[object, int] = {}
    for i, s in enumerate(steps):
        uniq.setdefault(sympy.expand(s) if not isinstance(s, int) else s, i)
    forms = list(uniq)
    if len(forms) == 1:
        return canon(forms[0])
    fn = compile_formulas(forms, list(symbols))
    keep = set()
    sp = list(spatial)
    for s in _PROBE:
        for ratio in ((1, 1), (1, 2), (2, 1)) if len(sp) > 1 else ((1, 1),):
            env = {k: 1 for k in symbols}
            env.update({k: s * ratio[min(j, 1)] for j, k in enumerate(sp)})
            vals = fn(env)
            if any(v is not None and v < 0 for v in vals):
                continue  # a size where some value would have a negative length: the model cannot run there
            best = max(range(len(forms)), key=lambda j: (vals[j] if vals[j] is not None else -1))
            keep.add(best)
            # a step whose total has no value here (a run-time size in it) may be the largest: kept
            keep.update(j for j, v in enumerate(vals) if v is None)
    if not keep:  # negative lengths at every probe (a model that never runs): the largest at the largest probe
        vals = fn({k: _PROBE[-1] if k in sp else 1 for k in symbols})
        keep = {max(range(len(forms)), key=lambda j: (vals[j] if vals[j] is not None else -1))}
    cands = [canon(forms[j]) for j in sorted(keep)]
    return cands[0] if len(cands) == 1 else sympy.Max(*cands, evaluate=False)


def _dominant(nodes: Sequence[NodeCost], attr: str, total: MaybeDim, g: Growth, spatial, k: int = 8):
    if total is None or g.degree in (None, 0):
        return ()
    tc = leading_coefficient(total, spatial, g.degree)
    out = []
    for n in nodes:
        v = getattr(n, attr)
        if v is None or v == 0:
            continue
        c = leading_coefficient(v, spatial, g.degree) if tc is not None else None
        if c is None or tc in (None, 0):
            continue
        r = sympy.sympify(c / tc)
        try:  # other symbols (a batch N) are 1 here
            share = float(r.xreplace({x: sympy.Integer(1) for x in r.free_symbols}))
        except (TypeError, ValueError, OverflowError):
            continue
        if math.isfinite(share) and share > 1e-9:
            out.append((share, n))
    out.sort(key=lambda t: -t[0])
    res = []
    for share, n in out[:k]:
        ng = growth(getattr(n, attr), spatial)
        res.append(Dominant(n.name, n.op_type, n.module_at(99), share,
                            None if ng.leading is None else str(ng.leading)))
    return tuple(res)


def cost(model, convention="shapealg", *, shapes=None, symbolize_spatial: bool = True, **switches) -> CostReport:
    """Cost formulas of ``model`` (an ONNX path, ModelProto, InferResult or Analysis) under ``convention``
    (a name in CONVENTIONS or a Convention); keyword switches override it (``bias=True``, ``flops_per_mac=1``)."""
    from ..analysis import Analysis, analyze_model
    conv = get_convention(convention).with_(**switches)
    a = model if isinstance(model, Analysis) else analyze_model(model, shapes=shapes, symbolize_spatial=symbolize_spatial)
    res = a.result
    with assuming(res.assumed, res.residues):  # the lower bounds (and residues) the formulas were built under
        return _cost(a, res, conv)


def _cost(a, res, conv) -> CostReport:
    view = cost_view(res)
    live = Liveness(res)
    nodes = []
    for nr in res.nodes:
        oc = count_node(nr, view, conv)
        macs = canon(oc.macs) if oc.macs is not None else None
        flops = None if macs is None else canon(macs * conv.flops_per_mac)
        ob = [live.bytes.get(o) for o in nr.outputs if o]
        out_bytes = None if any(b is None for b in ob) else _sum(ob)
        nodes.append(NodeCost(nr.name, nr.op_type, module_path(nr.name, nr.scope), oc.family, oc.status, macs,
                              flops, out_bytes, nr.params, oc.note))
    spatial = _spatial(res)
    totals = {
        "macs": _sum(n.macs for n in nodes),
        "flops": _sum(n.flops for n in nodes),
        "activation_bytes": _sum([live.bytes[x] for x in live.inputs] + [n.output_bytes for n in nodes]),
        "peak_bytes": _peak_formula(live, res.symbols, spatial),
    }
    gro = {k: growth(v, spatial) for k, v in totals.items()}
    dom = {"macs": _dominant(nodes, "macs", totals["macs"], gro["macs"], spatial),
           "activation_bytes": _dominant(nodes, "output_bytes", totals["activation_bytes"],
                                         gro["activation_bytes"], spatial)}
    warns = []
    nm = [n for n in nodes if n.status in (CostStatus.NOT_MODELLED, CostStatus.UNKNOWN)]
    if nm:
        ops = sorted({n.op_type for n in nm})
        warns.append(f"{len(nm)} node(s) have no cost in the totals (ops {', '.join(ops)}): the totals are "
                     f"lower bounds")
    if live.unknown:
        warns.append(f"{len(live.unknown)} value(s) of unknown size or dtype are left out of the memory totals")
    return CostReport(a, conv, spatial, tuple(nodes), totals, gro, dom, live, tuple(warns))
