"""Shared pieces of the run-axis training: seeds, mini-batch orders, bias columns, and one MLP per seed on a run axis.

Many claims train one small model per seed at once: the weights carry a leading run axis R and
are multiplied with batched matmuls, so six seeds cost about as much as one.  What every such
experiment needs to stay reproducible lives here once.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import torch

from harness.lab import models


def subseed(seed: int, *tags: int) -> int:
    """A new 31-bit seed derived from ``seed`` and ``tags`` (a second init, a data order, a split, ...)."""
    return int(np.random.default_rng([seed, *tags]).integers(2**31))


def draws(seeds, k: int, tag: int, *, keep_seed: bool = True) -> list[int]:
    """``k`` run seeds per seed, seed-major (each its own init, data draw or order): the seed itself and then
    ``subseed(seed, tag, j)`` for j = 1 .. k-1, or, with ``keep_seed=False``, ``subseed(seed, tag, j)`` for every j."""
    return [s if j == 0 and keep_seed else subseed(s, tag, j) for s in seeds for j in range(k)]


def generator(seed: int, *tags: int) -> torch.Generator:
    """A torch generator seeded with :func:`subseed` ``(seed, *tags)``."""
    return torch.Generator().manual_seed(subseed(seed, *tags))


def batch_orders(
    seeds: list[int], sizes: list[int], steps: int, batch: int, tag: int | tuple[int, ...], *, size_in_key: bool = True
) -> np.ndarray:
    """Mini-batch indices per run, reshuffled every epoch: int array (R, steps, batch), R = len(seeds).

    Run r draws from ``np.random.default_rng([seeds[r], tag, sizes[r]])`` (``[seeds[r], tag]`` when
    ``size_in_key`` is False; a tuple ``tag`` contributes all its entries).  A run with ``sizes[r] <= batch`` sees its whole set every step;
    otherwise each epoch is a fresh permutation cut to whole batches.
    """
    out = []
    for s, n in zip(seeds, sizes):
        tags = list(tag) if isinstance(tag, tuple) else [tag]
        rng = np.random.default_rng([s, *tags, n] if size_in_key else [s, *tags])
        if n <= batch:
            out.append(np.tile(np.arange(n), (steps, batch // n + 1))[:, :batch])
            continue
        per_epoch = n // batch
        epochs = -(-steps // per_epoch)
        # all epochs shuffled by one ``permuted`` call: the same Fisher-Yates draws, in the same order, as one
        # ``permutation(n)`` per epoch (tests/test_lab_exact.py), at about half the cost
        o = rng.permuted(np.broadcast_to(np.arange(n), (epochs, n)), axis=1)[:, : per_epoch * batch].reshape(-1)
        out.append(o[: steps * batch].reshape(steps, batch))
    return np.stack(out)


def with_bias(X: np.ndarray) -> np.ndarray:
    """``X`` (n, d) with a column of ones appended: (n, d + 1)."""
    return np.hstack([X, np.ones((len(X), 1))])


# -- one MLP per seed on a run axis -----------------------------------------------------------------
#
# Weights are lists, one entry per layer: W[l] (R, fan_in, fan_out), b[l] (R, 1, fan_out); a forward
# pass is one ``torch.baddbmm`` per layer, so the runs never mix.  Modules that keep the parameters
# in one flat list use the interleaved order [W_0, b_0, W_1, b_1, ...] (``params[0::2]``, ``params[1::2]``).

ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "relu": torch.relu,
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "linear": lambda h: h,
}

# Init schemes named by the variance they set (weights of a fan_in x fan_out layer): N(0, var), or U(-a, a)
# with a = sqrt(3 var) for the schemes in UNIFORM
VARIANCES: dict[str, Callable[[int, int], float]] = {
    "fan-in": lambda fi, fo: 1.0 / fi,  # Glorot & Bengio 2010 eq. 10 (forward); "Xavier" as He et al. 2015 use it
    "fan-out": lambda fi, fo: 1.0 / fo,  # Glorot & Bengio 2010 eq. 11 (backward)
    "glorot": lambda fi, fo: 2.0 / (fi + fo),  # Glorot & Bengio 2010 eq. 12 (the compromise)
    "he": lambda fi, fo: 2.0 / fi,  # He et al. 2015 eq. 10 (ReLU)
    "normal": lambda fi, fo: 1.0,  # the naive N(0, 1)
    "standard": lambda fi, fo: 1.0 / (3.0 * fi),  # Glorot & Bengio 2010 eq. 1: U(+-1/sqrt(fan_in)), the heuristic of their day
}
UNIFORM = frozenset({"standard"})  # schemes drawn from U(-a, a) with a = sqrt(3 var) instead of N(0, var)


def module_weights(
    seeds: Sequence[int], sizes: Sequence[int], init: str, *, repeat: int = 1
) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """The weights of ``models.mlp`` (scheme ``init`` of ``models.init_linear_``) for each seed, float32.

    sizes: [in, width, ..., width, out] (equal hidden widths).  Each seed's net is repeated ``repeat``
    times, seed-major: W[l] (R, sizes[l], sizes[l+1]), b[l] (R, 1, sizes[l+1]), R = len(seeds) * repeat.
    """
    depth = len(sizes) - 2
    built = {s: models.linears(models.mlp(sizes[0], sizes[1], depth, sizes[-1], "relu", init, s)) for s in dict.fromkeys(seeds)}
    nets = [built[s] for s in seeds]  # a seed listed again is the same net: built once
    W = [torch.stack([n[l].weight.detach().T for n in nets for _ in range(repeat)]) for l in range(depth + 1)]
    b = [torch.stack([n[l].bias.detach()[None, :] for n in nets for _ in range(repeat)]) for l in range(depth + 1)]
    return W, b


def scheme_weights(
    seeds: Sequence[int], sizes: Sequence[int], scheme: str, *, repeat: int = 1, draw: torch.dtype = torch.float32, dtype=None
) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Weights of variance VARIANCES[scheme] and zero biases of one MLP per seed, each repeated ``repeat`` times (seed-major).

    Seed s draws from ``torch.Generator().manual_seed(s)``, layer by layer (in ``draw`` precision): standard
    normals scaled by the scheme's std, so the normal schemes compare on identical directions; a scheme in
    ``UNIFORM`` draws U(-1, 1) instead, scaled by sqrt(3 var).  The result is cast to ``dtype`` (default:
    ``draw``).  W[l] (R, sizes[l], sizes[l+1]), b[l] (R, 1, sizes[l+1]), R = len(seeds) * repeat.
    """
    dtype = draw if dtype is None else dtype
    gens = [torch.Generator().manual_seed(int(s)) for s in seeds]
    W, b = [], []
    for fi, fo in zip(sizes[:-1], sizes[1:]):
        if scheme in UNIFORM:
            a = math.sqrt(3.0 * VARIANCES[scheme](fi, fo))
            draws = [((2.0 * torch.rand(fi, fo, generator=g, dtype=draw) - 1.0) * a).to(dtype) for g in gens]
        else:
            std = math.sqrt(VARIANCES[scheme](fi, fo))
            draws = [(torch.randn(fi, fo, generator=g, dtype=draw) * std).to(dtype) for g in gens]
        W.append(torch.stack([w for w in draws for _ in range(repeat)]))
        b.append(torch.zeros(len(seeds) * repeat, 1, fo, dtype=dtype))
    return W, b


