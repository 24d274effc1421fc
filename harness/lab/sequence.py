"""Sequence models: attention cost, parallel vs sequential depth, what each position sees, long-range
recall, byte-level BPE, and reuse of trained networks (transfer, warm start).

Pure functions: they build models, train and measure, and return numbers or arrays; they never
assert, print or plot.  Shapes are given as (batch, length, width) unless stated; R is a stack of
independent runs (one per seed) trained at once with batched matrix products.
"""

from __future__ import annotations

import math
import re
import sys
from collections import Counter
from collections.abc import Callable

import numpy as np
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from harness import stats
from harness.lab import runtime, stacked
from harness.lab.generalisation import _LANES, batch_loss_grad, summed_cross_entropy

# -- attention cost ---------------------------------------------------------------------------------


def attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Scaled dot-product attention (Vaswani et al. 2017, eq. 1): q (B, n, d), k and v (B, m, d) -> (B, n, d).

    ``mask`` (n, m) bool, True where a query may not look (e.g. later positions under a causal mask).
    """
    s = torch.bmm(q, k.transpose(1, 2)) / math.sqrt(q.shape[-1])  # (B, n, m): one score per query-key pair
    if mask is not None:
        s = s.masked_fill(mask, float("-inf"))
    return torch.bmm(torch.softmax(s, dim=-1), v)


def attention_into(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, scores: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    """The same attention as :func:`attention` (no mask), written into buffers allocated once by the caller:
    ``scores`` (B, n, m) and ``out`` (B, n, d); the softmax runs in place.  Timing this leaves out the
    allocator: a fresh (n, m) score matrix costs page faults whose number depends on the process's
    history (glibc maps large blocks afresh until it raises its threshold), not on attention."""
    torch.bmm(q, k.transpose(1, 2), out=scores)
    scores.mul_(1.0 / math.sqrt(q.shape[-1]))
    scores.sub_(scores.amax(dim=-1, keepdim=True)).exp_()
    scores.div_(scores.sum(dim=-1, keepdim=True))
    return torch.bmm(scores, v, out=out)


def qkv(n: int, m: int, d: int, seed: int, dtype=torch.float32) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Random queries (1, n, d), keys and values (1, m, d)."""
    g = torch.Generator().manual_seed(seed)
    return (
        torch.randn(1, n, d, generator=g, dtype=dtype),
        torch.randn(1, m, d, generator=g, dtype=dtype),
        torch.randn(1, m, d, generator=g, dtype=dtype),
    )


def counted_flops(fn: Callable[[], object]) -> int:
    """Floating-point operations of the matrix products ``fn`` runs, by torch's FlopCounterMode."""
    with FlopCounterMode(display=False) as counter:
        fn()
    return int(counter.get_total_flops())


def loglog_slope(x, y) -> float:
    """Least-squares slope of log y against log x: the exponent of a power law y ~ x^k."""
    return float(stats.fit_slope(np.log(np.asarray(x, float)), np.log(np.asarray(y, float)))[0])


# -- parallel vs sequential ---------------------------------------------------------------------------


def dependency_depth(output: torch.Tensor, inp: torch.Tensor) -> int:
    """Longest chain of autograd nodes from ``inp`` (a leaf that requires grad) to ``output``.

    Each node is one operation that needs its inputs finished first, so the chain length is the
    number of operations that must run one after another (the critical path).  -1 if not connected.
    """
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 100_000))
    memo: dict = {}

    def longest(fn) -> int:
        if fn is None:
            return -1
        if fn in memo:
            return memo[fn]
        if getattr(fn, "variable", None) is inp:
            memo[fn] = 0
            return 0
        best = -1
        for nxt, _ in fn.next_functions:
            d = longest(nxt)
            if d >= 0:
                best = max(best, d + 1)
        memo[fn] = best
        return best

    try:
        return longest(output.grad_fn)
    finally:
        sys.setrecursionlimit(limit)


def sequence_layers(width: int, heads: int, seed: int) -> dict[str, nn.Module]:
    """A self-attention layer and recurrent layers of the same width, PyTorch's own modules, default init."""
    torch.manual_seed(seed)  # nn modules draw their default init from the global generator
    return {
        "self-attention": nn.MultiheadAttention(width, heads, batch_first=True),
        "RNN": nn.RNN(width, width, batch_first=True),
        "GRU": nn.GRU(width, width, batch_first=True),
    }


