"""torch nn.Module -> ONNX with symbolic dims, and what the exporter changed on the way.

Paths, tried in order (the first that keeps every requested dim symbolic wins):

1. ``dynamo``: torch.export with named ``Dim``s, then torch.onnx from the ExportedProgram.
2. ``dynamo-auto``: when torch.export refuses the named dims (a guard such as ``H >= 6`` or ``H == 32`` that the
   model imposes: it is not size-invariant), again with ``Dim.AUTO``, which lets torch.export add the guards.
3. ``torchscript``: when Dim.AUTO specialized a dim to its trace value (a learned position embedding of fixed
   length, say), the TorchScript exporter with ``dynamic_axes``; it traces, keeping every dim symbolic.
4. ``*-static``: a static export at the trace size whose spatial dims shapealg makes symbolic again.

torch is imported lazily: the engine does not need it. Exports go to a temporary directory that is removed.
"""
from __future__ import annotations

import contextlib
import os
import re
import tempfile
import warnings
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

from .progress import step
from .records import ShapealgError

InputShape = Sequence[Union[int, str]]
DEFAULT_INPUT = (1, 3, "H", "W")
_TRACE_TRIES = (224, 64, 32, 256, 128, 96, 384, 512)
MAX_GUARDS = 40


@dataclass(frozen=True)
class FrontEnd:
    """How a module became ONNX: the path taken and what the exporter changed."""
    path: str                         # dynamo / dynamo-auto / torchscript / dynamo-static / torchscript-static
    input_name: str
    input_shape: Tuple[Union[int, str], ...]   # as requested, symbols as names
    trace_shape: Tuple[int, ...]      # the concrete example the exporter traced
    specialized: Tuple[str, ...] = ()  # requested-symbolic dims the exporter fixed, "H=32"
    guards: Tuple[str, ...] = ()       # shape guards torch.export derived; the ONNX file carries none of them
    refused: Tuple[str, ...] = ()      # why earlier paths were not taken, one line each
    resymbolized: bool = False         # a static file whose spatial dims shapealg made symbolic again
    module_type: str = ""
    conditions: Tuple[Any, ...] = field(default=(), compare=False)  # the guards (Eq / >= / <=) as sympy, in H, W
    module_verdict: str = ""           # torch.export's view of the module: the verdict of ``conditions``
    module_summary: str = ""
    notes: Tuple[str, ...] = ()

    @property
    def dynamic(self) -> bool:
        return not self.path.endswith("-static")

    @property
    def summary(self) -> str:
        s = f"exported with {self.path} at {'x'.join(map(str, self.trace_shape))}"
        if self.specialized:
            s += f"; the exporter specialized {', '.join(self.specialized)}"
        if self.resymbolized:
            s += "; static file, spatial dims made symbolic again by shapealg (constants fixed at the trace size stay)"
        if self.guards:
            s += f"; {len(self.guards)} shape guard(s) torch.export derived are not in the ONNX file"
        return s

    def lines(self) -> List[str]:
        out = [f"front end: {self.summary}"]
        if self.module_verdict:
            out.append(f"  torch.export's guards say: {self.module_summary}")
        out += [f"  note: {n}" for n in self.notes]
        out += [f"  refused: {r}" for r in self.refused]
        out += [f"  dropped guard: {g}" for g in self.guards[:12]]
        if len(self.guards) > 12:
            out.append(f"  ... {len(self.guards) - 12} more guards")
        return out

    def to_json(self) -> dict:
        return {"path": self.path, "dynamic": self.dynamic, "input": self.input_name,
                "input_shape": list(self.input_shape), "trace_shape": list(self.trace_shape),
                "specialized": list(self.specialized), "dropped_guards": list(self.guards),
                "refused": list(self.refused), "resymbolized": self.resymbolized, "module": self.module_type,
                "module_verdict": self.module_verdict or None, "module_summary": self.module_summary or None,
                "notes": list(self.notes)}

    def __str__(self) -> str:
        return "\n".join(self.lines())

    def __repr__(self) -> str:
        extra = f", module verdict {self.module_verdict}" if self.module_verdict else ""
        return f"<FrontEnd {self.summary[:600]}{extra}>"

    def _repr_html_(self) -> str:
        import html
        rows = [("path", self.path), ("traced at", "x".join(map(str, self.trace_shape))),
                ("specialised", ", ".join(self.specialized) or "nothing"),
                ("module verdict", self.module_summary or "-"),
                ("dropped guards", f"{len(self.guards)}")]
        rows += [("note", n) for n in self.notes]
        rows += [("refused", r[:400]) for r in self.refused]
        cell = "padding:3px 12px;border-bottom:1px solid #d0d7de;vertical-align:top;text-align:left"
        body = "".join(f"<tr><th style='{cell}'>{html.escape(k)}</th><td style='{cell}'>{html.escape(str(v))}</td></tr>"
                       for k, v in rows)
        return f"<table class='shapealg' style='border-collapse:collapse'>{body}</table>"


