"""Reinforcement learning: epsilon-greedy's action frequencies, Q-learning's convergence to Q*, exploration."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from harness.evidence import assert_supported
from harness.lab import reinforcement as lab

SIZE, GAMMA, ALPHA, FINAL_EPS, STEPS = 4, 0.9, 0.5, 0.1, 30_000
FEW_STEPS = 900  # the 'too few steps' control: 3% of the budget
CHECKPOINTS = (300, FEW_STEPS, 3_000, 10_000, STEPS)


@pytest.mark.claim("epsilon-greedy-greedy-probability")
@pytest.mark.parametrize("eps,actions", [(0.1, 4), (0.05, 18), (1.0, 4)], ids=["e0.1-a4", "e0.05-a18", "e1-a4"])
def test_epsilon_greedy_takes_the_greedy_action_with_1_minus_e_plus_e_over_a(eps, actions, evidence, profile):
    n = profile.pick(quick=100_000, default=200_000, full=1_000_000)
    k = np.array([lab.greedy_frequency(s, eps, actions, n) for s in evidence.seeds])
    freq = k / n
    right, literal = 1 - eps + eps / actions, 1 - eps
    unit = eps / actions
    setting = {"epsilon": eps, "actions": actions, "draws": n}
    evidence.record("frequency of the greedy action", freq, unit="share", setting=setting)
    p_right = [stats.binomtest(int(x), n, right).pvalue for x in k]
    p_literal = [stats.binomtest(int(x), n, literal).pvalue if literal > 0 else 0.0 for x in k]
    evidence.record(f"binomial test p against 1 - e + e/|A| = {right:.4f} (two-sided)", p_right, unit="p", setting=setting)
    evidence.record(f"binomial test p against 1 - e = {literal:.4f} (two-sided)", p_literal, unit="p", setting=setting)
    evidence.bound(
        "matches-formula",
        np.abs(freq - right) / unit,
        np.abs(freq - literal) / unit,
        label=f"e = {eps:g}, |A| = {actions}",
        names=("1 - e + e/|A|", "1 - e (literal)"),
    )
    evidence.note(
        f"e = {eps:g}, {actions} actions: the greedy action was taken in {freq.mean():.5f} of {n:,} draws per seed "
        f"(1 - e + e/|A| = {right:.5f}; the text's 1 - e = {literal:.5f}). Exact binomial tests: smallest p against "
        f"1 - e + e/|A| {min(p_right):.2g}, largest p against 1 - e {max(p_literal):.2g}. The text's '1 - e' is the "
        "exploit branch only; the random branch picks the greedy action too, 1 time in |A|."
    )
    assert_supported(evidence)


def agents(seeds: tuple, greedy_too: bool, placebo_seeds: tuple = ()) -> dict:
    """Q-learning runs, all at once: the epsilon-greedy agents (first R), if asked purely greedy agents
    (next R), then epsilon-greedy agents on ``placebo_seeds`` (the placebo of the contrast, last)."""
    R = len(seeds)
    run = list(seeds) * (2 if greedy_too else 1) + list(placebo_seeds)
    eps = (FINAL_EPS,) * R + ((0.0,) * R if greedy_too else ()) + (FINAL_EPS,) * len(placebo_seeds)
    return lab.q_learning(run, SIZE, GAMMA, eps, ALPHA, STEPS, CHECKPOINTS)


@pytest.mark.claim("q-learning-reaches-bellman-optimum")
def test_q_learning_converges_to_the_value_iteration_optimum(evidence):
    R = len(evidence.seeds)
    r = agents(tuple(evidence.seeds), greedy_too=False)
    err = r["error"][:R]
    final, early = err[:, -1], err[:, CHECKPOINTS.index(FEW_STEPS)]
    setting = {"grid": f"{SIZE}x{SIZE}", "gamma": GAMMA, "alpha": ALPHA, "epsilon": f"1 -> {FINAL_EPS}", "steps": STEPS}
    evidence.record(f"max |Q - Q*| after {STEPS} steps", final, unit="reward", setting=setting)
    evidence.record(f"max |Q - Q*| after {FEW_STEPS} steps", early, unit="reward", setting=setting)
    evidence.record("share of states whose greedy action is optimal", r["greedy_optimal"][:R], unit="share", setting=setting)
    evidence.bound("converges-to-q-star", final, early, label=f"{SIZE}x{SIZE} grid", names=(f"{STEPS} steps", f"{FEW_STEPS} steps"))
    q_star = r["q_star"]
    evidence.note(
        f"Q* from value iteration: V*(start corner) = {q_star.max(axis=1)[0]:.3f}, largest Q* = {q_star.max():.2f}; "
        f"an untrained Q = 0 is off by {q_star.max():.2f}. After {STEPS:,} steps max |Q - Q*| = {final.mean():.2g} "
        f"(largest seed {final.max():.2g}); after {FEW_STEPS} steps {early.mean():.2f}. The greedy policy of the learned "
        f"Q is optimal in {r['greedy_optimal'][:R].mean():.0%} of states. Mnih et al. 2013 report game scores, not Q errors."
    )
    evidence.plot(
        "max |Q - Q*| during Q-learning",
        list(CHECKPOINTS),
        {"epsilon-greedy (1 -> 0.1)": err.tolist()},
        xlabel="steps",
        ylabel="max |Q - Q*|",
        log_x=True,
        log_y=True,
    )
    assert_supported(evidence)


@pytest.mark.claim("epsilon-greedy-explores")
def test_epsilon_greedy_explores_where_greedy_does_not(evidence):
    R = len(evidence.seeds)
    r = agents(tuple(evidence.seeds), greedy_too=True, placebo_seeds=tuple(evidence.placebo_seeds))
    eps_err, greedy_err, placebo = r["error"][:R, -1], r["error"][R : 2 * R, -1], r["error"][2 * R :, -1]
    setting = {"grid": f"{SIZE}x{SIZE}", "steps": STEPS}
    evidence.record("max |Q - Q*|, epsilon-greedy agent", eps_err, unit="reward", setting=setting)
    evidence.record("max |Q - Q*|, greedy agent", greedy_err, unit="reward", setting=setting)
    evidence.record("share of state-action pairs ever tried, epsilon-greedy", r["visited"][:R], unit="share", setting=setting)
    evidence.record("share of state-action pairs ever tried, greedy", r["visited"][R : 2 * R], unit="share", setting=setting)
    evidence.record("max |Q - Q*|, epsilon-greedy agent, placebo seeds", placebo, unit="reward", setting=setting)
    evidence.paired(
        "greedy-agent-misses-q-star", greedy_err, eps_err, placebo=placebo, label=f"{SIZE}x{SIZE} grid", names=("greedy", "epsilon-greedy")
    )
    evidence.note(
        f"After {STEPS:,} steps the greedy agents have tried {r['visited'][R : 2 * R].mean():.0%} of the state-action pairs "
        f"(epsilon-greedy: {r['visited'][:R].mean():.0%}) and are off Q* by up to {greedy_err.mean():.2f} "
        f"(epsilon-greedy: {eps_err.mean():.2g}); their greedy action is optimal in {r['greedy_optimal'][R : 2 * R].mean():.0%} of "
        f"states (epsilon-greedy: {r['greedy_optimal'][:R].mean():.0%}). Both start episodes in random states, so the "
        "greedy agents do visit every state; what they miss is the actions they never retry."
    )
    evidence.plot(
        "max |Q - Q*| during Q-learning",
        list(CHECKPOINTS),
        {"epsilon-greedy (1 -> 0.1)": r["error"][:R].tolist(), "greedy (epsilon 0)": r["error"][R : 2 * R].tolist()},
        xlabel="steps",
        ylabel="max |Q - Q*|",
        log_x=True,
        log_y=True,
    )
    assert_supported(evidence)
