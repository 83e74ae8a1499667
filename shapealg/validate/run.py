"""validate(): run the model at each planned size in onnxruntime and / or torch, judge each run.

The library never prints; progress goes to an optional callback ``progress(done, total, outcome)``.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, replace
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
import onnx

from ..onnx_file import undecodable_name
from ..records import ShapealgError
from .choose import DEFAULT_MEMORY_BUDGET, as_plans, choose_sizes, sample_sizes, spatial_of, symbols_of
from .evaluator import Evaluator, evaluator_for
from .onnxrt import constant_values, exposed_model, graph_links, node_values, input_shapes, judge_ort, runtime_model, safe_blocking
from .report import PlannedSize, SizeOutcome, ValidationReport, short
from ..module_check import ModuleChecker
from .torchrt import judge_torch, run_torch

RUNTIMES = ("onnxruntime", "torch", "both")
# input-independent values worth a small model of their own: creating it costs ~7 ms; probing a value in the
# main session costs ~25 us at creation and ~1.6 us per run (segformer / mobilenet_v2 TorchScript, 20 sizes)
_CONST_MODEL_MIN = 128


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
    runtime: Optional[str] = None,
    module=None,
    progress: Optional[Callable[[int, int, SizeOutcome], None]] = None,
    *,
    analysis=None,
    shapes: Optional[Mapping[str, Sequence]] = None,
    symbolize_spatial: bool = True,
    input_shape=None,
    memory_budget: Optional[int] = DEFAULT_MEMORY_BUDGET,
    n: Optional[int] = None,
    seed: int = 0,
) -> ValidationReport:
    """Run ``model`` at many sizes and compare every value's shape with its formula, and every size's
    run / fail with the predicted valid set.

    model: an ONNX path or ModelProto, or a torch nn.Module (exported by shapealg with ``input_shape``,
    default ``(1, 3, "H", "W")``; runtime then defaults to "both").
    sizes: explicit sizes ("224x224", {"H": 37, "W": 61}, (37, 61), or PlannedSize); else ``sample``
    random sizes; else ``choose_sizes(analysis, n, memory_budget)``.
    runtime: "onnxruntime" (every intermediate's shape reported by the run, one session; the default for a file), "torch"
    (``module`` at the same sizes: its outputs against the graph outputs' formulas, every submodule's output
    against its module-level formula through forward hooks) or "both" (the two, and module-vs-file
    validity: ``exporter-divergence``). device: "cpu" or "cuda" (CUDAExecutionProvider / torch CUDA; a
    clear ShapealgError when not available). ``analysis``: a precomputed Analysis of the same model.
    """
    from ..analysis import analyze_source
    from ..source import Source, is_module, load

    t0 = time.perf_counter()
    a = analysis
    is_mod = model.is_module if isinstance(model, Source) else is_module(model)
    runtime = runtime or ("both" if is_mod else "onnxruntime")
    if runtime not in RUNTIMES:
        raise ShapealgError(f"runtime must be one of {', '.join(RUNTIMES)}, not {runtime!r}")
    if is_mod:
        given = model.module if isinstance(model, Source) else model
        if module is not None and module is not given:
            raise ShapealgError("model is a torch module already: leave module=... out")
        module = given
    if runtime in ("torch", "both") and module is None:
        raise ShapealgError(f"runtime={runtime!r} needs the torch module (module=...)")
    check_device(device, runtime)
    ext_note = ""
    src = None
    if not (is_mod and a is not None):  # a module's analysis holds its export: the module is not exported again
        src = load(model, input_shape=input_shape if is_mod else None, weights=True,
                   expected="validate needs an ONNX path, a ModelProto or a torch module, not")
    if is_mod:
        if a is None:
            a = analyze_source(src)
        if a.model_proto is None:
            raise ShapealgError("the analysis given has no exported ONNX model (analyze the module itself)")
        proto = a.model_proto
        label = a.result.graph.path or type(module).__name__
    elif src.path is not None:
        proto, ext_note = _with_external_data(src.proto, src.folder)
        label = src.path
    else:
        proto = src.proto
        label = proto.graph.name or "<model>"
    a = a if a is not None else analyze_source(src, shapes=shapes, symbolize_spatial=symbolize_spatial)
    dom = a.domain
    bad_name = undecodable_name(proto) if runtime in ("onnxruntime", "both") else None
    if bad_name:  # the analysis reads it escaped; the runtime's names would not be the analysis' names
        raise ShapealgError(f"{bad_name} is not valid UTF-8: the model cannot be validated (fix the name)")

    if sizes:
        plans = as_plans(a, sizes, memory_budget)
    elif sample:
        plans = sample_sizes(a, sample, seed=seed, memory_budget=memory_budget)
    else:
        plans = choose_sizes(a, n=n, memory_budget=memory_budget)

    session, const_shapes = None, {}
    if runtime in ("onnxruntime", "both"):
        session, const_shapes = _sessions(runtime_model(a, proto), device, a)
    formulas = None
    if module is not None and runtime in ("torch", "both"):
        module = module.to(device).eval() if hasattr(module, "to") else module
        formulas = ModuleChecker(a, module)

    ev = evaluator_for(a)
    flat = ev.flat(session.probed) if session is not None and session.probed else None
    ctx = _Context(a, ev, graph_links(a), runtime, session, const_shapes, flat, module, formulas, device, seed)
    results: List[SizeOutcome] = []
    blamed = _blamed(a, plans)
    for i, plan in enumerate(plans):
        ts = time.perf_counter()
        if plan.over_budget:
            mb = (plan.memory_bytes or 0) / 2 ** 20
            res = SizeOutcome(plan.size, plan.why, "skipped", plan.predicted_valid, memory_bytes=plan.memory_bytes,
                              note=f"predicted activations {mb:.0f} MiB > budget "
                                   f"{(memory_budget or 0) / 2 ** 20:.0f} MiB")
        else:
            res = _one_size(ctx, plan, blamed.get(i))
            res = _face_note(ev, res)
        res = replace(res, seconds=time.perf_counter() - ts)
        results.append(res)
        if progress is not None:
            progress(i + 1, len(plans), res)
    warnings = [ext_note] if ext_note else []
    if session is not None and session.sess is None:
        warnings.append(f"onnxruntime refused the model: {session.error}")
    if formulas is not None and formulas.error:
        warnings.append(formulas.error)
    if a.result.warnings:
        warnings.append(f"{len(a.result.warnings)} analysis warnings (values of unknown shape are not checked)")
    return ValidationReport(label, runtime, device, tuple(symbols_of(a)), tuple(spatial_of(a)), dom.verdict,
                            dom.valid_if_text, tuple(results), time.perf_counter() - t0, tuple(warnings))


def _with_external_data(proto: onnx.ModelProto, folder: str) -> Tuple[onnx.ModelProto, str]:
    """(the model with the weights it keeps as external data read in, a note). onnxruntime gets the model as
    bytes, and refuses external data paths it cannot resolve from there.

    A floating-point weight whose data file is missing (a file shared without its weights, like
    examples/seed_model.onnx) is replaced by zeros of its declared shape and type, and the note says so: the
    shapes validate checks do not depend on a weight's values. A missing integer or bool tensor (an index
    table, say) could decide shapes and is refused with an error naming it."""
    from onnx.external_data_helper import load_external_data_for_model, uses_external_data

    import stat

    from ..enums import FLOAT_TYPES
    from ..onnx_file import external_info, external_location_problem
    ext = [t for t in proto.graph.initializer if uses_external_data(t)]
    if not ext:
        return proto, ""
    missing: Dict[str, List[onnx.TensorProto]] = {}
    for t in ext:
        loc = external_info(t).get("location", "")
        why = external_location_problem(loc, folder)  # absolute, '..', a symlink out of the folder: never read
        if why:
            raise ShapealgError(f"initializer {t.name!r}: external data {why}; refused (never read)")
        p = os.path.join(folder, loc)
        try:
            st = os.stat(p)
        except FileNotFoundError:
            missing.setdefault(loc, []).append(t)
            continue
        except OSError as e:
            raise ShapealgError(f"initializer {t.name!r}: external data {p}: cannot access "
                                f"({e.strerror or type(e).__name__})") from None
        if not stat.S_ISREG(st.st_mode):  # a FIFO would block, a device never end, a folder is no data
            kind = "a folder" if stat.S_ISDIR(st.st_mode) else "a FIFO" if stat.S_ISFIFO(st.st_mode) else \
                "a device" if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode) else "not a regular file"
            raise ShapealgError(f"initializer {t.name!r}: external data {p} is {kind}, not a regular file; refused")
    for loc, ts in missing.items():
        for t in ts:
            if t.data_type not in FLOAT_TYPES:
                raise ShapealgError(f"initializer {t.name!r} ({onnx.TensorProto.DataType.Name(t.data_type)}) keeps "
                                    f"its data in {loc!r}, which is not in {folder}: an integer tensor can decide "
                                    f"shapes, so validate needs that file")
            zeros = np.zeros(tuple(t.dims), dtype=onnx.helper.tensor_dtype_to_np_dtype(t.data_type))
            t.CopyFrom(onnx.numpy_helper.from_array(zeros, t.name))
    if any(uses_external_data(t) for t in proto.graph.initializer):
        try:
            load_external_data_for_model(proto, folder)
        except Exception as e:  # noqa: BLE001 - onnx raises OSError, ValueError or its own ValidationError
            raise ShapealgError(f"cannot read the model's external data in {folder}: {short(str(e), 200)}") from None
    note = ""
    if missing:
        n = sum(len(ts) for ts in missing.values())
        note = (f"{n} weights kept in {', '.join(repr(x) for x in missing)} (not found next to the model) ran as "
                f"zeros of their declared shapes: shapes do not depend on weight values")
    return proto, note


def _sessions(proto, device, analysis):
    """(the session that runs the model and reports every value's shape, the shapes of the values that
    depend on no input).

    Values whose formula has a known rank come back through shape probes (runtime.probe_shapes: a Shape
    node on each, one output for all); the rest (unknown rank, maybe not even a tensor) are exposed as graph
    outputs. Should onnxruntime refuse the probed model, every value is exposed as a graph output instead,
    which costs more per run and reports the same shapes. Values that depend on no input are computed once
    by a small model of their own; should that small model fail, they are checked like the rest."""
    from .session import make_session, run_onnxruntime
    const, cmodel = constant_values(proto, min_values=_CONST_MODEL_MIN)
    shapes = {}
    if cmodel is not None:  # fewer are cheaper checked in every run than in a second session
        r = run_onnxruntime(None, {}, session=make_session(cmodel, device=device, expose=False))
        if r.ok and all(v in r.shapes for v in const):
            shapes = {v: r.shapes[v] for v in const}
    values = node_values(proto, skip=set(shapes))
    known = [v for v in values if (analysis.result.values.get(v) is not None
                                   and analysis.result.values[v].shape is not None
                                   and getattr(analysis.result.values[v], "kind", "tensor") == "tensor")]
    session = make_session(exposed_model(proto, skip=set(shapes) | set(known)), device=device, expose=False,
                           probe=known)
    if session.sess is None:
        session = make_session(exposed_model(proto, skip=set(shapes)), device=device, expose=False)
    return session, shapes


@dataclass(frozen=True)
class _Context:
    """What every size's run needs, built once per validate call."""
    analysis: object
    ev: Evaluator
    links: tuple          # graph_links(analysis): (successors, op types, producers)
    runtime: str
    session: object       # runtime.Session, or None for runtime="torch"
    const_shapes: dict    # shapes of the values that depend on no input (not exposed in the session)
    flat: Optional[Callable]  # Evaluator.flat of the session's probed values: env -> expected probe vector
    module: object
    formulas: Optional[ModuleChecker]
    device: str
    seed: int


