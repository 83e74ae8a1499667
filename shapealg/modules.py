"""The module view: a torchinfo-like table by torch module, but symbolic.

Each ONNX node is owned by the torch module the exporter recorded for it: the dynamo exporter's
``pkg.torch.onnx.name_scopes`` metadata (``['', 'net', 'net.0', 'conv2d']``: qualified module names, then the op)
or the TorchScript exporter's node names (``/net/net.0/Conv``: one part per call level, a container's child named
``<attr>.<index>``). A row aggregates the nodes of its module and its descendants: output shape formulas (the
values that leave the module), MACs formula, and parameters. With the nn.Module at hand, parameters are torch's
own counts (``sum(p.numel())`` over ``module.parameters()``, buffers apart), so the root row equals torch's total;
from an ONNX file alone they are the initializers the module's nodes consume. Nodes no module owns (constants the
exporter added, nodes without a scope) form one extra row.
"""
from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

import sympy

from .dims import MaybeDim, as_dim
from .records import Shape

UNOWNED = "(no module)"
_FLOAT = {1, 10, 11, 16}


@dataclass(frozen=True)
class ModuleRow:
    name: str                    # qualified module name, "" for the root, UNOWNED for nodes no module owns
    type: str                    # class name ("" when only the ONNX file is known)
    depth: int                   # 0 for the root
    params: int                  # all parameters (torch) or consumed float initializers (ONNX), each once
    trainable: int               # parameters with requires_grad (== params for an ONNX file)
    buffers: int
    macs: MaybeDim               # sum over the module's nodes; None when some node's cost is not modelled
    outputs: Tuple[str, ...]     # ONNX values the module produces that are used outside it (or graph outputs)
    shapes: Tuple[Shape, ...]
    nodes: int                   # ONNX nodes the module owns, descendants included

    @property
    def label(self) -> str:
        return self.name or "(root)"

    @property
    def shape(self) -> Shape:
        """The main output's shape: the last floating-point value leaving the module."""
        return self.shapes[-1] if self.shapes else None


@dataclass(frozen=True)
class ModuleTable:
    rows: Tuple[ModuleRow, ...]          # in module order, up to ``depth``
    unowned: Optional[ModuleRow]
    source: str                          # "module" (torch counts) or "onnx" (initializers)
    total_params: int
    trainable_params: int
    total_buffers: int
    total_macs: MaybeDim
    onnx_params: int                     # the file's own count, for comparison

    def row(self, name: str) -> ModuleRow:
        for r in self.rows + ((self.unowned,) if self.unowned else ()):
            if r.name == name:
                return r
        raise KeyError(name)

    def to_json(self) -> dict:
        from .report import dim_json, shape_json
        def row(r):
            return {"module": r.name, "type": r.type, "depth": r.depth, "params": r.params, "trainable": r.trainable,
                    "buffers": r.buffers, "macs": dim_json(r.macs), "outputs": list(r.outputs),
                    "shapes": [shape_json(s) for s in r.shapes], "nodes": r.nodes}
        return {"source": self.source, "rows": [row(r) for r in self.rows],
                "unowned": row(self.unowned) if self.unowned else None,
                "totals": {"params": self.total_params, "trainable": self.trainable_params,
                           "buffers": self.total_buffers, "macs": dim_json(self.total_macs),
                           "onnx_params": self.onnx_params}}

    def __str__(self) -> str:
        return format_module_table(self)

    def __repr__(self) -> str:
        return (f"<ModuleTable {len(self.rows)} modules, {self.total_params:,} params (by {self.source}), "
                f"MACs {str(self.total_macs)[:200]}>")

    def blocks(self) -> list:
        """The table and its totals as report blocks (plain text, Markdown, the terminal)."""
        from .report import Line, Table, count_text
        out: list = [Table(("module", "type", "output shape", "params", "MACs"), tuple(_rows_text(self)), (3,))]
        out.append(Line(""))
        out.append(Line(f"total params: {self.total_params:,}  (trainable {self.trainable_params:,}"
                        + (f", buffers {self.total_buffers:,}" if self.total_buffers else "")
                        + f"; counted by {self.source})"))
        if self.source == "module" and self.onnx_params != self.total_params:
            out.append(Line(f"  params in the ONNX file: {self.onnx_params:,} (the exporter folded, shared or "
                            f"dropped some; torch counts a shared Parameter once)", "note"))
        out.append(Line(f"total MACs:   {count_text(self.total_macs)}"))
        return out

    def _repr_html_(self) -> str:
        from .report import module_table_html
        return module_table_html(self)


# ------------------------------------------------------------------------------------------ scopes


def node_scope(name: str, scope: str, known: Optional[set] = None) -> Optional[str]:
    """The qualified torch module that owns a node, "" for the root, None when the exporter recorded none."""
    if scope.startswith("["):
        try:
            parts = ast.literal_eval(scope)
        except (ValueError, SyntaxError):
            parts = None
        if isinstance(parts, list) and parts and all(isinstance(p, str) for p in parts):
            return parts[-2] if len(parts) >= 2 else ""
    if scope and "/" in scope and ": " in scope:  # namespace ": pkg.Cls/net: ...Sequential/net.0: ...Conv2d/op: aten"
        names = [p.split(": ", 1)[0] for p in scope.split("/")]
        return names[-2] if len(names) >= 2 else ""
    if not name.startswith("/"):
        return None
    q = ""
    for part in name.split("/")[1:-1]:
        last = q.rsplit(".", 1)[-1] if q else ""
        nested = f"{q}.{part}" if q else part
        # a container's child: "/net/net.0" is net.0, not net.net.0
        sibling = (q.rsplit(".", 1)[0] + "." + part if "." in q else part) if last and part.startswith(last + ".") else None
        if known is not None:
            q = nested if nested in known or sibling is None else sibling
        else:
            q = sibling if sibling is not None else nested
    return q


