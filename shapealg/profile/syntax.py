"""The profiles in each runtime's own syntax, and parsers of those syntaxes (written to their documentation, so
that what shapealg emits is checked by reading it back).

* trtexec ``--minShapes / --optShapes / --maxShapes``: ``name:1x3x224x224,name2:...``; a name is wrapped in single
  quotes when it holds anything but letters, digits, ``_``, ``.`` and ``-`` (trtexec: "Input names can be wrapped
  with escaped single quotes (ex: 'Input:0')"); unquoted, the name is everything before the last ``:``. Entries
  are split at ``,`` first, so a name holding ``,`` or ``'`` cannot be written. One command (one engine) per
  profile; the whole argument is quoted for a POSIX shell.
* onnxruntime's TensorRT provider ``trt_profile_min_shapes / _opt_ / _max_``: ``name:1x3x224x224,...``, a name
  repeated starts another profile; onnxruntime splits an entry at its *first* ``:`` and has no quoting, so a name
  holding ``:`` or ``,`` cannot be written (the error says so: rename the input).
* OpenVINO ``ovc --input "x[1,3,224..1024,224..1024]"`` (and the Python ``ov.convert_model(..., input=...)`` form,
  which takes any name).
* torch.export ``dynamic_shapes``: ``Dim(name, min=, max=)``, and ``stride*Dim + offset`` where only one residue
  class is valid; a symbol shared by several inputs is one Dim.
"""
from __future__ import annotations

import re
import shlex
from typing import Any, Dict, List, Mapping, Optional, Tuple

from ..records import ShapealgError

_PLAIN = re.compile(r"^[A-Za-z0-9_.\-]+$")
Shape = Tuple[int, ...]


def _dims(shape: Shape) -> str:
    return "x".join(str(int(d)) for d in shape) if shape else "scalar"


# ---------------------------------------------------------------- trtexec

def trtexec_name(name: str) -> str:
    if "," in name or "'" in name:
        raise ShapealgError(f"input {name!r}: trtexec cannot name it (its shape lists are split at ',' and names are "
                            f"quoted with \"'\"): rename the input")
    return name if _PLAIN.match(name) else f"'{name}'"


def trtexec_shapes(shapes: Mapping[str, Shape]) -> str:
    return ",".join(f"{trtexec_name(n)}:{_dims(s)}" for n, s in shapes.items())


def trtexec_args(report, index: int) -> List[str]:
    p = report.profiles[index]
    out = []
    for flag, k in (("--minShapes", 0), ("--optShapes", 1), ("--maxShapes", 2)):
        out.append(f"{flag}={trtexec_shapes({n: v[k] for n, v in p.shapes.items()})}")
    return out


def trtexec_command(report, model_path: str = "model.onnx") -> str:
    """One trtexec command per profile (each builds its own engine), quoted for a POSIX shell."""
    lines = []
    many = len(report.profiles) > 1
    for i, p in enumerate(report.profiles):
        if not p.shapes:
            continue
        engine = f"model.profile{i}.engine" if many else "model.engine"
        args = ["trtexec", f"--onnx={model_path}", *trtexec_args(report, i), f"--saveEngine={engine}"]
        lines.append(" ".join(shlex.quote(a) for a in args))
    return "\n".join(lines)


def parse_trtexec_shapes(value: str) -> Dict[str, Shape]:
    """A ``--minShapes`` value (after the shell) as trtexec reads it: entries split at ',', a name in single quotes
    or else everything before the last ':', dims split at 'x' ('scalar' or nothing: 0-D)."""
    out: Dict[str, Shape] = {}
    for item in value.split(","):
        q = item.split("'")
        if len(q) != 1:
            if len(q) != 3 or q[2][:1] != ":":
                raise ValueError(f"bad quoting in {item!r}")
            name, dims = q[0] + q[1], q[2][1:]
        else:
            if ":" not in item:
                raise ValueError(f"no ':' in {item!r}")
            name, dims = item.rsplit(":", 1)
        shape: Shape = () if dims in ("", "scalar") else tuple(int(d) for d in dims.split("x"))
        out[name] = shape
    return out


def parse_trtexec_command(line: str) -> Dict[str, Dict[str, Shape]]:
    """{'min'|'opt'|'max': {name: shape}} from one trtexec command line (shell-split first)."""
    out: Dict[str, Dict[str, Shape]] = {}
    for arg in shlex.split(line):
        for flag, k in (("--minShapes=", "min"), ("--optShapes=", "opt"), ("--maxShapes=", "max")):
            if arg.startswith(flag):
                out[k] = parse_trtexec_shapes(arg[len(flag):])
    return out


