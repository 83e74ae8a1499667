"""The cost report as plain text (a table per module or node, totals, growth, dominant nodes, what is not
modelled, values at chosen sizes): what ``shapealg cost`` prints and ``print(report)`` shows."""
from __future__ import annotations

from typing import Sequence

from ..printable import name as _name


def _fmt(v) -> str:
    if v is None:
        return "?"
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        return f"{v:,.1f}"
    return str(v)


def _table(rows, headers) -> str:
    rows = [[str(c) for c in r] for r in rows]
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(headers)]
    widths = [min(w, 70) for w in widths]

    def line(cells):
        return "  ".join((c if len(c) <= w else c[:w - 1] + "~").ljust(w) for c, w in zip(cells, widths)).rstrip()

    return "\n".join([line(headers), line(["-" * w for w in widths])] + [line(r) for r in rows])


def format_cost(rep, by: str = "module", depth: int = 1, samples: Sequence[dict] = ()) -> str:
    a = rep.analysis
    conv = rep.convention
    out = [f"{a.result.graph.path}: cost as formulas in {', '.join(rep.symbols) or 'no symbols'} "
           f"(convention {conv.name}; FLOPs = {conv.flops_per_mac} x MACs)",
           f"verdict: {a.domain.verdict}; valid if {a.domain.valid_if}", ""]
    if by == "node" or depth == 0:
        rows = [[_name(n.name), _name(n.op_type), n.status if n.status != "counted" else "", _fmt(n.macs), _fmt(n.output_bytes)]
                for n in rep.nodes]
        out.append(_table(rows, ["node", "op", "status", "MACs", "output bytes"]))
    else:
        rows = [[_name(m.name) if m.name else "(top level)", m.nodes, _fmt(m.params), _fmt(m.macs), _fmt(m.output_bytes),
                 m.not_modelled or ""] for m in rep.modules(depth)]
        out.append(_table(rows, [f"module (depth {depth})", "nodes", "params", "MACs", "output bytes",
                                 "not modelled"]))
    out += ["", "totals:"]
    labels = {"macs": "MACs", "flops": "FLOPs", "activation_bytes": "activation bytes (all outputs)",
              "peak_bytes": "peak live bytes"}
    for k, lab in labels.items():
        g = rep.growth[k]
        out.append(f"  {lab}: {_fmt(rep.totals[k])}")
        out.append(f"      grows as {g.order}" + (f" (leading term {g.leading})" if g.leading is not None else ""))
    for k, lab in (("macs", "MACs"), ("activation_bytes", "activation bytes")):
        dom = rep.dominant.get(k) or ()
        if dom:
            out.append(f"dominant at large sizes ({lab}): " + ", ".join(
                f"{_name(d.node)} ({_name(d.op_type)}) {100 * d.share:.1f}%" for d in dom[:5]))
    nm = rep.not_modelled
    if nm:
        out.append(f"NOT MODELLED ({len(nm)} node(s); the totals leave them out and are lower bounds):")
        out += [f"  {_name(n.name)} ({_name(n.op_type)}): {_name(n.note, 1000)}" for n in nm[:20]]
        if len(nm) > 20:
            out.append(f"  ... and {len(nm) - 20} more")
    else:
        out.append("every node is modelled")
    if samples:
        out += ["", _table([["x".join(str(s["size"][k]) for k in rep.spatial) or "-", "yes" if s["valid"] else "NO",
                             _fmt(s["macs"]), _fmt(s["flops"]), _fmt(s["activation_bytes"]), _fmt(s["peak_bytes"])]
                            for s in samples],
                           ["size", "valid", "MACs", "FLOPs", "activation bytes", "peak live bytes"])]
    for w in rep.warnings:
        out.append(f"warning: {_name(w, 1000)}")
    return "\n".join(out)
