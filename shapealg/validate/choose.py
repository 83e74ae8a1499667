"""Which sizes to run: chosen from the analysis (boundaries, residues, primes, finite-set points, large
sizes within a memory budget), sampled at random, or given by the user."""
from __future__ import annotations

import math
from typing import Dict, List, Mapping, Optional, Tuple

import numpy as np

from ..records import ShapealgError
from ..zero_sizes import domain_at
from .evaluator import Evaluator, evaluator_for
from .report import PlannedSize, label_of

DEFAULT_MEMORY_BUDGET = 512 * 2 ** 20  # bytes of predicted activations per run
_BATCH_NAMES = {"n", "b", "batch", "batch_size", "batchsize", "bs"}

Env = Dict[str, int]


def spatial_of(analysis) -> List[str]:
    from ..sizes import spatial_symbols
    return [s for s in spatial_symbols(analysis) if s in analysis.domain.symbols or s in analysis.symbols]


def symbols_of(analysis) -> List[str]:
    return list(dict.fromkeys(list(analysis.symbols) + list(analysis.domain.symbols)))


def _is_batch(name: str) -> bool:
    return name.lower() in _BATCH_NAMES


def _is_prime(n: int) -> bool:
    if n < 2:
        return False
    for p in range(2, int(math.isqrt(n)) + 1):
        if n % p == 0:
            return False
    return True


def _next_prime(n: int) -> int:
    while not _is_prime(n):
        n += 1
    return n


def _predicts(analysis, env: Env) -> bool:
    """What the analysis predicts at env: membership, except that a never-valid verdict predicts every size
    invalid (the verdict is the claim users read; a size that runs must then show up as a surprise). A size
    with one symbol at 0 is answered by that face's domain (``zero_sizes.domain_at``)."""
    try:
        domain, at = domain_at(analysis.domain, analysis.zero_faces, env)
    except ValueError:
        return False
    if domain.verdict == "never-valid":
        return False
    try:
        return bool(domain.contains(at))
    except ValueError:
        return False


def _valid_faces(analysis) -> list:
    """The faces at 0 valid somewhere: one where some value takes another shape than its formula first, a
    batch dim's last."""
    return sorted((f for f in analysis.zero_faces if f.valid_somewhere),
                  key=lambda f: (_is_batch(f.symbol), not f.differs))


def zero_face_sizes(analysis, base: Env) -> List[Tuple[Env, str]]:
    """Sizes on the faces where one dynamic non-image size is 0 (an empty KV cache: the prompt step): per
    face valid somewhere, that symbol at 0 and the others at the face's valid size nearest ``base``; then,
    per face that also has an invalid region, one size there predicted invalid. A face never valid is not run
    (onnxruntime's kernels may kill the process there: GroupQueryAttention at batch 0)."""
    valid, invalid = [], []
    for f in _valid_faces(analysis):
        dom, s = f.domain, f.symbol
        rest = {k: v for k, v in base.items() if k != s}
        def on_face(env, s=s):  # the symbols in base's order, s at 0
            return {k: 0 if k == s else env[k] for k in base}
        try:
            near = dom.nearest_valid(rest, k=1)
        except ValueError:
            near = []
        if not near:
            continue
        at = {**rest, **{k: int(v) for k, v in near[0].items()}}
        valid.append((on_face(at), f"{s} = 0 (valid there)"))
        if dom.verdict == "size-invariant":
            continue
        tries = [(k, at[k] + d) for k in at for d in (-1, 1)]  # the boundary of the face's set first, then beyond
        tries += [(k, at[k] * 2 ** e) for e in range(1, 7) for k in at]
        for k, v in tries:
            env = {**at, k: v}
            if v < 1:
                continue
            try:
                if not dom.contains(env):
                    invalid.append((on_face(env), f"{s} = 0, {k} = {v} (predicted invalid there)"))
                    break
            except ValueError:
                break
    return valid + invalid


