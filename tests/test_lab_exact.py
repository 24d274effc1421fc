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


@pytest.mark.parametrize("sizes", [(64, 32, 10), (40, 16, 16, 10), (7, 5, 3)])
@pytest.mark.parametrize("batch", [32, 33])
def test_written_out_mlp_gradients_equal_autograds(sizes, batch):
    """stacked.mlp_grads with generalisation.batch_loss_grad (the optimiser and sequence claims' training loops)
    against autograd's gradients of stacked.batch_loss on the same stacked ReLU MLP: the same bits and strides."""
    from harness.lab import generalisation, stacked

    W, b = stacked.module_weights([1, 2, 3, 4, 5], sizes, "he")
    x = torch.randn(5, batch, sizes[0], generator=torch.Generator().manual_seed(0))
    y = torch.randint(0, sizes[-1], (5, batch), generator=torch.Generator().manual_seed(1))
    params = [p.clone().requires_grad_(True) for p in stacked.interleave(W, b)]
    theirs = torch.autograd.grad(stacked.batch_loss(stacked.forward(x, params[0::2], params[1::2]), y), params)
    hs, z = stacked.mlp_inputs(x, W, b)
    ours = stacked.interleave(*stacked.mlp_grads(hs, W, generalisation.batch_loss_grad(z, y)))
    assert len(ours) == len(theirs)
    for a, t in zip(ours, theirs):
        assert torch.equal(a, t) and a.stride() == t.stride()


def test_per_example_sgd_in_the_span_of_the_examples_equals_the_textbook_update():
    """The SGD runs of the redundancy claim train B (W = a Xb^T B) instead of W; the iterates must be the textbook
    per-example update W <- (1 - lr l2) W - lr x (p - e_y)^T, in the same example order, to float64 rounding
    (600 steps cross two of the renormalisations of the shrinkage scalar)."""
    from harness.lab import optimisation
    from harness.lab.stacked import with_bias

    rng = np.random.default_rng(5)
    sets = [(rng.normal(size=(12, 5)), rng.integers(0, 4, 12)) for _ in range(3)]
    copies, orders, lrs, steps, l2 = [1, 2, 3], [7, 8, 9], np.array([0.01, 0.1, 1.0]), 600, 0.01
    ours = optimisation.sgd_runs(sets, copies, orders, lrs, steps, l2, 4)
    for r, ((X, y), k, o) in enumerate(zip(sets, copies, orders)):
        Xb, Y = with_bias(X), np.eye(4)[y]
        for j, lr in enumerate(lrs):
            W = np.zeros((6, 4))
            for i in optimisation.example_stream(12, k, steps, o):
                z = Xb[i] @ W
                p = np.exp(z - z.max())
                W = (1 - lr * l2) * W - lr * np.outer(Xb[i], p / p.sum() - Y[i])
            assert np.allclose(ours[r, j], W, rtol=1e-10, atol=1e-12 * np.abs(W).max())


