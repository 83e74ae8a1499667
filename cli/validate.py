"""``shapealg validate``: the formulas and the valid set against real runs."""
from __future__ import annotations

import json
import sys

import click



from .analyze import input_option, load_model
from .common import shapealg_error, echo, keep_static_option, model_argument, shape_option
from .common import progress as status_line


@click.command()
@model_argument
@click.option("--size", "sizes", multiple=True, metavar="HxW",
              help="A size to run, e.g. 448x448 or H=448,W=320; repeat for several.")
@click.option("--sample", type=click.IntRange(min=1), default=None, metavar="N",
              help="Run N random sizes (seeded) instead of the chosen ones.")
@click.option("--max-sizes", type=click.IntRange(min=1), default=None, metavar="N",
              help="Cap the number of sizes validate chooses by itself.")
@click.option("--device", type=click.Choice(["cpu", "cuda"]), default="cpu", show_default=True)
@click.option("--runtime", type=click.Choice(["onnxruntime", "torch", "both"]), default=None,
              help="Default: both for MODEL given as file.py:factory, onnxruntime for an ONNX file (torch / both then "
                   "need --module file.py:factory).")
@click.option("--module", "module_spec", default=None, metavar="FILE.py:FACTORY",
              help="The torch module the file was exported from: FACTORY() must return it.")
@click.option("--memory-budget", type=click.FloatRange(min=0), default=512, show_default=True, metavar="MIB",
              help="Skip sizes whose predicted activations exceed this many MiB (0: no limit).")
@shape_option
@keep_static_option
@input_option
@click.option("--format", "fmt", type=click.Choice(["table", "json", "markdown"]), default="table", show_default=True)
def validate(model, sizes, sample, max_sizes, device, runtime, module_spec, memory_budget, shapes, keep_static,
             input_shape, fmt):
    """Run MODEL (an ONNX file, or file.py:factory giving a torch module that shapealg exports) in
    onnxruntime and torch at many sizes and compare every intermediate shape with its formula (and, for a
    module, every submodule's output through forward hooks); sizes predicted invalid must fail where
    predicted. Without --size / --sample the sizes are chosen from the analysis: boundaries, residues,
    primes, finite-set points, large sizes within the memory budget.

    Exit 0 when everything agrees (failures as predicted included), 1 on any mismatch or surprise,
    2 on unusable input.
    """
    from shapealg.source import factory_module, is_factory_spec
    from shapealg.validate import check_device, choose_sizes, sample_sizes
    from shapealg.validate import validate as run

    factory = is_factory_spec(model)
    runtime = runtime or ("both" if factory else "onnxruntime")
    if runtime != "onnxruntime" and not (factory or module_spec):
        raise shapealg_error(f"--runtime {runtime} needs the torch module: MODEL as file.py:factory, or "
                            "--module path/to/file.py:factory (or the Python API: validate(..., module=m))")
    if factory and module_spec:
        raise shapealg_error("MODEL is file.py:factory already: leave --module out")
    check_device(device, runtime)
    module = factory_module(module_spec) if module_spec else None
    budget = int(memory_budget * 2 ** 20) if memory_budget else None
    with status_line():
        a = load_model(model, shapes, keep_static, input_shape, weights=True)
    target = a.module if factory else a.source
    if sizes:
        plan = list(sizes)
    elif sample:
        plan = list(sample_sizes(a, sample, memory_budget=budget))
    else:
        plan = list(choose_sizes(a, n=max_sizes, memory_budget=budget))

    bars = []

    def progress(done, total, outcome):  # the bar starts with the first finished size
        if total > 3 and not bars:
            bars.append(click.progressbar(length=total, label="validating", file=sys.stderr))
            bars[0].__enter__()
        if bars:
            bars[0].update(1)
    try:
        rep = run(target, sizes=plan, device=device, runtime=runtime, module=module, progress=progress,
                  analysis=a, memory_budget=budget)
    finally:
        if bars:
            bars[0].__exit__(None, None, None)
    if fmt == "json":
        echo(json.dumps(rep.to_json(), indent=2))
    else:
        if fmt == "markdown":
            from shapealg.report import markdown
            echo(markdown(rep.blocks()))
        else:
            from .render import show
            show(rep.blocks())
        for w in rep.warnings:
            echo(f"warning: {w}", err=True)
    sys.exit(0 if rep.ok else 1)
