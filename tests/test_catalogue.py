"""The catalogue: the real one is valid and its quotes are verbatim; bad entries name file and entry."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.catalogue import CatalogueError, load_catalogue

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ROOT / "fixtures" / "sources"


def test_real_catalogue_loads_and_every_claim_has_a_source():
    cat = load_catalogue(ROOT / "claims" / "catalogue", SOURCES)
    assert cat.claims, "the catalogue declares no claim"
    for claim in cat.claims.values():
        assert claim.sources, f"{claim.id} has no source"
        for h in claim.hypotheses.values():
            assert h.reason.strip(), f"{claim.id}.{h.name}: a threshold needs its reason"


def test_every_quote_is_found_verbatim_in_its_document():
    cat = load_catalogue(ROOT / "claims" / "catalogue", SOURCES)
    missing = [f"{c.id}: {s.document}: {s.quote[:80]!r}" for c, s in cat.missing_quotes()]
    assert not missing, "quotes not found verbatim (white space folded):\n" + "\n".join(missing)


def test_source_documents_are_unchanged_copies_of_the_shared_seeds():
    seeds = ROOT.parent / "shared" / "seeds"
    if not seeds.is_dir():
        pytest.skip(f"{seeds} is not beside this checkout")
    ours = sorted(p.name for p in SOURCES.glob("*.txt"))
    assert ours == sorted(p.name for p in seeds.glob("*.txt"))
    for name in ours:
        assert (SOURCES / name).read_bytes() == (seeds / name).read_bytes(), f"{name} differs from {seeds / name}"


GOOD = """
[a-claim]
statement = "A thing holds."
kind = "empirical"
sources = [{ document = "doc.txt", quote = "hello world" }]
[a-claim.hypotheses.h]
metric = "m"
comparison = "bound"
direction = "less"
threshold = 1
reason = "because"
"""


def _load(tmp_path: Path, text: str, name: str = "theme.toml"):
    (tmp_path / "cat").mkdir(exist_ok=True)
    (tmp_path / "src").mkdir(exist_ok=True)
    (tmp_path / "src" / "doc.txt").write_text("hello   world\n")
    (tmp_path / "cat" / name).write_text(text)
    return load_catalogue(tmp_path / "cat", tmp_path / "src")


def test_a_good_entry_loads(tmp_path):
    cat = _load(tmp_path, GOOD)
    assert cat["a-claim"].hypotheses["h"].threshold == 1.0
    assert not cat.missing_quotes()


@pytest.mark.parametrize(
    "broken, expected",
    [
        ("[a-claim\n", "not valid TOML"),
        (GOOD.replace('statement = "A thing holds."\n', ""), "[a-claim]: missing required field 'statement'"),
        (GOOD.replace("[a-claim]", "[A_Claim]").replace("a-claim.", "A_Claim."), "[A_Claim]: claim id must be kebab-case"),
        (GOOD.replace('document = "doc.txt"', 'document = "nope.txt"'), "document 'nope.txt' is not in the source folder"),
        (GOOD.replace('kind = "empirical"', 'kind = "empirical"\nexpected = "refuted"'), "needs 'expected_reference'"),
        (GOOD.replace('kind = "empirical"', 'kind = "guesswork"'), "field 'kind' is 'guesswork'; allowed"),
        (GOOD.replace('direction = "less"', 'direction = "sideways"'), "[a-claim.hypotheses.h]: field 'direction'"),
        (GOOD.replace('reason = "because"\n', ""), "[a-claim.hypotheses.h]: missing required field 'reason'"),
        (GOOD.replace('kind = "empirical"', 'kind = "empirical"\ncolour = "red"'), "unknown field(s) ['colour']"),
        (GOOD.replace("threshold = 1", 'threshold = "one"'), "field 'threshold' must be a non-empty float"),
    ],
)
def test_bad_entries_name_the_file_and_the_entry(tmp_path, broken, expected):
    with pytest.raises(CatalogueError) as err:
        _load(tmp_path, broken)
    assert "theme.toml" in str(err.value)
    assert expected in str(err.value)


def test_duplicate_ids_across_files_are_an_error(tmp_path):
    _load(tmp_path, GOOD, "one.toml")
    with pytest.raises(CatalogueError, match=r"two.toml \[a-claim\]: duplicate claim id, also declared in .*one.toml"):
        _load(tmp_path, GOOD, "two.toml")


def test_missing_quote_is_reported(tmp_path):
    cat = _load(tmp_path, GOOD.replace("hello world", "hello there"))
    assert [(c.id, s.quote) for c, s in cat.missing_quotes()] == [("a-claim", "hello there")]


def test_a_seed_group_in_the_design_names_the_seeds_of_claims_that_share_a_contrast(tmp_path):
    grouped = GOOD.replace('kind = "empirical"', 'kind = "empirical"\ndesign = { seed_group = "shared" }')
    cat = _load(tmp_path, GOOD + grouped.replace("a-claim", "b-claim") + grouped.replace("a-claim", "c-claim"))
    assert cat["a-claim"].seed_group == "a-claim"  # no group: the claim's own id
    assert cat["b-claim"].seed_group == cat["c-claim"].seed_group == "shared"
