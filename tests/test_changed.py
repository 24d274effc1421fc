"""--claims-changed reruns only the claims whose fingerprint changed and keeps the others, marked."""

from __future__ import annotations

from conftest import CATALOGUE


def test_only_a_changed_claim_is_rerun_and_the_rest_is_kept(project):
    project.write().run()
    first = {c["id"]: c for c in project.results()["claims"]}
    assert all(c.get("fingerprint") for c in first.values())

    result = project.run("--claims-changed")
    assert "0 claim(s) changed" in result.stdout.str()
    again = {c["id"]: c for c in project.results()["claims"]}
    assert all(c.get("from_earlier_run") for c in again.values()), "unchanged claims are kept, marked with their run"
    assert again["fox-is-quick"]["cases"] == first["fox-is-quick"]["cases"]

    # editing one claim's catalogue entry reruns that claim alone
    project.write(catalogue=CATALOGUE.replace('reason = "a test bound"', 'reason = "a test bound, reworded"'))
    result = project.run("--claims-changed")
    assert "1 claim(s) changed" in result.stdout.str()
    third = {c["id"]: c for c in project.results()["claims"]}
    assert not third["gradients-fade"].get("from_earlier_run") and third["gradients-fade"]["verdict"] == "supported"
    assert third["fox-is-quick"].get("from_earlier_run")
    assert result.parseoutcomes().get("passed") == 1


def test_another_profile_or_seed_reruns_everything(project):
    project.write().run()
    result = project.run("--claims-changed", "--claims-seed", "3")
    assert "every claim runs" in result.stdout.str()
    assert not any(c.get("from_earlier_run") for c in project.results()["claims"])
