"""Optimisers (SGD, momentum, RMSProp, Adam, AdaGrad) and the problems the optimiser claims run them on.

Pure functions: they build problems, train, and return numbers; they never assert, print or plot.

The update rules follow ``torch.optim`` exactly (PyTorch 2.x defaults, no weight decay):
- sgd:      w -= lr g
- momentum: b = 0.9 b + g (b = g at the first step);  w -= lr b
- rmsprop:  v = 0.99 v + 0.01 g^2;  w -= lr g / (sqrt(v) + 1e-8)          (Tieleman & Hinton 2012)
- adam:     m = 0.9 m + 0.1 g;  v = 0.999 v + 0.001 g^2;
            w -= lr / (1 - 0.9^t) * m / (sqrt(v) / sqrt(1 - 0.999^t) + 1e-8)  (Kingma & Ba 2014, Alg. 1)
- adagrad:  s = s + g^2;  w -= lr g / (sqrt(s) + 1e-10)                  (Duchi et al. 2011)
They work elementwise on numpy arrays or torch tensors whose leading axis indexes independent runs,
so a whole learning-rate grid (lr of shape (R, 1, ...)) trains in one loop.
:func:`update_deviation_under_rescaling` measures the per-parameter premise on ``torch.optim`` itself, and
:func:`gap_to_torch` checks that these rules reproduce ``torch.optim``'s weights.
"""

from __future__ import annotations

import numpy as np
import torch

from harness.lab import data, runtime, stacked, train
from harness.lab.generalisation import batch_loss_grad
from harness.lab.stacked import with_bias

RULES = ("sgd", "momentum", "rmsprop", "adam", "adagrad")
ADAM_BETAS, ADAM_EPS = (0.9, 0.999), 1e-8
RMSPROP_ALPHA, RMSPROP_EPS = 0.99, 1e-8
ADAGRAD_EPS, MOMENTUM = 1e-10, 0.9


def new_state(rule: str, w) -> dict:
    """Zeroed optimiser state for parameters shaped like ``w`` (numpy array or torch tensor)."""
    zeros = (lambda a: a * 0) if isinstance(w, np.ndarray) else torch.zeros_like
    return {
        "sgd": {},
        "momentum": {"b": None},
        "rmsprop": {"v": zeros(w)},
        "adam": {"m": zeros(w), "v": zeros(w)},
        "adagrad": {"s": zeros(w)},
    }[rule]


def step_(rule: str, w, g, state: dict, lr, t: int) -> None:
    """One update of ``w`` in place (t counts from 1).  ``lr`` broadcasts against ``w``: a scalar or (R, 1, ...).

    The state is updated in place and the temporaries reused: the same operations in the same order as the
    formulas above, so the same numbers to the last bit, with fewer arrays allocated per step."""
    if rule == "sgd":
        w -= lr * g
    elif rule == "momentum":
        if state["b"] is None:
            state["b"] = g * 1.0
        else:
            state["b"] *= MOMENTUM
            state["b"] += g
        w -= lr * state["b"]
    elif rule == "rmsprop":
        v = state["v"]
        v *= RMSPROP_ALPHA
        v += (1 - RMSPROP_ALPHA) * g * g
        u = lr * g
        u /= _plus_(v**0.5, RMSPROP_EPS)
        w -= u
    elif rule == "adam":
        b1, b2 = ADAM_BETAS
        m, v = state["m"], state["v"]
        m *= b1
        m += (1 - b1) * g
        v *= b2
        v += (1 - b2) * g * g
        denom = v**0.5
        denom /= (1 - b2**t) ** 0.5
        u = (lr / (1 - b1**t)) * m
        u /= _plus_(denom, ADAM_EPS)
        w -= u
    elif rule == "adagrad":
        s = state["s"]
        s += g * g
        u = lr * g
        u /= _plus_(s**0.5, ADAGRAD_EPS)
        w -= u
    else:
        raise ValueError(f"unknown rule {rule!r}; known: {', '.join(RULES)}")


