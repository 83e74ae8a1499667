"""Prove the formulas and the valid set against real executions (onnxruntime, torch).

    rep = validate("model.onnx")                      # sizes chosen from the analysis itself
    rep = validate("model.onnx", sizes=["224x224", {"H": 37, "W": 61}])
    rep = validate("model.onnx", module=m, runtime="both")  # also the torch module, same sizes
    rep.ok, rep.counts, rep.to_json(), rep.table()

Per size, one outcome (``OUTCOMES``):

* ``agree``               predicted valid, ran, every value's shape equals its formula;
* ``mismatch``            predicted valid, ran, some value's shape differs from its formula
                          (value, node, expected, got);
* ``failed-as-predicted`` predicted invalid and the runtime failed, at the node the domain blamed, or
                          downstream of it, or at another node whose own constraint is violated
                          (onnxruntime lets undersized pools through with empty / size-1 outputs, so
                          the run often stops a few nodes later); both nodes are reported;
* ``failed-elsewhere``    predicted invalid, the runtime failed, but at a node that is neither the
                          blamed one, nor downstream of a violated constraint;
* ``surprise-ran``        predicted invalid but ran;
* ``surprise-failed``     predicted valid but failed (the runtime's error);
* ``exporter-divergence`` (runtime="both") the torch module and its ONNX file disagree on whether
                          the size runs: an exporter bug the user must hear about;
* ``skipped``             predicted activation memory over the budget: not run.

``agree``, ``failed-as-predicted`` and ``skipped`` are good; anything else makes ``ok`` False.
The library never prints; progress goes to an optional callback ``progress(done, total, outcome)``.
"""
from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
import onnx

from .tensor import Constraint, ShapealgError

__all__ = [
    "OUTCOMES",
    "GOOD_OUTCOMES",
    "PlannedSize",
    "Mismatch",
    "TorchRun",
    "SizeOutcome",
    "ValidationReport",
    "check_device",
    "choose_sizes",
    "sample_sizes",
    "predicted_bytes",
    "validate",
]

OUTCOMES = ("agree", "mismatch", "failed-as-predicted", "failed-elsewhere", "surprise-ran",
            "surprise-failed", "exporter-divergence", "skipped")
GOOD_OUTCOMES = ("agree", "failed-as-predicted", "skipped")
RUNTIMES = ("onnxruntime", "torch", "both")
DEFAULT_MEMORY_BUDGET = 512 * 2 ** 20  # bytes of predicted activations per run

_BATCH_NAMES = {"n", "b", "batch", "batch_size", "batchsize", "bs"}
_ITEMSIZE = {
    onnx.TensorProto.FLOAT: 4, onnx.TensorProto.DOUBLE: 8, onnx.TensorProto.FLOAT16: 2,
    onnx.TensorProto.BFLOAT16: 2, onnx.TensorProto.INT8: 1, onnx.TensorProto.UINT8: 1,
    onnx.TensorProto.INT16: 2, onnx.TensorProto.UINT16: 2, onnx.TensorProto.INT32: 4,
    onnx.TensorProto.UINT32: 4, onnx.TensorProto.INT64: 8, onnx.TensorProto.UINT64: 8,
    onnx.TensorProto.BOOL: 1,
}

Env = Dict[str, int]


# ---------------------------------------------------------------- records


@dataclass(frozen=True)
class PlannedSize:
    """A size to run: the symbols' values, why it was chosen, what the analysis predicts, and its
    predicted activation memory (None when some value's shape is unknown at this size)."""
    size: Env
    why: str
    predicted_valid: bool
    memory_bytes: Optional[int]
    over_budget: bool = False

    def label(self, spatial: Sequence[str] = ()) -> str:
        return _label(self.size, spatial)


@dataclass(frozen=True)
class Mismatch:
    value: str
    node: Optional[str]        # producer (None for a graph input; "torch module" for torch outputs)
    op_type: Optional[str]
    expected: Tuple[Any, ...]  # the formula evaluated at the size
    got: Tuple[int, ...]

    def __str__(self) -> str:
        where = f"{self.node} ({self.op_type})" if self.node else "graph input"
        return f"{self.value} at {where}: expected {list(self.expected)}, got {list(self.got)}"

    def to_json(self) -> dict:
        return {"value": self.value, "node": self.node, "op_type": self.op_type,
                "expected": [_jsonable(d) for d in self.expected], "got": list(self.got)}


