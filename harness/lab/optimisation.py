"""Optimisation: per-example SGD against full-batch GD on a training set duplicated k times (LeCun et al. 1998,
Efficient BackProp, Sec. 4.1).

Pure functions: they build the base sets, train, and return numbers; they never assert, print or plot.

Every SGD run of a claim (data seed x copies x example order x rate) trains in one loop on a run axis.  The
weights of per-example SGD from W = 0 always lie in the span of the examples seen, W = a * Xb^T B with one
row of B per base example and a scalar a that carries the L2 shrinkage, so a step reads B once (the logits
x_i . W = a * (Xb Xb^T)[i] @ B) and writes one row of it: the same iterates as the textbook update
W <- (1 - lr l2) W - lr x_i (p_i - e_yi)^T, up to float64 rounding, at a fraction of its memory traffic.
"""

from __future__ import annotations

import numpy as np
import torch

from harness.lab import data, runtime, train
from harness.lab.stacked import subseed, with_bias

RENORMALISE_EVERY = 256  # steps between folding the shrinkage scalar back into B (0.97^256 ~ 4e-4: no underflow)
ORDER_TAG = 61  # the example order's stream: subseed(order seed, ORDER_TAG), never the stream that drew the data


def base_set(name: str, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` training examples of data set ``name`` drawn without replacement with ``seed``: X (n, d) float64, y (n,).

    'digits': scikit-learn's 8x8 digits in [0, 1] (all 1,797 images); 'mnist1d': MNIST-1D's 4,000 training
    sequences (length 40, standardised by its generator)."""
    if name == "digits":
        return data.subset(n, seed)
    X, y, _, _ = data.dataset(name)
    idx = np.random.default_rng(seed).choice(len(X), size=n, replace=False)
    return X[idx].astype(np.float64), y[idx]


def example_stream(n: int, copies: int, examples: int, order_seed: int) -> np.ndarray:
    """Which base example per-example SGD sees at each step on the set duplicated ``copies`` times: (examples,).

    Shuffled epochs of the n * copies rows (a permutation per epoch from a generator seeded with
    ``subseed(order_seed, ORDER_TAG)``, the last epoch cut short); row j of the duplicated set is base example
    j mod n (``np.tile`` order).  The order seed may be the seed that drew the base set: the tag keeps the two
    streams apart (seeded alike, the order's first permutation would reuse the random numbers of the data draw,
    so the main arm's orders would depend on its data while the placebo's would not)."""
    rng = np.random.default_rng(subseed(order_seed, ORDER_TAG))
    epochs = -(-examples // (n * copies))
    return np.concatenate([rng.permutation(n * copies) for _ in range(epochs)])[:examples] % n


CHUNK_BYTES = 1_800_000  # the most bytes of B (float64) one slice of runs holds: it stays in a core's 2-MB L2 cache


def sgd_runs(
    sets: list[tuple[np.ndarray, np.ndarray]], copies: list[int], orders: list[int], lrs: np.ndarray, examples: int, l2: float, classes: int
) -> np.ndarray:
    """Per-example SGD on L2-regularised softmax regression from W = 0, S runs at every rate: weights (S, n_lr, d+1, c).

    Run r trains on ``sets[r]`` = (X (n, d), y (n,)) duplicated ``copies[r]`` times, in the example order of
    :func:`example_stream` with ``orders[r]``, for ``examples`` updates at each rate of ``lrs``.  All sets have the
    same shape.  Diverged runs return inf or nan.

    Runs share nothing, so they train in about equal slices whose B stays within ``CHUNK_BYTES``, one slice after
    another: every step reads all of a slice's B, which streams from memory when the whole stack's does not fit in
    the cache.  Every run's numbers are the same bit for bit (a batched product computes each run alone).
    """
    S = len(sets)
    per_run = len(sets[0][0]) * len(lrs) * classes * 8
    parts = -(-S * per_run // CHUNK_BYTES)
    size = -(-S // parts)
    cuts = range(0, S, size)
    return np.concatenate(
        [_sgd_runs(sets[i : i + size], copies[i : i + size], orders[i : i + size], lrs, examples, l2, classes) for i in cuts]
    )


@runtime.unfilled_allocations()  # every kernel here writes what it allocates: the same values without the NaN fill
def _sgd_runs(
    sets: list[tuple[np.ndarray, np.ndarray]], copies: list[int], orders: list[int], lrs: np.ndarray, examples: int, l2: float, classes: int
) -> np.ndarray:
    """:func:`sgd_runs` on one slice of runs."""
    S, L = len(sets), len(lrs)
    Xb = torch.from_numpy(np.stack([with_bias(X) for X, _ in sets]))  # (S, n, d+1)
    n = Xb.shape[1]
    gram = (Xb @ Xb.transpose(1, 2)).reshape(S * n, n)  # row s * n + i: x_i . x_j of run s's set
    labels = np.stack([np.asarray(t, dtype=np.int64) for _, t in sets])  # (S, n)
    stream = np.stack([example_stream(n, k, examples, o) for k, o in zip(copies, orders)])  # (S, examples)
    rows = torch.from_numpy(np.ascontiguousarray((np.arange(S)[:, None] * n + stream).T))  # (examples, S): the example's row of B and gram
    # where each step's label sits in the logits (S, L, c) laid out flat: s L c + l c + y, (examples, S L)
    label_at = np.ascontiguousarray(np.take_along_axis(labels, stream, 1).T)  # (examples, S)
    offsets = (np.arange(S)[:, None] * L * classes + np.arange(L) * classes).reshape(-1)  # (S L,)
    minus_one = torch.full((S * L,), -1.0, dtype=torch.float64)
    lr = torch.tensor(np.asarray(lrs, dtype=np.float64))[:, None]  # (L, 1)
    shrink = 1.0 - lr * l2
    B = torch.zeros(S * n, L * classes, dtype=torch.float64)  # W[s, l] = a[l] * Xb[s]^T B[s n : (s + 1) n, l c : (l + 1) c]
    Bv = B.view(S, n, L * classes)
    # one step's buffers, written by every step's kernels in turn (the same values as fresh tensors), and their views
    buf = torch.empty(S, 1, L * classes, dtype=torch.float64)
    rows_of, z3, flat = buf.view(S, L * classes), buf.view(S, L, classes), buf.view(-1)
    top, total = torch.empty(S, L, 1, dtype=torch.float64), torch.empty(S, L, 1, dtype=torch.float64)
    for t0 in range(0, examples, RENORMALISE_EVERY):
        block = range(t0, min(examples, t0 + RENORMALISE_EVERY))
        # the shrinkage scalar before each step of the block (1, shrink, shrink^2, ...: cumprod multiplies in turn,
        # as a = a * shrink did step by step) and the step's lr / a after it, sliced per step up front and spread
        # over each rate's c logits (the same products as an (L, 1) factor broadcast over them, in fewer kernel calls)
        a = torch.cumprod(shrink.T.expand(len(block), L), 0).T  # (L, steps): a after 1, 2, ... steps
        a = torch.cat([torch.ones(L, 1, dtype=torch.float64), a], 1)  # (L, steps + 1): a before step 1, 2, ... and at the end
        before, scale = (f.T.repeat_interleave(classes, 1).unbind(0) for f in (a[:, :-1], lr / a[:, 1:]))  # per step: (L c,)
        at = rows[t0 : block.stop]  # (steps, S)
        g = gram.index_select(0, at.reshape(-1)).view(len(block), S, 1, n).unbind(0)  # per step: (S, 1, n)
        hot = torch.from_numpy(offsets + np.repeat(label_at[t0 : block.stop], L, axis=1)).unbind(0)  # per step: (S L,)
        at = at.unbind(0)
        for i in range(len(block)):
            torch.bmm(g[i], Bv, out=buf)
            z = rows_of.mul_(before[i])  # logits (S, L c), then (S, L, c) through z3
            torch.amax(z3, -1, keepdim=True, out=top)
            z3.sub_(top).exp_()
            torch.sum(z3, -1, keepdim=True, out=total)
            z3.div_(total)  # softmax
            flat.index_add_(0, hot[i], minus_one)  # d cross-entropy / d logits: p - 1 at the label
            B.index_add_(0, at[i], z.mul_(scale[i]), alpha=-1.0)
        B *= a[:, -1:].expand(L, classes).reshape(-1)  # fold the shrinkage back into B
    W = torch.einsum("snd,snlc->sldc", Xb, B.view(S, n, L, classes))
    return W.numpy()


def log_excess(excess: np.ndarray) -> np.ndarray:
    """log10 excess loss; below float64 resolution of the loss counts as 1e-15, and a diverged run (inf/nan)
    becomes the worst finite value (10), so it never wins a grid."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.nan_to_num(np.log10(np.maximum(excess, 1e-15)), nan=10.0, posinf=10.0)


def redundancy_grid(
    name: str,
    seeds: list[int],
    order_seeds: list[list[int]],
    copies: list[int],
    base: int,
    examples: int,
    lrs: np.ndarray,
    l2: float,
    classes: int = 10,
) -> dict:
    """log10 excess loss over the optimum (L-BFGS) after ``examples`` examples, on each seed's base set of
    ``base`` examples of ``name`` duplicated k times, at every rate of ``lrs``.

    ``order_seeds``: one or more lists (one order seed per data seed each), e.g. the seeds themselves and the
    placebo seeds.  Returns 'GD': (n_copies, n_seeds, n_lr) for full-batch GD (examples / (base k) steps on
    the duplicated set; deterministic, no order) and 'SGD': (n_orders, n_copies, n_seeds, n_lr) for per-example SGD.
    """
    sets = [base_set(name, base, s) for s in seeds]
    best = np.array([train.optimum(X, y, classes, l2) for X, y in sets])  # (n_seeds,)
    # GD on the set duplicated k times has the base set's mean gradient, so its iterates are the base set's
    # (the claim's sanity check measures this to rounding): one trajectory per seed serves every k.
    steps = [examples // (base * k) for k in copies]
    gd = np.empty((len(copies), len(seeds), len(lrs)))
    for j, ((X, y), b) in enumerate(zip(sets, best)):
        traj = train.gd_trajectory(X, y, classes, lrs, max(steps), l2)  # (steps + 1, n_lr, d+1, c)
        gd[:, j] = train.softmax_loss(traj[steps], X, y, l2) - b
    runs = [(j, s, k, o) for k in copies for orders in order_seeds for j, (s, o) in enumerate(zip(seeds, orders))]
    W = sgd_runs([sets[j] for j, *_ in runs], [k for *_, k, _ in runs], [o for *_, o in runs], lrs, examples, l2, classes)
    sgd = np.array([train.softmax_loss(w, *sets[j], l2) - best[j] for w, (j, *_) in zip(W, runs)])
    sgd = sgd.reshape(len(copies), len(order_seeds), len(seeds), len(lrs)).swapaxes(0, 1)
    return {"GD": log_excess(gd), "SGD": log_excess(sgd)}
