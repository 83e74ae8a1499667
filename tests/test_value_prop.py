"""Contents of small int tensors carried through multi-dim ops (the chains real exporters write for pads,
window sizes, position grids), and Reshape's computed dims, checked against onnxruntime like test_ops.py:
every formula is evaluated at many sizes and compared with the shapes onnxruntime produces, and the
constraints must hold exactly where it runs. Each case is a regression test for a corpus failure
(bench/score.py) and says which model showed it."""
from __future__ import annotations

import numpy as np
import pytest
import sympy

from test_ops import HW, X2, Case, check_case, grid, ints, model, node, w
from shapealg import infer

INT64_MAX = 2 ** 63 - 1


def _no_unknown_dims(r):
    for name, v in r.values.items():
        assert v.shape is not None and all(d is not None for d in v.shape), (name, v.shape)


def _no_piecewise(r):
    for name, v in r.values.items():
        assert not any(isinstance(d, sympy.Basic) and d.has(sympy.Piecewise) for d in v.shape), (name, v.shape)


def torch_pad_to_window(opset=17, window=4):
    """Swin (TorchScript): pad H, W up to a multiple of the window with F.pad, whose pads the exporter
    writes as a torch-ordered vector reshaped to (k, 2), reversed by Slice(step -1), Transpose'd and
    flattened again. Needs Slice / Transpose / Reshape to keep the contents of a rank-2 int tensor."""
    nodes = [
        node("Shape", ["x"], ["s"]),
        node("Gather", ["s", "i2"], ["h"], axis=0),
        node("Gather", ["s", "i3"], ["w"], axis=0),
        node("Mod", ["h", "win"], ["hm"]),
        node("Sub", ["win", "hm"], ["hs"]),
        node("Mod", ["hs", "win"], ["ph"]),
        node("Mod", ["w", "win"], ["wm"]),
        node("Sub", ["win", "wm"], ["ws"]),
        node("Mod", ["ws", "win"], ["pw"]),
        # torch order: (W left, W right, H top, H bottom, C.., N..)
        node("Concat", ["z", "pw", "z", "ph", "z", "z", "z", "z"], ["p8"], axis=0),
        node("Reshape", ["p8", "s42"], ["p42"]),
        node("Slice", ["p42", "m1", "mbig", "z", "m1"], ["rev"]),
        node("Transpose", ["rev"], ["tr"], perm=[1, 0]),
        node("Reshape", ["tr", "m1"], ["flat"]),
        node("Cast", ["flat"], ["pads"], to=7),
        node("Pad", ["x", "pads"], ["y"], mode="constant"),
    ]
    return model(nodes, {"x": X2}, {"i2": ints(2), "i3": ints(3), "win": ints(window), "z": ints(0),
                                    "s42": ints(4, 2), "m1": ints(-1), "mbig": ints(-INT64_MAX)}, opset)


def reshape_back_to_grid(opset=17):
    """Swin / SegFormer: Conv patch embed -> (B, C, h, w) -> tokens (B, h*w, C) -> Reshape back to
    (B, h, w, C) with h, w read from the Shape of the conv output. The target dims are 0 only below sizes
    the patch Conv (H, W >= 4) or the window Reshape's own element count (W >= 8) already refuses: with those
    lower bounds proved on the way the formula is the plain floor(H/4) (no 0-means-copy Piecewise, which used
    to nest through every later window Reshape)."""
    nodes = [
        node("Conv", ["x", "wc"], ["c"], strides=[4, 4], kernel_shape=[4, 4]),
        node("Shape", ["c"], ["s"]),
        node("Gather", ["s", "i2"], ["h"], axis=0),
        node("Gather", ["s", "i3"], ["wd"], axis=0),
        node("Reshape", ["c", "t00m1"], ["f"]),
        node("Transpose", ["f"], ["t"], perm=[0, 2, 1]),
        node("Concat", ["one", "h", "wd", "ch"], ["tgt"], axis=0),
        node("Reshape", ["t", "tgt"], ["g"]),
        # window-padded grid, then its windows: Reshape to (1, hp/2, 2, wp/2, 2, C)
        node("Mod", ["h", "two"], ["hm"]),
        node("Mod", ["wd", "two"], ["wm"]),
        node("Concat", ["z", "z", "z", "wm", "z", "hm", "z", "z"], ["pads"], axis=0),
        node("Pad", ["g", "pads"], ["gp"]),
        node("Shape", ["gp"], ["sp"]),
        node("Gather", ["sp", "i1"], ["hp"], axis=0),
        node("Gather", ["sp", "i2"], ["wp"], axis=0),
        node("Div", ["hp", "two"], ["hq"]),
        node("Div", ["wp", "two"], ["wq"]),
        node("Concat", ["one", "hq", "two", "wq", "two", "ch"], ["tw"], axis=0),
        node("Reshape", ["gp", "tw"], ["y"]),
    ]
    return model(nodes, {"x": X2}, {"wc": w(5, 3, 4, 4), "i1": ints(1), "i2": ints(2), "i3": ints(3),
                                    "one": ints(1), "ch": ints(5), "two": ints(2), "z": ints(0),
                                    "t00m1": ints(0, 0, -1)}, opset)


