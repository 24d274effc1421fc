"""Normalisation and regularisation: batch norm's speed, mechanics, regularisation and (disputed) explanation,
the axes of layer/instance/group/batch norm, dropout, and shift augmentation on small data."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import pytest

from harness.evidence import assert_supported
from harness.lab import normalisation as lab
from harness.lab import stacked

# -- batch norm on Ioffe & Szegedy's MNIST network (claims batchnorm-speeds-up-training and ...-covariate-shift) --


@dataclass(frozen=True)
class BNSetting:
    """One data set's registered setting of the batch-norm speed grid (see the catalogue's design tables)."""

    lrs: tuple  # one rate grid for every network (equal tuning)
    shift_lr: float  # the one rate of the noise-injection test
    below_grid: float  # 'largest rate that trains' when no rate of the grid does
    target: float  # nats of training loss
    width: int
    steps: int


def bn_setting(data_set: str, profile) -> BNSetting:
    """Digits: the registered setting (width and steps by profile).  MNIST-1D: every profile the same, a target
    the network without BN reaches within the cap at its best rate (set from a pilot of that network alone)."""
    if data_set == "digits":
        width, steps = profile.pick(quick=32, default=64, full=100), profile.pick(quick=150, default=300, full=600)
        return BNSetting((1.0, 3.0, 10.0), 3.0, 0.3, 0.1, width, steps)
    return BNSetting((0.1, 0.3, 1.0, 3.0, 10.0), 1.0, 0.03, 2.0, 64, 200)


BN_DATA_SETS = ("digits", "mnist1d")
BN_KW = dict(n_train=None, depth=3, act="sigmoid", init="xavier", batch=60, momentum=0.0, eval_every=10, probe=256)
PLAIN, BN, NOISY = lab.Condition(), lab.Condition(bn=True), lab.Condition(bn=True, noise=True)


@functools.cache
def bn_grid(seeds: tuple, st: BNSetting, data_set: str, conditions: tuple = (PLAIN, BN)) -> dict:
    """Plain and BN networks on the whole rate grid: train_grid's arrays with C = (plain, BN) (the placebo: BN only)."""
    return lab.train_grid(
        conditions, seeds, st.lrs, width=st.width, steps=st.steps, track_shift=False, data_set=data_set, final_test=False, **BN_KW
    )


SHIFT_RUNS = {"digits": 1, "mnist1d": 3}  # BN's and noisy BN's runs per seed in the noise-injection test (see its design)


@functools.cache
def shift_run(seeds: tuple, st: BNSetting, data_set: str, conditions: tuple = (PLAIN, BN, NOISY), runs: int = 1) -> dict:
    """``conditions`` at the setting's one rate: train_grid's arrays with L = 1.  Digits: one run per seed, the seed's
    own; MNIST-1D: ``runs`` runs per seed (S = len(seeds) * runs, seed-major), the first of them sharing the plain
    net's initial weights and batches.  The placebo trains in a call of its own: noisy BN draws its noise for all
    its runs at once, so adding seeds to the main call would change the main seeds' noise."""
    ids = seeds if data_set == "digits" else sub_seeds(seeds, runs)
    return lab.train_grid(conditions, ids, (st.shift_lr,), width=st.width, steps=st.steps, data_set=data_set, final_test=False, **BN_KW)


def shift_arrays(seeds: tuple, st: BNSetting, data_set: str, conditions: tuple) -> dict:
    """Per seed, for each of ``conditions`` (a subset of plain, BN, noisy BN in that order): log2 steps to the target
    and log2 shift, each the mean over the seed's runs (C, S); the loss curves (C, S, E), also per-seed means; and
    the runs' count per condition.  Digits: the three in one call, one run each.  MNIST-1D: BN and noisy BN with
    SHIFT_RUNS runs per seed, the plain net (the manipulation check's contrast only) one run per seed."""
    if data_set == "digits":
        parts = [(shift_run(seeds, st, data_set, conditions), 1, list(range(len(conditions))))]
    else:
        k, bn = SHIFT_RUNS[data_set], tuple(c for c in conditions if c != PLAIN)
        parts = [(shift_run(seeds, st, data_set, (PLAIN,), 1), 1, [0])] if PLAIN in conditions else []
        parts += [(shift_run(seeds, st, data_set, bn, k), k, list(range(len(bn))))]
    out = {"log_steps": [], "log_shift": [], "loss": [], "runs": []}
    for g, k, idx in parts:
        steps = lab.steps_to_target(g["eval_steps"], g["train_loss"][:, :, 0], st.target)  # (C, S * k)
        for c in idx:
            out["log_steps"].append(per_seed(np.log2(steps[c]), k))
            out["log_shift"].append(per_seed(np.log2(g["shift"][c, :, 0]), k))
            out["loss"].append(per_seed(g["train_loss"][c, :, 0], k))
            out["runs"].append(k)
        out["eval_steps"] = g["eval_steps"]
    return {k: np.array(v) if k != "eval_steps" else v for k, v in out.items()}


