"""Tables, JSON and Markdown from result objects. Computes nothing: every number comes from the analysis."""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

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
    return count_text(n)


def count_text(n) -> str:
    """A count (params, MACs, bytes) as every command prints it: an int with thousands separators, a formula in
    the dim algebra's one canonical form (``dims.canon``), ``?`` when unknown."""
    if n is None:
        return "?"
    if isinstance(n, int):
        return f"{n:,}"
    try:
        from .dims import canon
        c = canon(n)
    except Exception:  # noqa: BLE001 - a formula over the work limit prints as it is
        c = n
    return f"{c:,}" if isinstance(c, int) else str(c)


# ------------------------------------------------------------------------------------------ the words


def _ranges(values) -> List[Tuple[int, int]]:
    out: List[Tuple[int, int]] = []
    for v in sorted(values):
        if out and v == out[-1][1] + 1:
            out[-1] = (out[-1][0], v)
        else:
            out.append((v, v))
    return out


def _bounded_words(dom) -> Optional[str]:
    """A finite set that is a box of ranges, in words: ``S <= 512``, ``8 <= S <= 512``, ``H = 64 and W = 64``."""
    syms = list(dom.finite_symbols)
    if not syms or any(n not in dom.sets for n in syms):
        return None
    parts = []
    for n in syms:
        st = dom.sets[n]
        if not st.is_finite or st.is_empty:
            return None
        rs = _ranges(st.below)
        if len(rs) != 1:
            return None
        lo, hi = rs[0]
        parts.append(f"{n} = {lo}" if lo == hi else f"{n} <= {hi}" if lo == 1 else f"{lo} <= {n} <= {hi}")
    total = 1
    for n in syms:
        total *= len(dom.sets[n].below)
    if dom.finite_count is not None and dom.finite_count != total:  # a joint condition cuts the box
        return None
    return " and ".join(parts)


def verdict_words(dom) -> str:
    """The verdict as a person says it: ``valid for S <= 512``, ``runs only at 64x64``, ``exactly 108 (H, W)
    pairs, e.g. ...``; never the class name twice (the class is shown beside it)."""
    summary = str(dom.summary)
    v = str(getattr(dom.verdict, "value", dom.verdict))
    if v == "locked":
        box = _bounded_words(dom)
        if box is not None and "=" in box and "<" not in box:
            size = "x".join(str(dom.sets[n].below[0]) for n in dom.finite_symbols)
            return f"runs only at {size} ({box})" if len(dom.finite_symbols) > 1 else f"runs only at {box}"
        if box is not None:
            return f"valid for {box}"
    for prefix in (f"{v}: ", f"{v.replace('-', ' ')}: "):
        if summary.startswith(prefix):
            summary = summary[len(prefix):]
    return summary.replace("(1 (H, W) pairs)", "").replace("  ", " ")


def verdict_of(a):
    """(class, words) of an analysis: "partial" with what was not analysed when part of the graph was not (the
    class of the part analysed in the words), else the verdict's domain (the module's for a torch module)."""
    dom = a.verdict_domain if hasattr(a, "verdict_domain") else a.domain
    unknown = tuple(getattr(a, "unknown", ()) or ())
    if unknown:
        more = f" (and {len(unknown) - 1} more)" if len(unknown) > 1 else ""
        v = str(getattr(dom.verdict, "value", dom.verdict))
        return "partial", f"{v} for the part analysed: {verdict_words(dom)}; not analysed: {unknown[0]}{more}"
    return str(getattr(dom.verdict, "value", dom.verdict)), verdict_words(dom)


def verdict_headline(dom) -> str:
    """``verdict: locked - valid for S <= 512``: the class (what the JSON says) and the words."""
    v = str(getattr(dom.verdict, "value", dom.verdict))
    return f"verdict: {v} - {verdict_words(dom)}"


def to_json(a) -> dict:
    """The public report (DESIGN.md): symbols, inputs, values, nodes, constraints, valid_if, verdict."""
    r = a.result
    g = r.graph
    dom = a.verdict_domain if hasattr(a, "verdict_domain") else a.domain
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
        "totals": {"params": r.total_params, "buffers": r.total_buffers, "macs": dim_json(r.total_macs),
                   # added: the per-node params summed (differs from params when initializers are shared) and why
                   "params_in_rows": sum(n.params for n in r.nodes), "params_note": params_note(r)},
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
        # added: for a torch module whose export dropped or specialised checks, ``verdict`` / ``valid_if`` are the
        # module's and these are the ONNX file's own
        **({"file_verdict": {"class": a.domain.verdict, "node": _breaking_node(a.domain),
                             "summary": a.domain.summary},
            "file_valid_if": a.domain.valid_if_text} if getattr(a, "module_domain", None) is not None else {}),
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
        params = count_text(n.params) if n.params else ""
        if n.buffers:
            params = (params + " " if params else "") + f"(+{count_text(n.buffers)} buf)"
        macs = "n/a" if n.macs is None else ("" if n.macs == 0 else count_text(n.macs))
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