def run_layer(layer: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """(B, T, d) -> (B, T, d): self-attention with queries, keys and values all x; a recurrent layer's outputs."""
    if isinstance(layer, nn.MultiheadAttention):
        return layer(x, x, x, need_weights=False)[0]
    return layer(x)[0]


# -- what each output position depends on -------------------------------------------------------------


def encoder(width: int, heads: int, layers: int, seed: int) -> nn.TransformerEncoder:
    """A post-norm transformer encoder stack (no dropout), float64, default init."""
    torch.manual_seed(seed)
    layer = nn.TransformerEncoderLayer(width, heads, dim_feedforward=2 * width, dropout=0.0, batch_first=True, dtype=torch.float64)
    return nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)


def causal_mask(length: int) -> torch.Tensor:
    """(T, T) bool, True above the diagonal: position t may not look at positions s > t (GPT)."""
    return torch.triu(torch.ones(length, length, dtype=torch.bool), diagonal=1)


def position_jacobian(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, vectorize: bool = False) -> np.ndarray:
    """Frobenius norm of d y_t / d x_s for every output position t and input position s: (T, T).

    fn maps (1, T, d_in) -> (1, T, d_out); x is (1, T, d_in).  ``vectorize`` batches the backward
    passes (faster for recurrent layers, slower for attention layers).
    """
    jac = torch.autograd.functional.jacobian(fn, x, vectorize=vectorize)  # (1, T, d_out, 1, T, d_in)
    return jac[0, :, :, 0].pow(2).sum(dim=(1, 3)).sqrt().numpy()  # (T, T)