def best_rate(steps: np.ndarray) -> int:
    """Index of the grid rate with the lowest mean log2 steps over seeds; steps (S, L)."""
    return int(np.argmin(np.log2(steps).mean(axis=0)))


def bn_steps(g: dict, st: BNSetting) -> dict:
    """Steps to the target at each network's best rate (chosen over the run's seeds) and the largest rate that
    trains, per network of a grid run: arrays over (C, S[, L]); 'scores' (C, L): mean log2 steps per rate."""
    steps = lab.steps_to_target(g["eval_steps"], g["train_loss"], st.target)  # (C, S, L)
    reached = g["train_loss"].min(-1) <= st.target  # (C, S, L)
    lrs = np.array(st.lrs)
    largest = np.where(reached.any(-1), np.where(reached, lrs, 0).max(-1), st.below_grid)  # (C, S)
    best = [best_rate(steps[c]) for c in range(len(steps))]
    return {
        "steps": steps,
        "largest": largest,
        "best": best,
        "at_best": [steps[c, :, best[c]] for c in range(len(steps))],
        "scores": np.log2(steps).mean(1),
    }


@pytest.mark.claim("batchnorm-speeds-up-training")
@pytest.mark.parametrize("data_set", BN_DATA_SETS)
def test_batchnorm_reaches_target_sooner_and_at_larger_rates(data_set, evidence, profile):
    profile.require("default", "the quick run's short training does not reach the loss target on the whole rate grid")
    st = bn_setting(data_set, profile)
    seeds = tuple(evidence.seeds)
    g = bn_grid(seeds, st, data_set)
    s = bn_steps(g, st)
    pl = bn_steps(bn_grid(tuple(evidence.placebo_seeds), st, data_set, (BN,)), st)
    steps, best = s["steps"], s["best"]
    at_best = {name: steps[c, :, best[c]] for c, name in enumerate(("without BN", "with BN"))}
    setting = {
        "data": data_set,
        "width": st.width,
        "hidden_layers": 3,
        "activation": "sigmoid",
        "batch": 60,
        "cap_steps": st.steps,
        "target_nats": st.target,
    }
    for c, name in enumerate(("without BN", "with BN")):
        evidence.tuned(f"rate {name}", st.lrs, st.lrs[best[c]], scores=s["scores"][c], setting=setting)
        evidence.record(
            f"steps to {st.target:g} nats training loss, {name}, at its best rate {st.lrs[best[c]]:g}",
            at_best[name],
            unit="steps",
            setting=setting,
        )
        evidence.record(
            f"largest grid rate reaching {st.target:g} nats within {st.steps} steps, {name}",
            s["largest"][c],
            unit="learning rate",
            setting=setting,
        )
    evidence.tuned("rate with BN (placebo seeds)", st.lrs, st.lrs[pl["best"][0]], scores=pl["scores"][0], setting=setting)
    evidence.paired(
        "bn-reaches-target-sooner",
        np.log2(at_best["without BN"]),
        np.log2(at_best["with BN"]),
        placebo=np.log2(pl["at_best"][0]),
        label=f"{data_set}, {st.target:g} nats",
        names=("log2 steps without BN", "log2 steps with BN"),
    )
    evidence.paired(
        "bn-trains-at-larger-rates",
        np.log2(s["largest"][0]),
        np.log2(s["largest"][1]),
        placebo=np.log2(pl["largest"][0]),
        label=f"{data_set}, largest rate that trains",
        names=("log2 rate without BN", "log2 rate with BN"),
    )
    capped = int((at_best["without BN"] >= st.steps).sum())
    speedup = float(2 ** np.mean(np.log2(at_best["without BN"] / at_best["with BN"])))
    evidence.note(
        f"{data_set}: BN reaches {st.target:g} nats in {at_best['with BN'].mean():.0f} steps (rate {st.lrs[best[1]]:g}) "
        f"against {at_best['without BN'].mean():.0f} without BN (rate {st.lrs[best[0]]:g}; {capped} of {len(seeds)} runs "
        f"hit the {st.steps}-step cap, so the plain net's count is a lower bound): {speedup:.2f}x fewer steps (geometric "
        f"mean). Largest rate that still reaches the target: with BN {np.exp(np.log(s['largest'][1]).mean()):.3g}, without "
        f"{np.exp(np.log(s['largest'][0]).mean()):.3g} (geometric means; the grid's top, {st.lrs[-1]:g}, is a lower bound). "
        "Ioffe & Szegedy 2015: BN-Baseline needs under half Inception's steps at the same rate, BN-x5 14x fewer at 5x the "
        "rate, and BN trains at 30x the rate where 5x diverged without it (ImageNet; on MNIST, Fig. 1a shows faster and "
        "higher test accuracy without a step count)."
    )
    loss = g["train_loss"]
    evidence.plot(
        f"{data_set}: training loss at each network's best rate (width {st.width}, sigmoid)",
        g["eval_steps"].tolist(),
        {
            f"without BN, rate {st.lrs[best[0]]:g}": loss[0, :, best[0]].tolist(),
            f"with BN, rate {st.lrs[best[1]]:g}": loss[1, :, best[1]].tolist(),
        },
        xlabel="SGD step",
        ylabel="training loss (nats)",
        log_y=True,
    )
    evidence.plot(
        f"{data_set}: rate grid, steps to {st.target:g} nats (cap {st.steps})",
        list(st.lrs),
        {"without BN": steps[0].tolist(), "with BN": steps[1].tolist()},
        xlabel="learning rate (plain SGD)",
        ylabel="steps",
        log_x=True,
        log_y=True,
    )
    assert_supported(evidence)


