"""Compute: the share of CPU time spent in matrix-multiplication and convolution ops (torch.profiler).

A forward and backward pass of an MLP, a CNN and a transformer; pure functions returning numbers.
"""

from __future__ import annotations

import re

import numpy as np
import torch
from torch.nn import functional as F

from harness.lab.stacked import generator as _gen
from harness.lab.stacked import subseed

# == Compute ========================================================================================

# aten ops (forward and backward) that are matrix multiplications or convolutions
MATMUL_OPS = re.compile(
    r"^aten::(mm|bmm|addmm|baddbmm|addbmm|matmul|linear|einsum|dot|mv|addmv"
    r"|_?convolution(_backward)?|conv\dd|(mkldnn|slow|thnn)_conv\w*|_nnpack\w*)$"
)


def compute_models(kind: str, seed: int) -> tuple[torch.nn.Module, torch.Tensor, torch.Tensor]:
    """A small network and one batch for it: 'mlp', 'cnn' or 'transformer'.  Returns (model, x, y).

    mlp: 64-256-256-10 ReLU on a batch of 128 (digits-sized inputs); cnn: two 3x3 conv layers
    (32 and 64 channels, ReLU, 2x2 max pool) and a linear head on 64 images 1x8x8; transformer: one
    encoder block (d_model 128, 4 heads, feed-forward 512, GELU, layer norm) on 8 sequences of 64
    tokens with a linear head.
    """
    from torch import nn

    torch.manual_seed(subseed(seed, 701))
    g = _gen(seed, 702)
    if kind == "mlp":
        model = nn.Sequential(nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 10))
        x = torch.randn(128, 64, generator=g)
    elif kind == "cnn":
        model = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(32, 64, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(64 * 16, 10),
        )
        x = torch.randn(64, 1, 8, 8, generator=g)
    elif kind == "transformer":
        block = nn.TransformerEncoderLayer(128, 4, 512, dropout=0.0, activation="gelu", batch_first=True)
        model = nn.Sequential(block, nn.Flatten(), nn.Linear(64 * 128, 10))
        x = torch.randn(8, 64, 128, generator=g)
    else:
        raise ValueError(f"unknown model kind {kind!r}")
    y = torch.randint(0, 10, (x.shape[0],), generator=g)
    return model, x, y


def matmul_time_share(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, repeats: int = 5) -> dict:
    """Share of the CPU time of forward + backward passes spent in matmul/convolution ops.

    One untimed warm-up pass, then ``repeats`` passes (cross-entropy loss, backward) under
    torch.profiler, each inside its own ``record_function`` marker.  Each event's self CPU time
    counts once, in its pass and under its op name.  Each op name's time is its median over the
    passes (so an op the operating system interrupted in one pass does not decide it), and the share
    is the sum of these medians over the aten ops whose name matches ``MATMUL_OPS`` divided by the
    sum over every recorded name (other aten ops, autograd nodes, bookkeeping).  Returns 'share'
    (float), 'shares' (repeats,): each pass's own share, 'pass_us' (the sum of the medians,
    microseconds per pass) and 'top' (the 8 largest ops: list of (name, share of the total, is_matmul)).
    """
    from torch.nn.attention import SDPBackend, sdpa_kernel
    from torch.profiler import ProfilerActivity, profile, record_function

    def step():
        model.zero_grad(set_to_none=True)
        F.cross_entropy(model(x), y).backward()

    with sdpa_kernel(SDPBackend.MATH):  # attention as separate matmul and softmax ops, not one fused kernel
        step()
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            for i in range(repeats):
                with record_function(f"pass-{i}"):
                    step()
    times: dict[str, np.ndarray] = {}  # op name -> self time in each pass, microseconds
    for e in prof.events():
        if e.name.startswith("pass-"):
            continue
        top = e
        while top.cpu_parent is not None:
            top = top.cpu_parent
        if not top.name.startswith("pass-"):
            continue
        times.setdefault(e.name, np.zeros(repeats))[int(top.name[5:])] += float(e.self_cpu_time_total)
    names = list(times)
    typical = np.array([np.median(times[k]) for k in names])  # per op: its median over passes
    is_mm = np.array([bool(MATMUL_OPS.match(k)) for k in names])
    total = typical.sum()
    per_pass = np.sum([times[k] for k in names], axis=0)
    shares = np.sum([times[k] for k in names if MATMUL_OPS.match(k)], axis=0) / np.maximum(per_pass, 1e-9)
    order = np.argsort(-typical)[:8]
    return {
        "share": float(typical[is_mm].sum() / total),
        "shares": shares,
        "pass_us": float(total),
        "top": [(names[i], float(typical[i] / total), bool(is_mm[i])) for i in order],
    }


# Upper bound on the arithmetic of one output element of an op that is neither a matrix product nor a view:
# the costliest pointwise ops here (GELU through erf, exp in softmax, layer norm's mean, variance and scaling,
# and their backward ops) take about 10 to 20 FLOPs per element in vectorised math libraries; 20 for all of
# them overstates everything that is not a matrix product, so the matmul share is a lower bound.
OTHER_FLOPS_PER_ELEMENT = 20


def matmul_flop_share(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> dict:
    """Share of the arithmetic of one forward + backward pass (cross-entropy loss) done by matrix products.

    Matrix products and convolutions (mm, bmm, addmm, convolution and their backward ops) are counted
    exactly by PyTorch's FLOP counter (2 FLOPs per multiply-add); every other aten op that is not a view
    counts ``OTHER_FLOPS_PER_ELEMENT`` FLOPs per element of its outputs (an upper bound, see above).
    Attention runs on the math backend so that its products are counted as products.  Returns
    'share' (float), 'matmul_flops', 'other_flops' and 'top' (the 6 largest other ops: (name, FLOPs)).
    """
    from torch.nn.attention import SDPBackend, sdpa_kernel
    from torch.utils._python_dispatch import TorchDispatchMode
    from torch.utils._pytree import tree_flatten
    from torch.utils.flop_counter import FlopCounterMode

    counted = FlopCounterMode(display=False)
    products = {str(k) for k in counted.flop_registry}  # the ops the counter knows: products and convolutions

    class Elements(TorchDispatchMode):
        """Elements written by every op that is neither a product nor a view."""

        def __init__(self):
            super().__init__()
            self.ops: dict[str, int] = {}

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            out = func(*args, **(kwargs or {}))
            name = str(func.overloadpacket)
            if not func.is_view and name not in products:
                n = sum(t.numel() for t in tree_flatten(out)[0] if isinstance(t, torch.Tensor))
                self.ops[name] = self.ops.get(name, 0) + n
            return out

    elements = Elements()
    model.zero_grad(set_to_none=True)
    with sdpa_kernel(SDPBackend.MATH), counted, elements:
        F.cross_entropy(model(x), y).backward()
    matmul = float(counted.get_total_flops())
    other = {k: float(OTHER_FLOPS_PER_ELEMENT * v) for k, v in elements.ops.items()}
    total_other = sum(other.values())
    return {
        "share": matmul / (matmul + total_other),
        "matmul_flops": matmul,
        "other_flops": total_other,
        "top": sorted(other.items(), key=lambda kv: -kv[1])[:6],
    }
