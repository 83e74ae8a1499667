"""Closed sets of names the engine compares: verdicts, cost statuses, ONNX element types.

The string enums compare equal to their strings (``Verdict.LOCKED == "locked"``) and print as them, so JSON
and text output are unchanged.
"""
from __future__ import annotations

from enum import Enum, IntEnum


class _StrEnum(str, Enum):
    __str__ = str.__str__
    __format__ = str.__format__


class Verdict(_StrEnum):
    SIZE_INVARIANT = "size-invariant"
    CONDITIONAL = "conditional"
    LOCKED = "locked"
    NEVER_VALID = "never-valid"
    # some value was not analysed (no rule, a limit, a malformed graph): the valid set and verdict of the
    # analysed part (Analysis.analysed_verdict) hold only for that part
    PARTIAL = "partial"

    @classmethod
    def order(cls):
        """From the most permissive to the least."""
        return [cls.SIZE_INVARIANT, cls.CONDITIONAL, cls.LOCKED, cls.NEVER_VALID]


class CostStatus(_StrEnum):
    COUNTED = "counted"            # a formula
    ZERO = "zero"                  # the convention does not count this op family: stated, not silent
    FREE = "free"                  # no arithmetic: data movement and shape plumbing
    NOT_MODELLED = "not-modelled"  # no cost model for the op: never added as 0
    UNKNOWN = "unknown"            # modelled, but a shape it needs is unknown


class DType(IntEnum):
    """onnx.TensorProto element types (the numbers are ONNX's)."""
    UNDEFINED = 0
    FLOAT = 1
    UINT8 = 2
    INT8 = 3
    UINT16 = 4
    INT16 = 5
    INT32 = 6
    INT64 = 7
    STRING = 8
    BOOL = 9
    FLOAT16 = 10
    DOUBLE = 11
    UINT32 = 12
    UINT64 = 13
    COMPLEX64 = 14
    COMPLEX128 = 15
    BFLOAT16 = 16


INT_TYPES = frozenset({DType.UINT8, DType.INT8, DType.UINT16, DType.INT16, DType.INT32, DType.INT64,
                       DType.UINT32, DType.UINT64})
FLOAT_TYPES = frozenset({DType.FLOAT, DType.DOUBLE, DType.FLOAT16, DType.BFLOAT16})
