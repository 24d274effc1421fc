"""Plain vs residual MLPs, trained many at a time, and residual nets as Euler steps of an ODE.

Pure functions: they return numbers and arrays, never assert, print or plot.

The networks are batched over R independent runs (seeds x learning rates x architectures): every
weight has a leading run axis, ``W (R, fan_in, fan_out)``, and a forward pass is one stacked matmul
per layer.  Forward and backward passes are written out in numpy (float32): at widths 16-32 and
hundreds of layers, torch's per-op overhead dominates and this is 2.5-4x faster on one thread.

Architecture ("pre-activation" unit of He et al. 2016b, *Identity Mappings*, one weight layer per
unit, no normalisation), for ``depth`` hidden layers of ``width`` units::

    h_1     = x W_0 + b_0                                   (R, B, width)
    h_{l+1} = s h_l + m relu(h_l) W_l + b_l,  l = 1..depth-1
                                        residual: s = 1, m = 1/sqrt(depth-1); plain: s = 0, m = 1
    logits  = relu(h_depth) W_out + b_out                   (R, B, classes)

With s = 0 this is exactly ``harness.models.mlp(depth)`` (Linear, ReLU, ..., Linear), so plain and
residual nets have the same layers and parameters; the skip connection is the only difference.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import integrate

from harness.lab import stacked

DTYPE = np.float32


# -- batched MLPs -----------------------------------------------------------------------------------


@dataclass
class Net:
    """R stacked networks.  Ws[0]: (R, in, width); Ws[1:-1]: (R, width, width); Ws[-1]: (R, width, out).
    bs[i]: (R, 1, fan_out).  skip: (R, 1, 1), 1.0 for residual runs and 0.0 for plain ones; mult: (R, 1, 1),
    the branch multiplier of the hidden units (1 for plain runs)."""

    Ws: list[np.ndarray]
    bs: list[np.ndarray]
    skip: np.ndarray
    mult: np.ndarray
    residual: bool = False  # any residual run (else the skip and multiplier operations are left out)


def init_nets(
    seeds: list[int],
    depth: int,
    width: int,
    residual: list[bool],
    *,
    in_features: int = 64,
    out_features: int = 10,
    branch_multiplier: float | None = None,
    zero_output: bool = False,
) -> Net:
    """One network per entry of ``seeds`` (repeat a seed to share its weights between runs).

    Weights are He-normal, N(0, 2 / fan_in) (He et al. 2015), biases 0; a seed gives plain and residual
    runs the same draws.  The hidden units of residual runs are multiplied by ``branch_multiplier``
    (default 1/sqrt(depth - 1)): h <- h + m relu(h) W + b.  Without normalisation each He-initialised
    unit adds the variance it receives, so the forward variance would double per unit (2^depth); with
    m = 1/sqrt(depth - 1) it grows by about a factor e over the whole net, and, because m also scales
    the gradient of W, SGD's learning rate carries over across depths (the 'depth-muP' scaling of
    Yang et al. 2023 and Bordelon et al. 2023; Hayou et al. 2021 for the forward pass).
    ``zero_output`` starts the output layer at 0 (logits 0, loss ln(classes) for every net).
    """
    if branch_multiplier is None:
        branch_multiplier = 1.0 / np.sqrt(max(depth - 1, 1))
    sizes = [in_features] + [width] * depth + [out_features]
    Ws = [np.empty((len(seeds), a, b), DTYPE) for a, b in zip(sizes[:-1], sizes[1:])]
    for r, s in enumerate(seeds):
        rng = np.random.default_rng([s, 7])
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
            Ws[i][r] = rng.standard_normal((a, b)) * np.sqrt(2.0 / a)
    if zero_output:
        Ws[-1][:] = 0.0
    bs = [np.zeros((len(seeds), 1, W.shape[2]), DTYPE) for W in Ws]
    skip = np.array([1.0 if res else 0.0 for res in residual], DTYPE)[:, None, None]
    mult = np.array([branch_multiplier if res else 1.0 for res in residual], DTYPE)[:, None, None]
    return Net(Ws, bs, skip, mult, residual=any(residual))


def relu(h: np.ndarray) -> np.ndarray:
    return h * (h > 0)  # a little faster than np.maximum(h, 0) on float32; NaN stays NaN


def forward(net: Net, x: np.ndarray) -> tuple[np.ndarray, list[np.ndarray], list[np.ndarray]]:
    """x: (R, B, in) or (B, in).  Returns logits (R, B, out), hidden states h_1..h_depth and relu(h) of each."""
    h = x @ net.Ws[0] + net.bs[0]
    hs, acts = [h], [relu(h)]
    for W, b in zip(net.Ws[1:-1], net.bs[1:-1]):
        h = acts[-1] @ W
        if net.residual:
            h *= net.mult
            h += net.skip * hs[-1]
        h += b
        hs.append(h)
        acts.append(relu(h))
    return acts[-1] @ net.Ws[-1] + net.bs[-1], hs, acts


def cross_entropy(logits: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean cross-entropy per run (R,) and its gradient w.r.t. the logits (R, B, classes).  y: (R, B) or (B,)."""
    z = logits - logits.max(axis=-1, keepdims=True)
    e = np.exp(z)
    p = e / e.sum(axis=-1, keepdims=True)
    onehot = np.zeros_like(p)
    np.put_along_axis(onehot, np.broadcast_to(y, p.shape[:-1])[..., None], 1.0, axis=-1)
    loss = -(onehot * (z - np.log(e.sum(axis=-1, keepdims=True)))).sum(axis=-1).mean(axis=-1)
    return loss, (p - onehot) / p.shape[-2]


