"""``shapealg profile``: deployment profiles (min / opt / max in the valid set) in each runtime's syntax."""
from __future__ import annotations

import json
import os
import re
import sys

import click

from .analyze import input_option, load_model
from .common import echo, keep_static_option, model_argument, shape_option


def _parse_range(items, spatial, names):
    from shapealg.records import ShapealgError
    out = {}
    for it in items:
        m = re.fullmatch(r"\s*(?:([A-Za-z_][A-Za-z0-9_]*)\s*=)?\s*(\d+)\s*:\s*(\d+)\s*", it)
        if not m:
            raise ShapealgError(f"--range {it!r}: expected e.g. H=224:1024 (or 224:1024 for every spatial size)")
        lo, hi = int(m.group(2)), int(m.group(3))
        keys = [m.group(1)] if m.group(1) else list(spatial)
        if not keys:
            raise ShapealgError(f"--range {it!r}: the model has no spatial size; name one: {', '.join(names)}")
        for k in keys:
            if k not in names:
                raise ShapealgError(f"--range {it!r}: the model has no dynamic size {k!r} "
                                    f"(its dynamic sizes: {', '.join(names) or 'none'})")
            if lo < 1 or hi < lo:
                raise ShapealgError(f"--range {it!r}: expected 1 <= lo <= hi")
            out[k] = (lo, hi)
    return out


def _parse_sizes(text, spatial, names, what):
    from shapealg.sizes import parse_size_text
    return parse_size_text(text, spatial, names, what)


@click.command("profile")
@model_argument
@click.option("--range", "ranges", multiple=True, metavar="SYM=LO:HI",
              help="The range of one dynamic size, e.g. H=224:1024 (LO:HI alone: every spatial size); repeatable.")
@click.option("--opt", "opt", default=None, metavar="HxW",
              help="The size to optimise for, e.g. 640x640 or H=640,N=4 (default: the size the model was traced at).")
@click.option("--max-profiles", type=click.IntRange(min=1), default=4, show_default=True,
              help="At most this many profiles (one per part of the valid set); the parts left out are named.")
@click.option("--cover", is_flag=True,
              help="One profile over each size's whole valid range (invalid sizes inside named) instead of one per part.")
@click.option("--memory-limit", default=None, metavar="BYTES",
              help="e.g. 8GiB: lower each profile's max until peak live activations + weights fit.")
@click.option("--prepare", "prepare", multiple=True, metavar="HxW",
              help="Input preparation for an input of this size (pad / resize-pad / crop, with code); repeatable.")
@click.option("--validate", "do_validate", is_flag=True,
              help="Run onnxruntime at every profile's min / opt / max and at sampled valid and invalid sizes.")
@click.option("--samples", type=click.IntRange(min=0), default=4, show_default=True,
              help="With --validate: valid and invalid sizes sampled per profile.")
@click.option("--memory-budget", type=click.FloatRange(min=0), default=2048, show_default=True, metavar="MIB",
              help="With --validate: skip sizes whose predicted activations exceed this many MiB (0: no limit).")
@click.option("--model-path", default=None, metavar="PATH",
              help="The model path written into the commands (default: MODEL for a file, else model.onnx).")
@shape_option
@keep_static_option
@input_option
@click.option("--format", "fmt", type=click.Choice(["text", "json", "markdown"]), default="text", show_default=True)
@click.option("-o", "--output", "output", default=None, metavar="FILE", help="Write the report to FILE (whole or not at all).")
def profile_command(model, ranges, opt, max_profiles, cover, memory_limit, prepare, do_validate, samples,
                    memory_budget, model_path, shapes, keep_static, input_shape, fmt, output):
    """Deployment profiles of MODEL: min / opt / max of every dynamic size, all inside the valid set, written as
    trtexec flags, onnxruntime TensorRT / CUDA provider options, OpenVINO bounds, torch.export dynamic_shapes and
    JSON; which sizes inside each box are invalid; memory at each max; how to prepare an input of any size.

    Exit 0 (with --validate: 1 when a run disagrees with the report), 2 on unusable input. MODEL is an ONNX file
    or path/to/file.py:factory (shapealg IMPORTS AND RUNS file.py: only use files you trust)."""
    from shapealg.profile import check_profiles, parse_bytes, profile
    from shapealg.records import ShapealgError
    from shapealg.profile.profiles import dynamic_sizes
    from shapealg.profile.text import format_markdown, format_text
    from shapealg.safe_write import same_file
    from shapealg.source import is_factory_spec
    if output and (same_file(output, model) or os.path.abspath(output) == os.path.abspath(model)):
        raise ShapealgError(f"-o {output}: is the input model; write the report elsewhere")
    limit = parse_bytes(memory_limit) if memory_limit else None
    a = load_model(model, shapes, keep_static, input_shape, weights=do_validate)
    names, roles = dynamic_sizes(a)
    spatial = [n for n in names if roles[n] == "spatial"]
    rng = _parse_range(ranges, spatial, names)
    optv = _parse_sizes(opt, spatial, names, "--opt") if opt else None
    r = profile(analysis=a, ranges=rng, opt=optv, max_profiles=max_profiles, memory_limit=limit, cover=cover)
    preps = []
    for p in prepare:
        size = _parse_sizes(p, spatial, spatial, "--prepare")
        preps.append((size, r.prepare(size)))
    check = None
    if do_validate:
        budget = int(memory_budget * 2 ** 20) if memory_budget else None
        check = check_profiles(r, per_profile=samples, memory_budget=budget)
    path = model_path or (model if not is_factory_spec(model) else "model.onnx")
    if fmt == "json":
        out = r.to_json(path)
        if preps:
            out["prepare"] = [{"size": s, "policies": [q.to_json() for q in ps]} for s, ps in preps]
        if check is not None:
            out["validation"] = check.to_json()
        text = json.dumps(out, indent=2) + "\n"
    elif fmt == "markdown":
        text = format_markdown(r, check, preps, path)
    else:
        text = format_text(r, check, preps, path)
    if output:
        from shapealg.safe_write import atomic_write
        atomic_write(output, lambda f: f.write(text.encode("utf-8")))
        echo(f"wrote {output}: {len(r.profiles)} profile(s)", err=True)
    else:
        echo(text.rstrip("\n"))
    if check is not None and not check.ok:
        sys.exit(1)
