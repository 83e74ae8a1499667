"""What every command shares: one-line errors with exit status 2, and the --shape / --keep-static options."""
from __future__ import annotations

import sys
from typing import Dict, List, Sequence

import click

from shapealg.tensor import ShapealgError


def die(msg: str, code: int = 2):
    click.echo(f"shapealg: error: {msg}", err=True)
    sys.exit(code)


def parse_shapes(items: Sequence[str]) -> Dict[str, List]:
    out: Dict[str, List] = {}
    for it in items:
        if "=" not in it:
            raise ShapealgError(f"--shape {it!r}: expected NAME=d0,d1,... e.g. x=1,3,H,W")
        name, dims = it.split("=", 1)
        parts = [p.strip() for p in dims.split(",")]
        if not name.strip() or not all(parts):
            raise ShapealgError(f"--shape {it!r}: expected NAME=d0,d1,... e.g. x=1,3,H,W")
        if name.strip() in out:
            raise ShapealgError(f"--shape {it!r}: input {name.strip()!r} is given twice")
        out[name.strip()] = [int(p) if p.lstrip("-").isdigit() and p.count("-") <= 1 and len(p) < 40 else p
                             for p in parts]
    return out


class Group(click.Group):
    """Turns every error into one line on stderr and exit status 2; never a traceback."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except ShapealgError as e:
            die(str(e).splitlines()[0] if str(e) else type(e).__name__)
        except click.UsageError as e:  # a bad option or argument: one line, not click's usage block
            cmd = e.ctx.command_path if e.ctx is not None and e.ctx.command_path else "shapealg"
            msg = " ".join(e.format_message().split())
            die(f"{msg} (see '{cmd} --help')")
        except (click.exceptions.Exit, click.ClickException, click.exceptions.Abort, SystemExit):
            raise
        except KeyboardInterrupt:
            die("interrupted", 130)
        except RecursionError:
            die("the model is too deeply nested to analyse (recursion limit)")
        except MemoryError:
            die("out of memory while analysing the model")
        except Exception as e:  # noqa: BLE001 - never a traceback for the user
            first = str(e).splitlines()[0] if str(e) else ""
            die(f"internal error: {type(e).__name__}: {first} (please report this with the model)")


shape_option = click.option("--shape", "shapes", multiple=True, metavar="NAME=DIMS",
                            help="Override an input's shape, e.g. x=1,3,H,W (names become symbols).")
keep_static_option = click.option("--keep-static", is_flag=True,
                                  help="Keep spatial dims the file fixes (by default they become H, W / L / D, H, W).")
# a plain string: the reader's own checks (missing, directory, FIFO, not ONNX) give one-line errors naming it
model_argument = click.argument("model", type=str, metavar="MODEL")
