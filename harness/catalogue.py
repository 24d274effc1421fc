"""The claim catalogue: one TOML file per theme under ``claims/catalogue/``.

Each top-level table of a theme file is one claim, keyed by its stable kebab-case id.  The same
declaration drives the claim's tests (thresholds, alpha, expected verdicts) and feeds the report
(statement, quotes, method, the paper's figure).  Nothing here imports pytest.

A theme file ``claims/catalogue/<theme>.toml`` pairs with the test module
``claims/test_<theme>.py``.  Every problem is raised as :class:`CatalogueError`, which names the
file and the entry at fault.
"""

from __future__ import annotations

import difflib
import math
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

KINDS = ("empirical", "analytic", "citational", "not-testable")
EXPECTED = ("supported", "refuted", "disputed")
DIRECTIONS = ("greater", "less")
COMPARISONS = ("paired", "bound", "family")
ID_PATTERN = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")


class CatalogueError(ValueError):
    """A catalogue or source document is malformed; the message names file and entry."""

    def __init__(self, path: Path | str, entry: str | None, message: str):
        self.path, self.entry = str(path), entry
        where = f"{self.path}" + (f" [{entry}]" if entry else "")
        super().__init__(f"{where}: {message}")


@dataclass(frozen=True)
class Source:
    document: str  # file name under fixtures/sources/
    quote: str  # verbatim text of the document (white space runs are compared as one space)


@dataclass(frozen=True)
class Hypothesis:
    """One decision rule of a claim: a metric compared with a threshold in one direction."""

    name: str
    metric: str  # what is measured, in words a reviewer can check
    unit: str
    comparison: str  # 'paired' (treatment vs contrast, per seed), 'bound' (values vs threshold),
    #                  'family' (a bound judged per setting, Holm-corrected, scope reported)
    direction: str  # 'greater': the effect must exceed the threshold; 'less': stay below it
    threshold: float  # minimum effect (paired) or bound (bound/family), in `unit`
    reason: str  # where the threshold comes from: a paper figure or the size of the effect
    test: str = "t"  # 't' (one-sided t-test) or 'wilcoxon' (one-sided signed-rank)
    role: str = "evidence"  # 'evidence', or 'sanity': checks our code or a library, holds whatever the world is
    #                         like, so it fails the run when broken but never counts as evidence for the claim


@dataclass(frozen=True)
class CaseExpectation:
    """An expected outcome for one parametrised case, e.g. a setting outside the claim's scope."""

    expected: str  # 'refuted' or 'disputed'
    reference: str  # the paper, figure or derivation that says so


@dataclass(frozen=True)
class Reference:
    """One fact of the reference table ``fixtures/references.toml``, written from a primary source."""

    id: str
    fact: str
    source: str  # the primary source: paper (with table/figure) or official page
    value: float | str | None = None  # None: unverifiable (see ``unverifiable``)
    unit: str = ""
    url: str = ""
    note: str = ""
    unverifiable: str = ""  # why no primary source gives the value

    def to_dict(self) -> dict:
        return {
            "id": self.id,
            "fact": self.fact,
            "value": self.value,
            "unit": self.unit,
            "source": self.source,
            "url": self.url,
            "note": self.note,
            "unverifiable": self.unverifiable,
        }


@dataclass(frozen=True)
class CitedValue:
    """A figure as one text states it, converted to the unit of the fact it refers to."""

    reference: str  # id in the reference table
    value: float | str
    document: str
    stated: str  # the words of the text, and the conversion if any


@dataclass(frozen=True)
class Citation:
    """How a citational claim is checked: each stated value against its reference, within a tolerance."""

    values: tuple[CitedValue, ...]
    tolerance: float  # largest |stated - reference| that is still consistent (inclusive)
    relative: bool  # tolerance as a fraction of the reference value
    reason: str  # why this tolerance
    explanation: str = ""  # why texts give different figures, where they do

    def to_dict(self) -> dict:
        return {
            "tolerance": self.tolerance,
            "relative": self.relative,
            "reason": self.reason,
            "explanation": self.explanation,
            "values": [{"reference": v.reference, "value": v.value, "document": v.document, "stated": v.stated} for v in self.values],
        }


