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
        c = _agrees_at(e, POINTS)
        if c is not None:
            assert canonical(c) == c, f"not idempotent: {e} -> {c} -> {canonical(c)}"


def _agrees_at(e, points, where: str = ""):
    """canonical(e), checked equal to e and inside e's bounds at every point; None past the work limit."""
    try:
        c = canonical(e)
    except TooComplex:
        return None
    lo, hi = bounds(e)
    for pt in points:
        want = _value(e, pt)
        assert _value(c, pt) == want, f"{e} -> {c} at {pt}{where}"
        assert lo <= want <= hi, f"{e} in [{lo}, {hi}] but {want} at {pt}{where}"
    return c


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


# ------------------------------------------------------------------ lower bounds proved on the way (issue 12)
from shapealg import algebra as _alg  # noqa: E402
from shapealg.dims import simplify_bool  # noqa: E402


def test_assumed_lower_bound_decides_a_mod_by_a_symbolic_divisor_only_inside():
    q = 7 * sympy.floor(H / 28 + sympy.Rational(6, 7))  # 0 at H <= 3, >= 7 from H = 4 on
    e = sympy.Min(sympy.Mod(3, q), q)
    assert canonical(sympy.Mod(3, q)) != 3  # H = 1..3: the divisor is 0
    with _alg.assuming({"H": 4}):
        assert canonical(sympy.Mod(3, q)) == 3
        assert canonical(sympy.Mod(-3, q)) == q - 3
        assert bounds(H) == (4, _alg.INF)
        for h in range(4, 400, 7):  # what it says holds at every size the bound allows
            assert _value(canonical(e), (h, 1, 1)) == _value(e, (h, 1, 1))
    # restored: the answer outside never depends on what was computed inside
    assert bounds(H) == (1, _alg.INF) and canonical(sympy.Mod(3, q)) != 3


def test_mod_by_a_symbolic_divisor_is_bounded_by_it():
    x = sympy.floor(H / 4)
    with _alg.assuming({"H": 4}):
        m = sympy.Mod(-3, x)
        assert canonical(sympy.Min(m, x)) == canonical(m)  # Mod(a, x) <= x - 1
        assert canonical(sympy.Max(0, x - m)) == canonical(x - m)
        for h in range(4, 300):
            assert _value(canonical(sympy.Max(0, x - m) + sympy.Max(0, m)), (h, 1, 1)) == h // 4


def test_least_satisfying_is_the_first_size_that_passes():
    c = sympy.Ge(sympy.floor((H - 4) / 4) + 1, 1)
    assert _alg.least_satisfying(c, "H", 1) == 4
    assert _alg.least_satisfying(sympy.Eq(sympy.Mod(H, 32), 0), "H", 1) == 32
    assert _alg.least_satisfying(sympy.Ge(H, 10 ** 6), "H", 1, steps=10) == 12  # not found: past the steps


@pytest.mark.parametrize("seed", range(8))
def test_equations_keep_their_set_of_sizes(seed):
    rng = random.Random(1000 + seed)
    for _ in range(10):
        a, b = _rand_expr(rng, 3), _rand_expr(rng, 3)
        k = rng.choice([1, 7, 64])
        for lhs, rhs in ((a, b), (k * a, k * b), (k * sympy.Mod(a, 4), 0), (4 * sympy.floor(a / 4), a)):
            try:
                c = simplify_bool(sympy.Eq(lhs, rhs))
            except TooComplex:
                continue
            for pt in POINTS:
                env = dict(zip(SYMS, map(sympy.Integer, pt)))
                want = bool(sympy.Eq(lhs.xreplace(env) if isinstance(lhs, sympy.Basic) else lhs,
                                     rhs.xreplace(env) if isinstance(rhs, sympy.Basic) else rhs))
                got = c if isinstance(c, bool) else bool(c.xreplace(env))
                assert got == want, (lhs, rhs, c, pt)


def test_one_spelling_per_equation():
    x = sympy.floor(H / 28 + sympy.Rational(6, 7)) * sympy.floor(W / 28 + sympy.Rational(6, 7))
    a = simplify_bool(sympy.Eq(64 * sympy.floor(x / 64), x))
    b = simplify_bool(sympy.Eq(7203 * sympy.Mod(x, 64), 0))
    assert a == b and isinstance(a.lhs, sympy.Mod)
    # a Linear's feature count stays as written
    f = simplify_bool(sympy.Eq(32 * (sympy.floor(H / 2) - 2) * (sympy.floor(W / 2) - 2), 387200))
    assert 387200 in (f.lhs, f.rhs)


