"""Total MACs and activation memory against the input resolution (H = W = s), invalid sizes marked.

matplotlib is an optional extra (``pip install shapealg[plot]``); it is imported here only. No global pyplot
state is touched: the figure is drawn on an Agg canvas and written to the one path the caller names, whole or
not at all (``safe_write``).
"""
from __future__ import annotations

import math
import os
from typing import List, Optional, Sequence

from ..records import ShapealgError

__all__ = ["parse_range", "plot_cost", "MAX_POINTS"]

MAX_POINTS = 2048


def parse_range(text: str) -> List[int]:
    """``64:1024`` (every size), ``64:1024:16`` (a step), or ``64,128,224``; at most MAX_POINTS sizes (a larger
    range without a step is thinned evenly)."""
    t = str(text).strip()
    try:
        if ":" in t:
            parts = [int(p) for p in t.split(":")]
            if len(parts) not in (2, 3):
                raise ValueError
            lo, hi = parts[0], parts[1]
            step = parts[2] if len(parts) == 3 else 0
            if lo < 1 or hi < lo or step < 0:
                raise ShapealgError(f"--range {text!r}: expected LO:HI[:STEP] with 1 <= LO <= HI and STEP >= 1")
            if not step:
                step = max(1, math.ceil((hi - lo + 1) / MAX_POINTS))
            sizes = list(range(lo, hi + 1, step))
            if sizes[-1] != hi:
                sizes.append(hi)
        else:
            sizes = sorted({int(p) for p in t.split(",") if p.strip()})
            if not sizes or sizes[0] < 1:
                raise ValueError
    except ValueError:
        raise ShapealgError(f"--range {text!r}: expected LO:HI, LO:HI:STEP or a list such as 64,128,224") from None
    if len(sizes) > MAX_POINTS:
        raise ShapealgError(f"--range {text!r}: {len(sizes)} sizes; at most {MAX_POINTS} (give a larger STEP)")
    return sizes


def square_envs(report, sides: Sequence[int]) -> List[dict]:
    """One environment per side: every spatial symbol = side, the other symbols (batch...) = 1."""
    return [report.env({s: side for s in report.spatial}) for side in sides]


def _fmt(n: float, unit: str) -> str:
    for k, p in (("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= p:
            return f"{n / p:.3g} {k}{unit}"
    return f"{n:.3g} {unit}"


def plot_cost(report, path, sides: Sequence[int], *, title: Optional[str] = None,
              series: Optional[List[dict]] = None) -> List[dict]:
    """Draw the PNG at ``path``; returns the evaluated series (one dict per side, as ``CostReport.series``;
    ``series``: already evaluated at ``sides``)."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
        from matplotlib.ticker import FuncFormatter
    except ImportError:
        raise ShapealgError("--plot needs matplotlib: pip install 'shapealg[plot]'") from None
    sides = list(sides)
    if series is None:
        series = report.series(square_envs(report, sides))
    valid = [r["valid"] for r in series]
    n_valid = sum(valid)
    sp = "x".join(report.spatial) or "size"
    fig = Figure(figsize=(10, 7.5), dpi=110, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(2, 1, sharex=True)
    panels = [
        (axes[0], [("macs", "total MACs", "#1f6fb4")], "MAC"),
        (axes[1], [("activation_bytes", "activations written (sum of all outputs)", "#2a9d5c"),
                   ("peak_bytes", "peak live activations", "#c06c00")], "B"),
    ]
    for ax, lines, unit in panels:
        ymin = math.inf
        for li, (key, label, color) in enumerate(lines):
            ys = [r[key] for r in series]
            xs_all = [x for x, y in zip(sides, ys) if y is not None and y > 0]
            ys_all = [y for y in ys if y is not None and y > 0]
            if ys_all:
                ymin = min(ymin, min(ys_all))
            ax.plot(xs_all, ys_all, ls="--", lw=1, color=color, alpha=0.35)
            xv = [x for x, y, ok in zip(sides, ys, valid) if ok and y is not None and y > 0]
            yv = [y for x, y, ok in zip(sides, ys, valid) if ok and y is not None and y > 0]
            g = report.growth.get(key)
            lab = f"{label}  (grows as {g.order})" if g is not None and g.order not in ("?", "0") else label
            ax.plot(xv, yv, color=color, lw=2, marker="o" if len(xv) <= 60 else None, ms=3, label=lab)
            if xv:  # the value at the largest valid size, at the end of its line
                ax.annotate(_fmt(yv[-1], unit), (xv[-1], yv[-1]), xytext=(5, 0),
                            textcoords="offset points", ha="left", va="center", fontsize=8.5, color=color, fontweight="bold")
        bad = [x for x, ok in zip(sides, valid) if not ok]
        if bad:
            ax.plot([], [], ls="--", lw=1, color="0.5", alpha=0.6, label="the formula where the model cannot run")
        if bad and math.isfinite(ymin):
            ax.plot(bad, [ymin * 0.8] * len(bad), ls="none", marker="|", ms=9, color="#d62728", alpha=0.8,
                    label=f"invalid size ({len(bad)} of {len(sides)}): the model cannot run")
        if math.isfinite(ymin):
            ax.set_yscale("log")
        else:  # nothing above 0 to draw (every value 0 or unknown, e.g. an input with a dim 0): a log axis has no range
            ax.text(0.5, 0.5, "no value above 0 at these sizes (all 0 or unknown)", transform=ax.transAxes,
                    ha="center", va="center", fontsize=9, color="0.4")
        ax.margins(x=0.1, y=0.12)
        if sides[0] > 0 and sides[-1] / sides[0] >= 4:
            ax.set_xscale("log", base=2)
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _p, u=unit: _fmt(v, u)))
        ax.grid(True, which="major", alpha=0.3)
        ax.grid(True, which="minor", alpha=0.1)
        ax.legend(loc="upper left", fontsize=8.5, framealpha=0.9)
    dom = report.dominant.get("macs") or ()
    if dom:
        text = "dominant at large sizes:\n" + "\n".join(f"{100 * d.share:.0f}%  {d.node} ({d.op_type})"
                                                        for d in dom[:4])
        axes[0].text(0.99, 0.16, text, transform=axes[0].transAxes, ha="right", va="bottom", fontsize=8,
                     family="monospace", bbox=dict(boxstyle="round", fc="white", ec="0.8", alpha=0.9))
    axes[0].set_ylabel(f"MACs ({report.convention.name} convention)")
    axes[1].set_ylabel("activation memory")
    axes[1].set_xlabel(f"input resolution s  ({' = '.join(report.spatial) or 'size'} = s)")
    axes[1].xaxis.set_major_formatter(FuncFormatter(lambda v, _p: f"{v:g}"))
    model = os.path.basename(str(report.analysis.result.graph.path)) or "model"
    head = title or f"{model}: cost against resolution ({sp} = s, {sides[0]}..{sides[-1]})"
    verdict = report.analysis.domain.verdict
    sub = f"valid at {n_valid} of {len(sides)} sizes shown  |  verdict: {verdict}"
    if not report.complete:
        sub += f"  |  {len(report.not_modelled)} node(s) not modelled: totals are lower bounds"
    fig.suptitle(f"{head}\n{sub}", fontsize=10.5)
    from ..safe_write import atomic_write
    atomic_write(os.fspath(path), lambda f: fig.savefig(f, format="png"))  # whole or not at all
    return series