def uniform(shape: Sequence[int], fan_in: int, g: torch.Generator) -> torch.Tensor:
    """PyTorch's default Linear/Conv2d init, U(-1/sqrt(fan_in), 1/sqrt(fan_in)), float32, drawn from ``g``."""
    bound = 1 / math.sqrt(fan_in)
    return (torch.rand(*shape, generator=g) * 2 - 1) * bound


def uniform_weights(gens: Sequence[torch.Generator], sizes: Sequence[int]) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """PyTorch's default init (:func:`uniform`, weights and biases) of one MLP per generator, float32.

    Each generator draws W_0, b_0, W_1, b_1, ... in turn.  W[l] (R, sizes[l], sizes[l+1]), b[l] (R, 1, sizes[l+1]).
    """
    W, b = [], []
    for fi, fo in zip(sizes[:-1], sizes[1:]):
        W.append(torch.stack([uniform((fi, fo), fi, g) for g in gens]))
        b.append(torch.stack([uniform((1, fo), fi, g) for g in gens]))
    return W, b


def interleave(W: Sequence[torch.Tensor], b: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    """[W_0, b_0, W_1, b_1, ...]: the flat parameter order (undo with ``params[0::2], params[1::2]``)."""
    return [t for pair in zip(W, b) for t in pair]


def forward(
    h: torch.Tensor, W: Sequence[torch.Tensor], b: Sequence[torch.Tensor], act: str | Callable[[torch.Tensor], torch.Tensor] = "relu"
) -> torch.Tensor:
    """Stacked MLP: h (R, m, in) -> (R, m, out); every layer but the last applies ``act`` (a name of ACTIVATIONS or a function)."""
    f = ACTIVATIONS[act] if isinstance(act, str) else act
    for l in range(len(W) - 1):
        h = f(torch.baddbmm(b[l], h, W[l]))
    return torch.baddbmm(b[-1], h, W[-1])


# the activations applied in place (each kernel writes its own input), and the backward autograd runs for each, given
# the activation's output: what a written-out MLP backward (mlp_inputs, mlp_grads) uses
ACTIVATIONS_IN_PLACE: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "relu": torch.relu_,
    "sigmoid": torch.sigmoid_,
    "tanh": torch.tanh_,
    "linear": lambda h: h,
}
ACTIVATION_BACKWARD: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "relu": lambda g, out: torch.ops.aten.threshold_backward(g, out, 0),
    "sigmoid": torch.ops.aten.sigmoid_backward,
    "tanh": torch.ops.aten.tanh_backward,
    "linear": lambda g, out: g,
}


