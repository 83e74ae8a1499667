"""shapealg: exact shape, parameter and cost formulas for ONNX and torch models, in the input's size."""
from .dims import ceildiv, evaluate, floordiv, symbol
from .formulas import (batchnorm_params, conv_out, conv_params, conv_transpose_out, linear_params,
                       pool_out)
from .infer import InferResult, infer
from .records import Constraint, ShapealgError

__all__ = [
    "analyze", "infer", "InferResult", "Constraint", "ShapealgError", "symbol", "evaluate", "floordiv",
    "ceildiv", "conv_out", "pool_out", "conv_transpose_out", "conv_params", "linear_params", "batchnorm_params",
]
__version__ = "0.1.0"


def analyze(model, **kw):
    """Analyse a model (ONNX path, ModelProto, or a torch nn.Module with ``input_shape=(1, 3, "H", "W")``):
    shapes, params, constraints, valid sizes, verdict. See analysis.analyze_model."""
    from .analysis import analyze_model
    return analyze_model(model, **kw)
