"""shapealg.validity against brute force.

Two independent references: (1) the raw constraint conditions evaluated exactly with Python
``Fraction`` arithmetic (a lambdify printer that writes rationals as ``Fraction(p, q)``), and (2) for
the large finite sets, the model's size chain recomputed with numpy integer division over the whole
range the set lives in. The analysis is checked through ``Domain.predicts`` (membership in the
computed set), ``valid_if`` (evaluated, never compared as a string) and the finite sets / counts.
"""
from __future__ import annotations

import math
import time
from fractions import Fraction

import numpy as np
import pytest
import sympy
from sympy.printing.pycode import PythonCodePrinter

from shapealg.dims import ceildiv, floordiv, mod, symbol
from sympy import floor
from shapealg.validity import Domain, analyze_domain
from shapealg.formulas import conv_out, pool_out
from shapealg.records import Constraint

H, W, N = symbol("H"), symbol("W"), symbol("N")


# ------------------------------------------------------------------ exact reference evaluator

class _FracPrinter(PythonCodePrinter):
    def _print_Rational(self, e):
        return f"Fraction({e.p}, {e.q})"

    def _print_Integer(self, e):
        return str(e.p)

    def _print_Mod(self, e):
        a, b = e.args
        return f"(({self._print(a)}) % ({self._print(b)}))"


def exact_fn(cond, names=("H", "W")):
    """Exact Python evaluator of a sympy boolean at integer sizes (independent of shapealg)."""
    syms = [symbol(n) for n in names]
    if cond is sympy.true or cond is True:
        return lambda *a: True
    if cond is sympy.false or cond is False:
        return lambda *a: False
    f = sympy.lambdify(syms, cond, modules=[{"Fraction": Fraction, "floor": math.floor,
                                             "ceiling": math.ceil}, "math"],
                       printer=_FracPrinter({"fully_qualified_modules": False, "inline": True,
                                             "allow_unknown_functions": True}))
    return lambda *a: bool(f(*a))


def raw_fn(constraints, names=("H", "W")):
    fs = [exact_fn(c.condition, names) for c in constraints]
    return lambda *a: all(f(*a) for f in fs)


def C(cond, node, op="Op", reason="test"):
    return Constraint(node, op, cond, reason)


def positive(cs, node, op, *dims):
    for d in dims:
        cond = sympy.Ge(d, 1)
        if cond is not sympy.true:
            cs.append(C(cond, node, op, f"{d} must be >= 1"))


SAMPLE_1D = list(range(1, 301)) + [511, 512, 513, 997, 1021, 1024, 1025, 2048, 4096, 4099, 10007,
                                     65536, 65537, 2 ** 20, 2 ** 20 + 3, 1_000_003]
SAMPLE_2D = [(h, w) for h in range(1, 121) for w in range(1, 121)] + \
    [(h, w) for h in (128, 160, 192, 224, 225, 239, 240, 255, 256, 300, 448, 1021, 4096, 10007)
     for w in (96, 128, 200, 224, 231, 256, 384, 448, 997, 4096, 65537)]


def check_against(dom: Domain, cs, names, points):
    """predicts == contains == valid_if == raw conditions at every point."""
    raw = raw_fn(cs, names)
    vif = exact_fn(dom.valid_if, names)
    bad = []
    for p in points:
        env = dict(zip(names, p))
        r = raw(*p)
        got = (dom.predicts(env), dom.contains(env), vif(*p))
        if got != (r, r, r):
            bad.append((p, r, got))
    assert not bad, f"mismatches (point, raw, (predicts, contains, valid_if)): {bad[:10]}"


# ------------------------------------------------------------------ model constraint chains

def seed_constraints():
    """conv3x3 p1 (3->16) -> relu -> maxpool2 -> conv5x5 p1 (16->32) -> flatten -> Linear(387200)."""
    cs = []
    h, w = conv_out(H, 3, 1, 1), conv_out(W, 3, 1, 1)
    positive(cs, "conv1", "Conv", h, w)
    h, w = pool_out(h, 2), pool_out(w, 2)
    positive(cs, "pool", "MaxPool", h, w)
    h, w = conv_out(h, 5, 1, 1), conv_out(w, 5, 1, 1)
    positive(cs, "conv2", "Conv", h, w)
    flat = sympy.expand(32 * h * w)
    cs.append(C(sympy.Eq(flat, 387200), "fc", "Gemm", "flattened features must equal in_features 387200"))
    return cs


def seed_numpy(hs):
    """The same chain in numpy integer arithmetic: the flattened feature count and validity of dims."""
    a = (hs + 2 - 3) // 1 + 1
    ok = a >= 1
    a = (a - 2) // 2 + 1
    ok &= a >= 1
    a = (a + 2 - 5) // 1 + 1
    ok &= a >= 1
    return a, ok


def vit_constraints(patch=16, tokens=196):
    cs = []
    h, w = conv_out(H, patch, patch), conv_out(W, patch, patch)
    positive(cs, "patch_embed", "Conv", h, w)
    n = sympy.expand(h * w) + 1
    cs.append(C(sympy.Eq(n, tokens + 1) | sympy.Eq(n, 1) | sympy.Eq(sympy.Integer(tokens + 1), 1),
                "pos_add", "Add", "broadcast of the token count with the position embedding"))
    return cs