@dataclass(frozen=True)
class ModuleExport:
    model: Any                        # onnx.ModelProto, weights included
    front: FrontEnd
    shapes: Mapping[str, Sequence] = field(default_factory=dict)  # input overrides for the analysis


# ------------------------------------------------------------------------------------------ helpers


def parse_input_shape(text: Union[str, Sequence, None]) -> Tuple[Union[int, str], ...]:
    """``"1,3,H,W"`` or ``(1, 3, "H", "W")`` -> ``(1, 3, "H", "W")``; names must be identifiers."""
    if text is None:
        return DEFAULT_INPUT
    parts = [p.strip() for p in text.split(",")] if isinstance(text, str) else list(text)
    out: List[Union[int, str]] = []
    for p in parts:
        if isinstance(p, int) and not isinstance(p, bool) and p >= 0:
            out.append(int(p))
        elif isinstance(p, str) and p.isdigit():
            out.append(int(p))
        elif isinstance(p, str) and p.isidentifier() and not p.startswith("_"):
            out.append(p)
        else:
            raise ShapealgError(f"input shape {text!r}: dim {p!r} is neither a size nor a symbol name (e.g. 1,3,H,W)")
    if not out:
        raise ShapealgError(f"input shape {text!r} is empty (e.g. 1,3,H,W)")
    return tuple(out)


def first_line(e: BaseException, limit: int = 300) -> str:
    lines = [ln.strip() for ln in f"{type(e).__name__}: {e}".splitlines() if ln.strip()]
    for i, ln in enumerate(lines):
        if ln.startswith("## Exception summary") and i + 1 < len(lines):
            return lines[i + 1][:limit]
    return (lines[0] if lines else type(e).__name__)[:limit]


def _complaint(e: BaseException, limit: int = 600) -> str:
    """torch.export's constraint violation on one line, without its boilerplate."""
    lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
    lines = [re.sub(r"\s*For more information, run with TORCH_LOGS.*$", "", ln) for ln in lines]
    keep = [ln for ln in lines if not ln.startswith(("The error above", "For more information", "If you're using"))]
    return (" | ".join(keep[:8]) or type(e).__name__)[:limit]


def _readable(msg: str, syms: Mapping[int, str]) -> str:
    """L['x'].size()[2] -> H in torch.export's messages."""
    return re.sub(r"L\['[^']*'\]\.size\(\)\[(\d+)\]", lambda m: syms.get(int(m.group(1)), m.group(0)), msg)


def _sym_dims(shape) -> Dict[int, str]:
    return {i: d for i, d in enumerate(shape) if isinstance(d, str)}


def _example_value(i: int, name: str, spatial: int) -> int:
    return 2 if i == 0 else spatial  # torch.export specializes size-1 dims: a symbolic batch is traced at 2


