"""Reinforcement learning: epsilon-greedy selection, value iteration and tabular Q-learning.

On a deterministic grid world (Watkins 1989; the Bellman target of Mnih et al. 2013).  Pure
functions that return numbers and arrays.
"""

from __future__ import annotations

import numpy as np

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


def value_iteration(nxt: np.ndarray, reward: np.ndarray, terminal: np.ndarray, gamma: float, tol: float = 1e-12) -> np.ndarray:
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


def epsilon_greedy_from(q: np.ndarray, eps: float | np.ndarray, tie: np.ndarray, coin: np.ndarray, random_action: np.ndarray) -> np.ndarray:
    """``epsilon_greedy`` with its random numbers given: tie (n, A) and coin (n,) uniform on [0, 1),
    random_action (n,) uniform over the A actions (so a loop can draw them in bulk)."""
    best = q == q.max(axis=1, keepdims=True)
    greedy = np.argmax(best * (tie + 1e-12), axis=1)  # a random one of the tied maxima
    return np.where(coin < eps, random_action, greedy)


def q_learning(
    seeds: list[int],
    size: int,
    gamma: float,
    eps: tuple[float, ...],
    alpha: float,
    steps: int,
    checkpoints: tuple[int, ...],
    anneal: float = 0.1,
    max_episode: int = 100,
) -> dict[str, np.ndarray]:
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
            eps_t = np.where(final_eps == 0, 0.0, np.maximum(final_eps, 1 - (1 - final_eps) * ts / max(1.0, anneal * steps)))  # (chunk, R)
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
    return {
        "error": np.stack(errors, axis=1),
        "greedy_optimal": optimal,
        "visited": visits[:, live].reshape(R, -1).mean(axis=1),
        "q_star": q_star,
    }


def greedy_frequency(seed: int, eps: float, actions: int, n: int) -> int:
    """How often ``epsilon_greedy`` picks the greedy action in n draws on one random row of values."""
    rng = np.random.default_rng([seed, 601])
    q = rng.standard_normal(actions)
    picked = 0
    for start in range(0, n, 100_000):  # chunks keep memory small
        m = min(100_000, n - start)
        picked += int((epsilon_greedy(np.broadcast_to(q, (m, actions)), eps, rng) == np.argmax(q)).sum())
    return picked
