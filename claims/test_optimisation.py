"""Optimisation: SGD vs full-batch GD on redundant data (LeCun et al. 1998, Efficient BackProp 4.1)."""

from __future__ import annotations

import functools

import numpy as np
import pytest

from harness.evidence import assert_supported
from harness.lab import data, train

BASE, L2, CLASSES = 100, 1e-2, 10
LRS = np.array([0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0])  # the same grid for both methods
COPIES = (1, 10, 100)


@functools.cache
def gd_excess(k: int, seed: int, budget: int) -> tuple[np.ndarray, float]:
    """GD's log10 excess loss per learning rate after ``budget`` examples on the set of ``seed`` duplicated k
    times (n_lr,), and the regularised optimum (L-BFGS) it is measured from."""
    X, y = data.subset(BASE, seed)
    best = train.optimum(X, y, CLASSES, L2)
    w_gd = train.gd_trajectory(np.tile(X, (k, 1)), np.tile(y, k), CLASSES, LRS, budget // (BASE * k), L2)[-1]
    return log_excess(train.softmax_loss(w_gd, X, y, L2) - best), best


def log_excess(excess: np.ndarray) -> np.ndarray:
    """log10 excess loss; below float64 resolution of the loss counts as 1e-15, and a diverged run (inf/nan)
    becomes the worst finite value, so it never wins the grid."""
    return np.nan_to_num(np.log10(np.maximum(excess, 1e-15)), nan=10.0, posinf=10.0)


@functools.cache
def excess_losses(k: int, seed: int, budget: int, order_seed: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """log10 excess loss per learning rate after ``budget`` examples: (GD (n_lr,), SGD (n_lr,)).
    ``seed`` draws the data; ``order_seed`` (default ``seed``) draws SGD's example order."""
    X, y = data.subset(BASE, seed)
    gd, best = gd_excess(k, seed, budget)
    o = seed if order_seed is None else order_seed
    w_sgd = train.sgd_run(np.tile(X, (k, 1)), np.tile(y, k), CLASSES, LRS, budget, L2, o)
    return gd, log_excess(train.softmax_loss(w_sgd, X, y, L2) - best)


def tuned(k: int, seeds: list[int], budget: int, order_seeds: list[int] | None = None) -> dict:
    """Per method: the grid's best rate on the mean over seeds, and the per-seed losses at it.
    ``order_seeds``: SGD's example orders (default: the seeds); the placebo passes its own on the same data."""
    runs = [excess_losses(k, s, budget, o) for s, o in zip(seeds, order_seeds or seeds)]
    out = {}
    for m, name in enumerate(("GD", "SGD")):
        table = np.array([r[m] for r in runs])  # (n_seeds, n_lr)
        j = int(np.argmin(table.mean(axis=0)))
        out[name] = {"lr": float(LRS[j]), "loss": table[:, j], "grid_mean": table.mean(axis=0)}
    return out


def budget_for(profile) -> int:
    return profile.pick(quick=10_000, default=20_000, full=50_000)


@pytest.mark.claim("sgd-beats-gd-on-redundant-data")
@pytest.mark.parametrize("k", [10, 100], ids=lambda k: f"copies{k}")
def test_sgd_beats_gd_at_equal_examples(k, evidence, profile):
    budget = budget_for(profile)
    t = tuned(k, evidence.seeds, budget)
    for name in ("GD", "SGD"):
        evidence.record(
            f"{name} log10 excess loss at best lr {t[name]['lr']:g}",
            t[name]["loss"],
            unit="log10",
            setting={"copies": k, "examples": budget},
        )
    placebo = tuned(k, evidence.seeds, budget, evidence.placebo_seeds)["SGD"]["loss"]  # SGD again, new example orders
    evidence.paired("sgd-lower-loss", t["GD"]["loss"], t["SGD"]["loss"], placebo=placebo, label=f"{k} copies", names=("GD", "SGD"))
    evidence.plot(
        f"learning-rate grid, {k} copies, {budget} examples",
        LRS.tolist(),
        {"GD": t["GD"]["grid_mean"].tolist(), "SGD": t["SGD"]["grid_mean"].tolist()},
        xlabel="learning rate",
        ylabel="mean log10 excess loss",
        log_x=True,
    )
    assert_supported(evidence)


@pytest.mark.claim("sgd-beats-gd-on-redundant-data")
def test_sgd_advantage_grows_with_redundancy(evidence, profile):
    profile.require(
        "default",
        "three redundancy levels with their placebos take 2.7 s, more than the 60-s smoke run can pay (budget, not result)",
    )
    budget = budget_for(profile)
    adv = {}
    for k in COPIES:
        t = tuned(k, evidence.seeds, budget)
        adv[k] = t["GD"]["loss"] - t["SGD"]["loss"]
        evidence.record(
            f"SGD advantage at {k} copies (GD lr {t['GD']['lr']:g}, SGD lr {t['SGD']['lr']:g})",
            adv[k],
            unit="decades",
            setting={"copies": k},
        )
    t1 = tuned(1, evidence.seeds, budget, evidence.placebo_seeds)  # one copy again, SGD on new example orders
    for k in COPIES[1:]:
        evidence.paired(
            "advantage-grows",
            adv[k],
            adv[1],
            placebo=t1["GD"]["loss"] - t1["SGD"]["loss"],
            label=f"{k} copies vs 1",
            names=(f"{k} copies", "1 copy"),
        )
    evidence.plot(
        "SGD's advantage over GD against redundancy",
        list(COPIES),
        {"log10 GD / SGD excess loss": [[adv[k][i] for k in COPIES] for i in range(len(evidence.seeds))]},
        xlabel="copies of the base set",
        ylabel="decades",
        log_x=True,
    )
    assert_supported(evidence)


@pytest.mark.claim("sgd-beats-gd-on-redundant-data")
def test_gd_on_duplicated_set_retraces_base_set(evidence):
    steps, lr = 20, np.array([0.3])
    gd_dev, sgd_dev = [], []
    for seed in evidence.seeds:
        X, y = data.subset(BASE, seed)
        base = train.gd_trajectory(X, y, CLASSES, lr, steps, L2)
        sgd_base = train.sgd_run(X, y, CLASSES, lr, steps * BASE, L2, seed)
        dev_g, dev_s = 0.0, 0.0
        for k in COPIES[1:]:
            traj = train.gd_trajectory(np.tile(X, (k, 1)), np.tile(y, k), CLASSES, lr, steps, L2)
            dev_g = max(dev_g, float(np.abs(traj - base).max() / np.abs(base).max()))
            sgd_k = train.sgd_run(np.tile(X, (k, 1)), np.tile(y, k), CLASSES, lr, steps * BASE, L2, seed)
            dev_s = max(dev_s, float(np.abs(sgd_k - sgd_base).max() / np.abs(sgd_base).max()))
        gd_dev.append(dev_g)
        sgd_dev.append(dev_s)
    evidence.record("GD: max relative deviation from the base-set trajectory (10 and 100 copies)", gd_dev, unit="relative")
    evidence.record("SGD: same measure for per-example SGD (the control)", sgd_dev, unit="relative")
    evidence.bound("gd-trajectory-identical", gd_dev, sgd_dev, names=("GD", "SGD"))
    assert_supported(evidence)