@dataclass(frozen=True)
class TorchRun:
    """The torch module at one size: whether it ran, its output shapes, the error's first line."""
    ok: bool
    output_shapes: Tuple[Tuple[int, ...], ...] = ()
    error: Optional[str] = None


@dataclass(frozen=True)
class SizeOutcome:
    size: Env
    why: str
    outcome: str
    predicted_valid: bool
    blamed: Optional[Constraint] = None      # the domain's first violated constraint
    failing_node: Optional[str] = None       # the runtime's failing node, when it says
    error: Optional[str] = None
    mismatches: Tuple[Mismatch, ...] = ()
    checked: int = 0                         # values compared with their formula
    unknown: int = 0                         # values the runtime produced whose formula is unknown
    memory_bytes: Optional[int] = None
    ort_outcome: Optional[str] = None        # the onnxruntime-only verdict (runtime="both")
    torch: Optional[TorchRun] = None
    note: str = ""
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.outcome in GOOD_OUTCOMES

    def label(self, spatial: Sequence[str] = ()) -> str:
        return _label(self.size, spatial)

    def describe(self) -> str:
        """The outcome in words, on one line."""
        o = self.outcome
        if o == "agree":
            return f"all {self.checked} formulas hold" + (f" ({self.unknown} values unknown)" if self.unknown else "")
        if o == "mismatch":
            m = self.mismatches[0]
            more = f" (+{len(self.mismatches) - 1} more)" if len(self.mismatches) > 1 else ""
            return f"mismatch: {m}{more}"
        if o in ("failed-as-predicted", "failed-elsewhere"):
            b = self.blamed
            blamed = f"{b.node} ({b.op_type})" if b else "no single constraint"
            rt = self.failing_node or "?"
            txt = "failed as predicted" if o == "failed-as-predicted" else "failed, but elsewhere"
            s = f"{txt}: blamed {blamed}; runtime failed at {rt}"
            return s + (f" ({self.note})" if self.note else "")
        if o == "surprise-ran":
            b = self.blamed
            return ("predicted invalid" + (f" at {b.node} ({b.op_type}): {b.reason}" if b else "")
                    + "; but it ran" + (f" ({self.note})" if self.note else ""))
        if o == "surprise-failed":
            return f"predicted valid, but failed at {self.failing_node or '?'}: {_short(self.error)}"
        if o == "exporter-divergence":
            return f"exporter divergence: {self.note}"
        if o == "skipped":
            return f"skipped: {self.note}"
        return o

    def to_json(self) -> dict:
        b = self.blamed
        return {
            "size": dict(self.size), "why": self.why, "outcome": self.outcome, "ok": self.ok,
            "predicted_valid": self.predicted_valid,
            "blamed": None if b is None else {"node": b.node, "op_type": b.op_type,
                                              "condition": str(b.condition), "reason": b.reason},
            "failing_node": self.failing_node, "error": self.error,
            "mismatches": [m.to_json() for m in self.mismatches],
            "checked": self.checked, "unknown": self.unknown, "memory_bytes": self.memory_bytes,
            "onnxruntime_outcome": self.ort_outcome,
            "torch": None if self.torch is None else {
                "ok": self.torch.ok, "output_shapes": [list(s) for s in self.torch.output_shapes],
                "error": self.torch.error},
            "note": self.note, "seconds": round(self.seconds, 4),
        }


