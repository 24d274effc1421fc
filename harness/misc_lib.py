"""Embeddings, GANs, reinforcement learning and compute: models, training loops, measurements.

Pure functions that return numbers and arrays (no asserts, prints or plots).  Every stochastic run
is seeded from the seeds it is given; runs of several seeds train at once where the models are
small: weights carry a leading run axis R and are multiplied with batched matmuls, so six seeds
cost about as much as one.

* Embeddings: a generated corpus from a small grammar (two kinds of sentence whose words share
  contexts within a kind), word2vec's skip-gram with negative sampling (Mikolov et al. 2013), and
  a tiny transformer encoder trained by masked-token prediction (BERT's objective, Devlin et al.
  2018) whose output vectors depend on the context.
* GANs: Goodfellow et al. 2014's generator losses (minimax vs non-saturating) and a small GAN on a
  1-D mixture of two Gaussians, judged by the exact 1-D Wasserstein-1 distance.
* Reinforcement learning: epsilon-greedy action selection, value iteration and tabular Q-learning
  (Watkins 1989; the Bellman target of Mnih et al. 2013) on a deterministic grid world.
* Compute: the share of CPU time spent in matrix-multiplication and convolution ops in a forward
  and backward pass (torch.profiler).
"""

from __future__ import annotations

import math
import re

import numpy as np
import torch
from torch.nn import functional as F


def subseed(seed: int, *tags: int) -> int:
    """A new 31-bit seed derived from ``seed`` and ``tags`` (a second init, a data stream, ...)."""
    return int(np.random.default_rng([seed, *tags]).integers(2 ** 31))


def _gen(seed: int, *tags: int) -> torch.Generator:
    return torch.Generator().manual_seed(subseed(seed, *tags))


# == Embeddings =====================================================================================

# A grammar of five-word sentences "DET ADJ NOUN VERB ADV".  A sentence is about animals or about
# vehicles; adjectives, nouns and verbs are drawn from its kind's lists, determiners and adverbs
# from lists shared by both kinds.  Words of one kind and one part of speech (cat, dog) therefore
# share their contexts; words of the same part of speech but of different kinds (cat, car) share
# only the determiners and adverbs.
KINDS = ("animal", "vehicle")
SLOTS = ("det", "adj", "noun", "verb", "adv")
LEXICON = {
    ("det", None): ("the", "a", "one", "this"),
    ("adj", "animal"): ("hungry", "furry", "sleepy", "wild"),
    ("adj", "vehicle"): ("fast", "red", "rusty", "electric"),
    ("noun", "animal"): ("cat", "dog", "horse", "cow"),
    ("noun", "vehicle"): ("car", "bus", "truck", "van"),
    ("verb", "animal"): ("eats", "sleeps", "barks", "grazes"),
    ("verb", "vehicle"): ("drives", "parks", "stops", "honks"),
    ("adv", None): ("often", "quietly", "today", "again"),
}
HOMOGRAPH = "console"  # used as a noun in both kinds of sentence: two senses, one spelling


def vocabulary() -> list[str]:
    """Every word of the grammar, then the homograph: (V,) with V = 29."""
    words = [w for ws in LEXICON.values() for w in ws]
    return words + [HOMOGRAPH]


def word_groups() -> dict[tuple[str, str], list[int]]:
    """Indices of the words of each (part of speech, kind) group whose members share contexts."""
    index = {w: i for i, w in enumerate(vocabulary())}
    return {(pos, kind): [index[w] for w in ws] for (pos, kind), ws in LEXICON.items() if kind is not None}


