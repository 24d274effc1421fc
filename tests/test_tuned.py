"""Fair rates: a choice made on a declared grid is recorded, and a best value on the grid's edge
makes the case an error (the grid is too narrow: the best value may lie outside it)."""

from __future__ import annotations

import pytest

from harness.evidence import tuning
from harness.judge import JudgeError

RATES = [0.01, 0.03, 0.1, 0.3, 1.0]


def test_an_interior_best_rate_is_fair():
    t = tuning("rate", RATES, 0.1)
    assert not t["at_edge"] and t["reason"] == "" and t["best"] == 0.1


@pytest.mark.parametrize("best", [0.01, 1.0])
def test_a_best_rate_on_either_end_of_its_grid_is_flagged_with_what_to_do(best):
    t = tuning("rate, plain net", RATES, best)
    assert t["at_edge"]
    assert "widen the grid" in t["reason"] and "rate, plain net" in t["reason"]
    assert ("lowest" if best == 0.01 else "highest") in t["reason"]


def test_a_two_point_grid_always_puts_the_pick_on_an_edge():
    assert tuning("rate", [0.01, 0.03], 0.01)["at_edge"] and tuning("rate", [0.01, 0.03], 0.03)["at_edge"]


def test_a_one_point_grid_is_no_tuning_and_no_edge():
    assert not tuning("rate", [0.1], 0.1)["at_edge"]


def test_per_seed_picks_make_an_edge_when_most_of_them_sit_on_one():
    t = tuning("rate", RATES, [0.1, 0.1, 1.0, 0.3])
    assert not t["at_edge"] and t["seeds_at_edge"] == 1 and t["per_seed"]
    t = tuning("rate", RATES, [1.0, 1.0, 0.1])
    assert t["at_edge"] and "2 of 3 picks" in t["reason"]
    assert not tuning("rate", RATES, [1.0, 0.01, 0.1, 0.3])["at_edge"], "half on an edge is not most"
    spread = [(100, 0.1), (100, 0.1), (10, 0.1), (10, 0.1)]  # the mode ties, the first of the tie on an edge
    assert not tuning("(C, gamma)", [(c, g) for c in (1, 10, 100) for g in (0.03, 0.1, 0.3)], spread)["at_edge"]


def test_a_multi_axis_grid_is_judged_per_axis():
    grid = [(h, lr) for h in (16, 64, 256) for lr in RATES]
    assert not tuning("(hidden, rate)", grid, (64, 0.1))["at_edge"]
    t = tuning("(hidden, rate)", grid, (64, 1.0))
    assert t["at_edge"] and "axis 2 at its highest" in t["reason"]
    assert tuning("(hidden, rate)", grid, [(16, 0.1), (16, 0.3)])["at_edge"], "per-seed tuples, all on axis 1's edge"


def test_a_flat_grid_has_no_best_value_and_no_edge_but_only_when_the_call_says_how_flat():
    chance = [2.3026, 2.3025, 2.3026, 2.3027]
    t = tuning("rate", RATES[:4], 0.01, scores=chance, flat_within=0.01)
    assert t["flat"] and not t["at_edge"]
    assert tuning("rate", RATES[:4], 0.01, scores=chance)["at_edge"], "without flat_within the edge rule applies"
    assert tuning("rate", RATES[:4], 0.01, scores=[1.0, 1.5, 2.0, 2.3], flat_within=0.01)["at_edge"], "a real slope is not flat"
    with pytest.raises(JudgeError, match="needs the grid's scores"):
        tuning("rate", RATES, 0.1, flat_within=0.01)


def test_an_edge_pick_tied_with_an_inner_value_is_no_edge_but_a_strictly_better_one_is():
    t = tuning("rate", RATES[:4], 0.01, scores=[1.0, 1.0, 0.97, 0.9], ties_within=0.0)
    assert not t["at_edge"] and t["tied_inside"], "the best accuracy is reached inside the grid too"
    assert tuning("rate", RATES[:4], 0.01, scores=[1.0, 0.99, 0.97, 0.9], ties_within=0.0)["at_edge"]


def test_a_pick_off_the_declared_grid_is_a_clear_error():
    with pytest.raises(JudgeError, match="not on its declared grid"):
        tuning("rate", RATES, 0.2)


def test_edge_ok_keeps_the_flag_and_the_reason_visible():
    t = tuning("tree depth", [4, 8, "unlimited"], "unlimited", edge_ok="the unlimited tree is the deepest")
    assert t["at_edge"] and t["edge_ok"]


def test_a_case_whose_best_rate_sits_on_the_grid_edge_is_an_error_in_the_run(project):
    from conftest import TESTS

    edgy = TESTS.replace(
        '    evidence.bound("small",',
        '    evidence.tuned("rate", [0.01, 0.1, 1.0], 1.0, scores=[0.3, 0.2, 0.1])\n    evidence.bound("small",',
    ).replace(
        "    evidence.paired(",
        '    evidence.tuned("rate", [0.01, 0.1, 1.0], 0.1)\n    evidence.paired(',
    )
    result = project.write(tests=edgy).run()
    assert result.ret == 1
    result.stdout.fnmatch_lines(["*claim 'gradients-fade' is ERROR*best value 1 lies on the edge*widen the grid*"])
    by_id = {c["id"]: c for c in project.results()["claims"]}
    assert by_id["fox-is-quick"]["verdict"] == "supported", "an interior best rate changes nothing"
    fade = by_id["gradients-fade"]
    assert fade["verdict"] == "error" and "widen the grid" in fade["verdict_reason"]
    assert fade["cases"][0]["evidence"]["tuned"][0]["at_edge"] is True
