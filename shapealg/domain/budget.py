"""A time budget for the symbolic reasoning of one ``analyze_domain`` call.

The symbolic steps (periods, proofs by residue classes) check it cooperatively; once spent they raise
``_Unsupported`` and the caller takes its bounded exhaustive fallback, which the result reports as "not
proven". Env ``SHAPEALG_DOMAIN_TIME_LIMIT`` (seconds, default 20; 0 switches it off)."""
from __future__ import annotations

import os
import time
from contextlib import contextmanager
from typing import Iterator, Optional

from .ir import _Unsupported

DEFAULT_SECONDS = 20.0


class BudgetSpent(_Unsupported):
    """The symbolic budget is spent (never cached as a result: a later call has its own budget)."""

_deadline: Optional[float] = None
_spent = False


def seconds() -> Optional[float]:
    raw = os.environ.get("SHAPEALG_DOMAIN_TIME_LIMIT", "").strip()
    try:
        v = float(raw) if raw else DEFAULT_SECONDS
    except ValueError:
        v = DEFAULT_SECONDS
    return v if v > 0 else None


@contextmanager
def budget(limit: Optional[float]) -> Iterator[None]:
    global _deadline, _spent
    prev, prev_spent = _deadline, _spent
    _deadline = None if limit is None else time.monotonic() + limit
    _spent = False
    try:
        yield
    finally:
        _deadline, _spent = prev, prev_spent


def spent() -> bool:
    global _spent
    if _deadline is not None and time.monotonic() > _deadline:
        _spent = True
    return _spent


def check() -> None:
    """Raise _Unsupported once the budget is spent (the caller falls back to a bounded search)."""
    if spent():
        raise BudgetSpent("the time budget of the symbolic analysis is spent")
