"""``shapealg analyze``."""
from __future__ import annotations

import json

import click

from .common import echo, keep_static_option, load_model, models_argument, progress, shape_option

input_option = click.option("--input", "input_shape", metavar="DIMS",
                            help="For file.py:factory: the input shape, ints and symbol names, e.g. 1,3,H,W "
                                 "(default 1,3,H,W).")
jobs_option = click.option("--jobs", "-j", type=click.IntRange(min=1), default=1, show_default=True, metavar="N",
                           help="With several models (or a folder): analyse N at a time, each in its own process.")


def run_many(models, fmt, jobs, opts, title):
    """Several models: a summary table (or JSON lines); exit 1 when any could not be analysed."""
    import sys
    from .batch import expand, run_all, summary_blocks
    from .render import show
    files = expand(models)
    if not files:
        from shapealg.records import ShapealgError
        raise ShapealgError(f"no .onnx files in {', '.join(models)}")
    done = []

    def on_done(row):
        done.append(row)
        if fmt == "jsonl":
            out = row.get("report", {}) if row["ok"] else {"model": row["model"], "error": row["error"]}
            if row["ok"] and "sizes" in row:
                out = dict(out, sizes=row["sizes"])
            echo(json.dumps(out))
    with progress() as say:
        say(f"{title} {len(files)} models ({jobs} at a time)")
        rows = run_all(files, dict(opts, json=fmt == "jsonl"), jobs,
                       on_done=lambda r: (say(f"{len(done) + 1}/{len(files)} done: {r['model']}"), on_done(r)))
    if fmt != "jsonl":
        blocks = summary_blocks(rows, opts.get("sizes", ()))
        if fmt == "json":
            echo(json.dumps([r.get("report") or {k: v for k, v in r.items()} for r in rows], indent=2))
        elif fmt == "markdown":
            from shapealg.report import markdown
            echo(markdown(blocks))
        else:
            show(blocks)
    return 0 if all(r["ok"] for r in rows) else 1, rows


@click.command("analyze")
@models_argument
@shape_option
@keep_static_option
@input_option
@click.option("--modules", "by_module", is_flag=True,
              help="One row per torch module (the default for a torch module, file.py:factory).")
@click.option("--nodes", "by_node", is_flag=True, help="One row per ONNX node (the default for an ONNX file).")
@click.option("--depth", type=click.IntRange(min=0), default=None, metavar="N",
              help="With the module view: show modules down to this depth (0: the model only).")
@click.option("--verbose", "-v", is_flag=True,
              help="Everything the exporter said (refused paths, dropped guards) and how the valid set was solved.")
@jobs_option
@click.option("--format", "fmt", type=click.Choice(["table", "json", "markdown", "jsonl"]), default="table",
              show_default=True, help="jsonl: one JSON report per line (several models).")
def analyze_command(models, shapes, keep_static, input_shape, by_module, by_node, depth, verbose, jobs, fmt):
    """Per-node (or per-module) output shapes, parameters and MACs as formulas, then the valid input sizes and
    verdict.

    MODEL is an ONNX file or path/to/file.py:factory; several models or a folder (its .onnx files) give one
    summary row each (--jobs N: N at a time). For file.py:factory shapealg IMPORTS AND RUNS file.py (its
    top-level code) and calls factory() for a torch nn.Module, which it exports to ONNX with symbolic dims
    (in a temporary directory, removed afterwards): only use files you trust.
    """
    import os
    import sys
    if len(models) > 1 or os.path.isdir(models[0]) or fmt == "jsonl":
        code, _ = run_many(models, fmt, jobs, dict(shapes=shapes, keep_static=keep_static, input_shape=input_shape),
                           "analysing")
        sys.exit(code)
    model = models[0]
    from shapealg import report
    with progress():
        a = load_model(model, shapes, keep_static, input_shape)
    module_view = (by_module or (a.front is not None and not by_node) or (depth is not None and not by_node))
    if module_view and depth is None and not by_module:
        depth = 3  # the default view of a module: three levels (--modules alone: every module)
    if fmt == "json":
        out = report.to_json(a)
        if module_view:
            out["modules"] = a.modules(depth=depth).to_json()
        echo(json.dumps(out, indent=2))
        return
    blocks = report.analysis_blocks(a, view="modules" if module_view else "nodes", depth=depth, verbose=verbose)
    if a.front is not None and module_view and not verbose:
        blocks.append(report.Line("(the ONNX node view: --nodes; the exporter's details: --verbose)", "note"))
    if fmt == "markdown":
        echo(report.to_markdown(a) if not module_view else report.markdown(blocks))
        return
    from .render import show
    show(blocks)