def backward(
    net: Net,
    x: np.ndarray,
    hs: list[np.ndarray],
    acts: list[np.ndarray],
    g: np.ndarray,
    out: tuple[list[np.ndarray], list[np.ndarray]] | None = None,
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Gradients of the loss (given dloss/dlogits ``g``, (R, B, out)) for every weight and bias, shaped as net's.

    ``out``: arrays (gW, gb) shaped like (net.Ws, net.bs) to write the gradients into (saves a copy per layer)."""
    L = len(net.Ws)
    ones = np.ones((1, 1, g.shape[1]), DTYPE)  # batch sums as a matmul: 7x faster than .sum(axis=1)
    gW, gb = out if out is not None else ([None] * L, [None] * L)

    def put(lst, i, a, b):  # lst[i] = a @ b, in place where a buffer was given
        if out is None:
            lst[i] = a @ b
        else:
            np.matmul(a, b, out=lst[i])

    put(gW, -1, acts[-1].transpose(0, 2, 1), g)
    put(gb, -1, ones, g)
    gh = (g @ net.Ws[-1].transpose(0, 2, 1)) * (hs[-1] > 0)
    for i in range(L - 2, 0, -1):  # unit i maps h_i (hs[i-1]) to h_{i+1}
        put(gb, i, ones, gh)
        gm = net.mult * gh if net.residual else gh  # gradient at the branch's output, before the multiplier
        put(gW, i, acts[i - 1].transpose(0, 2, 1), gm)
        back = (gm @ net.Ws[i].transpose(0, 2, 1)) * (hs[i - 1] > 0)
        if net.residual:
            back += net.skip * gh
        gh = back
    put(gW, 0, np.broadcast_to(x, (gh.shape[0],) + x.shape[-2:]).transpose(0, 2, 1), gh)
    put(gb, 0, ones, gh)
    return gW, gb


def rms(a: np.ndarray) -> np.ndarray:
    """Root mean square over all but the run axis: (R, ...) -> (R,)."""
    return np.sqrt(np.mean(np.square(a, dtype=np.float64), axis=tuple(range(1, a.ndim))))


@dataclass
class TrainResult:
    """Per run r: full-set training loss and error before training and after each evaluation point,
    and the weight-gradient RMS of the first (input) and last (output) layer at every step."""

    eval_steps: np.ndarray  # (E,) steps after which the full set was evaluated (0 = initialisation)
    loss: np.ndarray  # (R, E) mean cross-entropy on the whole training set, nats
    error: np.ndarray  # (R, E) training error (share misclassified)
    grad_first: np.ndarray  # (R, steps) RMS of the input layer's weight gradient on the mini-batch
    grad_last: np.ndarray  # (R, steps) RMS of the output layer's weight gradient on the mini-batch
    batch_loss: np.ndarray  # (R, steps) mini-batch loss before each step's update, nats


def train_sgd(
    net: Net,
    X: np.ndarray,
    y: np.ndarray,
    lrs: np.ndarray,
    order: np.ndarray,
    *,
    momentum: float = 0.9,
    eval_every: int = 0,
    eval_idx: np.ndarray | None = None,
) -> TrainResult:
    """Mini-batch SGD with momentum (PyTorch's form: v = m v + g; w -= lr v), no weight decay, in place.

    X: (N, in), y: (N,), lrs: (R,) one rate per run, order: (R, steps, batch) example indices per step
    (runs that share a seed should share an order).  The training loss and error are evaluated on
    X[eval_idx] (default: all of X) at initialisation, every ``eval_every`` steps and at the end.  Non-finite
    losses are reported as inf and the run keeps going (its NaNs stay in its own slice of the batch).
    """
    R, steps, _ = order.shape
    lr = np.asarray(lrs, DTYPE)[:, None]
    X, y = X.astype(DTYPE), np.asarray(y)
    # All parameters of a run live in one row of a (R, P) buffer (net's arrays become views of it), and so do
    # their gradients: the momentum update is then three array operations per step instead of three per layer.
    shapes = [p.shape[1:] for p in net.Ws + net.bs]
    sizes = [int(np.prod(sh)) for sh in shapes]
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    flat = np.concatenate([p.reshape(R, -1) for p in net.Ws + net.bs], axis=1)
    grad, vel = np.zeros_like(flat), np.zeros_like(flat)

    def views(buf):
        v = [buf[:, a:b].reshape((R,) + sh) for a, b, sh in zip(offsets[:-1], offsets[1:], shapes)]
        return v[: len(net.Ws)], v[len(net.Ws) :]

    net.Ws, net.bs = views(flat)
    gviews = views(grad)
    gfirst, glast, bloss = np.zeros((R, steps)), np.zeros((R, steps)), np.zeros((R, steps))
    evals = [0] + [t for t in range(1, steps + 1) if eval_every and t % eval_every == 0]
    if evals[-1] != steps:
        evals.append(steps)
    losses, errors = [], []
    Xe, ye = (X, y) if eval_idx is None else (X[eval_idx], y[eval_idx])

    def evaluate():
        logits, _, _ = forward(net, Xe)
        loss, _ = cross_entropy(logits, ye)
        losses.append(np.where(np.isfinite(loss), loss, np.inf))
        errors.append((logits.argmax(-1) != ye).mean(-1))

    with np.errstate(all="ignore"):  # a diverging run turns to inf/NaN in its own slice only
        evaluate()
        for t in range(steps):
            xb, yb = X[order[:, t]], y[order[:, t]]  # (R, B, in), (R, B)
            logits, hs, acts = forward(net, xb)
            bloss[:, t], g = cross_entropy(logits, yb)
            gW, _ = backward(net, xb, hs, acts, g, out=gviews)
            gfirst[:, t], glast[:, t] = rms(gW[0]), rms(gW[-1])
            vel *= momentum
            vel += grad
            flat -= lr * vel
            if t + 1 in evals:
                evaluate()
    return TrainResult(np.array(evals), np.array(losses).T, np.array(errors).T, gfirst, glast, bloss)


def batch_orders(seeds: list[int], n: int, steps: int, batch: int) -> np.ndarray:
    """Mini-batch indices per run from ``n`` examples, reshuffled every epoch: (R, steps, batch)."""
    return stacked.batch_orders(seeds, [n] * len(seeds), steps, batch, tag=11, size_in_key=False)


# -- residual blocks and the identity ---------------------------------------------------------------


def residual_block(x: np.ndarray, W1: np.ndarray, b1: np.ndarray, W2: np.ndarray, b2: np.ndarray, skip: bool = True) -> np.ndarray:
    """He et al. 2016's two-layer unit without normalisation: x + relu(x W1 + b1) W2 + b2 (skip=False drops x).

    x: (B, d); W1: (d, k); W2: (k, d).  Returns (B, d).
    """
    branch = np.maximum(x @ W1 + b1, 0) @ W2 + b2
    return x + branch if skip else branch


# -- residual nets as Euler steps of an ODE (Chen et al. 2018, eq. 1) -------------------------------


@dataclass(frozen=True)
class VectorField:
    """f(h, t) = tanh(h (A + t B) + c): a smooth, time-dependent field on R^d (t in [0, 1]).

    A, B: (d, d), c: (d,).  B = 0 gives shared weights (every layer the same); B != 0 weights that vary
    smoothly with depth.
    """

    A: np.ndarray
    B: np.ndarray
    c: np.ndarray

    def __call__(self, h: np.ndarray, t: float) -> np.ndarray:
        return np.tanh(h @ (self.A + t * self.B) + self.c)


def random_field(d: int, seed: int, varying: bool, gain: float = 1.5) -> VectorField:
    """A field with N(0, gain^2 / d) weights (gain 1.5: a visibly nonlinear flow over t in [0, 1])."""
    rng = np.random.default_rng([seed, 19])
    A = rng.standard_normal((d, d)) * gain / np.sqrt(d)
    B = rng.standard_normal((d, d)) * gain / np.sqrt(d) if varying else np.zeros((d, d))
    return VectorField(A, B, rng.standard_normal(d) * 0.5)


def residual_net(f: VectorField, h0: np.ndarray, layers: int, step: float | None = None, scheme: str = "euler") -> np.ndarray:
    """Apply ``layers`` residual units h <- h + step * f(h, t_k), t_k = k / layers (Euler), to h0 (B, d).

    step None means 1/layers: the net is the explicit Euler discretisation of dh/dt = f(h, t) on [0, 1].
    scheme 'rk4' makes each unit a classical Runge-Kutta step (Chen et al.'s RK-Net), for comparison.
    """
    h = h0.astype(np.float64)
    dt = 1.0 / layers
    step = dt if step is None else step
    for k in range(layers):
        t = k * dt
        if scheme == "euler":
            h = h + step * f(h, t)
        else:
            k1 = f(h, t)
            k2 = f(h + step / 2 * k1, t + dt / 2)
            k3 = f(h + step / 2 * k2, t + dt / 2)
            k4 = f(h + step * k3, t + dt)
            h = h + step / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
    return h


def ode_solution(f: VectorField, h0: np.ndarray, t1: float = 1.0) -> np.ndarray:
    """h(t1) for dh/dt = f(h, t), h(0) = h0 (B, d), by scipy's DOP853 at rtol 1e-12, atol 1e-12: (B, d)."""
    shape = h0.shape
    sol = integrate.solve_ivp(
        lambda t, v: f(v.reshape(shape), t).ravel(), (0.0, t1), h0.astype(np.float64).ravel(), method="DOP853", rtol=1e-12, atol=1e-12
    )
    return sol.y[:, -1].reshape(shape)
