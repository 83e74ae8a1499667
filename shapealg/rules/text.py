"""Strings and text features: StringNormalizer, StringConcat, StringSplit, RegexFullMatch, TfIdfVectorizer,
ImageDecoder; the ai.onnx.ml ops whose shapes follow from their inputs and attributes; the training ops of
ai.onnx.preview.training (Adagrad, Momentum, Adam, Gradient)."""
from __future__ import annotations

from typing import Optional

from ..costmodel import free_cost
from ..dims import as_dim
from ..enums import DType
from ..records import Value
from ._util import broadcast_shapes
from .data_dependent import data_dependent_symbol
from .elementwise import elementwise_cost
from .registry import NodeContext, RuleError, register

ML = "ai.onnx.ml"
TRAINING = "ai.onnx.preview.training"
STRING, INT64, BOOL, UINT8 = DType.STRING, DType.INT64, DType.BOOL, DType.UINT8


@register("StringNormalizer", since=10, cost=free_cost)
def string_normalizer(ctx: NodeContext, x: Value, *, stopwords=None, **_):
    """[C] or [1, C]; stop words removed: their number is the data's (at least 1: an all-stop-word input
    gives one empty string)."""
    if len(x.shape) not in (1, 2):
        raise RuleError(f"input must be [C] or [1, C], got rank {len(x.shape)}")
    if len(x.shape) == 2:
        ctx.require_equal(x.shape[0], 1, f"the first dim {x.shape[0]} must be 1")
    if not stopwords:
        return Value(x.shape, STRING)
    n = data_dependent_symbol(ctx, "words", "the number of words left after removing stop words")
    return Value(x.shape[:-1] + (n,), STRING)


@register("StringConcat", since=20, cost=free_cost)
def string_concat(ctx: NodeContext, x: Value, y: Value):
    return Value(broadcast_shapes(ctx, [x.shape, y.shape]), STRING)


@register("RegexFullMatch", since=20, cost=free_cost)
def regex_full_match(ctx: NodeContext, x: Value, *, pattern=None):
    return Value(x.shape, BOOL)


@register("StringSplit", since=20, cost=free_cost)
def string_split(ctx: NodeContext, x: Value, *, delimiter=None, maxsplit=None):
    """Y: the input's shape plus the largest number of substrings (the data's); Z: the counts."""
    n = data_dependent_symbol(ctx, "splits", "the largest number of substrings of one element")
    return [Value(x.shape + (n,), STRING), Value(x.shape, INT64)]


@register("TfIdfVectorizer", since=9, cost=free_cost)
def tfidf(ctx: NodeContext, x: Value, *, ngram_indexes=None, **_):
    """[C] -> [max(ngram_indexes) + 1]; [N, C] -> [N, max(ngram_indexes) + 1]."""
    if not ngram_indexes:
        raise RuleError("ngram_indexes attribute missing")
    width = max(ngram_indexes) + 1
    if len(x.shape) == 1:
        return Value((width,), DType.FLOAT)
    if len(x.shape) == 2:
        return Value((x.shape[0], width), DType.FLOAT)
    raise RuleError(f"input must be [C] or [N, C], got rank {len(x.shape)}")


@register("ImageDecoder", since=20, cost=free_cost)
def image_decoder(ctx: NodeContext, stream: Value, *, pixel_format="RGB"):
    """(H, W, C): H and W are the encoded image's (data-dependent); C = 3 (RGB / BGR) or 1 (Grayscale)."""
    c = {"RGB": 3, "BGR": 3, "Grayscale": 1}.get(pixel_format)
    if c is None:
        raise RuleError(f"pixel_format {pixel_format!r} is not RGB / BGR / Grayscale")
    h = data_dependent_symbol(ctx, "imgh", "the decoded image's height")
    w = data_dependent_symbol(ctx, "imgw", "the decoded image's width")
    return Value((h, w, c), UINT8)


# ---------------------------------------------------------------- ai.onnx.ml


@register("Binarizer", "Normalizer", "Scaler", "Imputer", domain=ML, cost=elementwise_cost)
def ml_same(ctx: NodeContext, x: Value, **_):
    return Value(x.shape, DType.FLOAT if ctx.op_type != "Binarizer" else x.dtype)


@register("LabelEncoder", "CategoryMapper", domain=ML, cost=free_cost)
def ml_map(ctx: NodeContext, x: Value, **_):
    return Value(x.shape, 0)


