"""Initialisation, depth and backprop: stacked MLPs, variance profiles, batched training, gradient costs.

Pure functions that return numbers and arrays (no asserts, prints or plots), for the claims in
``claims/catalogue/initialisation.toml``.  Many runs (seeds x learning rates x recipes) train as one
stacked network with ``torch.baddbmm``: weights are ``(R, fan_in, fan_out)`` per layer, activations
``(R, batch, features)``, so every run sees the same mini-batch order and one thread stays busy.

Init schemes (weights ~ N(0, var), biases 0), named by the variance they set:
- 'fan-in':  var = 1/fan_in   Glorot & Bengio 2010 eq. 10 (forward); "Xavier" as He et al. 2015 use it
- 'fan-out': var = 1/fan_out  Glorot & Bengio 2010 eq. 11 (backward)
- 'glorot':  var = 2/(fan_in + fan_out)  Glorot & Bengio 2010 eq. 12 (the compromise)
- 'he':      var = 2/fan_in   He et al. 2015 eq. 10 (ReLU)
- 'normal':  var = 1          the naive N(0, 1)
- 'standard': U(-1/sqrt(fan_in), 1/sqrt(fan_in)), var = 1/(3 fan_in)  Glorot & Bengio 2010 eq. 1, the
  'commonly used heuristic' of their day (uniform, the one scheme not drawn from a normal)
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence

import numpy as np
import torch

from harness.lab import runtime, stacked, timing

# -- weights -------------------------------------------------------------------------------------


def stacked_weights(
    sizes: Sequence[int], scheme: str, seeds: Sequence[int], *, repeat: int = 1, dtype=torch.float32
) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Weights and zero biases of one MLP per seed, each repeated ``repeat`` times (seed-major).

    sizes: [in, hidden..., out].  Returns W[l]: (R, sizes[l], sizes[l+1]) and b[l]: (R, 1, sizes[l+1]),
    R = len(seeds) * repeat.  Seed s draws the same weights under every normal scheme (one standard-normal
    draw, scaled by the scheme's std), so schemes compare on identical directions; a uniform scheme
    (``stacked.UNIFORM``) draws U(-1, 1) with the same generator, scaled to the scheme's variance.
    """
    return stacked.scheme_weights(seeds, sizes, scheme, repeat=repeat, draw=torch.float64, dtype=dtype)


def forward(h: torch.Tensor, W: Sequence[torch.Tensor], b: Sequence[torch.Tensor], act: str) -> torch.Tensor:
    """Stacked MLP: h (R, batch, in) -> logits (R, batch, out); every layer but the last applies ``act``."""
    return stacked.forward(h, W, b, act)


# -- variance profiles at initialisation -------------------------------------------------------------


