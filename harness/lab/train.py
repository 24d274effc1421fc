"""Training loops that return numbers (no asserts, prints or plots).

L2-regularised softmax regression in float64 numpy: small enough that per-example SGD (LeCun et
al. 1998's "stochastic learning") runs tens of thousands of steps a second on one thread, and exact
enough that full-batch GD on a duplicated set reproduces its base-set trajectory to rounding error.
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


def sgd_run(X: np.ndarray, y: np.ndarray, classes: int, lrs: np.ndarray, examples: int, l2: float, seed: int) -> np.ndarray:
    """Per-example SGD from W = 0 over shuffled epochs, ``examples`` updates per rate: (n_lr, d+1, c)."""
    rng = np.random.default_rng(seed)
    Xb = with_bias(X)
    lr = np.asarray(lrs, float)[:, None, None]
    W = np.zeros((lr.shape[0], Xb.shape[1], classes))
    shrink = 1.0 - lr * l2
    done = 0
    while done < examples:
        for i in rng.permutation(len(X))[: examples - done]:
            x = Xb[i]
            z = x @ W  # (n_lr, c)
            p = np.exp(z - z.max(axis=1, keepdims=True))
            p /= p.sum(axis=1, keepdims=True)
            p[:, y[i]] -= 1.0
            W *= shrink
            W -= lr * (x[None, :, None] * p[:, None, :])
        done = min(examples, done + len(X))
    return W