def unet_constraints(depth=4):
    cs = []
    enc = [(H, W)]
    h, w = H, W
    for i in range(depth):
        h, w = conv_out(h, 3, 1, 1), conv_out(w, 3, 1, 1)
        positive(cs, f"enc{i}.conv", "Conv", h, w)
        enc[-1] = (h, w)
        h, w = pool_out(h, 2), pool_out(w, 2)
        positive(cs, f"enc{i}.pool", "MaxPool", h, w)
        enc.append((h, w))
    for i in reversed(range(depth)):
        uh, uw = 2 * h, 2 * w  # ConvTranspose k2 s2
        sh, sw = enc[i]
        for u, s in ((uh, sh), (uw, sw)):
            cond = sympy.Eq(u, s)
            if cond is not sympy.true:
                cs.append(C(cond, f"dec{i}.concat", "Concat", "skip and upsampled dims must match"))
        h, w = sh, sw
    return cs


def ceil_pool_constraints():
    cs = []
    h = H
    h = conv_out(h, 3, 1, 0)
    positive(cs, "c1", "Conv", h)
    h = pool_out(h, 3, 2, 0, ceil_mode=True)
    positive(cs, "p1", "MaxPool", h)
    h = conv_out(h, 3, 1, 0)
    positive(cs, "c2", "Conv", h)
    h = pool_out(h, 3, 2, 1, ceil_mode=True)
    positive(cs, "p2", "MaxPool", h)
    h = conv_out(h, 5, 1, 0)
    positive(cs, "c3", "Conv", h)
    return cs


# ------------------------------------------------------------------ tests

def test_seed_finite_set_matches_full_brute_force():
    cs = seed_constraints()
    dom = analyze_domain(cs, ["H", "W"])
    assert dom.verdict == "locked"
    assert dom.exact
    # brute force over the whole range: floor(H/2) - 2 <= 12100 forces H <= 24205; scan to 24400
    n = 24400
    hs = np.arange(1, n + 1, dtype=np.int64)
    a, ok = seed_numpy(hs)
    found = set()
    for i0 in range(0, n, 2000):
        blk = slice(i0, min(i0 + 2000, n))
        prod = 32 * np.outer(a[blk], a)
        good = (prod == 387200) & ok[blk, None] & ok[None, :]
        for i, j in zip(*np.nonzero(good)):
            found.add((int(hs[blk][i]), int(hs[j])))
    assert max(max(p) for p in found) < n - 100  # the scan covers the whole set
    assert dom.finite_count == len(found) == 108
    assert set(dom.finite_set) == found
    assert dom.finite_symbols == ("H", "W")
    for p in [(224, 224), (204, 246), (6, 24204), (24205, 6)]:
        assert p in found and dom.contains(dict(H=p[0], W=p[1])) and dom.predicts(dict(H=p[0], W=p[1]))
    assert not dom.contains({"H": 448, "W": 448}) and not dom.predicts({"H": 448, "W": 448})
    assert dom.lower_bounds == {"H": 6, "W": 6}
    assert dom.breaking_constraint is not None and dom.breaking_constraint.node == "fc"
    assert dom.blocking({"H": 448, "W": 448}).node == "fc"
    assert dom.blocking({"H": 3, "W": 300}).node == "conv2"
    assert dom.blocking({"H": 224, "W": 224}) is None
    assert "108" in dom.summary and "locked" in dom.summary


def test_seed_matches_raw_conditions_on_grid():
    cs = seed_constraints()
    dom = analyze_domain(cs, ["H", "W"])
    pts = SAMPLE_2D + [(204, 246), (246, 204), (6, 24204), (7, 24205), (8, 24204), (448, 448),
                       (224, 226), (223, 224)]
    check_against(dom, cs, ("H", "W"), pts)


def test_seed_nearest_valid_is_nearest():
    """Nearest keeps the aspect ratio first (issue 15: 448x448 -> 225x225, not L1's 115x445), then L1, then L2."""
    import math
    dom = analyze_domain(seed_constraints(), ["H", "W"])
    near = dom.nearest_valid({"H": 448, "W": 448}, k=3)
    assert len(near) == 3
    key = lambda hw: (round(abs(math.log(hw[1] / hw[0])), 2), abs(hw[0] - 448) + abs(hw[1] - 448),  # noqa: E731
                      (hw[0] - 448) ** 2 + (hw[1] - 448) ** 2)
    want = sorted(dom.finite_set, key=key)[:3]
    assert [key((d["H"], d["W"])) for d in near] == [key(t) for t in want]
    assert all(abs(d["H"] - d["W"]) <= 1 for d in near)  # square in, square out
    wide = dom.nearest_valid({"H": 300, "W": 200}, k=1)[0]  # 1.5:1 in: the valid pair closest in shape
    assert min(abs(math.log(h / w) - math.log(1.5)) for h, w in dom.finite_set) == \
        pytest.approx(abs(math.log(wide["H"] / wide["W"]) - math.log(1.5)), abs=0.01)
    assert all(dom.contains(d) for d in near)
    assert dom.nearest_valid({"H": 224, "W": 224}, k=1) == [{"H": 224, "W": 224}]


def test_blocking_is_first_failing_in_order():
    cs = seed_constraints()
    dom = analyze_domain(cs, ["H", "W"])
    fns = [exact_fn(c.condition) for c in cs]
    for p in [(1, 1), (2, 50), (5, 5), (6, 6), (100, 3), (448, 448), (224, 224)]:
        first = next((c for c, f in zip(cs, fns) if not f(*p)), None)
        got = dom.blocking(dict(H=p[0], W=p[1]))
        assert (got is None) == (first is None)
        if first is not None:
            assert got.condition == first.condition and got.node == first.node