def grammar_corpus(seed: int, n_sentences: int, homograph_rate: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Sentences of the grammar: tokens (n, 5) int64 and each sentence's kind (n,) (0 animal, 1 vehicle).

    With probability ``homograph_rate`` a sentence's noun is replaced by the homograph, in either
    kind of sentence, so the homograph has one sense per kind.
    """
    rng = np.random.default_rng([seed, 101])
    index = {w: i for i, w in enumerate(vocabulary())}
    kind = rng.integers(0, 2, n_sentences)
    tokens = np.empty((n_sentences, len(SLOTS)), dtype=np.int64)
    for j, slot in enumerate(SLOTS):
        shared = LEXICON.get((slot, None))
        for k, name in enumerate(KINDS):
            ws = np.array([index[w] for w in (shared or LEXICON[(slot, name)])])
            rows = kind == k
            tokens[rows, j] = ws[rng.integers(0, len(ws), rows.sum())]
    swap = rng.random(n_sentences) < homograph_rate
    tokens[swap, SLOTS.index("noun")] = index[HOMOGRAPH]
    return tokens, kind


def shuffle_tokens(tokens: np.ndarray, seed: int) -> np.ndarray:
    """The same tokens (same word frequencies) in a random order across the whole corpus: (n, 5).

    The control for the distributional hypothesis: every word keeps its count but loses its contexts.
    """
    rng = np.random.default_rng([seed, 103])
    return rng.permutation(tokens.reshape(-1)).reshape(tokens.shape)


def skipgram_pairs(tokens: np.ndarray, window: int) -> tuple[np.ndarray, np.ndarray]:
    """(centre, context) index pairs within each sentence, |i - j| <= window, i != j: (P,), (P,)."""
    L = tokens.shape[1]
    centre, context = [], []
    for off in range(-window, window + 1):
        if off == 0:
            continue
        i = np.arange(max(0, -off), min(L, L - off))
        centre.append(tokens[:, i].reshape(-1))
        context.append(tokens[:, i + off].reshape(-1))
    return np.concatenate(centre), np.concatenate(context)


def train_skipgram(corpora: list[np.ndarray], seeds: list[int], vocab: int, dim: int = 16, window: int = 2,
                   negatives: int = 5, epochs: int = 5, batch: int = 512, lr: float = 0.01) -> np.ndarray:
    """Skip-gram with negative sampling (Mikolov et al. 2013, eq. 4), one run per corpus, trained at once.

    Objective per (centre w, context c) pair: log s(v'_c . v_w) + sum over ``negatives`` words n drawn
    from the unigram distribution to the 3/4 power of log s(-v'_n . v_w).  Input vectors start
    U(-0.5/dim, 0.5/dim), output vectors at 0 (as word2vec's C code); Adam on the mean loss of
    mini-batches of pairs.  corpora: R arrays (n, 5); seeds: R seeds (init, pair order, negatives).
    Returns the input ("word") vectors: (R, vocab, dim).
    """
    R = len(corpora)
    pairs = [skipgram_pairs(c, window) for c in corpora]
    P = min(len(p[0]) for p in pairs)
    g = [_gen(s, 201) for s in seeds]
    w_in = torch.stack([(torch.rand(vocab, dim, generator=gi) - 0.5) / dim for gi in g]).requires_grad_(True)
    w_out = torch.zeros(R, vocab, dim, requires_grad=True)
    noise = []
    for c in corpora:
        counts = np.bincount(c.reshape(-1), minlength=vocab).astype(float) ** 0.75
        noise.append(counts / counts.sum())
    rngs = [np.random.default_rng([s, 202]) for s in seeds]
    steps = -(-P // batch)
    # a pair's loss depends only on which words it holds, so a mini-batch's loss is a sum over the
    # (word, context) count matrix of that batch: the same gradient as pair by pair, at O(V^2) cost
    opt = torch.optim.Adam([w_in, w_out], lr=lr, fused=True)
    for _ in range(epochs):
        step_of = np.minimum(np.arange(P) // batch, steps - 1)  # (P,): the step each pair belongs to
        pos_idx, neg_idx = [], []  # flat indices into (steps, R, vocab, vocab)
        for r, (p, rng) in enumerate(zip(pairs, rngs)):
            o = rng.permutation(len(p[0]))[:P]
            w, c = p[0][o], p[1][o]
            n = rng.choice(vocab, size=(P, negatives), p=noise[r])  # negatives ~ unigram^(3/4): (P, k)
            base = (step_of * R + r) * vocab + w  # (P,)
            pos_idx.append(base * vocab + c)
            neg_idx.append((base[:, None] * vocab + n).reshape(-1))
        size = steps * R * vocab * vocab
        pos_counts = np.bincount(np.concatenate(pos_idx), minlength=size).reshape(steps, R, vocab, vocab)
        neg_counts = np.bincount(np.concatenate(neg_idx), minlength=size).reshape(steps, R, vocab, vocab)
        sizes = torch.from_numpy(np.bincount(step_of, minlength=steps).astype(np.float32))
        pos_t, neg_t = torch.from_numpy(pos_counts).float(), torch.from_numpy(neg_counts).float()
        for t in range(steps):
            scores = w_in @ w_out.transpose(1, 2)  # (R, vocab, vocab): v'_c . v_w for every word w, context c
            loss = -((pos_t[t] * F.logsigmoid(scores) + neg_t[t] * F.logsigmoid(-scores)).sum() / sizes[t])
            opt.zero_grad()
            loss.backward()
            opt.step()
    return w_in.detach().numpy()


def cosine_matrix(v: np.ndarray) -> np.ndarray:
    """Pairwise cosine similarities of the rows of v: (n, d) -> (n, n)."""
    u = v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-12)
    return u @ u.T


def shared_context_gap(vectors: np.ndarray) -> dict[str, float]:
    """Mean cosine of word pairs that share contexts, of pairs that do not, and the gap.

    Within: pairs of distinct words of one (part of speech, kind) group (cat-dog).  Across: pairs of
    the same part of speech and different kinds (cat-car).  vectors: (V, dim).
    """
    cos = cosine_matrix(vectors)
    groups = word_groups()
    within, across = [], []
    for (pos, kind), idx in groups.items():
        for a in idx:
            within += [cos[a, b] for b in idx if b > a]
            other = groups[(pos, KINDS[1 - KINDS.index(kind)])]
            if kind == KINDS[0]:
                across += [cos[a, b] for b in other]
    w, c = float(np.mean(within)), float(np.mean(across))
    return {"within": w, "across": c, "gap": w - c}


# -- a tiny transformer encoder trained by masked-token prediction ----------------------------------

def _layer_norm(x: torch.Tensor) -> torch.Tensor:
    return F.layer_norm(x, x.shape[-1:])


def init_encoder(seeds: list[int], vocab: int, length: int, dim: int, layers: int, ffn: int) -> list[torch.Tensor]:
    """Weights of R encoders (one per seed), stacked on a leading run axis.

    Token embedding (R, vocab + 1, dim) (the last row is [MASK]), positions (R, length, dim), then per
    layer W_qkv (R, dim, 3 dim), W_o (R, dim, dim), W_1 (R, dim, ffn), W_2 (R, ffn, dim), and an output
    bias (R, 1, vocab).  Normal init with std 0.02 for the embeddings and 1/sqrt(fan_in) for the rest.
    """
    R = len(seeds)
    g = [_gen(s, 301) for s in seeds]

    def normal(shape, std):
        return torch.stack([torch.randn(*shape, generator=gi) * std for gi in g])

    params = [normal((vocab + 1, dim), 0.02 * math.sqrt(dim)), normal((length, dim), 0.02 * math.sqrt(dim))]
    for _ in range(layers):
        params += [normal((dim, 3 * dim), dim ** -0.5), normal((dim, dim), dim ** -0.5),
                   normal((dim, ffn), dim ** -0.5), normal((ffn, dim), ffn ** -0.5)]
    params.append(torch.zeros(R, 1, vocab))
    return [p.requires_grad_(True) for p in params]


def encode(params: list[torch.Tensor], tokens: torch.Tensor, heads: int) -> torch.Tensor:
    """Contextual vectors of a pre-LN transformer encoder: tokens (R, B, L) -> (R, B, L, dim).

    Bidirectional self-attention (no causal mask): each position sees the whole sentence, as in BERT.
    """
    emb, pos = params[0], params[1]
    R, B, L = tokens.shape
    dim = emb.shape[-1]
    x = emb[torch.arange(R)[:, None, None], tokens] + pos[:, None, :L]  # (R, B, L, dim)
    x = x.reshape(R, B * L, dim)
    blocks = params[2:-1]
    for i in range(0, len(blocks), 4):
        w_qkv, w_o, w_1, w_2 = blocks[i:i + 4]
        q, k, v = torch.bmm(_layer_norm(x), w_qkv).split(dim, dim=-1)  # (R, B L, dim) each
        q, k, v = (t.reshape(R * B, L, heads, dim // heads).transpose(1, 2) for t in (q, k, v))  # (R B, H, L, dh)
        att = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(dim // heads), dim=-1)  # (R B, H, L, L)
        x = x + torch.bmm((att @ v).transpose(1, 2).reshape(R, B * L, dim), w_o)
        x = x + torch.bmm(torch.relu(torch.bmm(_layer_norm(x), w_1)), w_2)
    x = x.reshape(R, B, L, dim)
    return _layer_norm(x)


def train_masked_lm(corpora: list[np.ndarray], seeds: list[int], vocab: int, dim: int = 32, layers: int = 2,
                    heads: int = 2, ffn: int = 64, steps: int = 400, batch: int = 128,
                    lr: float = 3e-3) -> list[torch.Tensor]:
    """Train R encoders by masked-token prediction (BERT's objective), one per corpus, at once.

    Each step draws ``batch`` sentences per run and one position per sentence to predict; that token
    is replaced by [MASK] (80%), a random word (10%) or kept (10%), as Devlin et al. 2018 do.  The
    output layer is tied to the token embedding.  Adam on the mean cross-entropy at the chosen
    positions.  corpora: R arrays (n, L).  Returns the trained weights (see ``init_encoder``).
    """
    R, L = len(corpora), corpora[0].shape[1]
    params = init_encoder(seeds, vocab, L, dim, layers, ffn)
    opt = torch.optim.Adam(params, lr=lr, fused=True)
    data = torch.stack([torch.from_numpy(c) for c in corpora])  # (R, n, L)
    g = _gen(seeds[0], 302, R)
    rows = torch.arange(R)[:, None]
    for _ in range(steps):
        idx = torch.randint(0, data.shape[1], (R, batch), generator=g)
        x = data[rows, idx]  # (R, B, L)
        where = torch.randint(0, L, (R, batch, 1), generator=g)
        target = x.gather(-1, where)
        u = torch.rand(R, batch, 1, generator=g)
        replaced = torch.where(u < 0.8, torch.full_like(target, vocab),
                               torch.where(u < 0.9, torch.randint(0, vocab, target.shape, generator=g), target))
        x = x.scatter(-1, where, replaced)
        h = encode(params, x, heads)
        h = h.gather(2, where[..., None].expand(R, batch, 1, dim)).squeeze(2)  # (R, B, dim)
        logits = h @ params[0][:, :vocab].transpose(1, 2) + params[-1]  # (R, B, vocab)
        loss = F.cross_entropy(logits.reshape(-1, vocab), target.reshape(-1), reduction="mean") * R
        opt.zero_grad()
        loss.backward()
        opt.step()
    return [p.detach() for p in params]


def homograph_vectors(params: list[torch.Tensor], sentences: np.ndarray, heads: int) -> np.ndarray:
    """The encoder's output vector at the noun slot of each sentence: sentences (n, L) -> (R, n, dim)."""
    R = params[0].shape[0]
    with torch.no_grad():
        h = encode(params, torch.from_numpy(sentences)[None].expand(R, -1, -1), heads)
    return h[:, :, SLOTS.index("noun")].numpy()


def sense_separation(vectors: np.ndarray, sense: np.ndarray) -> dict[str, float]:
    """Within-sense and across-sense mean cosine of one word's vectors, their gap, and sense accuracy.

    vectors: (n, dim), one per occurrence; sense: (n,) in {0, 1}.  Accuracy: each occurrence is
    assigned the sense whose centroid (of the other occurrences, leave-one-out) is nearer in cosine;
    ties go to sense 0, so identical vectors (a static embedding) score the share of sense 0.
    """
    vectors = np.asarray(vectors, dtype=np.float64)  # float64 so that identical vectors tie exactly (to 1e-9)
    cos = cosine_matrix(vectors)
    n = len(sense)
    same = sense[:, None] == sense[None, :]
    off = ~np.eye(n, dtype=bool)
    within, across = float(cos[same & off].mean()), float(cos[~same].mean())
    u = vectors / np.maximum(np.linalg.norm(vectors, axis=-1, keepdims=True), 1e-12)
    correct = 0
    for i in range(n):
        keep = np.arange(n) != i
        cents = [u[keep & (sense == s)].mean(0) for s in (0, 1)]
        sims = [float(u[i] @ c / max(np.linalg.norm(c), 1e-12)) for c in cents]
        guess = 1 if sims[1] > sims[0] + 1e-9 else 0
        correct += guess == sense[i]
    return {"within": within, "across": across, "gap": within - across, "accuracy": correct / n}


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
    params = []
    g = [_gen(s, tag) for s in seeds]
    for a, b in zip(sizes[:-1], sizes[1:]):
        bound = 1 / math.sqrt(a)
        params.append(torch.stack([(torch.rand(a, b, generator=gi) * 2 - 1) * bound for gi in g]))
        params.append(torch.stack([(torch.rand(1, b, generator=gi) * 2 - 1) * bound for gi in g]))
    return [p.requires_grad_(True) for p in params]


def mlp_forward(params: list[torch.Tensor], x: torch.Tensor, slope: float = 0.0) -> torch.Tensor:
    """Stacked MLP: x (R, n, in) -> (R, n, out); hidden layers ReLU (LeakyReLU when slope > 0)."""
    n_layers = len(params) // 2
    for i in range(n_layers):
        x = torch.baddbmm(params[2 * i + 1], x, params[2 * i])
        if i < n_layers - 1:
            x = F.leaky_relu(x, slope) if slope else torch.relu(x)
    return x


GEN_SIZES, DISC_SIZES, LATENT = (2, 32, 32, 1), (1, 32, 32, 1), 2


def generate(gen: list[torch.Tensor], n: int, g: torch.Generator) -> torch.Tensor:
    """Generator samples G(z), z ~ N(0, I_2), LeakyReLU 0.2 hidden units: (R, n, 1)."""
    return mlp_forward(gen, torch.randn(gen[0].shape[0], n, LATENT, generator=g), slope=0.2)


def discriminator_logit(disc: list[torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """D's logit a(x), with D(x) = sigmoid(a): x (R, n, 1) -> (R, n, 1)."""
    return mlp_forward(disc, x, slope=0.2)


def train_discriminator(gen: list[torch.Tensor], disc: list[torch.Tensor], steps: int, g: torch.Generator,
                        batch: int = 256, lr: float = 1e-3) -> None:
    """Train D alone (G fixed) to tell target samples from G's, in place (Adam, D's loss of Goodfellow et al.)."""
    opt = torch.optim.Adam(disc, lr=lr, betas=(0.5, 0.999), fused=True)
    R = gen[0].shape[0]
    for _ in range(steps):
        with torch.no_grad():
            fake = generate(gen, batch, g)
        real = mixture_samples(batch, g, R)
        loss = (F.softplus(-discriminator_logit(disc, real)) + F.softplus(discriminator_logit(disc, fake))).mean() * R
        opt.zero_grad()
        loss.backward()
        opt.step()


def generator_gradient_norms(gen: list[torch.Tensor], disc: list[torch.Tensor], n: int,
                             g: torch.Generator) -> dict[str, np.ndarray]:
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
        out[name] = torch.sqrt(sum((gr ** 2).sum(dim=tuple(range(1, gr.ndim))) for gr in grads)).detach().numpy()
        out["d_fake"] = torch.sigmoid(a).mean(dim=(1, 2)).detach().numpy()
    return out


def wasserstein1(x: np.ndarray, y: np.ndarray) -> float:
    """Exact 1-D Wasserstein-1 distance between two equal-size samples: mean |sorted x - sorted y|."""
    return float(np.mean(np.abs(np.sort(x) - np.sort(y))))


def train_gan(seeds: list[int], steps: int, batch: int = 128, lr: float = 2e-3, n_eval: int = 10_000,
              checkpoints: int = 10) -> dict[str, np.ndarray]:
    """A small GAN per seed on the 1-D two-Gaussian mixture, all seeds at once.

    G: z in R^2 -> 32 -> 32 -> 1; D: 1 -> 32 -> 32 -> 1; both LeakyReLU 0.2 (ReLU generators sometimes
    lose all their units and stay a constant).  One D step then one G
    step with the non-saturating loss, Adam (rate ``lr``, betas 0.5, 0.999), as Goodfellow et al. 2014
    alternate them (k = 1).  Returns 'w1' (R, checkpoints + 1): the W1 distance between ``n_eval``
    generator samples and as many fresh target samples, at init and after each checkpoint;
    'steps' (checkpoints + 1,); 'mode_mass' (R, 2): the share of the trained generator's samples
    within 2 std of each mode; 'mode_mass_init' (R, 2), the same for the initial generator; and
    'floor' (R,): W1 between two independent target samples of size ``n_eval`` (sampling noise).
    """
    R = len(seeds)
    gen, disc = init_mlp(seeds, GEN_SIZES, 401), init_mlp(seeds, DISC_SIZES, 402)
    g = _gen(seeds[0], 403, R)
    g_eval = _gen(seeds[0], 404, R)
    opt_g = torch.optim.Adam(gen, lr=lr, betas=(0.5, 0.999), fused=True)
    opt_d = torch.optim.Adam(disc, lr=lr, betas=(0.5, 0.999), fused=True)

    def evaluate():
        with torch.no_grad():
            x = generate(gen, n_eval, g_eval)[..., 0].numpy()
            t = mixture_samples(n_eval, g_eval, R)[..., 0].numpy()
        w1 = np.array([wasserstein1(x[r], t[r]) for r in range(R)])
        mass = np.stack([np.mean(np.abs(x - m) < 2 * MIXTURE_STD, axis=1) for m in MIXTURE_MEANS], axis=1)
        return w1, mass

    w1, mass0 = evaluate()
    curve, marks = [w1], [0]
    every = max(1, steps // checkpoints)
    # constant rate for the first half, then linear decay to 0 (as CycleGAN trains): constant-rate
    # GANs keep circling the target, and the decay lets the generator settle where it is
    for step in range(1, steps + 1):
        for o in (opt_g, opt_d):
            o.param_groups[0]["lr"] = lr * min(1.0, 2 * (1 - (step - 1) / steps))
        real = mixture_samples(batch, g, R)
        fake = generate(gen, batch, g)
        d_loss = (F.softplus(-discriminator_logit(disc, real)) + F.softplus(discriminator_logit(disc, fake.detach()))).mean() * R
        opt_d.zero_grad()
        d_loss.backward()
        opt_d.step()
        g_loss = F.softplus(-discriminator_logit(disc, generate(gen, batch, g))).mean() * R
        opt_g.zero_grad()
        g_loss.backward()
        opt_g.step()
        if step % every == 0 or step == steps:
            w1, mass = evaluate()
            curve.append(w1)
            marks.append(step)
    with torch.no_grad():
        a, b = mixture_samples(n_eval, g_eval, R)[..., 0].numpy(), mixture_samples(n_eval, g_eval, R)[..., 0].numpy()
    return {"w1": np.stack(curve, axis=1), "steps": np.array(marks), "mode_mass": mass, "mode_mass_init": mass0,
            "floor": np.array([wasserstein1(a[r], b[r]) for r in range(R)])}


# == Reinforcement learning =========================================================================

MOVES = ((-1, 0), (1, 0), (0, -1), (0, 1))  # up, down, left, right


def grid_world(size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A deterministic size x size grid with the goal in the bottom-right corner.

    Moving into a wall leaves the state unchanged; entering the goal pays 1 and ends the episode;
    every other step pays 0.  Returns next_state (S, A) int, reward (S, A) float, terminal (S,) bool,
    with S = size^2 (state = row * size + column) and A = 4.
    """
    S = size * size
    nxt = np.zeros((S, len(MOVES)), dtype=np.int64)
    for s in range(S):
        r, c = divmod(s, size)
        for a, (dr, dc) in enumerate(MOVES):
            rr, cc = min(max(r + dr, 0), size - 1), min(max(c + dc, 0), size - 1)
            nxt[s, a] = rr * size + cc
    terminal = np.zeros(S, dtype=bool)
    terminal[S - 1] = True
    reward = (nxt == S - 1).astype(float)
    reward[terminal] = 0.0
    nxt[terminal] = S - 1
    return nxt, reward, terminal


def value_iteration(nxt: np.ndarray, reward: np.ndarray, terminal: np.ndarray, gamma: float,
                    tol: float = 1e-12) -> np.ndarray:
    """Q* from the Bellman optimality equation Q(s, a) = r(s, a) + gamma max_a' Q(s', a'): (S, A).

    Iterated to a fixed point (sup-norm change below ``tol``); terminal states have value 0.
    """
    Q = np.zeros(nxt.shape)
    while True:
        V = np.where(terminal, 0.0, Q.max(axis=1))
        new = reward + gamma * V[nxt]
        new[terminal] = 0.0
        if np.max(np.abs(new - Q)) < tol:
            return new
        Q = new


def epsilon_greedy(q: np.ndarray, eps: float | np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Epsilon-greedy actions for rows of action values, as in DQN (Mnih et al. 2013, Algorithm 1).

    With probability eps a uniformly random action (the greedy one included), else the greedy action
    (ties broken at random).  q: (n, A); eps: a number or one per row (n,) -> actions (n,).
    """
    n, A = q.shape
    return epsilon_greedy_from(q, eps, rng.random((n, A)), rng.random(n), rng.integers(0, A, n))


def epsilon_greedy_from(q: np.ndarray, eps: float | np.ndarray, tie: np.ndarray, coin: np.ndarray,
                        random_action: np.ndarray) -> np.ndarray:
    """``epsilon_greedy`` with its random numbers given: tie (n, A) and coin (n,) uniform on [0, 1),
    random_action (n,) uniform over the A actions (so a loop can draw them in bulk)."""
    best = q == q.max(axis=1, keepdims=True)
    greedy = np.argmax(best * (tie + 1e-12), axis=1)  # a random one of the tied maxima
    return np.where(coin < eps, random_action, greedy)


def q_learning(seeds: list[int], size: int, gamma: float, eps: tuple[float, ...], alpha: float, steps: int,
               checkpoints: tuple[int, ...], anneal: float = 0.1, max_episode: int = 100) -> dict[str, np.ndarray]:
    """Tabular Q-learning (Watkins 1989) on ``grid_world(size)``, one agent per seed, all at once.

    ``eps`` holds one final epsilon per agent (R = len(seeds) = len(eps)).  Each step: act
    epsilon-greedily on Q (epsilon annealed linearly from 1 to the final value over the first
    ``anneal`` share of the steps, as DQN anneals it from 1 to 0.1; a final 0 means greedy
    throughout), observe (r, s'), and move Q(s, a) toward the Bellman target r + gamma max_a' Q(s', a')
    (r alone when s' is terminal) with step size ``alpha``.  Q starts at 0.
    Episodes start in a uniformly random non-terminal state ("exploring starts", Sutton & Barto
    2018, Sec. 5.3), so every state keeps being visited, as the convergence theorem of Watkins &
    Dayan 1992 requires; they end at the goal or after ``max_episode`` steps.  Returns
    'error' (R, len(checkpoints)): max |Q - Q*| over the non-terminal state-action pairs after each
    checkpoint's number of steps; 'greedy_optimal' (R,): share of non-terminal states whose greedy
    action under the final Q is optimal under Q*; 'visited' (R,): share of non-terminal state-action
    pairs tried at least once; 'q_star' (S, A).
    """
    nxt, reward, terminal = grid_world(size)
    q_star = value_iteration(nxt, reward, terminal, gamma)
    R, (S, A) = len(seeds), nxt.shape
    rng = np.random.default_rng([*seeds, 501])  # one stream for all agents, fixed by the seeds
    final_eps = np.asarray(eps, dtype=float)
    Q = np.zeros((R, S, A))
    visits = np.zeros((R, S, A), dtype=bool)
    starts = np.flatnonzero(~terminal)
    state = rng.choice(starts, R)
    age = np.zeros(R, dtype=np.int64)
    runs = np.arange(R)
    live = ~terminal
    errors, marks = [], set(checkpoints)
    chunk = 1000  # random numbers are drawn per chunk of steps: (chunk, R, ...)
    base = runs * S  # row of each agent's state 0 in the flattened (R S, A) table
    Qs, Qf, vf = Q.reshape(R * S, A), Q.reshape(-1), visits.reshape(-1)  # views of Q and visits
    nxt_f, rew_f = nxt.reshape(-1), reward.reshape(-1)
    for t in range(1, steps + 1):
        if (t - 1) % chunk == 0:
            tie, coin = rng.random((chunk, R, A)), rng.random((chunk, R))
            rand_a, rand_s = rng.integers(0, A, (chunk, R)), rng.choice(starts, (chunk, R))
            ts = np.arange(t, t + chunk)[:, None]
            eps_t = np.where(final_eps == 0, 0.0,
                             np.maximum(final_eps, 1 - (1 - final_eps) * ts / max(1.0, anneal * steps)))  # (chunk, R)
        i = (t - 1) % chunk
        e = eps_t[i]
        action = epsilon_greedy_from(Qs[base + state], e, tie[i], coin[i], rand_a[i])
        sa = state * A + action
        s2, r_ = nxt_f[sa], rew_f[sa]
        target = r_ + gamma * np.where(terminal[s2], 0.0, Qs[base + s2].max(axis=1))
        cell = base * A + sa  # flat index of (run, state, action)
        Qf[cell] += alpha * (target - Qf[cell])
        vf[cell] = True
        age += 1
        restart = terminal[s2] | (age >= max_episode)
        state = np.where(restart, rand_s[i], s2)
        age[restart] = 0
        if t in marks:
            errors.append(np.abs(Q - q_star)[:, live].reshape(R, -1).max(axis=1))
    best = q_star == q_star.max(axis=1, keepdims=True)
    chosen = Q.argmax(axis=2)  # (R, S)
    optimal = best[np.arange(S)[None, :], chosen][:, live].mean(axis=1)
    return {"error": np.stack(errors, axis=1), "greedy_optimal": optimal,
            "visited": visits[:, live].reshape(R, -1).mean(axis=1), "q_star": q_star}


def greedy_frequency(seed: int, eps: float, actions: int, n: int) -> int:
    """How often ``epsilon_greedy`` picks the greedy action in n draws on one random row of values."""
    rng = np.random.default_rng([seed, 601])
    q = rng.standard_normal(actions)
    picked = 0
    for start in range(0, n, 100_000):  # chunks keep memory small
        m = min(100_000, n - start)
        picked += int((epsilon_greedy(np.broadcast_to(q, (m, actions)), eps, rng) == np.argmax(q)).sum())
    return picked


# == Compute ========================================================================================

# aten ops (forward and backward) that are matrix multiplications or convolutions
MATMUL_OPS = re.compile(r"^aten::(mm|bmm|addmm|baddbmm|addbmm|matmul|linear|einsum|dot|mv|addmv"
                        r"|_?convolution(_backward)?|conv\dd|(mkldnn|slow|thnn)_conv\w*|_nnpack\w*)$")


def compute_models(kind: str, seed: int) -> tuple[torch.nn.Module, torch.Tensor, torch.Tensor]:
    """A small network and one batch for it: 'mlp', 'cnn' or 'transformer'.  Returns (model, x, y).

    mlp: 64-256-256-10 ReLU on a batch of 128 (digits-sized inputs); cnn: two 3x3 conv layers
    (32 and 64 channels, ReLU, 2x2 max pool) and a linear head on 64 images 1x8x8; transformer: one
    encoder block (d_model 128, 4 heads, feed-forward 512, GELU, layer norm) on 8 sequences of 64
    tokens with a linear head.
    """
    from torch import nn
    torch.manual_seed(subseed(seed, 701))
    g = _gen(seed, 702)
    if kind == "mlp":
        model = nn.Sequential(nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 10))
        x = torch.randn(128, 64, generator=g)
    elif kind == "cnn":
        model = nn.Sequential(nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(),
                              nn.MaxPool2d(2), nn.Flatten(), nn.Linear(64 * 16, 10))
        x = torch.randn(64, 1, 8, 8, generator=g)
    elif kind == "transformer":
        block = nn.TransformerEncoderLayer(128, 4, 512, dropout=0.0, activation="gelu", batch_first=True)
        model = nn.Sequential(block, nn.Flatten(), nn.Linear(64 * 128, 10))
        x = torch.randn(8, 64, 128, generator=g)
    else:
        raise ValueError(f"unknown model kind {kind!r}")
    y = torch.randint(0, 10, (x.shape[0],), generator=g)
    return model, x, y


def matmul_time_share(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, repeats: int = 5) -> dict:
    """Share of the CPU time of forward + backward passes spent in matmul/convolution ops.

    One untimed warm-up pass, then ``repeats`` passes (cross-entropy loss, backward) under
    torch.profiler, each inside its own ``record_function`` marker.  Each event's self CPU time
    counts once, in its pass and under its op name.  Each op name's time is its median over the
    passes (so an op the operating system interrupted in one pass does not decide it), and the share
    is the sum of these medians over the aten ops whose name matches ``MATMUL_OPS`` divided by the
    sum over every recorded name (other aten ops, autograd nodes, bookkeeping).  Returns 'share'
    (float), 'shares' (repeats,): each pass's own share, 'pass_us' (the sum of the medians,
    microseconds per pass) and 'top' (the 8 largest ops: list of (name, share of the total, is_matmul)).
    """
    from torch.nn.attention import SDPBackend, sdpa_kernel
    from torch.profiler import ProfilerActivity, profile, record_function

    def step():
        model.zero_grad(set_to_none=True)
        F.cross_entropy(model(x), y).backward()

    with sdpa_kernel(SDPBackend.MATH):  # attention as separate matmul and softmax ops, not one fused kernel
        step()
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            for i in range(repeats):
                with record_function(f"pass-{i}"):
                    step()
    times: dict[str, np.ndarray] = {}  # op name -> self time in each pass, microseconds
    for e in prof.events():
        if e.name.startswith("pass-"):
            continue
        top = e
        while top.cpu_parent is not None:
            top = top.cpu_parent
        if not top.name.startswith("pass-"):
            continue
        times.setdefault(e.name, np.zeros(repeats))[int(top.name[5:])] += float(e.self_cpu_time_total)
    names = list(times)
    typical = np.array([np.median(times[k]) for k in names])  # per op: its median over passes
    is_mm = np.array([bool(MATMUL_OPS.match(k)) for k in names])
    total = typical.sum()
    per_pass = np.sum([times[k] for k in names], axis=0)
    shares = np.sum([times[k] for k in names if MATMUL_OPS.match(k)], axis=0) / np.maximum(per_pass, 1e-9)
    order = np.argsort(-typical)[:8]
    return {"share": float(typical[is_mm].sum() / total), "shares": shares, "pass_us": float(total),
            "top": [(names[i], float(typical[i] / total), bool(is_mm[i])) for i in order]}
