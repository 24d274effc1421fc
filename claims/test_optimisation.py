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
def excess_losses(k: int, seed: int, budget: int) -> tuple[np.ndarray, np.ndarray]:
    """log10 excess loss per learning rate after ``budget`` examples: (GD (n_lr,), SGD (n_lr,))."""
    X, y = data.subset(BASE, seed)
    best = train.optimum(X, y, CLASSES, L2)
    Xk, yk = np.tile(X, (k, 1)), np.tile(y, k)
    w_gd = train.gd_trajectory(Xk, yk, CLASSES, LRS, budget // (BASE * k), L2)[-1]
    w_sgd = train.sgd_run(Xk, yk, CLASSES, LRS, budget, L2, seed)
    floor = 1e-15  # excess losses below float64 resolution of the loss count as 1e-15
    gd = np.log10(np.maximum(train.softmax_loss(w_gd, X, y, L2) - best, floor))
    sgd = np.log10(np.maximum(train.softmax_loss(w_sgd, X, y, L2) - best, floor))
    # diverged runs (inf/nan loss) become the worst finite value, so they never win the grid
    return np.nan_to_num(gd, nan=10.0, posinf=10.0), np.nan_to_num(sgd, nan=10.0, posinf=10.0)


def tuned(k: int, seeds: list[int], budget: int) -> dict:
    """Per method: the grid's best rate on the mean over seeds, and the per-seed losses at it."""
    runs = [excess_losses(k, s, budget) for s in seeds]
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
    evidence.paired("sgd-lower-loss", t["GD"]["loss"], t["SGD"]["loss"], label=f"{k} copies", names=("GD", "SGD"))
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
    for k in COPIES[1:]:
        evidence.paired("advantage-grows", adv[k], adv[1], label=f"{k} copies vs 1", names=(f"{k} copies", "1 copy"))
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
