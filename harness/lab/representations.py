"""Representations: hand-made features against learned ones, CNN against MLP, depth against width, nets against classical learners.

Concentric circles (engineered vs learned features), CNN vs MLP vs linear model on the 8x8 digits
with one-pixel shifts, Telgarsky's sawtooth (an exact deep narrow construction and trained deep vs
shallow nets), a one-hidden-layer sigmoid net vs an SVM and a random forest.  Pure functions that
return numbers and arrays; every stochastic run is seeded and several seeds train at once.
"""

from __future__ import annotations

import contextlib
import functools
import math

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from harness.lab import data, runtime, sequence, stacked
from harness.lab.generalisation import batch_loss_grad

# == Representations ===============================================================================


def _one_blas_thread():
    """One BLAS/OpenMP thread for the libraries loaded *now*.  The suite limits threads when it starts,
    but scikit-learn loads SciPy's second OpenBLAS later, unlimited; on a busy 2-core machine its
    threads spin against each other (L-BFGS fits ran 10x slower in CPU time)."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1)


@contextlib.contextmanager
def _flush_denormals():
    """Treat subnormal floats as zero while training.  Saturated sigmoid units give gradients below
    1e-38, and the CPU computes with such subnormal numbers about 4 times slower (measured on the
    sigmoid nets); flushing them changes values by less than 1e-38.  The setting is restored after."""
    torch.set_flush_denormal(True)
    try:
        yield
    finally:
        torch.set_flush_denormal(False)


# -- concentric circles: engineered vs learned features ----------------------------------------------


def circles(n: int, seed: int, noise: float = 0.1, factor: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's two concentric circles (radii 1 and ``factor``), shuffled: X (n, 2), y (n,) in {0, 1}."""
    from sklearn.datasets import make_circles

    return make_circles(n_samples=n, noise=noise, factor=factor, random_state=seed)


def radius_feature(X: np.ndarray) -> np.ndarray:
    """The hand-engineered feature: raw inputs plus the squared radius x1^2 + x2^2: (n, 3)."""
    return np.c_[X, (X**2).sum(axis=1)]


def circles_linear_accuracy(seed: int, n: int = 1000, engineered: bool = False) -> float:
    """Test accuracy (second half of ``n`` points) of logistic regression fitted on the first half, on
    the raw coordinates (x1, x2) or, if ``engineered``, on (x1, x2, r^2); L-BFGS with scikit-learn's
    default L2 penalty.  Alone, it is the placebo of 'raw linear' at a small part of the cost."""
    from sklearn.linear_model import LogisticRegression

    X, y = circles(n, seed)
    h = n // 2
    f = radius_feature if engineered else (lambda A: A)
    with _one_blas_thread():
        return float(LogisticRegression().fit(f(X[:h]), y[:h]).score(f(X[h:]), y[h:]))


def circles_accuracies(seed: int, n: int = 1000, hidden: int = 32) -> dict[str, float]:
    """Test accuracy (second half of ``n`` points) of three models fitted on the first half.

    'raw linear': logistic regression on (x1, x2); 'engineered linear': the same model on
    (x1, x2, r^2); 'raw MLP': one ReLU hidden layer of ``hidden`` units on (x1, x2).  All fitted by
    L-BFGS to convergence with scikit-learn's default L2 penalty.  'probe R2': share of the variance
    of r^2 on the test half that a linear read-out of the MLP's hidden layer explains (the read-out
    fitted on the training half): whether the net has built the radius feature itself.
    """
    from sklearn.linear_model import LinearRegression
    from sklearn.neural_network import MLPClassifier

    X, y = circles(n, seed)
    h = n // 2
    Xtr, ytr, Xte, yte = X[:h], y[:h], X[h:], y[h:]
    raw, eng = circles_linear_accuracy(seed, n), circles_linear_accuracy(seed, n, engineered=True)
    with _one_blas_thread():
        mlp = MLPClassifier(hidden_layer_sizes=(hidden,), activation="relu", solver="lbfgs", max_iter=2000, random_state=seed).fit(Xtr, ytr)

    def hidden_layer(A):  # (n, hidden): the MLP's learned representation
        return np.maximum(A @ mlp.coefs_[0] + mlp.intercepts_[0], 0.0)

    r2 = radius_feature(Xtr)[:, 2], radius_feature(Xte)[:, 2]
    probe = LinearRegression().fit(hidden_layer(Xtr), r2[0]).score(hidden_layer(Xte), r2[1])
    return {"raw linear": float(raw), "engineered linear": float(eng), "raw MLP": float(mlp.score(Xte, yte)), "probe R2": float(probe)}


# -- digits: CNN vs MLP vs linear model on raw pixels, one-pixel shifts --------------------------------

SHIFTS = ((1, 0), (-1, 0), (0, 1), (0, -1))  # (rows, columns): down, up, right, left by one pixel


