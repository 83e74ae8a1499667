"""``--validate``: the profiles run. onnxruntime at every profile's min / opt / max and at sizes sampled inside
each box (valid ones, and the invalid ones the report names), judged by ``shapealg.validate`` (every value's
shape against its formula; a predicted-invalid size must fail); and, where a GPU and TensorRT are there, the
engine built with the profiles."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

import numpy as np

from .parts import symbol_values

GOOD = ("agree", "failed-as-predicted")


@dataclass(frozen=True)
class CheckedSize:
    profile: int
    kind: str              # min / opt / max / valid sample / invalid sample / invalid edge (just outside)
    size: Dict[str, int]
    predicted_valid: bool
    outcome: str           # validate's outcome
    note: str = ""

    @property
    def agrees(self) -> bool:
        return self.outcome in GOOD

    def to_json(self) -> dict:
        return {"profile": self.profile, "kind": self.kind, "size": self.size, "predicted_valid": self.predicted_valid,
                "outcome": self.outcome, "agrees": self.agrees, "note": self.note or None}


@dataclass(frozen=True)
class ProfileCheck:
    sizes: Tuple[CheckedSize, ...]
    tensorrt: str          # what the TensorRT check did, or why it was skipped

    @property
    def ok(self) -> bool:
        return all(c.agrees or c.outcome == "skipped" for c in self.sizes)

    @property
    def counts(self) -> Dict[str, int]:
        out: Dict[str, int] = {}
        for c in self.sizes:
            out[c.outcome] = out.get(c.outcome, 0) + 1
        return out

    def __repr__(self) -> str:
        ran = [c for c in self.sizes if c.outcome != "skipped"]
        return f"ProfileCheck({sum(c.agrees for c in ran)}/{len(ran)} sizes agree; {self.tensorrt})"

    def to_json(self) -> dict:
        return {"ok": self.ok, "counts": self.counts, "sizes": [c.to_json() for c in self.sizes],
                "tensorrt": self.tensorrt}


def sample_sizes(report, per_profile: int = 4, seed: int = 0) -> List[Tuple[int, str, Dict[str, int]]]:
    """(profile, kind, size): min / opt / max of each profile, up to ``per_profile`` valid sizes sampled in its
    box and up to ``per_profile`` invalid ones (where the box holds any), and the invalid sizes just outside the
    box (one past max, one before min) where the valid set ends there."""
    dom = report.analysis.domain
    rng = np.random.default_rng(seed)
    out: List[Tuple[int, str, Dict[str, int]]] = []
    seen = set()

    def add(i, kind, env):
        key = (i, tuple(sorted(env.items())))
        if key not in seen:
            seen.add(key)
            out.append((i, kind, env))
    for i, p in enumerate(report.profiles):
        for w in ("min", "opt", "max"):
            add(i, w, p.point(w))
        if not p.dims:
            continue
        vals = {}
        for d in p.dims:
            v = symbol_values(dom, d.name, d.min, d.max)
            vals[d.name] = v[(v - d.min) % d.stride == 0]
        for _ in range(per_profile):
            add(i, "valid sample", {k: int(v[rng.integers(len(v))]) for k, v in vals.items()})
        for d in p.dims:  # just outside the box, where the valid set ends there
            for w, v in (("max", d.max + 1), ("min", d.min - 1)):
                env = {**p.point(w), d.name: v}
                if v >= 1 and not dom.contains(env):
                    add(i, "invalid edge", env)
        bad, tries = 0, 0
        while bad < per_profile and tries < 200 and not p.exact:
            tries += 1
            env = {d.name: int(rng.integers(d.min, d.max + 1)) for d in p.dims}
            if not dom.contains(env):
                add(i, "invalid sample", env)
                bad += 1
    return out


def tensorrt_check(report, model_path: Optional[str]) -> str:
    """Build a TensorRT engine with the profiles where TensorRT and a GPU are there; else say why not."""
    try:
        import tensorrt as trt  # noqa: F401
    except Exception:  # noqa: BLE001 - not installed, or a broken install
        return "TensorRT engine build: skipped (the tensorrt Python module is not installed)"
    try:
        import torch
        gpu = torch.cuda.is_available()
    except Exception:  # noqa: BLE001
        gpu = False
    if not gpu:
        return "TensorRT engine build: skipped (no CUDA GPU visible)"
    if not model_path:
        return "TensorRT engine build: skipped (the model is not a file on disk)"
    logger = trt.Logger(trt.Logger.ERROR)
    builder = trt.Builder(logger)
    net = builder.create_network(0)
    parser = trt.OnnxParser(net, logger)
    if not parser.parse_from_file(model_path):
        return f"TensorRT engine build: the ONNX parser refused the model ({parser.get_error(0)})"
    cfg = builder.create_builder_config()
    for p in report.profiles:
        prof = builder.create_optimization_profile()
        for name, (lo, op, hi) in p.shapes.items():
            prof.set_shape(name, lo, op, hi)
        cfg.add_optimization_profile(prof)
    eng = builder.build_serialized_network(net, cfg)
    return ("TensorRT engine build: built with " + str(len(report.profiles)) + " profile(s)") if eng is not None \
        else "TensorRT engine build: FAILED (see TensorRT's log)"


def check_profiles(report, per_profile: int = 4, seed: int = 0, memory_budget: Optional[int] = None,
                   progress=None) -> ProfileCheck:
    """Run the report's sizes in onnxruntime (``shapealg.validate.validate`` on the same analysis)."""
    from ..validate import validate
    a = report.analysis
    plan = sample_sizes(report, per_profile, seed)
    syms = list(dict.fromkeys(list(a.symbols) + list(a.domain.symbols)))
    envs = [{**{s: 1 for s in syms}, **env} for _, _, env in plan]
    model = a.module if a.module is not None else (a.source.path if a.source is not None and a.source.path
                                                   else a.source)
    rep = validate(model, sizes=envs, runtime="onnxruntime", analysis=a, memory_budget=memory_budget,
                   progress=progress, seed=seed)
    out = []
    for (i, kind, env), r in zip(plan, rep.outcomes):
        note = (r.note or r.error or "") if r.outcome not in GOOD else ""
        out.append(CheckedSize(i, kind, env, bool(r.predicted_valid), r.outcome, note))
    path = a.source.path if a.source is not None else None
    return ProfileCheck(tuple(out), tensorrt_check(report, path))
