"""``shapealg cost``: MACs, FLOPs and activation memory as formulas, per module or node, totals and growth."""
from __future__ import annotations

import json
import os

import click



from .analyze import input_option, load_model
from .common import shapealg_error, echo, keep_static_option, model_argument, progress, shape_option

_CONVENTIONS = ("shapealg", "full", "fvcore", "torchinfo", "onnx-tool")


@click.command()
@model_argument
@shape_option
@keep_static_option
@input_option
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
@click.option("--format", "fmt", type=click.Choice(["table", "json", "markdown"]), default="table", show_default=True)
def cost(model, shapes, keep_static, input_shape, convention, bias, elementwise, pooling, norm, flops_per_mac, by,
         depth, sizes, rng, plot, fmt):
    """MACs, FLOPs and activation memory of every node and module as formulas in the input size.

    MODEL is an ONNX file or path/to/file.py:factory (shapealg IMPORTS AND RUNS file.py and exports
    factory()'s nn.Module to ONNX first: only use files you trust)."""
    from shapealg.cost import cost as run
    from shapealg.cost.text import cost_blocks
    from shapealg.cost.plot import parse_range, square_envs
    from shapealg.sizes import parse_size, spatial_symbols
    switches = {k: v for k, v in (("bias", bias), ("elementwise", elementwise), ("pooling", pooling),
                                  ("norm", norm)) if v is not None}
    if flops_per_mac is not None:
        switches["flops_per_mac"] = int(flops_per_mac)
    sides = parse_range(rng) if rng else (parse_range("64:1024") if plot else [])
    if plot:
        from shapealg.safe_write import same_file
        if same_file(plot, model) or (os.path.abspath(plot) == os.path.abspath(model)):
            raise shapealg_error(f"--plot {plot}: is the input model; write the plot elsewhere")
    with progress():
        rep = run(load_model(model, shapes, keep_static, input_shape), convention, **switches)
    envs = [parse_size(s, spatial_symbols(rep.analysis), rep.symbols) for s in sizes]
    if sides and not rep.spatial:
        raise shapealg_error("--range / --plot: the model has no symbolic spatial size to vary")
    # everything is computed before the plot is written: writing the file the user asked for is the last step
    series = rep.series(square_envs(rep, sides)) if sides else []
    if fmt == "json":
        out = rep.to_json(depth=depth, sizes=envs)
        if sides:
            out["range"] = series
        if plot:
            out["plot"] = plot
        text, blocks = json.dumps(out, indent=2), None
    else:
        shown = rep.series(envs) if envs else []
        if series:
            step = max(1, len(series) // 12)
            shown += series[::step] + ([series[-1]] if (len(series) - 1) % step else [])
        blocks = cost_blocks(rep, by, depth, shown)
        text = None
        if fmt == "markdown":
            from shapealg.report import markdown
            text, blocks = markdown(blocks), None
    if plot:
        from shapealg.cost.plot import plot_cost
        plot_cost(rep, plot, sides, series=series)
    if blocks is not None:
        from .render import show
        show(blocks)
    else:
        echo(text)
    if plot and fmt != "json":
        echo(f"plot written to {plot}")
