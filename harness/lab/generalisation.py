"""Generalisation measurements: double descent, lottery tickets, learning curves, streamed memory, FGSM.

Pure functions that return numbers and arrays (no asserts, prints or plots).  Every training loop
runs many networks at once: weights are stacked along a leading run axis R (one run per seed, or per
seed and setting) and multiplied with ``bmm``, so six seeds cost about as much as one small network.
Shapes: stacked weights ``W[l]`` (R, fan_in, fan_out), biases ``b[l]`` (R, 1, fan_out), inputs (R, m, 64).
"""

from __future__ import annotations

import functools
import tracemalloc

import numpy as np
import torch

from harness.lab import data, models, runtime, stacked

CLASSES = 10


def split(seed: int, n_train: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices of a random train/test split of the 1797 digits: (n_train,), (1797 - n_train,)."""
    perm = np.random.default_rng([seed, 11]).permutation(len(data.digits()[0]))
    return perm[:n_train], perm[n_train:]


# -- double descent: minimum-norm least squares on random Fourier features ------------------------


def min_norm_solve(F: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """Minimum-norm least-squares solution w of F w = Y: F (n, p), Y (n, k) -> (p, k).

    For p <= n this is ordinary least squares; for p > n it interpolates the training data with the
    smallest ||w||, computed as F^T (F F^T)^+ Y (an n x n system, cheaper than the p-wide SVD).
    """
    n, p = F.shape
    if p <= n:
        return np.linalg.lstsq(F, Y, rcond=None)[0]
    return F.T @ np.linalg.lstsq(F @ F.T, Y, rcond=None)[0]


def rff_split(seed: int, n_train: int, n_test: int, dataset: str, rng: np.random.Generator):
    """The training and test examples of one seed's double-descent run: X (n_train, d), y, X (n_test, d), y.

    'digits': n_train + n_test of the 1797 digits (pixels in [0, 1]) in ``rng``'s order; 'mnist1d': n_train
    of MNIST-1D's 4000 training and n_test of its 1000 test sequences (mean 0, sd 1), in ``rng``'s order."""
    if dataset == "digits":
        X, y = data.digits()
        perm = rng.permutation(len(X))
        tr, te = perm[:n_train], perm[n_train : n_train + n_test]
        return X[tr], y[tr], X[te], y[te]
    Xtr, ytr, Xte, yte = data.dataset(dataset)
    tr, te = rng.permutation(len(Xtr))[:n_train], rng.permutation(len(Xte))[:n_test]
    return Xtr[tr].astype(np.float64), ytr[tr], Xte[te].astype(np.float64), yte[te]


def random_fourier_curve(seed: int, n_train: int, n_test: int, ratios: tuple[float, ...], dataset: str = "digits") -> dict:
    """Test error of min-norm least squares on p = ratio * n_train random Fourier features of ``dataset`` (:func:`rff_split`).

    Features cos(x W + b), W ~ N(0, sigma^-2) per entry, b ~ U(0, 2 pi) (Rahimi & Recht 2007; Belkin et
    al. 2019's RFF model), sigma the median pairwise distance of the training digits.  Targets are one-hot
    labels; the p features are the first p columns of one draw, so the models are nested.  Returns
    'squared' (mean over test digits of the summed squared error over the 10 outputs) and 'zero_one'
    (share of test digits whose arg-max is wrong), each (len(ratios),), and 'train_squared' (same shape).
    """
    rng = np.random.default_rng([seed, 1])
    Xa, ya, Xb, yb = rff_split(seed, n_train, n_test, dataset, rng)
    Ya, Yb = np.eye(CLASSES)[ya], np.eye(CLASSES)[yb]
    sq_norms = (Xa**2).sum(1)
    d2 = sq_norms[:, None] + sq_norms[None, :] - 2 * Xa @ Xa.T
    sigma = float(np.median(np.sqrt(np.maximum(d2[np.triu_indices(n_train, 1)], 0.0))))
    ps = [int(round(r * n_train)) for r in ratios]
    W = rng.standard_normal((Xa.shape[1], max(ps))) / sigma
    b = rng.uniform(0.0, 2 * np.pi, max(ps))
    # column-major, so that the first p columns are one contiguous block
    F_tr, F_te = np.asfortranarray(np.cos(Xa @ W + b)), np.asfortranarray(np.cos(Xb @ W + b))
    sq, zo, train_sq = [], [], []
    for p in ps:
        w = min_norm_solve(F_tr[:, :p], Ya)
        pred = F_te[:, :p] @ w
        sq.append(float(((pred - Yb) ** 2).sum(1).mean()))
        zo.append(float((pred.argmax(1) != yb).mean()))
        train_sq.append(float(((F_tr[:, :p] @ w - Ya) ** 2).sum(1).mean()))
    return {"squared": np.array(sq), "zero_one": np.array(zo), "train_squared": np.array(train_sq), "sigma": sigma}


# -- stacked MLPs on digits -----------------------------------------------------------------------


def stacked_init(seeds: list[int], sizes: tuple[int, ...]) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Xavier-normal weights (Glorot & Bengio 2010, as Frankle & Carbin use) of one ReLU MLP per seed,
    built by ``models.mlp``: W[l] (R, sizes[l], sizes[l+1]), b[l] (R, 1, sizes[l+1]) (zeros)."""
    nets = [models.linears(models.mlp(sizes[0], sizes[1], len(sizes) - 2, sizes[-1], "relu", "xavier", s)) for s in seeds]
    Ws = [torch.stack([n[l].weight.detach().T.clone() for n in nets]) for l in range(len(sizes) - 1)]
    bs = [torch.stack([n[l].bias.detach()[None, :].clone() for n in nets]) for l in range(len(sizes) - 1)]
    return Ws, bs


def forward(h: torch.Tensor, Ws: list[torch.Tensor], bs: list[torch.Tensor]) -> torch.Tensor:
    """ReLU MLP applied run by run: h (R, m, in) -> logits (R, m, 10)."""
    for l in range(len(Ws)):
        h = torch.baddbmm(bs[l], h, Ws[l])
        if l < len(Ws) - 1:
            h = torch.relu(h)
    return h


def accuracy(Ws, bs, X: torch.Tensor, y: torch.Tensor) -> np.ndarray:
    """Share of rows classified correctly, per run: X (R, m, in), y (R, m) -> (R,)."""
    return stacked.mlp_accuracy(X, Ws, bs, y).numpy().astype(np.float64)


# log_softmax over a last dimension of 10 classes runs a slow scalar path on CPU (about 0.6 ms for 3000 rows on one
# thread, the largest single cost of these training loops); over the first dimension of the transposed logits it is
# vectorised across rows.  With AVX512 both paths add each row's 10 exponentials one by one in class order and use
# the same vectorised exp and log, so with the rows padded to a multiple of the 16 lanes every value and gradient is
# the same bit for bit (checked on random logits of every row count these claims use, and on whole trainings);
# elsewhere the reduction order differs, so other CPUs keep torch's own cross-entropy.
_LANES = 16 if torch.backends.cpu.get_cpu_capability() == "AVX512" else 0


class _LogSoftmaxOverRows(torch.autograd.Function):
    """log_softmax(z, 1) for z (m, classes), computed as log_softmax(z.T, 0) on rows padded to a multiple of ``_LANES``;
    its gradient is handed back contiguous, as torch's own, so the layers below see the same gradient layout."""

    @staticmethod
    def forward(ctx, z: torch.Tensor) -> torch.Tensor:
        m, pad = z.shape[0], -z.shape[0] % _LANES
        out = torch.log_softmax(torch.cat([z, z.new_zeros(pad, z.shape[1])]).T if pad else z.T, 0)  # (classes, m + pad)
        ctx.save_for_backward(out)
        return out.T[:m]

    @staticmethod
    def backward(ctx, g: torch.Tensor) -> torch.Tensor:
        (out,) = ctx.saved_tensors
        m, pad = g.shape[0], out.shape[1] - g.shape[0]
        gt = (torch.cat([g, g.new_zeros(pad, g.shape[1])]) if pad else g).T
        return torch._log_softmax_backward_data(gt, out, 0, out.dtype).T[:m].contiguous()


def summed_cross_entropy(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``cross_entropy(logits, y, reduction="sum")`` for logits (m, classes): the same bits, faster (see ``_LANES``)."""
    if not _LANES:
        return torch.nn.functional.cross_entropy(logits, y, reduction="sum")
    return torch.nn.functional.nll_loss(_LogSoftmaxOverRows.apply(logits), y, reduction="sum")


def adam_state(params: list[torch.Tensor]) -> tuple[list, list, list]:
    """The zero-started state torch.optim.Adam(fused=True) gives each parameter: first and second moments, float32 step counts."""
    zeros = [torch.zeros((), dtype=torch.float32) for _ in params]
    return [torch.zeros_like(p) for p in params], [torch.zeros_like(p) for p in params], zeros


def fused_adam_step_(params, grads, state, lr: float, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8) -> None:
    """One step of torch.optim.Adam(params, lr, fused=True) on the gradients ``grads``, with the state of :func:`adam_state`:
    the two kernels that optimiser's step runs (count the steps, then the fused update), without its bookkeeping."""
    m, v, steps = state
    torch._foreach_add_(steps, 1)
    torch._fused_adam_(
        params, grads, m, v, [], steps, amsgrad=False, lr=lr, beta1=betas[0], beta2=betas[1], weight_decay=0.0, eps=eps, maximize=False
    )


def mean_cross_entropy_grad(logits: torch.Tensor, y: torch.Tensor, batch: int) -> torch.Tensor:
    """The gradient autograd hands back for ``summed_cross_entropy(logits, y) / batch`` (logits (m, classes)), computed
    directly: the division's gradient 1 / batch (float32), nll_loss's (minus that at each row's label, 0 elsewhere) and
    :class:`_LogSoftmaxOverRows`'s backward on the same padded rows, without the loss itself or autograd's bookkeeping."""
    if not _LANES:
        z = logits.detach().requires_grad_(True)
        return torch.autograd.grad(summed_cross_entropy(z, y) / batch, z)[0]
    m, pad = logits.shape[0], -logits.shape[0] % _LANES
    out = torch.log_softmax(torch.cat([logits, logits.new_zeros(pad, logits.shape[1])]).T if pad else logits.T, 0)
    g = logits.new_zeros(m + pad, logits.shape[1])
    g[:m].scatter_(1, y[:, None], -float(torch.ones(()) / batch))
    return torch._log_softmax_backward_data(g.T, out, 0, out.dtype).T[:m].contiguous()


def batch_loss_grad(z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """d ``stacked.batch_loss`` / d z for logits z (R, N, classes), y (R, N): the sum over every row of the
    cross-entropy divided by N, so :func:`mean_cross_entropy_grad`'s written-out gradient, the same values and
    layout as autograd's (tests/test_lab_exact.py)."""
    R, N, C = z.shape
    return mean_cross_entropy_grad(z.reshape(R * N, C), y.reshape(R * N), N).view(R, N, C)


@runtime.unfilled_allocations()  # every kernel writes what it allocates: the same values without the NaN fill
def train_stacked(
    Ws,
    bs,
    masks,
    X: torch.Tensor,
    y: torch.Tensor,
    orders: torch.Tensor,
    lr: float,
    eval_every: int = 0,
    X_test: torch.Tensor | None = None,
    y_test: torch.Tensor | None = None,
):
    """Adam (mini-batch cross-entropy, no regularisation) on masked stacked MLPs, all runs at once.

    X (R, n, in), y (R, n): each run's training set; orders (R, steps, batch) index into it.  masks[l]
    (R, in, out) of 0/1 keeps pruned weights at exactly 0 (set back to 0 after every step, so each
    forward pass sees the masked net and the kept weights train exactly as with the mask in the
    graph).  Returns (trained W list, b list, test-accuracy curve (R, n_evals) evaluated every
    ``eval_every`` steps and at the end, or None).

    The MLP's backward pass is written out (:func:`stacked.mlp_grads`: the products and ReLU masks autograd runs), and the
    optimiser's step is the fused Adam kernel torch.optim.Adam(fused=True) calls, the same
    values bit for bit without their bookkeeping, and the loss's gradient is :func:`mean_cross_entropy_grad`.
    """
    pruned = any(not bool(m.all()) for m in masks)  # all-ones masks (dense nets): multiplying by 1 changes no bit, so skip it
    W = [(w * m).clone() for w, m in zip(Ws, masks)]
    b = [x.clone() for x in bs]
    params = W + b
    state = adam_state(params)
    R, steps, batch = orders.shape
    X_flat, y_flat = X.reshape(R * X.shape[1], X.shape[2]), y.reshape(-1)  # one row per (run, example): index_select, no 2-D gather
    flat = orders + (torch.arange(R) * X.shape[1])[:, None, None]  # (R, steps, batch) rows of X_flat
    curve = []
    for t in range(steps):
        idx = flat[:, t].reshape(-1)
        hs, z = stacked.mlp_inputs(X_flat.index_select(0, idx).view(R, batch, -1), W, b)
        # d loss / d logits, the loss the sum over runs of each run's mean cross-entropy
        g = mean_cross_entropy_grad(z.view(-1, CLASSES), y_flat.index_select(0, idx), batch).view(R, batch, CLASSES)
        gW, gb = stacked.mlp_grads(hs, W, g)
        fused_adam_step_(params, gW + gb, state, lr)
        if pruned:  # a pruned weight's gradient moved it: back to 0, so every forward sees the masked net
            for p, m in zip(W, masks):
                p.mul_(m)
        if X_test is not None and eval_every and ((t + 1) % eval_every == 0 or t + 1 == steps):
            curve.append(accuracy([p * m for p, m in zip(W, masks)], b, X_test, y_test))
    W_out = [p * m for p, m in zip(W, masks)]
    return W_out, b, (np.stack(curve, axis=1) if curve else None)


def digits_split_tensors(seeds: list[int], n_train: int):
    """Per-seed train/test split of the raw digits (pixels in [0, 1]): X_tr (R, n_train, 64), y_tr,
    X_te (R, 1797 - n_train, 64), y_te."""
    X, y = data.digits()
    X, y = torch.tensor(X, dtype=torch.float32), torch.tensor(y)
    splits = [split(s, n_train) for s in seeds]
    return (
        torch.stack([X[tr] for tr, _ in splits]),
        torch.stack([y[tr] for tr, _ in splits]),
        torch.stack([X[te] for _, te in splits]),
        torch.stack([y[te] for _, te in splits]),
    )


@functools.cache
def dense_digits_mlps(
    seeds: tuple[int, ...], width: int, epochs: int, n_train: int = 1200, batch: int = 60, lr: float = 1.2e-3, eval_epochs: int = 5
) -> dict:
    """Two-hidden-layer ReLU MLPs 64-width-width-10, Xavier init, trained with Adam on ``n_train`` raw digits.

    Frankle & Carbin's LeNet recipe (Adam, rate 1.2e-3, batch 60), scaled to digits.  Returns the initial
    and trained stacked weights, the split tensors, the batch orders, test accuracy (R,) and its curve
    (R, ceil(epochs / eval_epochs)), evaluated every ``eval_epochs`` epochs and at the end.  Cached: the lottery-ticket
    and adversarial claims share these networks.
    """
    seeds_l = list(seeds)
    sizes = (64, width, width, CLASSES)
    X_tr, y_tr, X_te, y_te = digits_split_tensors(seeds_l, n_train)
    steps_per_epoch = n_train // batch
    orders = torch.tensor(stacked.batch_orders(seeds_l, [n_train] * len(seeds_l), steps_per_epoch * epochs, batch, tag=12))
    W0, b0 = stacked_init(seeds_l, sizes)
    ones = [torch.ones_like(w) for w in W0]
    every = steps_per_epoch * eval_epochs
    W, b, curve = train_stacked(W0, b0, ones, X_tr, y_tr, orders, lr, every, X_te, y_te)
    return {
        "W0": W0,
        "b0": b0,
        "W": W,
        "b": b,
        "X_tr": X_tr,
        "y_tr": y_tr,
        "X_te": X_te,
        "y_te": y_te,
        "orders": orders,
        "lr": lr,
        "sizes": sizes,
        "eval_every": every,
        "test_acc": accuracy(W, b, X_te, y_te),
        "train_acc": accuracy(W, b, X_tr, y_tr),
        "curve": curve,
    }


def magnitude_masks(Ws: list[torch.Tensor], masks: list[torch.Tensor], keep: list[float]) -> list[torch.Tensor]:
    """Layer-wise magnitude pruning: in each run and layer keep the ``keep[l]`` share of the surviving
    weights with the largest |W| (Frankle & Carbin 2019, Sec. 2).  Returns new 0/1 masks, same shapes."""
    out = []
    for W, m, k in zip(Ws, masks, keep):
        score = (W.abs() * m).reshape(W.shape[0], -1)
        n_keep = max(1, int(round(float(m[0].sum()) * k)))
        order = torch.argsort(score, dim=1, descending=True, stable=True)[:, :n_keep]
        new = torch.zeros_like(score).scatter_(1, order, 1.0)
        out.append(new.reshape(W.shape) * m)
    return out


LT_KEEP_HIDDEN = 0.5  # share of each hidden layer's surviving weights kept per pruning round (the sweep halves them)


def lottery_tensors(name: str, seeds: tuple[int, ...], n_train: int = 1200):
    """Training and test tensors per run: X_tr (R, n, d), y_tr (R, n), X_te (R, m, d), y_te (R, m).

    'digits': raw pixels in [0, 1], a new split of the 1797 digits per run (``n_train`` train, the rest
    test).  'mnist1d': the data set's fixed split (4000 train, 1000 test, d = 40), the same for every run
    (the runs differ in init and batch order)."""
    if name == "digits":
        return digits_split_tensors(list(seeds), n_train)
    Xtr, ytr, Xte, yte = (torch.tensor(np.array(a)) for a in data.dataset(name))
    R = len(seeds)
    return Xtr.expand(R, *Xtr.shape), ytr.expand(R, *ytr.shape), Xte.expand(R, *Xte.shape), yte.expand(R, *yte.shape)


@functools.cache
def lottery_sweep(
    name: str,
    seeds: tuple[int, ...],
    placebo_seeds: tuple[int, ...],
    width: int,
    steps: int,
    rounds: int,
    judged: tuple[int, ...],
    draws: int = 2,
    batch: int = 60,
    lr: float = 1.2e-3,
    evals: int = 10,
) -> dict:
    """Iterative magnitude pruning with rewinding (Frankle & Carbin 2019, Sec. 2), one run per seed on a run axis.

    MLPs d-width-width-10 (ReLU, Xavier-normal, zero biases) train ``steps`` Adam steps (rate ``lr``, batch
    ``batch``) on data set ``name``.  Round k = 1..``rounds`` keeps the largest-magnitude half of each
    hidden layer's surviving weights (the output layer at half that pruning rate, 75 %), rewinds the
    survivors to theta_0 and retrains with the dense run's batch order: the trained ticket of round k is
    both the measurement at that sparsity and the weights the next round prunes, so one training per
    round serves both.  At the rounds in ``judged`` (1-based) the same mask also trains from ``draws``
    fresh Xavier inits theta_0' (the control, ``subseed(seed, 13, j)``) and from as many drawn from the
    run's placebo seed (``subseed(placebo_seed, 13, j)``: the control measured again, same mask, split
    and order), all in the same batched loop as the ticket.  ``placebo_seeds[r]`` pairs with ``seeds[r]``.

    Returns 'dense' test accuracy (R,), 'ticket' (rounds, R), 'reinit' and 'placebo' {round: (R,)} (the
    mean over the draws), the same keys with '_train' for training accuracy, 'curves' {label: (R, evals)}
    of test accuracy for the dense net and each judged round's three conditions (draws averaged),
    'kept_hidden' and 'kept_total' (rounds,) shares of the weights kept.
    """
    if len(placebo_seeds) != len(seeds) or not set(judged) <= set(range(1, rounds + 1)):
        raise ValueError(f"need one placebo seed per seed and judged rounds within 1..{rounds}, got {judged}")
    R = len(seeds)
    X_tr, y_tr, X_te, y_te = lottery_tensors(name, seeds)
    sizes = (X_tr.shape[-1], width, width, CLASSES)
    orders = torch.tensor(stacked.batch_orders(list(seeds), [X_tr.shape[1]] * R, steps, batch, tag=42))
    W0, b0 = stacked_init(list(seeds), sizes)
    every = -(-steps // evals)

    def run(starts: list[tuple], masks: list[torch.Tensor]):  # the starts side by side on the run axis, one mask and order
        c = len(starts)
        rep = (lambda t: torch.cat([t] * c)) if c > 1 else (lambda t: t)
        Ws, bs = ([torch.cat([st[i][l] for st in starts]) for l in range(len(sizes) - 1)] for i in (0, 1))
        W, b, curve = train_stacked(Ws, bs, [rep(mk) for mk in masks], rep(X_tr), rep(y_tr), rep(orders), lr, every, rep(X_te), rep(y_te))
        return W, curve, accuracy(W, b, rep(X_te), rep(y_te)), accuracy(W, b, rep(X_tr), rep(y_tr))

    masks = [torch.ones_like(w) for w in W0]
    W, curve, test, train = run([(W0, b0)], masks)
    out = {"dense": test, "dense_train": train, "curves": {"dense": curve}, "ticket": [], "ticket_train": []}
    out |= {"reinit": {}, "reinit_train": {}, "placebo": {}, "placebo_train": {}, "kept_hidden": [], "kept_total": []}
    keep = [LT_KEEP_HIDDEN] * (len(sizes) - 2) + [1.0 - (1.0 - LT_KEEP_HIDDEN) / 2]  # the output layer at half the rate

    def mean_of(a: np.ndarray, part: int) -> np.ndarray:  # part 0: the control's draws, 1: the placebo's; -> (R, ...)
        return a[R + part * draws * R : R + (part + 1) * draws * R].reshape(draws, R, *a.shape[1:]).mean(axis=0)

    for k in range(1, rounds + 1):
        masks = magnitude_masks(W, masks, keep)
        starts = [(W0, b0)]
        if k in judged:  # run axis: ticket, then the draws of the control, then those of the placebo
            starts += [
                stacked_init([stacked.subseed(s, 13, j) for s in group], sizes) for group in (seeds, placebo_seeds) for j in range(draws)
            ]
        Wk, curve, test, train = run(starts, masks)
        W = [w[:R] for w in Wk]
        out["ticket"].append(test[:R])
        out["ticket_train"].append(train[:R])
        if k in judged:
            out["curves"][f"ticket {k}"] = curve[:R]
            for part, label in enumerate(("reinit", "placebo")):
                out["curves"][f"{label} {k}"] = mean_of(curve, part)
                out[label][k], out[f"{label}_train"][k] = mean_of(test, part), mean_of(train, part)
        out["kept_hidden"].append(float(sum(m[0].sum() for m in masks[:-1]) / sum(m[0].numel() for m in masks[:-1])))
        out["kept_total"].append(float(sum(m[0].sum() for m in masks) / sum(m[0].numel() for m in masks)))
    out["ticket"], out["ticket_train"] = np.stack(out["ticket"]), np.stack(out["ticket_train"])
    return out


# -- learning curves over training-set size and width ---------------------------------------------


def curve_split(seeds: list[int], dataset: str, n_test: int):
    """Each seed's shuffled training pool and the test set of the learning curves: X_tr (S, pool, d), y_tr, X_te (S, m, d), y_te.

    'digits': the seed's split of the 1797 digits (``digits_split_tensors``), the last ``n_test`` for testing;
    'mnist1d': the 4000 training sequences in the seed's order, and the 1000 test sequences."""
    if dataset == "digits":
        return digits_split_tensors(seeds, 1797 - n_test)
    Xtr, ytr, Xte, yte = (torch.tensor(np.asarray(a)) for a in data.dataset(dataset))
    perms = [torch.tensor(np.random.default_rng([s, 11]).permutation(len(Xtr))) for s in seeds]
    S = len(seeds)
    return torch.stack([Xtr[p] for p in perms]), torch.stack([ytr[p] for p in perms]), Xte.expand(S, -1, -1), yte.expand(S, -1)


@functools.cache
def learning_curves(
    seeds: tuple[int, ...],
    sizes: tuple[int, ...],
    widths: tuple[int, ...],
    steps: int,
    batch: int,
    lr: float,
    n_test: int = 597,
    dataset: str = "digits",
    nets: tuple[int, ...] | None = None,
) -> dict[int, dict[str, np.ndarray]]:
    """Test and training error of one-hidden-layer ReLU MLPs (width w, Xavier init) trained on the first n
    examples of each seed's shuffle, for every n in ``sizes`` (:func:`curve_split`).

    Every run takes the same number of Adam steps on mini-batches of ``batch`` (equal optimisation
    budget); the same init per seed and width for every n.  ``nets`` (one count per width, default 1 each):
    a seed's value is the mean over that many nets, the first drawn from the seed itself and the others
    from ``subseed(seed, 15, k)`` (own init and batch order, the seed's data).  Returns {width:
    {'test': (n_seeds, n_sizes), 'train': (n_seeds, n_sizes)}} (errors as shares).
    """
    seeds_l = list(seeds)
    X_tr, y_tr, X_te, y_te = curve_split(seeds_l, dataset, n_test)
    out = {}
    for w, k_nets in zip(widths, nets or (1,) * len(widths)):
        net_seeds = [s if k == 0 else stacked.subseed(s, 15, k) for s in seeds_l for k in range(k_nets)]  # seed-major
        runs = [(j, n) for j in range(len(net_seeds)) for n in sizes]  # run r = (net index, size)
        net = torch.tensor([j for j, _ in runs])
        rr = net // k_nets  # the seed (data) of each run
        orders = torch.tensor(stacked.batch_orders([net_seeds[j] for j, _ in runs], [n for _, n in runs], steps, batch, tag=14))
        W0, b0 = stacked_init(net_seeds, (X_tr.shape[2], w, CLASSES))
        W0, b0 = [x[net] for x in W0], [x[net] for x in b0]
        ones = [torch.ones_like(x) for x in W0]
        W, b, _ = train_stacked(W0, b0, ones, X_tr[rr], y_tr[rr], orders, lr)
        test = 1 - accuracy(W, b, X_te[rr], y_te[rr])
        train = np.array(
            [
                1 - accuracy([x[r : r + 1] for x in W], [x[r : r + 1] for x in b], X_tr[rr[r : r + 1], :n], y_tr[rr[r : r + 1], :n])[0]
                for r, (_, n) in enumerate(runs)
            ]
        )
        shape = (len(seeds_l), k_nets, len(sizes))
        out[w] = {"test": test.reshape(shape).mean(axis=1), "train": train.reshape(shape).mean(axis=1)}
    return out


# -- memory of streamed mini-batch training vs full-batch training on materialised data -------------


def teacher(seed: int, dim: int) -> np.ndarray:
    """A fixed random linear teacher that labels the synthetic stream: (dim, 10)."""
    return np.random.default_rng([seed, 21]).standard_normal((dim, CLASSES))


def stream_batch(seed: int, k: int, batch: int, T: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The k-th batch of a seeded synthetic stream, regenerated on demand: x ~ N(0, I) (batch, dim) float32,
    labels argmax(x T) (batch,).  Batch k is a pure function of (seed, k): nothing is stored between calls."""
    x = np.random.default_rng([seed, 22, k]).standard_normal((batch, T.shape[0]), dtype=np.float32)
    return x, (x @ T).argmax(1)


def _softmax_grad(W: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Gradient of the mean cross-entropy of softmax regression x W: W (dim, 10), x (m, dim) -> (dim, 10)."""
    z = x @ W
    z -= z.max(1, keepdims=True)
    p = np.exp(z)
    p /= p.sum(1, keepdims=True)
    p[np.arange(len(y)), y] -= 1.0
    return x.T @ p / len(y)


def stream_accuracy(W: np.ndarray, seed: int, T: np.ndarray, batch: int) -> float:
    """Accuracy on 10 held-out batches of the stream (indices past any training batch)."""
    hits = [float(((x @ W).argmax(1) == y).mean()) for x, y in (stream_batch(seed, 10**9 + k, batch, T) for k in range(10))]
    return float(np.mean(hits))


def train_memory(
    seed: int, n_examples: int, mode: str, *, dim: int = 16, batch: int = 256, epochs: int = 1, lr: float = 0.5
) -> dict[str, float]:
    """Peak traced memory (tracemalloc, bytes) of training softmax regression on ``n_examples`` examples.

    mode 'stream': mini-batch SGD, each batch regenerated from the seeded stream when it is needed and
    dropped after its step.  mode 'full': the same examples materialised in one array, then full-batch GD
    (one step per epoch).  Both see every example ``epochs`` times.  numpy reports its buffers to
    tracemalloc, so the peak includes every array either loop holds.  Returns peak bytes, the size of the
    materialised data in bytes, and held-out accuracy.
    """
    T = teacher(seed, dim)
    n_batches = n_examples // batch
    W = np.zeros((dim, CLASSES), dtype=np.float32)
    was_tracing = tracemalloc.is_tracing()
    if not was_tracing:
        tracemalloc.start()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    if mode == "stream":
        for _ in range(epochs):
            for k in range(n_batches):
                x, y = stream_batch(seed, k, batch, T)
                W -= lr * _softmax_grad(W, x, y)
    elif mode == "full":
        parts = [stream_batch(seed, k, batch, T) for k in range(n_batches)]
        X = np.concatenate([p[0] for p in parts])
        Y = np.concatenate([p[1] for p in parts])
        del parts
        for _ in range(epochs):
            W -= lr * _softmax_grad(W, X, Y)
        del X, Y
    else:
        raise ValueError(f"unknown mode {mode!r}")
    peak = tracemalloc.get_traced_memory()[1] - base
    if not was_tracing:
        tracemalloc.stop()
    return {"peak_bytes": float(peak), "data_bytes": float(n_batches * batch * dim * 4), "accuracy": stream_accuracy(W, seed, T, batch)}


# -- adversarial examples (FGSM) ------------------------------------------------------------------


def perturbation_flips(Ws, bs, X: torch.Tensor, y: torch.Tensor, eps: float, seed: int) -> dict[str, np.ndarray]:
    """Share of correctly classified rows whose prediction changes under an L-inf perturbation of size eps.

    'fgsm': x + eps * sign(grad_x cross-entropy) (Goodfellow, Shlens & Szegedy 2015); 'random': x + eps * s
    with s a random sign per pixel, the same L-inf and L2 norm.  Both clipped to the pixel range [0, 1].
    X (R, m, 64), y (R, m).  Returns 'fgsm', 'random' (R,) shares and 'fgsm_acc', 'random_acc' (R,) accuracies.
    """
    x = X.clone().requires_grad_(True)
    logits = forward(x, Ws, bs)
    loss = torch.nn.functional.cross_entropy(logits.reshape(-1, CLASSES), y.reshape(-1), reduction="sum")
    (g,) = torch.autograd.grad(loss, x)
    with torch.no_grad():
        clean = logits.argmax(-1)
        correct = (clean == y).float()
        signs = torch.randint(0, 2, X.shape, generator=torch.Generator().manual_seed(seed)).float() * 2 - 1
        out = {}
        for name, direction in (("fgsm", g.sign()), ("random", signs)):
            pred = forward((X + eps * direction).clamp(0.0, 1.0), Ws, bs).argmax(-1)
            out[name] = (((pred != clean).float() * correct).sum(-1) / correct.sum(-1)).numpy().astype(np.float64)
            out[f"{name}_acc"] = (pred == y).float().mean(-1).numpy().astype(np.float64)
    return out