def choose_sizes(analysis, n: Optional[int] = None, memory_budget: Optional[int] = DEFAULT_MEMORY_BUDGET,
                 reference: int = 64) -> Tuple[PlannedSize, ...]:
    """Sizes that put the analysis to the test, chosen from the analysis itself.

    Per symbol: each lower bound, one below it and two above; odd and prime sizes; one size per
    residue class of every divisibility condition (``domain.moduli``); the points of the finite set
    when the model is locked, and their neighbours; a few predicted-invalid sizes; and large sizes,
    doubling, while the predicted activation memory stays within ``memory_budget`` bytes (the first
    size over it is returned with ``over_budget=True``, so the report can say it was skipped).
    Symbols that look like a batch dim get 1 and one size with 2. ``n`` caps the number of sizes
    (taken round-robin over the categories, so every category keeps its first picks). Where a dynamic
    non-image size may be 0 (``Analysis.zero_faces``), it is run at 0 on each face valid somewhere
    (``zero_face_sizes``), second in the round-robin order after the base size.
    """
    dom = analysis.domain
    ev = evaluator_for(analysis)
    syms = symbols_of(analysis)
    spatial = [s for s in spatial_of(analysis) if s in syms]
    lb = {s: max(1, int(dom.lower_bounds.get(s, 1))) for s in syms}
    ref = {s: lb[s] if _is_batch(s) else max(lb[s], reference if s in spatial else 16) for s in syms}
    base = dict(ref)
    if dom.verdict != "never-valid":
        try:
            near = dom.nearest_valid(ref, k=1)
            if near:
                base.update({k: int(v) for k, v in near[0].items()})
        except ValueError:
            pass
    varied = [s for s in syms if not _is_batch(s)]

    cats: Dict[str, List[Tuple[Env, str]]] = {}

    def add(cat: str, why: str, **vals):
        env = dict(base)
        env.update(vals)
        if all(v >= 1 for v in env.values()):
            cats.setdefault(cat, []).append((env, why))

    add("base", "a valid size near the reference")
    # one symbol at 0 (an empty KV cache), on each face of the valid set that has a valid size
    cats["zero"] = zero_face_sizes(analysis, base)
    # boundaries: each lower bound, one below, two above; also all symbols at once
    for s in varied:
        for d, why in ((0, "lower bound"), (-1, "one below the lower bound"), (1, "lower bound + 1"),
                       (2, "lower bound + 2")):
            add("boundary", f"{s}: {why}", **{s: lb[s] + d})
    if len(varied) > 1:
        add("boundary", "every symbol at its lower bound", **{s: lb[s] for s in varied})
        add("boundary", "every symbol one below its lower bound", **{s: lb[s] - 1 for s in varied})
    # odd and prime sizes; distinct values per symbol so that a swapped H / W shows
    p1 = _next_prime(max(lb.values(), default=1) + 3)
    p2 = _next_prime(max(p1 + 2, int(max(base.values(), default=1) * 1.5)))
    add("prime", f"prime {p1}", **{s: p1 for s in varied})
    if varied:
        primes = [p1]
        for _ in varied[1:]:
            primes.append(_next_prime(primes[-1] + 6))
        add("prime", "distinct primes", **dict(zip(varied, primes)))
        add("prime", f"prime {p2}", **{s: p2 for s in varied})
    for s in varied:
        b = base[s]
        add("odd", f"{s}: odd size", **{s: b + 1 if b % 2 == 0 else b + 2})
    # one size per residue class of every divisibility condition
    for s, (m, residues) in dom.moduli.items():
        if s not in syms:
            continue
        start = max(lb[s], base[s]) // m * m + m
        picks = list(range(m))
        if m > 64:  # every valid residue, plus a few invalid ones
            bad = [r for r in range(m) if r not in residues]
            picks = sorted(set(residues[:64]) | set(bad[:8]))
        for r in picks:
            tag = "valid" if r in residues else "invalid"
            add("residue", f"{s} % {m} == {r} ({tag} residue)", **{s: start + r})
    # locked: the finite set's points, spread out, and their neighbours
    fs = dom.finite_set
    if fs:
        idx = sorted({0, len(fs) - 1, len(fs) // 2, len(fs) // 4, (3 * len(fs)) // 4})
        pts = [dict(zip(dom.finite_symbols, map(int, fs[i]))) for i in idx]
        extra = [dict(base)]
        try:
            extra += dom.nearest_valid({**base, **{s: 224 for s in spatial}}, k=2)
        except ValueError:
            pass
        for ex in extra + dom.examples(3):
            if ex not in pts:
                pts.append({k: int(v) for k, v in ex.items()})
        for p in pts:
            add("finite", "a point of the finite valid set", **p)
            for s in p:
                for d in (-1, 1):
                    add("finite-neighbour", f"finite-set point {label_of(p, spatial)}, {s} {d:+d}",
                        **{**p, s: p[s] + d})
    # the sizes people deploy at (an exporter may have baked tables at one of them)
    if spatial:
        add("common", "common size 224", **{s: 224 for s in spatial})
        if len(spatial) == 2:
            add("common", "common size 384x256", **{spatial[0]: 384, spatial[1]: 256})
    # a few predicted-invalid sizes of other kinds: tiny sizes
    add("invalid", "tiny size", **{s: max(1, lb[s] // 2) for s in varied})
    add("invalid", "size 1", **{s: 1 for s in varied})
    # batch dims: one size with 2
    for s in syms:
        if _is_batch(s):
            add("batch", f"{s} = 2", **{s: max(2, lb[s])})
    # large sizes within the memory budget, doubling
    if dom.verdict in ("size-invariant", "conditional") and varied:
        scale = 2
        while scale <= 32:
            target = {s: base[s] * scale for s in varied}
            try:
                near = dom.nearest_valid({**base, **target}, k=1)
            except ValueError:
                near = []
            env = {**base, **({k: int(v) for k, v in near[0].items()} if near else target)}
            add("large", f"large ({scale}x the base size)", **{s: env[s] for s in varied})
            mem, _ = ev.memory(env)
            if memory_budget is not None and mem > memory_budget:
                break
            scale *= 2
        if len(varied) > 1:
            s0 = varied[0]
            env = {**base, s0: base[s0] * 4}
            try:
                near = dom.nearest_valid(env, k=1)
                if near:
                    env = {**base, **{k: int(v) for k, v in near[0].items()}}
            except ValueError:
                pass
            add("large", f"large, not square ({s0} 4x)", **env)

    # round-robin over categories, deduplicated
    order = ["base", "zero", "boundary", "finite", "residue", "prime", "odd", "common", "finite-neighbour", "invalid",
             "batch", "large"]
    queues = [list(cats.get(c, [])) for c in order]
    seen = set()
    picked: List[Tuple[Env, str]] = []
    while any(queues):
        for q in queues:
            while q:
                env, why = q.pop(0)
                key = tuple(env[s] for s in syms)
                if key in seen:
                    continue
                seen.add(key)
                picked.append((env, why))
                break
    if n is not None:
        picked = picked[:max(0, n)]
    return tuple(plan(analysis, ev, env, why, memory_budget) for env, why in picked)


def plan(analysis, ev: Evaluator, env: Env, why: str, memory_budget: Optional[int]) -> PlannedSize:
    mem, _ = ev.memory(env)
    over = memory_budget is not None and mem > memory_budget
    return PlannedSize(dict(env), why, _predicts(analysis, env), mem, over)


def sample_sizes(analysis, n: int, seed: int = 0, memory_budget: Optional[int] = DEFAULT_MEMORY_BUDGET,
                 high: Optional[int] = None) -> Tuple[PlannedSize, ...]:
    """``n`` random sizes (seeded): half uniform in [1, high] per symbol (default 4x the reference
    size), half the valid sizes nearest to random points (so a locked model gets valid ones too); where a
    size may be 0 (``Analysis.zero_faces``), every fourth is the valid size nearest to a random one on a face
    (that size at 0)."""
    dom = analysis.domain
    ev = evaluator_for(analysis)
    syms = symbols_of(analysis)
    spatial = spatial_of(analysis)
    rng = np.random.default_rng(seed)
    lb = {s: max(1, int(dom.lower_bounds.get(s, 1))) for s in syms}
    faces = _valid_faces(analysis)
    out: List[PlannedSize] = []
    seen = set()
    tries = 0
    while len(out) < n and tries < 20 * n + 20:
        tries += 1
        env = {}
        for s in syms:
            if _is_batch(s):
                env[s] = lb[s]
                continue
            hi = high or max(4 * (64 if s in spatial else 16), 2 * lb[s])
            env[s] = int(rng.integers(1, hi + 1))
        why = "random"
        if len(out) % 4 == 3 and faces:  # every fourth: on a face of the valid set (one symbol at 0)
            f = faces[(len(out) // 4) % len(faces)]
            try:
                near = f.domain.nearest_valid({k: v for k, v in env.items() if k != f.symbol}, k=1)
            except ValueError:
                near = []
            if near:
                env.update({k: int(v) for k, v in near[0].items()})
                env[f.symbol] = 0
                why = f"valid size nearest to a random one, {f.symbol} = 0"
        elif len(out) % 2 == 1 and dom.verdict != "never-valid":
            try:
                near = dom.nearest_valid(env, k=1)
            except ValueError:
                near = []
            if near:
                env.update({k: int(v) for k, v in near[0].items()})
                why = "valid size nearest to a random one"
        key = tuple(env[s] for s in syms)
        if key in seen:
            continue
        seen.add(key)
        out.append(plan(analysis, ev, env, why, memory_budget))
    return tuple(out)


def as_plans(analysis, sizes, memory_budget) -> Tuple[PlannedSize, ...]:
    from ..sizes import parse_size
    ev = evaluator_for(analysis)
    syms = symbols_of(analysis)
    spatial = spatial_of(analysis)
    out = []
    for s in sizes:
        if isinstance(s, PlannedSize):
            out.append(s)
            continue
        zero_ok = [f.symbol for f in analysis.zero_faces if f.domain is not None]
        if isinstance(s, str):
            env = parse_size(s, spatial, syms, zero_ok=zero_ok)
        elif isinstance(s, Mapping):
            unknown = [k for k in s if str(k) not in syms]
            if unknown:
                raise ShapealgError(f"size {dict(s)}: the model has no symbol {str(unknown[0])!r} (symbols: {syms})")
            env = {str(k): int(v) for k, v in s.items()}
            for k in syms:
                env.setdefault(k, 1)
        elif isinstance(s, (tuple, list)):
            if len(s) != len(spatial):
                raise ShapealgError(f"size {tuple(s)}: expected {len(spatial)} numbers ({'x'.join(spatial)})")
            env = {k: 1 for k in syms}
            env.update({k: int(v) for k, v in zip(spatial, s)})
        else:
            raise ShapealgError(f"size {s!r}: expected '224x224', a dict of symbol sizes or a tuple")
        try:
            domain_at(analysis.domain, analysis.zero_faces, env)
        except ValueError as e:  # a size of 0 off every analysed face: nothing is claimed there
            raise ShapealgError(f"size {label_of(env, spatial)}: {e}") from None
        out.append(plan(analysis, ev, env, "given", memory_budget))
    return tuple(out)
