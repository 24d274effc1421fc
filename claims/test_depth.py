"""Depth: plain nets degrade with depth and residual ones do not (He et al. 2016), zero-branch blocks are the identity,
1000-layer residual nets train, and a residual net is the Euler discretisation of an ODE (Chen et al. 2018)."""

from __future__ import annotations

import copy
import functools

import numpy as np
import pytest
import torch

from harness import stats
from harness.evidence import assert_supported
from harness.lab import data, stacked
from harness.lab import depth as lab
from harness.lab import initialisation as init_lab
from harness.profiles import PROFILES
from harness.verdicts import SUPPORTED

# -- plain-depth-degrades-residual-fixes ------------------------------------------------------------

DATASETS = ("digits", "mnist1d")
SHALLOW, DEPTHS = 4, (8, 16, 32)  # hidden layers: the plain reference and the deep settings
DEPTH_WIDTH, DEPTH_BATCH = 32, 32
ARCHS = ("plain", "residual")
# Each condition's rate grid (half-decade steps; registered in the catalogue's design), from a pilot over 0.001-0.3
# (seeds 900-905) and the confirmatory runs' edge checks: the plain nets' best rates lay at 0.003-0.03, often within a
# few per cent of a neighbour, the residual nets' at 0.03 everywhere.
RATE_GRIDS = {"plain": (0.003, 0.01, 0.03, 0.1), "residual": (0.01, 0.03, 0.1)}
RATE_GRID_PLAIN_DIGITS_600 = (0.001, 0.003, 0.01, 0.03, 0.1)  # the digits at 600 steps: plain 16 layers was best at 0.003


def rate_grid(data_name: str, steps: int, arch: str, depth: int) -> tuple[float, ...]:
    if arch == "plain" and data_name == "digits" and steps >= 600:
        return RATE_GRID_PLAIN_DIGITS_600
    return RATE_GRIDS[arch]


def train_set(name: str) -> tuple[np.ndarray, np.ndarray]:
    """The training examples of a data set, float32: all 1797 standardised digits, or MNIST-1D's 4000 training
    sequences (scaled by its generator: mean 0, sd 1 over the whole set)."""
    if name == "digits":
        X, y = data.standardised_digits()
        return X.astype(lab.DTYPE), y
    X, y, _, _ = data.dataset(name)
    return X, y


def depth_groups(depth: int, seeds: tuple, placebo: tuple) -> list[tuple[str, tuple]]:
    """The conditions trained at ``depth`` (the shallow reference: plain only), each with its seeds."""
    return [("plain", seeds)] + ([("plain placebo", placebo)] if placebo else []) + ([("residual", seeds)] if depth != SHALLOW else [])


def trained_grid(data_name: str, budgets: tuple[int, ...], arch: str, depth: int) -> tuple[float, ...]:
    """Every rate of any budget's grid, increasing: one run per rate serves every budget."""
    return tuple(sorted({lr for b in budgets for lr in rate_grid(data_name, b, arch, depth)}))


@functools.cache
def depth_train(data_name: str, depth: int, seeds: tuple, budgets: tuple[int, ...], placebo: tuple, upto: int) -> tuple[list, lab.Net]:
    """Every run of a depth (each condition at every rate of its trained grid, every seed) in one stacked network,
    trained for ``upto`` steps, one of ``budgets``: (the training results of each stretch, the nets).  A longer budget
    continues the nets of the shorter one (weights and momentum, the next rows of the same batch order): the
    300-step nets are the 600-step ones stopped at step 300, and each budget's case pays for its own stretch."""
    X, y = train_set(data_name)
    runs = [
        (g, s, lr)
        for g, ss in depth_groups(depth, seeds, placebo)
        for lr in trained_grid(data_name, budgets, g.split()[0], depth)
        for s in ss
    ]
    order = lab.batch_orders([s for _, s, _ in runs], len(X), upto, DEPTH_BATCH)
    shorter = [b for b in budgets if b < upto]
    if shorter:
        parts, net = depth_train(data_name, depth, seeds, budgets, placebo, max(shorter))
        net, start = copy.deepcopy(net), max(shorter)
    else:
        parts, start = [], 0
        residual = [g == "residual" for g, _, _ in runs]
        net = lab.init_nets([s for _, s, _ in runs], depth, DEPTH_WIDTH, residual, in_features=X.shape[1], zero_output=True)
    out = lab.train_sgd(net, X, y, np.array([lr for _, _, lr in runs]), order[:, start:], eval_start=not shorter)
    return parts + [out], net


