"""The seed notebook, walked through with shapealg (run: python examples/seed_walkthrough.py; in Jupyter, run the
cells: every result object renders as a table with its formulas in LaTeX).

The notebook builds a small CNN (Conv-ReLU-MaxPool-Conv-ReLU-Flatten-Linear(387200)-ReLU-Linear), counts its
parameters, prints the output sizes at 224x224, finds it fails at 448x448, and fixes it with AdaptiveAvgPool2d.
shapealg gives all of that from the nn.Module, as formulas in H and W, plus the exact set of sizes it runs at.
"""
# %%
import torch
from torch import nn

import shapealg
from shapealg.module_check import check_module_shapes


class Model(nn.Module):  # the notebook's Model, without the print in forward
    def __init__(self, adaptive=False):
        super().__init__()
        layers = [nn.Conv2d(3, 16, (3, 3), (1, 1), (1, 1)), nn.ReLU(), nn.MaxPool2d(kernel_size=2),
                  nn.Conv2d(16, 32, (5, 5), (1, 1), (1, 1)), nn.ReLU()]
        if adaptive:  # the notebook's fix
            layers.append(nn.AdaptiveAvgPool2d((110, 110)))
        layers += [nn.Flatten(), nn.Linear(387200, 64), nn.ReLU(), nn.Linear(64, 10)]
        self.net = nn.Sequential(*layers)

    def forward(self, x):
        return self.net(x)


# %% 1. count_parameters: the notebook's table, then the module view (params and output-shape formulas)
torch.manual_seed(0)
model = Model().eval()
for name, p in model.named_parameters():
    print(f"{name:14s} {p.numel():>10}")
print("Total Trainable Params:", sum(p.numel() for p in model.parameters() if p.requires_grad))  # 24794794

a = shapealg.analyze(model, input_shape=(1, 3, "H", "W"))
table = a.modules()
print(table)  # in Jupyter: `table` alone renders as HTML with LaTeX formulas

# %% 2. the notebook's printed sizes at 224x224, from the formulas
for i in range(9):
    row = table.row(f"net.{i}")
    print(f"net.{i} {row.type:10s}", [shapealg.evaluate(d, {"H": 224, "W": 224}) for d in row.shape])

# %% 3. the verdict: why 448x448 fails, and where it does work (204x246, 6x24204, ...)
print(a.front)  # how the module became ONNX, and the guards torch.export derived that the file does not carry
print()
print(a.domain.summary)
print("valid at 224x224:", a.is_valid(H=224, W=224), " 448x448:", a.is_valid(H=448, W=448),
      " 204x246:", a.is_valid(H=204, W=246))
for f in a.fixes:
    print(f"fix at {f.node}: {f.title}\n    {f.code}")

# %% 4. the formulas against torch itself: forward hooks on every module, at sizes inside and outside the set
print(check_module_shapes(model, (1, 3, "H", "W"), [(224, 224), (204, 246), (448, 448)], analysis=a))

# %% 5. the fix: AdaptiveAvgPool2d((110, 110)); torch.export sees a model valid for H, W >= 6, and shapealg
# says when the exported ONNX file is stricter than the module (pooling tables fixed at the trace size)
fixed = Model(adaptive=True).eval()
b = shapealg.analyze(fixed, input_shape=(1, 3, "H", "W"))
print(b.front)
print("file:", b.domain.summary)

# %% 6. an annotated ONNX file: open it in Netron to see floor(H/2) - 2 on the edges
import os
import tempfile

from shapealg.annotate import export_annotated

with tempfile.TemporaryDirectory() as d:
    r = export_annotated(model, os.path.join(d, "seed_annotated.onnx"), analysis=a)
    print(f"wrote {r.values} value shapes; re-analysis verdict:", shapealg.analyze(r.path).domain.verdict)
