"""Activations: derivatives by autograd and difference quotients, dying ReLU units, training speed to a target error.

Pure functions that return numbers and arrays.  The ReLU-vs-tanh speed runs train every (seed,
rate) pair in one batched network (weights with a leading run axis R).
"""

from __future__ import annotations

import functools

import numpy as np
import torch

from harness.lab import data, models, stacked

DIE_SMALL = 0.1  # the dying-ReLU runs' ordinary training rate after the one large step
DIE_BATCH = 128  # the one large step of the dying-ReLU runs is taken on this many digits
# ReLU vs tanh: AlexNet's recipe at digit scale (see the catalogue): hidden layers, width, batch, momentum
SPEED_DEPTH, SPEED_WIDTH, SPEED_BATCH, SPEED_MOMENTUM = 3, 64, 128, 0.9


def grid() -> torch.Tensor:
    """x in [-10, 10] in steps of 1e-3, float64, with 0 exactly on the grid: (20001,)."""
    return torch.arange(-10_000, 10_001, dtype=torch.float64) / 1000


def derivative(f, x: torch.Tensor) -> torch.Tensor:
    """f'(x) elementwise by autograd: same shape as x."""
    x = x.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(f(x).sum(), x)
    return g.detach()


def one_sided(f, h: float) -> tuple[float, float]:
    """Right and left difference quotients of f at 0 with step h, float64."""
    z, hh = torch.zeros((), dtype=torch.float64), torch.tensor(h, dtype=torch.float64)
    return float((f(hh) - f(z)) / hh), float((f(z) - f(-hh)) / hh)


def dead_units(net: torch.nn.Sequential, X: torch.Tensor) -> list[np.ndarray]:
    """Per hidden ReLU layer, which units output 0 on every row of X: list of (width,) bool."""
    out, h = [], X
    with torch.no_grad():
        for m in net:
            h = m(h)
            if isinstance(m, torch.nn.ReLU):
                out.append((h.max(dim=0).values <= 0).numpy())
    return out


def sgd_step(net, xb, yb, lr: float) -> None:
    net.zero_grad(set_to_none=True)
    torch.nn.functional.cross_entropy(net(xb), yb).backward()
    with torch.no_grad():
        for p in net.parameters():
            p -= lr * p.grad


def full_loss(net, X, y) -> float:
    with torch.no_grad():
        return float(torch.nn.functional.cross_entropy(net(X), y))


def training_tensors(dataset: str) -> tuple[torch.Tensor, torch.Tensor]:
    """The training set a speed run learns and is scored on: X (n, d) float32, y (n,) int64.

    'digits': all 1797 standardised digits (d = 64); 'mnist1d': MNIST-1D's 4000 training sequences (d = 40,
    already at mean 0 and standard deviation 1 as the generator leaves them)."""
    if dataset == "digits":
        return data.digits_tensors()
    Xtr, ytr, _, _ = data.dataset(dataset)
    return torch.tensor(np.asarray(Xtr)), torch.tensor(np.asarray(ytr))


