"""Bounds on the work one analysis may do, so that a hostile or absurd model ends with a note, not a hang.

- ``time_limit(seconds, what)``: a wall-clock limit on a block (nested limits compose: the earliest
  deadline fires). On expiry ``TimeLimitExceeded`` is raised inside the block. It derives from
  ``BaseException`` so that the ``except Exception`` of a rule or of sympy cannot swallow it; the timer
  re-fires every ``REFIRE`` seconds until the block is left, in case something swallows it anyway.
  Uses ``SIGALRM`` / ``setitimer``: on a platform without them, or outside the main thread, the block
  runs unbounded (a no-op, never an error).
- Shape rules have no clock: their work is bounded by the dim algebra's size limits (``algebra.MAX_SIZE``,
  ``algebra.MAX_PRODUCT``; a formula past them becomes unknown with a warning naming the node), and the
  valid-set reasoning by a step count (``domain.budget``), so the same file gives the same answer on any
  machine under any load. A clock is only the last resort for a whole command:
- The CLI's limit for a whole command: ``command_seconds()`` (env ``SHAPEALG_TIME_LIMIT``, default 600 s;
  0 switches it off); on expiry the command ends with a one-line error naming the file and exit status 2.
"""
from __future__ import annotations

import os
import signal
import threading
import time
from contextlib import contextmanager
from typing import Iterator, List, Optional

__all__ = ["TimeLimitExceeded", "time_limit", "answer_ready", "command_seconds", "MAX_RANK", "VALUE_LIMIT"]

VALUE_LIMIT = 4096       # elements: the contents of larger (shape) tensors are not carried
MAX_RANK = 1024          # an output of higher rank (from a malformed shape vector) is read as unknown
REFIRE = 0.5             # seconds between re-raises if an expired limit's exception was swallowed
DEFAULT_COMMAND_SECONDS = 600.0


class TimeLimitExceeded(BaseException):
    """A ``time_limit`` block ran past its deadline. ``what`` names the work, ``seconds`` the limit."""

    def __init__(self, seconds: float, what: str = "", token: object = None):
        super().__init__(f"{what or 'the analysis'} took longer than {seconds:g} s")
        self.seconds = seconds
        self.what = what
        self.token = token


def _env_seconds(name: str, default: float) -> Optional[float]:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        v = float(raw)
    except ValueError:
        return default
    return v if v > 0 else None  # 0 or negative: no limit


def command_seconds() -> Optional[float]:
    """Wall-clock limit for one CLI command (None: unbounded)."""
    return _env_seconds("SHAPEALG_TIME_LIMIT", DEFAULT_COMMAND_SECONDS)


class _Entry:
    __slots__ = ("deadline", "seconds", "what", "token", "foreign")

    def __init__(self, seconds: float, what: str, foreign=None):
        self.deadline = time.monotonic() + seconds
        self.seconds = seconds
        self.what = what
        self.token = object()
        self.foreign = foreign  # a handler installed before ours whose timer was running: called when due


_stack: List[_Entry] = []
_previous_handler = None
_busy = 0  # > 0 while time_limit sets up or tears down its entry: the handler then only re-arms (a limit that
           # expired meanwhile fires right after), so an expiry can never leave a stale entry (and a live timer)


def _usable() -> bool:
    return hasattr(signal, "setitimer") and hasattr(signal, "SIGALRM") and \
        threading.current_thread() is threading.main_thread()


def _handler(signum, frame):
    if _busy:
        return  # the timer re-fires (REFIRE) and time_limit re-arms when it is done
    now = time.monotonic()
    for e in list(_stack):  # the outermost expired limit wins, so an inner one cannot keep an outer one waiting
        if e.deadline <= now:
            if e.foreign is not None:  # someone else's alarm (a test harness...): theirs to handle, once
                _stack.remove(e)
                _arm()
                if callable(e.foreign):
                    e.foreign(signum, frame)
                return
            raise TimeLimitExceeded(e.seconds, e.what, e.token)
    _arm()  # fired early (timer granularity): wait for the rest


def _arm() -> None:
    due = [e.deadline for e in _stack if e.deadline != float("inf")]
    if not due:
        signal.setitimer(signal.ITIMER_REAL, 0)
        return
    left = min(due) - time.monotonic()
    signal.setitimer(signal.ITIMER_REAL, max(left, 0.001), REFIRE)


def answer_ready() -> None:
    """The answer is complete and is being delivered (a file the user asked for is being put in place):
    the limits running now no longer fire, so a command never reports 'incomplete' after its file was
    written. Someone else's timer (a test harness') is left as it is."""
    global _busy
    if not _stack or not _usable():
        return
    _busy += 1
    try:
        for e in _stack:
            if e.foreign is None:
                e.deadline = float("inf")
        _arm()
    finally:
        _busy -= 1


@contextmanager
def time_limit(seconds: Optional[float], what: str = "") -> Iterator[Optional[object]]:
    """Run the block with a wall-clock limit; yields a token that the ``TimeLimitExceeded`` raised for
    *this* limit carries (``e.token is token``), so a caller catches its own expiry and lets an outer
    one pass. ``seconds`` None or <= 0, or no usable timer: no limit (yields None). An ``ITIMER_REAL``
    timer someone else set before is kept: its handler still runs when it is due, and what is left of it
    is set again when the last limit ends."""
    global _previous_handler, _busy
    if seconds is None or seconds <= 0 or not _usable():
        yield None
        return
    entry = _Entry(float(seconds), what)
    foreign = None
    _busy += 1
    try:
        if not _stack:
            _previous_handler = signal.signal(signal.SIGALRM, _handler)
            delay, _interval = signal.setitimer(signal.ITIMER_REAL, 0)
            if delay > 0:
                foreign = _Entry(delay, "", foreign=_previous_handler or True)
                _stack.append(foreign)
        _stack.append(entry)
        _arm()
    finally:
        _busy -= 1
    try:
        yield entry.token
    finally:
        _busy += 1
        try:
            _leave(entry, foreign)
        finally:
            _busy -= 1  # _leave re-armed: a limit that expired while we were busy fires now (1 ms)


def _leave(entry: _Entry, foreign: Optional[_Entry]) -> None:
    global _previous_handler
    if entry in _stack:
        _stack.remove(entry)
    if len(_stack) == 1 and _stack[0].foreign is not None and _stack[0] is foreign:
        # back to the foreign timer alone: give it back to its owner
        left = foreign.deadline - time.monotonic()
        _stack.clear()
        signal.signal(signal.SIGALRM, _previous_handler if _previous_handler is not None else signal.SIG_DFL)
        _previous_handler = None
        signal.setitimer(signal.ITIMER_REAL, max(left, 0.001))
    else:
        _arm()
        if not _stack:
            signal.signal(signal.SIGALRM, _previous_handler if _previous_handler is not None else signal.SIG_DFL)
            _previous_handler = None
