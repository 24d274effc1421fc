"""Activations: the sigmoid's saturating slope vs ReLU's, dying ReLU units, ReLU vs tanh training speed."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from harness.evidence import assert_supported
from harness.lab import activations as lab
from harness.lab import stacked

# -- sigmoid-derivative-saturates -----------------------------------------------------------------

ACTS = {"logistic sigmoid": torch.sigmoid, "tanh": torch.tanh, "ReLU": torch.relu}
TAIL = 5.0  # |x| from which the derivative's tail is read (see the catalogue's reason)
STEPS_H = 10.0 ** -np.arange(1, 9)  # finite-difference steps 1e-1 ... 1e-8


@pytest.mark.claim("sigmoid-derivative-saturates")
def test_sigmoid_slope_is_at_most_a_quarter_and_decays(evidence):
    x = lab.grid()
    d = {name: lab.derivative(f, x) for name, f in ACTS.items()}
    peak = {n: float(v.max()) for n, v in d.items()}
    where = {n: float(x[int(torch.argmax(v))]) for n, v in d.items()}
    tail = x.abs() >= TAIL
    decay = {n: float(np.log10(float(v[tail].max()) / peak[n])) for n, v in d.items()}
    for n in ACTS:
        evidence.record(
            f"max derivative on [-10, 10], {n} (at x = {where[n]:g})", [peak[n]], unit="slope", per="setting", setting={"grid_step": 1e-3}
        )
        evidence.record(f"log10(max derivative at |x| >= {TAIL:g} / max derivative), {n}", [decay[n]], unit="decades", per="setting")
    evidence.bound(
        "sigmoid-peak-at-most-quarter",
        [peak["logistic sigmoid"]],
        [peak["ReLU"]],
        label="logistic sigmoid",
        names=("logistic sigmoid", "ReLU"),
    )
    for n in ("logistic sigmoid", "tanh"):
        evidence.bound("sigmoid-decays-away-from-zero", [decay[n]], [decay["ReLU"]], label=n, names=(n, "ReLU"))
    at = {v: float(lab.derivative(torch.sigmoid, torch.tensor([v], dtype=torch.float64))[0]) for v in (0.0, 2.0, 5.0, 10.0)}
    evidence.note(
        "Logistic sigmoid'(x) by autograd: "
        + ", ".join(f"x = {k:g}: {v:.3g}" for k, v in at.items())
        + f"; its maximum {peak['logistic sigmoid']:.6g} lies at x = {where['logistic sigmoid']:g} "
        "(analytically sigma(1 - sigma) <= 1/4, equality at 0). tanh'(x) peaks at "
        f"{peak['tanh']:.3g} and falls {-decay['tanh']:.2f} decades by |x| = {TAIL:g}; ReLU' is 1 for every x > 0. "
        "The papers give no number here: Glorot, Bordes & Bengio 2011 argue the vanishing qualitatively."
    )
    sub = slice(None, None, 100)  # every 0.1 for the figure
    evidence.plot(
        "derivative of each activation", x[sub].tolist(), {n: v[sub].tolist() for n, v in d.items()}, xlabel="x", ylabel="f'(x) (autograd)"
    )
    assert_supported(evidence)


@pytest.mark.claim("sigmoid-derivative-saturates")
def test_relu_slope_is_one_for_positive_inputs_and_kinks_at_zero(evidence):
    x = lab.grid()
    pos = x > 0
    off_one = {n: float((lab.derivative(ACTS[n], x)[pos] - 1).abs().max()) for n in ("ReLU", "logistic sigmoid")}
    for n, v in off_one.items():
        evidence.record(f"max |f'(x) - 1| over 0 < x <= 10, {n}", [v], unit="slope", per="setting")
    evidence.bound(
        "relu-slope-one-for-positive-inputs",
        [off_one["ReLU"]],
        [off_one["logistic sigmoid"]],
        label="ReLU",
        names=("ReLU", "logistic sigmoid"),
    )
    sides = {n: np.array([lab.one_sided(ACTS[n], float(h)) for h in STEPS_H]) for n in ("ReLU", "logistic sigmoid")}  # (n_h, 2)
    gaps = {n: (s[:, 0] - s[:, 1]).tolist() for n, s in sides.items()}
    for n, g in gaps.items():
        evidence.record(
            f"right - left difference quotient at 0, {n}, h = 1e-1 ... 1e-8",
            g,
            unit="slope",
            per="setting",
            setting={"h": STEPS_H.tolist()},
        )
    evidence.bound("relu-kink-at-zero", gaps["ReLU"], gaps["logistic sigmoid"], label="ReLU at 0", names=("ReLU", "logistic sigmoid"))
    autograd_at_0 = float(lab.derivative(torch.relu, torch.zeros(1, dtype=torch.float64))[0])
    evidence.note(
        f"ReLU at 0: right derivative {sides['ReLU'][-1, 0]:g}, left derivative {sides['ReLU'][-1, 1]:g} at "
        f"every h from 1e-1 to 1e-8; PyTorch's autograd returns {autograd_at_0:g} there (a chosen subgradient, "
        "not a derivative). The sigmoid's one-sided quotients agree to "
        f"{max(abs(g) for g in gaps['logistic sigmoid']):.1g}."
    )
    evidence.plot(
        "one-sided difference quotients at x = 0",
        STEPS_H.tolist(),
        {
            "ReLU, right": sides["ReLU"][:, 0].tolist(),
            "ReLU, left": sides["ReLU"][:, 1].tolist(),
            "sigmoid, right": sides["logistic sigmoid"][:, 0].tolist(),
            "sigmoid, left": sides["logistic sigmoid"][:, 1].tolist(),
        },
        xlabel="step h",
        ylabel="difference quotient",
        log_x=True,
    )
    assert_supported(evidence)


# -- relu-units-can-die ---------------------------------------------------------------------------

DIE_SMALL, DIE_LARGE = lab.DIE_SMALL, 10.0  # step sizes compared (the small one is also the training rate after the step)
DIE_SWEEP = (0.1, 0.3, 1.0, 3.0, 10.0, 30.0)  # for the figure; the two judged rates are part of it
DIE_EPOCHS = 2


@pytest.mark.claim("relu-units-can-die")
@pytest.mark.parametrize("dataset", ["digits", "mnist1d"])
def test_large_step_kills_relu_units_for_good(dataset, evidence, profile):
    if dataset != "digits":
        profile.require("default", "the second data set's 2 epochs on 4000 sequences for 18 nets cost about 1.5 s of CPU")
    width = profile.pick(quick=64, default=128, full=256)
    seeds, judged = tuple(evidence.seeds), (DIE_SMALL, DIE_LARGE)
    others = tuple(lr for lr in DIE_SWEEP if lr not in judged)
    sweep = lab.dying_runs(seeds, width, others, 0, dataset)  # one step of every other rate (the figure)
    then = lab.dying_runs(seeds, width, judged, DIE_EPOCHS, dataset)  # the judged rates' step, then ordinary training
    runs = {lr: [row[i] for row in sweep] for i, lr in enumerate(others)}
    runs |= {lr: [row[i] for row in then] for i, lr in enumerate(judged)}
    n = len(lab.training_tensors(dataset)[0])
    what = "digits" if dataset == "digits" else "training sequences"
    step = {lr: np.array([r["dead_step"][-1] for r in rs]) for lr, rs in runs.items()}  # last hidden layer
    trained = {lr: np.array([r["dead_trained"][-1] for r in runs[lr]]) for lr in (DIE_SMALL, DIE_LARGE)}
    setting = {"data": dataset, "width": width, "hidden_layers": 2, "batch": lab.DIE_BATCH}
    for lr in (DIE_SMALL, DIE_LARGE):
        evidence.record(
            f"share of layer-2 units dead on all {n} {what} after one step of rate {lr:g}",
            step[lr],
            unit="share of units",
            setting=setting,
        )
        evidence.record(
            f"same, after {DIE_EPOCHS} more epochs of SGD at rate {DIE_SMALL:g} (step rate {lr:g})",
            trained[lr],
            unit="share of units",
            setting=setting,
        )
        evidence.record(
            f"share of layer-1 units dead after the step of rate {lr:g}",
            [r["dead_step"][0] for r in runs[lr]],
            unit="share of units",
            setting=setting,
        )
        evidence.record(
            f"training loss before -> after the step of rate {lr:g}",
            [[r["loss_before"], r["loss_after"]] for r in runs[lr]],
            unit="nats",
            setting=setting,
        )
    names = (f"rate {DIE_LARGE:g}", f"rate {DIE_SMALL:g}")
    # the small step and its training again, on new seeds
    placebo = [row[0] for row in lab.dying_runs(tuple(evidence.placebo_seeds), width, (DIE_SMALL,), DIE_EPOCHS, dataset)]
    evidence.paired(
        "large-step-kills-units",
        step[DIE_LARGE],
        step[DIE_SMALL],
        placebo=[r["dead_step"][-1] for r in placebo],
        label="right after the step",
        names=names,
    )
    evidence.paired(
        "dead-units-stay-dead",
        trained[DIE_LARGE],
        trained[DIE_SMALL],
        placebo=[r["dead_trained"][-1] for r in placebo],
        label=f"after {DIE_EPOCHS} epochs at rate {DIE_SMALL:g}",
        names=names,
    )
    big = runs[DIE_LARGE]
    evidence.note(
        f"After one step of rate {DIE_LARGE:g}, {np.mean(step[DIE_LARGE]):.0%} of the second hidden layer's units "
        f"output 0 on every one of the {n} {what} (rate {DIE_SMALL:g}: {np.mean(step[DIE_SMALL]):.0%}); "
        f"{np.mean([r['kept'] for r in big]):.0%} of them are still dead after {DIE_EPOCHS} epochs of ordinary "
        f"training (training error then {np.mean([r['train_error'] for r in big]):.1%} vs "
        f"{np.mean([r['train_error'] for r in runs[DIE_SMALL]]):.1%}). The large step overshoots: training loss "
        f"{np.mean([r['loss_before'] for r in big]):.2f} -> {np.mean([r['loss_after'] for r in big]):.3g} nats "
        f"(rate {DIE_SMALL:g}: -> {np.mean([r['loss_after'] for r in runs[DIE_SMALL]]):.2f}). First-layer units dead after the "
        f"large step: {np.mean([r['dead_step'][0] for r in big]):.0%} (their inputs have mean 0, and a linear function "
        "of a zero-mean input cloud takes both signs). Glorot et al. 2011 report ~50% of units at 0 per input "
        "(sparsity, per a secondary summary), which is not death: a dead unit is 0 on every input and gets no gradient "
        f"(largest |gradient| of a dead unit's incoming weights on all {what}: "
        f"{max(r['grad_dead'] for r in big):.1g}; median over live units: "
        f"{np.median([r['grad_live'] for r in big]):.2g})."
    )
    evidence.plot(
        f"units of hidden layer 2 dead after one SGD step ({dataset}, width {width})",
        list(DIE_SWEEP),
        {
            "layer 2": [[float(step[lr][i]) for lr in DIE_SWEEP] for i in range(len(evidence.seeds))],
            "layer 1": [[runs[lr][i]["dead_step"][0] for lr in DIE_SWEEP] for i in range(len(evidence.seeds))],
        },
        xlabel="step size (learning rate)",
        ylabel=f"share of units dead on all {what}",
        log_x=True,
    )
    assert_supported(evidence)


# -- relu-trains-faster-than-tanh -----------------------------------------------------------------

SPEED_INIT = {"relu": "he", "tanh": "xavier"}  # each activation at the init it is used with
PAPER_SPEEDUP = 6.0  # Krizhevsky et al. 2012, Fig. 1 (the reference table's alexnet-relu-tanh-speedup)
SPEED = {  # (data set, model): the registered design (catalogue): one log rate grid for both activations, a high and a
    # low training-error target, the error evaluated every `every` steps, epochs capped per profile (None: skipped).
    # screen: skip the full evaluation of a run whose own recent mini-batch error is more than this above its open targets,
    # once it has reached the first `screen_from` targets (the error falls too fast before: digits' 25% in 2 to 6 steps).
    # by_profile: a profile's smaller registered setting (its grid, and how many of the claim's seeds it trains)
    ("digits", "mlp"): {
        "lrs": (0.01, 0.03, 0.1, 0.3, 1.0, 3.0),
        "targets": (0.25, 0.02),
        "every": 1,
        "screen": (0.15, 1),
        "cap": (6, 10, 20),
    },
    ("mnist1d", "mlp"): {
        "lrs": (0.03, 0.1, 0.3, 1.0),
        "targets": (0.5, 0.4),
        "every": 8,
        "screen": (0.15, 0),
        "cap": (None, 8, 12),
        "draws": 2,  # runs per seed (its own init and mini-batch order), a seed's value their mean
    },
    ("mnist1d", "cnn"): {
        "lrs": (0.01, 0.03, 0.1, 0.3, 1.0),
        "targets": (0.5, 0.4),
        "every": 8,
        "screen": (0.15, 0),
        "cap": (None, 8, 12),
        "by_profile": {"default": {"lrs": (0.03, 0.1, 0.3, 1.0), "n_seeds": 4}},
    },
}
SPEED_CASES = [(d, m, t) for (d, m), c in SPEED.items() for t in c["targets"]]
SPEED_SKIP = {  # why a setting skips below a profile
    ("mnist1d", "mlp"): ("default", "72 MLPs trained for 8 epochs on 4000 sequences cost about 3 s of CPU, half the smoke run's budget"),
    ("mnist1d", "cnn"): ("default", "32 CNNs trained up to 8 epochs on 4000 sequences cost about 12 s of CPU, a sixth of the smoke run"),
}


def speed_setting(key: tuple, profile) -> dict:
    """The registered setting of ``key`` = (data set, model) in this profile: SPEED[key] with its profile's overrides."""
    c = {k: v for k, v in SPEED[key].items() if k != "by_profile"}
    return c | SPEED[key].get("by_profile", {}).get(profile.name, {})