@functools.cache
def depth_runs(data_name: str, depth: int, seeds: tuple, budgets: tuple[int, ...], steps: int, placebo: tuple = ()) -> dict:
    """Plain and residual nets of ``depth`` hidden layers after ``steps`` (one of the profile's ``budgets``), per
    condition at its best rate from its grid for this budget (lowest mean final loss over seeds): final loss and
    error on the whole training set (n_seeds,) and the mini-batch loss curve (n_seeds, steps); with the grid and
    the mean final loss per grid rate.  ``placebo``: seeds on which the plain net is trained again in the same
    stacked run, on the same grid with its own best rate: key "plain placebo"."""
    parts, _ = depth_train(data_name, depth, seeds, budgets, placebo, steps)
    # a diverged run (inf/NaN loss) counts as 10 nats, worse than chance (2.30), so it never wins the grid
    loss_all = np.nan_to_num(parts[-1].loss[:, -1], nan=10.0, posinf=10.0)
    error_all, curve_all = parts[-1].error[:, -1], np.concatenate([p.batch_loss for p in parts], axis=1)
    res, start = {}, 0
    for g, ss in depth_groups(depth, seeds, placebo):
        trained, grid = trained_grid(data_name, budgets, g.split()[0], depth), rate_grid(data_name, steps, g.split()[0], depth)
        shape, sl = (len(trained), len(ss)), slice(start, start + len(trained) * len(ss))
        start = sl.stop
        keep = [trained.index(lr) for lr in grid]  # this budget's grid among the trained rates
        loss, err = loss_all[sl].reshape(shape)[keep], error_all[sl].reshape(shape)[keep]
        curve = curve_all[sl].reshape(shape + (steps,))[keep]
        j = int(np.argmin(loss.mean(axis=1)))
        res[g] = {"lr": grid[j], "grid": grid, "loss": loss[j], "error": err[j], "curve": curve[j], "grid_loss": loss.mean(axis=1)}
    return res


# The registered grid (catalogue): (data set, hidden layers, steps) per profile; the digits settings at the
# profile's own budget keep their case names (depth8 ...).
LOSS_SETTINGS = [("digits", d, None) for d in DEPTHS] + [("mnist1d", d, None) for d in DEPTHS]
LOSS_SETTINGS += [(name, d, 600) for name in DATASETS for d in DEPTHS]
SMALL_PROFILE_DEPTHS = {"digits": (8, 16), "mnist1d": (16,)}  # quick (digits only) and default (budget); full: every depth


def loss_case_id(setting: tuple) -> str:
    name, depth, steps = setting
    return ("" if name == "digits" else f"{name}-") + f"depth{depth}" + (f"-{steps}steps" if steps else "")


def loss_settings_run(profile) -> list[tuple[str, int, int]]:
    """The (data set, depth, steps) settings this profile runs, steps filled in."""
    order = list(PROFILES)
    runs = [
        (n, d, s)
        for n, d, s in LOSS_SETTINGS
        if (skip := setting_runs(profile, (n, d, s))) is None or order.index(profile.name) >= order.index(skip[0])
    ]
    return [(n, d, s or depth_steps(profile)) for n, d, s in runs]


def setting_runs(profile, setting: tuple) -> tuple[str, str] | None:
    """None when the profile runs the setting, else (the smallest profile that does, why not here)."""
    name, depth, steps = setting
    if steps is not None:
        return "full", "a second training budget for every setting (600 steps) is the full profile's grid (budget, not result)"
    if name != "digits" and profile.name == "quick":
        return "default", "MNIST-1D settings cost more than the 60-s smoke run pays (budget, not result)"
    if profile.name != "full" and depth not in SMALL_PROFILE_DEPTHS[name]:
        return (
            "full",
            "the default run pays for digits at 8 and 16 layers and MNIST-1D at 16; the full profile runs every depth (budget, not result)",
        )
    return None


def depth_steps(profile) -> int:
    return profile.pick(quick=100, default=300, full=300)


def depth_budgets(profile) -> tuple[int, ...]:
    """The training budgets of this profile's grid; one run to the longest serves them all."""
    return tuple(sorted({s for _, _, s in loss_settings_run(profile)}))


def smooth(curve: np.ndarray, every: int = 10) -> list:
    """Mean of each block of ``every`` steps: (n_seeds, steps) -> nested list (n_seeds, steps // every)."""
    n = curve.shape[1] // every
    return curve[:, : n * every].reshape(curve.shape[0], n, every).mean(axis=2).tolist()