def _ancestors(q: str) -> List[str]:
    if not q:
        return [""]
    parts = q.split(".")
    return [""] + [".".join(parts[:i]) for i in range(1, len(parts) + 1)]


def _nearest(q: str, known: set) -> str:
    while q and q not in known:
        q = q.rsplit(".", 1)[0] if "." in q else ""
    return q


# ------------------------------------------------------------------------------------------ the table


def node_owners(analysis, module=None) -> Dict[str, Optional[str]]:
    """{ONNX node name: the qualified torch module that owns it ("" the root, None unknown)}."""
    module = module if module is not None else getattr(analysis, "module", None)
    mods = dict(module.named_modules()) if module is not None else None
    known = set(mods) if mods is not None else None
    out: Dict[str, Optional[str]] = {}
    for n in analysis.result.nodes:
        q = node_scope(n.name, n.scope, known)
        out[n.name] = _nearest(q, known) if (q is not None and known is not None) else q
    return out


def module_table(analysis, module=None, depth: Optional[int] = None) -> ModuleTable:
    """Rows per torch module (``module`` defaults to the one the analysis exported), down to ``depth``
    (0: the root only; None: every module)."""
    module = module if module is not None else getattr(analysis, "module", None)
    res = analysis.result
    mods = dict(module.named_modules()) if module is not None else None
    known = set(mods) if mods is not None else None
    owner: List[Optional[str]] = []
    for n in res.nodes:
        q = node_scope(n.name, n.scope, known)
        owner.append(_nearest(q, known) if (q is not None and known is not None) else q)
    members: Dict[str, List[int]] = {}
    for i, q in enumerate(owner):
        for a in (_ancestors(q) if q is not None else [UNOWNED]):
            members.setdefault(a, []).append(i)
    consumers = _consumers(res)
    names = list(mods) if mods is not None else sorted({a for a in members if a != UNOWNED},
                                                      key=lambda q: (min(members[q]), q.count(".") + bool(q)))
    rows = []
    for q in names:
        d = 0 if q == "" else q.count(".") + 1
        if depth is not None and d > depth:
            continue
        rows.append(_row(res, q, d, members.get(q, []), consumers, mods[q] if mods is not None else None))
    unowned = _row(res, UNOWNED, 1, members[UNOWNED], consumers, None) if UNOWNED in members else None
    if module is not None:
        tot = sum(p.numel() for p in module.parameters())
        trn = sum(p.numel() for p in module.parameters() if p.requires_grad)
        buf = sum(b.numel() for b in module.buffers())
    else:
        tot = trn = res.total_params
        buf = res.total_buffers
    return ModuleTable(tuple(rows), unowned, "module" if module is not None else "onnx", tot, trn, buf,
                       res.total_macs, res.total_params)


def _consumers(res) -> Dict[str, set]:
    out: Dict[str, set] = {}
    for i, n in enumerate(res.nodes):
        for x in n.inputs:
            if x:
                out.setdefault(x, set()).add(i)
    for o in res.graph.outputs:
        out.setdefault(o, set()).add(-1)
    return out


def _row(res, q, depth, idx, consumers, mod) -> ModuleRow:
    inside = set(idx)
    outs: List[str] = []
    macs: MaybeDim = 0
    seen_p: Dict[str, int] = {}
    buffers = 0
    for i in idx:
        n = res.nodes[i]
        macs = None if (macs is None or n.macs is None) else macs + n.macs
        for name in n.param_inputs:
            seen_p[name] = res.graph.initializers[name].numel
        buffers += n.buffers
        for o in n.outputs:
            v = res.values.get(o) if o else None
            if v is not None and consumers.get(o, set()) - inside and v.dtype in _FLOAT:
                outs.append(o)
    if mod is not None:
        params = sum(p.numel() for p in mod.parameters())
        trainable = sum(p.numel() for p in mod.parameters() if p.requires_grad)
        buffers = sum(b.numel() for b in mod.buffers())
        typ = type(mod).__name__
    else:
        params = trainable = sum(seen_p.values())
        typ = ""
    if macs is not None and not isinstance(macs, int):
        macs = as_dim(sympy.expand(macs))
    return ModuleRow(q, typ, depth, int(params), int(trainable), int(buffers), macs, tuple(outs),
                     tuple(res.values[o].shape for o in outs), len(idx))


# ------------------------------------------------------------------------------------------ text


def _rows_text(t: ModuleTable) -> List[Tuple[str, ...]]:
    from .printable import name as _name
    from .report import count_text, shape_str
    out = []
    for r in t.rows + ((t.unowned,) if t.unowned else ()):
        name = ("  " * max(r.depth - 1, 0) + ("" if r.depth == 0 else "- ") + (r.name.rsplit(".", 1)[-1] if r.depth
                and r.name != UNOWNED else r.label))
        shape = shape_str(r.shape) if r.shapes else ("" if not r.nodes else "-")
        if len(r.shapes) > 1:
            shape += f" (+{len(r.shapes) - 1} more)"
        params = f"{r.params:,}" if r.params else ""
        if r.params != r.trainable:
            params += f" ({r.params - r.trainable:,} frozen)"
        if r.buffers:
            params += f" (+{r.buffers:,} buf)"
        macs = "n/a" if r.macs is None else ("" if r.macs == 0 else count_text(r.macs))
        out.append((_name(name), _name(r.type), shape, params.strip(), macs))
    return out


def format_module_table(t: ModuleTable) -> str:
    from .report import plain
    return plain(t.blocks())
