"""The one place shapealg runs a user's Python: ``file.py:factory`` given on the command line (``analyze``,
``validate``, ``export``). Importing the file runs its top-level code, as ``python file.py`` would (minus
``__main__``); the CLI's help says so. Nothing else in shapealg imports or executes code from a model."""
from __future__ import annotations

import os
import re

from .records import ShapealgError
from .torch_front import first_line


def load_factory(spec: str):
    """Import ``file.py`` (running its top-level code, as ``python file.py`` would minus ``__main__``) and call
    ``factory()``; the result must be a torch nn.Module."""
    import importlib.util
    import sys
    try:
        import torch
    except ImportError as e:
        raise ShapealgError(f"{spec}: a torch model needs torch, which cannot be imported here ({first_line(e)}); "
                            f"install it: pip install 'shapealg[torch]'") from None
    path, _, attr = spec.rpartition(":")
    if not os.path.isfile(path):
        raise ShapealgError(f"{path}: no such file")
    if not attr.isidentifier():
        raise ShapealgError(f"{spec!r}: {attr!r} is not a Python name (expected file.py:factory)")
    mod_name = "shapealg_user_" + re.sub(r"\W", "_", os.path.splitext(os.path.basename(path))[0])
    folder = os.path.dirname(os.path.abspath(path))
    added = folder not in sys.path
    if added:
        sys.path.insert(0, folder)  # the file's sibling modules import as they would when run
    try:
        s = importlib.util.spec_from_file_location(mod_name, path)
        mod = importlib.util.module_from_spec(s)
        sys.modules[mod_name] = mod
        try:
            s.loader.exec_module(mod)
        except Exception as e:  # noqa: BLE001 - the user's code
            raise ShapealgError(f"{path}: importing it failed: {first_line(e)}") from None
        fn = getattr(mod, attr, None)
        if fn is None:
            raise ShapealgError(f"{path}: has no {attr!r}")
        try:
            obj = fn() if callable(fn) and not isinstance(fn, torch.nn.Module) else fn
        except Exception as e:  # noqa: BLE001
            raise ShapealgError(f"{spec}: calling {attr}() failed: {first_line(e)}") from None
    finally:
        if added:
            sys.path.remove(folder)
    if not isinstance(obj, torch.nn.Module):
        raise ShapealgError(f"{spec}: {attr} gave a {type(obj).__name__}, expected a torch nn.Module")
    return obj