# ---------------------------------------------------------------- onnxruntime

def ort_name(name: str) -> str:
    if ":" in name or "," in name:
        raise ShapealgError(f"input {name!r}: onnxruntime's TensorRT provider options cannot name it (an entry is "
                            f"split at its first ':' and entries at ',', with no quoting): rename the input")
    return name


def ort_trt_options(report) -> Dict[str, str]:
    """``trt_profile_min_shapes`` / ``opt`` / ``max`` holding every profile (a repeated name starts the next)."""
    out = {}
    for key, k in (("trt_profile_min_shapes", 0), ("trt_profile_opt_shapes", 1), ("trt_profile_max_shapes", 2)):
        out[key] = ",".join(f"{ort_name(n)}:{_dims(v[k])}" for p in report.profiles for n, v in p.shapes.items())
    return out


def parse_ort_shapes(value: str) -> List[Dict[str, Shape]]:
    """onnxruntime's reading of a trt_profile_*_shapes value: entries at ',', the name up to the first ':', dims
    at 'x'; a name seen again begins the next profile. A list of profiles {name: shape}."""
    profiles: List[Dict[str, Shape]] = []
    seen: Dict[str, int] = {}
    for item in value.split(","):
        if not item:
            continue
        name, _, rest = item.partition(":")
        dims = rest.split(":")[0]
        if not dims:
            raise ValueError(f"no shape in {item!r}")
        shape = tuple(int(d) for d in dims.split("x"))
        i = seen.get(name, -1) + 1
        seen[name] = i
        while len(profiles) <= i:
            profiles.append({})
        profiles[i][name] = shape
    return profiles


def ort_snippet(report, model_path: str = "model.onnx") -> str:
    try:
        trt = ort_trt_options(report)
        trt_text = "trt_options = {\n" + "".join(f"    {k!r}: {v!r},\n" for k, v in trt.items()) + \
            "    'trt_engine_cache_enable': True,\n    'trt_engine_cache_path': 'trt_cache',\n}\n"
    except ShapealgError as e:
        trt_text = f"trt_options = {{}}  # {e}\n"
    return (
        "import onnxruntime as ort\n"
        + trt_text +
        "# the CUDA provider takes no shape profile: any valid size runs; HEURISTIC skips the per-new-shape\n"
        "# exhaustive convolution search (the default, EXHAUSTIVE, re-benchmarks at every new input size)\n"
        "cuda_options = {'cudnn_conv_algo_search': 'HEURISTIC'}\n"
        f"sess = ort.InferenceSession({model_path!r}, providers=[\n"
        "    ('TensorrtExecutionProvider', trt_options),\n"
        "    ('CUDAExecutionProvider', cuda_options),\n"
        "    'CPUExecutionProvider'])\n")


# ---------------------------------------------------------------- OpenVINO

def _bounds(p) -> Dict[str, List[Any]]:
    out = {}
    for n, (lo, _, hi) in p.shapes.items():
        out[n] = [a if a == b else (min(a, b), max(a, b)) for a, b in zip(lo, hi)]
    return out


def openvino_input(report, index: int = 0) -> str:
    """``ovc --input`` value: ``x[1,3,224..1024,224..1024]`` (bounds only: a stride is not expressible)."""
    p = report.profiles[index]
    parts = []
    for n, dims in _bounds(p).items():
        if any(c in n for c in "[],"):
            raise ShapealgError(f"input {n!r}: ovc --input cannot name it; use openvino_python()")
        parts.append(f"{n}[" + ",".join(str(d) if isinstance(d, int) else f"{d[0]}..{d[1]}" for d in dims) + "]")
    return ",".join(parts)


def openvino_python(report, index: int = 0, model_path: str = "model.onnx") -> str:
    p = report.profiles[index]
    items = []
    for n, dims in _bounds(p).items():
        ds = ", ".join(str(d) if isinstance(d, int) else f"ov.Dimension({d[0]}, {d[1]})" for d in dims)
        items.append(f"    {n!r}: ov.PartialShape([{ds}]),\n")
    return (f"import openvino as ov\nmodel = ov.convert_model({model_path!r}, input={{\n" + "".join(items) + "})\n")