def _plus_(a, eps: float):
    """a + eps in place (a is a temporary)."""
    a += eps
    return a


def standardised(name: str) -> tuple[np.ndarray, np.ndarray]:
    """A data set's pool of training examples with every feature at zero mean and unit variance (constant
    features left at 0): X (n, d) float64, y (n,).  'digits': all 1,797 8x8 digits; 'mnist1d': MNIST-1D's
    4,000 training sequences (length 40)."""
    if name == "digits":
        return data.standardised_digits()
    X, y, _, _ = data.dataset(name)
    X = X.astype(np.float64)
    mu, sd = X.mean(0), X.std(0)
    return (X - mu) / np.where(sd > 0, sd, 1.0), y


# -- per-parameter step sizes: rescaled gradients (torch.optim itself) -----------------------------

TORCH_OPTIMISERS = {
    "sgd": lambda p, lr: torch.optim.SGD(p, lr=lr),
    "momentum": lambda p, lr: torch.optim.SGD(p, lr=lr, momentum=MOMENTUM),
    "rmsprop": lambda p, lr: torch.optim.RMSprop(p, lr=lr),  # alpha 0.99, eps 1e-8
    "adam": lambda p, lr: torch.optim.Adam(p, lr=lr),  # betas (0.9, 0.999), eps 1e-8
    "adagrad": lambda p, lr: torch.optim.Adagrad(p, lr=lr),
}