@pytest.mark.parametrize("widths", [(1, 2, 2, 2, 2, 1), (1, 8, 1), (1, 3, 5, 1)])
def test_sawtooth_steps_without_autograd_give_autograds_numbers(widths):
    """The sawtooth fit's forward (bmm, then the bias added) equals ``stacked.forward``'s baddbmm, and its hand-run
    backward gives autograd's gradients of the summed per-run MSE, bit for bit, over a few Adam steps."""
    from harness.lab import stacked

    shapes = list(zip(widths[:-1], widths[1:]))
    x = representations.sawtooth_grid(4)
    target = representations.sawtooth(x, 4)[None]
    inits = [representations._sawtooth_init(shapes, s, init) for s in range(6) for init in representations.SAWTOOTH_INITS]
    R, n = len(inits), x.shape[0]
    xs = x.expand(R, -1, -1)
    offs = np.cumsum([0] + [a * b for a, b in shapes] + [b for _, b in shapes])
    lr = torch.tensor([0.3, 0.03] * (R // 2), dtype=torch.float64)[:, None]

    def views(theta):
        nl = len(shapes)
        W = [theta[:, offs[i] : offs[i + 1]].view(-1, a, b) for i, (a, b) in enumerate(shapes)]
        return W, [theta[:, offs[nl + i] : offs[nl + i + 1]].view(-1, 1, b) for i, (_, b) in enumerate(shapes)]

    ours, ref = torch.stack(inits), torch.stack(inits)
    m_ours, m_ref = [(torch.zeros_like(ours), torch.zeros_like(ours))], [(torch.zeros_like(ref), torch.zeros_like(ref))]
    for t in range(1, 6):
        W, b = views(ref)
        W, b = [w.clone().requires_grad_(True) for w in W], [c.clone().requires_grad_(True) for c in b]
        f_ref = stacked.forward(xs, W, b, "relu")
        loss = ((f_ref - target) ** 2).mean(dim=(1, 2)).sum()
        g_ref = torch.cat([g.reshape(R, -1) for g in torch.autograd.grad(loss, W + b)], dim=1)
        W, b = views(ours)
        grad = torch.empty_like(ours)
        gW, gb = views(grad)
        hs = representations._sawtooth_forward(xs, W, b)
        assert torch.equal(hs[-1], f_ref.detach())
        representations._sawtooth_backward_(hs, W, (hs[-1] - target) * 2.0 * (1.0 / n), gW, gb)
        assert torch.equal(grad, g_ref)
        stacked.adam_step_([ours], m_ours, [grad], lr, t)
        stacked.adam_step_([ref], m_ref, [g_ref], lr, t)


@pytest.mark.parametrize("m", [37, 400, 1800])
def test_mnist1d_row_losses_equal_cross_entropy(m):
    """The MNIST-1D nets' per-row cross-entropy (a faster log-softmax where the CPU allows it) gives F.cross_entropy's
    losses and, through the per-run mean the training takes, its gradient, bit for bit."""
    from harness.lab import spatial

    g = torch.Generator().manual_seed(m)
    z = torch.randn(m, 10, generator=g) * 4
    y = torch.randint(0, 10, (m,), generator=g)
    a, b = z.clone().requires_grad_(True), z.clone().requires_grad_(True)
    ours, ref = spatial.row_losses(a, y), torch.nn.functional.cross_entropy(b, y, reduction="none")
    assert torch.equal(ours, ref)
    runs = 2 if m % 2 == 0 else 1
    (ga,), (gb,) = torch.autograd.grad(ours.reshape(runs, -1).mean(1).sum(), a), torch.autograd.grad(ref.reshape(runs, -1).mean(1).sum(), b)
    assert torch.equal(ga, gb)


@pytest.mark.parametrize(("act", "trainable"), [("relu", None), ("sigmoid", None), ("tanh", [1, 2]), ("linear", [0, 2]), ("sigmoid", [2])])
def test_stacked_mlp_backward_gives_autograds_gradients(act, trainable):
    """initialisation's written-out backward of the stacked MLP (the products and activation derivatives autograd runs,
    called directly) gives autograd's per-run loss and gradients bit for bit, for the trained layers only."""
    from harness.lab import initialisation as lab
    from harness.lab import stacked

    sizes, seeds = [12, 9, 7, 5], [3, 4, 5]
    W, b = lab.stacked_weights(sizes, "he", seeds)
    g = torch.Generator().manual_seed(1)
    x, y = torch.randn(len(seeds), 16, sizes[0], generator=g), torch.randint(0, sizes[-1], (len(seeds), 16), generator=g)
    layers = range(len(W)) if trainable is None else trainable
    Wp = [w.clone().requires_grad_(l in layers) for l, w in enumerate(W)]
    bp = [c.clone().requires_grad_(l in layers) for l, c in enumerate(b)]
    per_run = stacked.run_losses(lab.forward(x, Wp, bp, act), y)
    theirs = torch.autograd.grad(per_run.sum(), [p for p in Wp + bp if p.requires_grad])
    loss, ours = lab._loss_and_grads(x, y, W, b, act, layers)
    assert torch.equal(loss, per_run.detach())
    assert len(ours) == len(theirs) and all(torch.equal(u, v) for u, v in zip(ours, theirs))


@pytest.mark.parametrize("depth", [1, 2, 5])
def test_depth_nets_backward_matches_autograd(depth):
    """depth's written-out backward (plain and residual runs in one stacked net) against autograd on the same
    forward pass: the same gradients to float32 rounding (the operations differ in order, so not bit for bit)."""
    from harness.lab import depth as lab

    R, B = 4, 8
    net = lab.init_nets([1, 2, 1, 2], depth, 6, [True, True, False, False], in_features=5, out_features=3)
    g = torch.Generator().manual_seed(2)
    x, y = torch.randn(R, B, 5, generator=g), torch.randint(0, 3, (R, B), generator=g)
    for W in net.bs:
        W[:] = torch.randn(W.shape, generator=g).numpy() * 0.1
    params = [torch.tensor(p, requires_grad=True) for p in net.Ws + net.bs]
    Ws, bs = params[: depth + 1], params[depth + 1 :]
    skip, mult = torch.from_numpy(net.skip), torch.from_numpy(net.mult)
    h = torch.baddbmm(bs[0], x, Ws[0])
    for W, c in zip(Ws[1:-1], bs[1:-1]):
        h = skip * h + mult * torch.bmm(torch.relu(h), W) + c
    loss = torch.nn.functional.cross_entropy(torch.baddbmm(bs[-1], torch.relu(h), Ws[-1]).transpose(1, 2), y, reduction="none").mean(1)
    theirs = torch.autograd.grad(loss.sum(), params)
    flat = torch.zeros(sum(p.numel() for p in params))
    sizes = np.cumsum([0] + [p.numel() for p in params])
    views = [flat[a:c].view(p.shape) for a, c, p in zip(sizes[:-1], sizes[1:], params)]
    gW, gb = views[: depth + 1], views[depth + 1 :]
    Wt, bt = [torch.from_numpy(W) for W in net.Ws], [torch.from_numpy(c) for c in net.bs]
    L = depth + 1
    hidden_W = flat[sizes[1] : sizes[depth]].view(depth - 1, R, 6, 6)
    hidden_b = flat[sizes[L + 1] : sizes[L + depth]].view(depth - 1, R, 1, 6)
    ws = lab._Workspace(Wt, bt, lab._segments(net), R, B, hidden_W, hidden_b)
    logits = ws.forward(Wt, bt, x)
    ours_loss, dlogits = lab._cross_entropy(logits, y)
    ws.backward(x, dlogits, gW, gb)
    torch.testing.assert_close(ours_loss, loss.detach(), rtol=1e-5, atol=1e-6)
    for u, v in zip(gW + gb, theirs):
        torch.testing.assert_close(u, v, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("act", ["relu", "tanh"])
def test_speed_mlp_gradients_without_autograd_are_autograds(act):
    from harness.lab import activations, stacked

    X, y = activations.training_tensors("digits")
    W, b = activations.stacked_init((3, 4), 3, "he" if act == "relu" else "xavier", X.shape[1])
    params = [p.clone().requires_grad_(True) for p in W + b]
    lr = torch.tensor([0.01, 0.1, 1.0] * 2)[:, None, None]
    f, f_ = {"relu": (torch.relu, torch.relu_), "tanh": (torch.tanh, torch.tanh_)}[act]
    idx = torch.randint(0, len(X), (6, 3, 128), generator=torch.Generator().manual_seed(0))
    for t in range(3):  # a few steps, so the weights differ from the init
        xb, yb = X[idx[:, t]], y[idx[:, t]]
        logits = activations.speed_logits("mlp", params, xb, f)
        loss = stacked.run_losses(logits, yb)
        theirs = torch.autograd.grad(loss.sum(), params)
        z, ours_loss, ours = activations.mlp_loss_grads(params, xb, yb, f_)
        assert torch.equal(z, logits.detach()) and torch.equal(ours_loss, loss.detach())
        for a, c in zip(ours, theirs):
            assert torch.equal(a, c) and a.stride() == c.stride()
        stacked.sgd_step_(params, theirs, lr)


def _sgd_per_tensor(params, grads, lr, vel=None, momentum=0.0):
    for i, (p, g) in enumerate(zip(params, grads)):
        if g is None:
            continue
        if vel is None:
            p.sub_(lr * g)
        else:
            vel[i].mul_(momentum).add_(g)
            p.sub_(lr * vel[i])


def _adam_per_tensor(params, moments, grads, lr, t, betas=(0.9, 0.999), eps=1e-8, weights=None):
    b1, b2 = betas
    w1, w2 = (1 - b1, 1 - b2) if weights is None else weights
    for p, (m, v), g in zip(params, moments, grads):
        m.mul_(b1).add_(g, alpha=w1)
        v.mul_(b2).addcmul_(g, g, value=w2)
        p.sub_(lr * (m / (1 - b1**t)) / ((v / (1 - b2**t)).sqrt() + eps))


@pytest.mark.parametrize("lr", ["per-run", "number"])
def test_foreach_steps_equal_the_per_tensor_updates(lr):
    """stacked.sgd_step_ (plain and heavy ball, a parameter without gradient left alone) and stacked.adam_step_ (both
    weightings) issue each operation as one foreach call: the same values bit for bit as the per-tensor loop."""
    from harness.lab import stacked

    g = torch.Generator().manual_seed(0)
    shapes = [(6, 7, 5), (6, 1, 5), (6, 5, 3), (6, 1, 3)]
    rate = torch.rand(6, 1, 1, generator=g) if lr == "per-run" else 0.37
    for case in ("sgd", "momentum", "adam", "adam-decimal"):
        ours = [torch.randn(s, generator=g) for s in shapes]
        ref = [p.clone() for p in ours]
        state_o = [(torch.zeros_like(p), torch.zeros_like(p)) for p in ours]
        state_r = [(torch.zeros_like(p), torch.zeros_like(p)) for p in ours]
        for t in range(1, 6):
            grads = [torch.randn(s, generator=g) for s in shapes]
            if case == "sgd":
                grads[1] = None
                stacked.sgd_step_(ours, grads, rate)
                _sgd_per_tensor(ref, grads, rate)
            elif case == "momentum":
                stacked.sgd_step_(ours, grads, rate, [m for m, _ in state_o], 0.9)
                _sgd_per_tensor(ref, grads, rate, [m for m, _ in state_r], 0.9)
            else:
                w = (0.1, 0.001) if case == "adam-decimal" else None
                stacked.adam_step_(ours, state_o, grads, rate, t, weights=w)
                _adam_per_tensor(ref, state_r, grads, rate, t, weights=w)
        for a, b in zip(ours, ref):
            assert torch.equal(a, b), case


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


@pytest.mark.parametrize(("R", "n"), [(216, 64), (216, 32), (24, 512), (24, 256), (8, 10_000), (12, 32)])
@pytest.mark.parametrize("fan", [(32, 32), (32, 1)])
def test_generative_affine_is_baddbmm(R, n, fan):
    """generative._affine (the product, then the bias added in place) gives baddbmm's numbers bit for bit, at the
    shapes of the GAN claims' steps and evaluations."""
    from harness.lab import generative as lab

    g = torch.Generator().manual_seed(R * n + fan[1])
    x = torch.nn.functional.leaky_relu(torch.randn(R, n, fan[0], generator=g), 0.2)
    W, b = torch.randn(R, *fan, generator=g) * 0.2, torch.randn(R, 1, fan[1], generator=g) * 0.1
    assert torch.equal(lab._affine(x, W, b), torch.baddbmm(b, x, W))


def test_gradient_flow_variances_are_models_mlps():
    """gradient_flow.preactivation_log2_variances gives the numbers of models.mlp and measure.preactivation_variances
    bit for bit (one standard-normal draw scaled per init; no nn.Linear default init)."""
    from harness.lab import gradient_flow, measure, models

    for seed, width, depth in ((0, 32, 6), (3, 16, 9)):
        new = gradient_flow.preactivation_log2_variances(("linear", "tanh"), ("xavier", "normal", "small"), depth, width, seed)
        for (act, init), v in new.items():
            net = models.mlp(width, width, depth, 10, act, init, seed, dtype=torch.float64)
            x = torch.randn(256, width, dtype=torch.float64, generator=torch.Generator().manual_seed(seed + 1))
            with torch.no_grad():
                assert np.array_equal(np.log2(measure.preactivation_variances(net, x)), v)


def test_recall_adam_unit_step_equals_torch_adam_then_per_run_rescaling():
    """The recall claim's Adam step at each run's own rate (written out with foreach calls) gives the same parameters
    bit for bit as torch.optim.Adam(lr=1) followed by b + rate (a - b), over several steps."""
    from harness.lab import sequence as lab

    g = torch.Generator().manual_seed(8)
    shapes = [(6, 16, 32), (6, 1, 96), (6, 32, 8)]
    rate = torch.tensor([1e-3, 3e-3, 1e-2, 3e-2, 1e-3, 1e-2])
    ref = [torch.randn(s, generator=g).requires_grad_(True) for s in shapes]
    ours = [t.detach().clone() for t in ref]
    opt = torch.optim.Adam(ref, lr=1.0)
    rates = [rate.view(-1, *[1] * (len(s) - 1)) for s in shapes]
    moments = [torch.zeros_like(t) for t in ours], [torch.zeros_like(t) for t in ours]
    for t in range(1, 6):
        grads = [torch.randn(s, generator=g) * 10 ** (t - 3) for s in shapes]
        for p, gr in zip(ref, grads):
            p.grad = gr.clone()
        before = [p.detach().clone() for p in ref]
        opt.step()
        with torch.no_grad():
            for p, b, r in zip(ref, before, rates):
                p.copy_(b + r * (p - b))
            lab.adam_unit_step_(ours, grads, moments, t, rates)
        assert all(torch.equal(a, b) for a, b in zip(ours, ref))


def test_sgd_runs_in_slices_give_the_whole_stacks_weights():
    """Per-example SGD trained in cache-sized slices of runs gives every run the weights of the one-stack loop."""
    from harness.lab import optimisation as lab

    sets = [lab.base_set("digits", 100, s) for s in range(4)]
    runs = [(j, k) for k in (1, 10) for j in range(4)]
    lrs = np.array([0.01, 0.1, 1.0])
    args = ([sets[j] for j, _ in runs], [k for _, k in runs], [j + 7 for j, _ in runs], lrs, 300, 1e-2, 10)
    whole = lab._sgd_runs(*args)
    old = lab.CHUNK_BYTES
    try:
        lab.CHUNK_BYTES = 3 * 100 * len(lrs) * 10 * 8  # three runs per slice
        sliced = lab.sgd_runs(*args)
    finally:
        lab.CHUNK_BYTES = old
    assert np.array_equal(whole, sliced)


def test_train_mlp_test_accuracy_equals_stacked_accuracy_of_the_forward():
    """The per-step test accuracy of the transfer and warm-start loops (forward with an in-place ReLU, max's indices)
    gives stacked.accuracy of mlp_forward, ties and NaN included (the first largest entry in both)."""
    from harness.lab import sequence as lab
    from harness.lab import stacked

    ps = lab.mlp_stack([3, 4, 5], (64, 32, 32, 10))
    x, y = torch.randn(3, 97, 64), torch.randint(0, 10, (3, 97))
    assert np.array_equal(stacked.mlp_accuracy(x, ps[0::2], ps[1::2], y).numpy(), stacked.accuracy(lab.mlp_forward(ps, x), y).numpy())
    z = torch.randint(0, 3, (4, 50, 10)).float()
    z[0, 0, 3], z[1, 1] = float("nan"), float("nan")
    assert torch.equal(z.argmax(-1), z.max(-1).indices)


@pytest.mark.parametrize("n", [8, 3600, 460800, 28801, 12])
def test_normalisation_random_bytes_are_generator_bytes(n):
    """The dropout masks' fast random bytes are rng.bytes's, and leave the generator where rng.bytes leaves it (also
    after a draw that half-uses a 32-bit word, and for lengths that are not a multiple of 8: the slow path)."""
    from harness.lab import normalisation as lab

    for warm in (0, 1):
        a, b = np.random.default_rng(11), np.random.default_rng(11)
        if warm:
            a.integers(0, 9, 3), b.integers(0, 9, 3)  # bounded int draws buffer half a 64-bit word
        assert lab.random_bytes(a, n).tobytes() == b.bytes(n)
        sa, sb = a.bit_generator.state, b.bit_generator.state
        assert sa["state"] == sb["state"] and sa["has_uint32"] == sb["has_uint32"]  # 'uinteger' is read only when has_uint32
        assert not sa["has_uint32"] or sa["uinteger"] == sb["uinteger"]
        assert a.integers(0, 2**32, 7).tolist() == b.integers(0, 2**32, 7).tolist()


@pytest.mark.parametrize("n,batch,steps", [(150, 30, 800), (1000, 30, 95), (151, 30, 7), (4000, 32, 300), (599, 64, 190)])
def test_batch_orders_are_one_permutation_per_epoch(n, batch, steps):
    """stacked.batch_orders's one shuffle of all epochs (through normalisation's seeding) gives the batches of one
    permutation(n) per epoch."""
    from harness.lab import normalisation as lab

    seeds = (3, 17)
    per_epoch, epochs = n // batch, -(-steps // (n // batch))
    ref = []
    for s in seeds:
        rng = np.random.default_rng([s, 1])
        ref.append(np.concatenate([rng.permutation(n)[: per_epoch * batch] for _ in range(epochs)]).reshape(-1, batch)[:steps])
    assert np.array_equal(lab.batch_orders(seeds, n, batch, steps), np.stack(ref))


@pytest.mark.parametrize("act", ["relu", "tanh"])
def test_cnn_gradients_without_autograd_are_autograds(act):
    """spatial.cnn_grads (the MNIST-1D CNN's written-out backward) gives autograd's gradients of spatial.forward bit for bit,
    with both losses that train it (spatial's row losses, activations' run losses), at the run and batch sizes of its claims."""
    from harness.lab import activations, spatial, stacked

    g = torch.Generator().manual_seed(3)
    for R, B, d in ((3, 7, 40), (6, 100, 40), (2, 128, 40), (1, 5, 33)):
        p = spatial._init("CNN", d, list(range(R)))
        x, y = torch.randn(R, B, d, generator=g), torch.randint(0, 10, (R, B), generator=g)
        q = [t.clone().requires_grad_(True) for t in p]
        loss = stacked.run_losses(spatial.forward("CNN", q, x, getattr(torch, act)), y)
        theirs = torch.autograd.grad(loss.sum(), q)
        z, l2, ours = activations.cnn_loss_grads(q, x, y, act)
        assert torch.equal(l2, loss.detach()) and all(torch.equal(a, b) for a, b in zip(ours, theirs))
        z = spatial.forward("CNN", q, x, getattr(torch, act))
        loss = spatial.row_losses(z.reshape(-1, 10), y.reshape(-1)).reshape(R, -1).mean(1)
        theirs = torch.autograd.grad(loss.sum(), q)
        saved, z2 = spatial.cnn_inputs(p, x, act)
        z2.requires_grad_(True)
        loss2 = spatial.row_losses(z2.reshape(-1, 10), y.reshape(-1)).reshape(R, -1).mean(1)
        ours = spatial.cnn_grads(saved, p, torch.autograd.grad(loss2.sum(), z2)[0], act)
        assert torch.equal(z2.detach(), z.detach()) and all(torch.equal(a, b) for a, b in zip(ours, theirs))


@pytest.mark.parametrize("kind", ["linear", "MLP", "CNN"])
def test_mnist1d_nets_gradients_without_autograd_are_autograds(kind):
    """spatial.net_grads (the MNIST-1D networks' written-out backward, the MLP's residual sum included) gives autograd's
    gradients of spatial.forward bit for bit, for the loss spatial.train_runs trains on."""
    from harness.lab import generalisation, spatial

    g = torch.Generator().manual_seed(4)
    for R, B, d in ((3, 7, 40), (6, 100, 40), (2, 100, 69)):
        p = spatial._init(kind, d, list(range(R)))
        x, y = torch.randn(R, B, d, generator=g), torch.randint(0, 10, (R, B), generator=g)
        q = [t.clone().requires_grad_(True) for t in p]
        z = spatial.forward(kind, q, x)
        loss = spatial.row_losses(z.reshape(-1, 10), y.reshape(-1)).reshape(R, -1).mean(1)
        theirs = torch.autograd.grad(loss.sum(), q)
        saved, z2 = spatial.net_inputs(kind, p, x)
        z2.requires_grad_(True)
        loss2 = spatial.row_losses(z2.reshape(-1, 10), y.reshape(-1)).reshape(R, -1).mean(1)
        (gz,) = torch.autograd.grad(loss2.sum(), z2)
        written = generalisation.mean_cross_entropy_grad(z2.detach().view(-1, 10), y.reshape(-1), B).view(R, B, 10)
        assert torch.equal(written, gz) and written.stride() == gz.stride()  # train_runs' gradient for the logits
        ours = spatial.net_grads(kind, saved, p, written)
        assert torch.equal(z2.detach(), z.detach()) and all(torch.equal(a, b) for a, b in zip(ours, theirs))