@pytest.mark.claim("batchnorm-works-by-reducing-covariate-shift")
@pytest.mark.parametrize("data_set", BN_DATA_SETS)
def test_noisy_batchnorm_keeps_the_speed_up(data_set, evidence, profile):
    profile.require("default", "at width 32 and 150 steps the injected noise does not double the layer inputs' shift (0.83 octaves)")
    st = bn_setting(data_set, profile)
    a = shift_arrays(tuple(evidence.seeds), st, data_set, (PLAIN, BN, NOISY))
    ap = shift_arrays(tuple(evidence.placebo_seeds), st, data_set, (PLAIN, BN))
    log_steps, log_shift = a["log_steps"], a["log_shift"]  # (3, S): plain, BN, noisy BN; per seed, mean over its runs
    steps = 2**log_steps
    names = ("without BN", "with BN", "noisy BN")
    shift = {n: 2 ** log_shift[c] for c, n in enumerate(names)}
    setting = {"data": data_set, "rate": st.shift_lr, "width": st.width, "cap_steps": st.steps, "target_nats": st.target}
    setting["runs_per_seed_bn"] = int(a["runs"][1])
    for c, n in enumerate(names):
        each = "" if a["runs"][c] == 1 else f" (geometric mean of {a['runs'][c]} runs per seed)"
        evidence.record(f"steps to {st.target:g} nats training loss, {n}{each}", steps[c], unit="steps", setting=setting)
        name = f"per-step shift of hidden-layer input distributions, {n}{each}"
        evidence.record(name, shift[n], unit="layer sd per step", setting=setting)
    evidence.paired(
        "shift-undoes-speed-up",
        log_steps[2],
        log_steps[1],
        placebo=ap["log_steps"][1],
        label=f"{data_set}, rate {st.shift_lr:g}",
        names=("log2 steps noisy BN", "log2 steps BN"),
    )
    evidence.paired(
        "noise-shifts-distributions",
        log_shift[2],
        log_shift[0],
        placebo=ap["log_shift"][0],
        label=f"{data_set}, rate {st.shift_lr:g}",
        names=("log2 shift noisy BN", "log2 shift without BN"),
    )
    ratio = float(2 ** np.mean(log_steps[2] - log_steps[1]))
    vs_plain = float(2 ** np.mean(log_steps[0] - log_steps[2]))
    capped = int((steps[0] >= st.steps).sum())
    evidence.note(
        f"{data_set}, rate {st.shift_lr:g}: noisy BN needs {steps[2].mean():.0f} steps to {st.target:g} nats against BN's "
        f"{steps[1].mean():.0f} ({ratio:.2f}x; the covariate-shift explanation predicts at least 2x), although its "
        f"layer inputs shift {np.mean(shift['noisy BN']):.2f} layer-sds per step against {np.mean(shift['without BN']):.2f} "
        f"without BN and {np.mean(shift['with BN']):.3f} with BN. The plain net needs {steps[0].mean():.0f} steps "
        f"({capped} of {len(steps[0])} seeds capped at {st.steps}), {vs_plain:.2f}x noisy BN's. "
        "Santurkar et al. 2018, Fig. 2 (VGG, CIFAR-10): the difference between BN and noisy BN is 'almost "
        "non-existent', both ahead of the standard network."
    )
    evidence.plot(
        f"{data_set}: training loss at rate {st.shift_lr:g}: BN, noisy BN, no BN (per seed, the mean of its runs)",
        a["eval_steps"].tolist(),
        {n: a["loss"][c].tolist() for c, n in enumerate(names)},
        xlabel="SGD step",
        ylabel="training loss (nats, evaluated without noise)",
        log_y=True,
    )
    assert_supported(evidence)


