"""The one torch module-hook checker: every submodule's actual output shapes (forward hooks) against its
module-level formulas. Used by ``check_module_shapes`` (the module view's check) and by ``shapealg validate``
(``validate/torchrt.py``).

The module-level formulas come from ``shapealg.modules.module_table``: each ONNX node is owned by the torch
module the exporter recorded for it (TorchScript node names ``/layer1/layer1.0/conv1/Conv``, dynamo's
``pkg.torch.onnx.name_scopes`` metadata); a module's formulas are the shapes of the values leaving its nodes.
A module the exporter left no node for (Dropout, Identity) has no formula and is not checked.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

from .dims import evaluate
from .modules import module_table

Calls = Dict[str, List[Tuple[Tuple[int, ...], ...]]]  # module name -> per call, the shapes of its output tensors


@dataclass(frozen=True)
class ShapeMismatch:
    module: str
    expected: Tuple[Optional[Tuple[Optional[int], ...]], ...]   # the module's output formulas, evaluated
    actual: Optional[Tuple[int, ...]]                           # the closest of the module's output tensors
    note: str = ""
    type_name: str = ""


class ModuleShapes(dict):
    """{size tuple: [ShapeMismatch, ...]} (a dict) that prints as a person would say it."""

    def lines(self):
        out = []
        for size, bad in self.items():
            label = "x".join(str(s) for s in size)
            if not bad:
                out.append(f"{label}: every module's output shape matches its formula")
            else:
                first = bad[0]
                what = first.note or (f"{first.module}: expected {first.expected}, torch gave {first.actual}")
                more = f" (+{len(bad) - 1} more)" if len(bad) > 1 else ""
                out.append(f"{label}: {what}{more}")
        return out

    def __repr__(self) -> str:
        text = "; ".join(self.lines())
        return f"<ModuleShapes {text[:1500]}>"

    def __str__(self) -> str:
        return "\n".join(self.lines())

    def _repr_html_(self) -> str:
        import html
        from .report import html_table
        return html_table(("size", "result"), [(html.escape(ln.split(": ", 1)[0]), html.escape(ln.split(": ", 1)[1]))
                                               for ln in self.lines()])


class ModuleChecker:
    """{qualified submodule name: the ONNX values leaving its nodes}, for the forward hooks."""

    def __init__(self, analysis, module, depth: Optional[int] = None):
        self.values: Dict[str, Tuple[str, ...]] = {}
        self.error: Optional[str] = None
        if module is None or not hasattr(module, "named_modules"):
            return
        try:
            table = module_table(analysis, module=module, depth=depth)
        except Exception as e:  # noqa: BLE001 - no module view: outputs are still compared
            self.error = f"no module-level formulas ({type(e).__name__}: {e})"
            return
        mods = dict(module.named_modules())
        for r in table.rows:
            if r.name and r.name in mods and r.outputs:
                self.values[r.name] = r.outputs

    def hooks(self, module, seen: Calls):
        """Register one forward hook per submodule with a formula; returns the handles."""
        mods = dict(module.named_modules())
        out = []
        for name in self.values:
            def hook(mod, inp, output, name=name):
                ts = output_tensors(output)
                if ts:
                    seen.setdefault(name, []).append(tuple(tuple(int(s) for s in t.shape) for t in ts))
            out.append(mods[name].register_forward_hook(hook))
        return out

    def compare(self, shape_at: Callable[[str], Optional[Sequence[Optional[int]]]], seen: Calls, module
                ) -> Tuple[int, Tuple[ShapeMismatch, ...]]:
        """(modules compared, mismatches); ``shape_at(value)``: the value's formula evaluated at the size.
        A module's first call agrees when one of its output tensors has one of the shapes leaving the module
        in the file (a dim whose formula is unknown matches anything): outputs the model does not use have no
        value in the file (a HuggingFace model's last_hidden_state when only pooler_output is returned), and
        values leaving the module include internal ones that the parent reads. Later calls of a shared module
        are not compared: TorchScript scopes them ``/pool_1/...``, a module that does not exist."""
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
                bad.append(ShapeMismatch(name, tuple(e), g, type_name=type(mods[name]).__name__))
        return checked, tuple(bad)


def _fits(exp: Sequence[Any], got: Sequence[int]) -> bool:
    return len(exp) == len(got) and all(e is None or e == g for e, g in zip(exp, got))


def output_tensors(out) -> List[Any]:
    """Every tensor in a module's output (tensors, tuples, dicts, HF ModelOutputs), in order."""
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
        res.extend(output_tensors(v))
    return res


def check_module_shapes(module, input_shape=None, sizes: Iterable = ((224, 224),), *, analysis=None,
                        depth: Optional[int] = None) -> Dict[Tuple[int, ...], List[ShapeMismatch]]:
    """Run ``module`` at each size with forward hooks and compare every module's actual output shapes with its
    module-level formulas (the shapes of the values leaving it, evaluated at that size).

    ``sizes``: tuples giving the input's symbols in order (``(H, W)``) or dicts ``{"H": 224, "W": 198}``.
    Returns ``{size tuple: [ShapeMismatch, ...]}`` (an empty list: every module matched). A size at which torch
    itself fails gives one mismatch for the root with the error in ``note`` where the size was predicted valid.
    """
    import torch
    from .analysis import analyze_model
    from .torch_front import parse_input_shape
    shape = parse_input_shape(input_shape)
    a = analysis if analysis is not None else analyze_model(module, input_shape=shape)
    checker = ModuleChecker(a, module, depth=depth)
    syms = [d for d in shape if isinstance(d, str)]
    out: Dict[Tuple[int, ...], List[ShapeMismatch]] = ModuleShapes()
    for size in sizes:
        env = dict(size) if isinstance(size, Mapping) else dict(zip(syms, size))
        key = tuple(env.get(s) for s in syms)
        seen: Calls = {}
        hooks = checker.hooks(module, seen)
        try:
            x = torch.randn(*[d if isinstance(d, int) else env[d] for d in shape])
            with torch.no_grad():
                module.eval()(x)
        except Exception as e:  # noqa: BLE001 - torch refuses this size: a mismatch only where predicted valid
            first = str(e).splitlines()[0][:200] if str(e) else ""
            out[key] = [] if not _predicted(a, env) else [
                ShapeMismatch("", (), None, f"torch fails at a size predicted valid: {type(e).__name__}: {first}")]
            continue
        finally:
            for h in hooks:
                h.remove()
        bad = [] if _predicted(a, env) is not False else [
            ShapeMismatch("", (), None, "torch runs at a size predicted invalid (the exported file may be stricter "
                                        "than the module: constants fixed at the trace size)")]
        _, found = checker.compare(lambda v: _eval_shape(a.result.values[v].shape if v in a.result.values
                                                         else None, env), seen, module)
        out[key] = bad + list(found)
    return out


def _predicted(a, env) -> Optional[bool]:
    try:
        return bool(getattr(a, "verdict_domain", a.domain).contains(env))
    except Exception:  # noqa: BLE001 - a domain that cannot decide
        return None


def _eval_shape(shape, env) -> Optional[Tuple[Optional[int], ...]]:
    if shape is None:
        return None
    try:
        return tuple(None if d is None else evaluate(d, env) for d in shape)
    except (ValueError, TypeError):
        return None