@pytest.mark.claim("plain-depth-degrades-residual-fixes")
@pytest.mark.parametrize("setting", LOSS_SETTINGS, ids=loss_case_id)
def test_deeper_plain_net_trains_worse_and_residual_does_not(setting, evidence, profile):
    if (skip := setting_runs(profile, setting)) is not None:
        profile.require(*skip)
    name, depth, steps = setting
    steps, seeds, placebo = steps or depth_steps(profile), tuple(evidence.seeds), tuple(evidence.placebo_seeds)

    def runs(d: int) -> dict:  # the shallow reference also trains its placebo seeds (same stacked run)
        return depth_runs(name, d, seeds, depth_budgets(profile), steps, placebo if d == SHALLOW else ())

    shallow, deep = runs(SHALLOW), runs(depth)
    ref = shallow["plain"]
    setting = {"data": name, "depth": depth, "width": DEPTH_WIDTH, "steps": steps, "batch": DEPTH_BATCH}
    conditions = [(f"plain {SHALLOW} layers", ref, SHALLOW), (f"plain {SHALLOW} layers, placebo seeds", shallow["plain placebo"], SHALLOW)]
    for label, r, d in conditions + [(f"{arch} {depth} layers", deep[arch], depth) for arch in ARCHS]:
        evidence.tuned(f"rate, {label}", r["grid"], r["lr"], scores=r["grid_loss"], setting=setting | {"depth": d})
    evidence.record(
        f"final training loss, plain {SHALLOW} layers (rate {ref['lr']:g})", ref["loss"], unit="nats", setting=setting | {"depth": SHALLOW}
    )
    for arch in ARCHS:
        evidence.record(
            f"final training loss, {arch} {depth} layers (rate {deep[arch]['lr']:g})", deep[arch]["loss"], unit="nats", setting=setting
        )
        evidence.record(f"final training error, {arch} {depth} layers", deep[arch]["error"], unit="share", setting=setting)
    evidence.record(f"final training error, plain {SHALLOW} layers", ref["error"], unit="share", setting=setting | {"depth": SHALLOW})
    worse = evidence.paired(
        "deeper-plain-worse",
        deep["plain"]["loss"],
        ref["loss"],
        placebo=shallow["plain placebo"]["loss"],
        label=f"{name}, plain {depth} vs plain {SHALLOW}, {steps} steps",
        names=(f"plain {depth}", f"plain {SHALLOW}"),
    )
    if worse.verdict == SUPPORTED:
        evidence.bound(
            "residual-matches-shallow",
            deep["residual"]["loss"] - ref["loss"],
            deep["plain"]["loss"] - ref["loss"],
            label=f"{name}, residual {depth} vs plain {SHALLOW}, {steps} steps",
            names=(f"residual {depth} - plain {SHALLOW}", f"plain {depth} - plain {SHALLOW}"),
        )
    else:  # the control (the deep plain net) would pass the bound as well: nothing for skip connections to fix here
        evidence.note(
            f"'Residual fixes it' is not judged in this setting: the plain {depth}-layer net did not train measurably worse than "
            f"the {SHALLOW}-layer one, so the deep plain net (the bound's control) would pass the residual net's bound too, and "
            f"the bound could not tell skip connections from no skip connections."
        )
    evidence.note(
        f"{'Digits' if name == 'digits' else 'MNIST-1D'}, mean final training loss after {steps} steps: plain {SHALLOW} "
        f"layers {ref['loss'].mean():.3f} nats (error {ref['error'].mean():.1%}), plain {depth} {deep['plain']['loss'].mean():.3f} "
        f"({deep['plain']['error'].mean():.1%}), residual {depth} {deep['residual']['loss'].mean():.3f} "
        f"({deep['residual']['error'].mean():.1%}); chance level ln 10 = 2.303. Mean final loss per grid rate: "
        + "; ".join(
            f"{k} {dict(zip(r['grid'], np.round(r['grid_loss'], 3).tolist()))}"
            for k, r in ((f"plain {SHALLOW}", ref), (f"plain {depth}", deep["plain"]), (f"residual {depth}", deep["residual"]))
        )
        + ". He et al. 2016 Fig. 1: plain-56 above plain-20 in training error on CIFAR-10 (BN nets); Fig. 6: ResNets improve with depth."
    )
    evidence.plot(
        f"mini-batch training loss (10-step means), depth {depth} vs the {SHALLOW}-layer plain net",
        list(range(5, steps - steps % 10, 10)),
        {
            f"plain {SHALLOW}": smooth(ref["curve"]),
            f"plain {depth}": smooth(deep["plain"]["curve"]),
            f"residual {depth}": smooth(deep["residual"]["curve"]),
        },
        xlabel="SGD step",
        ylabel="cross-entropy (nats)",
        log_y=True,
    )
    xs = [SHALLOW] + sorted(d for n, d, s in loss_settings_run(profile) if n == name and s == steps)  # what this profile trains
    evidence.plot(
        f"final training loss against depth (each at its best rate), {name}, {steps} steps",
        xs,
        {arch: [[float(runs(d)[arch if d != SHALLOW else "plain"]["loss"][i]) for d in xs] for i in range(len(seeds))] for arch in ARCHS},
        xlabel="hidden layers (at 4: the plain reference for both lines)",
        ylabel="cross-entropy (nats)",
        log_x=True,
        log_y=True,
    )
    assert_supported(evidence)


GRAD_DEPTHS, GRAD_STEPS, GRAD_LR = (8, 128), 50, 0.01
GRAD_REPLICATES = 2  # runs per seed (the seed and a sub-seed), averaged: the plain nets' share varies by ~0.7 decades between seeds
GRAD_SETTINGS = [("digits", d) for d in GRAD_DEPTHS] + [("mnist1d", d) for d in GRAD_DEPTHS]


