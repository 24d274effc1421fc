"""Measurements: pure functions that return numbers and arrays (no asserts, prints or plots)."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from harness.lab.models import linears


def weight_grad_rms(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> np.ndarray:
    """RMS of each Linear layer's weight gradient for cross-entropy on (x, y), at the current weights.

    x: (batch, in_features); y: (batch,) class indices.  Returns (n_linear,), input layer first.
    RMS (norm / sqrt(numel)) makes layers of different shapes comparable.
    """
    model.zero_grad(set_to_none=True)
    loss = nn.functional.cross_entropy(model(x), y)
    loss.backward()
    return np.array([float(l.weight.grad.norm() / l.weight.grad.numel() ** 0.5) for l in linears(model)])


def preactivation_variances(model: nn.Sequential, x: torch.Tensor) -> np.ndarray:
    """Variance (over batch and units) of each hidden Linear layer's output: (n_hidden,)."""
    out, h = [], x
    mods = list(model)
    for m in mods[:-1]:
        h = m(h)
        if isinstance(m, nn.Linear):
            out.append(float(h.var()))
    return np.array(out)
