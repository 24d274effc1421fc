"""Gradient flow through deep stacks: ReLU vs sigmoid gradients, Xavier vs naive init variances."""

from __future__ import annotations

import functools

import numpy as np
import pytest
import torch

from harness import stats
from harness.evidence import assert_supported
from harness.lab import data, gradient_flow, measure, models

DEPTHS = (5, 10, 20, 30)
NETS = {"ReLU + He": ("relu", "he"), "sigmoid + Xavier": ("sigmoid", "xavier"), "sigmoid + default": ("sigmoid", "default")}


@functools.cache
def grad_profile(act: str, init: str, depth: int, width: int, seed: int, device: str = "cpu") -> np.ndarray:
    """Weight-gradient RMS per Linear layer at initialisation, on 256 digits drawn with ``seed``: (depth+1,).
    Weights and data are drawn on the CPU (the same numbers on every device), then moved to ``device``."""
    X, y = data.standardised_digits()
    idx = np.random.default_rng(seed).choice(len(X), size=256, replace=False)
    net = models.mlp(64, width, depth, 10, act, init, seed, dtype=torch.float64).to(device)
    return measure.weight_grad_rms(net, torch.tensor(X[idx], device=device), torch.tensor(y[idx], device=device))


def log_ratio(act, init, depth, width, seed, device="cpu") -> float:
    """log10(first hidden layer's gradient RMS / last hidden layer's)."""
    g = grad_profile(act, init, depth, width, seed, device)
    return float(np.log10(g[0] / g[depth - 1]))


@pytest.mark.claim("relu-gradients-survive-depth")
@pytest.mark.parametrize("depth", DEPTHS, ids=lambda d: f"depth{d}")
@pytest.mark.device
def test_relu_keeps_gradient_where_sigmoid_loses_it(depth, evidence, profile):
    width, dev = profile.pick(quick=64, default=128, full=256, cuda=2048), profile.device
    ratios = {name: [log_ratio(a, i, depth, width, s, dev) for s in evidence.seeds] for name, (a, i) in NETS.items()}
    for name, r in ratios.items():
        evidence.record(f"log10(first/last gradient RMS), {name}", r, unit="decades", setting={"depth": depth, "width": width})
    relu = np.array(ratios["ReLU + He"])
    evidence.bound(
        "relu-within-decade", np.abs(relu), np.abs(ratios["sigmoid + Xavier"]), label="ReLU + He", names=("ReLU + He", "sigmoid + Xavier")
    )
    for name in ("sigmoid + Xavier", "sigmoid + default"):
        placebo = [log_ratio(*NETS[name], depth, width, s, dev) for s in evidence.placebo_seeds]
        evidence.paired(
            "sigmoid-loses-per-layer",
            relu / (depth - 1),
            np.array(ratios[name]) / (depth - 1),
            placebo=np.array(placebo) / (depth - 1),
            label=name,
            names=("ReLU + He", name),
        )
    profiles = {
        name: [
            np.log10(grad_profile(a, i, depth, width, s, dev)[:depth] / grad_profile(a, i, depth, width, s, dev)[depth - 1])
            for s in evidence.seeds
        ]
        for name, (a, i) in NETS.items()
    }
    evidence.plot(
        f"gradient RMS per layer, relative to the last hidden layer (depth {depth})",
        list(range(1, depth + 1)),
        profiles,
        xlabel="hidden layer",
        ylabel="log10(RMS / last layer's)",
    )
    assert_supported(evidence)


@pytest.mark.claim("relu-gradients-survive-depth")
@pytest.mark.device
def test_sigmoid_gradient_decays_further_with_depth(evidence, profile):
    width, dev = profile.pick(quick=64, default=128, full=256, cuda=2048), profile.device
    series = {name: [[log_ratio(a, i, d, width, s, dev) for d in DEPTHS] for s in evidence.seeds] for name, (a, i) in NETS.items()}
    slopes = {name: [stats.fit_slope(np.array(DEPTHS), np.array(row))[0] for row in rows] for name, rows in series.items()}
    for name, sl in slopes.items():
        evidence.record(f"slope of log10(first/last) vs depth, {name}", sl, unit="decades/layer")
    evidence.bound(
        "sigmoid-decays-with-depth",
        slopes["sigmoid + Xavier"],
        slopes["ReLU + He"],
        label="sigmoid + Xavier",
        names=("sigmoid + Xavier", "ReLU + He"),
    )
    evidence.note(
        "Fitted decay rate (decades per layer, mean over seeds): "
        + ", ".join(f"{k}: {np.mean(v):.3f}" for k, v in slopes.items())
        + ". sigmoid'(x) <= 1/4 bounds the per-layer gain at log10(4) = 0.60 decade."
    )
    evidence.plot(
        "log10(first / last hidden-layer gradient RMS) against depth",
        list(DEPTHS),
        series,
        xlabel="hidden layers",
        ylabel="log10 ratio (decades)",
    )
    assert_supported(evidence)


@functools.cache
def preact_log2_vars(depth: int, width: int, seed: int, device: str = "cpu") -> dict[tuple[str, str], np.ndarray]:
    """log2 of each hidden layer's pre-activation variance on 256 N(0,1) inputs: (depth,) per (activation, init), for
    both activations' cases at once (one weight draw per seed serves them all).  Drawn on the CPU, computed on
    ``device``."""
    return gradient_flow.preactivation_log2_variances(("linear", "tanh"), ("xavier", "normal", "small"), depth, width, seed, device)


@pytest.mark.claim("xavier-keeps-unit-variance")
@pytest.mark.parametrize("activation", ["linear", "tanh"])
@pytest.mark.device
def test_xavier_keeps_variance_near_one(activation, evidence, profile):
    depth = profile.pick(quick=30, default=50, full=50)
    width = profile.pick(quick=256, default=256, full=512, cuda=4096)  # width 128 adds drift ~ depth/width near the band
    runs = {
        init: np.array([preact_log2_vars(depth, width, s, profile.device)[activation, init] for s in evidence.seeds])
        for init in ("xavier", "normal", "small")
    }  # (n_seeds, depth) each
    for init, v in runs.items():
        evidence.record(
            f"log2 pre-activation variance at layers 1, {depth // 2}, {depth}: {init}",
            v[:, [0, depth // 2 - 1, depth - 1]].tolist(),
            unit="octaves",
            setting={"width": width},
        )
    layers = {f"L{l + 1}": np.abs(runs["xavier"][:, l]) for l in range(depth)}
    for contrast, label in (("normal", "N(0,1)"), ("small", "N(0, 0.01^2)")):
        evidence.family(
            "near-unit-variance",
            layers,
            {f"L{l + 1}": np.abs(runs[contrast][:, l]) for l in range(depth)},
            label=f"Xavier vs {label}",
            names=("Xavier", label),
        )
    evidence.plot(
        f"pre-activation variance per layer, {activation} network of width {width}",
        list(range(1, depth + 1)),
        {"Xavier": runs["xavier"].tolist(), "N(0,1)": runs["normal"].tolist(), "N(0, 0.01^2)": runs["small"].tolist()},
        xlabel="layer",
        ylabel="log2 variance (octaves)",
    )
    assert_supported(evidence)
