"""Cost as formulas: MACs, FLOPs and activation memory of every node and module as functions of the input
size, under a selectable counting convention (docs/COSTS.md), with totals, growth orders and dominant nodes.

    from shapealg.cost import cost
    c = cost("model.onnx")                       # convention "shapealg"; or "full", "fvcore", "torchinfo", "onnx-tool"
    c.total_macs                                 # a formula in H, W
    c.growth["macs"].order                       # 'H*W', '(H*W)^2' ...
    c.evaluate(H=224, W=224)                     # exact numbers at one size, and whether the model runs there
    c.modules(depth=1)                           # per torch module
    kv_cache(analysis).bytes                     # a decoder's KV cache after one step (its present* outputs)
"""
from ..costmodel import CONVENTIONS, Convention, get_convention
from .growth import Growth, growth
from .kv_cache import KVCache, kv_cache
from .report import TOTALS, CostReport, Dominant, ModuleCost, NodeCost, cost, module_path

__all__ = ["cost", "CostReport", "NodeCost", "ModuleCost", "Dominant", "Convention", "CONVENTIONS",
           "get_convention", "Growth", "growth", "module_path", "TOTALS", "plot_cost", "parse_range", "KVCache",
           "kv_cache"]


def plot_cost(report, path, sizes, **kw):
    """Total MACs and activation memory against resolution, invalid sizes marked (needs matplotlib)."""
    from .plot import plot_cost as _plot
    return _plot(report, path, sizes, **kw)


def parse_range(text: str):
    from .plot import parse_range as _pr
    return _pr(text)