@dataclass(frozen=True)
class Amendment:
    """A change to a claim's registered design made after results were seen, with the verdict it had before."""

    date: str  # YYYY-MM-DD
    field: str  # the registered field, e.g. 'design.steps' or 'hypotheses.gap.threshold'
    old: str  # the value before, as text
    new: str  # the value after, as text
    why: str
    verdict_before: str  # the claim's verdict under the old design (or 'not run' when none was measured)

    def to_dict(self) -> dict:
        return {
            "date": self.date,
            "field": self.field,
            "old": self.old,
            "new": self.new,
            "why": self.why,
            "verdict_before": self.verdict_before,
        }


@dataclass(frozen=True)
class Claim:
    id: str
    statement: str
    theme: str
    kind: str
    sources: tuple[Source, ...]
    catalogue_file: str
    method: str = ""
    paper: str = ""  # what the paper behind the claim reports, to put beside our numbers
    alpha: float = 0.05
    expected: str = "supported"
    expected_reference: str = ""
    reason: str = ""  # for not-testable claims: why
    hypotheses: dict[str, Hypothesis] = field(default_factory=dict)
    cases: dict[str, CaseExpectation] = field(default_factory=dict)
    citation: Citation | None = None  # citational claims: the figures checked against the reference table
    design: dict = field(default_factory=dict)  # the registered design: settings, grids, budgets, rate grids, seeds
    amendments: tuple[Amendment, ...] = ()  # changes to the registered fields after results were seen, oldest first

    @property
    def testable(self) -> bool:
        return self.kind != "not-testable"

    @property
    def seed_group(self) -> str:
        """The name the claim's seeds (and placebo seeds) are derived from: its id, or the design's ``seed_group``
        where claims share one protocol and its contrast runs (the same seeds give them the same contrast)."""
        return str(self.design.get("seed_group", self.id))

    @property
    def key_hypothesis(self) -> Hypothesis | None:
        """The first declared hypothesis: its number is the one shown in summaries."""
        return next(iter(self.hypotheses.values()), None)

    @property
    def test_module(self) -> str:
        return f"test_{self.theme}.py"

    def to_dict(self) -> dict:
        return {
            "id": self.id,
            "statement": self.statement,
            "theme": self.theme,
            "kind": self.kind,
            "sources": [{"document": s.document, "quote": s.quote} for s in self.sources],
            "method": self.method,
            "paper": self.paper,
            "alpha": self.alpha,
            "expected": self.expected,
            "expected_reference": self.expected_reference,
            "reason": self.reason,
            "catalogue_file": self.catalogue_file,
            "hypotheses": [
                {
                    "name": h.name,
                    "metric": h.metric,
                    "unit": h.unit,
                    "comparison": h.comparison,
                    "direction": h.direction,
                    "threshold": h.threshold,
                    "reason": h.reason,
                    "test": h.test,
                    "role": h.role,
                }
                for h in self.hypotheses.values()
            ],
            "cases": {k: {"expected": v.expected, "reference": v.reference} for k, v in self.cases.items()},
            "citation": self.citation.to_dict() if self.citation else None,
            "design": self.design,
            "amendments": [a.to_dict() for a in self.amendments],
        }

    def registered(self) -> dict:
        """The fields registered before a confirmatory run: design, decision rules, alpha, expectations.

        The lock file holds these per claim; changing one needs an amendment entry (see
        :mod:`harness.registration`)."""
        d = self.to_dict()
        out = {k: d[k] for k in ("alpha", "expected", "expected_reference", "cases", "design")}
        out["hypotheses"] = {h["name"]: {k: v for k, v in h.items() if k != "name"} for h in d["hypotheses"]}
        if self.citation is not None:
            out["citation"] = {
                "tolerance": self.citation.tolerance,
                "relative": self.citation.relative,
                "values": [{"reference": v.reference, "value": v.value} for v in self.citation.values],
            }
        return out


