"""``shapealg export``: the model with its shape formulas in value_info and its verdict in metadata."""
from __future__ import annotations

import click

from .analyze import input_option, load_model
from .common import echo, keep_static_option, model_argument, shape_option


@click.command()
@model_argument
@click.option("-o", "--output", "output", required=True, metavar="OUT.onnx", help="The annotated file to write.")
@shape_option
@keep_static_option
@input_option
def export(model, output, shapes, keep_static, input_shape):
    """Write MODEL with every value's shape formula as dim_params in value_info (Netron shows H,
    floor(H/2) - 2, ...) and the validity condition and verdict in metadata_props (shapealg.*).

    Nodes, initializers and external data are unchanged; external data files are copied beside OUT when it is
    in another directory. MODEL is an ONNX file or path/to/file.py:factory (shapealg IMPORTS AND RUNS file.py
    and exports factory()'s nn.Module to ONNX first: only use files you trust).
    """
    from shapealg.annotate import export_annotated
    a = load_model(model, shapes, keep_static, input_shape, weights=True)
    from shapealg.safe_write import is_stream
    to_stderr = is_stream(output)  # -o /dev/stdout: the model alone on stdout
    r = export_annotated(a.source, output, analysis=a)
    echo(f"wrote {r.path}: {r.values} value shapes, verdict {a.domain.verdict}", err=to_stderr)
    for c in r.copied:
        echo(f"copied external data to {c}", err=to_stderr)
    if r.missing:
        import os
        where = os.path.dirname(os.path.abspath(r.path))
        echo(f"note: {', '.join(r.missing)} (the weights) is not beside {model}, so nothing was copied; the "
             f"annotated model refers to it by the same name: put it in {where} to run the annotated model "
             f"(shapealg, Netron and validate need no weights)", err=True)
