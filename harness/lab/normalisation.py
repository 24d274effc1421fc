"""Normalisation and regularisation: batch norm (plain and 'noisy'), dropout and shift augmentation.

Pure functions that return numbers (no asserts, prints or plots).  The workhorse,
:func:`train_grid`, trains many small MLPs at once as one batched network (weights of shape
(R, in, out), R runs = conditions x seeds x learning rates, ``torch.baddbmm``), so a whole
comparison costs one training loop.  A run's condition switches its pieces on or off:

- batch norm (Ioffe & Szegedy 2015, Alg. 1) after every hidden Linear layer, before the activation,
  with batch statistics in training and the training set's statistics at evaluation;
- 'noisy' batch norm (Santurkar et al. 2018, Sec. 2.1): after each BN layer every activation of every
  example is scaled and shifted by i.i.d. noise whose mean and variance are themselves redrawn at
  every step, so the layer's output distribution moves all the time;
- dropout (Srivastava et al. 2014) on the inputs and on every hidden layer's output;
- augmentation by shifting each 8x8 digit by up to one pixel (Krizhevsky et al. 2012, Sec. 4.1, in
  miniature: AlexNet took translated crops).

Runs of one seed share the initial weights, the data split and the mini-batch order, so a
condition and its contrast differ only in the condition.  The module also holds the exact checks
of torch's normalisation layers (:func:`batchnorm1d_check`, :func:`norm_layer_axes`).
"""

from __future__ import annotations

import copy
import functools
import math
import sys
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from harness.lab import data, generalisation, models, runtime, stacked

EPS = 1e-5  # torch's default eps for every normalisation layer
NOISE_MEAN = 1.0  # noisy BN: per-step mean offsets ~ U(-1, 1) per unit (BN outputs have std 1)
NOISE_SCALE = 2.0  # noisy BN: per-step scales ~ log-uniform on [1/2, 2] per unit
NOISE_JITTER = 0.1  # noisy BN: i.i.d. per-example spread around the step's offset and scale


@dataclass(frozen=True)
class Condition:
    """What one group of runs switches on.  keep_* are dropout's retain probabilities (1 = no dropout)."""

    bn: bool = False
    noise: bool = False  # noisy BN (needs bn)
    keep_input: float = 1.0
    keep_hidden: float = 1.0
    augment: bool = False  # random shifts of up to one pixel, redrawn per example and step


@functools.lru_cache(maxsize=2)
def shifted_digits(per_pixel: bool) -> tuple[np.ndarray, np.ndarray]:
    """All 1797 digits shifted by (dy, dx) in {-1, 0, 1}^2 with zero fill: X (9, 1797, 64), index 4 =
    unshifted; y (1797,).  Standardised with the unshifted set's statistics: per pixel
    (``per_pixel``, as harness.data.standardised_digits) or one mean and sd over all pixels, which
    augmentation needs (per-pixel scaling blows up the rarely-lit border pixels a shift fills)."""
    X, y = data.digits()
    img = X.reshape(-1, 8, 8)
    out = []
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            s = np.zeros_like(img)
            s[:, max(dy, 0) : 8 + min(dy, 0), max(dx, 0) : 8 + min(dx, 0)] = img[
                :, max(-dy, 0) : 8 + min(-dy, 0), max(-dx, 0) : 8 + min(-dx, 0)
            ]
            out.append(s.reshape(-1, 64))
    if per_pixel:
        mu, sd = X.mean(0), X.std(0)
        return (np.stack(out) - mu) / np.where(sd > 0, sd, 1.0), y
    return (np.stack(out) - X.mean()) / X.std(), y


SMALL_BLOCK = 40  # runs per block of train_small's step (see there)

MNIST1D_SHIFTS = tuple(range(-4, 5))  # circular shifts of the 40 positions; index 4 = unshifted, as the digits'


@functools.lru_cache(maxsize=1)
def shifted_mnist1d() -> tuple[np.ndarray, np.ndarray]:
    """MNIST-1D's 4000 training then 1000 test sequences, each circularly shifted by s in -4..4 positions:
    X (9, 5000, 40) float32, index 4 = unshifted; y (5000,).  As the generator leaves them (mean 0, sd 1 over
    the whole set).  The generator itself rolls each padded template circularly by up to 48 of its 72
    positions (about 27 of the final 40) before the shear and the resampling to 40 (mnist1d.transform), so a
    roll of a few positions gives sequences of the same kind; only the shear's ramp wraps round."""
    Xtr, ytr, Xte, yte = data.dataset("mnist1d")
    X = np.concatenate([Xtr, Xte])
    return np.stack([np.roll(X, s, axis=1) for s in MNIST1D_SHIFTS]).astype(np.float32), np.concatenate([ytr, yte])


@dataclass(frozen=True)
class Pool:
    """A data set as the trainers use it: X (9, N, d) float32 (9 shifted copies, index 4 unshifted), y (N,);
    rows below ``n_pool`` may be trained on; a split tests on the pool rows it does not train on, then on the
    rows of ``test`` (the data set's own test rows; None for the digits, which have none apart)."""

    X: np.ndarray
    y: np.ndarray
    n_pool: int
    test: np.ndarray | None


def pool(name: str, per_pixel: bool = False) -> Pool:
    """'digits' (all 1797 in the pool, standardised per pixel or globally) or 'mnist1d' (its 4000 training
    sequences in the pool, its 1000 test sequences tested by every split)."""
    if name == "digits":
        X, y = shifted_digits(per_pixel)
        return Pool(X, y, len(y), None)
    if name == "mnist1d":
        X, y = shifted_mnist1d()
        return Pool(X, y, 4000, np.arange(4000, len(y)))
    raise ValueError(f"unknown data set {name!r}; known: digits, mnist1d")


