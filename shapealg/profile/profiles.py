"""``profile()``: the deployment profiles of a model (min / opt / max per dynamic size, all in the valid set),
with the shapes of every dynamic input, the memory at each profile's max, and the parts of the valid set left out."""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field, replace
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from ..records import ShapealgError
from .parts import (BATCH_NAMES, DimRange, Part, describe_invalid, is_product, joint_points, nearest_valid,
                    rectangles, symbol_parts)

Env = Dict[str, int]
DEFAULT_MAX_PROFILES = 4
_DEFAULT_OPT = {"spatial": 224, "batch": 1, "sequence": 128}


@dataclass(frozen=True)
class InputSpec:
    """A graph input the runtimes need shapes for: its dims (ints and formulas), dtype, and which dims the file
    itself fixes although shapealg made them symbolic."""
    name: str
    dims: Tuple[Any, ...]
    dtype: int
    fixed_in_file: Tuple[int, ...] = ()

    @property
    def dynamic(self) -> bool:
        return any(not isinstance(d, int) for d in self.dims)

    def at(self, env: Mapping[str, int]) -> Tuple[int, ...]:
        from ..dims import evaluate
        return tuple(1 if d is None else int(evaluate(d, env)) for d in self.dims)


@dataclass(frozen=True)
class Profile:
    """One optimisation profile: a range per symbol, the shapes of every dynamic input at min / opt / max, and
    the memory at max (``memory``: activation_bytes, peak_bytes, weights_bytes)."""
    index: int
    dims: Tuple[DimRange, ...]
    shapes: Mapping[str, Tuple[Tuple[int, ...], Tuple[int, ...], Tuple[int, ...]]]
    memory: Mapping[str, Optional[int]] = field(default_factory=dict)
    notes: Tuple[str, ...] = ()

    def point(self, which: str) -> Env:
        """The sizes at ``min`` / ``opt`` / ``max``."""
        return {d.name: getattr(d, which) for d in self.dims}

    @property
    def exact(self) -> bool:
        """Every size inside the box is valid."""
        return all(not d.invalid for d in self.dims)

    def label(self) -> str:
        return ", ".join(f"{d.name} {d.min}..{d.max}" + (f" step {d.stride}" if d.stride > 1 else "")
                         for d in self.dims) or "static"

    def __repr__(self) -> str:
        return f"Profile({self.index}: {self.label()}{'' if self.exact else ', with invalid sizes inside'})"

    def to_json(self) -> dict:
        return {"index": self.index, "dims": [d.to_json() for d in self.dims], "exact": self.exact,
                "shapes": {k: {"min": list(v[0]), "opt": list(v[1]), "max": list(v[2])} for k, v in self.shapes.items()},
                "memory_at_max": dict(self.memory), "notes": list(self.notes)}


