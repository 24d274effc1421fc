"""Embeddings: a generated corpus from a small grammar, word2vec's skip-gram and a tiny masked-LM encoder.

A corpus of five-word sentences from a small grammar (two kinds of sentence whose words share
contexts within a kind), word2vec's skip-gram with negative sampling (Mikolov et al. 2013), and a
tiny transformer encoder trained by masked-token prediction (BERT's objective, Devlin et al. 2018)
whose output vectors depend on the context.  Pure functions that return numbers and arrays; runs
of several seeds train at once (weights carry a leading run axis R).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch.nn import functional as F

from harness.lab.stacked import generator as _gen

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


def train_skipgram(
    corpora: list[np.ndarray],
    seeds: list[int],
    vocab: int,
    dim: int = 16,
    window: int = 2,
    negatives: int = 5,
    epochs: int = 5,
    batch: int = 512,
    lr: float = 0.01,
) -> np.ndarray:
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
        params += [
            normal((dim, 3 * dim), dim**-0.5),
            normal((dim, dim), dim**-0.5),
            normal((dim, ffn), dim**-0.5),
            normal((ffn, dim), ffn**-0.5),
        ]
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
        w_qkv, w_o, w_1, w_2 = blocks[i : i + 4]
        q, k, v = torch.bmm(_layer_norm(x), w_qkv).split(dim, dim=-1)  # (R, B L, dim) each
        q, k, v = (t.reshape(R * B, L, heads, dim // heads).transpose(1, 2) for t in (q, k, v))  # (R B, H, L, dh)
        att = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(dim // heads), dim=-1)  # (R B, H, L, L)
        x = x + torch.bmm((att @ v).transpose(1, 2).reshape(R, B * L, dim), w_o)
        x = x + torch.bmm(torch.relu(torch.bmm(_layer_norm(x), w_1)), w_2)
    x = x.reshape(R, B, L, dim)
    return _layer_norm(x)


def train_masked_lm(
    corpora: list[np.ndarray],
    seeds: list[int],
    vocab: int,
    dim: int = 32,
    layers: int = 2,
    heads: int = 2,
    ffn: int = 64,
    steps: int = 400,
    batch: int = 128,
    lr: float = 3e-3,
) -> list[torch.Tensor]:
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
        replaced = torch.where(
            u < 0.8, torch.full_like(target, vocab), torch.where(u < 0.9, torch.randint(0, vocab, target.shape, generator=g), target)
        )
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
