"""Tables, JSON and Markdown from result objects. Computes nothing: every number comes from the analysis."""
from __future__ import annotations

import json
from typing import List, Optional, Sequence

from onnx import TensorProto

from .dims import MaybeDim
from .printable import name as _name

_DTYPES = {v: k.lower() for k, v in TensorProto.DataType.items()}


def dim_json(d: MaybeDim):
    if d is None:
        return None
    return d if isinstance(d, int) else str(d)


def shape_json(shape):
    return None if shape is None else [dim_json(d) for d in shape]


def shape_str(shape) -> str:
    if shape is None:
        return "?"
    return "[" + ", ".join("?" if d is None else str(d) for d in shape) + "]"


def _fmt_int(n) -> str:
    return f"{n:,}" if isinstance(n, int) else ("?" if n is None else str(n))


def to_json(a) -> dict:
    """The public report (DESIGN.md): symbols, inputs, values, nodes, constraints, valid_if, verdict."""
    r = a.result
    g = r.graph
    dom = a.domain
    return {
        "model": g.path,
        "symbols": list(r.symbols),
        "inputs": {gi.name: shape_json(gi.shape) for gi in g.inputs},
        "outputs": {o: shape_json(r.values[o].shape) if o in r.values else None for o in g.outputs},
        "values": {name: {"shape": shape_json(v.shape), "dtype": _DTYPES.get(v.dtype, "undefined"),
                          "producer": v.producer,
                          # a sequence / optional: "shape" is its elements' (dims they share, null where not)
                          **({"kind": v.kind} if getattr(v, "kind", "tensor") != "tensor" else {})}
                   for name, v in r.values.items()},
        "nodes": [{"name": n.name, "op_type": n.op_type, "domain": n.domain, "inputs": list(n.inputs),
                   "outputs": list(n.outputs), "params": n.params, "buffers": n.buffers, "macs": dim_json(n.macs),
                   "supported": n.supported, "warnings": list(n.warnings)} for n in r.nodes],
        "totals": {"params": r.total_params, "buffers": r.total_buffers, "macs": dim_json(r.total_macs)},
        "constraints": [{"node": c.node, "op_type": c.op_type, "condition": str(c.condition), "reason": c.reason}
                        for c in r.constraints],
        "runtime_constraints": [{"node": c.node, "op_type": c.op_type, "condition": str(c.condition),
                                 "reason": c.reason} for c in getattr(a, "runtime_constraints", ())],
        "valid_if": dom.valid_if_text,
        "verdict": {"class": _verdict(a), "node": _breaking_node(dom), "summary": _summary(a),
                    "analysed_class": dom.verdict, "unknown_nodes": list(getattr(a, "unknown", ()))},
        "domain": dom.to_json(),
        "chain": [{"node": st.node, "op_type": st.op_type, "value": st.value, "shape": shape_json(st.shape)}
                  for st in a.chain],
        "fixes": [{"node": f.node, "title": f.title, "code": f.code} for f in a.fixes],
        "fake_dynamic": list(a.fake_dynamic),
        # each dynamic non-image size at 0 (the others >= 1): whether it runs there and what holds
        "zero_sizes": [{"symbol": f.symbol, "analysed": f.domain is not None,
                        "verdict": None if f.domain is None else f.domain.verdict,
                        "valid_if": None if f.domain is None else f.domain.valid_if_text, "summary": f.words(),
                        "other_shapes": [{"value": v, "formula": shape_json(g), "at_zero": shape_json(z)}
                                         for v, g, z in f.differs]}
                       for f in getattr(a, "zero_faces", ())],
        "warnings": list(r.warnings),
        **({"front_end": a.front.to_json()} if getattr(a, "front", None) is not None else {}),
    }


def _verdict(a) -> str:
    """"partial" when part of the graph was not analysed (analysis.Analysis.verdict), else the domain's."""
    return getattr(a, "verdict", a.domain.verdict)


def _summary(a) -> str:
    return getattr(a, "verdict_summary", a.domain.summary)


def _breaking_node(dom) -> Optional[str]:
    c = dom.breaking_constraint
    return None if c is None else c.node


def dumps(a) -> str:
    return json.dumps(to_json(a), indent=2)


def _rows(a) -> List[Sequence[str]]:
    r = a.result
    rows = []
    for n in r.nodes:
        shapes = "; ".join(shape_str(r.values[o].shape) for o in n.outputs if o and o in r.values)
        params = _fmt_int(n.params) if n.params else ""
        if n.buffers:
            params = (params + " " if params else "") + f"(+{_fmt_int(n.buffers)} buf)"
        macs = "n/a" if n.macs is None else ("" if n.macs == 0 else _fmt_int(n.macs))
        op = n.op_type if n.supported else n.op_type + " (no rule)"
        rows.append((_name(n.name), _name(op), shapes, params, macs))
    return rows


