"""Coverage of the source texts: every clause is a claim's quote, a declared non-statement, or a gap.

Each document is split into sentences on its lines and on sentence-ending punctuation, after
folding white space exactly as quotes are folded, and each sentence into clauses ("units") at
semicolons, colons, dashes and a comma before a clause word ('but', 'which', 'while', ...).  A unit
is *covered* when claims' quotes span at least 80 % of its characters (link targets, which state
nothing, not counted), so a clause a quote only touches stays a gap; *skipped* when
``fixtures/sources/coverage.toml`` lists it as text that states nothing (a question, a heading, a
link, a citation list, ...); *ignored* automatically when it cannot state anything (a Markdown
heading, a rule, an image or fewer than three words); otherwise it is *unaccounted*, and the
coverage test fails on it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from harness.catalogue import Catalogue, CatalogueError, normalise_space, read_toml

SKIP_REASONS = ("question", "heading", "link or image", "citation list", "formatting", "introduction", "repeat", "example")
MIN_OVERLAP = 20  # characters a quote must share with a sentence to cover it (or the whole of the shorter)
MIN_QUOTED = 0.8  # share of a clause's characters (link targets aside) that quotes must span to cover it
_CLAUSE_BREAK = re.compile(
    r"(?:;\s+|:\s+(?=\S)|\s+--\s+|\s*—\s*"
    r"|,\s+(?=(?:but|which|while|whereas|because|so|thus|hence|although|though|making|leading)\b))"
)
_LINK_TARGET = re.compile(r"\]\([^)]*\)|<a [^>]*>|</a>|https?://\S+")
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"'”’)\]*]*\s+(?=[\"'“‘(\[*]*[A-Z])")
_ABBREVIATION = re.compile(r"(?:\b(?:e\.g|i\.e|al|vs|Fig|fig|Eq|eq|Dr|Mr|Ms|p|pp|cf|approx|No|St)\.|\b[A-Z]\.)$")
_PREFIX = re.compile(r"^(?:>\s*)*(?:[-*+]\s+|\d+[.)]\s+)?")
_WORD = re.compile(r"[A-Za-z]{2,}")


@dataclass
class Unit:
    document: str
    start: int  # offsets in the white-space-folded document
    end: int
    text: str
    status: str = "unaccounted"  # covered | skipped | ignored | unaccounted
    by: list[str] = field(default_factory=list)  # claim ids, or the skip reason

    def to_dict(self) -> dict:
        return {"start": self.start, "end": self.end, "text": self.text, "status": self.status, "by": self.by}


def split_units(document: str, text: str) -> tuple[str, list[Unit]]:
    """The folded text and its sentences.  Lines are never joined: list items and headings stand alone."""
    folded_lines, units, offset = [], [], 0
    for raw in text.splitlines():
        line = " ".join(raw.split())
        if not line:
            continue
        if folded_lines:
            offset += 1  # the space that joins this line to the previous one
        folded_lines.append(line)
        body_start = _PREFIX.match(line).end()
        auto = _auto_ignored(line)
        pos = body_start
        for part in [c for sent in _sentences(line[body_start:]) for c in _clauses(sent)] if not auto else [line[body_start:]]:
            if not part:
                continue
            at = line.index(part, pos)
            pos = at + len(part)
            u = Unit(document, offset + at, offset + at + len(part), part)
            if auto or len(_WORD.findall(part)) < 3:
                u.status, u.by = "ignored", [auto or "fewer than three words"]
            units.append(u)
        offset += len(line)
    return " ".join(folded_lines), units


def _sentences(text: str) -> list[str]:
    """Split on sentence ends, but not after an abbreviation ('e.g.', 'et al.', 'p.', an initial)."""
    out: list[str] = []
    for part in _SENTENCE_END.split(text):
        if out and _ABBREVIATION.search(out[-1]):
            gap = text[text.index(out[-1]) + len(out[-1]) :].split(part, 1)[0]
            out[-1] = out[-1] + gap + part
        else:
            out.append(part)
    return out


def _clauses(sentence: str) -> list[str]:
    """A sentence's clauses: split at semicolons, colons, dashes and a comma before a clause word."""
    return [c for c in _CLAUSE_BREAK.split(sentence) if c]


def _quoted(spans: list[tuple[int, int]], u: Unit) -> bool:
    """Whether the spans cover at least MIN_QUOTED of the unit's characters outside link targets."""
    counted = [True] * (u.end - u.start)
    for m in _LINK_TARGET.finditer(u.text):
        for i in range(m.start(), m.end()):
            counted[i] = False
    inside = [False] * (u.end - u.start)
    for a, b in spans:
        for i in range(max(a, u.start), min(b, u.end)):
            inside[i - u.start] = True
    total = sum(counted)
    return total == 0 or sum(c and i for c, i in zip(counted, inside)) >= MIN_QUOTED * total


