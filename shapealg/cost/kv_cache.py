"""The KV cache of a decoder file: the graph outputs that carry the cache to the next step (``present*``, as
transformers' exporters and onnxruntime-genai name them) and their size as a formula in the input sizes."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Tuple

from ..dims import MaybeDim, as_dim, canon, prod
from .memory import value_bytes

__all__ = ["KVCache", "kv_cache"]


@dataclass(frozen=True)
class KVCache:
    values: Tuple[str, ...]   # the graph outputs holding the cache after this step
    elements: MaybeDim        # their total element count (None when a shape is unknown)
    bytes: MaybeDim           # their memory in bytes (None when a shape or dtype is unknown)


def kv_cache(analysis) -> KVCache:
    """The cache after one step of ``analysis``'s model: every graph output whose name starts with
    "present" (``present.0.key``, ``present_key_values...``). Empty when the file has none."""
    res = analysis.result
    names = tuple(o for o in res.graph.outputs if o.lower().startswith("present"))
    elements: MaybeDim = 0
    nbytes: MaybeDim = 0
    for o in names:
        v = res.values.get(o)
        n = None if v is None or v.shape is None else prod(v.shape)
        b = None if v is None else value_bytes(v.shape, v.dtype)
        elements = None if elements is None or n is None else as_dim(elements + n)
        nbytes = None if nbytes is None or b is None else as_dim(nbytes + b)
    return KVCache(names, canon(elements), canon(nbytes))