@dataclass(frozen=True)
class ProfileReport:
    model: str
    verdict: str
    summary: str
    valid_if: str
    inputs: Tuple[InputSpec, ...]
    roles: Mapping[str, str]                       # symbol -> batch / spatial / sequence
    box: Mapping[str, Tuple[int, int]]             # the range asked for (or chosen), per symbol
    opt: Mapping[str, int]                         # the opt asked for
    opt_source: str                                # where opt came from
    profiles: Tuple[Profile, ...]
    left_out: Tuple[str, ...] = ()                 # parts of the valid set inside the box with no profile
    notes: Tuple[str, ...] = ()
    weights_bytes: int = 0
    memory_limit: Optional[int] = None
    analysis: Any = field(default=None, repr=False, compare=False)

    def __repr__(self) -> str:
        return (f"ProfileReport({self.model!r}: {len(self.profiles)} profile(s) over "
                f"{', '.join(f'{k} {a}..{b}' for k, (a, b) in self.box.items()) or 'no dynamic size'}"
                f"{f', {len(self.left_out)} part(s) left out' if self.left_out else ''})")

    @property
    def symbols(self) -> List[str]:
        return list(self.box)

    @property
    def dynamic_inputs(self) -> List[InputSpec]:
        return [i for i in self.inputs if i.dynamic]

    # -- the runtimes' syntaxes (shapealg.profile.syntax) ------------------------------------------------------
    def trtexec(self, model_path: str = "model.onnx") -> str:
        from .syntax import trtexec_command
        return trtexec_command(self, model_path)

    def onnxruntime_tensorrt(self) -> Dict[str, str]:
        from .syntax import ort_trt_options
        return ort_trt_options(self)

    def onnxruntime_snippet(self, model_path: str = "model.onnx") -> str:
        from .syntax import ort_snippet
        return ort_snippet(self, model_path)

    def openvino(self, index: int = 0) -> str:
        from .syntax import openvino_input
        return openvino_input(self, index)

    def torch_export(self, index: int = 0, arg_names: Optional[Mapping[str, str]] = None) -> str:
        from .syntax import torch_export_code
        return torch_export_code(self, index, arg_names)

    def dynamic_shapes(self, index: int = 0, arg_names: Optional[Mapping[str, str]] = None):
        from .syntax import torch_dynamic_shapes
        return torch_dynamic_shapes(self, index, arg_names)

    def prepare(self, size: Mapping[str, int], profile: int = 0):
        from .prepare import prepare_input
        return prepare_input(self, size, profile)

    def to_json(self, model_path: str = "model.onnx") -> dict:
        """Everything, the runtimes' syntaxes included (``model_path``: the path written into the commands)."""
        from .syntax import ort_trt_options, openvino_input, torch_export_code
        out = {
            "model": self.model, "verdict": self.verdict, "summary": self.summary, "valid_if": self.valid_if,
            "inputs": [{"name": i.name, "dims": [d if isinstance(d, int) or d is None else str(d) for d in i.dims],
                        "dynamic": i.dynamic, "fixed_in_file": list(i.fixed_in_file)} for i in self.inputs],
            "symbols": {k: {"role": self.roles[k], "range": list(self.box[k]), "opt": self.opt.get(k)}
                        for k in self.box},
            "opt_source": self.opt_source,
            "profiles": [p.to_json() for p in self.profiles],
            "left_out": list(self.left_out),
            "weights_bytes": self.weights_bytes,
            "memory_limit": self.memory_limit,
            "notes": list(self.notes),
        }
        if self.profiles and self.dynamic_inputs:
            rt: Dict[str, Any] = {}
            try:
                rt["trtexec"] = self.trtexec(model_path)
            except ShapealgError as e:
                rt["trtexec"] = {"error": str(e)}
            try:
                rt["onnxruntime_tensorrt"] = ort_trt_options(self)
            except ShapealgError as e:
                rt["onnxruntime_tensorrt"] = {"error": str(e)}
            try:
                rt["openvino"] = [openvino_input(self, i) for i in range(len(self.profiles))]
            except ShapealgError as e:
                rt["openvino"] = {"error": str(e)}
            rt["torch_export"] = [torch_export_code(self, i) for i in range(len(self.profiles))]
            out["runtimes"] = rt
        return out


# ---------------------------------------------------------------- building


def _traced(a) -> Tuple[Env, str]:
    """The sizes the model was traced / exported at, where the file or the export says."""
    front = getattr(a, "front", None)
    if front is not None and front.trace_shape:
        env = {str(n): int(v) for n, v in zip(front.input_shape, front.trace_shape) if isinstance(n, str)}
        if env:
            return env, f"the trace size of the export ({'x'.join(map(str, front.trace_shape))})"
    env: Env = {}
    for gi in a.result.graph.inputs:
        if gi.shape is None or gi.declared is None or len(gi.declared) != len(gi.shape):
            continue
        for d, dec in zip(gi.shape, gi.declared):
            if isinstance(dec, int) and dec > 0 and d is not None and not isinstance(d, int) and d.is_Symbol:
                env.setdefault(str(d), dec)
    return env, ("the size the file declares (" + ", ".join(f"{k}={v}" for k, v in env.items()) + ")") if env else ""


def input_specs(a) -> Tuple[InputSpec, ...]:
    init = set(a.result.graph.initializers)
    out = []
    for gi in a.result.graph.inputs:
        if gi.name in init or gi.shape is None:
            continue
        fixed = tuple(i for i, (d, dec) in enumerate(zip(gi.shape, gi.declared or ()))
                      if isinstance(dec, int) and not isinstance(d, int) and d is not None)
        out.append(InputSpec(gi.name, tuple(gi.shape), gi.dtype, fixed))
    return tuple(out)


