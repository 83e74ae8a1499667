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
    md = {"valid_if": a.domain.valid_if_text, "verdict": a.verdict, "summary": a.verdict_summary,
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
    does) to ``out_path`` with its shape formulas in value_info and its validity condition and verdict in
    metadata_props.

    Every file is written whole or not at all (``safe_write``): the annotated model and the external data
    copied beside it go to temporary files in the target folder first and are renamed into place when all are
    complete. ``out_path`` must not be the input model, not by name and not by file (a symlink or hard link to
    it). External data is only copied from inside the model's folder: a location that is absolute, climbs
    out (``..``) or resolves outside it through a symlink (of the file or of any folder on the way) is refused,
    as the analysis refuses to read it."""
    from .analysis import analyze_source
    from .safe_write import Transaction, same_file
    from .source import is_module, load
    out_path = os.fspath(out_path)
    if not out_path or "\x00" in out_path:
        raise ShapealgError(f"{out_path!r}: not a valid output path")
    if os.path.isdir(out_path):
        raise ShapealgError(f"{out_path}: is a directory; give the annotated file's path")
    if is_module(model) and analysis is not None:  # the analysis holds the module's export: not exported again
        a, proto, src_dir, big = analysis, analysis.model_proto, None, True
    else:
        src = load(model, input_shape=input_shape if is_module(model) else None, weights=True)  # no external data
        if src.path is not None and (os.path.abspath(src.path) == os.path.abspath(out_path)
                                     or same_file(src.path, out_path)):
            raise ShapealgError(f"{out_path}: is the input model; write the annotated file elsewhere")
        a = analysis if analysis is not None else analyze_source(src, shapes=shapes,
                                                                 symbolize_spatial=symbolize_spatial)
        proto, src_dir, big = src.proto, src.folder, src.is_module
    annotated, n = annotate_model(proto, a)
    dst_dir = os.path.dirname(os.path.abspath(out_path))
    if not os.path.isdir(dst_dir):
        raise ShapealgError(f"{out_path}: cannot write (folder {dst_dir} does not exist)")
    from .safe_write import is_stream
    with Transaction() as t:  # a stream (/dev/stdout, a pipe) gets the model alone: no folder to copy data into
        copied = [] if is_stream(out_path) else _stage_external(t, annotated, src_dir, dst_dir, overwrite_data)
        if big and annotated.ByteSize() > 1_800_000_000:
            _stage_with_external_data(t, annotated, out_path)
        else:
            data = annotated.SerializeToString()
            t.add(out_path, lambda f: f.write(data))
        t.commit()
    return Annotated(out_path, n, tuple(copied))


def _stage_with_external_data(t, model: onnx.ModelProto, out_path: str) -> None:
    """A model over protobuf's limit: its tensors in ``OUT.data`` beside it (staged like any other file)."""
    import tempfile
    from onnx.external_data_helper import convert_model_to_external_data, write_external_data_tensors
    loc = os.path.basename(out_path) + ".data"
    tmpdir = tempfile.mkdtemp(prefix=".shapealg-", dir=os.path.dirname(os.path.abspath(out_path)))
    try:
        m = onnx.ModelProto()
        m.CopyFrom(model)
        convert_model_to_external_data(m, all_tensors_to_one_file=True, location=loc)
        write_external_data_tensors(m, tmpdir)
        with open(os.path.join(tmpdir, loc), "rb") as f:
            t.add_copy(f.fileno(), os.path.join(os.path.dirname(out_path), loc))
        data = m.SerializeToString()
        t.add(out_path, lambda f: f.write(data))
    except OSError as e:
        raise ShapealgError(f"{out_path}: cannot write ({e.strerror or type(e).__name__})") from None
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)


def _open_inside(src_dir: str, loc: str) -> int:
    """A read-only descriptor of the external data file ``loc`` of a model in ``src_dir``, refused unless
    every component of the path, symlinks resolved, stays inside ``src_dir`` and it is a regular file."""
    import stat
    from .onnx_file import external_location_problem
    why = external_location_problem(loc, src_dir)
    if why:
        raise ShapealgError(f"external data {why}; refused (write the annotated file beside the model to keep "
                            f"the reference as it is)")
    real = os.path.realpath(os.path.join(src_dir, loc))
    try:  # the resolved path, opened without following a link that appeared since, nor blocking on a FIFO
        fd = os.open(real, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
                     | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise ShapealgError(f"{os.path.join(src_dir, loc)}: external data file the model references is missing") \
            from None
    except OSError as e:
        raise ShapealgError(f"{os.path.join(src_dir, loc)}: cannot read the external data file "
                            f"({e.strerror or type(e).__name__})") from None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise ShapealgError(f"{os.path.join(src_dir, loc)}: external data is not a regular file (a folder, FIFO "
                            f"or device); refused")
    base = os.path.realpath(src_dir)
    if os.path.commonpath([base, real]) != base:  # cannot happen after the check above; kept as the invariant
        os.close(fd)
        raise ShapealgError(f"external data location {loc!r} resolves outside the model's folder; refused")
    return fd


def _stage_external(t, model, src_dir, dst_dir, overwrite: bool) -> List[str]:
    files = _external_files(model)
    if not files or src_dir is None or _same_dir(src_dir, dst_dir):
        return []
    from .safe_write import same_file
    copied = []
    fds = []
    try:
        for loc in files:
            fd = _open_inside(src_dir, loc)
            fds.append(fd)
            d = os.path.join(dst_dir, os.path.normpath(loc))
            real_dst = os.path.realpath(dst_dir)
            if os.path.commonpath([real_dst, os.path.realpath(os.path.dirname(d))]) != real_dst:
                raise ShapealgError(f"{d}: a symlinked folder there leads outside {dst_dir}; refusing to copy the "
                                    f"external data through it")
            if os.path.lexists(d):
                if same_file(d, os.path.join(src_dir, loc)):
                    continue
                if not overwrite:
                    raise ShapealgError(f"{d}: exists; the annotated model's external data would overwrite it")
            t.makedirs(os.path.dirname(d))
            t.add_copy(fd, d)
            copied.append(d)
    finally:
        for fd in fds:
            os.close(fd)
    return copied


def _same_dir(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False
