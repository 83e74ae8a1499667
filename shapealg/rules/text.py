"""Strings and text features: StringNormalizer, StringConcat, StringSplit, RegexFullMatch, TfIdfVectorizer,
ImageDecoder; the ai.onnx.ml ops (shapes as onnxruntime produces them; a map input is a Value of kind "map",
ZipMap's output a sequence of maps); the training ops of ai.onnx.preview.training (Adagrad, Momentum, Adam,
Gradient)."""
from __future__ import annotations

from typing import Optional

import sympy

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
    """[C] or [1, C], C >= 1 (onnx and onnxruntime refuse C = 0); stop words removed: their number is the
    data's (at least 1: an all-stop-word input gives one empty string)."""
    if len(x.shape) not in (1, 2):
        raise RuleError(f"input must be [C] or [1, C], got rank {len(x.shape)}")
    ctx.require_positive(x.shape[-1], "C (the number of strings)")
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
    """[C] -> [max(ngram_indexes) + 1]; [N, C] -> [N, max(ngram_indexes) + 1], N >= 1 (onnxruntime refuses
    an empty batch)."""
    if not ngram_indexes:
        raise RuleError("ngram_indexes attribute missing")
    width = max(ngram_indexes) + 1
    if len(x.shape) == 1:
        return Value((width,), DType.FLOAT)
    if len(x.shape) == 2:
        ctx.require_positive(x.shape[0], "the batch N")
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


def _rows(x: Value):
    """(N, F) of a classifier's / regressor's input: [F] is one row, [N, F] N rows."""
    if len(x.shape) == 1:
        return 1, x.shape[0]
    if len(x.shape) == 2:
        return x.shape[0], x.shape[1]
    raise RuleError(f"input must be [F] or [N, F], got rank {len(x.shape)}")


def _labels(ints, strings):
    """(labels, Y's dtype): string labels when given, else int64 ones."""
    return (list(strings), STRING) if strings else (list(ints or ()), INT64)


@register("Binarizer", "Imputer", domain=ML, cost=elementwise_cost)
def ml_same(ctx: NodeContext, x: Value, **_):
    return Value(x.shape, DType.FLOAT if ctx.op_type != "Binarizer" else x.dtype)


@register("Normalizer", domain=ML, cost=elementwise_cost)
def normalizer(ctx: NodeContext, x: Value, **_):
    """The input's shape; [F] or [N, F] (onnxruntime refuses a higher rank)."""
    if len(x.shape) not in (1, 2):
        raise RuleError(f"input must be [F] or [N, F], got rank {len(x.shape)}")
    return Value(x.shape, DType.FLOAT)


@register("Scaler", domain=ML, cost=elementwise_cost)
def scaler(ctx: NodeContext, x: Value, *, scale=None, offset=None):
    """The input's shape. scale and offset: one value each, or one per feature (onnxruntime's feature axis:
    dim 0 of a 1-D input, else dim 1)."""
    scale, offset = list(scale or ()), list(offset or ())
    if not scale or len(scale) != len(offset):
        raise RuleError(f"scale ({len(scale)} values) and offset ({len(offset)}) must be non-empty and alike")
    if not x.shape:
        raise RuleError("input must have rank >= 1")
    if len(scale) > 1:
        f = x.shape[0] if len(x.shape) == 1 else x.shape[1]
        ctx.require_equal(f, len(scale), f"{len(scale)} scales and offsets for {f} features")
    return Value(x.shape, DType.FLOAT)


@register("LabelEncoder", "CategoryMapper", domain=ML, cost=free_cost)
def ml_map(ctx: NodeContext, x: Value, **_):
    return Value(x.shape, 0)


@register("ArrayFeatureExtractor", domain=ML, cost=free_cost)
def array_feature_extractor(ctx: NodeContext, x: Value, idx: Value):
    """The last axis gathered at the indices: (..., k); a 1-D input gives (1, k). onnxruntime refuses k = 0."""
    k = idx.numel if idx.shape is not None else None
    ctx.require_positive(k, "the number of indices")
    if len(x.shape) == 1:
        return Value((1, k), x.dtype)
    return Value(tuple(x.shape[:-1]) + (k,), x.dtype)