def test_vit_product_constraint():
    cs = vit_constraints()
    dom = analyze_domain(cs, ["H", "W"])
    assert dom.verdict == "locked" and dom.exact
    # brute force: floor(H/16) <= 196 so H <= 3151
    n = 3300
    hs = np.arange(1, n + 1, dtype=np.int64)
    a = (hs - 16) // 16 + 1
    good = (np.outer(a, a) == 196) & (a >= 1)[:, None] & (a >= 1)[None, :]
    found = {(int(hs[i]), int(hs[j])) for i, j in zip(*np.nonzero(good))}
    assert max(max(p) for p in found) < n - 100
    assert set(dom.finite_set) == found and dom.finite_count == len(found) == 9 * 256
    check_against(dom, cs, ("H", "W"), SAMPLE_2D)
    assert dom.contains({"H": 224, "W": 239}) and not dom.contains({"H": 240, "W": 224})


def test_locked_per_axis():
    h, w = floordiv(H, 16), floordiv(W, 16)
    cs = [C(sympy.Ge(h, 1), "pe", "Conv"), C(sympy.Ge(w, 1), "pe", "Conv"),
          C(sympy.Eq(h, 14), "pos", "Add"), C(sympy.Eq(w, 14), "pos", "Add")]
    dom = analyze_domain(cs, ["H", "W"])
    assert dom.verdict == "locked"
    assert set(dom.finite_set) == {(a, b) for a in range(224, 240) for b in range(224, 240)}
    assert dom.sets["H"].below == tuple(range(224, 240))
    assert "224..239" in dom.summary
    check_against(dom, cs, ("H", "W"), SAMPLE_2D)


@pytest.mark.parametrize("depth", [1, 3, 4, 5])
def test_unet_divisibility(depth):
    cs = unet_constraints(depth)
    dom = analyze_domain(cs, ["H", "W"])
    m = 2 ** depth
    assert dom.verdict == "conditional" and dom.exact
    assert dom.moduli == {"H": (m, (0,)), "W": (m, (0,))}
    assert dom.lower_bounds == {"H": m, "W": m}
    raw = raw_fn(cs, ("H",))
    # separable: check H alone against the raw conditions restricted to H (W fixed valid)
    fh = [exact_fn(c.condition, ("H",)) for c in cs if c.condition.free_symbols == {H}]
    for h in SAMPLE_1D:
        r = all(f(h) for f in fh)
        assert dom.sets["H"].contains(h) == r == (h % m == 0), h
    check_against(dom, cs, ("H", "W"), SAMPLE_2D)
    assert dom.breaking_constraint.node == f"dec{depth - 1}.concat"
    assert f"H % {m} == 0" in dom.summary
    del raw


def test_unet_nearest_valid_periodic():
    dom = analyze_domain(unet_constraints(4), ["H", "W"])
    near = dom.nearest_valid({"H": 100, "W": 90}, k=4)
    brute = sorted(((abs(h - 100) + abs(w - 90), (h - 100) ** 2 + (w - 90) ** 2, h, w)
                    for h in range(1, 300) for w in range(1, 300) if h % 16 == 0 and w % 16 == 0))
    assert [(d["H"], d["W"]) for d in near] == [(h, w) for _, _, h, w in brute[:4]]


@pytest.mark.parametrize("form", ["mod", "parity", "floor_pair"])
def test_divisibility_forms(form):
    if form == "mod":
        cs = [C(sympy.Ge(floordiv(H, 32), 1), "pool", "MaxPool"), C(sympy.Eq(mod(H, 32), 0), "r", "Reshape")]
        m = 32
    elif form == "parity":
        cs = [C(sympy.Eq(2 * floordiv(H, 2), H), "cat", "Concat")]
        m = 2
    else:
        cs = [C(sympy.Eq(floordiv(H, 8) * 2, floordiv(H, 4)), "cat", "Concat")]
        m = None
    dom = analyze_domain(cs, ["H"])
    assert dom.verdict == "conditional"
    fh = raw_fn(cs, ("H",))
    for h in SAMPLE_1D:
        assert dom.predicts({"H": h}) == fh(h) == exact_fn(dom.valid_if, ("H",))(h), h
    if m:
        assert dom.moduli["H"] == (m, (0,))
    else:  # floor(H/4) even  <=>  H % 8 in 0..3
        assert dom.moduli["H"] == (8, (0, 1, 2, 3))


def test_ceil_mode_lower_bound():
    cs = ceil_pool_constraints()
    dom = analyze_domain(cs, ["H"])
    fh = raw_fn(cs, ("H",))
    valid = [h for h in range(1, 3000) if fh(h)]
    assert valid and valid == list(range(valid[0], 3000))  # upward closed
    assert dom.verdict == "size-invariant" and dom.exact
    assert dom.lower_bounds == {"H": valid[0]}
    assert dom.breaking_constraint is None
    assert dom.summary == f"valid for H >= {valid[0]}"
    for h in SAMPLE_1D:
        assert dom.predicts({"H": h}) == fh(h) == exact_fn(dom.valid_if, ("H",))(h)


