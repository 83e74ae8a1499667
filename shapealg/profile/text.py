"""The profile report as text or Markdown (computes nothing)."""
from __future__ import annotations

from typing import Sequence

from ..records import ShapealgError
from .memory import fmt_bytes


def _safe(fn, *args) -> str:
    try:
        return fn(*args)
    except ShapealgError as e:
        return f"# not expressible: {e}"


def _sections(r, check=None, preps: Sequence = (), model_path: str = "model.onnx"):
    from .syntax import openvino_input, openvino_python, ort_snippet, trtexec_command, torch_export_code
    head = [f"model: {r.model}", f"valid set: {r.summary}"]
    if r.box:
        head.append("dynamic sizes: " + ", ".join(f"{k} ({r.roles[k]}) {a}..{b}, opt {r.opt[k]}"
                                                  for k, (a, b) in r.box.items()))
        head.append(f"opt from: {r.opt_source}")
    head.append(f"weights: {fmt_bytes(r.weights_bytes)}"
                + (f"; memory limit {fmt_bytes(r.memory_limit)} (peak live activations + weights)"
                   if r.memory_limit else ""))
    yield "", head
    for p in r.profiles:
        lines = []
        w = max([len(d.name) for d in p.dims] + [1])
        for d in p.dims:
            extra = f"   invalid inside: {d.invalid}" if d.invalid else "   every size inside valid"
            lines.append(f"  {d.name:<{w}}  min {d.min:<6} opt {d.opt:<6} max {d.max:<6}{extra}")
        for n, (lo, op, hi) in p.shapes.items():
            fx = lambda s: "x".join(map(str, s))  # noqa: E731
            lines.append(f"  {n}: min {fx(lo)}  opt {fx(op)}  max {fx(hi)}")
        m = p.memory
        if m:
            lines.append(f"  memory at max: activations {fmt_bytes(m.get('activation_bytes'))}, peak live "
                         f"{fmt_bytes(m.get('peak_bytes'))}, weights {fmt_bytes(m.get('weights_bytes'))}")
        lines += [f"  note: {x}" for x in p.notes]
        yield f"profile {p.index}: {p.label()}", lines
    if r.left_out:
        shown = list(r.left_out[:12])
        more = [f"  ... and {len(r.left_out) - 12} more"] if len(r.left_out) > 12 else []
        yield (f"left out ({len(r.left_out)} part(s) of the valid set inside the range; raise --max-profiles "
               f"or use --cover)"), [f"  {x}" for x in shown] + more
    if r.notes:
        yield "notes", [f"  {x}" for x in r.notes]
    if r.profiles and r.dynamic_inputs:
        yield "trtexec (one engine per profile)", ["```", _safe(trtexec_command, r, model_path), "```"]
        yield "onnxruntime (TensorRT / CUDA providers)", ["```python", ort_snippet(r, model_path).rstrip(), "```"]
        ov = [f"ovc {model_path} --input \"{_safe(openvino_input, r, i)}\"" for i in range(len(r.profiles))]
        yield "OpenVINO (bounds; one model per profile)", ["```", *ov, "```", "```python",
                                                          openvino_python(r, 0, model_path).rstrip(), "```"]
        yield "torch.export (profile 0)", ["```python", torch_export_code(r, 0).rstrip(), "```"]
    for size, ps in preps:
        lines = []
        for q in ps:
            if q.target is None:
                lines.append(f"  {q.policy}: impossible: {q.note}")
                continue
            what = (", ".join(f"{k} pad {a} before, {b} after" for k, (a, b) in q.pads.items()) if q.pads else "")
            if q.crop:
                what = ", ".join(f"{k} from {a} length {b}" for k, (a, b) in q.crop.items())
            rs = f"resize to {', '.join(f'{k}={v}' for k, v in q.resize.items())}; " if q.resize else ""
            lines.append(f"  {q.policy}: -> {', '.join(f'{k}={v}' for k, v in q.target.items())} ({rs}{what})")
            lines += ["```python", q.torch_code.rstrip(), "```", "```python", q.numpy_code.rstrip(), "```"]
        yield f"input preparation for {', '.join(f'{k}={v}' for k, v in size.items())}", lines
    if check is not None:
        ran = [c for c in check.sizes if c.outcome != "skipped"]
        agree = sum(c.agrees for c in ran)
        lines = [f"  onnxruntime: {agree}/{len(ran)} sizes agree with the report"
                 + (f" ({len(check.sizes) - len(ran)} skipped: over the memory budget)" if len(ran) < len(check.sizes)
                    else "")]
        for c in check.sizes:
            size = ", ".join(f"{k}={v}" for k, v in c.size.items())
            mark = "ok " if c.agrees else ("-- " if c.outcome == "skipped" else "BAD")
            lines.append(f"  {mark} profile {c.profile} {c.kind:<14} {size:<28} {c.outcome}"
                         + (f": {c.note}" if c.note else ""))
        lines.append(f"  {check.tensorrt}")
        yield "validation", lines


def format_text(r, check=None, preps: Sequence = (), model_path: str = "model.onnx") -> str:
    out = []
    for title, lines in _sections(r, check, preps, model_path):
        if title:
            out.append("")
            out.append(title)
        fenced = False
        for x in lines:
            if x.startswith("```"):
                fenced = not fenced
                continue
            out += [("    " + y if y else y) if fenced else y for y in x.split("\n")]
    return "\n".join(out).strip() + "\n"


def format_markdown(r, check=None, preps: Sequence = (), model_path: str = "model.onnx") -> str:
    out = []
    for title, lines in _sections(r, check, preps, model_path):
        if title:
            out += ["", f"## {title}", ""]
        else:
            out += ["# shapealg profile", ""]
        fenced = False
        for x in lines:
            if x.startswith("```"):
                fenced = not fenced
                out.append(x)
            elif fenced:
                out.append(x)
            else:
                out.append(f"- {x.strip()}" if title else f"{x}  ")
    return "\n".join(out).strip() + "\n"