def weights_bytes(a) -> int:
    from ..cost.memory import DTYPE_BYTES
    total = 0
    for t in a.result.graph.initializers.values():
        size = DTYPE_BYTES.get(t.dtype, 4)
        total += int(-(-t.numel * size // 1))
    return total


def dynamic_sizes(a) -> Tuple[List[str], Dict[str, str]]:
    """(the symbols of the inputs' dims, in order, and each one's role: ``spatial`` (a trailing dim of a float
    input of rank 3-5), ``batch`` (a batch-like name, or always the first dim), else ``sequence``)."""
    from ..enums import FLOAT_TYPES
    specs = input_specs(a)
    names = _dynamic_symbols(a, specs)
    spatial, first, other = set(), set(), set()
    for s in specs:
        img = s.dtype in FLOAT_TYPES and len(s.dims) in (3, 4, 5)
        for i, d in enumerate(s.dims):
            if d is None or isinstance(d, int) or not d.is_Symbol:
                continue
            if img and i >= 2:
                spatial.add(str(d))
            (first if i == 0 else other).add(str(d))
    roles = {}
    for n in names:
        if n in spatial:
            roles[n] = "spatial"
        elif n.lower() in BATCH_NAMES or (n in first and n not in other):
            roles[n] = "batch"
        else:
            roles[n] = "sequence"
    return names, roles


def _dynamic_symbols(a, specs: Sequence[InputSpec]) -> List[str]:
    out: List[str] = []
    for s in specs:
        for d in s.dims:
            if d is None or isinstance(d, int):
                continue
            for x in sorted(d.free_symbols, key=str):
                if str(x) not in out and not a.result.is_data_dependent(x):
                    out.append(str(x))
    return out


def _default_box(dom, name: str, role: str, opt: int) -> Tuple[int, int]:
    s = dom.sets.get(name)
    lo = int(s.minimum) if s is not None and s.minimum is not None else 1
    lo = max(lo, int(dom.lower_bounds.get(name, 1)))
    if role == "batch":
        hi = max(8, opt)
    elif role == "spatial":
        hi = max(1024, 2 * opt)
    else:
        hi = max(512, 2 * opt)
    if s is not None and s.is_finite and s.below:
        hi = min(hi, int(s.below[-1])) if int(s.below[-1]) >= lo else int(s.below[-1])
    return lo, max(lo, hi)


def profile(model=None, *, ranges: Optional[Mapping[str, Tuple[int, int]]] = None,
            opt: Optional[Mapping[str, int]] = None, max_profiles: int = DEFAULT_MAX_PROFILES,
            memory_limit: Optional[int] = None, cover: bool = False, analysis=None, input_shape=None,
            shapes=None, symbolize_spatial: bool = True) -> ProfileReport:
    """Deployment profiles of ``model`` (an ONNX path, ModelProto, torch nn.Module with ``input_shape``, or a
    given ``analysis``): min / opt / max per dynamic size, every one in the valid set.

    ranges: {symbol: (lo, hi)} (default per role: spatial from the smallest valid size to max(1024, 2*opt),
    batch 1..max(8, opt), other sizes to max(512, 2*opt), clipped to a finite valid set). opt: {symbol: size}
    (default the size the model was traced / exported at, else 224 / 1 / 128). max_profiles: at most this many
    profiles (the parts left out are named). memory_limit: bytes; each profile's max is lowered to the largest
    sizes whose peak live activations plus the weights fit. cover: one profile spanning each symbol's valid
    range (min and max valid, invalid sizes inside named) instead of one per part.
    """
    from ..analysis import analyze_source
    from ..source import load
    if max_profiles < 1:
        raise ShapealgError(f"max_profiles must be >= 1, not {max_profiles}")
    a = analysis
    if a is None:
        if model is None:
            raise ShapealgError("profile() needs a model or an analysis")
        a = analyze_source(load(model, input_shape=input_shape), shapes=shapes, symbolize_spatial=symbolize_spatial)
    dom = a.domain
    specs = input_specs(a)
    names, roles = dynamic_sizes(a)
    notes: List[str] = []
    ranges = {str(k): v for k, v in (ranges or {}).items()}
    opt_in = {str(k): int(v) for k, v in (opt or {}).items()}
    for k in list(ranges) + list(opt_in):
        if k not in names:
            raise ShapealgError(f"the model has no dynamic size {k!r} (its dynamic sizes: "
                                f"{', '.join(names) or 'none'})")
    traced, traced_words = _traced(a)
    want: Env = {}
    for n in names:
        want[n] = opt_in.get(n, traced.get(n, _DEFAULT_OPT[roles[n]]))
    opt_source = ("--opt" if opt_in else "") + ("; " if opt_in and traced_words else "") + \
        (traced_words if traced_words and set(traced) & (set(names) - set(opt_in)) else "")
    if not opt_source:
        opt_source = "defaults (spatial 224, batch 1, other 128)"
    box: Dict[str, Tuple[int, int]] = {}
    for n in names:
        if n in ranges:
            lo, hi = (int(v) for v in ranges[n])
            if lo < 1 or hi < lo:
                raise ShapealgError(f"range {n}={lo}:{hi}: expected 1 <= lo <= hi")
            box[n] = (lo, hi)
        else:
            box[n] = _default_box(dom, n, roles[n], want[n])
    for n in names:
        lo, hi = box[n]
        if not lo <= want[n] <= hi:
            clamped = min(max(want[n], lo), hi)
            notes.append(f"opt {n}={want[n]} is outside the range {lo}..{hi}: {clamped} used")
            want[n] = clamped
    wb = weights_bytes(a)
    base = dict(verdict=str(dom.verdict), summary=dom.summary, valid_if=dom.valid_if_text, inputs=specs,
                roles=roles, box=box, opt=dict(want), opt_source=opt_source, weights_bytes=wb,
                memory_limit=memory_limit, analysis=a, model=a.result.graph.path or "<model>")
    if str(dom.verdict) == "never-valid":
        raise ShapealgError(f"no input size is valid ({dom.summary}): there is no profile to give")
    if not names:
        return ProfileReport(profiles=(Profile(0, (), {}),), notes=tuple(notes + ["no input size is dynamic: "
                             "one static profile"]), **base)

    combos: List[Tuple[Part, ...]]
    words: Dict[str, str] = {}
    product = is_product(dom, names, box)
    joint = [] if product else (list(dom.finite_symbols) if dom.finite_set and set(dom.finite_symbols) <= set(names)
                                else list(names))
    per: List[List[Tuple[Part, ...]]] = []
    for n in names:
        if n in joint:
            continue
        parts, w = symbol_parts(dom, n, *box[n], cover=cover)
        if not parts:
            near = dom.sets[n].nearest(want[n], 3) if n in dom.sets else []
            raise ShapealgError(f"no valid {n} in {box[n][0]}..{box[n][1]} ({' and '.join(dom.sets[n].describe())}"
                                f"; nearest valid: {', '.join(map(str, near)) or 'none'})")
        per.append([(p,) for p in parts])
        words[n] = w
    if joint:
        pts = joint_points(dom, joint, box, {n: want[n] for n in names if n not in joint})
        if not pts:
            raise ShapealgError(f"no valid size inside {_box_text({n: box[n] for n in joint})} ({dom.summary})")
        rects = rectangles(pts)
        notes.append(f"the valid sizes of {', '.join(joint)} are not a product of per-size ranges ({dom.summary}): "
                     f"{len(pts)} valid point(s) inside the range, covered by {len(rects)} box(es) of valid sizes, "
                     f"one profile each")
        per.append([tuple(Part(n, a, b) for n, (a, b) in zip(joint, r)) for r in rects])
    flat = [tuple(itertools.chain.from_iterable(c)) for c in
            (itertools.product(*per) if _count(per) <= 100_000 else _nearest_combos(per, want, 10_000))]
    order = {n: i for i, n in enumerate(names)}
    combos = [tuple(sorted(c, key=lambda p: order[p.name])) for c in flat]
    combos.sort(key=lambda c: (sum(_dist(p, want[p.name]) for p in c), [p.lo for p in c]))
    kept, rest = combos[:max_profiles], combos[max_profiles:]
    left = tuple(", ".join(p.text() for p in c) for c in rest)
    profiles = []
    for i, c in enumerate(kept):
        dims = []
        for p in c:
            n_ok, inv = describe_invalid(dom, p.name, p.lo, p.hi, p.stride)
            opt_v = nearest_valid(dom, p.name, p.lo, p.hi, p.stride, want[p.name])
            dims.append(DimRange(p.name, roles[p.name], p.lo, opt_v, p.hi, p.stride, n_ok, inv))
        profiles.append(_with_invalid_note(dom, _finish(a, specs, i, tuple(dims))))
    from .memory import with_memory
    profiles = with_memory(a, profiles, wb)
    if memory_limit is not None:
        profiles, mem_notes = _fit_memory(a, specs, profiles, memory_limit, wb, dom)
        notes += mem_notes
    for p in profiles:
        for which in ("min", "opt", "max"):
            if not dom.contains(p.point(which)):  # never expected: every point comes from the exact sets
                raise ShapealgError(f"internal error: profile {p.index} {which} {p.point(which)} is not valid")
    if any(i.fixed_in_file for i in specs):
        fx = [f"{i.name} (dims {', '.join(map(str, i.fixed_in_file))})" for i in specs if i.fixed_in_file]
        notes.append(f"the file fixes {', '.join(fx)} although they vary here: a runtime reads the file's shapes, "
                     f"so re-export with those dims dynamic (dynamic_axes / dynamic_shapes) before using these profiles")
    return ProfileReport(profiles=tuple(profiles), left_out=left, notes=tuple(notes), **base)


def _finish(a, specs, index: int, dims: Tuple[DimRange, ...]) -> Profile:
    pts = {w: {d.name: getattr(d, w) for d in dims} for w in ("min", "opt", "max")}
    shapes = {s.name: (s.at(pts["min"]), s.at(pts["opt"]), s.at(pts["max"])) for s in specs if s.dynamic}
    return Profile(index, dims, shapes)


def _with_invalid_note(dom, p: Profile) -> Profile:
    """Where the box holds invalid sizes: one of them, the node it fails at, and what the runtimes do."""
    from .parts import symbol_values
    for d in p.dims:
        if not d.invalid:
            continue
        ok = set(int(v) for v in symbol_values(dom, d.name, d.min, min(d.max, d.min + 4096)))
        bad = next((v for v in range(d.opt, min(d.max, d.opt + 4096) + 1) if v not in ok), None)
        if bad is None:
            bad = next((v for v in range(d.min, min(d.max, d.min + 4096) + 1) if v not in ok), None)
        if bad is None:
            continue
        env = {**p.point("opt"), d.name: bad}
        c = dom.blocking(env)
        where = f" at node {c.node!r} ({c.op_type}): {c.reason}" if c is not None else ""
        return replace(p, notes=p.notes + (
            f"sizes inside this box are not all valid ({'; '.join(x.name + ': ' + x.invalid for x in p.dims if x.invalid)}); "
            f"e.g. {', '.join(f'{k}={v}' for k, v in env.items())} fails{where}. TensorRT and onnxruntime accept such a "
            f"shape (it is inside the profile) and fail when it runs: prepare inputs to a valid size "
            f"(see 'input preparation')",))
    return p


def _fit_memory(a, specs, profiles, limit: int, weights: int, dom) -> Tuple[list, List[str]]:
    """Each profile's max lowered to the largest that fits ``limit`` (memory.fit_max); a profile whose min does
    not fit is dropped, and said so."""
    from .memory import fit_max, fmt_bytes, memory_at
    from .parts import below_valid
    out, notes = [], []
    for p in profiles:
        mx = fit_max(a, p, limit, weights, dom)
        if mx is None:
            m = memory_at(a, [p.point("min")])[0]
            notes.append(f"profile {p.label()}: even its min needs {fmt_bytes((m['peak_bytes'] or 0) + weights)} "
                         f"(peak live activations + weights) > limit {fmt_bytes(limit)}: dropped")
            continue
        if mx == p.point("max"):
            out.append(p)
            continue
        dims = []
        for d in p.dims:
            n_ok, inv = describe_invalid(dom, d.name, d.min, mx[d.name], d.stride)
            opt_v = below_valid(dom, d.name, d.min, mx[d.name], d.stride, d.opt)
            dims.append(DimRange(d.name, d.role, d.min, opt_v, mx[d.name], d.stride, n_ok, inv))
        q = _finish(a, specs, p.index, tuple(dims))
        m = memory_at(a, [q.point("max")])[0]
        word = f"max lowered from {', '.join(f'{d.name}={d.max}' for d in p.dims)} to fit {fmt_bytes(limit)}"
        q = replace(q, memory={**m, "weights_bytes": weights}, notes=tuple(p.notes) + (word,))
        out.append(_with_invalid_note(dom, replace(q, notes=tuple(n for n in q.notes if not n.startswith("sizes inside")))))
        notes.append(f"profile {p.label()}: max lowered to {q.point('max')} to fit {fmt_bytes(limit)}")
    if not out:
        raise ShapealgError(f"no profile fits the memory limit {fmt_bytes(limit)} even at its min (weights "
                            f"{fmt_bytes(weights)})")
    return [replace(p, index=i) for i, p in enumerate(out)], notes


def _dist(p: Part, v: int) -> int:
    return 0 if p.lo <= v <= p.hi else min(abs(p.lo - v), abs(p.hi - v))


def _count(per) -> int:
    n = 1
    for x in per:
        n *= len(x)
    return n


def _nearest_combos(per, want, k):
    keep = max(2, int(k ** (1 / max(1, len(per)))))
    cut = [sorted(ps, key=lambda c: sum(_dist(p, want[p.name]) for p in c))[:keep] for ps in per]
    return list(itertools.product(*cut))


def _box_text(box) -> str:
    return ", ".join(f"{k} {a}..{b}" for k, (a, b) in box.items())