@functools.cache
def gradient_runs(data_name: str, depth: int, seeds: tuple, steps: int, placebo: tuple = ()) -> dict[str, np.ndarray]:
    """log10(first-layer / output-layer weight-gradient RMS) averaged over SGD steps 2..steps (step 1 has only
    the output layer's gradient: the output layer starts at 0) and over the seed's GRAD_REPLICATES runs, per seed:
    {arch: (n_seeds,)}; ``placebo``:
    seeds on which the plain net is trained again in the same stacked run (key "plain placebo")."""
    X, y = train_set(data_name)
    k = GRAD_REPLICATES

    def reps(ss):  # each seed's runs: the seed itself and k - 1 sub-seeds
        return [s if r == 0 else stacked.subseed(s, 31, r) for s in ss for r in range(k)]

    n, run_seeds = len(seeds), reps(seeds) * 2 + reps(placebo)
    residual = [True] * n * k + [False] * (n + len(placebo)) * k
    net = lab.init_nets(run_seeds, depth, DEPTH_WIDTH, residual, in_features=X.shape[1], zero_output=True)
    order = lab.batch_orders(run_seeds, len(X), steps, DEPTH_BATCH)
    out = lab.train_sgd(net, X, y, np.full(len(run_seeds), GRAD_LR), order, eval_idx=np.arange(0, len(X), 7))
    with np.errstate(divide="ignore"):
        r = np.log10(out.grad_first[:, 1:] / out.grad_last[:, 1:]).mean(axis=1)
    r = np.maximum(r, -30.0).reshape(-1, k).mean(axis=1)  # float32 underflow (a gradient of exactly 0) counts as 30 decades down
    return {"residual": r[:n], "plain": r[n : 2 * n], "plain placebo": r[2 * n :]}


@pytest.mark.claim("plain-depth-degrades-residual-fixes")
@pytest.mark.parametrize("setting", GRAD_SETTINGS, ids=lambda s: ("" if s[0] == "digits" else f"{s[0]}-") + f"gradient-at-depth{s[1]}")
def test_residual_keeps_first_layer_gradient(setting, evidence, profile):
    name, depth = setting
    if name != "digits":
        profile.require("full", "the MNIST-1D gradient settings are the full profile's grid (budget, not result)")
    seeds, steps = tuple(evidence.seeds), GRAD_STEPS  # the same in every profile: the share drifts over early steps
    placebo = tuple(evidence.placebo_seeds)
    r = gradient_runs(name, depth, seeds, steps, placebo)
    for arch in ARCHS:
        evidence.record(
            f"log10(first / output weight-gradient RMS), mean over steps 2..{steps}, {arch} {depth} layers",
            r[arch],
            unit="decades",
            setting={"data": name, "depth": depth, "width": DEPTH_WIDTH, "lr": GRAD_LR},
        )
    evidence.paired(
        "residual-keeps-first-layer-gradient",
        r["residual"],
        r["plain"],
        placebo=r["plain placebo"],
        label=f"{name}, depth {depth}",
        names=(f"residual {depth}", f"plain {depth}"),
    )
    evidence.plot(
        "share of the gradient reaching the first layer, against depth",
        list(GRAD_DEPTHS),
        {a: [[float(gradient_runs(name, d, seeds, steps, placebo)[a][i]) for d in GRAD_DEPTHS] for i in range(len(seeds))] for a in ARCHS},
        xlabel="hidden layers",
        ylabel="log10(first / output-layer gradient RMS)",
        log_x=True,
    )
    evidence.note(
        f"Mean log10(first / output-layer gradient RMS) over the first {steps} steps at depth {depth}: plain "
        f"{r['plain'].mean():.2f}, residual {r['residual'].mean():.2f} decades. The residual share does not depend "
        "on depth; the plain one falls with depth. He et al. 2016 argue the plain nets' degradation is not "
        "vanishing gradients (their nets use BN): here the loss degrades from 8 layers on, the gradient later."
    )
    assert_supported(evidence)


# -- zero-branch-residual-block-is-identity ---------------------------------------------------------

BLOCK_WIDTH, BLOCK_HIDDEN, INSERTED = 64, 128, 100


def he(rng: np.random.Generator, fan_in: int, fan_out: int) -> np.ndarray:
    return rng.standard_normal((fan_in, fan_out)) * np.sqrt(2.0 / fan_in)