@register("TreeEnsemble", domain=ML, since=5, cost=free_cost)
@register("TreeEnsembleRegressor", domain=ML, cost=free_cost)
def tree_ensemble(ctx: NodeContext, x: Value, *, n_targets=None, **_):
    """[N, n_targets]; the input is [N, F] (onnx and onnxruntime refuse another rank). TreeEnsemble keeps the
    input's type, TreeEnsembleRegressor gives float."""
    if n_targets is None:
        raise RuleError("n_targets attribute missing")
    if len(x.shape) != 2:
        raise RuleError(f"input must be [N, F], got rank {len(x.shape)}")
    return Value((x.shape[0], n_targets), x.dtype if ctx.op_type == "TreeEnsemble" else DType.FLOAT)


@register("LinearRegressor", domain=ML, cost=free_cost)
def linear_regressor(ctx: NodeContext, x: Value, *, coefficients=None, targets=1, **_):
    """[N, targets] ([F] is one row); onnxruntime needs len(coefficients) >= targets * F."""
    n, f = _rows(x)
    if coefficients and f is not None:
        ctx.require(sympy.Ge(len(coefficients), int(targets) * sympy.sympify(f)),
                    f"{len(coefficients)} coefficients must cover {targets} targets x {f} features")
    return Value((n, int(targets)), DType.FLOAT)


@register("OneHotEncoder", domain=ML, cost=free_cost)
def one_hot_encoder(ctx: NodeContext, x: Value, *, cats_int64s=None, cats_strings=None, zeros=1):
    """The input's shape plus one axis of the categories' count."""
    cats = cats_int64s if cats_int64s is not None else cats_strings
    if not cats:
        raise RuleError("cats_int64s / cats_strings attribute missing")
    return Value(tuple(x.shape) + (len(cats),), DType.FLOAT)


@register("FeatureVectorizer", domain=ML, cost=free_cost)
def feature_vectorizer(ctx: NodeContext, *xs: Value, inputdimensions=None):
    """[N, sum(inputdimensions)]: the inputs' features side by side; every input has N rows (its first dim, 1
    for a 1-D input: onnxruntime refuses inputs of different N)."""
    if not inputdimensions or not xs or any(x is None or x.shape is None for x in xs):
        raise RuleError("inputdimensions attribute or input shapes missing")
    rows = [x.shape[0] if len(x.shape) >= 2 else 1 for x in xs]
    for j, r in enumerate(rows[1:], 1):
        ctx.require_equal(r, rows[0], f"input {j} has {r} rows, input 0 {rows[0]}")
    return Value((rows[0], sum(inputdimensions)), DType.FLOAT)



@register("TreeEnsembleClassifier", domain=ML, cost=free_cost)
def tree_ensemble_classifier(ctx: NodeContext, x: Value, *, classlabels_int64s=None, classlabels_strings=None, **_):
    """Y [N], Z [N, len(classlabels)] (a binary model with one class id still gives two scores)."""
    labels, ydt = _labels(classlabels_int64s, classlabels_strings)
    if not labels:
        raise RuleError("classlabels_int64s / classlabels_strings attribute missing")
    if len(x.shape) != 2:
        raise RuleError(f"input must be [N, F], got rank {len(x.shape)}")
    return [Value((x.shape[0],), ydt), Value((x.shape[0], len(labels)), DType.FLOAT)]


@register("LinearClassifier", domain=ML, cost=free_cost)
def linear_classifier(ctx: NodeContext, x: Value, *, coefficients=None, intercepts=None, classlabels_ints=None,
                      classlabels_strings=None, **_):
    """Y [N]; Z [N, E], E = len(intercepts), two scores for one intercept and two labels (binary). onnxruntime
    needs len(coefficients) >= E * F and refuses a node without intercepts, one intercept without two labels,
    or fewer labels than intercepts: the class dim is then unknown."""
    n, f = _rows(x)
    labels, ydt = _labels(classlabels_ints, classlabels_strings)
    if not coefficients:
        raise RuleError("coefficients attribute missing")
    e = len(intercepts or ())
    cols = 2 if e == 1 and len(labels) == 2 else e if e >= 2 and len(labels) >= e else None
    if cols is None:
        ctx.warn(f"{e} intercepts and {len(labels)} class labels: the number of scores is not given by the spec "
                 "(onnxruntime refuses such a node); the scores' class dim is unknown")
    elif f is not None:
        ctx.require(sympy.Ge(len(coefficients), e * sympy.sympify(f)),
                    f"{len(coefficients)} coefficients must cover {e} classes x {f} features")
    return [Value((n,), ydt), Value((n, cols), DType.FLOAT)]


