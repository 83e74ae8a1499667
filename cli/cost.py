"""``shapealg cost``: MACs, FLOPs and activation memory as formulas, per module or node, totals and growth."""
from __future__ import annotations

import json

import click

from .common import keep_static_option, model_argument, parse_shapes, shape_option

_CONVENTIONS = ("shapealg", "full", "fvcore", "torchinfo", "onnx-tool")


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


def _render(rep, by: str, depth: int, samples) -> str:
    a = rep.analysis
    conv = rep.convention
    out = [f"{a.result.graph.path}: cost as formulas in {', '.join(rep.symbols) or 'no symbols'} "
           f"(convention {conv.name}; FLOPs = {conv.flops_per_mac} x MACs)",
           f"verdict: {a.domain.verdict}; valid if {a.domain.valid_if}", ""]
    if by == "node" or depth == 0:
        rows = [[n.name, n.op_type, n.status if n.status != "counted" else "", _fmt(n.macs), _fmt(n.output_bytes)]
                for n in rep.nodes]
        out.append(_table(rows, ["node", "op", "status", "MACs", "output bytes"]))
    else:
        rows = [[m.name or "(top level)", m.nodes, _fmt(m.params), _fmt(m.macs), _fmt(m.output_bytes),
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
                f"{d.node} ({d.op_type}) {100 * d.share:.1f}%" for d in dom[:5]))
    nm = rep.not_modelled
    if nm:
        out.append(f"NOT MODELLED ({len(nm)} node(s); the totals leave them out and are lower bounds):")
        out += [f"  {n.name} ({n.op_type}): {n.note}" for n in nm[:20]]
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
        out.append(f"warning: {w}")
    return "\n".join(out)


@click.command()
@model_argument
@shape_option
@keep_static_option
@click.option("--convention", type=click.Choice(_CONVENTIONS), default="shapealg", show_default=True,
              help="Counting convention (docs/COSTS.md); fvcore / torchinfo / onnx-tool reproduce those tools.")
@click.option("--bias/--no-bias", default=None, help="Count bias adds (overrides the convention).")
@click.option("--elementwise/--no-elementwise", default=None, help="Count elementwise ops and reductions.")
@click.option("--pooling/--no-pooling", default=None, help="Count pooling windows.")
@click.option("--norm/--no-norm", default=None, help="Count normalisations.")
@click.option("--flops-per-mac", type=click.Choice(["1", "2"]), default=None, help="FLOPs = 1 or 2 x MACs.")
@click.option("--by", type=click.Choice(["module", "node"]), default="module", show_default=True)
@click.option("--depth", type=click.IntRange(0, 64), default=1, show_default=True,
              help="Module nesting depth to group at (0: per node).")
@click.option("--size", "sizes", multiple=True, metavar="HxW", help="Also evaluate at this size (repeatable).")
@click.option("--range", "rng", metavar="LO:HI[:STEP]", default=None,
              help="Resolutions for --plot and for the JSON samples (H = W = s); default 64:1024 with --plot.")
@click.option("--plot", "plot", metavar="PNG", default=None,
              help="Draw total MACs and activation memory against resolution to this PNG (needs matplotlib).")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
def cost(model, shapes, keep_static, convention, bias, elementwise, pooling, norm, flops_per_mac, by, depth, sizes,
         rng, plot, fmt):
    """MACs, FLOPs and activation memory of every node and module as formulas in the input size."""
    from shapealg.cost import cost as run
    from shapealg.cost.plot import parse_range, square_envs
    from shapealg.sizes import parse_size, spatial_symbols
    switches = {k: v for k, v in (("bias", bias), ("elementwise", elementwise), ("pooling", pooling),
                                  ("norm", norm)) if v is not None}
    if flops_per_mac is not None:
        switches["flops_per_mac"] = int(flops_per_mac)
    sides = parse_range(rng) if rng else (parse_range("64:1024") if plot else [])
    rep = run(model, convention, shapes=parse_shapes(shapes), symbolize_spatial=not keep_static, **switches)
    envs = [parse_size(s, spatial_symbols(rep.analysis), rep.symbols) for s in sizes]
    if sides and not rep.spatial:
        from shapealg.tensor import ShapealgError
        raise ShapealgError("--range / --plot: the model has no symbolic spatial size to vary")
    series = []
    if plot:
        from shapealg.cost.plot import plot_cost
        series = plot_cost(rep, plot, sides)
    elif sides:
        series = rep.series(square_envs(rep, sides))
    if fmt == "json":
        out = rep.to_json(depth=depth, sizes=envs)
        if sides:
            out["range"] = series
        if plot:
            out["plot"] = plot
        click.echo(json.dumps(out, indent=2))
        return
    shown = rep.series(envs) if envs else []
    if series:
        step = max(1, len(series) // 12)
        shown += series[::step] + ([series[-1]] if (len(series) - 1) % step else [])
    click.echo(_render(rep, by, depth, shown))
    if plot:
        click.echo(f"plot written to {plot}")