@pytest.mark.claim("zero-branch-residual-block-is-identity")
def test_zero_branch_block_is_identity(evidence):
    X, _ = data.standardised_digits()  # (1797, 64) float64
    rng = np.random.default_rng([evidence.seeds[0], 3])
    W1, b1 = he(rng, BLOCK_WIDTH, BLOCK_HIDDEN), np.zeros(BLOCK_HIDDEN)
    zero = float(np.abs(lab.residual_block(X, W1, b1, np.zeros((BLOCK_HIDDEN, BLOCK_WIDTH)), np.zeros(BLOCK_WIDTH)) - X).max())
    nonzero = float(np.abs(lab.residual_block(X, W1, b1, he(rng, BLOCK_HIDDEN, BLOCK_WIDTH), np.zeros(BLOCK_WIDTH)) - X).max())
    evidence.record("max |block(x) - x|, zero second layer", [zero], unit="absolute", per="setting")
    evidence.record("max |block(x) - x|, He-normal second layer (control)", [nonzero], unit="absolute", per="setting")
    evidence.bound("block-is-identity", [zero], [nonzero], label="zero branch", names=("zero branch", "nonzero branch"))
    assert_supported(evidence)


@pytest.mark.claim("zero-branch-residual-block-is-identity")
def test_inserted_zero_branch_blocks_keep_the_training_loss(evidence):
    X, y = train_set("digits")
    s = evidence.seeds[0]
    net = lab.init_nets([s], SHALLOW, DEPTH_WIDTH, [False], zero_output=True)
    lab.train_sgd(net, X, y, np.array([0.01]), lab.batch_orders([s], len(X), 200, DEPTH_BATCH))
    _, hs = lab.forward(net, X)
    rng = np.random.default_rng([s, 5])
    W_out, b_out = net.Ws[-1][0].astype(np.float64), net.bs[-1][0].astype(np.float64)

    def head(h):  # output layer on the last hidden state: (1797, 32) -> logits (1, 1797, 10), loss (1,)
        logits = (lab.relu(h) @ W_out + b_out)[None]
        return logits, lab.cross_entropy(logits, y)

    h = hs[-1][0].astype(np.float64)
    deep, plain = h.copy(), h.copy()
    for _ in range(INSERTED):
        W1 = he(rng, DEPTH_WIDTH, DEPTH_WIDTH)
        deep = lab.residual_block(deep, W1, np.zeros(DEPTH_WIDTH), np.zeros((DEPTH_WIDTH, DEPTH_WIDTH)), np.zeros(DEPTH_WIDTH))
        plain = lab.relu(plain @ np.zeros((DEPTH_WIDTH, DEPTH_WIDTH)) + np.zeros(DEPTH_WIDTH))
    (l0, loss0), (l1, loss1), (l2, loss2) = head(h), head(deep), head(plain)
    change = {
        "residual": (float(np.abs(l1 - l0).max()), float(abs(loss1[0] - loss0[0]))),
        "plain": (float(np.abs(l2 - l0).max()), float(abs(loss2[0] - loss0[0]))),
    }
    for kind, (dl, dloss) in change.items():
        evidence.record(f"max |logit change| after {INSERTED} inserted {kind} zero layers", [dl], unit="absolute", per="setting")
        evidence.record(f"|training-loss change| after {INSERTED} inserted {kind} zero layers", [dloss], unit="nats", per="setting")
    evidence.bound(
        "deeper-net-keeps-loss",
        [change["residual"][0]],
        [change["plain"][0]],
        label="logits",
        names=("zero-branch residual blocks", "plain zero layers"),
    )
    evidence.bound(
        "deeper-net-keeps-loss",
        [change["residual"][1]],
        [change["plain"][1]],
        label="training loss",
        names=("zero-branch residual blocks", "plain zero layers"),
    )
    evidence.note(
        f"Trained 4-layer plain net: training loss {loss0[0]:.4f} nats; with {INSERTED} zero-branch residual blocks "
        f"inserted ({SHALLOW + 2 * INSERTED} weight layers deep): {loss1[0]:.4f}; with {INSERTED} plain zero layers "
        f"instead: {loss2[0]:.4f} (ln 10 = 2.3026 is chance). He et al. 2016, Sec. 3.1: a deeper model built from "
        "identity mappings has no higher training error than its shallower counterpart."
    )
    assert_supported(evidence)


# -- thousand-layer-resnet-trains -------------------------------------------------------------------

DEEP_WIDTH, DEEP_BATCH, DEEP_LR, DEEP_STEPS = 16, 32, 0.01, 40
EVAL_N = 257  # evaluation sample per data set: every 7th digit (257 of 1797); 257 MNIST-1D sequences evenly spaced


def eval_rows(name: str, n: int) -> np.ndarray:
    return np.arange(0, n, 7) if name == "digits" else np.arange(EVAL_N) * n // EVAL_N


# The registered grid (catalogue): (hidden layers, steps).  The default profile runs 1000 layers for 40 steps; the full
# profile adds 3000 layers (the texts' 'thousands') at the same 40 steps and at 80.
THOUSAND_SETTINGS = [(1000, DEEP_STEPS), (3000, DEEP_STEPS), (3000, 2 * DEEP_STEPS)]
THOUSAND_CASES = [(name, s) for s in THOUSAND_SETTINGS for name in DATASETS]


def thousand_case_id(base: str, setting: tuple[int, int]) -> str:
    """The default setting keeps its case name ('digits', 'shallow-baselines'); the full profile's others say theirs."""
    depth, steps = setting
    return base if setting == THOUSAND_SETTINGS[0] else f"{base}-{depth}layers-{steps}steps"


