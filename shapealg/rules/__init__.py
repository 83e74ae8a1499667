"""One small module per op family; importing this package registers every rule."""
from . import conv, elementwise, gather_scatter, linear, norm, reduce, resize, shape_ops, slicing  # noqa: F401
from . import contrib, control, data_dependent, einsum, generators, quant, space  # noqa: F401
from . import attention, loss, recurrent, sequence, signal, text  # noqa: F401
from .registry import lookup, register, registered_ops  # noqa: F401
