"""Shards of one run (pytest-split) joined give the same report as the run in one piece."""

from __future__ import annotations

import json

import pytest

from harness.__main__ import main
from harness.results import validate
from harness.results.compare import differences
from harness.results.shards import ShardError, join


def _run(project, folder: str, *args, subprocess: bool = False) -> dict:
    project.run("--claims-report-dir", folder, *args, subprocess=subprocess)
    return json.loads((project.pytester.path / folder / "claims.json").read_text())


def test_two_shards_joined_give_the_verdicts_and_numbers_of_one_run(project):
    project.write()
    # each shard in a process of its own, as on two machines
    whole = _run(project, "whole", subprocess=True)
    one = _run(project, "shard1", "--splits", "2", "--group", "1", subprocess=True)
    two = _run(project, "shard2", "--splits", "2", "--group", "2", subprocess=True)
    assert one["run"]["shard"] == {"group": 1, "splits": 2}
    ran = [{c["id"] for c in s["claims"] if c["cases"]} for s in (one, two)]
    assert ran[0] and ran[1], "each shard ran part of the suite"
    joined = join([("shard2/claims.json", two), ("shard1/claims.json", one)])
    validate(joined)
    assert differences(whole, joined) == []
    assert [s["group"] for s in joined["run"]["shards"]] == [1, 2]
    assert joined["summary"]["counts"] == whole["summary"]["counts"]


def test_shards_of_different_runs_or_a_missing_shard_are_refused(project):
    project.write()
    one = _run(project, "shard1", "--splits", "2", "--group", "1")
    other_seed = _run(project, "shard2", "--splits", "2", "--group", "2", "--claims-seed", "5")
    with pytest.raises(ShardError, match="seed"):
        join([("a", one), ("b", other_seed)])
    with pytest.raises(ShardError, match="missing"):
        join([("a", one)])
    with pytest.raises(ShardError, match="also"):
        join([("a", one), ("b", one)])
    whole = _run(project, "whole")
    with pytest.raises(ShardError, match="not a shard"):
        join([("whole", whole)])


def test_the_join_command_writes_one_report(project, capsys):
    project.write()
    _run(project, "s1", "--splits", "2", "--group", "1")
    _run(project, "s2", "--splits", "2", "--group", "2")
    root = project.pytester.path
    assert main(["join", str(root / "s1/claims.json"), str(root / "s2/claims.json"), "-o", str(root / "joined/claims.json")]) == 0
    assert (root / "joined" / "index.html").exists()
    assert main(["join", str(root / "s1/claims.json"), "-o", str(root / "x/claims.json")]) == 2
    assert "missing" in capsys.readouterr().err
