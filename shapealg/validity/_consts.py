"""Limits of the domain analysis."""
from ..enums import Verdict

VERDICTS = tuple(Verdict.order())  # from the most permissive to the least

DEFAULT_BOUND_1D = 4096      # exhaustive fallback for one symbol
DEFAULT_BOUND_ND = 1024      # exhaustive fallback per symbol for a component of several
GRID_LIMIT = 4_000_000       # points evaluated at once in an enumeration
SCAN_LIMIT = 20_000_000      # largest exact 1-D scan (T + M) before giving up on a symbol
INT64_SAFE = 2 ** 62
SYMPY_LIMIT = 20_000        # points of a fallback search that has to evaluate a condition with sympy (slow)