def text_table(header: Sequence[str], rows: List[Sequence[str]], right: Sequence[int] = ()) -> List[str]:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)] if rows else [len(h) for h in header]
    def line(cells):
        return "  ".join((str(c).rjust(w) if i in right else str(c).ljust(w)) for i, (c, w) in
                         enumerate(zip(cells, widths))).rstrip()
    out = [line(header), "  ".join("-" * w for w in widths)]
    out += [line(r) for r in rows]
    return out


def format_table(a) -> str:
    r = a.result
    g = r.graph
    lines = [f"model: {g.path}"]
    for gi in g.inputs:
        lines.append(f"input {_name(gi.name)}: {shape_str(gi.shape)}")
    if getattr(a, "front", None) is not None:
        lines += a.front.lines()
    lines.append("")
    lines += text_table(("node", "op", "output shape", "params", "MACs"), _rows(a), right=(3,))
    lines.append("")
    lines.append(f"total params: {_fmt_int(r.total_params)}" +
                 (f"  (+{_fmt_int(r.total_buffers)} in buffers)" if r.total_buffers else ""))
    lines.append(f"total MACs:   {_fmt_int(r.total_macs)}")
    lines += _verdict_lines(a)
    rc = getattr(a, "runtime_constraints", ())
    if rc:
        lines.append(f"checked only at run time ({len(rc)}, they involve data-dependent sizes):")
        lines += [f"  {_name(c.node)} ({_name(c.op_type)}): {c.condition}" for c in rc[:10]]
        if len(rc) > 10:
            lines.append(f"  ... and {len(rc) - 10} more (--format json lists them all)")
    if r.warnings:
        lines.append("")
        lines += [f"warning: {_name(w, 1000)}" for w in r.warnings]
    return "\n".join(lines)


def _verdict_lines(a) -> List[str]:
    dom = a.domain
    out = ["", f"verdict: {_verdict(a)} - {_summary(a)}"]
    if dom.valid_if_text != "True":
        out.append(f"valid if: {dom.valid_if}")
    c = dom.breaking_constraint
    if c is not None:
        out.append(f"breaks at: {_name(c.node)} ({_name(c.op_type)}): {_name(c.reason, 1000)}")
    if a.chain:
        out.append("how the input gets there:")
        out += [f"  {_name(s.value if s.node == '(input)' else s.node)} ({_name(s.op_type or 'input')}): {shape_str(s.shape)}"
                for s in a.chain]
    for f in a.fixes:
        out.append(f"fix at {_name(f.node)}: {_name(f.title, 1000)}")
        out += ["    " + line for line in f.code.splitlines()]
    for w in a.fake_dynamic:
        out.append(f"WARNING: {_name(w, 1000)}")
    if getattr(dom, "method", None):
        out.append(f"method: {dom.method}")
    return out


def to_markdown(a) -> str:
    r = a.result
    esc = lambda s: _name(s, 1000).replace("|", "\\|")  # noqa: E731
    lines = [f"**{esc(r.graph.path)}** - inputs: " + ", ".join(f"`{esc(_name(gi.name))}` {shape_str(gi.shape)}"
                                                            for gi in r.graph.inputs),
             "", "| node | op | output shape | params | MACs |", "|---|---|---|---:|---|"]
    for row in _rows(a):
        lines.append("| " + " | ".join(esc(c) if i in (0, 1) else f"`{esc(c)}`" if c and i in (2, 4) else esc(c)
                                       for i, c in enumerate(row)) + " |")
    lines.append(f"| **total** | | | **{_fmt_int(r.total_params)}** | `{_fmt_int(r.total_macs)}` |")
    lines += ["", f"**verdict: {_verdict(a)}** - {esc(_summary(a))}"]
    if a.domain.valid_if_text != "True":
        lines.append(f"\nvalid if: `{a.domain.valid_if}`")
    c = a.domain.breaking_constraint
    if c is not None:
        lines.append(f"\nbreaks at `{esc(_name(c.node))}` ({esc(c.op_type)}): {esc(c.reason)}")
    for f in a.fixes:
        lines += ["", f"fix at `{esc(_name(f.node))}`: {esc(f.title)}", "```python", f.code, "```"]
    for w in a.fake_dynamic:
        lines.append(f"\n**warning:** {esc(w)}")
    if r.warnings:
        lines += [""] + [f"- warning: {esc(w)}" for w in r.warnings]
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------ HTML / LaTeX (Jupyter)