def grid_ops_on_values(opset=17):
    """Position-grid style arithmetic on a rank-2 int tensor: Unsqueeze the (h, w) pair, Tile, Gather along
    axis 1, Split along axis 1, Expand and Concat on axis 1, then use the result as a Reshape target."""
    nodes = [
        node("Shape", ["x"], ["s"]),
        node("Slice", ["s", "i2", "i4"], ["hw"]),                 # [H, W]
        node("Unsqueeze", ["hw", "z"], ["hw2"]),                  # [[H, W]]        (1, 2)
        node("Tile", ["hw2", "rep"], ["tl"]),                     # [[H, W], [H, W]] (2, 2)
        node("Gather", ["tl", "g10"], ["sw"], axis=1),            # [[W, H], [W, H]]
        node("Split", ["sw", "sp11"], ["a", "b"], axis=1),        # [[W], [W]], [[H], [H]]
        node("Concat", ["b", "a"], ["ba"], axis=1),               # [[H, W], [H, W]]
        node("Expand", ["ba", "e22"], ["ex"]),                    # (2, 2)
        node("Gather", ["ex", "z"], ["row"], axis=0),             # [[H, W]]        (1, 2)
        node("Reshape", ["row", "m1"], ["hw_again"]),             # [H, W]
        node("Concat", ["nc", "hw_again"], ["tgt"], axis=0),      # [1, 3, H, W]
        node("Reshape", ["x", "tgt"], ["y"]),
    ]
    return model(nodes, {"x": X2}, {"i2": ints(2), "i4": ints(4), "z": ints(0), "rep": ints(2, 1),
                                    "g10": ints(1, 0), "sp11": ints(1, 1), "e22": ints(2, 2), "m1": ints(-1),
                                    "nc": ints(1, 3)}, opset)


def cls_token_slice(opset=17):
    """CvT stage 3 (TorchScript): tokens = cat(cls, conv tokens) of length 1 + h*w; x[:, 1:h*w + 1] with the
    end computed from Shape. The axis is not empty, so the length is h*w exactly (no Max(0, ...) / Min
    nesting that grew through every block and made inference take minutes)."""
    nodes = [
        node("Conv", ["x", "wc"], ["c"], strides=[2, 2], kernel_shape=[3, 3]),
        node("Reshape", ["c", "t00m1"], ["f"]),
        node("Transpose", ["f"], ["tok"], perm=[0, 2, 1]),
        node("Concat", ["cls", "tok"], ["t"], axis=1),
        node("Shape", ["c"], ["s"]),
        node("Gather", ["s", "i2"], ["h"], axis=0),
        node("Gather", ["s", "i3"], ["wd"], axis=0),
        node("Mul", ["h", "wd"], ["hw"]),
        node("Add", ["hw", "one"], ["end"]),
        node("Slice", ["t", "one", "end", "one"], ["body"]),
        node("Add", ["body", "tok"], ["b2"]),
        node("Concat", ["cls", "b2"], ["t2"], axis=1),
        node("Slice", ["t2", "one", "big", "one"], ["y"]),
    ]
    return model(nodes, {"x": X2}, {"wc": w(4, 3, 3, 3), "t00m1": ints(0, 0, -1), "cls": w(1, 1, 4),
                                    "i2": ints(2), "i3": ints(3), "one": ints(1), "big": ints(INT64_MAX)}, opset)


def _same_pad(inp: str, k: int, tag: str):
    """TF 'SAME' padding computed at run time, as the dynamo exporter writes BiT's DynamicPad2d:
    pad = max((ceil(size / s) - 1) * s + k - size, 0) with the ceil done in float (Cast, Div 2.0, Ceil)."""
    nodes = [node("Shape", [inp], [f"{tag}s"])]
    pads = {}
    for ax, name in ((2, "h"), (3, "w")):
        p = f"{tag}{name}"
        nodes += [
            node("Gather", [f"{tag}s", f"i{ax}"], [p], axis=0),
            node("Cast", [p], [p + "f"], to=1),
            node("Div", [p + "f", "twof"], [p + "q"]),
            node("Ceil", [p + "q"], [p + "c"]),
            node("Cast", [p + "c"], [p + "ci"], to=7),
            node("Sub", [p + "ci", "one"], [p + "c1"]),
            node("Mul", [p + "c1", "two"], [p + "c2"]),
            node("Add", [p + "c2", f"k{k}"], [p + "c3"]),
            node("Sub", [p + "c3", p], [p + "tot"]),
            node("Max", [p + "tot", "z"], [p + "pad"]),
            node("Div", [p + "pad", "two"], [p + "lo"]),
            node("Sub", [p + "pad", p + "lo"], [p + "hi"]),
        ]
        pads[name] = (p + "lo", p + "hi")
    nodes += [
        node("Concat", ["z", "z", pads["h"][0], pads["w"][0], "z", "z", pads["h"][1], pads["w"][1]],
             [f"{tag}pads"], axis=0),
        node("Pad", [inp, f"{tag}pads"], [f"{tag}out"]),
    ]
    return nodes


