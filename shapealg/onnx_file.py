"""Reading ONNX files safely: the model without its weights (external data never opened; in a large file the
big tensors' contents skipped at the protobuf wire level), and external-data locations checked before
anything would open them."""
from __future__ import annotations

import os
import re
import stat
from typing import Dict, List, Optional, Union

import onnx
from onnx import TensorProto

from .records import ShapealgError

SMALL_VALUE_LIMIT = 4096  # elements: contents of smaller initializers / constants are read
PROTOBUF_LIMIT = 2 ** 31 - 1  # protobuf cannot parse a message larger than 2 GiB
SKIM_ABOVE = 16 << 20  # bytes: a larger file is parsed without the contents of its large inline tensors


def load_model(path: Union[str, os.PathLike], *, weights: bool = True) -> onnx.ModelProto:
    """Parse an ONNX file without touching its external data. Anything that is not a readable ONNX model
    (missing, a directory, a FIFO / device, over 2 GiB, corrupt, another protobuf) raises ShapealgError.

    ``weights=False`` (what the analysis uses): a file over SKIM_ABOVE bytes is read through ``mmap`` and
    the contents of its large initializers (over SMALL_VALUE_LIMIT elements) are left out before parsing,
    so memory stays near the graph's size rather than the weights'; their names, dims and types are kept."""
    try:
        p = os.fspath(path)
    except TypeError:
        raise ShapealgError(f"{path!r}: expected a path to an ONNX file") from None
    if isinstance(p, bytes):
        p = os.fsdecode(p)
    if not p or "\x00" in p:
        raise ShapealgError(f"{p!r}: not a valid path")
    try:
        st = os.stat(p)
    except FileNotFoundError:
        raise ShapealgError(f"{p}: no such file") from None
    except OSError as e:
        raise ShapealgError(f"{p}: cannot access ({e.strerror or type(e).__name__})") from None
    if stat.S_ISDIR(st.st_mode):
        raise ShapealgError(f"{p}: is a directory, expected an ONNX file")
    if not stat.S_ISREG(st.st_mode):  # a FIFO or a device would block or never end
        raise ShapealgError(f"{p}: not a regular file, expected an ONNX file")
    if st.st_size > PROTOBUF_LIMIT:
        raise ShapealgError(f"{p}: {st.st_size} bytes is over protobuf's 2 GiB limit; an ONNX file this large "
                            f"must keep its weights as external data")
    if st.st_size == 0:
        raise ShapealgError(f"{p}: empty file, expected an ONNX model")
    model = None
    try:
        if not weights and st.st_size > SKIM_ABOVE:
            model = _load_skimmed(p)
        if model is None:
            with open(p, "rb") as f:
                data = f.read()
            if not data:
                raise ShapealgError(f"{p}: empty file, expected an ONNX model")
            model = _parse(p, data)
    except OSError as e:
        raise ShapealgError(f"{p}: cannot read ({e.strerror or type(e).__name__})") from None
    if not model.HasField("graph"):
        raise ShapealgError(f"{p}: not an ONNX model (no graph; another protobuf such as a TensorProto or a "
                            f"GraphProto, or not ONNX at all)")
    return model


def _parse(p: str, data) -> onnx.ModelProto:
    try:
        model = onnx.ModelProto()
        model.ParseFromString(data)
    except Exception as e:  # noqa: BLE001 - protobuf raises several types
        first = str(e).splitlines()[0] if str(e).strip() else "parse error"
        raise ShapealgError(f"{p}: not a readable ONNX model ({type(e).__name__}: {first})") from None
    return model


# -- reading a large file without its weights: the protobuf wire format, walked just deep enough ----------
# ModelProto.graph = 7; GraphProto.initializer = 5; TensorProto.dims = 1, data fields 4 5 6 7 9 10 11.

_TENSOR_DATA_FIELDS = {4, 5, 6, 7, 9, 10, 11}


class _Wire(Exception):
    pass


def _varint(buf, i: int, end: int):
    shift = result = 0
    while True:
        if i >= end or shift > 63:
            raise _Wire("bad varint")
        b = buf[i]
        i += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, i
        shift += 7


def _enc_varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _fields(buf, start: int, end: int):
    """(field number, wire type, field start, value start, value end) for each field in buf[start:end]."""
    i = start
    while i < end:
        f0 = i
        key, i = _varint(buf, i, end)
        field, wt = key >> 3, key & 7
        if wt == 0:
            _, j = _varint(buf, i, end)
            v0, i = i, j
        elif wt == 1:
            v0, i = i, i + 8
        elif wt == 2:
            n, v0 = _varint(buf, i, end)
            i = v0 + n
        elif wt == 5:
            v0, i = i, i + 4
        else:
            raise _Wire("groups are not used by ONNX")
        if i > end:
            raise _Wire("truncated field")
        yield field, wt, f0, v0, i


def _skim_tensor(buf, start: int, end: int):
    """A TensorProto's bytes without its data fields when it has more than SMALL_VALUE_LIMIT elements
    (a list of memoryview slices), else None (kept as it is)."""
    numel, spans, has_dims = 1, [], False
    for field, wt, f0, v0, v1 in _fields(buf, start, end):
        if field == 1:
            has_dims = True
            if wt == 0:
                numel *= _varint(buf, v0, v1)[0]
            elif wt == 2:
                i = v0
                while i < v1:
                    d, i = _varint(buf, i, v1)
                    numel *= d
        if field not in _TENSOR_DATA_FIELDS:
            spans.append((f0, v1))
    if not has_dims or numel <= SMALL_VALUE_LIMIT:
        return None
    return [buf[a:b] for a, b in spans]


