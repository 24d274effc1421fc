"""Run history, merging runs from several machines, and the stability analysis."""

from __future__ import annotations

import copy
import json

import pytest

from harness.__main__ import main
from harness.results import history, merge, stability, validate


@pytest.fixture(scope="module")
def run(tmp_path_factory, pytestconfig):
    """One real results file of the miniature project (see conftest), produced once for this module."""
    import subprocess
    import sys
    import textwrap

    from conftest import CATALOGUE, DOC, TESTS

    root = tmp_path_factory.mktemp("mini")
    (root / "fixtures" / "sources").mkdir(parents=True)
    (root / "fixtures" / "sources" / "doc.txt").write_text(DOC)
    (root / "claims" / "catalogue").mkdir(parents=True)
    (root / "claims" / "catalogue" / "demo.toml").write_text(textwrap.dedent(CATALOGUE))
    (root / "claims" / "test_demo.py").write_text(textwrap.dedent(TESTS))
    (root / "conftest.py").write_text('pytest_plugins = ["harness.plugin"]\n')
    (root / "pytest.ini").write_text("[pytest]\n")
    subprocess.run(
        [sys.executable, "-m", "pytest", "claims", "--claims-profile", "quick", "-p", "no:cacheprovider", "-q", "-p", "no:randomly"],
        cwd=root,
        capture_output=True,
        check=False,
    )
    return json.loads((root / "reports" / "claims.json").read_text())


def _skipped(data: dict, cid: str) -> dict:
    d = copy.deepcopy(data)
    for c in d["claims"]:
        if c["id"] == cid:
            c["verdict"], c["verdict_reason"], c["key"] = "skipped", "no CUDA device", None
            for k in c["cases"]:
                k["verdict"], k["reason"], k["evidence"] = "skipped", "no CUDA device", None
    return d


def test_merge_takes_each_claim_from_the_first_run_where_it_ran(run):
    gpu = copy.deepcopy(run)
    gpu["run"]["environment"]["cuda_device"] = "NVIDIA H100"
    gpu["run"]["environment"]["device"] = "cuda"
    cpu = _skipped(run, "fox-is-quick")
    merged = merge.merge([("cpu.json", cpu), ("gpu.json", gpu)])
    validate(merged)
    by_id = {c["id"]: c for c in merged["claims"]}
    assert by_id["fox-is-quick"]["verdict"] == "supported"
    assert by_id["fox-is-quick"]["recorded_in"]["file"] == "gpu.json"
    assert by_id["fox-is-quick"]["cases"][0]["environment"]["cuda_device"] == "NVIDIA H100"
    assert "recorded elsewhere (NVIDIA H100" in by_id["fox-is-quick"]["verdict_reason"]
    assert by_id["gradients-fade"]["recorded_in"]["file"] == "cpu.json"
    assert merged["run"]["recorded_elsewhere"] is True
    assert merged["summary"]["counts"]["supported"] == 2 and merged["summary"]["counts"]["skipped"] == 0
    assert [m["file"] for m in merged["merged_from"]] == ["cpu.json", "gpu.json"]


def test_merge_command_writes_json_and_html(run, tmp_path, capsys):
    (tmp_path / "a.json").write_text(json.dumps(_skipped(run, "fox-is-quick")))
    (tmp_path / "b.json").write_text(json.dumps(run))
    assert main(["merge", str(tmp_path / "a.json"), str(tmp_path / "b.json"), "-o", str(tmp_path / "m" / "merged.json")]) == 0
    assert (tmp_path / "m" / "index.html").read_text().count("Recorded elsewhere") == 1
    assert json.loads((tmp_path / "m" / "merged.json").read_text())["merged_from"]


