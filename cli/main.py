"""``shapealg`` command line: each command composes the library in a few lines and prints."""
from __future__ import annotations

import json
import sys
from typing import Dict, List, Sequence

import click

from shapealg.tensor import ShapealgError


def _die(msg: str, code: int = 2):
    click.echo(f"shapealg: error: {msg}", err=True)
    sys.exit(code)


def _parse_shapes(items: Sequence[str]) -> Dict[str, List]:
    out: Dict[str, List] = {}
    for it in items:
        if "=" not in it:
            raise ShapealgError(f"--shape {it!r}: expected NAME=d0,d1,... e.g. x=1,3,H,W")
        name, dims = it.split("=", 1)
        parts = [p.strip() for p in dims.split(",")]
        if not name.strip() or not all(parts):
            raise ShapealgError(f"--shape {it!r}: expected NAME=d0,d1,... e.g. x=1,3,H,W")
        out[name.strip()] = [int(p) if p.lstrip("-").isdigit() else p for p in parts]
    return out


class _Group(click.Group):
    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except ShapealgError as e:
            _die(str(e).splitlines()[0] if str(e) else type(e).__name__)
        except (click.exceptions.Exit, click.ClickException, click.exceptions.Abort, SystemExit):
            raise
        except KeyboardInterrupt:
            _die("interrupted", 130)
        except Exception as e:  # noqa: BLE001 - never a traceback for the user
            _die(f"internal error: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''} "
                 f"(please report this with the model)")


@click.group(cls=_Group)
@click.version_option(package_name="shapealg")
def main():
    """shapealg: exact shape, parameter and cost formulas of a model, as functions of its input size,
    and the input sizes it can run at."""


_shape_opt = click.option("--shape", "shapes", multiple=True, metavar="NAME=DIMS",
                          help="Override an input's shape, e.g. x=1,3,H,W (names become symbols).")
_nosym_opt = click.option("--keep-static", is_flag=True,
                          help="Keep spatial dims the file fixes (by default they become H, W / L / D, H, W).")


@main.command()
@click.argument("model", type=click.Path(dir_okay=False))
@_shape_opt
@_nosym_opt
@click.option("--format", "fmt", type=click.Choice(["table", "json", "markdown"]), default="table", show_default=True)
def analyze(model, shapes, keep_static, fmt):
    """Per-node output shapes, parameters and MACs as formulas, then the valid input sizes and verdict."""
    from shapealg.analysis import analyze as run
    from shapealg import report
    a = run(model, shapes=_parse_shapes(shapes), symbolize_spatial=not keep_static)
    if fmt == "json":
        click.echo(report.dumps(a))
    elif fmt == "markdown":
        click.echo(report.to_markdown(a))
    else:
        click.echo(report.format_table(a))


@main.command()
@click.argument("model", type=click.Path(dir_okay=False))
@click.option("--size", "sizes", multiple=True, required=True, metavar="HxW",
              help="An input size to check, e.g. 448x448 or H=448,W=320; repeat for several.")
@_shape_opt
@_nosym_opt
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
def check(model, sizes, shapes, keep_static, fmt):
    """Pre-deployment gate: exit 0 when every --size is valid, 1 when any is not, 2 on unusable input."""
    from shapealg.analysis import analyze as run
    from shapealg.sizes import check_sizes, parse_size, spatial_symbols
    a = run(model, shapes=_parse_shapes(shapes), symbolize_spatial=not keep_static)
    spatial = spatial_symbols(a)
    envs = [parse_size(s, spatial, a.symbols) for s in sizes]
    results = check_sizes(a, envs)
    if fmt == "json":
        click.echo(json.dumps({"model": model, "verdict": a.domain.verdict, "valid_if": str(a.domain.valid_if),
                               "sizes": [r.to_json() for r in results]}, indent=2))
    else:
        for r in results:
            label = "x".join(str(r.size[s]) for s in spatial)
            if r.valid:
                click.echo(f"{label}: valid")
                continue
            b = r.blocking
            where = f"{b.node} ({b.op_type}): {b.reason}" if b else "no single constraint (see valid_if)"
            near = ", ".join("x".join(str(n[s]) for s in spatial) for n in r.nearest) or "none"
            click.echo(f"{label}: INVALID at {where}; nearest valid: {near}")
    sys.exit(0 if all(r.valid for r in results) else 1)


if __name__ == "__main__":  # pragma: no cover
    main()
