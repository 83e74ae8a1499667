"""Prove the formulas and the valid set against real executions (onnxruntime, torch).

    rep = validate("model.onnx")                      # sizes chosen from the analysis itself
    rep = validate("model.onnx", sizes=["224x224", {"H": 37, "W": 61}])
    rep = validate("model.onnx", module=m, runtime="both")  # also the torch module, same sizes
    rep.ok, rep.counts, rep.to_json(), rep.table()

Per size, one outcome (``OUTCOMES``):

* ``agree``               predicted valid, ran, every value's shape equals its formula;
* ``mismatch``            predicted valid, ran, some value's shape differs from its formula
                          (value, node, expected, got);
* ``failed-as-predicted`` predicted invalid and the runtime failed, at the node the domain blamed, or
                          downstream of it, or at another node whose own constraint is violated
                          (onnxruntime lets undersized pools through with empty / size-1 outputs, so
                          the run often stops a few nodes later); both nodes are reported;
* ``failed-elsewhere``    predicted invalid, the runtime failed, but at a node that is neither the
                          blamed one, nor downstream of a violated constraint;
* ``surprise-ran``        predicted invalid but ran;
* ``surprise-failed``     predicted valid but failed (the runtime's error);
* ``exporter-divergence`` (runtime="both") the torch module and its ONNX file disagree on whether
                          the size runs, or the file runs with every predicted shape and the module
                          (an output, or a submodule's output seen by a forward hook) has another:
                          an exporter bug the user must hear about;
* ``skipped``             predicted activation memory over the budget: not run.

``agree``, ``failed-as-predicted`` and ``skipped`` are good; anything else makes ``ok`` False.
The library never prints; progress goes to an optional callback ``progress(done, total, outcome)``.

Modules, one idea each: ``choose`` (which sizes), ``evaluator`` (formulas at a size, predicted memory),
``onnxrt`` (onnxruntime's runs and their judgement), ``session`` (onnxruntime sessions and runs: the only
module that imports onnxruntime), ``probe`` (every value's run-time shape through one extra output),
``torchrt`` (the torch module, forward hooks per submodule), ``run`` (validate itself), ``report`` (records,
table, JSON).
"""
from __future__ import annotations

from .choose import DEFAULT_MEMORY_BUDGET, choose_sizes, sample_sizes
from .evaluator import predicted_bytes
from .report import GOOD_OUTCOMES, OUTCOMES, Mismatch, PlannedSize, SizeOutcome, TorchRun, ValidationReport
from .run import RUNTIMES, check_device, validate

__all__ = [
    "OUTCOMES",
    "GOOD_OUTCOMES",
    "RUNTIMES",
    "DEFAULT_MEMORY_BUDGET",
    "PlannedSize",
    "Mismatch",
    "TorchRun",
    "SizeOutcome",
    "ValidationReport",
    "check_device",
    "choose_sizes",
    "sample_sizes",
    "predicted_bytes",
    "validate",
]
