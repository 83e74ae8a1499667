"""What every command shares: one-line errors with exit status 2, and the --shape / --keep-static options."""
from __future__ import annotations

import contextlib
import os
import sys
import time
from typing import Dict, List, Sequence

import click

# nothing from shapealg (onnx, sympy) is imported before the arguments are parsed: --help and argument errors
# answer at once


def shapealg_error(*a):
    from shapealg.records import ShapealgError
    return ShapealgError(*a)


def echo(text="", err: bool = False) -> None:
    """click.echo with every control character but newline and tab escaped: names from a model never reach
    the terminal raw."""
    from shapealg.printable import terminal
    click.echo(terminal(text), err=err)


def die(msg: str, code: int = 2):
    if "shapealg.printable" in sys.modules:  # loaded by the work: the package's own escaping
        from shapealg.printable import name
        text = name(msg, limit=2000)
    else:  # an argument error before anything was loaded: escape here, do not load onnx and sympy to say it
        text = _escape(msg)[:2000]
    click.echo(f"shapealg: error: {text}", err=True)
    sys.exit(code)


_CONTROL = None


def _escape(s: str) -> str:
    """Every control character (C0, C1, DEL, bidi and line separators) as ``\\xNN`` / ``\\uNNNN`` (as
    shapealg.printable.name does)."""
    import re
    global _CONTROL
    if _CONTROL is None:
        _CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group(0)):02x}" if ord(m.group(0)) < 0x100
                        else f"\\u{ord(m.group(0)):04x}", str(s))


def parse_shapes(items: Sequence[str]) -> Dict[str, List]:
    out: Dict[str, List] = {}
    for it in items:
        if "=" not in it:
            raise shapealg_error(f"--shape {it!r}: expected NAME=d0,d1,... e.g. x=1,3,H,W")
        name, dims = it.split("=", 1)
        parts = [p.strip() for p in dims.split(",")]
        if not name.strip() or not all(parts):
            raise shapealg_error(f"--shape {it!r}: expected NAME=d0,d1,... e.g. x=1,3,H,W")
        if name.strip() in out:
            raise shapealg_error(f"--shape {it!r}: input {name.strip()!r} is given twice")
        out[name.strip()] = [int(p) if p.lstrip("-").isdigit() and p.count("-") <= 1 and len(p) < 40 else p
                             for p in parts]
    return out


_MODEL_KEY = "shapealg.model"


def _remember_model(ctx, param, value):
    """The MODEL argument, kept where Group can name it in error messages (ctx.meta is shared by all contexts)."""
    ctx.meta[_MODEL_KEY] = value[0] if isinstance(value, tuple) and len(value) == 1 else \
        (None if isinstance(value, tuple) else value)
    return value


@contextlib.contextmanager
def progress():
    """What a long step is doing, on stderr, never on stdout: a status line rewritten in place (with the elapsed
    time) on a terminal, plain lines when stderr is piped. Work done within two seconds stays silent (quick
    commands print nothing extra). Yields a function that reports a step by hand. ``SHAPEALG_PROGRESS=0``: off."""
    import threading
    from shapealg.progress import listening
    from shapealg.printable import name
    try:
        tty = sys.stderr.isatty()
    except (AttributeError, ValueError):
        tty = False
    start = time.monotonic()
    lock = threading.Lock()
    state = {"msg": None, "printed": None, "shown": False}
    stop = threading.Event()
    if os.environ.get("SHAPEALG_PROGRESS", "").strip() == "0":
        yield lambda msg: None
        return

    def draw() -> None:  # under the lock
        el = time.monotonic() - start
        msg = state["msg"]
        if msg is None or el < 2:
            return
        if tty:
            line = f"[{el:5.1f} s] {msg}"[:max(20, _term_width() - 1)]
            sys.stderr.write("\r\x1b[2K" + line)
        elif state["printed"] != msg:
            sys.stderr.write(f"shapealg: [{el:.1f} s] {msg}\n")
        else:
            return
        state["printed"] = msg
        state["shown"] = True
        sys.stderr.flush()

    def say(msg: str) -> None:
        with lock:
            state["msg"] = name(msg, 160)
            draw()

    def tick() -> None:
        while not stop.wait(0.5):
            with lock:
                draw()
    th = threading.Thread(target=tick, name="shapealg-progress", daemon=True)
    th.start()
    try:
        with listening(say):
            yield say
    finally:
        stop.set()
        th.join(timeout=1)
        with lock:
            if tty and state["shown"]:
                sys.stderr.write("\r\x1b[2K")
                sys.stderr.flush()


def _term_width() -> int:
    import shutil
    return shutil.get_terminal_size((100, 24)).columns