def thousand_require(profile, setting: tuple[int, int]) -> None:
    profile.require("default", "the 1000-layer nets cost more than the 60-s smoke run can pay (budget, not result)")
    if setting != THOUSAND_SETTINGS[0]:
        profile.require("full", "the 3000-layer settings are the full profile's grid (budget, not result)")


@functools.cache
def thousand_run(data_name: str, depth: int, seeds: tuple, steps: int) -> tuple[dict[str, lab.TrainResult], lab.Net]:
    """Residual and plain nets of ``depth`` hidden layers on one data set, in one stacked run (same weights and batches
    per seed for the two architectures), after ``steps``: ({"residual": result, "plain": result}, the trained nets),
    each result with one row per seed, evaluated at initialisation and after the budget.  A longer budget of the
    grid continues the nets of the shorter one (weights and momentum, the next rows of the same batch order), so
    the 80-step nets are the 40-step ones trained 40 steps more: one training serves both settings."""
    X, y = train_set(data_name)
    n = len(seeds)
    order = lab.batch_orders(list(seeds) * 2, len(X), steps, DEEP_BATCH)
    shorter = [s for d, s in THOUSAND_SETTINGS if d == depth and s < steps]
    if shorter:
        before, net = thousand_run(data_name, depth, seeds, max(shorter))
        net, start = copy.deepcopy(net), max(shorter)
    else:
        before, start = None, 0
        net = lab.init_nets(list(seeds) * 2, depth, DEEP_WIDTH, [True] * n + [False] * n, in_features=X.shape[1], zero_output=True)
    out = lab.train_sgd(net, X, y, np.full(2 * n, DEEP_LR), order[:, start:], eval_idx=eval_rows(data_name, len(X)), eval_start=not shorter)
    res = {}
    for k, arch in enumerate(ARCHS[::-1]):  # residual runs first, then plain: two stretches of the run axis
        sl = slice(k * n, (k + 1) * n)
        loss, err = out.loss[sl][:, [0, -1]], out.error[sl][:, [0, -1]]
        g1, g2, bl = out.grad_first[sl], out.grad_last[sl], out.batch_loss[sl]
        if before is not None:  # the continued run: the start and the curves of the shorter budget come first
            b = before[arch]
            loss[:, 0], err[:, 0] = b.loss[:, 0], b.error[:, 0]
            g1, g2, bl = (np.concatenate([u, v], axis=1) for u, v in ((b.grad_first, g1), (b.grad_last, g2), (b.batch_loss, bl)))
        res[arch] = lab.TrainResult(np.array([0, steps]), loss, err, g1, g2, bl)
    return res, net


@pytest.mark.claim("thousand-layer-resnet-trains")
@pytest.mark.parametrize(("data_name", "setting"), THOUSAND_CASES, ids=[thousand_case_id(n, s) for n, s in THOUSAND_CASES])
def test_thousand_layer_residual_net_trains(data_name, setting, evidence, profile):
    thousand_require(profile, setting)
    depth, steps = setting
    seeds = tuple(evidence.seeds)
    runs = thousand_run(data_name, depth, seeds, steps)[0]
    res, plain = runs["residual"], runs["plain"]
    ratio = {k: np.nan_to_num(r.loss[:, -1] / r.loss[:, 0], nan=10.0, posinf=10.0) for k, r in runs.items()}  # diverged: 10x its start
    acc = {k: 1.0 - r.error[:, -1] for k, r in runs.items()}
    setting = {"data": data_name, "depth": depth, "width": DEEP_WIDTH, "steps": steps, "batch": DEEP_BATCH, "lr": DEEP_LR}
    for k, r in runs.items():
        evidence.record(
            f"training loss before -> after, {k} {depth} layers",
            np.stack([r.loss[:, 0], r.loss[:, -1]], axis=1),
            unit="nats",
            setting=setting,
        )
        evidence.record(f"training accuracy after {steps} steps, {k} {depth} layers", acc[k], unit="share", setting=setting)
        with np.errstate(divide="ignore"):
            evidence.record(
                f"log10 first-layer weight-gradient RMS, mean over steps 2..{steps}, {k}",
                np.log10(r.grad_first[:, 1:].mean(axis=1)),
                unit="decades",
                setting=setting,
            )
    label = f"{data_name}, {depth} layers, {steps} steps"
    evidence.bound("loss-falls", ratio["residual"], ratio["plain"], label=label, names=("residual", "plain"))
    evidence.bound("above-chance", acc["residual"], acc["plain"], label=label, names=("residual", "plain"))
    g = {k: float(np.mean(r.grad_first[:, 1:])) for k, r in runs.items()}
    evidence.note(
        f"{'Digits' if data_name == 'digits' else 'MNIST-1D'}, {depth} hidden layers of width {DEEP_WIDTH} ({depth + 1} weight "
        f"layers), {steps} SGD steps: residual loss {res.loss[:, 0].mean():.3f} -> {res.loss[:, -1].mean():.3f} nats, accuracy "
        f"{acc['residual'].mean():.1%}; plain {plain.loss[:, 0].mean():.3f} -> {plain.loss[:, -1].mean():.3f}, accuracy "
        f"{acc['plain'].mean():.1%} (chance 10%). First-layer weight-gradient RMS, mean over steps: residual {g['residual']:.1e}, "
        f"plain {g['plain']:.1e} (float32): the plain net's signal vanishes on the way down. He et al. 2016: a "
        "1202-layer ResNet reaches < 0.1% training error on CIFAR-10 (with BN, 64k iterations)."
    )
    evidence.plot(
        f"mini-batch training loss, {depth} hidden layers (5-step means)",
        list(range(2, steps, 5)),
        {"residual": smooth(res.batch_loss, 5), "plain": smooth(plain.batch_loss, 5)},
        xlabel="SGD step",
        ylabel="cross-entropy (nats)",
    )
    assert_supported(evidence)