# -- batchnorm-normalises-with-batch-statistics ---------------------------------------------------------------


@functools.cache
def bn_check(seed: int, steps: int) -> dict:
    return lab.batchnorm1d_check(seed, width=32, steps=steps)


@pytest.mark.claim("batchnorm-normalises-with-batch-statistics")
def test_batchnorm1d_uses_batch_statistics_in_training_and_running_ones_at_evaluation(evidence, profile):
    steps = profile.pick(quick=30, default=50, full=200)
    runs = [bn_check(s, steps) for s in evidence.seeds]
    v = {k: [r[k] for r in runs] for k in runs[0]}
    setting = {"width": 32, "batch": 64, "training_steps": steps}
    labels = {
        "xhat_dev_train": "max(|mean|, |var - 1|) of (y - beta) / gamma over a training-mode batch",
        "xhat_dev_input": "the same statistic of the BN layers' inputs (control)",
        "err_train_batch": "training mode: max |y - formula with the batch's statistics|",
        "err_train_running": "training mode: max |y - formula with the running statistics| (control)",
        "err_eval_running": "evaluation mode: max |y - formula with the running statistics|",
        "err_eval_batch": "evaluation mode: max |y - formula with the batch's statistics| (control)",
        "dep_train": "training mode: max change of 16 examples' outputs when the rest of the batch is swapped",
        "dep_eval": "evaluation mode: the same change",
        "running_vs_population": "max |running mean - training-set mean| / training-set sd",
        "min_batch_var": "smallest batch variance of any BN input unit",
    }
    for k, text in labels.items():
        evidence.record(text, v[k], unit="absolute", setting=setting)
    evidence.bound(
        "train-mode-zero-mean-unit-variance",
        v["xhat_dev_train"],
        v["xhat_dev_input"],
        label="training mode",
        names=("normalised output", "BN input"),
    )
    evidence.bound(
        "train-mode-uses-batch-statistics",
        v["err_train_batch"],
        v["err_train_running"],
        label="training mode",
        names=("vs batch statistics", "vs running statistics"),
    )
    evidence.bound(
        "eval-mode-uses-running-statistics",
        v["err_eval_running"],
        v["err_eval_batch"],
        label="evaluation mode",
        names=("vs running statistics", "vs batch statistics"),
    )
    evidence.note(
        f"In training mode an example's BN output depends on the rest of its batch (it moves by up to "
        f"{max(v['dep_train']):.3g} when the other 48 examples are swapped); in evaluation mode it moves by "
        f"{max(v['dep_eval']):.1g}. After {steps} steps with momentum 0.1 the running means sit within "
        f"{max(v['running_vs_population']):.2f} training-set sds of the training set's means (they average recent "
        "batches of a moving network, Ioffe & Szegedy's Alg. 2 uses the population statistics of the final one). "
        f"Smallest batch variance of a BN input unit: {min(v['min_batch_var']):.3g}, so eps = 1e-5 moves var(xhat) by "
        f"at most {1e-5 / (min(v['min_batch_var']) + 1e-5):.1g}."
    )
    assert_supported(evidence)


# -- normalisation-layers-use-different-axes ------------------------------------------------------------------


@pytest.mark.claim("normalisation-layers-use-different-axes")
def test_each_normalisation_layer_normalises_over_its_own_axes(evidence):
    reports = [lab.norm_layer_axes(s) for s in evidence.seeds]
    layers, axes = list(lab.AXES), list(lab.AXES)
    worst = {l: {a: max(r["deviation"][l][a] for r in reports) for a in axes} for l in layers}
    miss = {l: {a: max(r["mismatch"][l][a] for r in reports) for a in axes} for l in layers}
    inp = {a: min(r["input_deviation"][a] for r in reports) for a in axes}
    for l in layers:
        evidence.record(
            f"{l}: worst max(|mean|, |var - 1|) over the groups of each axis set ({', '.join(axes)})",
            [worst[l][a] for a in axes],
            unit="absolute",
            per="setting",
            setting={"axis sets": axes},
        )
        evidence.record(
            f"{l}: footprint mismatches against each axis set's group ({', '.join(axes)})",
            [miss[l][a] for a in axes],
            unit="elements",
            per="setting",
            setting={"axis sets": axes},
        )
    evidence.family(
        "normalised-over-own-axes",
        {l: [worst[l][l]] for l in layers},
        {l: [inp[l]] for l in layers},
        label="each layer over its own axes",
        names=("layer output", "input"),
    )
    evidence.family(
        "statistics-shared-over-own-axes",
        {l: [miss[l][l]] for l in layers},
        {l: [min(miss[l][a] for a in axes if a != l)] for l in layers},
        label="footprint of one changed input element",
        names=("own axis set", "closest other axis set"),
    )
    passes = {l: [a for a in axes if worst[l][a] < 1e-3] for l in layers}
    evidence.note(
        "Axis sets on which each layer's output has mean 0 and variance 1 (to 1e-3): "
        + "; ".join(f"{l}: {', '.join(p)}" for l, p in passes.items())
        + ". A normalisation over small groups carries over to any union of them (InstanceNorm2d's output is also "
        "normalised per group of channels and per example, and per channel over the batch), but each layer's "
        "footprint, the outputs that move when one input moves, is exactly its own group: "
        + "; ".join(f"{l}: {lab.AXES[l]}" for l in layers)
        + ". Smallest group variance of the input: "
        f"{min(r['min_group_var'] for r in reports):.3g}. Wu & He 2018, Fig. 2 draws the same four axis sets."
    )
    assert_supported(evidence)