def linear_variance_profiles(
    sizes: Sequence[int], schemes: Sequence[str], seed: int, batch: int = 64
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Forward and back-propagated variances per layer of a deep *linear* net at initialisation (float64).

    The net maps N(0, 1) inputs (batch, sizes[0]) through len(sizes)-1 linear layers without biases;
    a N(0, 1) upstream gradient g (batch, sizes[-1]) is pushed back by autograd.  Per scheme, two
    (len(sizes)-1,) arrays, input layer first: Var[s_i], the variance (over batch and units) of each
    layer's summed input, and Var[dC/ds_i] / Var[g], the back-propagated gradient's variance relative
    to the one fed in at the top (Glorot & Bengio 2010, Sec. 4.2.1, eqs. 5-7 and 13).  Every scheme
    scales the same standard-normal weights, inputs and upstream gradient of ``seed``.
    """
    unit, _ = stacked_weights(sizes, "normal", [seed], dtype=torch.float64)
    g = torch.Generator().manual_seed(int(seed) + 1)
    x = torch.randn(1, batch, sizes[0], generator=g, dtype=torch.float64)
    up = torch.randn(1, batch, sizes[-1], generator=g, dtype=torch.float64)
    out = {}
    for scheme in schemes:
        s, h = [], x.clone().requires_grad_(True)
        for w, fi, fo in zip(unit, sizes[:-1], sizes[1:]):
            h = torch.bmm(h, w * math.sqrt(stacked.VARIANCES[scheme](fi, fo)))
            h.retain_grad()
            s.append(h)
        (h * up).sum().backward()
        out[scheme] = (np.array([float(t.detach().var()) for t in s]), np.array([float(t.grad.var()) for t in s]) / float(up.var()))
    return out


def relu_second_moments(
    width: int, depth: int, schemes: Sequence[str], seed: int, batch: int = 64, device: str = "cpu"
) -> dict[str, np.ndarray]:
    """E[x_l^2] of each hidden ReLU layer's output (over batch and units) on N(0, 1) inputs: (depth,) per scheme.

    He et al. 2015, Sec. 2.2: Var[y_l] = n_l Var[w_l] E[x_{l-1}^2] and E[x_l^2] = Var[y_l] / 2, so
    var 2/n keeps E[x^2] at 1 and var 1/n halves it per layer.  float64, square layers of ``width``, no
    biases; every scheme scales the same standard-normal weights and inputs of ``seed`` (drawn on the CPU,
    so every device sees the same numbers; computed on ``device``).
    """
    unit, _ = stacked_weights([width] * (depth + 1), "normal", [seed], dtype=torch.float64)
    unit = [w.to(device) for w in unit]
    x = torch.randn(1, batch, width, generator=torch.Generator().manual_seed(int(seed) + 1), dtype=torch.float64).to(device)
    out = {}
    with torch.no_grad():
        for scheme in schemes:
            h, m = x, []
            for w in unit:
                h = torch.relu(torch.bmm(h, w * math.sqrt(stacked.VARIANCES[scheme](width, width))))
                m.append(float((h**2).mean()))
            out[scheme] = np.array(m)
    return out


# -- batched training ------------------------------------------------------------------------------


def evaluate(
    X: torch.Tensor, y: torch.Tensor, W: Sequence[torch.Tensor], b: Sequence[torch.Tensor], act: str
) -> tuple[np.ndarray, np.ndarray]:
    """Mean cross-entropy and error of each stacked run on all of (X, y): (R,) each.  X: (n, in); y: (n,)."""
    R, n = W[0].shape[0], len(X)
    f = stacked.ACTIVATIONS_IN_PLACE[act]  # the values of :func:`forward`, each activation applied in place (one tensor fewer per layer)
    with torch.no_grad(), runtime.unfilled_allocations():  # every new tensor is written in full by its kernel
        h = X.expand(R, n, X.shape[1])
        for l in range(len(W) - 1):
            h = f(torch.baddbmm(b[l], h, W[l]))
        logits = torch.baddbmm(b[-1], h, W[-1])
        loss = stacked.run_losses(logits, y.expand(R, n))
        err = stacked.error(logits, y, X.dtype)
    return loss.numpy().copy(), err.numpy().copy()


def _loss_and_grads(
    xb: torch.Tensor, yb: torch.Tensor, W: Sequence[torch.Tensor], b: Sequence[torch.Tensor], act: str, layers: Sequence[int]
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Each run's mean cross-entropy on its mini-batch (R,) and the gradients autograd would give for the summed losses
    w.r.t. the weights and then the biases of ``layers`` (the weights and biases that are trained), bit for bit: the
    forward pass without a graph, the loss's gradient w.r.t. the logits by autograd on the loss alone, then the products
    and activation derivatives autograd's ``BaddbmmBackward`` and activation backward run, written out (at widths of
    32 and tens of layers autograd's bookkeeping costs about as much as the arithmetic)."""
    with torch.no_grad():
        hs, logits = stacked.mlp_inputs(xb, W, b, act)
    z = logits.requires_grad_(True)
    per_run = stacked.run_losses(z, yb)
    (g,) = torch.autograd.grad(per_run.sum(), z)
    with torch.no_grad():
        gW, gb = stacked.mlp_grads(hs, W, g, act, layers)
    return per_run.detach(), gW + gb


def _step_(optimizer: str, params, grads, lr: torch.Tensor, state, t: int, momentum: float) -> None:
    """One step of ``stacked.sgd_step_`` (plain, or heavy ball with the first of each state pair as velocity) or
    ``stacked.adam_step_`` with the new gradient weighted 0.1 and 0.001, as this module has always written them."""
    if optimizer == "sgd":
        stacked.sgd_step_(params, grads, lr)
    elif optimizer == "momentum":
        stacked.sgd_step_(params, grads, lr, [m for m, _ in state], momentum)
    else:  # Adam (Kingma & Ba 2014, Alg. 1), betas 0.9, 0.999, eps 1e-8
        stacked.adam_step_(params, state, grads, lr, t, weights=(0.1, 0.001))


def train_stacked(
    X: torch.Tensor,
    y: torch.Tensor,
    W: list[torch.Tensor],
    b: list[torch.Tensor],
    act: str,
    lrs: torch.Tensor,
    *,
    steps: int,
    batch: int,
    optimizer: str,
    order_seeds: Sequence[int],
    momentum: float = 0.9,
    trainable: Sequence[int] | None = None,
    test: tuple[torch.Tensor, torch.Tensor] | None = None,
    initial: bool = True,
) -> dict[str, np.ndarray]:
    """Train R stacked MLPs on (X, y) with cross-entropy; returns training-loss curves and final values.

    X: (n, in) float; y: (n,) int64; W, b as from :func:`stacked_weights` (copied, not changed);
    lrs: (R,) one rate per run; optimizer 'sgd' (plain), 'momentum' (heavy ball, ``momentum``) or 'adam'
    (Kingma & Ba 2014 defaults: betas 0.9, 0.999, eps 1e-8).  ``order_seeds`` (R,) draws each run's
    mini-batch order (shuffled epochs), so runs that share an order seed see the same batches.
    Returns, per run: 'loss' and 'error' (R,) on all of (X, y) after training, 'loss0' (R,) before it,
    'batch_loss' (R, steps) the mini-batch loss of every step (before its update), and 'grad_rms0'
    (R, n_layers) each layer's weight-gradient RMS at the first step.  A diverged run (non-finite loss)
    reports loss 10 ln(classes) and error 1.  ``trainable`` lists the layers (0 = input layer) whose weights
    and biases are updated (default: all; the others stay at their initial values).  With ``test`` =
    (X_test, y_test), 'test_error' (R,) is the held-out error after training.  ``initial`` False leaves out the
    evaluation before training ('loss0' is then absent), for a caller that does not read it.
    """
    n, classes = len(X), int(y.max()) + 1
    R = len(order_seeds)
    worst = 10 * math.log(classes)
    layers = range(len(W)) if trainable is None else trainable
    Wp = [w.clone().requires_grad_(l in layers) for l, w in enumerate(W)]
    bp = [c.clone().requires_grad_(l in layers) for l, c in enumerate(b)]
    params = [p for p in Wp + bp if p.requires_grad]
    lr = lrs.to(X.dtype)[:, None, None]
    state = [(torch.zeros_like(p), torch.zeros_like(p)) for p in params]
    per_epoch = n // batch
    epochs = -(-steps // per_epoch)
    orders = {  # once per distinct seed (the runs of one seed at several rates share it)
        s: np.concatenate([np.random.default_rng([s, 7, e]).permutation(n)[: per_epoch * batch] for e in range(max(epochs, 1))])[
            : steps * batch
        ].reshape(steps, batch)
        for s in dict.fromkeys(int(s) for s in order_seeds)
    }
    idx = torch.tensor(np.stack([orders[int(s)] for s in order_seeds]))  # (R, steps, batch): a run's order fixed by its seed

    loss0 = evaluate(X, y, Wp, bp, act)[0] if initial else None
    batch_loss = np.empty((R, steps))
    grad_rms0 = None
    with runtime.unfilled_allocations():  # every tensor the steps allocate is written in full by its kernel
        for t in range(steps):
            xb, yb = X[idx[:, t]], y[idx[:, t]]
            # runs are independent: the gradient of the summed losses is each run's own gradient
            per_run, grads = _loss_and_grads(xb, yb, Wp, bp, act, layers)
            batch_loss[:, t] = per_run.numpy()
            if grad_rms0 is None:
                grad_rms0 = np.stack([g.pow(2).mean(dim=(1, 2)).sqrt().numpy() for g in grads[: len(layers)]], axis=1)
            if optimizer not in ("sgd", "momentum", "adam"):
                raise ValueError(f"unknown optimizer {optimizer!r}; use 'sgd', 'momentum' or 'adam'")
            with torch.no_grad():
                _step_(optimizer, params, grads, lr, state, t + 1, momentum)
    loss, err = evaluate(X, y, Wp, bp, act)
    bad = ~np.isfinite(loss)
    loss[bad], err[bad] = worst, 1.0
    out = {
        "loss": loss,
        "error": err,
        **({"loss0": loss0} if initial else {}),
        "grad_rms0": grad_rms0,
        "batch_loss": np.where(np.isfinite(batch_loss), batch_loss, worst),
    }
    if test is not None:
        out["test_error"] = np.where(bad, 1.0, evaluate(*test, Wp, bp, act)[1])
    return out


# -- the cost and correctness of back-propagated gradients --------------------------------------------


def parameter_count(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def gradient_timings(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, repeats: int) -> dict[str, float]:
    """Median CPU seconds of one loss evaluation and of one loss + backprop gradient, measured interleaved.

    x: (batch, in); y: (batch,).  'loss' runs the forward pass under no_grad (a plain function
    evaluation, what finite differences repeat); 'gradient' runs it recording the graph, then
    backward for every parameter (autograd.grad).
    """
    params = list(model.parameters())

    def loss_only() -> None:
        with torch.no_grad():
            torch.nn.functional.cross_entropy(model(x), y)

    def gradient() -> None:
        torch.autograd.grad(torch.nn.functional.cross_entropy(model(x), y), params)

    t = timing.thread_time_alternate({"loss": loss_only, "gradient": gradient}, repeats=repeats, warmup=2)
    return {k: float(np.median(v)) for k, v in t.items()}


def finite_difference_gradient(f: Callable[[], float], params: Sequence[torch.Tensor], eps: float) -> tuple[list[torch.Tensor], int, float]:
    """Central differences (f(p + eps e_i) - f(p - eps e_i)) / (2 eps) for every scalar parameter.

    f evaluates the loss at the current parameter values (it is called, never differentiated).
    Returns the gradient (same shapes as ``params``), the number of f evaluations, and the CPU seconds taken.
    """
    calls = 0
    out = []
    t0 = time.thread_time()
    with torch.no_grad():
        for p in params:
            flat, g = p.view(-1), torch.empty(p.numel(), dtype=p.dtype)
            for i in range(flat.numel()):
                old = float(flat[i])
                flat[i] = old + eps
                up = f()
                flat[i] = old - eps
                down = f()
                flat[i] = old
                calls += 2
                g[i] = (up - down) / (2 * eps)
            out.append(g.view_as(p))
    return out, calls, time.thread_time() - t0


class _TanhWithoutDerivative(torch.autograd.Function):
    """tanh forward, but backward passes the gradient through unchanged: the classic bug of
    forgetting the activation's derivative in hand-written backprop (a control that must fail)."""

    @staticmethod
    def forward(ctx, x):
        return torch.tanh(x)

    @staticmethod
    def backward(ctx, g):
        return g


class TanhMLP(torch.nn.Module):
    """in -> width (tanh) x depth -> out; ``broken=True`` drops tanh's derivative in backprop only."""

    def __init__(self, sizes: Sequence[int], seed: int, dtype=torch.float64, broken: bool = False):
        super().__init__()
        g = torch.Generator().manual_seed(int(seed))
        self.layers = torch.nn.ModuleList()
        for fi, fo in zip(sizes[:-1], sizes[1:]):
            lin = torch.nn.Linear(fi, fo, dtype=dtype)
            with torch.no_grad():
                lin.weight.normal_(0.0, math.sqrt(stacked.VARIANCES["glorot"](fi, fo)), generator=g)
                lin.bias.normal_(0.0, 0.1, generator=g)  # non-zero biases, so their gradients are checked too
            self.layers.append(lin)
        self.broken = broken

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for lin in self.layers[:-1]:
            x = _TanhWithoutDerivative.apply(lin(x)) if self.broken else torch.tanh(lin(x))
        return self.layers[-1](x)


def gradcheck_scores(
    reference: torch.nn.Module,
    candidates: dict[str, torch.nn.Module],
    x: torch.Tensor,
    y: torch.Tensor,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
) -> dict[str, dict]:
    """How far each candidate's autograd gradient is from central finite differences of ``reference`` (float64).

    Every candidate computes the same loss as ``reference`` with the same parameters in the same order
    (only its backward may differ).  The score is torch.autograd.gradcheck's acceptance rule made a
    number: max_i |analytic_i - numeric_i| / (atol + rtol |numeric_i|), with gradcheck's default eps,
    atol and rtol; below 1, every partial derivative passes.  Returns per candidate 'score',
    'max_abs_error', and for all: 'n_params' and 'evaluations' (loss evaluations the differences took).
    """

    def f() -> float:
        return float(torch.nn.functional.cross_entropy(reference(x), y))

    numeric, calls, _ = finite_difference_gradient(f, list(reference.parameters()), eps)
    n = torch.cat([t.reshape(-1) for t in numeric])
    out = {}
    for name, model in candidates.items():
        params = list(model.parameters())
        analytic = torch.autograd.grad(torch.nn.functional.cross_entropy(model(x), y), params)
        err = (torch.cat([t.reshape(-1) for t in analytic]) - n).abs()
        out[name] = {
            "score": float((err / (atol + rtol * n.abs())).max()),
            "max_abs_error": float(err.max()),
            "n_params": int(n.numel()),
            "evaluations": calls,
        }
    return out


# -- XOR: the problem a linear model cannot solve ------------------------------------------------------

XOR_X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
XOR_Y = np.array([0.0, 1.0, 1.0, 0.0])


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))  # overflow-free logistic


def xor_train(hidden: int, seeds: Sequence[int], lr: float, steps: int, init_scale: float = 1.0) -> dict[str, np.ndarray]:
    """Full-batch gradient descent on XOR with back-propagation written out (numpy, float64), one run per seed.

    hidden > 0: 2 -> hidden (logistic sigmoid) -> 1 (logistic), the 2-layer sigmoid net of Rumelhart,
    Hinton & Williams 1986; hidden = 0: logistic regression 2 -> 1, the linear contrast.  Weights and
    biases ~ U(-init_scale, init_scale); loss: mean binary cross-entropy over the 4 points.
    Returns 'p' (S, 4) the output probabilities after training, 'error' (S,) the share of the 4 points
    on the wrong side of 1/2, and 'loss' (S, steps+1) the loss before each step and at the end.
    """
    S, X, y = len(seeds), XOR_X, XOR_Y
    rngs = [np.random.default_rng([int(s), 11]) for s in seeds]
    fan = hidden if hidden else 2
    W1 = np.stack([r.uniform(-init_scale, init_scale, (2, hidden)) for r in rngs]) if hidden else None  # (S, 2, H)
    b1 = np.stack([r.uniform(-init_scale, init_scale, hidden) for r in rngs]) if hidden else None  # (S, H)
    W2 = np.stack([r.uniform(-init_scale, init_scale, fan) for r in rngs])  # (S, fan)
    b2 = np.array([r.uniform(-init_scale, init_scale) for r in rngs])  # (S,)
    losses = np.empty((S, steps + 1))
    for t in range(steps + 1):
        h = _sigmoid(np.einsum("nd,sdh->snh", X, W1) + b1[:, None, :]) if hidden else np.broadcast_to(X, (S, 4, 2))
        p = _sigmoid(np.einsum("snh,sh->sn", h, W2) + b2[:, None])  # (S, 4)
        pc = np.clip(p, 1e-12, 1 - 1e-12)
        losses[:, t] = -(y * np.log(pc) + (1 - y) * np.log(1 - pc)).mean(1)
        if t == steps:
            break
        d_out = (p - y) / 4  # dL/dz_out for sigmoid + cross-entropy: (S, 4)
        gW2, gb2 = np.einsum("sn,snh->sh", d_out, h), d_out.sum(1)
        if hidden:
            d_h = d_out[:, :, None] * W2[:, None, :] * h * (1 - h)  # back through the hidden sigmoid: (S, 4, H)
            W1 -= lr * np.einsum("nd,snh->sdh", X, d_h)
            b1 -= lr * d_h.sum(1)
        W2 -= lr * gW2
        b2 -= lr * gb2
    return {"p": p, "error": ((p > 0.5) != (y > 0.5)).mean(1), "loss": losses}
