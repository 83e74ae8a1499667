"""``shapealg check``: the pre-deployment gate."""
from __future__ import annotations

import json
import sys

import click

from .analyze import input_option, jobs_option, run_many
from .common import echo, keep_static_option, load_model, models_argument, progress, shape_option


def check_blocks(a, results, spatial) -> list:
    """One row per size: valid, or where it breaks and the nearest valid sizes (same aspect ratio first)."""
    from shapealg.printable import name as _name
    from shapealg.report import Line, Table, verdict_of
    rows = []
    for r in results:
        label = "x".join(str(r.size[s]) for s in spatial)
        if r.valid:
            rows.append((label, "valid", "", ""))
            continue
        b = r.blocking
        where = "no single constraint (see valid_if)"
        if b is not None:
            mod = a.module_of(b.node) if hasattr(a, "module_of") else None
            where = f"{_name(mod or b.node)} ({_name(b.op_type)}): {_name(b.reason, 1000)}"
        near = ", ".join("x".join(str(n[s]) for s in spatial) for n in r.nearest) or "none"
        rows.append((label, "INVALID", where, near))
    cls, words = verdict_of(a)
    out = [Table(("size", "valid", "breaks at", "nearest valid"), tuple(rows)), Line(""),
           Line(f"verdict: {cls} - {words}", f"verdict:{cls}")]
    if getattr(a, "unknown", ()):
        out.append(Line("partial: these sizes pass only the part analysed (exit status 3)", "warn"))
    return out


@click.command()
@models_argument
@click.option("--size", "sizes", multiple=True, required=True, metavar="HxW",
              help="An input size to check, e.g. 448x448 or H=448,W=320; repeat for several.")
@shape_option
@keep_static_option
@input_option
@jobs_option
@click.option("--format", "fmt", type=click.Choice(["table", "json", "markdown", "jsonl"]), default="table",
              show_default=True)
def check(models, sizes, shapes, keep_static, input_shape, jobs, fmt):
    """Exit 0 when every --size is valid, 1 when any is not, 2 on unusable input, 3 when every size passes
    the part analysed but part of the graph was not analysed (verdict "partial": no rule, a limit...).

    MODEL is an ONNX file or path/to/file.py:factory (shapealg IMPORTS AND RUNS file.py and exports
    factory()'s nn.Module to ONNX first: only use files you trust); several models or a folder: one row each."""
    import os
    if len(models) > 1 or os.path.isdir(models[0]) or fmt == "jsonl":
        code, rows = run_many(models, fmt, jobs, dict(shapes=shapes, keep_static=keep_static,
                                                      input_shape=input_shape, sizes=sizes), "checking")
        ok = all(r["ok"] and all(s["valid"] for s in r["sizes"]) for r in rows)
        sys.exit(2 if code and not any(r["ok"] for r in rows) else (0 if ok else 1))
    model = models[0]
    from shapealg.sizes import check_sizes, parse_size, spatial_symbols
    with progress():
        a = load_model(model, shapes, keep_static, input_shape)
    spatial = spatial_symbols(a)
    zero_ok = [f.symbol for f in a.zero_faces if f.domain is not None]
    envs = [parse_size(s, spatial, a.symbols, zero_ok) for s in sizes]
    results = check_sizes(a, envs)
    if fmt == "json":
        dom = a.verdict_domain
        echo(json.dumps({"model": model, "verdict": a.verdict, "valid_if": dom.valid_if_text,
                         "analysed_verdict": dom.verdict, "unknown_nodes": list(a.unknown),
                         "sizes": [r.to_json() for r in results]}, indent=2))
    elif fmt == "markdown":
        from shapealg.report import markdown
        echo(markdown(check_blocks(a, results, spatial)))
    else:
        from .render import show
        show(check_blocks(a, results, spatial))
    if not all(r.valid for r in results):
        sys.exit(1)
    sys.exit(3 if a.unknown else 0)