def test_ceil_mode_piecewise_pool():
    """A ceil_mode pool whose last window can start in the padding gives a Piecewise."""
    def ceil_pool(size, k, s, p):  # torch's rule, written out: drop a last window starting in the pad
        out = ceildiv(size + 2 * p - k, s) + 1
        return sympy.Piecewise((out - 1, (out - 1) * s >= size + p), (out, True))

    cs = []
    h = ceil_pool(H, 2, 2, 1)
    h2 = ceil_pool(h, 3, 2, 1)
    positive(cs, "p", "MaxPool", h, h2)
    cs.append(C(sympy.Eq(2 * h2, h + 1), "cat", "Concat"))
    assert any(c.condition.has(sympy.Piecewise) for c in cs)
    dom = analyze_domain(cs, ["H"])
    assert dom.exact and dom.method.startswith("symbolic")
    fh = raw_fn(cs, ("H",))
    for hh in SAMPLE_1D:
        assert dom.predicts({"H": hh}) == fh(hh) == exact_fn(dom.valid_if, ("H",))(hh), hh
    assert dom.verdict == "conditional" and dom.moduli == {"H": (4, (0, 1))}


def test_window_partition_mod7():
    h, w = conv_out(H, 4, 4), conv_out(W, 4, 4)
    cs = [C(sympy.Ge(h, 1), "pe", "Conv"), C(sympy.Ge(w, 1), "pe", "Conv"),
          C(sympy.Eq(mod(h, 7), 0), "win", "Reshape", "window partition needs H/4 divisible by 7"),
          C(sympy.Eq(mod(w, 7), 0), "win", "Reshape", "window partition needs W/4 divisible by 7")]
    dom = analyze_domain(cs, ["H", "W"])
    assert dom.verdict == "conditional"
    assert dom.moduli["H"] == (28, (0, 1, 2, 3)) and dom.lower_bounds["H"] == 28
    check_against(dom, cs, ("H", "W"), SAMPLE_2D)
    assert dom.breaking_constraint.node == "win"


def test_never_valid():
    dom = analyze_domain([C(sympy.Ge(H, 2), "a", "Conv"), C(sympy.false, "b", "Gemm")], ["H", "W"])
    assert dom.verdict == "never-valid" and dom.breaking_constraint.node == "b"
    assert dom.valid_if == sympy.false and not dom.contains({"H": 224, "W": 224})
    assert dom.nearest_valid({"H": 224, "W": 224}) == []
    # contradictory lower / locked
    cs = [C(sympy.Eq(floordiv(H, 2), 3), "a", "Add"), C(sympy.Ge(floordiv(H, 5), 2), "b", "Conv")]
    dom = analyze_domain(cs, ["H"])
    # "a" already locks H to {6, 7}: the class first changes there
    assert dom.verdict == "never-valid" and dom.breaking_constraint.node == "a"
    assert not any(raw_fn(cs, ("H",))(h) for h in SAMPLE_1D)
    # impossible product: a*b == 7 with a, b >= 2
    a, b = floordiv(H, 2), floordiv(W, 2)
    cs = [C(sympy.Ge(a, 2), "p", "Pool"), C(sympy.Ge(b, 2), "p", "Pool"),
          C(sympy.Eq(sympy.expand(a * b), 7), "fc", "Gemm")]
    dom = analyze_domain(cs, ["H", "W"])
    assert dom.verdict == "never-valid"
    check_against(dom, cs, ("H", "W"), SAMPLE_2D)


def test_no_constraints_and_free_symbols():
    dom = analyze_domain([], ["H", "W"])
    assert dom.verdict == "size-invariant" and dom.valid_if == sympy.true
    assert dom.lower_bounds == {"H": 1, "W": 1} and dom.contains({"H": 1, "W": 99999})
    assert dom.breaking_constraint is None and "every size" in dom.summary
    # true conditions are dropped; N appears in no constraint
    cs = [C(sympy.true, "x", "Add"), C(sympy.Ge(floordiv(H - 3, 2) + 1, 1), "c", "Conv")]
    dom = analyze_domain(cs, ["N", "H"])
    assert dom.verdict == "size-invariant" and dom.lower_bounds == {"N": 1, "H": 3}
    assert "N" in dom.summary and "H >= 3" in dom.summary
    assert dom.contains({"N": 7, "H": 3}) and not dom.contains({"N": 7, "H": 2})
    near = dom.nearest_valid({"N": 4, "H": 1}, k=1)
    assert near == [{"N": 4, "H": 3}]


def test_unbounded_ratio_uses_exhaustive_fallback():
    a, b = floordiv(H, 2), floordiv(W, 2)
    cs = [C(sympy.Ge(a, 1), "p", "Pool"), C(sympy.Ge(b, 1), "p", "Pool"),
          C(sympy.Eq(a, b) | sympy.Eq(a, 1) | sympy.Eq(b, 1), "add", "Add", "broadcast")]
    dom = analyze_domain(cs, ["H", "W"], bound=300)
    assert dom.verdict == "conditional" and not dom.exact
    assert "300" in dom.method
    check_against(dom, cs, ("H", "W"), SAMPLE_2D)


def test_to_json_is_serialisable():
    import json
    for cs in (seed_constraints(), unet_constraints(3), []):
        dom = analyze_domain(cs, ["H", "W"])
        js = json.loads(json.dumps(dom.to_json()))
        assert js["verdict"] == dom.verdict and js["symbols"] == ["H", "W"]
        assert sympy.sympify(js["valid_if"], locals={"H": H, "W": W}) is not None