def _blamed(a, plans) -> dict:
    """{plan index: the constraint that blocks it} for the sizes predicted invalid (one vectorised pass; a
    size with one symbol at 0 is asked of its face, one at a time)."""
    idx = [i for i, p in enumerate(plans) if not p.predicted_valid and not p.over_budget]
    out = {i: safe_blocking(a, plans[i].size) for i in idx if any(v == 0 for v in plans[i].size.values())}
    idx = [i for i in idx if i not in out]
    try:
        out.update(zip(idx, a.domain.blocking_many([plans[i].size for i in idx])))
    except ValueError:
        out.update({i: safe_blocking(a, plans[i].size) for i in idx})
    return out


def _face_note(ev: Evaluator, res: SizeOutcome) -> SizeOutcome:
    """At a size with one symbol at 0 where some value's formula does not hold (zero_sizes.ZeroFace.differs),
    the note says those values were compared with the face's shape."""
    if res.outcome not in ("agree", "mismatch") or not any(v == 0 for v in res.size.values()):
        return res
    over = ev.face_shapes(res.size) or {}
    if not over:
        return res
    zero = next(k for k, v in res.size.items() if v == 0)
    names = ", ".join(sorted(over)[:3]) + (" ..." if len(over) > 3 else "")
    note = f"{zero} = 0: {len(over)} value(s) compared with their shape there, not their formula: {names}"
    return replace(res, note=f"{res.note}; {note}" if res.note else note)