def raw_digit_images() -> tuple[torch.Tensor, torch.Tensor]:
    """The 1797 scikit-learn digits as raw pixels scaled to [0, 1] (no other preprocessing): (1797, 8, 8), (1797,)."""
    X, y = data.digits()  # (1797, 64) in [0, 1]
    return torch.tensor(X.reshape(-1, 8, 8), dtype=torch.float32), torch.tensor(y)


def shift_images(x: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
    """Translate images (..., H, W) by (dy, dx) pixels, filling with 0 (the digits' background)."""
    out = torch.zeros_like(x)
    H, W = x.shape[-2:]
    out[..., max(dy, 0) : H + min(dy, 0), max(dx, 0) : W + min(dx, 0)] = x[
        ..., max(-dy, 0) : H + min(-dy, 0), max(-dx, 0) : W + min(-dx, 0)
    ]
    return out


# Layer tables: (kind, shape) per parameter tensor of one network.  CNN: LeNet-style, two 3x3 conv
# layers (16 and 32 maps, ReLU, 2x2 max pooling after each: 8x8 -> 4x4 -> 2x2), then a linear read-out.
DIGIT_NETS = {
    "linear": [("w", (64, 10)), ("b", (1, 10))],
    "MLP": [("w", (64, 64)), ("b", (1, 64)), ("w", (64, 10)), ("b", (1, 10))],
    "CNN": [("k", (16, 1, 3, 3)), ("c", (16,)), ("k", (32, 16, 3, 3)), ("c", (32,)), ("w", (128, 10)), ("b", (1, 10))],
}


def digit_net_params(kind: str) -> int:
    """Parameters of one network of DIGIT_NETS[kind]."""
    return sum(math.prod(s) for _, s in DIGIT_NETS[kind])


def _init_stacked(kind: str, seeds: tuple[int, ...]) -> list[torch.Tensor]:
    """Per-seed default-init parameters, stacked along a leading seed axis (conv kernels concatenated for groups=S)."""
    gens = [torch.Generator().manual_seed(int(s)) for s in seeds]
    out, fan = [], None
    for tag, shape in DIGIT_NETS[kind]:
        if tag in ("w", "k"):
            fan = shape[0] if tag == "w" else math.prod(shape[1:])
        per = [stacked.uniform(shape, fan, g) for g in gens]
        out.append(torch.cat(per) if tag in ("k", "c") else torch.stack(per))
    return out


class _MaxPool2(torch.autograd.Function):
    """2x2 max pooling of (B, C, H, W) images, computed in the channels-last layout.

    The same kernel as F.max_pool2d in either layout (the first largest value of each window, its
    gradient routed to that position), so the same bits; on the CPU the channels-last forward takes a
    fraction of the time of the plain one on these 8x8 and 4x4 maps, while the backward, which only
    routes each window's gradient to the position its index names, is fastest in the plain layout.
    Input and output are plain (contiguous) tensors, so the convolutions around it run exactly as before."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        y, idx = torch.ops.aten.max_pool2d_with_indices(x.contiguous(memory_format=torch.channels_last), [2, 2], [2, 2])
        idx = idx.contiguous()  # the position within its (H, W) map: the same number in either layout
        ctx.save_for_backward(x, idx)
        return y.contiguous()

    @staticmethod
    def backward(ctx, g: torch.Tensor) -> torch.Tensor:
        x, idx = ctx.saved_tensors
        return torch.ops.aten.max_pool2d_with_indices_backward(g.contiguous(), x, [2, 2], [2, 2], [0, 0], [1, 1], False, idx)


def _forward(kind: str, p: list[torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """Logits of S networks at once: x (S, B, 8, 8) -> (S, B, 10); seed s sees only its own images."""
    S, B = x.shape[:2]
    if kind in ("linear", "MLP"):
        return stacked.forward(x.reshape(S, B, 64), p[0::2], p[1::2], "relu")
    h = x.transpose(0, 1)  # (B, S, 8, 8): seed s's images in channel s; grouped convolutions keep seeds apart
    h = _MaxPool2.apply(torch.relu(F.conv2d(h, p[0], p[1], padding=1, groups=S)))  # (B, S*16, 4, 4)
    h = _MaxPool2.apply(torch.relu(F.conv2d(h, p[2], p[3], padding=1, groups=S)))  # (B, S*32, 2, 2)
    return torch.baddbmm(p[5], h.reshape(B, S, 128).transpose(0, 1), p[4])


def _fit(params: list[torch.Tensor], lrs: list[torch.Tensor], logits_of, Xtr: torch.Tensor, ytr: torch.Tensor, orders: torch.Tensor):
    """Train R networks in place with Adam (Kingma & Ba 2014), one step per mini-batch of ``orders`` (R, steps,
    batch) into Xtr (R, n, ...), ytr (R, n); ``logits_of`` maps (R, batch, ...) -> (R, batch, 10).  ``lrs[i]``
    broadcasts against ``params[i]`` (one rate per run).  The loss is the sum of each run's mean cross-entropy
    (runs share no parameters, so each trains as if alone)."""
    rows = torch.arange(Xtr.shape[0])[:, None]
    moments = [(torch.zeros_like(p), torch.zeros_like(p)) for p in params]
    for t, idx in enumerate(orders.unbind(1), start=1):
        loss = sequence.batch_loss(logits_of(Xtr[rows, idx]), ytr[rows, idx])  # stacked.batch_loss's bits, faster
        # one step for every parameter at once: a list of rates multiplies tensor by tensor, as one call per parameter did
        stacked.adam_step_(params, moments, torch.autograd.grad(loss, params), list(lrs), t)


@functools.cache
@runtime.unfilled_allocations()  # every kernel here writes what it allocates: the same values without the NaN fill
def digit_net_accuracies(kind: str, seeds: tuple[int, ...], lrs: tuple[float, ...], epochs: int, batch: int = 64) -> dict:
    """Train one ``kind`` network per (seed, rate of ``lrs``) on the seed's half of the raw digits
    (``digit_halves``); test on the other half.  All runs on one run axis, seed-major: every rate of a
    seed starts from the same init and sees the same mini-batch order.

    Adam at the run's rate, mini-batches of ``batch``, ``epochs`` passes, cross-entropy, no augmentation
    and no regularisation: the same budget for every kind.  Returns 'clean' test accuracy (S, L) and
    'shifted' accuracy on the test images moved by one pixel in each direction of SHIFTS (S, L, 4).
    """
    X, y = raw_digit_images()
    S, L = len(seeds), len(lrs)
    runs = [s for s in seeds for _ in lrs]
    halves = [digit_halves(s) for s in runs]
    tr = torch.tensor(np.stack([h[0] for h in halves]))
    te = torch.tensor(np.stack([h[1] for h in halves]))
    Xtr, ytr = X[tr], y[tr]  # (R, ntr, 8, 8), (R, ntr)
    params = [t.requires_grad_(True) for t in _init_stacked(kind, tuple(runs))]
    rate = torch.tensor([a for _ in seeds for a in lrs])  # (R,)
    per_param = [  # conv kernels and biases are concatenated over runs (groups = R), the rest stacked
        (rate.repeat_interleave(p.shape[0] // len(runs)) if tag in ("k", "c") else rate).reshape(-1, *[1] * (p.dim() - 1))
        for p, (tag, _) in zip(params, DIGIT_NETS[kind])
    ]
    ntr = tr.shape[1]
    orders = stacked.batch_orders(list(seeds), [ntr] * S, epochs * (ntr // batch), batch, 1, size_in_key=False)
    _fit(params, per_param, lambda x: _forward(kind, params, x), Xtr, ytr, torch.tensor(orders).repeat_interleave(L, 0))
    with torch.no_grad():
        Xte, yte = X[te], y[te]
        clean = stacked.accuracy(_forward(kind, params, Xte), yte)
        shifted = torch.stack([stacked.accuracy(_forward(kind, params, shift_images(Xte, dy, dx)), yte) for dy, dx in SHIFTS], dim=1)
    return {"clean": clean.numpy().astype(float).reshape(S, L), "shifted": shifted.numpy().astype(float).reshape(S, L, 4)}


def digit_halves(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The random half/half split of the digits used for ``seed`` by every digit model: train and test indices."""
    n = 1797
    perm = np.random.default_rng([seed, 0]).permutation(n)
    return perm[: n // 2], perm[n // 2 :]


# -- Telgarsky's sawtooth ---------------------------------------------------------------------------


def tent(x: torch.Tensor) -> torch.Tensor:
    """Telgarsky's tent map on [0, 1]: m(x) = 2x for x < 1/2, 2 - 2x after; m(x) = 2 relu(x) - 4 relu(x - 1/2)."""
    return torch.where(x < 0.5, 2 * x, 2 - 2 * x)


def sawtooth(x: torch.Tensor, k: int) -> torch.Tensor:
    """The tent map composed k times: 2^(k-1) teeth, 2^k linear pieces on [0, 1]."""
    for _ in range(k):
        x = tent(x)
    return x


def sawtooth_grid(k: int, points_per_piece: int = 8) -> torch.Tensor:
    """A dyadic grid on [0, 1] that contains every kink of the k-fold sawtooth: (2^k * points_per_piece + 1, 1) float64."""
    n = 2**k * points_per_piece
    return (torch.arange(n + 1, dtype=torch.float64) / n)[:, None]


def sawtooth_construction(k: int, dtype=torch.float64) -> nn.Sequential:
    """Telgarsky's deep narrow ReLU net for the k-fold sawtooth: k hidden layers of 2 units, 6k + 1 parameters.

    Each hidden layer computes (relu(z), relu(z - 1/2)) of the previous tent value z; the next layer's
    pre-activation 2 relu(z) - 4 relu(z - 1/2) is tent(z) for z in [0, 1] (Telgarsky 2016, the
    map m).  The output layer applies that last combination.  Input (n, 1) -> output (n, 1).
    """
    layers: list[nn.Module] = []
    first = nn.Linear(1, 2, dtype=dtype)
    with torch.no_grad():
        first.weight.copy_(torch.tensor([[1.0], [1.0]]))
        first.bias.copy_(torch.tensor([0.0, -0.5]))
    layers += [first, nn.ReLU()]
    for _ in range(k - 1):
        lin = nn.Linear(2, 2, dtype=dtype)
        with torch.no_grad():  # z = 2 h1 - 4 h2, then (z, z - 1/2)
            lin.weight.copy_(torch.tensor([[2.0, -4.0], [2.0, -4.0]]))
            lin.bias.copy_(torch.tensor([0.0, -0.5]))
        layers += [lin, nn.ReLU()]
    out = nn.Linear(2, 1, dtype=dtype)
    with torch.no_grad():
        out.weight.copy_(torch.tensor([[2.0, -4.0]]))
        out.bias.zero_()
    layers.append(out)
    return nn.Sequential(*layers)


def linear_pieces(x: np.ndarray, f: np.ndarray, tol: float = 1e-6) -> int:
    """Number of linear pieces of a piecewise-linear function sampled on a grid fine enough to
    hold at most one kink per cell: 1 + the number of slope changes larger than ``tol``."""
    x, f = np.ravel(x), np.ravel(f)
    slopes = np.diff(f) / np.diff(x)
    return 1 + int(np.sum(np.abs(np.diff(slopes)) > tol * max(1.0, float(np.abs(slopes).max()))))


def mlp_params(widths: list[int]) -> int:
    """Parameters of a fully connected net with layer sizes ``widths`` (input first, output last)."""
    return sum(a * b + b for a, b in zip(widths[:-1], widths[1:]))


SAWTOOTH_INITS = ("default", "he")  # PyTorch's default U(-1/sqrt(fan_in), 1/sqrt(fan_in)); He et al. 2015 normal, zero biases


def _sawtooth_init(shapes: list[tuple[int, int]], seed: int, init: str) -> torch.Tensor:
    """One net's parameters, flat (weights then biases, layer by layer), float64: ``init`` drawn from the seed."""
    g = torch.Generator().manual_seed(int(seed))
    ws = [stacked.uniform((a, b), a, g) for a, b in shapes]
    bs = [stacked.uniform((b,), a, g) for a, b in shapes]
    if init == "he":
        ws = [torch.randn((a, b), generator=g) * math.sqrt(2.0 / a) for a, b in shapes]
        bs = [torch.zeros(b) for _, b in shapes]
    elif init != "default":
        raise ValueError(f"init must be one of {SAWTOOTH_INITS}, got {init!r}")
    return torch.cat([t.reshape(-1) for t in ws + bs]).double()


def _sawtooth_forward(x: torch.Tensor, W: list[torch.Tensor], b: list[torch.Tensor]) -> list[torch.Tensor]:
    """The stacked ReLU net of ``fit_sawtooth`` on x (R, n, 1): [x, h1, ..., h_last, f], every layer's output.

    Each layer is ``bmm(h, W) + b``: the same numbers as ``baddbmm(b, h, W)`` bit for bit on these shapes (a product
    of at most 8 terms, then the bias added once; checked in tests/test_lab_exact.py), at half its cost, since
    baddbmm first fills its result with the broadcast bias, two numbers at a time."""
    hs = [x]
    for l in range(len(W)):
        z = torch.bmm(hs[-1], W[l]).add_(b[l])
        hs.append(z.relu_() if l < len(W) - 1 else z)
    return hs


def _sawtooth_backward_(hs: list[torch.Tensor], W: list[torch.Tensor], g: torch.Tensor, gW: list[torch.Tensor], gb: list[torch.Tensor]):
    """Gradients of the summed per-run mean squared error into ``gW``, ``gb`` (views of one (R, P) tensor), from
    g = d loss / d f = (f - target) * 2 * (1 / n): autograd's operations for that loss and ``stacked.forward``,
    in its order (baddbmm's backward: h^T g, g summed over points, g W^T; relu's: g where the output is > 0), so
    its gradients bit for bit without building a graph per step."""
    for l in reversed(range(len(W))):
        gW[l].copy_(hs[l].transpose(1, 2).bmm(g))
        gb[l].copy_(g.sum(1, keepdim=True))
        if l:
            g = torch.ops.aten.threshold_backward(g.bmm(W[l].transpose(1, 2)), hs[l], 0)


@functools.cache
@runtime.unfilled_allocations()  # every kernel here writes what it allocates: the same values without the NaN fill
def fit_sawtooth(
    widths: tuple[int, ...], k: int, seeds: tuple[int, ...], lrs: tuple[float, ...], steps: int, inits: tuple[str, ...] = SAWTOOTH_INITS
) -> dict:
    """Fit ReLU nets of layer sizes ``widths`` (1, ..., 1) to the k-fold sawtooth on its dyadic grid.

    One net per (seed, init, rate), all trained at once: each init of ``inits`` from the seed ('default':
    PyTorch's U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weights and biases; 'he': weights N(0, 2/fan_in), He
    et al. 2015, the init made for ReLU nets, biases 0), full-batch Adam at each rate of ``lrs`` for
    ``steps`` steps on the mean squared error, float64.  Every parameter lives in one flat (R, P) tensor,
    so an Adam step costs a few tensor operations whatever the number of runs.
    Returns 'mse' (S, I, L), 'max_err' (S, I, L), 'pieces' (S, I, L): linear pieces of each fit,
    and 'curve' (S, I, L, n_grid): the fitted function.
    """
    x = sawtooth_grid(k)
    target = sawtooth(x, k)[None]  # (1, n, 1)
    shapes = list(zip(widths[:-1], widths[1:]))
    sizes = [a * b for a, b in shapes] + [b for _, b in shapes]
    S, I, L = len(seeds), len(inits), len(lrs)
    rows = [_sawtooth_init(shapes, s, init) for s in seeds for init in inits for _ in lrs]  # (seed, init, rate)-major
    theta = torch.stack(rows)  # (R, P), R = S * I * L
    lr = torch.tensor([a for _ in seeds for _ in inits for a in lrs], dtype=torch.float64)[:, None]
    offs = np.cumsum([0] + sizes)
    nl = len(shapes)
    # each layer's weights and biases as views of theta, made once: the Adam step updates theta in place, so they
    # follow it; the gradients are written into the same views of one (R, P) tensor, theta's gradient
    W = [theta[:, offs[i] : offs[i + 1]].view(-1, a, b) for i, (a, b) in enumerate(shapes)]
    bias = [theta[:, offs[nl + i] : offs[nl + i + 1]].view(-1, 1, b) for i, (_, b) in enumerate(shapes)]
    xs_in, n = x.expand(theta.shape[0], -1, -1), x.shape[0]
    moments = [(torch.zeros_like(theta), torch.zeros_like(theta))]
    grad = torch.empty_like(theta)  # (R, P), theta's layout: each layer's weights, then each layer's biases
    gW = [grad[:, offs[i] : offs[i + 1]].view(-1, a, b) for i, (a, b) in enumerate(shapes)]
    gb = [grad[:, offs[nl + i] : offs[nl + i + 1]].view(-1, 1, b) for i, (_, b) in enumerate(shapes)]
    for t in range(1, steps + 1):
        hs = _sawtooth_forward(xs_in, W, bias)  # the input and every hidden layer's output, then the fit (R, n, 1)
        _sawtooth_backward_(hs, W, (hs[-1] - target) * 2.0 * (1.0 / n), gW, gb)
        stacked.adam_step_([theta], moments, [grad], lr, t)  # one rate per run
    with torch.no_grad():
        f = _sawtooth_forward(xs_in, W, bias)[-1][..., 0]  # (R, n)
    err = f - target[..., 0]
    xs, fs = x[:, 0].numpy(), f.numpy()
    return {
        "mse": (err**2).mean(1).reshape(S, I, L).numpy(),
        "max_err": err.abs().amax(1).reshape(S, I, L).numpy(),
        "pieces": np.array([linear_pieces(xs, row) for row in fs]).reshape(S, I, L),
        "curve": fs.reshape(S, I, L, -1),
    }


# -- one-hidden-layer sigmoid net vs SVM and random forest ---------------------------------------------


def _train_sigmoid_nets(
    seeds, train: list, evals: list, hidden: int, lrs: tuple[float, ...], epochs: int, batch: int, momentum: float
) -> list[np.ndarray]:
    """One-hidden-layer sigmoid nets (softmax output), the pre-2010 recipe: ``hidden`` logistic units,
    cross-entropy, mini-batch SGD with momentum, PyTorch's default init from the seed.  One net per
    (seed, rate of ``lrs``), all on one run axis (R = S * L, seed-major): every rate of a seed starts
    from the same init and sees the same mini-batch order, so each run is the net trained alone at
    that rate.  Trains on each seed's ``train`` pair (X (n, d), y (n,)) and returns the accuracy on
    each entry of ``evals`` (a list, per seed, of (X, y) pairs): a list of (S, L) arrays."""
    S, L = len(seeds), len(lrs)
    Xtr = torch.tensor(np.stack([t[0] for t in train]), dtype=torch.float32)  # (S, n, d): d = 64 pixels or 40 positions
    ytr = torch.tensor(np.stack([t[1] for t in train]))
    W, b = stacked.uniform_weights([torch.Generator().manual_seed(int(s)) for s in seeds], (Xtr.shape[2], hidden, 10))
    W, b = [w.repeat_interleave(L, 0) for w in W], [c.repeat_interleave(L, 0) for c in b]
    params = stacked.interleave(W, b)
    vel = [torch.zeros_like(p) for p in params]
    lr = torch.tensor([a for _ in seeds for a in lrs], dtype=torch.float32)[:, None, None]  # (R, 1, 1): one rate per run
    ntr = Xtr.shape[1]
    orders = torch.tensor(stacked.batch_orders(list(seeds), [ntr] * S, epochs * (ntr // batch), batch, 3, size_in_key=False))
    seed_of = torch.arange(S).repeat_interleave(L)[:, None]  # (R, 1): the seed of each run
    orders = orders.repeat_interleave(L, 0)  # (R, steps, batch)
    with _flush_denormals():
        for idx in orders.unbind(1):
            # the loss: the sum of each run's mean cross-entropy (stacked.batch_loss), so every run trains as if alone; its
            # gradients written out (the loss's for the logits, then the layers'), autograd's bit for bit without autograd
            hs, logits = stacked.mlp_inputs(Xtr[seed_of, idx], W, b, "sigmoid")
            gW, gb = stacked.mlp_grads(hs, W, batch_loss_grad(logits, ytr[seed_of, idx]), "sigmoid")
            stacked.sgd_step_(params, stacked.interleave(gW, gb), lr, vel, momentum)
    out = []
    with torch.no_grad():
        for ev in evals:
            X = torch.tensor(np.stack([e[0] for e in ev]), dtype=torch.float32).repeat_interleave(L, 0)
            y = torch.tensor(np.stack([e[1] for e in ev])).repeat_interleave(L, 0)
            out.append(stacked.accuracy(stacked.forward(X, W, b, "sigmoid"), y).numpy().astype(float).reshape(S, L))
    return out


# -- the same comparison with every model tuned by one validation protocol ------------------------------

NET_RATES = (0.03, 0.1, 0.3, 1.0, 3.0)  # SGD rates of the sigmoid net (64 hidden units)
NET_HIDDEN = 64
SVM_GRID = tuple((c, g) for c in (0.1, 1.0, 10.0, 100.0, 1000.0) for g in (0.0001, 0.0003, 0.001, 0.003, 0.01, 0.03, 0.1))  # (C, gamma)
FOREST_GRID = (1, 0.05, "log2", "sqrt", 0.3)  # max_features of a 100-tree random forest: 1, 3, 6, 8 or 19 of 64 pixels
TREE_GRID = (6, 10, None)  # max_depth of the single decision tree (the control)
GRIDS = {  # per data set: model -> its declared grid, in increasing order of each coordinate
    "digits": {
        "sigmoid net": tuple((NET_HIDDEN, lr) for lr in NET_RATES),
        "SVM": SVM_GRID,
        "random forest": FOREST_GRID,
        "decision tree": TREE_GRID,
    },
    "mnist1d": {  # each grid one value wider where the digits grids' edges were chosen on MNIST-1D (the catalogue's amendment)
        "sigmoid net": tuple((NET_HIDDEN, lr) for lr in (*NET_RATES, 10.0)),
        "SVM": tuple((c, g) for c in (0.1, 1.0, 10.0, 100.0, 1000.0) for g in (0.001, 0.003, 0.01, 0.03, 0.1, 0.3)),
        "random forest": (0.05, "log2", "sqrt", 0.3, 0.6, 1.0),  # 2, 5, 6, 12, 24 or all 40 positions
        "decision tree": TREE_GRID,
    },
}


def features_per_split(max_features, d: int) -> int:
    """The number of the d inputs a forest's split draws for scikit-learn's ``max_features`` (a share, 'sqrt' or 'log2')."""
    if max_features == "sqrt":
        return max(1, int(math.sqrt(d)))
    if max_features == "log2":
        return max(1, int(math.log2(d)))
    if isinstance(max_features, int):
        return max_features
    return max(1, int(max_features * d))


def digits_validation_split(seed: int) -> tuple[np.ndarray, ...]:
    """A stratified half/half train/test split of the digits per seed; the training half split again
    2/3 : 1/3 (stratified) into a fitting and a validation part; all standardised with the fitting
    part's statistics: Xfit (599, 64), Xval (300, 64), Xte (898, 64), yfit, yval, yte."""
    from sklearn.model_selection import train_test_split

    X, y = data.digits()
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.5, stratify=y, random_state=seed)
    Xfit, Xval, yfit, yval = train_test_split(Xtr, ytr, test_size=1 / 3, stratify=ytr, random_state=seed)
    mu, sd = Xfit.mean(0), Xfit.std(0)
    sd = np.where(sd > 0, sd, 1.0)
    return (Xfit - mu) / sd, (Xval - mu) / sd, (Xte - mu) / sd, yfit, yval, yte


MNIST1D_FIT, MNIST1D_VAL = 600, 300  # the digits case's fitting and validation sizes (599, 300), drawn from MNIST-1D's 4000


def mnist1d_validation_split(seed: int) -> tuple[np.ndarray, ...]:
    """A stratified draw of 600 fitting and 300 validation sequences per seed from MNIST-1D's training split,
    and its fixed test split; all standardised (per position) with the fitting part's statistics:
    Xfit (600, 40), Xval (300, 40), Xte (1000, 40), yfit, yval, yte."""
    from sklearn.model_selection import train_test_split

    Xtr, ytr, Xte, yte = data.dataset("mnist1d")
    Xfit, Xval, yfit, yval = train_test_split(
        Xtr.astype(np.float64), ytr, train_size=MNIST1D_FIT, test_size=MNIST1D_VAL, stratify=ytr, random_state=seed
    )
    mu, sd = Xfit.mean(0), Xfit.std(0)
    sd = np.where(sd > 0, sd, 1.0)
    return (Xfit - mu) / sd, (Xval - mu) / sd, (Xte - mu) / sd, yfit, yval, yte


VALIDATION_SPLITS = {"digits": digits_validation_split, "mnist1d": mnist1d_validation_split}


@functools.cache
def sigmoid_net_validated(seeds: tuple[int, ...], epochs: int, batch: int = 64, momentum: float = 0.9, dataset: str = "digits") -> dict:
    """The sigmoid net of ``_train_sigmoid_nets`` at every (hidden, rate) of GRIDS[dataset]['sigmoid net'], fitted on the
    fitting part of ``VALIDATION_SPLITS[dataset]``; per seed the configuration with the best validation accuracy.
    Returns 'test' (S,): that net's test accuracy, 'choice' (S,): its index in the grid, 'val' (S, grid size)."""
    splits = [VALIDATION_SPLITS[dataset](s) for s in seeds]
    train = [(s[0], s[3]) for s in splits]
    evals = [[(s[1], s[4]) for s in splits], [(s[2], s[5]) for s in splits]]
    grid = GRIDS[dataset]["sigmoid net"]
    val, test = np.zeros((len(seeds), len(grid))), np.zeros((len(seeds), len(grid)))  # (S, G)
    for h in dict.fromkeys(h for h, _ in grid):  # one batched run per hidden width, its rates on the run axis
        cols = [j for j, (hj, _) in enumerate(grid) if hj == h]
        v, t = _train_sigmoid_nets(seeds, train, evals, h, tuple(grid[j][1] for j in cols), epochs, batch, momentum)
        val[:, cols], test[:, cols] = v, t
    choice = val.argmax(axis=1)
    return {"test": test[np.arange(len(seeds)), choice], "choice": choice, "val": val}


def _validated(fits, val, test) -> tuple[float, int]:
    """(test accuracy, grid index) of the configuration with the best validation accuracy (the first on ties):
    ``fits`` yields fitted models in grid order; ``val`` and ``test`` score one of them."""
    fitted = list(fits)
    j = int(np.argmax([val(m) for m in fitted]))
    return float(test(fitted[j])), j


class Forest:
    """A fitted random forest (:func:`random_forest`): its trees and class labels, with scikit-learn's prediction methods."""

    def __init__(self, trees: list, classes: np.ndarray):
        self.trees, self.classes_ = trees, classes

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """The trees' class probabilities summed in tree order, divided by their number (``predict_proba``'s arithmetic): (m, classes)."""
        X = np.ascontiguousarray(X, dtype=np.float32)
        proba = np.zeros((len(X), len(self.classes_)))
        for tree in self.trees:
            proba += tree.predict(X)[:, : len(self.classes_)]
        proba /= len(self.trees)
        return proba

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self.classes_.take(np.argmax(self.predict_proba(X), axis=1))

    def score(self, X: np.ndarray, y: np.ndarray) -> float:
        """Share of correct predictions (``accuracy_score``)."""
        return float(np.mean(self.predict(X) == y))


def random_forest(X: np.ndarray, y: np.ndarray, max_features, seed: int, n_trees: int = 100) -> Forest:
    """scikit-learn's ``RandomForestClassifier(n_estimators=n_trees, max_features=max_features, random_state=seed)``
    fitted on (X, y), without the estimator's per-tree bookkeeping (a cloned estimator, its checks, two fresh
    random generators and a joblib task per tree: half the CPU of a forest of 100 trees on 600 digits).

    Each tree is grown by scikit-learn's own builder from the same random numbers (the tree seeds the forest
    draws, the bootstrap counts as sample weights, the splitter's generator seeded like the tree's) with the
    settings the estimator's defaults give (Gini, best split, 2 samples to split, 1 per leaf, no depth limit);
    tests/test_lab_exact.py checks that the probabilities equal the estimator's bit for bit.  Those builders are
    scikit-learn's private modules: where a release moves or changes them, the public estimator grows the same forest."""
    try:
        from sklearn.tree._classes import CRITERIA_CLF, DENSE_SPLITTERS, DepthFirstTreeBuilder, Tree
    except ImportError:
        return _estimator_forest(X, y, max_features, seed, n_trees)
    try:
        return _built_forest(X, y, max_features, seed, n_trees, (CRITERIA_CLF, DENSE_SPLITTERS, DepthFirstTreeBuilder, Tree))
    except TypeError:  # a changed constructor signature
        return _estimator_forest(X, y, max_features, seed, n_trees)


def _estimator_forest(X: np.ndarray, y: np.ndarray, max_features, seed: int, n_trees: int):
    """The public ``RandomForestClassifier``: the same forest as :func:`random_forest`, at twice the CPU."""
    from sklearn.ensemble import RandomForestClassifier

    return RandomForestClassifier(n_estimators=n_trees, max_features=max_features, random_state=seed).fit(X, y)


def _built_forest(X: np.ndarray, y: np.ndarray, max_features, seed: int, n_trees: int, private: tuple) -> Forest:
    CRITERIA_CLF, DENSE_SPLITTERS, DepthFirstTreeBuilder, Tree = private
    Xf = np.ascontiguousarray(X, dtype=np.float32)
    classes, codes = np.unique(y, return_inverse=True)
    yf = np.ascontiguousarray(codes.reshape(-1, 1), dtype=np.float64)
    n, d = Xf.shape
    n_classes = np.array([len(classes)], dtype=np.intp)
    per_split, deepest = features_per_split(max_features, d), np.iinfo(np.int32).max
    forest_rng = np.random.RandomState(seed)
    tree_seeds = [forest_rng.randint(deepest) for _ in range(n_trees)]  # the forest's draw per tree, in order
    boot, split_rng = np.random.RandomState(0), np.random.RandomState(0)  # reseeded per tree: a new generator costs 60 times more
    trees = []
    for s in tree_seeds:
        boot.seed(s)
        weight = np.bincount(boot.randint(0, n, n).astype(np.int32), minlength=n).astype(np.float64)
        split_rng.seed(s)  # the splitter draws from it when the tree is built
        splitter = DENSE_SPLITTERS["best"](CRITERIA_CLF["gini"](1, n_classes), per_split, 1, 0.0, split_rng, None)
        tree = Tree(d, n_classes, 1)
        DepthFirstTreeBuilder(splitter, 2, 1, 0.0, deepest, 0.0).build(tree, Xf, yf, weight, None)
        trees.append(tree)
    return Forest(trees, classes)


def _accuracy(model, X: np.ndarray, y: np.ndarray) -> float:
    """``model.score(X, y)`` of a scikit-learn classifier: the share of its predictions equal to ``y``, the same number
    as ``accuracy_score`` (the mean of the matches), without that function's checks of the labels' types."""
    return float(np.mean(model.predict(X) == y))


def _rbf(sq_dist: np.ndarray, gamma: float) -> np.ndarray:
    """scikit-learn's rbf_kernel from precomputed squared distances: the same two operations (scale by -gamma, exp)."""
    K = sq_dist * -gamma
    return np.exp(K, out=K)


@functools.cache
def classical_validated(seed: int, dataset: str = "digits") -> dict[str, tuple[float, int]]:
    """The SVM (RBF), random forest and decision tree, each at every configuration of its grid (GRIDS[dataset])
    fitted on the fitting part of ``VALIDATION_SPLITS[dataset](seed)``; per model the
    configuration with the best validation accuracy (the first on ties).  Returns model -> (test accuracy
    of that fitted model, its index in the grid).

    The SVM's RBF kernel matrices are computed once per gamma and shared by every C (libsvm on a
    precomputed kernel solves the same problem as SVC(C, gamma) without evaluating the kernel again),
    and the squared distances under them once per split: exp(-gamma * D) with D scikit-learn's own
    squared euclidean distances is its rbf_kernel operation for operation, so the kernels are the same bits."""
    from sklearn.metrics.pairwise import euclidean_distances
    from sklearn.svm import SVC
    from sklearn.tree import DecisionTreeClassifier

    Xfit, Xval, Xte, yfit, yval, yte = VALIDATION_SPLITS[dataset](seed)
    grids = GRIDS[dataset]
    out = {}
    with _one_blas_thread():
        # fitting and validation kernels per gamma; the test kernel only for the chosen model (its rows are half the work)
        dist = {part: euclidean_distances(X, Xfit, squared=True) for part, X in (("fit", Xfit), ("val", Xval))}
        kernels = {g: tuple(_rbf(dist[part], g) for part in ("fit", "val")) for g in dict.fromkeys(g for _, g in grids["SVM"])}
        svms = ((SVC(C=c, kernel="precomputed").fit(kernels[g][0], yfit), g) for c, g in grids["SVM"])
        out["SVM"] = _validated(
            svms,
            lambda m: _accuracy(m[0], kernels[m[1]][1], yval),
            lambda m: _accuracy(m[0], _rbf(euclidean_distances(Xte, Xfit, squared=True), m[1]), yte),
        )
        forests = (random_forest(Xfit, yfit, f, seed) for f in grids["random forest"])
        out["random forest"] = _validated(forests, lambda m: m.score(Xval, yval), lambda m: m.score(Xte, yte))
        trees = (DecisionTreeClassifier(max_depth=d, random_state=seed).fit(Xfit, yfit) for d in grids["decision tree"])
        out["decision tree"] = _validated(trees, lambda m: _accuracy(m, Xval, yval), lambda m: _accuracy(m, Xte, yte))
    return out
