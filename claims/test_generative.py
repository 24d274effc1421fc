"""GANs: the non-saturating generator loss vs the minimax one; a small GAN learns a two-mode mixture."""

from __future__ import annotations

import functools

import numpy as np
import pytest
import torch

from harness.evidence import assert_supported
from harness.lab import generative as lab
from harness.lab import stacked

D_STEPS = 200  # discriminator-only steps that make it reject the initial generator's samples
GRAD_BATCH = 1024
BEST_GAUSSIAN_W1 = 0.734  # W1(N(0, 2^2), target): the best single Gaussian, by quadrature (see the catalogue)
MODE_SHARE = 0.5 * 0.9545  # the target's share of samples within 2 std of each mode


@functools.cache
def gradient_norms(seeds: tuple, disc: str) -> dict:
    """Both generator losses' gradient norms for one group of seeds: fresh G and D per seed, D trained
    alone for D_STEPS when 'd-confident'.  The z stream is drawn from the group's first seed, so the
    placebo seeds run as a group of their own (batched with the main seeds they would share its z)."""
    gen, d = lab.init_mlp(list(seeds), lab.GEN_SIZES, 401), lab.init_mlp(list(seeds), lab.DISC_SIZES, 402)
    g = torch.Generator().manual_seed(stacked.subseed(seeds[0], 405))
    if disc == "d-confident":
        lab.train_discriminator(gen, d, D_STEPS, g)
    return lab.generator_gradient_norms(gen, d, GRAD_BATCH, g)


@pytest.mark.claim("non-saturating-loss-stronger-gradients")
@pytest.mark.parametrize("disc", ["d-confident", "d-undecided"])
def test_non_saturating_loss_gives_larger_generator_gradients(disc, evidence):
    out = gradient_norms(tuple(evidence.seeds), disc)
    placebo = gradient_norms(tuple(evidence.placebo_seeds), disc)  # the minimax loss again, on independent seeds
    setting = {"discriminator": disc, "d_steps": D_STEPS if disc == "d-confident" else 0, "batch": GRAD_BATCH}
    evidence.record("mean D(G(z)) on the batch", out["d_fake"], unit="probability", setting=setting)
    evidence.record("|gradient|, non-saturating loss -log D(G(z))", out["non_saturating"], unit="norm", setting=setting)
    evidence.record("|gradient|, minimax loss log(1 - D(G(z)))", out["minimax"], unit="norm", setting=setting)
    evidence.paired(
        "larger-generator-gradient",
        np.log10(out["non_saturating"]),
        np.log10(out["minimax"]),
        placebo=np.log10(placebo["minimax"]),
        label=f"mean D(G(z)) = {out['d_fake'].mean():.2f}",
        names=("non-saturating", "minimax"),
    )
    D = float(out["d_fake"].mean())
    evidence.note(
        f"Mean D(G(z)) = {D:.3f}; measured gradient ratio (geometric mean over seeds) "
        f"{10 ** np.mean(np.log10(out['non_saturating'] / out['minimax'])):.1f}x; the per-sample ratio (1 - D)/D at "
        f"the mean D is {(1 - D) / D:.1f}x (Goodfellow et al. 2014, Sec. 3: 'much stronger gradients early in learning', "
        "no figure)."
    )
    assert_supported(evidence)


CURVE_CHECKPOINTS = 4  # W1 measured every quarter of training for the figure


@functools.cache
def gan_runs(seeds: tuple, steps: int, per_seed: int) -> dict:
    """``per_seed`` GANs per seed in one batch (the first from the seed itself, the others from its subseeds), each
    measure reshaped to (seeds, GANs, ...)."""
    r = lab.train_gan(stacked.draws(seeds, per_seed, 407), steps, checkpoints=CURVE_CHECKPOINTS)
    return {k: v if k == "steps" else v.reshape(len(seeds), per_seed, *v.shape[1:]) for k, v in r.items()}


