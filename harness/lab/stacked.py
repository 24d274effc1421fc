"""Shared pieces of the run-axis training: seeds derived from seeds, mini-batch orders, bias columns.

Many claims train one small model per seed at once: the weights carry a leading run axis R and
are multiplied with batched matmuls, so six seeds cost about as much as one.  What every such
experiment needs to stay reproducible lives here once.
"""

from __future__ import annotations

import numpy as np
import torch


def subseed(seed: int, *tags: int) -> int:
    """A new 31-bit seed derived from ``seed`` and ``tags`` (a second init, a data order, a split, ...)."""
    return int(np.random.default_rng([seed, *tags]).integers(2**31))


def generator(seed: int, *tags: int) -> torch.Generator:
    """A torch generator seeded with :func:`subseed` ``(seed, *tags)``."""
    return torch.Generator().manual_seed(subseed(seed, *tags))


def batch_orders(seeds: list[int], sizes: list[int], steps: int, batch: int, tag: int, *, size_in_key: bool = True) -> np.ndarray:
    """Mini-batch indices per run, reshuffled every epoch: int array (R, steps, batch), R = len(seeds).

    Run r draws from ``np.random.default_rng([seeds[r], tag, sizes[r]])`` (``[seeds[r], tag]`` when
    ``size_in_key`` is False).  A run with ``sizes[r] <= batch`` sees its whole set every step;
    otherwise each epoch is a fresh permutation cut to whole batches.
    """
    out = []
    for s, n in zip(seeds, sizes):
        rng = np.random.default_rng([s, tag, n] if size_in_key else [s, tag])
        if n <= batch:
            out.append(np.tile(np.arange(n), (steps, batch // n + 1))[:, :batch])
            continue
        per_epoch = n // batch
        epochs = -(-steps // per_epoch)
        o = np.concatenate([rng.permutation(n)[: per_epoch * batch] for _ in range(epochs)])
        out.append(o[: steps * batch].reshape(steps, batch))
    return np.stack(out)


def with_bias(X: np.ndarray) -> np.ndarray:
    """``X`` (n, d) with a column of ones appended: (n, d + 1)."""
    return np.hstack([X, np.ones((len(X), 1))])
