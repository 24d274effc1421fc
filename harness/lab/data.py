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


# -- MNIST-1D (Greydanus 2020, "Scaling down deep learning", arXiv 2011.14439) ------------------------
#
# Generated on this machine by the `mnist1d` package's own generator with its default arguments
# (5,000 sequences of length 40, 80 % train, seed 42): the data set of the paper's table, never its
# download path.  The generator reseeds and draws from numpy's *global* random state (and Python's
# `random`), so both are saved and restored around it.  Generating takes about 3 s and importing the
# package about 2 s (it imports matplotlib.pyplot and requests), so the arrays are kept twice: in
# memory (lru_cache) and in an .npz file under the checkout's git-ignored `.cache/` folder, keyed by
# the package's version and the arguments; `DLCLAIMS_CACHE=off` turns the file cache off.

MNIST1D_SEED_PERMUTATION = 20201201  # the fixed permutation of the 40 positions of 'mnist1d-shuffled' (the paper's blog post date)
DATASETS = ("digits", "mnist1d", "mnist1d-shuffled")


def _cache_dir():
    """The checkout's `.cache/` folder, or None (no checkout around this file, or DLCLAIMS_CACHE=off)."""
    import os
    from pathlib import Path

    if os.environ.get("DLCLAIMS_CACHE", "").lower() == "off":
        return None
    root = Path(__file__).resolve().parents[2]
    return root / ".cache" if (root / "pyproject.toml").is_file() else None


def _generate_mnist1d() -> dict[str, np.ndarray]:
    """Run the package's make_dataset with its default arguments; numpy's and Python's global random states are restored after."""
    import random

    from mnist1d.data import get_dataset_args, make_dataset

    np_state, py_state = np.random.get_state(), random.getstate()
    try:
        d = make_dataset(get_dataset_args())
    finally:
        np.random.set_state(np_state)
        random.setstate(py_state)
    return {"x": d["x"], "y": d["y"], "x_test": d["x_test"], "y_test": d["y_test"]}


def _mnist1d_cache_path():
    """The .npz file of the generated arrays, keyed by the package's version and the arguments; None without a cache folder."""
    import hashlib
    import json
    from importlib.metadata import version  # PackageNotFoundError('mnist1d') when the package is missing

    key = hashlib.sha256(json.dumps({"version": version("mnist1d"), "args": "defaults"}).encode()).hexdigest()[:12]
    folder = _cache_dir()
    return folder / f"mnist1d-{version('mnist1d')}-{key}.npz" if folder else None


def import_before_sockets_are_blocked() -> None:
    """Import now what the `mnist1d` package imports inside a test and which opens a socket there.

    The package (used to generate MNIST-1D when its arrays are not cached, and for its digit templates
    by the hand-made features of harness.lab.spatial) imports `requests`; its `urllib3` probes for IPv6
    on first import by binding a local socket to ::1 (no network).  The test session blocks sockets in
    tests (pytest-socket), which reports that probe as a test using the network.  Called at the start of
    a session; does nothing when the package is not installed."""
    import importlib.util

    if importlib.util.find_spec("mnist1d") is None or importlib.util.find_spec("urllib3") is None:
        return
    import urllib3.util.connection  # noqa: F401  (the IPv6 probe runs on this import)


@functools.lru_cache(maxsize=1)
def mnist1d() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """MNIST-1D with the package's default arguments: X_train (4000, 40) float32, y_train (4000,) int64,
    X_test (1000, 40) float32, y_test (1000,) int64.  The whole set (train and test) has mean 0 and
    standard deviation 1, as the generator leaves it; the classes are balanced (400 per class in
    all, shuffled before the 80/20 split).  Cached; do not modify the arrays."""
    import os

    path = _mnist1d_cache_path()
    arrays = None
    if path is not None and path.is_file():
        with np.load(path) as f:
            arrays = {k: f[k] for k in ("x", "y", "x_test", "y_test")}
    if arrays is None:
        arrays = _generate_mnist1d()
        if path is not None:
            try:  # written under a temporary name, then renamed: parallel workers never read half a file
                path.parent.mkdir(parents=True, exist_ok=True)
                tmp = path.with_suffix(f".{os.getpid()}.tmp.npz")
                np.savez(tmp, **arrays)
                os.replace(tmp, path)
            except OSError:
                pass  # a read-only checkout: generate every time
    out = (
        arrays["x"].astype(np.float32),
        arrays["y"].astype(np.int64),
        arrays["x_test"].astype(np.float32),
        arrays["y_test"].astype(np.int64),
    )
    for a in out:
        a.setflags(write=False)
    return out


def spatial_permutation(length: int, seed: int = MNIST1D_SEED_PERMUTATION) -> np.ndarray:
    """A fixed permutation of ``length`` input positions: (length,) int64."""
    return np.random.default_rng(seed).permutation(length)


@functools.lru_cache(maxsize=4)
def dataset(name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A classification data set with a fixed train/test split: X_train (n, d) float32, y_train (n,)
    int64, X_test (m, d) float32, y_test (m,) int64, labels 0..9.  Read-only arrays (cached).

    'digits': scikit-learn's 8x8 digits, pixels scaled to [0, 1], a stratified half/half split fixed
    by seed 0 (898 train, 899 test, d = 64, row-major pixels).
    'mnist1d': :func:`mnist1d` (4000 train, 1000 test, d = 40).
    'mnist1d-shuffled': the same sequences with their 40 positions reordered by one fixed
    permutation (:func:`spatial_permutation`), the same for train and test: the same information,
    no spatial order (Zhang et al. 2017's 'shuffled pixels'; the MNIST-1D paper's 'shuffle' row).
    """
    if name == "digits":
        from sklearn.model_selection import train_test_split

        X, y = digits()
        Xtr, Xte, ytr, yte = train_test_split(X.astype(np.float32), y, test_size=899, stratify=y, random_state=0)
        out = (Xtr, ytr, Xte, yte)
    elif name == "mnist1d":
        out = mnist1d()
    elif name == "mnist1d-shuffled":
        Xtr, ytr, Xte, yte = mnist1d()
        perm = spatial_permutation(Xtr.shape[1])
        out = (Xtr[:, perm], ytr, Xte[:, perm], yte)
    else:
        raise ValueError(f"unknown data set {name!r}; known: {', '.join(DATASETS)}")
    for a in out:
        a.setflags(write=False)
    return out
