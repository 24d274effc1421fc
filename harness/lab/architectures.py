"""Architectures: AlexNet, VGG-16 and GPT built on the meta device; FLOPs, receptive fields and pooling overlaps.

Shapes and parameter counts without memory (``torch.nn`` on the ``meta`` device), FLOPs by
``torch.utils.flop_counter``, receptive fields and pooling overlaps measured by gradients on small
real tensors.  Pure functions that return numbers.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

# == Architectures =================================================================================


def learned_layers(model: nn.Module) -> dict[str, int]:
    """Layers with weights, by kind: {'conv': ..., 'fc': ...}."""
    mods = list(model.modules())
    return {"conv": sum(isinstance(m, nn.Conv2d) for m in mods), "fc": sum(isinstance(m, nn.Linear) for m in mods)}


def alexnet(pool: tuple[int, int] = (3, 2), two_gpu: bool = True, classes: int = 1000) -> nn.Sequential:
    """AlexNet from Krizhevsky et al. 2012, Sec. 3.5 and Fig. 2, for a 3 x 227 x 227 input.

    conv1 96 kernels 11x11x3 stride 4; conv2 256 of 5x5x48; conv3 384 of 3x3x256; conv4 384 of
    3x3x192; conv5 256 of 3x3x192; fc 4096, 4096, 1000.  ``two_gpu`` keeps the paper's split: conv2,
    4 and 5 see only the maps on their own GPU (groups=2).  ReLU after every learned layer but the
    last, local response normalisation after conv1 and conv2, max pooling of size ``pool`` = (z, s)
    after conv1, conv2 and conv5 (the paper's overlapping z = 3, s = 2), dropout before fc6 and fc7.
    The paper's text says 224 x 224, but 227 is what makes conv1's 55 x 55 output come out.
    """
    g = 2 if two_gpu else 1
    z, s = pool

    def lrn():  # Sec. 3.3: k = 2, n = 5, alpha = 1e-4, beta = 0.75
        return nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=2.0)

    return nn.Sequential(
        nn.Conv2d(3, 96, 11, stride=4),
        nn.ReLU(),
        lrn(),
        nn.MaxPool2d(z, s),
        nn.Conv2d(96, 256, 5, padding=2, groups=g),
        nn.ReLU(),
        lrn(),
        nn.MaxPool2d(z, s),
        nn.Conv2d(256, 384, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(384, 384, 3, padding=1, groups=g),
        nn.ReLU(),
        nn.Conv2d(384, 256, 3, padding=1, groups=g),
        nn.ReLU(),
        nn.MaxPool2d(z, s),
        nn.Flatten(),
        nn.Dropout(0.5),
        nn.Linear(256 * 6 * 6, 4096),
        nn.ReLU(),
        nn.Dropout(0.5),
        nn.Linear(4096, 4096),
        nn.ReLU(),
        nn.Linear(4096, classes),
    )


VGG16 = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M")  # config D


def vgg16(classes: int = 1000) -> nn.Sequential:
    """VGG-16 (Simonyan & Zisserman 2014, Table 1, configuration D) for a 3 x 224 x 224 input."""
    layers: list[nn.Module] = []
    c = 3
    for v in VGG16:
        if v == "M":
            layers.append(nn.MaxPool2d(2, 2))
        else:
            layers += [nn.Conv2d(c, v, 3, padding=1), nn.ReLU()]
            c = v
    layers += [
        nn.Flatten(),
        nn.Linear(512 * 7 * 7, 4096),
        nn.ReLU(),
        nn.Dropout(0.5),
        nn.Linear(4096, 4096),
        nn.ReLU(),
        nn.Dropout(0.5),
        nn.Linear(4096, classes),
    ]
    return nn.Sequential(*layers)


def on_meta(build, *args, **kwargs) -> nn.Module:
    """Build a module on the ``meta`` device: shapes and counts, no parameter memory."""
    with torch.device("meta"):
        return build(*args, **kwargs)


def layer_outputs(model: nn.Sequential, input_shape: tuple[int, ...]) -> list[tuple[str, tuple[int, ...]]]:
    """(module name, output shape) of every module for one input of ``input_shape``, run on ``meta``."""
    out, h = [], torch.empty(input_shape, device="meta")
    for m in model:
        h = m(h)
        out.append((type(m).__name__, tuple(h.shape)))
    return out


def neurons(model: nn.Sequential, input_shape: tuple[int, ...]) -> int:
    """Units of the network: the output elements of every ReLU plus the final layer's outputs."""
    outs = layer_outputs(model, input_shape)
    return sum(math.prod(s) for n, s in outs if n == "ReLU") + math.prod(outs[-1][1])


def _support(grad: torch.Tensor) -> tuple[int, int]:
    """Height and width of the bounding box of the nonzero entries of a (H, W) gradient map."""
    rows = torch.nonzero(grad.abs().sum(1) > 0)
    cols = torch.nonzero(grad.abs().sum(0) > 0)
    return int(rows.max() - rows.min() + 1), int(cols.max() - cols.min() + 1)


def pooling_windows(pool: nn.Module, size: int = 15) -> torch.Tensor:
    """Which inputs each output of a real pooling layer sees: (H_out, W_out, size, size) bool.

    Measured, not derived: one image per input position with a single 1 on a 0 background goes
    through ``pool``; output (i, j) sees input (a, b) when that image lights it up.
    """
    eye = torch.eye(size * size).reshape(size * size, 1, size, size)
    with torch.no_grad():
        lit = pool(eye)[:, 0] > 0  # (size*size, H_out, W_out)
    return lit.permute(1, 2, 0).reshape(*lit.shape[1:], size, size)


def pooling_overlap(pool: nn.Module, size: int = 15) -> tuple[int, int]:
    """Input rows and columns shared by the windows of vertically and horizontally adjacent outputs."""
    w = pooling_windows(pool, size)
    c = w.shape[0] // 2
    a, down, right = w[c, c], w[c + 1, c], w[c, c + 1]
    return int((a & down).any(1).sum()), int((a & right).any(0).sum())


def receptive_field(stack: nn.Module, channels: int, size: int = 31) -> tuple[int, int]:
    """Receptive field (height, width) of the centre output of ``stack``, measured as the support
    of d output / d input on a real (1, channels, size, size) input.  Weights are set to positive
    constants and the input to ones so that no contribution cancels and every ReLU stays active."""
    stack = stack.to("cpu", torch.float64)
    with torch.no_grad():
        for p in stack.parameters():
            p.fill_(0.1)
    x = torch.ones(1, channels, size, size, dtype=torch.float64, requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # 'same' padding with even kernels pads one side more
        y = stack(x)
    h, w = y.shape[-2:]
    (g,) = torch.autograd.grad(y[0, :, h // 2, w // 2].sum(), x)
    return _support(g[0].abs().sum(0))


def conv_flops(stack: nn.Module, input_shape: tuple[int, ...]) -> int:
    """Floating-point operations of one forward pass (2 per multiply-add), counted on ``meta``."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter, warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        stack.to("meta")(torch.empty(input_shape, device="meta"))
    return int(counter.get_total_flops())


# Factorisations of one C -> C convolution, as (name, [layer specs]).  A spec is (kh, kw, groups_is_C):
# 'same' padding everywhere, so every variant keeps the spatial size and FLOPs compare per position.
FACTORISATIONS = {
    "two-3x3-vs-5x5": ([(3, 3, False), (3, 3, False)], [(5, 5, False)]),
    "three-3x3-vs-7x7": ([(3, 3, False)] * 3, [(7, 7, False)]),
    "3x1-1x3-vs-3x3": ([(3, 1, False), (1, 3, False)], [(3, 3, False)]),
    "7x1-1x7-vs-7x7": ([(7, 1, False), (1, 7, False)], [(7, 7, False)]),
    "depthwise-separable-3x3": ([(3, 3, True), (1, 1, False)], [(3, 3, False)]),
    "two-2x2-vs-3x3": ([(2, 2, False), (2, 2, False)], [(3, 3, False)]),  # the control (Inception-v3 Sec. 3.2)
}


def conv_stack(specs: list[tuple[int, int, bool]], channels: int, pool_between: bool = False) -> nn.Sequential:
    """Convolutions C -> C without bias (the papers count weights only), ReLU between them, 'same'
    padding; a depthwise spec (True) has one kernel per channel.  ``pool_between`` puts a 2x2
    stride-2 average pooling after the first layer: the spatial pooling VGG's statement excludes
    (average, not max, so that the gradient reaches the whole pooling window)."""
    layers: list[nn.Module] = []
    for i, (kh, kw, depthwise) in enumerate(specs):
        if i:
            layers.append(nn.ReLU())
            if pool_between and i == 1:
                layers.append(nn.AvgPool2d(2, 2))
        layers.append(nn.Conv2d(channels, channels, (kh, kw), padding="same", bias=False, groups=channels if depthwise else 1))
    return nn.Sequential(*layers)


# -- GPT-2 / GPT-3 --------------------------------------------------------------------------------


@dataclass(frozen=True)
class GPTConfig:
    name: str
    n_layer: int
    d_model: int
    n_head: int
    vocab: int = 50257  # GPT-2's byte-level BPE, reused by GPT-3
    context: int = 1024


# Radford et al. 2019 (GPT-2, Table 2; sizes of the released checkpoints) and Brown et al. 2020 (GPT-3, Table 2.1).
GPT_CONFIGS = {
    "GPT-2 large": GPTConfig("GPT-2 large", 36, 1280, 20),
    "GPT-2 XL": GPTConfig("GPT-2 XL", 48, 1600, 25),
    "GPT-3 6.7B": GPTConfig("GPT-3 6.7B", 32, 4096, 32, context=2048),
    "GPT-3 175B": GPTConfig("GPT-3 175B", 96, 12288, 96, context=2048),
    "GPT-3 175B width, 48 layers": GPTConfig("GPT-3 175B width, 48 layers", 48, 12288, 96, context=2048),
}


class Block(nn.Module):
    """A pre-norm GPT-2 decoder block: LayerNorm, causal self-attention (fused q, k, v projection and
    an output projection), LayerNorm, MLP d -> 4d -> d with GELU; residual connections around both."""

    def __init__(self, d: int, n_head: int):
        super().__init__()
        self.n_head = n_head
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.qkv, self.proj = nn.Linear(d, 3 * d), nn.Linear(d, d)
        self.fc, self.out = nn.Linear(d, 4 * d), nn.Linear(4 * d, d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, T, d) -> (B, T, d)
        B, T, d = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(d, dim=2)
        q, k, v = (t.view(B, T, self.n_head, d // self.n_head).transpose(1, 2) for t in (q, k, v))
        a = F.scaled_dot_product_attention(q, k, v, is_causal=True).transpose(1, 2).reshape(B, T, d)
        x = x + self.proj(a)
        return x + self.out(F.gelu(self.fc(self.ln2(x))))


class GPT(nn.Module):
    """GPT-2/GPT-3 decoder: token and learned position embeddings, ``n_layer`` blocks, a final
    LayerNorm and an output projection tied to the token embedding (as in GPT-2)."""

    def __init__(self, c: GPTConfig):
        super().__init__()
        self.wte, self.wpe = nn.Embedding(c.vocab, c.d_model), nn.Embedding(c.context, c.d_model)
        self.blocks = nn.ModuleList(Block(c.d_model, c.n_head) for _ in range(c.n_layer))
        self.ln_f = nn.LayerNorm(c.d_model)
        self.head = nn.Linear(c.d_model, c.vocab, bias=False)
        self.head.weight = self.wte.weight  # tied

    def forward(self, idx: torch.Tensor) -> torch.Tensor:  # (B, T) token ids -> (B, T, vocab) logits
        x = self.wte(idx) + self.wpe(torch.arange(idx.shape[1], device=idx.device))
        for b in self.blocks:
            x = b(x)
        return self.head(self.ln_f(x))


def gpt_params_formula(c: GPTConfig) -> int:
    """The closed form of GPT's parameter count: L (12 d^2 + 13 d) + (vocab + context) d + 2 d."""
    d = c.d_model
    return c.n_layer * (12 * d * d + 13 * d) + (c.vocab + c.context) * d + 2 * d


def resident_bytes() -> int:
    """This process's resident memory now (Linux /proc/self/statm), in bytes."""
    import os

    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
