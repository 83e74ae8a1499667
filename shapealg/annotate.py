"""Annotated ONNX export: the formulas written into the file, so Netron and other tools show them.

Every value whose shape shapealg knows gets a ``value_info`` entry (graph inputs and outputs: their own type)
whose symbolic dims are ``dim_param`` strings (``H``, ``floor(H/2) - 2``) and static dims ``dim_value``s; the
validity condition, verdict and summary go into ``metadata_props`` under ``shapealg.*`` keys. Nothing else
changes: nodes, initializers and external data are left as they are (the model is read without its external
data; when the annotated file goes to another directory the data files it references are copied beside it).
Re-analysing the annotated file gives the same result: shapealg reads only the inputs' dims, which are the
ones it analysed with.
"""
from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import onnx

from .records import ShapealgError

META_PREFIX = "shapealg."


@dataclass(frozen=True)
class Annotated:
    path: str
    values: int                  # value_info entries written (inputs and outputs included)
    copied: Tuple[str, ...] = ()  # external data files copied beside the annotated file
    notes: Tuple[str, ...] = ()


def _set_dims(vi: onnx.ValueInfoProto, shape, dtype: int) -> None:
    tt = vi.type.tensor_type
    if dtype and not tt.elem_type:
        tt.elem_type = dtype
    tt.ClearField("shape")
    shp = tt.shape
    shp.SetInParent()
    for d in shape:
        dim = shp.dim.add()
        if isinstance(d, int):
            dim.dim_value = d
        elif d is not None:
            dim.dim_param = str(d)


def metadata(a) -> Dict[str, str]:
    """The ``shapealg.*`` metadata_props written into an annotated file."""
    from . import __version__
    md = {"valid_if": a.domain.valid_if_text, "verdict": a.domain.verdict, "summary": a.domain.summary,
          "symbols": ",".join(a.result.symbols), "version": __version__}
    c = a.domain.breaking_constraint
    if c is not None:
        md["breaks_at"] = f"{c.node} ({c.op_type}): {c.reason}"
    front = getattr(a, "front", None)
    if front is not None:
        md["front_end"] = front.summary
    return {META_PREFIX + k: v for k, v in md.items()}


def annotate_model(model: onnx.ModelProto, a) -> Tuple[onnx.ModelProto, int]:
    """A copy of ``model`` with the analysis ``a``'s shapes in value_info and its verdict in metadata_props."""
    m = onnx.ModelProto()
    m.CopyFrom(model)
    g = m.graph
    vals = a.result.values
    written = 0
    io = {}
    for vi in list(g.input) + list(g.output):
        io[vi.name] = vi
    for name, vi in io.items():
        v = vals.get(name)
        if v is not None and v.shape is not None and (not vi.HasField("type") or vi.type.HasField("tensor_type")):
            _set_dims(vi, v.shape, v.dtype)
            written += 1
    existing = {vi.name: vi for vi in g.value_info}
    for name, v in vals.items():
        if name in io or v.shape is None:
            continue
        vi = existing.get(name)
        if vi is None:
            vi = g.value_info.add()
            vi.name = name
        elif vi.HasField("type") and not vi.type.HasField("tensor_type"):
            continue  # a sequence / map / optional: not ours to describe
        _set_dims(vi, v.shape, v.dtype)
        written += 1
    keep = [p for p in m.metadata_props if not p.key.startswith(META_PREFIX)]
    del m.metadata_props[:]
    m.metadata_props.extend(keep)
    for k, v in metadata(a).items():
        m.metadata_props.add(key=k, value=v)
    return m, written


def _external_files(model: onnx.ModelProto) -> List[str]:
    from onnx.external_data_helper import _get_all_tensors
    out = []
    for t in _get_all_tensors(model):
        if t.data_location == onnx.TensorProto.EXTERNAL:
            loc = {e.key: e.value for e in t.external_data}.get("location", "")
            if loc and loc not in out:
                out.append(loc)
    return out


def export_annotated(model, out_path, *, shapes: Optional[Mapping[str, Sequence]] = None,
                     symbolize_spatial: bool = True, input_shape=None, analysis=None,
                     overwrite_data: bool = False) -> Annotated:
    """Write ``model`` (an ONNX path, a ModelProto, a source.Source, or a torch nn.Module exported as ``analyze``
    does) to ``out_path`` with
    its shape formulas in value_info and its validity condition and verdict in metadata_props."""
    from .analysis import analyze_source
    from .source import is_module, load
    out_path = os.fspath(out_path)
    if os.path.isdir(out_path):
        raise ShapealgError(f"{out_path}: is a directory; give the annotated file's path")
    if is_module(model) and analysis is not None:  # the analysis holds the module's export: not exported again
        a, proto, src_dir, big = analysis, analysis.model_proto, None, True
    else:
        src = load(model, input_shape=input_shape if is_module(model) else None, weights=True)  # no external data
        if src.path is not None and os.path.abspath(src.path) == os.path.abspath(out_path):
            raise ShapealgError(f"{out_path}: is the input model; write the annotated file elsewhere")
        a = analysis if analysis is not None else analyze_source(src, shapes=shapes,
                                                                 symbolize_spatial=symbolize_spatial)
        proto, src_dir, big = src.proto, src.folder, src.is_module
    annotated, n = annotate_model(proto, a)
    copied = _copy_external(annotated, src_dir, os.path.dirname(os.path.abspath(out_path)), overwrite_data)
    if big and annotated.ByteSize() > 1_800_000_000:
        onnx.save_model(annotated, out_path, save_as_external_data=True,
                        location=os.path.basename(out_path) + ".data")
    else:
        with open(out_path, "wb") as f:
            f.write(annotated.SerializeToString())
    return Annotated(out_path, n, tuple(copied))


def _copy_external(model, src_dir, dst_dir, overwrite: bool) -> List[str]:
    files = _external_files(model)
    if not files or src_dir is None or os.path.samefile(src_dir, dst_dir):
        return []
    copied = []
    for loc in files:
        norm = os.path.normpath(loc)
        if os.path.isabs(norm) or norm.startswith(".."):
            raise ShapealgError(f"external data location {loc!r} is outside the model's directory; "
                                f"write the annotated file beside the model instead")
        s, d = os.path.join(src_dir, norm), os.path.join(dst_dir, norm)
        if not os.path.isfile(s):
            raise ShapealgError(f"{s}: external data file the model references is missing")
        if os.path.exists(d) and not overwrite:
            raise ShapealgError(f"{d}: exists; the annotated model's external data would overwrite it")
        os.makedirs(os.path.dirname(d), exist_ok=True)
        shutil.copyfile(s, d)
        copied.append(d)
    return copied
