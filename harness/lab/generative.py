"""Generative models: Goodfellow et al. 2014's generator losses and a small GAN on a 1-D mixture.

The minimax and non-saturating generator losses, and a small GAN on a 1-D mixture of two
Gaussians judged by the exact 1-D Wasserstein-1 distance.  Pure functions; runs of several seeds
train at once (weights carry a leading run axis R).
"""

from __future__ import annotations

import numpy as np
import torch
from torch.nn import functional as F

from harness.lab import runtime, stacked

# == GANs ===========================================================================================

MIXTURE_MEANS = (-2.0, 2.0)  # the target: an equal mixture of N(-2, 0.5^2) and N(2, 0.5^2)
MIXTURE_STD = 0.5


def mixture_samples(n: int, g: torch.Generator, runs: int = 1) -> torch.Tensor:
    """Samples of the target mixture: (runs, n, 1)."""
    means = torch.tensor(MIXTURE_MEANS)
    which = torch.randint(0, len(MIXTURE_MEANS), (runs, n, 1), generator=g)
    return means[which] + MIXTURE_STD * torch.randn(runs, n, 1, generator=g)


def init_mlp(seeds: list[int], sizes: tuple[int, ...], tag: int) -> list[torch.Tensor]:
    """R stacked MLPs (one per seed): [W_1 (R, in, out), b_1 (R, 1, out), ...], PyTorch's default init."""
    W, b = stacked.uniform_weights([stacked.generator(s, tag) for s in seeds], sizes)
    return [p.requires_grad_(True) for p in stacked.interleave(W, b)]


def mlp_forward(params: list[torch.Tensor], x: torch.Tensor, slope: float = 0.0) -> torch.Tensor:
    """Stacked MLP: x (R, n, in) -> (R, n, out); hidden layers ReLU (LeakyReLU when slope > 0)."""
    return stacked.forward(x, params[0::2], params[1::2], (lambda h: F.leaky_relu(h, slope)) if slope else "relu")


GEN_SIZES, DISC_SIZES, LATENT = (2, 32, 32, 1), (1, 32, 32, 1), 2


def generate(gen: list[torch.Tensor], n: int, g: torch.Generator) -> torch.Tensor:
    """Generator samples G(z), z ~ N(0, I_2), LeakyReLU 0.2 hidden units: (R, n, 1)."""
    return mlp_forward(gen, torch.randn(gen[0].shape[0], n, LATENT, generator=g), slope=0.2)