def _naming_model(ctx, msg: str) -> str:
    """``msg`` prefixed with the model being processed, unless it names it already."""
    model = ctx.meta.get(_MODEL_KEY) if ctx is not None else None
    if model and str(model) not in msg:
        return f"{model}: {msg}"
    return msg


def _one_line(e: BaseException) -> str:
    text = str(e).strip()
    return " ".join(text.splitlines()[0].split()) if text else type(e).__name__


def _os_error_line(ctx, e: OSError) -> str:
    from shapealg.safe_write import io_reason
    if getattr(e, "filename", None):
        return f"{e.filename}: {io_reason(e)}"
    return _naming_model(ctx, f"I/O error: {io_reason(e)}")


# commands that run models (their time is the runtime's, chosen by the user): no default time limit
UNBOUNDED_COMMANDS = {"validate"}


class Group(click.Group):
    """Turns every error into one line on stderr naming the model, and exit status 2; never a traceback.
    The whole command runs under a wall-clock limit (``SHAPEALG_TIME_LIMIT`` seconds, default 600, 0: none;
    ``validate`` and ``profile --validate`` only when SHAPEALG_TIME_LIMIT is set)."""

    def parse_args(self, ctx, args):
        if not args:  # one line, not click's usage block
            die("give a command: analyze, check, cost, validate, export or profile, then a model "
                "(e.g. 'shapealg analyze model.onnx'; see 'shapealg --help')")
        return super().parse_args(ctx, args)

    def invoke(self, ctx):
        args = list(getattr(ctx, "_protected_args", None) or []) + list(ctx.args)
        try:  # the arguments first (--help, a bad option: answered before onnx and sympy are loaded)
            if args:
                name, cmd, rest = self.resolve_command(ctx, list(args))
                if cmd is not None:
                    with cmd.make_context(name, list(rest), parent=ctx):
                        pass
        except click.UsageError as e:
            cmd = e.ctx.command_path if e.ctx is not None and e.ctx.command_path else "shapealg"
            die(f"{' '.join(e.format_message().split())} (see '{cmd} --help')")
        from shapealg.limits import TimeLimitExceeded, command_seconds, time_limit
        limit = command_seconds()
        runs = args and (args[0] in UNBOUNDED_COMMANDS or (args[0] == "profile" and "--validate" in args))
        if runs and not os.environ.get("SHAPEALG_TIME_LIMIT", "").strip():
            limit = None
        try:
            with time_limit(limit, "the command"):
                return super().invoke(ctx)
        except TimeLimitExceeded as e:  # the last-resort clock of the whole command
            die(_naming_model(ctx, f"incomplete: stopped after {e.seconds:g} s, the analysis is too costly to "
                              f"finish (time limit SHAPEALG_TIME_LIMIT={e.seconds:g}; 0 switches it off)"))
        except click.UsageError as e:  # a bad option or argument: one line, not click's usage block
            cmd = e.ctx.command_path if e.ctx is not None and e.ctx.command_path else "shapealg"
            msg = " ".join(e.format_message().split())
            die(f"{msg} (see '{cmd} --help')")
        except (click.exceptions.Exit, click.ClickException, click.exceptions.Abort, SystemExit):
            raise
        except KeyboardInterrupt:
            die("interrupted", 130)
        except BrokenPipeError:  # output piped into `head`: stop quietly, no traceback at exit either
            try:
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            except (OSError, ValueError):
                pass
            sys.exit(1)
        except OSError as e:  # the file system's answer (a missing folder, a full disk, no permission): the user's
            die(_os_error_line(ctx, e))
        except RecursionError:
            die(_naming_model(ctx, "the model is too deeply nested to analyse (recursion limit)"))
        except MemoryError:
            die(_naming_model(ctx, "out of memory while analysing the model"))
        except OverflowError as e:
            die(_naming_model(ctx, f"a number is too large to handle ({_one_line(e)})"))
        except Exception as e:  # noqa: BLE001 - never a traceback for the user
            from shapealg.records import ShapealgError
            if isinstance(e, ShapealgError):
                die(_naming_model(ctx, _one_line(e)))
            die(_naming_model(ctx, f"internal error: {type(e).__name__}: {_one_line(e)} (please report this with the model)"))


shape_option = click.option("--shape", "shapes", multiple=True, metavar="NAME=DIMS",
                            help="Override an input's shape, e.g. x=1,3,H,W (names become symbols).")
keep_static_option = click.option("--keep-static", is_flag=True,
                                  help="Keep spatial dims the file fixes (by default they become H, W / L / D, H, W).")
# a plain string: the reader's own checks (missing, directory, FIFO, not ONNX) give one-line errors naming it
model_argument = click.argument("model", type=str, metavar="MODEL", callback=_remember_model)
models_argument = click.argument("models", type=str, metavar="MODEL...", nargs=-1, required=True,
                                 callback=_remember_model)


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