BASELINE_LRS = (0.01, 0.03, 0.1, 0.3, 1.0)  # the baselines' grid; each takes its best rate (the deep nets keep 0.01)
BASELINES = ("linear read-out of the input", "plain net, 1 hidden layer")


@functools.cache
def baseline_runs(data_name: str, seeds: tuple, steps: int) -> dict[str, np.ndarray]:
    """Evaluation-sample accuracy after ``steps`` of the two shallow baselines at every grid rate, (n_seeds, n_rates)
    each: a 1-hidden-layer plain net of the deep nets' family (same init, batches and trainer) and a softmax
    read-out of the inputs (SGD with the same momentum and batch size)."""
    X, y = train_set(data_name)
    ev = eval_rows(data_name, len(X))
    runs = [(s, lr) for s in seeds for lr in BASELINE_LRS]
    net = lab.init_nets([s for s, _ in runs], 1, DEEP_WIDTH, [False] * len(runs), in_features=X.shape[1], zero_output=True)
    order = lab.batch_orders([s for s, _ in runs], len(X), steps, DEEP_BATCH)
    shallow = 1.0 - lab.train_sgd(net, X, y, np.array([lr for _, lr in runs]), order, eval_idx=ev).error[:, -1]
    Xt, yt = torch.from_numpy(np.array(X)), torch.from_numpy(np.array(y))
    W, b = init_lab.stacked_weights([X.shape[1], 10], "fan-in", seeds, repeat=len(BASELINE_LRS))
    W[0].zero_()  # the read-out starts at 0, like the deep nets' output layer
    linear = (
        1.0
        - init_lab.train_stacked(
            Xt,
            yt,
            W,
            b,
            "linear",
            torch.tensor([lr for _, lr in runs]),
            steps=steps,
            batch=DEEP_BATCH,
            optimizer="momentum",
            order_seeds=[s for s, _ in runs],
            test=(Xt[ev], yt[ev]),
            initial=False,  # only the evaluation sample's error after training is read
        )["test_error"]
    )
    shape = (len(seeds), len(BASELINE_LRS))
    return {BASELINES[0]: linear.reshape(shape), BASELINES[1]: shallow.reshape(shape)}


def best_baseline(data_name: str, seeds: tuple, steps: int) -> tuple[np.ndarray, dict]:
    """Per seed, the better baseline's accuracy, each baseline at its best rate (mean over seeds): (n_seeds,); and per
    baseline (its rate, its accuracies, its mean accuracy per grid rate)."""
    runs = baseline_runs(data_name, seeds, steps)
    best = {k: int(np.argmax(v.mean(axis=0))) for k, v in runs.items()}
    parts = {k: (BASELINE_LRS[best[k]], runs[k][:, best[k]], runs[k].mean(axis=0)) for k in runs}
    return np.max([runs[k][:, best[k]] for k in runs], axis=0), parts


def baselines_case_id(data_name: str, setting: tuple[int, int]) -> str:
    return thousand_case_id("shallow-baselines" if data_name == "digits" else f"{data_name}-shallow-baselines", setting)


