"""analyze_domain: constraints -> atoms -> solved sets -> Domain with valid_if, verdict and summary."""
from __future__ import annotations

from typing import Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

import numpy as np
import sympy
from sympy.printing.str import StrPrinter

from ..dims import symbol
from ..enums import Verdict
from ..records import Constraint
from .budget import budget, spent
from .budget import steps as budget_steps
from .classes import reset as prove_reset
from .result import Domain, fmt_size
from .atoms import Atom, make_atom
from .solve import Solved, solve_atoms

# ---------------------------------------------------------------- analyze_domain

class _Words(StrPrinter):
    """A condition as a person writes it: ``X % 64 == 0``, ``a == b``, ``and`` / ``or``."""

    def _print_Equality(self, e):
        return self._rel(e, "==")

    def _print_Unequality(self, e):
        return self._rel(e, "!=")

    def _rel(self, e, op):
        side = lambda x: (f"{self._print(x.args[0])} % {self._print(x.args[1])}"  # noqa: E731
                          if isinstance(x, sympy.Mod) else self._print(x))
        return f"{side(e.lhs)} {op} {side(e.rhs)}"

    def _print_And(self, e):
        return " and ".join(self._group(a) for a in e.args)

    def _print_Or(self, e):
        return " or ".join(self._group(a) for a in e.args)

    def _group(self, a):
        return f"({self._print(a)})" if isinstance(a, (sympy.And, sympy.Or)) else self._print(a)


def words(cond) -> str:
    return _Words().doprint(cond)


def _atoms_of(constraints: Sequence[Constraint]) -> Tuple[List[Constraint], List[Atom]]:
    seen = set()
    kept: List[Constraint] = []
    atoms: List[Atom] = []
    seen_atoms = set()
    for c in constraints:
        cond = c.condition
        if isinstance(cond, bool):
            cond = sympy.true if cond else sympy.false
        cond = sympy.sympify(cond)
        if cond is sympy.true or cond in seen:
            continue
        seen.add(cond)
        idx = len(kept)
        kept.append(c if cond is c.condition else Constraint(c.node, c.op_type, cond, c.reason))
        parts = cond.args if isinstance(cond, sympy.And) else (cond,)
        for p in parts:
            if p is sympy.true or p in seen_atoms:
                continue
            seen_atoms.add(p)
            atoms.append(make_atom(p, idx))
    # an Or with a disjunct that is itself required is implied by it: (X == 1 | X % 4 == 0) beside X % 4 == 0
    plain = {a.expr for a in atoms if not isinstance(a.expr, sympy.Or)}
    atoms = [a for a in atoms if not (isinstance(a.expr, sympy.Or) and any(x in plain for x in a.expr.args))]
    # a required Eq(Y, v) fixes the formula Y: another condition that Y = v makes true is implied by it
    # (Eq(Mod(Y, 64), 0) beside Eq(Y, 64))
    fixed = {a.expr.lhs: a.expr.rhs for a in atoms if isinstance(a.expr, sympy.Eq) and a.expr.rhs.is_Integer
             and not a.expr.lhs.is_Symbol}
    if fixed:
        atoms = [a for a in atoms if (isinstance(a.expr, sympy.Eq) and a.expr.lhs in fixed)
                 or a.expr.xreplace(fixed) is not sympy.true]
    return kept, atoms


def _build_valid_if(solved: Solved, atoms: List[Atom], names) -> sympy.Basic:
    if solved.verdict == Verdict.NEVER_VALID and solved.empty_atom is not None:
        return sympy.false
    in_comp = {n for c in solved.comps for n in c.names}
    parts = []
    for n in names:
        s = solved.sets.get(n)
        if s is None:
            continue
        sym_atoms = [a for a in atoms if a.syms == (n,)]
        cond = s.as_condition() if s.exact else None
        if cond is None:
            lbs = [a.lb for a in sym_atoms if a.lb is not None]
            if lbs and max(lbs) > 1:
                parts.append(symbol(n) >= max(lbs))
            parts += [a.expr for a in sym_atoms if a.lb is None]
        else:
            parts.append(cond)
    for a in atoms:
        if len(a.syms) > 1 and not any(a is b for b in solved.implied):
            parts.append(a.expr)
    _ = in_comp
    return sympy.And(*parts) if parts else sympy.true


