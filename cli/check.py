"""``shapealg check``: the pre-deployment gate."""
from __future__ import annotations

import json
import sys

import click

from .analyze import input_option, load_model
from .common import echo, keep_static_option, model_argument, shape_option


@click.command()
@model_argument
@click.option("--size", "sizes", multiple=True, required=True, metavar="HxW",
              help="An input size to check, e.g. 448x448 or H=448,W=320; repeat for several.")
@shape_option
@keep_static_option
@input_option
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
def check(model, sizes, shapes, keep_static, input_shape, fmt):
    """Exit 0 when every --size is valid, 1 when any is not, 2 on unusable input, 3 when every size passes
    the part analysed but part of the graph was not analysed (verdict "partial": no rule, a limit...).

    MODEL is an ONNX file or path/to/file.py:factory (shapealg IMPORTS AND RUNS file.py and exports
    factory()'s nn.Module to ONNX first: only use files you trust)."""
    from shapealg.sizes import check_sizes, parse_size, spatial_symbols
    a = load_model(model, shapes, keep_static, input_shape)
    spatial = spatial_symbols(a)
    zero_ok = [f.symbol for f in a.zero_faces if f.domain is not None]
    envs = [parse_size(s, spatial, a.symbols, zero_ok) for s in sizes]
    results = check_sizes(a, envs)
    if fmt == "json":
        echo(json.dumps({"model": model, "verdict": a.verdict, "valid_if": a.domain.valid_if_text,
                         "analysed_verdict": a.domain.verdict, "unknown_nodes": list(a.unknown),
                         "sizes": [r.to_json() for r in results]}, indent=2))
    else:
        for r in results:
            label = "x".join(str(r.size[s]) for s in spatial)
            if r.valid:
                echo(f"{label}: valid")
                continue
            b = r.blocking
            where = f"{b.node} ({b.op_type}): {b.reason}" if b else "no single constraint (see valid_if)"
            near = ", ".join("x".join(str(n[s]) for s in spatial) for n in r.nearest) or "none"
            echo(f"{label}: INVALID at {where}; nearest valid: {near}")
        if a.unknown:
            echo(f"partial: these sizes pass only the part analysed; not analysed: {a.unknown[0]}"
                 + (f" (and {len(a.unknown) - 1} more)" if len(a.unknown) > 1 else ""))
    if not all(r.valid for r in results):
        sys.exit(1)
    sys.exit(3 if a.unknown else 0)