# ------------------------------------------------------------------------------------------ blocks
# What a command prints, as blocks that a plain-text, a Markdown or a terminal (cli/render.py) renderer lays out.


@dataclass(frozen=True)
class Line:
    text: str
    style: str = ""      # "" | "head" | "note" | "warn" | "code" | "verdict:<class>"


@dataclass(frozen=True)
class Table:
    header: Tuple[str, ...]
    rows: Tuple[Tuple[str, ...], ...]
    right: Tuple[int, ...] = ()     # right-aligned columns (counts)
    title: str = ""


def plain(blocks) -> str:
    """Blocks as plain text (``print(analysis)``, piped output)."""
    out: List[str] = []
    for b in blocks:
        if isinstance(b, Table):
            if b.title:
                out.append(b.title)
            out += text_table(b.header, [list(r) for r in b.rows], b.right)
        else:
            out.append(b.text)
    return "\n".join(out)


def markdown(blocks) -> str:
    """Blocks as Markdown: tables as pipe tables, formulas in code spans, code as fenced blocks."""
    def esc(t) -> str:  # text: no table breaks, no emphasis from a formula's '*' / '_'
        return str(t).replace("\\", "\\\\").replace("|", "\\|").replace("*", "\\*").replace("_", "\\_")

    def cell(t) -> str:  # a formula or shape in a code span; other cells as text
        t = str(t)
        if t and any(ch in t for ch in "*[(") and "`" not in t:
            return "`" + t.replace("|", "\\|") + "`"
        return esc(t)
    out: List[str] = []
    code: List[str] = []
    for b in blocks:
        if isinstance(b, Line) and b.style == "code":
            code.append(b.text.strip())
            continue
        if code:
            out += ["```python", *code, "```"]
            code = []
        if isinstance(b, Table):
            if b.title:
                out += ["", f"**{esc(b.title)}**"]
            out += ["", "| " + " | ".join(esc(h) for h in b.header) + " |",
                    "|" + "|".join("---:" if i in b.right else "---" for i in range(len(b.header))) + "|"]
            out += ["| " + " | ".join(esc(c) if i == 0 else cell(c) for i, c in enumerate(r)) + " |" for r in b.rows]
            out.append("")
        elif b.style.startswith("verdict:"):
            head, _, rest = b.text.partition(" - ")
            out.append((f"**{esc(head)}** - {esc(rest)}" if rest else f"**{esc(head)}**") + "  ")
        elif b.style == "head" and b.text:
            out.append(f"**{esc(b.text)}**  ")
        elif b.text:
            out.append(esc(b.text) + "  ")
        else:
            out.append("")
    if code:
        out += ["```python", *code, "```"]
    return "\n".join(out)


def params_note(r) -> Optional[str]:
    """Why the total differs from the sum of the rows: initializers that several nodes consume count once."""
    in_rows = sum(n.params for n in r.nodes)
    if in_rows == r.total_params:
        return None
    return (f"the rows sum to {in_rows:,}: some initializers are shared by several nodes (tied weights) and "
            f"each counts once in the total, as torch counts a shared Parameter once")


def front_lines(front, verbose: bool = False) -> List[Line]:
    """The front end in short (exporter, what it specialised, the module's verdict); every detail with verbose."""
    if front is None:
        return []
    if verbose:
        return [Line(t, "note") for t in front.lines()]
    s = f"front end: exported with {front.path} at {'x'.join(map(str, front.trace_shape))}"
    if front.specialized:
        s += f"; the exporter specialised {', '.join(front.specialized)}"
    if front.resymbolized:
        s += "; static file, spatial dims made symbolic again"
    out = [Line(s, "note")]
    if front.guards:
        out.append(Line(f"  {len(front.guards)} shape guard(s) torch.export derived are not in the ONNX file "
                        f"(--verbose lists them)", "note"))
    out += [Line(f"  note: {_name(n, 1000)}", "note") for n in front.notes]
    return out


def module_of(a, node: str) -> Optional[str]:
    """The torch module that produced ``node`` (a module input only), e.g. ``net.6``."""
    fn = getattr(a, "module_of", None)
    return fn(node) if fn is not None else None


