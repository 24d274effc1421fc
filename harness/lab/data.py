"""Data sets that ship with installed packages (no download at run time)."""

from __future__ import annotations

import functools

import numpy as np


@functools.lru_cache(maxsize=1)
def digits() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's bundled 8x8 digits: X (1797, 64) float64 in [0, 1], y (1797,) int64 in 0..9."""
    from sklearn.datasets import load_digits

    d = load_digits()
    return (d.data / 16.0).astype(np.float64), d.target.astype(np.int64)


def standardised_digits() -> tuple[np.ndarray, np.ndarray]:
    """Digits with each pixel at zero mean and unit variance (constant pixels left at 0): (1797, 64)."""
    X, y = digits()
    mu, sd = X.mean(0), X.std(0)
    return (X - mu) / np.where(sd > 0, sd, 1.0), y


def subset(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """n digits drawn without replacement, stratified by nothing: (n, 64), (n,)."""
    X, y = digits()
    idx = np.random.default_rng(seed).choice(len(X), size=n, replace=False)
    return X[idx], y[idx]


@functools.lru_cache(maxsize=1)
def digits_tensors():
    """The standardised digits as torch tensors: X (1797, 64) float32, y (1797,) int64 (cached; do not modify)."""
    import torch

    X, y = standardised_digits()
    return torch.tensor(X, dtype=torch.float32), torch.tensor(y)
