"""``shapealg analyze``."""
from __future__ import annotations

import json

import click

from .common import echo, keep_static_option, model_argument, parse_shapes, shape_option

input_option = click.option("--input", "input_shape", metavar="DIMS",
                            help="For file.py:factory: the input shape, ints and symbol names, e.g. 1,3,H,W "
                                 "(default 1,3,H,W).")


def load_model(model: str, shapes, keep_static: bool, input_shape, *, weights: bool = False):
    """An ONNX path, or file.py:factory (imported and called), loaded (shapealg.source.load) and analysed; the
    Analysis keeps its Source (``weights``: the file's large inline tensors kept, for export and validate)."""
    from shapealg.analysis import analyze_source
    from shapealg.records import ShapealgError
    from shapealg.source import is_factory_spec, load
    if is_factory_spec(model):
        if shapes or keep_static:
            raise ShapealgError("--shape / --keep-static are for ONNX files; for file.py:factory use --input 1,3,H,W")
        return analyze_source(load(model, input_shape=input_shape, factory=True))
    if input_shape:
        raise ShapealgError("--input is for file.py:factory; for an ONNX file use --shape NAME=1,3,H,W")
    if isinstance(model, str) and model.endswith(".py"):
        raise ShapealgError(f"{model}: a Python file, not an ONNX model; name the function that builds the "
                            f"nn.Module, e.g. {model}:build (shapealg then imports and runs the file)")
    parsed = parse_shapes(shapes)
    return refuse_unrunnable(analyze_source(load(model, weights=weights), shapes=parsed,
                                            symbolize_spatial=not keep_static))


def refuse_unrunnable(a):
    """A graph in which a node reads a value no node produces (and no input or initializer holds) cannot run
    at all: one line naming it (exit 2), not a verdict."""
    from shapealg.records import ShapealgError
    for d in a.result.diagnostics:
        if str(d.kind) == "missing-input" and "is produced by no node" in d.message:
            raise ShapealgError(f"{a.result.graph.path}: node {d.node!r} (op {d.op}): {d.message.split(';')[0]}: "
                                f"the graph cannot run")
    return a


@click.command("analyze")
@model_argument
@shape_option
@keep_static_option
@input_option
@click.option("--modules", "by_module", is_flag=True,
              help="One row per torch module (from the module, or the module scopes an exporter recorded).")
@click.option("--depth", type=click.IntRange(min=0), default=None, metavar="N",
              help="With --modules: show modules down to this depth (0: the model only).")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "markdown"]), default="table", show_default=True)
def analyze_command(model, shapes, keep_static, input_shape, by_module, depth, fmt):
    """Per-node (or per-module) output shapes, parameters and MACs as formulas, then the valid input sizes and
    verdict.

    MODEL is an ONNX file or path/to/file.py:factory. For the latter shapealg IMPORTS AND RUNS file.py (its
    top-level code) and calls factory() for a torch nn.Module, which it exports to ONNX with symbolic dims
    (in a temporary directory, removed afterwards): only use files you trust.
    """
    from shapealg import report
    a = load_model(model, shapes, keep_static, input_shape)
    if by_module or depth is not None:
        t = a.modules(depth=depth)
        if fmt == "json":
            echo(json.dumps(dict(report.to_json(a), modules=t.to_json()), indent=2))
            return
        head = [f"model: {a.result.graph.path}"] + (a.front.lines() if a.front is not None else [])
        verdict = report._verdict_lines(a)
        text = "\n".join(head + [""]) + "\n" + str(t) + "\n" + "\n".join(verdict)
        echo(f"```\n{text}\n```" if fmt == "markdown" else text)
        return
    render = {"json": report.dumps, "markdown": report.to_markdown, "table": report.format_table}[fmt]
    echo(render(a))
