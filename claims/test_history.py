"""Historical facts and figures: each citational claim checked against the reference table.

One case per claim of ``claims/catalogue/history.toml``; the claims, the figures each text states
and the tolerance are data in the catalogue, the primary sources in ``fixtures/references.toml``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from harness import citations
from harness.evidence import assert_supported
from harness.plugin import session_catalogue


def pytest_generate_tests(metafunc):
    if "citational_claim" in metafunc.fixturenames:
        cat = session_catalogue(metafunc.config)
        theme = Path(__file__).stem.removeprefix("test_")  # 'history': the catalogue file this module pairs with
        ids = [c.id for c in cat.by_theme().get(theme, []) if c.citation is not None]
        metafunc.parametrize("citational_claim", [pytest.param(i, marks=pytest.mark.claim(i), id=i) for i in ids])


def test_stated_figures_match_the_primary_source(citational_claim, evidence, claims_catalogue):
    missing = citations.unverifiable(claims_catalogue, evidence.claim.citation)
    if missing:
        pytest.skip("unverifiable: " + "; ".join(f"{r.id}: {r.unverifiable}" for r in missing))
    citations.check(evidence, claims_catalogue)
    assert_supported(evidence)