@pytest.mark.parametrize(
    "content, message",
    [
        ("{not json", "is not valid JSON"),
        ('{"tool": "pytest-html"}', "is not a dlclaims results file"),
    ],
)
def test_merge_refuses_a_bad_file_and_names_it(run, tmp_path, capsys, content, message):
    (tmp_path / "good.json").write_text(json.dumps(run))
    (tmp_path / "bad.json").write_text(content)
    assert main(["merge", str(tmp_path / "good.json"), str(tmp_path / "bad.json"), "-o", str(tmp_path / "m.json")]) == 2
    err = capsys.readouterr().err
    assert "bad.json" in err and message in err
    assert not (tmp_path / "m.json").exists()


def test_history_flags_verdict_flips_and_effect_drift(run, tmp_path):
    first = copy.deepcopy(run)
    history.archive(first, tmp_path)
    second = copy.deepcopy(run)
    second["run"]["started"] = "2099-01-01T00:00:00+0000"
    second["run"]["seed"] = 5
    fox = next(c for c in second["claims"] if c["id"] == "fox-is-quick")
    fox["verdict"] = "inconclusive"
    fox["key"] = dict(fox["key"], effect=fox["key"]["effect"] + 100, ci=[fox["key"]["effect"] + 99, fox["key"]["effect"] + 101])
    runs = history.load(tmp_path, second)
    assert len(runs) == 2
    changed = history.changes(runs)
    assert set(changed) == {"fox-is-quick"}
    assert any("verdict flipped: supported -> inconclusive (seed 0 -> 5)" in w for w in changed["fox-is-quick"])
    assert any("effect drifted" in w for w in changed["fox-is-quick"])
    assert [h["verdict"] for h in history.per_claim(runs)["fox-is-quick"]] == ["supported", "inconclusive"]


def test_stability_reports_claims_whose_verdict_flips(run):
    flipped = copy.deepcopy(run)
    next(c for c in flipped["claims"] if c["id"] == "gradients-fade")["verdict"] = "inconclusive"
    table = stability.analyse([(0, run), (1, run), (2, flipped)])
    assert table["unstable"] == ["gradients-fade"]
    row = next(r for r in table["claims"] if r["id"] == "gradients-fade")
    assert row["seen"] == ["inconclusive", "supported"]
    assert (row["verdict"], row["held"], row["runs"]) == ("supported", 2, 3)  # "held on 2 of 3 base seeds"
    assert "supported (2 of 3)" in stability.render(table | {"profile": "quick", "seeds": [0, 1, 2]})
    assert "UNSTABLE" in stability.render(table | {"profile": "quick", "seeds": [0, 1, 2]})


def test_stability_lists_case_flips_and_runs_not_as_declared(run):
    # the claim's verdict holds, one of its cases flips: listed apart, and the run that failed is named
    flipped = copy.deepcopy(run)
    claim = next(c for c in flipped["claims"] if c["id"] == "gradients-fade")
    claim["cases"][0]["verdict"] = "inconclusive"
    claim["as_expected"] = False
    table = stability.analyse([(0, run), (1, flipped)])
    assert table["unstable"] == [] and table["case_flips"] == ["gradients-fade"]
    assert table["not_as_expected"] == {"0": [], "1": ["gradients-fade"]}
    text = stability.render(table | {"profile": "quick", "seeds": [0, 1]})
    assert "cases that flipped" in text and "seed 1: gradients-fade" in text


def test_stability_sets_apart_runs_skipped_under_foreign_load(run):
    # a throughput case skipped because other processes held the cores measured nothing in that run:
    # listed, not compared; a skip for any other reason is still a verdict like the others
    busy = copy.deepcopy(run)
    claim = next(c for c in busy["claims"] if c["id"] == "gradients-fade")
    claim["verdict"] = "skipped"
    claim["cases"][0].update(verdict="skipped", reason="machine busy: other processes used 1.02 of 2 cores")
    table = stability.analyse([(0, run), (1, busy), (2, run)])
    assert table["unstable"] == []
    row = next(r for r in table["claims"] if r["id"] == "gradients-fade")
    assert row["under_load"] == [1] and (row["verdict"], row["held"], row["runs"]) == ("supported", 2, 2)
    assert "1 under load" in stability.render(table | {"profile": "quick", "seeds": [0, 1, 2]})
    claim["cases"][0]["reason"] = "needs the full profile"
    assert stability.analyse([(0, run), (1, busy)])["unstable"] == ["gradients-fade"]


