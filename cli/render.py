"""How the command line lays out report blocks (shapealg.report.Line / Table) on a terminal: rich tables that fit
the width (long formulas fold), the verdict coloured (green size-invariant, yellow conditional, red locked or
never valid), plain text when piped or with NO_COLOR. The one place that knows about rich and colour.

Width: ``COLUMNS`` when set, else the terminal's; piped output without ``COLUMNS`` is the plain text renderer
(no wrapping, one line per row: what scripts grep). Colour: only on a terminal, never with ``NO_COLOR`` (any
value) or ``TERM=dumb``.
"""
from __future__ import annotations

import io
import os
import shutil
import sys
from typing import Optional

__all__ = ["VERDICT_STYLES", "colour_wanted", "width_wanted", "render", "show"]

VERDICT_STYLES = {"size-invariant": "bold green", "conditional": "bold yellow", "locked": "bold red",
                  "never-valid": "bold red", "partial": "bold yellow"}
_STYLES = {"head": "bold", "note": "dim", "warn": "yellow", "code": "cyan"}


def colour_wanted(stream=None) -> bool:
    stream = stream or sys.stdout
    if "NO_COLOR" in os.environ or os.environ.get("TERM") == "dumb":
        return False
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def width_wanted(stream=None) -> Optional[int]:
    """The width to lay out at, or None for plain unwrapped text (piped, no COLUMNS)."""
    stream = stream or sys.stdout
    cols = os.environ.get("COLUMNS", "").strip()
    if cols.isdigit() and int(cols) >= 20:
        return int(cols)
    try:
        tty = stream.isatty()
    except (AttributeError, ValueError):
        tty = False
    if tty:
        return max(40, shutil.get_terminal_size((100, 24)).columns)
    return None


def render(blocks, *, width: Optional[int] = None, colour: bool = False) -> str:
    """Blocks as text at ``width`` columns (None: plain, unwrapped), with colour codes only if ``colour``."""
    from shapealg.printable import terminal
    from shapealg.report import Line, Table, plain
    if width is None and not colour:
        return terminal(plain(blocks))
    from rich import box
    from rich.console import Console
    from rich.table import Table as RichTable
    from rich.text import Text
    buf = io.StringIO()
    con = Console(file=buf, width=width or 200, force_terminal=colour, no_color=not colour, color_system=
                  "standard" if colour else None, highlight=False, emoji=False, markup=False, soft_wrap=False,
                  legacy_windows=False)
    for b in blocks:
        if isinstance(b, Table):
            keep = [i for i in range(len(b.header)) if i == 0 or any(str(r[i]).strip() for r in b.rows)]
            if len(keep) < len(b.header):  # a column empty in every row gives its room to the formulas
                b = Table(tuple(b.header[i] for i in keep), tuple(tuple(r[i] for i in keep) for r in b.rows),
                          tuple(keep.index(i) for i in b.right if i in keep), b.title)
            t = RichTable(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, expand=False, title=b.title or None,
                          title_justify="left", header_style="bold" if colour else "")
            # a column keeps room for its longest unbreakable piece (a name, a count, a formula's term) up to a
            # cap, so formulas wrap at their spaces before any piece is folded
            longest = [max([len(str(h))] + [len(w) for r in b.rows for w in str(r[i]).split()] or [0])
                       for i, h in enumerate(b.header)]
            cap = max(10, (width or 200) // (len(b.header) + 1))
            for i, h in enumerate(b.header):
                t.add_column(terminal(h), justify="right" if i in b.right else "left", overflow="fold",
                             no_wrap=False, min_width=min(longest[i], 24 if i == 0 else cap))
            for r in b.rows:
                t.add_row(*[Text(terminal(c)) for c in r])
            con.print(t)
            continue
        style = ""
        if b.style.startswith("verdict:"):
            style = VERDICT_STYLES.get(b.style.split(":", 1)[1], "bold")
        elif colour:
            style = _STYLES.get(b.style, "")
        indent = len(b.text) - len(b.text.lstrip(" "))
        txt = Text(terminal(b.text), style=style if colour else "")
        if b.style.startswith("verdict:") and colour:  # colour the class, keep the words plain
            head, sep, rest = b.text.partition(" - ")
            txt = Text.assemble((terminal(head), style), terminal(sep + rest))
        if indent:
            from rich.padding import Padding
            con.print(Padding(Text(txt.plain.lstrip(" "), style=txt.style) if not b.style.startswith("verdict:")
                              else txt, (0, 0, 0, min(indent, 8))), overflow="fold")
        else:
            con.print(txt, overflow="fold")
    return "\n".join(line.rstrip() for line in buf.getvalue().rstrip("\n").split("\n"))


def show(blocks, err: bool = False) -> None:
    """Print blocks on stdout (or stderr) as the stream allows."""
    import click
    stream = sys.stderr if err else sys.stdout
    text = render(blocks, width=width_wanted(stream), colour=colour_wanted(stream))
    click.echo(text, err=err, color=colour_wanted(stream))
