"""Pre-registration: the real catalogue matches its lock; an unamended change of a registered field fails."""

from __future__ import annotations

from pathlib import Path

from harness import registration
from harness.catalogue import load_catalogue

ROOT = Path(__file__).resolve().parents[1]

CLAIM = """
[a-claim]
statement = "A thing holds."
kind = "empirical"
sources = [{{ document = "doc.txt", quote = "hello world" }}]
[a-claim.design]
steps = {{ quick = 100, default = 300, full = 600 }}
[a-claim.hypotheses.h]
metric = "m"
comparison = "bound"
direction = "less"
threshold = {threshold}
reason = "because"
{amendment}
"""

AMENDMENT = """
[[a-claim.amendments]]
date = "2026-12-06"
field = "hypotheses.h.threshold"
old = "1.0"
new = "2.0"
why = "a test of the lock"
verdict_before = "inconclusive"
"""


def _catalogue(tmp_path: Path, threshold: float, amendment: str = ""):
    (tmp_path / "cat").mkdir(exist_ok=True)
    (tmp_path / "src").mkdir(exist_ok=True)
    (tmp_path / "src" / "doc.txt").write_text("hello world\n")
    (tmp_path / "cat" / "theme.toml").write_text(CLAIM.format(threshold=threshold, amendment=amendment))
    return load_catalogue(tmp_path / "cat", tmp_path / "src")


def test_every_claim_of_the_real_catalogue_matches_its_registration():
    cat = load_catalogue(ROOT / "claims" / "catalogue", ROOT / "fixtures" / "sources")
    found = registration.problems(cat, registration.read_lock(registration.lock_path(cat)))
    assert not found, "registered fields changed without an amendment:\n" + "\n".join(found)


def test_an_unamended_threshold_change_fails_and_names_the_field(tmp_path):
    registration.register(_catalogue(tmp_path, 1.0))
    cat = _catalogue(tmp_path, 2.0)
    found = registration.problems(cat, registration.read_lock(registration.lock_path(cat)))
    assert len(found) == 1 and "hypotheses.h.threshold" in found[0] and "1.0" in found[0] and "2.0" in found[0]
    done, refused = registration.register(cat)
    assert not done and refused, "the register command refuses to re-lock an unamended change"


def test_an_amended_change_passes_and_can_be_relocked(tmp_path):
    registration.register(_catalogue(tmp_path, 1.0))
    cat = _catalogue(tmp_path, 2.0, AMENDMENT)
    assert registration.problems(cat, registration.read_lock(registration.lock_path(cat))) == []
    done, refused = registration.register(cat)
    assert done == ["a-claim"] and not refused


def test_a_design_change_needs_its_own_amendment(tmp_path):
    registration.register(_catalogue(tmp_path, 1.0))
    text = (tmp_path / "cat" / "theme.toml").read_text().replace("full = 600", "full = 300")
    (tmp_path / "cat" / "theme.toml").write_text(text + AMENDMENT)  # an amendment of another field does not cover it
    cat = load_catalogue(tmp_path / "cat", tmp_path / "src")
    found = registration.problems(cat, registration.read_lock(registration.lock_path(cat)))
    assert len(found) == 1 and "design.steps.full" in found[0]


def test_a_new_claim_must_be_registered_and_a_registered_claim_cannot_vanish(tmp_path):
    cat = _catalogue(tmp_path, 1.0)
    assert "not registered" in registration.problems(cat, {})[0]
    lock = {"gone-claim": {"hash": "x", "amendments": 0, "fields": {}}} | {"a-claim": registration.entry(cat.claims["a-claim"])}
    assert any("no longer in the catalogue" in p for p in registration.problems(cat, lock))
