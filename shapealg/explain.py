"""Why a node breaks size invariance, and what to change: the chain of formulas from the input to the
breaking constraint, ready-to-paste fixes, and the "dynamic" dims a file declares but cannot honour."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

import sympy

from .dims import evaluate
from .records import Constraint


@dataclass(frozen=True)
class ChainStep:
    node: str
    op_type: str
    value: str
    shape: tuple


@dataclass(frozen=True)
class Fix:
    node: str
    title: str
    code: str


def _producers(result) -> Dict[str, object]:
    out = {}
    for n in result.nodes:
        for o in n.outputs:
            out[o] = n
    return out


def _is_symbolic(shape) -> bool:
    return shape is not None and any(d is not None and not isinstance(d, int) for d in shape)


def formula_chain(result, constraint: Constraint, limit: int = 40) -> List[ChainStep]:
    """The values that lead from a graph input to ``constraint``'s node, following symbolic inputs."""
    prod = _producers(result)
    node = next((n for n in result.nodes if n.name == constraint.node), None)
    steps: List[ChainStep] = []
    seen = set()
    while node is not None and len(steps) < limit and node.name not in seen:
        seen.add(node.name)
        steps.append(ChainStep(node.name, node.op_type, node.outputs[0], result.values[node.outputs[0]].shape))
        nxt = None
        for x in node.inputs:
            v = result.values.get(x)
            if v is not None and _is_symbolic(v.shape):
                nxt = x
                break
        if nxt is None:
            break
        if nxt not in prod:  # a graph input
            steps.append(ChainStep("(input)", "", nxt, result.values[nxt].shape))
            break
        node = prod[nxt]
    return steps[::-1]


def _near_square_factors(n: int) -> Tuple[int, int]:
    r = int(math.isqrt(n))
    for a in range(r, 0, -1):
        if n % a == 0:
            return a, n // a
    return 1, n


def _feature_source(result, node_name: str):
    """For a Gemm / MatMul fed by a Flatten / Reshape of an (N, C, h, w) map: that map's shape."""
    prod = _producers(result)
    node = next(n for n in result.nodes if n.name == node_name)
    x = node.inputs[0] if node.inputs else None
    while x in prod and prod[x].op_type in ("Relu", "Identity", "Dropout", "Cast"):
        x = prod[x].inputs[0]
    if x in prod and prod[x].op_type in ("Flatten", "Reshape"):
        src = result.values.get(prod[x].inputs[0])
        if src is not None and src.shape is not None and len(src.shape) == 4:
            return prod[x], src.shape
    return None, None


def suggest_fixes(analysis, reference: Optional[Dict[str, int]] = None) -> List[Fix]:
    """One ready-to-paste fix per breaking node."""
    dom = analysis.domain
    result = analysis.result
    fixes: List[Fix] = []
    seen = set()
    for c in result.constraints:
        if c.node in seen or not _breaks_invariance(c):
            continue
        seen.add(c.node)
        fix = _fix_for(analysis, c, reference)
        if fix is not None:
            fixes.append(fix)
    spec = dynamic_shapes_spec(analysis)
    if spec and dom.verdict in ("conditional", "size-invariant"):
        fixes.append(Fix("(export)", "torch.export dynamic_shapes that match the valid set", spec))
    return fixes


def _breaks_invariance(c: Constraint) -> bool:
    return isinstance(c.condition, (sympy.Eq, sympy.Or, sympy.And)) or c.condition is sympy.false


