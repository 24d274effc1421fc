"""Plain vs residual MLPs, trained many at a time, and residual nets as Euler steps of an ODE.

Pure functions: they return numbers and arrays, never assert, print or plot.

The networks are batched over R independent runs (seeds x learning rates x architectures x data
sets): every weight has a leading run axis, ``W (R, fan_in, fan_out)``, and a forward pass is one
stacked matmul per layer.  Forward and backward passes are written out by hand (float32, torch's
batched kernels without autograd, on the memory of the numpy arrays): at widths 16-32 and hundreds
of layers autograd's per-op overhead would dominate.

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
import torch
from scipy import integrate

from harness.lab import runtime, stacked

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
    velocity: np.ndarray | None = None  # SGD momentum after train_sgd (all parameters, flat), where a later call resumes


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
    return h * (h > 0)  # NaN stays NaN


def _segments(net: Net) -> list[tuple[int, int, float, float]]:
    """Runs of consecutive runs with the same skip and multiplier: (start, end, skip, mult)."""
    skip, mult = net.skip.ravel().tolist(), net.mult.ravel().tolist()
    out = []
    for r, key in enumerate(zip(skip, mult)):
        if out and (out[-1][2], out[-1][3]) == key:
            out[-1] = (out[-1][0], r + 1) + key
        else:
            out.append((r, r + 1) + key)
    return out


def _forward(Ws, bs, segs, x, keep: bool = True):
    """Torch forward pass of the stacked nets (tensors shaped like Net's).  x: (R, B, in) or (B, in).
    Returns logits and, if ``keep``, the hidden states h_1..h_depth and their relus (each (R, B, width))."""
    h = torch.matmul(x, Ws[0]).add_(bs[0])
    hs, acts = [h], []
    for W, b in zip(Ws[1:-1], bs[1:-1]):
        a = torch.relu(h)
        if keep:
            acts.append(a)
        new = torch.empty_like(h)
        for s, e, skip, mult in segs:
            if skip:  # residual unit: h + m relu(h) W + b, one fused call
                torch.baddbmm(h[s:e], a[s:e], W[s:e], beta=skip, alpha=mult, out=new[s:e])
                new[s:e] += b[s:e]
            else:  # plain unit: relu(h) W + b (the multiplier of plain runs is 1)
                torch.baddbmm(b[s:e], a[s:e], W[s:e], alpha=mult, out=new[s:e])
        h = new
        if keep:
            hs.append(h)
    a = torch.relu(h)
    acts.append(a)
    return torch.baddbmm(bs[-1], a, Ws[-1]), hs, acts


def _cross_entropy(logits: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean cross-entropy per run (R,) and its gradient w.r.t. the logits.  y: (R, B) or (B,)."""
    logp = torch.log_softmax(logits, dim=-1)
    idx = torch.broadcast_to(y, logits.shape[:-1])[..., None]
    loss = -logp.gather(-1, idx)[..., 0].mean(-1)
    g = logp.exp_()
    g.scatter_add_(-1, idx, torch.full(idx.shape, -1.0, dtype=g.dtype))
    return loss, g.div_(logits.shape[-2])


def forward(net: Net, x: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    """x: (R, B, in) or (B, in).  Returns logits (R, B, out) and the hidden states h_1..h_depth (numpy)."""
    t = torch.from_numpy
    logits, hs, _ = _forward([t(W) for W in net.Ws], [t(b) for b in net.bs], _segments(net), t(np.ascontiguousarray(x, DTYPE)))
    return logits.numpy(), [h.numpy() for h in hs]


def cross_entropy(logits: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Mean cross-entropy per run (R,), logits (R, B, classes), y (B,) or (R, B)."""
    return _cross_entropy(torch.as_tensor(logits), torch.as_tensor(y))[0].numpy()


class _Workspace:
    """The buffers and views one training step of :func:`train_sgd` reuses: the hidden states h_1..h_depth, their relus
    and the gradients w.r.t. them (each (depth, R, B, width)), and every per-segment slice and transpose, made once.
    Fresh tensors per layer and step spend most of a step in page faults and allocation at thousands of layers (about
    3x slower at 3000 layers of width 16, 48 runs).  The hidden layers' weight and bias gradients are computed after
    the backward pass, for all layers in one product and one sum (``gW_hidden`` (depth - 1, R, width, width) and
    ``gb_hidden`` (depth - 1, R, 1, width): the gradient buffer's views of them), instead of two calls per layer: the
    same kernels on the same matrices, with a thousand fewer calls per step at a thousand layers."""

    def __init__(self, Ws, bs, segs, R: int, B: int, gW_hidden: torch.Tensor, gb_hidden: torch.Tensor):
        depth, width = len(Ws) - 1, Ws[0].shape[2]
        self.H, self.A, self.G = (torch.empty(depth, R, B, width) for _ in range(3))
        self.Hl, self.Al, self.Gl = (list(t.unbind(0)) for t in (self.H, self.A, self.G))  # per-layer views, made once
        self.WT = [W.transpose(1, 2) for W in Ws]
        self.segs = segs
        sl = [(s, e) for s, e, _, _ in segs]
        # per unit l = 1..depth-1 (h_l -> h_{l+1}): (h_l, relu(h_l), W_l, h_{l+1}, b_l, skip, mult) per segment
        self.units = [
            [
                (self.Hl[l - 1][s:e], self.Al[l - 1][s:e], Ws[l][s:e], self.Hl[l][s:e], bs[l][s:e], skip, mult)
                for (s, e), (_, _, skip, mult) in zip(sl, segs)
            ]
            for l in range(1, depth)
        ]
        # per unit, backward: (gradient w.r.t. h_{l+1}, gradient w.r.t. h_l, skip, mult) per segment
        self.back = [
            [(self.Gl[l][s:e], self.Gl[l - 1][s:e], skip, mult) for (s, e), (_, _, skip, mult) in zip(sl, segs)] for l in range(1, depth)
        ]
        # per unit l = 1..depth-1, forward: (h_l, relu(h_l), its segments); backward: (h_l, dL/dh_{l+1}, dL/dh_l, W_l^T)
        self.fwd = [(self.Hl[l - 1], self.Al[l - 1], unit) for l, unit in zip(range(1, depth), self.units)]
        self.bwd = [(self.Hl[i - 1], self.Gl[i], self.Gl[i - 1], self.WT[i], self.back[i - 1]) for i in range(depth - 1, 0, -1)]
        self.gW_hidden, self.gb_hidden = gW_hidden, gb_hidden
        if depth > 1:  # relu(h_l)^T (R (depth - 1), width, B) and the gradients w.r.t. h_{l+1} (R (depth - 1), B, width)
            self.A_lower = self.A[:-1].reshape(-1, B, width).transpose(1, 2)
            self.G_upper = self.G[1:].reshape(-1, B, width)
            self.gW_flat = gW_hidden.view(-1, width, width)

    def forward(self, Ws, bs, x: torch.Tensor) -> torch.Tensor:
        """Logits (R, B, out) of x (R, B, in); the hidden states and their relus stay in H and A."""
        torch.baddbmm(bs[0], x, Ws[0], out=self.Hl[0])
        for h_l, a_l, unit in self.fwd:
            torch.clamp(h_l, min=0, out=a_l)
            for h, a, W, new, b, skip, mult in unit:
                if skip:  # residual unit: h + m relu(h) W + b
                    torch.baddbmm(h, a, W, beta=skip, alpha=mult, out=new)
                    new += b
                else:  # plain unit: relu(h) W + b (the multiplier of plain runs is 1)
                    torch.baddbmm(b, a, W, alpha=mult, out=new)
        torch.clamp(self.Hl[-1], min=0, out=self.Al[-1])
        return torch.baddbmm(bs[-1], self.Al[-1], Ws[-1])

    def backward(self, x: torch.Tensor, g: torch.Tensor, gW, gb) -> None:
        """Gradients of the loss, given dloss/dlogits ``g`` (R, B, out), written into gW and gb; the forward pass's
        hidden states and relus must be in H and A."""
        H, A, G = self.Hl, self.Al, self.Gl
        torch.bmm(A[-1].transpose(1, 2), g, out=gW[-1])
        torch.sum(g, dim=1, keepdim=True, out=gb[-1])
        torch.bmm(g, self.WT[-1], out=G[-1])
        threshold_backward = torch.ops.aten.threshold_backward.grad_input
        threshold_backward(G[-1], H[-1], 0, grad_input=G[-1])
        for h, gh, other, WT, back_unit in self.bwd:  # unit i, from the top, maps h_i (H[i-1]) to h_{i+1} (H[i])
            torch.bmm(gh, WT, out=other)
            threshold_backward(other, h, 0, grad_input=other)
            for ghs, back, skip, mult in back_unit:
                if skip:
                    torch.add(ghs, back, alpha=mult, out=back) if skip == 1.0 else back.mul_(mult).add_(ghs, alpha=skip)
                elif mult != 1.0:
                    back *= mult
        if self.units:  # every hidden unit's weight and bias gradient: relu(h_l)^T dL/dh_{l+1} (times m), sum of dL/dh_{l+1}
            torch.bmm(self.A_lower, self.G_upper, out=self.gW_flat)
            for s, e, _, mult in self.segs:
                if mult != 1.0:
                    self.gW_hidden[:, s:e] *= mult
            torch.sum(self.G[1:], dim=2, keepdim=True, out=self.gb_hidden)
        torch.bmm(x.transpose(1, 2), G[0], out=gW[0])
        torch.sum(G[0], dim=1, keepdim=True, out=gb[0])


def _rms(a: torch.Tensor) -> np.ndarray:
    """Root mean square over all but the run axis, in float64 (tiny float32 gradients square to > 0): (R,)."""
    return a.double().square().mean(dim=tuple(range(1, a.ndim))).sqrt().numpy()


@dataclass
class TrainResult:
    """Per run r: training loss and error on the evaluation examples before training and after each evaluation
    point, and the weight-gradient RMS of the first (input) and last (output) layer at every step."""

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
    eval_start: bool = True,
) -> TrainResult:
    """Mini-batch SGD with momentum (PyTorch's form: v = m v + g; w -= lr v), no weight decay, in place.

    The momentum starts at 0, or at ``net.velocity`` left by an earlier call: a net trained for s steps and then
    for t more, with the next t rows of the same batch order, is the net trained for s + t steps.

    X: (N, in), y: (N,), lrs: (R,) one rate per run, order: (R, steps, batch) example indices per step
    (runs that share a seed should share an order; runs on different data sets index their own rows of a
    stacked X).  The training loss and error are evaluated on X[eval_idx] (default:
    all of X; an (R, E) array gives each run its own E examples) at initialisation (NaN with ``eval_start`` False, for
    a continued run whose start is known), every ``eval_every`` steps and at the end; a net
    started with a zero output layer is not evaluated at initialisation (its logits are 0: loss ln(classes),
    every example called class 0).  Non-finite losses are reported as inf and the run keeps going (its NaNs
    stay in its own slice of the batch).  Written with torch's fused batched kernels (baddbmm,
    threshold_backward) on the numpy arrays' memory: on one thread about 1.5x faster than numpy's separate
    element-wise passes at 36 runs of width 32, 1.1-1.3x at 12-24 runs of width 16 (same numbers to float32
    rounding).
    """
    R, steps, _ = order.shape
    X, y = torch.from_numpy(np.array(X, DTYPE)), torch.from_numpy(np.array(y, np.int64))
    # All parameters live in one flat buffer, parameter after parameter, each (R, fan_in, fan_out) contiguous (net's
    # arrays become views of it), and so do their gradients: the momentum update is three calls per step.
    params = net.Ws + net.bs
    sizes = [p.size for p in params]
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    flat_np = np.concatenate([p.ravel() for p in params])
    flat, grad = torch.from_numpy(flat_np), torch.zeros(flat_np.shape)
    vel = torch.zeros(flat_np.shape) if net.velocity is None else torch.from_numpy(net.velocity.copy())
    lr = torch.from_numpy(np.concatenate([np.repeat(np.asarray(lrs, DTYPE), n // R) for n in sizes]))

    def views(buf):
        v = [buf[a:b].reshape(p.shape) for a, b, p in zip(offsets[:-1], offsets[1:], params)]
        return v[: len(net.Ws)], v[len(net.Ws) :]

    Ws, bs = views(flat)
    gW, gb = views(grad)
    net.Ws, net.bs = (list(v) for v in views(flat_np))  # numpy views of the same memory
    segs = _segments(net)
    gfirst, glast, bloss = np.zeros((R, steps)), np.zeros((R, steps)), np.zeros((R, steps))
    after = [t for t in range(1, steps + 1) if eval_every and t % eval_every == 0]
    after += [] if after and after[-1] == steps else [steps]
    losses, errors = [], []
    ev = None if eval_idx is None else torch.from_numpy(np.asarray(eval_idx))
    Xe, ye = (X, y) if ev is None else (X[ev], y[ev])  # (E, in) or, per run, (R, E, in)

    def evaluate():
        with runtime.unfilled_allocations():  # every tensor of the forward pass is written in full by its kernel
            logits, _, _ = _forward(Ws, bs, segs, Xe, keep=False)
        loss = _cross_entropy(logits, ye)[0].numpy()
        losses.append(np.where(np.isfinite(loss), loss, np.inf))
        errors.append((logits.argmax(-1) != ye).double().mean(-1).numpy())

    if not eval_start:
        losses.append(np.full(R, np.nan))
        errors.append(np.full(R, np.nan))
    elif not np.any(net.Ws[-1]) and not np.any(net.bs[-1]):  # zero output layer: logits 0, no forward pass needed
        classes = net.Ws[-1].shape[2]
        losses.append(np.full(R, np.log(classes)))
        errors.append(np.broadcast_to(1.0 - np.mean(ye.numpy() == 0, axis=-1), (R,)))  # argmax of equal logits: class 0
    else:
        evaluate()
    order_t = torch.from_numpy(order)
    L, depth, width = len(net.Ws), len(net.Ws) - 1, net.Ws[0].shape[2]  # the hidden layers' parameters lie side by side
    gW_hidden = grad[offsets[1] : offsets[depth]].view(depth - 1, R, width, width)
    gb_hidden = grad[offsets[L + 1] : offsets[L + depth]].view(depth - 1, R, 1, width)
    ws = _Workspace(Ws, bs, segs, R, order.shape[2], gW_hidden, gb_hidden)
    with torch.no_grad(), runtime.unfilled_allocations():  # every tensor a step allocates is written in full by its kernel
        for t in range(steps):
            idx = order_t[:, t]
            xb, yb = X[idx], y[idx]  # (R, B, in), (R, B)
            logits = ws.forward(Ws, bs, xb)
            loss, g = _cross_entropy(logits, yb)
            bloss[:, t] = loss.numpy()
            ws.backward(xb, g, gW, gb)
            gfirst[:, t], glast[:, t] = _rms(gW[0]), _rms(gW[-1])
            vel.mul_(momentum).add_(grad)
            flat.addcmul_(lr, vel, value=-1.0)
            if t + 1 in after:
                evaluate()
    net.velocity = vel.numpy()
    return TrainResult(np.array([0] + after), np.array(losses).T, np.array(errors).T, gfirst, glast, bloss)


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
