"""A work budget for the symbolic reasoning of one ``analyze_domain`` call (validity/verdict.py).

The symbolic steps (periods, proofs by residue classes) count their steps with ``check()``; once
``MAX_STEPS`` are spent they raise ``Unsupported`` and the caller takes its bounded exhaustive fallback,
which the result reports as "not proven". The budget counts work, never seconds, so the same model gets
the same answer on any machine under any load; a memoised step (``charged``) costs what it cost the first
time, so the answer does not depend on what the process analysed before either.
Env ``SHAPEALG_VALIDITY_STEPS`` (default 200000; 0 switches it off)."""
from __future__ import annotations

import functools
import os
from contextlib import contextmanager
from typing import Iterator, Optional

from .ir import Unsupported

DEFAULT_STEPS = 200_000


class BudgetSpent(Unsupported):
    """The symbolic budget is spent (never cached as a result: a later call has its own budget)."""


_limit: Optional[int] = None
_used = 0
_spent = False


def steps() -> Optional[int]:
    raw = os.environ.get("SHAPEALG_VALIDITY_STEPS", "").strip()
    try:
        v = int(raw) if raw else DEFAULT_STEPS
    except ValueError:
        v = DEFAULT_STEPS
    return v if v > 0 else None


@contextmanager
def budget(limit: Optional[int]) -> Iterator[None]:
    global _limit, _used, _spent
    prev = _limit, _used, _spent
    _limit, _used, _spent = limit, 0, False
    try:
        yield
    finally:
        _limit, _used, _spent = prev


def spent() -> bool:
    return _spent


def charge(n: int) -> None:
    """Count n steps; raise once the budget is spent (the caller falls back to a bounded search)."""
    global _used, _spent
    _used += n
    if _limit is not None and _used > _limit:
        _spent = True
    if _spent:
        raise BudgetSpent(f"the symbolic analysis used its {_limit} steps (SHAPEALG_VALIDITY_STEPS)")


def check() -> None:
    """One step."""
    charge(1)


def charged(fn):
    """Memoise fn and charge a cached answer the steps it took when it was computed."""
    memo: dict = {}

    @functools.wraps(fn)
    def wrapper(*args):
        hit = memo.get(args)
        if hit is not None:
            charge(hit[1])
            return hit[0]
        before = _used
        out = fn(*args)
        if len(memo) < 100_000:
            memo[args] = (out, _used - before)
        return out
    wrapper.cache_clear = memo.clear
    return wrapper