# -- small training set: batch norm, dropout and augmentation as regularisers -------------------------------

SMALL = {
    "plain": lab.Condition(),
    "batch norm": lab.Condition(bn=True),
    "dropout": lab.Condition(keep_input=0.8, keep_hidden=0.5),  # Srivastava et al. 2014, App. B.1 (MNIST)
    "shift augmentation": lab.Condition(augment=True),  # digits: one pixel; MNIST-1D: up to 4 positions, circular
}
SMALL_LR, SMALL_DECAY = 0.03, 0.25
SMALL_KW = dict(width=64, depth=2, batch=30, momentum=0.9, decay_last=SMALL_DECAY)
CURVE_TEST = 300  # test rows behind the plotted curve (the judged numbers use the whole test set)


@dataclass(frozen=True)
class RegSetting:
    """One setting of the regularisation protocol's grid: a data set and a training-set size per split."""

    data_set: str
    n_train: int
    full_only: bool  # a larger-grid setting: the full profile runs it

    def splits(self, profile) -> int:
        """Data splits per seed, the same for the three regularisers: one split's difference has an sd of about
        1 to 1.2 points on the digits (20 splits per seed: a default run's mean within about 0.1 point) and
        about 2.5 on MNIST-1D, whose effects are measured in several points (4 splits per seed)."""
        if self.data_set == "digits":
            return profile.pick(quick=20, default=20, full=40)
        return profile.pick(quick=2, default=4, full=4)

    @property
    def n_test(self) -> int:
        return 1797 - self.n_train if self.data_set == "digits" else 1000


REG_SETTINGS = {
    "digits-n150": RegSetting("digits", 150, False),
    "mnist1d-n1000": RegSetting("mnist1d", 1000, False),
    "digits-n500": RegSetting("digits", 500, True),
    "mnist1d-n300": RegSetting("mnist1d", 300, True),
}
REG_QUANTITIES = ("gap", "test-accuracy")  # the two quantities every regulariser is judged on, one case each
REG_CASES = [pytest.param(q, k, id=f"{q}-{k}") for k in REG_SETTINGS for q in REG_QUANTITIES]
REG_STEPS = 800  # every profile: the protocol's one budget
# batch norm on 150 digits: its difference is level from step 200, so it trains 200 steps (the same schedule: rate / 10
# for the last quarter) against its own plain net at 200 steps, with twice the splits (see the claim's design)
BN_DIGITS = {"steps": 200, "splits": 40}
REG_SKIP = "a 1-point bar against effects within half a point of it needs 20 data splits per seed of 800 steps"
REG_FULL = "the larger grid of training-set sizes runs in the full profile"


def sub_seeds(seeds: tuple, splits: int) -> tuple:
    """``splits`` derived seeds per seed (each its own data split, init and batch order), seed-major."""
    return tuple(stacked.draws(seeds, splits, 7, keep_seed=False))


@functools.cache
def gradient_error() -> float:
    """train_small writes its gradient out; this is its largest deviation from autograd's (relative)."""
    return lab.check_train_small_gradients()


def check_gradient() -> None:
    """Refuse to run (an error verdict) if the written-out gradient disagrees with autograd's."""
    if gradient_error() > 1e-4:
        raise RuntimeError(f"the small-data trainer's gradient differs from autograd's by {gradient_error():.2g} (relative)")


def reg_budget(name: str, setting: str, profile) -> tuple[int, int]:
    """(steps, splits per seed) of ``name`` against the plain net in ``setting``: the protocol's, except batch norm
    on 150 digits (BN_DIGITS), whose plain contrast and placebo then train at its budget."""
    if (name, setting) == ("batch norm", "digits-n150"):
        return BN_DIGITS["steps"], BN_DIGITS["splits"]
    return REG_STEPS, REG_SETTINGS[setting].splits(profile)