def mlp_inputs(
    x: torch.Tensor, W: Sequence[torch.Tensor], b: Sequence[torch.Tensor], act: str = "relu"
) -> tuple[list[torch.Tensor], torch.Tensor]:
    """The stacked MLP of :func:`forward` without autograd: each layer's input (hs[0] = x, hs[l] the activation's
    output that feeds layer l, applied in place) and the logits; what :func:`mlp_grads` needs."""
    f = ACTIVATIONS_IN_PLACE[act]
    hs = [x]
    for l in range(len(W) - 1):
        hs.append(f(torch.baddbmm(b[l], hs[-1], W[l])))
    return hs, torch.baddbmm(b[-1], hs[-1], W[-1])


def mlp_grads(
    hs: Sequence[torch.Tensor], W: Sequence[torch.Tensor], g: torch.Tensor, act: str = "relu", layers: Sequence[int] | None = None
) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """The gradients autograd hands back for a stacked MLP's weights and biases (b[l] (R, 1, out)), from each layer's
    input ``hs`` (:func:`mlp_inputs`) and the loss's gradient ``g`` with respect to the logits (R, m, out): the products
    ``BaddbmmBackward`` runs and the activation's backward from its output, the same values bit for bit, without
    autograd's bookkeeping (tests/test_lab_exact.py).  ``layers``: the layers whose gradients are wanted (default all;
    the pass stops at the lowest).  Returns (weight gradients, bias gradients), each in the order of sorted ``layers``."""
    wanted = sorted(set(range(len(W)) if layers is None else layers))
    df, low = ACTIVATION_BACKWARD[act], wanted[0]
    gW, gb = {}, {}
    for l in range(len(W) - 1, low - 1, -1):
        if l in wanted:
            gb[l] = g.sum(1, keepdim=True)
            gW[l] = torch.bmm(hs[l].transpose(1, 2), g)
        if l > low:
            g = df(torch.bmm(g, W[l].transpose(1, 2)), hs[l])
    return [gW[l] for l in wanted], [gb[l] for l in wanted]


def batch_loss(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The sum over runs of each run's mean cross-entropy: logits (R, m, classes), y (R, m) -> scalar.

    Runs share no parameters, so its gradient is each run's own gradient of its mean loss."""
    return torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1), reduction="sum") / logits.shape[1]