def test_duplicates_and_speed():
    cs = []
    h, w = H, W
    for i in range(100):
        s = 2 if i % 20 == 19 else 1
        h, w = conv_out(h, 3, s, 1), conv_out(w, 3, s, 1)
        positive(cs, f"conv{i}", "Conv", h, w)
        cs.append(C(sympy.Eq(h, h) | sympy.Eq(h, 1), f"add{i}", "Add"))  # auto-true
        positive(cs, f"relu{i}", "Relu", h, w)  # duplicates
    cs.append(C(sympy.Eq(sympy.expand(64 * h * w), 64 * 49), "fc", "Gemm"))
    t = time.perf_counter()
    dom = analyze_domain(cs, ["H", "W"])
    assert time.perf_counter() - t < 3.0
    assert dom.verdict == "locked"
    check_against(dom, cs, ("H", "W"), [(h, w) for h in range(180, 260, 3) for w in range(180, 260, 3)])


def test_exceptions_in_canonical_form():
    cs = [C(sympy.Eq(mod(H, 4), 0) | sympy.Eq(H, 6), "a", "Add"), C(sympy.Ne(H, 12), "b", "Add")]
    dom = analyze_domain(cs, ["H"])
    assert dom.verdict == "conditional" and dom.moduli == {"H": (4, (0,))}
    fh = raw_fn(cs, ("H",))
    vif = exact_fn(dom.valid_if, ("H",))
    for h in SAMPLE_1D:
        assert dom.predicts({"H": h}) == fh(h) == vif(h), h