@pytest.mark.claim("small-gan-learns-mixture")
def test_small_gan_learns_a_two_mode_mixture(evidence, profile):
    steps = profile.pick(quick=600, default=800, full=2000)
    per_seed = profile.pick(quick=1, default=4, full=4)
    r = gan_runs(tuple(evidence.seeds), steps, per_seed)
    ratio = r["w1"][:, :, -1] / BEST_GAUSSIAN_W1  # (seeds, GANs)
    covers, covers_init = (r[k].min(axis=2) / MODE_SHARE for k in ("mode_mass", "mode_mass_init"))  # each GAN's weaker mode
    failed = (ratio >= 0.5) | (covers < 0.5)
    # each seed's value: the median over its GANs, its typical GAN (a failure is counted in the failure share below)
    cover, cover_init = np.median(covers, axis=1), np.median(covers_init, axis=1)
    r = {k: v if k == "steps" else np.median(v, axis=1) for k, v in r.items()}
    w1_init, w1 = r["w1"][:, 0], r["w1"][:, -1]
    setting = {"steps": steps, "batch": 128, "eval_samples": 10_000, "gans_per_seed": per_seed}
    evidence.record("W1 to the target, initial generator (median over the seed's GANs)", w1_init, unit="W1", setting=setting)
    evidence.record("W1 to the target, trained generator (median over the seed's GANs)", w1, unit="W1", setting=setting)
    evidence.record("W1 / best single Gaussian's W1, each trained GAN", ratio.tolist(), unit="ratio", setting=setting)
    failure = "share of the seed's GANs that failed (W1 ratio >= 0.5 or a mode under half its share)"
    evidence.record(failure, failed.mean(axis=1), unit="share", setting=setting)
    evidence.record("W1 between two target samples (sampling floor)", r["floor"], unit="W1", setting=setting)
    evidence.record(
        "share of samples within 2 std of the modes -2 and +2, trained generator", r["mode_mass"].tolist(), unit="share", setting=setting
    )
    evidence.bound(
        "closer-than-any-gaussian",
        w1 / BEST_GAUSSIAN_W1,
        w1_init / BEST_GAUSSIAN_W1,
        label="1-D mixture",
        names=("trained generator", "initial generator"),
    )
    evidence.bound("covers-both-modes", cover, cover_init, label="1-D mixture", names=("trained generator", "initial generator"))
    evidence.note(
        f"W1 to the target falls from {w1_init.mean():.2f} (initial generator) to {w1.mean():.3f} after {steps} steps "
        f"({np.mean(np.log10(w1_init / w1)):.2f} decades); the best single Gaussian is at {BEST_GAUSSIAN_W1} and two target "
        f"samples of 10,000 differ by {r['floor'].mean():.3f}. The modes get {r['mode_mass'].mean(axis=0)[0]:.2f} and "
        f"{r['mode_mass'].mean(axis=0)[1]:.2f} of the samples (target {MODE_SHARE:.3f} each). GANs that failed "
        f"(W1 ratio >= 0.5 or a mode below half its share): {int(failed.sum())} of {ratio.size} (a seed's value is its median GAN). "
        "Goodfellow et al. 2014 report Parzen log-likelihoods on images, not distances on toy mixtures."
    )
    evidence.plot(
        "W1 between generator and target during training",
        r["steps"].tolist(),
        {"GAN": r["w1"].tolist(), "best single Gaussian": [BEST_GAUSSIAN_W1] * len(r["steps"])},
        xlabel="training step",
        ylabel="Wasserstein-1 distance",
        log_y=True,
    )
    assert_supported(evidence)


STABILITY_RATES = (5e-4, 2e-3, 8e-3)  # the registered grid: every rate counts, none is picked
STABILITY_BATCH, STABILITY_STEPS = 32, 800
STABILITY_D_STEPS = {"d-undecided": 0, "d-confident": D_STEPS}  # D first trained alone, as in the gradient claim
STABILITY_DRAWS = 2  # runs per seed and rate (the first from the seed itself): a seed's share is over draws x rates


@functools.cache
def loss_runs(seeds: tuple, placebo_seeds: tuple) -> dict:
    """One batch of runs for both cases (untrained D; D first trained alone until it rejects G's samples): each seed's
    draws x rates with each generator loss, and the placebo seeds' draws x rates with the minimax loss.  Returns per
    case and condition arrays (seeds, draws x rates, draw-major) of 'learns', 'collapsed', 'w1', 'd_fake_early' and
    'd_fake_start'."""
    groups = (("non_saturating", seeds), ("minimax", seeds), ("minimax (placebo)", placebo_seeds))
    runs = [
        (k, name.split(" ")[0], s, r)
        for k in STABILITY_D_STEPS.values()
        for name, ss in groups
        for s in stacked.draws(ss, STABILITY_DRAWS, 409)
        for r in STABILITY_RATES
    ]
    d_steps, losses, run_seeds, rates = (list(column) for column in zip(*runs))
    r = lab.train_gan(run_seeds, STABILITY_STEPS, batch=STABILITY_BATCH, lr=rates, checkpoints=1, losses=losses, d_steps=d_steps)
    w1 = r["w1"][:, -1] / BEST_GAUSSIAN_W1
    cover = r["mode_mass"].min(axis=1) / MODE_SHARE
    shape = (len(STABILITY_D_STEPS), len(groups), len(seeds), STABILITY_DRAWS * len(STABILITY_RATES))
    out = {
        "learns": ((w1 < 0.5) & (cover >= 0.5)).reshape(shape),
        "collapsed": (cover < 0.5).reshape(shape),
        "w1": w1.reshape(shape),
        "d_fake_early": r["d_fake_early"].reshape(shape),
        "d_fake_start": r["d_fake_start"].reshape(shape),
    }
    return {d: {name: {k: v[c, i] for k, v in out.items()} for i, (name, _) in enumerate(groups)} for c, d in enumerate(STABILITY_D_STEPS)}