def speed_runs(
    act: str, key: tuple, c: dict, seeds: tuple, cap: int, order: int = 0, lrs: tuple | None = None, targets=None, apart: bool = False
) -> np.ndarray:
    """Epochs to each target of the setting ``key`` = (data set, model) with setting ``c``: (n_seeds, n_rates, n_targets),
    ReLU or tanh at its usual init; ``apart``: each target measured as in a run for it alone."""
    lrs, targets = lrs or c["lrs"], targets or c["targets"]
    return lab.epochs_to_targets(act, seeds, order, lrs, targets, cap, SPEED_INIT[act], key[0], c["every"], *c["screen"], key[1], apart)


@pytest.mark.claim("relu-trains-faster-than-tanh")
@pytest.mark.parametrize("dataset,model,target", SPEED_CASES, ids=[f"{d}-{m}-err{t * 100:g}" for d, m, t in SPEED_CASES])
def test_relu_reaches_target_training_error_sooner_than_tanh(dataset, model, target, evidence, profile):
    key = (dataset, model)
    if key in SPEED_SKIP:
        profile.require(*SPEED_SKIP[key])
    c = speed_setting(key, profile)
    cap = profile.pick(quick=c["cap"][0], default=c["cap"][1], full=c["cap"][2])
    lrs, seeds, k = c["lrs"], tuple(evidence.seeds)[: c.get("n_seeds")], c["targets"].index(target)
    draws = c.get("draws", 1)
    runs = tuple(stacked.draws(seeds, draws, 211))  # seed-major: each seed's draws, the first the seed itself

    def per_seed(v: np.ndarray) -> np.ndarray:  # a seed's value: the mean over its draws
        return v.reshape(len(seeds), draws).mean(axis=1)

    grid_ep = {act: speed_runs(act, key, c, runs, cap)[:, :, k] for act in SPEED_INIT}
    scores = {act: np.log2(e).mean(axis=0) for act, e in grid_ep.items()}  # mean log2 epochs per rate
    best = {act: int(np.argmin(v)) for act, v in scores.items()}  # equal tuning: the best mean, ties to the lower rate
    run_ep = {act: grid_ep[act][:, best[act]] for act in grid_ep}
    ep = {act: 2 ** per_seed(np.log2(e)) for act, e in run_ep.items()}  # geometric mean over a seed's draws
    ratio = per_seed(np.log2(run_ep["tanh"] / run_ep["relu"]))
    # the null control: ReLU again at its best rate for this target; the targets that share that best rate train once
    relu_best = np.log2(speed_runs("relu", key, c, runs, cap)).mean(axis=0).argmin(axis=0)  # per target
    shared = tuple(t for t, i in zip(c["targets"], relu_best) if i == best["relu"])
    rerun = speed_runs("relu", key, c, runs, cap, order=1, lrs=(lrs[best["relu"]],), targets=shared, apart=True)[:, 0, shared.index(target)]
    null = per_seed(np.log2(rerun / run_ep["relu"]))
    setting = {"data": dataset, "model": model, "target_error": target, "cap_epochs": cap, "batch": lab.SPEED_BATCH, "seeds": len(seeds)}
    setting |= {"draws_per_seed": draws} if draws > 1 else {}
    shape = {"hidden_layers": lab.SPEED_DEPTH, "width": lab.SPEED_WIDTH} if model == "mlp" else {"convolutions": "25 maps, 5, 3, 3 taps"}
    setting |= shape
    for act in SPEED_INIT:
        evidence.tuned(
            f"learning rate, {act} ({SPEED_INIT[act]} init)",
            list(lrs),
            lrs[best[act]],
            scores=scores[act],
            setting={"data": dataset, "model": model, "target_error": target, "score": "mean log2 epochs to the target"},
            flat_within=0.0,  # every rate at the cap: no rate reached the target within the budget, none is best
        )
        evidence.record(
            f"epochs to {target:.0%} training error, {act} at its best rate {lrs[best[act]]:g}",
            ep[act],
            unit="epochs",
            setting=setting,
        )
    evidence.record("log2(tanh epochs / ReLU epochs)", ratio, unit="octaves", setting=setting)
    evidence.record("log2(ReLU rerun epochs / ReLU epochs), another mini-batch order (null control)", null, unit="octaves", setting=setting)
    evidence.bound(
        "relu-reaches-target-faster",
        ratio,
        null,
        label=f"{dataset}, {model.upper()}, {target:.0%} training error",
        names=("tanh / ReLU", "ReLU rerun / ReLU"),
    )
    capped = {act: int((run_ep[act] >= cap).sum()) for act in run_ep}
    speedup = float(2 ** ratio.mean())
    where = "all 1797 digits" if dataset == "digits" else "MNIST-1D's 4000 training sequences"
    evidence.note(
        f"Speed-up of ReLU over tanh ({model.upper()}) to {target:.0%} training error on {where} (geometric mean over seeds): "
        f"{speedup:.2f}x "
        f"(ReLU {ep['relu'].mean():.2f} epochs at rate {lrs[best['relu']]:g}, tanh {ep['tanh'].mean():.2f} "
        f"epochs at rate {lrs[best['tanh']]:g}); AlexNet Fig. 1: 6x in epochs (a four-layer CNN on CIFAR-10, "
        "to 25% training error). "
        + (
            "Here tanh is the faster one: the effect is reversed at this scale. "
            if speedup < 1
            else "Smaller than the paper's 6x. "
            if speedup < PAPER_SPEEDUP
            else ""
        )
        + f"Runs that never reach the target within {cap} epochs count as {cap} (at the best rates: ReLU "
        f"{capped['relu']}, tanh {capped['tanh']} of {len(runs)}"
        + ("; tanh reached it at no rate of the grid, so the speed-up is a lower bound" if (grid_ep["tanh"] >= cap).all() else "")
        + "). ReLU starts from He init, tanh from Glorot's "
        "(Xavier) init, each the init it is used with."
    )
    evidence.plot(
        f"learning-rate grid: mean epochs to {target:.0%} training error ({dataset}, {model.upper()}, cap {cap})",
        list(lrs),
        {"ReLU": grid_ep["relu"].tolist(), "tanh": grid_ep["tanh"].tolist()},
        xlabel="learning rate (SGD, momentum 0.9)",
        ylabel="epochs (a rate that could no longer be chosen stopped early: a lower bound)",
        log_x=True,
        log_y=True,
    )
    assert_supported(evidence)
