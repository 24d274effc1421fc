"""Coverage of the five texts: every clause is a claim's quote, a declared non-statement, or a gap."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from harness.catalogue import CatalogueError, load_catalogue
from harness.results import coverage

ROOT = Path(__file__).resolve().parents[1]

DOC = """# A heading

Why did it work? ReLU trains fast. Sigmoids saturate for large inputs, as e.g. Glorot et al. showed.
> - Hardware got faster by 5000x [@chollet2018deep, p. 20].
![an image](x.png)
"""

CAT = """
[relu-fast]
statement = "ReLU trains fast."
kind = "not-testable"
reason = "a test"
sources = [{ document = "doc.txt", quote = "ReLU trains fast." }]
"""


def _cat(tmp_path, skips: str | None = None, doc: str = DOC):
    (tmp_path / "cat").mkdir(exist_ok=True)
    (tmp_path / "src").mkdir(exist_ok=True)
    (tmp_path / "src" / "doc.txt").write_text(doc)
    (tmp_path / "cat" / "t.toml").write_text(CAT)
    if skips is not None:
        (tmp_path / "src" / "coverage.toml").write_text(textwrap.dedent(skips))
    return load_catalogue(tmp_path / "cat", tmp_path / "src")


def test_sentences_are_split_on_lines_and_full_stops_and_offsets_index_the_folded_text():
    folded, units = coverage.split_units("doc.txt", DOC)
    assert [u.text for u in units] == [
        "# A heading",
        "Why did it work?",
        "ReLU trains fast.",
        "Sigmoids saturate for large inputs, as e.g. Glorot et al. showed.",
        "Hardware got faster by 5000x [@chollet2018deep, p. 20].",
        "![an image](x.png)",
    ]
    assert all(folded[u.start : u.end] == u.text for u in units)
    assert [u.status for u in units] == ["ignored", "unaccounted", "unaccounted", "unaccounted", "unaccounted", "ignored"]


def test_quotes_cover_and_skips_account_and_the_rest_is_unaccounted(tmp_path):
    cat = _cat(
        tmp_path,
        """
        ["doc.txt"]
        skip = [{ text = "Why did it work?", why = "question" }]
    """,
    )
    units = coverage.account(cat)["doc.txt"]
    status = {u.text[:12]: (u.status, u.by) for u in units}
    assert status["ReLU trains "] == ("covered", ["relu-fast"])
    assert status["Why did it w"] == ("skipped", ["question"])
    assert status["Sigmoids sat"][0] == "unaccounted"
    row = coverage.summary(cat, {"doc.txt": units}, {"relu-fast": "not-testable"})[0]
    assert row["claims_by_kind"] == {"not-testable": 1} and row["claims_by_verdict"] == {"not-testable": 1}
    assert row["not_testable"] == [{"id": "relu-fast", "statement": "ReLU trains fast.", "reason": "a test"}]
    assert len(row["unaccounted"]) == 2


@pytest.mark.parametrize(
    "skips, message",
    [
        ('["doc.txt"]\nskip = [{ text = "Not in the text", why = "question" }]', r"\[doc.txt.skip\[0\]\]: text not found verbatim"),
        ('["doc.txt"]\nskip = [{ text = "Why did it work?", why = "boring" }]', r"\[doc.txt.skip\[0\]\]: 'why' is 'boring'"),
        ('["nodoc.txt"]\nskip = []', r"\[nodoc.txt\]: no such document"),
    ],
)
def test_a_bad_skip_entry_is_named(tmp_path, skips, message):
    cat = _cat(tmp_path, skips)
    with pytest.raises(CatalogueError, match=message):
        coverage.account(cat)


def test_a_quote_of_one_clause_leaves_the_other_clause_of_its_sentence_unaccounted(tmp_path):
    doc = "ReLU trains fast, but sigmoids saturate for large inputs and for small ones.\n"
    _cat(tmp_path, doc=doc)
    for quote, first in (("ReLU trains fast", "covered"), ("ReLU trains fast, but sigmoids saturate for large", "covered")):
        (tmp_path / "cat" / "t.toml").write_text(CAT.replace('quote = "ReLU trains fast."', f'quote = "{quote}"'))
        units = coverage.account(load_catalogue(tmp_path / "cat", tmp_path / "src"))["doc.txt"]
        # the second quote shares 31 characters with the second clause (enough to touch it) but spans only 53 % of it
        assert [(u.text, u.status) for u in units] == [
            ("ReLU trains fast", first),
            ("but sigmoids saturate for large inputs and for small ones.", "unaccounted"),
        ]
    # link targets state nothing: a quote need not span them
    assert coverage._clauses("Hardware got faster; see [the survey](https://x.org/a).") == [
        "Hardware got faster",
        "see [the survey](https://x.org/a).",
    ]


def test_every_clause_of_the_five_texts_is_accounted_for():
    cat = load_catalogue(ROOT / "claims" / "catalogue", ROOT / "fixtures" / "sources")
    gaps = [f"{row['document']}: {t[:120]}" for row in coverage.summary(cat, coverage.account(cat)) for t in row["unaccounted"]]
    assert not gaps, (
        f"{len(gaps)} clause(s) of the source texts are neither a claim's quote nor declared in "
        "fixtures/sources/coverage.toml (run `python -m harness coverage`):\n" + "\n".join(gaps)
    )
