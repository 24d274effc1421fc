"""Citational claims: the figures a text states, checked against the reference table.

The reference table (``fixtures/references.toml``) holds each fact with its value and a primary
source.  A claim's ``citation`` table lists what each text states, converted to the fact's unit.
Each stated value is one exact (spread-free) bound judgement: |stated - reference| within the
claim's tolerance.  The control applies the same rule to a value just outside the tolerance, so
the rule is shown to reject a wrong figure.  A fact without a value makes the claim unverifiable.
"""

from __future__ import annotations

from harness.catalogue import CITATION_HYPOTHESIS, Catalogue, Citation, CitedValue, Reference


def distance(stated: float | str, reference: float | str, relative: bool) -> float:
    """|stated - reference| (relative: divided by |reference|); strings: 0 if equal ignoring case, else 1."""
    if isinstance(reference, str) or isinstance(stated, str):
        return 0.0 if str(stated).strip().casefold() == str(reference).strip().casefold() else 1.0
    d = abs(float(stated) - float(reference))
    return d / abs(float(reference)) if relative and reference != 0 else d


def wrong_value(reference: float | str, c: Citation) -> float | str:
    """A figure the rule must reject: just outside the tolerance (by 10% of the reference, at least 1 unit)."""
    if isinstance(reference, str):
        return f"not {reference}"
    r = float(reference)
    step = c.tolerance * abs(r) if c.relative else c.tolerance
    return r + step + max(0.1 * abs(r), 1.0)


def unverifiable(cat: Catalogue, c: Citation) -> list[Reference]:
    return [cat.references[v.reference] for v in c.values if cat.references[v.reference].value is None]


def describe(v: CitedValue, ref: Reference) -> str:
    unit = f" {ref.unit}" if ref.unit else ""
    return f"{v.document}: states {v.stated!r} -> {v.value}{unit}; {ref.source}: {ref.value}{unit} ({ref.fact})"


def check(evidence, cat: Catalogue) -> None:
    """Record and judge every stated value of the evidence's claim (which must be citational)."""
    claim = evidence.claim
    c = claim.citation
    for v in c.values:
        ref = cat.references[v.reference]
        d = distance(v.value, ref.value, c.relative)
        control = distance(wrong_value(ref.value, c), ref.value, c.relative)
        evidence.record(
            f"{v.document}: {v.stated}",
            [d],
            unit=claim.hypotheses[CITATION_HYPOTHESIS].unit,
            per="setting",
            setting={
                "stated": v.value,
                "reference": ref.id,
                "reference_value": ref.value,
                "unit": ref.unit,
                "source": ref.source,
                "url": ref.url,
            },
        )
        evidence.bound(
            CITATION_HYPOTHESIS,
            [d],
            [control],
            label=f"{v.document.split('_')[0]}: {v.stated}",
            names=(f"stated {v.value}", f"a wrong figure {wrong_value(ref.value, c)}"),
        )
        evidence.note(describe(v, ref) + (f". Note: {ref.note}" if ref.note else ""))
    if c.explanation:
        evidence.note(f"Why the texts differ: {c.explanation}")