@dataclass(frozen=True)
class ValidationReport:
    model: str
    runtime: str
    device: str
    symbols: Tuple[str, ...]
    spatial: Tuple[str, ...]
    verdict: str
    valid_if: str
    outcomes: Tuple[SizeOutcome, ...]
    seconds: float = 0.0
    warnings: Tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """True when every size agrees (skipped sizes and failures as predicted included)."""
        return all(o.ok for o in self.outcomes)

    @property
    def counts(self) -> Dict[str, int]:
        out: Dict[str, int] = {}
        for o in self.outcomes:
            out[o.outcome] = out.get(o.outcome, 0) + 1
        return out

    @property
    def problems(self) -> Tuple[SizeOutcome, ...]:
        return tuple(o for o in self.outcomes if not o.ok)

    def to_json(self) -> dict:
        return {
            "model": self.model, "runtime": self.runtime, "device": self.device, "ok": self.ok,
            "symbols": list(self.symbols), "verdict": self.verdict, "valid_if": self.valid_if,
            "counts": self.counts, "seconds": round(self.seconds, 3), "warnings": list(self.warnings),
            "sizes": [o.to_json() for o in self.outcomes],
        }

    def table(self) -> str:
        """Sizes x outcome, one line per size, and a summary line."""
        rows = [(o.label(self.spatial), o.outcome, o.describe()) for o in self.outcomes]
        w0 = max([4] + [len(r[0]) for r in rows])
        w1 = max([7] + [len(r[1]) for r in rows])
        lines = [f"{'size':<{w0}}  {'outcome':<{w1}}  detail"]
        lines += [f"{a:<{w0}}  {b:<{w1}}  {c}" for a, b, c in rows]
        counts = ", ".join(f"{n} {k}" for k, n in self.counts.items())
        lines.append(f"{'OK' if self.ok else 'DISAGREES'}: {len(self.outcomes)} sizes ({counts}); "
                     f"{self.runtime} on {self.device}; verdict {self.verdict}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table()


# ---------------------------------------------------------------- helpers


def _label(size: Mapping[str, int], spatial: Sequence[str] = ()) -> str:
    sp = [s for s in spatial if s in size]
    if sp and len(sp) == len(size):
        return "x".join(str(size[s]) for s in sp)
    head = "x".join(str(size[s]) for s in sp)
    rest = ",".join(f"{k}={v}" for k, v in size.items() if k not in sp)
    return f"{head} {rest}".strip() if head else rest


def _short(msg: Optional[str], limit: int = 160) -> str:
    if not msg:
        return ""
    return msg if len(msg) <= limit else msg[:limit - 3] + "..."


def _jsonable(d):
    if d is None or isinstance(d, int):
        return d
    if isinstance(d, Fraction):
        return str(d)
    return str(d)


class _Evaluator:
    """Every value's shape formula, compiled once, evaluated exactly at concrete sizes.

    Distinct dim expressions are compiled with the domain's exact integer evaluator (no float ever
    decides a floor); sympy substitution is the fallback for what it cannot compile.
    """

    def __init__(self, analysis):
        self.values = analysis.result.values
        self._fns: Dict[Any, Callable[[Env], Any]] = {}
        for vi in self.values.values():
            for d in vi.shape or ():
                if d is not None and not isinstance(d, int) and d not in self._fns:
                    self._fns[d] = self._compile(d)

    @staticmethod
    def _compile(expr):
        try:
            from .domain import _cexpr, _ir
            fn, den = _cexpr(_ir(expr))
            names = {str(s) for s in expr.free_symbols}

            def f(env, fn=fn, den=den, names=names):
                if not names <= env.keys():
                    return None
                num = fn(env)
                return int(num) // den if num % den == 0 else Fraction(int(num), den)
            return f
        except Exception:  # noqa: BLE001 - anything the fast path cannot take goes through sympy
            from .dims import evaluate

            def g(env, expr=expr):
                try:
                    return evaluate(expr, env)
                except (ValueError, TypeError, ZeroDivisionError):
                    return None
            return g

    def dims_at(self, env: Env) -> Dict[Any, Any]:
        out = {}
        for d, f in self._fns.items():
            try:
                out[d] = f(env)
            except (ZeroDivisionError, ValueError, TypeError, OverflowError):
                out[d] = None
        return out

    def shape_at(self, name: str, dims: Mapping[Any, Any]) -> Optional[Tuple[Any, ...]]:
        vi = self.values.get(name)
        if vi is None or vi.shape is None:
            return None
        return tuple(d if (d is None or isinstance(d, int)) else dims.get(d) for d in vi.shape)

    def memory(self, env: Env) -> Tuple[int, int]:
        """(predicted bytes of every value with a known shape, number of values with unknown shape)."""
        dims = self.dims_at(env)
        total, unknown = 0, 0
        for name, vi in self.values.items():
            shp = self.shape_at(name, dims)
            if shp is None or any(d is None or not isinstance(d, int) for d in shp):
                unknown += 1
                continue
            n = 1
            for d in shp:
                n *= max(d, 0)
            total += n * _ITEMSIZE.get(vi.dtype, 4)
        return total, unknown


def predicted_bytes(analysis, size: Mapping[str, int]) -> int:
    """Predicted activation memory of one run: sum over every value (graph inputs, intermediates,
    outputs) of numel * itemsize at these sizes; values of unknown shape count 0."""
    return _Evaluator(analysis).memory(dict(size))[0]


def _spatial(analysis) -> List[str]:
    from .sizes import spatial_symbols
    return [s for s in spatial_symbols(analysis) if s in analysis.domain.symbols or s in analysis.symbols]


def _all_symbols(analysis) -> List[str]:
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


def _predicts(domain, env: Env) -> bool:
    try:
        return bool(domain.contains(env))
    except ValueError:
        return False


# ---------------------------------------------------------------- choosing sizes


def choose_sizes(analysis, n: Optional[int] = None, memory_budget: Optional[int] = DEFAULT_MEMORY_BUDGET,
                 reference: int = 64) -> Tuple[PlannedSize, ...]:
    """Sizes that put the analysis to the test, chosen from the analysis itself.

    Per symbol: each lower bound, one below it and two above; odd and prime sizes; one size per
    residue class of every divisibility condition (``domain.moduli``); the points of the finite set
    when the model is locked, and their neighbours; a few predicted-invalid sizes; and large sizes,
    doubling, while the predicted activation memory stays within ``memory_budget`` bytes (the first
    size over it is returned with ``over_budget=True``, so the report can say it was skipped).
    Symbols that look like a batch dim get 1 and one size with 2. ``n`` caps the number of sizes
    (taken round-robin over the categories, so every category keeps its first picks).
    """
    dom = analysis.domain
    ev = _Evaluator(analysis)
    syms = _all_symbols(analysis)
    spatial = [s for s in _spatial(analysis) if s in syms]
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
                    add("finite-neighbour", f"finite-set point {_label(p, spatial)}, {s} {d:+d}",
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
        while scale <= 64:
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
    order = ["base", "boundary", "finite", "residue", "prime", "odd", "common", "finite-neighbour", "invalid",
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
    return tuple(_plan(analysis, ev, env, why, memory_budget) for env, why in picked)


def _plan(analysis, ev: _Evaluator, env: Env, why: str, memory_budget: Optional[int]) -> PlannedSize:
    mem, _ = ev.memory(env)
    over = memory_budget is not None and mem > memory_budget
    return PlannedSize(dict(env), why, _predicts(analysis.domain, env), mem, over)


def sample_sizes(analysis, n: int, seed: int = 0, memory_budget: Optional[int] = DEFAULT_MEMORY_BUDGET,
                 high: Optional[int] = None) -> Tuple[PlannedSize, ...]:
    """``n`` random sizes (seeded): half uniform in [1, high] per symbol (default 4x the reference
    size), half the valid sizes nearest to random points (so a locked model gets valid ones too)."""
    dom = analysis.domain
    ev = _Evaluator(analysis)
    syms = _all_symbols(analysis)
    spatial = _spatial(analysis)
    rng = np.random.default_rng(seed)
    lb = {s: max(1, int(dom.lower_bounds.get(s, 1))) for s in syms}
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
        if len(out) % 2 == 1 and dom.verdict != "never-valid":
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
        out.append(_plan(analysis, ev, env, why, memory_budget))
    return tuple(out)


# ---------------------------------------------------------------- the runtime model


def _runtime_model(analysis, proto: onnx.ModelProto) -> onnx.ModelProto:
    """The model onnxruntime runs: where the analysis made a dim the file fixes symbolic (spatial
    dims of a static export, or a --shape override), the file's input declares it as a dim_param, and
    declared intermediate / output shapes are dropped (types kept) so they cannot contradict."""
    changed = False
    by_name = {gi.name: gi for gi in analysis.result.graph.inputs}
    m = onnx.ModelProto()
    m.CopyFrom(proto)
    for inp in m.graph.input:
        gi = by_name.get(inp.name)
        if gi is None or gi.shape is None or not inp.type.HasField("tensor_type"):
            continue
        dims = inp.type.tensor_type.shape.dim
        if len(dims) != len(gi.shape):
            continue
        for d, f in zip(dims, gi.shape):
            if f is not None and not isinstance(f, int) and d.HasField("dim_value"):
                d.dim_param = str(f)  # clears dim_value (oneof)
                changed = True
    if not changed:
        return proto
    for vi in list(m.graph.value_info) + list(m.graph.output):
        if vi.type.HasField("tensor_type"):
            vi.type.tensor_type.ClearField("shape")
    return m


def _input_shapes(analysis, env: Env) -> Dict[str, Tuple[int, ...]]:
    from .dims import evaluate
    init = set(analysis.result.graph.initializers)
    out = {}
    for gi in analysis.result.graph.inputs:
        if gi.name in init:
            continue
        if gi.shape is None:
            raise ShapealgError(f"graph input {gi.name!r} has no known rank: cannot make an input for it "
                                f"(give its shape with --shape {gi.name}=...)")
        dims = []
        for d in gi.shape:
            v = 1 if d is None else evaluate(d, env)
            dims.append(int(v))
        out[gi.name] = tuple(dims)
    return out


def _graph_links(analysis):
    """(node name -> set of successor node names, node name -> op_type, value -> producer)."""
    consumers: Dict[str, List[str]] = {}
    producer: Dict[str, str] = {}
    ops: Dict[str, str] = {}
    for n in analysis.result.nodes:
        ops[n.name] = n.op_type
        for x in n.inputs:
            if x:
                consumers.setdefault(x, []).append(n.name)
        for o in n.outputs:
            if o:
                producer[o] = n.name
    succ: Dict[str, set] = {}
    for n in analysis.result.nodes:
        s = set()
        for o in n.outputs:
            s.update(consumers.get(o, ()))
        succ[n.name] = s
    return succ, ops, producer


def _descendants(succ: Mapping[str, set], start: str) -> set:
    seen = {start}
    stack = [start]
    while stack:
        for nx in succ.get(stack.pop(), ()):
            if nx not in seen:
                seen.add(nx)
                stack.append(nx)
    return seen


def _violated_nodes(domain, env: Env) -> List[str]:
    """Nodes with at least one constraint violated at env, in constraint order."""
    out: List[str] = []
    try:
        e = domain._env(env)
        for a in domain._atoms:
            if not a.at(e):
                node = domain.constraints[a.index].node
                if node not in out:
                    out.append(node)
        return out
    except Exception:  # noqa: BLE001 - fall back on the public constraint records
        for c in domain.constraints:
            try:
                if not c.holds_at(env) and c.node not in out:
                    out.append(c.node)
            except Exception:  # noqa: BLE001
                pass
        return out


# ---------------------------------------------------------------- torch


def _torch_outputs(out) -> List[Any]:
    import torch
    if isinstance(out, torch.Tensor):
        return [out]
    if isinstance(out, Mapping):
        vals = list(out.values())
    elif hasattr(out, "to_tuple"):
        vals = list(out.to_tuple())
    elif isinstance(out, (list, tuple)):
        vals = list(out)
    else:
        return []
    res: List[Any] = []
    for v in vals:
        res.extend(_torch_outputs(v))
    return res


def _run_torch(module, analysis, shapes: Mapping[str, Tuple[int, ...]], device: str, seed: int = 0) -> TorchRun:
    import torch
    gen = torch.Generator().manual_seed(seed)
    args = []
    for gi in analysis.result.graph.inputs:
        if gi.name not in shapes:
            continue
        shp = shapes[gi.name]
        if gi.dtype in (onnx.TensorProto.FLOAT, onnx.TensorProto.DOUBLE, onnx.TensorProto.FLOAT16, 0):
            t = torch.randn(shp, generator=gen)
            if gi.dtype == onnx.TensorProto.DOUBLE:
                t = t.double()
            elif gi.dtype == onnx.TensorProto.FLOAT16:
                t = t.half()
        elif gi.dtype == onnx.TensorProto.BOOL:
            t = torch.randint(0, 2, shp, generator=gen).bool()
        else:
            t = torch.randint(0, 4, shp, generator=gen)
        args.append(t.to(device))
    try:
        with torch.no_grad():
            out = module(*args)
    except Exception as e:  # noqa: BLE001 - any failure of the module at this size
        lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
        return TorchRun(False, (), f"{type(e).__name__}: {lines[0] if lines else ''}"[:300])
    return TorchRun(True, tuple(tuple(int(d) for d in t.shape) for t in _torch_outputs(out)))


# ---------------------------------------------------------------- validate


def _as_plans(analysis, sizes, memory_budget) -> Tuple[PlannedSize, ...]:
    from .sizes import parse_size
    ev = _Evaluator(analysis)
    syms = _all_symbols(analysis)
    spatial = _spatial(analysis)
    out = []
    for s in sizes:
        if isinstance(s, PlannedSize):
            out.append(s)
            continue
        if isinstance(s, str):
            env = parse_size(s, spatial, syms)
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
        out.append(_plan(analysis, ev, env, "given", memory_budget))
    return tuple(out)


def check_device(device: str, runtime: str = "onnxruntime") -> None:
    """Raise ShapealgError, saying what is installed, when ``device`` cannot be used by ``runtime``."""
    if device not in ("cpu", "cuda"):
        raise ShapealgError(f"device must be 'cpu' or 'cuda', not {device!r}")
    if device != "cuda":
        return
    if runtime in ("onnxruntime", "both"):
        import onnxruntime as ort
        avail = ort.get_available_providers()
        if "CUDAExecutionProvider" not in avail:
            raise ShapealgError("CUDA requested but onnxruntime has no CUDAExecutionProvider "
                                f"(installed: {', '.join(avail)}; install onnxruntime-gpu)")
    if runtime in ("torch", "both"):
        import torch
        if not torch.cuda.is_available():
            raise ShapealgError(f"CUDA requested but torch {torch.__version__} sees no CUDA device")


def validate(
    model,
    sizes: Optional[Sequence[Union[str, Mapping[str, int], Tuple[int, ...], PlannedSize]]] = None,
    sample: Optional[int] = None,
    device: str = "cpu",
    runtime: str = "onnxruntime",
    module=None,
    progress: Optional[Callable[[int, int, SizeOutcome], None]] = None,
    *,
    analysis=None,
    shapes: Optional[Mapping[str, Sequence]] = None,
    symbolize_spatial: bool = True,
    memory_budget: Optional[int] = DEFAULT_MEMORY_BUDGET,
    n: Optional[int] = None,
    seed: int = 0,
) -> ValidationReport:
    """Run ``model`` (an ONNX path or ModelProto) at many sizes and compare every value's shape with
    its formula, and every size's run / fail with the predicted valid set.

    sizes: explicit sizes ("224x224", {"H": 37, "W": 61}, (37, 61), or PlannedSize); else ``sample``
    random sizes; else ``choose_sizes(analysis, n, memory_budget)``.
    runtime: "onnxruntime" (every intermediate exposed, one session), "torch" (``module`` at the same
    sizes: its outputs against the ONNX output formulas) or "both" (also module-vs-file validity:
    ``exporter-divergence``). device: "cpu" or "cuda" (CUDAExecutionProvider / torch CUDA; a clear
    ShapealgError when not available). ``analysis``: a precomputed Analysis of the same model.
    """
    from .analysis import analyze

    t0 = time.perf_counter()
    if runtime not in RUNTIMES:
        raise ShapealgError(f"runtime must be one of {', '.join(RUNTIMES)}, not {runtime!r}")
    if runtime in ("torch", "both") and module is None:
        raise ShapealgError(f"runtime={runtime!r} needs the torch module (module=...)")
    check_device(device, runtime)
    if isinstance(model, (str, os.PathLike)):
        from .graph import load_model
        proto = load_model(model)
        label = os.fspath(model)
    elif isinstance(model, onnx.ModelProto):
        proto = model
        label = model.graph.name or "<model>"
    else:
        raise ShapealgError(f"validate needs an ONNX path or ModelProto, not {type(model).__name__}")
    a = analysis if analysis is not None else analyze(proto, shapes=shapes, symbolize_spatial=symbolize_spatial)
    dom = a.domain

    if sizes:
        plans = _as_plans(a, sizes, memory_budget)
    elif sample:
        plans = sample_sizes(a, sample, seed=seed, memory_budget=memory_budget)
    else:
        plans = choose_sizes(a, n=n, memory_budget=memory_budget)

    session = None
    if runtime in ("onnxruntime", "both"):
        from .runtime import make_session
        session = make_session(_runtime_model(a, proto), device=device, expose=True)
    if module is not None and runtime in ("torch", "both"):
        module = module.to(device).eval() if hasattr(module, "to") else module

    ev = _Evaluator(a)
    succ, ops, producer = _graph_links(a)
    outputs = list(a.result.graph.outputs)
    spatial = tuple(_spatial(a))
    results: List[SizeOutcome] = []
    for i, plan in enumerate(plans):
        ts = time.perf_counter()
        if plan.over_budget:
            mb = (plan.memory_bytes or 0) / 2 ** 20
            res = SizeOutcome(plan.size, plan.why, "skipped", plan.predicted_valid, memory_bytes=plan.memory_bytes,
                              note=f"predicted activations {mb:.0f} MiB > budget "
                                   f"{(memory_budget or 0) / 2 ** 20:.0f} MiB")
        else:
            res = _one_size(a, ev, plan, runtime, session, module, device, succ, ops, producer, outputs, seed)
        res = _replace(res, seconds=time.perf_counter() - ts)
        results.append(res)
        if progress is not None:
            progress(i + 1, len(plans), res)
    warnings = []
    if session is not None and session.sess is None:
        warnings.append(f"onnxruntime refused the model: {session.error}")
    if a.result.warnings:
        warnings.append(f"{len(a.result.warnings)} analysis warnings (values of unknown shape are not checked)")
    return ValidationReport(label, runtime, device, tuple(_all_symbols(a)), spatial, dom.verdict,
                            str(dom.valid_if), tuple(results), time.perf_counter() - t0, tuple(warnings))


def _replace(o: SizeOutcome, **kw) -> SizeOutcome:
    from dataclasses import replace
    return replace(o, **kw)


def _compare(ev: _Evaluator, env: Env, shapes: Mapping[str, Tuple[int, ...]], producer, ops):
    dims = ev.dims_at(env)
    mism: List[Mismatch] = []
    checked = unknown = 0
    for name, got in shapes.items():
        exp = ev.shape_at(name, dims)
        if exp is None:
            unknown += 1
            continue
        if len(exp) != len(got):
            node = producer.get(name)
            mism.append(Mismatch(name, node, ops.get(node), exp, tuple(got)))
            checked += 1
            continue
        known = [(e, g) for e, g in zip(exp, got) if e is not None]
        if len(known) < len(exp):
            unknown += 1
        if any(e != g for e, g in known):
            node = producer.get(name)
            mism.append(Mismatch(name, node, ops.get(node), exp, tuple(got)))
        checked += 1
    return tuple(mism), checked, unknown


def _one_size(a, ev, plan: PlannedSize, runtime, session, module, device, succ, ops, producer, outputs,
              seed) -> SizeOutcome:
    from .runtime import run_onnxruntime
    dom = a.domain
    env = plan.size
    pv = plan.predicted_valid
    blamed = None if pv else _safe_blocking(dom, env)
    shapes_in = _input_shapes(a, env)
    base = dict(size=env, why=plan.why, predicted_valid=pv, blamed=blamed, memory_bytes=plan.memory_bytes)

    ort_res = None
    if session is not None:
        r = run_onnxruntime(None, shapes_in, session=session, seed=seed)
        ort_res = _judge_ort(a, ev, env, pv, blamed, r, succ, ops, producer, base)
    tr = None
    if runtime in ("torch", "both"):
        tr = _run_torch(module, a, shapes_in, device, seed)
    if runtime == "onnxruntime":
        return ort_res
    if runtime == "torch":
        return _judge_torch(ev, env, pv, tr, outputs, base)
    # both
    ort_ok = ort_res.outcome in ("agree", "mismatch", "surprise-ran")
    if ort_ok != tr.ok:
        if tr.ok:
            note = (f"the torch module runs, the ONNX file fails at {ort_res.failing_node or '?'} "
                    f"({_short(ort_res.error, 120)})")
        else:
            note = f"the ONNX file runs, the torch module fails ({_short(tr.error, 120)})"
        note += "; the analysis predicted " + ("valid" if pv else "invalid")
        return _replace(ort_res, outcome="exporter-divergence", ort_outcome=ort_res.outcome, torch=tr, note=note)
    out = _replace(ort_res, ort_outcome=ort_res.outcome, torch=tr)
    if ort_res.outcome == "agree":
        tj = _judge_torch(ev, env, pv, tr, outputs, base)
        if tj.outcome != "agree":
            return _replace(out, outcome=tj.outcome, mismatches=tj.mismatches, note="torch: " + tj.note)
    return out


def _safe_blocking(dom, env):
    try:
        return dom.blocking(env)
    except ValueError:
        return None


def _judge_ort(a, ev, env, pv, blamed, r, succ, ops, producer, base) -> SizeOutcome:
    if r.ok:
        mism, checked, unknown = _compare(ev, env, r.shapes, producer, ops)
        if pv:
            return SizeOutcome(**base, outcome="mismatch" if mism else "agree", mismatches=mism, checked=checked,
                               unknown=unknown)
        note = f"{len(mism)} shape mismatches too" if mism else ""
        if blamed is not None:
            note = (note + "; " if note else "") + f"{blamed.reason}"
        return SizeOutcome(**base, outcome="surprise-ran", mismatches=mism, checked=checked, unknown=unknown,
                           note=note)
    if pv:
        return SizeOutcome(**base, outcome="surprise-failed", failing_node=r.failing_node, error=r.error)
    fn = r.failing_node
    if blamed is None or fn is None:
        return SizeOutcome(**base, outcome="failed-as-predicted", failing_node=fn, error=r.error,
                           note="" if fn else "the runtime's message names no node")
    if fn == blamed.node:
        return SizeOutcome(**base, outcome="failed-as-predicted", failing_node=fn, error=r.error, note="")
    violated = _violated_nodes(a.domain, env)
    if fn in violated:
        return SizeOutcome(**base, outcome="failed-as-predicted", failing_node=fn, error=r.error,
                           note=f"{fn} has a violated constraint too")
    for v in violated:
        if fn in _descendants(succ, v):
            return SizeOutcome(**base, outcome="failed-as-predicted", failing_node=fn, error=r.error,
                               note=f"{fn} ({ops.get(fn, '?')}) is downstream of {v} ({ops.get(v, '?')})")
    if fn not in ops:  # a name the runtime made up (e.g. a fused or renamed node)
        return SizeOutcome(**base, outcome="failed-as-predicted", failing_node=fn, error=r.error,
                           note=f"{fn} is not a node of the file")
    return SizeOutcome(**base, outcome="failed-elsewhere", failing_node=fn, error=r.error,
                       note=f"{fn} ({ops.get(fn, '?')}) is not downstream of any violated constraint")


def _judge_torch(ev, env, pv, tr: TorchRun, outputs, base) -> SizeOutcome:
    if not tr.ok:
        if pv:
            return SizeOutcome(**base, outcome="surprise-failed", failing_node="torch module", error=tr.error,
                               torch=tr)
        return SizeOutcome(**base, outcome="failed-as-predicted", failing_node="torch module", error=tr.error,
                           torch=tr, note="the torch module failed")
    if not pv:
        return SizeOutcome(**base, outcome="surprise-ran", torch=tr, note="the torch module ran")
    dims = ev.dims_at(env)
    mism: List[Mismatch] = []
    checked = unknown = 0
    pairs = list(zip(outputs, tr.output_shapes)) if len(outputs) == len(tr.output_shapes) else \
        list(zip(outputs[:1], tr.output_shapes[:1]))
    for name, got in pairs:
        exp = ev.shape_at(name, dims)
        if exp is None or any(d is None for d in exp):
            unknown += 1
            continue
        checked += 1
        if tuple(exp) != tuple(got):
            mism.append(Mismatch(name, "torch module", "output", exp, tuple(got)))
    if mism:
        return SizeOutcome(**base, outcome="mismatch", mismatches=tuple(mism), checked=checked, unknown=unknown,
                           torch=tr, note=str(mism[0]))
    return SizeOutcome(**base, outcome="agree", checked=checked, unknown=unknown, torch=tr)