@functools.cache
def small_run(seeds: tuple, name: str, st: RegSetting, splits: int, steps: int = REG_STEPS) -> dict:
    """The ``name`` net of the protocol, ``splits`` splits per seed: train_small's arrays with C = 1, S = len(seeds) *
    splits (seed-major).  A net's run depends only on its seeds (split, initial weights, batch order; dropout masks
    and shifts from its own generator), so the plain net, trained once, is the contrast of all three regularisers,
    which share their seeds (the catalogue's seed group), and on the placebo seeds it is their placebo."""
    check_gradient()
    return lab.train_small(
        (SMALL[name],),
        sub_seeds(seeds, splits),
        n_train=st.n_train,
        steps=steps,
        lr=SMALL_LR,
        curve_every=max(steps // 8, 50),  # the plot only: 9 points, 5 for a 200-step run
        curve_test=CURVE_TEST,
        data_set=st.data_set,
        **SMALL_KW,
    )


def per_seed(x: np.ndarray, splits: int) -> np.ndarray:
    """Mean over each seed's splits: (S * splits, ...) -> (S, ...)."""
    return x.reshape(-1, splits, *x.shape[1:]).mean(1)


def regulariser_evidence(evidence, profile, name: str, quantity: str, setting: str, hypothesis: str) -> dict:
    """Record both quantities of ``name`` against the plain net in one setting of the grid and judge ``quantity``
    ('gap': the train-test gap with ``name`` minus without; 'test-accuracy': test accuracy with minus without).
    The plain net is each hypothesis's contrast, and its placebo; the three claims share it (see small_run)."""
    profile.require("default", REG_SKIP)
    st = REG_SETTINGS[setting]
    if st.full_only:
        profile.require("full", REG_FULL)
    steps, splits = reg_budget(name, setting, profile)
    conds = ("plain", name)
    runs = [small_run(tuple(evidence.seeds), c, st, splits, steps) for c in conds]
    r = {k: np.concatenate([x[k] for x in runs]) for k in ("train_acc", "test_acc", "test_loss", "test_acc_curve")}
    r["curve_steps"] = runs[0]["curve_steps"]
    tr = {c: per_seed(100 * r["train_acc"][i], splits) for i, c in enumerate(conds)}
    te = {c: per_seed(100 * r["test_acc"][i], splits) for i, c in enumerate(conds)}
    gap = {c: tr[c] - te[c] for c in conds}
    split_diff = 100 * ((r["train_acc"][0] - r["test_acc"][0]) - (r["train_acc"][1] - r["test_acc"][1]))
    p = small_run(tuple(evidence.placebo_seeds), "plain", st, splits, steps)  # the contrast of both quantities
    tr_pl, te_pl = per_seed(100 * p["train_acc"][0], splits), per_seed(100 * p["test_acc"][0], splits)
    rec = {
        "data": st.data_set,
        "n_train": st.n_train,
        "n_test": st.n_test,
        "steps": steps,
        "rate": SMALL_LR,
        "width": 64,
        "splits_per_seed": splits,
    }
    for i, c in enumerate(conds):
        evidence.record(f"training - test accuracy, {c} (mean of {splits} splits)", gap[c], unit="percentage points", setting=rec)
        evidence.record(f"test accuracy, {c}", te[c], unit="%", setting=rec)
        evidence.record(f"training accuracy, {c}", tr[c], unit="%", setting=rec)
        evidence.record(f"test cross-entropy, {c}", per_seed(r["test_loss"][i], splits), unit="nats", setting=rec)
    label = f"{st.data_set}, {st.n_train} training examples"
    if quantity == "gap":
        evidence.paired(hypothesis, gap[name], gap["plain"], placebo=tr_pl - te_pl, label=label, names=(f"gap {name}", "gap plain"))
    else:
        evidence.paired(
            hypothesis, te[name], te["plain"], placebo=te_pl, label=label, names=(f"test accuracy {name}", "test accuracy plain")
        )
    evidence.plot(
        f"{st.data_set}: test accuracy during training (first {CURVE_TEST} test examples of each split; rate / 10 from step "
        f"{int(steps * (1 - SMALL_DECAY))}; per seed, mean of {splits} splits)",
        r["curve_steps"].tolist(),
        {c: per_seed(100 * r["test_acc_curve"][i], splits).tolist() for i, c in enumerate(conds)},
        xlabel="SGD step",
        ylabel="test accuracy (%)",
    )
    return {"gap": gap, "test": te, "train": tr, "split_diff": split_diff, "setting": st}


def gap_sentence(d: dict, name: str) -> str:
    n, sd = d["split_diff"].size, float(np.std(d["split_diff"], ddof=1)) if d["split_diff"].size > 1 else float("nan")
    st = d["setting"]
    return (
        f"{st.data_set}, {st.n_train} training examples. Gap (training - test accuracy): plain {d['gap']['plain'].mean():.2f} "
        f"points, {name} {d['gap'][name].mean():.2f} (mean reduction {np.mean(d['gap']['plain'] - d['gap'][name]):+.2f}, over "
        f"{n} splits; one split's reduction has sd {sd:.2f}, so the mean's standard error is {sd / np.sqrt(n):.2f}); test "
        f"accuracy {d['test']['plain'].mean():.2f}% vs {d['test'][name].mean():.2f}% "
        f"({np.mean(d['test'][name] - d['test']['plain']):+.2f} points), training accuracy "
        f"{d['train']['plain'].mean():.1f}% vs {d['train'][name].mean():.1f}%."
    )


@pytest.mark.claim("batchnorm-regularises")
@pytest.mark.parametrize("quantity,setting", REG_CASES)
def test_batchnorm_narrows_the_gap_and_raises_test_accuracy(quantity, setting, evidence, profile):
    hyp = {"gap": "bn-narrows-gap", "test-accuracy": "bn-raises-test-accuracy"}[quantity]
    d = regulariser_evidence(evidence, profile, "batch norm", quantity, setting, hyp)
    evidence.note(
        gap_sentence(d, "batch norm") + " Ioffe & Szegedy 2015 report BN's regularisation indirectly (dropout "
        "could be removed from BN-Inception without more overfitting), with no gap on MNIST to compare."
    )
    assert_supported(evidence)


DROPOUT_ACCURACY_SKIP = (
    "dropout's test-accuracy gain on 150 digits (+0.93 points [0.77, 1.08] at default, against a 1-point bar) needs about 78 "
    "seeds to settle; the full profile's 12 seeds x 40 splits come closest (see the claim's amendments)"
)


@pytest.mark.claim("dropout-reduces-overfitting")
@pytest.mark.parametrize("quantity,setting", REG_CASES)
def test_dropout_narrows_the_gap_and_raises_test_accuracy(quantity, setting, evidence, profile):
    hyp = {"gap": "dropout-narrows-gap", "test-accuracy": "dropout-raises-test-accuracy"}[quantity]
    if (quantity, setting) == ("test-accuracy", "digits-n150"):
        profile.require("full", DROPOUT_ACCURACY_SKIP)
    d = regulariser_evidence(evidence, profile, "dropout", quantity, setting, hyp)
    evidence.note(
        gap_sentence(d, "dropout") + " Srivastava et al. 2014: MNIST test error 1.60% -> 1.25-1.35% with dropout "
        "at 60,000 examples (Table 2), and no gain from dropout with 100 or 500 training examples (Fig. 10)."
    )
    assert_supported(evidence)


@pytest.mark.claim("augmentation-reduces-overfitting")
@pytest.mark.parametrize("quantity,setting", REG_CASES)
def test_shift_augmentation_narrows_the_gap_and_raises_test_accuracy(quantity, setting, evidence, profile):
    hyp = {"gap": "augmentation-narrows-gap", "test-accuracy": "augmentation-raises-test-accuracy"}[quantity]
    d = regulariser_evidence(evidence, profile, "shift augmentation", quantity, setting, hyp)
    shifts = (
        "its crops shift 224-pixel windows by up to 32 pixels, ours shift 8-pixel digits by one"
        if d["setting"].data_set == "digits"
        else "ours roll the 40-position MNIST-1D sequences by up to 4 positions, as its generator rolls its templates"
    )
    evidence.note(
        gap_sentence(d, "shift augmentation") + " AlexNet (Krizhevsky et al. 2012, Sec. 4.1) calls the overfitting "
        f"without augmentation substantial and credits its colour augmentation with over 1% top-1 error; {shifts}."
    )
    assert_supported(evidence)


# -- dropout-slows-training: each net at its best rate of one grid ---------------------------------------------

SLOW_LRS = (0.01, 0.03, 0.1, 0.3)  # one grid for both nets (equal tuning); SGD with momentum 0.9
SLOW = {"digits": (150, 0.1), "mnist1d": (1000, 0.5)}  # (training examples, target nats of training loss)


def slow_steps(profile) -> int:
    """Steps of dropout-slows-training's runs (capped at the run's length)."""
    return profile.pick(quick=240, default=800, full=2000)


@functools.cache
def slow_runs(seeds: tuple, conditions: tuple, data_set: str, steps: int) -> dict:
    """Every net of ``conditions`` at every rate of SLOW_LRS, one split per seed: train_small's arrays with
    S = len(seeds) * len(SLOW_LRS) (seed-major), the training loss every 20 steps."""
    check_gradient()
    runs = tuple(s for s in sub_seeds(seeds, 1) for _ in SLOW_LRS)
    return lab.train_small(
        tuple(SMALL[c] for c in conditions),
        runs,
        n_train=SLOW[data_set][0],
        steps=steps,
        lr=tuple(lr for _ in seeds for lr in SLOW_LRS),
        loss_every=20,
        final_test=False,  # the claim reads the loss curves only
        data_set=data_set,
        **SMALL_KW,
    )


def slow_at_best(r: dict, target: float) -> tuple[np.ndarray, np.ndarray, list]:
    """Steps to ``target`` per (net, seed, rate) (C, S, L), the mean log2 steps per rate (C, L), and each net's
    best rate index (lowest mean log2 steps over seeds), None for a net that reaches the target at no rate on
    any seed (every run capped: no rate is better than another)."""
    steps = lab.steps_to_target(r["loss_steps"], r["train_loss"], target)
    steps = steps.reshape(steps.shape[0], -1, len(SLOW_LRS))
    cap = r["loss_steps"][-1]
    best = [None if (steps[c] >= cap).all() else best_rate(steps[c]) for c in range(len(steps))]
    return steps, np.log2(steps).mean(1), best


@pytest.mark.claim("dropout-slows-training")
@pytest.mark.parametrize("data_set", BN_DATA_SETS)
def test_dropout_needs_more_steps_to_fit_the_training_set(data_set, evidence, profile):
    profile.require("default", "the rate grid of both nets does not fit the 60-s smoke run (budget, not result)")
    steps = slow_steps(profile)
    n_train, target = SLOW[data_set]
    st, scores, best = slow_at_best(slow_runs(tuple(evidence.seeds), ("plain", "dropout"), data_set, steps), target)
    st_pl, scores_pl, best_pl = slow_at_best(slow_runs(tuple(evidence.placebo_seeds), ("plain",), data_set, steps), target)
    setting = {"data": data_set, "n_train": n_train, "cap_steps": steps, "target_nats": target}
    rate, chosen = {}, {}
    nets = (
        ("plain", best[0], scores[0], st[0]),
        ("dropout", best[1], scores[1], st[1]),
        ("plain (placebo seeds)", best_pl[0], scores_pl[0], st_pl[0]),
    )
    for name, b, sc, arr in nets:
        if b is None:  # capped at every rate on every seed: no rate is chosen, every rate gives the cap
            rate[name], chosen[name] = "none reaches the target", arr[:, 0]
        else:
            rate[name], chosen[name] = f"{SLOW_LRS[b]:g}", arr[:, b]
            evidence.tuned(f"rate, {name}", SLOW_LRS, SLOW_LRS[b], scores=sc, setting=setting)
    plain, drop, plain_placebo = chosen["plain"], chosen["dropout"], chosen["plain (placebo seeds)"]
    evidence.record(f"steps to {target:g} nats training loss, plain, rate {rate['plain']}", plain, unit="steps", setting=setting)
    evidence.record(
        f"steps to {target:g} nats training loss, dropout (evaluated without dropout), rate {rate['dropout']}",
        drop,
        unit="steps",
        setting=setting,
    )
    evidence.paired(
        "dropout-slows-training",
        np.log2(drop),
        np.log2(plain),
        placebo=np.log2(plain_placebo),
        label=f"{data_set}, {target:g} nats",
        names=("log2 steps dropout", "log2 steps plain"),
    )
    evidence.note(
        f"{data_set}, {n_train} training examples: steps to {target:g} nats training loss, each net at its best rate of "
        f"{', '.join(f'{x:g}' for x in SLOW_LRS)}: plain {plain.mean():.0f} (rate {rate['plain']}), dropout "
        f"{drop.mean():.0f} (rate {rate['dropout']}); {2 ** np.mean(np.log2(drop / plain)):.1f}x, geometric mean; "
        f"{int((drop >= steps).sum())} dropout runs capped at {steps}, where the ratio is a lower bound. Srivastava et "
        "al. 2014, Sec. 10: 2-3x longer; AlexNet Sec. 4.2: 'roughly doubles the number of iterations required to converge'."
    )
    r = slow_runs(tuple(evidence.seeds), ("plain", "dropout"), data_set, steps)
    L = len(SLOW_LRS)
    evidence.plot(
        f"{data_set}: training loss at each net's best rate (evaluated without dropout; the grid's first where none reaches it)",
        r["loss_steps"].tolist(),
        {
            f"plain, rate {rate['plain']}": r["train_loss"][0, (best[0] or 0) :: L].tolist(),
            f"dropout, rate {rate['dropout']}": r["train_loss"][1, (best[1] or 0) :: L].tolist(),
        },
        xlabel="SGD step",
        ylabel="training loss (nats)",
        log_y=True,
    )
    assert_supported(evidence)
