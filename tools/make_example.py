"""Regenerate tensorbridge/examples/small_cnn.onnx, the model `tensorbridge example` converts.

A small image classifier (Conv/BatchNorm/ReLU/MaxPool twice, global average pool, Linear,
Softmax) with seeded random weights, exported by PyTorch's ONNX exporter at opset 17 with a
dynamic batch dimension. Needs torch (`pip install torch==2.13.0`); the .onnx file is committed.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from torch import nn

OUT = Path(__file__).resolve().parents[1] / "tensorbridge" / "examples" / "small_cnn.onnx"


def build() -> nn.Module:
    torch.manual_seed(0)

    def block(cin: int, cout: int) -> list[nn.Module]:
        return [nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(), nn.MaxPool2d(2)]

    model = nn.Sequential(
        *block(3, 8), *block(8, 16),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 10), nn.Softmax(dim=-1),
    )  # fmt: skip
    for m in model.modules():  # non-trivial running statistics, as a trained model has
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 1.5)
    return model.eval()


def main() -> int:
    model = build()
    x = torch.randn(1, 3, 32, 32)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    torch.onnx.export(
        model, (x,), str(OUT), input_names=["image"], output_names=["probabilities"],
        dynamic_axes={"image": {0: "batch"}, "probabilities": {0: "batch"}},
        opset_version=17, dynamo=False,
    )  # fmt: skip
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