def normalise_space(text: str) -> str:
    return " ".join(text.split())


@dataclass
class Catalogue:
    claims: dict[str, Claim]
    directory: Path
    sources_dir: Path
    references: dict[str, Reference] = field(default_factory=dict)

    def __getitem__(self, claim_id: str) -> Claim:
        return self.claims[claim_id]

    def __contains__(self, claim_id: str) -> bool:
        return claim_id in self.claims

    def by_theme(self) -> dict[str, list[Claim]]:
        themes: dict[str, list[Claim]] = {}
        for c in self.claims.values():
            themes.setdefault(c.theme, []).append(c)
        return themes

    def document_text(self, name: str) -> str:
        return (self.sources_dir / name).read_text(encoding="utf-8")

    def missing_quotes(self) -> list[tuple[Claim, Source]]:
        """Quotes that are not found verbatim (white space folded) in their document."""
        texts = {p.name: normalise_space(p.read_text(encoding="utf-8")) for p in self.sources_dir.glob("*.txt")}
        return [(c, s) for c in self.claims.values() for s in c.sources if normalise_space(s.quote) not in texts.get(s.document, "")]


def _require(table: dict, key: str, typ, path, entry, *, default=...):
    if key not in table:
        if default is ...:
            raise CatalogueError(path, entry, f"missing required field '{key}'")
        return default
    value = table[key]
    if typ is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, typ) or (typ is str and not value.strip() and default is ...):
        raise CatalogueError(path, entry, f"field '{key}' must be a non-empty {typ.__name__}, got {value!r}")
    return value


def _one_of(value: str, allowed: tuple[str, ...], key: str, path, entry) -> str:
    if value not in allowed:
        raise CatalogueError(path, entry, f"field '{key}' is {value!r}; allowed: {', '.join(allowed)}")
    return value


_CLAIM_KEYS = {
    "statement",
    "kind",
    "sources",
    "method",
    "paper",
    "alpha",
    "expected",
    "expected_reference",
    "reason",
    "hypotheses",
    "cases",
    "citation",
    "design",
    "amendments",
}
_AMENDMENT_KEYS = {"date", "field", "old", "new", "why", "verdict_before"}
ROLES = ("evidence", "sanity")
_CITATION_KEYS = {"values", "tolerance", "relative", "reason", "explanation"}
_VALUE_KEYS = {"reference", "value", "document", "stated"}
_REFERENCE_KEYS = {"fact", "value", "unit", "source", "url", "note", "unverifiable"}
CITATION_HYPOTHESIS = "matches-primary-source"
_HYP_KEYS = {"metric", "unit", "comparison", "direction", "threshold", "reason", "test", "role"}


def _check_table(table, allowed: set[str], path, where: str, what: str) -> None:
    """``table`` must be a TOML table whose fields are all in ``allowed``; ``what`` says what it should hold."""
    if not isinstance(table, dict):
        raise CatalogueError(path, where, what)
    unknown = set(table) - allowed
    if unknown:
        raise CatalogueError(path, where, f"unknown field(s) {sorted(unknown)}; allowed: {sorted(allowed)}")


def _parse_hypothesis(name: str, table: dict, path, entry) -> Hypothesis:
    where = f"{entry}.hypotheses.{name}"
    _check_table(table, _HYP_KEYS, path, where, "must be a table")
    return Hypothesis(
        name=name,
        metric=_require(table, "metric", str, path, where),
        unit=_require(table, "unit", str, path, where, default=""),
        comparison=_one_of(_require(table, "comparison", str, path, where), COMPARISONS, "comparison", path, where),
        direction=_one_of(_require(table, "direction", str, path, where), DIRECTIONS, "direction", path, where),
        threshold=_require(table, "threshold", float, path, where),
        reason=_require(table, "reason", str, path, where),
        test=_one_of(_require(table, "test", str, path, where, default="t"), ("t", "wilcoxon"), "test", path, where),
        role=_one_of(_require(table, "role", str, path, where, default="evidence"), ROLES, "role", path, where),
    )