def last_position_dependence(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> np.ndarray:
    """||d y_T / d x_s|| for the last output position T and every input position s: (T,).

    fn maps (1, T, d_in) -> (1, T, d_out); x is (1, T, d_in).
    """
    jac = torch.autograd.functional.jacobian(lambda v: fn(v)[0, -1], x, vectorize=True)  # (d_out, 1, T, d_in)
    return jac[:, 0].pow(2).sum(dim=(0, 2)).sqrt().numpy()


def recurrent(kind: str, width: int, seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return {"RNN": nn.RNN, "GRU": nn.GRU, "LSTM": nn.LSTM}[kind](width, width, batch_first=True, dtype=torch.float64)


# -- long-range recall: attention vs a GRU ------------------------------------------------------------

RECALL_VALUES = 8  # values 0..7; index 8 marks the query token, which carries no value
EVAL_SLICE = 32  # sequences per slice when a trained stack is evaluated


def recall_batch(gens: list[torch.Generator], batch: int, length: int, keys: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Associative recall: ``length`` (key, value) pairs with distinct keys, then a query key.

    Returns keys (R, B, length+1), values (R, B, length+1) (the query's value is the marker 8) and
    targets (R, B): the value stored under the query key.  One generator per run keeps runs independent.
    """
    ks, vs, ys = [], [], []
    for g in gens:
        key = torch.argsort(torch.rand(batch, keys, generator=g), dim=1)[:, :length]
        val = torch.randint(0, RECALL_VALUES, (batch, length), generator=g)
        pick = torch.randint(0, length, (batch, 1), generator=g)
        ks.append(torch.cat([key, key.gather(1, pick)], 1))
        vs.append(torch.cat([val, torch.full((batch, 1), RECALL_VALUES)], 1))
        ys.append(val.gather(1, pick)[:, 0])
    return torch.stack(ks), torch.stack(vs), torch.stack(ys)


def recall_params(kind: str, seeds: list[int], keys: int, width: int) -> dict[str, torch.Tensor]:
    """Parameters of R models stacked on a leading axis.  Both kinds share the token embedding
    (key embedding + value embedding, width d) and an 8-way output layer; 'attention' adds one
    single-head attention layer (W_q, W_k, W_v: d x d), 'gru' a GRU of width d."""
    runs = []
    for s in seeds:
        g = torch.Generator().manual_seed(s)
        p = {
            "Ek": torch.randn(keys, width, generator=g) / math.sqrt(2),
            "Ev": torch.randn(RECALL_VALUES + 1, width, generator=g) / math.sqrt(2),
        }
        if kind == "attention":
            for n in "qkv":
                p["W" + n] = stacked.uniform((width, width), width, g)
        else:
            p |= {
                "Wx": stacked.uniform((width, 3 * width), width, g),
                "Wh": stacked.uniform((width, 3 * width), width, g),
                "bx": stacked.uniform((1, 3 * width), width, g),
                "bh": stacked.uniform((1, 3 * width), width, g),
            }
        p |= {"Wo": stacked.uniform((width, RECALL_VALUES), width, g), "bo": stacked.uniform((1, RECALL_VALUES), width, g)}
        runs.append(p)
    return {k: torch.stack([p[k] for p in runs]).requires_grad_(True) for k in runs[0]}


def _lookup(table: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """table (R, N, c), idx (R, B, T) -> (R, B, T, c): rows of one flat (R N, c) table, so the lookup is an
    index_select (a gather along dim 1 with the index expanded over c gives the same rows and, summed in the
    same order, the same gradients, at about twice the cost)."""
    R, B, T = idx.shape
    N, c = table.shape[1], table.shape[2]
    rows = (idx.reshape(R, B * T) + N * torch.arange(R).unsqueeze(1)).reshape(-1)
    return table.reshape(R * N, c).index_select(0, rows).reshape(R, B, T, c)


def _project(p: dict, keys: torch.Tensor, vals: torch.Tensor, W: torch.Tensor) -> torch.Tensor:
    """(Ek[key] + Ev[value]) @ W for every token, computed per vocabulary entry (a linear map commutes
    with the lookup): (R, B, T, W's columns)."""
    return _lookup(torch.bmm(p["Ek"], W), keys) + _lookup(torch.bmm(p["Ev"], W), vals)


def recall_logits(p: dict, kind: str, keys: torch.Tensor, vals: torch.Tensor) -> torch.Tensor:
    """Logits over the 8 values at the query (last) position: (R, B, 8)."""
    R, B, T = keys.shape
    if kind == "attention":  # the query token attends to every token (Bahdanau et al. 2014)
        d = p["Ek"].shape[2]
        k, v = _project(p, keys, vals, p["Wk"]), _project(p, keys, vals, p["Wv"])
        q = _project(p, keys[:, :, -1:], vals[:, :, -1:], p["Wq"])  # (R, B, 1, d)
        a = torch.softmax(torch.matmul(k, q.transpose(-1, -2)).squeeze(-1) / math.sqrt(d), dim=-1)  # (R, B, T)
        h = torch.matmul(a.unsqueeze(-2), v).squeeze(-2)
    else:  # a GRU (PyTorch's gate equations) reads the tokens one by one; its last state answers
        width = p["Wh"].shape[1]
        gx = _project(p, keys, vals, p["Wx"]) + p["bx"].unsqueeze(1)  # input part of every gate, all steps at once
        h = torch.zeros(R, B, width)
        for gt in gx.unbind(2):
            gh = torch.baddbmm(p["bh"], h, p["Wh"])
            xr, xz, xn = gt.chunk(3, -1)
            hr, hz, hn = gh.chunk(3, -1)
            r, z = torch.sigmoid(xr + hr), torch.sigmoid(xz + hz)
            n = torch.tanh(xn + r * hn)
            h = torch.lerp(n, h, z)  # (1 - z) * n + z * h
    return torch.baddbmm(p["bo"], h, p["Wo"])


def recall_param_count(kind: str, keys: int, width: int) -> int:
    return sum(int(t[0].numel()) for t in recall_params(kind, [0], keys, width).values())


def adam_unit_step_(params, grads, moments, t: int, rates, betas=(0.9, 0.999), eps: float = 1e-8) -> None:
    """Step ``t`` (from 1) of ``torch.optim.Adam(params, lr=1.0)`` (its default single-tensor update on the CPU: the same
    kernels and Python-float factors, each run as one ``torch._foreach_*`` call over every tensor), then each run's step
    scaled by its rate (``rates``: one tensor per parameter that broadcasts against it, e.g. (R, 1, 1)): the parameter
    becomes b + rate (a - b), b before and a after the unit-rate step.  Adam's moments do not depend on the rate, so
    this is Adam at each run's own rate; the same values bit for bit as the optimiser's step followed by that
    rescaling (tests/test_lab_exact.py).  ``moments``: (first, second) lists of zero-started tensors."""
    b1, b2 = betas
    m, v = moments
    torch._foreach_lerp_(m, grads, 1 - b1)
    torch._foreach_mul_(v, b2)
    torch._foreach_addcmul_(v, grads, grads, value=1 - b2)
    step_size = 1.0 / (1 - b1 ** float(t))
    denom = torch._foreach_sqrt(v)
    torch._foreach_div_(denom, (1 - b2 ** float(t)) ** 0.5)
    torch._foreach_add_(denom, eps)
    moved = torch._foreach_addcdiv(params, m, denom, value=-step_size)  # a: the parameters after the unit-rate step
    torch._foreach_sub_(moved, params)
    torch._foreach_mul_(moved, rates)
    torch._foreach_add_(params, moved)


def train_recall(
    kind: str, length: int, seeds: tuple[int, ...], steps: int, batch: int, lr: float, width: int, keys: int, test_size: int = 512
) -> np.ndarray:
    """Train one model per seed (Adam, fresh batches every step) and return test accuracy per seed: (R,)."""
    return train_recall_eval(kind, length, seeds, steps, batch, [lr] * len(seeds), width, keys, test_size)["test"]


@runtime.unfilled_allocations()  # every kernel writes what it allocates: the same values without the NaN fill
def train_recall_eval(
    kind: str,
    length: int,
    seeds: tuple[int, ...],
    steps: int,
    batch: int,
    lrs: list[float],
    width: int,
    keys: int,
    test_size: int = 512,
    val_size: int = 0,
) -> dict[str, np.ndarray]:
    """Train one model per run (Adam at the run's own rate ``lrs[r]``, fresh batches every step); a seed may
    repeat with different rates (same init and batches).  Returns 'test' accuracy per run (R,) on
    ``test_size`` fresh sequences and, when ``val_size`` > 0, 'val' accuracy on as many other fresh
    sequences (for choosing a rate without touching the test set)."""
    p = recall_params(kind, list(seeds), keys, width)
    params = list(p.values())
    moments = [torch.zeros_like(t) for t in params], [torch.zeros_like(t) for t in params]
    rate = torch.tensor(lrs, dtype=torch.float32)
    rates = [rate.view(-1, *[1] * (t.ndim - 1)) for t in params]
    distinct = list(dict.fromkeys(seeds))  # a seed's runs at every rate share its batches: draw them once per seed
    run_of = torch.tensor([distinct.index(s) for s in seeds])

    def batches(offset: int, size: int) -> Callable[[], tuple[torch.Tensor, ...]]:
        gens = [torch.Generator().manual_seed(s + offset) for s in distinct]
        return lambda: tuple(t[run_of] for t in recall_batch(gens, size, length, keys))

    train_batch = batches(1, batch)
    for t in range(1, steps + 1):
        k, v, y = train_batch()
        logits = recall_logits(p, kind, k, v)
        grads = torch.autograd.grad(stacked.batch_loss(logits, y), params)  # sum over runs of each run's mean loss: runs do not interact
        with torch.no_grad():
            adam_unit_step_(params, grads, moments, t, rates)
    out = {}
    for name, offset, size in (("test", 2, test_size), ("val", 3, val_size)):
        if size:
            k, v, y = batches(offset, size)()
            with torch.no_grad():  # in slices of EVAL_SLICE sequences: every sequence's logits are the same, and the
                # slices' tensors stay small enough to be reused (a whole (R, size, T, 3 width) tensor is mapped afresh)
                cuts = range(0, size, EVAL_SLICE)
                logits = torch.cat([recall_logits(p, kind, k[:, i : i + EVAL_SLICE], v[:, i : i + EVAL_SLICE]) for i in cuts], 1)
                out[name] = stacked.accuracy(logits, y).numpy()
    return out


# -- byte-level BPE ---------------------------------------------------------------------------------

_PIECE = re.compile(r" ?[A-Za-z]+| ?[0-9]+| ?[^\sA-Za-z0-9]+|\s+")  # GPT-2-style pre-split, ASCII classes


def pretokens(text: str) -> list[bytes]:
    """Words with their leading space, digit runs, punctuation runs, white space; as UTF-8 bytes."""
    return [m.group().encode("utf-8") for m in _PIECE.finditer(text)]


def words(text: str) -> list[str]:
    """Word-level tokens: runs of letters, lower-cased (a word-level vocabulary's units)."""
    return [w.lower() for w in re.findall(r"[A-Za-z]+", text)]


def bpe_train(text: str, merges: int) -> list[tuple[bytes, bytes]]:
    """Byte-level BPE (Sennrich et al. 2016 on bytes, as GPT-2): start from the 256 single bytes and
    merge the most frequent adjacent pair ``merges`` times (ties: the smaller pair).  Returns the merges."""
    freq = Counter(pretokens(text))
    seqs = {w: [bytes([b]) for b in w] for w in freq}
    pairs: Counter = Counter()
    for w, s in seqs.items():
        for ab in zip(s, s[1:]):
            pairs[ab] += freq[w]
    out = []
    for _ in range(merges):
        pairs = +pairs  # drop pairs whose count fell to 0
        if not pairs:
            break
        best = min(pairs, key=lambda ab: (-pairs[ab], ab))
        out.append(best)
        for w, s in seqs.items():
            if best[0] not in s:
                continue
            new = _merge(s, best)
            if len(new) == len(s):
                continue
            for ab in zip(s, s[1:]):  # only words that changed update the pair counts
                pairs[ab] -= freq[w]
            for ab in zip(new, new[1:]):
                pairs[ab] += freq[w]
            seqs[w] = new
    return out


def _merge(seq: list[bytes], pair: tuple[bytes, bytes]) -> list[bytes]:
    out, i = [], 0
    while i < len(seq):
        if i + 1 < len(seq) and seq[i] == pair[0] and seq[i + 1] == pair[1]:
            out.append(seq[i] + seq[i + 1])
            i += 2
        else:
            out.append(seq[i])
            i += 1
    return out


def bpe_vocabulary(merges: list[tuple[bytes, bytes]]) -> set[bytes]:
    return {bytes([b]) for b in range(256)} | {a + b for a, b in merges}


def bpe_encode_piece(piece: bytes, merges: list[tuple[bytes, bytes]]) -> list[bytes]:
    """Apply the merges in the order learned (GPT-2's rule) to one pre-token."""
    rank = {m: i for i, m in enumerate(merges)}
    seq = [bytes([b]) for b in piece]
    while len(seq) > 1:
        cands = [(rank[p], p) for p in zip(seq, seq[1:]) if p in rank]
        if not cands:
            break
        seq = _merge(seq, min(cands)[1])
    return seq


def bpe_encode(text: str, merges: list[tuple[bytes, bytes]]) -> list[bytes]:
    cache: dict[bytes, list[bytes]] = {}  # words repeat: encode each distinct pre-token once
    out = []
    for piece in pretokens(text):
        if piece not in cache:
            cache[piece] = bpe_encode_piece(piece, merges)
        out += cache[piece]
    return out


# -- reuse of trained networks: transfer and warm start ----------------------------------------------


def mlp_stack(seeds: list[int], sizes: tuple[int, ...]) -> list[torch.Tensor]:
    """ReLU MLP weights for R runs, He init, zero biases: [W1 (R, in, h), b1 (R, 1, h), ...]."""
    return stacked.interleave(*stacked.scheme_weights(seeds, sizes, "he"))


def mlp_forward(params: list[torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """x (R, N, in) -> logits (R, N, out)."""
    return stacked.forward(x, params[0::2], params[1::2], "relu")


def summed_run_losses(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The value of ``stacked.batch_loss`` (the sum over runs of each run's mean cross-entropy) by way of
    ``stacked.run_losses``, whose classes lie on dim 1: about 4 times faster to compute with its gradient on
    large batches.  The gradients can differ from batch_loss's in the last bits, so a measurement registered
    with batch_loss keeps it (they move the curves by float rounding, not in distribution)."""
    return stacked.run_losses(logits, y).sum()


def batch_loss(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``stacked.batch_loss``, value and gradient the same bit for bit, with the cross-entropy of
    ``generalisation.summed_cross_entropy`` (a faster log-softmax where the CPU allows it)."""
    return summed_cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1)) / logits.shape[1]


TRAIN_ROWS = 8000  # training rows (runs x examples) per slice of runs that :func:`train_mlp` trains at once


@runtime.unfilled_allocations()  # every kernel writes what it allocates: the same values without the NaN fill
def train_mlp(
    params: list[torch.Tensor],
    x: torch.Tensor,
    y: torch.Tensor,
    steps: int,
    lr: float,
    x_test: torch.Tensor | None = None,
    y_test: torch.Tensor | None = None,
    momentum: float = 0.9,
    loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = batch_loss,
) -> tuple[list[torch.Tensor], np.ndarray]:
    """Full-batch SGD with momentum on every run at once; x (R, N, in), y (R, N).

    ``loss``: the stacked loss, logits (R, N, classes) and y -> scalar (``summed_run_losses``: the same sum,
    faster).  Returns the trained weights and the test accuracy after every step, (steps, R) (empty without a
    test set).

    Runs share nothing, so they train in slices of about ``TRAIN_ROWS`` training rows, one slice after
    another: every run's numbers are the same bit for bit (a batched product computes each run alone), and
    a slice's activations stay in the cache where the whole stack's would stream through memory at every step.
    """
    per = max(1, TRAIN_ROWS // x.shape[1])
    if per >= x.shape[0]:
        return _train_mlp(params, x, y, steps, lr, x_test, y_test, momentum, loss)
    parts = [
        _train_mlp(
            [p[i : i + per] for p in params],
            x[i : i + per],
            y[i : i + per],
            steps,
            lr,
            None if x_test is None else x_test[i : i + per],
            None if y_test is None else y_test[i : i + per],
            momentum,
            loss,
        )
        for i in range(0, x.shape[0], per)
    ]
    acc = np.concatenate([a for _, a in parts], axis=1) if x_test is not None else np.array([])
    return [torch.cat([w[j] for w, _ in parts]) for j in range(len(params))], acc


def _minus_mean_weight(n: int, dtype: torch.dtype) -> float:
    """-1/n in ``dtype``, as autograd hands each target entry of a mean (or of a sum divided by n) of n cross-entropies."""
    return float(-(torch.ones((), dtype=dtype) / n))


def _summed_run_losses_grad(z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """d summed_run_losses / d z for logits z (R, N, classes), written out: the log-softmax over the transposed
    logits, -1/N at each target (nll_loss's backward of the mean) and log-softmax's own backward; the same kernels,
    values and layout (a transposed view) as autograd's, without its graph or the loss value nobody reads."""
    out = torch._log_softmax(z.transpose(1, 2), 1, False)
    g = torch.zeros_like(out).scatter_(1, y.unsqueeze(1), _minus_mean_weight(z.shape[1], z.dtype))
    return torch._log_softmax_backward_data(g, out, 1, z.dtype).transpose(1, 2)


def _loss_grad(loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """d loss / d logits as autograd hands it on: written out for this module's two losses (``batch_loss`` only
    where its fast log-softmax runs), by autograd for any other."""
    if loss is summed_run_losses:
        return _summed_run_losses_grad
    if loss is batch_loss and _LANES:
        return batch_loss_grad

    def by_autograd(z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        z = z.detach().requires_grad_(True)
        return torch.autograd.grad(loss(z, y), z)[0]

    return by_autograd


def _train_mlp(params, x, y, steps, lr, x_test, y_test, momentum, loss) -> tuple[list[torch.Tensor], np.ndarray]:
    """:func:`train_mlp` on one slice of runs.  The MLP's backward pass is written out: the products and
    ReLU masks autograd would run (``BaddbmmBackward``, ``ReluBackward``), the same values bit for bit,
    without its bookkeeping and with the ReLU applied in place; the loss's gradient by :func:`_loss_grad`.
    The step is ``torch.optim.SGD``'s (heavy ball: v = g at the first step, then v = momentum v + g;
    w -= lr v), its per-tensor operations applied to all tensors at once."""
    ps = [p.detach().clone() for p in params]
    W, b = ps[0::2], ps[1::2]
    loss_grad = _loss_grad(loss)
    vel = None
    acc = []
    for _ in range(steps):
        hs, z = stacked.mlp_inputs(x, W, b)
        grads = stacked.interleave(*stacked.mlp_grads(hs, W, loss_grad(z, y)))  # loss_grad: d loss / d logits, as autograd's
        if not momentum:
            vel = grads
        elif vel is None:
            vel = [t.clone() for t in grads]
        else:
            torch._foreach_mul_(vel, momentum)
            torch._foreach_add_(vel, grads, alpha=1)
        torch._foreach_add_(ps, vel, alpha=-lr)
        if x_test is not None:
            acc.append(stacked.mlp_accuracy(x_test, W, b, y_test).numpy())
    return [p.detach() for p in ps], np.array(acc)


def steps_to(acc: np.ndarray, target: float) -> np.ndarray:
    """First step (1-based) at which each run's accuracy reaches ``target``: acc (steps, R) -> (R,);
    a run that never reaches it counts as steps + 1 (a lower bound on its true count)."""
    hit = acc >= target
    return np.where(hit.any(0), hit.argmax(0) + 1, acc.shape[0] + 1).astype(float)