def discriminator_logit(disc: list[torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """D's logit a(x), with D(x) = sigmoid(a): x (R, n, 1) -> (R, n, 1)."""
    return mlp_forward(disc, x, slope=0.2)


def train_discriminator(
    gen: list[torch.Tensor], disc: list[torch.Tensor], steps: int, g: torch.Generator, batch: int = 256, lr: float = 1e-3
) -> None:
    """Train D alone (G fixed) to tell target samples from G's, in place (Adam, D's loss of Goodfellow et al.)."""
    opt = torch.optim.Adam(disc, lr=lr, betas=(0.5, 0.999), fused=True)
    R = gen[0].shape[0]
    for _ in range(steps):
        with torch.no_grad():
            fake = forward_keep(gen, torch.randn(R, batch, LATENT, generator=g))[0]
            real = mixture_samples(batch, g, R)
            for p, grad in zip(disc, discriminator_grads(disc, real, fake)):
                p.grad = grad
        opt.step()
        opt.zero_grad()


# The GAN steps without autograd: the operations autograd runs for mlp_forward (LeakyReLU 0.2) and the losses
# below, called directly (so the same numbers, checked in tests/test_lab_exact.py), without building
# a graph per step: the runs' steps are small and the graph's upkeep cost as much as its arithmetic.
SLOPE = 0.2


def forward_keep(params: list[torch.Tensor], x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """mlp_forward(params, x, slope=SLOPE) without autograd, and each layer's input (x, then the hidden activations)."""
    W, b = params[0::2], params[1::2]
    inputs = [x]
    for l in range(len(W) - 1):
        inputs.append(F.leaky_relu_(_affine(inputs[-1], W[l], b[l]), SLOPE))
    return _affine(inputs[-1], W[-1], b[-1]), inputs


def _affine(x: torch.Tensor, W: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """torch.baddbmm(b, x, W): for inputs of more than two features the product, then the bias added in place (the
    same numbers: the product is rounded before the bias is added either way; checked in tests/test_lab_exact.py),
    which spares baddbmm's copy of the broadcast bias into its output, a slow strided copy here."""
    return torch.bmm(x, W).add_(b) if x.shape[2] > 2 else torch.baddbmm(b, x, W)


def backward(
    params: list[torch.Tensor],
    inputs: list[torch.Tensor],
    grad: torch.Tensor,
    *,
    of_params: bool = True,
    of_input: bool = False,
    split: int = 0,
) -> tuple[list[torch.Tensor | None], torch.Tensor | None]:
    """Back through forward_keep: given the gradient w.r.t. its output, the gradients w.r.t. ``params`` (when
    ``of_params``; autograd's baddbmm and LeakyReLU backward, the bias's summed over the batch) and w.r.t. its
    input x (when ``of_input``).  ``split`` > 0: the batch holds two batches of that many and that many more
    samples run through the network together (as autograd runs each alone, the same numbers), and the
    parameters' gradient is the first one's plus the second one's."""
    W = params[0::2]
    grads: list[torch.Tensor | None] = [None] * len(params)
    for l in reversed(range(len(W))):
        if l < len(W) - 1:
            grad = torch.ops.aten.leaky_relu_backward(grad, inputs[l + 1], SLOPE, True)
        if of_params:
            h = inputs[l].transpose(1, 2)
            if split:
                grads[2 * l] = h[..., :split].bmm(grad[:, :split]) + h[..., split:].bmm(grad[:, split:])
                grads[2 * l + 1] = grad[:, :split].sum(1, keepdim=True) + grad[:, split:].sum(1, keepdim=True)
            else:
                grads[2 * l], grads[2 * l + 1] = h.bmm(grad), grad.sum(1, keepdim=True)
        if l or of_input:
            grad = grad.bmm(W[l].transpose(1, 2))
    return grads, (grad if of_input else None)


def mean_times_runs_grad(x: torch.Tensor) -> torch.Tensor:
    """Autograd's gradient of x.mean() * R w.r.t. x (R = x.shape[0]): every run's mean loss gets gradient 1."""
    return (torch.ones(()) * x.shape[0]).expand(x.shape) / x.numel()


def softplus_grad(grad: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
    """Autograd's backward of F.softplus at a."""
    return torch.ops.aten.softplus_backward(grad, a, 1, 20)


def discriminator_grads(disc: list[torch.Tensor], real: torch.Tensor, fake: torch.Tensor) -> list[torch.Tensor]:
    """The gradient w.r.t. D's parameters of D's loss of Goodfellow et al., each run's mean
    softplus(-a(real)) + softplus(a(fake)), as autograd computes it from that loss summed over runs."""
    n = real.shape[1]
    a, inputs = forward_keep(disc, torch.cat([real, fake], 1))
    c = mean_times_runs_grad(a[:, :n])
    return backward(disc, inputs, torch.cat([-softplus_grad(c, -a[:, :n]), softplus_grad(c, a[:, n:])], 1), split=n)[0]


def generator_loss_grad(a: torch.Tensor, ns: torch.Tensor) -> torch.Tensor:
    """Autograd's gradient w.r.t. D's logits a (R, n, 1) on G's samples of the generator losses summed over runs,
    where(ns, softplus(-a), -softplus(a)).mean() * R: the non-saturating loss for the runs where ns (R, 1, 1)
    holds, the minimax loss for the others."""
    c = mean_times_runs_grad(a)
    return -softplus_grad(torch.where(ns, c, 0), -a) + softplus_grad(-torch.where(ns, 0, c), a)


def generator_gradient_norms(gen: list[torch.Tensor], disc: list[torch.Tensor], n: int, g: torch.Generator) -> dict[str, np.ndarray]:
    """Norms of the gradient w.r.t. G's parameters of both generator losses, per run, on one batch of z.

    minimax (Goodfellow et al. 2014, eq. 1): minimise mean log(1 - D(G(z))) = -mean softplus(a);
    non-saturating (Sec. 3): minimise -mean log D(G(z)) = mean softplus(-a), where a = D's logit.
    Returns 'minimax', 'non_saturating' (R,) and 'd_fake' (R,), the mean D(G(z)) on the batch.
    """
    z = torch.randn(gen[0].shape[0], n, LATENT, generator=g)
    out = {}
    for name, loss_of in (("minimax", lambda a: -F.softplus(a)), ("non_saturating", lambda a: F.softplus(-a))):
        a = discriminator_logit(disc, mlp_forward(gen, z, slope=0.2))
        grads = torch.autograd.grad(loss_of(a).mean(dim=(1, 2)).sum(), gen)  # runs are independent
        out[name] = torch.sqrt(sum((gr**2).sum(dim=tuple(range(1, gr.ndim))) for gr in grads)).detach().numpy()
        out["d_fake"] = torch.sigmoid(a).mean(dim=(1, 2)).detach().numpy()
    return out


def wasserstein1(x: np.ndarray, y: np.ndarray) -> float:
    """Exact 1-D Wasserstein-1 distance between two equal-size samples: mean |sorted x - sorted y|."""
    return float(np.mean(np.abs(np.sort(x) - np.sort(y))))


def train_gan(
    seeds: list[int],
    steps: int,
    batch: int = 128,
    lr: float | list[float] = 2e-3,
    n_eval: int = 10_000,
    checkpoints: int = 10,
    *,
    losses: list[str] | None = None,
    d_steps: int | list[int] = 0,
) -> dict[str, np.ndarray]:
    """A small GAN per run on the 1-D two-Gaussian mixture, all runs at once.

    G: z in R^2 -> 32 -> 32 -> 1; D: 1 -> 32 -> 32 -> 1; both LeakyReLU 0.2 (ReLU generators sometimes
    lose all their units and stay a constant).  One D step then one G step, Adam (betas 0.5, 0.999),
    as Goodfellow et al. 2014 alternate them (k = 1); the rate is constant for the first half, then
    decays linearly to 0.  ``seeds`` (R,) may repeat a seed: runs with the same seed start from the
    same G and D and see the same real samples and the same z (the stream of seed j is drawn for the
    distinct seeds in order of first appearance), so they pair up across ``lr`` and ``losses``.
    ``lr``: one rate, or one per run (R,).  ``losses``: the generator loss per run, 'non_saturating'
    (minimise -log D(G(z)), Sec. 3; the default) or 'minimax' (minimise log(1 - D(G(z))), eq. 1).
    ``d_steps``: per run (or one for all), the steps for which D is first trained alone against the
    initial G (``train_discriminator``, its own stream of samples per seed) before the two train
    together, so that D starts out rejecting G's samples; runs of one seed with the same count start
    from the same D.

    Returns 'w1' (R, checkpoints + 1): the W1 distance between ``n_eval`` generator samples and as
    many fresh target samples, at init and after each checkpoint; 'steps' (checkpoints + 1,);
    'mode_mass' (R, 2): the share of the trained generator's samples within 2 std of each mode;
    'mode_mass_init' (R, 2), the same for the initial generator; 'floor' (R,): W1 between two
    independent target samples of size ``n_eval`` (sampling noise); and 'd_fake_early' (R,): the mean
    D(G(z)) on the generator's batches of the first tenth of the steps (near 0: D rejects G's samples);
    'd_fake_start' (R,): the mean D(G(z)) of the starting D on 1024 samples of the initial G.
    """
    # every tensor the steps allocate is written in full by its kernel: no NaN fill of fresh tensors (deterministic mode)
    with runtime.unfilled_allocations():
        R = len(seeds)
        distinct = list(dict.fromkeys(seeds))
        stream = torch.tensor([distinct.index(s) for s in seeds])  # run -> its seed's data stream
        S = len(distinct)
        rates = torch.as_tensor(np.broadcast_to(np.asarray(lr, dtype=np.float32), (R,)).copy()).view(R, 1, 1)
        ns = torch.tensor([loss == "non_saturating" for loss in (losses or ["non_saturating"] * R)]).view(R, 1, 1)
        gen, disc = ([p.detach() for p in init_mlp(seeds, sizes, tag)] for sizes, tag in ((GEN_SIZES, 401), (DISC_SIZES, 402)))
        pre = np.broadcast_to(np.asarray(d_steps), (R,))  # (gen and disc above: no autograd)
        for k in sorted(set(pre.tolist()) - {0}):  # D first trained alone: once per distinct seed, then copied to its runs
            d_gen, d_disc = init_mlp(distinct, GEN_SIZES, 401), init_mlp(distinct, DISC_SIZES, 402)
            train_discriminator(d_gen, d_disc, k, stacked.generator(seeds[0], 405, S, k))
            with torch.no_grad():
                for p, q in zip(disc, d_disc):
                    p[torch.from_numpy(pre == k)] = q[stream][torch.from_numpy(pre == k)]
        g = stacked.generator(seeds[0], 403, S)
        g_eval = stacked.generator(seeds[0], 404, S)
        moments = {id(p): (torch.zeros_like(p), torch.zeros_like(p)) for p in gen + disc}

        def fakes(n: int, gg: torch.Generator, chunk: int = 0) -> torch.Tensor:
            """G's samples (R, n, 1); ``chunk`` > 0: the forward pass in groups of that many runs (the same numbers,
            about twice as fast for the 10,000 evaluation samples of a hundred runs, whose activations then stay in cache)."""
            z = torch.randn(S, n, LATENT, generator=gg)[stream]
            if not chunk:
                return forward_keep(gen, z)[0]
            return torch.cat([forward_keep([p[i : i + chunk] for p in gen], z[i : i + chunk])[0] for i in range(0, R, chunk)])

        def step_(params: list[torch.Tensor], grads: list[torch.Tensor], t: int, scale: float) -> None:
            stacked.adam_step_(params, [moments[id(p)] for p in params], grads, rates * scale, t, betas=(0.5, 0.999))

        def evaluate():
            with torch.no_grad():
                x = fakes(n_eval, g_eval, chunk=8)[..., 0].numpy()
                t = mixture_samples(n_eval, g_eval, S)[stream][..., 0].numpy()
            w1 = np.array([wasserstein1(x[r], t[r]) for r in range(R)])
            mass = np.stack([np.mean(np.abs(x - m) < 2 * MIXTURE_STD, axis=1) for m in MIXTURE_MEANS], axis=1)
            return w1, mass

        with torch.no_grad():
            d_start = torch.sigmoid(discriminator_logit(disc, fakes(1024, stacked.generator(seeds[0], 406, S)))).mean(dim=(1, 2))
        w1, mass0 = evaluate()
        curve, marks = [w1], [0]
        every = max(1, steps // checkpoints)
        early, d_early = max(1, steps // 10), torch.zeros(R)
        # constant rate for the first half, then linear decay to 0 (as CycleGAN trains): constant-rate
        # GANs keep circling the target, and the decay lets the generator settle where it is
        for step in range(1, steps + 1):
            scale = min(1.0, 2 * (1 - (step - 1) / steps))
            real = mixture_samples(batch, g, S)[stream]
            # G's samples for D's step, then for G's: the same G, so one pass for both (D's step draws no numbers)
            z = torch.cat([torch.randn(S, batch, LATENT, generator=g) for _ in range(2)], 1)[stream]
            x, in_gen = forward_keep(gen, z)
            step_(disc, discriminator_grads(disc, real, x[:, :batch]), step, scale)
            a, in_disc = forward_keep(disc, x[:, batch:].contiguous())
            grad_x = backward(disc, in_disc, generator_loss_grad(a, ns), of_params=False, of_input=True)[1]
            step_(gen, backward(gen, [h[:, batch:] for h in in_gen], grad_x)[0], step, scale)
            if step <= early:
                d_early += torch.sigmoid(a).mean(dim=(1, 2)) / early
            if step % every == 0 or step == steps:
                w1, mass = evaluate()
                curve.append(w1)
                marks.append(step)
        with torch.no_grad():
            a, b = mixture_samples(n_eval, g_eval, S)[..., 0].numpy(), mixture_samples(n_eval, g_eval, S)[..., 0].numpy()
        return {
            "w1": np.stack(curve, axis=1),
            "steps": np.array(marks),
            "mode_mass": mass,
            "mode_mass_init": mass0,
            "floor": np.array([wasserstein1(a[j], b[j]) for j in stream.tolist()]),
            "d_fake_early": d_early.numpy(),
            "d_fake_start": d_start.numpy(),
        }
