"""Fixtures for the harness's own tests: a miniature claims project built inside pytester."""

from __future__ import annotations

import textwrap

import pytest

pytest_plugins = ["pytester"]

DOC = "The quick brown fox jumps over the lazy dog.\nSigmoid gradients fade\n  with depth.\n"

CATALOGUE = """
[fox-is-quick]
statement = "The fox is quicker than the dog."
kind = "empirical"
sources = [{ document = "doc.txt", quote = "The quick brown fox jumps over the lazy dog." }]
[fox-is-quick.hypotheses.faster]
metric = "speed difference"
unit = "m/s"
comparison = "paired"
direction = "greater"
threshold = 0.5
reason = "a test threshold"

[gradients-fade]
statement = "Sigmoid gradients fade with depth."
kind = "empirical"
sources = [{ document = "doc.txt", quote = "Sigmoid gradients fade with depth." }]
[gradients-fade.hypotheses.small]
metric = "value"
unit = ""
comparison = "bound"
direction = "less"
threshold = 1.0
reason = "a test bound"
"""

TESTS = """
import numpy as np
import pytest
from harness.evidence import assert_supported

@pytest.mark.claim("fox-is-quick")
@pytest.mark.parametrize("terrain", ["grass", "road"])
def test_fox(terrain, evidence):
    rng = np.random.default_rng(evidence.seeds[0])
    fox = 3 + rng.normal(0, 0.1, len(evidence.seeds))
    dog = 1 + rng.normal(0, 0.1, len(evidence.seeds))
    evidence.record("fox", fox, unit="m/s")
    dog_again = 1 + np.random.default_rng(evidence.placebo_seeds[0]).normal(0, 0.1, len(evidence.seeds))
    evidence.paired("faster", fox, dog, placebo=dog_again, names=("fox", "dog"))
    assert_supported(evidence)

@pytest.mark.claim("gradients-fade")
def test_fade(evidence):
    evidence.bound("small", [0.1, 0.2, 0.15], [5.0, 6.0, 7.0])
    assert_supported(evidence)
"""


class Project:
    def __init__(self, pytester: pytest.Pytester):
        self.pytester = pytester

    def write(self, catalogue: str = CATALOGUE, tests: str = TESTS, theme: str = "demo", doc: str = DOC) -> Project:
        p = self.pytester
        p.makeconftest('pytest_plugins = ["harness.plugin"]\n')
        p.makeini("[pytest]\n")
        (p.path / "fixtures" / "sources").mkdir(parents=True, exist_ok=True)
        (p.path / "fixtures" / "sources" / "doc.txt").write_text(doc)
        (p.path / "claims" / "catalogue").mkdir(parents=True, exist_ok=True)
        (p.path / "claims" / "catalogue" / f"{theme}.toml").write_text(textwrap.dedent(catalogue))
        (p.path / "claims" / f"test_{theme}.py").write_text(textwrap.dedent(tests))
        return self

    def run(self, *args, subprocess: bool = False):
        runner = self.pytester.runpytest_subprocess if subprocess else self.pytester.runpytest_inprocess
        return runner("claims", "--claims-profile", "quick", "-p", "no:cacheprovider", *args)

    def results(self) -> dict:
        import json

        return json.loads((self.pytester.path / "reports" / "claims.json").read_text())

    def verdicts(self) -> dict:
        return {c["id"]: c["verdict"] for c in self.results()["claims"]}


@pytest.fixture
def project(pytester) -> Project:
    return Project(pytester)