def split(seed: int, n_train: int | None, n: int = 1797, test: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the training and test rows for one seed: ``n_train`` of the ``n`` pool rows (all when None);
    the test rows are the rest of the pool, then ``test`` (the data set's own test rows) if given."""
    perm = np.random.default_rng([seed, 0]).permutation(n)
    k = n if n_train is None else n_train
    return perm[:k], (perm[k:] if test is None else np.concatenate([perm[k:], test]))


def _stack_init(seeds: tuple[int, ...], reps: int, width: int, depth: int, act: str, init: str, d_in: int = 64):
    """Each seed's MLP (harness.models.mlp), repeated ``reps`` times per seed, seed-major:
    W[l] (S*reps, in, out), b[l] (S*reps, 1, out)."""
    nets = [models.linears(models.mlp(d_in, width, depth, 10, act, init, s)) for s in seeds]
    W = [torch.stack([nets[i][l].weight.detach().T for i in range(len(seeds)) for _ in range(reps)]) for l in range(depth + 1)]
    b = [torch.stack([nets[i][l].bias.detach()[None, :] for i in range(len(seeds)) for _ in range(reps)]) for l in range(depth + 1)]
    return W, b


def batch_orders(seeds: tuple[int, ...], n: int, batch: int, steps: int) -> np.ndarray:
    """Each seed's mini-batches of positions in its n training examples (S, steps, batch): ``stacked.batch_orders`` with
    numpy's generator seeded [seed, 1], a fresh permutation each epoch, the last incomplete batch of an epoch dropped."""
    return stacked.batch_orders(list(seeds), [n] * len(seeds), steps, batch, tag=1, size_in_key=False)


@runtime.unfilled_allocations()  # every kernel here writes what it allocates: the same values without the NaN fill
def train_grid(
    conditions: tuple[Condition, ...],
    seeds: tuple[int, ...],
    lrs: tuple[float, ...],
    *,
    n_train: int | None,
    width: int,
    depth: int,
    act: str,
    init: str,
    steps: int,
    batch: int,
    momentum: float,
    eval_every: int,
    probe: int | None = None,
    test_every: int = 0,
    per_pixel: bool = True,
    decay_last: float = 0.0,
    track_shift: bool = True,
    data_set: str = "digits",
    final_test: bool = True,
) -> dict:
    """Train every (condition, seed, rate) MLP at once; SGD with momentum, cross-entropy, float32.  The gradient is
    written out (no autograd graph): every product and sum is the one autograd's backward computes, so it is the same
    bits (see ``backward`` and :func:`_bn_backward`; tests/test_lab_exact.py).

    Data (``data_set``, see :func:`pool`): ``n_train`` rows of the pool per seed (``split``), or the whole
    pool when None; the test set is the rest of the pool (digits) or the data set's own test rows (MNIST-1D).
    The training loss is evaluated deterministically (no dropout, no noise, BN with the statistics
    of the evaluated training rows) on the first ``probe`` training digits (all if None) every
    ``eval_every`` steps; test accuracy every ``test_every`` steps (0: only at the end).
    Digits are standardised per pixel, or globally (``per_pixel=False``, needed for augmentation).
    The rate drops tenfold for the last ``decay_last`` fraction of the steps (0: constant rate).
    ``track_shift=False`` skips the distribution-shift bookkeeping (``shift`` comes back as zeros); it
    draws no random numbers, so every other number is the same either way.
    ``final_test=False`` skips the evaluation after the last step (train_acc, test_acc and test_loss come back
    as NaN), for callers that read only the loss curves and the shift; it changes no other number.

    Returns (C = conditions, S = seeds, L = rates, E = evaluations):
      eval_steps (E,); train_loss (C, S, L, E), inf after divergence; final train_acc, test_acc,
      test_loss (C, S, L); test_curve_steps (T,), test_acc_curve (C, S, L, T);
      shift (C, S, L): mean per-step change of the hidden layers' input distributions (below).
    """
    if per_pixel and data_set == "digits" and any(c.augment for c in conditions):
        raise ValueError("shift augmentation needs per_pixel=False (see shifted_digits)")
    P = pool(data_set, per_pixel)
    Xs, y_all = torch.tensor(P.X, dtype=torch.float32), torch.tensor(P.y)
    C, S, L = len(conditions), len(seeds), len(lrs)
    R = C * S * L
    splits = [split(s, n_train, P.n_pool, P.test) for s in seeds]
    n_tr = len(splits[0][0])
    tr_idx = torch.tensor(np.stack([a for a, _ in splits]))  # (S, n_tr)
    te_idx = torch.tensor(np.stack([b for _, b in splits]))  # (S, n_te)
    n_te = te_idx.shape[1]
    n_probe = n_tr if probe is None else min(probe, n_tr)
    # run r = (c, s, l) in C-major order; its seed index and condition
    r_c = torch.arange(R) // (S * L)
    r_s = (torch.arange(R) // L) % S
    lr = torch.tensor([lrs[i] for _ in range(C * S) for i in range(L)], dtype=torch.float32)[:, None, None]
    noisy = torch.tensor([conditions[c].noise for c in r_c.tolist()], dtype=torch.float32)[:, None, None]
    keep_in = torch.tensor([conditions[c].keep_input for c in r_c.tolist()])[:, None, None]
    keep_h = torch.tensor([conditions[c].keep_hidden for c in r_c.tolist()])[:, None, None]
    augment = torch.tensor([conditions[c].augment for c in r_c.tolist()])[:, None]
    any_aug = bool(augment.any())

    # identical initial weights for every run of a seed (seed-major stack, then reorder to (c, s, l))
    W0, b0 = _stack_init(seeds, L, width, depth, act, init, Xs.shape[-1])
    order = torch.tensor([s * L + l for _ in range(C) for s in range(S) for l in range(L)])
    params = [w[order].clone() for w in W0] + [b[order].clone() for b in b0]
    params += [torch.ones(R, 1, width) for _ in range(depth)] + [torch.zeros(R, 1, width) for _ in range(depth)]
    Wl, bl = params[: depth + 1], params[depth + 1 : 2 * depth + 2]
    gam, bet = params[2 * depth + 2 : 3 * depth + 2], params[3 * depth + 2 :]
    vel = [torch.zeros_like(p) for p in params]
    f, f_grad = _ACTIVATIONS[act]  # harness.lab.stacked.ACTIVATIONS[act] in place (models.ACTIVATIONS[act]'s function); its gradient

    # mini-batch order per seed, shared by all conditions and rates of the seed
    pos = torch.tensor(batch_orders(seeds, n_tr, batch, steps))[r_s]  # (R, steps, batch) positions in the seed's training split
    gen = torch.Generator().manual_seed(int(seeds[0]))

    n_noisy = int(noisy.sum())
    drop_rows = torch.nonzero((keep_in.view(-1) < 1) | (keep_h.view(-1) < 1)).view(-1)
    # the runs in blocks of one condition each ((start, stop, BN, index of the first run among the noisy runs or None),
    # condition-major): each block is normalised on its own, with no index copies
    segs, k = [], 0
    for c, cond in enumerate(conditions):
        segs.append((c * S * L, (c + 1) * S * L, cond.bn, k if cond.noise else None))
        k += S * L if cond.noise else 0
    any_bn = any(cond.bn for cond in conditions)

    def dropout(h: torch.Tensor, keep: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Inverted dropout on the rows that use it (the others are left alone, no random numbers drawn): h, its mask."""
        if not len(drop_rows):
            return h, None
        k = keep[drop_rows]
        mask = (torch.rand((len(drop_rows), *h.shape[1:]), generator=gen) < k) / k
        return h.index_put((drop_rows,), h[drop_rows] * mask), mask

    def normalise_(zb: torch.Tensor, n_stats: int, l: int, a: int, b: int) -> tuple:
        """BN of the runs a..b, in place (zb = their pre-activations, a view), statistics from the first n_stats rows of
        each run; returns what the gradient needs: the normalised values, the sd and the centred values."""
        mu = zb[:, :n_stats].mean(1, keepdim=True)
        c = zb - mu  # its first n_stats rows are the statistics' centred rows
        var = ((c if n_stats == zb.shape[1] else c[:, :n_stats]) ** 2).mean(1, keepdim=True)  # biased, as BN; faster than var
        sd = torch.sqrt(var + EPS)
        q = c / sd
        torch.add(q * gam[l][a:b], bet[l][a:b], out=zb)
        return q, sd, c

    def noise(shape: torch.Size) -> tuple[torch.Tensor, torch.Tensor]:
        """Santurkar et al.: non-zero-mean, non-unit-variance noise, redrawn per step, for every noisy run at once:
        (scale, offset), each (k, B, width)."""
        k = n_noisy
        m_t = (2 * torch.rand(k, 1, width, generator=gen) - 1) * NOISE_MEAN
        s_t = torch.exp((2 * torch.rand(k, 1, width, generator=gen) - 1) * math.log(NOISE_SCALE))
        # (2 r - 1) c, in place (the same products and sums as out of place); then s_t (1 + jitter), m_t + jitter
        jitter = torch.rand(2, k, *shape, generator=gen).mul_(2).sub_(1).mul_(NOISE_JITTER * math.sqrt(3))
        return jitter[0].add_(1).mul_(s_t), jitter[1].add_(m_t)

    def forward(h: torch.Tensor, train: bool, n_stats: int, tape: list | None = None) -> tuple[torch.Tensor, list]:
        """h (R, B, d) -> logits (R, B, 10); BN statistics from the first n_stats rows of each run.  ``tape`` (training)
        collects per hidden layer what :func:`backward` needs."""
        layer_stats = []
        mask = None
        if train:
            h, mask = dropout(h, keep_in)
        for l in range(depth):
            z = torch.baddbmm(bl[l], h, Wl[l])
            noisy_now = train and n_noisy
            scale, offset = noise(z.shape[1:]) if noisy_now else (None, None)
            saved = []
            for a, b, is_bn, k0 in segs:
                bn_saved = sc = None
                if is_bn:
                    bn_saved = normalise_(z[a:b], n_stats, l, a, b)
                if noisy_now and k0 is not None:
                    sc = scale[k0 : k0 + b - a]
                    z[a:b].mul_(sc).add_(offset[k0 : k0 + b - a])
                saved.append((bn_saved, sc))
            h_in, h = h, f(z)
            if tape is not None:
                tape.append((h_in, mask, saved, h))
            if train and track_shift:
                m1 = h.mean(1)
                layer_stats.append((m1, ((h - m1[:, None]) ** 2).mean(1)))
            if train:
                h, mask = dropout(h, keep_h)
        if tape is not None:
            tape.append((h, mask))
        return torch.baddbmm(bl[depth], h, Wl[depth]), layer_stats

    def backward(g: torch.Tensor, tape: list) -> list:
        """The gradients autograd gives for the training forward recorded in ``tape``, given g = d loss / d logits
        (R, B, 10), in the order of ``params`` (BN's scale and shift: None without BN runs).  Every product and sum is
        the one autograd's backward functions compute, so the gradients are the same bits."""
        gW, gb = [None] * (depth + 1), [None] * (depth + 1)
        ggam = [torch.zeros(R, 1, width) for _ in range(depth)] if any_bn else [None] * depth
        gbet = [torch.zeros(R, 1, width) for _ in range(depth)] if any_bn else [None] * depth
        h_top, mask = tape[depth]
        for l in range(depth, -1, -1):
            h_in = h_top if l == depth else tape[l][0]
            gW[l] = torch.bmm(h_in.transpose(1, 2), g)
            gb[l] = g.sum(1, keepdim=True)
            if l == 0:
                break
            g = torch.bmm(g, Wl[l].transpose(1, 2))
            if mask is not None:  # dropout: the kept units' gradients, scaled as their values were
                g = g.index_put((drop_rows,), g[drop_rows] * mask)
            _, mask, saved, h_out = tape[l - 1]
            g = f_grad(g, h_out)
            for (a, b, is_bn, _), (bn_saved, sc) in zip(segs, saved):
                if sc is not None:
                    g[a:b].mul_(sc)
                if is_bn:
                    _, ggam[l - 1][a:b], gbet[l - 1][a:b] = _bn_backward(g[a:b], *bn_saved, gam[l - 1][a:b])
        return gW + gb + ggam + gbet

    def gather(rows: torch.Tensor, shift: torch.Tensor | None = None) -> torch.Tensor:
        """rows (R, B) row indices -> inputs (R, B, d), shifted where asked."""
        return _rows(Xs[4], rows) if shift is None else Xs[shift, rows]

    probe_rows = tr_idx[r_s, :n_probe]  # (R, P)
    probe_x, probe_y = gather(probe_rows), y_all[probe_rows]
    ev_steps, losses = [], []
    test_steps, test_curve = [], []
    alive = torch.ones(R, dtype=torch.bool)
    prev, shift_sum, shift_n = None, torch.zeros(R), 0

    def evaluate_test() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        rows = torch.cat([tr_idx[r_s], te_idx[r_s]], 1)  # BN statistics from the training rows
        out, _ = forward(gather(rows), False, n_tr)
        yy = y_all[rows]
        correct = (out.argmax(-1) == yy).float()
        te_loss = torch.zeros(R)
        if n_te:
            te_loss = _cross_entropy_rows(out[:, n_tr:].reshape(-1, 10), yy[:, n_tr:].reshape(-1)).reshape(R, n_te).mean(1)
        te_acc = correct[:, n_tr:].mean(1) if n_te else torch.zeros(R)
        return correct[:, :n_tr].mean(1), te_acc, te_loss

    for t in range(steps + 1):
        if t % eval_every == 0 or t == steps:
            out, _ = forward(probe_x, False, n_probe)
            ce = _cross_entropy_rows(out.reshape(-1, 10), probe_y.reshape(-1)).reshape(R, n_probe).mean(1)
            ev_steps.append(t)
            losses.append(torch.where(alive & torch.isfinite(ce), ce, torch.tensor(float("inf"))))
        if test_every and n_te and t % test_every == 0:
            test_steps.append(t)
            test_curve.append(evaluate_test()[1])
        if t == steps:
            break
        rows = tr_idx[r_s[:, None], pos[:, t]]  # (R, batch)
        sh = None
        if any_aug:
            sh = torch.where(augment, torch.randint(0, 9, rows.shape, generator=gen), torch.full_like(rows, 4))
        tape = []
        logits, layer_stats = forward(gather(rows, sh), True, batch, tape)
        # the gradient of the summed cross-entropy / batch, as autograd gives it (generalisation.mean_cross_entropy_grad)
        g = generalisation.mean_cross_entropy_grad(logits.reshape(-1, 10), y_all[rows].reshape(-1), batch).view(logits.shape)
        grads = backward(g, tape)
        rate = lr * (0.1 if t >= steps * (1 - decay_last) else 1.0)
        # v <- momentum v + g; p <- p - rate v (every parameter is (R, ., .), rate (R, 1, 1))
        used = [i for i, g in enumerate(grads) if g is not None]
        if momentum:
            vs = [vel[i] for i in used]
            torch._foreach_mul_(vs, momentum)
            torch._foreach_add_(vs, [grads[i] for i in used])
        else:  # v = 0 v + g is g (a run whose v is not finite has non-finite weights too, and is frozen below)
            vs = [grads[i] for i in used]
        torch._foreach_sub_([params[i] for i in used], torch._foreach_mul(vs, [rate] * len(vs)))
        if (t + 1) % eval_every == 0:  # a diverged run is frozen at zero (NaN stays inside its own run anyway)
            bad = torch.zeros(R, dtype=torch.bool)
            for p in params:
                bad |= ~torch.isfinite(p.reshape(R, -1)).all(1)
            if bad.any():
                alive &= ~bad
                for p, v in zip(params, vel):
                    p[bad] = 0.0
                    v[bad] = 0.0
        # distribution shift of each hidden layer's output (the next layer's input), step to step:
        # |change of each unit's batch mean| + |change of its batch sd|, in units of the layer's rms sd
        if prev is not None:
            d = torch.zeros(R)
            for (m1, v1), (m0, v0) in zip(layer_stats, prev):
                scale = torch.sqrt(v0.mean(1) + 1e-12)
                d += ((m1 - m0).abs().mean(1) + (v1.sqrt() - v0.sqrt()).abs().mean(1)) / scale
            shift_sum += d / depth
            shift_n += 1
        prev = layer_stats
    tr_acc, te_acc, te_loss = evaluate_test() if final_test else [torch.full((R,), float("nan"))] * 3
    shape = (C, S, L)
    return {
        "eval_steps": np.array(ev_steps),
        "train_loss": torch.stack(losses, -1).numpy().reshape(*shape, -1),
        "train_acc": tr_acc.numpy().reshape(shape),
        "test_acc": te_acc.numpy().reshape(shape),
        "test_loss": te_loss.numpy().reshape(shape),
        "test_curve_steps": np.array(test_steps),
        "test_acc_curve": torch.stack(test_curve, -1).numpy().reshape(*shape, -1) if test_curve else np.zeros((*shape, 0)),
        "shift": (shift_sum / max(shift_n, 1)).numpy().reshape(shape),
        "alive": alive.numpy().reshape(shape),
    }


def _rows(X: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
    """X[rows] for a matrix X (n, d) and row indices of any shape, by index_select (several times faster than
    advanced indexing here; the same values)."""
    return torch.index_select(X, 0, rows.reshape(-1)).reshape(*rows.shape, X.shape[-1])


def _bn_backward(g: torch.Tensor, q: torch.Tensor, sd: torch.Tensor, c: torch.Tensor, gam: torch.Tensor) -> tuple:
    """Gradient of BN over the first axis' runs (train_grid's normalise_, statistics over all B rows) given g = d loss /
    d output (r, B, w), q = c / sd the normalised values, sd, c the centred values, gam the scale (r, 1, w): (d / d
    input, written into g, d / d gamma, d / d beta).  The same bits as autograd's backward functions of that forward
    (Add, Mul, Div, Sqrt, Mean, Pow, Sub; the mean's and the input's two gradients added as its engine adds them), with
    three exact shortcuts: a sum of negated terms is the negated sum, c / sd is q, and scaling by 2 commutes with
    rounding (so the gradient through var = mean(c ** 2) is (2 d var / B) c, one product instead of four operations)."""
    B = g.shape[1]
    g_bet = g.sum(1, keepdim=True)  # output = q * gam + beta
    g_q = g * gam
    g_gam = (g * q).sum(1, keepdim=True)
    g_c = g_q / sd  # q = c / sd
    g_sd = -(g_q * (q / sd)).sum(1, keepdim=True)  # autograd: -g_q * ((c / sd) / sd), summed over the rows
    g_var = g_sd / (2 * sd)  # sd = sqrt(var + eps)
    g_c1 = (g_var / B * 2) * c  # autograd: expand(g_var) / B * (2 * c ** 1), the c that enters the variance
    g_mu = -g_c1.sum(1, keepdim=True) + -g_c.sum(1, keepdim=True)  # c = z - mu, twice
    torch.add(g_c, g_c1.add_(g_mu / B), out=g)  # mu = mean(z): autograd adds g_c1 and expand(g_mu) / B, then g_c
    return g, g_gam, g_bet


def _log_softmax(logits: torch.Tensor) -> torch.Tensor:
    """``log_softmax(logits, -1)``: the same bits, faster, by the log-softmax over rows of harness.lab.generalisation
    (torch's own where that does not apply)."""
    if not generalisation._LANES:
        return torch.log_softmax(logits, -1)
    return generalisation._LogSoftmaxOverRows.apply(logits.reshape(-1, logits.shape[-1])).reshape(logits.shape)


def _cross_entropy_rows(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``cross_entropy(logits, y, reduction="none")`` for logits (m, classes): the same bits (nll_loss of the log-softmax)."""
    return -_log_softmax(logits).gather(1, y[:, None])[:, 0]


# each activation of harness.lab.stacked.ACTIVATIONS in place, and the gradient autograd computes for it from its output
_ACTIVATIONS = {name: (f, stacked.ACTIVATION_BACKWARD[name]) for name, f in stacked.ACTIVATIONS_IN_PLACE.items()}


@runtime.unfilled_allocations()  # every kernel here writes what it allocates: the same values without the NaN fill
def train_small(
    conditions: tuple[Condition, ...],
    seeds: tuple[int, ...],
    *,
    n_train: int,
    width: int,
    depth: int,
    steps: int,
    batch: int,
    lr: float | tuple[float, ...],
    momentum: float,
    decay_last: float,
    loss_every: int = 0,
    curve_every: int = 0,
    curve_test: int = 300,
    data_set: str = "digits",
    final_test: bool = True,
) -> dict:
    """The small-data runs of the regularisation claims: every (condition, seed) ReLU MLP (He init) trained at
    once, one rate for all; SGD with momentum on the mean cross-entropy of each mini-batch, float32, globally
    standardised digits (``shifted_digits(False)``, as augmentation needs).

    ``lr``: one rate for every run, or one per seed (a rate grid is seeds repeated, one rate each).
    A leaner :func:`train_grid` for claims that need hundreds of runs: one block of batched weights (S, in,
    out) per condition, so each block runs only its own pieces (no masks over runs, no index copies); the
    gradient is written out (ReLU, BN, dropout, softmax cross-entropy; checked against autograd in
    :func:`check_train_small_gradients`); no rate axis, no distribution-shift bookkeeping and no divergence
    handling (one small rate; a non-finite result comes back as NaN, which the judge refuses).

    Runs of one seed share the data split (``split``: ``n_train`` digits, the rest test), the initial weights
    (harness.models.mlp) and the mini-batch order (as train_grid); dropout masks and shifts come from one
    numpy generator seeded with the first seed.  The rate drops tenfold for the last ``decay_last`` of the steps.
    BN uses batch statistics in training and the whole training split's statistics at evaluation.

    Returns (C = conditions, S = seeds):
      train_acc, test_acc, test_loss (C, S) after the last step, on all training / all test digits;
      loss_steps (E,), train_loss (C, S, E): training cross-entropy on all training digits, evaluated
        without dropout or shifts every ``loss_every`` steps (E = 0 when 0);
      curve_steps (T,), test_acc_curve (C, S, T): accuracy on the first ``curve_test`` test digits of each
        split every ``curve_every`` steps (T = 0 when 0), for the plot.
    ``final_test=False`` skips the evaluation after the last step (train_acc, test_acc and test_loss come back as
    NaN), for callers that read only the loss curves; it changes no other number.
    """
    if any(c.noise for c in conditions):
        raise ValueError("train_small has no noisy BN; use train_grid")
    P = pool(data_set)
    Xs, y_all = torch.tensor(P.X, dtype=torch.float32), torch.tensor(P.y)
    C, S = len(conditions), len(seeds)
    d = Xs.shape[-1]
    splits = [split(s, n_train, P.n_pool, P.test) for s in seeds]
    tr_idx = torch.tensor(np.stack([a for a, _ in splits]))  # (S, n_tr)
    te_idx = torch.tensor(np.stack([b for _, b in splits]))  # (S, n_te)
    all_rows = torch.cat([tr_idx, te_idx], 1)  # (S, 1797): training rows first (BN statistics from them)
    W0, b0 = _stack_init(seeds, 1, width, depth, "relu", "he", d)
    # each condition's runs in blocks of SMALL_BLOCK: a block's step works within the cache, and every number is
    # the unblocked one (the runs never mix; dropout masks and shifts are drawn for all runs, in the unblocked order)
    blocks = [(a, min(a + SMALL_BLOCK, S)) for a in range(0, S, SMALL_BLOCK)]
    nets = [[_SmallNet(cond, [w[a:b] for w in W0], [v[a:b] for v in b0], depth, width) for a, b in blocks] for cond in conditions]
    vel = [[[torch.zeros_like(p) for p in net.params] for net in row] for row in nets]
    orders = torch.tensor(batch_orders(seeds, n_train, batch, steps))  # the per-seed batch order of train_grid
    batches = torch.gather(tr_idx, 1, orders.reshape(S, -1)).reshape(S, steps, batch)
    rng = np.random.default_rng([int(seeds[0]), 5])  # numpy's PCG64: several times faster than torch.rand here
    flat, unshifted = Xs.reshape(-1, d), Xs[4]
    per_run = None if isinstance(lr, (int, float)) else torch.tensor(lr, dtype=torch.float32).view(S, 1, 1)
    if per_run is not None:  # each block's rates, at full and at a tenth of the rate, as (S, 1, 1) tensors
        rates = {d: [per_run[a:b] * d for a, b in blocks] for d in (1.0, 0.1)}

    def evaluate(rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits (C, S, R, 10) and labels (S, R) of ``rows`` (S, R), training rows first."""
        x = _rows(unshifted, rows)
        return torch.stack([torch.cat([net.forward(x[a:b], n_train) for net, (a, b) in zip(row, blocks)]) for row in nets]), y_all[rows]

    labels = y_all[batches]  # (S, steps, batch)
    loss_steps, losses, curve_steps, curve = [], [], [], []
    for t in range(steps + 1):
        if loss_every and (t % loss_every == 0 or t == steps):
            out, yy = evaluate(tr_idx)
            loss_steps.append(t)
            losses.append(-_log_softmax(out).gather(-1, yy.expand(C, -1, -1)[..., None]).mean((-1, -2)))
        if curve_every and (t % curve_every == 0 or t == steps):
            out, yy = evaluate(all_rows[:, : n_train + curve_test])
            curve_steps.append(t)
            curve.append((out[:, :, n_train:].argmax(-1) == yy[:, n_train:]).float().mean(-1))
        if t == steps:
            break
        rows = batches[:, t]  # (S, batch)
        x_plain = torch.index_select(unshifted, 0, rows.reshape(-1)).reshape(S, batch, d)
        drop = 0.1 if t >= steps * (1 - decay_last) else 1.0
        for c, row in enumerate(nets):
            net = row[0]
            x = x_plain
            if net.cond.augment:  # shift k of 9 (4 = none) for every example: row k * 1797 + digit of Xs
                k = torch.from_numpy(rng.integers(0, 9, rows.shape))
                x = torch.index_select(flat, 0, (k * Xs.shape[1] + rows).reshape(-1)).reshape(S, batch, d)
            masks = net.masks(rng, S, batch, d)
            for k, (net, (a, b)) in enumerate(zip(row, blocks)):
                grads = net.gradients(x[a:b], labels[a:b, t], masks=[m[a:b] if m is not None else None for m in masks])
                torch._foreach_add_(grads, vel[c][k], alpha=momentum)  # v <- momentum v + g, written into the fresh gradients
                vel[c][k] = grads
                if per_run is None:
                    torch._foreach_add_(net.params, grads, alpha=-lr * drop)
                else:
                    torch._foreach_sub_(net.params, torch._foreach_mul(grads, [rates[drop][k]] * len(grads)))
    final = {k: np.full((C, S), np.nan, np.float32) for k in ("train_acc", "test_acc", "test_loss")}
    if final_test:
        out, yy = evaluate(all_rows)
        correct = (out.argmax(-1) == yy).float()
        te_loss = -_log_softmax(out[:, :, n_train:]).gather(-1, yy[:, n_train:].expand(C, -1, -1)[..., None])
        final = {
            "train_acc": correct[:, :, :n_train].mean(-1).numpy(),
            "test_acc": correct[:, :, n_train:].mean(-1).numpy(),
            "test_loss": te_loss.mean((-1, -2)).numpy(),
        }
    return {
        **final,
        "loss_steps": np.array(loss_steps),
        "train_loss": torch.stack(losses, -1).numpy() if losses else np.zeros((C, S, 0)),
        "curve_steps": np.array(curve_steps),
        "test_acc_curve": torch.stack(curve, -1).numpy() if curve else np.zeros((C, S, 0)),
    }


def random_bytes(rng: np.random.Generator, n: int) -> np.ndarray:
    """``rng.bytes(n)`` as a uint8 array: the same bytes, and the same generator state after.  For PCG64 (numpy's
    default) with no half-used 32-bit word in its buffer and n a multiple of 8 they are the generator's raw 64-bit
    words, little-endian (``bytes`` reads 32-bit words, each 64-bit word's low half first), about six times faster."""
    bg = rng.bit_generator
    if n % 8 == 0 and sys.byteorder == "little" and isinstance(bg, np.random.PCG64) and not bg.state["has_uint32"]:
        return bg.random_raw(n // 8).view(np.uint8)
    return np.frombuffer(rng.bytes(n), dtype=np.uint8)


def keep_mask(rng: np.random.Generator, shape: tuple, keep: float) -> torch.Tensor:
    """Inverted dropout's mask: 1 / keep with probability ``keep``, else 0; float32 of ``shape``.
    keep = 1/2 uses one random bit per unit; other values compare 16 random bits with round(keep * 2^16)
    (so keep = 0.8 is 0.800003).  numpy bits instead of torch.rand: dropout's masks are most of its cost."""
    n = math.prod(shape)
    if keep == 0.5:
        bits = np.unpackbits(random_bytes(rng, -(-n // 8)))[:n]
    else:  # rng.bytes(2 n) read as uint16: the numbers (and the generator's state after) of rng.integers(0, 2**16, n,
        # dtype=np.uint16), at a sixth of its cost
        bits = (random_bytes(rng, 2 * n).view(np.uint16) < round(keep * 2**16)).view(np.uint8)
    # 0 or 1 / keep in float32, as a conversion to float32 and a product with 1 / keep would give (x * 1 is x)
    return torch.from_numpy(np.multiply(bits.reshape(shape), np.float32(1 / keep), dtype=np.float32))


class _SmallNet:
    """S batched ReLU MLPs of one condition, with a written-out gradient (train_small's networks).
    params: W_0..W_depth (S, in, out), b_0..b_depth (S, 1, out), then, with BN, gamma_l and beta_l (S, 1, width)."""

    def __init__(self, cond: Condition, W0: list, b0: list, depth: int, width: int):
        self.cond, self.depth = cond, depth
        S = W0[0].shape[0]
        self.W, self.b = [w.clone() for w in W0], [b.clone() for b in b0]
        self.gam = [torch.ones(S, 1, width) for _ in range(depth)] if cond.bn else []
        self.bet = [torch.zeros(S, 1, width) for _ in range(depth)] if cond.bn else []
        self.params = self.W + self.b + self.gam + self.bet

    @staticmethod
    def _norm(z: torch.Tensor, n_stats: int) -> tuple[torch.Tensor, torch.Tensor]:
        """BN's normalised values and 1/sd, statistics over the first n_stats rows of each run."""
        mu = z[:, :n_stats].mean(1, keepdim=True)
        dz = z - mu
        dr = dz[:, :n_stats]
        rstd = torch.rsqrt((dr * dr).mean(1, keepdim=True) + EPS)  # biased variance, as BN (d * d is torch's d ** 2)
        return dz * rstd, rstd

    def forward(self, x: torch.Tensor, n_stats: int) -> torch.Tensor:
        """Evaluation: x (S, R, 64) -> logits (S, R, 10), no dropout; BN over the first n_stats rows."""
        for l in range(self.depth):
            z = torch.baddbmm(self.b[l], x, self.W[l])
            if self.cond.bn:
                z = torch.addcmul(self.bet[l], self._norm(z, n_stats)[0], self.gam[l])
            x = torch.relu_(z)
        return torch.baddbmm(self.b[-1], x, self.W[-1])

    def masks(self, rng: np.random.Generator, S: int, B: int, d: int) -> list[torch.Tensor | None]:
        """Dropout's masks for one step of S runs on mini-batches of B inputs of d values: the input's, then each hidden
        layer's (None where the condition keeps everything), drawn in this order."""
        c, w = self.cond, self.W[0].shape[-1]
        first = keep_mask(rng, (S, B, d), c.keep_input) if c.keep_input < 1 else None
        return [first] + [keep_mask(rng, (S, B, w), c.keep_hidden) if c.keep_hidden < 1 else None for _ in range(self.depth)]

    def gradients(
        self, x: torch.Tensor, labels: torch.Tensor, rng: np.random.Generator | None = None, masks: list | None = None
    ) -> list[torch.Tensor]:
        """Gradient of each run's mean cross-entropy over its mini-batch x (S, B, 64), labels (S, B) int64,
        in training mode (batch statistics; dropout's ``masks`` as :meth:`masks` gives them, drawn from ``rng`` when None),
        in the order of ``params``."""
        c, B = self.cond, x.shape[1]
        if masks is None:
            masks = self.masks(rng, *x.shape)
        if c.keep_input < 1:  # inverted dropout: nothing to rescale at evaluation
            x = x * masks[0]
        acts, cache = [x], []
        for l in range(self.depth):
            z = torch.baddbmm(self.b[l], x, self.W[l])
            xhat = rstd = None
            if c.bn:
                xhat, rstd = self._norm(z, B)
                z = torch.addcmul(self.bet[l], xhat, self.gam[l])
            x = on = torch.relu_(z)  # z is a fresh tensor, used only through its ReLU
            mask = None
            if c.keep_hidden < 1:
                mask = masks[1 + l]
                x = x * mask
            acts.append(x)
            cache.append((on, mask, xhat, rstd))
        logits = torch.baddbmm(self.b[-1], x, self.W[-1])
        e = (logits - logits.amax(-1, keepdim=True)).exp_()  # softmax by hand: torch's is slow over 10 classes
        e.div_(e.sum(-1, keepdim=True)).scatter_add_(-1, labels[..., None], torch.full((*labels.shape, 1), -1.0))  # softmax - one-hot
        g = e.mul_(1 / B)  # d(mean cross-entropy) / d logits
        gW, gb, ggam, gbet = [None] * (self.depth + 1), [None] * (self.depth + 1), [], []
        for l in range(self.depth, -1, -1):
            gW[l] = torch.bmm(acts[l].transpose(1, 2), g)
            gb[l] = g.sum(1, keepdim=True)
            if l == 0:
                break
            g = torch.bmm(g, self.W[l].transpose(1, 2))  # d / d(output of hidden layer l - 1)
            on, mask, xhat, rstd = cache[l - 1]
            if mask is not None:
                g = g * mask
            g = torch.ops.aten.threshold_backward(g, on, 0)  # ReLU: pass where the unit was on
            if c.bn:  # with gx = gamma g: rstd (gx - mean(gx) - xhat mean(gx xhat)), the means from the gradients of beta and gamma
                gg, gb_ = (g * xhat).sum(1, keepdim=True), g.sum(1, keepdim=True)
                ggam.append(gg)
                gbet.append(gb_)
                g = torch.addcmul(g - gb_ / B, xhat, gg / B, value=-1).mul_(rstd * self.gam[l - 1])
        return gW + gb + ggam[::-1] + gbet[::-1]


def check_train_small_gradients(seed: int = 0, n: int = 3) -> float:
    """Largest difference between _SmallNet's written-out gradient and autograd's (same dropout masks), for a
    plain, a BN and a BN + dropout net of width 16, relative to the largest gradient entry of that net
    (BN makes the hidden biases' gradients exactly 0, so entry-wise ratios are meaningless).  float32."""
    g = torch.Generator().manual_seed(seed)
    r = lambda *s: torch.randn(*s, generator=g)
    W0, b0 = [r(n, 64, 16) * 0.2, r(n, 16, 16) * 0.3, r(n, 16, 10) * 0.3], [r(n, 1, 16) * 0.1, r(n, 1, 16) * 0.1, r(n, 1, 10) * 0.1]
    x, labels = r(n, 12, 64), torch.randint(0, 10, (n, 12), generator=g)
    onehot = nn.functional.one_hot(labels, 10).float()
    worst = 0.0
    for cond in (Condition(), Condition(bn=True), Condition(bn=True, keep_input=0.8, keep_hidden=0.5)):
        net = _SmallNet(cond, W0, b0, 2, 16)
        mine = net.gradients(x, labels, np.random.default_rng(1))
        ps = [p.clone().requires_grad_(True) for p in net.params]
        rng, h = np.random.default_rng(1), x  # the same masks, drawn in the same order
        if cond.keep_input < 1:
            h = h * keep_mask(rng, h.shape, cond.keep_input)
        for l in range(2):
            z = torch.baddbmm(ps[3 + l], h, ps[l])
            if cond.bn:
                z = _SmallNet._norm(z, 12)[0] * ps[6 + l] + ps[8 + l]
            h = torch.relu(z)
            if cond.keep_hidden < 1:
                h = h * keep_mask(rng, h.shape, cond.keep_hidden)
        loss = -(torch.log_softmax(torch.baddbmm(ps[5], h, ps[2]), -1) * onehot).sum(-1).mean(1).sum()
        ref = torch.autograd.grad(loss, ps)
        scale = max(float(b.abs().max()) for b in ref)
        worst = max(worst, max(float((a - b).abs().max()) for a, b in zip(mine, ref)) / scale)
    return worst


def steps_to_target(eval_steps: np.ndarray, losses: np.ndarray, target: float) -> np.ndarray:
    """First evaluated step at which the loss is <= target; ``eval_steps[-1]`` (the cap) if never.
    losses (..., E) -> (...)."""
    hit = losses <= target
    first = np.where(hit.any(-1), hit.argmax(-1), len(eval_steps) - 1)
    return eval_steps[first].astype(float)


# -- torch.nn.BatchNorm1d in a trained net ---------------------------------------------------------


def bn_net(width: int, seed: int) -> nn.Sequential:
    """64 -> [Linear, BatchNorm1d, ReLU] x 2 -> Linear 10, float64, He init (harness.models)."""
    g = torch.Generator().manual_seed(seed)
    layers: list[nn.Module] = []
    for a, b in ((64, width), (width, width)):
        lin = nn.Linear(a, b, dtype=torch.float64)
        models.init_linear_(lin, "he", g)
        layers += [lin, nn.BatchNorm1d(b, dtype=torch.float64), nn.ReLU()]
    out = nn.Linear(width, 10, dtype=torch.float64)
    models.init_linear_(out, "he", g)
    return nn.Sequential(*layers, out)


def batchnorm1d_check(seed: int, width: int, steps: int, batch: int = 64, lr: float = 0.1) -> dict:
    """Train ``bn_net`` with SGD (momentum 0.9) on all standardised digits for ``steps`` steps, then
    read every BatchNorm1d layer's input and output on two fresh mini-batches A and B, in training
    and in evaluation mode (on a copy, so the measurement does not move the running statistics).

    Returns maxima over layers and units (float64):
      xhat_dev_train: max(|mean|, |var - 1|) over batch A of the normalised output (y - beta) / gamma,
        training mode; xhat_dev_input: the same statistic of the layer's input (the control);
      err_train_batch / err_train_running: max |train-mode output - formula| with A's own mean and
        biased variance / with the running statistics;
      err_eval_running / err_eval_batch: the same for evaluation-mode output;
      dep_train / dep_eval: max |output of the first 16 examples of A - their output when batched with
        B's rest instead| (does an example's output depend on its batch?);
      running_vs_population: max over units |running mean - training-set mean| / training-set sd.
    """
    X, y = data.standardised_digits()
    X, y = torch.tensor(X), torch.tensor(y)
    net = bn_net(width, seed)
    params = list(net.parameters())
    vel = [torch.zeros_like(p) for p in params]
    rng = np.random.default_rng([seed, 3])
    for _ in range(steps):  # SGD with momentum, written out (torch.optim's first import costs about a second)
        idx = torch.tensor(rng.choice(len(X), size=batch, replace=False))
        grads = torch.autograd.grad(nn.functional.cross_entropy(net(X[idx]), y[idx]), params)
        with torch.no_grad():
            for p, v, g in zip(params, vel, grads):
                p.sub_(lr * v.mul_(0.9).add_(g))
    a = torch.tensor(rng.choice(len(X), size=batch, replace=False))
    b = torch.tensor(rng.choice(len(X), size=batch, replace=False))
    mixed = torch.cat([a[:16], b[16:]])
    bns = [m for m in net if isinstance(m, nn.BatchNorm1d)]

    def io(model: nn.Sequential, x: torch.Tensor, train: bool) -> list[tuple[torch.Tensor, torch.Tensor]]:
        model = copy.deepcopy(model).train(train)
        seen = []
        hooks = [
            m.register_forward_hook(lambda m, i, o: seen.append((i[0].detach(), o.detach())))
            for m in model
            if isinstance(m, nn.BatchNorm1d)
        ]
        with torch.no_grad():
            model(x)
        for h in hooks:
            h.remove()
        return seen

    def formula(bnl: nn.BatchNorm1d, x: torch.Tensor, running: bool) -> torch.Tensor:
        mu, var = (bnl.running_mean, bnl.running_var) if running else (x.mean(0), x.var(0, unbiased=False))
        return (x - mu) / torch.sqrt(var + bnl.eps) * bnl.weight.detach() + bnl.bias.detach()

    def dev(z: torch.Tensor) -> float:
        return float(torch.maximum(z.mean(0).abs(), (z.var(0, unbiased=False) - 1).abs()).max())

    tr, ev = io(net, X[a], True), io(net, X[a], False)
    tr_mix, ev_mix = io(net, X[mixed], True), io(net, X[mixed], False)
    out = {
        "xhat_dev_train": 0.0,
        "xhat_dev_input": 0.0,
        "err_train_batch": 0.0,
        "err_train_running": 0.0,
        "err_eval_running": 0.0,
        "err_eval_batch": 0.0,
        "dep_train": 0.0,
        "dep_eval": 0.0,
        "running_vs_population": 0.0,
        "min_batch_var": math.inf,
    }
    h = X
    with torch.no_grad():
        for i, bnl in enumerate(bns):
            (xin, yout), (ein, eout) = tr[i], ev[i]
            xhat = (yout - bnl.bias) / bnl.weight
            out["xhat_dev_train"] = max(out["xhat_dev_train"], dev(xhat))
            out["xhat_dev_input"] = max(out["xhat_dev_input"], dev(xin))
            out["min_batch_var"] = min(out["min_batch_var"], float(xin.var(0, unbiased=False).min()))
            out["err_train_batch"] = max(out["err_train_batch"], float((yout - formula(bnl, xin, False)).abs().max()))
            out["err_train_running"] = max(out["err_train_running"], float((yout - formula(bnl, xin, True)).abs().max()))
            out["err_eval_running"] = max(out["err_eval_running"], float((eout - formula(bnl, ein, True)).abs().max()))
            out["err_eval_batch"] = max(out["err_eval_batch"], float((eout - formula(bnl, ein, False)).abs().max()))
            out["dep_train"] = max(out["dep_train"], float((tr_mix[i][1][:16] - yout[:16]).abs().max()))
            out["dep_eval"] = max(out["dep_eval"], float((ev_mix[i][1][:16] - eout[:16]).abs().max()))
        net.eval()
        for m in net:  # the training set's own statistics at each BN input, for the running averages
            if isinstance(m, nn.BatchNorm1d):
                rel = (m.running_mean - h.mean(0)).abs() / h.std(0, unbiased=False).clamp_min(1e-12)
                out["running_vs_population"] = max(out["running_vs_population"], float(rel.max()))
            h = m(h)
    return out


# -- which axes each normalisation layer normalises ------------------------------------------------

AXES = {  # the groups of elements that share one mean and variance, for an (N, C, H, W) tensor
    "LayerNorm": "per example, over (C, H, W)",
    "GroupNorm": "per example and group of channels, over (C/G, H, W)",
    "InstanceNorm2d": "per example and channel, over (H, W)",
    "BatchNorm2d": "per channel, over (N, H, W)",
}


def norm_layers(C: int, H: int, W: int, groups: int) -> dict[str, nn.Module]:
    """torch's four layers, float64, default affine initialisation (gamma 1, beta 0), training mode."""
    return {
        "LayerNorm": nn.LayerNorm([C, H, W], dtype=torch.float64),
        "GroupNorm": nn.GroupNorm(groups, C, dtype=torch.float64),
        "InstanceNorm2d": nn.InstanceNorm2d(C, dtype=torch.float64),
        "BatchNorm2d": nn.BatchNorm2d(C, dtype=torch.float64).train(),
    }


def group_ids(axes: str, shape: tuple[int, int, int, int], groups: int) -> torch.Tensor:
    """For each element of an (N, C, H, W) tensor, the id of its normalisation group under ``axes``
    (a key of AXES): (N, C, H, W) int64."""
    N, C, H, W = shape
    n = torch.arange(N)[:, None, None, None].expand(shape)
    c = torch.arange(C)[None, :, None, None].expand(shape)
    return {"LayerNorm": n, "GroupNorm": n * groups + c // (C // groups), "InstanceNorm2d": n * C + c, "BatchNorm2d": c}[axes].contiguous()


def group_deviation(z: torch.Tensor, ids: torch.Tensor) -> float:
    """max over groups of max(|mean|, |biased variance - 1|) of z's elements in each group."""
    z, ids = z.reshape(-1), ids.reshape(-1)
    k = int(ids.max()) + 1
    cnt = torch.zeros(k, dtype=z.dtype).index_add_(0, ids, torch.ones_like(z))
    mean = torch.zeros(k, dtype=z.dtype).index_add_(0, ids, z) / cnt
    var = torch.zeros(k, dtype=z.dtype).index_add_(0, ids, (z - mean[ids]) ** 2) / cnt
    return float(torch.maximum(mean.abs(), (var - 1).abs()).max())


def structured_input(shape: tuple[int, int, int, int], seed: int) -> torch.Tensor:
    """An (N, C, H, W) float64 tensor whose mean and scale differ per example, per channel and per
    (example, channel), so no axis set is normalised to begin with."""
    g = torch.Generator().manual_seed(seed)
    N, C, H, W = shape
    r = lambda *s: torch.randn(*s, generator=g, dtype=torch.float64)
    u = lambda *s: 2 * torch.rand(*s, generator=g, dtype=torch.float64) - 1
    offset = 3 * r(N, 1, 1, 1) + 2 * r(1, C, 1, 1) + r(N, C, 1, 1)
    # scales within [e^-0.75, e^0.75] = [0.47, 2.1], so every group's variance stays well above eps = 1e-5
    scale = torch.exp(0.25 * (u(N, 1, 1, 1) + u(1, C, 1, 1) + u(N, C, 1, 1)))
    return offset + scale * r(N, C, H, W)


def norm_layer_axes(seed: int, shape: tuple[int, int, int, int] = (6, 8, 5, 5), groups: int = 4) -> dict:
    """Every layer of ``norm_layers`` applied to ``structured_input``.

    Returns:
      deviation[layer][axes]: ``group_deviation`` of the layer's output over each axis set (4 x 4);
      input_deviation[axes]: the same for the input;
      mismatch[layer][axes]: number of output elements whose dependence on one input element
        (n, c, h, w) = (1, 5, 2, 3) differs from membership of that element's group under ``axes``
        (an output changes iff it shares the element's statistics, or is the element itself);
      min_group_var: the smallest input variance of any group (eps = 1e-5 biases var(out) by eps/var).
    """
    x = structured_input(shape, seed)
    layers = norm_layers(shape[1], shape[2], shape[3], groups)
    e = (1, 5, 2, 3)
    bumped = x.clone()
    bumped[e] += 0.5
    out = {"deviation": {}, "mismatch": {}, "input_deviation": {}, "min_group_var": math.inf}
    ids = {a: group_ids(a, shape, groups) for a in AXES}
    for a in AXES:
        out["input_deviation"][a] = group_deviation(x, ids[a])
        flat, idf = x.reshape(-1), ids[a].reshape(-1)
        for g in range(int(idf.max()) + 1):
            out["min_group_var"] = min(out["min_group_var"], float(flat[idf == g].var(unbiased=False)))
    with torch.no_grad():
        for name, layer in layers.items():
            z, zb = layer(x), layer(bumped)
            changed = (zb - z).abs() > 1e-12
            out["deviation"][name] = {a: group_deviation(z, ids[a]) for a in AXES}
            out["mismatch"][name] = {a: int((changed != (ids[a] == ids[a][e])).sum()) for a in AXES}
    return out
