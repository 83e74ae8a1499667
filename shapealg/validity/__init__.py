"""Constraints -> the exact set of valid input sizes, in plain words, with a verdict.

How it works (all sizes are positive integers):

* Conditions are deduplicated and split into atoms (the conjuncts of each condition).
* Each atom is compiled once into a small expression tree (``to_ir``) that is evaluated with exact
  integer arithmetic (``floor(n/d)`` as ``n // d`` on a common denominator; numpy int64 arrays, or
  Python ints in object arrays when the magnitudes could overflow). No float ever decides a floor.
* Lower-bound atoms ``E(H) >= c`` with ``E`` non-decreasing in ``H`` (conv / pool outputs >= 1) are
  exactly ``H >= h0``; ``h0`` is found by an exponential + binary search. They cost nothing more.
* The other atoms in one symbol are periodic: with ``M`` the lcm of the denominators of the slopes of
  every floor argument (``floor(floor(H/2)/3)`` has slope 1/6), ``H = M*q + r`` turns each floor
  into ``k*q + floor(const)`` exactly, so each comparison becomes a polynomial in ``q`` per residue
  ``r``. Past the Cauchy root bound of that polynomial its sign is that of the leading coefficient,
  so from ``T = M * max bound`` on, truth depends only on ``H mod M``. Evaluating every
  ``H < T + M`` exactly therefore gives the whole (eventually periodic) set, which is then put in
  canonical form (smallest period, earliest start).
* Atoms in several symbols (``Eq(32*(floor(H/2)-2)*(floor(W/2)-2), 387200)``,
  ``Eq(floor(H/16)*floor(W/16), 196)``) are polynomials in monotone generators (``floor(H/2)``...).
  Shifting each generator by its minimum on the per-symbol set (``g = g_min + t``, ``t >= 0``), an
  equality whose non-constant coefficients all have one sign bounds every ``t`` that has a pure
  power term: that gives finite upper bounds. Inside the bounds the solutions are enumerated exactly
  (a full grid when small, else every value of the other symbols and the linear generator solved
  for, like divisor pairs) and every atom is re-checked on every candidate. A symbol whose own set is
  finite bounds the enumeration too. When the exact solutions are every combination of per-symbol values
  (swin fixed at 224: H and W each in 28..227 with ``% 28 < 4``), they become per-symbol sets, and a finite
  set with a period prints as ``lo <= H <= hi`` and ``H % M < k``.
* A component whose conditions are all congruences (``Mod(P, k) == c`` with P an integer polynomial in floors
  of one symbol's linear forms: ``floor(H/28 + 6/7)*floor(W/28 + 6/7) % 64 == 0``) is periodic in every symbol;
  one period of the grid decides it exactly, and conditions the others imply there are dropped (periodic.py).
* Where none of that applies, a bounded exhaustive evaluation is used, and ``Domain.method`` /
  ``Domain.exact`` say so and up to which bound.
"""
from __future__ import annotations

from ._consts import VERDICTS
from .verdict import analyze_domain
from .ir import Unsupported, cexpr, to_ir
from .result import Domain
from .sets import SymbolSet
from .solve import product_sets

__all__ = ["Domain", "SymbolSet", "analyze_domain", "VERDICTS", "compile_exact", "NotCompilable", "product_sets"]

NotCompilable = Unsupported  # a formula ``compile_exact`` cannot take


def compile_exact(expr):
    """``(fn, den)``: ``fn(env)`` (env: symbol name -> int or numpy int array) times ``1/den`` is ``expr``
    evaluated exactly (floors on a common denominator, no float). Raises NotCompilable."""
    return cexpr(to_ir(expr))