def logistic_problem(n: int, d: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Synthetic logistic regression without intercept: X (n, d) N(0, 1) float64, labels (n,) in {0, 1} from a
    teacher with weights +-1 (random signs), 10% of labels flipped.

    From w = 0 the gradient is -E[(y - 1/2) x], about -0.32 t / sqrt(d) by symmetry: every weight's
    gradient has the same size, so none is near 0 by chance (its sampling noise is 0.5 / sqrt(n)).
    """
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n, d, generator=g, dtype=torch.float64)
    teacher = torch.randint(0, 2, (d,), generator=g).double() * 2 - 1
    y = (X @ teacher > 0).double()
    flip = torch.rand(n, generator=g, dtype=torch.float64) < 0.1
    return X, torch.where(flip, 1 - y, y)


def update_deviation_under_rescaling(rule: str, X: torch.Tensor, y: torch.Tensor, scale: torch.Tensor, lr: float, steps: int) -> dict:
    """How ``torch.optim``'s update changes when every gradient is multiplied by ``scale``, along one trajectory.

    X: (n, d); y: (n,) logistic regression without intercept, weights from 0; scale: (d,) one factor per
    weight (all equal: a rescaled loss).  Two optimisers of the same kind are fed the same trajectory's
    gradients, one as they are and one multiplied by ``scale``, so both see identical histories up to the
    factor (teacher forcing: the trajectory follows the unscaled optimiser, so the comparison isolates
    the update rule from chaotic drift).

    Returns 'deviation': max over steps and weights of |scaled update / update - 1| (0: the same step
    whatever the scale; SGD gives max |scale - 1|), 'grad_min' and 'scaled_grad_min': the smallest |gradient|
    of any weight at any step, unscaled and rescaled (what epsilon competes with), 'loss' per step (steps,).
    """
    a = torch.zeros(X.shape[1], dtype=torch.float64, requires_grad=True)
    b = torch.zeros_like(a, requires_grad=True)
    opt_a, opt_b = TORCH_OPTIMISERS[rule]([a], lr), TORCH_OPTIMISERS[rule]([b], lr)
    worst, g_min, g_scaled, losses = 0.0, float("inf"), float("inf"), []
    for _ in range(steps):
        opt_a.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(X @ a, y)
        loss.backward()
        with torch.no_grad():
            before = a.detach().clone()
            b.copy_(before)
            b.grad = a.grad * scale
            g_min = min(g_min, float(a.grad.abs().min()))
            g_scaled = min(g_scaled, float(b.grad.abs().min()))
        opt_a.step()
        opt_b.step()
        with torch.no_grad():
            worst = max(worst, float(((b - before) / (a - before) - 1).abs().max()))
        losses.append(float(loss.detach()))
    return {"deviation": worst, "grad_min": g_min, "scaled_grad_min": g_scaled, "loss": np.array(losses)}


def gap_to_torch(rule: str, X: torch.Tensor, y: torch.Tensor, lr: float, steps: int) -> float:
    """max |w_lib - w_torch| over ``steps`` steps when :func:`step_` and ``torch.optim`` are fed the same gradients.

    Both start from w = 0 on the logistic problem; the gradient is taken at torch's weights, so any gap
    is the update rules' own difference (float64 rounding only if they are the same algorithm).
    """
    w = torch.zeros(X.shape[1], dtype=torch.float64, requires_grad=True)
    mine = w.detach().clone()
    opt, state, gap = TORCH_OPTIMISERS[rule]([w], lr), new_state(rule, mine), 0.0
    for t in range(1, steps + 1):
        opt.zero_grad()
        torch.nn.functional.binary_cross_entropy_with_logits(X @ w, y).backward()
        step_(rule, mine, w.grad.detach().clone(), state, lr, t)
        opt.step()
        gap = max(gap, float((w.detach() - mine).abs().max()))
    return gap


# -- softmax regression on badly scaled features (numpy, whole grids at once) --------------------


def softmax_grid(
    X: np.ndarray, y: np.ndarray, classes: int, rules: tuple[str, ...], lrs: np.ndarray, steps: int, batch: int, l2: float, seed: int
) -> np.ndarray:
    """Final objective of mini-batch training from W = 0, every rule at every rate: (n_rules, n_lr).

    All runs see the same mini-batches (shuffled epochs drawn with ``seed``), so rules and rates
    differ only in their updates.  Diverged runs return inf or nan.
    """
    n = len(X)
    Xb, Y = with_bias(X), np.eye(classes)[y]
    R, L = len(rules), len(lrs)
    W = np.zeros((R, L, Xb.shape[1], classes))
    lr = np.asarray(lrs, float)[:, None, None]  # (L, 1, 1)
    states = [new_state(r, W[i]) for i, r in enumerate(rules)]
    rng = np.random.default_rng(seed)
    order = np.concatenate([rng.permutation(n) for _ in range(steps * batch // n + 1)])
    with np.errstate(over="ignore", invalid="ignore"):
        for t in range(1, steps + 1):
            Xi = Xb[order[(t - 1) * batch : t * batch]]
            z = Xi @ W  # (R, L, batch, c)
            # clipped at -60: exp(-60) ~ 1e-26 changes no probability, and it keeps exp out of the
            # subnormal range, which costs ~100x per operation on x86 when features span four decades
            z -= _last_axis_max(z)
            p = np.exp(np.maximum(z, -60.0, out=z), out=z)
            p /= p.sum(axis=-1, keepdims=True)
            p -= Y[order[(t - 1) * batch : t * batch]]
            G = np.swapaxes(Xi, 0, 1) @ p
            G /= batch
            G += l2 * W
            for i, r in enumerate(rules):
                step_(r, W[i], G[i], states[i], lr, t)
        return train.softmax_loss(W, X, y, l2)


def _last_axis_max(z: np.ndarray) -> np.ndarray:
    """``z.max(axis=-1, keepdims=True)`` as a running elementwise maximum over the last axis's slices: the same values
    (a maximum is exact, NaN wins either way), about 3x faster than numpy's reduction over a short last axis."""
    m = z[..., 0].copy()
    for i in range(1, z.shape[-1]):
        np.maximum(m, z[..., i], out=m)
    return m[..., None]


# -- one-hidden-layer ReLU networks, many runs batched ------------------------------------------


def _full_loss(params: list[torch.Tensor], X: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy on the whole set per run: (R,); nan/inf for diverged runs.  X (n, in), y (n,) shared by
    every run, or X (R, n, in), y (R, n) one set per run."""
    R = params[0].shape[0]
    X, y = (X, y) if X.dim() == 3 else (X.expand(R, *X.shape), y.expand(R, -1))
    z = stacked.forward(X, params[0::2], params[1::2])
    return torch.logsumexp(z, -1).mean(-1) - z.gather(-1, y[..., None]).squeeze(-1).mean(-1)


@runtime.unfilled_allocations()  # every kernel here writes what it allocates: the same values without the NaN fill
def train_mlps(
    X: torch.Tensor,
    y: torch.Tensor,
    width: int,
    inits: list[int],
    rule: str | tuple[str, ...],
    lrs: np.ndarray,
    steps: int,
    batch: int,
    order_seed: int | list[int],
    eval_every: int = 0,
    held_out: tuple[torch.Tensor, torch.Tensor] | None = None,
    groups: np.ndarray | None = None,
    curve_runs: int | None = None,
) -> dict:
    """Train R = len(inits) one-hidden-layer ReLU nets (He init, seed per run), run i at lrs[i].

    ``rule``: one rule for every run, or a tuple of rules that split the runs into equal consecutive
    blocks (e.g. ('adam', 'sgd') with R = 2 x 23: the first 23 runs Adam, the rest SGD), so several
    optimisers share one forward and backward pass per step.

    X: (n, in) float32; y: (n,) class indices.  Every run sees the same mini-batches (shuffled epochs
    from ``order_seed``), so runs differ only in their init and rate.  Several data sets or orders on one
    run axis: X (G, n, in), y (G, n), ``order_seed`` a list of G seeds (group g's shuffled epochs) and
    ``groups`` (R,) the group of each run (held_out then (G, m, in), (G, m)); each run computes exactly
    what it would alone.  Returns 'initial' and 'final' full-set training losses (R,); with ``eval_every``,
    'curve' (n_evals, R) at 'steps_at' (of the first ``curve_runs`` runs only, when given); with ``held_out``
    (X, y), 'held_out' final losses (R,) on it.  The backward pass is written out (:func:`stacked.mlp_grads` with
    :func:`generalisation.batch_loss_grad`), the same bits as autograd's.
    """
    R = len(inits)
    if groups is None:
        Xs, ys, seeds, at = X[None], y[None], [order_seed], None
    else:
        Xs, ys, seeds, at = X, y, list(order_seed), torch.as_tensor(np.asarray(groups), dtype=torch.long)
    G, n, classes = Xs.shape[0], Xs.shape[1], int(ys.max()) + 1
    per_run = (lambda A: A[0].expand(R, *A.shape[1:])) if at is None else (lambda A: A.index_select(0, at))  # noqa: E731
    W, b = stacked.module_weights(list(inits), (Xs.shape[-1], width, classes), "he")
    params = [p.clone() for p in stacked.interleave(W, b)]
    lr = torch.tensor(np.asarray(lrs, dtype=np.float32))[:, None, None]
    rules = (rule,) if isinstance(rule, str) else tuple(rule)
    blocks = [(r, slice(i * R // len(rules), (i + 1) * R // len(rules))) for i, r in enumerate(rules)]  # (rule, its runs)
    states = [[new_state(r, p.detach()[runs]) for p in params] for r, runs in blocks]
    epochs = steps * batch // n + 1
    order = torch.from_numpy(
        np.stack([np.concatenate([rng.permutation(n) for _ in range(epochs)]) for rng in map(np.random.default_rng, seeds)])
    )
    rows = torch.arange(G)[:, None]
    Xr, yr = per_run(Xs), per_run(ys)  # every run's training set: (R, n, in), (R, n)
    out = {"curve": [], "steps_at": []}
    # runs that share their init and training set share their initial loss: computed once per such pair
    keys = list(zip(inits, [0] * R if at is None else at.tolist()))
    slot = {}  # (init, group) -> (its position among the distinct pairs, its first run)
    for i, key in enumerate(keys):
        slot.setdefault(key, (len(slot), i))
    distinct = torch.tensor([i for _, i in slot.values()])
    with torch.no_grad():
        initial = _full_loss([p.index_select(0, distinct) for p in params], Xr.index_select(0, distinct), yr.index_select(0, distinct))
        out["initial"] = initial.numpy().astype(float)[[slot[key][0] for key in keys]]
    Ws, bs = params[0::2], params[1::2]
    for t in range(1, steps + 1):
        idx = order[:, (t - 1) * batch : t * batch]  # (G, batch)
        hs, logits = stacked.mlp_inputs(per_run(Xs[rows, idx]), Ws, bs)
        # per-run gradients of stacked.batch_loss, written out (the same bits as autograd's)
        grads = stacked.interleave(*stacked.mlp_grads(hs, Ws, batch_loss_grad(logits, per_run(ys[rows, idx]))))
        with torch.no_grad():
            for (r, runs), block_states in zip(blocks, states):
                for p, g, st in zip(params, grads, block_states):
                    step_(r, p[runs], g[runs], st, lr[runs], t)
            if eval_every and (t % eval_every == 0 or t == steps):
                k = R if curve_runs is None else curve_runs
                out["curve"].append(_full_loss([p[:k] for p in params], Xr[:k], yr[:k]).numpy().astype(float))
                out["steps_at"].append(t)
    with torch.no_grad():
        out["final"] = _full_loss(params, Xr, yr).numpy().astype(float)
        if held_out is not None:
            Xh, yh = held_out if groups is not None else (held_out[0][None], held_out[1][None])
            out["held_out"] = _full_loss(params, per_run(Xh), per_run(yh)).numpy().astype(float)
    out["curve"] = np.array(out["curve"])
    return out


# -- Wilson et al. 2017, Sec. 3.3: a separable problem where adaptive methods generalise badly ------


def wilson_data(n: int, p: float, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Wilson et al.'s construction: training set X (n, 3 + 5n), y (n,) in {-1, +1}, and a test set of 1000.

    y_i = +1 with probability p (labels redrawn until sum(y) > 0, the construction's assumption b > 0);
    x_i1 = y_i, x_i2 = x_i3 = 1, and example i's own block of features starting at 4 + 5(i - 1)
    (1-based): one feature set to 1 if y_i = +1, five if y_i = -1.  Test points are drawn the same
    way; their own features are never seen in training, so only the first three columns carry over.
    """
    rng = np.random.default_rng(seed)
    while True:
        y = np.where(rng.random(n) < p, 1.0, -1.0)
        if y.sum() > 0:
            break
    X = np.zeros((n, 3 + 5 * n))
    X[:, 0], X[:, 1], X[:, 2] = y, 1.0, 1.0
    for i in range(n):
        X[i, 3 + 5 * i : 3 + 5 * i + (1 if y[i] > 0 else 5)] = 1.0
    y_test = np.where(rng.random(1000) < p, 1.0, -1.0)
    X_test = np.zeros((1000, X.shape[1]))  # unseen unique features: their weights are 0 for every method from 0
    X_test[:, 0], X_test[:, 1], X_test[:, 2] = y_test, 1.0, 1.0
    return X, y, X_test, y_test


def least_squares_fit(X: np.ndarray, y: np.ndarray, rule: str, lrs: np.ndarray, steps: int, batch: int, seed: int) -> np.ndarray:
    """Minimise (1/2n)||Xw - y||^2 from w = 0 with ``rule`` at each rate: weights (n_lr, d).

    ``batch`` = n gives the full-batch method (GD, or the deterministic adaptive methods of
    Wilson et al.'s Lemma 3.1); a smaller batch gives its stochastic version (shuffled epochs from ``seed``).
    """
    n = len(X)
    W = np.zeros((len(lrs), X.shape[1]))
    lr = np.asarray(lrs, float)[:, None]
    state = new_state(rule, W)
    rng = np.random.default_rng(seed)
    order = np.concatenate([rng.permutation(n) for _ in range(steps * batch // n + 1)])
    for t in range(1, steps + 1):
        idx = order[(t - 1) * batch : t * batch] if batch < n else slice(None)
        Xi = X[idx]
        step_(rule, W, (W @ Xi.T - y[idx]) @ Xi / Xi.shape[0], state, lr, t)
    return W
