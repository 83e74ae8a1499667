"""torch's side: the nn.Module at a size, its outputs against the graph outputs' formulas, and every
submodule's output (forward hooks) against its module-level formula.

The module-level formulas come from ``shapealg.modules.module_table``: each ONNX node is owned by the torch
module the exporter recorded for it (TorchScript node names ``/layer1/layer1.0/conv1/Conv``, dynamo's
``pkg.torch.onnx.name_scopes`` metadata); a module's formulas are the shapes of the values leaving its nodes.
A module the exporter left no node for (Dropout, Identity) has no formula and is not checked.
"""
from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import onnx

from .evaluator import Evaluator
from .report import Mismatch, SizeOutcome, TorchRun

Env = Dict[str, int]


class ModuleFormulas:
    """{qualified submodule name: the ONNX values leaving its nodes}, for the forward hooks."""

    def __init__(self, analysis, module):
        self.values: Dict[str, Tuple[str, ...]] = {}
        self.error: Optional[str] = None
        if module is None or not hasattr(module, "named_modules"):
            return
        try:
            from ..modules import module_table
            table = module_table(analysis, module=module)
        except Exception as e:  # noqa: BLE001 - no module view: outputs are still compared
            self.error = f"no module-level formulas ({type(e).__name__}: {e})"
            return
        mods = dict(module.named_modules())
        for r in table.rows:
            if r.name and r.name in mods and r.outputs:
                self.values[r.name] = r.outputs

    def hooks(self, module, seen: Dict[str, List[Tuple[Tuple[int, ...], ...]]]):
        """Register one forward hook per submodule with a formula; returns the handles."""
        mods = dict(module.named_modules())
        out = []
        for name in self.values:
            def hook(mod, inp, output, name=name):
                ts = _outputs(output)
                if ts:
                    seen.setdefault(name, []).append(tuple(tuple(int(s) for s in t.shape) for t in ts))
            out.append(mods[name].register_forward_hook(hook))
        return out

    def compare(self, ev: Evaluator, env: Env, seen: Mapping[str, List[Tuple[Tuple[int, ...], ...]]], module
                ) -> Tuple[int, Tuple[Mismatch, ...]]:
        """(modules compared, mismatches). A module's first call agrees when one of its output tensors has
        one of the shapes leaving the module in the file (a dim whose formula is unknown matches anything):
        outputs the model does not use have no value in the file (a HuggingFace model's last_hidden_state
        when only pooler_output is returned), and values leaving the module include internal ones that the
        parent reads. Later calls of a shared module are not compared: TorchScript scopes them
        ``/pool_1/...``, a module that does not exist."""
        _, shape_at = ev.shapes_at(env)
        mods = dict(module.named_modules())
        checked, bad = 0, []
        for name, calls in seen.items():
            exps = [e for e in (shape_at(v) for v in self.values[name]) if e is not None]
            if not exps:
                continue
            checked += 1
            gots = calls[0]
            if not any(_fits(e, g) for e in exps for g in gots):
                e, g = min(((e, g) for e in exps for g in gots),
                           key=lambda p: (len(p[0]) != len(p[1]), sum(a != b for a, b in zip(*p))))
                bad.append(Mismatch(f"output of {name}", f"module {name}", type(mods[name]).__name__, tuple(e), g))
        return checked, tuple(bad)


def _fits(exp: Sequence[Any], got: Sequence[int]) -> bool:
    return len(exp) == len(got) and all(e is None or e == g for e, g in zip(exp, got))


def _outputs(out) -> List[Any]:
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
        res.extend(_outputs(v))
    return res


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
              formulas: Optional[ModuleFormulas] = None, seed: int = 0) -> TorchRun:
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
    checked, bad = formulas.compare(ev, env, seen, module) if formulas is not None else (0, ())
    return TorchRun(True, tuple(tuple(int(d) for d in t.shape) for t in _outputs(out)), None, checked, bad)


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
    mism.extend(tr.module_mismatches)
    checked += tr.modules_checked
    if mism:
        return SizeOutcome(**base, outcome="mismatch", mismatches=tuple(mism), checked=checked, unknown=unknown,
                           torch=tr, note=str(mism[0]))
    return SizeOutcome(**base, outcome="agree", checked=checked, unknown=unknown, torch=tr)