def _finite(value, path, where: str):
    """Every number in a nested TOML value must be finite: nan and inf are valid TOML but no threshold or setting."""
    if isinstance(value, float) and not math.isfinite(value):
        raise CatalogueError(
            path, where, f"{value!r} is not a finite number (nan and inf are valid TOML, but never a threshold or setting)"
        )
    if isinstance(value, dict):
        for k, v in value.items():
            _finite(v, path, f"{where}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _finite(v, path, f"{where}[{i}]")
    return value


def _parse_amendments(raw, path, entry: str) -> tuple[Amendment, ...]:
    if not isinstance(raw, list):
        raise CatalogueError(path, f"{entry}.amendments", "must be an array of tables ([[<claim>.amendments]])")
    out = []
    for i, a in enumerate(raw):
        where = f"{entry}.amendments[{i}]"
        _check_table(a, _AMENDMENT_KEYS, path, where, "each amendment is a table with date, field, old, new, why, verdict_before")
        date = _require(a, "date", str, path, where)
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", date):
            raise CatalogueError(path, where, f"'date' must be YYYY-MM-DD, got {date!r}")
        out.append(
            Amendment(
                date=date,
                field=_require(a, "field", str, path, where),
                old=str(_require(a, "old", str, path, where)),
                new=str(_require(a, "new", str, path, where)),
                why=_require(a, "why", str, path, where),
                verdict_before=_require(a, "verdict_before", str, path, where),
            )
        )
    return tuple(out)


def _parse_citation(table, path, entry: str, documents: set[str], references: dict[str, Reference]) -> Citation:
    where = f"{entry}.citation"
    _check_table(table, _CITATION_KEYS, path, where, "must be a table with 'values', 'tolerance' and 'reason'")
    raw = _require(table, "values", list, path, where)
    if not raw:
        raise CatalogueError(path, where, "'values' needs at least one stated figure")
    values = []
    for i, v in enumerate(raw):
        w = f"{where}.values[{i}]"
        _check_table(v, _VALUE_KEYS, path, w, "each value is a table with 'reference', 'value', 'document' and 'stated'")
        ref = _require(v, "reference", str, path, w)
        if ref not in references:
            close = difflib.get_close_matches(ref, list(references), n=1)
            raise CatalogueError(
                path, w, f"reference {ref!r} is not in the reference table" + (f" (did you mean {close[0]!r}?)" if close else "")
            )
        if "value" not in v or isinstance(v["value"], bool) or not isinstance(v["value"], (int, float, str)):
            raise CatalogueError(path, w, "'value' (the figure as the text states it) must be a number or a string")
        doc = _require(v, "document", str, path, w)
        if doc not in documents:
            raise CatalogueError(path, w, f"document {doc!r} is not in the source folder")
        known = references[ref].value
        if known is not None and isinstance(known, str) != isinstance(v["value"], str):
            raise CatalogueError(path, w, f"'value' {v['value']!r} and reference {ref!r} ({known!r}) must both be numbers or both strings")
        values.append(CitedValue(reference=ref, value=v["value"], document=doc, stated=_require(v, "stated", str, path, w)))
    tolerance = _require(table, "tolerance", float, path, where)
    if tolerance < 0:
        raise CatalogueError(path, where, f"'tolerance' must be >= 0, got {tolerance}")
    return Citation(
        values=tuple(values),
        tolerance=tolerance,
        relative=_require(table, "relative", bool, path, where, default=False),
        reason=_require(table, "reason", str, path, where),
        explanation=_require(table, "explanation", str, path, where, default=""),
    )


def citation_hypothesis(c: Citation) -> Hypothesis:
    """The decision rule every citational claim shares, made from its tolerance (inclusive)."""
    unit = "fraction of the reference" if c.relative else "reference's unit"
    return Hypothesis(
        name=CITATION_HYPOTHESIS,
        metric="|value stated in the text - value in the primary source|"
        + (" / |primary value|" if c.relative else "")
        + ", per stated value (strings: 0 if equal ignoring case, else 1)",
        unit=unit,
        comparison="bound",
        direction="less",
        threshold=c.tolerance + 1e-9,
        reason=f"tolerance {c.tolerance:g} (inclusive; 1e-9 added for rounding): {c.reason}",
    )


def parse_claim(
    claim_id: str, table: dict, theme: str, path: Path, documents: set[str], references: dict[str, Reference] | None = None
) -> Claim:
    if not ID_PATTERN.match(claim_id):
        raise CatalogueError(path, claim_id, "claim id must be kebab-case: lower-case letters, digits and single hyphens")
    _check_table(table, _CLAIM_KEYS, path, claim_id, "a claim must be a table")
    _finite(table, path, claim_id)
    statement = _require(table, "statement", str, path, claim_id)
    kind = _one_of(_require(table, "kind", str, path, claim_id), KINDS, "kind", path, claim_id)
    raw_sources = _require(table, "sources", list, path, claim_id)
    if not raw_sources:
        raise CatalogueError(path, claim_id, "a claim needs at least one source (document and verbatim quote)")
    sources = []
    for i, s in enumerate(raw_sources):
        where = f"{claim_id}.sources[{i}]"
        if not isinstance(s, dict):
            raise CatalogueError(path, where, "each source is a table with 'document' and 'quote'")
        doc = _require(s, "document", str, path, where)
        if doc not in documents:
            raise CatalogueError(path, where, f"document {doc!r} is not in the source folder; known: {', '.join(sorted(documents))}")
        sources.append(Source(document=doc, quote=_require(s, "quote", str, path, where)))
    alpha = _require(table, "alpha", float, path, claim_id, default=0.05)
    if not 0 < alpha < 1:
        raise CatalogueError(path, claim_id, f"alpha must lie in (0, 1), got {alpha}")
    expected = _one_of(_require(table, "expected", str, path, claim_id, default="supported"), EXPECTED, "expected", path, claim_id)
    reference = _require(table, "expected_reference", str, path, claim_id, default="")
    if expected != "supported" and not reference.strip():
        raise CatalogueError(path, claim_id, f"expected = {expected!r} needs 'expected_reference' naming who says so")
    hyps_raw = _require(table, "hypotheses", dict, path, claim_id, default={})
    hypotheses = {n: _parse_hypothesis(n, h, path, claim_id) for n, h in hyps_raw.items()}
    reason = _require(table, "reason", str, path, claim_id, default="")
    if kind in ("empirical", "analytic") and not hypotheses:
        raise CatalogueError(path, claim_id, f"a {kind} claim needs at least one entry under 'hypotheses'")
    if kind == "not-testable" and not reason.strip():
        raise CatalogueError(path, claim_id, "a not-testable claim needs a 'reason'")
    citation = None
    if "citation" in table:
        if kind != "citational":
            raise CatalogueError(path, claim_id, f"only citational claims have a 'citation' table (kind is {kind!r})")
        citation = _parse_citation(table["citation"], path, claim_id, documents, references or {})
        if hypotheses:
            raise CatalogueError(path, claim_id, "a citational claim is judged by its 'citation' table; remove 'hypotheses'")
        hypotheses = {CITATION_HYPOTHESIS: citation_hypothesis(citation)}
    elif kind == "citational" and not hypotheses:
        raise CatalogueError(path, claim_id, "a citational claim needs a 'citation' table (values checked against the reference table)")
    cases = {}
    for case_id, c in _require(table, "cases", dict, path, claim_id, default={}).items():
        where = f"{claim_id}.cases.{case_id}"
        if not isinstance(c, dict):
            raise CatalogueError(path, where, "must be a table with 'expected' and 'reference'")
        cases[case_id] = CaseExpectation(
            expected=_one_of(_require(c, "expected", str, path, where), ("refuted", "disputed"), "expected", path, where),
            reference=_require(c, "reference", str, path, where),
        )
    return Claim(
        id=claim_id,
        statement=statement,
        theme=theme,
        kind=kind,
        sources=tuple(sources),
        catalogue_file=str(path),
        method=_require(table, "method", str, path, claim_id, default=""),
        paper=_require(table, "paper", str, path, claim_id, default=""),
        alpha=alpha,
        expected=expected,
        expected_reference=reference,
        reason=reason,
        hypotheses=hypotheses,
        cases=cases,
        citation=citation,
        design=_require(table, "design", dict, path, claim_id, default={}),
        amendments=_parse_amendments(table.get("amendments", []), path, claim_id),
    )


def read_toml(path: Path) -> dict:
    """A TOML file as a dict; a syntax error becomes a CatalogueError naming the file."""
    try:
        return tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise CatalogueError(path, None, f"not valid TOML: {exc}") from None


def load_references(path: Path) -> dict[str, Reference]:
    """The reference table: one TOML table per fact.  A missing file is an empty table."""
    if not path.exists():
        return {}
    data = read_toml(path)
    out = {}
    for rid, t in data.items():
        if not ID_PATTERN.match(rid):
            raise CatalogueError(path, rid, "reference id must be kebab-case")
        _check_table(t, _REFERENCE_KEYS, path, rid, "a reference must be a table")
        value = t.get("value")
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float, str))):
            raise CatalogueError(path, rid, f"'value' must be a number or a string, got {value!r}")
        unverifiable = _require(t, "unverifiable", str, path, rid, default="")
        if value is None and not unverifiable.strip():
            raise CatalogueError(path, rid, "give a 'value' from the primary source, or say why not in 'unverifiable'")
        out[rid] = Reference(
            id=rid,
            fact=_require(t, "fact", str, path, rid),
            source=_require(t, "source", str, path, rid),
            value=value,
            unit=_require(t, "unit", str, path, rid, default=""),
            url=_require(t, "url", str, path, rid, default=""),
            note=_require(t, "note", str, path, rid, default=""),
            unverifiable=unverifiable,
        )
    return out