def dim_latex(d: MaybeDim) -> str:
    """One dim in LaTeX: ``\\left\\lfloor\\frac{H}{2}\\right\\rfloor - 2``; ``?`` when unknown."""
    if d is None:
        return "?"
    if isinstance(d, int):
        return f"{d:,}".replace(",", "{,}")
    import sympy
    return sympy.latex(d)


def shape_latex(shape) -> str:
    if shape is None:
        return "?"
    return "\\left[" + ",\\ ".join(dim_latex(d) for d in shape) + "\\right]"


def _math(tex: str) -> str:
    import html
    return f"${html.escape(tex, quote=False)}$"


def _html_table(header: Sequence[str], rows: List[Sequence[str]], right: Sequence[int] = ()) -> str:
    import html
    th = "".join(f"<th style='text-align:{'right' if i in right else 'left'}'>{html.escape(h)}</th>"
                 for i, h in enumerate(header))
    body = "".join("<tr>" + "".join(f"<td style='text-align:{'right' if i in right else 'left'}'>{c}</td>"
                                    for i, c in enumerate(r)) + "</tr>" for r in rows)
    return f"<table><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>"


def _html_count(n) -> str:
    return "" if not n else (f"{n:,}" if isinstance(n, int) else _math(dim_latex(n)))


def to_html(a) -> str:
    """The analysis as an HTML table with formulas in LaTeX (MathJax renders them in Jupyter)."""
    import html
    r = a.result
    esc = html.escape
    rows = []
    for n in r.nodes:
        shapes = "; ".join(_math(shape_latex(r.values[o].shape)) for o in n.outputs if o and o in r.values)
        params = _html_count(n.params) + (f" (+{n.buffers:,} buf)" if n.buffers else "")
        macs = "n/a" if n.macs is None else _html_count(n.macs)
        rows.append((esc(n.name), esc(n.op_type if n.supported else n.op_type + " (no rule)"), shapes, params, macs))
    parts = [f"<p><b>{esc(str(r.graph.path))}</b> &mdash; inputs: " + ", ".join(
        f"<code>{esc(gi.name)}</code> {_math(shape_latex(gi.shape))}" for gi in r.graph.inputs) + "</p>"]
    front = getattr(a, "front", None)
    if front is not None:
        parts.append(f"<p>front end: {esc(front.summary)}</p>")
    parts.append(_html_table(("node", "op", "output shape", "params", "MACs"), rows, right=(3,)))
    parts.append(f"<p>total params: <b>{_fmt_int(r.total_params)}</b>"
                 + (f" (+{_fmt_int(r.total_buffers)} in buffers)" if r.total_buffers else "")
                 + f"; total MACs: {_html_count(r.total_macs) or '0'}</p>")
    parts.append(f"<p><b>verdict: {esc(_verdict(a))}</b> &mdash; {esc(_summary(a))}</p>")
    if a.domain.valid_if_text != "True":
        import sympy
        parts.append(f"<p>valid if: {_math(sympy.latex(a.domain.valid_if))}</p>")
    c = a.domain.breaking_constraint
    if c is not None:
        parts.append(f"<p>breaks at <code>{esc(c.node)}</code> ({esc(c.op_type)}): {esc(c.reason)}</p>")
    for f in a.fixes:
        parts.append(f"<p>fix at <code>{esc(f.node)}</code>: {esc(f.title)}</p><pre>{esc(f.code)}</pre>")
    for w in a.fake_dynamic:
        parts.append(f"<p><b>warning:</b> {esc(w)}</p>")
    return "\n".join(parts)


def module_table_html(t) -> str:
    """A modules.ModuleTable as HTML, indented by depth, formulas in LaTeX."""
    import html
    rows = []
    for r in t.rows + ((t.unowned,) if t.unowned else ()):
        pad = "&nbsp;" * 4 * max(r.depth - 1, 0) + ("" if r.depth == 0 else "&#9492;&nbsp;")
        shape = _math(shape_latex(r.shape)) if r.shapes else ""
        if len(r.shapes) > 1:
            shape += f" (+{len(r.shapes) - 1} more)"
        params = _html_count(r.params) + (f" ({r.params - r.trainable:,} frozen)" if r.params != r.trainable else "") \
            + (f" (+{r.buffers:,} buf)" if r.buffers else "")
        macs = "n/a" if r.macs is None else _html_count(r.macs)
        rows.append((pad + html.escape(r.label), html.escape(r.type), shape, params, macs))
    foot = (f"<p>total params: <b>{t.total_params:,}</b> (trainable {t.trainable_params:,}"
            + (f", buffers {t.total_buffers:,}" if t.total_buffers else "") + f"; counted by {t.source}); "
            f"total MACs: {_html_count(t.total_macs) or '0'}</p>")
    return _html_table(("module", "type", "output shape", "params", "MACs"), rows, right=(3,)) + foot
