"""Optimisation: SGD vs full-batch GD on redundant data (LeCun et al. 1998, Efficient BackProp 4.1)."""

from __future__ import annotations

import functools

import numpy as np
import pytest

from harness.evidence import assert_supported
from harness.lab import optimisation as lab
from harness.lab import stacked, train

BASE, L2, CLASSES = 100, 1e-2, 10
LRS = np.array([0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0])  # the same grid for both methods
COPIES = (1, 10, 100)
DATASETS = ("digits", "mnist1d")
# SGD example orders per seed (catalogue: design.sgd_orders_per_seed): each seed's SGD value, main arm and placebo
# alike, is the mean log10 excess loss over this many independent orders (GD is deterministic and needs none)
SGD_ORDERS = {"digits": {"quick": 1, "default": 2, "full": 2}, "mnist1d": {"quick": 1, "default": 1, "full": 1}}
ORDERS_TAG = 62  # the extra orders' seeds: subseed(seed, ORDERS_TAG, j); the first order of a seed is the seed itself
MNIST1D_QUICK = "MNIST-1D's runs with their placebos take about 3 s, more than the 60-s smoke run can pay (budget, not result)"


def budget_for(profile) -> int:
    return profile.pick(quick=10_000, default=20_000, full=50_000)


def copies_for(profile) -> tuple[int, ...]:
    """The redundancy levels a profile trains: quick skips the growth case, so it needs no k = 1."""
    return profile.pick(quick=COPIES[1:], default=COPIES, full=COPIES)


def orders_for(name: str, profile) -> int:
    """SGD example orders per seed on data set ``name`` in this profile (the registered design)."""
    return profile.pick(**SGD_ORDERS[name])


@functools.cache
def grid(name: str, seeds: tuple, placebo_seeds: tuple, copies: tuple, budget: int, orders: int = 1) -> dict:
    """log10 excess loss per copies, seed and rate: 'GD' (n_copies, n_seeds, n_lr); 'SGD' and 'SGD placebo'
    (n_copies, n_seeds, n_lr), the placebo on the same data with independent example orders.  Each seed's SGD value
    is the mean over ``orders`` example orders (the seed's own, then derived ones), all on one run axis."""
    main, again = (stacked.draws(list(x), orders, ORDERS_TAG) for x in (seeds, placebo_seeds))
    streams = [main[i::orders] for i in range(orders)] + [again[i::orders] for i in range(orders)]  # order i of every seed
    g = lab.redundancy_grid(name, list(seeds), streams, list(copies), BASE, budget, LRS, L2, CLASSES)
    sgd = g["SGD"]  # (2 x orders, n_copies, n_seeds, n_lr)
    return {"GD": g["GD"], "SGD": sgd[:orders].mean(axis=0), "SGD placebo": sgd[orders:].mean(axis=0), "copies": copies}


def tuned(g: dict, k: int) -> dict:
    """Per condition at k copies: the grid's best rate on the mean over seeds, per-seed losses there, grid means."""
    i = g["copies"].index(k)
    out = {}
    for name in ("GD", "SGD", "SGD placebo"):
        table = g[name][i]  # (n_seeds, n_lr)
        j = int(np.argmin(table.mean(axis=0)))
        out[name] = {"lr": float(LRS[j]), "loss": table[:, j], "grid_mean": table.mean(axis=0)}
    return out


def record_rates(evidence, t: dict, setting: dict) -> None:
    """Every rate chosen from the grid, with the grid's mean scores (lower is better)."""
    for name in ("GD", "SGD", "SGD placebo"):
        scores = t[name]["grid_mean"].tolist()
        evidence.tuned(f"{name} learning rate, {setting['copies']} copies", LRS.tolist(), t[name]["lr"], scores=scores, setting=setting)