def _fix_for(analysis, c: Constraint, reference) -> Optional[Fix]:
    result = analysis.result
    syms = result.symbols
    if c.op_type in ("Gemm", "MatMul", "Reshape"):
        flat, shape = _feature_source(result, c.node) if c.op_type != "Reshape" else (None, None)
        if flat is None and c.op_type == "Reshape":
            node = next(n for n in result.nodes if n.name == c.node)
            src = result.values.get(node.inputs[0])
            out = result.values.get(node.outputs[0])
            if src is not None and src.shape is not None and len(src.shape) == 4 and out is not None \
                    and out.shape is not None and len(out.shape) == 2 and isinstance(out.shape[1], int):
                flat, shape = node, src.shape
        if flat is not None and isinstance(shape[1], int):
            k = _expected_features(c)
            if k is not None and k % shape[1] == 0:
                h, w = _pool_size(analysis, shape, k // shape[1], reference)
                return Fix(c.node, f"make the classifier input size-invariant: pool to ({h}, {w}) before the "
                                   f"flatten ({flat.name})",
                           f"nn.AdaptiveAvgPool2d(({h}, {w}))  # insert before nn.Flatten(): "
                           f"{shape[1]}*{h}*{w} = {k} features, as the Linear expects")
    mods = getattr(analysis.domain, "moduli", None) or {}
    if mods:
        parts = []
        for s in syms:
            if s in mods:
                m = mods[s][0]
                parts.append(f"{s} to a multiple of {m}")
        if parts:
            pads = _pad_code(mods, syms)
            return Fix(c.node, "pad (or crop) " + " and ".join(parts), pads)
    if c.op_type in ("Add", "Sum") and "Eq" in str(c.condition):
        return Fix(c.node, "interpolate the fixed position embedding to the actual grid",
                   "pos = F.interpolate(pos_2d, size=(H // p, W // p), mode='bicubic', align_corners=False)  "
                   "# reshape the patch part of the embedding to (1, C, h0, w0) first, flatten it back after")
    return None


def _expected_features(c: Constraint) -> Optional[int]:
    cond = c.condition
    if isinstance(cond, sympy.Eq):
        for side in cond.args:
            if side.is_Integer:
                return int(side)
    return None


def _pool_size(analysis, shape, hw: int, reference) -> Tuple[int, int]:
    """(h, w) with h*w == hw: the map's size at a valid reference size when there is one, else near-square."""
    dom = analysis.domain
    ref = reference
    if ref is None:
        near = dom.nearest_valid({s: 224 for s in analysis.result.symbols}, 1) if dom.verdict != "never-valid" else []
        ref = near[0] if near else None
    if ref is not None:
        try:
            h, w = evaluate(shape[2], ref), evaluate(shape[3], ref)
            if h * w == hw:
                return h, w
        except (ValueError, TypeError):
            pass
    return _near_square_factors(hw)


def _pad_code(mods, syms) -> str:
    lines = []
    names = {"H": "h", "W": "w", "D": "d", "L": "l"}
    for s in syms:
        if s in mods:
            m = mods[s][0]
            lines.append(f"pad_{names.get(s, s.lower())} = (-x.shape[{_axis(s)}]) % {m}")
    pad_w = "pad_w" if "W" in mods else "0"
    pad_h = "pad_h" if "H" in mods else "0"
    lines.append(f"x = F.pad(x, (0, {pad_w}, 0, {pad_h}))  # crop the output back afterwards if needed")
    return "\n".join(lines)


def _axis(s: str) -> int:
    return {"H": -2, "W": -1, "L": -1, "D": -3}.get(s, -1)


def dynamic_shapes_spec(analysis) -> Optional[str]:
    """torch.export dynamic_shapes matching the valid set: Dim with min, derived dims (H = 32*_H)."""
    dom = analysis.domain
    graph = analysis.result.graph
    if dom.verdict in ("locked", "never-valid"):
        return None
    lows = getattr(dom, "lower_bounds", {}) or {}
    mods = getattr(dom, "moduli", {}) or {}
    img = next((gi for gi in graph.inputs if gi.shape is not None and _is_symbolic(gi.shape)), None)
    if img is None:
        return None
    lines = ["from torch.export import Dim"]
    axes = []
    for i, d in enumerate(img.shape):
        if d is None or isinstance(d, int) or not d.is_Symbol:
            continue
        s = str(d)
        lo = int(lows.get(s, 1))
        if s in mods and mods[s][0] > 1:
            m, residues = mods[s]
            r = 0 if 0 in residues else int(residues[0])
            if len(residues) > 1:  # torch.export takes one class: the others stay valid but unexported
                lines.append(f"# {s} % {m} in {{{', '.join(map(str, residues))}}} is valid; "
                             f"torch.export can express one class: {s} % {m} == {r}")
            lines.append(f"_{s} = Dim('_{s}', min={max(1, -(-(lo - r) // m))})")
            axes.append(f"{i}: {m}*_{s}" + (f" + {r}" if r else ""))
            continue
        lines.append(f"{s} = Dim('{s}', min={max(lo, 2)})")
        axes.append(f"{i}: {s}")
    lines.append(f"dynamic_shapes = {{'{img.name}': {{{', '.join(axes)}}}}}")
    return "\n".join(lines)


def fake_dynamic_dims(analysis) -> List[str]:
    """Loud warnings for dims the file declares dynamic (dim_param) whose valid set is finite or sparse."""
    dom = analysis.domain
    mods = getattr(dom, "moduli", {}) or {}
    out = []
    for gi in analysis.result.graph.inputs:
        if gi.declared is None or gi.shape is None:
            continue
        declared = [decl for decl, d in zip(gi.declared, gi.shape)
                    if isinstance(decl, str) and d is not None and not isinstance(d, int) and d.is_Symbol]
        if not declared:
            continue
        names = ", ".join(declared)
        if dom.verdict == "never-valid":
            out.append(f"input {gi.name!r} declares {names} dynamic, but no size is valid")
        elif dom.verdict == "locked":
            out.append(f"input {gi.name!r} declares {names} dynamic, but the model runs at only finitely many sizes")
        else:
            sparse = [f"{s}: {len(mods[s][1])} in every {mods[s][0]}" for s in declared if s in mods]
            if sparse:
                out.append(f"input {gi.name!r} declares {names} dynamic, but only some values are valid "
                           f"({'; '.join(sparse)})")
    return out