def _summary(d_verdict: Verdict, solved: Solved, names, finite_syms, finite_count, examples,
             breaking: Optional[Constraint], reference) -> str:
    free = [n for n in solved.free]
    free_txt = f" ({', '.join(free)}: any size)" if free and len(free) < len(names) else ""
    in_comp = {n for c in solved.comps for n in c.names}
    if d_verdict == Verdict.NEVER_VALID:
        where = f" (first impossible at node {breaking.node} ({breaking.op_type}): {breaking.reason})" \
            if breaking is not None else ""
        return "never valid: no input size satisfies the constraints" + where
    if d_verdict == Verdict.SIZE_INVARIANT:
        bounds = [f"{n} >= {solved.sets[n].minimum}" for n in names if n in solved.sets]
        if not bounds:
            return "valid for every size (no constraint)"
        return "valid for " + " and ".join(bounds) + free_txt
    if d_verdict == Verdict.LOCKED:
        tup = "(" + ", ".join(finite_syms) + ")" if len(finite_syms) > 1 else finite_syms[0]
        kinds = "pairs" if len(finite_syms) == 2 else ("triples" if len(finite_syms) == 3 else "sizes")
        if not in_comp:
            desc = " and ".join(solved.sets[n].describe()[0] for n in finite_syms)
            head = f"locked: {desc}"
            if len(finite_syms) > 1:
                head += f" ({finite_count} {tup} {kinds})"
            elif finite_count and finite_count > 1:
                head += f" ({finite_count} sizes)"
        else:
            head = f"locked: exactly {finite_count} {tup} {kinds}"
            if examples:
                head += ", e.g. " + ", ".join(fmt_size(t) for t in examples)
        if reference is not None:
            head += f" (nearest to {fmt_size(reference[0])}: " + ", ".join(
                fmt_size(t) for t in reference[1]) + ")"
        return head + free_txt
    # conditional
    mods, bounds, other, notes = [], [], [], []
    for n in names:
        s = solved.sets.get(n)
        if s is None:
            continue
        for piece in s.describe():
            if piece.startswith("also ") or piece.startswith("except "):
                notes.append(piece)
            elif "%" in piece:
                mods.append(piece)
            elif ">=" in piece and piece.startswith(n):
                bounds.append(piece)
            else:
                other.append(piece)
    for c in solved.comps:
        conds = " and ".join(words(a.expr) for a in c.atoms)
        if c.finite:
            other.append(f"({', '.join(c.names)}) in {len(c.points)} combinations where {conds}")
        else:
            other.append(conds)  # a bounded search: the summary's "[not proven: ...]" says up to where
    text = "valid only when " + " and ".join(mods + other) if (mods or other) else "valid only when"
    if bounds:
        text += (", " if (mods or other) else " ") + ", ".join(bounds)
    if notes:
        text += " (" + "; ".join(notes) + ")"
    return text + free_txt


def analyze_domain(constraints: Iterable[Constraint], symbols: Iterable = (), *,
                   bound: Optional[int] = None, reference: Optional[Mapping[str, int]] = None) -> Domain:
    """The exact set of valid input sizes under ``constraints`` (in topological order).

    ``symbols``: the input symbols (names or sympy Symbols); symbols used by a constraint but not
    listed are added, symbols in no constraint are unconstrained (any size >= 1). ``bound``: the
    per-symbol bound of the exhaustive fallback (only used where the symbolic path cannot decide).
    ``reference``: a size to which the summary of a finite set lists the nearest valid sizes
    (default 224 for H and W where those are the symbols).
    """
    constraints = tuple(constraints)
    names = [s if isinstance(s, str) else s.name for s in symbols]
    kept, atoms = _atoms_of(constraints)
    extra = sorted({s for a in atoms for s in a.syms} - set(names))
    names = tuple(dict.fromkeys(list(names) + extra))
    prove_reset()
    try:
        with budget(budget_steps()):
            solved = solve_atoms(atoms, names, bound)
            breaking = _breaking(solved, atoms, kept, names, bound)
            out_of_time = spent()
    finally:
        prove_reset()
    return _finish(solved, atoms, kept, names, breaking, out_of_time, reference)


def _breaking(solved, atoms, kept, names, bound) -> Optional[Constraint]:
    """The first constraint whose prefix is no longer size-invariant (binary search over prefixes; when the
    time budget runs out, the end of the prefix known to break)."""
    breaking = None
    if solved.verdict != Verdict.SIZE_INVARIANT:
        cand = sorted({a.index for a in atoms if a.lb is None})
        lo, hi = 0, len(cand) - 1  # smallest i with prefix up to cand[i] not size-invariant
        cache: Dict[int, str] = {}

        def verdict_upto(i):
            if i not in cache:
                last = cand[i]
                cache[i] = solve_atoms([a for a in atoms if a.index <= last], names, bound).verdict
            return cache[i]
        if cand:
            if verdict_upto(0) != Verdict.SIZE_INVARIANT:  # most often the first candidate itself: one solve
                hi = 0
            else:
                lo = 1
            while lo < hi and not spent():
                mid = (lo + hi) // 2
                if verdict_upto(mid) != Verdict.SIZE_INVARIANT:
                    hi = mid
                else:
                    lo = mid + 1
            breaking = kept[cand[hi]]
    return breaking


