"""The structure the design promises (docs/ARCHITECTURE.md), checked: the package's import graph has no
cycles and no private name is imported from another module (an underscore name stays in the module that defines
it; a package's private module, such as rules/_util, is imported by its own package only); ``analyze`` and ``cost`` give every node the same MACs;
analyses share no state; strict mode turns an exception in a rule into a failure."""
from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Dict, List, Set, Tuple

import pytest

ROOT = Path(__file__).resolve().parent.parent
PKG = ROOT / "shapealg"


def _modules() -> Dict[str, Path]:
    mods = {}
    for p in PKG.rglob("*.py"):
        rel = p.relative_to(ROOT).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        mods[".".join(parts)] = p
    return mods


def _imports(mods: Dict[str, Path]) -> Tuple[Dict[str, Set[str]], List[str]]:
    """Every in-package import (module level or inside functions) as module -> modules; and the private names
    imported from another module (a private module: from outside its package)."""
    edges: Dict[str, Set[str]] = {m: set() for m in mods}
    private: List[str] = []
    for mod, path in mods.items():
        is_pkg = path.name == "__init__.py"
        base = mod.split(".") if is_pkg else mod.split(".")[:-1]
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                for a in node.names:
                    if a.name.startswith("shapealg"):
                        target = a.name if a.name in mods else a.name.rsplit(".", 1)[0]
                        edges[mod].add(target)
                        if any(part.startswith("_") and part != "__init__" for part in a.name.split(".")):
                            private.append(f"{mod}: import {a.name}")
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    src = ".".join(base[:len(base) - node.level + 1] + ([node.module] if node.module else []))
                else:
                    src = node.module or ""
                if not src.startswith("shapealg"):
                    continue
                home = mod if is_pkg else mod.rsplit(".", 1)[0]  # the importing module's package
                for a in node.names:
                    sub = f"{src}.{a.name}"
                    private_name = a.name.startswith("_") and not a.name.startswith("__")
                    if sub in mods:  # a submodule: a private one only from its own package
                        edges[mod].add(sub)
                        if private_name and src != home:
                            private.append(f"{mod}: from {src} import {a.name}")
                    else:  # a name: never a private one, whatever the module
                        edges[mod].add(src)
                        if private_name:
                            private.append(f"{mod}: from {src} import {a.name}")
                # a private module used from outside its package
                leaf = src.rsplit(".", 1)[-1]
                if leaf.startswith("_") and not leaf.startswith("__") and src.rsplit(".", 1)[0] != home:
                    private.append(f"{mod}: from {src} import ...")
    for m in edges:
        edges[m].discard(m)
        edges[m] &= set(mods)
    return edges, private


