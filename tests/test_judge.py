"""Statistics and the judge on synthetic inputs: each rule accepts, rejects, and rejects its swap."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sps

from harness import judge as J
from harness import stats
from harness.catalogue import Hypothesis
from harness.results.aggregate import aggregate


def hyp(comparison="paired", direction="greater", threshold=0.5, test="t", role="evidence"):
    return Hypothesis(
        name="h",
        metric="m",
        unit="u",
        comparison=comparison,
        direction=direction,
        threshold=threshold,
        reason="test",
        test=test,
        role=role,
    )


def test_one_sided_p_follows_the_direction():
    x = np.array([1.0, 1.2, 0.9, 1.1, 1.05])
    assert stats.one_sided_p(x, "greater") < 0.001
    assert stats.one_sided_p(x, "less") > 0.999
    assert stats.one_sided_p(x, "greater", test="wilcoxon") == pytest.approx(1 / 32)


def test_a_sample_without_spread_is_exact():
    assert stats.one_sided_p(np.array([2.0, 2.0, 2.0]), "greater") == 0.0
    assert stats.one_sided_p(np.array([-2.0]), "greater") == 1.0


def test_holm_matches_the_textbook_example():
    # p = (0.01, 0.04, 0.03, 0.005): sorted 0.005*4=0.02, 0.01*3=0.03, 0.03*2=0.06, 0.04*1 -> max(0.06, 0.04)=0.06
    assert stats.holm([0.01, 0.04, 0.03, 0.005]).tolist() == pytest.approx([0.03, 0.06, 0.06, 0.02])


def test_bootstrap_interval_contains_the_mean_and_is_reproducible():
    x = np.random.default_rng(0).normal(1, 1, 20)
    lo, hi = stats.bootstrap_ci(x, 0.9, seed=3)
    assert lo < x.mean() < hi
    assert (lo, hi) == stats.bootstrap_ci(x, 0.9, seed=3)


T = np.array([3.0, 3.1, 2.9, 3.2, 3.05])
C = np.array([1.0, 1.1, 0.9, 1.0, 1.2])
C_AGAIN = np.array([1.1, 0.9, 1.0, 1.15, 1.0])  # the contrast measured again on other seeds: no effect of itself
NULL = C_AGAIN
T_AGAIN = np.array([3.1, 2.95, 3.05, 3.0, 3.15])  # the treatment's values on other seeds, for comparisons where T is the contrast


def test_a_rule_that_finds_an_effect_of_a_condition_on_itself_is_an_error():
    # the 'placebo' (the contrast on other seeds) is as far from the contrast as the treatment: seed noise
    # is as large as the claimed effect, so the rule cannot tell them apart
    j = J.judge_paired(hyp(), 0.05, T, C, placebo=T + 0.01)
    assert j.verdict == J.ERROR and "placebo accepted" in j.reason
    assert j.placebo["verdict"] == J.SUPPORTED and j.effect == pytest.approx(float(np.mean(T - C)))


def test_the_placebo_is_one_two_sided_control_at_alpha():
    # a placebo has no direction: it is judged both ways round at alpha / 2 each, so pure seed noise is
    # accepted in alpha of runs, not 2 alpha.  This one differs from its contrast with a one-sided p of
    # about 0.03: between alpha / 2 and alpha, chance at the control's level, not an error
    c = np.zeros(6)
    placebo = np.array([0.5, 1.5, -0.3, 1.2, 0.1, 0.9])
    assert 0.025 < sps.ttest_1samp(placebo, 0.0, alternative="greater").pvalue < 0.05
    j = J.judge_paired(hyp(threshold=0.0), 0.05, c + 5.0 + placebo[::-1] / 10, c, placebo=placebo)
    assert j.verdict == J.SUPPORTED and j.placebo["verdict"] != J.SUPPORTED and j.placebo["alpha"] == 0.025
    stronger = J.judge_paired(hyp(threshold=0.0), 0.05, c + 5.0 + placebo[::-1] / 10, c, placebo=placebo + 0.5)
    assert stronger.verdict == J.ERROR and "placebo accepted" in stronger.reason


def test_a_paired_judgement_without_a_placebo_is_refused():
    with pytest.raises(J.JudgeError, match="needs a placebo"):
        J.judge_paired(hyp(), 0.05, T, C, placebo=None)


def test_a_deterministic_contrast_gives_a_null_placebo():
    j = J.judge_paired(hyp(), 0.05, T, C, placebo=C)
    assert j.verdict == J.SUPPORTED and j.placebo["effect"] == 0.0 and j.placebo["verdict"] == J.NOT_SUPPORTED


def test_sanity_checks_never_count_as_evidence():
    sanity = J.judge_bound(hyp("bound", "less", 1.0, role="sanity"), 0.05, [0.1, 0.2, 0.3], [5, 6, 7])
    broken = J.judge_bound(hyp("bound", "less", 1.0, role="sanity"), 0.05, [5, 6, 7], [9, 9, 9])
    evidence = J.judge_paired(hyp(), 0.05, T, C, placebo=NULL)
    assert J.combine([sanity])[0] == J.NOT_MEASURED
    assert J.combine([sanity, evidence])[0] == J.SUPPORTED
    assert J.combine([broken, evidence])[0] == J.ERROR


def test_paired_supported_with_a_null_placebo_and_its_swap_rejected():
    j = J.judge_paired(hyp(), 0.05, T, C, placebo=C_AGAIN)
    assert j.verdict == J.SUPPORTED
    assert j.placebo["verdict"] != J.SUPPORTED and j.swap_check == J.NOT_SUPPORTED
    swapped = J.judge_paired(hyp(), 0.05, C, T, placebo=T_AGAIN)
    assert swapped.verdict == J.NOT_SUPPORTED


def test_paired_significantly_below_minimum_effect_is_not_supported():
    j = J.judge_paired(hyp(threshold=5.0), 0.05, T, C, placebo=NULL)
    assert j.verdict == J.NOT_SUPPORTED and "significantly below the minimum effect" in j.reason


def test_paired_below_minimum_effect_without_certainty_is_inconclusive():
    rng = np.random.default_rng(3)
    d = rng.normal(1.0, 0.6, 6)  # significantly > 0, mean just under the minimum, not significantly under it
    j = J.judge_paired(hyp(threshold=float(d.mean()) + 0.05), 0.05, d, np.zeros(6), placebo=np.zeros(6))
    assert j.verdict == J.INCONCLUSIVE and "minimum effect" in j.reason


def test_paired_below_minimum_effect_swapped_is_not_supported_either():
    j = J.judge_paired(hyp(threshold=5.0), 0.05, C, T, placebo=T_AGAIN)
    assert j.verdict == J.NOT_SUPPORTED and "wrong way" in j.reason


def test_paired_noisy_effect_is_inconclusive():
    rng = np.random.default_rng(1)
    j = J.judge_paired(hyp(threshold=0.0), 0.05, rng.normal(0.1, 3, 4) + 0.5, rng.normal(0, 3, 4), placebo=rng.normal(0, 3, 4))
    assert j.verdict in (J.INCONCLUSIVE, J.NOT_SUPPORTED)


def test_paired_less_direction():
    j = J.judge_paired(hyp(direction="less", threshold=1.0), 0.05, C, T, placebo=T_AGAIN)
    assert j.verdict == J.SUPPORTED and j.effect < -1


def test_bound_rule_and_its_control():
    j = J.judge_bound(hyp("bound", "less", 1.0), 0.05, [0.1, 0.2, 0.3], [5, 6, 7])
    assert j.verdict == J.SUPPORTED and j.control["verdict"] == J.NOT_SUPPORTED
    flipped = J.judge_bound(hyp("bound", "less", 1.0), 0.05, [5, 6, 7], [0.1, 0.2, 0.3])
    assert flipped.verdict == J.NOT_SUPPORTED


def test_a_bound_is_refuted_only_when_significantly_missed():
    # a mean short of the bound whose spread still reaches past it is inconclusive, not a measured refutation
    short = J.judge_bound(hyp("bound", "greater", 0.585), 0.05, [0.74, 0.35, 0.49, 0.68, 0.0, 0.53], [0.0] * 6)
    assert short.verdict == J.INCONCLUSIVE and "not significantly" in short.reason
    missed = J.judge_bound(hyp("bound", "greater", 0.585), 0.05, [0.26, 0.20, 0.31, 0.25, 0.29, 0.22], [0.0] * 6)
    assert missed.verdict == J.NOT_SUPPORTED and "significantly" in missed.reason
    # a deterministic value (no spread) at or past the bound is decided: it has no sampling error
    assert J.judge_bound(hyp("bound", "greater", 1.0), 0.05, [1.0], [0.0]).verdict == J.NOT_SUPPORTED


def test_a_rule_that_accepts_its_control_is_an_error():
    # a bound so loose that the contrast passes too: the rule cannot discriminate
    j = J.judge_bound(hyp("bound", "less", 100.0), 0.05, [0.1, 0.2, 0.3], [5, 6, 7])
    assert j.verdict == J.ERROR and "negative control accepted" in j.reason


def test_family_applies_holm_and_states_the_scope():
    settings = {f"L{i}": np.array([0.1, 0.2, 0.15, 0.12]) + (0 if i < 3 else 2) for i in range(1, 6)}
    contrast = {k: v + 10 for k, v in settings.items()}
    j = J.judge_family(hyp("family", "less", 1.0), 0.05, settings, contrast)
    assert j.verdict == J.NOT_SUPPORTED
    assert j.scope.startswith("holds for the first 2 of 5 settings (L1 to L2)")
    raw = [s["p"] for s in j.settings]
    assert [s["p_adjusted"] for s in j.settings] == pytest.approx(stats.holm(raw).tolist())


def test_non_finite_values_are_refused_with_the_hypothesis_named():
    with pytest.raises(J.JudgeError, match="hypothesis 'h'.*non-finite"):
        J.judge_paired(hyp(), 0.05, [1.0, np.inf], [0.0, 0.0], placebo=[0.0, 0.0])


def test_wrong_rule_for_the_declared_comparison_is_refused():
    with pytest.raises(J.JudgeError, match="declared 'paired', not 'bound'"):
        J.judge_bound(hyp(), 0.05, [1.0], [2.0])


def test_combine_needs_every_judgement():
    ok = J.judge_paired(hyp(), 0.05, T, C, placebo=NULL)
    weak = J.judge_paired(hyp(threshold=5.0), 0.05, T, C, placebo=NULL)
    assert J.combine([ok])[0] == J.SUPPORTED
    assert J.combine([ok, weak])[0] == J.NOT_SUPPORTED
    assert J.combine([])[0] == J.ERROR


# -- aggregation of cases into a claim verdict ------------------------------------------------------

CLAIM = {"kind": "empirical", "expected": "supported", "expected_reference": "", "reason": ""}
DISPUTED = CLAIM | {"expected": "disputed", "expected_reference": "Santurkar et al. 2018"}


def case(verdict, expected="supported", name="c"):
    return {"verdict": verdict, "expected": expected, "case": name, "test": "t", "reason": f"{name} {verdict}"}


@pytest.mark.parametrize(
    "claim, cases, verdict, as_expected",
    [
        (CLAIM, [case("supported"), case("supported")], "supported", True),
        (CLAIM, [case("supported"), case("inconclusive")], "inconclusive", False),
        (CLAIM, [case("inconclusive"), case("not-supported")], "inconclusive", False),
        # held somewhere and measured not to hold elsewhere: in part, whichever way the undecided case goes
        (CLAIM, [case("supported"), case("not-supported", "refuted"), case("inconclusive", "disputed")], "supported-in-part", True),
        (CLAIM, [case("supported"), case("not-supported", "refuted"), case("inconclusive", "refuted")], "supported-in-part", False),
        (CLAIM, [case("supported"), case("error")], "error", False),
        (CLAIM, [case("skipped"), case("skipped")], "skipped", True),
        (CLAIM, [case("supported"), case("skipped")], "supported", True),
        (CLAIM, [case("not-measured")], "not-measured", True),
        (CLAIM, [case("supported"), case("not-supported", "refuted", "tanh")], "supported-in-part", True),
        (CLAIM, [case("supported"), case("not-supported", "supported", "tanh")], "supported-in-part", False),
        (CLAIM, [case("not-supported", "refuted")], "known-refuted", True),
        (CLAIM, [case("not-supported")], "not-supported", False),
        # a refutation must be measured: an inconclusive case declared refuted is inconclusive and fails the run
        (CLAIM, [case("inconclusive", "refuted")], "inconclusive", False),
        (CLAIM, [case("supported", "refuted")], "supported", False),
        # disputed is an annotation: the measured verdict shows, and the run never fails on it
        (DISPUTED, [case("not-supported", "disputed")], "not-supported", True),
        (DISPUTED, [case("supported", "disputed")], "supported", True),
        (DISPUTED, [case("inconclusive", "disputed")], "inconclusive", True),
        (CLAIM, [], "not-run", True),
    ],
)
def test_aggregate(claim, cases, verdict, as_expected):
    got = aggregate(claim, cases)
    assert (got.verdict, got.as_expected) == (verdict, as_expected), got.reason


def test_aggregate_states_where_a_claim_holds_in_part():
    got = aggregate(CLAIM, [case("supported", name="relu"), case("not-supported", "refuted", "tanh")])
    assert got.scope == "holds in relu; not in tanh" and "out of scope as declared" in got.reason


def test_a_disputed_claim_carries_its_reference_and_a_refutation_not_measured_says_so():
    assert aggregate(DISPUTED, [case("not-supported", "disputed")]).disputed == "Santurkar et al. 2018"
    got = aggregate(CLAIM | {"expected_reference": "Krizhevsky 2012"}, [case("inconclusive", "refuted", "tanh")])
    assert got.declared.startswith("declared refuted (Krizhevsky 2012) but not measured so: tanh")


def test_each_judgement_states_its_power_and_an_inconclusive_one_how_many_seeds_would_settle_it():
    j = J.judge_paired(hyp(threshold=0.0), 0.05, [0.3, -0.1, 0.5, 0.0], [0.0, 0.0, 0.0, 0.0], placebo=[0.0, 0.0, 0.0, 0.0])
    assert j.verdict == J.INCONCLUSIVE
    sd = float(np.std([0.3, -0.1, 0.5, 0.0], ddof=1))
    assert j.detectable == pytest.approx(stats.detectable_effect(sd, 4, 0.05)) and j.detectable > j.effect
    assert j.seeds_needed is not None and j.seeds_needed > 4
    assert stats.detectable_effect(sd, j.seeds_needed, 0.05) <= j.effect < stats.detectable_effect(sd, j.seeds_needed - 1, 0.05)
    sure = J.judge_paired(hyp(), 0.05, T, C, placebo=NULL)
    assert sure.seeds_needed is None and 0 < sure.detectable < sure.effect