def _finish(solved, atoms, kept, names, breaking, out_of_time: bool, reference) -> Domain:

    # finite set over the constrained symbols
    in_comp = {n for c in solved.comps for n in c.names}
    constrained = tuple(n for n in names if n in solved.sets)
    finite_set = None
    finite_count = None
    finite_syms: Tuple[str, ...] = ()
    if solved.verdict == Verdict.LOCKED:
        finite_syms = constrained
        blocks: List[Tuple[Tuple[str, ...], np.ndarray]] = []
        for n in constrained:
            if n not in in_comp:
                blocks.append(((n,), np.asarray(solved.sets[n].below, dtype=np.int64).reshape(-1, 1)))
        for c in solved.comps:
            blocks.append((c.names, c.points))
        finite_count = 1
        for _, p in blocks:
            finite_count *= len(p)
        if finite_count <= 200_000:
            rows = [()]
            order: List[str] = []
            for bn, p in blocks:
                order += list(bn)
                rows = [r + tuple(int(v) for v in row) for r in rows for row in p]
            perm = [order.index(n) for n in finite_syms]
            finite_set = tuple(sorted(tuple(r[i] for i in perm) for r in rows))
    elif solved.verdict == Verdict.NEVER_VALID:
        finite_count = 0
        finite_set = ()

    lower_bounds: Dict[str, int] = {}
    moduli: Dict[str, Tuple[int, Tuple[int, ...]]] = {}
    for n in names:
        s = solved.sets.get(n)
        if s is None:
            lower_bounds[n] = 1
            continue
        mn = s.minimum
        for c in solved.comps:
            if n in c.names and c.points is not None and len(c.points):
                mn = int(c.points[:, c.names.index(n)].min())
        lower_bounds[n] = mn if mn is not None else 1
        if s.period > 1 and not s.is_finite:
            moduli[n] = (s.period, s.residues)

    valid_if = _build_valid_if(solved, atoms, names)
    if solved.verdict == Verdict.NEVER_VALID:
        valid_if = sympy.false

    methods = [m for m in solved.methods if m]
    if not atoms:
        method = "no constraint"
    elif solved.exact:
        method = "symbolic (" + ("; ".join(methods) if methods else "lower bounds only") + ")"
    else:
        method = "; ".join(methods)
    if out_of_time:
        method += f"; the symbolic work budget ({budget_steps()} steps, SHAPEALG_VALIDITY_STEPS) ran out"

    dom = Domain(names, valid_if, solved.verdict, "", method, solved.exact, solved.bound,
                 lower_bounds, moduli, finite_set, finite_syms, finite_count, breaking, tuple(kept),
                 dict(solved.sets), tuple(atoms), tuple(solved.comps), solved.free)

    examples: List[Tuple[int, ...]] = []
    ref_part = None
    if solved.verdict == Verdict.LOCKED and finite_set:
        arr = np.asarray(finite_set, dtype=np.float64)
        if arr.shape[1] > 1:
            spread = arr.max(axis=1) / arr.min(axis=1)
            i0 = int(np.lexsort((arr.sum(axis=1), spread))[0])
            picks = [i0, int(np.argmin(arr[:, 0])), int(np.argmax(arr[:, 0]))]
        else:
            picks = [0, len(arr) - 1]
        for i in picks:
            if finite_set[i] not in examples:
                examples.append(finite_set[i])
        ref = dict(reference) if reference else {n: 224 for n in finite_syms if n in ("H", "W")}
        if ref and all(n in ref for n in finite_syms):
            near = dom.nearest_valid({**{n: 1 for n in names}, **ref}, k=3)
            ref_part = (tuple(ref[n] for n in finite_syms), [tuple(d[n] for n in finite_syms) for d in near])
    summary = _summary(solved.verdict, solved, names, finite_syms, finite_count, examples, breaking,
                       ref_part)
    if not solved.exact:
        summary += f" [not proven: {method}]"
    object.__setattr__(dom, "summary", summary)
    return dom