@pytest.mark.claim("thousand-layer-resnet-trains")
@pytest.mark.parametrize(("data_name", "setting"), THOUSAND_CASES, ids=[baselines_case_id(n, s) for n, s in THOUSAND_CASES])
def test_thousand_layer_residual_net_beats_shallow_baselines(data_name, setting, evidence, profile):
    thousand_require(profile, setting)
    depth, steps = setting
    seeds = tuple(evidence.seeds)
    acc = 1.0 - thousand_run(data_name, depth, seeds, steps)[0]["residual"].error[:, -1]
    base, parts = best_baseline(data_name, seeds, steps)
    placebo, placebo_parts = best_baseline(data_name, tuple(evidence.placebo_seeds), steps)
    setting = {"data": data_name, "depth": depth, "steps": steps, "batch": DEEP_BATCH}
    for k, (lr, _, grid_acc) in parts.items():
        evidence.tuned(f"rate, {k}", BASELINE_LRS, lr, scores=grid_acc, setting=setting)
        evidence.tuned(f"rate, {k}, placebo seeds", BASELINE_LRS, placebo_parts[k][0], scores=placebo_parts[k][2], setting=setting)
    evidence.record(
        f"evaluation accuracy after {steps} steps, residual {depth} layers (rate {DEEP_LR:g})", acc, unit="share", setting=setting
    )
    for k, (lr, a, _) in parts.items():
        evidence.record(f"evaluation accuracy after {steps} steps, {k} at its best rate {lr:g}", a, unit="share", setting=setting)
    evidence.paired(
        "beats-shallow-baselines",
        acc,
        base,
        placebo=placebo,
        label=f"{data_name}, {depth} layers, {steps} steps",
        names=(f"residual {depth} layers", "better shallow baseline"),
    )
    evidence.note(
        f"{'Digits' if data_name == 'digits' else 'MNIST-1D'}, accuracy on the evaluation sample after {steps} steps (mean over "
        f"seeds): residual {depth} layers {acc.mean():.1%}; "
        + ", ".join(f"{k} {a.mean():.1%} (rate {lr:g})" for k, (lr, a, _) in parts.items())
        + ". With every branch scaled by 1/sqrt(depth - 1) the deep net starts close to a linear map of its input, so "
        "'trains' is asked to mean more than what a shallow model learns in the same steps."
    )
    assert_supported(evidence)


# -- residual-net-is-euler-ode ----------------------------------------------------------------------

ODE_DIM, ODE_STATES = 16, 8


def ode_errors(seed: int, varying: bool, layers: list[int]) -> dict[str, np.ndarray]:
    """Max-abs error of each net's output against the ODE solution at t = 1, per number of units: {net: (n_L,)}."""
    f = lab.random_field(ODE_DIM, seed, varying)
    h0 = np.random.default_rng([seed, 23]).standard_normal((ODE_STATES, ODE_DIM))
    ref = lab.ode_solution(f, h0)
    nets = {"Euler ResNet, step 1/L": dict(), "ResNet, step 1": dict(step=1.0), "RK4 net, step 1/L": dict(scheme="rk4")}
    return {name: np.array([np.abs(lab.residual_net(f, h0, L, **kw) - ref).max() for L in layers]) for name, kw in nets.items()}


@pytest.mark.claim("residual-net-is-euler-ode")
@pytest.mark.parametrize("varying", [False, True], ids=["shared-weights", "varying-weights"])
def test_residual_net_converges_to_ode_at_first_order(varying, evidence, profile):
    layers = [2**k for k in range(2, profile.pick(quick=9, default=11, full=13))]  # 4 ... 1024 (default)
    errs = [ode_errors(s, varying, layers) for s in evidence.seeds]
    logL = np.log10(layers)
    floor = 1e-13  # below the reference's accuracy (rtol = atol = 1e-12) differences are noise
    slopes = {name: np.array([stats.fit_slope(logL, np.log10(np.maximum(e[name], floor)))[0] for e in errs]) for name in errs[0]}
    for name, sl in slopes.items():
        evidence.record(
            f"slope of log10(error) vs log10(L), {name}",
            sl,
            unit="decades/decade",
            setting={"L": f"{layers[0]}..{layers[-1]}", "dim": ODE_DIM},
        )
    euler = "Euler ResNet, step 1/L"
    evidence.record(f"max |net - ODE| at L = {layers[-1]}, {euler}", [e[euler][-1] for e in errs], unit="absolute")
    evidence.bound("converges-like-1-over-l", slopes[euler], slopes["ResNet, step 1"], label=euler, names=(euler, "ResNet, step 1"))
    evidence.bound("first-order-not-higher", slopes[euler], slopes["RK4 net, step 1/L"], label=euler, names=(euler, "RK4 net, step 1/L"))
    e = np.array([x[euler] for x in errs])
    evidence.note(
        f"Euler ResNet: max error {e[:, 0].mean():.2e} at L = {layers[0]}, {e[:, -1].mean():.2e} at L = {layers[-1]} "
        f"(mean over seeds); fitted order {-slopes[euler].mean():.3f} (Euler: 1). ResNet with step 1: slope "
        f"{slopes['ResNet, step 1'].mean():+.2f} (no limit). RK4 units: slope {slopes['RK4 net, step 1/L'].mean():.2f} "
        "(order 4 until the 1e-12 reference accuracy). Chen et al. 2018, eq. 1: a residual unit is an Euler step."
    )
    evidence.plot(
        "error against the ODE solution vs number of residual units",
        layers,
        {name: [np.log10(np.maximum(x[name], floor)).tolist() for x in errs] for name in errs[0]},
        xlabel="units L",
        ylabel="log10 max |net - ODE solution|",
        log_x=True,
    )
    assert_supported(evidence)
