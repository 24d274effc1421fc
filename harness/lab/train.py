"""Training loops that return numbers (no asserts, prints or plots).

L2-regularised softmax regression in float64 numpy: exact enough that full-batch GD on a duplicated
set reproduces its base-set trajectory to rounding error (per-example SGD on it, batched over runs, is
in ``harness.lab.optimisation``).
Every loop runs a whole learning-rate grid at once (weights of shape (n_lr, features+1, classes)),
so all rates see the same example order.
"""

from __future__ import annotations

import numpy as np
from scipy import optimize

from harness.lab.stacked import with_bias


def softmax_loss(W: np.ndarray, X: np.ndarray, y: np.ndarray, l2: float) -> np.ndarray:
    """Mean cross-entropy + l2/2 * ||W||^2.  W: (..., d+1, c); X: (n, d); y: (n,).  Returns W's leading shape."""
    z = with_bias(X) @ W  # (..., n, c)
    z = z - z.max(axis=-1, keepdims=True)
    ce = np.log(np.exp(z).sum(axis=-1)) - z[..., np.arange(len(y)), y]
    return ce.mean(axis=-1) + 0.5 * l2 * (W**2).sum(axis=(-2, -1))


def optimum(X: np.ndarray, y: np.ndarray, classes: int, l2: float) -> float:
    """The regularised loss's minimum (L-BFGS to gradient norm 1e-10): the reference for excess loss."""
    Xb, Y = with_bias(X), np.eye(classes)[y]
    shape = (Xb.shape[1], classes)

    def f(w):
        W = w.reshape(shape)
        z = Xb @ W
        z = z - z.max(axis=1, keepdims=True)
        e = np.exp(z)
        p = e / e.sum(axis=1, keepdims=True)
        loss = np.mean(np.log(e.sum(axis=1)) - z[np.arange(len(y)), y]) + 0.5 * l2 * (W**2).sum()
        return loss, (Xb.T @ (p - Y) / len(y) + l2 * W).ravel()

    res = optimize.minimize(
        f, np.zeros(shape).ravel(), jac=True, method="L-BFGS-B", options={"gtol": 1e-10, "ftol": 1e-15, "maxiter": 10000}
    )
    return float(res.fun)


def gd_trajectory(X: np.ndarray, y: np.ndarray, classes: int, lrs: np.ndarray, steps: int, l2: float) -> np.ndarray:
    """Full-batch GD from W = 0 for each rate in ``lrs``: weights after each step, (steps+1, n_lr, d+1, c)."""
    Xb, Y = with_bias(X), np.eye(classes)[y]
    lrs = np.asarray(lrs, float)[:, None, None]
    W = np.zeros((lrs.shape[0], Xb.shape[1], classes))
    out = [W.copy()]
    for _ in range(steps):
        z = Xb @ W
        p = np.exp(z - z.max(axis=-1, keepdims=True))
        p /= p.sum(axis=-1, keepdims=True)
        W = W - lrs * (Xb.T @ (p - Y) / len(X) + l2 * W)
        out.append(W.copy())
    return np.array(out)