def _module_names(a, text: str) -> str:
    """ONNX node names in ``text`` (a fix's title) as the torch modules that produced them, for a module."""
    if getattr(a, "front", None) is None:
        return text
    for n in a.result.nodes:
        if len(n.name) >= 4 and f"({n.name})" in text:
            mod = module_of(a, n.name)
            if mod:
                text = text.replace(f"({n.name})", f"({mod})")
    return text


def _where(a, node: str, op: str) -> str:
    mod = module_of(a, node) if node not in ("torch.export", "(input)") else None
    return f"{_name(mod)} ({_name(op)}; ONNX node {_name(node)})" if mod else f"{_name(node)} ({_name(op)})"


def verdict_blocks(a, verbose: bool = False) -> List[Line]:
    dom = a.verdict_domain if hasattr(a, "verdict_domain") else a.domain
    cls, words = verdict_of(a)
    out = [Line(""), Line(f"verdict: {cls} - {words}", f"verdict:{cls}")]
    file_dom = a.domain
    if dom is not file_dom:
        fv = str(getattr(file_dom.verdict, "value", file_dom.verdict))
        out.append(Line(f"the ONNX file alone: {fv} - {verdict_words(file_dom)}", "note"))
    if dom.valid_if_text != "True":
        out.append(Line(f"valid if: {dom.valid_if}"))
    c = dom.breaking_constraint
    if c is not None:
        out.append(Line(f"breaks at: {_where(a, c.node, c.op_type)}: {_name(c.reason, 1000)}"))
    if a.chain:
        out.append(Line("how the input gets there:"))
        for st in a.chain:
            if st.node == "(input)":
                out.append(Line(f"  {_name(st.value)} (input): {shape_str(st.shape)}"))
            else:
                out.append(Line(f"  {_where(a, st.node, st.op_type or '?')}: {shape_str(st.shape)}"))
    for f in a.fixes:
        out.append(Line(f"fix at {_name(module_of(a, f.node) or f.node)}: "
                        f"{_name(_module_names(a, f.title), 1000)}"))
        out += [Line("    " + line, "code") for line in f.code.splitlines()]
    for w in a.fake_dynamic:
        out.append(Line(f"WARNING: {_name(w, 1000)}", "warn"))
    if verbose and getattr(dom, "method", None):
        out.append(Line(f"method: {dom.method}", "note"))
    return out


def analysis_blocks(a, *, view: str = "nodes", depth: Optional[int] = None, verbose: bool = False) -> list:
    """What ``shapealg analyze`` shows: the model, the front end, the node (or module) table, totals, verdict."""
    r = a.result
    g = r.graph
    out: list = [Line(f"model: {g.path}", "head")]
    out += [Line(f"input {_name(gi.name)}: {shape_str(gi.shape)}") for gi in g.inputs]
    out += front_lines(getattr(a, "front", None), verbose)
    out.append(Line(""))
    if view == "modules":
        t = a.modules(depth=depth)
        out += module_blocks(t)
    else:
        out.append(Table(("node", "op", "output shape", "params", "MACs"), tuple(map(tuple, _rows(a))), (3,)))
        out.append(Line(""))
        out.append(Line(f"total params: {count_text(r.total_params)}" +
                        (f"  (+{count_text(r.total_buffers)} in buffers)" if r.total_buffers else "")))
        note = params_note(r)
        if note:
            out.append(Line(f"  ({note})", "note"))
        out.append(Line(f"total MACs:   {count_text(r.total_macs)}"))
    out += verdict_blocks(a, verbose)
    rc = getattr(a, "runtime_constraints", ())
    if rc:
        out.append(Line(f"checked only at run time ({len(rc)}, they involve data-dependent sizes):"))
        out += [Line(f"  {_name(c.node)} ({_name(c.op_type)}): {c.condition}") for c in rc[:10]]
        if len(rc) > 10:
            out.append(Line(f"  ... and {len(rc) - 10} more (--format json lists them all)"))
    if r.warnings:
        out.append(Line(""))
        out += [Line(f"warning: {_name(w, 1000)}", "warn") for w in r.warnings]
    return out


def module_blocks(t) -> list:
    """A modules.ModuleTable as a table block and its totals."""
    return list(t.blocks()) if hasattr(t, "blocks") else [Line(str(t))]


def format_table(a) -> str:
    return plain(analysis_blocks(a, verbose=True))