def _one_size(ctx: _Context, plan: PlannedSize, blamed=None) -> SizeOutcome:
    from .session import decoded, run_onnxruntime
    a, ev = ctx.analysis, ctx.ev
    env, pv = plan.size, plan.predicted_valid
    shapes_in = input_shapes(a, env)
    base = dict(size=env, why=plan.why, predicted_valid=pv, blamed=blamed, memory_bytes=plan.memory_bytes)

    ort_res = tr = None
    if ctx.session is not None:
        r = run_onnxruntime(None, shapes_in, session=ctx.session, seed=ctx.seed, decode=False)
        agreed = 0
        if r.ok and r.probe_vector is not None:
            exp = ctx.flat(env) if ctx.flat is not None else None
            if exp is not None and exp.shape == r.probe_vector.shape and np.array_equal(exp, r.probe_vector):
                agreed = len(ctx.session.probed)  # every probed value equals its formula: one comparison
            else:
                r = decoded(ctx.session, r)  # value by value, to name what differs
        if r.ok and ctx.const_shapes:
            r.shapes.update(ctx.const_shapes)
        ort_res = judge_ort(a, ev, env, pv, blamed, r, *ctx.links, base, agreed=agreed)
    if ctx.runtime in ("torch", "both"):
        tr = run_torch(ctx.module, a, ev, env, shapes_in, ctx.device, ctx.formulas, ctx.seed)
    outputs = list(a.result.graph.outputs)
    if ctx.runtime == "onnxruntime":
        return ort_res
    if ctx.runtime == "torch":
        return judge_torch(ev, env, pv, tr, outputs, base)
    # both: the module and its file must agree on whether the size runs
    ort_ok = ort_res.outcome in ("agree", "mismatch", "surprise-ran")
    if ort_ok != tr.ok:
        if tr.ok:
            note = (f"the torch module runs, the ONNX file fails at {ort_res.failing_node or '?'} "
                    f"({short(ort_res.error, 120)})")
        else:
            note = f"the ONNX file runs, the torch module fails ({short(tr.error, 120)})"
        note += "; the analysis predicted " + ("valid" if pv else "invalid")
        return replace(ort_res, outcome="exporter-divergence", ort_outcome=ort_res.outcome, torch=tr, note=note)
    out = replace(ort_res, ort_outcome=ort_res.outcome, torch=tr)
    if ort_res.outcome == "agree":
        tj = judge_torch(ev, env, pv, tr, outputs, base)
        if tj.outcome == "mismatch":
            # onnxruntime confirmed every formula of the file: the module computes other shapes than its file
            return replace(out, outcome="exporter-divergence", mismatches=tj.mismatches,
                           note=f"the file runs with the predicted shapes, the torch module differs: {tj.note}")
        if tj.outcome != "agree":
            return replace(out, outcome=tj.outcome, mismatches=tj.mismatches, note="torch: " + tj.note)
    return out
