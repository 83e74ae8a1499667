"""Names from a model made safe to print: every control character escaped, long names cut in tables.

A model's node, value and input names are arbitrary strings. Printed raw, a BEL rings the terminal, a CR
overwrites the line, ESC starts an escape sequence, a bidi override reorders what is shown. ``name`` escapes
all of them (``\\x07``, ``\\u202e``) and cuts a name over ``NAME_LIMIT`` characters (the JSON report keeps the
full name); ``terminal`` escapes the control characters of a whole text except its newlines and tabs (what
the command line applies to everything it prints).
"""
from __future__ import annotations

import re

__all__ = ["NAME_LIMIT", "name", "terminal"]

NAME_LIMIT = 200  # characters of a name shown in a table; the JSON report has the whole name

# C0 and C1 controls, DEL, and the invisible format characters that change how a line is displayed
# (directional marks, embeddings, overrides and isolates, line / paragraph separators)
_CONTROLS = "\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069"
_ANY = re.compile(f"[{_CONTROLS}]")
_BUT_LINES = re.compile(f"[{_CONTROLS.replace(chr(0) + '-' + chr(0x1f), chr(0) + '-' + chr(8) + chr(0xb) + '-' + chr(0x1f))}]")


def _esc(m: "re.Match") -> str:
    c = ord(m.group(0))
    return f"\\x{c:02x}" if c < 0x100 else f"\\u{c:04x}"


def name(s, limit: int = NAME_LIMIT) -> str:
    """``s`` with every control character escaped (newlines and tabs too), cut to ``limit`` characters with a
    note of how many were left out (``limit`` 0: not cut)."""
    t = _ANY.sub(_esc, str(s))
    if limit and len(t) > limit:
        t = f"{t[:limit]}...(+{len(t) - limit} chars)"
    return t


def terminal(text) -> str:
    """``text`` with every control character except newline and tab escaped."""
    return _BUT_LINES.sub(_esc, str(text))