def at_rate(values: np.ndarray, j: int) -> np.ndarray:
    """(seeds, draws x rates) -> (seeds, draws): every draw of a seed at the j-th rate."""
    return values.reshape(values.shape[0], STABILITY_DRAWS, len(STABILITY_RATES))[:, :, j]


@pytest.mark.claim("non-saturating-loss-stabler-training")
@pytest.mark.parametrize("disc", list(STABILITY_D_STEPS))
def test_non_saturating_loss_makes_more_runs_learn_the_mixture(disc, evidence, profile):
    profile.require("default", "216 GAN runs of 800 steps (2 discriminator starts, 2 losses and a placebo, 3 rates, 6 seeds x 2 draws)")
    runs = loss_runs(tuple(evidence.seeds), tuple(evidence.placebo_seeds))[disc]
    ns, mm, placebo = runs["non_saturating"], runs["minimax"], runs["minimax (placebo)"]
    setting = {"discriminator": disc, "d_steps": STABILITY_D_STEPS[disc], "steps": STABILITY_STEPS, "batch": STABILITY_BATCH}
    setting["rates"] = list(STABILITY_RATES)
    for name, r in (("non-saturating", ns), ("minimax", mm)):
        for j, rate in enumerate(STABILITY_RATES):
            at = setting | {"rate": rate}
            learns = at_rate(r["learns"], j).mean(axis=1)
            evidence.record(f"share of the seed's runs that learn the mixture, {name} loss", learns, unit="share", setting=at)
            evidence.record(f"W1 / best single Gaussian's W1, {name} loss", at_rate(r["w1"], j).mean(axis=1), unit="ratio", setting=at)
        evidence.record(f"share of rates with a collapsed mode, {name} loss", r["collapsed"].mean(axis=1), unit="share", setting=setting)
        early = r["d_fake_early"].mean(axis=1)
        evidence.record(f"mean D(G(z)) over the first 80 steps, {name} loss", early, unit="probability", setting=setting)
    start = ns["d_fake_start"].mean(axis=1)  # the same starting D for every rate and loss of a draw: the mean over its draws
    evidence.record("mean D(G(z)) of the starting discriminator, initial generator", start, unit="probability", setting=setting)
    evidence.paired(
        "more-runs-learn-the-mixture",
        ns["learns"].mean(axis=1),
        mm["learns"].mean(axis=1),
        placebo=placebo["learns"].mean(axis=1),
        label=f"1-D mixture, rates 5e-4, 2e-3, 8e-3, starting D(G(z)) = {start.mean():.2f}",
        names=("non-saturating", "minimax"),
    )
    per_rate = "; ".join(
        f"rate {rate:g}: {at_rate(ns['learns'], j).sum()} vs {at_rate(mm['learns'], j).sum()} of {at_rate(ns['learns'], j).size}"
        for j, rate in enumerate(STABILITY_RATES)
    )
    evidence.note(
        f"Starting discriminator: mean D(G(z)) = {start.mean():.3f} ({STABILITY_D_STEPS[disc]} steps of D alone). Runs that "
        f"learn the mixture, non-saturating vs minimax loss: {per_rate}. Runs with a collapsed mode: "
        f"{ns['collapsed'].sum()} vs {mm['collapsed'].sum()} of {ns['collapsed'].size}. Mean D(G(z)) over the first 80 "
        f"steps: {ns['d_fake_early'].mean():.2f} vs {mm['d_fake_early'].mean():.2f}. W1 / best Gaussian's W1 at rate "
        f"{STABILITY_RATES[0]:g}: {at_rate(ns['w1'], 0).mean():.2f} vs {at_rate(mm['w1'], 0).mean():.2f}. Goodfellow et al. 2014 give the "
        "non-saturating loss for its stronger early gradients and show no comparison of stability."
    )
    assert_supported(evidence)