def trace_shapes(module, shape, example: Optional[Mapping[str, int]] = None) -> List[Tuple[int, ...]]:
    """Concrete shapes to trace at: the user's example, the module's ``example_input_shape`` or its config's
    ``image_size``, then common sizes."""
    example = dict(example or {})
    cands: List[Tuple[int, ...]] = []
    if example:
        cands.append(tuple(d if isinstance(d, int) else example.get(d, 2 if i == 0 else 224) for i, d in enumerate(shape)))
    ex = getattr(module, "example_input_shape", None)
    if ex is not None and len(ex) == len(shape):
        cands.append(tuple(int(e) if isinstance(d, str) else d for d, e in zip(shape, ex)))
    cfg = getattr(module, "config", None)
    img = getattr(cfg, "image_size", None)
    sizes = [img] if isinstance(img, int) else list(img) if isinstance(img, (list, tuple)) else []
    for s in sizes[:1] + list(_TRACE_TRIES):
        cands.append(tuple(d if isinstance(d, int) else _example_value(i, d, int(s)) for i, d in enumerate(shape)))
    return list(dict.fromkeys(cands))


def runs_at(module, shape: Sequence[int]) -> Optional[str]:
    """None when ``module`` runs on a random input of ``shape`` (eval mode, no grad), else its error's first line."""
    import torch
    was_training = module.training
    module.eval()
    try:
        return _runs(module, torch.randn(*shape))
    finally:
        module.train(was_training)


def _runs(module, x) -> Optional[str]:
    import torch
    try:
        with torch.no_grad():
            module(x)
        return None
    except Exception as e:  # noqa: BLE001 - a size it cannot run at
        return first_line(e)


# ------------------------------------------------------------------------------------------ export


def export_module(module, input_shape: Union[str, InputShape, None] = None, *, example: Optional[Mapping[str, int]] = None,
                  opset: Optional[int] = None, input_name: Optional[str] = None,
                  paths: Sequence[str] = ("dynamo", "torchscript")) -> ModuleExport:
    """Export ``module`` to an in-memory ONNX model whose input dims named in ``input_shape`` stay symbolic.

    ``example`` gives the trace value of a symbol ({"H": 224}); by default the module's ``example_input_shape``,
    its ``config.image_size`` or the first of 224, 64, 32, ... at which it runs is used.
    """
    import torch
    if not isinstance(module, torch.nn.Module):
        raise ShapealgError(f"expected a torch nn.Module, got {type(module).__name__}")
    shape = parse_input_shape(input_shape)
    syms = _sym_dims(shape)
    was_training = module.training
    module.eval()
    try:
        trace, why = None, []
        step(f"running {type(module).__name__} once to find a trace size")
        for cand in trace_shapes(module, shape, example):
            err = _runs(module, torch.randn(*cand))
            if err is None:
                trace = cand
                break
            why.append(f"{'x'.join(map(str, cand))}: {err}")
        if trace is None:
            raise ShapealgError(f"{type(module).__name__} does not run at any trial input shape ({why[0] if why else ''}); "
                                f"give a size it runs at")
        name = input_name or _forward_arg_name(module)
        with warnings.catch_warnings(), tempfile.TemporaryDirectory(prefix="shapealg-") as tmp, _quiet():
            warnings.simplefilter("ignore")
            return _export(module, torch.randn(*trace), shape, syms, name, opset, tmp, tuple(paths))
    finally:
        module.train(was_training)


@contextlib.contextmanager
def _quiet():
    """torch.onnx logs warnings (torchvision ops it skips) through logging: the library never prints."""
    import logging
    loggers = [logging.getLogger(n) for n in ("torch.onnx", "torch.export", "torch._dynamo", "torch.fx")]
    old = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for lg, lv in zip(loggers, old):
            lg.setLevel(lv)