@pytest.mark.claim("sgd-beats-gd-on-redundant-data")
@pytest.mark.parametrize("k", [10, 100], ids=lambda k: f"copies{k}")
@pytest.mark.parametrize("dataset", DATASETS)
def test_sgd_beats_gd_at_equal_examples(dataset, k, evidence, profile):
    if dataset != "digits":
        profile.require("default", MNIST1D_QUICK)
    budget = budget_for(profile)
    orders = orders_for(dataset, profile)
    t = tuned(grid(dataset, tuple(evidence.seeds), tuple(evidence.placebo_seeds), copies_for(profile), budget, orders), k)
    setting = {"data": dataset, "copies": k, "examples": budget, "sgd_orders_per_seed": orders}
    record_rates(evidence, t, setting)
    for name in ("GD", "SGD"):
        evidence.record(f"{name} log10 excess loss at best lr {t[name]['lr']:g}", t[name]["loss"], unit="log10", setting=setting)
    evidence.paired(
        "sgd-lower-loss",
        t["GD"]["loss"],
        t["SGD"]["loss"],
        placebo=t["SGD placebo"]["loss"],  # SGD again, new example orders, its own best rate
        label=f"{dataset}, {k} copies",
        names=("GD", "SGD"),
    )
    evidence.plot(
        f"learning-rate grid, {dataset}, {k} copies, {budget} examples",
        LRS.tolist(),
        {"GD": t["GD"]["grid_mean"].tolist(), "SGD": t["SGD"]["grid_mean"].tolist()},
        xlabel="learning rate",
        ylabel="mean log10 excess loss",
        log_x=True,
    )
    assert_supported(evidence)


@pytest.mark.claim("sgd-beats-gd-on-redundant-data")
@pytest.mark.parametrize("dataset", DATASETS)
def test_sgd_advantage_grows_with_redundancy(dataset, evidence, profile):
    profile.require(
        "default",
        "three redundancy levels with their placebos take 2.7 s, more than the 60-s smoke run can pay (budget, not result)",
    )
    budget = budget_for(profile)
    orders = orders_for(dataset, profile)
    g = grid(dataset, tuple(evidence.seeds), tuple(evidence.placebo_seeds), copies_for(profile), budget, orders)
    adv = {}
    for k in COPIES:
        t = tuned(g, k)
        setting = {"data": dataset, "copies": k, "examples": budget, "sgd_orders_per_seed": orders}
        record_rates(evidence, t, setting)
        adv[k] = t["GD"]["loss"] - t["SGD"]["loss"]
        evidence.record(
            f"SGD advantage at {k} copies (GD lr {t['GD']['lr']:g}, SGD lr {t['SGD']['lr']:g})", adv[k], unit="decades", setting=setting
        )
        if k == 1:  # one copy again: GD is deterministic, SGD on new example orders
            placebo = t["GD"]["loss"] - t["SGD placebo"]["loss"]
    for k in COPIES[1:]:
        evidence.paired(
            "advantage-grows", adv[k], adv[1], placebo=placebo, label=f"{dataset}, {k} copies vs 1", names=(f"{k} copies", "1 copy")
        )
    evidence.plot(
        f"SGD's advantage over GD against redundancy, {dataset}",
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
    sets = [lab.base_set("digits", BASE, s) for s in evidence.seeds]
    # SGD, the control: the same seed's example order on the base set and on each duplicated set, one batch of runs
    runs = [(j, k) for j in range(len(sets)) for k in COPIES]
    W = lab.sgd_runs([sets[j] for j, _ in runs], [k for _, k in runs], [evidence.seeds[j] for j, _ in runs], lr, steps * BASE, L2, CLASSES)
    W = W.reshape(len(sets), len(COPIES), *W.shape[1:])
    gd_dev, sgd_dev = [], []
    for j, (X, y) in enumerate(sets):
        base = train.gd_trajectory(X, y, CLASSES, lr, steps, L2)
        dev_g = max(
            float(np.abs(train.gd_trajectory(np.tile(X, (k, 1)), np.tile(y, k), CLASSES, lr, steps, L2) - base).max() / np.abs(base).max())
            for k in COPIES[1:]
        )
        gd_dev.append(dev_g)
        sgd_dev.append(max(float(np.abs(W[j, i] - W[j, 0]).max() / np.abs(W[j, 0]).max()) for i in range(1, len(COPIES))))
    evidence.record("GD: max relative deviation from the base-set trajectory (10 and 100 copies)", gd_dev, unit="relative")
    evidence.record("SGD: same measure for per-example SGD (the control)", sgd_dev, unit="relative")
    evidence.bound("gd-trajectory-identical", gd_dev, sgd_dev, names=("GD", "SGD"))
    assert_supported(evidence)
