"""Training loops that return numbers (no asserts, prints or plots).

L2-regularised softmax regression in float64 numpy: exact enough that full-batch GD on a duplicated
set reproduces its base-set trajectory to rounding error (per-example SGD on it, batched over runs, is
in ``harness.lab.optimisation``).
Every loop runs a whole learning-rate grid at once (weights of shape (n_lr, features+1, classes)),
so all rates see the same example order.
"""

from __future__ import annotations

import numpy as np
import torch

from harness.lab.stacked import with_bias


def softmax_loss(W: np.ndarray, X: np.ndarray, y: np.ndarray, l2: float) -> np.ndarray:
    """Mean cross-entropy + l2/2 * ||W||^2.  W: (..., d+1, c); X: (n, d); y: (n,).  Returns W's leading shape."""
    z = with_bias(X) @ W  # (..., n, c)
    z = z - z.max(axis=-1, keepdims=True)
    ce = np.log(np.exp(z).sum(axis=-1)) - z[..., np.arange(len(y)), y]
    return ce.mean(axis=-1) + 0.5 * l2 * (W**2).sum(axis=(-2, -1))


def optimum(X: np.ndarray, y: np.ndarray, classes: int, l2: float) -> float:
    """The regularised loss's minimum: the reference for excess loss.

    Damped Newton's method with the exact Hessian (the objective is smooth and, with l2 > 0, strictly
    convex), from W = 0 until a step no longer lowers the loss or the gradient's largest entry is below
    1e-12.  Newton's steps do not depend on how the features are scaled, so badly scaled problems converge
    in as few steps as standardised ones (L-BFGS needed thousands of iterations on them)."""
    Xb, Y = with_bias(X), np.eye(classes)[y]
    n, d = Xb.shape
    W, cls = np.zeros((d, classes)), np.arange(classes)
    f = float(softmax_loss(W, X, y, l2))
    for _ in range(100):
        z = Xb @ W
        p = np.exp(z - z.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        G = Xb.T @ (p - Y) / n + l2 * W  # (d, c)
        if np.abs(G).max() < 1e-12:
            break
        # Hessian at row j c + a, column k c + b: mean over examples of x_j x_k (p_a [a = b] - p_a p_b); with
        # V[i, j c + a] = x_ij p_ia it is diag-blocks(X^T diag(p_a) X) - V^T V (half the work of x x^T (x) Jacobian)
        V = (Xb[:, :, None] * p[:, None, :]).reshape(n, d * classes)
        H = -(V.T @ V)
        H.reshape(d, classes, d, classes)[:, cls, :, cls] += (Xb.T @ V).reshape(d, d, classes).transpose(2, 0, 1)
        H /= n
        H[np.diag_indices_from(H)] += l2
        step = torch.linalg.solve(torch.from_numpy(H), torch.from_numpy(G.ravel())).numpy().reshape(d, classes)  # faster than numpy's here
        t = 1.0
        while t > 1e-10 and (f_new := float(softmax_loss(W - t * step, X, y, l2))) > f:
            t *= 0.5
        if f_new >= f:
            break
        W, f = W - t * step, f_new
    return f


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
