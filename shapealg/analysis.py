"""The whole analysis of one model: shapes and params (infer), the valid sizes and verdict (domain)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import List, Mapping, Optional, Sequence, Tuple

from .dims import symbol
from .domain import Domain, analyze_domain
from .explain import ChainStep, Fix, fake_dynamic_dims, formula_chain, suggest_fixes
from .infer import InferResult, infer


@dataclass(frozen=True)
class Analysis:
    result: InferResult
    domain: Domain
    chain: Tuple[ChainStep, ...] = ()       # input -> ... -> the node where invariance breaks
    fixes: Tuple[Fix, ...] = ()
    fake_dynamic: Tuple[str, ...] = ()      # dims declared dynamic whose valid set is finite or sparse

    # -- convenient views ------------------------------------------------------------------------
    @property
    def symbols(self) -> List[str]:
        return self.result.symbols

    @property
    def values(self):
        return self.result.values

    @property
    def nodes(self):
        return self.result.nodes

    @property
    def constraints(self):
        return self.result.constraints

    @property
    def verdict(self) -> str:
        return self.domain.verdict

    @property
    def valid_if(self):
        return self.domain.valid_if

    def shape(self, value_name: str):
        return self.result.values[value_name].shape

    def is_valid(self, **sizes: int) -> bool:
        return self.domain.contains(sizes)

    def to_json(self) -> dict:
        from .report import to_json
        return to_json(self)

    def __str__(self) -> str:
        from .report import format_table
        return format_table(self)

    def _repr_markdown_(self) -> str:
        from .report import to_markdown
        return to_markdown(self)


def analyze(model, *, shapes: Optional[Mapping[str, Sequence]] = None, symbolize_spatial: bool = True,
            bound: Optional[int] = None) -> Analysis:
    """Analyse ``model`` (an ONNX path, ModelProto or an InferResult)."""
    res = model if isinstance(model, InferResult) else infer(model, shapes=shapes, symbolize_spatial=symbolize_spatial)
    syms = [symbol(s) for s in res.symbols]
    dom = analyze_domain(list(res.constraints), syms, bound=bound)
    partial = Analysis(res, dom)
    brk = dom.breaking_constraint
    chain = tuple(formula_chain(res, brk)) if brk is not None else ()
    return Analysis(res, dom, chain, tuple(suggest_fixes(partial)), tuple(fake_dynamic_dims(partial)))
