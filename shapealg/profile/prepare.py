"""Input preparation: for an arbitrary input size, the nearest size a profile accepts and that the model runs at,
under each policy a pipeline uses, with the exact amounts and ready-to-paste torch / numpy code.

* ``pad``: the smallest valid size >= the input in each spatial dim; the content kept, zeros added at the bottom
  and the right;
* ``resize-pad`` (letterbox): scaled by one factor (aspect ratio kept) to fit the profile's opt size, then padded
  evenly around to it;
* ``crop``: the largest valid size <= the input in each spatial dim, taken from the centre.

Only the spatial sizes (H, W...) change; the others (batch, sequence) must already be valid.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Mapping, Optional, Tuple


from ..records import ShapealgError
from .parts import symbol_values

POLICIES = ("pad", "resize-pad", "crop")


@dataclass(frozen=True)
class Preparation:
    """One policy's answer for one input size: the size the model gets, the resize (if any), the pads
    (before, after) or the crop (start, length) per spatial symbol, and the code that does it."""
    policy: str
    given: Dict[str, int]
    target: Optional[Dict[str, int]]
    resize: Optional[Dict[str, int]] = None
    pads: Dict[str, Tuple[int, int]] = field(default_factory=dict)
    crop: Dict[str, Tuple[int, int]] = field(default_factory=dict)
    torch_code: str = ""
    numpy_code: str = ""
    note: str = ""

    def __repr__(self) -> str:
        if self.target is None:
            return f"Preparation({self.policy}: impossible: {self.note})"
        return f"Preparation({self.policy}: {_fmt(self.given)} -> {_fmt(self.target)})"

    def to_json(self) -> dict:
        return {"policy": self.policy, "given": self.given, "target": self.target, "resize": self.resize,
                "pads": {k: list(v) for k, v in self.pads.items()}, "crop": {k: list(v) for k, v in self.crop.items()},
                "torch": self.torch_code, "numpy": self.numpy_code, "note": self.note or None}


def _fmt(env: Mapping[str, int]) -> str:
    return ", ".join(f"{k}={v}" for k, v in env.items())


def _axes(report) -> Tuple[str, Dict[str, int], int]:
    """(the image input's name, spatial symbol -> its axis, the input's rank)."""
    for s in report.dynamic_inputs:
        axes = {str(d): i for i, d in enumerate(s.dims)
                if d is not None and not isinstance(d, int) and d.is_Symbol and report.roles.get(str(d)) == "spatial"}
        if axes:
            return s.name, axes, len(s.dims)
    raise ShapealgError("the model has no dynamic spatial size (H, W...) to prepare an input for")


def prepare_input(report, size: Mapping[str, int], profile: int = 0) -> List[Preparation]:
    """Every policy's preparation of an input of ``size`` ({H: .., W: ..}) for profile ``profile``."""
    if not 0 <= profile < len(report.profiles):
        raise ShapealgError(f"no profile {profile} (there are {len(report.profiles)})")
    p = report.profiles[profile]
    dom = report.analysis.domain
    name, axes, rank = _axes(report)
    size = {str(k): int(v) for k, v in size.items()}
    missing = [s for s in axes if s not in size]
    if missing or any(k not in axes for k in size):
        raise ShapealgError(f"prepare: give {', '.join(axes)} (got {', '.join(size) or 'nothing'})")
    if any(v < 1 for v in size.values()):
        raise ShapealgError("prepare: sizes must be >= 1")
    rng = {d.name: d for d in p.dims}
    valid = {s: symbol_values(dom, s, rng[s].min, rng[s].max) for s in axes}
    valid = {s: v[(v - rng[s].min) % rng[s].stride == 0] for s, v in valid.items()}
    out = [_pad(name, axes, rank, size, valid), _letterbox(name, axes, rank, size, p.point("opt")),
           _crop(name, axes, rank, size, valid)]
    return out


def _pad(name, axes, rank, size, valid) -> Preparation:
    tgt = {}
    for s, v in valid.items():
        up = v[v >= size[s]]
        if not len(up):
            return Preparation("pad", size, None, note=f"{s}={size[s]} is above the profile's largest valid {s} "
                                                       f"({int(v[-1])}): resize or crop instead")
        tgt[s] = int(up[0])
    pads = {s: (0, tgt[s] - size[s]) for s in axes}
    return Preparation("pad", size, tgt, pads=pads, torch_code=_torch(None, pads, {}, axes, rank),
                       numpy_code=_numpy(None, pads, {}, axes, rank))


