"""The records validate returns: the planned sizes, one outcome per size, the report (table and JSON).

Computes nothing about the model; only what a report needs to print and serialize itself.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, Mapping, Optional, Sequence, Tuple

from ..records import Constraint

OUTCOMES = ("agree", "mismatch", "failed-as-predicted", "failed-elsewhere", "surprise-ran",
            "surprise-failed", "exporter-divergence", "skipped")
GOOD_OUTCOMES = ("agree", "failed-as-predicted", "skipped")

Env = Dict[str, int]


@dataclass(frozen=True)
class PlannedSize:
    """A size to run: the symbols' values, why it was chosen, what the analysis predicts, and its
    predicted activation memory (None when some value's shape is unknown at this size)."""
    size: Env
    why: str
    predicted_valid: bool
    memory_bytes: Optional[int]
    over_budget: bool = False

    def label(self, spatial: Sequence[str] = ()) -> str:
        return label_of(self.size, spatial)


@dataclass(frozen=True)
class Mismatch:
    value: str
    node: Optional[str]        # producer (None for a graph input; "torch module" for torch outputs)
    op_type: Optional[str]
    expected: Tuple[Any, ...]  # the formula evaluated at the size
    got: Tuple[int, ...]

    def __str__(self) -> str:
        where = f"{self.node} ({self.op_type})" if self.node else "graph input"
        return f"{self.value} at {where}: expected {list(self.expected)}, got {list(self.got)}"

    def to_json(self) -> dict:
        return {"value": self.value, "node": self.node, "op_type": self.op_type,
                "expected": [_jsonable(d) for d in self.expected], "got": list(self.got)}


@dataclass(frozen=True)
class TorchRun:
    """The torch module at one size: whether it ran, its output shapes, the error's first line, and the
    forward hooks' verdict: how many submodules were compared with their module-level formula, and the
    ones whose output shape differs."""
    ok: bool
    output_shapes: Tuple[Tuple[int, ...], ...] = ()
    error: Optional[str] = None
    modules_checked: int = 0
    module_mismatches: Tuple["Mismatch", ...] = ()


@dataclass(frozen=True)
class SizeOutcome:
    size: Env
    why: str
    outcome: str
    predicted_valid: bool
    blamed: Optional[Constraint] = None      # the domain's first violated constraint
    failing_node: Optional[str] = None       # the runtime's failing node, when it says
    error: Optional[str] = None
    mismatches: Tuple[Mismatch, ...] = ()
    checked: int = 0                         # values compared with their formula
    unknown: int = 0                         # values the runtime produced whose formula is unknown
    memory_bytes: Optional[int] = None
    ort_outcome: Optional[str] = None        # the onnxruntime-only verdict (runtime="both")
    torch: Optional[TorchRun] = None
    note: str = ""
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.outcome in GOOD_OUTCOMES

    def label(self, spatial: Sequence[str] = ()) -> str:
        return label_of(self.size, spatial)

    def describe(self) -> str:
        """The outcome in words, on one line."""
        o = self.outcome
        if o == "agree":
            s = f"all {self.checked} formulas hold" + (f" ({self.unknown} values unknown)" if self.unknown else "")
            if self.torch is not None and self.torch.modules_checked:
                s += f"; torch: {self.torch.modules_checked} submodules' outputs checked"
            return s + (f" ({self.note})" if self.note else "")
        if o == "mismatch":
            m = self.mismatches[0]
            more = f" (+{len(self.mismatches) - 1} more)" if len(self.mismatches) > 1 else ""
            return f"mismatch: {m}{more}"
        if o in ("failed-as-predicted", "failed-elsewhere"):
            b = self.blamed
            blamed = f"{b.node} ({b.op_type})" if b else "no single constraint"
            rt = self.failing_node or "?"
            txt = "failed as predicted" if o == "failed-as-predicted" else "failed, but elsewhere"
            s = f"{txt}: blamed {blamed}; runtime failed at {rt}"
            return s + (f" ({self.note})" if self.note else "")
        if o == "surprise-ran":
            b = self.blamed
            return ("predicted invalid" + (f" at {b.node} ({b.op_type}): {b.reason}" if b else "")
                    + "; but it ran" + (f" ({self.note})" if self.note else ""))
        if o == "surprise-failed":
            return f"predicted valid, but failed at {self.failing_node or '?'}: {short(self.error)}"
        if o == "exporter-divergence":
            return f"exporter divergence: {self.note}"
        if o == "skipped":
            return f"skipped: {self.note}"
        return o

    def to_json(self) -> dict:
        b = self.blamed
        return {
            "size": dict(self.size), "why": self.why, "outcome": self.outcome, "ok": self.ok,
            "predicted_valid": self.predicted_valid,
            "blamed": None if b is None else {"node": b.node, "op_type": b.op_type,
                                              "condition": str(b.condition), "reason": b.reason},
            "failing_node": self.failing_node, "error": self.error,
            "mismatches": [m.to_json() for m in self.mismatches],
            "checked": self.checked, "unknown": self.unknown, "memory_bytes": self.memory_bytes,
            "onnxruntime_outcome": self.ort_outcome,
            "torch": None if self.torch is None else {
                "ok": self.torch.ok, "output_shapes": [list(s) for s in self.torch.output_shapes],
                "error": self.torch.error, "modules_checked": self.torch.modules_checked,
                "module_mismatches": [m.to_json() for m in self.torch.module_mismatches]},
            "note": self.note, "seconds": round(self.seconds, 4),
        }


@dataclass(frozen=True)
class ValidationReport:
    model: str
    runtime: str
    device: str
    symbols: Tuple[str, ...]
    spatial: Tuple[str, ...]
    verdict: str
    valid_if: str
    outcomes: Tuple[SizeOutcome, ...]
    seconds: float = 0.0
    warnings: Tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """True when every size agrees (skipped sizes and failures as predicted included)."""
        return all(o.ok for o in self.outcomes)

    @property
    def counts(self) -> Dict[str, int]:
        out: Dict[str, int] = {}
        for o in self.outcomes:
            out[o.outcome] = out.get(o.outcome, 0) + 1
        return out

    @property
    def problems(self) -> Tuple[SizeOutcome, ...]:
        return tuple(o for o in self.outcomes if not o.ok)

    def to_json(self) -> dict:
        return {
            "model": self.model, "runtime": self.runtime, "device": self.device, "ok": self.ok,
            "symbols": list(self.symbols), "verdict": self.verdict, "valid_if": self.valid_if,
            "counts": self.counts, "seconds": round(self.seconds, 3), "warnings": list(self.warnings),
            "sizes": [o.to_json() for o in self.outcomes],
        }

    def summary(self) -> str:
        counts = ", ".join(f"{n} {k}" for k, n in self.counts.items())
        return (f"{'OK' if self.ok else 'DISAGREES'}: {len(self.outcomes)} sizes ({counts}); "
                f"{self.runtime} on {self.device}; verdict {self.verdict}")

    def blocks(self) -> list:
        """The per-size table and the summary as report blocks (plain, Markdown, terminal, HTML)."""
        from ..report import Line, Table
        rows = tuple((o.label(self.spatial), o.outcome, o.describe()) for o in self.outcomes)
        style = "verdict:size-invariant" if self.ok else "verdict:locked"
        return [Table(("size", "outcome", "detail"), rows), Line(self.summary(), style)]

    def __repr__(self) -> str:
        return f"<ValidationReport {self.model[:120]}: {self.summary()[:400]}>"

    def _repr_html_(self) -> str:
        import html
        from ..report import blocks_html
        col = "#1a7f37" if self.ok else "#cf222e"
        body = blocks_html(self.blocks()[:1])
        return (body + f"<p class='shapealg-verdict'><b style='color:{col}'>{'OK' if self.ok else 'DISAGREES'}</b>"
                f" &mdash; {html.escape(self.summary().split(': ', 1)[1])}</p>")

    def table(self) -> str:
        """Sizes x outcome, one line per size, and a summary line."""
        rows = [(o.label(self.spatial), o.outcome, o.describe()) for o in self.outcomes]
        w0 = max([4] + [len(r[0]) for r in rows])
        w1 = max([7] + [len(r[1]) for r in rows])
        lines = [f"{'size':<{w0}}  {'outcome':<{w1}}  detail"]
        lines += [f"{a:<{w0}}  {b:<{w1}}  {c}" for a, b, c in rows]
        counts = ", ".join(f"{n} {k}" for k, n in self.counts.items())
        lines.append(f"{'OK' if self.ok else 'DISAGREES'}: {len(self.outcomes)} sizes ({counts}); "
                     f"{self.runtime} on {self.device}; verdict {self.verdict}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table()


def label_of(size: Mapping[str, int], spatial: Sequence[str] = ()) -> str:
    """'224x224 N=1': the spatial sizes unnamed, the others named; a size with a 0 names every symbol."""
    sp = [s for s in spatial if s in size] if 0 not in size.values() else []
    if sp and len(sp) == len(size):
        return "x".join(str(size[s]) for s in sp)
    head = "x".join(str(size[s]) for s in sp)
    rest = ",".join(f"{k}={v}" for k, v in size.items() if k not in sp)
    return f"{head} {rest}".strip() if head else rest


def short(msg: Optional[str], limit: int = 160) -> str:
    if not msg:
        return ""
    return msg if len(msg) <= limit else msg[:limit - 3] + "..."


def _jsonable(d):
    """A dim for JSON: int, None, or its text (a Fraction where a formula is not an integer)."""
    return d if d is None or isinstance(d, int) else str(d)
