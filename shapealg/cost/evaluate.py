"""Exact, fast evaluation of many formulas at many sizes (for series and plots).

sympy's lambdify prints rationals as floats, and floor((1/3)*H) at H = 3k can then land on k - 1. Here
rationals print as ``Fraction(p, q)``, so floor / ceiling / Mod see exact values and every result is an int.
"""
from __future__ import annotations

import math
from fractions import Fraction
from typing import Callable, List, Mapping, Sequence

import sympy
from sympy.printing.pycode import PythonCodePrinter

from ..dims import symbol

__all__ = ["compile_formulas"]


class _ExactPrinter(PythonCodePrinter):
    def _print_Rational(self, expr):
        return f"Fraction({expr.p}, {expr.q})"

    def _print_Half(self, expr):
        return "Fraction(1, 2)"

    def _print_floor(self, expr):
        return f"math.floor({self._print(expr.args[0])})"

    def _print_ceiling(self, expr):
        return f"math.ceil({self._print(expr.args[0])})"


def _as_int(v):
    """An exact int where the value is one; a finite float otherwise; None where the formula has no value
    (NaN or infinity: a formula with ``zoo`` / ``nan`` in it, from a size divided by 0 in the model)."""
    if v is None:
        return None
    if isinstance(v, Fraction):
        return int(v) if v.denominator == 1 else float(v)
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, float):
        if not math.isfinite(v):
            return None
        return int(v) if v.is_integer() else v
    if isinstance(v, int):
        return v
    try:  # anything else lambdify can give (a complex, a sympy number): a finite real or nothing
        f = float(v)
    except (TypeError, ValueError, OverflowError):
        return None
    return _as_int(f)


def compile_formulas(formulas: Sequence, symbols: Sequence[str]) -> Callable[[Mapping[str, int]], List]:
    """A function env -> [value of each formula] (None stays None). A formula in a symbol not among
    ``symbols`` (a data-dependent size such as ``k_<node>``, known only at run time) has no value: None."""
    syms = [symbol(s) for s in symbols]
    known = set(syms)
    idx, exprs = [], []
    for i, f in enumerate(formulas):
        if f is None:
            continue
        e = sympy.sympify(f)
        if getattr(e, "free_symbols", set()) - known:
            continue  # stays None
        idx.append(i)
        exprs.append(e)
    fn = _lambdify(syms, exprs) if exprs else None
    singles: dict = {}

    def one(j, args):
        """A formula alone, when the batch failed: None where it is undefined (a Mod or a division by a
        size that is 0 there: sizes where the model cannot run)."""
        if j not in singles:
            singles[j] = _lambdify(syms, [exprs[j]])
        try:
            return singles[j](*args)[0]
        except (ZeroDivisionError, ValueError, OverflowError, TypeError):
            return None

    def run(env: Mapping[str, int]) -> List:
        out: List = [None] * len(formulas)
        if fn is None:
            return out
        args = [int(env.get(s, 1)) for s in symbols]
        try:
            vals = fn(*args)
        except (ZeroDivisionError, ValueError, OverflowError, TypeError):
            vals = [one(j, args) for j in range(len(exprs))]
        for i, v in zip(idx, vals):
            out[i] = _as_int(v)
        return out

    return run


def _lambdify(syms, exprs):
    return sympy.lambdify(syms, exprs, modules=[{"Fraction": Fraction, "math": math}, "math"],
                          printer=_ExactPrinter({"fully_qualified_modules": False, "inline": True,
                                                 "allow_unknown_functions": True}), cse=True)
