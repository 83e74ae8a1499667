"""``shapealg analyze``."""
from __future__ import annotations

import click

from .common import keep_static_option, model_argument, parse_shapes, shape_option


@click.command()
@model_argument
@shape_option
@keep_static_option
@click.option("--format", "fmt", type=click.Choice(["table", "json", "markdown"]), default="table", show_default=True)
def analyze(model, shapes, keep_static, fmt):
    """Per-node output shapes, parameters and MACs as formulas, then the valid input sizes and verdict."""
    from shapealg import report
    from shapealg.analysis import analyze as run
    a = run(model, shapes=parse_shapes(shapes), symbolize_spatial=not keep_static)
    render = {"json": report.dumps, "markdown": report.to_markdown, "table": report.format_table}[fmt]
    click.echo(render(a))