@functools.cache
def dying_run(seed: int, width: int, lr: float, epochs: int, dataset: str = "digits") -> dict:
    """Two ReLU hidden layers (He init) take one SGD step of rate ``lr`` on 128 training examples of
    :func:`training_tensors` ``(dataset)``, then ``epochs`` epochs of SGD at DIE_SMALL (same batch and order
    for every rate).  Dead shares are over the whole training set."""
    X, y = training_tensors(dataset)
    net = models.mlp(X.shape[1], width, 2, 10, "relu", "he", seed)
    rng = np.random.default_rng([seed, 1])
    idx = torch.tensor(rng.choice(len(X), size=DIE_BATCH, replace=False))
    loss0 = full_loss(net, X, y)
    sgd_step(net, X[idx], y[idx], lr)
    after = dead_units(net, X)
    net.zero_grad(set_to_none=True)
    torch.nn.functional.cross_entropy(net(X), y).backward()  # full-data gradient at the new weights
    g = models.linears(net)[-2].weight.grad.abs().amax(dim=1).numpy()  # per unit of the last hidden layer
    out = {
        "loss_before": loss0,
        "loss_after": full_loss(net, X, y),
        "dead_step": [float(a.mean()) for a in after],
        "grad_dead": float(g[after[-1]].max()) if after[-1].any() else 0.0,
        "grad_live": float(np.median(g[~after[-1]])) if (~after[-1]).any() else 0.0,
    }
    for _ in range(epochs):
        perm = rng.permutation(len(X))
        for k in range(len(X) // DIE_BATCH):
            b = torch.tensor(perm[k * DIE_BATCH : (k + 1) * DIE_BATCH])
            sgd_step(net, X[b], y[b], DIE_SMALL)
    if epochs:
        later = dead_units(net, X)
        out["dead_trained"] = [float(a.mean()) for a in later]
        out["kept"] = float((after[-1] & later[-1]).sum() / max(int(after[-1].sum()), 1))
        with torch.no_grad():
            out["train_error"] = float((net(X).argmax(1) != y).float().mean())
    return out


def stacked_init(seeds: tuple, n_lrs: int, init: str = "he", d: int = 64) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Weights of each seed's MLP (``init``: He by default), repeated per rate: W (R, in, out), b (R, 1, out), R = seeds x rates."""
    return stacked.module_weights(seeds, [d] + [SPEED_WIDTH] * SPEED_DEPTH + [10], init, repeat=n_lrs)


@functools.cache
def epochs_to_targets(
    act: str,
    seeds: tuple,
    order: int,
    lrs: tuple,
    targets: tuple,
    cap: int,
    init: str = "he",
    dataset: str = "digits",
    every: int = 1,
    screen: float | None = None,
) -> np.ndarray:
    """Epochs until the full-training-set error first falls to each target: (n_seeds, n_lrs, n_targets).

    Every (seed, rate) pair trains in one batched network (SGD, momentum 0.9, batch 128, no regularisation,
    AlexNet's recipe) on :func:`training_tensors` ``(dataset)``; the error is evaluated on the whole training
    set after every ``every`` steps.  A run that does not reach a target within ``cap`` epochs, or whose
    loss is no longer finite (diverged), counts as ``cap``.  ``order`` picks the mini-batch order; ``init``
    the weight init (a scheme of ``models.mlp``).  ``screen``: evaluate only the runs whose error on their
    own last ``every`` mini-batches (measured before each update, free) is at most the largest open target
    plus ``screen``; a run far above every target skips the full evaluation (a saving, not a change of the
    measurement, as long as ``screen`` is wide against the drop of error within ``every`` steps).
    """
    X, y = training_tensors(dataset)
    n, f = len(X), {"relu": torch.relu, "tanh": torch.tanh}[act]
    f_ = {"relu": torch.relu_, "tanh": torch.tanh_}[act]  # in place, for evaluation without autograd
    Ws, bs = stacked_init(seeds, len(lrs), init, X.shape[1])
    params = [p.clone().requires_grad_(True) for p in Ws + bs]
    vel = [torch.zeros_like(p) for p in params]
    lr = torch.tensor([float(a) for _ in seeds for a in lrs])[:, None, None]
    per_epoch = n // SPEED_BATCH
    steps = cap * per_epoch
    orders = stacked.batch_orders(list(seeds), [n] * len(seeds), steps, SPEED_BATCH, (2, order), size_in_key=False)
    idx = torch.tensor(np.repeat(orders, len(lrs), axis=0))  # (R, steps, batch): a seed's order for each of its rates

    R, T = idx.shape[0], len(targets)
    reached = np.full((R, T), float(cap))
    todo = np.ones((R, T), dtype=bool)
    tg = np.array(targets)
    alive = np.arange(R)  # the runs still training (a run leaves the stack once it is done or diverged)
    window = np.zeros(R)  # summed mini-batch error since the last evaluation, per alive run
    for t in range(steps):
        xb, yb = X[idx[:, t]], y[idx[:, t]]
        Ws, bs = params[: SPEED_DEPTH + 1], params[SPEED_DEPTH + 1 :]
        logits = stacked.forward(xb, Ws, bs, f)
        loss = stacked.run_losses(logits, yb)
        grads = torch.autograd.grad(loss.sum(), params)
        stacked.sgd_step_(params, grads, lr, vel, SPEED_MOMENTUM)
        if screen is not None:
            window += stacked.error(logits.detach(), yb).numpy()
        todo[alive[~np.isfinite(loss.detach().numpy())]] = False  # diverged: counts as the cap
        if (t + 1) % every == 0 or t + 1 == steps:
            open_ = todo[alive].any(axis=1)
            if screen is not None:
                open_ &= window / every <= np.where(todo[alive], tg[None, :], -np.inf).max(axis=1) + screen
                window[:] = 0
            local = np.flatnonzero(open_)
            if len(local):
                with torch.no_grad():
                    a = torch.from_numpy(local)
                    logits = stacked.forward(X.expand(len(local), n, X.shape[1]), [w[a] for w in Ws], [b[a] for b in bs], f_)
                    err = stacked.error(logits, y).numpy()
                runs = alive[local]
                hit = (err[:, None] <= tg[None, :]) & todo[runs]
                rows, cols = np.nonzero(hit)
                reached[runs[rows], cols] = (t + 1) / per_epoch
                todo[runs[rows], cols] = False
        keep = todo[alive].any(axis=1)
        if not keep.any():
            break
        if not keep.all():  # drop finished and diverged runs from the stack: the others train on unchanged
            k = torch.from_numpy(np.flatnonzero(keep))
            params = [p.detach()[k].requires_grad_(True) for p in params]
            vel, lr, idx = [v[k] for v in vel], lr[k], idx[k]
            alive, window = alive[keep], window[keep]
    return reached.reshape(len(seeds), len(lrs), T)
