"""torch's side: the nn.Module at a size, its outputs against the graph outputs' formulas, and every
submodule's output (forward hooks) against its module-level formula.

The submodules are checked by ``shapealg.module_check.ModuleChecker`` (the one hook checker, shared with
``check_module_shapes``).
"""
from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import onnx

from ..module_check import ModuleChecker, output_tensors
from .evaluator import Evaluator
from .report import Mismatch, SizeOutcome, TorchRun

Env = Dict[str, int]


def _inputs(analysis, shapes: Mapping[str, Tuple[int, ...]], device: str, seed: int):
    """Random tensors of each graph input's dtype, in graph-input order."""
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
    return args


def run_torch(module, analysis, ev: Evaluator, env: Env, shapes: Mapping[str, Tuple[int, ...]], device: str,
              formulas: Optional[ModuleChecker] = None, seed: int = 0) -> TorchRun:
    """Run the module once at this size, with forward hooks on every submodule that has a formula."""
    import torch
    args = _inputs(analysis, shapes, device, seed)
    seen: Dict[str, List[Tuple[int, ...]]] = {}
    handles = formulas.hooks(module, seen) if formulas is not None else []
    try:
        with torch.no_grad():
            out = module(*args)
    except Exception as e:  # noqa: BLE001 - any failure of the module at this size
        lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
        return TorchRun(False, (), f"{type(e).__name__}: {lines[0] if lines else ''}"[:300])
    finally:
        for h in handles:
            h.remove()
    checked, bad = 0, ()
    if formulas is not None:
        _, shape_at = ev.shapes_at(env)
        checked, found = formulas.compare(shape_at, seen, module)
        bad = tuple(Mismatch(f"output of {m.module}", f"module {m.module}", m.type_name, m.expected, m.actual)
                    for m in found)
    return TorchRun(True, tuple(tuple(int(d) for d in t.shape) for t in output_tensors(out)), None, checked, bad)


def judge_torch(ev: Evaluator, env: Env, pv: bool, tr: TorchRun, outputs: Sequence[str], base: dict) -> SizeOutcome:
    """The torch run against the prediction: graph outputs' formulas, then every submodule's."""
    if not tr.ok:
        if pv:
            return SizeOutcome(**base, outcome="surprise-failed", failing_node="torch module", error=tr.error,
                               torch=tr)
        return SizeOutcome(**base, outcome="failed-as-predicted", failing_node="torch module", error=tr.error,
                           torch=tr, note="the torch module failed")
    if not pv:
        return SizeOutcome(**base, outcome="surprise-ran", torch=tr, note="the torch module ran")
    _, shape_at = ev.shapes_at(env)
    mism: List[Mismatch] = []
    checked = unknown = 0
    pairs = list(zip(outputs, tr.output_shapes)) if len(outputs) == len(tr.output_shapes) else \
        list(zip(outputs[:1], tr.output_shapes[:1]))
    for name, got in pairs:
        exp = shape_at(name)
        if exp is None or any(d is None for d in exp):
            unknown += 1
            continue
        checked += 1
        if tuple(exp) != tuple(got):
            mism.append(Mismatch(name, "torch module", "output", exp, tuple(got)))
    mism.extend(tr.module_mismatches)
    checked += tr.modules_checked
    if mism:
        return SizeOutcome(**base, outcome="mismatch", mismatches=tuple(mism), checked=checked, unknown=unknown,
                           torch=tr, note=str(mism[0]))
    return SizeOutcome(**base, outcome="agree", checked=checked, unknown=unknown, torch=tr)