@register("SVMClassifier", domain=ML, cost=free_cost)
def svm_classifier(ctx: NodeContext, x: Value, *, classlabels_ints=None, classlabels_strings=None, coefficients=None,
                   support_vectors=None, vectors_per_class=None, prob_a=None, **_):
    """Y [N]; Z [N, E] (E labels), but a support-vector model without prob_a gives its pairwise scores:
    E(E-1)/2 columns (2 when E <= 2). The features must be len(support_vectors) / sum(vectors_per_class)
    (support vectors) or len(coefficients) / E (linear)."""
    n, f = _rows(x)
    labels, ydt = _labels(classlabels_ints, classlabels_strings)
    e = len(labels)
    if not e or not coefficients:
        raise RuleError("classlabels_* / coefficients attribute missing")
    vectors = sum(vectors_per_class or ())
    if vectors > 0:
        feats = len(support_vectors or ()) // vectors
        cols = e if prob_a else (e * (e - 1) // 2 if e > 2 else 2)
    else:
        feats, cols = len(coefficients) // e, e
    ctx.require_equal(f, feats, f"the input has {f} features, the model {feats}")
    return [Value((n,), ydt), Value((n, cols), DType.FLOAT)]


@register("SVMRegressor", domain=ML, cost=free_cost)
def svm_regressor(ctx: NodeContext, x: Value, *, coefficients=None, support_vectors=None, n_supports=0, **_):
    """[N, 1]; the features must be len(support_vectors) / n_supports (len(coefficients) when n_supports is 0)."""
    n, f = _rows(x)
    if not coefficients:
        raise RuleError("coefficients attribute missing")
    feats = len(support_vectors or ()) // n_supports if n_supports and n_supports > 0 else len(coefficients)
    ctx.require_equal(f, feats, f"the input has {f} features, the model {feats}")
    return Value((n, 1), DType.FLOAT)


@register("ZipMap", domain=ML, cost=free_cost)
def zip_map(ctx: NodeContext, x: Value, *, classlabels_int64s=None, classlabels_strings=None):
    """A sequence of N maps (one per row of [N, C] or one for [C]), C the number of labels. A map has no shape:
    the sequence's elements are unknown tensors."""
    labels, _ = _labels(classlabels_int64s, classlabels_strings)
    if not labels:
        raise RuleError("classlabels_int64s / classlabels_strings attribute missing")
    _, c = _rows(x)
    ctx.require_equal(c, len(labels), f"the input has {c} columns for {len(labels)} labels")
    return Value(None, 0, kind="sequence", elems=None)


def _accepts_map(fn):
    fn.accepts_unknown = True  # the input is a map: no shape, and the walker must still call the rule
    return fn


@register("CastMap", domain=ML, cost=free_cost)
@_accepts_map
def cast_map(ctx: NodeContext, m: Value, *, cast_to="TO_FLOAT", map_form="DENSE", max_map=1):
    """[1, max_map] (SPARSE); [1, the map's size] (DENSE: a data-dependent symbol)."""
    dtype = {"TO_FLOAT": DType.FLOAT, "TO_STRING": STRING, "TO_INT64": INT64}.get(cast_to)
    if dtype is None:
        raise RuleError(f"cast_to {cast_to!r} is not TO_FLOAT / TO_STRING / TO_INT64")
    if map_form == "SPARSE":
        return Value((1, int(max_map)), dtype)
    if map_form != "DENSE":
        raise RuleError(f"map_form {map_form!r} is not DENSE / SPARSE")
    return Value((1, data_dependent_symbol(ctx, "mapn", "the number of entries of the map")), dtype)


@register("DictVectorizer", domain=ML, cost=free_cost)
@_accepts_map
def dict_vectorizer(ctx: NodeContext, m: Value, *, int64_vocabulary=None, string_vocabulary=None):
    """[1, len(vocabulary)]: what onnxruntime gives for one map (the spec calls Y 1-D; onnx's reference
    implementation gives [len(vocabulary)]); the values' element type."""
    vocab = int64_vocabulary or string_vocabulary
    if not vocab:
        raise RuleError("int64_vocabulary / string_vocabulary attribute missing")
    return Value((1, len(vocab)), m.dtype if m is not None else 0)


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