def _letterbox(name, axes, rank, size, opt) -> Preparation:
    tgt = {s: int(opt[s]) for s in axes}
    scale = min(tgt[s] / size[s] for s in axes)
    new = {s: max(1, min(tgt[s], int(round(size[s] * scale)))) for s in axes}
    pads = {}
    for s in axes:
        extra = tgt[s] - new[s]
        pads[s] = (extra // 2, extra - extra // 2)
    return Preparation("resize-pad", size, tgt, resize=new, pads=pads,
                       torch_code=_torch(new, pads, {}, axes, rank), numpy_code=_numpy(new, pads, {}, axes, rank),
                       note=f"scale {scale:.6g} (aspect ratio kept) to the profile's opt size, then padded evenly")


def _crop(name, axes, rank, size, valid) -> Preparation:
    tgt = {}
    for s, v in valid.items():
        dn = v[v <= size[s]]
        if not len(dn):
            return Preparation("crop", size, None, note=f"{s}={size[s]} is below the profile's smallest valid {s} "
                                                        f"({int(v[0])}): pad or resize instead")
        tgt[s] = int(dn[-1])
    crop = {s: ((size[s] - tgt[s]) // 2, tgt[s]) for s in axes}
    return Preparation("crop", size, tgt, crop=crop, torch_code=_torch(None, {}, crop, axes, rank),
                       numpy_code=_numpy(None, {}, crop, axes, rank))


def _torch(resize, pads, crop, axes, rank) -> str:
    lines = ["import torch.nn.functional as F", f"# x: the model input, a torch tensor of rank {rank}"]
    order = sorted(axes.items(), key=lambda t: t[1])
    if resize:
        if [i for _, i in order] != list(range(rank - len(order), rank)):
            lines.append("# (the spatial dims are not the last ones: move them last before resizing)")
        lines.append(f"x = F.interpolate(x, size=({', '.join(str(resize[s]) for s, _ in order)},), "
                     f"mode='bilinear' if x.dim() == 4 else 'nearest', align_corners=False)"
                     if len(order) == 2 else
                     f"x = F.interpolate(x, size=({', '.join(str(resize[s]) for s, _ in order)},), mode='nearest')")
    if pads:
        first = min(i for _, i in order)
        flat: List[int] = []
        for ax in range(rank - 1, first - 1, -1):  # F.pad: the last dim first
            s = next((k for k, i in order if i == ax), None)
            flat += list(pads[s]) if s is not None else [0, 0]
        lines.append(f"x = F.pad(x, ({', '.join(map(str, flat))}), value=0.0)")
    if crop:
        lines.append(_crop_line(crop, order, rank))
    return "\n".join(lines) + "\n"


def _crop_line(crop, order, rank) -> str:
    """The centre crop as one slicing line (the same for a torch tensor and a numpy array)."""
    idx = []
    for ax in range(rank):
        s = next((k for k, i in order if i == ax), None)
        idx.append(f"{crop[s][0]}:{crop[s][0] + crop[s][1]}" if s is not None else ":")
    return f"x = x[{', '.join(idx)}]"


def _numpy(resize, pads, crop, axes, rank) -> str:
    lines = ["import numpy as np", f"# x: the model input, a numpy array of rank {rank}"]
    order = sorted(axes.items(), key=lambda t: t[1])
    if resize:
        # nearest-neighbour resize with plain numpy (use cv2 / PIL for bilinear)
        for s, i in order:
            lines.append(f"x = np.take(x, (np.arange({resize[s]}) * x.shape[{i}] // {resize[s]}), axis={i})")
    if pads:
        widths = [tuple(pads[s]) if s is not None else (0, 0)
                  for s in (next((k for k, i in order if i == ax), None) for ax in range(rank))]
        lines.append(f"x = np.pad(x, {widths!r}, mode='constant')")
    if crop:
        lines.append(_crop_line(crop, order, rank))
    return "\n".join(lines) + "\n"


def next_valid_code(report, profile: int = 0) -> str:
    """A ready-to-paste function ``next_valid(name, n)`` / ``prev_valid(name, n)`` for any input size, from the
    profile's valid values (a rule for an interval or one residue class, a table otherwise)."""
    p = report.profiles[profile]
    dom = report.analysis.domain
    rules = {}
    for d in p.dims:
        v = symbol_values(dom, d.name, d.min, d.max)
        v = v[(v - d.min) % d.stride == 0]
        if len(v) == (d.max - d.min) // d.stride + 1:
            rules[d.name] = ("rule", d.min, d.max, d.stride)
        else:
            rules[d.name] = ("table", [int(x) for x in v[:4096]])
    lines = ["import bisect", "", "VALID = {"]
    for k, r in rules.items():
        lines.append(f"    {k!r}: {r!r},")
    lines += ["}", "", "",
              "def _values(name):",
              "    r = VALID[name]",
              "    return range(r[1], r[2] + 1, r[3]) if r[0] == 'rule' else r[1]",
              "", "",
              "def next_valid(name, n):",
              "    \"\"\"The smallest size >= n the profile accepts and the model runs at (None: above its max).\"\"\"",
              "    vals = _values(name)",
              "    i = bisect.bisect_left(vals, n)",
              "    return vals[i] if i < len(vals) else None",
              "", "",
              "def prev_valid(name, n):",
              "    \"\"\"The largest size <= n the profile accepts and the model runs at (None: below its min).\"\"\"",
              "    vals = _values(name)",
              "    i = bisect.bisect_right(vals, n)",
              "    return vals[i - 1] if i else None", ""]
    return "\n".join(lines)