@register("ArrayFeatureExtractor", domain=ML, cost=free_cost)
def array_feature_extractor(ctx: NodeContext, x: Value, idx: Value):
    """The last axis gathered at the indices: (..., k); a 1-D input gives (1, k)."""
    k = idx.numel if idx.shape is not None else None
    if len(x.shape) == 1:
        return Value((1, k), x.dtype)
    return Value(tuple(x.shape[:-1]) + (k,), x.dtype)


@register("TreeEnsemble", domain=ML, since=5, cost=free_cost)
def tree_ensemble(ctx: NodeContext, x: Value, *, n_targets=None, **_):
    if n_targets is None:
        raise RuleError("n_targets attribute missing")
    if len(x.shape) != 2:
        raise RuleError(f"input must be [N, F], got rank {len(x.shape)}")
    return Value((x.shape[0], n_targets), x.dtype)


@register("TreeEnsembleRegressor", "LinearRegressor", domain=ML, cost=free_cost)
def regressor(ctx: NodeContext, x: Value, *, n_targets=None, targets=None, **_):
    t = n_targets if ctx.op_type == "TreeEnsembleRegressor" else (targets if targets is not None else 1)
    if t is None:
        raise RuleError("n_targets attribute missing")
    n = x.shape[0] if len(x.shape) == 2 else 1
    return Value((n, t), DType.FLOAT)


@register("OneHotEncoder", domain=ML, cost=free_cost)
def one_hot_encoder(ctx: NodeContext, x: Value, *, cats_int64s=None, cats_strings=None, zeros=1):
    """The input's shape plus one axis of the categories' count."""
    cats = cats_int64s if cats_int64s is not None else cats_strings
    if not cats:
        raise RuleError("cats_int64s / cats_strings attribute missing")
    return Value(tuple(x.shape) + (len(cats),), DType.FLOAT)


@register("FeatureVectorizer", domain=ML, cost=free_cost)
def feature_vectorizer(ctx: NodeContext, *xs: Value, inputdimensions=None):
    """[N, sum(inputdimensions)]: the inputs' features side by side."""
    if not inputdimensions or not xs or xs[0] is None or xs[0].shape is None:
        raise RuleError("inputdimensions attribute or input shapes missing")
    n = xs[0].shape[0] if len(xs[0].shape) >= 2 else 1
    return Value((n, sum(inputdimensions)), DType.FLOAT)


# ---------------------------------------------------------------- ai.onnx.preview.training


def _groups(ctx: NodeContext, ins, k: int):
    tensors = list(ins)
    if len(tensors) % k:
        raise RuleError(f"{len(tensors)} tensor inputs do not split into {k} groups")
    n = len(tensors) // k
    groups = [tensors[i * n:(i + 1) * n] for i in range(k)]
    for j in range(n):
        base = groups[0][j]
        for g in groups[1:]:
            if base is not None and g[j] is not None and base.shape is not None and g[j].shape is not None:
                if len(base.shape) != len(g[j].shape):
                    ctx.require(False, f"tensor {j}: ranks {len(base.shape)} and {len(g[j].shape)} differ")
                    continue
                for a, b in zip(base.shape, g[j].shape):
                    ctx.require_equal(a, b, f"tensor {j}: dims {a} and {b} must be equal")
    return groups, n


@register("Adagrad", "Momentum", domain=TRAINING, cost=elementwise_cost)
def adagrad_momentum(ctx: NodeContext, r: Value, t: Value, *rest: Value, **_):
    """Inputs R, T, X..., G..., H (or V)...: outputs X_new..., then H_new (V_new)..., each its input's shape."""
    groups, n = _groups(ctx, rest, 3)
    return [Value(v.shape, v.dtype) for v in groups[0]] + [Value(v.shape, v.dtype) for v in groups[2]]


@register("Adam", domain=TRAINING, cost=elementwise_cost)
def adam(ctx: NodeContext, r: Value, t: Value, *rest: Value, **_):
    """Inputs R, T, X..., G..., V..., H...: outputs X_new..., V_new..., H_new..."""
    groups, n = _groups(ctx, rest, 4)
    return [Value(v.shape, v.dtype) for g in (groups[0], groups[2], groups[3]) for v in g]


@register("Gradient", domain=TRAINING, cost=free_cost)
def gradient(ctx: NodeContext, *ins: Value, xs=None, y=None, zs=None):
    """One gradient per name in xs, shaped as that input (the i-th input is the i-th of xs)."""
    if not xs:
        raise RuleError("xs attribute missing")
    if len(ins) < len(xs):
        raise RuleError(f"{len(ins)} inputs for {len(xs)} names in xs")
    return [Value(v.shape, v.dtype) if v is not None else Value(None) for v in ins[:len(xs)]]


_ = (as_dim, Optional)
