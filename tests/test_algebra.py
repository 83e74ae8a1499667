"""The dim algebra (shapealg/algebra.py) by property: random formulas of floor / ceiling / Mod / Max / Min /
Piecewise / Abs over several symbols are evaluated at many integer points before and after
canonicalisation, and must agree everywhere; the ranges must contain every value seen."""
import random

import pytest
import sympy

from shapealg.algebra import TooComplex, bounds, canonical
from shapealg.dims import symbol

H, W, L = symbol("H"), symbol("W"), symbol("L")
SYMS = (H, W, L)
POINTS = [(h, w, l) for h in (1, 2, 3, 4, 5, 7, 8, 13, 31, 32, 33, 97, 224, 4097)
          for w, l in ((1, 5), (6, 1), (33, 64))]


def _rand_expr(rng: random.Random, depth: int):
    if depth == 0 or rng.random() < 0.2:
        return rng.choice([*SYMS, sympy.Integer(rng.randint(0, 9))])
    a = _rand_expr(rng, depth - 1)
    k = rng.randint(2, 9)
    op = rng.randrange(11)
    if op == 0:
        return a + _rand_expr(rng, depth - 1)
    if op == 1:
        return a - _rand_expr(rng, depth - 1)
    if op == 2:
        return a * rng.choice([k, -1, _rand_expr(rng, 0)])
    if op == 3:
        return sympy.floor((a + rng.randint(-k, k)) / k)
    if op == 4:
        return sympy.ceiling((a + rng.randint(-k, k)) / k)
    if op == 5:
        return sympy.Mod(a * rng.choice([1, -1, k - 1]), k)
    if op == 6:
        return sympy.Max(a, _rand_expr(rng, depth - 1))
    if op == 7:
        return sympy.Min(a, _rand_expr(rng, depth - 1))
    if op == 8:
        b = _rand_expr(rng, depth - 1)
        return sympy.Piecewise((a, sympy.Ge(b, rng.randint(0, 40))), (b, True))
    if op == 9:
        return sympy.Abs(a - rng.randint(0, 50))
    return a + sympy.Mod(-a, k)  # a window pad


def _value(e, pt):
    v = e.xreplace(dict(zip(SYMS, map(sympy.Integer, pt))))
    assert v.is_number, (e, pt, v)
    return int(v)


@pytest.mark.parametrize("seed", range(30))
def test_canonical_agrees_with_the_formula_everywhere(seed):
    rng = random.Random(seed)
    for _ in range(12):
        e = _rand_expr(rng, rng.randint(1, 5))
        try:
            c = canonical(e)
        except TooComplex:
            continue
        lo, hi = bounds(e)
        for pt in POINTS:
            want = _value(e, pt)
            assert _value(c, pt) == want, f"{e} -> {c} at {pt}"
            assert lo <= want <= hi, f"{e} in [{lo}, {hi}] but {want} at {pt}"
        assert canonical(c) == c, f"not idempotent: {e} -> {c} -> {canonical(c)}"


@pytest.mark.parametrize("expr, want", [
    (sympy.floor(H / 32 + sympy.Rational(31, 32)), "ceiling(H/32)"),
    (sympy.Max(0, sympy.floor(H / 4) - sympy.Min(3, sympy.floor(H / 4))) + sympy.Min(3, sympy.floor(H / 4)),
     "floor(H/4)"),
    (H + sympy.Mod(-H, 7), "7*ceiling(H/7)"),
    (sympy.Mod(7 - sympy.Mod(H, 7), 7) + H, "7*ceiling(H/7)"),
    (sympy.floor(sympy.floor(H / 2) / 4), "floor(H/8)"),
    (sympy.Mod(4 * sympy.floor(H / 4), 4), "0"),
    (sympy.Mod(H, 32), "Mod(H, 32)"),
    (32 * (sympy.floor(H / 2) - 2) * (sympy.floor(W / 2) - 2), "32*(floor(H/2) - 2)*(floor(W/2) - 2)"),
])
def test_canonical_forms_read_as_a_person_writes_them(expr, want):
    c = canonical(expr)
    assert str(c) == want
    for h, w in ((1, 1), (7, 3), (32, 64), (97, 13)):
        assert _value(c, (h, w, 1)) == _value(expr, (h, w, 1))


def test_equal_formulas_from_different_paths_print_equally():
    x = sympy.floor(H / 4)
    pads = [x + sympy.Mod(-x, 7), sympy.Mod(7 - sympy.Mod(x, 7), 7) + x, 7 * sympy.ceiling(x / 7),
            sympy.floor((x + 6) / 7) * 7]
    assert len({str(canonical(p)) for p in pads}) == 1