def _forward_arg_name(module) -> str:
    import inspect
    try:
        params = [p for p in inspect.signature(module.forward).parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        return params[0].name if params else "x"
    except (TypeError, ValueError):
        return "x"


def _export(module, x, shape, syms, name, opset, tmp, paths) -> ModuleExport:
    refused: List[str] = []
    specialized: List[str] = []
    guards: Tuple[str, ...] = ()
    conditions: Tuple[Any, ...] = ()
    mtype = f"{type(module).__module__}.{type(module).__qualname__}"
    trace = tuple(int(s) for s in x.shape)
    base = dict(input_name=name, input_shape=tuple(shape), trace_shape=trace, module_type=mtype)
    ep_auto = None

    def done(model, path, **kw):  # the analysis makes the requested dims symbolic on the file's real input
        inits = {t.name for t in model.graph.initializer}
        real = next((i.name for i in model.graph.input if i.name not in inits), name)
        front = FrontEnd(path, refused=tuple(refused), guards=guards, conditions=conditions,
                         **dict(base, input_name=real), **kw)
        return ModuleExport(model, front, {real: list(shape)})

    if "dynamo" in paths and syms:
        step(f"exporting {type(module).__name__} with torch.export (dynamo, named dims) at {'x'.join(map(str, trace))}")
        ep, err = _torch_export(module, x, syms, named=True)
        path = "dynamo"
        if ep is None:
            refused.append(f"torch.export with named dims: {_readable(err, syms)}")
            step("torch.export refused the named dims; again with Dim.AUTO")
            ep, err = _torch_export(module, x, syms, named=False)
            path = "dynamo-auto"
            if ep is None:
                refused.append(f"torch.export with Dim.AUTO: {err}")
        if ep is not None:
            sym_map, fixed = _input_symbols(ep, name, syms, trace)
            guards = _guards(ep, sym_map)
            conditions = _conditions(ep, sym_map)
            specialized = [f"{syms[i]}={trace[i]}" for i in fixed]
            if not fixed:
                model = _ep_to_onnx(ep, x, opset, tmp, refused)
                if model is not None:
                    _rename_dims(model, sym_map)
                    return done(model, path)
            else:
                refused.append(f"torch.export (Dim.AUTO) specialized {', '.join(specialized)}: the model only runs "
                               f"at that size in its eyes")
                ep_auto = ep
    if "torchscript" in paths:
        step("falling back to the TorchScript exporter (dynamic axes)")
        model, err = _torchscript(module, x, name, opset, tmp, {i: n for i, n in syms.items()})
        if model is not None:
            return done(model, "torchscript", specialized=tuple(specialized))
        refused.append(f"torchscript with dynamic axes: {err}")
    # static: the trace size is baked in; the analysis makes the named dims symbols again
    if ep_auto is not None:
        model = _ep_to_onnx(ep_auto, x, opset, tmp, refused)
        if model is not None:
            return done(model, "dynamo-static", specialized=tuple(specialized), resymbolized=bool(syms))
    step("falling back to a static export at the trace size")
    model, err = _torchscript(module, x, name, opset, tmp, None)
    if model is None:
        raise ShapealgError(f"cannot export {type(module).__name__} to ONNX: {'; '.join(refused + [err])[:600]}")
    return done(model, "torchscript-static", specialized=tuple(specialized), resymbolized=bool(syms))


def _torch_export(module, x, syms, named: bool):
    import torch
    Dim = torch.export.Dim
    spec = {i: (Dim(n) if named else Dim.AUTO) for i, n in syms.items()}
    try:
        with torch.no_grad():
            return torch.export.export(module, (x,), dynamic_shapes=(spec,), strict=False), None
    except Exception as e:  # noqa: BLE001 - torch.export raises many types
        return None, _complaint(e)


def _input_symbols(ep, name, syms, trace):
    """{torch symbol name: our name} for the input's dims, and the requested dims torch.export fixed."""
    phs = [n for n in ep.graph.nodes if n.op == "placeholder"]
    user = [n for n in phs if n.name == name] or phs[-1:]
    shape = user[0].meta["val"].shape if user and "val" in user[0].meta else ()
    sym_map, fixed = {}, []
    for i, n in syms.items():
        d = shape[i] if i < len(shape) else None
        node = getattr(d, "node", None)
        if node is not None and not str(node.expr).lstrip("-").isdigit():
            sym_map[str(node.expr)] = n
        else:
            fixed.append(i)
    return sym_map, fixed


def _guards(ep, sym_map) -> Tuple[str, ...]:
    """The shape guards torch.export recorded, in the input's names (``//`` is floor division)."""
    try:
        exprs = [g.expr for g in _shape_env(ep).guards]
    except (StopIteration, AttributeError):
        return ()
    out: List[str] = []
    pat = re.compile(r"\b(" + "|".join(map(re.escape, sym_map)) + r")\b") if sym_map else None
    for e in sorted(exprs, key=lambda e: (not str(e).startswith("Eq("), len(str(e)))):
        s = str(e)
        if pat is not None:
            s = pat.sub(lambda m: sym_map[m.group(1)], s)
        s = re.sub(r"\(\(([A-Za-z_]\w*)//(\d+)\)\)", r"(\1//\2)", s)
        if s not in out and s not in ("True",):
            out.append(s)
    return tuple(out[:MAX_GUARDS])


def _shape_env(ep):
    ph = next(n for n in ep.graph.nodes if n.op == "placeholder" and "val" in n.meta
              and getattr(n.meta["val"], "fake_mode", None) is not None)
    return ph.meta["val"].fake_mode.shape_env


def _conditions(ep, sym_map) -> Tuple[Any, ...]:
    """torch.export's Eq / >= / <= guards as sympy booleans in shapealg's symbols (FloorDiv -> floor). Ne guards
    are left out: they are torch's 0/1 specialization, not sizes the module cannot run at."""
    import sympy
    from .dims import symbol
    try:
        exprs = [g.expr for g in _shape_env(ep).guards]
    except (StopIteration, AttributeError):
        return ()
    subs = {}
    out = []
    for e in exprs:
        if not isinstance(e, (sympy.Eq, sympy.Ge, sympy.Gt, sympy.Le, sympy.Lt)):
            continue
        try:
            e = e.replace(lambda t: type(t).__name__ in ("FloorDiv", "CleanDiv"),
                          lambda t: sympy.floor(t.args[0] / t.args[1]))
            e = e.replace(lambda t: type(t).__name__ in ("PythonMod", "Mod"), lambda t: sympy.Mod(*t.args))
            for s in e.free_symbols:
                if str(s) not in sym_map:
                    raise ValueError(s)
                subs[s] = symbol(sym_map[str(s)])
            e = e.xreplace(subs)
        except Exception:  # noqa: BLE001 - a guard in terms shapealg does not model: left out
            continue
        if e not in (sympy.true,) and e not in out and not any(
                type(t).__module__.startswith("torch") for t in sympy.preorder_traversal(e)):
            out.append(e)
    return tuple(out)


def _ep_to_onnx(ep, x, opset, tmp, refused):
    step("converting the ExportedProgram to ONNX (torch.onnx)")
    import onnx
    import torch
    kw = {"opset_version": opset} if opset is not None else {}
    try:
        prog = torch.onnx.export(ep, (x,), dynamo=True, report=False, verbose=False, verify=False,
                                 artifacts_dir=tmp, **kw)
        path = os.path.join(tmp, "dynamo.onnx")
        prog.save(path, external_data=_big(ep.state_dict.values()))
        return onnx.load(path)
    except Exception as e:  # noqa: BLE001
        refused.append(f"torch.onnx from the ExportedProgram: {first_line(e)}")
        return None


def _big(tensors) -> bool:
    return sum(int(t.numel()) * t.element_size() for t in tensors) > 1_500_000_000


def _torchscript(module, x, name, opset, tmp, axes):
    import onnx
    import torch
    path = os.path.join(tmp, "torchscript.onnx")
    kw = {"dynamic_axes": {name: axes}} if axes else {}
    try:
        with torch.no_grad():
            torch.onnx.export(module, (x,), path, dynamo=False, input_names=[name],
                              opset_version=opset if opset is not None else 17, **kw)
        return onnx.load(path), None
    except Exception as e:  # noqa: BLE001 - e.g. adaptive_avg_pool2d "input size not accessible"
        return None, first_line(e)


def _rename_dims(model, sym_map: Mapping[str, str]) -> None:
    """torch's symbol names (s53) -> the requested names (H) in every dim_param of the file."""
    if not sym_map:
        return
    pat = re.compile(r"\b(" + "|".join(map(re.escape, sym_map)) + r")\b")
    g = model.graph
    for vi in list(g.input) + list(g.output) + list(g.value_info):
        if vi.type.HasField("tensor_type"):
            for d in vi.type.tensor_type.shape.dim:
                if d.HasField("dim_param"):
                    d.dim_param = pat.sub(lambda m: sym_map[m.group(1)], d.dim_param)
