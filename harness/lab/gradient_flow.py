"""Gradient flow: pre-activation variances of deep MLPs at initialisation.

Pure functions: they return numbers and arrays, never assert, print or plot.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch.nn import functional as F

from harness.lab import models

_ACTS = {"linear": lambda h: h, "tanh": torch.tanh}


def preactivation_log2_variances(
    acts: Sequence[str], inits: Sequence[str], depth: int, width: int, seed: int, device: str = "cpu"
) -> dict[tuple[str, str], np.ndarray]:
    """log2 of each hidden layer's pre-activation variance (over batch and units) on 256 N(0, 1) inputs, (depth,) per
    (activation, init): the numbers of ``measure.preactivation_variances`` on ``models.mlp(width, width, depth, 10,
    act, init, seed, float64)``, bit for bit.  Drawn on the CPU, computed on ``device``.

    Every init draws its weights from the generator of ``seed`` with ``normal_(0, std)``, which is the standard normal
    draw times std in float64 (torch's normal fill computes z * std + 0): one draw of the hidden layers serves every
    init and activation (the output layer is not measured, so not drawn, and nn.Linear's default init, overwritten
    by the scheme's, is left out)."""
    g = torch.Generator().manual_seed(seed)
    unit = [torch.empty(width, width, dtype=torch.float64).normal_(0.0, 1.0, generator=g) for _ in range(depth)]
    x = torch.randn(256, width, dtype=torch.float64, generator=torch.Generator().manual_seed(seed + 1)).to(device)
    bias = torch.zeros(width, dtype=torch.float64, device=device)
    out = {}
    with torch.no_grad():
        for init in inits:
            Ws = [(w * models.init_std(init, width, width)).to(device) for w in unit]  # each init's std (tests/test_lab_exact.py)
            for act in acts:
                h, v = x, []
                for W in Ws:
                    h = F.linear(h, W, bias)
                    v.append(float(h.var()))
                    h = _ACTS[act](h)
                out[act, init] = np.log2(np.array(v))
    return out
