"""Citational claims: parsed from the catalogue, judged against the reference table, errors named."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from harness import citations
from harness.catalogue import CatalogueError, load_catalogue

DOC = "CUDA came out in 2007. ImageNet has 15 million images. The perceptron dates from 1957.\n"

REFERENCES = """
[cuda-year]
fact = "CUDA 1.0 release year"
value = 2007
unit = "year"
source = "NVIDIA CUDA 1.0 release notes"

[imagenet-images]
fact = "Images in ImageNet (2010)"
value = 14197122
unit = "images"
source = "image-net.org"

[perceptron-year]
fact = "Year of Rosenblatt's perceptron report"
unverifiable = "no primary source at hand"
source = "Rosenblatt 1957, Cornell Aeronautical Laboratory report 85-460-1"
"""

HISTORY = """
[cuda-2007]
statement = "CUDA was released in 2007."
kind = "citational"
sources = [{ document = "doc.txt", quote = "CUDA came out in 2007." }]
[cuda-2007.citation]
tolerance = 0
reason = "a year is exact"
values = [{ reference = "cuda-year", value = 2007, document = "doc.txt", stated = "2007" }]

[imagenet-15m]
statement = "ImageNet has 15 million images."
kind = "citational"
sources = [{ document = "doc.txt", quote = "ImageNet has 15 million images." }]
[imagenet-15m.citation]
tolerance = 0.05
relative = true
reason = "a rounded count"
values = [{ reference = "imagenet-images", value = 15e6, document = "doc.txt", stated = "15 million" }]

[perceptron-1957]
statement = "The perceptron dates from 1957."
kind = "citational"
sources = [{ document = "doc.txt", quote = "The perceptron dates from 1957." }]
[perceptron-1957.citation]
tolerance = 0
reason = "a year is exact"
values = [{ reference = "perceptron-year", value = 1957, document = "doc.txt", stated = "1957" }]
"""

TESTS = (Path(__file__).resolve().parents[1] / "claims" / "test_history.py").read_text()


def _project(project, history=HISTORY, references=REFERENCES):
    # its own theme name: a module called test_history is already imported from the real claims/
    project.write(catalogue=history, tests=TESTS, theme="cites", doc=DOC)
    (project.pytester.path / "fixtures" / "references.toml").write_text(textwrap.dedent(references))
    return project


def test_each_citational_claim_is_one_case_with_its_verdict(project):
    result = _project(project).run()
    result.assert_outcomes(passed=1, failed=1, skipped=1)
    assert project.verdicts() == {"cuda-2007": "supported", "imagenet-15m": "not-supported", "perceptron-1957": "skipped"}
    claim = {c["id"]: c for c in project.results()["claims"]}
    assert "unverifiable: perceptron-year" in claim["perceptron-1957"]["verdict_reason"]
    j = claim["imagenet-15m"]["cases"][0]["evidence"]["judgements"][0]
    assert j["effect"] == pytest.approx(abs(15e6 - 14197122) / 14197122)
    assert j["control"]["verdict"] == "not-supported"  # the rule rejects a wrong figure


def test_a_wrong_text_declared_refuted_is_known_refuted(project):
    history = HISTORY.replace(
        "[imagenet-15m.citation]", 'expected = "refuted"\nexpected_reference = "image-net.org: 14.2 million"\n[imagenet-15m.citation]'
    )
    result = _project(project, history=history).run()
    result.assert_outcomes(passed=1, xfailed=1, skipped=1)
    assert project.verdicts()["imagenet-15m"] == "known-refuted"


def _load(tmp_path, history, references=REFERENCES):
    (tmp_path / "cat").mkdir(exist_ok=True)
    (tmp_path / "src").mkdir(exist_ok=True)
    (tmp_path / "src" / "doc.txt").write_text(DOC)
    (tmp_path / "cat" / "history.toml").write_text(textwrap.dedent(history))
    (tmp_path / "references.toml").write_text(textwrap.dedent(references))
    return load_catalogue(tmp_path / "cat", tmp_path / "src")


def test_an_unknown_reference_is_named_with_a_suggestion(tmp_path):
    with pytest.raises(
        CatalogueError,
        match=r"history.toml \[cuda-2007.citation.values\[0\]\]: reference 'cuda-yaer' "
        r"is not in the reference table \(did you mean 'cuda-year'\?\)",
    ):
        _load(tmp_path, HISTORY.replace('reference = "cuda-year"', 'reference = "cuda-yaer"'))


def test_a_reference_without_value_or_reason_is_an_error(tmp_path):
    with pytest.raises(CatalogueError, match=r"references.toml \[perceptron-year\]: give a 'value'"):
        _load(tmp_path, HISTORY, REFERENCES.replace('unverifiable = "no primary source at hand"\n', ""))


def test_a_citational_claim_without_citation_is_an_error(tmp_path):
    bare = HISTORY.split("[imagenet-15m]")[0].replace(
        '[cuda-2007.citation]\ntolerance = 0\nreason = "a year is exact"\n'
        'values = [{ reference = "cuda-year", value = 2007, document = "doc.txt", stated = "2007" }]\n',
        "",
    )
    with pytest.raises(CatalogueError, match=r"\[cuda-2007\]: a citational claim needs a 'citation' table"):
        _load(tmp_path, bare)


def test_distance_and_wrong_value():
    cat_like = type("C", (), {"tolerance": 0.05, "relative": True})
    assert citations.distance(15e6, 14197122, True) == pytest.approx(0.0566, abs=1e-4)
    assert citations.distance("Adam", "adam", False) == 0.0
    assert citations.distance("Adam", "RMSProp", False) == 1.0
    wrong = citations.wrong_value(100.0, cat_like)
    assert citations.distance(wrong, 100.0, True) > 0.05


def test_a_misquote_is_a_collection_error_naming_claim_and_document(project):
    from conftest import CATALOGUE

    project.write(catalogue=CATALOGUE.replace("The quick brown fox jumps", "The quick red fox jumps", 1))
    result = project.run()
    assert result.ret == 2  # interrupted: an error during collection, not a verdict
    result.stdout.fnmatch_lines(["*claim 'fox-is-quick' (*demo.toml): doc.txt does not contain 'The quick red fox jumps*"])