def dynamic_same_pad(opset=17):
    """BiT (dynamo): two stride-2 convs, each behind a 'SAME' pad computed from the input's Shape in float.
    Needs floats met with sizes kept exact (0.5*H -> H/2), Ceil in the canonical floor form, Max(0, pad)
    decided by bounding ceilings (also nested: ceil(ceil(H/2)/2)) and floor(e - 1/8) + 1 == floor(e + 7/8).
    The outputs are ceil(H/2), ceil(H/4) with no Max left (a Max of two spellings of one dim used to nest
    until inference took minutes)."""
    nodes = _same_pad("x", 7, "a") + [node("Conv", ["aout", "w1"], ["c1"], strides=[2, 2], kernel_shape=[7, 7])]
    nodes += _same_pad("c1", 3, "b") + [node("Conv", ["bout", "w2"], ["c2"], strides=[2, 2], kernel_shape=[3, 3])]
    nodes += [node("Add", ["c2", "c2"], ["y"])]
    return model(nodes, {"x": X2}, {"i2": ints(2), "i3": ints(3), "twof": np.array(2.0, np.float32),
                                    "one": ints(1), "two": ints(2), "z": ints(0), "k7": ints(7), "k3": ints(3),
                                    "w1": w(4, 3, 7, 7), "w2": w(4, 4, 3, 3)}, opset)


def _ceil_outputs(r):
    H = sympy.Symbol("H", integer=True, positive=True)
    y = r.values["y"].shape
    for h in (1, 2, 3, 4, 5, 8, 9, 31):
        assert int(y[2].subs(H, h)) == -(-h // 4)


def size_condition_where(opset=17):
    """A size condition kept as a formula: Where(Equal(H, 8), 3, H) feeds an Expand, so the output dim is
    Piecewise((3, Eq(H, 8)), (H, True)); the same comparison drives VitDet's rel-pos resize If."""
    nodes = [
        node("Shape", ["x"], ["s"]),
        node("Gather", ["s", "i2"], ["h"], axis=0),
        node("Equal", ["h", "eight"], ["eq"]),
        node("Not", ["eq"], ["ne"]),
        node("Where", ["ne", "h", "three"], ["n"]),
        node("Expand", ["c1", "n"], ["y"]),
    ]
    return model(nodes, {"x": X2}, {"i2": ints(2), "eight": ints(8), "three": ints(3),
                                    "c1": np.ones(1, np.float32)}, opset)


def _no_max_min(r):
    for name, v in r.values.items():
        assert not any(isinstance(d, sympy.Basic) and d.has(sympy.Max, sympy.Min) for d in v.shape), (name, v.shape)


CASES = [
    Case("torch_pad_to_window", torch_pad_to_window, HW, checks=[_no_unknown_dims]),
    Case("torch_pad_to_window_7", lambda: torch_pad_to_window(window=7), grid(["H", "W"], [1, 2, 6, 7, 8, 13, 15]),
         checks=[_no_unknown_dims]),
    Case("reshape_back_to_grid", reshape_back_to_grid, grid(["H", "W"], [1, 3, 4, 5, 7, 8, 9, 12, 16, 17, 31, 64]),
         checks=[_no_unknown_dims, _no_piecewise]),
    Case("grid_ops_on_values", grid_ops_on_values, HW, checks=[_no_unknown_dims]),
    Case("dynamic_same_pad", dynamic_same_pad, HW, checks=[_no_unknown_dims, _ceil_outputs]),
    Case("size_condition_where", size_condition_where, grid(["H", "W"], [1, 2, 7, 8, 9, 16]),
         checks=[_no_unknown_dims]),
    Case("cls_token_slice", cls_token_slice, grid(["H", "W"], [3, 4, 5, 8, 9, 17, 31, 64]),
         checks=[_no_unknown_dims, _no_max_min]),
]


@pytest.mark.parametrize("c", [pytest.param(c, id=c.id) for c in CASES])
def test_value_prop_against_onnxruntime(c: Case):
    check_case(c)


def test_reshape_zero_copy_kept_where_it_matters():
    """2*floor(H/2) is 0 at H == 1 while the input is not empty: ONNX copies the input's dim there, so
    the Piecewise stays (test_ops' chain_half_double runs H == 1 in onnxruntime)."""
    from test_ops import chain_half_double

    r = infer(chain_half_double(), symbolize_spatial=False)
    assert any(isinstance(d, sympy.Basic) and d.has(sympy.Piecewise) for d in r.values["y"].shape)