def test_floor_quotient_equation_is_solved_for_the_divisor():
    x = H * W
    for c, k in ((768, 768), (1536, 384), (768, 3), (768, 0), (768, 100), (10, 2)):
        cond = simplify_bool(sympy.Eq(sympy.floor(c / x), k))
        for v in range(1, 2000):
            got = bool(cond.xreplace({H: v, W: 1})) if not isinstance(cond, bool) and cond not in (
                sympy.true, sympy.false) else bool(cond)
            assert got == (c // v == k), (c, k, v, cond)


def test_the_walker_proves_lower_bounds_from_the_model_graph_only():
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    from shapealg.infer import infer
    w = numpy_helper.from_array(np.zeros((8, 3, 4, 4), np.float32), "w")
    g = helper.make_graph(
        [helper.make_node("Conv", ["x", "w"], ["y"], kernel_shape=[4, 4], strides=[4, 4], name="patch")],
        "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, "H", "W"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], [w])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    r = infer(m)
    assert dict(r.assumed) == {"H": 4, "W": 4}
    assert bounds(H) == (1, _alg.INF)  # restored after the walk


# ------------------------------------------------------------------ residues proved on the way (issue 12, MaxViT)
def _allowed(M, R, lo=1, n=60):
    """The first n sizes >= lo whose residue mod M is in R, and a few far ones."""
    out = [h for h in range(lo, lo + 40 * M) if h % M in R][:n]
    return out + [h for h in range(5000 * M, 5000 * M + 3 * M) if h % M in R]


@pytest.mark.parametrize("seed", range(24))
def test_residue_facts_keep_every_formula_at_every_allowed_size(seed):
    rng = random.Random(5000 + seed)
    M = rng.choice([2, 4, 8, 16, 32, 64])
    w = rng.randint(1, M - 1)
    c0 = rng.randrange(M)
    R = tuple(sorted((c0 + j) % M for j in range(w)))
    if rng.random() < 0.25:  # not one run: only the lower bound is used
        R = tuple(sorted(set(R) | {(c0 + w + 1) % M})) if w + 1 < M - 1 else R
    hs = _allowed(M, set(R))
    with _alg.assuming({}, {"H": (M, R)}):
        assert bounds(H)[0] == hs[0]
        for _ in range(12):
            e = _rand_expr(rng, rng.randint(1, 5))
            c = _agrees_at(e, [(h, *wl) for h in hs[::3] for wl in ((1, 5), (33, 64))], f" with H % {M} in {R}")
            if c is None:
                continue
            if _idempotent_outside(e):
                assert canonical(c) == c, f"not idempotent: {e} -> {c} -> {canonical(c)}"


def _idempotent_outside(e) -> bool:
    """Idempotent without the facts (a few random Abs / Max trees are not, with or without them)."""
    with _alg.assuming():
        try:
            c = canonical(e)
            return canonical(c) == c
        except TooComplex:
            return False


def test_residue_facts_turn_a_window_partition_into_one_block_index():
    P = lambda t: sympy.sympify(t, locals={"H": H, "W": W})  # noqa: E731
    R = (0, 29, 30, 31)  # Mod(ceiling(H/4), 8) == 0
    with _alg.assuming({}, {"H": (32, R)}):
        assert bounds(H)[0] == 29
        assert canonical(P("ceiling(H/4)")) == P("8*ceiling(H/32)")
        assert canonical(P("floor(ceiling(H/4)/8)")) == P("ceiling(H/32)")
        assert canonical(P("Mod(ceiling(H/4), 8)")) == 0
        pw = P("Piecewise((ceiling(H/4), Eq(floor(H/32 + 3/32), 0)), (floor(H/32 + 3/32), True))")
        assert canonical(pw) == P("ceiling(H/32)")
        assert str(canonical(P("floor(H/2)"))) == "floor(H/2)"  # not constant on a run: kept
    assert canonical(P("ceiling(H/4)")) == P("ceiling(H/4)")  # restored


def test_restrict_intersects_residues_and_raises_the_lower_bound():
    with _alg.assuming() as a:
        assert a.restrict("H", 32, (0, 29, 30, 31))
        assert a.lower["H"] == 29
        assert not a.restrict("H", 32, (0, 29, 30, 31, 5))  # nothing new
        assert a.restrict("H", 64, (0, 57, 58, 59, 60, 61, 62, 63))
        assert a.residues["H"] == (64, (0, 61, 62, 63)) and a.lower["H"] == 61
        assert not a.restrict("H", 64, (1,))  # empty: refused
    assert bounds(H) == (1, _alg.INF)


def _window_model():
    """x [1, 4, H, W] viewed as [1, 4, H//8, 8, W//8, 8] (the target computed from x's shape, as exporters do),
    then pooled 8x8 with ceil_mode: its ceiling(H/8) is H/8 once the view proved H % 8 == 0."""
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper
    c = lambda name, v: numpy_helper.from_array(np.array(v, np.int64), name)  # noqa: E731
    nodes = [
        helper.make_node("Shape", ["x"], ["s"], name="shape"),
        helper.make_node("Gather", ["s", "i2"], ["h"], axis=0, name="gh"),
        helper.make_node("Gather", ["s", "i3"], ["w"], axis=0, name="gw"),
        helper.make_node("Div", ["h", "eight"], ["hb"], name="dh"),
        helper.make_node("Div", ["w", "eight"], ["wb"], name="dw"),
        helper.make_node("Concat", ["one", "four", "hb", "eight", "wb", "eight"], ["t"], axis=0, name="cat"),
        helper.make_node("Reshape", ["x", "t"], ["y"], name="view"),
        helper.make_node("AveragePool", ["x"], ["p"], kernel_shape=[8, 8], strides=[8, 8], ceil_mode=1,
                         name="pool"),
        helper.make_node("Mul", ["p", "p"], ["q"], name="after"),
    ]
    inits = [c("i2", [2]), c("i3", [3]), c("eight", [8]), c("one", [1]), c("four", [4])]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, "H", "W"])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None),
                           helper.make_tensor_value_info("q", TensorProto.FLOAT, None)], inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


def test_the_walker_proves_residues_from_a_product_equation():
    from shapealg.infer import infer
    r = infer(_window_model())
    assert dict(r.residues) == {"H": (8, (0,)), "W": (8, (0,))}
    assert dict(r.assumed) == {"H": 8, "W": 8}
    assert r.shape("q")[2:] == (sympy.floor(H / 8), sympy.floor(W / 8))  # ceiling(H/8) where H % 8 == 0
    assert canonical(sympy.ceiling(H / 8)) == sympy.ceiling(H / 8)  # restored after the walk