def run_losses(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Each run's mean cross-entropy: logits (R, m, classes), y (R, m) -> (R,)."""
    return torch.nn.functional.cross_entropy(logits.transpose(1, 2), y, reduction="none").mean(1)


def accuracy(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Share of rows whose arg-max is the label, per run: logits (R, m, classes), y (R, m) or (m,) -> (R,) float32."""
    return (logits.argmax(-1) == y).float().mean(-1)


def mlp_accuracy(x: torch.Tensor, W: Sequence[torch.Tensor], b: Sequence[torch.Tensor], y: torch.Tensor) -> torch.Tensor:
    """:func:`accuracy` of the ReLU MLP of :func:`forward` on x (R, m, in), y (R, m): (R,) float32, without autograd.  The
    logits of :func:`mlp_inputs` (the ReLUs in place: the same values) read with ``max``'s indices, which are ``argmax``'s
    (the first largest entry, ties and NaN alike; tests/test_lab_exact.py), about twice as fast over 10 classes."""
    with torch.no_grad():
        return (mlp_inputs(x, W, b)[1].max(-1).indices == y).float().mean(-1)


def error(logits: torch.Tensor, y: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Share of rows whose arg-max is not the label, per run: logits (R, m, classes), y (R, m) or (m,) -> (R,)."""
    return (logits.argmax(-1) != y).to(dtype).mean(-1)


def _times_lr(ts: list[torch.Tensor], lr: torch.Tensor | float) -> list[torch.Tensor]:
    """Each tensor times ``lr`` (a number, or a tensor that broadcasts against each), as new tensors."""
    return torch._foreach_mul(ts, [lr] * len(ts)) if isinstance(lr, torch.Tensor) else torch._foreach_mul(ts, lr)


def sgd_step_(params, grads, lr: torch.Tensor | float, vel=None, momentum: float = 0.0) -> None:
    """One SGD step in place, without autograd: w -= lr g, or with velocities ``vel`` PyTorch's heavy ball
    v = momentum v + g; w -= lr v.  ``lr`` broadcasts against each parameter ((R, 1, 1): one rate per run);
    a parameter whose gradient is None is left alone.  Each operation is one ``torch._foreach_*`` call: on the
    CPU the same kernel tensor by tensor, so the same values as a per-tensor loop (tests/test_lab_exact.py)."""
    keep = [i for i, g in enumerate(grads) if g is not None]
    if not keep:
        return
    ps, gs = [params[i] for i in keep], [grads[i] for i in keep]
    with torch.no_grad():
        if vel is None:
            torch._foreach_sub_(ps, _times_lr(gs, lr))
            return
        vs = [vel[i] for i in keep]
        torch._foreach_mul_(vs, momentum)
        torch._foreach_add_(vs, gs)
        torch._foreach_sub_(ps, _times_lr(vs, lr))


def adam_step_(
    params, moments, grads, lr: torch.Tensor | float, t: int, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8, weights=None
) -> None:
    """One Adam step in place, without autograd (Kingma & Ba 2014, Alg. 1); ``t`` counts from 1:
    m = b1 m + w1 g;  v = b2 v + w2 g^2;  w -= lr (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps).

    moments: one (m, v) pair of zero-started tensors per parameter.  ``weights`` are the factors of the new
    gradient in m and v, (1 - beta1, 1 - beta2) by default; a caller that wrote them as the decimals
    (0.1, 0.001) passes those, which round differently.  ``lr`` broadcasts against each parameter.  Each
    operation is one ``torch._foreach_*`` call (the same values as a per-tensor loop, tests/test_lab_exact.py)."""
    b1, b2 = betas
    w1, w2 = (1 - b1, 1 - b2) if weights is None else weights
    m, v = [a for a, _ in moments], [c for _, c in moments]
    with torch.no_grad():
        torch._foreach_mul_(m, b1)
        torch._foreach_add_(m, grads, alpha=w1)
        torch._foreach_mul_(v, b2)
        torch._foreach_addcmul_(v, grads, grads, value=w2)
        step = _times_lr(torch._foreach_div(m, 1 - b1**t), lr)
        den = torch._foreach_div(v, 1 - b2**t)
        torch._foreach_sqrt_(den)
        torch._foreach_add_(den, eps)
        torch._foreach_div_(step, den)
        torch._foreach_sub_(params, step)
