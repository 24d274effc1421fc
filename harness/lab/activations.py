"""Activations: derivatives by autograd and difference quotients, dying ReLU units, training speed to a target error.

Pure functions that return numbers and arrays.  The ReLU-vs-tanh speed runs train every (seed,
rate) pair in one batched network (weights with a leading run axis R).
"""

from __future__ import annotations

import functools
import math

import numpy as np
import torch

from harness.lab import data, runtime, spatial, stacked

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


def training_tensors(dataset: str) -> tuple[torch.Tensor, torch.Tensor]:
    """The training set a speed run learns and is scored on: X (n, d) float32, y (n,) int64.

    'digits': all 1797 standardised digits (d = 64); 'mnist1d': MNIST-1D's 4000 training sequences (d = 40,
    already at mean 0 and standard deviation 1 as the generator leaves them)."""
    if dataset == "digits":
        return data.digits_tensors()
    Xtr, ytr, _, _ = data.dataset(dataset)
    return torch.tensor(np.asarray(Xtr)), torch.tensor(np.asarray(ytr))


def _hidden_and_logits(X: torch.Tensor, W: list, b: list) -> tuple[list[torch.Tensor], torch.Tensor]:
    """A stacked ReLU MLP's hidden outputs per layer, (R, n, width) each, and its logits (R, n, 10); X: (R, n, d)."""
    hs, h = [], X
    for w, c in zip(W[:-1], b[:-1]):
        h = torch.baddbmm(c, h, w).relu_()  # in place: the same values and gradient (autograd's ReLU backward reads the output)
        hs.append(h)
    return hs, torch.baddbmm(b[-1], h, W[-1])


def _full(X: torch.Tensor, R: int) -> torch.Tensor:
    return X.expand(R, *X.shape)