def load_catalogue(directory: Path | str, sources_dir: Path | str, references: Path | str | None = None) -> Catalogue:
    """Read every ``<theme>.toml`` under ``directory``; raise CatalogueError on the first problem.

    ``references`` is the reference table for citational claims (default: ``references.toml`` beside
    the source folder, i.e. ``fixtures/references.toml``)."""
    directory, sources_dir = Path(directory), Path(sources_dir)
    ref_path = Path(references) if references else sources_dir.parent / "references.toml"
    if not directory.is_dir():
        raise CatalogueError(directory, None, "catalogue folder not found (ini option 'claims_catalogue')")
    if not sources_dir.is_dir():
        raise CatalogueError(sources_dir, None, "source-document folder not found (ini option 'claims_sources')")
    documents = {p.name for p in sources_dir.glob("*.txt")}
    refs = load_references(ref_path)
    claims: dict[str, Claim] = {}
    files = sorted(directory.glob("*.toml"))
    if not files:
        raise CatalogueError(directory, None, "no <theme>.toml files in the catalogue folder")
    for path in files:
        theme = path.stem
        data = read_toml(path)
        for claim_id, table in data.items():
            if claim_id in claims:
                raise CatalogueError(path, claim_id, f"duplicate claim id, also declared in {claims[claim_id].catalogue_file}")
            claims[claim_id] = parse_claim(claim_id, table, theme, path, documents, refs)
    return Catalogue(claims=claims, directory=directory, sources_dir=sources_dir, references=refs)