def _auto_ignored(line: str) -> str:
    bare = line.lstrip("> ").strip()
    if bare.startswith("#"):
        return "Markdown heading"
    if not bare.strip("-*_= "):
        return "rule"
    if bare.startswith("![") or re.fullmatch(r"<?https?://\S+>?", bare):
        return "image or bare link"
    return ""


def _spans(folded: str, needle: str) -> list[tuple[int, int]]:
    out, i = [], folded.find(needle)
    while needle and i >= 0:
        out.append((i, i + len(needle)))
        i = folded.find(needle, i + 1)
    return out


def _covers(span: tuple[int, int], u: Unit) -> bool:
    overlap = min(span[1], u.end) - max(span[0], u.start)
    return overlap >= min(MIN_OVERLAP, u.end - u.start, span[1] - span[0])


def load_skips(path: Path, documents: dict[str, str]) -> dict[str, list[tuple[str, str]]]:
    """``coverage.toml``: per document, (verbatim text, why) of passages that state nothing."""
    if not path.exists():
        return {}
    data = read_toml(path)
    out: dict[str, list[tuple[str, str]]] = {}
    for doc, table in data.items():
        if doc not in documents:
            raise CatalogueError(path, doc, f"no such document in the source folder; known: {', '.join(sorted(documents))}")
        if not isinstance(table, dict) or set(table) - {"skip"} or not isinstance(table.get("skip", []), list):
            raise CatalogueError(path, doc, "each document has one field, 'skip': a list of {text, why} tables")
        folded = normalise_space(documents[doc])
        for i, s in enumerate(table.get("skip", [])):
            where = f"{doc}.skip[{i}]"
            if not isinstance(s, dict) or set(s) != {"text", "why"}:
                raise CatalogueError(path, where, "each skip entry is a table with exactly 'text' and 'why'")
            if s["why"] not in SKIP_REASONS:
                raise CatalogueError(path, where, f"'why' is {s['why']!r}; allowed: {', '.join(SKIP_REASONS)}")
            if normalise_space(s["text"]) not in folded:
                raise CatalogueError(path, where, f"text not found verbatim in {doc}: {s['text'][:80]!r}")
            out.setdefault(doc, []).append((normalise_space(s["text"]), s["why"]))
    return out


def account(cat: Catalogue, skips_path: Path | None = None) -> dict[str, list[Unit]]:
    """Every document's units with their status (see the module docstring)."""
    documents = {p.name: p.read_text(encoding="utf-8") for p in sorted(cat.sources_dir.glob("*.txt"))}
    skips = load_skips(skips_path or cat.sources_dir / "coverage.toml", documents)
    out = {}
    for doc, text in documents.items():
        folded, units = split_units(doc, text)
        quotes = [
            (c.id, span)
            for c in cat.claims.values()
            for s in c.sources
            if s.document == doc
            for span in _spans(folded, normalise_space(s.quote))
        ]
        skip_spans = [(why, span) for t, why in skips.get(doc, []) for span in _spans(folded, t)]
        for u in units:
            touching = [(cid, span) for cid, span in quotes if _covers(span, u)]
            by = sorted({cid for cid, _ in touching})
            if by and _quoted([span for _, span in touching], u):
                u.status, u.by = "covered", by
            elif u.status != "ignored":
                why = [w for w, span in skip_spans if span[0] <= u.start and u.end <= span[1] or _covers(span, u)]
                if why:
                    u.status, u.by = "skipped", why[:1]
        out[doc] = units
    return out


def summary(cat: Catalogue, units: dict[str, list[Unit]], verdicts: dict[str, str] | None = None) -> list[dict]:
    """Per document: counts of units by status, claims by kind and by verdict, the unaccounted sentences
    and the not-testable claims with their reasons."""
    rows = []
    for doc, us in units.items():
        claims = sorted({c.id for c in cat.claims.values() for s in c.sources if s.document == doc})
        kinds: dict[str, int] = {}
        by_verdict: dict[str, int] = {}
        for cid in claims:
            kinds[cat[cid].kind] = kinds.get(cat[cid].kind, 0) + 1
            if verdicts is not None:
                v = verdicts.get(cid, "not-run")
                by_verdict[v] = by_verdict.get(v, 0) + 1
        status: dict[str, int] = {}
        for u in us:
            status[u.status] = status.get(u.status, 0) + 1
        skipped: dict[str, int] = {}
        for u in us:
            if u.status == "skipped":
                skipped[u.by[0]] = skipped.get(u.by[0], 0) + 1
        rows.append(
            {
                "document": doc,
                "units": len(us),
                "status": status,
                "skipped_by_reason": skipped,
                "claims": len(claims),
                "claims_by_kind": kinds,
                "claims_by_verdict": by_verdict,
                "unaccounted": [u.text for u in us if u.status == "unaccounted"],
                "not_testable": [
                    {"id": cid, "statement": cat[cid].statement, "reason": cat[cid].reason}
                    for cid in claims
                    if cat[cid].kind == "not-testable"
                ],
            }
        )
    return rows