@functools.cache
@runtime.unfilled_allocations()  # every kernel here writes what it allocates: the same values without the NaN fill
def dying_runs(seeds: tuple, width: int, lrs: tuple, epochs: int, dataset: str = "digits") -> list[list[dict]]:
    """Two ReLU hidden layers (He init) take one SGD step of each rate in ``lrs`` on 128 training examples of
    :func:`training_tensors` ``(dataset)``, then ``epochs`` epochs of SGD at DIE_SMALL (batch 128; a seed's
    batch and order are the same for every rate).  Every (seed, rate) pair is one net on a run axis.  Dead
    shares are over the whole training set.  Returns, per seed and rate, a dict: 'loss_before', 'loss_after'
    (nats, whole training set), 'dead_step' (share per hidden layer), 'grad_dead' (largest |gradient| of a
    dead last-layer unit's incoming weights on the whole set), 'grad_live' (median over live units); with
    ``epochs``: 'dead_trained', 'kept' (share of the step's dead units still dead) and 'train_error'."""
    X, y = training_tensors(dataset)
    n, S, L = len(X), len(seeds), len(lrs)
    R = S * L
    W, b = stacked.module_weights(seeds, [X.shape[1], width, width, 10], "he", repeat=L)
    params = [p.clone().requires_grad_(True) for p in W + b]
    W, b = params[:3], params[3:]
    lr = torch.tensor([float(a) for _ in seeds for a in lrs])[:, None, None]
    rngs = [np.random.default_rng([s, 1]) for s in seeds]
    first = np.stack([r.choice(n, size=DIE_BATCH, replace=False) for r in rngs])  # (S, batch)
    per_epoch = n // DIE_BATCH
    later = [np.concatenate([r.permutation(n)[: per_epoch * DIE_BATCH] for _ in range(epochs)]) for r in rngs] if epochs else []
    yR = _full(y, R)

    def step(idx: np.ndarray, rate: torch.Tensor) -> None:  # idx (S, batch): one SGD step of every run
        i = torch.from_numpy(np.repeat(idx, L, axis=0))
        loss = stacked.run_losses(_hidden_and_logits(X[i], W, b)[1], y[i])
        stacked.sgd_step_(params, torch.autograd.grad(loss.sum(), params), rate)

    with torch.no_grad():
        loss0 = stacked.run_losses(_hidden_and_logits(_full(X, R), W, b)[1], yR).numpy()
    step(first, lr)
    hs, logits = _hidden_and_logits(_full(X, R), W, b)
    loss1 = stacked.run_losses(logits, yR)
    g = torch.autograd.grad(loss1.sum(), W[1])[0].abs().amax(dim=1).numpy()  # (R, width): full-data gradient, last hidden layer
    dead = [(h.detach().amax(dim=1) <= 0).numpy() for h in hs]  # per layer (R, width)
    for e in range(epochs * per_epoch):
        step(np.stack([o[e * DIE_BATCH : (e + 1) * DIE_BATCH] for o in later]), DIE_SMALL)
    out = [[None] * L for _ in seeds]
    with torch.no_grad():
        hs2, logits2 = _hidden_and_logits(_full(X, R), W, b)
        dead2 = [(h.amax(dim=1) <= 0).numpy() for h in hs2]
        err2 = stacked.error(logits2, y).numpy()
    for r in range(R):
        d = dead[-1][r]
        o = {
            "loss_before": float(loss0[r]),
            "loss_after": float(loss1[r].detach()),
            "dead_step": [float(a[r].mean()) for a in dead],
            "grad_dead": float(g[r][d].max()) if d.any() else 0.0,
            "grad_live": float(np.median(g[r][~d])) if (~d).any() else 0.0,
        }
        if epochs:
            o["dead_trained"] = [float(a[r].mean()) for a in dead2]
            o["kept"] = float((d & dead2[-1][r]).sum() / max(int(d.sum()), 1))
            o["train_error"] = float(err2[r])
        out[r // L][r % L] = o
    return out


def training_error_within(X: torch.Tensor, y: torch.Tensor, logits, R: int, allowed: np.ndarray, chunks: int = 8) -> np.ndarray:
    """Each stacked run's error on all of (X, y), or inf where it has more than ``allowed`` errors: (R,).

    X: (n, d); ``logits(i, x)``: the logits (len(i), m, 10) of the runs ``i`` (a long tensor) on x (len(i), m, d);
    ``allowed``: (R,) error counts.  The rows are scored
    in ``chunks`` consecutive parts; a run whose errors so far exceed its allowance is not scored further
    (errors only add up, so its error is above the allowance for sure): exact where it matters, and a run
    far from its target costs a fraction of a full evaluation."""
    n = len(X)
    count = np.zeros(R)
    live = np.arange(R)
    with torch.no_grad():
        for part in np.array_split(np.arange(n), chunks):
            i, rows = torch.from_numpy(live), torch.from_numpy(part)
            out = logits(i, X[rows].expand(len(live), len(part), X.shape[1]))
            count[live] += (out.argmax(-1) != y[rows]).sum(-1).numpy()
            live = live[count[live] <= allowed[live]]
            if not len(live):
                break
    out = np.full(R, np.inf)
    out[live] = count[live] / n
    return out


def stacked_init(seeds: tuple, n_lrs: int, init: str = "he", d: int = 64) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Weights of each seed's MLP (``init``: He by default), repeated per rate: W (R, in, out), b (R, 1, out), R = seeds x rates."""
    return stacked.module_weights(seeds, [d] + [SPEED_WIDTH] * SPEED_DEPTH + [10], init, repeat=n_lrs)


def cnn_init(seeds: tuple, n_lrs: int, init: str, d: int) -> list[torch.Tensor]:
    """The MNIST-1D paper's CNN (``spatial.NETS_1D['CNN']``) per seed, repeated per rate: weights N(0, var) with
    var = 2/fan_in ('he') or 2/(fan_in + fan_out) ('xavier'; a kernel's fan_out is its maps times its taps), biases 0."""
    taps = dict(zip(("k1", "k2", "k3", "w"), (*spatial.CNN_KERNELS, 1)))
    gens = [torch.Generator().manual_seed(int(s)) for s in seeds]
    out = []
    for name, shape, fan_in in spatial.NETS_1D["CNN"](d):
        if name not in taps:  # a bias
            out.append(torch.zeros(len(seeds) * n_lrs, *shape))
            continue
        var = 2.0 / fan_in if init == "he" else 2.0 / (fan_in + shape[1] * taps[name])
        draws = [torch.randn(*shape, generator=g) * math.sqrt(var) for g in gens]
        out.append(torch.stack([w for w in draws for _ in range(n_lrs)]))
    return out


def speed_logits(model: str, params: list[torch.Tensor], x: torch.Tensor, f) -> torch.Tensor:
    """Logits of the stacked speed nets: 'mlp' (params W + b of :func:`stacked_init`) or 'cnn' (:func:`cnn_init`)."""
    if model == "cnn":
        return spatial.forward("CNN", params, x, f)
    k = len(params) // 2
    return stacked.forward(x, params[:k], params[k:], f)


_ACT_NAME = {torch.relu_: "relu", torch.tanh_: "tanh"}  # the in-place activations of the speed MLPs, by stacked's names


def mlp_loss_grads(params: list[torch.Tensor], x: torch.Tensor, y: torch.Tensor, f_) -> tuple[torch.Tensor, torch.Tensor, list]:
    """The stacked speed MLP's logits (R, m, 10), each run's mean cross-entropy (R,) and the gradient of their sum for
    ``params`` (W + b of :func:`stacked_init`), with ``f_`` = torch.relu_ or torch.tanh_ in the hidden layers.

    The backward is written out: the products autograd runs for ``baddbmm`` (BaddbmmBackward: the bias's gradient summed
    over the rows, the weight's ``h^T g``, the input's ``g W^T``) and the activation's backward from its output
    (ReluBackward's threshold_backward, TanhBackward's tanh_backward), bit for bit autograd's gradients without its
    bookkeeping; the loss's gradient for the logits by autograd itself, in the layout it hands on."""
    k = len(params) // 2
    W, b = [p.detach() for p in params[:k]], [p.detach() for p in params[k:]]
    hs, z = stacked.mlp_inputs(x, W, b, _ACT_NAME[f_])
    z.requires_grad_(True)
    loss = stacked.run_losses(z, y)
    (g,) = torch.autograd.grad(loss.sum(), z)
    gW, gb = stacked.mlp_grads(hs, W, g, _ACT_NAME[f_])
    return z.detach(), loss.detach(), gW + gb


def cnn_loss_grads(params: list[torch.Tensor], x: torch.Tensor, y: torch.Tensor, act: str) -> tuple[torch.Tensor, torch.Tensor, list]:
    """:func:`mlp_loss_grads` for the CNN of :func:`cnn_init` (``act``: 'relu' or 'tanh'): logits, each run's mean
    cross-entropy and the parameters' gradients, the backward written out by ``spatial.cnn_grads`` (bit for bit autograd's)."""
    p = [q.detach() for q in params]
    saved, z = spatial.cnn_inputs(p, x, act)
    z.requires_grad_(True)
    loss = stacked.run_losses(z, y)
    (g,) = torch.autograd.grad(loss.sum(), z)
    return z.detach(), loss.detach(), spatial.cnn_grads(saved, p, g, act)


def _sub_logits(model: str, params: list[torch.Tensor], f, i: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    if len(i) < len(params[0]):  # i: an increasing subset of the runs; all of them needs no copy
        params = [p[i] for p in params]
    return speed_logits(model, params, x, f)


def _race_(reached: np.ndarray, todo: np.ndarray, n_seeds: int, now: float, cap: float) -> None:
    """Stop, in place, the runs of a rate that can no longer be a target's best rate (racing, as in Maron & Moore 1994).

    reached, todo: (R, T), runs seed-major (R = n_seeds x rates).  A rate's score is the mean over seeds of log2 epochs; an
    open run's epochs are more than ``now`` and at most ``cap``.  When a rate's lowest possible score exceeds the highest
    possible score of some rate, it cannot be the best (nor tie it): its open runs stop, recorded at ``now``, a lower bound.
    The best rate's epochs and the choice itself are exactly those of a run without racing."""
    T = reached.shape[1]
    low = np.log2(np.where(todo, now, reached)).reshape(n_seeds, -1, T).mean(0)  # (rates, T)
    high = np.log2(np.where(todo, cap, reached)).reshape(n_seeds, -1, T).mean(0)
    out = np.tile(low > high.min(axis=0), (n_seeds, 1)) & todo  # (R, T)
    reached[out] = now
    todo[out] = False


@functools.cache
@runtime.unfilled_allocations()  # every kernel here writes what it allocates: the same values without the NaN fill
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
    screen_from: int = 0,
    model: str = "mlp",
    apart: bool = False,
) -> np.ndarray:
    """Epochs until the full-training-set error first falls to each target: (n_seeds, n_lrs, n_targets).

    Every (seed, rate) pair trains in one batched network (SGD, momentum 0.9, batch 128, no regularisation,
    AlexNet's recipe) on :func:`training_tensors` ``(dataset)``; the error is evaluated on the whole training
    set after every ``every`` steps.  A run that does not reach a target within ``cap`` epochs, or whose
    loss is no longer finite (diverged), counts as ``cap``.  ``order`` picks the mini-batch order; ``init``
    the weight init (a scheme of ``models.mlp``).  ``screen``: evaluate only the runs whose error on their
    own last ``every`` mini-batches (measured before each update, free) is at most the largest open target
    plus ``screen``; a run far above every open target skips the full evaluation (a saving, not a change of
    the measurement, as long as ``screen`` is wide against the drop of error within ``every`` steps).  The
    screen waits until a run has reached targets[:screen_from] (the error falls fast on the way there).
    ``model``: 'mlp' (SPEED_DEPTH hidden layers of SPEED_WIDTH) or 'cnn' (the MNIST-1D paper's CNN).
    Racing (:func:`_race_`): a rate that can no longer be the best one for a target (mean log2 epochs over seeds) stops
    for that target at the next evaluation; its epochs there are lower bounds.  The best rate's epochs are unchanged.
    ``apart``: each target is screened as in a call with that target alone (a run is evaluated for a target whose own
    screen passes it, and a hit counts only there; ``screen_from`` > 0 then means no screen): the same epochs as one call
    per target, bit for bit, with the training shared (a run's training does not depend on its targets).
    """
    X, y = training_tensors(dataset)
    n = len(X)
    f_ = {"relu": torch.relu_, "tanh": torch.tanh_}[act]  # in place, for evaluation without autograd
    if model == "cnn":
        start = cnn_init(seeds, len(lrs), init, X.shape[1])
    else:
        W, b = stacked_init(seeds, len(lrs), init, X.shape[1])
        start = W + b
    params = [p.clone().requires_grad_(True) for p in start]
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
        if model == "mlp":
            logits, loss, grads = mlp_loss_grads(params, xb, yb, f_)
        else:
            logits, loss, grads = cnn_loss_grads(params, xb, yb, act)
        stacked.sgd_step_(params, grads, lr, vel, SPEED_MOMENTUM)
        if screen is not None:
            window += stacked.error(logits.detach(), yb).numpy()
        todo[alive[~np.isfinite(loss.detach().numpy())]] = False  # diverged: counts as the cap
        if (t + 1) % every == 0 or t + 1 == steps:
            open_ = todo[alive].any(axis=1)
            due = todo[alive]  # (alive, T): the targets a run is evaluated for
            if screen is not None and apart:
                due = due & ((window / every)[:, None] <= tg[None, :] + screen) if not screen_from else due
                open_ = due.any(axis=1)
                window[:] = 0
            elif screen is not None:
                near = window / every <= np.where(todo[alive], tg[None, :], -np.inf).max(axis=1) + screen
                open_ &= near | todo[alive, :screen_from].any(axis=1)
                window[:] = 0
            local = np.flatnonzero(open_)
            if len(local):
                runs = alive[local]
                allowed = np.where(todo[runs], tg[None, :], -np.inf).max(axis=1) * n  # errors the largest open target allows
                sub = [p.detach()[torch.from_numpy(local)] for p in params]
                err = training_error_within(X, y, functools.partial(_sub_logits, model, sub, f_), len(local), allowed)
                hit = (err[:, None] <= tg[None, :]) & due[local]
                rows, cols = np.nonzero(hit)
                reached[runs[rows], cols] = (t + 1) / per_epoch
                todo[runs[rows], cols] = False
            _race_(reached, todo, len(seeds), (t + 1) / per_epoch, cap)
        keep = todo[alive].any(axis=1)
        if not keep.any():
            break
        if not keep.all():  # drop finished and diverged runs from the stack: the others train on unchanged
            k = torch.from_numpy(np.flatnonzero(keep))
            params = [p.detach()[k].requires_grad_(True) for p in params]
            vel, lr, idx = [v[k] for v in vel], lr[k], idx[k]
            alive, window = alive[keep], window[keep]
    return reached.reshape(len(seeds), len(lrs), T)
