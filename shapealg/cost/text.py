"""The cost report as blocks (a table per module or node, totals, growth, dominant nodes, what is not modelled,
values at chosen sizes): what ``shapealg cost`` prints (plain, Markdown, the terminal) and ``print(report)`` shows."""
from __future__ import annotations

from typing import Sequence

from ..printable import name as _name
from ..report import Line, Table, count_text, plain, verdict_of


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:,.1f}"
    return count_text(v)


def cost_blocks(rep, by: str = "module", depth: int = 1, samples: Sequence[dict] = ()) -> list:
    a = rep.analysis
    conv = rep.convention
    dom = a.verdict_domain if hasattr(a, "verdict_domain") else a.domain
    cls, words = verdict_of(a)
    out: list = [Line(f"{a.result.graph.path}: cost as formulas in {', '.join(rep.symbols) or 'no symbols'} "
                      f"(convention {conv.name}; FLOPs = {conv.flops_per_mac} x MACs)", "head"),
                 Line(f"verdict: {cls} - {words}", f"verdict:{cls}")]
    if dom.valid_if_text != "True":
        out.append(Line(f"valid if {dom.valid_if}"))
    out.append(Line(""))
    if by == "node" or depth == 0:
        rows = tuple((_name(n.name), _name(n.op_type), n.status if n.status != "counted" else "", _fmt(n.macs),
                      _fmt(n.output_bytes)) for n in rep.nodes)
        out.append(Table(("node", "op", "status", "MACs", "output bytes"), rows))
    else:
        rows = tuple((_name(m.name) if m.name else "(top level)", str(m.nodes), _fmt(m.params), _fmt(m.macs),
                      _fmt(m.output_bytes), str(m.not_modelled or "")) for m in rep.modules(depth))
        out.append(Table((f"module (depth {depth})", "nodes", "params", "MACs", "output bytes", "not modelled"),
                         rows, (1, 2)))
    out += [Line(""), Line("totals:", "head")]
    labels = {"macs": "MACs", "flops": "FLOPs", "activation_bytes": "activation bytes (all outputs)",
              "peak_bytes": "peak live bytes"}
    for k, lab in labels.items():
        g = rep.growth[k]
        out.append(Line(f"  {lab}: {_fmt(rep.totals[k])}"))
        out.append(Line(f"      grows as {g.order}" + (f" (leading term {g.leading})" if g.leading is not None else ""),
                        "note"))
    for k, lab in (("macs", "MACs"), ("activation_bytes", "activation bytes")):
        dm = rep.dominant.get(k) or ()
        if dm:
            out.append(Line(f"dominant at large sizes ({lab}): " + ", ".join(
                f"{_name(d.node)} ({_name(d.op_type)}) {100 * d.share:.1f}%" for d in dm[:5])))
    nm = rep.not_modelled
    if nm:
        out.append(Line(f"NOT MODELLED ({len(nm)} node(s); the totals leave them out and are lower bounds):", "warn"))
        out += [Line(f"  {_name(n.name)} ({_name(n.op_type)}): {_name(n.note, 1000)}") for n in nm[:20]]
        if len(nm) > 20:
            out.append(Line(f"  ... and {len(nm) - 20} more"))
    else:
        out.append(Line("every node is modelled"))
    if samples:
        out += [Line(""), Table(("size", "valid", "MACs", "FLOPs", "activation bytes", "peak live bytes"),
                                tuple(("x".join(str(s["size"][k]) for k in rep.spatial) or "-",
                                       "yes" if s["valid"] else "NO", _fmt(s["macs"]), _fmt(s["flops"]),
                                       _fmt(s["activation_bytes"]), _fmt(s["peak_bytes"])) for s in samples),
                                (2, 3, 4, 5))]
    for w in rep.warnings:
        out.append(Line(f"warning: {_name(w, 1000)}", "warn"))
    return out


def format_cost(rep, by: str = "module", depth: int = 1, samples: Sequence[dict] = ()) -> str:
    return plain(cost_blocks(rep, by, depth, samples))
