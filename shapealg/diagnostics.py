"""Diagnostics: what the engine wants the user to know about a node (or the file), as records.

One formatter (``str(d)``) writes them as ``node 'conv1' (op Conv): message``; the message never repeats the
node or the op. Kinds (``Kind``) say what happened, so programs can filter without parsing text.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Kind(str, Enum):
    NOTE = "note"                    # an approximation or a choice the rule made (dims left unknown, ...)
    NO_RULE = "no-rule"              # no shape rule for the op: outputs unknown
    MISSING_INPUT = "missing-input"  # an input nobody produces (or a required input absent)
    RULE_ERROR = "rule-error"        # the rule could not handle the node (RuleError or an exception)
    LIMIT = "limit"                  # a time / size limit was reached
    DATA_DEPENDENT = "data-dependent"  # a size only the data decides: declared as a symbol
    FILE = "file"                    # a finding of the file reader (unsafe external data, ...)

    __str__ = str.__str__
    __format__ = str.__format__


@dataclass(frozen=True)
class Diagnostic:
    node: str       # "" for the file as a whole
    op: str
    kind: Kind
    message: str

    def __str__(self) -> str:
        if not self.node:
            return self.message
        if self.kind == Kind.NO_RULE or not self.op:
            return f"node {self.node!r}: {self.message}"
        return f"node {self.node!r} (op {self.op}): {self.message}"

    def to_json(self) -> dict:
        return {"node": self.node, "op_type": self.op, "kind": str(self.kind), "message": self.message}


def file_note(message: str) -> Diagnostic:
    return Diagnostic("", "", Kind.FILE, message)
