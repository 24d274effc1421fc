"""Small models and the weight initialisations the claims compare.

Shapes: an MLP maps (batch, in_features) -> (batch, out_features).  Each init scheme cites where
it comes from; 'default' is PyTorch's nn.Linear default, U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for
weights (Var = 1/(3 fan_in), the 'standard' init of Glorot & Bengio 2010, eq. 15).
"""

from __future__ import annotations

import math

import torch
from torch import nn

ACTIVATIONS = {"relu": nn.ReLU, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "linear": nn.Identity}


def init_linear_(layer: nn.Linear, scheme: str, generator: torch.Generator) -> None:
    """Initialise one layer in place.  Biases start at 0 except under 'default'."""
    fan_out, fan_in = layer.weight.shape
    with torch.no_grad():
        if scheme == "default":
            bound = 1 / math.sqrt(fan_in)
            layer.weight.uniform_(-bound, bound, generator=generator)
            layer.bias.uniform_(-bound, bound, generator=generator)
            return
        layer.weight.normal_(0.0, init_std(scheme, fan_in, fan_out), generator=generator)
        layer.bias.zero_()


def init_std(scheme: str, fan_in: int, fan_out: int) -> float:
    """The weight std of a normal scheme of :func:`init_linear_` (weights N(0, std^2), biases 0)."""
    return {
        "he": lambda: math.sqrt(2.0 / fan_in),  # He et al. 2015: Var = 2 / fan_in for ReLU
        "xavier": lambda: math.sqrt(2.0 / (fan_in + fan_out)),  # Glorot & Bengio 2010, eq. 12 (normal form)
        "normal": lambda: 1.0,  # N(0, 1): the naive init that explodes
        "small": lambda: 0.01,  # N(0, 0.01^2): AlexNet's fixed std, too small for deep stacks
    }[scheme]()


def mlp(
    in_features: int, width: int, depth: int, out_features: int, activation: str, init: str, seed: int, dtype=torch.float32
) -> nn.Sequential:
    """``depth`` hidden Linear+activation layers of ``width`` units, then a Linear output layer."""
    g = torch.Generator().manual_seed(seed)
    layers: list[nn.Module] = []
    sizes = [in_features] + [width] * depth
    for a, b in zip(sizes[:-1], sizes[1:]):
        lin = nn.Linear(a, b, dtype=dtype)
        init_linear_(lin, init, g)
        layers += [lin, ACTIVATIONS[activation]()]
    out = nn.Linear(width, out_features, dtype=dtype)
    init_linear_(out, init, g)
    layers.append(out)
    return nn.Sequential(*layers)


def linears(model: nn.Module) -> list[nn.Linear]:
    return [m for m in model.modules() if isinstance(m, nn.Linear)]


def count_params(model: nn.Module) -> int:
    """Learned parameters (shared tensors counted once), on any device including ``meta``."""
    return sum(p.numel() for p in model.parameters())
