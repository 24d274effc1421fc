"""Fast paths in harness/lab that stand in for library code: each must give the library's numbers bit for bit.

A claim's registered design names the library's model (a 100-tree random forest); a faster route to the
same model is only allowed while it is the same model, so these tests compare the two directly.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from harness.lab import representations


@pytest.mark.parametrize("max_features", [1, "sqrt", 0.3])
def test_random_forest_equals_scikit_learns_estimator(max_features):
    from sklearn.ensemble import RandomForestClassifier

    Xfit, Xval, _, yfit, yval, _ = representations.digits_validation_split(3)
    ours = representations.random_forest(Xfit, yfit, max_features, seed=3, n_trees=20)
    theirs = RandomForestClassifier(n_estimators=20, max_features=max_features, random_state=3).fit(Xfit, yfit)
    assert np.array_equal(ours.predict_proba(Xval), theirs.predict_proba(Xval))
    assert np.array_equal(ours.predict(Xval), theirs.predict(Xval))
    assert ours.score(Xval, yval) == theirs.score(Xval, yval)


def _windows_reference(h: torch.Tensor, k: int) -> torch.Tensor:
    """The stride-2 windows of ``h`` (R, B, d, maps) padded by one zero at each end, by indexing the padded input:
    autograd's gradient of this indexing is the plain scatter-add the window op's backward must equal."""
    d = h.shape[2]
    L = (d + 2 - k) // 2 + 1
    padded = torch.nn.functional.pad(h, (0, 0, 1, 1))
    return padded[:, :, (2 * torch.arange(L)[:, None] + torch.arange(k)[None, :])]


@pytest.mark.parametrize("k", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("d", [3, 4, 9, 10, 19, 40])
def test_1d_windows_equal_indexing_the_padded_input(d, k):
    from harness.lab import spatial

    g = torch.Generator().manual_seed(d * 10 + k)
    h = torch.randn(2, 3, d, 4, generator=g)
    a, b = h.clone().requires_grad_(True), h.clone().requires_grad_(True)
    ours, ref = spatial._Windows.apply(a, k), _windows_reference(b, k)
    assert torch.equal(ours, ref)
    up = torch.randn(ours.shape, generator=g)
    (ga,), (gb,) = torch.autograd.grad(ours, a, up), torch.autograd.grad(ref, b, up)
    assert torch.equal(ga, gb)


def test_2x2_max_pooling_equals_torchs():
    g = torch.Generator().manual_seed(5)
    x = torch.relu(torch.randn(4, 6, 8, 8, generator=g))  # ReLU zeros: windows with tied maxima
    x[0, 0, 0, :2] = 1.0  # a tie at a positive value
    a, b = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    ours, ref = representations._MaxPool2.apply(a), torch.nn.functional.max_pool2d(b, 2)
    assert torch.equal(ours, ref)
    up = torch.randn(ours.shape, generator=g)
    (ga,), (gb,) = torch.autograd.grad(ours, a, up), torch.autograd.grad(ref, b, up)
    assert torch.equal(ga, gb)


def test_gan_steps_without_autograd_give_autograds_gradients():
    """The GAN's hand-run backward (the operations autograd runs, called directly) gives autograd's gradients
    bit for bit: D's loss w.r.t. D's parameters, and the generator loss of each run (non-saturating or minimax)
    back through D to G's parameters."""
    from torch.nn import functional as F

    from harness.lab import generative as lab

    R, n = 12, 32
    gen, disc = lab.init_mlp(list(range(R)), lab.GEN_SIZES, 401), lab.init_mlp(list(range(R)), lab.DISC_SIZES, 402)
    g = torch.Generator().manual_seed(0)
    ns = (torch.arange(R) % 2 == 0).view(R, 1, 1)
    for _ in range(3):
        real, fake = lab.mixture_samples(n, g, R), lab.generate(gen, n, g).detach()
        d_loss = (F.softplus(-lab.discriminator_logit(disc, real)) + F.softplus(lab.discriminator_logit(disc, fake))).mean() * R
        with torch.no_grad():
            ours = lab.discriminator_grads(disc, real, fake)
        assert all(torch.equal(x, y) for x, y in zip(torch.autograd.grad(d_loss, disc), ours))
        z = torch.randn(R, n, lab.LATENT, generator=g)
        a = lab.discriminator_logit(disc, lab.mlp_forward(gen, z, slope=0.2))
        theirs = torch.autograd.grad(torch.where(ns, F.softplus(-a), -F.softplus(a)).mean() * R, gen)
        with torch.no_grad():
            x, in_gen = lab.forward_keep(gen, z)
            a2, in_disc = lab.forward_keep(disc, x)
            grad_x = lab.backward(disc, in_disc, lab.generator_loss_grad(a2, ns), of_params=False, of_input=True)[1]
            ours = lab.backward(gen, in_gen, grad_x)[0]
            assert torch.equal(a, a2) and all(torch.equal(x, y) for x, y in zip(theirs, ours))
            for p, q in zip(gen + disc, list(theirs) + [torch.ones_like(p) * 1e-2 for p in disc]):
                p.sub_(0.05 * q)  # move on, so the next round sees other weights


@pytest.mark.parametrize("act", ["sigmoid", "tanh", "relu"])
def test_train_grid_bn_and_activation_backward_give_autograds_gradients(act):
    """train_grid's written-out backward through batch norm (statistics over the batch), noisy BN's scaling and the
    activation gives autograd's gradients of the same forward bit for bit, at the width and batch of its claims."""
    from harness.lab import normalisation as lab

    g = torch.Generator().manual_seed(5)
    f, f_grad = lab._ACTIVATIONS[act]
    for r, B, w in ((6, 60, 64), (4, 30, 16)):
        for _ in range(3):
            z = (torch.randn(r, B, w, generator=g) * 3 + torch.randn(r, 1, w, generator=g)).requires_grad_(True)
            gam = (1 + 0.3 * torch.randn(r, 1, w, generator=g)).requires_grad_(True)
            bet = (0.2 * torch.randn(r, 1, w, generator=g)).requires_grad_(True)
            scale = torch.exp(0.5 * torch.randn(r, B, w, generator=g))
            up = torch.randn(r, B, w, generator=g) * 1e-3
            # the autograd forward train_grid had: (zb - mu) / sqrt(var + eps) * gamma + beta, then noise, then act
            ref = z[:, :B]
            mu = ref.mean(1, keepdim=True)
            var = ((ref - mu) ** 2).mean(1, keepdim=True)
            h = getattr(torch, act)(((z - mu) / torch.sqrt(var + lab.EPS) * gam + bet) * scale)
            theirs = torch.autograd.grad(h, (z, gam, bet), up)
            with torch.no_grad():
                zz = z.detach().clone()
                mu = zz.mean(1, keepdim=True)
                c = zz - mu
                sd = torch.sqrt((c**2).mean(1, keepdim=True) + lab.EPS)
                q = c / sd
                hh = f((q * gam + bet) * scale)
                gz = f_grad(up.clone(), hh).mul_(scale)
                ours = lab._bn_backward(gz, q, sd, c, gam)
            assert torch.equal(hh, h) and all(torch.equal(a, b) for a, b in zip(ours, theirs))
