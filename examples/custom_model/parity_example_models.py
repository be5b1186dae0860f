"""An example custom model for a Parity P2P session (``"architecture": {"type": "custom", ...}``).

A factory takes ``input_size`` and ``output_size`` as keywords (plus the config's ``kwargs``) and returns
an ``nn.Module`` mapping ``[batch, input_size]`` float32 to ``[batch, output_size]``; a classifier returns
logits. Make it importable on every runner: put this directory on ``PYTHONPATH`` and name it by import
path (``custom_model.json``), or install a package that declares the entry point (see README.md).
"""

from __future__ import annotations

import torch
from torch import nn


class ResidualMLP(nn.Module):
    """A small perceptron with one skip connection around its hidden block."""

    def __init__(self, input_size: int, output_size: int, hidden: int) -> None:
        super().__init__()
        self.inp = nn.Linear(input_size, hidden)
        self.block = nn.Sequential(nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU())
        self.out = nn.Linear(hidden, output_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.inp(x)
        return self.out(h + self.block(h))


def make_residual_mlp(*, input_size: int, output_size: int, hidden: int = 16) -> nn.Module:
    """The factory named by ``custom_model.json``."""
    return ResidualMLP(input_size, output_size, hidden)