def test_three_symbol_product():
    D = symbol("D")
    a, b, c = floordiv(D, 2), floordiv(H, 2), floordiv(W, 2)
    cs = [C(sympy.Ge(x, 1), "pool", "MaxPool") for x in (a, b, c)]
    cs.append(C(sympy.Eq(sympy.expand(a * b * c), 360), "fc", "Gemm"))
    dom = analyze_domain(cs, ["D", "H", "W"])
    assert dom.verdict == "locked" and dom.exact
    # every (x, y, z) with x*y*z == 360, each floor value hit by 2 sizes
    expect = {(2 * x + i, 2 * y + j, 2 * z + k)
              for x in range(1, 361) for y in range(1, 361) if 360 % (x * y) == 0
              for z in [360 // (x * y)] for i in (0, 1) for j in (0, 1) for k in (0, 1)}
    assert set(dom.finite_set) == expect
    fn = raw_fn(cs, ("D", "H", "W"))
    assert all(fn(*p) for p in list(expect)[:300])


def test_large_lower_bound_is_cheap_and_exact():
    cs = [C(sympy.Ge(floordiv(H, 2), 10 ** 9), "x", "Conv")]
    dom = analyze_domain(cs, ["H"])
    assert dom.verdict == "size-invariant" and dom.lower_bounds == {"H": 2 * 10 ** 9}
    assert dom.contains({"H": 2 * 10 ** 9}) and not dom.contains({"H": 2 * 10 ** 9 - 1})


def test_random_single_symbol_conditions_match_raw():
    rng = np.random.default_rng(0)

    def rand_dim(depth):
        e = H
        for _ in range(depth):
            k = int(rng.integers(1, 6))
            s = int(rng.integers(1, 4))
            p = int(rng.integers(0, 3))
            e = conv_out(e, k, s, p) if rng.random() < 0.7 else floordiv(e + int(rng.integers(0, 3)), s)
        return e

    for trial in range(40):
        e1, e2 = rand_dim(int(rng.integers(1, 4))), rand_dim(int(rng.integers(1, 4)))
        kind = trial % 4
        if kind == 0:
            cond = sympy.Eq(2 * e1, e2 + int(rng.integers(0, 2)))
        elif kind == 1:
            cond = sympy.Eq(mod(e1, int(rng.integers(2, 8))), 0)
        elif kind == 2:
            cond = sympy.Eq(e1, e2) | sympy.Eq(e1, 1) | sympy.Eq(e2, 1)
        else:
            cond = sympy.Ge(e1 - e2, 0) & sympy.Ge(e1, 3)
        if cond in (sympy.true, sympy.false):
            continue
        cs = [C(sympy.Ge(e1, 1), "a", "Conv"), C(sympy.Ge(e2, 1), "b", "Conv"), C(cond, "c", "Concat")]
        cs = [c for c in cs if c.condition is not sympy.true]
        dom = analyze_domain(cs, ["H"])
        assert dom.exact, cond
        fh = raw_fn(cs, ("H",))
        vif = exact_fn(dom.valid_if, ("H",))
        for h in SAMPLE_1D:
            r = fh(h)
            assert dom.predicts({"H": h}) == r == vif(h), (cond, h)
        valid = [h for h in range(1, 301) if fh(h)]
        assert dom.lower_bounds["H"] == (valid[0] if valid else dom.lower_bounds["H"])


# ---------------------------------------------------------------- conditions in several symbols

def _c(cond, node="n"):
    return Constraint(node, "Op", cond, "test")


def test_product_lower_bound_implied_by_per_symbol_bounds():
    H, W = symbol("H"), symbol("W")
    a, b = floor(H / 8), floor(W / 8)
    d = analyze_domain([_c(a >= 1), _c(b >= 1), _c(a * b >= 1)], [H, W])
    assert d.verdict == "size-invariant" and d.exact, d.summary
    assert "implied" in d.method
    # not implied: needs a product of at least 2
    d2 = analyze_domain([_c(a >= 1), _c(b >= 1), _c(a * b >= 2)], [H, W])
    assert d2.verdict == "conditional" and not d2.contains({"H": 8, "W": 8}) and d2.contains({"H": 16, "W": 8})


def test_reshape_zero_copy_piecewise_is_resolved():
    """Reshape's "0 copies the input dim" gives Piecewise targets; with the product >= 1 they are the product."""
    H, W = symbol("H"), symbol("W")
    P = floor(H / 8) * floor(W / 8)
    pw = sympy.Piecewise((floor(H / 8), sympy.Eq(P, 0)), (P, True))
    d = analyze_domain([_c(floor(H / 8) >= 1), _c(floor(W / 8) >= 1), _c(sympy.Eq(16 * P, 16 * pw))], [H, W])
    assert d.verdict == "size-invariant" and d.exact, d.summary
    for h in (1, 7, 8, 9, 15, 16, 17, 64, 97):  # valid_if is exactly H >= 8 and W >= 8, Piecewise gone
        for w in (1, 7, 8, 13, 200):
            assert bool(d.valid_if.subs({H: h, W: w})) == (h >= 8 and w >= 8) == d.contains({"H": h, "W": w})
    assert not d.valid_if.has(sympy.Piecewise)


def test_window_partition_folds_into_per_symbol_residues():
    H, W = symbol("H"), symbol("W")
    cond = sympy.Eq(8 * floor(H / 4) * floor(W / 4), 128 * floor(H / 16) * floor(W / 16))
    d = analyze_domain([_c(floor(H / 4) >= 1), _c(floor(W / 4) >= 1), _c(floor(H / 16) * floor(W / 16) >= 1),
                        _c(cond)], [H, W])
    assert d.verdict == "conditional" and d.exact, d.summary
    assert d.moduli == {"H": (16, (0, 1, 2, 3)), "W": (16, (0, 1, 2, 3))}
    assert "H % 16 < 4" in d.summary and "H >= 16" in d.summary
    for h in range(1, 70):
        for w in (1, 15, 16, 17, 19, 20, 31, 32, 35, 36, 67):
            want = floor(h / 4) >= 1 and floor(w / 4) >= 1 and (h // 16) * (w // 16) >= 1 and \
                (h // 4) * (w // 4) == 16 * (h // 16) * (w // 16)
            assert d.contains({"H": h, "W": w}) == bool(want)
            assert d.predicts({"H": h, "W": w}) == bool(want), (h, w)


def test_window_partitions_at_several_stages_fold_one_at_a_time():
    """MaxViT: a window partition per stage (periods 32, 64, 128, 256 together are too many residue classes at
    once); each folds on its own into the per-symbol sets left by the previous ones, exactly."""
    H, W = symbol("H"), symbol("W")
    conds = []
    for k in (4, 8, 16, 32):  # a stage's grid ceiling(H/k) viewed as [.., a/8, 8, b/8, 8]: a % 8 == 0
        a, b = sympy.ceiling(H / k), sympy.ceiling(W / k)
        ah = sympy.Piecewise((a, sympy.Eq(floor(a / 8), 0)), (floor(a / 8), True))
        bw = sympy.Piecewise((64, sympy.Eq(floor(b / 8), 0)), (floor(b / 8), True))
        conds.append(_c(sympy.Eq(64 * a * b, 4096 * ah * bw)))
    d = analyze_domain(conds, [H, W])
    assert d.exact and "one at a time" in d.method, d.method
    assert d.moduli == {"H": (256, (0, 253, 254, 255)), "W": (256, (0, 253, 254, 255))}, d.moduli
    for h in list(range(1, 300, 7)) + [252, 253, 254, 255, 256, 257, 509, 512, 513, 765]:
        for w in (1, 29, 253, 256, 260, 512):
            want = all(-(-h // k) % 8 == 0 and -(-w // k) % 8 == 0 and -(-h // k) >= 8 for k in (4, 8, 16, 32))
            assert d.contains({"H": h, "W": w}) == want, (h, w)


def test_non_product_condition_is_not_folded():
    """H and W tied together (H == W mod 2) is not a product of per-symbol sets: it stays a component."""
    H, W = symbol("H"), symbol("W")
    d = analyze_domain([_c(sympy.Eq(sympy.Mod(H + W, 2), 0))], [H, W])
    assert d.verdict == "conditional"
    for h, w in [(2, 4), (3, 5), (2, 3), (7, 10)]:
        assert d.predicts({"H": h, "W": w}) == ((h + w) % 2 == 0)


def test_prover_is_sound_on_random_conditions():
    """holds_everywhere may say "not proved", never a wrong "proved": checked by brute force."""
    import random
    from shapealg.validity.ir import to_ir
    from shapealg.validity.prove import holds_everywhere
    from shapealg.validity.sets import SymbolSet
    H, W = symbol("H"), symbol("W")
    rng = random.Random(0)
    gens = [floor(H / 2), floor(H / 3), floor(W / 4), floor((H - 1) / 2), H, W, floor(W / 8)]
    proved = 0
    for _ in range(300):
        g1, g2 = rng.sample(gens, 2)
        e = rng.randint(-2, 3) * g1 * g2 + rng.randint(-3, 3) * g1 + rng.randint(-5, 5)
        cond = rng.choice([e >= 0, sympy.Eq(e, e), e > -3])
        if cond in (sympy.true, sympy.false):
            continue
        lbs = {"H": rng.randint(1, 12), "W": rng.randint(1, 12)}
        sets = {n: SymbolSet(n, tuple(range(lbs[n], lbs[n])), lbs[n], 1, (0,)) for n in ("H", "W")}
        names = tuple(sorted(s.name for s in cond.free_symbols))
        if not names:
            continue
        ok = holds_everywhere(to_ir(cond), names, sets)
        if ok:
            proved += 1
            for h in range(lbs["H"], lbs["H"] + 40):
                for w in range(lbs["W"], lbs["W"] + 40):
                    assert bool(cond.subs({H: h, W: w})), (cond, h, w)
    assert proved > 20


def test_floor_quotient_and_floor_sqrt_compile_exactly():
    """Reshape -1 dims (elements // product of formulas), Mod by a formula, int(sqrt(tokens)) (DPT):
    compiled to exact integer evaluation, equal to sympy's value at many sizes."""
    from shapealg.validity.ir import cexpr, to_ir
    H, W = symbol("H"), symbol("W")
    a, b = floor(H / 8), floor(W / 8)
    exprs = [floor(256 * floor(H / 16) * floor(W / 16) / (16 * a * b)),
             sympy.Mod(16 * floor(H / 4) * floor(W / 4), 3 * a + b),
             floor(sympy.sqrt(a) * sympy.sqrt(b)),
             floor(sympy.sqrt(a) * sympy.sqrt(b) / 2 - sympy.Rational(1, 2))]
    for e in exprs:
        f, d = cexpr(to_ir(e))
        for h, w in [(8, 8), (9, 61), (64, 72), (97, 300), (999, 17), (2048, 1031)]:
            assert Fraction(f({"H": h, "W": w}), d) == int(e.subs({H: h, W: w})), (e, h, w)
        hs = np.arange(8, 400, dtype=np.int64)
        vec = np.asarray(f({"H": hs, "W": np.full_like(hs, 77)}))
        assert all(Fraction(int(v), d) == int(e.subs({H: int(h), W: 77})) for h, v in zip(hs[::37], vec[::37]))
    # the window-partition form of a Reshape's -1 dim is decided symbolically
    cond = sympy.Eq(sympy.Mod(16 * floor(H / 16) * floor(W / 16), floor(H / 16) * floor(W / 16)), 0)
    d = analyze_domain([_c(floor(H / 16) >= 1), _c(floor(W / 16) >= 1), _c(cond)], [H, W])
    assert d.verdict == "size-invariant" and d.exact, d.summary


def test_finite_set_with_a_period_prints_as_range_and_residues():
    """torchvision swin_t exported at a fixed 224 with H, W made symbolic: its Reshape element counts (exact
    0-copy Piecewise dims) in (H, W) hold on 1024 pairs, each coordinate in 28..227 with % 28 < 4. The
    component is enumerated exactly inside the per-symbol bounds and, being a product, becomes per-symbol
    sets: a short exact valid_if and summary, proved (no "searched up to")."""
    from shapealg.validity.sets import finite_pattern
    assert finite_pattern([h for h in range(28, 228) if h % 28 < 4]) == (28, 227, 28, 0, 3)
    assert finite_pattern([3, 4, 6, 7, 9, 10]) == (3, 10, 3, 0, 1)
    assert finite_pattern([1, 2, 4, 8]) is None and finite_pattern([1, 2, 3]) is None
    H, W = symbol("H"), symbol("W")

    def pw(v, x):
        return sympy.Piecewise((v, sympy.Eq(x, 0)), (x, True))
    a, b = floor(H / 28), floor(W / 28)
    cs = [_c(floor(H / 4) >= 1), _c(floor(W / 4) >= 1), _c(H <= 227), _c(W <= 227),
          _c(sympy.Eq(96 * floor(H / 4) * floor(W / 4), 4704 * pw(96, b) * pw(floor(H / 4), a))),
          _c(sympy.Eq(4704 * pw(49, a) * pw(96, b), 96 * floor(H / 4) * floor(W / 4)))]
    dom = analyze_domain(cs, ["H", "W"])
    assert dom.exact and dom.finite_count == 1024
    assert str(dom.valid_if) == "(H >= 28) & (W >= 28) & (H <= 227) & (W <= 227) & (Mod(H, 28) < 4) & (Mod(W, 28) < 4)"
    assert dom.summary.startswith("locked: H in 28..227 with H % 28 < 4 and W in 28..227 with W % 28 < 4 (1024")
    pts = [(28, 28), (227, 31), (32, 224), (224, 228), (29, 57), (30, 60), (4, 4), (31, 200), (1, 1), (251, 28)]
    pts += [(h, w) for h in range(1, 260, 13) for w in range(2, 260, 17)]
    for h, w in pts:
        want = all(bool(c.condition.subs({H: h, W: w})) for c in cs)
        assert bool(dom.valid_if.subs({H: h, W: w})) == want == dom.contains({"H": h, "W": w}), (h, w)


def test_congruences_in_two_symbols_are_decided_on_one_period():
    """timm Swin at a fixed 224 with H, W symbolic: three conditions floor(.)*floor(.) % k == 0 in (H, W), not a
    product set. Each is periodic in H and W (an integer polynomial of floors of linear forms, mod k), so one
    period of the grid decides the set exactly: proved, the two conditions implied by the first dropped, and the
    claimed membership (table lookup) equals the constraints' truth everywhere tried, far beyond one period."""
    from shapealg.validity.periodic import atom_periods
    H, W = symbol("H"), symbol("W")
    a, b = floor(H / 28 + sympy.Rational(6, 7)), floor(W / 28 + sympy.Rational(6, 7))
    c, d = floor(H / 56 + sympy.Rational(13, 14)), floor(W / 56 + sympy.Rational(13, 14))
    e, f = floor(H / 112 + sympy.Rational(27, 28)), floor(W / 112 + sympy.Rational(27, 28))
    assert atom_periods(sympy.Eq(sympy.Mod(a * b, 64), 0)) == {"H": 1792, "W": 1792}
    assert atom_periods(sympy.Eq(sympy.Mod(H * W + 3 * H, 6), 0)) == {"H": 6, "W": 6}
    assert atom_periods(sympy.Eq(sympy.Mod(a * b, 64), floor(H / 2))) is None  # not a congruence to a constant
    assert atom_periods(sympy.Ge(a * b, 64)) is None
    assert atom_periods(sympy.Eq(sympy.Mod(a * b / 3, 64), 0)) is None  # not an integer polynomial
    cs = [_c(floor(H / 4) >= 1), _c(floor(W / 4) >= 1), _c(sympy.Eq(sympy.Mod(a * b, 64), 0)),
          _c(sympy.Eq(sympy.Mod(c * d, 16), 0)), _c(sympy.Eq(sympy.Mod(e * f, 4), 0))]
    dom = analyze_domain(cs, ["H", "W"])
    assert dom.exact and dom.verdict == "conditional"
    assert str(dom.valid_if) == "(H >= 4) & (W >= 4) & Eq(Mod(floor(H/28 + 6/7)*floor(W/28 + 6/7), 64), 0)"
    assert "not proven" not in dom.summary and len(dom.summary) < 100
    rng = np.random.default_rng(1)
    pts = [tuple(int(v) for v in p) for p in rng.integers(1, 9000, size=(400, 2))]
    pts += [(h, w) for h in range(1, 60, 3) for w in (1, 4, 200, 1768, 1769, 3560)]
    pts += [(1795 + 1792 * 3, 200), (200, 1792 * 4 + 5), (4931, 3000), (4930, 3001)]
    for h, w in pts:
        truth = all(bool(cc.condition.subs({H: h, W: w})) for cc in cs)
        assert dom.predicts({"H": h, "W": w}) == truth == dom.contains({"H": h, "W": w}), (h, w)
    for env in ({"H": 5000, "W": 3000}, {"H": 1, "W": 1}):
        near = dom.nearest_valid(env, k=3)
        assert len(near) == 3 and all(dom.contains(p) for p in near)
    assert dom.nearest_valid({"H": 5000, "W": 3000}, k=1)[0] == {"H": 4931, "W": 3000}


def _window_conditions(rng):
    """Random window partitions: a grid floor / ceiling(H/k) viewed in windows of w (the element count), with
    the ONNX "0 copies the input dim" Piecewise on one side or not."""
    out = []
    for _ in range(rng.randint(1, 3)):
        k, w = rng.choice([1, 2, 4]), rng.choice([2, 3, 4, 7, 8])
        f = rng.choice([floor, sympy.ceiling])
        a, b = f(H / k), f(W / k)
        ah, bw = floor(a / w), floor(b / w)
        if rng.random() < 0.5:
            ah = sympy.Piecewise((a, sympy.Eq(ah, 0)), (ah, True))
        out.append(sympy.Eq(a * b, w * w * ah * bw))
    return out


@pytest.mark.parametrize("seed", range(12))
def test_one_at_a_time_folding_matches_brute_force(seed):
    import random
    rng = random.Random(900 + seed)
    conds = _window_conditions(rng)
    d = analyze_domain([_c(c) for c in conds], [H, W])
    fns = [sympy.lambdify((H, W), c, "math") for c in conds]
    for h in range(1, 120):
        for w in (1, 2, 3, 7, 8, 12, 16, 21, 24, 28, 56, 57, 64):
            want = all(bool(f(h, w)) for f in fns)
            assert d.contains({"H": h, "W": w}) == want, (conds, h, w, d.summary)


@pytest.mark.parametrize("seed", range(12))
def test_residues_the_walker_proves_hold_at_every_solution(seed):
    """walk._solved_sets: each size's least value and residues, from one condition and the facts so far, hold at
    every point where both do (brute force)."""
    import random
    from shapealg.walk import _solved_sets
    rng = random.Random(700 + seed)
    conds = _window_conditions(rng)
    known = (("H", rng.choice([1, 4, 8]), rng.choice([None, (4, (0,)), (8, (0, 1, 2, 3))])),
             ("W", rng.choice([1, 2]), None))
    got = _solved_sets(conds[0], known)
    if got is None:
        return
    f = sympy.lambdify((H, W), conds[0], "math")
    for h in range(1, 200):
        for w in range(1, 90):
            facts = all(v >= lo and (r is None or v % r[0] in r[1]) for v, (_n, lo, r) in zip((h, w), known))
            if facts and bool(f(h, w)):
                for v, n in ((h, "H"), (w, "W")):
                    lo, M, R = got[n]
                    assert v >= lo and v % M in R, (conds[0], known, got, h, w)