def parse_openvino_input(value: str) -> Dict[str, List[Any]]:
    out = {}
    for m in re.finditer(r"([^\[\],]+)\[([^\]]*)\]", value):
        dims = []
        for d in m.group(2).split(","):
            if ".." in d:
                a, b = d.split("..")
                dims.append((int(a), int(b)))
            else:
                dims.append(int(d))
        out[m.group(1)] = dims
    return out


# ---------------------------------------------------------------- torch.export

def _ident(name: str) -> str:
    s = re.sub(r"\W", "_", name)
    return s if s and not s[0].isdigit() else "d_" + s


def _dim_plan(report, index: int):
    """Per symbol: (python name, base min, base max, stride, offset)."""
    p = report.profiles[index]
    out = {}
    for d in p.dims:
        if d.stride > 1:
            off = d.min % d.stride
            out[d.name] = (_ident(d.name), (d.min - off) // d.stride, (d.max - off) // d.stride, d.stride, off)
        else:
            out[d.name] = (_ident(d.name), d.min, d.max, 1, 0)
    return out


def _example_point(report, index: int) -> Dict[str, int]:
    """opt, with any size of 1 moved to the next valid size (torch.export specialises sizes 0 and 1)."""
    p = report.profiles[index]
    env = p.point("opt")
    for d in p.dims:
        if env[d.name] == 1 and d.max > 1:
            env[d.name] = min(d.max, d.min + d.stride if d.min == 1 else d.min)
    dom = report.analysis.domain if report.analysis is not None else None
    if dom is not None and not dom.contains(env):
        env = p.point("opt")
    return env


def _input_axes(report) -> List[Tuple[str, Dict[int, str]]]:
    out = []
    for s in report.dynamic_inputs:
        axes = {i: str(d) for i, d in enumerate(s.dims) if d is not None and not isinstance(d, int) and d.is_Symbol}
        out.append((s.name, axes))
    return out


def torch_export_code(report, index: int = 0, arg_names: Optional[Mapping[str, str]] = None) -> str:
    """Python that builds ``dynamic_shapes`` (positional: one entry per input, in the model's order) and the
    example inputs at opt, for ``torch.export.export(module, args, dynamic_shapes=dynamic_shapes)``."""
    plan = _dim_plan(report, index)
    ex = _example_point(report, index)
    lines = ["import torch", "from torch.export import Dim", ""]
    for sym, (py, lo, hi, st, off) in plan.items():
        if st > 1:
            lines.append(f"_{py} = Dim({'_' + py!r}, min={lo}, max={hi})")
            lines.append(f"{py} = {st} * _{py}" + (f" + {off}" if off else "") + f"   # {sym} in {lo * st + off}.."
                         f"{hi * st + off}, multiples of {st}" + (f" plus {off}" if off else ""))
        else:
            lines.append(f"{py} = Dim({py!r}, min={lo}, max={hi})")
    specs, args = [], []
    by_name = {s.name: s for s in report.dynamic_inputs}
    for name, axes in _input_axes(report):
        inner = ", ".join(f"{i}: {plan[s][0]}" for i, s in axes.items() if s in plan)
        label = (arg_names or {}).get(name, name)
        specs.append(f"    {{{inner}}},  # {label}")
        shape = by_name[name].at(ex)
        args.append(f"    torch.randn({', '.join(map(str, shape))}),  # {label}")
    lines.append("dynamic_shapes = (\n" + "\n".join(specs) + "\n)")
    lines.append("args = (\n" + "\n".join(args) + "\n)")
    lines.append("ep = torch.export.export(module, args, dynamic_shapes=dynamic_shapes)")
    return "\n".join(lines) + "\n"


def torch_dynamic_shapes(report, index: int = 0, arg_names=None):
    """(dynamic_shapes, example input shapes): the objects ``torch_export_code`` writes, built (imports torch)."""
    from torch.export import Dim
    plan = _dim_plan(report, index)
    made = {}
    for sym, (py, lo, hi, st, off) in plan.items():
        if st > 1:
            base = Dim("_" + py, min=lo, max=hi)
            made[sym] = st * base + off if off else st * base
        else:
            made[sym] = Dim(py, min=lo, max=hi)
    ex = _example_point(report, index)
    by_name = {s.name: s for s in report.dynamic_inputs}
    specs, shapes = [], []
    for name, axes in _input_axes(report):
        specs.append({i: made[s] for i, s in axes.items() if s in made})
        shapes.append(by_name[name].at(ex))
    return tuple(specs), tuple(shapes)
