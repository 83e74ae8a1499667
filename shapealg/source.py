"""What the user gave -> the model to analyse: the one entry point of analyze, infer, export, cost, validate and
the CLI. A path is read once (``onnx_file.load_model``: external data never opened); a ModelProto is taken
as it is; a torch nn.Module (or ``file.py:factory`` from the command line) is exported to ONNX
(``torch_front.export_module``) and keeps how it was exported."""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Mapping, Optional

import onnx

from .onnx_file import load_model
from .records import ShapealgError


@dataclass(frozen=True)
class Source:
    proto: onnx.ModelProto         # the model (a file's without external data; a module's with its weights)
    path: Optional[str] = None     # the file it was read from; None for a model given in memory
    module: Any = None             # the torch nn.Module it was exported from
    export: Any = None             # torch_front.ModuleExport: the front end's account and the input shapes

    @property
    def is_module(self) -> bool:
        return self.module is not None

    @property
    def folder(self) -> Optional[str]:
        """The file's folder (where its external data is); None for a model given in memory."""
        return os.path.dirname(os.path.abspath(self.path)) if self.path is not None else None

    @property
    def label(self) -> str:
        """How the analysis names the model: the path, ``Module (dynamo export)`` or ``<model>``."""
        if self.path is not None:
            return self.path
        if self.export is not None:
            return f"{type(self.module).__name__} ({self.export.front.path} export)"
        return "<model>"


def is_module(obj) -> bool:
    """True for a torch nn.Module, without importing torch when it is not loaded."""
    import sys
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(obj, torch.nn.Module)


def is_factory_spec(text) -> bool:
    """``path/to/file.py:factory``: a Python file and a callable in it that returns an nn.Module."""
    return isinstance(text, str) and ":" in text and text.rsplit(":", 1)[0].endswith(".py")


def factory_module(spec: str):
    """The torch nn.Module ``file.py:factory`` gives (user_code.load_factory: the file's code is run)."""
    from .user_code import load_factory
    return load_factory(spec)


def load(model, *, input_shape=None, example: Optional[Mapping[str, int]] = None, weights: bool = False,
         factory: bool = False, modules: bool = True,
         expected: str = "expected an ONNX file path or an onnx.ModelProto, got") -> Source:
    """``model`` (a Source, an ONNX path, a ModelProto, a torch nn.Module; with ``factory`` a ``file.py:factory``
    whose code is run) as a Source. ``input_shape`` / ``example``: a module's export (torch_front.export_module);
    ``weights``: the file's large inline tensors are kept (False: skipped in a large file, as the analysis
    needs); ``modules=False``: a module is refused like any other object; ``expected``: that refusal's words."""
    if isinstance(model, Source):
        return model
    if factory and is_factory_spec(model):
        from .progress import step
        step(f"importing {str(model).rsplit(':', 1)[0]} (and torch) and calling {str(model).rsplit(':', 1)[1]}()")
        model = factory_module(model)
    if modules and is_module(model):
        from .torch_front import export_module
        exp = export_module(model, input_shape, example=example)
        return Source(exp.model, module=model, export=exp)
    if input_shape is not None:
        raise ShapealgError("input_shape is for a torch module; for an ONNX model use shapes={input: dims}")
    if isinstance(model, onnx.ModelProto):
        return Source(model)
    if not isinstance(model, (str, bytes, os.PathLike)):
        raise ShapealgError(f"{expected} {type(model).__name__}")
    proto = load_model(model, weights=weights)
    return Source(proto, path=os.fsdecode(os.fspath(model)))