def test_history_never_calls_not_run_a_verdict_flip(run, tmp_path):
    history.archive(copy.deepcopy(run), tmp_path)
    partial = copy.deepcopy(run)
    partial["run"]["started"] = "2099-01-01T00:00:00+0000"
    next(c for c in partial["claims"] if c["id"] == "fox-is-quick")["verdict"] = "not-run"
    history.archive(partial, tmp_path)
    third = copy.deepcopy(run)
    third["run"]["started"] = "2099-01-02T00:00:00+0000"
    next(c for c in third["claims"] if c["id"] == "gradients-fade")["verdict"] = "not-run"
    runs = history.load(tmp_path, third)
    assert "fox-is-quick" not in runs[1]["claims"], "a claim that did not run is no entry of that run"
    assert history.changes(runs) == {}
    assert [h["verdict"] for h in history.per_claim(runs)["fox-is-quick"]] == ["supported", "supported"]


def test_merge_refuses_mixed_profiles_unless_asked_and_then_marks_them(run, tmp_path, capsys):
    quick = _skipped(run, "fox-is-quick")
    default = copy.deepcopy(run)
    default["run"]["profile"] = "default"
    for c in default["claims"]:
        if c["id"] == "fox-is-quick":
            c["verdict"], c["verdict_reason"], c["key"] = "not-run", "not selected (--claim)", None
            for k in c["cases"]:
                k["verdict"], k["reason"], k["evidence"] = "not-run", "not selected", None
    (tmp_path / "d.json").write_text(json.dumps(default))
    (tmp_path / "q.json").write_text(json.dumps(quick))
    args = ["merge", str(tmp_path / "d.json"), str(tmp_path / "q.json"), "-o", str(tmp_path / "m.json"), "--no-html"]
    assert main(args) == 2
    assert "runs of different profiles (d.json: default, q.json: quick)" in capsys.readouterr().err
    assert main([*args, "--allow-mixed-profiles"]) == 0
    merged = json.loads((tmp_path / "m.json").read_text())
    assert merged["run"]["profiles"] == ["default", "quick"]
    fox = next(c for c in merged["claims"] if c["id"] == "fox-is-quick")
    assert fox["verdict"] == "skipped", "a skip with its reason beats a claim that did not run"
    assert "no CUDA device" in fox["verdict_reason"] and "quick profile" in fox["verdict_reason"]


def test_report_recomputes_the_summary_and_refuses_duplicate_ids(run, tmp_path, capsys):
    lying = copy.deepcopy(run)
    lying["summary"]["counts"]["supported"] = 99
    (tmp_path / "lying.json").write_text(json.dumps(lying))
    assert main(["report", str(tmp_path / "lying.json"), "-o", str(tmp_path / "out")]) == 0
    assert "summary block disagrees" in capsys.readouterr().err
    html = (tmp_path / "out" / "index.html").read_text()
    assert "Deep-learning claims: 2 claims" in html and " 99</span>" not in html
    twice = copy.deepcopy(run)
    twice["claims"].append(copy.deepcopy(twice["claims"][0]))
    (tmp_path / "twice.json").write_text(json.dumps(twice))
    assert main(["report", str(tmp_path / "twice.json"), "-o", str(tmp_path / "out2")]) == 2
    assert f"claim id '{twice['claims'][0]['id']}' appears more than once" in capsys.readouterr().err


def test_stability_streams_pytest_s_progress(tmp_path, monkeypatch):
    seen = []
    monkeypatch.setattr(stability.subprocess, "run", lambda cmd, **kw: seen.append(kw))
    stability.run_seeds([0, 1], "quick", tmp_path, [])
    assert len(seen) == 2 and all("stdout" not in kw and "capture_output" not in kw for kw in seen)