def _cycles(edges: Dict[str, Set[str]]) -> List[List[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: Dict[str, int] = {}
    low: Dict[str, int] = {}
    stack: List[str] = []
    on: Set[str] = set()
    out: List[List[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(edges[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def test_import_graph_has_no_cycles():
    edges, _ = _imports(_modules())
    # the root package's __init__ re-exports the public API: it imports the layers, nothing imports it back
    edges = {m: {t for t in ts if t != "shapealg"} for m, ts in edges.items()}
    assert _cycles(edges) == []


def test_no_private_name_crosses_modules():
    _, private = _imports(_modules())
    assert private == []


# ---------------------------------------------------------------- one owner for MACs

def _macs_agree(path_or_model):
    from shapealg import analyze
    from shapealg.cost import cost
    from shapealg.dims import canon

    a = analyze(path_or_model)
    c = cost(a)
    for n in a.result.nodes:
        cn = c.node(n.name)
        assert (n.macs is None) == (cn.macs is None), (n.name, n.op_type, n.macs, cn.macs)
        if n.macs is not None:
            assert canon(n.macs - cn.macs) == 0, (n.name, n.op_type, n.macs, cn.macs)
    return a, c


def test_analyze_and_cost_give_every_node_the_same_macs(tmp_path):
    import onnx
    from onnx import TensorProto, helper

    _macs_agree(str(ROOT / "examples" / "seed_model.onnx"))
    # an Einsum: analyze counted its MACs, cost used to call it "not modelled"
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8, "H", "W"])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    w = helper.make_tensor("w", TensorProto.FLOAT, [16, 8], [0.0] * 128)
    g = helper.make_graph([helper.make_node("Einsum", ["x", "w"], ["y"], name="e", equation="bchw,dc->bdhw")],
                          "g", [x], [y], [w])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    a, c = _macs_agree(m)
    assert str(a.result.node("e").macs) == "128*H*W" and c.node("e").status == "counted"


# ---------------------------------------------------------------- no state outside an analysis

def _nonzero_model(node_name: str):
    from onnx import TensorProto, helper
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, "H", "W"])
    y = helper.make_tensor_value_info("y", TensorProto.INT64, None)
    g = helper.make_graph([helper.make_node("NonZero", ["x"], ["y"], name=node_name)], "g", [x], [y])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


def test_two_analyses_in_one_process_do_not_see_each_other():
    from shapealg import analyze

    a, b = _nonzero_model("n.1"), _nonzero_model("n_1")  # both sanitize to nz_n_1

    def js(m):
        return json.dumps(analyze(m).to_json(), sort_keys=True, default=str)

    ab = (js(a), js(b))
    ba = tuple(reversed((js(b), js(a))))
    assert ab == ba
    assert "nz_n_1" in ab[1] and "nz_n_1_2" not in ab[1]


# ---------------------------------------------------------------- strict mode

def test_strict_mode_fails_when_a_rule_raises(monkeypatch):
    import sys
    from onnx import TensorProto, helper
    from shapealg.infer import infer
    from shapealg.rules.registry import OpDef

    def buggy(ctx, x):
        return x.shape[99]  # an IndexError: a bug in the rule

    walker = sys.modules["shapealg.walk"]
    real = walker.op_def
    monkeypatch.setattr(walker, "op_def", lambda d, op: OpDef("", "Buggy", [(1, 10 ** 6, buggy)]) if op == "Buggy"
                        else real(d, op))
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    m = helper.make_model(helper.make_graph([helper.make_node("Buggy", ["x"], ["y"], name="b")], "g", [x], [y]),
                          opset_imports=[helper.make_opsetid("", 17)])
    with pytest.raises(IndexError):
        infer(m, strict=True)
    r = infer(m, strict=False)  # lenient: an unknown shape and a diagnostic naming the node and the error
    assert r.values["y"].shape is None
    d = r.diagnostics[-1]
    assert (d.node, d.op, d.kind) == ("b", "Buggy", "rule-error") and "IndexError" in str(d)


# ---------------------------------------------------------------- subgraph parameters

def test_parameters_used_only_inside_a_subgraph_are_counted():
    from onnx import TensorProto, helper
    from shapealg.infer import infer

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    out = helper.make_tensor_value_info("o", TensorProto.FLOAT, None)
    w_outer = helper.make_tensor("w_outer", TensorProto.FLOAT, [4, 4], [0.0] * 16)
    w_inner = helper.make_tensor("w_inner", TensorProto.FLOAT, [4, 2], [0.0] * 8)
    then_g = helper.make_graph([helper.make_node("MatMul", ["x", "w_outer"], ["t"]),
                                helper.make_node("MatMul", ["t", "w_inner"], ["o"])], "then", [], [out], [w_inner])
    else_g = helper.make_graph([helper.make_node("MatMul", ["x", "w_outer"], ["t2"]),
                                helper.make_node("MatMul", ["t2", "w_inner"], ["o"])], "else", [], [out], [w_inner])
    cond = helper.make_tensor("c", TensorProto.BOOL, [], [True])
    g = helper.make_graph([helper.make_node("If", ["c"], ["y"], name="if", then_branch=then_g, else_branch=else_g)],
                          "g", [x], [y], [w_outer, cond])
    r = infer(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]))
    assert r.node("if").params == 16 + 8
    assert r.total_params == 16 + 8