def _skim_graph(buf, start: int, end: int) -> List:
    out: List = []
    for field, wt, f0, v0, v1 in _fields(buf, start, end):
        if field == 5 and wt == 2:
            parts = _skim_tensor(buf, v0, v1)
            if parts is not None:
                n = sum(len(x) for x in parts)
                out.append(_enc_varint((5 << 3) | 2) + _enc_varint(n))
                out.extend(parts)
                continue
        out.append(buf[f0:v1])
    return out


def _load_skimmed(p: str) -> Optional[onnx.ModelProto]:
    """The model in ``p`` without the contents of its large initializers, or None when the file is not a
    well-formed protobuf at the wire level (the caller then parses it whole, for the usual error)."""
    import mmap
    with open(p, "rb") as f:
        try:
            mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        except (ValueError, OSError):
            return None
    try:
        try:
            data = _skim_model(mm)
        except (_Wire, IndexError, ValueError, BufferError):
            return None
    finally:
        try:
            mm.close()
        except BufferError:  # a slice still alive (cannot happen once _skim_model returned): the GC closes it
            pass
    return _parse(p, data)


def _skim_model(mm) -> bytes:
    """The ModelProto bytes in ``mm`` with its graph's large initializers emptied; every slice of the
    map is gone when this returns."""
    with memoryview(mm) as buf:
        out: List = []
        for field, wt, f0, v0, v1 in _fields(buf, 0, len(buf)):
            if field == 7 and wt == 2:
                g = _skim_graph(buf, v0, v1)
                out.append(_enc_varint((7 << 3) | 2) + _enc_varint(sum(len(x) for x in g)))
                out.extend(g)
                del g
            else:
                out.append(buf[f0:v1])
        data = b"".join(out)  # only the graph and the small tensors: copies of slices of the map
        for x in out:
            if isinstance(x, memoryview):
                x.release()
        del out
    return data


def text(x) -> str:
    """A protobuf string field as str: proto2 strings with invalid UTF-8 come back as bytes."""
    if isinstance(x, bytes):
        return x.decode("utf-8", "backslashreplace")
    return x if isinstance(x, str) else str(x)


def undecodable_name(model: onnx.ModelProto) -> Optional[str]:
    """Where the model (its graph or any subgraph) has a name that is not valid UTF-8 (protobuf hands such a
    string field back as bytes), e.g. ``node 'relu' (op Relu): input b'/fe\\xabures'``; None when every name
    is text. The analysis reads such names escaped (``text``); what hands the model to a runtime refuses it."""
    def graph(g, where: str) -> Optional[str]:
        for kind, vals in (("input", g.input), ("output", g.output), ("value_info", g.value_info)):
            for v in vals:
                if isinstance(v.name, bytes):
                    return f"{where}{kind} {v.name!r}"
        for t in g.initializer:
            if isinstance(t.name, bytes):
                return f"{where}initializer {t.name!r}"
        for n in g.node:
            here = f"{where}node {text(n.name)!r} (op {text(n.op_type)})"
            for kind, vals in (("name", [n.name]), ("op type", [n.op_type]), ("domain", [n.domain]),
                               ("input", n.input), ("output", n.output)):
                for v in vals:
                    if isinstance(v, bytes):
                        return f"{here}: {kind} {v!r}"
            for a in n.attribute:
                if isinstance(a.name, bytes):
                    return f"{here}: attribute {a.name!r}"
                for sub in ([a.g] if a.HasField("g") else []) + list(a.graphs):
                    found = graph(sub, f"{here}, attribute {text(a.name)!r}: ")
                    if found:
                        return found
        return None
    return graph(model.graph, "")


def external_info(t: onnx.TensorProto) -> Dict[str, str]:
    """A tensor's external_data entries (location, offset, length, checksum) as a dict."""
    return {text(e.key): text(e.value) for e in t.external_data}


def external_location_problem(loc: str, model_dir: Optional[str]) -> Optional[str]:
    """Why the external-data location ``loc`` of a model in ``model_dir`` would be unsafe to open, or None:
    no location, a NUL byte, an absolute path, a ``..`` component, or (``model_dir`` given) a path that
    resolves outside the folder through a symlink of the file or of any folder on the way. Decided from the
    names alone (``realpath`` reads links, never a file's contents); nothing is opened."""
    if not loc:
        return "has no location"
    if "\x00" in loc:
        return "has a NUL byte in its location"
    if os.path.isabs(loc) or loc.startswith(("\\", "/")) or re.match(r"^[A-Za-z]:", loc):
        return f"location {loc!r} is an absolute path"
    if ".." in re.split(r"[\\/]+", loc):
        return f"location {loc!r} leaves the model's folder"
    if model_dir is not None:
        base = os.path.realpath(model_dir)
        try:
            real = os.path.realpath(os.path.join(base, loc))
            inside = os.path.commonpath([base, real]) == base
        except (OSError, ValueError):
            inside = False
        if not inside:
            return f"location {loc!r} resolves outside the model's folder (a symlink?)"
    return None


def external_data_problems(model: onnx.ModelProto, model_dir: Optional[str]) -> List[str]:
    """External-data locations that would be unsafe to open (``external_location_problem``), one line each.
    ``model_dir`` None: the model was given in memory, only the lexical checks apply."""
    out: List[str] = []

    def check(t: onnx.TensorProto, where: str) -> None:
        if t.data_location != TensorProto.EXTERNAL:
            return
        why = external_location_problem(external_info(t).get("location", ""), model_dir)
        if why:
            out.append(f"{where} {text(t.name)!r}: external data {why}; refused (never read)")

    for t in model.graph.initializer:
        check(t, "initializer")
    for n in model.graph.node:
        for a in n.attribute:
            if a.type == onnx.AttributeProto.TENSOR:
                check(a.t, f"node {text(n.name) or text(n.op_type)!r} attribute {text(a.name)}: tensor")
    return out