def _verdict_lines(a) -> List[str]:
    return [b.text for b in verdict_blocks(a, verbose=True)]


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
    dom = a.verdict_domain if hasattr(a, "verdict_domain") else a.domain
    note = params_note(r)
    if note:
        lines.append(f"\n({esc(note)})")
    cls, words = verdict_of(a)
    lines += ["", f"**verdict: {cls}** - {esc(words)}"]
    if dom is not a.domain:
        lines.append(f"\nthe ONNX file alone: {a.domain.verdict} - {esc(verdict_words(a.domain))}")
    if dom.valid_if_text != "True":
        lines.append(f"\nvalid if: `{dom.valid_if}`")
    c = dom.breaking_constraint
    if c is not None:
        lines.append(f"\nbreaks at {esc(_where(a, c.node, c.op_type))}: {esc(c.reason)}")
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


VERDICT_COLOURS = {"size-invariant": "#1a7f37", "conditional": "#9a6700", "locked": "#cf222e",
                   "never-valid": "#cf222e", "partial": "#9a6700"}
_CELL = "padding:3px 12px;border-bottom:1px solid #d0d7de;vertical-align:top"


def html_table(header: Sequence[str], rows: List[Sequence[str]], right: Sequence[int] = (),
               cls: str = "shapealg") -> str:
    """An HTML table with cell padding (columns never run together); cells are HTML already."""
    import html
    th = "".join(f"<th style='text-align:{'right' if i in right else 'left'};{_CELL}'>{html.escape(h)}</th>"
                 for i, h in enumerate(header))
    body = "".join("<tr>" + "".join(f"<td style='text-align:{'right' if i in right else 'left'};{_CELL}'>{c}</td>"
                                    for i, c in enumerate(r)) + "</tr>" for r in rows)
    return (f"<table class='{cls}' style='border-collapse:collapse'><thead><tr>{th}</tr></thead>"
            f"<tbody>{body}</tbody></table>")


_html_table = html_table


def html_verdict(verdict, words: str) -> str:
    """The verdict, coloured: green size-invariant, yellow conditional, red locked / never valid."""
    import html
    v = str(getattr(verdict, "value", verdict))
    col = VERDICT_COLOURS.get(v, "#57606a")
    return (f"<p class='shapealg-verdict'><b>verdict: <span style='color:{col}'>{html.escape(v)}</span></b> "
            f"&mdash; {html.escape(words)}</p>")


def blocks_html(blocks) -> str:
    """Report blocks as HTML (tables padded, the verdict coloured)."""
    import html
    out: List[str] = []
    for b in blocks:
        if isinstance(b, Table):
            if b.title:
                out.append(f"<p><b>{html.escape(b.title)}</b></p>")
            out.append(html_table(b.header, [[html.escape(str(c)) for c in r] for r in b.rows], b.right))
        elif b.style.startswith("verdict:"):
            head, _, rest = b.text.partition(" - ")
            out.append(html_verdict(b.style.split(":", 1)[1], rest or head))
        elif b.style == "code":
            out.append(f"<pre style='margin:0 0 0 2em'>{html.escape(b.text.strip())}</pre>")
        elif b.text.strip():
            out.append(f"<div>{html.escape(b.text)}</div>")
    return "\n".join(out)


def short_repr(a) -> str:
    """``repr(analysis)``: one line (the table is ``print(a)``)."""
    r = a.result
    dom = a.verdict_domain if hasattr(a, "verdict_domain") else a.domain
    ins = ", ".join(f"{_name(gi.name, 40)}{shape_str(gi.shape)}" for gi in r.graph.inputs[:3])
    cls, words = verdict_of(a)
    words = words if len(words) <= 300 else words[:300] + "..."
    return (f"<Analysis {_name(r.graph.path, 120)}: {len(r.nodes)} nodes, inputs {ins}; params "
            f"{count_text(r.total_params)}; verdict {cls} - {words}>")


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
    note = params_note(r)
    if note:
        parts.append(f"<p>({esc(note)})</p>")
    dom = a.verdict_domain if hasattr(a, "verdict_domain") else a.domain
    parts.append(html_verdict(*verdict_of(a)))
    if dom is not a.domain:
        parts.append(f"<p>the ONNX file alone: {esc(str(a.domain.verdict))} &mdash; {esc(verdict_words(a.domain))}</p>")
    if dom.valid_if_text != "True":
        import sympy
        parts.append(f"<p>valid if: {_math(sympy.latex(dom.valid_if))}</p>")
    c = dom.breaking_constraint
    if c is not None:
        parts.append(f"<p>breaks at <code>{esc(_where(a, c.node, c.op_type))}</code>: {esc(c.reason)}</p>")
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
